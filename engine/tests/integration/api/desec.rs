//! deSEC's fake: the dynDNS endpoint (providers-api.md 2.3).

use dyntray_tests::fake_api::{Call, FakeApi, Reply};

use super::{Case, Expect, Fake, SECRET, V4, backing_off, ok, refused};

pub struct Desec;

impl Fake for Desec {
    fn id(&self) -> &'static str {
        "desec"
    }

    fn base(&self) -> &'static str {
        ""
    }

    fn name(&self) -> &'static str {
        "home.example.dedyn.io"
    }

    fn serve(&self, api: &FakeApi, case: Case) -> Option<Expect> {
        api.mark_write("GET", "/");
        let fixture = |name: &str| Reply::fixture("desec", &format!("{name}.http"));
        let (reply, expect) = match case {
            Case::Success => (fixture("good"), ok(1)),
            // deSEC has no "unchanged" answer, and is sent nothing unchanged.
            Case::Unchanged | Case::OtherAddress => return None,
            Case::BadAuth => (fixture("badauth"), refused("badauth", 1)),
            Case::UnknownZone => (fixture("nohost"), refused("nohost", 1)),
            Case::UnknownRecord => (fixture("bad-domain"), refused("http-400", 1)),
            Case::RateLimited => (fixture("rate-limited"), backing_off(1)),
            Case::ServerError => (fixture("server-error"), backing_off(1)),
            Case::Timeout => (Reply::hang(), backing_off(1)),
            Case::Html => (fixture("html"), backing_off(1)),
            Case::Malformed => (fixture("malformed"), backing_off(1)),
        };
        api.route("GET", "/", reply);
        expect
    }

    fn check(&self, calls: &[Call]) {
        assert_eq!(calls.len(), 1, "{calls:?}");
        let call = &calls[0];
        assert_eq!((call.method.as_str(), call.path.as_str()), ("GET", "/"));
        let query: Vec<(&str, &str)> = call
            .query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        // Both families, always: the one left out would be deleted.
        assert_eq!(
            query,
            [
                ("hostname", "home.example.dedyn.io"),
                ("myipv4", V4),
                ("myipv6", "preserve")
            ]
        );
        assert_eq!(
            call.header("authorization"),
            Some(format!("Token {SECRET}").as_str())
        );
    }
}
