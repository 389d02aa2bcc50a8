//! Cloudflare's fake: zones, records, PATCH (answers from providers-api.md 2.1).

use dyntray_tests::fake_api::{Call, FakeApi, Reply};

use super::{Case, Expect, Fake, SECRET, V4, backing_off, ok, refused};

pub struct Cloudflare;

pub const CF_ZONE: &str = "023e105f4ecef8ad9ca31a8372d0c353";
pub const CF_RECORD: &str = "372e67954025e0ba6aaa6d586b9e0b59";

impl Fake for Cloudflare {
    fn id(&self) -> &'static str {
        "cloudflare"
    }

    fn base(&self) -> &'static str {
        "/client/v4"
    }

    fn name(&self) -> &'static str {
        "home.example.org"
    }

    fn serve(&self, api: &FakeApi, case: Case) -> Option<Expect> {
        let fixture = |name: &str| Reply::fixture("cloudflare", &format!("{name}.http"));
        let zones = fixture("zones-example");
        api.route_fn("GET", "/client/v4/zones", move |call| {
            if call.param("name") == Some("example.org") {
                zones.clone()
            } else {
                Reply::fixture("cloudflare", "zones-none.http")
            }
        });
        let records = "/client/v4/zones/*/dns_records";
        let record = "/client/v4/zones/*/dns_records/*";
        api.route("GET", records, fixture("records-old"));
        api.route("PATCH", record, fixture("patched"));
        match case {
            Case::Success => return ok(1),
            Case::Unchanged => api.route("GET", records, fixture("records-current")),
            Case::BadAuth => {
                api.route("GET", "/client/v4/zones", fixture("bad-token"));
                return refused("cf-9109", 0);
            }
            Case::UnknownZone => {
                api.route("GET", "/client/v4/zones", fixture("zones-none"));
                return refused("no-zone", 0);
            }
            Case::UnknownRecord => {
                api.route("GET", records, fixture("records-none"));
                return refused("no-record", 0);
            }
            Case::RateLimited => api.route("GET", records, fixture("rate-limited")),
            Case::ServerError => api.route("PATCH", record, fixture("server-error")),
            Case::Timeout => api.route("PATCH", record, Reply::hang()),
            Case::Html => api.route("GET", records, fixture("html")),
            Case::Malformed => api.route("GET", records, fixture("malformed")),
            Case::OtherAddress => api.route("PATCH", record, fixture("patched-other")),
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
                "GET /client/v4/zones?name=home.example.org".to_owned(),
                "GET /client/v4/zones?name=example.org".to_owned(),
                format!("GET /client/v4/zones/{CF_ZONE}/dns_records?type=A&name=home.example.org"),
                format!("PATCH /client/v4/zones/{CF_ZONE}/dns_records/{CF_RECORD}?"),
            ]
        );
        for call in calls {
            assert_eq!(call.bearer(), Some(SECRET), "{call:?}");
        }
        let patch = &calls[3];
        assert_eq!(patch.header("content-type"), Some("application/json"));
        let body: serde_json::Value = serde_json::from_str(&patch.body).unwrap();
        // Only the content: the user's proxy status, TTL and comment stay as they are.
        assert_eq!(body, serde_json::json!({ "content": V4 }));
    }
}
