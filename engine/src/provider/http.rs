//! The kit every HTTP provider is built on.
//!
//! One way to send a request and read its answer: HTTPS only (plain HTTP to this machine
//! only, or where the user opted in), a time-out, an answer capped in size, no redirects
//! (the engine's client follows none), Dyntray's User-Agent, JSON in and out,
//! `Retry-After` read and bounded, and every secret of the request removed from anything
//! that is stored, logged or shown. Then one way to classify an answer
//! ([`Class`], from `providers-api.md` §0.1: body first, status second) and to turn it into
//! the engine's outcomes with the provider's declared advice.

use std::net::IpAddr;
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::{
    CheckResult, Descriptor, FieldProblem, Outcome, Publish, Scope, UpdateItem, UpdateRequest,
    Verdict, first_line, truncate,
};
use crate::secrets::Secret;

/// How long one request may take in all.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The most bytes of an answer that are read; a longer answer is a protocol error. Large
/// enough for a zone's record list, small enough that no server can fill the memory.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// The shortest wait after a provider said "too many requests": its `Retry-After` is
/// honoured when longer (up to the engine's week).
pub const MIN_RATE_LIMIT_WAIT: Duration = Duration::from_secs(30 * 60);

/// The longest `Retry-After` taken as given; longer is cut (the engine cuts again at a week).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

/// Checks an account's update server: an `https://` URL, or `http://` to this machine.
pub fn check_server(server: Option<&str>) -> Result<(), Vec<FieldProblem>> {
    let Some(server) = server else {
        return Err(vec![FieldProblem::new(
            "server",
            "needs the update server's URL (`server = \"https://…\"`)",
        )]);
    };
    let scheme = server
        .split_once("://")
        .map(|(s, _)| s.to_ascii_lowercase());
    if let Some(other @ ("dns" | "gnudip")) = scheme.as_deref() {
        let family = if other == "dns" { "RFC 2136" } else { "GnuDIP" };
        return Err(vec![FieldProblem::new(
            "server",
            format!(
                "{other}:// servers are for {family} accounts; this provider takes an https:// URL"
            ),
        )]);
    }
    match crate::config::check_url(server) {
        Err(message) => Err(vec![FieldProblem::new("server", message)]),
        Ok(info) if !info.https && !info.loopback => Err(vec![FieldProblem::new(
            "server",
            "credentials travel only over HTTPS: use https:// (plain http:// is accepted \
             only for loopback hosts such as 127.0.0.1, ::1 and localhost)",
        )]),
        Ok(_) => Ok(()),
    }
}

/// Whether the URL may carry credentials: HTTPS, or plain HTTP to a loopback host or when
/// the user opted in.
pub fn transport_allowed(url: &reqwest::Url, allow_plain_http: bool) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => allow_plain_http || is_loopback_host(url),
        _ => false,
    }
}

fn is_loopback_host(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Why a request got no answer to classify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The server URL is not usable (a settings problem).
    BadUrl(String),
    /// The URL is not HTTPS and not to this machine: nothing was sent.
    Insecure(String),
    /// No answer: `code` is `timeout`, `connect` or `network`; `reached` when the request
    /// may have got to the provider.
    Network {
        /// `timeout`, `connect` or `network`.
        code: &'static str,
        /// Whether it may have reached the provider.
        reached: bool,
        /// The error, secrets removed.
        text: String,
    },
    /// The answer was longer than [`MAX_ANSWER_BYTES`].
    TooLarge(u16),
}

impl Failure {
    /// What happened, for the user (secrets already removed).
    pub fn text(&self) -> String {
        match self {
            Self::BadUrl(text) | Self::Insecure(text) => text.clone(),
            Self::Network { text, .. } => format!("no answer: {text}"),
            Self::TooLarge(status) => {
                format!("an answer longer than {MAX_ANSWER_BYTES} bytes (HTTP {status})")
            }
        }
    }
}

/// An answer: status, the headers the kit reads, and the body with every secret removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The `Content-Type`, lowercased (empty when none).
    pub content_type: String,
    /// `Retry-After`, when given in seconds (bounded).
    pub retry_after: Option<Duration>,
    /// The body, secrets removed.
    pub body: String,
}

