//! The GnuDIP 2 protocol family, written once, with both of its transports.
//!
//! - TCP (port 3495): the server sends a salt; the client answers with one line,
//!   `user:hash:domain:reqc[:addr]`, and the server with a numeric code.
//! - HTTP (`/gnudip/cgi-bin/gdipupdt.cgi`): a first `GET` returns a page whose `<meta>`
//!   tags carry `salt`, `time` and `sign`; a second `GET` sends them back with `user`,
//!   `pass`, `domn`, `reqc` and `addr`, and the answer page carries the code in a `retc`
//!   meta tag.
//!
//! Either way the password itself never travels: only
//! `md5hex(md5hex(password) + "." + salt)`, a hash bound to a salt the server chose for
//! this one exchange, so a captured hash cannot be replayed against a fresh salt. That is
//! why the TCP transport, which has no TLS, is acceptable under design invariant 7
//! (credentials never in the clear). What an eavesdropper can still do is guess weak
//! passwords offline against a captured salt and hash: the protocol's limit, not ours.
//! The HTTP transport still goes over HTTPS, or plain HTTP to loopback only, like every
//! other provider.
//!
//! Codes: `0` success (for request code 2 followed by `:address`), `1` invalid login,
//! `2` success of an offline request. Anything else is shown verbatim and backed off.

use crate::departure::Departure;
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{
    FieldKind, FieldSpec, Outcome, Publish, Scope, UpdateItem, UpdateRequest, Verdict, first_line,
    truncate,
};
use crate::secrets::Secret;

/// The GnuDIP TCP port.
pub const DEFAULT_PORT: u16 = 3495;

/// Where the update CGI lives when an http(s) server URL names no path.
pub const DEFAULT_CGI_PATH: &str = "/gnudip/cgi-bin/gdipupdt.cgi";

/// How long opening a connection may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one whole exchange (connection, salt, request, answer) may take.
pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(30);

/// The salt length the protocol specifies.
const SALT_LEN: usize = 10;

/// The most bytes of a TCP line (salt or answer) that are read.
const MAX_LINE_BYTES: usize = 1024;

/// The most bytes of an HTTP page that are read.
const MAX_PAGE_BYTES: usize = 64 * 1024;

/// The record option "use the provider's offline mode", worded for GnuDIP.
pub const OFFLINE_MODE: FieldSpec = FieldSpec::new(
    "offline_mode",
    "Remove the address when offline",
    FieldKind::Bool,
    "On \"Go offline\", ask the server to remove the name's address (GnuDIP request \
           code 1).",
);

/// What differs between GnuDIP services.
#[derive(Debug, Clone, Copy)]
pub struct Quirks {
    /// Added to the advice of every "no such host"-like outcome (a name that is not
    /// `<user>.<domain>`, or a refused login, which is how GnuDIP reports an unknown
    /// user or domain).
    pub host_hint: Option<&'static str>,
}

/// A GnuDIP server with nothing special about it.
pub const STANDARD: Quirks = Quirks { host_hint: None };

/// What the client asks for: the protocol's request code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// `reqc 0`: publish this address.
    Set(IpAddr),
    /// `reqc 1`: take the name offline (remove its address).
    Offline,
    /// `reqc 2`: publish the address the server sees the connection come from.
    ConnectionAddress,
}

impl Request {
    /// The request code sent.
    pub fn code(self) -> u8 {
        match self {
            Self::Set(_) => 0,
            Self::Offline => 1,
            Self::ConnectionAddress => 2,
        }
    }
}

/// How to reach a GnuDIP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// The TCP protocol.
    Tcp {
        /// Host name or address.
        host: String,
        /// Port (3495 by default).
        port: u16,
    },
    /// The HTTP protocol at this CGI URL.
    Http(reqwest::Url),
}

/// Parses a `gnudip://host[:port]` server (an optional trailing `/` is allowed, nothing
/// else after the authority). Messages never repeat the text, which might hold secrets.
pub fn parse_tcp_server(server: &str) -> Result<(String, u16), String> {
    const SCHEME: &str = "gnudip://";
    let rest = match server.get(..SCHEME.len()) {
        Some(prefix) if prefix.eq_ignore_ascii_case(SCHEME) => &server[SCHEME.len()..],
        _ => return Err("expected a server starting with gnudip://".to_owned()),
    };
    if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("a server must not contain spaces or control characters".to_owned());
    }
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains('@') {
        return Err(
            "a gnudip:// server must not contain a user name or password: give them as the \
             account's username and secret"
                .to_owned(),
        );
    }
    if authority.contains(['/', '?', '#']) {
        return Err("a gnudip:// server is only `gnudip://host[:port]`, with no path".to_owned());
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let Some((inside, after)) = bracketed.split_once(']') else {
            return Err("the server has an unclosed `[` in its host".to_owned());
        };
        if inside.parse::<Ipv6Addr>().is_err() {
            return Err("the server's `[…]` host is not an IPv6 address".to_owned());
        }
        let port = match after {
            "" => None,
            _ => match after.strip_prefix(':') {
                Some(port) => Some(port),
                None => return Err("the server has text after its `[…]` host".to_owned()),
            },
        };
        (inside, port)
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("the server has no host".to_owned());
    }
    if host.parse::<Ipv6Addr>().is_err()
        && !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return Err(
            "the server's host may only contain letters, digits, `.`, `-` and `_`".to_owned(),
        );
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => return Err("the server's port must be a number from 1 to 65535".to_owned()),
        },
    };
    Ok((host.to_owned(), port))
}

