//! No-IP: dyndns2, with group names listed next to host names.

use std::time::Duration;

use super::{
    BoxFuture, Descriptor, FieldKind, FieldSpec, GROUP, IpFamily, OFFLINE_ADDRESS, OFFLINE_MODE,
    Outcome, PASSWORD, Provider, SERVER, UpdateRequest, dyndns2,
};

/// No-IP.
pub(super) struct NoIp;

static DESCRIPTOR: Descriptor = Descriptor {
    id: "noip",
    name: "No-IP",
    protocol: "dyndns2",
    docs_url: "https://www.noip.com/integrate/request",
    key_url: Some("https://my.noip.com/"),
    families: &[IpFamily::V4, IpFamily::V6],
    default_server: Some("https://dynupdate.no-ip.com"),
    account_fields: &[
        FieldSpec::new(
            "username",
            "Username, e-mail or DDNS key username",
            FieldKind::Text,
            "A DDNS key (Dynamic DNS > DDNS Keys at No-IP) is safer than the account login.",
        )
        .required(),
        PASSWORD,
        SERVER,
    ],
    record_fields: &[GROUP, OFFLINE_ADDRESS, OFFLINE_MODE],
    native_offline: true,
    max_batch: 20,
    keepalive: None,
    // Free hostnames must be confirmed every 30 days; remind a few days ahead.
    confirm_reminder: Some(Duration::from_secs(25 * 24 * 3600)),
    checkip: Some("http://ip1.dynupdate.no-ip.com/"),
    notes: "Free hostnames expire unless you confirm them on the No-IP website every 30 days; \
            updates do not renew them, so Dyntray reminds you. Offline mode is a paid feature.",
    refusals: dyndns2::REFUSALS,
};

impl Provider for NoIp {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn update<'a>(
        &'a self,
        http: &'a reqwest::Client,
        request: &'a UpdateRequest,
    ) -> BoxFuture<'a, Vec<Outcome>> {
        Box::pin(dyndns2::update(http, request, &dyndns2::STANDARD))
    }
}
