//! Hetzner's fake: the Cloud API's zones, record sets, `set_records` and the action it
//! starts, polled until done (answers from providers-api.md 2.11).

use std::time::Duration;

use dyntray_engine::engine::Phase;
use dyntray_tests::fake_api::{Call, FakeApi, Reply, leaks};

use super::{Case, Expect, Fake, SECRET, V4, api_config, backing_off, ok, refused, shown};
use crate::engine::Rig;

pub struct Hetzner;

const ZONES: &str = "/v1/zones";
const SET: &str = "/v1/zones/4711/rrsets/home/A";
const SET_RECORDS: &str = "/v1/zones/4711/rrsets/home/A/actions/set_records";
const ACTION: &str = "/v1/zones/actions/13";

fn fixture(name: &str) -> Reply {
    Reply::fixture("hetzner", &format!("{name}.http"))
}

/// Answers zone look-ups: the project has example.org (id 4711), no other zone.
fn zones(api: &FakeApi) {
    api.route_fn("GET", ZONES, |call| {
        if call.param("name") == Some("example.org") {
            fixture("zones-example")
        } else {
            fixture("zones-none")
        }
    });
}

/// The routes of a successful change whose action runs once before it succeeds.
fn routes(api: &FakeApi) {
    zones(api);
    api.route("GET", SET, fixture("rrset-old"));
    api.route("POST", SET_RECORDS, fixture("action-running"));
    api.route_script(
        "GET",
        ACTION,
        vec![fixture("poll-running"), fixture("poll-success")],
    );
}

fn config(rig: &Rig, api: &FakeApi, records: &str) {
    api_config(rig, "hetzner", &format!("{}/v1", api.url()), "", records);
}

const HOME: &str = "[[record]]\nname = \"home.example.org\"\naccount = \"home\"\n";

impl Fake for Hetzner {
    fn id(&self) -> &'static str {
        "hetzner"
    }

    fn base(&self) -> &'static str {
        "/v1"
    }

    fn name(&self) -> &'static str {
        "home.example.org"
    }

    fn serve(&self, api: &FakeApi, case: Case) -> Option<Expect> {
        routes(api);
        match case {
            Case::Success => return ok(1),
            Case::Unchanged => api.route("GET", SET, fixture("rrset-current")),
            Case::BadAuth => {
                // What a token of the old DNS Console gets from the Cloud API.
                api.route("GET", ZONES, fixture("unauthorized"));
                return refused("unauthorized", 0);
            }
            Case::UnknownZone => {
                api.route("GET", ZONES, fixture("zones-none"));
                return refused("no-zone", 0);
            }
            Case::UnknownRecord => {
                api.route("GET", SET, fixture("not-found"));
                return refused("no-record", 0);
            }
            Case::RateLimited => api.route("GET", SET, fixture("rate-limited")),
            Case::ServerError => api.route("POST", SET_RECORDS, fixture("server-error")),
            Case::Timeout => api.route("POST", SET_RECORDS, Reply::hang()),
            Case::Html => api.route("GET", SET, fixture("html")),
            Case::Malformed => api.route("GET", SET, fixture("malformed")),
            // set_records answers with an action, not the values: nothing to compare.
            Case::OtherAddress => return None,
        }
        match case {
            Case::Unchanged => ok(0),
            Case::ServerError | Case::Timeout => backing_off(1),
            _ => backing_off(0),
        }
    }

    fn check(&self, calls: &[Call]) {
        let shape: Vec<String> = calls
            .iter()
            .map(|c| {
                let query: Vec<String> = c.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("{} {}?{}", c.method, c.path, query.join("&"))
            })
            .collect();
        assert_eq!(
            shape,
            [
                "GET /v1/zones?name=home.example.org",
                "GET /v1/zones?name=example.org",
                // The name relative to the zone.
                "GET /v1/zones/4711/rrsets/home/A?",
                "POST /v1/zones/4711/rrsets/home/A/actions/set_records?",
                // `running` is not done: looked at again until `success`.
                "GET /v1/zones/actions/13?",
                "GET /v1/zones/actions/13?",
            ]
        );
        for call in calls {
            assert_eq!(call.bearer(), Some(SECRET), "{call:?}");
        }
        let set = &calls[3];
        assert_eq!(set.header("content-type"), Some("application/json"));
        let body: serde_json::Value = serde_json::from_str(&set.body).unwrap();
        assert_eq!(body, serde_json::json!({ "records": [{ "value": V4 }] }));
        // Each look waits a little first.
        assert!(calls[4].at.duration_since(set.at) >= Duration::from_secs(2));
        assert!(calls[5].at.duration_since(calls[4].at) >= Duration::from_secs(2));
    }
}

