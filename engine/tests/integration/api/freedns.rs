//! FreeDNS's fake: the v2 token URLs, token in the path (providers-api.md 2.6).

use dyntray_engine::engine::Phase;
use dyntray_tests::fake_api::{Call, FakeApi, Reply};

use super::{Case, Expect, Fake, SECRET, V4, api_config, backing_off, ok, refused};
use crate::engine::Rig;

const V6: &str = "2a00:1450:4001:81b::200e";

pub struct FreeDns;

/// The token as a path segment carries it (`#` would start a fragment).
fn token_path() -> String {
    format!("/u/{}/", SECRET.replace('#', "%23"))
}

impl Fake for FreeDns {
    fn id(&self) -> &'static str {
        "freedns"
    }

    fn base(&self) -> &'static str {
        ""
    }

    fn name(&self) -> &'static str {
        "home.mooo.com"
    }

    fn serve(&self, api: &FakeApi, case: Case) -> Option<Expect> {
        api.mark_write("GET", "/u/**");
        let fixture = |name: &str| Reply::fixture("freedns", &format!("{name}.http"));
        let (reply, expect) = match case {
            Case::Success => (fixture("updated"), ok(1)),
            // FreeDNS skips the update and holds nothing against the client: accepted.
            Case::Unchanged => (fixture("no-change"), ok(1)),
            // The token finds the record: a wrong token is a record FreeDNS cannot locate
            // (there is no other credential to refuse).
            Case::BadAuth | Case::UnknownRecord => (fixture("no-record"), refused("no-record", 1)),
            // No zone in the request: the token names the record alone.
            Case::UnknownZone => return None,
            Case::RateLimited => (fixture("rate-limited"), backing_off(1)),
            Case::ServerError => (fixture("server-error"), backing_off(1)),
            Case::Timeout => (Reply::hang(), backing_off(1)),
            Case::Html => (fixture("html"), backing_off(1)),
            Case::Malformed => (fixture("malformed"), backing_off(1)),
            Case::OtherAddress => (fixture("other-address"), backing_off(1)),
        };
        api.route("GET", "/u/**", reply);
        expect
    }

    fn check(&self, calls: &[Call]) {
        assert_eq!(calls.len(), 1, "{calls:?}");
        let call = &calls[0];
        assert_eq!(
            (call.method.as_str(), call.path.as_str()),
            ("GET", token_path().as_str())
        );
        let query: Vec<(&str, &str)> = call
            .query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(query, [("address", V4)]);
        assert_eq!(call.header("authorization"), None);
    }
}

#[tokio::test(start_paused = true)]
pub async fn freedns_sends_aaaa_records_to_the_v6_server() {
    let rig = Rig::new().await;
    rig.source.set(V6);
    let api = FakeApi::start().await;
    api.mark_write("GET", "/v6/u/**");
    let updated = format!("Updated 1 host(s) home.mooo.com to {V6} in 0.1 seconds");
    api.route("GET", "/v6/u/**", Reply::text(200, updated));
    api_config(
        &rig,
        "freedns",
        &format!("{}/v4", api.url()),
        &format!("server_v6 = \"{}/v6\"\n", api.url()),
        "[[record]]\nname = \"home.mooo.com\"\naccount = \"home\"\nfamily = \"AAAA\"\n",
    );
    let engine = rig.engine();
    assert_eq!(engine.status().config_error, None);
    engine.run_once().await.unwrap();
    let calls = api.calls();
    assert_eq!(calls.len(), 1, "{calls:#?}");
    assert_eq!(calls[0].path, format!("/v6{}", token_path()));
    assert_eq!(calls[0].param("address"), Some(V6));
    let record = &engine.status().records[0];
    assert_eq!(record.phase, Phase::Ok);
    assert_eq!(record.address, Some(V6.parse().unwrap()));
    engine.shutdown().await;

    // The IPv6 server must be as safe as the other.
    let rig = Rig::new().await;
    api_config(
        &rig,
        "freedns",
        &api.url(),
        "server_v6 = \"http://v6.sync.afraid.org\"\n",
        "[[record]]\nname = \"home.mooo.com\"\naccount = \"home\"\nfamily = \"AAAA\"\n",
    );
    let error = rig.engine().status().config_error.unwrap();
    assert!(
        error.contains("account[0].server_v6: credentials travel only over HTTPS"),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
pub async fn freedns_never_shows_the_token_from_its_url() {
    // Any piece of the token, in any encoding, would contain this.
    let piece = &SECRET[..6];

    // No connection: the error names the URL, which holds the token.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let server = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let rig = Rig::new().await;
    api_config(
        &rig,
        "freedns",
        &server,
        "",
        "[[record]]\nname = \"home.mooo.com\"\naccount = \"home\"\n",
    );
    let engine = rig.engine();
    engine.run_once().await.unwrap();
    let record = &engine.status().records[0];
    assert_eq!(record.phase, Phase::BackingOff);
    let answer = record.last_answer.clone().unwrap();
    assert!(answer.contains("(the update URL)"), "{answer}");
    for text in super::shown(&engine).await {
        assert!(!text.contains(piece), "the token is shown: {text}");
    }
    engine.shutdown().await;

    // An error that echoes the request's URL.
    let rig = Rig::new().await;
    let api = FakeApi::start().await;
    let echo = format!(
        "ERROR: Unable to locate this record at {}{}?address={V4}",
        api.url(),
        token_path()
    );
    api.route("GET", "/u/**", Reply::text(200, echo));
    api_config(
        &rig,
        "freedns",
        &api.url(),
        "",
        "[[record]]\nname = \"home.mooo.com\"\naccount = \"home\"\n",
    );
    let engine = rig.engine();
    engine.run_once().await.unwrap();
    let record = &engine.status().records[0];
    let disabled = record.disabled.as_ref().unwrap();
    assert_eq!(disabled.code, "no-record");
    assert!(
        disabled
            .answer
            .starts_with("ERROR: Unable to locate this record at "),
        "{}",
        disabled.answer
    );
    for text in super::shown(&engine).await {
        assert!(!text.contains(piece), "the token is shown: {text}");
    }
}
