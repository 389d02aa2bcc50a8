//! Address detection through the real engine: echo services on 127.0.0.1 answering well
//! and badly, and the rule that no agreed, valid address means no update.

use std::sync::Arc;
use std::time::Duration;

use dyntray_engine::detect::{Detector, SourceSpec, SourceState};
use dyntray_engine::engine::{self, EngineHandle, EngineOptions};
use dyntray_engine::provider::IpFamily;
use dyntray_engine::secrets::{MemoryStore, Secret, SecretStore};
use dyntray_tests::fake_provider::{FakeProvider, Reply};

const V4: &str = "81.2.69.160";
const V4_NEW: &str = "81.2.69.161";

const CHECKIP_HTML: &str = "<html><head><title>Current IP Check</title></head>\
    <body>Current IP Address: 81.2.69.160</body></html>\r\n";

/// An echo server with one path per behaviour, and a provider that accepts everything.
struct Echoes {
    echo: FakeProvider,
    provider: FakeProvider,
    dir: tempfile::TempDir,
}

impl Echoes {
    async fn new() -> Self {
        let echo = FakeProvider::start().await;
        echo.route("/plain", Reply::ok(&format!("{V4}\n")));
        echo.route("/plain2", Reply::ok(V4));
        echo.route("/plain3", Reply::ok(&format!(" {V4} ")));
        echo.route("/new", Reply::ok(V4_NEW));
        echo.route("/new2", Reply::ok(V4_NEW));
        echo.route("/checkip", Reply::ok(CHECKIP_HTML));
        echo.route(
            "/html-no-address",
            Reply::ok("<html><body>Service busy, try later</body></html>"),
        );
        echo.route(
            "/html-two",
            Reply::ok("<p>Your address: 81.2.69.160, proxy 81.2.69.99</p>"),
        );
        echo.route("/empty", Reply::ok(""));
        echo.route("/huge", Reply::ok(&format!("{}{V4}", " ".repeat(5000))));
        echo.route("/error", Reply::status(500, "oops"));
        echo.route("/slow", Reply::ok(V4).delayed(Duration::from_secs(60)));
        echo.route("/private", Reply::ok("192.168.1.10"));
        echo.route("/private2", Reply::ok("192.168.1.10"));
        echo.route("/cgnat", Reply::ok("100.64.12.1"));
        echo.route("/v6", Reply::ok("2a00:1450:4001:81b::200e"));
        let provider = FakeProvider::start().await;
        provider.echo_good();
        Self {
            echo,
            provider,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.echo.url())
    }

    fn spec(&self, path: &str) -> SourceSpec {
        self.url(path).parse().unwrap()
    }

    /// A detector over echo paths, `agree` of them needed.
    fn detector(&self, paths: &[&str], agree: usize) -> Detector {
        let clients =
            dyntray_engine::detect::Clients::new(&engine::http_client().expect("an HTTP client"));
        let sources = paths
            .iter()
            .map(|p| dyntray_engine::detect::build(&self.spec(p), &clients).unwrap())
            .collect();
        Detector::new(sources, Vec::new(), agree)
    }

    /// The engine with a config whose IPv4 sources are `paths`, one record on the fake
    /// provider.
    fn engine(&self, paths: &[&str]) -> EngineHandle {
        self.start(paths, false)
    }

    /// The same, running on its timers (polls every 5 minutes).
    fn engine_scheduled(&self, paths: &[&str]) -> EngineHandle {
        self.start(paths, true)
    }

    fn start(&self, paths: &[&str], scheduled: bool) -> EngineHandle {
        let sources: Vec<String> = paths
            .iter()
            .map(|p| format!("\"{}\"", self.url(p)))
            .collect();
        let text = format!(
            "version = 1\n\n[detect]\nipv4 = [{}]\nipv6 = []\n\n\
             [[account]]\nid = \"home\"\nprovider = \"dyndns\"\nusername = \"alice\"\n\
             server = \"{}\"\n\n[[record]]\nname = \"home.example.org\"\naccount = \"home\"\n",
            sources.join(", "),
            self.provider.url()
        );
        let config = self.dir.path().join("config.toml");
        std::fs::write(&config, text).unwrap();
        let secrets = Arc::new(MemoryStore::new());
        secrets.set("home", &Secret::new("pw")).unwrap();
        engine::spawn(EngineOptions {
            config_path: config,
            state_dir: self.dir.path().join("state"),
            secrets,
            sources: None,
            scheduled,
            watch_network: false,
            watch_config: false,
            clock_start: Some(1_800_000_000),
            import_sources: Default::default(),
        })
        .unwrap()
    }
}