#[tokio::test(start_paused = true)]
async fn hetzner_never_takes_a_running_action_for_done() {
    // It runs for ever: a bounded number of looks, then trouble, never success.
    let rig = Rig::new().await;
    let api = FakeApi::start().await;
    routes(&api);
    api.route("GET", ACTION, fixture("poll-running"));
    config(&rig, &api, HOME);
    let engine = rig.engine();
    engine.run_once().await.unwrap();
    let record = &engine.status().records[0];
    assert_eq!(record.phase, Phase::BackingOff, "{record:?}");
    assert_eq!(record.address, None, "not accepted while running");
    let polls: Vec<Call> = api
        .calls()
        .into_iter()
        .filter(|c| c.path == ACTION)
        .collect();
    assert_eq!(polls.len(), 30);
    for pair in polls.windows(2) {
        assert!(pair[1].at.duration_since(pair[0].at) >= Duration::from_secs(2));
    }
    assert!(
        shown(&engine)
            .await
            .iter()
            .any(|t| t.contains("still running")),
        "the user is told"
    );
    engine.shutdown().await;

    // It fails: Hetzner's words are shown, and the record is not taken as updated.
    let rig = Rig::new().await;
    let api = FakeApi::start().await;
    routes(&api);
    api.route("GET", ACTION, fixture("poll-error"));
    config(&rig, &api, HOME);
    let engine = rig.engine();
    engine.run_once().await.unwrap();
    let record = &engine.status().records[0];
    assert_eq!(record.phase, Phase::BackingOff, "{record:?}");
    assert_eq!(record.address, None);
    assert!(
        shown(&engine)
            .await
            .iter()
            .any(|t| t.contains("Action failed (action_failed)")),
        "Hetzner's words are shown"
    );
}

#[tokio::test(start_paused = true)]
async fn hetzner_explains_that_old_dns_console_tokens_are_gone() {
    for (reply, code) in [
        ("unauthorized", "unauthorized"),
        ("deprecated", "deprecated_api_endpoint"),
    ] {
        let rig = Rig::new().await;
        let api = FakeApi::start().await;
        api.route("GET", ZONES, fixture(reply));
        config(&rig, &api, HOME);
        let engine = rig.engine();
        engine.run_once().await.unwrap();
        let record = &engine.status().records[0];
        assert_eq!(record.phase, Phase::Disabled);
        let disabled = record.disabled.as_ref().unwrap();
        assert_eq!(disabled.code, code);
        for words in ["May 2026", "Read & Write", "Hetzner Console"] {
            assert!(disabled.advice.contains(words), "{code}: {disabled:?}");
        }
        engine.shutdown().await;
    }

    // The old API's server is refused before anything is sent.
    let rig = Rig::new().await;
    api_config(&rig, "hetzner", "https://dns.hetzner.com/api/v1", "", HOME);
    let engine = rig.engine();
    let error = engine.status().config_error.unwrap();
    assert!(error.contains("shut down in May 2026"), "{error}");
}

