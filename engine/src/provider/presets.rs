//! dyndns2 presets: providers whose update API is dyndns2, each a descriptor plus the
//! quirks of its server (providers-api.md §0.2). One static and one registry line each.

use std::time::Duration;

use super::dyndns2::{self, Ipv6Style, OtherFamily, Quirks, STANDARD};
use super::{
    AccountInput, BoxFuture, Descriptor, FieldKind, FieldProblem, FieldSpec, GROUP, IpFamily,
    OFFLINE_ADDRESS, Outcome, PASSWORD, Prepared, Provider, Refusal, SERVER, USERNAME,
    UpdateRequest,
};

/// A dyndns2 server with its quirks.
pub(super) struct Preset {
    descriptor: &'static Descriptor,
    quirks: Quirks,
}

impl Provider for Preset {
    fn descriptor(&self) -> &'static Descriptor {
        self.descriptor
    }

    fn prepare(&self, account: &AccountInput<'_>) -> Result<Prepared, Vec<FieldProblem>> {
        super::http::check_server(account.server)?;
        Ok(Prepared::none())
    }

    fn update<'a>(
        &'a self,
        http: &'a reqwest::Client,
        request: &'a UpdateRequest,
    ) -> BoxFuture<'a, Vec<Outcome>> {
        Box::pin(dyndns2::update(http, request, &self.quirks))
    }
}

/// The dyndns2 refusals plus "too often", which presets with `too_often` words answer.
const REFUSALS: &[Refusal] = dyndns2::REFUSALS;

/// Both families, standard dyndns2.
const BOTH: &[IpFamily] = &[IpFamily::V4, IpFamily::V6];
/// IPv4 only.
const V4: &[IpFamily] = &[IpFamily::V4];

/// The quirks of presets that take no record options (no wildcard, MX).
const PLAIN: Quirks = Quirks {
    options: false,
    ..STANDARD
};

/// A username field worded for the provider.
const fn username(label: &'static str, help: &'static str) -> FieldSpec {
    FieldSpec::new("username", label, FieldKind::Text, help).required()
}

/// A password field worded for the provider.
const fn password(label: &'static str, help: &'static str) -> FieldSpec {
    FieldSpec::new("secret", label, FieldKind::Secret, help).required()
}

/// The Descriptor fields every preset shares.
macro_rules! preset {
    (
        id: $id:literal, name: $name:literal, docs: $docs:literal, families: $families:expr,
        server: $server:literal, account: $account:expr, record: $record:expr,
        max_batch: $batch:literal, keepalive: $keepalive:expr, notes: $notes:literal,
        quirks: $quirks:expr $(,)?
    ) => {
        Preset {
            descriptor: &Descriptor {
                id: $id,
                name: $name,
                protocol: "dyndns2",
                docs_url: $docs,
                key_url: None,
                families: $families,
                default_server: Some($server),
                account_fields: $account,
                record_fields: $record,
                native_offline: false,
                max_batch: $batch,
                keepalive: $keepalive,
                confirm_reminder: None,
                checkip: None,
                notes: $notes,
                refusals: REFUSALS,
            },
            quirks: $quirks,
        }
    };
}

/// Hurricane Electric's free DNS (dns.he.net): a key per record, so one account per name.
pub(super) static HE: Preset = preset! {
    id: "he", name: "Hurricane Electric (dns.he.net)",
    docs: "https://dns.he.net/docs.html",
    families: BOTH, server: "https://dyn.dns.he.net",
    account: &[
        username("Host name", "The record's full name (home.example.org): HE's login for its key."),
        password("DDNS key", "The key of this record: dns.he.net → the record → \"Generate a DDNS key\"."),
        SERVER,
    ],
    record: &[OFFLINE_ADDRESS],
    // One request per record and family; HE answers errors with HTTP 200.
    max_batch: 1, keepalive: None,
    notes: "Each name has its own key: one account per name, its username the name itself. \
            Mark the record \"dynamic\" in dns.he.net first. HE treats needless updates as \
            abuse; `interval` (too often) is waited out.",
    quirks: Quirks { too_often: &["interval"], ..PLAIN },
};

/// Dynu: IPv6 in `myipv6`, `myip=no` to leave IPv4 alone.
pub(super) static DYNU: Preset = preset! {
    id: "dynu", name: "Dynu",
    docs: "https://www.dynu.com/DynamicDNS/IP-Update-Protocol",
    families: BOTH, server: "https://api.dynu.com",
    account: &[
        username("Username", "Your Dynu account's user name."),
        password("IP update password", "The IP update password (Control Panel → My Account), or the account password."),
        SERVER,
    ],
    record: &[OFFLINE_ADDRESS],
    max_batch: 20, keepalive: None,
    notes: "IPv6 goes in its own parameter, and an IPv6 update leaves the IPv4 address alone.",
    quirks: Quirks {
        ipv6: Ipv6Style::Own { param: "myipv6", ipv4: OtherFamily::Word("no") },
        ..PLAIN
    },
};

