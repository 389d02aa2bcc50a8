//! A fake HTTP API on 127.0.0.1 for testing the providers Dyntray reaches through an API
//! of their own (Cloudflare, DuckDNS, deSEC, Porkbun, DigitalOcean, Hetzner...).
//!
//! A test declares the provider's routes (method and path pattern) and their answers: a
//! fixed [`Reply`], a script, a fixture file copied from the provider's documentation, or a
//! closure (keeping any state it needs behind its own `Arc<Mutex<_>>`). Every request is
//! kept as a [`Call`] so the test can assert what was sent and how often; one that no route
//! covers gets a 404 naming it, so a wrong path fails loudly. Plain HTTP/1.1, one request
//! per connection; an answer can also come late, never, or as a connection reset.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The largest request body read; a longer one is answered with 413.
const MAX_BODY: usize = 1 << 20;
/// The largest request head read before the connection is dropped.
const MAX_HEAD: usize = 64 << 10;
/// Reply headers never copied: the server frames every answer itself.
const FRAMING: &[&str] = &["content-length", "transfer-encoding", "connection"];

/// A request as the fake saw it.
#[derive(Clone, Debug)]
pub struct Call {
    /// The method as sent (`GET`, `PATCH`...).
    pub method: String,
    /// The path without the query, as sent (not decoded).
    pub path: String,
    /// The query pairs in order, percent-decoded, `+` read as a space.
    pub query: Vec<(String, String)>,
    /// The headers in order, names as sent, values trimmed.
    pub headers: Vec<(String, String)>,
    /// The body (`Content-Length` bytes; invalid UTF-8 replaced).
    pub body: String,
    /// When the head had been read, on tokio's clock (so virtual under paused time):
    /// compare with `tokio::time::Instant::now().into_std()`.
    pub at: Instant,
}

impl Call {
    /// The value of the first query parameter named `key`.
    pub fn param(&self, key: &str) -> Option<&str> {
        let found = self.query.iter().find(|(k, _)| k == key);
        found.map(|(_, v)| v.as_str())
    }

    /// The value of the first header named `key`, whatever the case.
    pub fn header(&self, key: &str) -> Option<&str> {
        let found = self
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key));
        found.map(|(_, v)| v.as_str())
    }

    /// Whether the body contains `needle` (a quick check; parse JSON with `serde_json`).
    pub fn body_has(&self, needle: &str) -> bool {
        self.body.contains(needle)
    }

    /// The token of an `Authorization: Bearer <token>` header.
    pub fn bearer(&self) -> Option<&str> {
        self.header("authorization")?.strip_prefix("Bearer ")
    }

    /// User and password of an `Authorization: Basic` header; `None` if absent or bad.
    pub fn basic(&self) -> Option<(String, String)> {
        let encoded = self.header("authorization")?.strip_prefix("Basic ")?;
        let text = String::from_utf8(base64_decode(encoded.trim())?).ok()?;
        let (user, password) = text.split_once(':')?;
        Some((user.to_owned(), password.to_owned()))
    }
}

/// One answer of the fake.
#[derive(Clone, Debug, Default)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// Headers to send; `content-length` and `connection: close` are always the server's.
    pub headers: Vec<(String, String)>,
    /// The body, sent verbatim.
    pub body: String,
    /// Wait this long before answering (no time at all under paused tokio time).
    pub delay: Duration,
    /// Never answer: the connection stays open until the test's runtime ends.
    pub hang: bool,
    /// Reset the connection (TCP RST) instead of answering.
    pub reset: bool,
}

impl Reply {
    fn typed(status: u16, content_type: &str, body: impl Into<String>) -> Self {
        let reply = Self {
            status,
            body: body.into(),
            ..Self::default()
        };
        reply.header("content-type", content_type)
    }

    /// A JSON answer (`content-type: application/json`).
    pub fn json(status: u16, body: impl Into<String>) -> Self {
        Self::typed(status, "application/json", body)
    }

