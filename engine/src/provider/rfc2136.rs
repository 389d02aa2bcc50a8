//! RFC 2136 dynamic update, signed with TSIG (RFC 8945): the family for your own DNS server
//! (BIND, Knot, PowerDNS).
//!
//! One UPDATE message per request, for the account's zone: for every name, delete its A (or
//! AAAA) RRset and add the one record with the account's TTL. The message is signed with the
//! account's TSIG key (`username` = key name, the secret = its base64 value), sent over UDP,
//! and again over TCP when the answer comes back truncated. The answer's RCODE (and the TSIG
//! error, for a refused signature) is classified; a NOERROR answer counts only when its own
//! TSIG signature checks out.

use crate::departure::Departure;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode, UpdateMessage};
use hickory_proto::rr::rdata::tsig::{TsigAlgorithm, TsigError};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType, TSigVerifier, TSigner};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use super::{
    AccountInput, BoxFuture, Cure, Descriptor, FieldKind, FieldProblem, FieldSpec, IpFamily,
    OFFLINE_ADDRESS, Outcome, Prepared, Provider, Publish, Scope, UpdateItem, UpdateRequest,
    Verdict,
};

/// How long one try (one UDP exchange, or one TCP exchange) may take.
pub const TRY_TIMEOUT: Duration = Duration::from_secs(5);
/// The TTL of the published record when the account sets none.
pub const DEFAULT_TTL: u32 = 60;
/// The longest TTL the account may set (one day).
pub const MAX_TTL: u32 = 86_400;
/// The port of the server when the account's `dns://` URL names none.
pub const DEFAULT_PORT: u16 = 53;
/// The TSIG algorithm when the account sets none.
pub const DEFAULT_ALGORITHM: &str = "hmac-sha256";
/// The TSIG algorithms an account may choose.
pub const ALGORITHMS: &[&str] = &["hmac-sha256", "hmac-sha512"];
/// How far the server's clock may be from ours (seconds; BIND's and RFC 8945's usual 300).
const FUDGE: u16 = 300;
/// The largest answer read over UDP (an UPDATE answer is tiny; more is a protocol error).
const UDP_BUFFER: usize = 4096;

/// RFC 2136 with TSIG.
pub(super) struct Rfc2136;

/// The TSIG key name.
const KEY_NAME: FieldSpec = FieldSpec::new(
    "username",
    "TSIG key name",
    FieldKind::Text,
    "The key's name exactly as the server's `key` statement spells it.",
)
.required();
/// The TSIG secret.
const TSIG_SECRET: FieldSpec = FieldSpec::new(
    "secret",
    "TSIG secret (base64)",
    FieldKind::Secret,
    "The key's base64 `secret` (tsig-keygen prints it). Stored in the system keychain.",
)
.required();
/// The primary server.
const DNS_SERVER: FieldSpec = FieldSpec::new(
    "server",
    "Primary server",
    FieldKind::Url,
    "dns://host or dns://host:port (default port 53): the zone's primary server.",
)
.required();
/// The zone.
const ZONE: FieldSpec = FieldSpec::new(
    "zone",
    "Zone",
    FieldKind::Hostname,
    "The zone the names live in, as the server serves it (example.org).",
)
.required();
/// The TTL.
const TTL: FieldSpec = FieldSpec::new(
    "ttl",
    "TTL (seconds)",
    FieldKind::Number,
    "How long resolvers may cache the address: 1 to 86400 seconds, default 60.",
)
.range(1, MAX_TTL as i64)
.default("60")
.advanced();
/// The TSIG algorithm.
const ALGORITHM: FieldSpec = FieldSpec::new(
    "algorithm",
    "TSIG algorithm",
    FieldKind::Choice,
    "hmac-sha256 (default) or hmac-sha512, as in the server's `key` statement.",
)
.options(ALGORITHMS)
.default(DEFAULT_ALGORITHM)
.advanced();

static DESCRIPTOR: Descriptor = Descriptor {
    id: "rfc2136",
    name: "RFC 2136 (your own DNS server)",
    protocol: "rfc2136",
    docs_url: "https://www.rfc-editor.org/rfc/rfc2136",
    key_url: None,
    families: &[IpFamily::V4, IpFamily::V6],
    default_server: None,
    account_fields: &[KEY_NAME, TSIG_SECRET, DNS_SERVER, ZONE, TTL, ALGORITHM],
    record_fields: &[OFFLINE_ADDRESS],
    native_offline: false,
    max_batch: 1,
    keepalive: None,
    confirm_reminder: None,
    checkip: None,
    notes: "DNS UPDATE signed with a TSIG key to the zone's primary (BIND, Knot, PowerDNS): \
            `server = \"dns://host:port\"`, `zone`, `username` = key name, the secret = its \
            base64 value. Replaces the name's A or AAAA records.",
    refusals: &[
        super::Refusal {
            code: "tsig-badsig",
            cure: Cure::Secret,
            advice: "The server refused the TSIG signature: the key's secret differs from \
                     the server's. Enter the key's base64 secret again.",
        },
        super::Refusal {
            code: "tsig-badkey",
            cure: Cure::Secret,
            advice: "The server does not know the key, or its rules do not allow it. Check \
                     the key name and algorithm, and the zone's update-policy.",
        },
        super::Refusal {
            code: "bad-secret",
            cure: Cure::Secret,
            advice: "The secret is not a base64 TSIG key. Enter the key's base64 secret.",
        },
    ],
};

