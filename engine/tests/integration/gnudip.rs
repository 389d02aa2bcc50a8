//! The GnuDIP family (`yiorg` over TCP, `gnudip` over HTTP) through the real engine, against
//! a GnuDIP server written here from the published protocol. The server checks the login
//! hash against the password it knows, the user, the domain, the request code and the
//! address, and answers as GnuDIP does; a script can force other answers.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use dyntray_engine::engine::{EngineEvent, EngineHandle, Phase, Summary};
use dyntray_engine::secrets::{Secret, SecretStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::engine::{Rig, records};

const V4: &str = "81.2.69.160";
const V4_NEW: &str = "81.2.69.161";
const USER: &str = "alice";
const CGI: &str = "/gnudip/cgi-bin/gdipupdt.cgi";

/// Salts the server hands out in turn, each with md5hex(md5hex(password) + "." + salt)
/// for the Rig's password `s3cr3t-p@ss#word`, computed outside Rust with coreutils:
/// `printf %s "$(printf %s 's3cr3t-p@ss#word' | md5sum | cut -d' ' -f1).$salt" | md5sum`.
const SALTS: &[(&str, &str)] = &[
    ("Xq7Lm2Pz9R", "61429f7dcb10667a14fbdc8c0c7e4f21"),
    ("aB3dE5gH7j", "bf54802671a87bd92c85234bb1254d3b"),
    ("Kp0Wn4Ty8u", "29d907c74bdaeaae7535f3d11f28f3ea"),
];

/// Domains the server serves.
const DOMAINS: &[&str] = &["yi.org", "example.net"];

/// One update request as the server saw it.
#[derive(Debug, Clone)]
struct Exchange {
    user: String,
    login_ok: bool,
    domain: String,
    reqc: String,
    addr: Option<String>,
    answer: String,
}

/// The fields of one update request.
struct Sent<'a> {
    salt: &'a str,
    user: &'a str,
    hash: &'a str,
    domain: &'a str,
    reqc: &'a str,
    addr: Option<&'a str>,
}

#[derive(Default)]
struct State {
    next_salt: usize,
    /// Answers that replace the server's own, in order (after its checks).
    script: VecDeque<String>,
    exchanges: Vec<Exchange>,
    /// HTTP: every request's path and query, in order.
    http_requests: Vec<(String, Vec<(String, String)>)>,
    /// HTTP: the (salt, time, sign) the salt page handed out.
    issued: Vec<(String, String, String)>,
}

impl State {
    fn salt(&mut self) -> (&'static str, &'static str) {
        let salt = SALTS[self.next_salt % SALTS.len()];
        self.next_salt += 1;
        salt
    }

    /// Judges one request as a GnuDIP server does and records it.
    fn judge(&mut self, sent: Sent<'_>, peer: IpAddr) -> String {
        let Sent {
            salt,
            user,
            hash,
            domain,
            reqc,
            addr,
        } = sent;
        let expected = SALTS.iter().find(|(s, _)| *s == salt).map(|(_, h)| *h);
        let login_ok = user == USER && expected == Some(hash) && DOMAINS.contains(&domain);
        let own = if !login_ok {
            "1".to_owned()
        } else {
            match (reqc, addr.map(str::parse::<IpAddr>)) {
                ("0", Some(Ok(_))) => "0".to_owned(),
                ("1", None) => "2".to_owned(),
                ("2", None) => format!("0:{peer}"),
                _ => "bad request".to_owned(),
            }
        };
        let answer = self.script.pop_front().unwrap_or(own);
        self.exchanges.push(Exchange {
            user: user.to_owned(),
            login_ok,
            domain: domain.to_owned(),
            reqc: reqc.to_owned(),
            addr: addr.map(str::to_owned),
            answer: answer.clone(),
        });
        answer
    }
}

/// A GnuDIP server on 127.0.0.1 speaking TCP or HTTP.
#[derive(Clone)]
struct GnuDipServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl GnuDipServer {
    async fn tcp() -> Self {
        let (server, listener) = Self::bind().await;
        let state = Arc::clone(&server.state);
        tokio::spawn(async move {
            while let Ok((stream, peer)) = listener.accept().await {
                tokio::spawn(serve_tcp(stream, peer.ip(), Arc::clone(&state)));
            }
        });
        server
    }

