//! Finding the public address: sources of several families behind one [`Source`] trait,
//! asked in the user's order until enough of them agree ([`Detector`], in `agree.rs`),
//! every candidate validated before it can be published (docs/architecture.md, rules 2 and 5).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::provider::{BoxFuture, IpFamily};

pub mod agree;
pub mod command;
pub mod dns;
pub mod http;
pub mod iface;
pub mod spec;
pub mod upnp;

pub use agree::{DEFAULT_AGREE, Detection, Detector, SourceReport, SourceState};
pub use spec::{DnsService, SourceSpec};

/// Provider-owned check-IP services are asked at most this often (their rule).
pub const PROVIDER_CHECKIP_INTERVAL: Duration = Duration::from_secs(10 * 60);

/// Why a source gave no address: the source's own words, shown to the user as they are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

impl SourceError {
    /// A failure described by `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// What kind of source it is (status and rules: local sources are never benched).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// An HTTP echo service (a provider's check-IP included).
    Http,
    /// A DNS question answered with the asker's address.
    Dns,
    /// The machine's own network interfaces.
    Interface,
    /// The router, over UPnP IGD.
    Upnp,
    /// A command the user gave.
    Command,
    /// Set by hand (tests).
    Manual,
}

/// Somewhere the public address can be learned.
pub trait Source: Send + Sync + 'static {
    /// How the user wrote it in the config (`https://api.ipify.org`, `dns:opendns`): the
    /// name shown in status, logs and `dyntrayd ip`.
    fn label(&self) -> &str;

    /// What kind of source it is.
    fn kind(&self) -> SourceKind;

    /// The shortest time between two questions to this source (provider-owned check-IP
    /// services: 10 minutes).
    fn min_interval(&self) -> Duration;

    /// Asks for the address of `family`. Candidates come best first; most sources give
    /// exactly one. The caller validates them (family, public range); a source checks
    /// only that its answer is well formed (an HTML page with exactly one address, one DNS
    /// answer, ...). Each call is bounded in time by the source itself.
    fn ask(&self, family: IpFamily) -> BoxFuture<'_, Result<Vec<IpAddr>, SourceError>>;
}

/// How long one source may take to answer.
pub const SOURCE_TIMEOUT: Duration = Duration::from_secs(5);

/// The HTTP clients sources use, made once per engine: one bound to each family (an echo
/// service reachable over both must be asked over the family it is listed for) and one
/// for the LAN. None follows redirects or goes through a proxy.
#[derive(Clone)]
pub struct Clients {
    v4: reqwest::Client,
    v6: reqwest::Client,
    lan: reqwest::Client,
}

impl Clients {
    /// Builds the three clients; a client that cannot be built (no TLS backend) falls
    /// back to `fallback`, whose requests then report the problem.
    pub fn new(fallback: &reqwest::Client) -> Self {
        // Never through a proxy: an echo service would see, and answer, the proxy's
        // address, the same for every echo service, so agreement would not help.
        let base = || {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(SOURCE_TIMEOUT)
                .no_proxy()
        };
        let made = |local: Option<IpAddr>| {
            crate::engine::build_client(|| base().local_address(local))
                .unwrap_or_else(|_| fallback.clone())
        };
        Self {
            v4: made(Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED))),
            v6: made(Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED))),
            lan: made(None),
        }
    }

    /// The client for asking over `family`.
    pub fn for_family(&self, family: IpFamily) -> &reqwest::Client {
        match family {
            IpFamily::V4 => &self.v4,
            IpFamily::V6 => &self.v6,
        }
    }
}

