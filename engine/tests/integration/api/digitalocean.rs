//! DigitalOcean's fake: domains, records listed by full name, PATCH of the data
//! (answers from providers-api.md 2.10).

use dyntray_engine::engine::Phase;
use dyntray_tests::fake_api::{Call, FakeApi, Reply, leaks};

use super::{Case, Expect, Fake, SECRET, V4, api_config, backing_off, ok, refused};
use crate::engine::Rig;

pub struct DigitalOcean;

const DOMAINS: &str = "/v2/domains/*";
const RECORDS: &str = "/v2/domains/example.org/records";
const RECORD: &str = "/v2/domains/example.org/records/*";

fn fixture(name: &str) -> Reply {
    Reply::fixture("digitalocean", &format!("{name}.http"))
}

/// Answers domain look-ups: example.org is the account's, no other name is.
fn domains(api: &FakeApi) {
    api.route_fn("GET", DOMAINS, |call| {
        if call.path == "/v2/domains/example.org" {
            fixture("domain-example")
        } else {
            fixture("not-found")
        }
    });
}

impl Fake for DigitalOcean {
    fn id(&self) -> &'static str {
        "digitalocean"
    }

    fn base(&self) -> &'static str {
        "/v2"
    }

    fn name(&self) -> &'static str {
        "home.example.org"
    }

    fn serve(&self, api: &FakeApi, case: Case) -> Option<Expect> {
        domains(api);
        api.route("GET", RECORDS, fixture("records-old"));
        api.route("PATCH", RECORD, fixture("patched"));
        match case {
            Case::Success => return ok(1),
            Case::Unchanged => api.route("GET", RECORDS, fixture("records-current")),
            Case::BadAuth => {
                api.route("GET", DOMAINS, fixture("unauthorized"));
                return refused("unauthorized", 0);
            }
            Case::UnknownZone => {
                api.route("GET", DOMAINS, fixture("not-found"));
                return refused("no-zone", 0);
            }
            Case::UnknownRecord => {
                api.route("GET", RECORDS, fixture("records-none"));
                return refused("no-record", 0);
            }
            Case::RateLimited => api.route("GET", RECORDS, fixture("rate-limited")),
            Case::ServerError => api.route("PATCH", RECORD, fixture("server-error")),
            Case::Timeout => api.route("PATCH", RECORD, Reply::hang()),
            Case::Html => api.route("GET", RECORDS, fixture("html")),
            Case::Malformed => api.route("GET", RECORDS, fixture("malformed")),
            Case::OtherAddress => api.route("PATCH", RECORD, fixture("patched-other")),
        }
        match case {
            Case::Unchanged => ok(0),
            Case::ServerError | Case::Timeout | Case::OtherAddress => backing_off(1),
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
                "GET /v2/domains/home.example.org?",
                "GET /v2/domains/example.org?",
                // The list filter takes the full name.
                "GET /v2/domains/example.org/records?name=home.example.org&type=A",
                "PATCH /v2/domains/example.org/records/3352896?",
            ]
        );
        for call in calls {
            assert_eq!(call.bearer(), Some(SECRET), "{call:?}");
        }
        let patch = &calls[3];
        assert_eq!(patch.header("content-type"), Some("application/json"));
        let body: serde_json::Value = serde_json::from_str(&patch.body).unwrap();
        // The data alone: the record's TTL, name and type stay as they are.
        assert_eq!(body, serde_json::json!({ "data": V4 }));
    }
}

#[tokio::test(start_paused = true)]
async fn digitalocean_creates_with_a_relative_name_only_when_asked() {
    for (name, relative) in [("new.example.org", "new"), ("example.org", "@")] {
        let rig = Rig::new().await;
        let api = FakeApi::start().await;
        domains(&api);
        api.route("GET", RECORDS, fixture("records-none"));
        api.route_fn("POST", RECORDS, move |call| {
            let body: serde_json::Value = serde_json::from_str(&call.body).unwrap();
            assert_eq!(
                body,
                serde_json::json!({ "type": "A", "name": relative, "data": V4, "ttl": 300 })
            );
            let mut record = body;
            record["id"] = 3352897.into();
            Reply::json(
                201,
                serde_json::json!({ "domain_record": record }).to_string(),
            )
        });
        api_config(
            &rig,
            "digitalocean",
            &format!("{}/v2", api.url()),
            "",
            &format!("[[record]]\nname = \"{name}\"\naccount = \"home\"\ncreate = true\n"),
        );
        let engine = rig.engine();
        engine.run_once().await.unwrap();
        assert_eq!(engine.status().records[0].phase, Phase::Ok, "{name}");
        let writes = api.writes();
        assert_eq!(writes.len(), 1, "{name}");
        assert_eq!(writes[0].path, RECORDS);
        // The list is filtered by the full name, the record created with the relative one.
        let list = api.calls().into_iter().find(|c| c.path == RECORDS).unwrap();
        assert_eq!(list.param("name"), Some(name));
        engine.shutdown().await;
    }

    // Not asked to create: the user is told, nothing is written.
    let rig = Rig::new().await;
    let api = FakeApi::start().await;
    domains(&api);
    api.route("GET", RECORDS, fixture("records-none"));
    api_config(
        &rig,
        "digitalocean",
        &format!("{}/v2", api.url()),
        "zone = \"example.org\"\n",
        "[[record]]\nname = \"new.example.org\"\naccount = \"home\"\n",
    );
    let engine = rig.engine();
    engine.run_once().await.unwrap();
    let record = &engine.status().records[0];
    assert_eq!(record.disabled.as_ref().unwrap().code, "no-record");
    // With the account's domain set, no look-up is needed.
    assert_eq!(api.count(), 1);
    assert!(api.writes().is_empty());
}