    async fn http() -> Self {
        let (server, listener) = Self::bind().await;
        let state = Arc::clone(&server.state);
        tokio::spawn(async move {
            while let Ok((stream, peer)) = listener.accept().await {
                tokio::spawn(serve_http(stream, peer.ip(), Arc::clone(&state)));
            }
        });
        server
    }

    async fn bind() -> (Self, TcpListener) {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let server = Self {
            addr: listener.local_addr().unwrap(),
            state: Arc::default(),
        };
        (server, listener)
    }

    fn script(&self, answer: &str) {
        self.state
            .lock()
            .unwrap()
            .script
            .push_back(answer.to_owned());
    }

    fn exchanges(&self) -> Vec<Exchange> {
        self.state.lock().unwrap().exchanges.clone()
    }
}

async fn serve_tcp(mut stream: TcpStream, peer: IpAddr, state: Arc<Mutex<State>>) {
    let (salt, _) = state.lock().unwrap().salt();
    stream
        .write_all(format!("{salt}\n").as_bytes())
        .await
        .unwrap();
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while stream.read(&mut byte).await.unwrap() == 1 && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    let line = String::from_utf8(line).unwrap();
    // user:hash:domain:reqc[:addr] (an IPv6 addr has colons of its own).
    let fields: Vec<&str> = line.splitn(5, ':').collect();
    let &[user, hash, domain, reqc, ..] = fields.as_slice() else {
        panic!("not a GnuDIP request line: {line:?}");
    };
    let sent = Sent {
        salt,
        user,
        hash,
        domain,
        reqc,
        addr: fields.get(4).copied(),
    };
    let answer = state.lock().unwrap().judge(sent, peer);
    stream
        .write_all(format!("{answer}\n").as_bytes())
        .await
        .unwrap();
    let _ = stream.shutdown().await;
}

async fn serve_http(mut stream: TcpStream, peer: IpAddr, state: Arc<Mutex<State>>) {
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8(head).unwrap();
    let target = head.split(' ').nth(1).unwrap();
    assert!(head.starts_with("GET "), "{head}");
    let agent = head
        .lines()
        .find_map(|l| l.strip_prefix("user-agent: "))
        .unwrap_or_default();
    assert!(agent.starts_with("Dyntray dyntray/"), "{head}");
    let url = url::Url::parse(&format!("http://127.0.0.1{target}")).unwrap();
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let param = |key: &str| {
        query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let (status, page) = if url.path() != CGI {
        (404, "<html><body>no such page</body></html>".to_owned())
    } else if query.is_empty() {
        let mut state = state.lock().unwrap();
        let (salt, _) = state.salt();
        let time = (1_800_000_000 + state.issued.len()).to_string();
        let sign = format!("sign-{salt}-{time}");
        state
            .issued
            .push((salt.to_owned(), time.clone(), sign.clone()));
        (
            200,
            format!(
                "<html><head><title>GnuDIP Update Server</title>\n\
                 <meta name=\"salt\" content=\"{salt}\">\n\
                 <meta name=\"time\" content=\"{time}\">\n\
                 <meta name=\"sign\" content=\"{sign}\">\n\
                 </head><body>salt</body></html>"
            ),
        )
    } else {
        let mut state = state.lock().unwrap();
        let (salt, time, sign) = (
            param("salt").unwrap(),
            param("time").unwrap(),
            param("sign").unwrap(),
        );
        assert!(
            state
                .issued
                .iter()
                .any(|(s, t, g)| s == salt && t == time && g == sign),
            "salt, time and sign come back as issued: {query:?}"
        );
        let sent = Sent {
            salt,
            user: param("user").unwrap(),
            hash: param("pass").unwrap(),
            domain: param("domn").unwrap(),
            reqc: param("reqc").unwrap(),
            addr: param("addr"),
        };
        let answer = state.judge(sent, peer);
        let (retc, addr) = answer.split_once(':').unwrap_or((&answer, ""));
        let addr_tag = if addr.is_empty() {
            String::new()
        } else {
            format!("<meta name=\"addr\" content=\"{addr}\">\n")
        };
        (
            200,
            format!(
                "<html><head><title>GnuDIP Update Server</title>\n\
                 <meta name=\"retc\" content=\"{retc}\">\n{addr_tag}\
                 </head><body>retc</body></html>"
            ),
        )
    };
    state
        .lock()
        .unwrap()
        .http_requests
        .push((url.path().to_owned(), query));
    let response = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: text/html\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{page}",
        page.len()
    );
    stream.write_all(response.as_bytes()).await.unwrap();
    let _ = stream.shutdown().await;
}

