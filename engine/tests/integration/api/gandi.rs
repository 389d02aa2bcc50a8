//! Gandi LiveDNS's fake: domains, one record set read and replaced by PUT
//! (answers from providers-api.md 2.9).

use dyntray_engine::engine::Phase;
use dyntray_tests::fake_api::{Call, FakeApi, Reply, leaks};

use super::{Case, Expect, Fake, SECRET, V4, api_config, backing_off, ok, refused};
use crate::engine::Rig;

pub struct Gandi;

const BASE: &str = "/v5/livedns";
const DOMAINS: &str = "/v5/livedns/domains/*";
const SET: &str = "/v5/livedns/domains/example.org/records/home/A";

fn fixture(name: &str) -> Reply {
    Reply::fixture("gandi", &format!("{name}.http"))
}

/// Answers domain look-ups: example.org is on LiveDNS, no other name is.
fn domains(api: &FakeApi) {
    api.route_fn("GET", DOMAINS, |call| {
        if call.path == "/v5/livedns/domains/example.org" {
            fixture("domain-example")
        } else {
            fixture("not-found")
        }
    });
}

impl Fake for Gandi {
    fn id(&self) -> &'static str {
        "gandi"
    }

    fn base(&self) -> &'static str {
        BASE
    }

    fn name(&self) -> &'static str {
        "home.example.org"
    }

    fn serve(&self, api: &FakeApi, case: Case) -> Option<Expect> {
        domains(api);
        api.route("GET", SET, fixture("rrset-old"));
        api.route("PUT", SET, fixture("created"));
        match case {
            Case::Success => return ok(1),
            Case::Unchanged => api.route("GET", SET, fixture("rrset-current")),
            Case::BadAuth => {
                api.route("GET", DOMAINS, fixture("unauthorized"));
                return refused("http-401", 0);
            }
            Case::UnknownZone => {
                api.route("GET", DOMAINS, fixture("not-found"));
                return refused("no-zone", 0);
            }
            Case::UnknownRecord => {
                api.route("GET", SET, fixture("not-found"));
                return refused("no-record", 0);
            }
            Case::RateLimited => api.route("GET", SET, fixture("rate-limited")),
            Case::ServerError => api.route("PUT", SET, fixture("server-error")),
            Case::Timeout => api.route("PUT", SET, Reply::hang()),
            Case::Html => api.route("GET", SET, fixture("html")),
            Case::Malformed => api.route("GET", SET, fixture("malformed")),
            // Gandi answers a PUT with `{"message":"DNS Record Created"}` alone: it shows
            // no values that could differ from the one sent.
            Case::OtherAddress => return None,
        }
        match case {
            Case::Unchanged => ok(0),
            Case::ServerError | Case::Timeout => backing_off(1),
            _ => backing_off(0),
        }
    }

    fn check(&self, calls: &[Call]) {
        let shape: Vec<(&str, &str)> = calls
            .iter()
            .map(|c| (c.method.as_str(), c.path.as_str()))
            .collect();
        assert_eq!(
            shape,
            [
                ("GET", "/v5/livedns/domains/home.example.org"),
                ("GET", "/v5/livedns/domains/example.org"),
                // The name relative to the domain.
                ("GET", SET),
                ("PUT", SET),
            ]
        );
        for call in calls {
            assert_eq!(call.bearer(), Some(SECRET), "{call:?}");
            assert!(call.query.is_empty(), "{call:?}");
        }
        let put = &calls[3];
        assert_eq!(put.header("content-type"), Some("application/json"));
        let body: serde_json::Value = serde_json::from_str(&put.body).unwrap();
        // The one new value, and the set's TTL as it was (the PUT replaces the set).
        assert_eq!(
            body,
            serde_json::json!({ "rrset_values": [V4], "rrset_ttl": 1800 })
        );
    }
}

#[tokio::test(start_paused = true)]
async fn gandi_refuses_a_set_with_several_values_and_never_drops_one() {
    let rig = Rig::new().await;
    let api = FakeApi::start().await;
    domains(&api);
    api.route("GET", SET, fixture("rrset-two"));
    api.route("PUT", SET, fixture("created"));
    api_config(
        &rig,
        "gandi",
        &format!("{}{BASE}", api.url()),
        "",
        "[[record]]\nname = \"home.example.org\"\naccount = \"home\"\ncreate = true\n",
    );
    let engine = rig.engine();
    engine.run_once().await.unwrap();
    let record = &engine.status().records[0];
    assert_eq!(record.phase, Phase::Disabled);
    let disabled = record.disabled.as_ref().unwrap();
    assert_eq!(disabled.code, "several-records");
    assert!(
        disabled.answer.contains("81.2.69.1, 81.2.69.2"),
        "{disabled:?}"
    );
    assert!(api.writes().is_empty());
}