    /// A plain-text answer (`content-type: text/plain; charset=utf-8`).
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self::typed(status, "text/plain; charset=utf-8", body)
    }

    /// An HTML answer, like the error page of a proxy in front of the API.
    pub fn html(status: u16, body: impl Into<String>) -> Self {
        Self::typed(status, "text/html; charset=utf-8", body)
    }

    /// An answer that never comes: the connection stays open until the runtime ends.
    pub fn hang() -> Self {
        Self {
            hang: true,
            ..Self::default()
        }
    }

    /// No answer at all: the connection is reset once the request has been read.
    pub fn reset() -> Self {
        Self {
            reset: true,
            ..Self::default()
        }
    }

    /// Sets header `name: value`, replacing any header of that name (whatever its case).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Answers after `delay`.
    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// The answer in `tests/fixtures/<dir>/<name>`: a line `HTTP <status>`, `Name: value`
    /// header lines, an empty line, then the body verbatim less one final newline.
    /// Panics, naming the file, when it is missing or malformed.
    pub fn fixture(dir: &str, name: &str) -> Self {
        let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "fixtures", dir, name]
            .iter()
            .collect();
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()));
        parse_fixture(&text, &path.display().to_string())
    }
}

fn parse_fixture(text: &str, origin: &str) -> Reply {
    let (head, body) = match text.split_once("\n\n") {
        Some((head, body)) => (head, body.strip_suffix('\n').unwrap_or(body)),
        None => panic!("fixture {origin}: no empty line between the head and the body"),
    };
    let mut lines = head.lines();
    let first = lines.next().unwrap_or_default();
    let status = first
        .strip_prefix("HTTP ")
        .and_then(|s| s.trim().parse::<u16>().ok());
    let status = status
        .unwrap_or_else(|| panic!("fixture {origin}: first line {first:?} is not `HTTP <status>`"));
    let headers = lines.map(|line| match line.split_once(':') {
        Some((k, v)) if !k.is_empty() && !k.contains(' ') => (k.to_owned(), v.trim().to_owned()),
        _ => panic!("fixture {origin}: {line:?} is not a `Name: value` header"),
    });
    Reply {
        status,
        headers: headers.collect(),
        body: body.to_owned(),
        ..Reply::default()
    }
}

type Handler = Arc<dyn Fn(&Call) -> Reply + Send + Sync>;

struct Route {
    method: String,
    pattern: String,
    handler: Handler,
}

#[derive(Default)]
struct Shared {
    routes: Vec<Route>,
    /// (method, pattern) pairs counted as writes although the method is GET or HEAD.
    write_marks: Vec<(String, String)>,
    /// (method, pattern) pairs counted as reads although the method is POST or another.
    read_marks: Vec<(String, String)>,
    calls: Vec<Call>,
}

/// The running fake API; clones share it. It stops with the test's runtime.
#[derive(Clone)]
pub struct FakeApi {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
}