/// The two ways in: `yiorg` over TCP and `gnudip` over HTTP.
#[derive(Debug, Clone, Copy)]
enum Way {
    YiOrgTcp,
    GnuDipHttp,
}

const WAYS: [Way; 2] = [Way::YiOrgTcp, Way::GnuDipHttp];

impl Way {
    async fn server(self) -> GnuDipServer {
        match self {
            Self::YiOrgTcp => GnuDipServer::tcp().await,
            Self::GnuDipHttp => GnuDipServer::http().await,
        }
    }

    fn provider(self) -> &'static str {
        match self {
            Self::YiOrgTcp => "yiorg",
            Self::GnuDipHttp => "gnudip",
        }
    }

    fn server_url(self, addr: SocketAddr) -> String {
        match self {
            Self::YiOrgTcp => format!("gnudip://{addr}"),
            Self::GnuDipHttp => format!("http://{addr}{CGI}"),
        }
    }
}

/// Writes the Rig's config for `way`, pointing the account at `server`.
fn configure(rig: &Rig, way: Way, server: &str, records: &str) {
    rig.config(way.provider(), records);
    let text = std::fs::read_to_string(rig.config_path()).unwrap().replace(
        &format!("server = \"{}\"", rig.provider.url()),
        &format!("server = \"{server}\""),
    );
    assert!(text.contains(server));
    std::fs::write(rig.config_path(), text).unwrap();
}

async fn start(way: Way, records: &str) -> (Rig, GnuDipServer, EngineHandle) {
    let rig = Rig::new().await;
    let server = way.server().await;
    configure(&rig, way, &way.server_url(server.addr), records);
    let engine = rig.engine();
    assert_eq!(engine.status().config_error, None, "{way:?}");
    (rig, server, engine)
}

fn record<'a>(
    status: &'a dyntray_engine::engine::Status,
    name: &str,
) -> &'a dyntray_engine::engine::RecordStatus {
    status
        .records
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no record {name}"))
}

#[tokio::test(start_paused = true)]
async fn an_update_is_sent_once_and_a_second_pass_sends_nothing() {
    for way in WAYS {
        let (rig, server, engine) = start(way, &records(&["alice.yi.org"])).await;
        let report = engine.run_once().await.unwrap();
        assert_eq!(report.requests, 1, "{way:?}");
        assert_eq!(report.succeeded, ["home/alice.yi.org/A"], "{way:?}");
        let seen = server.exchanges();
        assert_eq!(seen.len(), 1, "{way:?}");
        assert_eq!(seen[0].user, USER);
        assert!(seen[0].login_ok, "{way:?}: the hash matches the password");
        assert_eq!(seen[0].domain, "yi.org");
        assert_eq!(seen[0].reqc, "0");
        assert_eq!(seen[0].addr.as_deref(), Some(V4));
        let status = engine.status();
        assert_eq!(record(&status, "alice.yi.org").phase, Phase::Ok, "{way:?}");

        // Nothing more without a change.
        assert_eq!(engine.run_once().await.unwrap().requests, 0, "{way:?}");
        assert_eq!(server.exchanges().len(), 1);

        // A change is sent once, with the new address.
        rig.source.set(V4_NEW);
        assert_eq!(engine.run_once().await.unwrap().requests, 1);
        assert_eq!(engine.run_once().await.unwrap().requests, 0);
        let seen = server.exchanges();
        assert_eq!(seen.len(), 2, "{way:?}");
        assert_eq!(seen[1].addr.as_deref(), Some(V4_NEW));
        assert!(seen[1].login_ok, "{way:?}: a fresh salt, a fresh hash");
        engine.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn http_asks_for_the_salt_page_then_sends_the_hash_never_the_password() {
    let (_rig, server, engine) = start(Way::GnuDipHttp, &records(&["alice.yi.org"])).await;
    engine.run_once().await.unwrap();
    let requests = server.state.lock().unwrap().http_requests.clone();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0], (CGI.to_owned(), vec![]));
    let (path, query) = &requests[1];
    assert_eq!(path, CGI);
    let keys: Vec<&str> = query.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "salt", "time", "sign", "user", "pass", "domn", "reqc", "addr"
        ]
    );
    assert_eq!(query[4].1, SALTS[0].1);
    assert!(!format!("{query:?}").contains("s3cr3t"));
}