impl Answer {
    /// The body as JSON of type `T`, when it is.
    pub fn json<T: DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_str(&self.body).ok()
    }

    /// Whether the body is an HTML page (an error page, a captive portal, a parked site).
    pub fn is_html(&self) -> bool {
        let start = self.body.trim_start().get(..15).unwrap_or_default();
        self.content_type.starts_with("text/html")
            || start.to_ascii_lowercase().starts_with("<!doctype html")
            || start.to_ascii_lowercase().starts_with("<html")
    }

    /// The status and the body's first line, as shown to the user.
    pub fn shown(&self) -> String {
        format!("HTTP {}: {}", self.status, first_line(&self.body))
    }

    /// Whether the status is 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// One provider request's means: the engine's client, the request's secrets, its server.
pub struct Api<'a> {
    http: &'a reqwest::Client,
    request: &'a UpdateRequest,
    /// The username is a credential too (Porkbun's API key), scrubbed like the secret.
    secret_username: bool,
}

impl<'a> Api<'a> {
    /// The kit for `request`.
    pub fn new(http: &'a reqwest::Client, request: &'a UpdateRequest) -> Self {
        Self {
            http,
            request,
            secret_username: false,
        }
    }

    /// The kit for a request whose username is itself a credential (an API key).
    pub fn with_secret_username(mut self) -> Self {
        self.secret_username = true;
        self
    }

    /// The request this kit serves.
    pub fn request(&self) -> &'a UpdateRequest {
        self.request
    }

    /// The account's server with `path` appended (the server may carry a path of its own:
    /// tests put their fake server there). Refuses anything but HTTPS, or HTTP to this
    /// machine or where the user opted in.
    pub fn url(&self, path: &str) -> Result<reqwest::Url, Failure> {
        let base = self.request.server.trim_end_matches('/');
        let url = reqwest::Url::parse(&format!("{base}{path}"))
            .map_err(|e| Failure::BadUrl(format!("bad server URL {base:?}: {e}")))?;
        if !transport_allowed(&url, self.request.allow_plain_http) {
            return Err(Failure::Insecure(format!(
                "refusing to send credentials over {}",
                url.scheme()
            )));
        }
        Ok(url)
    }

    /// A request builder for `method` on `url`, with the User-Agent and the time-out.
    pub fn build(&self, method: reqwest::Method, url: reqwest::Url) -> reqwest::RequestBuilder {
        self.http
            .request(method, url)
            .header(reqwest::header::USER_AGENT, super::user_agent())
            .timeout(REQUEST_TIMEOUT)
    }

    /// `builder` with `value` as its JSON body.
    pub fn json(
        &self,
        builder: reqwest::RequestBuilder,
        value: &serde_json::Value,
    ) -> reqwest::RequestBuilder {
        builder
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(value.to_string())
    }

    /// Sends a request and reads its answer, capped at [`MAX_ANSWER_BYTES`], with every
    /// secret removed.
    pub async fn send(&self, builder: reqwest::RequestBuilder) -> Result<Answer, Failure> {
        self.send_capped(builder, MAX_ANSWER_BYTES).await
    }

    /// [`Api::send`] with a cap of its own (dyndns2 answers are a line per name).
    pub async fn send_capped(
        &self,
        builder: reqwest::RequestBuilder,
        cap: usize,
    ) -> Result<Answer, Failure> {
        let response = builder.send().await.map_err(|e| self.network(&e))?;
        let status = response.status().as_u16();
        let headers = response.headers();
        let content_type = headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let retry_after = headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(retry_after);
        let body = read_capped(response, cap).await.map_err(|e| match e {
            ReadError::TooLarge => Failure::TooLarge(status),
            ReadError::Http(e) => self.network(&e),
        })?;
        Ok(Answer {
            status,
            content_type,
            retry_after,
            body: self.scrub(&body),
        })
    }

    /// `text` with every form of the request's secret (and of its Basic credentials)
    /// removed.
    pub fn scrub(&self, text: &str) -> String {
        let request = self.request;
        let once = crate::secrets::scrub_basic(text, &request.username, &request.secret);
        // A username that is itself a credential (Porkbun's API key) is removed too.
        if self.secret_username {
            crate::secrets::scrub(&once, &[&Secret::new(request.username.clone())])
        } else {
            once
        }
    }

    fn network(&self, error: &reqwest::Error) -> Failure {
        let (code, reached, text) = super::http_failure(error);
        Failure::Network {
            code,
            reached,
            text: self.scrub(&text),
        }
    }
}

enum ReadError {
    TooLarge,
    Http(reqwest::Error),
}

