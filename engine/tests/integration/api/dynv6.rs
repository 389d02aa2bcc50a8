//! dynv6's fake: the update API, token in the query (providers-api.md 2.13).

use dyntray_engine::engine::Phase;
use dyntray_tests::fake_api::{Call, FakeApi, Reply};

use super::{Case, Expect, Fake, SECRET, V4, api_config, backing_off, ok, refused};
use crate::engine::Rig;

pub struct Dynv6;

impl Fake for Dynv6 {
    fn id(&self) -> &'static str {
        "dynv6"
    }

    fn base(&self) -> &'static str {
        ""
    }

    fn name(&self) -> &'static str {
        "home.dynv6.net"
    }

    fn serve(&self, api: &FakeApi, case: Case) -> Option<Expect> {
        api.mark_write("GET", "/api/update");
        let fixture = |name: &str| Reply::fixture("dynv6", &format!("{name}.http"));
        let (reply, expect) = match case {
            Case::Success => (fixture("updated"), ok(1)),
            Case::Unchanged => (fixture("unchanged"), ok(1)),
            Case::BadAuth => (fixture("bad-token"), refused("bad-token", 1)),
            Case::UnknownZone => (fixture("no-zone"), refused("no-zone", 1)),
            // The update API names a zone and nothing below it.
            Case::UnknownRecord => return None,
            Case::RateLimited => (fixture("rate-limited"), backing_off(1)),
            Case::ServerError => (fixture("server-error"), backing_off(1)),
            Case::Timeout => (Reply::hang(), backing_off(1)),
            Case::Html => (fixture("html"), backing_off(1)),
            // `notupdated` is not `updated`.
            Case::Malformed => (fixture("malformed"), backing_off(1)),
            // dynv6's answer carries no address to compare.
            Case::OtherAddress => return None,
        };
        api.route("GET", "/api/update", reply);
        expect
    }

    fn check(&self, calls: &[Call]) {
        assert_eq!(calls.len(), 1, "{calls:?}");
        let call = &calls[0];
        assert_eq!(
            (call.method.as_str(), call.path.as_str()),
            ("GET", "/api/update")
        );
        let query: Vec<(&str, &str)> = call
            .query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            query,
            [
                ("hostname", "home.dynv6.net"),
                ("token", SECRET),
                ("ipv4", V4)
            ]
        );
        assert_eq!(call.header("authorization"), None);
    }
}

#[tokio::test(start_paused = true)]
pub async fn dynv6_unchanged_is_accepted_and_never_counted() {
    // dyndns2's `nochg` twice for a changed address disables a record; dynv6's
    // `unchanged` is no such signal, however often it comes.
    let rig = Rig::new().await;
    let api = FakeApi::start().await;
    api.mark_write("GET", "/api/update");
    api.route(
        "GET",
        "/api/update",
        Reply::fixture("dynv6", "unchanged.http"),
    );
    api_config(
        &rig,
        "dynv6",
        &api.url(),
        "",
        "[[record]]\nname = \"home.dynv6.net\"\naccount = \"home\"\n",
    );
    let engine = rig.engine();
    let addresses = [V4, "81.2.69.161", "81.2.69.162", "81.2.69.163"];
    for address in addresses {
        rig.source.set(address);
        engine.run_once().await.unwrap();
        let record = &engine.status().records[0];
        assert_eq!(record.phase, Phase::Ok, "{address}: {record:#?}");
        assert_eq!(record.address, Some(address.parse().unwrap()));
    }
    let calls = api.calls();
    let sent: Vec<&str> = calls.iter().filter_map(|c| c.param("ipv4")).collect();
    assert_eq!(sent, addresses, "one request per change");
    let history = engine.history(None, 100).await.unwrap();
    assert_eq!(history.len(), addresses.len());
    assert!(
        history.iter().all(|h| h.classification == "current"),
        "{history:#?}"
    );
}
