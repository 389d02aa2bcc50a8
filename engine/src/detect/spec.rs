//! How sources are written in the config: one string each, in `[detect] ipv4 = [...]` and
//! `ipv6 = [...]`.
//!
//! | written as | source |
//! |---|---|
//! | `https://api.ipify.org` | HTTP echo (plain text or a checkip-style HTML page) |
//! | `provider:dyndns` | that provider's own check-IP service (asked at most every 10 minutes) |
//! | `dns:opendns`, `dns:google`, `dns:cloudflare` | a DNS question answered with the asker's address; `@host:port` picks the server |
//! | `interface`, `interface:eth0` | the machine's own addresses (all interfaces, or one) |
//! | `upnp`, `upnp@192.168.1.1:1900` | the router's WAN address over UPnP IGD (multicast discovery, or one device) |
//! | `command:/usr/local/bin/myip` | a command whose output is the address (run by `sh -c`) |

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One configured address source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[non_exhaustive]
pub enum SourceSpec {
    /// An HTTP echo URL.
    Http {
        /// The URL (`https://`, or `http://` for loopback or with `allow_plain_http`).
        url: String,
    },
    /// A provider's own check-IP service, by provider id.
    Provider {
        /// The provider id (`dyndns`, `noip`, `changeip`).
        provider: String,
    },
    /// A DNS service that answers with the asker's address.
    Dns {
        /// Which service.
        service: DnsService,
        /// The server to ask instead of the service's own.
        server: Option<SocketAddr>,
    },
    /// The machine's own interfaces.
    Interface {
        /// Only this interface; `None` looks at all of them.
        name: Option<String>,
    },
    /// The router over UPnP IGD.
    Upnp {
        /// Ask this address (unicast M-SEARCH) instead of multicast discovery.
        target: Option<SocketAddr>,
    },
    /// A user command.
    Command {
        /// The command line, run by `sh -c`.
        command: String,
    },
}

/// The DNS services that tell the asker its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DnsService {
    /// `myip.opendns.com` A/AAAA at resolver1.opendns.com.
    OpenDns,
    /// TXT `o-o.myaddr.l.google.com` at ns1.google.com.
    Google,
    /// TXT `whoami.cloudflare`, class CH, at 1.1.1.1.
    Cloudflare,
}

impl DnsService {
    /// The name used in specs.
    pub fn id(self) -> &'static str {
        match self {
            DnsService::OpenDns => "opendns",
            DnsService::Google => "google",
            DnsService::Cloudflare => "cloudflare",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [
            DnsService::OpenDns,
            DnsService::Google,
            DnsService::Cloudflare,
        ]
        .into_iter()
        .find(|s| s.id() == text)
    }
}

const FORMS: &str = "an https:// URL, \"provider:<id>\", \"dns:opendns\", \"dns:google\", \
     \"dns:cloudflare\" (optionally \"@host:port\"), \"interface\" or \"interface:<name>\", \
     \"upnp\" or \"upnp@host:port\", or \"command:<command line>\"";

impl FromStr for SourceSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let scheme = |s: &str| {
            text.get(..s.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(s))
        };
        if scheme("https://") || scheme("http://") {
            return Ok(SourceSpec::Http { url: text.into() });
        }
        let (kind, rest) = match text.split_once(':') {
            Some((kind, rest)) => (kind, Some(rest)),
            None => (text, None),
        };
        // `upnp@…` and `dns:x@…`: the server part.
        let (kind, kind_at) = match kind.split_once('@') {
            Some((k, at)) => (k, Some(at)),
            None => (kind, None),
        };
        match (kind, rest, kind_at) {
            ("provider", Some(id), None) if !id.is_empty() => Ok(SourceSpec::Provider {
                provider: id.into(),
            }),
            ("dns", Some(rest), None) => {
                let (service, server) = match rest.split_once('@') {
                    Some((service, server)) => (service, Some(server)),
                    None => (rest, None),
                };
                let service = DnsService::parse(service).ok_or_else(|| {
                    format!(
                        "unknown DNS service `{service}`; use \"dns:opendns\", \"dns:google\" \
                         or \"dns:cloudflare\""
                    )
                })?;
                let server = server.map(socket_address).transpose()?;
                Ok(SourceSpec::Dns { service, server })
            }
            ("interface", None, None) => Ok(SourceSpec::Interface { name: None }),
            ("interface", Some(name), None) => {
                if name.is_empty()
                    || name.len() > 15
                    || name.contains(['/', ' ', '\t'])
                    || name == "."
                    || name == ".."
                {
                    Err(format!("`{name}` is not an interface name"))
                } else {
                    Ok(SourceSpec::Interface {
                        name: Some(name.into()),
                    })
                }
            }
            ("upnp", None, None) => Ok(SourceSpec::Upnp { target: None }),
            ("upnp", port, Some(host)) => {
                // `upnp@host:port` split at the first ':' above: put it back together.
                let joined = match port {
                    Some(port) => format!("{host}:{port}"),
                    None => host.to_owned(),
                };
                Ok(SourceSpec::Upnp {
                    target: Some(socket_address(&joined)?),
                })
            }
            ("command", Some(command), None) => {
                if command.trim().is_empty() {
                    Err("the command is empty".into())
                } else {
                    Ok(SourceSpec::Command {
                        command: command.trim().into(),
                    })
                }
            }
            _ => Err(format!(
                "`{text}` is not an address source; expected {FORMS}"
            )),
        }
    }
}