impl FakeApi {
    /// Serves on a free port of 127.0.0.1, with no routes yet.
    pub async fn start() -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let api = Self {
            addr,
            shared: Arc::clone(&shared),
        };
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, Arc::clone(&shared)));
            }
        });
        api
    }

    /// The base URL, `http://127.0.0.1:<port>`, to give a provider in place of its API's.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers `method` requests on paths matching `pattern` with `reply`, every time.
    ///
    /// In a pattern each `*` segment matches one non-empty segment
    /// (`/client/v4/zones/*/dns_records`), and a final `/**` matches any rest, nothing
    /// included (`/u/**` matches `/u`, `/u/` and `/u/t/x`); the query is not matched.
    /// Routes are tried in the order first added; a route with the method and pattern of
    /// an earlier one takes its place.
    pub fn route(&self, method: &str, pattern: &str, reply: Reply) {
        self.route_fn(method, pattern, move |_| reply.clone());
    }

    /// Answers with what `handler` makes of each request; see [`FakeApi::route`].
    pub fn route_fn(
        &self,
        method: &str,
        pattern: &str,
        handler: impl Fn(&Call) -> Reply + Send + Sync + 'static,
    ) {
        check_pattern(pattern);
        let route = Route {
            method: method.to_owned(),
            pattern: pattern.to_owned(),
            handler: Arc::new(handler),
        };
        let mut shared = self.shared.lock().unwrap();
        let routes = &mut shared.routes;
        match routes
            .iter()
            .position(|r| r.method == method && r.pattern == pattern)
        {
            Some(i) => routes[i] = route,
            None => routes.push(route),
        }
    }

    /// Answers with `replies` in order, then the last one for ever; see
    /// [`FakeApi::route`]. Panics when `replies` is empty.
    pub fn route_script(&self, method: &str, pattern: &str, replies: Vec<Reply>) {
        assert!(
            !replies.is_empty(),
            "route_script {method} {pattern}: no replies"
        );
        let next = AtomicUsize::new(0);
        self.route_fn(method, pattern, move |_| {
            let i = next.fetch_add(1, Ordering::SeqCst).min(replies.len() - 1);
            replies[i].clone()
        });
    }

    /// Counts `method` requests on paths matching `pattern` as writes although the
    /// method is GET or HEAD (DuckDNS and token URLs update by GET).
    pub fn mark_write(&self, method: &str, pattern: &str) {
        check_pattern(pattern);
        let mark = (method.to_owned(), pattern.to_owned());
        self.shared.lock().unwrap().write_marks.push(mark);
    }

    /// Counts `method` requests on paths matching `pattern` as reads although the method
    /// is not GET or HEAD (Porkbun reads records by POST).
    pub fn mark_read(&self, method: &str, pattern: &str) {
        check_pattern(pattern);
        let mark = (method.to_owned(), pattern.to_owned());
        self.shared.lock().unwrap().read_marks.push(mark);
    }

    /// Every request so far, routed or not, in the order they were read.
    pub fn calls(&self) -> Vec<Call> {
        self.shared.lock().unwrap().calls.clone()
    }

    /// How many requests so far.
    pub fn count(&self) -> usize {
        self.shared.lock().unwrap().calls.len()
    }

    /// The requests so far that change something: all but GET and HEAD and those marked
    /// with [`FakeApi::mark_read`], and those marked with [`FakeApi::mark_write`].
    pub fn writes(&self) -> Vec<Call> {
        let shared = self.shared.lock().unwrap();
        let marked = |marks: &[(String, String)], call: &Call| {
            let mut marks = marks.iter();
            marks.any(|(m, p)| *m == call.method && path_matches(p, &call.path))
        };
        let is_write = |call: &&Call| {
            let read =
                matches!(call.method.as_str(), "GET" | "HEAD") || marked(&shared.read_marks, call);
            !read || marked(&shared.write_marks, call)
        };
        shared.calls.iter().filter(is_write).cloned().collect()
    }

    /// Forgets the requests recorded so far; routes and write marks stay.
    pub fn clear(&self) {
        self.shared.lock().unwrap().calls.clear();
    }
}

/// The texts that contain `secret`; a test asserts none of its captured logs, history,
/// notifications or error texts does.
pub fn leaks<'a>(secret: &str, texts: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    assert!(!secret.is_empty(), "an empty secret is in every text");
    let leaking = texts.into_iter().filter(|text| text.contains(secret));
    leaking.map(str::to_owned).collect()
}

fn check_pattern(pattern: &str) {
    let fixed = pattern.strip_suffix("/**").unwrap_or(pattern);
    assert!(
        pattern.starts_with('/') && !fixed.contains("**"),
        "route pattern {pattern:?}: must start with '/'; '**' only as a final '/**'"
    );
}

fn path_matches(pattern: &str, path: &str) -> bool {
    let (fixed, open) = match pattern.strip_suffix("/**") {
        Some(fixed) => (fixed, true),
        None => (pattern, false),
    };
    let (mut want, mut got) = (fixed.split('/'), path.split('/'));
    loop {
        match (want.next(), got.next()) {
            (None, None) => return true,
            (None, Some(_)) => return open,
            (Some(w), Some(g)) if w == g || (w == "*" && !g.is_empty()) => {}
            _ => return false,
        }
    }
}