/// Checks an account's GnuDIP server when the config is read: `gnudip://host[:port]`,
/// or an `https://` URL (`http://` only to this machine).
pub fn prepare(
    account: &super::AccountInput<'_>,
) -> Result<super::Prepared, Vec<super::FieldProblem>> {
    let Some(server) = account.server else {
        return Err(vec![super::FieldProblem::new(
            "server",
            "needs the GnuDIP server: gnudip://host[:port] or an https:// URL",
        )]);
    };
    transport(server, false).map_err(|e| vec![super::FieldProblem::new("server", e)])?;
    Ok(super::Prepared::none())
}

/// Picks the transport for an account's server: `gnudip://host[:port]` is TCP; an
/// `https://` URL (or `http://` to loopback, or where the user opted in) is HTTP, at
/// [`DEFAULT_CGI_PATH`] when the URL names no path.
pub fn transport(server: &str, allow_plain_http: bool) -> Result<Transport, String> {
    if server
        .get(..9)
        .is_some_and(|p| p.eq_ignore_ascii_case("gnudip://"))
    {
        let (host, port) = parse_tcp_server(server)?;
        return Ok(Transport::Tcp { host, port });
    }
    let mut url = reqwest::Url::parse(server).map_err(|e| format!("bad server URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("expected gnudip://host[:port] or an https:// URL".to_owned());
    }
    if !super::dyndns2::transport_allowed(&url, allow_plain_http) {
        return Err(format!(
            "refusing to talk GnuDIP over {}: use https:// or gnudip://",
            url.scheme()
        ));
    }
    if url.path().is_empty() || url.path() == "/" {
        url.set_path(DEFAULT_CGI_PATH);
    }
    Ok(Transport::Http(url))
}

/// The login hash GnuDIP sends instead of the password:
/// `md5hex(md5hex(password) + "." + salt)`, lowercase hex.
pub fn login_hash(password: &Secret, salt: &str) -> String {
    // md5hex(password) is all a GnuDIP server checks logins against, so it is as good as
    // the password: it gets the same redacting type.
    let inner = Secret::new(md5::hex(password.expose().as_bytes()));
    let input = Secret::new(format!("{}.{salt}", inner.expose()));
    md5::hex(input.expose().as_bytes())
}

/// The GnuDIP domain of a record name: the name without its leading `<username>.`
/// (GnuDIP updates the host `<user>.<domain>`). `None` when the name has another form.
pub fn domain_of<'a>(name: &'a str, username: &str) -> Option<&'a str> {
    let name = name.strip_suffix('.').unwrap_or(name);
    let head = name.get(..username.len())?;
    if username.is_empty() || !head.eq_ignore_ascii_case(username) {
        return None;
    }
    let domain = name.get(username.len()..)?.strip_prefix('.')?;
    let labels_ok = domain
        .split('.')
        .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    labels_ok.then_some(domain)
}

/// The `content` of the first `<meta name="NAME" content="…">` tag of an HTML page: tags
/// and attributes are parsed, the name compared whole (ASCII case-insensitively, as HTML
/// does), comments skipped.
pub fn meta_content<'a>(html: &'a str, name: &str) -> Option<&'a str> {
    let bytes = html.as_bytes();
    let mut i = 0;
    while let Some(offset) = html.get(i..)?.find('<') {
        let start = i + offset;
        let rest = &html[start..];
        if rest.starts_with("<!--") {
            match rest.find("-->") {
                Some(end) => {
                    i = start + end + 3;
                    continue;
                }
                None => return None,
            }
        }
        let is_meta = rest
            .get(1..5)
            .is_some_and(|tag| tag.eq_ignore_ascii_case("meta"))
            && bytes
                .get(start + 5)
                .is_some_and(|b| b.is_ascii_whitespace() || *b == b'/' || *b == b'>');
        if !is_meta {
            i = start + 1;
            continue;
        }
        let (attributes, end) = parse_attributes(html, start + 5);
        let named = attributes
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("name") && v.eq_ignore_ascii_case(name));
        if named {
            return attributes
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content"))
                .map(|(_, v)| *v);
        }
        i = end;
    }
    None
}