async fn first_answer(echoes: &Echoes, path: &str) -> Result<std::net::IpAddr, String> {
    let mut detector = echoes.detector(&[path], 1);
    detector.check(IpFamily::V4, false, 0).await.address
}

#[tokio::test]
async fn each_echo_answer_is_read_exactly() {
    let e = Echoes::new().await;
    assert_eq!(first_answer(&e, "/plain").await, Ok(V4.parse().unwrap()));
    assert_eq!(first_answer(&e, "/checkip").await, Ok(V4.parse().unwrap()));
    let why = |r: Result<std::net::IpAddr, String>| r.unwrap_err();
    assert!(
        why(first_answer(&e, "/html-no-address").await).contains("the answer holds no address")
    );
    assert!(
        why(first_answer(&e, "/html-two").await).contains("the answer holds 2 different addresses")
    );
    assert!(why(first_answer(&e, "/empty").await).contains("the answer is empty"));
    assert!(why(first_answer(&e, "/huge").await).contains("longer than 4096 bytes"));
    assert!(why(first_answer(&e, "/error").await).contains("HTTP 500"));
    assert!(why(first_answer(&e, "/private").await).contains("192.168.1.10 is a private address"));
    assert!(why(first_answer(&e, "/cgnat").await).contains("carrier-grade NAT"));
    assert!(
        why(first_answer(&e, "/v6").await)
            .contains("2a00:1450:4001:81b::200e is not an IPv4 address")
    );
    // The echo server saw a proper User-Agent.
    let seen = e.echo.seen();
    assert!(
        seen[0]
            .header("user-agent")
            .unwrap()
            .starts_with("Dyntray dyntray/")
    );
}

#[tokio::test(start_paused = true)]
async fn a_slow_source_is_given_up_and_the_next_one_asked() {
    let e = Echoes::new().await;
    let mut detector = e.detector(&["/slow", "/plain", "/checkip"], 2);
    let found = detector.check(IpFamily::V4, false, 0).await;
    assert_eq!(found.address, Ok(V4.parse().unwrap()));
    assert_eq!(found.sources[0].state, SourceState::Failed);
    assert_eq!(
        found.sources[0].error.as_deref(),
        Some("no answer within 5 s")
    );
    assert_eq!(found.agreed, [e.url("/plain"), e.url("/checkip")]);
}