/// `host:port` with a literal address (`[::1]:53` for IPv6): sources never resolve names,
/// since the resolver is what they may be asked to bypass.
fn socket_address(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| {
        format!("`{text}` is not an address and port like \"192.0.2.1:53\" or \"[2001:db8::1]:53\"")
    })
}

impl fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceSpec::Http { url } => f.write_str(url),
            SourceSpec::Provider { provider } => write!(f, "provider:{provider}"),
            SourceSpec::Dns { service, server } => {
                write!(f, "dns:{}", service.id())?;
                match server {
                    Some(server) => write!(f, "@{server}"),
                    None => Ok(()),
                }
            }
            SourceSpec::Interface { name: None } => f.write_str("interface"),
            SourceSpec::Interface { name: Some(name) } => write!(f, "interface:{name}"),
            SourceSpec::Upnp { target: None } => f.write_str("upnp"),
            SourceSpec::Upnp {
                target: Some(target),
            } => write!(f, "upnp@{target}"),
            SourceSpec::Command { command } => write!(f, "command:{command}"),
        }
    }
}

impl SourceSpec {
    /// What makes two sources the same service: an HTTP URL without its scheme, trailing
    /// slash or the case of its scheme and host; a DNS service with its server (its own
    /// servers written out are the default); the machine's interfaces and the router
    /// however written (one machine, one router). Two entries with the same identity
    /// would be one voice counted twice.
    pub fn identity(&self) -> String {
        match self {
            SourceSpec::Http { url } => url_identity(url),
            SourceSpec::Dns { service, server } => match server {
                Some(server) if !super::dns::is_default_server(*service, *server) => {
                    format!("dns:{}@{server}", service.id())
                }
                _ => format!("dns:{}", service.id()),
            },
            SourceSpec::Interface { .. } => "interface".to_owned(),
            SourceSpec::Upnp { .. } => "upnp".to_owned(),
            other => other.to_string(),
        }
    }
}

/// An HTTP URL's identity (see [`SourceSpec::identity`]).
pub fn url_identity(url: &str) -> String {
    let scheme = |s: &str| {
        url.get(..s.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(s))
    };
    let rest = if scheme("https://") {
        &url[8..]
    } else if scheme("http://") {
        &url[7..]
    } else {
        url
    };
    // Host names are case-insensitive; paths and queries are not.
    let (host, path) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    format!(
        "{}{}",
        host.to_ascii_lowercase(),
        path.trim_end_matches('/')
    )
}

impl PartialEq<&str> for SourceSpec {
    fn eq(&self, other: &&str) -> bool {
        other.parse::<SourceSpec>().as_ref() == Ok(self)
    }
}

impl TryFrom<String> for SourceSpec {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl From<SourceSpec> for String {
    fn from(spec: SourceSpec) -> String {
        spec.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_round_trips() {
        for text in [
            "https://api.ipify.org",
            "http://127.0.0.1:8080/ip",
            "provider:dyndns",
            "dns:opendns",
            "dns:google@127.0.0.1:5353",
            "dns:cloudflare@[::1]:53",
            "interface",
            "interface:eth0",
            "upnp",
            "upnp@127.0.0.1:1900",
            "upnp@[::1]:1900",
            "command:/usr/local/bin/myip --v4",
        ] {
            let spec: SourceSpec = text.parse().unwrap();
            assert_eq!(spec.to_string(), text);
        }
        assert_eq!(
            "dns:google@127.0.0.1:5353".parse::<SourceSpec>().unwrap(),
            SourceSpec::Dns {
                service: DnsService::Google,
                server: Some("127.0.0.1:5353".parse().unwrap())
            }
        );
    }

    #[test]
    fn one_service_written_two_ways_is_one_identity() {
        let id = |t: &str| t.parse::<SourceSpec>().unwrap().identity();
        assert_eq!(id("https://api.ipify.org/"), id("HTTP://API.ipify.org"));
        assert_ne!(id("https://h.example/IP"), id("https://h.example/ip"));
        assert_eq!(id("dns:opendns"), id("dns:opendns@208.67.222.222:53"));
        assert_eq!(id("dns:google"), id("dns:google@[2001:4860:4802:32::a]:53"));
        assert_ne!(id("dns:opendns"), id("dns:opendns@127.0.0.1:53"));
        assert_eq!(id("interface"), id("interface:eth0"));
        assert_eq!(id("upnp"), id("upnp@192.168.1.1:1900"));
        assert_ne!(id("command:a"), id("command:b"));
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        let err = |t: &str| t.parse::<SourceSpec>().unwrap_err();
        assert!(err("dns:quad9").contains("unknown DNS service `quad9`"));
        assert!(err("dns:opendns@resolver1.opendns.com").contains("not an address and port"));
        assert!(err("upnp@192.168.1.1").contains("not an address and port"));
        assert!(err("command:  ").contains("empty"));
        assert!(err("interface:").contains("not an interface name"));
        assert!(err("ftp://x").contains("expected an https:// URL"));
        assert!(err("provider:").contains("not an address source"));
    }
}
