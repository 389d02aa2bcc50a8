//! yi.org: a GnuDIP 2 service (TCP port 3495, or HTTP). Updates touch only A records that
//! already exist and are marked "Primary" in yi.org's admin pages. The service may be
//! defunct; nothing in the tests talks to it.

use super::{
    AccountInput, BoxFuture, Descriptor, FieldKind, FieldProblem, FieldSpec, IpFamily,
    OFFLINE_ADDRESS, Outcome, PASSWORD, Prepared, Provider, USERNAME, UpdateRequest, dyndns2,
    gnudip,
};

/// yi.org.
pub(super) struct YiOrg;

/// Repeated in the advice of every "no such host"-like outcome.
const HOST_HINT: &str = "At yi.org the A record must first exist and be marked \"Primary\" \
                         in yi.org's admin pages; the record's name here is then \
                         <username>.yi.org.";

static DESCRIPTOR: Descriptor = Descriptor {
    id: "yiorg",
    name: "yi.org",
    protocol: "gnudip",
    docs_url: "https://www.yi.org/",
    key_url: None,
    families: &[IpFamily::V4],
    default_server: Some("gnudip://gnudip2.yi.org:3495"),
    account_fields: &[
        USERNAME,
        PASSWORD,
        FieldSpec::new(
            "server",
            "Update server",
            FieldKind::Url,
            "Leave empty for gnudip://gnudip2.yi.org:3495 (GnuDIP over TCP: only a \
                   salted hash of the password travels).",
        ),
    ],
    record_fields: &[OFFLINE_ADDRESS, gnudip::OFFLINE_MODE],
    native_offline: true,
    // GnuDIP updates one name per exchange.
    max_batch: 1,
    keepalive: None,
    confirm_reminder: None,
    checkip: None,
    notes: "Create the A record and mark it \"Primary\" in yi.org's admin pages first; the \
            record's name is `<username>.yi.org`. GnuDIP sends only a salted hash of the \
            password, never the password, so its plain TCP protocol is acceptable.",
    refusals: dyndns2::REFUSALS,
};

const QUIRKS: gnudip::Quirks = gnudip::Quirks {
    host_hint: Some(HOST_HINT),
};

impl Provider for YiOrg {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn prepare(&self, account: &AccountInput<'_>) -> Result<Prepared, Vec<FieldProblem>> {
        gnudip::prepare(account)
    }

    fn update<'a>(
        &'a self,
        http: &'a reqwest::Client,
        request: &'a UpdateRequest,
    ) -> BoxFuture<'a, Vec<Outcome>> {
        Box::pin(gnudip::update(http, request, &QUIRKS))
    }
}