/// Attributes of a tag from `from` up to its closing `>`; returns them and the index just
/// past the tag. Slices are cut at ASCII delimiters only, so they are always valid UTF-8.
fn parse_attributes(html: &str, from: usize) -> (Vec<(&str, &str)>, usize) {
    let bytes = html.as_bytes();
    let mut attributes = Vec::new();
    let mut i = from;
    let at = |i: usize| bytes.get(i).copied();
    loop {
        while at(i).is_some_and(|b| b.is_ascii_whitespace() || b == b'/') {
            i += 1;
        }
        match at(i) {
            None => return (attributes, i),
            Some(b'>') => return (attributes, i + 1),
            Some(_) => {}
        }
        let key_start = i;
        while at(i).is_some_and(|b| !b.is_ascii_whitespace() && !matches!(b, b'=' | b'>' | b'/')) {
            i += 1;
        }
        let key = &html[key_start..i];
        while at(i).is_some_and(|b| b.is_ascii_whitespace()) {
            i += 1;
        }
        if at(i) != Some(b'=') {
            attributes.push((key, ""));
            continue;
        }
        i += 1;
        while at(i).is_some_and(|b| b.is_ascii_whitespace()) {
            i += 1;
        }
        let value = match at(i) {
            Some(quote @ (b'"' | b'\'')) => {
                let value_start = i + 1;
                let mut end = value_start;
                while at(end).is_some_and(|b| b != quote) {
                    end += 1;
                }
                i = (end + 1).min(bytes.len());
                &html[value_start..end.min(bytes.len())]
            }
            _ => {
                let value_start = i;
                while at(i).is_some_and(|b| !b.is_ascii_whitespace() && b != b'>') {
                    i += 1;
                }
                &html[value_start..i]
            }
        };
        attributes.push((key, value));
    }
}

/// A server's answer: its code and, for request code 2, the address it published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The code, verbatim (`0`, `1`, `2`, ...).
    pub code: String,
    /// The address that came with the code, verbatim.
    pub address: Option<String>,
    /// The answer as shown to the user.
    pub shown: String,
}

impl Answer {
    /// Parses a TCP answer line: `code` or `code:address`.
    pub fn from_line(line: &str) -> Self {
        let line = line.trim();
        let (code, address) = match line.split_once(':') {
            Some((code, address)) => (code, Some(address.to_owned())),
            None => (line, None),
        };
        Self {
            code: code.to_owned(),
            address,
            shown: truncate(line),
        }
    }
}

/// A failure before any answer could be classified.
struct Failure {
    verdict: Verdict,
    code: &'static str,
    answer: String,
    advice: Option<String>,
}

impl Failure {
    fn transient(code: &'static str, answer: String, reached: bool) -> Self {
        Self {
            verdict: Verdict::Transient {
                retry_after: None,
                reached,
            },
            code,
            answer,
            advice: None,
        }
    }

    fn protocol(code: &'static str, answer: String) -> Self {
        Self {
            verdict: Verdict::Protocol,
            code,
            answer,
            advice: None,
        }
    }

    fn outcome(self, item: &UpdateItem) -> Outcome {
        Outcome {
            record: item.record.clone(),
            verdict: self.verdict,
            code: self.code.to_owned(),
            answer: self.answer,
            advice: self.advice,
        }
    }
}

/// Sends one exchange per item (GnuDIP updates one name at a time) and classifies each
/// answer.
pub async fn update(
    http: &reqwest::Client,
    request: &UpdateRequest,
    quirks: &Quirks,
) -> Vec<Outcome> {
    let items = &request.items;
    let transport = match transport(&request.server, request.allow_plain_http) {
        Ok(transport) => transport,
        Err(e) => {
            return Outcome::for_all(
                items,
                Verdict::Fatal {
                    scope: Scope::Account,
                },
                "bad-server",
                &e,
                Some(
                    "Fix the account's update server: gnudip://host[:port] for GnuDIP's TCP \
                     protocol, or the https:// URL of the server's update CGI.",
                ),
            );
        }
    };
    if !fits_protocol_line(&request.username) {
        return Outcome::for_all(
            items,
            Verdict::Fatal {
                scope: Scope::Account,
            },
            "bad-username",
            "the user name contains `:`, spaces or control characters",
            Some("GnuDIP user names cannot contain `:`, spaces or control characters. Correct it."),
        );
    }
    let gnudip_request = match request.publish {
        Publish::Address(address) => Request::Set(address),
        Publish::Offline => Request::Offline,
    };
    let mut outcomes = Vec::with_capacity(items.len());
    for item in items {
        let Some(domain) = domain_of(&item.name, &request.username) else {
            outcomes.push(
                Failure {
                    verdict: Verdict::Fatal {
                        scope: Scope::Record,
                    },
                    code: "bad-name",
                    answer: format!(
                        "`{}` is not `{}.<domain>`: nothing was sent",
                        item.name, request.username
                    ),
                    advice: Some(with_hint(
                        &format!(
                            "GnuDIP updates the name <user>.<domain>: with the user name `{0}` \
                             the record's name must be `{0}.` followed by the domain (for \
                             example `{0}.example.org`). Correct the record's name or the \
                             account's user name.",
                            request.username
                        ),
                        quirks,
                    )),
                }
                .outcome(item),
            );
            continue;
        };
        let exchange = async {
            match &transport {
                Transport::Tcp { host, port } => {
                    tcp_exchange(
                        host,
                        *port,
                        &request.username,
                        &request.secret,
                        domain,
                        gnudip_request,
                        &request.departure,
                    )
                    .await
                }
                Transport::Http(url) => {
                    http_exchange(
                        http,
                        url,
                        &request.username,
                        &request.secret,
                        domain,
                        gnudip_request,
                    )
                    .await
                }
            }
        };
        let outcome = match tokio::time::timeout(TOTAL_TIMEOUT, exchange).await {
            Ok(Ok(answer)) => classify(item, &answer, gnudip_request, quirks),
            Ok(Err(failure)) => failure.outcome(item),
            Err(_) => Failure::transient(
                "timeout",
                format!(
                    "the exchange timed out after {} seconds",
                    TOTAL_TIMEOUT.as_secs()
                ),
                true,
            )
            .outcome(item),
        };
        let account_refused = matches!(
            outcome.verdict,
            Verdict::Fatal {
                scope: Scope::Account
            }
        );
        let refused = account_refused.then(|| outcome.clone());
        outcomes.push(outcome);
        if let Some(refused) = refused {
            // A refused login stands for the account's other names too: send no more.
            for rest in &items[outcomes.len()..] {
                outcomes.push(Outcome {
                    record: rest.record.clone(),
                    ..refused.clone()
                });
            }
            break;
        }
    }
    outcomes
}