impl Provider for Rfc2136 {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn prepare(&self, account: &AccountInput<'_>) -> Result<Prepared, Vec<FieldProblem>> {
        parse_account(account).map(Prepared::new)
    }

    fn update<'a>(
        &'a self,
        _http: &'a reqwest::Client,
        request: &'a UpdateRequest,
    ) -> BoxFuture<'a, Vec<Outcome>> {
        Box::pin(update(request))
    }
}

/// Why a request could not even be built: always the account's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Refusal {
    code: &'static str,
    answer: String,
    advice: String,
}

impl Refusal {
    fn new(code: &'static str, answer: impl Into<String>, advice: impl Into<String>) -> Self {
        Self {
            code,
            answer: answer.into(),
            advice: advice.into(),
        }
    }

    fn outcomes(&self, items: &[UpdateItem]) -> Vec<Outcome> {
        Outcome::for_all(
            items,
            Verdict::Fatal {
                scope: Scope::Account,
            },
            self.code,
            &self.answer,
            Some(&self.advice),
        )
    }
}

/// The account's settings, parsed.
struct Settings {
    host: String,
    port: u16,
    zone: Name,
    ttl: u32,
    signer: TSigner,
    key_name: String,
}

/// Splits a `dns://host[:port]` server (a trailing `/` allowed) into its host (brackets
/// removed) and port (default 53). Messages name what is wrong, never echo the text.
pub fn parse_server(server: &str) -> Result<(String, u16), String> {
    let rest = server
        .get(..6)
        .filter(|p| p.eq_ignore_ascii_case("dns://"))
        .and_then(|_| server.get(6..))
        .ok_or_else(|| "expected a dns://host[:port] server".to_owned())?;
    if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("a server must not contain spaces or control characters".to_owned());
    }
    if rest.contains('@') {
        return Err(
            "a dns:// server must not contain a user name or password (the TSIG key name is \
             `username`, its secret is kept in the keychain)"
                .to_owned(),
        );
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '?', '#']) {
        return Err("a dns:// server is dns://host or dns://host:port, with no path".to_owned());
    }
    let (host, port) = if let Some(bracketed) = rest.strip_prefix('[') {
        let (inside, after) = bracketed
            .split_once(']')
            .ok_or_else(|| "the server has an unclosed `[` in its host".to_owned())?;
        if inside.parse::<std::net::Ipv6Addr>().is_err() {
            return Err("the server's `[…]` host is not an IPv6 address".to_owned());
        }
        match after {
            "" => (inside, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (inside, Some(port)),
                None => return Err("the server has text after its `[…]` host".to_owned()),
            },
        }
    } else {
        let (host, port) = match rest.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        };
        if !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        {
            return Err(
                "the server's host may only contain letters, digits, `.`, `-` and `_` (put an \
                 IPv6 address in brackets)"
                    .to_owned(),
            );
        }
        (host, port)
    };
    if host.is_empty() {
        return Err("the server has no host".to_owned());
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&n| n > 0 && p.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| "the server's port must be a number from 1 to 65535".to_owned())?,
    };
    Ok((host.to_owned(), port))
}

/// The TSIG algorithm named in the config.
fn algorithm(name: &str) -> Option<TsigAlgorithm> {
    match name.to_ascii_lowercase().as_str() {
        "hmac-sha256" => Some(TsigAlgorithm::HmacSha256),
        "hmac-sha512" => Some(TsigAlgorithm::HmacSha512),
        _ => None,
    }
}

fn fqdn(text: &str) -> Option<Name> {
    let mut name = Name::from_ascii(text).ok()?;
    name.set_fqdn(true);
    Some(name)
}

/// The account as [`Provider::prepare`] parsed it: everything but the secret.
#[derive(Debug, Clone)]
struct AccountSettings {
    host: String,
    port: u16,
    zone: Name,
    ttl: u32,
    algorithm: TsigAlgorithm,
    key: Name,
    key_name: String,
}

fn parse_account(input: &AccountInput<'_>) -> Result<AccountSettings, Vec<FieldProblem>> {
    let mut problems = Vec::new();
    let server = match input.server {
        Some(server)
            if server
                .get(..6)
                .is_some_and(|p| p.eq_ignore_ascii_case("dns://")) =>
        {
            parse_server(server)
                .map_err(|e| problems.push(FieldProblem::new("server", e)))
                .ok()
        }
        _ => {
            problems.push(FieldProblem::new(
                "server",
                "RFC 2136 needs `server = \"dns://host[:port]\"`, the zone's primary server",
            ));
            None
        }
    };
    let zone = input.settings.text("zone").and_then(|zone| {
        let name = fqdn(zone);
        if name.is_none() {
            problems.push(FieldProblem::new(
                "zone",
                "is not a DNS name like example.org",
            ));
        }
        name
    });
    // The kind check keeps the number within 1 to 86400.
    let ttl = input
        .settings
        .number("ttl")
        .and_then(|t| u32::try_from(t).ok())
        .unwrap_or(DEFAULT_TTL);
    let algorithm_name = input
        .settings
        .text("algorithm")
        .unwrap_or(DEFAULT_ALGORITHM);
    let algorithm = algorithm(algorithm_name);
    if algorithm.is_none() {
        problems.push(FieldProblem::new(
            "algorithm",
            format!("use one of: {}", ALGORITHMS.join(", ")),
        ));
    }
    let key_name = input.username.trim();
    let key = fqdn(key_name);
    if key.is_none() {
        problems.push(FieldProblem::new(
            "username",
            "the TSIG key name is not a DNS name; write it as the server's `key` statement \
             spells it",
        ));
    }
    match (server, zone, algorithm, key) {
        (Some((host, port)), Some(zone), Some(algorithm), Some(key)) if problems.is_empty() => {
            Ok(AccountSettings {
                host,
                port,
                zone,
                ttl,
                algorithm,
                key,
                key_name: key_name.to_owned(),
            })
        }
        _ => Err(problems),
    }
}