async fn read_capped(mut response: reqwest::Response, cap: usize) -> Result<String, ReadError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(ReadError::Http)? {
        if body.len().saturating_add(chunk.len()) > cap {
            return Err(ReadError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// A `Retry-After` value: seconds, or an HTTP date (`Wed, 21 Oct 2015 07:28:00 GMT`)
/// counted from now; bounded to a week. A date in the past is no wait.
pub fn retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER));
    }
    let at = http_date(value)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some(Duration::from_secs(at.saturating_sub(now)).min(MAX_RETRY_AFTER))
}

/// Seconds since the Unix epoch of an IMF-fixdate (RFC 9110 §5.6.7), the form servers
/// send; `None` for anything else.
fn http_date(text: &str) -> Option<u64> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [_weekday, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| m == month)? as u64 + 1;
    let day: u64 = day.parse().ok().filter(|d| (1..=31).contains(d))?;
    let year: u64 = year.parse().ok().filter(|y| (1970..=9999).contains(y))?;
    let clock: Vec<u64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<Vec<u64>>>()?;
    let [hours, minutes, seconds] = clock.as_slice() else {
        return None;
    };
    if *hours > 23 || *minutes > 59 || *seconds > 60 {
        return None;
    }
    // Days from the civil date (H. Hinnant's algorithm), all in unsigned arithmetic.
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    Some(days * 86_400 + hours * 3600 + minutes * 60 + seconds)
}

/// What an answer means for the records it was about (`providers-api.md` §0.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The provider took the new address.
    Changed,
    /// The provider says it already had it (a counted no-op).
    Unchanged,
    /// Read before writing: the record already holds the address; nothing was written.
    Current,
    /// The credential was refused: every record of the account stops.
    FatalAuth,
    /// This record cannot be updated (zone or name unknown, wrong type): it stops.
    FatalRecord,
    /// The account may not do this (API access, a refused TLD, an abuse block): every
    /// record of the account stops until the user acts at the provider.
    FatalPolicy,
    /// Too many requests: wait the longer of the provider's ask and 30 minutes.
    RateLimited(Option<Duration>),
    /// Provider trouble (5xx, time-out, "try later"): back off.
    Trouble(Option<Duration>),
    /// An answer that makes no sense: not a success; back off.
    Protocol,
}

impl Class {
    /// The engine's verdict.
    pub fn verdict(self) -> Verdict {
        match self {
            Self::Changed => Verdict::Success,
            Self::Unchanged => Verdict::NoChange,
            Self::Current => Verdict::Current,
            Self::FatalAuth | Self::FatalPolicy => Verdict::Fatal {
                scope: Scope::Account,
            },
            Self::FatalRecord => Verdict::Fatal {
                scope: Scope::Record,
            },
            Self::RateLimited(asked) => Verdict::Transient {
                retry_after: Some(asked.unwrap_or_default().max(MIN_RATE_LIMIT_WAIT)),
                reached: true,
            },
            Self::Trouble(asked) => Verdict::Transient {
                retry_after: asked,
                reached: true,
            },
            Self::Protocol => Verdict::Protocol,
        }
    }

    /// The same class, except that an answer which is not the API's own (an HTML page,
    /// text where JSON belongs) never disables: it is shown and backed off from.
    pub fn not_fatal(self) -> Class {
        match self {
            Self::FatalAuth | Self::FatalRecord | Self::FatalPolicy => Self::Protocol,
            other => other,
        }
    }

    /// The class of a status alone, for answers whose body says nothing the provider's
    /// own classifier knows: 401/403 a refused credential, 429 too many requests, 5xx
    /// trouble, anything else not understood.
    pub fn of_status(answer: &Answer) -> Self {
        match answer.status {
            401 | 403 => Self::FatalAuth,
            429 => Self::RateLimited(answer.retry_after),
            500..=599 => Self::Trouble(answer.retry_after),
            _ => Self::Protocol,
        }
    }
}

/// The outcome for one item: `code` and `answer` as given (made visible as text by the
/// engine), the advice the provider declared for `code`, or `advice` when given.
pub fn outcome(
    descriptor: &Descriptor,
    item: &UpdateItem,
    class: Class,
    code: &str,
    answer: &str,
    advice: Option<&str>,
) -> Outcome {
    let advice = advice
        .map(str::to_owned)
        .or_else(|| descriptor.refusal(code).map(|r| r.advice.to_owned()))
        .or_else(|| match class {
            Class::FatalAuth => {
                Some("The provider refused the credential. Enter it again in Settings.".to_owned())
            }
            _ => None,
        });
    Outcome {
        record: item.record.clone(),
        verdict: class.verdict(),
        code: code.to_owned(),
        answer: truncate(answer),
        advice,
    }
}

