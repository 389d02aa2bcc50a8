//! The contract every HTTP API provider honours, against a fake of its API on 127.0.0.1
//! that answers from the fixtures in `tests/fixtures/<provider>/` (the answers recorded
//! in providers-api.md): the same cases for every registry entry, each asserting the
//! requests exactly and the resulting state, history and advice.

use std::sync::{Arc, Mutex};

use dyntray_engine::engine::{EngineHandle, Phase};
use dyntray_engine::provider::REGISTRY;
use dyntray_tests::fake_api::{Call, FakeApi, Reply, leaks};

use crate::engine::Rig;

pub const V4: &str = "81.2.69.160";
pub const SECRET: &str = "s3cr3t-p@ss#word";
/// The clock the engine starts at (see `Rig::engine`).
const START: i64 = 1_800_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    Success,
    Unchanged,
    BadAuth,
    UnknownZone,
    UnknownRecord,
    RateLimited,
    ServerError,
    Timeout,
    Html,
    Malformed,
    OtherAddress,
}

const CASES: &[Case] = &[
    Case::Success,
    Case::Unchanged,
    Case::BadAuth,
    Case::UnknownZone,
    Case::UnknownRecord,
    Case::RateLimited,
    Case::ServerError,
    Case::Timeout,
    Case::Html,
    Case::Malformed,
    Case::OtherAddress,
];

/// What a case must end in.
#[derive(Debug)]
pub struct Expect {
    phase: Phase,
    /// The code of the refusal, when the record is disabled.
    code: Option<&'static str>,
    /// Requests that change something at the provider.
    writes: usize,
}

pub fn ok(writes: usize) -> Option<Expect> {
    Some(Expect {
        phase: Phase::Ok,
        code: None,
        writes,
    })
}

pub fn refused(code: &'static str, writes: usize) -> Option<Expect> {
    Some(Expect {
        phase: Phase::Disabled,
        code: Some(code),
        writes,
    })
}

pub fn backing_off(writes: usize) -> Option<Expect> {
    Some(Expect {
        phase: Phase::BackingOff,
        code: None,
        writes,
    })
}

/// A provider's fake: where it lives, how it answers each case, what a request must be.
pub trait Fake: Sync {
    fn id(&self) -> &'static str;
    /// The path the account's server URL ends in (the API's base path).
    fn base(&self) -> &'static str;
    /// The record's name.
    fn name(&self) -> &'static str;
    /// Account lines beyond the token (Porkbun's API key is its `username`,
    /// Namecheap's required `domain`).
    fn account(&self) -> &'static str {
        ""
    }
    /// Sets the routes for `case`; `None` when the provider has no such answer.
    fn serve(&self, api: &FakeApi, case: Case) -> Option<Expect>;
    /// Checks the requests of a successful update, exactly.
    fn check(&self, calls: &[Call]);
}

mod cloudflare;
mod desec;
mod digitalocean;
mod duckdns;
mod dynv6;
mod freedns;
mod gandi;
mod hetzner;
mod namecheap;
mod porkbun;

/// Every HTTP API provider's fake, one file each.
const FAKES: &[&dyn Fake] = &[
    &cloudflare::Cloudflare,
    &duckdns::DuckDns,
    &desec::Desec,
    &porkbun::Porkbun,
    &digitalocean::DigitalOcean,
    &gandi::Gandi,
    &hetzner::Hetzner,
    &namecheap::Namecheap,
    &freedns::FreeDns,
    &dynv6::Dynv6,
];

/// Writes a config: account `home` (token only) on `provider` at `server`, then `records`.
pub fn api_config(rig: &Rig, provider: &str, server: &str, account_extra: &str, records: &str) {
    let text = format!(
        "version = 1\n\n[general]\npoll_interval = \"5m\"\n\n[detect]\nipv4 = []\nipv6 = []\n\n\
         [[account]]\nid = \"home\"\nprovider = \"{provider}\"\nsecret = \"keychain\"\n\
         server = \"{server}\"\n{account_extra}\n{records}"
    );
    std::fs::write(rig.config_path(), text).unwrap();
}

/// Everything the engine shows or keeps about the record, as text.
async fn shown(engine: &EngineHandle) -> Vec<String> {
    let mut texts = vec![format!("{:?}", engine.status())];
    for entry in engine.history(None, 100).await.unwrap() {
        texts.push(format!("{entry:?}"));
    }
    texts
}