#[tokio::test(start_paused = true)]
async fn gandi_creates_a_missing_set_at_the_apex_only_when_asked() {
    let apex = "/v5/livedns/domains/example.org/records/@/A";
    for create in [false, true] {
        let rig = Rig::new().await;
        let api = FakeApi::start().await;
        domains(&api);
        api.route("GET", apex, fixture("not-found"));
        api.route("PUT", apex, fixture("created"));
        api_config(
            &rig,
            "gandi",
            &format!("{}{BASE}", api.url()),
            "zone = \"example.org\"\n",
            &format!("[[record]]\nname = \"example.org\"\naccount = \"home\"\ncreate = {create}\n"),
        );
        let engine = rig.engine();
        engine.run_once().await.unwrap();
        let record = &engine.status().records[0];
        let writes = api.writes();
        if create {
            assert_eq!(record.phase, Phase::Ok);
            assert_eq!(writes.len(), 1);
            let body: serde_json::Value = serde_json::from_str(&writes[0].body).unwrap();
            assert_eq!(
                body,
                serde_json::json!({ "rrset_values": [V4], "rrset_ttl": 300 })
            );
        } else {
            assert_eq!(record.disabled.as_ref().unwrap().code, "no-record");
            assert!(writes.is_empty());
        }
        engine.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn gandi_checks_the_token_by_listing_its_livedns_domains_and_changes_nothing() {
    const HOME: &str = "[[record]]\nname = \"home.example.org\"\naccount = \"home\"\n";
    let list = serde_json::json!([
        { "fqdn": "example.org",
          "domain_href": "https://api.gandi.net/v5/livedns/domains/example.org",
          "domain_records_href": "https://api.gandi.net/v5/livedns/domains/example.org/records" },
        { "fqdn": "example.net",
          "domain_href": "https://api.gandi.net/v5/livedns/domains/example.net",
          "domain_records_href": "https://api.gandi.net/v5/livedns/domains/example.net/records" }
    ]);
    let rig = Rig::new().await;
    let api = FakeApi::start().await;
    api.route(
        "GET",
        "/v5/livedns/domains",
        Reply::json(200, list.to_string()),
    );
    api_config(&rig, "gandi", &format!("{}{BASE}", api.url()), "", HOME);
    let engine = rig.engine();
    let result = engine.check_account("home".into()).await.unwrap();
    assert!(result.ok, "{result:?}");
    assert_eq!(
        result.message,
        "Gandi accepts the token. It can see 2 domains: example.org, example.net."
    );
    let calls = api.calls();
    assert_eq!(calls.len(), 1, "{calls:#?}");
    assert_eq!(calls[0].bearer(), Some(SECRET));
    assert_eq!(calls[0].query, [("per_page".to_owned(), "100".to_owned())]);
    assert!(api.writes().is_empty());
    assert!(
        engine.history(None, 10).await.unwrap().is_empty(),
        "nothing recorded"
    );

    // A refused token: Gandi's words, and still nothing changed or recorded.
    for (reply, words) in [
        (
            fixture("unauthorized"),
            "Gandi refused the token: HTTP 401: The server could not verify that you \
             authorized to access the document you requested.",
        ),
        (
            Reply::json(
                403,
                r#"{"code":403,"message":"Access was denied to this resource.","object":"HTTPForbidden","cause":"Forbidden"}"#,
            ),
            "Gandi refused the token: HTTP 403: Access was denied to this resource.",
        ),
    ] {
        api.route("GET", "/v5/livedns/domains", reply);
        let result = engine.check_account("home".into()).await.unwrap();
        assert!(!result.ok);
        assert!(result.message.starts_with(words), "{result:?}");
        assert!(leaks(SECRET, [result.message.as_str()]).is_empty());
    }
    assert!(api.writes().is_empty());
    assert!(engine.history(None, 10).await.unwrap().is_empty());
    assert_eq!(engine.status().records[0].phase, Phase::Pending);
    engine.shutdown().await;

    // The account's domain is not among those on LiveDNS for this token.
    let rig = Rig::new().await;
    let api = FakeApi::start().await;
    api.route("GET", "/v5/livedns/domains", Reply::json(200, "[]"));
    api_config(
        &rig,
        "gandi",
        &format!("{}{BASE}", api.url()),
        "zone = \"example.org\"\n",
        HOME,
    );
    let engine = rig.engine();
    let result = engine.check_account("home".into()).await.unwrap();
    assert!(!result.ok);
    assert!(
        result.message.starts_with(
            "Gandi accepts the token, but it can see no domain, so not the domain example.org \
             either."
        ),
        "{result:?}"
    );
}
