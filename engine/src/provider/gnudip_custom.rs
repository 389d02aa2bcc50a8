//! Any GnuDIP 2 server, at an address the user gives: `gnudip://host[:port]` for the TCP
//! protocol, or the https:// URL of the server's update CGI.

use super::{
    AccountInput, BoxFuture, Descriptor, FieldKind, FieldProblem, FieldSpec, IpFamily,
    OFFLINE_ADDRESS, Outcome, PASSWORD, Prepared, Provider, USERNAME, UpdateRequest, dyndns2,
    gnudip,
};

/// A GnuDIP server of the user's choosing.
pub(super) struct CustomGnuDip;

static DESCRIPTOR: Descriptor = Descriptor {
    id: "gnudip",
    name: "Other GnuDIP server",
    protocol: "gnudip",
    docs_url: "https://gnudip2.sourceforge.net/",
    key_url: None,
    families: &[IpFamily::V4],
    default_server: None,
    account_fields: &[
        USERNAME,
        PASSWORD,
        FieldSpec::new(
            "server",
            "Update server",
            FieldKind::Url,
            "gnudip://host[:port] for GnuDIP over TCP (port 3495 by default), or the \
                   https:// URL of the update CGI (/gnudip/cgi-bin/gdipupdt.cgi when the URL \
                   has no path).",
        )
        .required(),
    ],
    record_fields: &[OFFLINE_ADDRESS, gnudip::OFFLINE_MODE],
    native_offline: true,
    // GnuDIP updates one name per exchange.
    max_batch: 1,
    keepalive: None,
    confirm_reminder: None,
    checkip: None,
    notes: "For GnuDIP services such as gnudip.dynu.com. The record's name is \
            `<username>.<domain>`. GnuDIP sends only a salted hash of the password, never the \
            password, so its plain TCP protocol is acceptable.",
    refusals: dyndns2::REFUSALS,
};

impl Provider for CustomGnuDip {
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
        Box::pin(gnudip::update(http, request, &gnudip::STANDARD))
    }
}