/// Reads one request, records it, and answers as its route (or the 404) says.
async fn serve(mut stream: TcpStream, shared: Arc<Mutex<Shared>>) {
    let (mut buf, mut chunk) = (Vec::new(), [0u8; 8192]);
    let head_end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        match stream.read(&mut chunk).await {
            Ok(n) if n > 0 && buf.len() <= MAX_HEAD => buf.extend_from_slice(&chunk[..n]),
            _ => return,
        }
    };
    let mut call = parse_head(&String::from_utf8_lossy(&buf[..head_end]));
    let length = call
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok());
    let length = length.unwrap_or(0);
    if length <= MAX_BODY {
        let mut body = buf.split_off(head_end + 4);
        while body.len() < length {
            match stream.read(&mut chunk).await {
                Ok(n) if n > 0 => body.extend_from_slice(&chunk[..n]),
                _ => break,
            }
        }
        body.truncate(length);
        call.body = String::from_utf8_lossy(&body).into_owned();
    }
    let handler = {
        let mut shared = shared.lock().unwrap();
        shared.calls.push(call.clone());
        let mut routes = shared.routes.iter();
        let route =
            routes.find(|r| r.method == call.method && path_matches(&r.pattern, &call.path));
        route.map(|r| Arc::clone(&r.handler))
    };
    // The handler runs without the lock, so it may itself look at the fake.
    let reply = match handler {
        _ if length > MAX_BODY => Reply::text(413, format!("body of {length} bytes over 1 MiB")),
        Some(handler) => handler(&call),
        None => Reply::text(404, format!("no route for {} {}", call.method, call.path)),
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    if reply.hang {
        std::future::pending::<()>().await;
    }
    if reply.reset {
        // A zero linger turns the close into an RST, which is what a reset looks like.
        let _ = stream.set_zero_linger();
        return;
    }
    let mut out = format!("HTTP/1.1 {} Fake\r\n", reply.status);
    for (name, value) in &reply.headers {
        if !FRAMING.iter().any(|f| name.eq_ignore_ascii_case(f)) {
            let _ = write!(out, "{name}: {value}\r\n");
        }
    }
    let _ = write!(out, "content-length: {}\r\n", reply.body.len());
    out.push_str("connection: close\r\n\r\n");
    if call.method != "HEAD" {
        out.push_str(&reply.body);
    }
    let _ = stream.write_all(out.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn parse_head(head: &str) -> Call {
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let target = request_line.next().unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let pairs = query.split('&').filter(|pair| !pair.is_empty());
    let query = pairs.map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(k), decode(v))
    });
    let headers = lines.filter_map(|line| line.split_once(':'));
    Call {
        method,
        path: path.to_owned(),
        query: query.collect(),
        headers: headers
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect(),
        body: String::new(),
        at: tokio::time::Instant::now().into_std(),
    }
}

