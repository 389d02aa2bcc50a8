//! DuckDNS's fake: one GET, verbose answers (providers-api.md 2.2).

use dyntray_tests::fake_api::{Call, FakeApi, Reply};

use super::{Case, Expect, Fake, SECRET, V4, backing_off, ok, refused};

pub struct DuckDns;

impl Fake for DuckDns {
    fn id(&self) -> &'static str {
        "duckdns"
    }

    fn base(&self) -> &'static str {
        ""
    }

    fn name(&self) -> &'static str {
        "home.duckdns.org"
    }

    fn serve(&self, api: &FakeApi, case: Case) -> Option<Expect> {
        api.mark_write("GET", "/update");
        let fixture = |name: &str| Reply::fixture("duckdns", &format!("{name}.http"));
        let (reply, expect) = match case {
            Case::Success => (fixture("updated"), ok(1)),
            // DuckDNS says NOCHANGE and counts it against no one: accepted as is.
            Case::Unchanged => (fixture("nochange"), ok(1)),
            // KO is all DuckDNS says, for a bad token and for an unknown name alike.
            Case::BadAuth | Case::UnknownZone | Case::UnknownRecord => {
                (fixture("ko"), refused("KO", 1))
            }
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
                ("domains", "home"),
                ("token", SECRET),
                ("ip", V4),
                ("verbose", "true")
            ]
        );
    }
}