impl Settings {
    fn from_request(request: &UpdateRequest) -> Result<Self, Refusal> {
        let Some(account) = request.settings.get::<AccountSettings>() else {
            return Err(Refusal::new(
                "bad-settings",
                "the account's settings were not read",
                "Check the account in Settings; if this persists, report it.",
            ));
        };
        let AccountSettings {
            host,
            port,
            zone,
            ttl,
            algorithm,
            key,
            key_name,
        } = account.clone();
        let key_name = key_name.as_str();
        let bad_secret = || {
            Refusal::new(
                "bad-secret",
                "the account's secret is not a base64 TSIG key",
                format!(
                    "Set the account's secret to the base64 `secret` of key `{key_name}` (from \
                     the server's key file or tsig-keygen), not a password."
                ),
            )
        };
        let secret = data_encoding::BASE64
            .decode(request.secret.expose().trim().as_bytes())
            .map_err(|_| bad_secret())?;
        if secret.is_empty() {
            return Err(bad_secret());
        }
        let signer = TSigner::new(secret, algorithm, key, FUDGE).map_err(|_| {
            Refusal::new(
                "bad-algorithm",
                "the account's `algorithm` cannot sign here",
                format!(
                    "Set the account's `algorithm` to one of {}.",
                    ALGORITHMS.join(", ")
                ),
            )
        })?;
        Ok(Self {
            host,
            port,
            zone,
            ttl,
            signer,
            key_name: key_name.to_owned(),
        })
    }
}

/// Builds the unsigned UPDATE message: for each name, delete its RRset of the address's type
/// and add the one record.
fn update_message(zone: &Name, names: &[Name], address: IpAddr, ttl: u32) -> Message {
    let record_type = match address {
        IpAddr::V4(_) => RecordType::A,
        IpAddr::V6(_) => RecordType::AAAA,
    };
    let mut message = Message::query();
    message.metadata.op_code = OpCode::Update;
    message.metadata.recursion_desired = false;
    let mut zone_query = Query::query(zone.clone(), RecordType::SOA);
    zone_query.set_query_class(DNSClass::IN);
    message.add_zone(zone_query);
    for name in names {
        // RFC 2136 2.5.2: class ANY, TTL 0, no RDATA deletes the whole RRset.
        let mut delete = Record::update0(name.clone(), 0, record_type);
        delete.dns_class = DNSClass::ANY;
        message.add_update(delete);
        let data = match address {
            IpAddr::V4(v4) => RData::A(A(v4)),
            IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
        };
        message.add_update(Record::from_rdata(name.clone(), ttl, data));
    }
    message
}

/// How one exchange with one server address ended without an answer.
enum Failure {
    /// Nobody listens there (nothing reached the server).
    Refused(String),
    /// No answer in time.
    Timeout,
    /// Another network error.
    Network(String),
    /// An answer that is not a DNS answer to our message.
    Garbled(String),
    /// Stopped before sending (its departure could not be recorded).
    NotSent(String),
}

fn io_failure(error: &io::Error) -> Failure {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => Failure::Refused(error.to_string()),
        io::ErrorKind::TimedOut => Failure::Timeout,
        _ => Failure::Network(error.to_string()),
    }
}

/// Whether `answer` is the response to the message with `id`.
fn answers(answer: &[u8], id: u16) -> bool {
    answer.len() >= 12 && u16::from_be_bytes([answer[0], answer[1]]) == id && answer[2] & 0x80 != 0
}

fn truncated(answer: &[u8]) -> bool {
    answer.len() >= 3 && answer[2] & 0x02 != 0
}

async fn exchange_udp(
    server: SocketAddr,
    bytes: &[u8],
    id: u16,
    departure: &Departure,
) -> Result<Vec<u8>, Failure> {
    let local: SocketAddr = if server.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let exchange = async {
        let socket = UdpSocket::bind(local).await.map_err(|e| io_failure(&e))?;
        // Connected, so that only the server's datagrams arrive and a closed port is
        // reported (ICMP) instead of waited out.
        socket.connect(server).await.map_err(|e| io_failure(&e))?;
        departure
            .fire()
            .map_err(|e| Failure::NotSent(e.to_string()))?;
        socket.send(bytes).await.map_err(|e| io_failure(&e))?;
        let mut buffer = vec![0; UDP_BUFFER];
        loop {
            let len = socket.recv(&mut buffer).await.map_err(|e| io_failure(&e))?;
            // A stray or forged datagram is ignored; the real answer may still come.
            if answers(&buffer[..len], id) {
                buffer.truncate(len);
                return Ok(buffer);
            }
        }
    };
    tokio::time::timeout(TRY_TIMEOUT, exchange)
        .await
        .unwrap_or(Err(Failure::Timeout))
}