/// Percent-decodes a query component, reading `+` as a space; a `%` not followed by two
/// hex digits stays as it is.
fn decode(text: &str) -> String {
    let hex = |d: u8| {
        char::from(d)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    let bytes = text.as_bytes();
    let (mut out, mut i) = (Vec::with_capacity(bytes.len()), 0);
    while let Some(&b) = bytes.get(i) {
        let escaped = match (b, bytes.get(i + 1..i + 3)) {
            (b'%', Some(&[hi, lo])) => hex(hi).zip(hex(lo)).map(|(hi, lo)| (hi << 4) | lo),
            _ => None,
        };
        out.push(escaped.unwrap_or(if b == b'+' { b' ' } else { b }));
        i += if escaped.is_some() { 3 } else { 1 };
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Standard base64, padding optional; `None` on any other character.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let (mut out, mut acc, mut bits) = (Vec::new(), 0u32, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `request` as it is; returns the status and the whole answer.
    async fn send(api: &FakeApi, request: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(api.addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok());
        (status.unwrap_or(0), answer)
    }

    fn get(target: &str) -> String {
        format!("GET {target} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
    }

    #[test]
    fn a_star_matches_one_segment_and_a_final_double_star_any_rest() {
        let records = "/client/v4/zones/*/dns_records";
        assert!(path_matches(records, "/client/v4/zones/z1/dns_records"));
        assert!(!path_matches(records, "/client/v4/zones//dns_records"));
        assert!(!path_matches(records, "/client/v4/zones/a/b/dns_records"));
        assert!(!path_matches(records, "/client/v4/zones/z1/dns_records/r1"));
        assert!(path_matches("/u/**", "/u") && path_matches("/u/**", "/u/token/"));
        assert!(!path_matches("/u/**", "/update"));
        assert!(path_matches("/**", "/any/thing"));
    }

    #[tokio::test]
    async fn routes_go_in_order_and_an_unknown_one_is_a_recorded_404() {
        let api = FakeApi::start().await;
        api.route("GET", "/zones/*/records", Reply::json(200, "first"));
        api.route("GET", "/zones/**", Reply::text(200, "rest"));
        api.route("GET", "/zones/*/records", Reply::json(200, "second"));
        let (status, answer) = send(&api, &get("/zones/z1/records?type=A")).await;
        assert!(
            status == 200 && answer.ends_with("\r\n\r\nsecond"),
            "{answer}"
        );
        let (_, answer) = send(&api, &get("/zones/z1/other/x")).await;
        assert!(answer.ends_with("\r\n\r\nrest"), "{answer}");
        let (status, answer) = send(&api, &get("/update?d=a%2Cb&txt=two+words")).await;
        assert!(status == 404 && answer.ends_with("\r\n\r\nno route for GET /update"));
        let calls = api.calls();
        assert_eq!(calls.len(), 3);
        assert_eq!(calls[2].param("d"), Some("a,b"));
        assert_eq!(calls[2].param("txt"), Some("two words"));
    }

    #[tokio::test]
    async fn bodies_auth_and_writes_are_recorded() {
        let api = FakeApi::start().await;
        api.route("PATCH", "/zones/*/dns_records/*", Reply::json(200, "{}"));
        api.route("GET", "/update", Reply::text(200, "OK"));
        api.route("GET", "/ip", Reply::text(200, "192.0.2.1"));
        api.mark_write("GET", "/update");
        let body = r#"{"content":"192.0.2.1"}"#;
        let head = format!(
            "PATCH /zones/z/dns_records/r HTTP/1.1\r\nAuthorization: Bearer tok\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let mut stream = TcpStream::connect(api.addr).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        // Not a timing assertion: only so that the body likely arrives after the head.
        tokio::time::sleep(Duration::from_millis(20)).await;
        stream.write_all(body.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
        // base64 of "user:pa:ss": colons after the first belong to the password.
        send(
            &api,
            "GET /update HTTP/1.1\r\nauthorization: Basic dXNlcjpwYTpzcw==\r\n\r\n",
        )
        .await;
        send(&api, &get("/ip")).await;
        let calls = api.calls();
        assert_eq!(calls[0].body, body);
        assert!(calls[0].body_has("192.0.2.1"));
        assert_eq!(calls[0].header("content-type"), Some("application/json"));
        assert_eq!(calls[0].bearer(), Some("tok"));
        assert_eq!(calls[1].basic(), Some(("user".into(), "pa:ss".into())));
        let writes = api.writes();
        assert_eq!(
            writes.iter().map(|c| &*c.path).collect::<Vec<_>>(),
            ["/zones/z/dns_records/r", "/update"]
        );
        // A read by PATCH (as Porkbun reads by POST) is not a write once marked so.
        api.mark_read("PATCH", "/zones/*/dns_records/*");
        assert_eq!(
            api.writes().iter().map(|c| &*c.path).collect::<Vec<_>>(),
            ["/update"]
        );
        api.clear();
        assert_eq!(api.count(), 0);
    }

    #[tokio::test]
    async fn scripted_replies_come_in_order_then_the_last_repeats() {
        let api = FakeApi::start().await;
        let script = vec![
            Reply::text(503, "x"),
            Reply::text(201, "a"),
            Reply::text(202, "b"),
        ];
        api.route_script("GET", "/s", script);
        let mut statuses = Vec::new();
        for _ in 0..4 {
            statuses.push(send(&api, &get("/s")).await.0);
        }
        assert_eq!(statuses, [503, 201, 202, 202]);
    }

    #[tokio::test]
    async fn a_reset_closes_without_an_answer() {
        let api = FakeApi::start().await;
        api.route("GET", "/r", Reply::reset());
        let mut stream = TcpStream::connect(api.addr).await.unwrap();
        stream.write_all(get("/r").as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let read = stream.read_to_end(&mut answer).await;
        assert!(read.is_err() || answer.is_empty(), "{read:?}");
        assert_eq!(api.count(), 1);
    }

    #[tokio::test]
    async fn a_fixture_gives_status_headers_and_body() {
        let reply = Reply::fixture("selftest", "ok.http");
        assert_eq!(reply.status, 201);
        assert_eq!(reply.headers, [("X-Test".to_owned(), "yes".to_owned())]);
        assert_eq!(reply.body, r#"{"ok":true}"#);
        let api = FakeApi::start().await;
        api.route("POST", "/create", reply);
        let (status, answer) = send(&api, "POST /create HTTP/1.1\r\n\r\n").await;
        assert_eq!(status, 201);
        assert!(answer.contains("\r\nX-Test: yes\r\n"), "{answer}");
        assert!(answer.ends_with("\r\n\r\n{\"ok\":true}"), "{answer}");
    }

    #[test]
    #[should_panic(expected = "is not `HTTP <status>`")]
    fn a_fixture_without_a_status_line_panics() {
        parse_fixture("{\"ok\":true}\n\n", "inline");
    }

    #[test]
    fn leaks_lists_the_texts_holding_the_secret() {
        let texts = ["token=s3cret", "token=<redacted>", "s3cret"];
        assert_eq!(leaks("s3cret", texts), ["token=s3cret", "s3cret"]);
    }
}