/// Makes the source a spec describes, with `clients` for the HTTP and UPnP sources. Fails
/// for a provider that does not exist or has no check-IP service.
pub fn build(spec: &SourceSpec, clients: &Clients) -> Result<Arc<dyn Source>, String> {
    let label = spec.to_string();
    Ok(match spec {
        SourceSpec::Http { url } => {
            // A provider's check-IP written out as a URL keeps the provider's spacing.
            let owned = crate::provider::REGISTRY
                .iter()
                .filter_map(|p| p.descriptor().checkip)
                .any(|c| spec::url_identity(c) == spec::url_identity(url));
            // Public services need no spacing of their own: the engine spaces
            // event-triggered checks (a flapping link), and polls are minutes apart.
            let interval = if owned {
                PROVIDER_CHECKIP_INTERVAL
            } else {
                Duration::ZERO
            };
            Arc::new(http::HttpEcho::new(
                clients.clone(),
                label,
                url.clone(),
                interval,
            ))
        }
        SourceSpec::Provider { provider } => {
            let descriptor = crate::provider::lookup(provider)
                .ok_or_else(|| format!("unknown provider `{provider}`"))?
                .descriptor();
            let url = descriptor
                .checkip
                .ok_or_else(|| format!("{} has no check-IP service", descriptor.name))?;
            Arc::new(http::HttpEcho::new(
                clients.clone(),
                label,
                url.to_owned(),
                PROVIDER_CHECKIP_INTERVAL,
            ))
        }
        SourceSpec::Dns { service, server } => {
            Arc::new(dns::DnsSource::new(label, *service, *server))
        }
        SourceSpec::Interface { name } => Arc::new(iface::Interfaces::new(label, name.clone())),
        // The router is on the LAN: never through a proxy the desktop may configure.
        SourceSpec::Upnp { target } => {
            Arc::new(upnp::Igd::new(clients.lan.clone(), label, *target))
        }
        SourceSpec::Command { command } => Arc::new(command::Command::new(label, command.clone())),
    })
}

/// The one address in an echo answer: the whole (trimmed) body, or, in an HTML or text
/// page, exactly one token that parses as an address. None or several is a failure.
pub fn extract_address(body: &str) -> Result<IpAddr, String> {
    let trimmed = body.trim();
    if let Ok(address) = trimmed.parse() {
        return Ok(address);
    }
    let mut found: Vec<IpAddr> = Vec::new();
    for token in trimmed.split(|c: char| !(c.is_ascii_hexdigit() || c == '.' || c == ':')) {
        let token = token.trim_matches(|c| c == '.' || c == ':');
        if token.len() < 3 {
            continue;
        }
        if let Ok(address) = token.parse::<IpAddr>()
            && !found.contains(&address)
        {
            found.push(address);
        }
    }
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err("the answer holds no address".into()),
        _ => Err(format!(
            "the answer holds {} different addresses",
            found.len()
        )),
    }
}

/// Checks that an address may be published for `family`.
pub fn validate(address: IpAddr, family: IpFamily, allow_private: bool) -> Result<IpAddr, String> {
    if IpFamily::of(address) != family {
        return Err(format!(
            "{address} is not an {} address",
            if family == IpFamily::V4 {
                "IPv4"
            } else {
                "IPv6"
            }
        ));
    }
    if let Some(why) = special_purpose(address)
        && !(allow_private && why.private_ok)
    {
        return Err(format!("{address} is {} (not a public address)", why.what));
    }
    Ok(address)
}

struct Special {
    what: &'static str,
    /// Whether a record that allows private addresses may publish it (LAN DDNS).
    private_ok: bool,
}

