//! Any server that speaks dyndns2, at a URL the user gives.

use super::{
    BACKUP_MX, BoxFuture, Descriptor, FieldKind, FieldSpec, GROUP, IpFamily, MX, OFFLINE_ADDRESS,
    Outcome, PASSWORD, Provider, USERNAME, UpdateRequest, WILDCARD, dyndns2,
};

/// A custom dyndns2 server.
pub(super) struct CustomDyndns2;

static DESCRIPTOR: Descriptor = Descriptor {
    id: "dyndns2",
    name: "Other dyndns2-compatible server",
    protocol: "dyndns2",
    docs_url: "https://help.dyn.com/remote-access-api/perform-update/",
    key_url: None,
    families: &[IpFamily::V4, IpFamily::V6],
    default_server: None,
    account_fields: &[
        USERNAME,
        PASSWORD,
        FieldSpec::new(
            "server",
            "Update server",
            FieldKind::Url,
            "Base URL; Dyntray appends /nic/update. https:// is required (http:// only \
                   to this machine).",
        )
        .required(),
    ],
    record_fields: &[WILDCARD, MX, BACKUP_MX, GROUP, OFFLINE_ADDRESS],
    native_offline: false,
    max_batch: 20,
    keepalive: None,
    confirm_reminder: None,
    checkip: None,
    notes: "For servers such as Dynu, DNS-O-Matic, OVH DynHost or your own.",
    refusals: dyndns2::REFUSALS,
};

impl Provider for CustomDyndns2 {
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