async fn exchange_tcp(
    server: SocketAddr,
    bytes: &[u8],
    id: u16,
    departure: &Departure,
) -> Result<Vec<u8>, Failure> {
    let len = u16::try_from(bytes.len())
        .map_err(|_| Failure::Garbled("the update is too long for one message".to_owned()))?;
    let exchange = async {
        let mut stream = TcpStream::connect(server)
            .await
            .map_err(|e| io_failure(&e))?;
        let mut framed = Vec::with_capacity(bytes.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(bytes);
        departure
            .fire()
            .map_err(|e| Failure::NotSent(e.to_string()))?;
        stream
            .write_all(&framed)
            .await
            .map_err(|e| io_failure(&e))?;
        let mut prefix = [0u8; 2];
        stream
            .read_exact(&mut prefix)
            .await
            .map_err(|e| io_failure(&e))?;
        let mut answer = vec![0; usize::from(u16::from_be_bytes(prefix))];
        stream
            .read_exact(&mut answer)
            .await
            .map_err(|e| io_failure(&e))?;
        if answers(&answer, id) {
            Ok(answer)
        } else {
            Err(Failure::Garbled(
                "the server's TCP answer does not match the update".to_owned(),
            ))
        }
    };
    tokio::time::timeout(TRY_TIMEOUT, exchange)
        .await
        .unwrap_or(Err(Failure::Timeout))
}

/// One exchange with one server address: UDP, then TCP when the answer was truncated.
async fn exchange(
    server: SocketAddr,
    bytes: &[u8],
    id: u16,
    departure: &Departure,
) -> Result<Vec<u8>, Failure> {
    let answer = exchange_udp(server, bytes, id, departure).await?;
    if truncated(&answer) {
        exchange_tcp(server, bytes, id, departure).await
    } else {
        Ok(answer)
    }
}

/// The RCODE's mnemonic as DNS people write it.
fn rcode_name(code: ResponseCode) -> String {
    let name = match code {
        ResponseCode::NoError => "NOERROR",
        ResponseCode::FormErr => "FORMERR",
        ResponseCode::ServFail => "SERVFAIL",
        ResponseCode::NXDomain => "NXDOMAIN",
        ResponseCode::NotImp => "NOTIMP",
        ResponseCode::Refused => "REFUSED",
        ResponseCode::YXDomain => "YXDOMAIN",
        ResponseCode::YXRRSet => "YXRRSET",
        ResponseCode::NXRRSet => "NXRRSET",
        ResponseCode::NotAuth => "NOTAUTH",
        ResponseCode::NotZone => "NOTZONE",
        other => return format!("RCODE {}", u16::from(other)),
    };
    name.to_owned()
}

/// What an answer means for the request.
struct Classified {
    verdict: Verdict,
    code: String,
    answer: String,
    advice: Option<String>,
}

fn fatal(code: &str, answer: String, advice: String) -> Classified {
    Classified {
        verdict: Verdict::Fatal {
            scope: Scope::Account,
        },
        code: code.to_owned(),
        answer,
        advice: Some(advice),
    }
}

/// Classifies the server's answer. `verifier` checks the signature of a NOERROR answer.
fn classify(
    bytes: &[u8],
    verifier: Option<&mut TSigVerifier>,
    settings: &Settings,
    server: &str,
) -> Classified {
    let message = match Message::from_vec(bytes) {
        Ok(message) => message,
        Err(e) => {
            return Classified {
                verdict: Verdict::Protocol,
                code: "garbled".to_owned(),
                answer: format!("{server} sent an answer that is not a DNS message: {e}"),
                advice: None,
            };
        }
    };
    if message.metadata.message_type != MessageType::Response
        || message.metadata.op_code != OpCode::Update
    {
        return Classified {
            verdict: Verdict::Protocol,
            code: "garbled".to_owned(),
            answer: format!("{server} sent a DNS message that is not an UPDATE answer"),
            advice: None,
        };
    }
    let rcode = message.metadata.response_code;
    let tsig_error = message.signature().and_then(|s| s.data.error);
    let key = &settings.key_name;
    let zone = settings.zone.to_ascii();
    let zone = zone.trim_end_matches('.');
    if let Some(error) = tsig_error {
        let (code, what, advice) = match error {
            TsigError::BadSig => (
                "tsig-badsig",
                "BADSIG",
                format!(
                    "The server rejected the signature: the secret of TSIG key `{key}` (or its \
                     algorithm) differs from the server's. Set the key's base64 secret again."
                ),
            ),
            TsigError::BadKey => (
                "tsig-badkey",
                "BADKEY",
                format!(
                    "The server did not accept TSIG key `{key}`, for one of two reasons. It may \
                     not know a key of this name and algorithm: check the key name \
                     (`username`) and `algorithm` against the server's `key` statement. Or it \
                     knows the key but the rules of zone `{zone}` do not let it update (BIND's \
                     `update-policy` or `allow-update`, Knot's `acl`): some servers, Knot among \
                     them, answer BADKEY for that too."
                ),
            ),
            TsigError::BadTime => (
                "tsig-badtime",
                "BADTIME",
                format!(
                    "The server refused the signature's time: this computer's clock and the \
                     server's differ by more than {FUDGE} seconds. Fix the clock (NTP), then \
                     re-enable the record."
                ),
            ),
            TsigError::BadTrunc | TsigError::Unknown(_) => (
                "tsig-error",
                "a TSIG error",
                format!("The server refused TSIG key `{key}`: check the key on both sides."),
            ),
        };
        let number = u16::from(error);
        return fatal(
            code,
            format!(
                "{server} answered {} with {what} ({number}) for key {key}",
                rcode_name(rcode)
            ),
            advice,
        );
    }
    let answer = format!("{server} answered {}", rcode_name(rcode));
    match rcode {
        ResponseCode::NoError => {
            let verified = match verifier {
                Some(verifier) => verifier.verify(bytes).is_ok(),
                None => false,
            };
            if verified {
                Classified {
                    verdict: Verdict::Success,
                    code: "noerror".to_owned(),
                    answer,
                    advice: None,
                }
            } else {
                Classified {
                    verdict: Verdict::Protocol,
                    code: "unsigned-answer".to_owned(),
                    answer: format!(
                        "{answer} without a valid TSIG signature of key {key}; not trusted"
                    ),
                    advice: None,
                }
            }
        }
        ResponseCode::NotAuth => fatal(
            "notauth",
            answer,
            format!(
                "The server is not authoritative for zone `{zone}` or did not accept key \
                 `{key}`: point `server` at the zone's primary, and check `zone` and the key."
            ),
        ),
        ResponseCode::Refused => fatal(
            "refused",
            answer,
            format!(
                "The server refused the update: its update-policy (or allow-update) for zone \
                 `{zone}` does not grant key `{key}` this name and record type."
            ),
        ),
        ResponseCode::NotZone => fatal(
            "notzone",
            answer,
            format!(
                "The name is not in zone `{zone}` as the server serves it: check the account's \
                 `zone` against the server's zone statements."
            ),
        ),
        ResponseCode::ServFail => Classified {
            verdict: Verdict::Transient {
                retry_after: None,
                reached: true,
            },
            code: "servfail".to_owned(),
            answer,
            advice: None,
        },
        other => Classified {
            verdict: Verdict::Protocol,
            code: format!("rcode-{}", u16::from(other)),
            answer,
            advice: None,
        },
    }
}

fn transient(items: &[UpdateItem], code: &str, answer: &str, reached: bool) -> Vec<Outcome> {
    Outcome::for_all(
        items,
        Verdict::Transient {
            retry_after: None,
            reached,
        },
        code,
        answer,
        None,
    )
}

/// Sends one UPDATE for the request's names and classifies the answer for each.
pub async fn update(request: &UpdateRequest) -> Vec<Outcome> {
    let items = &request.items;
    let address = match request.publish {
        Publish::Address(address) => address,
        Publish::Offline => {
            return Outcome::for_all(
                items,
                Verdict::Fatal {
                    scope: Scope::Record,
                },
                "no-offline-mode",
                "RFC 2136 has no offline mode of its own",
                Some("Set `offline_address` instead of `offline_mode`."),
            );
        }
    };
    let settings = match Settings::from_request(request) {
        Ok(settings) => settings,
        Err(refusal) => return refusal.outcomes(items),
    };

    // Names outside the zone are refused here, each on its own.
    let mut outcomes: Vec<Option<Outcome>> = vec![None; items.len()];
    let mut names = Vec::new();
    let mut inside = Vec::new();
    let zone_text = settings.zone.to_ascii();
    for (i, item) in items.iter().enumerate() {
        match fqdn(&item.name) {
            Some(name) if settings.zone.zone_of(&name) => {
                names.push(name);
                inside.push(item.clone());
            }
            _ => {
                outcomes[i] = Some(Outcome {
                    record: item.record.clone(),
                    verdict: Verdict::Fatal {
                        scope: Scope::Record,
                    },
                    code: "outside-zone".to_owned(),
                    answer: format!("{} is not in zone {zone_text}", item.name),
                    advice: Some(
                        "Move the name to an account whose `zone` contains it, or fix `zone`."
                            .to_owned(),
                    ),
                });
            }
        }
    }
    if !inside.is_empty() {
        let sent = send(&settings, &names, address, &inside, &request.departure).await;
        let mut sent = sent.into_iter();
        for slot in outcomes.iter_mut().filter(|o| o.is_none()) {
            *slot = sent.next();
        }
    }
    outcomes.into_iter().flatten().collect()
}

async fn send(
    settings: &Settings,
    names: &[Name],
    address: IpAddr,
    items: &[UpdateItem],
    departure: &Departure,
) -> Vec<Outcome> {
    let mut message = update_message(&settings.zone, names, address, settings.ttl);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let signed = message
        .finalize(&settings.signer, now)
        .and_then(|verifier| Ok((message.to_vec()?, verifier)));
    let (bytes, mut verifier) = match signed {
        Ok(signed) => signed,
        Err(e) => {
            return Outcome::for_all(
                items,
                Verdict::Protocol,
                "encode",
                &format!("cannot build the update: {e}"),
                None,
            );
        }
    };
    let id = message.metadata.id;

    let lookup = tokio::time::timeout(
        TRY_TIMEOUT,
        tokio::net::lookup_host((settings.host.as_str(), settings.port)),
    )
    .await;
    let servers: Vec<SocketAddr> = match lookup {
        Ok(Ok(found)) => found.collect(),
        Ok(Err(e)) => {
            let answer = format!("cannot resolve {}: {e}", settings.host);
            return transient(items, "resolve", &answer, false);
        }
        Err(_) => {
            let answer = format!("resolving {} took too long", settings.host);
            return transient(items, "resolve", &answer, false);
        }
    };
    let mut last = Failure::Network(format!("{} has no address", settings.host));
    for server in servers {
        tracing::debug!(%server, names = names.len(), "sending DNS UPDATE");
        match exchange(server, &bytes, id, departure).await {
            Ok(answer) => {
                let c = classify(&answer, verifier.as_mut(), settings, &server.to_string());
                return Outcome::for_all(items, c.verdict, &c.code, &c.answer, c.advice.as_deref());
            }
            Err(Failure::NotSent(e)) => return transient(items, "not-sent", &e, false),
            Err(failure) => last = failure,
        }
    }
    let server = format!("{}:{}", settings.host, settings.port);
    match last {
        Failure::Refused(e) => transient(
            items,
            "connect",
            &format!("no DNS server answers at {server}: {e}"),
            false,
        ),
        Failure::Timeout => transient(
            items,
            "timeout",
            &format!("{server} did not answer within {} s", TRY_TIMEOUT.as_secs()),
            true,
        ),
        Failure::Network(e) => transient(items, "network", &format!("{server}: {e}"), true),
        Failure::NotSent(e) => transient(items, "not-sent", &e, false),
        Failure::Garbled(e) => Outcome::for_all(
            items,
            Verdict::Protocol,
            "garbled",
            &format!("{server}: {e}"),
            None,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::Secret;
    use hickory_proto::rr::rdata::tsig::{TSIG, make_tsig_record};

    const SECRET: &str = "Zl2vT1cfAE6OgLcXHMs1a3N9gZRrGFHAFIunKdA6EJI=";

    /// The account's settings through the real path: the descriptor's check, then
    /// `prepare`. Numbers are written as numbers.
    fn prepared(server: &str, extra: &[(&str, &str)]) -> Result<Prepared, Vec<FieldProblem>> {
        use crate::config::SettingValue;
        let raw = extra
            .iter()
            .map(|(k, v)| {
                let value = match v.parse::<i64>() {
                    Ok(n) => SettingValue::Integer(n),
                    Err(_) => SettingValue::Text((*v).to_owned()),
                };
                ((*k).to_owned(), value)
            })
            .collect();
        let settings = super::super::settings::check(&DESCRIPTOR, &raw)?;
        Rfc2136.prepare(&AccountInput {
            server: Some(server),
            username: "dyntray-key",
            settings: &settings,
        })
    }

    fn request(secret: &str, extra: &[(&str, &str)]) -> UpdateRequest {
        UpdateRequest {
            server: "dns://127.0.0.1:5353".into(),
            default_server: false,
            username: "dyntray-key".into(),
            secret: Secret::new(secret),
            publish: Publish::Address("81.2.69.160".parse().unwrap()),
            options: Default::default(),
            items: vec![UpdateItem {
                record: "home/home.example.test/A".into(),
                name: "home.example.test".into(),
            }],
            allow_plain_http: false,
            settings: prepared("dns://127.0.0.1:5353", extra).unwrap(),
            other_family: None,
            departure: Departure::default(),
            joint: None,
        }
    }

    fn refusal(request: &UpdateRequest) -> Refusal {
        match Settings::from_request(request) {
            Ok(_) => panic!("accepted"),
            Err(r) => r,
        }
    }

    #[test]
    fn servers_parse_with_and_without_ports() {
        assert_eq!(
            parse_server("dns://127.0.0.1:5353"),
            Ok(("127.0.0.1".into(), 5353))
        );
        assert_eq!(
            parse_server("DNS://ns1.example.org/"),
            Ok(("ns1.example.org".into(), 53))
        );
        assert_eq!(parse_server("dns://[::1]:53"), Ok(("::1".into(), 53)));
        assert_eq!(
            parse_server("dns://[2001:db8::1]"),
            Ok(("2001:db8::1".into(), 53))
        );
        for bad in [
            "https://ns1.example.org",
            "dns://",
            "dns://ns1.example.org:0",
            "dns://ns1.example.org:70000",
            "dns://ns1.example.org/zone",
            "dns://[::1",
            "dns://:53",
            "dns://ns1.example.org:+53",
        ] {
            assert!(parse_server(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn settings_defaults_and_every_bad_field_named() {
        let ok = Settings::from_request(&request(SECRET, &[("zone", "example.test")])).unwrap();
        assert_eq!((ok.ttl, ok.port), (DEFAULT_TTL, 5353));
        assert_eq!(ok.signer.algorithm(), &TsigAlgorithm::HmacSha256);
        let sha512 = Settings::from_request(&request(
            SECRET,
            &[
                ("zone", "example.test"),
                ("algorithm", "hmac-sha512"),
                ("ttl", "3600"),
            ],
        ))
        .unwrap();
        assert_eq!(sha512.signer.algorithm(), &TsigAlgorithm::HmacSha512);
        assert_eq!(sha512.ttl, 3600);

        let r = refusal(&request("not base64!", &[("zone", "example.test")]));
        assert_eq!(r.code, "bad-secret");
        assert!(r.advice.contains("base64") && r.advice.contains("dyntray-key"));
        assert!(!r.answer.contains("not base64!"), "never echo the secret");
        assert_eq!(
            refusal(&request("", &[("zone", "example.test")])).code,
            "bad-secret"
        );
    }

    #[test]
    fn bad_account_settings_are_named_by_key_before_anything_is_sent() {
        let keys = |server: &str, extra: &[(&str, &str)]| -> Vec<String> {
            prepared(server, extra)
                .map(|_| ())
                .unwrap_err()
                .into_iter()
                .map(|p| p.key)
                .collect()
        };
        let ok = "dns://127.0.0.1:5353";
        assert_eq!(
            keys(ok, &[("zone", "example.test"), ("algorithm", "hmac-md5")]),
            ["algorithm"]
        );
        assert_eq!(keys(ok, &[]), ["zone"]);
        assert_eq!(keys(ok, &[("zone", "example.test"), ("ttl", "0")]), ["ttl"]);
        assert_eq!(
            keys("https://ns.example.test", &[("zone", "example.test")]),
            ["server"]
        );
        assert_eq!(
            keys("dns://ns.example.test:99999", &[("zone", "example.test")]),
            ["server"]
        );
    }

    #[tokio::test]
    async fn bad_settings_disable_the_account_without_sending() {
        let outcomes = update(&request("%%%", &[("zone", "example.test")])).await;
        assert_eq!(outcomes.len(), 1);
        assert_eq!(
            outcomes[0].verdict,
            Verdict::Fatal {
                scope: Scope::Account
            }
        );
        assert_eq!(outcomes[0].code, "bad-secret");
    }

    #[tokio::test]
    async fn names_outside_the_zone_are_refused_one_by_one() {
        let mut r = request(SECRET, &[("zone", "example.org")]);
        r.items[0].name = "home.example.test".into();
        let outcomes = update(&r).await;
        assert_eq!(outcomes[0].code, "outside-zone");
        assert_eq!(
            outcomes[0].verdict,
            Verdict::Fatal {
                scope: Scope::Record
            }
        );
    }

    #[test]
    fn the_update_replaces_the_rrset_and_is_signed() {
        let settings =
            Settings::from_request(&request(SECRET, &[("zone", "example.test")])).unwrap();
        let name = fqdn("home.example.test").unwrap();
        let mut message = update_message(
            &settings.zone,
            std::slice::from_ref(&name),
            "2a00:1450:4001:81b::200e".parse().unwrap(),
            120,
        );
        message.finalize(&settings.signer, 1_800_000_000).unwrap();
        let bytes = message.to_vec().unwrap();
        let back = Message::from_vec(&bytes).unwrap();
        assert_eq!(back.metadata.op_code, OpCode::Update);
        assert_eq!(back.queries.len(), 1, "one zone");
        assert_eq!(back.queries[0].name(), &settings.zone);
        assert_eq!(back.queries[0].query_type(), RecordType::SOA);
        // Zone, prerequisite, update: the update section travels as "authorities".
        let updates = &back.authorities;
        assert_eq!(updates.len(), 2);
        assert_eq!(updates[0].dns_class, DNSClass::ANY);
        assert_eq!(updates[0].ttl, 0);
        assert_eq!(updates[0].data, RData::Update0(RecordType::AAAA));
        assert_eq!(updates[1].dns_class, DNSClass::IN);
        assert_eq!(updates[1].ttl, 120);
        assert_eq!(updates[1].name, name);
        assert!(matches!(updates[1].data, RData::AAAA(_)));
        let sig = back.signature().unwrap();
        assert_eq!(sig.name.to_ascii(), "dyntray-key.");
        assert_eq!(sig.data.algorithm, TsigAlgorithm::HmacSha256);
        assert_eq!(sig.data.mac.len(), 32);
    }

    fn answer(rcode: ResponseCode, tsig_error: Option<TsigError>) -> Vec<u8> {
        let mut message = Message::response(7, OpCode::Update);
        message.metadata.response_code = rcode;
        if let Some(error) = tsig_error {
            let tsig = TSIG::new(
                TsigAlgorithm::HmacSha256,
                1_800_000_000,
                300,
                Vec::new(),
                7,
                Some(error),
                Vec::new(),
            );
            message.set_signature(Box::new(make_tsig_record(
                fqdn("dyntray-key").unwrap(),
                tsig,
            )));
        }
        message.to_vec().unwrap()
    }

    #[test]
    fn every_answer_is_classified() {
        let settings =
            Settings::from_request(&request(SECRET, &[("zone", "example.test")])).unwrap();
        let account = Verdict::Fatal {
            scope: Scope::Account,
        };
        let transient = Verdict::Transient {
            retry_after: None,
            reached: true,
        };
        let cases = [
            (
                ResponseCode::NotAuth,
                Some(TsigError::BadSig),
                &account,
                "tsig-badsig",
                "secret",
            ),
            (
                ResponseCode::NotAuth,
                Some(TsigError::BadKey),
                &account,
                "tsig-badkey",
                "key name",
            ),
            (
                ResponseCode::NotAuth,
                Some(TsigError::BadTime),
                &account,
                "tsig-badtime",
                "clock",
            ),
            (ResponseCode::NotAuth, None, &account, "notauth", "primary"),
            (
                ResponseCode::Refused,
                None,
                &account,
                "refused",
                "update-policy",
            ),
            (ResponseCode::NotZone, None, &account, "notzone", "zone"),
            (ResponseCode::ServFail, None, &transient, "servfail", ""),
            (
                ResponseCode::FormErr,
                None,
                &Verdict::Protocol,
                "rcode-1",
                "",
            ),
            (
                ResponseCode::YXRRSet,
                None,
                &Verdict::Protocol,
                "rcode-7",
                "",
            ),
            // A NOERROR nobody signed is not trusted.
            (
                ResponseCode::NoError,
                None,
                &Verdict::Protocol,
                "unsigned-answer",
                "",
            ),
        ];
        for (rcode, error, verdict, code, advice) in cases {
            let c = classify(&answer(rcode, error), None, &settings, "127.0.0.1:53");
            assert_eq!((&c.verdict, c.code.as_str()), (verdict, code), "{rcode:?}");
            assert!(
                c.answer.starts_with("127.0.0.1:53 answered "),
                "{}",
                c.answer
            );
            if !advice.is_empty() {
                let text = c.advice.unwrap_or_default();
                assert!(text.contains(advice), "{code}: {text}");
            }
        }
        let c = classify(b"\x00\x07\x80", None, &settings, "s");
        assert_eq!((c.verdict, c.code.as_str()), (Verdict::Protocol, "garbled"));

        // BADKEY is also what Knot answers for a known key that the zone's ACL does not
        // allow: the advice names both causes, and the zone.
        let c = classify(
            &answer(ResponseCode::NotAuth, Some(TsigError::BadKey)),
            None,
            &settings,
            "127.0.0.1:53",
        );
        let advice = c.advice.unwrap_or_default();
        for cause in [
            "`username`",
            "`algorithm`",
            "update-policy",
            "`acl`",
            "example.test",
        ] {
            assert!(advice.contains(cause), "{cause}: {advice}");
        }
    }

    /// A server on one port: UDP answers truncated (and a stray datagram first), TCP answers
    /// REFUSED, so the answer's RCODE tells which transport carried it.
    #[tokio::test]
    async fn a_truncated_udp_answer_is_asked_again_over_tcp() {
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = tcp.local_addr().unwrap();
        let udp = UdpSocket::bind(server).await.unwrap();
        tokio::spawn(async move {
            let mut buf = vec![0; 512];
            let (_, peer) = udp.recv_from(&mut buf).await.unwrap();
            let id = u16::from_be_bytes([buf[0], buf[1]]);
            let mut stray = answer(ResponseCode::NoError, None);
            stray[..2].copy_from_slice(&id.wrapping_add(1).to_be_bytes());
            udp.send_to(&stray, peer).await.unwrap();
            let mut cut = answer(ResponseCode::NoError, None);
            cut[..2].copy_from_slice(&id.to_be_bytes());
            cut[2] |= 0x02;
            udp.send_to(&cut, peer).await.unwrap();
        });
        tokio::spawn(async move {
            let (mut stream, _) = tcp.accept().await.unwrap();
            let mut prefix = [0u8; 2];
            stream.read_exact(&mut prefix).await.unwrap();
            let mut query = vec![0; usize::from(u16::from_be_bytes(prefix))];
            stream.read_exact(&mut query).await.unwrap();
            let mut refused = answer(ResponseCode::Refused, None);
            refused[..2].copy_from_slice(&query[..2]);
            let mut framed = (refused.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(&refused);
            stream.write_all(&framed).await.unwrap();
        });
        let mut message = Message::query();
        message.metadata.op_code = OpCode::Update;
        let id = message.metadata.id;
        let got = exchange(
            server,
            &message.to_vec().unwrap(),
            id,
            &Departure::default(),
        )
        .await
        .unwrap_or_else(|_| panic!("no answer"));
        let back = Message::from_vec(&got).unwrap();
        assert_eq!(back.metadata.response_code, ResponseCode::Refused);
    }

    #[test]
    fn garbage_answers_are_protocol_errors_not_panics() {
        let settings =
            Settings::from_request(&request(SECRET, &[("zone", "example.test")])).unwrap();
        for bytes in [&b""[..], b"\x00", b"not a dns message at all", &[0xff; 40]] {
            let classified = classify(bytes, None, &settings, "127.0.0.1:53");
            assert_eq!(classified.verdict, Verdict::Protocol, "{bytes:?}");
            assert_eq!(classified.code, "garbled", "{bytes:?}");
            assert!(classified.answer.contains("127.0.0.1:53"));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_server_times_out() {
        let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let server = silent.local_addr().unwrap();
        let result = exchange(server, &[0; 12], 1, &Departure::default()).await;
        assert!(matches!(result, Err(Failure::Timeout)));
        drop(silent);
    }

    #[test]
    fn answers_are_matched_by_id_and_truncation_is_seen() {
        let bytes = answer(ResponseCode::NoError, None);
        assert!(answers(&bytes, 7));
        assert!(!answers(&bytes, 8));
        assert!(!truncated(&bytes));
        let mut cut = bytes.clone();
        cut[2] |= 0x02;
        assert!(truncated(&cut));
    }
}