/// Whether a value can go into the `:`-separated TCP line and the CGI query unchanged.
fn fits_protocol_line(value: &str) -> bool {
    !value.is_empty()
        && !value
            .chars()
            .any(|c| c == ':' || c.is_whitespace() || c.is_control())
}

fn with_hint(advice: &str, quirks: &Quirks) -> String {
    match quirks.host_hint {
        Some(hint) => format!("{advice} {hint}"),
        None => advice.to_owned(),
    }
}

/// Classifies an answer to `request`. Codes are compared whole, never by prefix.
pub fn classify(item: &UpdateItem, answer: &Answer, request: Request, quirks: &Quirks) -> Outcome {
    let outcome = |verdict: Verdict, code: &str, advice: Option<String>| Outcome {
        record: item.record.clone(),
        verdict,
        code: code.to_owned(),
        answer: answer.shown.clone(),
        advice,
    };
    match (answer.code.as_str(), request) {
        ("0", Request::Set(sent)) => match answer.address.as_deref().map(str::parse::<IpAddr>) {
            None => outcome(Verdict::Success, "good", None),
            Some(Ok(echoed)) if echoed == sent => outcome(Verdict::Success, "good", None),
            Some(Ok(_)) => Outcome {
                answer: format!("{} (sent {sent})", answer.shown),
                ..outcome(Verdict::Protocol, "wrong-address", None)
            },
            Some(Err(_)) => outcome(Verdict::Protocol, "protocol", None),
        },
        ("0", Request::ConnectionAddress) => {
            match answer.address.as_deref().map(str::parse::<IpAddr>) {
                Some(Ok(_)) => outcome(Verdict::Success, "good", None),
                _ => outcome(Verdict::Protocol, "protocol", None),
            }
        }
        ("2", Request::Offline) => outcome(Verdict::Success, "offline", None),
        ("1", _) => outcome(
            Verdict::Fatal {
                scope: Scope::Account,
            },
            // The engine's word for refused credentials: a new secret re-enables.
            "badauth",
            Some(with_hint(
                "The GnuDIP server refused the login (answer 1): check the user name and the \
                 password (enter it again in Settings), and that the record's name is \
                 <user>.<domain> for a domain the server serves.",
                quirks,
            )),
        ),
        _ => outcome(Verdict::Protocol, "protocol", None),
    }
}

async fn tcp_exchange(
    host: &str,
    port: u16,
    username: &str,
    secret: &Secret,
    domain: &str,
    request: Request,
    departure: &Departure,
) -> Result<Answer, Failure> {
    let connect = TcpStream::connect((host, port));
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            // The connection never opened: nothing reached the provider.
            return Err(Failure::transient(
                "connect",
                format!("cannot connect to {host} port {port}: {e}"),
                false,
            ));
        }
        Err(_) => {
            return Err(Failure::transient(
                "timeout",
                format!(
                    "connecting to {host} port {port} timed out after {} seconds",
                    CONNECT_TIMEOUT.as_secs()
                ),
                true,
            ));
        }
    };
    let mut conn = Conn {
        stream,
        buf: Vec::new(),
    };
    let salt = conn.salt().await?;
    if salt.is_empty() || salt.chars().any(char::is_control) {
        return Err(Failure::protocol(
            "protocol",
            format!("the server's salt is not usable: {}", truncate(&salt)),
        ));
    }
    let hash = login_hash(secret, &salt);
    let mut line = format!("{username}:{hash}:{domain}:{}", request.code());
    if let Request::Set(address) = request {
        line.push(':');
        line.push_str(&address.to_string());
    }
    line.push('\n');
    departure
        .fire()
        .map_err(|e| Failure::transient("not-sent", e.to_string(), false))?;
    conn.stream
        .write_all(line.as_bytes())
        .await
        .map_err(|e| network_failure(&e))?;
    let answer = conn.answer_line().await?;
    Ok(Answer::from_line(&answer))
}