/// How one step of an API conversation failed: the class the engine acts on, the code
/// stored, and the provider's words.
#[derive(Debug, PartialEq, Eq)]
pub struct Stop {
    /// What the engine does about it.
    pub class: Class,
    /// The code stored and shown.
    pub code: String,
    /// The provider's words (or ours, when it said nothing usable).
    pub answer: String,
}

impl Stop {
    /// A stop of `class` with `code` and `answer`.
    pub fn new(class: Class, code: &str, answer: impl Into<String>) -> Self {
        Self {
            class,
            code: code.to_owned(),
            answer: answer.into(),
        }
    }

    /// The outcome this stop means for one item.
    pub fn outcome(&self, descriptor: &Descriptor, item: &UpdateItem) -> Outcome {
        outcome(descriptor, item, self.class, &self.code, &self.answer, None)
    }
}

/// The outcome of a request that got no answer, for one item.
pub fn failed_one(descriptor: &Descriptor, item: &UpdateItem, failure: &Failure) -> Outcome {
    failed(descriptor, std::slice::from_ref(item), failure)
        .pop()
        .unwrap_or_else(|| {
            Stop::new(Class::Protocol, "protocol", "no outcome for the request")
                .outcome(descriptor, item)
        })
}

/// The same outcome for every item.
pub fn for_all(
    descriptor: &Descriptor,
    items: &[UpdateItem],
    class: Class,
    code: &str,
    answer: &str,
) -> Vec<Outcome> {
    items
        .iter()
        .map(|item| outcome(descriptor, item, class, code, answer, None))
        .collect()
}

/// The outcomes of a request that got no answer.
pub fn failed(descriptor: &Descriptor, items: &[UpdateItem], failure: &Failure) -> Vec<Outcome> {
    match failure {
        Failure::BadUrl(text) => items
            .iter()
            .map(|item| {
                outcome(
                    descriptor,
                    item,
                    Class::FatalAuth,
                    "bad-server",
                    text,
                    Some("Fix the account's update server URL."),
                )
            })
            .collect(),
        Failure::Insecure(text) => items
            .iter()
            .map(|item| {
                outcome(
                    descriptor,
                    item,
                    Class::FatalAuth,
                    "insecure-server",
                    text,
                    Some("Use an https:// server URL: credentials travel only over HTTPS."),
                )
            })
            .collect(),
        Failure::Network {
            code,
            reached,
            text,
        } => items
            .iter()
            .map(|item| Outcome {
                record: item.record.clone(),
                verdict: Verdict::Transient {
                    retry_after: None,
                    reached: *reached,
                },
                code: (*code).to_owned(),
                answer: truncate(text),
                advice: None,
            })
            .collect(),
        Failure::TooLarge(status) => for_all(
            descriptor,
            items,
            Class::Protocol,
            "too-large",
            &format!("answer longer than {MAX_ANSWER_BYTES} bytes (HTTP {status})"),
        ),
    }
}

/// The address a request publishes; `None` for a provider's own offline mode, which
/// API providers do not have.
pub fn address(request: &UpdateRequest) -> Option<IpAddr> {
    match request.publish {
        Publish::Address(address) => Some(address),
        Publish::Offline => None,
    }
}

/// What a provider has learnt of the zones (domains) its credential reaches, for the
/// account's lifetime: each candidate asked about, with the zone's id when it is one.
/// Kept in the provider's prepared settings; never locked across an `.await`.
#[derive(Debug, Default)]
pub struct ZoneCache(std::sync::Mutex<std::collections::HashMap<String, Option<String>>>);

impl ZoneCache {
    /// The zone (name and id) of `name`: its longest candidate known to be a zone,
    /// provided every longer candidate is known not to be one. `None` means: ask.
    pub fn cached(&self, name: &str) -> Option<(String, String)> {
        let known = self.0.lock().ok()?;
        for candidate in zone_candidates(name) {
            match known.get(candidate) {
                Some(Some(id)) => return Some((candidate.to_owned(), id.clone())),
                Some(None) => {}
                None => return None,
            }
        }
        None
    }