#[tokio::test(start_paused = true)]
async fn digitalocean_never_guesses_among_several_records() {
    let rig = Rig::new().await;
    let api = FakeApi::start().await;
    domains(&api);
    let two = serde_json::json!({ "domain_records": [
        { "id": 1, "type": "A", "name": "rr", "data": "81.2.69.1", "ttl": 1800 },
        { "id": 2, "type": "A", "name": "rr", "data": "81.2.69.2", "ttl": 1800 } ],
        "links": {}, "meta": { "total": 2 } });
    api.route("GET", RECORDS, Reply::json(200, two.to_string()));
    api_config(
        &rig,
        "digitalocean",
        &format!("{}/v2", api.url()),
        "",
        "[[record]]\nname = \"rr.example.org\"\naccount = \"home\"\ncreate = true\n",
    );
    let engine = rig.engine();
    engine.run_once().await.unwrap();
    let record = &engine.status().records[0];
    assert_eq!(record.phase, Phase::Disabled);
    assert_eq!(record.disabled.as_ref().unwrap().code, "several-records");
    assert!(api.writes().is_empty());
}

#[tokio::test(start_paused = true)]
async fn digitalocean_checks_the_token_by_listing_its_domains_and_changes_nothing() {
    const HOME: &str = "[[record]]\nname = \"home.example.org\"\naccount = \"home\"\n";
    let list = serde_json::json!({ "domains": [
        { "name": "example.org", "ttl": 1800, "zone_file": "$ORIGIN example.org.\n" },
        { "name": "example.net", "ttl": 1800, "zone_file": "$ORIGIN example.net.\n" } ],
        "links": {}, "meta": { "total": 2 } });
    let rig = Rig::new().await;
    let api = FakeApi::start().await;
    api.route("GET", "/v2/domains", Reply::json(200, list.to_string()));
    api_config(&rig, "digitalocean", &format!("{}/v2", api.url()), "", HOME);
    let engine = rig.engine();
    let result = engine.check_account("home".into()).await.unwrap();
    assert!(result.ok, "{result:?}");
    assert_eq!(
        result.message,
        "DigitalOcean accepts the token. It can see 2 domains: example.org, example.net."
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

    // A refused token: DigitalOcean's words, and still nothing changed or recorded.
    api.route("GET", "/v2/domains", fixture("unauthorized"));
    let result = engine.check_account("home".into()).await.unwrap();
    assert!(!result.ok);
    assert_eq!(
        result.message,
        "DigitalOcean refused the token: Unable to authenticate you. (unauthorized)"
    );
    assert!(leaks(SECRET, [result.message.as_str()]).is_empty());
    assert!(api.writes().is_empty());
    assert!(engine.history(None, 10).await.unwrap().is_empty());
    assert_eq!(engine.status().records[0].phase, Phase::Pending);
    engine.shutdown().await;

    // The account's domain is not among those the token can see.
    let rig = Rig::new().await;
    let api = FakeApi::start().await;
    api.route("GET", "/v2/domains", Reply::json(200, list.to_string()));
    api_config(
        &rig,
        "digitalocean",
        &format!("{}/v2", api.url()),
        "zone = \"example.com\"\n",
        "[[record]]\nname = \"home.example.com\"\naccount = \"home\"\n",
    );
    let engine = rig.engine();
    let result = engine.check_account("home".into()).await.unwrap();
    assert!(!result.ok);
    assert_eq!(
        result.message,
        "DigitalOcean accepts the token, but the domain example.com is not among those it can \
         see: example.org, example.net."
    );
    assert!(api.writes().is_empty());
}