fn network_failure(error: &std::io::Error) -> Failure {
    Failure::transient("network", format!("connection failed: {error}"), true)
}

/// A TCP connection with what has been read from it and not used yet.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    /// Reads more; `false` at the end of the stream.
    async fn fill(&mut self) -> Result<bool, Failure> {
        let mut chunk = [0u8; 512];
        let n = self
            .stream
            .read(&mut chunk)
            .await
            .map_err(|e| network_failure(&e))?;
        self.buf.extend_from_slice(&chunk[..n]);
        if self.buf.len() > MAX_LINE_BYTES {
            return Err(Failure::protocol(
                "too-large",
                format!("a line longer than {MAX_LINE_BYTES} bytes"),
            ));
        }
        Ok(n > 0)
    }

    fn skip_line_breaks(&mut self) {
        let blank = self
            .buf
            .iter()
            .take_while(|b| b.is_ascii_whitespace())
            .count();
        self.buf.drain(..blank);
    }

    /// Takes the first `len` bytes, and `skip` more (a line break) that are dropped.
    fn take(&mut self, len: usize, skip: usize) -> String {
        let text = String::from_utf8_lossy(&self.buf[..len]).trim().to_owned();
        self.buf.drain(..len + skip);
        text
    }

    /// The salt: a line, or the protocol's 10 characters when no line break comes with
    /// them (servers differ in whether they end it).
    async fn salt(&mut self) -> Result<String, Failure> {
        loop {
            self.skip_line_breaks();
            if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                return Ok(self.take(end, 1));
            }
            if self.buf.len() >= SALT_LEN {
                return Ok(self.take(SALT_LEN, 0));
            }
            if !self.fill().await? {
                return Err(Failure::transient(
                    "network",
                    "the server closed the connection before sending its salt".to_owned(),
                    true,
                ));
            }
        }
    }

    /// The answer: the first non-empty line, or what came before the connection closed.
    async fn answer_line(&mut self) -> Result<String, Failure> {
        loop {
            self.skip_line_breaks();
            if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                return Ok(self.take(end, 1));
            }
            if !self.fill().await? {
                if self.buf.is_empty() {
                    return Err(Failure::transient(
                        "network",
                        "the server closed the connection without answering".to_owned(),
                        true,
                    ));
                }
                let len = self.buf.len();
                return Ok(self.take(len, 0));
            }
        }
    }
}

async fn http_exchange(
    http: &reqwest::Client,
    url: &reqwest::Url,
    username: &str,
    secret: &Secret,
    domain: &str,
    request: Request,
) -> Result<Answer, Failure> {
    let page = http_get(http, url.clone()).await?;
    let meta = |page: &str, name: &str| meta_content(page, name).map(str::to_owned);
    let (Some(salt), Some(time), Some(sign)) = (
        meta(&page, "salt"),
        meta(&page, "time"),
        meta(&page, "sign"),
    ) else {
        return Err(Failure::protocol(
            "protocol",
            format!(
                "the server's first page lacks the salt, time or sign meta tag: {}",
                first_line(&page)
            ),
        ));
    };
    let hash = login_hash(secret, &salt);
    let mut update_url = url.clone();
    {
        let mut query = update_url.query_pairs_mut();
        query
            .append_pair("salt", &salt)
            .append_pair("time", &time)
            .append_pair("sign", &sign)
            .append_pair("user", username)
            .append_pair("pass", &hash)
            .append_pair("domn", domain)
            .append_pair("reqc", &request.code().to_string());
        if let Request::Set(address) = request {
            query.append_pair("addr", &address.to_string());
        }
    }
    let page = http_get(http, update_url).await?;
    let Some(code) = meta_content(&page, "retc") else {
        return Err(Failure::protocol(
            "protocol",
            format!("the answer lacks the retc meta tag: {}", first_line(&page)),
        ));
    };
    let address = meta_content(&page, "addr")
        .filter(|a| !a.is_empty())
        .map(str::to_owned);
    let shown = match &address {
        Some(address) => format!("retc {code}, addr {address}"),
        None => format!("retc {code}"),
    };
    Ok(Answer {
        code: code.trim().to_owned(),
        address,
        shown: truncate(&shown),
    })
}