fn special_purpose(address: IpAddr) -> Option<Special> {
    let s = |what, private_ok| Some(Special { what, private_ok });
    match address {
        IpAddr::V4(ip) => {
            let o = ip.octets();
            if ip.is_unspecified() {
                s("unspecified", false)
            } else if ip.is_loopback() {
                s("a loopback address", false)
            } else if ip.is_private() {
                s("a private address", true)
            } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
                s("a carrier-grade NAT address (100.64.0.0/10)", true)
            } else if ip.is_link_local() {
                s("a link-local address", false)
            } else if ip.is_multicast() || ip.is_broadcast() || o[0] >= 240 {
                s("a multicast or reserved address", false)
            } else if is_documentation_v4(ip) {
                s("a documentation address", false)
            } else if o[0] == 198 && (o[1] & 0xfe) == 18 {
                s("a benchmarking address (198.18.0.0/15)", false)
            } else if o[0] == 0 {
                s("in 0.0.0.0/8", false)
            } else if o[0] == 192 && o[1] == 0 && o[2] == 0 {
                s("an IETF protocol assignment (192.0.0.0/24)", false)
            } else {
                None
            }
        }
        IpAddr::V6(ip) => {
            let seg = ip.segments();
            if ip.is_unspecified() {
                s("unspecified", false)
            } else if ip.is_loopback() {
                s("a loopback address", false)
            } else if ip.is_multicast() {
                s("a multicast address", false)
            } else if (seg[0] & 0xffc0) == 0xfe80 {
                s("a link-local address", false)
            } else if (seg[0] & 0xfe00) == 0xfc00 {
                s("a unique local (private) address", true)
            } else if (seg[0] == 0x2001 && seg[1] == 0x0db8)
                || (seg[0] == 0x3fff && seg[1] < 0x1000)
            {
                // 2001:db8::/32 and, since RFC 9637, 3fff::/20.
                s("a documentation address", false)
            } else if seg[0] == 0x2001 && seg[1] == 0x0002 && seg[2] == 0 {
                s("a benchmarking address", false)
            } else if seg[0] == 0x2001 && seg[1] == 0 {
                s("a Teredo tunnel address (2001::/32)", false)
            } else if seg[0] == 0x2002 {
                s("a 6to4 tunnel address (2002::/16)", false)
            } else if ip.to_ipv4_mapped().is_some() || is_v4_compatible(ip) {
                s("an IPv4-mapped address", false)
            } else if seg[0] == 0x0100 && seg[1] == 0 && seg[2] == 0 && seg[3] == 0 {
                s("a discard-only address", false)
            } else if (seg[0] & 0xe000) != 0x2000 {
                s("outside the global unicast range", false)
            } else {
                None
            }
        }
    }
}

fn is_documentation_v4(ip: Ipv4Addr) -> bool {
    matches!(
        ip.octets(),
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _]
    )
}

fn is_v4_compatible(ip: Ipv6Addr) -> bool {
    let seg = ip.segments();
    seg[..6].iter().all(|&s| s == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str, family: IpFamily) -> Result<IpAddr, String> {
        validate(s.parse().unwrap(), family, false)
    }

    #[test]
    fn only_public_addresses_of_the_right_family_pass() {
        assert!(v("81.2.69.160", IpFamily::V4).is_ok());
        assert!(v("2a00:1450:4001:81b::200e", IpFamily::V6).is_ok());
        for bad in [
            "0.0.0.0",
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.1.1",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.7",
            "198.18.0.1",
            "0.1.2.3",
            "192.0.0.8",
        ] {
            assert!(v(bad, IpFamily::V4).is_err(), "{bad}");
        }
        for bad in [
            "::",
            "::1",
            "ff02::1",
            "fe80::1",
            "fd00::1",
            "2001:db8::1",
            "::ffff:81.2.69.160",
            "100::1",
            "2001:2::1",
            "3fff::1",
            "3fff:fff:ffff::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2002:5102:45a0::1",
        ] {
            assert!(v(bad, IpFamily::V6).is_err(), "{bad}");
        }
        // Just outside the documentation range is ordinary global space.
        assert!(v("3fff:1000::1", IpFamily::V6).is_ok());
        assert!(v("2a00:1450:4001:81b::200e", IpFamily::V4).is_err());
        assert!(v("81.2.69.160", IpFamily::V6).is_err());
    }

    #[test]
    fn private_allowed_only_where_it_makes_sense() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(validate(ip("192.168.1.10"), IpFamily::V4, true).is_ok());
        assert!(validate(ip("fd00::10"), IpFamily::V6, true).is_ok());
        assert!(validate(ip("127.0.0.1"), IpFamily::V4, true).is_err());
        assert!(validate(ip("169.254.0.1"), IpFamily::V4, true).is_err());
    }

    #[test]
    fn echo_answers_are_read_exactly() {
        assert_eq!(
            extract_address(" 81.2.69.160\n"),
            Ok("81.2.69.160".parse().unwrap())
        );
        assert_eq!(
            extract_address(
                "<html><head><title>Current IP Check</title></head>\
                 <body>Current IP Address: 81.2.69.160</body></html>\r\n"
            ),
            Ok("81.2.69.160".parse().unwrap())
        );
        assert!(extract_address("<html><body>busy</body></html>").is_err());
        assert!(extract_address("").is_err());
        assert!(extract_address("81.2.69.160 and 81.2.69.161").is_err());
        assert!(extract_address("Current IP Address: 999.1.1.1").is_err());
    }
}