/// OVH DynHost.
pub(super) static OVH: Preset = preset! {
    id: "ovh", name: "OVH DynHost",
    docs: "https://www.ovhcloud.com/",
    families: BOTH, server: "https://dns.eu.ovhapis.com",
    account: &[
        username("DynHost login", "The DynHost user made in the OVH control panel (Domains → DynHost → Manage access)."),
        password("Password", "That DynHost user's password."),
        SERVER,
    ],
    record: &[OFFLINE_ADDRESS],
    max_batch: 1, keepalive: None,
    notes: "The DynHost name must not also exist as an ordinary A record in the zone.",
    quirks: Quirks { query: &[("system", "dyndns")], ..PLAIN },
};

/// nsupdate.info: the family is chosen by the server's name.
pub(super) static NSUPDATE: Preset = preset! {
    id: "nsupdate", name: "nsupdate.info",
    docs: "https://www.nsupdate.info/",
    families: BOTH, server: "https://ipv4.nsupdate.info",
    account: &[
        username("Host name", "The host's full name (home.nsupdate.info)."),
        password("Host secret", "The secret nsupdate.info showed when you created the host."),
        SERVER,
    ],
    record: &[OFFLINE_ADDRESS],
    max_batch: 1, keepalive: None,
    notes: "One account per host (its name is the login). IPv4 and IPv6 go to the \
            ipv4. and ipv6. servers.",
    quirks: Quirks { ipv6_server: Some("https://ipv6.nsupdate.info"), ..PLAIN },
};

/// DNS-O-Matic: one update fanned out to the services set up there.
pub(super) static DNSOMATIC: Preset = preset! {
    id: "dnsomatic", name: "DNS-O-Matic",
    docs: "https://www.dnsomatic.com/",
    // [uncertain] IPv6: not documented; IPv4 only.
    families: V4, server: "https://updates.dnsomatic.com",
    account: &[
        username("Username", "Your DNS-O-Matic (OpenDNS) account's user name."),
        PASSWORD,
        SERVER,
    ],
    record: &[OFFLINE_ADDRESS],
    max_batch: 20, keepalive: None,
    notes: "Name a record all.dnsomatic.com to update every service set up at DNS-O-Matic.",
    quirks: STANDARD,
};

/// INWX: both families in every request, or the one left out is lost.
pub(super) static INWX: Preset = preset! {
    id: "inwx", name: "INWX",
    docs: "https://www.inwx.com/",
    families: BOTH, server: "https://dyndns.inwx.com",
    account: &[
        username("DynDNS username", "The DynDNS account made in INWX (Nameserver → DynDNS), not your INWX login."),
        password("DynDNS password", "That DynDNS account's password."),
        SERVER,
    ],
    record: &[OFFLINE_ADDRESS],
    max_batch: 20, keepalive: None,
    notes: "INWX sets the A record to 127.0.0.1 when an update has no IPv4 address, and \
            deletes the AAAA record when it has no IPv6 address: every update carries the \
            other family's address when a name of the account publishes it.",
    quirks: Quirks {
        ipv6: Ipv6Style::Own { param: "myipv6", ipv4: OtherFamily::Both },
        ..PLAIN
    },
};

/// Infomaniak: errors as HTTP 400 with the dyndns2 word.
pub(super) static INFOMANIAK: Preset = preset! {
    id: "infomaniak", name: "Infomaniak",
    docs: "https://faq.infomaniak.com/2376",
    families: BOTH, server: "https://infomaniak.com",
    account: &[
        username("DynDNS username", "The dynamic DNS user made in the Infomaniak Manager (Domain → DNS zone → Dynamic DNS)."),
        password("DynDNS password", "That user's password."),
        SERVER,
    ],
    record: &[OFFLINE_ADDRESS],
    max_batch: 1, keepalive: None,
    notes: "Make the dynamic DNS user in the Infomaniak Manager first.",
    quirks: Quirks { words_on_client_errors: true, ..PLAIN },
};

/// STRATO.
pub(super) static STRATO: Preset = preset! {
    id: "strato", name: "STRATO",
    docs: "https://www.strato.de/",
    // [uncertain] IPv6 through myip, as dyndns2 servers take it.
    families: BOTH, server: "https://dyndns.strato.com",
    account: &[
        username("Domain", "The domain (or subdomain) you switched DynDNS on for at STRATO."),
        password("DynDNS password", "The DynDNS password set in STRATO's customer login."),
        SERVER,
    ],
    record: &[OFFLINE_ADDRESS],
    max_batch: 20, keepalive: None,
    notes: "Switch DynDNS on for the domain in STRATO's customer login first.",
    quirks: PLAIN,
};