#[tokio::test(start_paused = true)]
async fn hetzner_creates_when_asked_and_leaves_protected_or_read_only_alone() {
    let rig = Rig::new().await;
    let api = FakeApi::start().await;
    zones(&api);
    api.route("GET", "/v1/zones/4711/rrsets/new/A", fixture("not-found"));
    api.route("POST", "/v1/zones/4711/rrsets", fixture("created"));
    // The poll fixtures say id 13: the action the write started is the one followed.
    api.route_script(
        "GET",
        "/v1/zones/actions/14",
        vec![fixture("poll-running"), fixture("poll-success")],
    );
    config(
        &rig,
        &api,
        "[[record]]\nname = \"new.example.org\"\naccount = \"home\"\ncreate = true\n",
    );
    let engine = rig.engine();
    engine.run_once().await.unwrap();
    assert_eq!(engine.status().records[0].phase, Phase::Ok);
    let writes = api.writes();
    assert_eq!(writes.len(), 1);
    let body: serde_json::Value = serde_json::from_str(&writes[0].body).unwrap();
    // Relative name, no TTL (the zone's default).
    assert_eq!(
        body,
        serde_json::json!({ "name": "new", "type": "A", "records": [{ "value": V4 }] })
    );
    assert_eq!(
        api.calls()
            .iter()
            .filter(|c| c.path == "/v1/zones/actions/14")
            .count(),
        2
    );
    engine.shutdown().await;

    // A change-protected set is not written.
    let rig = Rig::new().await;
    let api = FakeApi::start().await;
    routes(&api);
    api.route("GET", SET, fixture("rrset-protected"));
    config(&rig, &api, HOME);
    let engine = rig.engine();
    engine.run_once().await.unwrap();
    let record = &engine.status().records[0];
    assert_eq!(record.disabled.as_ref().unwrap().code, "protected");
    assert!(api.writes().is_empty());
    engine.shutdown().await;

    // A read-only token: refused on the write, with advice.
    let rig = Rig::new().await;
    let api = FakeApi::start().await;
    routes(&api);
    api.route("POST", SET_RECORDS, fixture("token-readonly"));
    config(&rig, &api, HOME);
    let engine = rig.engine();
    engine.run_once().await.unwrap();
    let record = &engine.status().records[0];
    let disabled = record.disabled.as_ref().unwrap();
    assert_eq!(disabled.code, "token_readonly");
    assert!(disabled.advice.contains("Read & Write"));
}

#[tokio::test(start_paused = true)]
async fn hetzner_checks_the_token_by_listing_its_zones_and_changes_nothing() {
    // Twelve zones: ten are named, the rest counted.
    let names: Vec<String> = (1..=12).map(|i| format!("zone{i:02}.example")).collect();
    let zones: Vec<serde_json::Value> = names
        .iter()
        .enumerate()
        .map(|(i, name)| serde_json::json!({ "id": 4700 + i, "name": name, "mode": "primary" }))
        .collect();
    let list = serde_json::json!({ "zones": zones, "meta": { "pagination": {
        "page": 1, "per_page": 50, "previous_page": null, "next_page": null,
        "last_page": 1, "total_entries": 12 } } });
    let rig = Rig::new().await;
    let api = FakeApi::start().await;
    api.route("GET", ZONES, Reply::json(200, list.to_string()));
    config(&rig, &api, HOME);
    let engine = rig.engine();
    let result = engine.check_account("home".into()).await.unwrap();
    assert!(result.ok, "{result:?}");
    assert_eq!(
        result.message,
        format!(
            "Hetzner accepts the token. It can see 12 zones: {} and 2 more.",
            names[..10].join(", ")
        )
    );
    let calls = api.calls();
    assert_eq!(calls.len(), 1, "{calls:#?}");
    assert_eq!(calls[0].bearer(), Some(SECRET));
    assert_eq!(calls[0].query, [("per_page".to_owned(), "50".to_owned())]);
    assert!(api.writes().is_empty());
    assert!(
        engine.history(None, 10).await.unwrap().is_empty(),
        "nothing recorded"
    );

    // A refused token, most likely of the old DNS Console: explained, with Hetzner's words.
    api.route("GET", ZONES, fixture("unauthorized"));
    let result = engine.check_account("home".into()).await.unwrap();
    assert!(!result.ok);
    assert!(
        result.message.starts_with(
            "Hetzner refused the token. A token of the old DNS Console (dns.hetzner.com) no \
             longer works"
        ),
        "{result:?}"
    );
    assert!(
        result
            .message
            .ends_with("Hetzner's answer: unable to authenticate (unauthorized)."),
        "{result:?}"
    );
    assert!(leaks(SECRET, [result.message.as_str()]).is_empty());
    assert!(api.writes().is_empty());
    assert!(engine.history(None, 10).await.unwrap().is_empty());
    assert_eq!(engine.status().records[0].phase, Phase::Pending);
    engine.shutdown().await;

    // The account's zone is not in the token's project.
    let rig = Rig::new().await;
    let api = FakeApi::start().await;
    api.route("GET", ZONES, fixture("zones-example"));
    api_config(
        &rig,
        "hetzner",
        &format!("{}/v1", api.url()),
        "zone = \"example.com\"\n",
        "[[record]]\nname = \"home.example.com\"\naccount = \"home\"\n",
    );
    let engine = rig.engine();
    let result = engine.check_account("home".into()).await.unwrap();
    assert!(!result.ok);
    assert_eq!(
        result.message,
        "Hetzner accepts the token, but the zone example.com is not among those it can see: \
         example.org."
    );
    assert!(api.writes().is_empty());
}