/// Every bad-source case leads to no update at all; the status says why.
#[tokio::test(start_paused = true)]
async fn no_agreed_valid_address_means_no_update() {
    let cases: &[(&[&str], &str)] = &[
        (&["/html-no-address", "/plain"], "not enough sources agree"),
        (&["/empty", "/plain"], "the answer is empty"),
        (&["/error", "/plain"], "HTTP 500"),
        (&["/slow", "/plain"], "no answer within 5 s"),
        (
            &["/private", "/private2"],
            "192.168.1.10 is a private address",
        ),
        (&["/cgnat", "/plain"], "carrier-grade NAT"),
        (&["/v6", "/plain"], "is not an IPv4 address"),
        (&["/plain", "/new"], "the sources disagree"),
        (&["/html-two", "/checkip"], "holds 2 different addresses"),
    ];
    for (paths, reason) in cases {
        let e = Echoes::new().await;
        let engine = e.engine(paths);
        let report = engine.run_once().await.unwrap();
        assert_eq!(report.requests, 0, "{paths:?}");
        assert_eq!(
            e.provider.count(),
            0,
            "{paths:?}: nothing may reach the provider"
        );
        let status = engine.status();
        let v4 = status.addresses.iter().find(|a| a.family == "A").unwrap();
        assert_eq!(v4.address, None, "{paths:?}");
        let error = v4.error.as_deref().unwrap();
        assert!(error.contains(reason), "{paths:?}: {error}");
        // The record says why it is waiting.
        let note = status.records[0].note.as_deref().unwrap();
        assert!(note.contains(reason), "{paths:?}: {note}");
        engine.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn agreeing_sources_update_once_and_a_tie_is_broken() {
    let e = Echoes::new().await;
    let engine = e.engine(&["/plain", "/new", "/checkip"]);
    let report = engine.run_once().await.unwrap();
    assert_eq!(report.requests, 1);
    let seen = e.provider.seen();
    assert_eq!(seen[0].param("myip"), Some(V4));
    let status = engine.status();
    let v4 = status.addresses.iter().find(|a| a.family == "A").unwrap();
    assert_eq!(v4.agreed, [e.url("/plain"), e.url("/checkip")]);
    assert_eq!(v4.needed, 2);
    assert_eq!(v4.sources[1].state, SourceState::Answered);
    assert_eq!(v4.sources[1].address, Some(V4_NEW.parse().unwrap()));
    engine.shutdown().await;
}

/// The address changes; one source follows, the other fails right after the change: no
/// update until a second source confirms the new address.
#[tokio::test(start_paused = true)]
async fn a_source_failing_right_after_a_change_holds_the_update_back() {
    let e = Echoes::new().await;
    e.echo.route("/a", Reply::ok(V4));
    e.echo.route("/b", Reply::ok(V4));
    let engine = e.engine(&["/a", "/b"]);
    engine.run_once().await.unwrap();
    assert_eq!(e.provider.count(), 1);

    e.echo.route("/a", Reply::ok(V4_NEW));
    e.echo.route("/b", Reply::status(503, "maintenance"));
    tokio::time::advance(Duration::from_secs(60)).await;
    let report = engine.run_once().await.unwrap();
    assert_eq!(report.requests, 0);
    assert_eq!(e.provider.count(), 1, "no update on one source's word");
    let status = engine.status();
    let v4 = status.addresses.iter().find(|a| a.family == "A").unwrap();
    let error = v4.error.as_deref().unwrap();
    assert!(
        error.contains("not enough sources agree (1 of 2 needed)"),
        "{error}"
    );
    assert!(error.contains("HTTP 503"), "{error}");

    // The failing source is benched for five minutes; once back, it confirms.
    e.echo.route("/b", Reply::ok(V4_NEW));
    tokio::time::advance(Duration::from_secs(301)).await;
    engine.run_once().await.unwrap();
    assert_eq!(e.provider.count(), 2);
    assert_eq!(e.provider.seen()[1].param("myip"), Some(V4_NEW));
    engine.shutdown().await;
}

/// A network change makes the engine check, and an update follows only because the
/// address really changed; a change with the same address sends nothing.
#[tokio::test(start_paused = true)]
async fn a_network_change_checks_but_only_a_new_address_updates() {
    let e = Echoes::new().await;
    e.echo.route("/a", Reply::ok(V4));
    let engine = e.engine(&["/a"]);
    engine.run_once().await.unwrap();
    assert_eq!(e.provider.count(), 1);
    let asked = e.echo.count();

    let mut status = engine.watch_status();
    tokio::time::advance(Duration::from_secs(11)).await;
    engine.network_changed("address added on eth0".into()).await;
    status
        .wait_for(|s| {
            s.addresses
                .iter()
                .any(|a| a.trigger.as_deref() == Some("address added on eth0"))
        })
        .await
        .unwrap();
    assert_eq!(e.echo.count(), asked + 1, "the event made a check");
    assert_eq!(e.provider.count(), 1, "the same address: no update");

    e.echo.route("/a", Reply::ok(V4_NEW));
    tokio::time::advance(Duration::from_secs(11)).await;
    engine.network_changed("v0 went up".into()).await;
    status
        .wait_for(|s| s.records[0].address == Some(V4_NEW.parse().unwrap()))
        .await
        .unwrap();
    assert_eq!(e.provider.count(), 2);
    engine.shutdown().await;
}

/// A flapping link: after a burst of three, events fold into one check per 10 s.
#[tokio::test(start_paused = true)]
async fn network_events_in_a_burst_fold_into_spaced_checks() {
    let e = Echoes::new().await;
    e.echo.route("/a", Reply::ok(V4));
    let engine = e.engine_scheduled(&["/a"]);
    let mut status = engine.watch_status();
    status
        .wait_for(|s| s.records.first().is_some_and(|r| r.address.is_some()))
        .await
        .unwrap();
    let asked = e.echo.count();
    for i in 0..6 {
        engine.network_changed(format!("v0 went down ({i})")).await;
        tokio::time::advance(Duration::from_millis(500)).await;
    }
    // Let the engine finish what it was sent (paused time moves only when all wait).
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        e.echo.count(),
        asked + 3,
        "a burst of three at once, the rest folded"
    );
    tokio::time::advance(Duration::from_secs(8)).await;
    status
        .wait_for(|s| {
            s.addresses
                .iter()
                .any(|a| a.trigger.as_deref() == Some("v0 went down (5)"))
        })
        .await
        .unwrap();
    assert_eq!(
        e.echo.count(),
        asked + 4,
        "and one when a check was allowed again"
    );
    assert_eq!(e.provider.count(), 1);
    engine.shutdown().await;
}

/// Provider-owned check-IP services: written as `provider:<id>` they are the provider's own
/// URL; unknown providers or ones without a check-IP are config problems.
#[test]
fn provider_checkip_sources_are_checked_against_the_registry() {
    let config = dyntray_engine::config::Config::parse(
        "version = 1\n[detect]\nipv4 = [\"provider:dyndns\", \"provider:nope\", \"provider:rfc2136\", \
         \"https://checkip.dyndns.org\"]\n",
    )
    .unwrap();
    let problems = engine::check_against_registry(&config);
    let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(text.len(), 3, "{text:?}");
    assert!(text[0].contains("detect.ipv4[3]") && text[0].contains("the same service"));
    assert!(text[1].contains("detect.ipv4[1]") && text[1].contains("unknown provider `nope`"));
    assert!(text[2].contains("detect.ipv4[2]") && text[2].contains("has no check-IP service"));
}

/// An echo service on both stacks (like api.ipify.org's dual-stack cousins) is asked over
/// the family it is listed for: it sees, and answers, an address of that family.
#[tokio::test]
async fn an_echo_service_is_asked_over_the_family_it_is_listed_for() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // The same port on 127.0.0.1 and ::1, answering the caller's address.
    let mut pair = None;
    for _ in 0..50 {
        let v4 = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = v4.local_addr().unwrap().port();
        if let Ok(v6) = tokio::net::TcpListener::bind(("::1", port)).await {
            pair = Some((v4, v6));
            break;
        }
    }
    let (v4, v6) = pair.expect("no port free on both 127.0.0.1 and ::1 (is IPv6 loopback off?)");
    let port = v4.local_addr().unwrap().port();
    for listener in [v4, v6] {
        tokio::spawn(async move {
            while let Ok((mut stream, peer)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf).await;
                let body = peer.ip().to_string();
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(reply.as_bytes()).await;
            }
        });
    }
    let clients =
        dyntray_engine::detect::Clients::new(&engine::http_client().expect("an HTTP client"));
    let source = |host: &str| {
        let spec: SourceSpec = format!("http://{host}:{port}/").parse().unwrap();
        dyntray_engine::detect::build(&spec, &clients).unwrap()
    };
    let (on_v4, on_v6) = (source("127.0.0.1"), source("[::1]"));
    let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    // Each service saw (and answered) the caller's address of the family asked for...
    assert_eq!(on_v4.ask(IpFamily::V4).await.unwrap(), [ip("127.0.0.1")]);
    assert_eq!(on_v6.ask(IpFamily::V6).await.unwrap(), [ip("::1")]);
    // ...and a service is never reached over the other family.
    assert_eq!(
        on_v4.ask(IpFamily::V6).await.unwrap_err().0,
        "cannot connect"
    );
    assert_eq!(
        on_v6.ask(IpFamily::V4).await.unwrap_err().0,
        "cannot connect"
    );
}