async fn http_get(http: &reqwest::Client, url: reqwest::Url) -> Result<String, Failure> {
    let response = http
        .get(url)
        .header(reqwest::header::USER_AGENT, super::user_agent())
        .timeout(TOTAL_TIMEOUT)
        .send()
        .await
        .map_err(|e| http_failure(&e))?;
    let status = response.status().as_u16();
    let mut response = response;
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| http_failure(&e))? {
        if body.len() + chunk.len() > MAX_PAGE_BYTES {
            return Err(Failure::protocol(
                "too-large",
                format!("answer longer than {MAX_PAGE_BYTES} bytes (HTTP {status})"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    let body = String::from_utf8_lossy(&body).into_owned();
    match status {
        200..=299 => Ok(body),
        500..=599 => Err(Failure::transient(
            "http-5xx",
            format!("HTTP {status}: {}", first_line(&body)),
            true,
        )),
        _ => Err(Failure::protocol(
            "http-status",
            format!("HTTP {status}: {}", first_line(&body)),
        )),
    }
}

fn http_failure(error: &reqwest::Error) -> Failure {
    // The URL of the second request carries the login hash: http_failure leaves it out.
    let (code, reached, text) = super::http_failure(error);
    Failure::transient(code, text, reached)
}

/// MD5 (RFC 1321), for GnuDIP's login hash only. Written here rather than taken from a
/// crate: forty lines against RFC 1321's test vectors, no new dependency. It is not a
/// security choice of ours: GnuDIP defines the hash.
mod md5 {
    const SHIFTS: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5,
        9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10,
        15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];

    /// floor(abs(sin(i + 1)) * 2^32), RFC 1321 section 3.4.
    const K: [u32; 64] = [
        0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613,
        0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193,
        0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d,
        0x02441453, 0xd8a1e681, 0xe7d3fbc8, 0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
        0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122,
        0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
        0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665, 0xf4292244,
        0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
        0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb,
        0xeb86d391,
    ];

    /// The digest of `data`.
    pub(super) fn digest(data: &[u8]) -> [u8; 16] {
        let mut state: [u32; 4] = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];
        // Padding: 0x80, zeros up to 56 mod 64, then the bit length, little-endian.
        let mut message = data.to_vec();
        message.push(0x80);
        while message.len() % 64 != 56 {
            message.push(0);
        }
        let bits = (data.len() as u64).wrapping_mul(8);
        message.extend_from_slice(&bits.to_le_bytes());

        for block in message.chunks_exact(64) {
            let mut m = [0u32; 16];
            for (word, bytes) in m.iter_mut().zip(block.chunks_exact(4)) {
                *word = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
            }
            let [mut a, mut b, mut c, mut d] = state;
            for i in 0..64 {
                let (f, g) = match i / 16 {
                    0 => ((b & c) | (!b & d), i),
                    1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                    2 => (b ^ c ^ d, (3 * i + 5) % 16),
                    _ => (c ^ (b | !d), (7 * i) % 16),
                };
                let rotated = a
                    .wrapping_add(f)
                    .wrapping_add(K[i])
                    .wrapping_add(m[g])
                    .rotate_left(SHIFTS[i]);
                a = d;
                d = c;
                c = b;
                b = b.wrapping_add(rotated);
            }
            for (s, v) in state.iter_mut().zip([a, b, c, d]) {
                *s = s.wrapping_add(v);
            }
        }
        let mut out = [0u8; 16];
        for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        out
    }

    /// The digest of `data` as 32 lowercase hex digits.
    pub(super) fn hex(data: &[u8]) -> String {
        digest(data).iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    #[test]
    fn md5_matches_rfc_1321_test_vectors() {
        // RFC 1321, appendix A.5.
        let vectors = [
            ("", "d41d8cd98f00b204e9800998ecf8427e"),
            ("a", "0cc175b9c0f1b6a831c399e269772661"),
            ("abc", "900150983cd24fb0d6963f7d28e17f72"),
            ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                "abcdefghijklmnopqrstuvwxyz",
                "c3fcd3d76192e4007dfb496cca67e13b",
            ),
            (
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                "d174ab98d277d9f5a5611c2c9f419d9f",
            ),
            (
                "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ];
        for (input, digest) in vectors {
            assert_eq!(md5::hex(input.as_bytes()), digest, "{input:?}");
        }
        // Lengths around the padding boundary (55, 56, 63, 64, 65 bytes), against md5sum.
        let cases = [
            (55, "ef1772b6dff9a122358552954ad0df65"),
            (56, "3b0c8ac703f828b04c6c197006d17218"),
            (63, "b06521f39153d618550606be297466d5"),
            (64, "014842d480b571495a4a0363793f7367"),
            (65, "c743a45e0d2e6a95cb859adae0248435"),
        ];
        for (len, digest) in cases {
            assert_eq!(md5::hex(&vec![b'a'; len]), digest, "{len} bytes");
        }
    }

    #[test]
    fn login_hash_is_md5_of_md5_dot_salt() {
        // Computed independently with coreutils:
        //   inner=$(printf %s 's3cr3t-p@ss#word' | md5sum | cut -d' ' -f1)
        //   printf %s "$inner.Xq7Lm2Pz9R" | md5sum
        let secret = Secret::new("s3cr3t-p@ss#word");
        assert_eq!(
            md5::hex(b"s3cr3t-p@ss#word"),
            "8a2f49c5db54a50e329eb9d08a1d0f3f"
        );
        assert_eq!(
            login_hash(&secret, "Xq7Lm2Pz9R"),
            "61429f7dcb10667a14fbdc8c0c7e4f21"
        );
        assert_eq!(
            login_hash(&secret, "aB3dE5gH7j"),
            "bf54802671a87bd92c85234bb1254d3b"
        );
        assert_eq!(
            login_hash(&Secret::new("pass"), "0123456789"),
            "1d2a3269ca4c2deae313ebbf10bd0ade"
        );
    }

    #[test]
    fn record_names_split_into_user_and_domain() {
        assert_eq!(domain_of("myhost.yi.org", "myhost"), Some("yi.org"));
        assert_eq!(domain_of("MyHost.yi.org.", "myhost"), Some("yi.org"));
        assert_eq!(
            domain_of("alice.dyn.example.org", "alice"),
            Some("dyn.example.org")
        );
        assert_eq!(domain_of("alice", "alice"), None);
        assert_eq!(domain_of("alice.", "alice"), None);
        assert_eq!(domain_of("alicex.yi.org", "alice"), None);
        assert_eq!(domain_of("bob.yi.org", "alice"), None);
        assert_eq!(domain_of("alice..org", "alice"), None);
        assert_eq!(domain_of("alice.yi.org:0", "alice"), None);
        assert_eq!(domain_of("a.yi.org", ""), None);
        assert_eq!(domain_of("é.yi.org", "é"), Some("yi.org"));
        assert_eq!(domain_of("éa.yi.org", "e"), None);
    }

    #[test]
    fn servers_pick_the_transport() {
        let tcp = |host: &str, port| {
            Ok(Transport::Tcp {
                host: host.into(),
                port,
            })
        };
        assert_eq!(
            transport("gnudip://gnudip2.yi.org:3495", false),
            tcp("gnudip2.yi.org", 3495)
        );
        assert_eq!(
            transport("GNUDIP://gnudip.dynu.com/", false),
            tcp("gnudip.dynu.com", 3495)
        );
        assert_eq!(transport("gnudip://[::1]:9", false), tcp("::1", 9));
        assert_eq!(
            transport("gnudip://127.0.0.1:40000", false),
            tcp("127.0.0.1", 40000)
        );
        for (bad, message) in [
            ("gnudip://", "no host"),
            ("gnudip://h:0", "port"),
            ("gnudip://h:99999", "port"),
            ("gnudip://h:+1", "port"),
            ("gnudip://u:p@h", "user name or password"),
            ("gnudip://h/path", "no path"),
            ("gnudip://h?x=1", "no path"),
            ("gnudip://h st", "spaces"),
            ("gnudip://[::1", "unclosed"),
            ("gnudip://[nope]", "not an IPv6"),
            ("gnudip://a$b", "may only contain"),
            ("ftp://h", "expected gnudip://"),
            ("http://gnudip.example.org", "refusing"),
        ] {
            let err = transport(bad, false).unwrap_err();
            assert!(err.contains(message), "{bad}: {err}");
            assert!(!err.contains("u:p"), "{err}");
        }
        let http = |s: &str| match transport(s, false).unwrap() {
            Transport::Http(url) => url.to_string(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            http("https://gnudip.example.org"),
            "https://gnudip.example.org/gnudip/cgi-bin/gdipupdt.cgi"
        );
        assert_eq!(
            http("http://127.0.0.1:8080/cgi/update.cgi"),
            "http://127.0.0.1:8080/cgi/update.cgi"
        );
    }

    #[test]
    fn meta_tags_are_parsed_not_searched() {
        let page = "<html><head>\n\
            <!-- <meta name=\"retc\" content=\"9\"> -->\n\
            <META NAME=\"salttime\" CONTENT=\"nope\">\n\
            <meta content=\"zYx\" name=\"salt\">\n\
            <meta name='time' content='1700000000'/>\n\
            <meta name=sign content=abc123>\n\
            <metadata name=\"retc\" content=\"8\">\n\
            <p>meta name=\"retc\" content=\"7\"</p>\n\
            <meta name=\"retc\" content=\"0\">\n\
            <meta name=\"empty\">\n\
            </head><body>content=\"salt\"</body></html>";
        assert_eq!(meta_content(page, "salt"), Some("zYx"));
        assert_eq!(meta_content(page, "time"), Some("1700000000"));
        assert_eq!(meta_content(page, "sign"), Some("abc123"));
        assert_eq!(meta_content(page, "retc"), Some("0"));
        assert_eq!(meta_content(page, "salttime"), Some("nope"));
        assert_eq!(meta_content(page, "sal"), None);
        assert_eq!(meta_content(page, "empty"), None);
        assert_eq!(meta_content(page, "addr"), None);
        assert_eq!(meta_content("<meta name=\"x\" content=\"é", "x"), Some("é"));
        assert_eq!(meta_content("<meta", "x"), None);
        assert_eq!(meta_content("<!-- <meta name=x content=1>", "x"), None);
    }

    fn item() -> UpdateItem {
        UpdateItem {
            record: "r".into(),
            name: "alice.yi.org".into(),
        }
    }

    #[test]
    fn every_answer_code_is_classified() {
        let sent: IpAddr = "81.2.69.160".parse().unwrap();
        let set = Request::Set(sent);
        let account = Verdict::Fatal {
            scope: Scope::Account,
        };
        let cases = [
            ("0", set, Verdict::Success, "good"),
            ("0:81.2.69.160", set, Verdict::Success, "good"),
            ("0:81.2.69.99", set, Verdict::Protocol, "wrong-address"),
            ("0:banana", set, Verdict::Protocol, "protocol"),
            ("1", set, account.clone(), "badauth"),
            ("1", Request::Offline, account, "badauth"),
            ("2", Request::Offline, Verdict::Success, "offline"),
            ("2", set, Verdict::Protocol, "protocol"),
            ("0", Request::Offline, Verdict::Protocol, "protocol"),
            (
                "0:81.2.69.9",
                Request::ConnectionAddress,
                Verdict::Success,
                "good",
            ),
            (
                "0",
                Request::ConnectionAddress,
                Verdict::Protocol,
                "protocol",
            ),
            ("7", set, Verdict::Protocol, "protocol"),
            ("01", set, Verdict::Protocol, "protocol"),
            ("", set, Verdict::Protocol, "protocol"),
            ("<html>", set, Verdict::Protocol, "protocol"),
        ];
        for (line, request, verdict, code) in cases {
            let outcome = classify(&item(), &Answer::from_line(line), request, &STANDARD);
            assert_eq!(outcome.verdict, verdict, "{line:?}");
            assert_eq!(outcome.code, code, "{line:?}");
            assert!(outcome.answer.starts_with(line.trim()), "{line:?}");
        }
        let hinted = Quirks {
            host_hint: Some("Mark it Primary."),
        };
        let refused = classify(&item(), &Answer::from_line("1"), set, &hinted);
        assert!(refused.advice.unwrap().ends_with("Mark it Primary."));
    }

    /// A one-connection GnuDIP server for the transport's framing: sends `greeting`,
    /// reads one line, answers `answer`, and returns the line it read.
    async fn one_shot(
        greeting: &'static [&'static str],
        answer: &'static str,
    ) -> (u16, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind((LOCAL, 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            for part in greeting {
                stream.write_all(part.as_bytes()).await.unwrap();
                stream.flush().await.unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let mut line = Vec::new();
            let mut byte = [0u8; 1];
            while stream.read(&mut byte).await.unwrap() == 1 && byte[0] != b'\n' {
                line.push(byte[0]);
            }
            stream.write_all(answer.as_bytes()).await.unwrap();
            String::from_utf8(line).unwrap()
        });
        (port, task)
    }

    #[tokio::test]
    async fn tcp_salt_framing_and_connection_address_requests() {
        // A salt without a line break, sent in pieces; an answer without one either.
        let (port, task) = one_shot(&["Xq7Lm", "2Pz9R"], "0:81.2.69.9").await;
        let secret = Secret::new("s3cr3t-p@ss#word");
        let answer = tcp_exchange(
            "127.0.0.1",
            port,
            "alice",
            &secret,
            "yi.org",
            Request::ConnectionAddress,
            &Departure::default(),
        )
        .await
        .ok()
        .unwrap();
        assert_eq!(
            task.await.unwrap(),
            "alice:61429f7dcb10667a14fbdc8c0c7e4f21:yi.org:2"
        );
        assert_eq!(answer.code, "0");
        assert_eq!(answer.address.as_deref(), Some("81.2.69.9"));

        // A salt line, then the answer line after a blank line.
        let (port, task) = one_shot(&["aB3dE5gH7j\r\n"], "\r\n1\r\n").await;
        let answer = tcp_exchange(
            "127.0.0.1",
            port,
            "alice",
            &secret,
            "yi.org",
            Request::Set("81.2.69.160".parse().unwrap()),
            &Departure::default(),
        )
        .await
        .ok()
        .unwrap();
        assert_eq!(
            task.await.unwrap(),
            "alice:bf54802671a87bd92c85234bb1254d3b:yi.org:0:81.2.69.160"
        );
        assert_eq!(answer.code, "1");
    }
}
