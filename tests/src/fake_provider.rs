//! A provider server on 127.0.0.1 for tests: records every request (method, path, query,
//! headers) and answers from a script of canned responses, fixed answers per path, or
//! (in [`FakeProvider::echo_good`] mode) a `good <myip>` line per name asked for.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One canned answer.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    /// Wait this long before answering (tests on paused time make this instant).
    pub delay: Duration,
    /// Never answer (the connection stays open until the test ends).
    pub hang: bool,
}

impl Reply {
    pub fn ok(body: &str) -> Self {
        Self {
            status: 200,
            body: body.into(),
            delay: Duration::ZERO,
            hang: false,
        }
    }

    pub fn hang() -> Self {
        Self {
            hang: true,
            ..Self::ok("")
        }
    }

    pub fn status(status: u16, body: &str) -> Self {
        Self {
            status,
            body: body.into(),
            delay: Duration::ZERO,
            hang: false,
        }
    }

    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// A request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    /// When its head had been read in full and parsed.
    pub at: std::time::Instant,
}

impl Seen {
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn header(&self, key: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// The names of a dyndns2 request.
    pub fn hostnames(&self) -> Vec<&str> {
        self.param("hostname")
            .map(|h| h.split(',').collect())
            .unwrap_or_default()
    }
}

#[derive(Default)]
struct Shared {
    script: VecDeque<Reply>,
    /// Used when the script is empty.
    fallback: Option<Reply>,
    /// Answers a dyndns2 request the script does not cover with `good <myip>` per name.
    echo_good: bool,
    /// Fixed answers by path, used before the script.
    routes: Vec<(String, Reply)>,
    seen: Vec<Seen>,
}

impl Shared {
    fn reply_to(&mut self, seen: &Seen, peer: IpAddr) -> Reply {
        if let Some((_, reply)) = self.routes.iter().find(|(path, _)| *path == seen.path) {
            return reply.clone();
        }
        if let Some(reply) = self.script.pop_front() {
            return reply;
        }
        if self.echo_good {
            return good_per_name(seen, peer);
        }
        self.fallback
            .clone()
            .unwrap_or_else(|| Reply::status(500, "no reply scripted"))
    }
}

/// `good <address>` once per name of the request, the address being `myip` or, as dyndns2
/// servers do without it, the caller's; `notfqdn` when no name was given.
fn good_per_name(seen: &Seen, peer: IpAddr) -> Reply {
    let names = seen.hostnames();
    if names.is_empty() {
        return Reply::ok("notfqdn");
    }
    let address = seen
        .param("myip")
        .map_or_else(|| peer.to_string(), str::to_owned);
    Reply::ok(&format!("good {address}\n").repeat(names.len()))
}

/// The running server; it stops with the test's runtime.
#[derive(Clone)]
pub struct FakeProvider {
    pub addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
}

impl FakeProvider {
    pub async fn start() -> Self {
        Self::start_on(0).await.unwrap()
    }

    /// Serves on 127.0.0.1:`port` (0: any free port; see [`FakeProvider::addr`]).
    pub async fn start_on(port: u16) -> std::io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Mutex::new(Shared::default()));
        let server = Self {
            addr,
            shared: Arc::clone(&shared),
        };
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, peer)) = listener.accept().await else {
                    break;
                };
                let shared = Arc::clone(&shared);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&buf).into_owned();
                    let seen = parse_head(&head);
                    let reply = {
                        let mut shared = shared.lock().unwrap();
                        let reply = shared.reply_to(&seen, peer.ip());
                        shared.seen.push(seen);
                        reply
                    };
                    if reply.hang {
                        std::future::pending::<()>().await;
                    }
                    if !reply.delay.is_zero() {
                        tokio::time::sleep(reply.delay).await;
                    }
                    let response = format!(
                        "HTTP/1.1 {} X\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
                        reply.status,
                        reply.body.len(),
                        reply.body
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Ok(server)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues answers, used in order.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.shared.lock().unwrap().script.extend(replies);
    }

    /// The answer when nothing is queued.
    pub fn always(&self, reply: Reply) {
        self.shared.lock().unwrap().fallback = Some(reply);
    }

    /// Answers every request the script does not cover as a dyndns2 server that accepts
    /// everything: one `good <myip>` line per name in `hostname` (the caller's address
    /// without `myip`). Takes precedence over [`FakeProvider::always`].
    pub fn echo_good(&self) {
        self.shared.lock().unwrap().echo_good = true;
    }

    /// Always answers requests for `path` (e.g. `/ip`) with `reply`, ahead of the script.
    pub fn route(&self, path: &str, reply: Reply) {
        let mut shared = self.shared.lock().unwrap();
        shared.routes.retain(|(p, _)| p != path);
        shared.routes.push((path.to_owned(), reply));
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.lock().unwrap().seen.clone()
    }

    pub fn count(&self) -> usize {
        self.shared.lock().unwrap().seen.len()
    }
}

fn parse_head(head: &str) -> Seen {
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect();
    let headers = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Seen {
        method,
        path: path.to_owned(),
        query,
        headers,
        at: std::time::Instant::now(),
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The Basic credentials of a request, decoded.
pub fn basic_auth(seen: &Seen) -> Option<(String, String)> {
    let value = seen.header("authorization")?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64_decode(encoded)?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_owned(), pass.to_owned()))
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = alphabet.iter().position(|&a| a == c)? as u32;
        bits = (bits << 6) | v;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    Some(out)
}