    /// Remembers what the provider said of `candidate`: its id, or `None` for no zone.
    pub fn remember(&self, candidate: &str, id: Option<String>) {
        if let Ok(mut known) = self.0.lock() {
            known.insert(candidate.to_owned(), id);
        }
    }
}

/// The part of `name` below `zone` (`home` for `home.example.org` in `example.org`), `@`
/// for the zone's own name; `None` when the name is not in the zone.
pub fn relative_name<'n>(name: &'n str, zone: &str) -> Option<&'n str> {
    if name.eq_ignore_ascii_case(zone) {
        return Some("@");
    }
    let cut = name.len().checked_sub(zone.len() + 1)?;
    let (head, tail) = name.split_at(cut);
    (tail.as_bytes().first() == Some(&b'.') && tail[1..].eq_ignore_ascii_case(zone)).then_some(head)
}

/// The zones a name may belong to, longest first: the name itself, then each parent with
/// at least two labels (`a.b.example.org` → itself, `b.example.org`, `example.org`).
pub fn zone_candidates(name: &str) -> Vec<&str> {
    let mut out = vec![name];
    let mut rest = name;
    while let Some((_, parent)) = rest.split_once('.') {
        if !parent.contains('.') {
            break;
        }
        out.push(parent);
        rest = parent;
    }
    out
}

/// The most zone names an account check's message shows; the rest are counted.
const SHOWN_ZONES: usize = 10;

