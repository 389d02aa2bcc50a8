//! Porkbun's fake: retrieve, edit and create by POST with the keys in the body
//! (answers from providers-api.md 2.8).

use dyntray_engine::engine::Phase;
use dyntray_tests::fake_api::{Call, FakeApi, Reply, leaks};

use super::{Case, Expect, Fake, SECRET, V4, api_config, backing_off, ok, refused, shown};
use crate::engine::Rig;

pub struct Porkbun;

/// The API key (the account's `username`): a credential too, so it must never be shown.
pub const API_KEY: &str = "pk1_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const BASE: &str = "/api/json/v3";
const RETRIEVE: &str = "/api/json/v3/dns/retrieveByNameType/**";
const EDIT: &str = "/api/json/v3/dns/editByNameType/**";
const CREATE: &str = "/api/json/v3/dns/create/*";

fn fixture(name: &str) -> Reply {
    Reply::fixture("porkbun", &format!("{name}.http"))
}

/// Answers retrieve calls: `domain`'s with `reply`, any other candidate `Invalid domain.`.
fn retrieve(api: &FakeApi, domain: &'static str, reply: Reply) {
    api.mark_read("POST", RETRIEVE);
    api.route_fn("POST", RETRIEVE, move |call| {
        let prefix = format!("{BASE}/dns/retrieveByNameType/{domain}/");
        if call.path.starts_with(&prefix) {
            reply.clone()
        } else {
            fixture("invalid-domain")
        }
    });
}

/// The JSON body of a call.
fn body(call: &Call) -> serde_json::Value {
    serde_json::from_str(&call.body).unwrap()
}

fn keys() -> serde_json::Value {
    serde_json::json!({ "apikey": API_KEY, "secretapikey": SECRET })
}

impl Fake for Porkbun {
    fn id(&self) -> &'static str {
        "porkbun"
    }

    fn base(&self) -> &'static str {
        BASE
    }

    fn name(&self) -> &'static str {
        "home.example.org"
    }

    fn account(&self) -> &'static str {
        "username = \"pk1_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"\n"
    }

    fn serve(&self, api: &FakeApi, case: Case) -> Option<Expect> {
        api.route("POST", EDIT, fixture("edited"));
        let records = match case {
            Case::Success | Case::ServerError | Case::Timeout => fixture("records-old"),
            Case::Unchanged => fixture("records-current"),
            Case::BadAuth => {
                api.route("POST", RETRIEVE, fixture("invalid-api-key"));
                api.mark_read("POST", RETRIEVE);
                return refused("invalid-api-key", 0);
            }
            Case::UnknownZone => fixture("invalid-domain"),
            Case::UnknownRecord => fixture("records-none"),
            Case::RateLimited => fixture("rate-limited"),
            Case::Html => fixture("html"),
            Case::Malformed => fixture("malformed"),
            // Porkbun's answer to an edit is `{"status":"SUCCESS"}` alone: it shows no
            // address that could differ from the one sent.
            Case::OtherAddress => return None,
        };
        retrieve(api, "example.org", records);
        match case {
            Case::Success => ok(1),
            Case::Unchanged => ok(0),
            Case::UnknownZone => refused("invalid-domain", 0),
            Case::UnknownRecord => refused("no-record", 0),
            Case::ServerError => {
                api.route("POST", EDIT, fixture("server-error"));
                backing_off(1)
            }
            Case::Timeout => {
                api.route("POST", EDIT, Reply::hang());
                backing_off(1)
            }
            _ => backing_off(0),
        }
    }

    fn check(&self, calls: &[Call]) {
        let paths: Vec<(&str, &str)> = calls
            .iter()
            .map(|c| (c.method.as_str(), c.path.as_str()))
            .collect();
        assert_eq!(
            paths,
            [
                // The name itself is not a registered domain (`Invalid domain.`)...
                (
                    "POST",
                    "/api/json/v3/dns/retrieveByNameType/home.example.org/A/"
                ),
                // ...its parent is.
                (
                    "POST",
                    "/api/json/v3/dns/retrieveByNameType/example.org/A/home"
                ),
                ("POST", "/api/json/v3/dns/editByNameType/example.org/A/home"),
            ]
        );
        for call in calls {
            assert!(call.query.is_empty(), "{call:?}");
            // The keys travel in the body only.
            assert_eq!(call.header("authorization"), None, "{call:?}");
            assert_eq!(call.header("content-type"), Some("application/json"));
        }
        assert_eq!(body(&calls[0]), keys());
        assert_eq!(body(&calls[1]), keys());
        // The content, and the TTL as listed (left out, Porkbun would reset it); no name,
        // type, notes or priority.
        assert_eq!(
            body(&calls[2]),
            serde_json::json!({ "apikey": API_KEY, "secretapikey": SECRET,
                "content": V4, "ttl": "600" })
        );
    }
}

