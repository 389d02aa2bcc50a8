//! DynDNS (Oracle Dyn): the origin of the dyndns2 protocol.

use std::time::Duration;

use super::{
    BACKUP_MX, BoxFuture, Descriptor, IpFamily, MX, OFFLINE_ADDRESS, OFFLINE_MODE, Outcome,
    PASSWORD, Provider, SERVER, USERNAME, UpdateRequest, WILDCARD, dyndns2,
};

/// DynDNS.
pub(super) struct DynDns;

static DESCRIPTOR: Descriptor = Descriptor {
    id: "dyndns",
    name: "DynDNS",
    protocol: "dyndns2",
    docs_url: "https://help.dyn.com/remote-access-api/",
    key_url: Some("https://account.dyn.com/"),
    families: &[IpFamily::V4, IpFamily::V6],
    default_server: Some("https://members.dyndns.org"),
    account_fields: &[USERNAME, PASSWORD, SERVER],
    record_fields: &[WILDCARD, MX, BACKUP_MX, OFFLINE_ADDRESS, OFFLINE_MODE],
    native_offline: true,
    max_batch: 20,
    keepalive: Some(Duration::from_secs(28 * 24 * 3600)),
    confirm_reminder: None,
    checkip: Some("http://checkip.dyndns.org/"),
    notes: "Use an updater client key as the password where your account offers one. \
            Offline mode is a paid feature.",
    refusals: dyndns2::REFUSALS,
};

impl Provider for DynDns {
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