/// What an account check says of the zones a credential the provider accepted can see.
/// `accepted` opens every message ("DigitalOcean accepts the token"); `noun` is what the
/// provider calls a zone; `names` are those listed, of `total` (`None` when the list may
/// go on: the provider gave no count and the page was full); `fixed` is the account's own
/// zone, which must be among them; `none` says what to do when the credential sees none.
/// A fixed zone missing from a list known to be cut short is not held against the
/// credential: the check could not tell.
pub fn zones_seen(
    accepted: &str,
    noun: &str,
    names: &[String],
    total: Option<usize>,
    fixed: Option<&str>,
    none: &str,
) -> CheckResult {
    let listed = names.len();
    // An empty page is the whole list, whatever the count says.
    let complete = total.map_or(listed == 0, |t| t <= listed);
    let of = total.map_or(listed, |t| t.max(listed));
    let count = match total {
        Some(_) => format!("{of} {noun}s"),
        None => format!("{listed} {noun}s or more"),
    };
    let head = names
        .iter()
        .take(SHOWN_ZONES)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    let rest = of - listed.min(SHOWN_ZONES);
    let shown = if rest > 0 {
        format!("{head} and {rest} more")
    } else {
        head
    };
    let ok = |message: String| CheckResult { ok: true, message };
    let refused = |message: String| CheckResult { ok: false, message };
    match (names, fixed) {
        (_, Some(zone)) if !names.iter().any(|n| n.eq_ignore_ascii_case(zone)) => {
            if !complete {
                ok(format!(
                    "{accepted}. It can see {count}; the {noun} {zone} is not among the first \
                     {listed} listed, so Dyntray could not confirm it."
                ))
            } else if names.is_empty() {
                refused(format!(
                    "{accepted}, but it can see no {noun}, so not the {noun} {zone} either. {none}"
                ))
            } else {
                refused(format!(
                    "{accepted}, but the {noun} {zone} is not among those it can see: {shown}."
                ))
            }
        }
        ([], _) if complete => ok(format!("{accepted}, but it can see no {noun}. {none}")),
        ([], _) => ok(format!("{accepted}. It can see {count}.")),
        ([one], _) if complete => ok(format!("{accepted}. It can see the {noun} {one}.")),
        _ => ok(format!("{accepted}. It can see {count}: {shown}.")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_relative_to_their_zone() {
        assert_eq!(
            relative_name("home.example.org", "example.org"),
            Some("home")
        );
        assert_eq!(relative_name("a.b.Example.org", "example.org"), Some("a.b"));
        assert_eq!(relative_name("example.org", "example.org"), Some("@"));
        assert_eq!(relative_name("badexample.org", "example.org"), None);
        assert_eq!(relative_name("org", "example.org"), None);
        assert_eq!(
            zone_candidates("a.b.example.org"),
            ["a.b.example.org", "b.example.org", "example.org"]
        );
        assert_eq!(zone_candidates("example.org"), ["example.org"]);
    }

    #[test]
    fn a_zone_list_is_shown_short_and_holds_the_fixed_zone() {
        let names = |n: usize| -> Vec<String> { (1..=n).map(|i| format!("z{i}.org")).collect() };
        let seen = |names: &[String], total, fixed| {
            zones_seen(
                "X accepts the token",
                "zone",
                names,
                total,
                fixed,
                "Add one.",
            )
        };
        let two = seen(&names(2), Some(2), None);
        assert!(two.ok);
        assert_eq!(
            two.message,
            "X accepts the token. It can see 2 zones: z1.org, z2.org."
        );
        assert_eq!(
            seen(&names(1), Some(1), Some("Z1.org")).message,
            "X accepts the token. It can see the zone z1.org."
        );
        // Ten names at most, the rest counted, the provider's count included.
        let many = seen(&names(12), Some(30), None).message;
        assert!(
            many.starts_with("X accepts the token. It can see 30 zones: z1.org, ")
                && many.ends_with(", z10.org and 20 more."),
            "{many}"
        );
        assert_eq!(
            seen(&names(12), None, None).message.split(": ").next(),
            Some("X accepts the token. It can see 12 zones or more")
        );
        let none = seen(&[], Some(0), None);
        assert!(none.ok);
        assert_eq!(
            none.message,
            "X accepts the token, but it can see no zone. Add one."
        );
        // The account's zone must be among those listed.
        let missing = seen(&names(2), Some(2), Some("example.org"));
        assert!(!missing.ok);
        assert_eq!(
            missing.message,
            "X accepts the token, but the zone example.org is not among those it can see: \
             z1.org, z2.org."
        );
        let nothing = seen(&[], None, Some("example.org"));
        assert!(!nothing.ok);
        assert!(
            nothing
                .message
                .ends_with("so not the zone example.org either. Add one.")
        );
        // A list cut short cannot tell.
        let cut = seen(&names(50), Some(60), Some("example.org"));
        assert!(cut.ok);
        assert!(
            cut.message.contains("not among the first 50 listed"),
            "{cut:?}"
        );
    }

    #[test]
    fn the_longest_known_zone_is_used_once_longer_candidates_are_known_not_to_be() {
        let zones = ZoneCache::default();
        assert_eq!(zones.cached("home.example.org"), None);
        zones.remember("home.example.org", None);
        zones.remember("example.org", Some("z1".into()));
        assert_eq!(
            zones.cached("home.example.org"),
            Some(("example.org".into(), "z1".into()))
        );
        // A longer candidate not asked about yet is asked first.
        assert_eq!(zones.cached("a.home.example.org"), None);
    }

    #[test]
    fn retry_after_is_seconds_and_bounded() {
        assert_eq!(retry_after(" 300 "), Some(Duration::from_secs(300)));
        assert_eq!(retry_after("18446744073709551615"), Some(MAX_RETRY_AFTER));
        // A date in the past is no wait; one in the future is the time until then.
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(
            http_date("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(1_445_412_480)
        );
        assert_eq!(http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            http_date("Tue, 29 Feb 2028 12:00:00 GMT"),
            Some(1_835_438_400)
        );
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28"), None);
        assert_eq!(retry_after("Wed, 32 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(retry_after("-5"), None);
    }

    #[test]
    fn a_rate_limit_waits_at_least_half_an_hour_and_never_disables() {
        for asked in [None, Some(Duration::from_secs(60))] {
            assert_eq!(
                Class::RateLimited(asked).verdict(),
                Verdict::Transient {
                    retry_after: Some(MIN_RATE_LIMIT_WAIT),
                    reached: true
                }
            );
        }
        let long = Duration::from_secs(7200);
        assert_eq!(
            Class::RateLimited(Some(long)).verdict(),
            Verdict::Transient {
                retry_after: Some(long),
                reached: true
            }
        );
    }

    #[test]
    fn servers_must_be_https_or_this_machine() {
        assert!(check_server(Some("https://api.example.net/v1")).is_ok());
        assert!(check_server(Some("http://127.0.0.1:8080")).is_ok());
        let problems = check_server(Some("http://api.example.net")).unwrap_err();
        assert_eq!(problems[0].key, "server");
        assert!(problems[0].message.contains("only over HTTPS"));
        assert!(check_server(None).is_err());
    }
}