#[test]
fn every_http_api_provider_is_in_the_contract_suite() {
    let mut registry: Vec<&str> = REGISTRY
        .iter()
        .map(|p| p.descriptor())
        .filter(|d| d.protocol == "HTTP API")
        .map(|d| d.id)
        .collect();
    let mut fakes: Vec<&str> = FAKES.iter().map(|f| f.id()).collect();
    registry.sort_unstable();
    fakes.sort_unstable();
    assert_eq!(registry, fakes);
}

#[tokio::test(start_paused = true)]
async fn every_http_api_provider_honours_the_contract() {
    for fake in FAKES {
        let id = fake.id();
        for &case in CASES {
            let rig = Rig::new().await;
            let api = FakeApi::start().await;
            let Some(expect) = fake.serve(&api, case) else {
                continue;
            };
            let records = format!(
                "[[record]]\nname = \"{}\"\naccount = \"home\"\n",
                fake.name()
            );
            api_config(
                &rig,
                id,
                &format!("{}{}", api.url(), fake.base()),
                fake.account(),
                &records,
            );
            let engine = rig.engine();
            assert_eq!(engine.status().config_error, None, "{id}");
            engine.run_once().await.unwrap();

            let calls = api.calls();
            let what = format!("{id} {case:?}: {calls:#?}");
            for call in &calls {
                assert!(
                    call.header("user-agent")
                        .is_some_and(|ua| ua.starts_with("Dyntray dyntray/")),
                    "{what}"
                );
            }
            if case == Case::Success {
                fake.check(&calls);
            }
            assert_eq!(api.writes().len(), expect.writes, "{what}");
            let status = engine.status();
            let record = &status.records[0];
            assert_eq!(record.phase, expect.phase, "{what} {status:#?}");
            assert_eq!(
                record.disabled.as_ref().map(|d| d.code.as_str()),
                expect.code,
                "{what}"
            );
            if let Some(disabled) = &record.disabled {
                assert!(!disabled.advice.is_empty(), "{what}: advice");
                assert!(!disabled.answer.is_empty(), "{what}: the provider's words");
            }
            match case {
                Case::Success | Case::Unchanged => {
                    assert_eq!(record.address, Some(V4.parse().unwrap()), "{what}");
                    // Accepted: the next pass sends nothing.
                    let before = api.count();
                    engine.run_once().await.unwrap();
                    assert_eq!(api.count(), before, "{what}: a second pass");
                }
                Case::RateLimited => {
                    // The longer of Retry-After and 30 minutes; never disabled.
                    let next = record.next_attempt_at.unwrap();
                    assert!(next >= START + 30 * 60, "{what}: next attempt {next}");
                }
                _ => {}
            }
            let texts = shown(&engine).await;
            assert!(
                leaks(SECRET, texts.iter().map(String::as_str)).is_empty(),
                "{what}: the secret is shown"
            );
            engine.shutdown().await;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn cloudflare_reads_once_and_writes_fifty_names_in_one_batch() {
    let rig = Rig::new().await;
    let api = FakeApi::start().await;
    let names: Vec<String> = (0..50).map(|i| format!("host{i}.example.org")).collect();
    let listed: Vec<serde_json::Value> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            serde_json::json!({"id": format!("rec{i}"), "name": name, "type": "A",
                "content": if i == 7 { V4 } else { "81.2.69.1" }, "proxied": false, "ttl": 1})
        })
        .collect();
    let list = serde_json::json!({"success": true, "errors": [], "messages": [],
        "result": listed, "result_info": {"page": 1, "per_page": 1000, "total_pages": 1}});
    api.route(
        "GET",
        "/client/v4/zones/*/dns_records",
        Reply::json(200, list.to_string()),
    );
    let batch: Arc<Mutex<Option<serde_json::Value>>> = Arc::default();
    let seen = Arc::clone(&batch);
    api.route_fn(
        "POST",
        "/client/v4/zones/*/dns_records/batch",
        move |call| {
            let body: serde_json::Value = serde_json::from_str(&call.body).unwrap();
            let patches: Vec<serde_json::Value> = body["patches"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| serde_json::json!({"id": p["id"], "type": "A", "content": p["content"]}))
                .collect();
            *seen.lock().unwrap() = Some(body);
            Reply::json(
                200,
                serde_json::json!({"success": true, "errors": [], "messages": [],
                "result": {"patches": patches}})
                .to_string(),
            )
        },
    );
    let records: String = names
        .iter()
        .map(|n| format!("[[record]]\nname = \"{n}\"\naccount = \"home\"\n\n"))
        .collect();
    api_config(
        &rig,
        "cloudflare",
        &format!("{}/client/v4", api.url()),
        "zone = \"example.org\"\n",
        &records,
    );
    // The zone's id is looked up once and remembered.
    api.route(
        "GET",
        "/client/v4/zones",
        Reply::fixture("cloudflare", "zones-example.http"),
    );
    let engine = rig.engine();
    let report = engine.run_once().await.unwrap();
    assert_eq!(report.succeeded.len(), 50, "{report:?}");
    let calls = api.calls();
    let methods: Vec<(&str, &str)> = calls
        .iter()
        .map(|c| (c.method.as_str(), c.path.rsplit('/').next().unwrap()))
        .collect();
    assert_eq!(
        methods,
        [("GET", "zones"), ("GET", "dns_records"), ("POST", "batch")]
    );
    let body = batch.lock().unwrap().take().unwrap();
    let patches = body["patches"].as_array().unwrap();
    assert_eq!(
        patches.len(),
        49,
        "the name that already points here is left alone"
    );
    assert!(
        patches
            .iter()
            .all(|p| p["content"] == V4 && p.as_object().unwrap().len() == 2)
    );
    assert!(body.get("posts").is_none());
    let statuses = engine.status().records;
    assert!(statuses.iter().all(|r| r.phase == Phase::Ok));
    engine.run_once().await.unwrap();
    assert_eq!(api.count(), 3, "a second pass sends nothing");
}

#[tokio::test(start_paused = true)]
async fn cloudflare_creates_only_when_asked_and_never_guesses_among_several() {
    let rig = Rig::new().await;
    let api = FakeApi::start().await;
    api.route(
        "GET",
        "/client/v4/zones",
        Reply::fixture("cloudflare", "zones-example.http"),
    );
    api.route(
        "GET",
        "/client/v4/zones/*/dns_records",
        Reply::fixture("cloudflare", "records-none.http"),
    );
    api.route_fn("POST", "/client/v4/zones/*/dns_records", |call| {
        let body: serde_json::Value = serde_json::from_str(&call.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"type": "A", "name": "new.example.org", "content": V4,
                "ttl": 1, "proxied": false})
        );
        Reply::json(
            200,
            serde_json::json!({"success": true, "errors": [], "messages": [],
                "result": {"id": "new1", "name": "new.example.org", "type": "A", "content": V4}})
            .to_string(),
        )
    });
    api_config(
        &rig,
        "cloudflare",
        &format!("{}/client/v4", api.url()),
        "",
        "[[record]]\nname = \"new.example.org\"\naccount = \"home\"\ncreate = true\n",
    );
    let engine = rig.engine();
    engine.run_once().await.unwrap();
    assert_eq!(engine.status().records[0].phase, Phase::Ok);
    assert_eq!(api.writes().len(), 1);
    engine.shutdown().await;

    // Two A records for one name: nothing is written, and the user is told.
    let rig = Rig::new().await;
    let api = FakeApi::start().await;
    api.route(
        "GET",
        "/client/v4/zones",
        Reply::fixture("cloudflare", "zones-example.http"),
    );
    let two = serde_json::json!({"success": true, "errors": [], "messages": [], "result": [
        {"id": "a", "name": "rr.example.org", "type": "A", "content": "81.2.69.1"},
        {"id": "b", "name": "rr.example.org", "type": "A", "content": "81.2.69.2"}]});
    api.route(
        "GET",
        "/client/v4/zones/*/dns_records",
        Reply::json(200, two.to_string()),
    );
    api_config(
        &rig,
        "cloudflare",
        &format!("{}/client/v4", api.url()),
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
async fn token_providers_take_no_username_and_check_their_settings() {
    let rig = Rig::new().await;
    let text = "version = 1\n\n[[account]]\nid = \"home\"\nprovider = \"cloudflare\"\n\
                username = \"alice\"\nzone = \"not a zone\"\nproxied = true\n";
    std::fs::write(rig.config_path(), text).unwrap();
    let engine = rig.engine();
    let error = engine.status().config_error.unwrap();
    assert!(
        error.contains("line 6: account[0].username: Cloudflare takes no `username`"),
        "{error}"
    );
    assert!(
        error.contains("line 8: account[0].proxied: Cloudflare has no setting `proxied`"),
        "{error}"
    );
    assert!(error.contains("line 7: account[0].zone"), "{error}");
}

#[tokio::test(start_paused = true)]
async fn desec_and_duckdns_carry_the_other_family_as_they_must() {
    // deSEC gets a name's A and AAAA in one request, and an IPv6 update alone keeps the
    // IPv4 address (`preserve`); DuckDNS gets the IPv4 address in force with an IPv6
    // update, or it would take the connection's.
    const V6: &str = "2a00:1450:4001:81b::200e";
    for (provider, name) in [
        ("desec", "home.example.dedyn.io"),
        ("duckdns", "home.duckdns.org"),
    ] {
        let rig = Rig::new().await;
        rig.source.set(V6);
        let api = FakeApi::start().await;
        let reply = if provider == "desec" {
            Reply::text(200, "good")
        } else {
            Reply::text(200, format!("OK\n{V4}\n{V6}\nUPDATED"))
        };
        api.route("GET", "/**", reply);
        api_config(
            &rig,
            provider,
            &api.url(),
            "",
            &format!("[[record]]\nname = \"{name}\"\naccount = \"home\"\nfamily = \"both\"\n"),
        );
        let engine = rig.engine();
        engine.run_once().await.unwrap();
        let calls = api.calls();
        let v6 = calls
            .iter()
            .find(|c| c.param("myipv6") == Some(V6) || c.param("ipv6") == Some(V6))
            .unwrap_or_else(|| panic!("{provider}: {calls:#?}"));
        if provider == "desec" {
            // Both families due for the same names: one request carries both.
            assert_eq!(calls.len(), 1, "{calls:#?}");
            assert_eq!(v6.param("myipv4"), Some(V4));
            // Later only the IPv6 address changes: the IPv4 one is preserved.
            const V6_NEW: &str = "2a00:1450:4001:81b::200f";
            rig.source.set(V6_NEW);
            api.clear();
            engine.run_once().await.unwrap();
            let calls = api.calls();
            assert_eq!(calls.len(), 1, "{calls:#?}");
            assert_eq!(calls[0].param("myipv6"), Some(V6_NEW));
            assert_eq!(calls[0].param("myipv4"), Some("preserve"));
            let history = engine.history(None, 10).await.unwrap();
            assert_eq!(history.len(), 3, "A and AAAA, then AAAA: {history:#?}");
        } else {
            assert_eq!(v6.param("ip"), Some(V4), "{calls:#?}");
        }
        assert!(engine.status().records.iter().all(|r| r.phase == Phase::Ok));
    }
}

#[tokio::test(start_paused = true)]
async fn an_account_check_changes_nothing_and_says_what_the_token_may_do() {
    use dyntray_engine::engine::EngineError;
    let rig = Rig::new().await;
    let api = FakeApi::start().await;
    let verify = serde_json::json!({"success": true, "errors": [], "messages": [],
        "result": {"id": "f267e341f3dd4697bd3b9f71dd96247f", "status": "active"}});
    api.route(
        "GET",
        "/client/v4/user/tokens/verify",
        Reply::json(200, verify.to_string()),
    );
    let zones = serde_json::json!({"success": true, "errors": [], "messages": [], "result": [
        {"id": "z1", "name": "example.org"}, {"id": "z2", "name": "example.net"}]});
    api.route(
        "GET",
        "/client/v4/zones",
        Reply::json(200, zones.to_string()),
    );
    api_config(
        &rig,
        "cloudflare",
        &format!("{}/client/v4", api.url()),
        "",
        "[[record]]\nname = \"home.example.org\"\naccount = \"home\"\n",
    );
    let engine = rig.engine();
    let result = engine.check_account("home".into()).await.unwrap();
    assert!(result.ok, "{result:?}");
    assert_eq!(
        result.message,
        "Cloudflare accepts the token. It can see 2 zones: example.org, example.net."
    );
    let calls = api.calls();
    assert_eq!(calls.len(), 2, "{calls:#?}");
    assert!(calls.iter().all(|c| c.bearer() == Some(SECRET)));
    assert!(api.writes().is_empty());
    assert!(
        engine.history(None, 10).await.unwrap().is_empty(),
        "nothing recorded"
    );

    // A refused token: the provider's words, and still nothing changed or recorded.
    api.route(
        "GET",
        "/client/v4/user/tokens/verify",
        Reply::fixture("cloudflare", "bad-token.http"),
    );
    let result = engine.check_account("home".into()).await.unwrap();
    assert!(!result.ok);
    assert!(
        result.message.contains("Invalid access token (code 9109)"),
        "{result:?}"
    );
    assert!(leaks(SECRET, [result.message.as_str()]).is_empty());
    assert_eq!(engine.status().records[0].phase, Phase::Pending);
    engine.shutdown().await;

    // DuckDNS can tell only by an update: the caller is told so.
    let rig = Rig::new().await;
    api_config(
        &rig,
        "duckdns",
        "http://127.0.0.1:9",
        "",
        "[[record]]\nname = \"home.duckdns.org\"\naccount = \"home\"\n",
    );
    let engine = rig.engine();
    match engine.check_account("home".into()).await {
        Err(EngineError::Unsupported(message)) => {
            assert!(message.contains("DuckDNS"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}