#[tokio::test(start_paused = true)]
async fn porkbun_tries_candidates_down_to_the_registered_domain_and_creates_when_asked() {
    let rig = Rig::new().await;
    let api = FakeApi::start().await;
    retrieve(&api, "example.org", fixture("records-none"));
    api.route("POST", CREATE, fixture("created"));
    api_config(
        &rig,
        "porkbun",
        &format!("{}{BASE}", api.url()),
        Porkbun.account(),
        "[[record]]\nname = \"a.b.example.org\"\naccount = \"home\"\ncreate = true\n",
    );
    let engine = rig.engine();
    engine.run_once().await.unwrap();
    let calls = api.calls();
    let paths: Vec<&str> = calls.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/api/json/v3/dns/retrieveByNameType/a.b.example.org/A/",
            "/api/json/v3/dns/retrieveByNameType/b.example.org/A/a",
            "/api/json/v3/dns/retrieveByNameType/example.org/A/a.b",
            "/api/json/v3/dns/create/example.org",
        ]
    );
    // The sub-name below the registered domain, never the full name.
    assert_eq!(
        body(&calls[3]),
        serde_json::json!({ "apikey": API_KEY, "secretapikey": SECRET,
            "name": "a.b", "type": "A", "content": V4, "ttl": "600" })
    );
    assert_eq!(engine.status().records[0].phase, Phase::Ok);
    assert_eq!(api.writes().len(), 1);
    // Neither key is ever shown.
    let texts = shown(&engine).await;
    for key in [SECRET, API_KEY] {
        assert!(leaks(key, texts.iter().map(String::as_str)).is_empty());
    }
    engine.shutdown().await;

    // Without `create`, a missing record stops with advice and nothing is written.
    let rig = Rig::new().await;
    let api = FakeApi::start().await;
    retrieve(&api, "example.org", fixture("records-none"));
    api_config(
        &rig,
        "porkbun",
        &format!("{}{BASE}", api.url()),
        Porkbun.account(),
        "[[record]]\nname = \"example.org\"\naccount = \"home\"\n",
    );
    let engine = rig.engine();
    engine.run_once().await.unwrap();
    let record = &engine.status().records[0];
    assert_eq!(record.disabled.as_ref().unwrap().code, "no-record");
    // The domain itself: an empty sub-name.
    assert_eq!(
        api.calls()[0].path,
        "/api/json/v3/dns/retrieveByNameType/example.org/A/"
    );
    assert!(api.writes().is_empty());
}

#[tokio::test(start_paused = true)]
async fn porkbun_explains_a_domain_without_api_access() {
    let rig = Rig::new().await;
    let api = FakeApi::start().await;
    retrieve(&api, "example.org", fixture("not-opted-in"));
    api_config(
        &rig,
        "porkbun",
        &format!("{}{BASE}", api.url()),
        &format!("{}zone = \"example.org\"\n", Porkbun.account()),
        "[[record]]\nname = \"home.example.org\"\naccount = \"home\"\n",
    );
    let engine = rig.engine();
    engine.run_once().await.unwrap();
    // The account's domain is asked straight away.
    assert_eq!(api.count(), 1);
    let record = &engine.status().records[0];
    assert_eq!(record.phase, Phase::Disabled);
    let disabled = record.disabled.as_ref().unwrap();
    assert_eq!(disabled.code, "not-opted-in");
    assert_eq!(disabled.answer, "Domain is not opted in to API access.");
    assert!(disabled.advice.contains("API ACCESS"), "{disabled:?}");
}

#[tokio::test(start_paused = true)]
async fn porkbun_checks_the_keys_with_a_ping_and_changes_nothing() {
    const PING: &str = "/api/json/v3/ping";
    let rig = Rig::new().await;
    let api = FakeApi::start().await;
    api.mark_read("POST", PING);
    api.route(
        "POST",
        PING,
        Reply::json(200, r#"{"status":"SUCCESS","yourIp":"81.2.69.160"}"#),
    );
    api_config(
        &rig,
        "porkbun",
        &format!("{}{BASE}", api.url()),
        Porkbun.account(),
        "[[record]]\nname = \"home.example.org\"\naccount = \"home\"\n",
    );
    let engine = rig.engine();
    let result = engine.check_account("home".into()).await.unwrap();
    assert!(result.ok, "{result:?}");
    assert_eq!(
        result.message,
        "Porkbun accepts the API keys. Whether a domain has API ACCESS switched on shows at \
         its first update."
    );
    let calls = api.calls();
    assert_eq!(calls.len(), 1, "{calls:#?}");
    assert_eq!(calls[0].path, PING);
    // The keys in the body only, as every Porkbun call sends them.
    assert_eq!(body(&calls[0]), keys());
    assert_eq!(calls[0].header("authorization"), None);
    assert!(api.writes().is_empty());
    assert!(
        engine.history(None, 10).await.unwrap().is_empty(),
        "nothing recorded"
    );

    // Refused keys: Porkbun's words, neither key shown, still nothing changed or recorded.
    api.route("POST", PING, fixture("invalid-api-key"));
    let result = engine.check_account("home".into()).await.unwrap();
    assert!(!result.ok);
    assert_eq!(
        result.message,
        "Porkbun refused the API keys: Invalid API key. (002)"
    );
    for key in [SECRET, API_KEY] {
        assert!(leaks(key, [result.message.as_str()]).is_empty());
    }
    // An answer that echoes both keys: neither reaches the message.
    let echo = serde_json::json!({ "status": "ERROR",
        "message": format!("Keys {API_KEY} and {SECRET} are not valid.") });
    api.route("POST", PING, Reply::json(403, echo.to_string()));
    let result = engine.check_account("home".into()).await.unwrap();
    assert!(!result.ok);
    assert!(
        result
            .message
            .starts_with("Porkbun refused the API keys: Keys "),
        "{result:?}"
    );
    for key in [SECRET, API_KEY] {
        assert!(
            leaks(key, [result.message.as_str()]).is_empty(),
            "{result:?}"
        );
    }
    assert!(api.writes().is_empty());
    assert!(engine.history(None, 10).await.unwrap().is_empty());
    assert_eq!(engine.status().records[0].phase, Phase::Pending);
}