/// selfhost.de.
pub(super) static SELFHOST: Preset = preset! {
    id: "selfhost", name: "selfhost.de",
    docs: "https://selfhost.de/",
    // [uncertain] IPv6: not documented for the dyndns2 endpoint; IPv4 only.
    families: V4, server: "https://carol.selfhost.de",
    account: &[
        username("DynDNS username", "The user of the DynDNS account (selfhost.de → DynDNS accounts)."),
        password("DynDNS password", "That account's password."),
        SERVER,
    ],
    record: &[OFFLINE_ADDRESS],
    max_batch: 1, keepalive: None,
    notes: "Use the DynDNS account's own login, not the customer login.",
    quirks: PLAIN,
};

/// Loopia: a path of its own.
pub(super) static LOOPIA: Preset = preset! {
    id: "loopia", name: "Loopia",
    docs: "https://www.loopia.com/",
    families: BOTH, server: "https://dns.loopia.se",
    account: &[
        username("Username", "Your Loopia customer login (or a Loopia API user)."),
        PASSWORD,
        SERVER,
    ],
    record: &[OFFLINE_ADDRESS],
    max_batch: 20, keepalive: None,
    notes: "Names must be in a domain of the account, with Loopia's name servers.",
    quirks: Quirks { path: "/XDynDNSServer/XDynDNS.php", ..PLAIN },
};

/// spdyn (Securepoint).
pub(super) static SPDYN: Preset = preset! {
    id: "spdyn", name: "spdyn",
    docs: "https://spdyn.de/",
    families: BOTH, server: "https://update.spdyn.de",
    account: &[
        username("Username", "Your spdyn user name, or the host name when you use its update token."),
        password("Password or update token", "The account password, or the host's update token."),
        SERVER,
    ],
    record: &[OFFLINE_ADDRESS],
    max_batch: 1, keepalive: None,
    notes: "An update token (per host) is safer than the account password.",
    quirks: PLAIN,
};

/// dy.fi: names expire after seven days without an update.
pub(super) static DYFI: Preset = preset! {
    id: "dyfi", name: "dy.fi",
    docs: "https://www.dy.fi/",
    families: V4, server: "https://www.dy.fi",
    account: &[
        username("E-mail", "The e-mail address of your dy.fi account."),
        PASSWORD,
        SERVER,
    ],
    record: &[OFFLINE_ADDRESS],
    max_batch: 20,
    // Names are released after seven days without an update; refreshed after five.
    keepalive: Some(Duration::from_secs(5 * 24 * 3600)),
    notes: "dy.fi releases a name not updated for seven days, so Dyntray refreshes it every \
            five days even when the address did not change.",
    quirks: PLAIN,
};

/// Joker.com.
pub(super) static JOKER: Preset = preset! {
    id: "joker", name: "Joker.com",
    docs: "https://joker.com/",
    // [uncertain] IPv6 through myip.
    families: BOTH, server: "https://svc.joker.com",
    account: &[
        username("DynDNS username", "The user shown when you enable Dynamic DNS for the domain at Joker.com."),
        password("DynDNS password", "The password shown there."),
        SERVER,
    ],
    record: &[OFFLINE_ADDRESS],
    max_batch: 1, keepalive: None,
    notes: "Enable Dynamic DNS for the domain in Joker.com's DNS settings first.",
    quirks: PLAIN,
};

/// ipv64.net: the family is chosen by the server's name.
pub(super) static IPV64: Preset = preset! {
    id: "ipv64", name: "ipv64.net",
    docs: "https://ipv64.net/",
    families: BOTH, server: "https://ipv4.ipv64.net",
    account: &[
        username("Username", "Any text: ipv64.net logs in with the update token alone."),
        password("Update token", "The account's DynDNS update token (ipv64.net → Dashboard)."),
        SERVER,
    ],
    record: &[OFFLINE_ADDRESS],
    max_batch: 1, keepalive: None,
    notes: "IPv4 and IPv6 go to the ipv4. and ipv6. servers.",
    quirks: Quirks { ipv6_server: Some("https://ipv6.ipv64.net"), ..PLAIN },
};

/// Simply.com.
pub(super) static SIMPLY: Preset = preset! {
    id: "simply", name: "Simply.com",
    docs: "https://www.simply.com/",
    families: BOTH, server: "https://ddns.simply.com",
    account: &[
        username("Account number", "Your Simply.com account number (S123456)."),
        password("DDNS key", "The DDNS key from Simply.com's control panel (Account → API)."),
        SERVER,
    ],
    record: &[OFFLINE_ADDRESS],
    max_batch: 1, keepalive: None,
    notes: "Uses the DDNS key, not the account password.",
    quirks: PLAIN,
};