#[tokio::test(start_paused = true)]
async fn a_wrong_password_disables_the_whole_account_until_the_secret_changes() {
    for way in WAYS {
        let (rig, server, engine) =
            start(way, &records(&["alice.yi.org", "alice.example.net"])).await;
        rig.secrets
            .set("home", &Secret::new("not-the-password"))
            .unwrap();
        let mut events = engine.subscribe();
        let report = engine.run_once().await.unwrap();
        assert_eq!(
            report.requests, 1,
            "{way:?}: the account-level refusal stops the other name"
        );
        let seen = server.exchanges();
        assert!(!seen[0].login_ok);
        assert_eq!(seen[0].answer, "1");
        let status = engine.status();
        for name in ["alice.yi.org", "alice.example.net"] {
            let record = record(&status, name);
            assert_eq!(record.phase, Phase::Disabled, "{way:?} {name}");
            let disabled = record.disabled.as_ref().unwrap();
            assert_eq!(disabled.code, "badauth", "{way:?}");
            assert!(disabled.advice.contains("password"), "{disabled:?}");
            assert!(disabled.answer.contains('1'), "{disabled:?}");
        }
        let disabled = record(&status, "alice.yi.org").disabled.clone().unwrap();
        match way {
            // yi.org also reports an unknown or non-primary host as a refused login.
            Way::YiOrgTcp => assert!(disabled.advice.contains("Primary"), "{disabled:?}"),
            Way::GnuDipHttp => assert!(!disabled.advice.contains("Primary"), "{disabled:?}"),
        }
        assert!(matches!(
            events.try_recv(),
            Ok(EngineEvent::Refused { code, .. }) if code == "badauth"
        ));

        // Nothing is sent while disabled, even on a change.
        rig.source.set(V4_NEW);
        assert_eq!(engine.run_once().await.unwrap().requests, 0);
        assert_eq!(server.exchanges().len(), 1);

        // The right password re-enables both names and they go out.
        engine
            .set_secret("home".into(), Secret::new("s3cr3t-p@ss#word"))
            .await
            .unwrap();
        let seen = server.exchanges();
        assert_eq!(seen.len(), 3, "{way:?}");
        assert!(seen[1..].iter().all(|e| e.login_ok && e.answer == "0"));
        let mut domains: Vec<&str> = seen[1..].iter().map(|e| e.domain.as_str()).collect();
        domains.sort_unstable();
        assert_eq!(domains, ["example.net", "yi.org"]);
        let status = engine.status();
        assert!(status.records.iter().all(|r| r.phase == Phase::Ok));
        engine.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_name_not_of_the_user_domain_form_is_disabled_with_the_hint() {
    for way in WAYS {
        let (_rig, server, engine) = start(way, &records(&["bob.yi.org", "alice.yi.org"])).await;
        engine.run_once().await.unwrap();
        let seen = server.exchanges();
        assert_eq!(seen.len(), 1, "{way:?}: only the well-formed name is sent");
        assert_eq!(seen[0].domain, "yi.org");
        let status = engine.status();
        assert_eq!(record(&status, "alice.yi.org").phase, Phase::Ok);
        let bad = record(&status, "bob.yi.org");
        assert_eq!(bad.phase, Phase::Disabled, "{way:?}");
        let disabled = bad.disabled.as_ref().unwrap();
        assert_eq!(disabled.code, "bad-name");
        assert!(disabled.advice.contains("`alice.`"), "{disabled:?}");
        match way {
            Way::YiOrgTcp => assert!(
                disabled
                    .advice
                    .contains("must first exist and be marked \"Primary\""),
                "{disabled:?}"
            ),
            Way::GnuDipHttp => assert!(!disabled.advice.contains("Primary")),
        }
        engine.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn unknown_codes_back_off_and_are_shown_verbatim() {
    for (way, code, shown) in [
        (Way::YiOrgTcp, "7", "7"),
        (Way::GnuDipHttp, "42", "retc 42"),
        (
            Way::YiOrgTcp,
            "0:81.2.69.99",
            "0:81.2.69.99 (sent 81.2.69.160)",
        ),
    ] {
        let (_rig, server, engine) = start(way, &records(&["alice.yi.org"])).await;
        server.script(code);
        engine.run_once().await.unwrap();
        let status = engine.status();
        let record = record(&status, "alice.yi.org");
        assert_eq!(record.phase, Phase::BackingOff, "{way:?} {code}");
        assert_eq!(record.disabled, None);
        let wait = record.next_attempt_at.unwrap() - 1_800_000_000;
        assert!((1800..=1980).contains(&wait), "{way:?} {code}: {wait}s");
        let last = &engine.history(None, 1).await.unwrap()[0];
        assert_eq!(last.classification, "protocol", "{way:?} {code}");
        assert_eq!(last.answer, shown, "{way:?}");
        engine.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn going_offline_sends_request_code_1_and_coming_back_sends_the_address() {
    for way in WAYS {
        let (_rig, server, engine) = start(
            way,
            "[[record]]\nname = \"alice.yi.org\"\naccount = \"home\"\noffline_mode = true\n",
        )
        .await;
        engine.run_once().await.unwrap();
        engine.set_offline(true).await.unwrap();
        let seen = server.exchanges();
        assert_eq!(seen.len(), 2, "{way:?}");
        assert_eq!(seen[1].reqc, "1");
        assert_eq!(seen[1].addr, None);
        assert_eq!(seen[1].answer, "2");
        assert_eq!(engine.status().summary, Summary::Offline, "{way:?}");

        engine.set_offline(false).await.unwrap();
        let seen = server.exchanges();
        assert_eq!(seen.len(), 3, "{way:?}");
        assert_eq!(seen[2].reqc, "0");
        assert_eq!(seen[2].addr.as_deref(), Some(V4));
        assert_eq!(engine.status().records[0].phase, Phase::Ok);
        engine.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_server_not_listening_is_transient_and_retried_sooner() {
    for way in WAYS {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = closed.local_addr().unwrap();
        drop(closed);
        let rig = Rig::new().await;
        configure(
            &rig,
            way,
            &way.server_url(addr),
            &records(&["alice.yi.org"]),
        );
        let engine = rig.engine();
        engine.run_once().await.unwrap();
        let status = engine.status();
        assert_eq!(status.records[0].phase, Phase::BackingOff, "{way:?}");
        let wait = status.records[0].next_attempt_at.unwrap() - 1_800_000_000;
        assert!(
            (300..=330).contains(&wait),
            "{way:?}: nothing reached the server, first retry after {wait}s"
        );
        let last = &engine.history(None, 1).await.unwrap()[0];
        assert_eq!(last.classification, "transient");
        engine.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_server_that_never_sends_its_salt_times_out() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let rig = Rig::new().await;
    configure(
        &rig,
        Way::YiOrgTcp,
        &format!("gnudip://{addr}"),
        &records(&["alice.yi.org"]),
    );
    let engine = rig.engine();
    engine.run_once().await.unwrap();
    let last = &engine.history(None, 1).await.unwrap()[0];
    assert_eq!(last.classification, "transient");
    assert!(
        last.answer.contains("timed out after 30 seconds"),
        "{last:?}"
    );
    let wait = engine.status().records[0].next_attempt_at.unwrap() - 1_800_000_000;
    // Answered 30 s in, then a full back-off: the request may have arrived.
    assert!((1830..=2010).contains(&wait), "{wait}s");
}

#[tokio::test(start_paused = true)]
async fn yiorg_records_are_ipv4_only() {
    let rig = Rig::new().await;
    configure(
        &rig,
        Way::YiOrgTcp,
        "gnudip://127.0.0.1:9",
        "[[record]]\nname = \"alice.yi.org\"\naccount = \"home\"\nfamily = \"AAAA\"\n",
    );
    let engine = rig.engine();
    let error = engine.status().config_error.unwrap();
    assert!(
        error.contains("yi.org updates IPv4 (A) records only"),
        "{error}"
    );
}
