//! Namecheap's fake: one GET per host, XML answers declared utf-16 (providers-api.md 2.7).

use dyntray_engine::engine::Phase;
use dyntray_tests::fake_api::{Call, FakeApi, Reply};

use super::{Case, Expect, Fake, SECRET, V4, api_config, backing_off, ok, refused};
use crate::engine::Rig;

pub struct Namecheap;

impl Fake for Namecheap {
    fn id(&self) -> &'static str {
        "namecheap"
    }

    fn base(&self) -> &'static str {
        ""
    }

    fn name(&self) -> &'static str {
        "home.example.org"
    }

    fn account(&self) -> &'static str {
        "domain = \"example.org\"\n"
    }

    fn serve(&self, api: &FakeApi, case: Case) -> Option<Expect> {
        api.mark_write("GET", "/update");
        let fixture = |name: &str| Reply::fixture("namecheap", &format!("{name}.http"));
        let (reply, expect) = match case {
            Case::Success => (fixture("success"), ok(1)),
            // Namecheap has no "unchanged" answer: every accepted update reads as a success.
            Case::Unchanged => return None,
            Case::BadAuth => (fixture("bad-password"), refused("bad-password", 1)),
            Case::UnknownZone => (fixture("unknown-domain"), refused("unknown-domain", 1)),
            Case::UnknownRecord => (fixture("unknown-host"), refused("unknown-host", 1)),
            Case::RateLimited => (fixture("rate-limited"), backing_off(1)),
            Case::ServerError => (fixture("server-error"), backing_off(1)),
            Case::Timeout => (Reply::hang(), backing_off(1)),
            Case::Html => (fixture("html"), backing_off(1)),
            Case::Malformed => (fixture("malformed"), backing_off(1)),
            Case::OtherAddress => (fixture("other-address"), backing_off(1)),
        };
        api.route("GET", "/update", reply);
        expect
    }

    fn check(&self, calls: &[Call]) {
        assert_eq!(calls.len(), 1, "{calls:?}");
        let call = &calls[0];
        assert_eq!(
            (call.method.as_str(), call.path.as_str()),
            ("GET", "/update")
        );
        let query: Vec<(&str, &str)> = call
            .query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            query,
            [
                ("host", "home"),
                ("domain", "example.org"),
                ("password", SECRET),
                ("ip", V4)
            ]
        );
        assert_eq!(call.header("authorization"), None);
    }
}

#[tokio::test(start_paused = true)]
pub async fn namecheap_refuses_aaaa_records_in_the_config() {
    let rig = Rig::new().await;
    let api = FakeApi::start().await;
    api_config(
        &rig,
        "namecheap",
        &api.url(),
        "domain = \"example.org\"\n",
        "[[record]]\nname = \"home.example.org\"\naccount = \"home\"\nfamily = \"AAAA\"\n",
    );
    let engine = rig.engine();
    let error = engine.status().config_error.unwrap();
    assert!(
        error.contains("record[0].family: Namecheap updates IPv4 (A) records only"),
        "{error}"
    );
    let _ = engine.run_once().await;
    assert_eq!(api.count(), 0, "nothing is sent");
    engine.shutdown().await;

    // The domain is required: the password is the domain's.
    let rig = Rig::new().await;
    api_config(
        &rig,
        "namecheap",
        &api.url(),
        "",
        "[[record]]\nname = \"home.example.org\"\naccount = \"home\"\n",
    );
    let error = rig.engine().status().config_error.unwrap();
    assert!(
        error.contains("account[0].domain: Namecheap needs `domain`"),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
pub async fn namecheap_sends_the_apex_as_at_and_nothing_for_a_name_outside_the_domain() {
    let rig = Rig::new().await;
    let api = FakeApi::start().await;
    api.mark_write("GET", "/update");
    api.route(
        "GET",
        "/update",
        Reply::fixture("namecheap", "success.http"),
    );
    api_config(
        &rig,
        "namecheap",
        &api.url(),
        "domain = \"example.org\"\n",
        "[[record]]\nname = \"example.org\"\naccount = \"home\"\n\n\
         [[record]]\nname = \"home.example.net\"\naccount = \"home\"\n",
    );
    let engine = rig.engine();
    assert_eq!(engine.status().config_error, None);
    engine.run_once().await.unwrap();
    let writes = api.writes();
    assert_eq!(writes.len(), 1, "{writes:#?}");
    assert_eq!(writes[0].param("host"), Some("@"));
    assert_eq!(writes[0].param("domain"), Some("example.org"));
    let status = engine.status();
    let apex = status.records.iter().find(|r| r.name == "example.org");
    assert_eq!(apex.unwrap().phase, Phase::Ok);
    let outside = status
        .records
        .iter()
        .find(|r| r.name == "home.example.net")
        .unwrap();
    assert_eq!(outside.phase, Phase::Disabled);
    assert_eq!(outside.disabled.as_ref().unwrap().code, "outside-domain");
}