/// 3322.org (China): a path of its own.
pub(super) static QDNS: Preset = preset! {
    id: "3322", name: "3322.org",
    docs: "https://www.pubyun.com/",
    families: V4, server: "https://members.3322.org",
    account: &[USERNAME, PASSWORD, SERVER],
    record: &[GROUP, OFFLINE_ADDRESS],
    max_batch: 20, keepalive: None,
    notes: "Pubyun's (3322.org) dyndns2 server.",
    quirks: Quirks { path: "/dyndns/update", ..PLAIN },
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{Publish, UpdateItem};

    fn request(preset: &Preset, address: &str, other: Option<&str>) -> UpdateRequest {
        UpdateRequest {
            server: preset.descriptor.default_server.unwrap_or_default().into(),
            default_server: true,
            username: "u".into(),
            secret: crate::secrets::Secret::new("p"),
            publish: Publish::Address(address.parse().unwrap()),
            options: Default::default(),
            items: vec![UpdateItem {
                record: "r".into(),
                name: "home.example.org".into(),
            }],
            allow_plain_http: false,
            settings: Prepared::none(),
            other_family: other.map(|o| o.parse().unwrap()),
            departure: Default::default(),
            joint: None,
        }
    }

    fn url(preset: &Preset, address: &str, other: Option<&str>) -> String {
        dyndns2::update_url(&request(preset, address, other), &preset.quirks)
            .map(|u| u.to_string())
            .unwrap_or_else(|e| format!("error: {e}"))
    }

    const V6: &str = "2001:db8::1";

    #[test]
    fn each_server_gets_its_own_request_shape() {
        assert_eq!(
            url(&DYNU, V6, None),
            "https://api.dynu.com/nic/update?hostname=home.example.org&myip=no&myipv6=2001%3Adb8%3A%3A1"
        );
        assert_eq!(
            url(&DYNU, "81.2.69.160", None),
            "https://api.dynu.com/nic/update?hostname=home.example.org&myip=81.2.69.160"
        );
        // INWX: both families always, and an IPv6 update waits for the IPv4 address.
        assert_eq!(
            url(&INWX, "81.2.69.160", Some(V6)),
            "https://dyndns.inwx.com/nic/update?hostname=home.example.org&myip=81.2.69.160&myipv6=2001%3Adb8%3A%3A1"
        );
        assert_eq!(
            url(&INWX, V6, Some("81.2.69.160")),
            "https://dyndns.inwx.com/nic/update?hostname=home.example.org&myip=81.2.69.160&myipv6=2001%3Adb8%3A%3A1"
        );
        assert!(url(&INWX, V6, None).starts_with("error: "));
        assert_eq!(
            url(&NSUPDATE, V6, None),
            "https://ipv6.nsupdate.info/nic/update?hostname=home.example.org&myip=2001%3Adb8%3A%3A1"
        );
        assert_eq!(
            url(&NSUPDATE, "81.2.69.160", None),
            "https://ipv4.nsupdate.info/nic/update?hostname=home.example.org&myip=81.2.69.160"
        );
        assert_eq!(
            url(&OVH, "81.2.69.160", None),
            "https://dns.eu.ovhapis.com/nic/update?system=dyndns&hostname=home.example.org&myip=81.2.69.160"
        );
        assert!(
            url(&LOOPIA, "81.2.69.160", None)
                .starts_with("https://dns.loopia.se/XDynDNSServer/XDynDNS.php?")
        );
        assert!(
            url(&QDNS, "81.2.69.160", None).starts_with("https://members.3322.org/dyndns/update?")
        );
        // A server the account names is used for both families.
        let mut own = request(&NSUPDATE, V6, None);
        own.server = "https://ddns.example.net".into();
        own.default_server = false;
        assert!(
            dyndns2::update_url(&own, &NSUPDATE.quirks)
                .unwrap()
                .as_str()
                .starts_with("https://ddns.example.net/nic/update?")
        );
    }

    #[test]
    fn too_often_and_words_in_client_errors() {
        let item = [UpdateItem {
            record: "r".into(),
            name: "h".into(),
        }];
        let he = dyndns2::classify(&item, 200, "interval", None, &HE.quirks);
        assert!(matches!(
            he[0].verdict,
            crate::provider::Verdict::Transient {
                retry_after: Some(_),
                ..
            }
        ));
        let plain = dyndns2::classify(&item, 200, "interval", None, &STANDARD);
        assert_eq!(plain[0].verdict, crate::provider::Verdict::Protocol);
        let infomaniak = dyndns2::classify(&item, 400, "nohost", None, &INFOMANIAK.quirks);
        assert_eq!(infomaniak[0].code, "nohost");
        let other = dyndns2::classify(&item, 400, "nohost", None, &STANDARD);
        assert_eq!(other[0].code, "http-400");
    }
}
