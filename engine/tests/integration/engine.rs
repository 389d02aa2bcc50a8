//! The engine against a local provider server: the state machine, batching, back-off,
//! persistence across restarts and crashes, on paused Tokio time.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dyntray_engine::detect::{Source, SourceError, SourceKind};
use dyntray_engine::engine::{self, EngineHandle, EngineOptions, Phase};
use dyntray_engine::provider::{BoxFuture, IpFamily};
use dyntray_engine::secrets::{MemoryStore, Secret, SecretStore};

use dyntray_tests::fake_provider::{FakeProvider, Reply, basic_auth};

const V4: &str = "81.2.69.160";
const V4_NEW: &str = "81.2.69.161";
const V6: &str = "2a00:1450:4001:81b::200e";

/// An address source the test sets by hand.
#[derive(Default)]
pub struct Manual {
    addresses: Mutex<BTreeMap<IpFamily, Result<IpAddr, String>>>,
    asked: std::sync::atomic::AtomicUsize,
}

impl Manual {
    /// How many times the source was asked.
    pub fn asked(&self) -> usize {
        self.asked.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn set(&self, address: &str) {
        let ip: IpAddr = address.parse().unwrap();
        self.addresses
            .lock()
            .unwrap()
            .insert(IpFamily::of(ip), Ok(ip));
    }

    pub fn fail(&self, family: IpFamily, why: &str) {
        self.addresses
            .lock()
            .unwrap()
            .insert(family, Err(why.into()));
    }
}

impl Source for Manual {
    fn label(&self) -> &str {
        "manual"
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Manual
    }

    fn min_interval(&self) -> Duration {
        Duration::ZERO
    }

    fn ask(&self, family: IpFamily) -> BoxFuture<'_, Result<Vec<IpAddr>, SourceError>> {
        self.asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let result = self.addresses.lock().unwrap().get(&family).cloned();
        Box::pin(async move {
            match result {
                Some(Ok(ip)) => Ok(vec![ip]),
                Some(Err(e)) => Err(SourceError::new(e)),
                None => Err(SourceError::new("nothing set")),
            }
        })
    }
}

pub struct Rig {
    pub dir: tempfile::TempDir,
    pub provider: FakeProvider,
    pub source: Arc<Manual>,
    pub secrets: Arc<MemoryStore>,
}

impl Rig {
    pub async fn new() -> Self {
        let rig = Self {
            dir: tempfile::tempdir().unwrap(),
            provider: FakeProvider::start().await,
            source: Arc::new(Manual::default()),
            secrets: Arc::new(MemoryStore::new()),
        };
        rig.secrets
            .set("home", &Secret::new("s3cr3t-p@ss#word"))
            .unwrap();
        rig.source.set(V4);
        rig
    }

    pub fn config_path(&self) -> std::path::PathBuf {
        self.dir.path().join("config.toml")
    }

    /// Writes a config: one account `home` on `provider` at the fake server, plus `records`
    /// (TOML `[[record]]` tables).
    pub fn config(&self, provider: &str, records: &str) {
        let text = format!(
            "version = 1\n\n[general]\npoll_interval = \"5m\"\n\n[detect]\nipv4 = []\nipv6 = []\n\n\
             [[account]]\nid = \"home\"\nprovider = \"{provider}\"\nusername = \"alice\"\n\
             secret = \"keychain\"\nserver = \"{}\"\n\n{records}",
            self.provider.url()
        );
        std::fs::write(self.config_path(), text).unwrap();
    }

    pub fn engine_at(&self, scheduled: bool, clock_start: i64) -> EngineHandle {
        engine::spawn(EngineOptions {
            config_path: self.config_path(),
            state_dir: self.dir.path().join("state"),
            secrets: self.secrets.clone(),
            sources: Some(vec![self.source.clone()]),
            watch_network: false,
            watch_config: false,
            scheduled,
            clock_start: Some(clock_start),
            import_sources: dyntray_engine::import::Sources::under(self.dir.path().join("import")),
        })
        .unwrap()
    }

    pub fn engine(&self) -> EngineHandle {
        self.engine_at(false, 1_800_000_000)
    }
}

pub fn records(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("[[record]]\nname = \"{n}\"\naccount = \"home\"\n\n"))
        .collect()
}

fn phase(engine: &EngineHandle, name: &str) -> Phase {
    engine
        .status()
        .records
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no record {name}"))
        .phase
}

#[tokio::test(start_paused = true)]
async fn a_batch_goes_in_one_request_and_a_second_pass_sends_nothing() {
    let rig = Rig::new().await;
    rig.config(
        "dyndns",
        &records(&["a.example.org", "b.example.org", "c.example.org"]),
    );
    rig.provider
        .script([Reply::ok(&format!("good {V4}\ngood {V4}\ngood {V4}\n"))]);
    let engine = rig.engine();

    let report = engine.run_once().await.unwrap();
    assert_eq!(report.requests, 1);
    assert_eq!(report.succeeded.len(), 3, "{report:?}");
    let seen = rig.provider.seen();
    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    assert_eq!(request.method, "GET");
    assert_eq!(request.path, "/nic/update");
    assert_eq!(
        request.hostnames(),
        ["a.example.org", "b.example.org", "c.example.org"]
    );
    assert_eq!(request.param("myip"), Some(V4));
    assert_eq!(request.param("wildcard"), Some("NOCHG"));
    assert_eq!(request.param("mx"), Some("NOCHG"));
    assert_eq!(request.param("backmx"), None);
    assert_eq!(
        basic_auth(request),
        Some(("alice".into(), "s3cr3t-p@ss#word".into()))
    );
    let agent = request.header("user-agent").unwrap();
    assert!(agent.starts_with("Dyntray dyntray/"), "{agent}");
    assert!(agent.contains(dyntray_engine::VERSION));

    let again = engine.run_once().await.unwrap();
    assert_eq!(again.requests, 0);
    assert_eq!(rig.provider.count(), 1, "nothing is sent without a change");
    assert_eq!(phase(&engine, "a.example.org"), Phase::Ok);

    // A restart on the same state sends nothing either.
    engine.shutdown().await;
    let engine = rig.engine();
    assert_eq!(engine.run_once().await.unwrap().requests, 0);
    assert_eq!(rig.provider.count(), 1);

    // A real change is sent, once.
    rig.source.set(V4_NEW);
    rig.provider.script([Reply::ok(&format!(
        "good {V4_NEW}\ngood {V4_NEW}\ngood {V4_NEW}"
    ))]);
    assert_eq!(engine.run_once().await.unwrap().requests, 1);
    assert_eq!(rig.provider.seen()[1].param("myip"), Some(V4_NEW));
    assert_eq!(engine.run_once().await.unwrap().requests, 0);
}

#[tokio::test(start_paused = true)]
async fn batches_are_split_at_twenty_names() {
    let rig = Rig::new().await;
    let names: Vec<String> = (0..25).map(|i| format!("h{i}.example.org")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    rig.config("dyndns", &records(&refs));
    rig.provider.script([
        Reply::ok(&format!("good {V4}\n").repeat(20)),
        Reply::ok(&format!("good {V4}\n").repeat(5)),
    ]);
    let engine = rig.engine();
    let report = engine.run_once().await.unwrap();
    assert_eq!(report.requests, 2);
    let seen = rig.provider.seen();
    assert_eq!(seen[0].hostnames().len(), 20);
    assert_eq!(seen[1].hostnames().len(), 5);
    assert_eq!(report.succeeded.len(), 25);
}

#[tokio::test(start_paused = true)]
async fn badauth_disables_the_whole_account_until_the_secret_changes() {
    let rig = Rig::new().await;
    // Two batches on one account (different options).
    rig.config(
        "dyndns",
        &format!(
            "{}[[record]]\nname = \"w.example.org\"\naccount = \"home\"\nwildcard = true\n",
            records(&["a.example.org"])
        ),
    );
    rig.provider.script([Reply::ok("badauth")]);
    let engine = rig.engine();
    let mut events = engine.subscribe();
    let report = engine.run_once().await.unwrap();
    assert_eq!(
        report.requests, 1,
        "the account-level answer stops the second batch"
    );
    assert_eq!(phase(&engine, "a.example.org"), Phase::Disabled);
    assert_eq!(phase(&engine, "w.example.org"), Phase::Disabled);
    let status = engine.status();
    let disabled = status.records[0].disabled.clone().unwrap();
    assert_eq!(disabled.code, "badauth");
    assert_eq!(disabled.answer, "badauth");
    assert!(disabled.advice.contains("username or password"));
    // The window offers "Change password" from this, and names the provider as people do.
    assert_eq!(
        status.records[0].cure,
        Some(dyntray_engine::provider::Cure::Secret)
    );
    assert_eq!(status.records[0].provider_name, "DynDNS");
    match events.try_recv().unwrap() {
        dyntray_engine::engine::EngineEvent::Refused { code, names, .. } => {
            assert_eq!(code, "badauth");
            assert!(!names.is_empty());
        }
        other => panic!("expected Refused, got {other:?}"),
    }

    // Nothing more is sent, even on a change, even after a restart.
    rig.source.set(V4_NEW);
    assert_eq!(engine.run_once().await.unwrap().requests, 0);
    engine.shutdown().await;
    let engine = rig.engine();
    assert_eq!(engine.run_once().await.unwrap().requests, 0);
    assert_eq!(rig.provider.count(), 1);

    // A new secret re-enables the account's records and they are sent.
    rig.provider.always(Reply::ok(&format!("good {V4_NEW}")));
    engine
        .set_secret("home".into(), Secret::new("n3w-p@ss"))
        .await
        .unwrap();
    let seen = rig.provider.seen();
    assert_eq!(seen.len(), 3, "both batches go out with the new secret");
    assert_eq!(basic_auth(&seen[1]).unwrap().1, "n3w-p@ss");
    assert_eq!(phase(&engine, "a.example.org"), Phase::Ok);
}

#[tokio::test(start_paused = true)]
async fn provider_outage_waits_at_least_thirty_minutes_growing() {
    let rig = Rig::new().await;
    rig.config("dyndns", &records(&["a.example.org"]));
    rig.provider
        .script([Reply::ok("911"), Reply::status(503, "down")]);
    let engine = rig.engine();
    engine.run_once().await.unwrap();
    assert_eq!(phase(&engine, "a.example.org"), Phase::BackingOff);
    let first = engine.status().records[0].next_attempt_at.unwrap() - 1_800_000_000;
    assert!((1800..=1980).contains(&first), "first wait {first}s");

    tokio::time::advance(Duration::from_secs(29 * 60)).await;
    assert_eq!(engine.run_once().await.unwrap().requests, 0);
    tokio::time::advance(Duration::from_secs(5 * 60)).await;
    assert_eq!(engine.run_once().await.unwrap().requests, 1);
    assert_eq!(rig.provider.count(), 2);

    // The second failure waits longer (60 minutes and up).
    let now = 1_800_000_000 + 34 * 60;
    let second = engine.status().records[0].next_attempt_at.unwrap() - now;
    assert!((3600..=3960).contains(&second), "second wait {second}s");
    let history = engine.history(None, 10).await.unwrap();
    assert_eq!(history[0].classification, "transient");
    assert_eq!(history[0].answer, "HTTP 503: down");
    assert_eq!(history[1].answer, "911");
}

#[tokio::test(start_paused = true)]
async fn a_second_nochg_without_a_change_disables() {
    let rig = Rig::new().await;
    rig.config("dyndns", &records(&["a.example.org"]));
    rig.provider.always(Reply::ok(&format!("nochg {V4}")));
    let engine = rig.engine();
    // First start: nochg is acceptable.
    engine.run_once().await.unwrap();
    assert_eq!(phase(&engine, "a.example.org"), Phase::Ok);
    // The address changes, the provider says nochg: once is tolerated...
    rig.source.set(V4_NEW);
    rig.provider.always(Reply::ok(&format!("nochg {V4_NEW}")));
    engine.run_once().await.unwrap();
    assert_eq!(phase(&engine, "a.example.org"), Phase::Ok);
    rig.source.set(V4);
    rig.provider.always(Reply::ok(&format!("nochg {V4}")));
    engine.run_once().await.unwrap();
    // ...twice in a row is not.
    assert_eq!(phase(&engine, "a.example.org"), Phase::Disabled);
    assert_eq!(
        engine.status().records[0].disabled.as_ref().unwrap().code,
        "repeated-nochg"
    );
    rig.source.set(V4_NEW);
    assert_eq!(engine.run_once().await.unwrap().requests, 0);

    // The user re-enables it: it is sent again.
    rig.provider.always(Reply::ok(&format!("good {V4_NEW}")));
    engine.re_enable("a.example.org".into()).await.unwrap();
    assert_eq!(phase(&engine, "a.example.org"), Phase::Ok);
    assert_eq!(rig.provider.count(), 4);
}

#[tokio::test(start_paused = true)]
async fn record_level_fatal_answers_disable_only_that_record() {
    let rig = Rig::new().await;
    rig.config("dyndns", &records(&["a.example.org", "typo.example.org"]));
    rig.provider
        .script([Reply::ok(&format!("good {V4}\nnohost"))]);
    let engine = rig.engine();
    let report = engine.run_once().await.unwrap();
    assert_eq!(report.succeeded, ["home/a.example.org/A"]);
    assert_eq!(phase(&engine, "a.example.org"), Phase::Ok);
    assert_eq!(phase(&engine, "typo.example.org"), Phase::Disabled);

    // A change goes out for the healthy record only.
    rig.source.set(V4_NEW);
    rig.provider.script([Reply::ok(&format!("good {V4_NEW}"))]);
    engine.run_once().await.unwrap();
    assert_eq!(rig.provider.seen()[1].hostnames(), ["a.example.org"]);
}

/// Runs an engine on a runtime of its own and tears that runtime down (a crash, as far
/// as the state store can tell) once `crash_when` says so.
async fn crash_engine(rig: &Rig, crash_when: impl Fn(&EngineHandle) -> bool + Send + 'static) {
    let dir = rig.dir.path().to_path_buf();
    let (config, secrets, source) = (rig.config_path(), rig.secrets.clone(), rig.source.clone());
    let crashed_engine = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let engine = engine::spawn(EngineOptions {
                config_path: config,
                state_dir: dir.join("state"),
                secrets,
                sources: Some(vec![source]),
                scheduled: false,
                watch_network: false,
                watch_config: false,
                clock_start: Some(1_800_000_000),
                import_sources: Default::default(),
            })
            .unwrap();
            engine.check_now().await.unwrap();
            while !crash_when(&engine) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        drop(runtime);
    });
    let crashed = tokio::task::spawn_blocking(move || crashed_engine.join());
    crashed.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_crash_after_the_request_left_settles_it_once_at_start() {
    let rig = Rig::new().await;
    rig.config("dyndns", &records(&["a.example.org"]));
    // An earlier update went through, so a nochg from now on would count.
    rig.source.set(V4_NEW);
    rig.provider.script([Reply::ok(&format!("good {V4_NEW}"))]);
    let engine = rig.engine();
    assert_eq!(engine.run_once().await.unwrap().requests, 1);
    engine.shutdown().await;
    rig.source.set(V4);
    // The provider takes the next request and has not answered when the engine dies.
    rig.provider.script([Reply::hang()]);
    let provider = rig.provider.clone();
    crash_engine(&rig, move |_| provider.count() > 1).await;
    assert_eq!(rig.provider.count(), 2);

    // The provider may have it: sent once more at start, and its nochg is expected.
    rig.provider.script([Reply::ok(&format!("nochg {V4}"))]);
    let engine = rig.engine();
    let status = engine.status();
    assert_eq!(status.records[0].phase, Phase::Pending);
    assert!(
        status.records[0]
            .note
            .as_deref()
            .unwrap()
            .contains("sent once more"),
        "{:?}",
        status.records[0].note
    );
    let report = engine.run_once().await.unwrap();
    assert_eq!(report.requests, 1, "sent once at start to settle it");
    assert_eq!(rig.provider.seen()[2].param("myip"), Some(V4));
    assert_eq!(phase(&engine, "a.example.org"), Phase::Ok);
    let history = engine.history(None, 10).await.unwrap();
    let classes: Vec<&str> = history.iter().map(|h| h.classification.as_str()).collect();
    assert_eq!(classes, ["nochg", "interrupted", "success"]);
    assert!(history[1].answer.contains("sent once more at start"));

    // Settled: nothing more, and that nochg did not count towards disabling the record
    // (two nochg to changes in a row do).
    assert_eq!(engine.run_once().await.unwrap().requests, 0);
    rig.source.set(V4_NEW);
    rig.provider.script([Reply::ok(&format!("nochg {V4_NEW}"))]);
    assert_eq!(engine.run_once().await.unwrap().requests, 1);
    assert_eq!(
        phase(&engine, "a.example.org"),
        Phase::Ok,
        "one nochg to a real change is not yet abuse"
    );
}

#[tokio::test]
async fn a_crash_before_the_request_left_sends_it_after_restart() {
    let rig = Rig::new().await;
    // A server whose accept queue is full: a connection to it waits for its handshake,
    // as one to a slow TLS server does, and nothing of the request leaves.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let port = listener.local_addr().unwrap().port();
    let filler = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let text = format!(
        "version = 1\n\n[detect]\nipv4 = []\nipv6 = []\n\n[[account]]\nid = \"home\"\n\
         provider = \"dyndns\"\nusername = \"alice\"\nsecret = \"keychain\"\n\
         server = \"http://127.0.0.1:{port}\"\n\n{}",
        records(&["a.example.org"])
    );
    std::fs::write(rig.config_path(), text).unwrap();
    crash_engine(&rig, |engine| {
        engine.status().records.first().map(|r| r.phase) == Some(Phase::Updating)
    })
    .await;
    drop((filler, listener));

    // The same server, answering now.
    let provider = FakeProvider::start_on(port).await.unwrap();
    provider.script([Reply::ok(&format!("good {V4}"))]);
    let engine = rig.engine();
    let report = engine.run_once().await.unwrap();
    assert_eq!(report.requests, 1, "an update that never left is sent");
    assert_eq!(provider.seen()[0].param("myip"), Some(V4));
    assert_eq!(phase(&engine, "a.example.org"), Phase::Ok);
    let history = engine.history(None, 10).await.unwrap();
    let classes: Vec<&str> = history.iter().map(|h| h.classification.as_str()).collect();
    assert_eq!(classes, ["success", "not-sent"]);
    assert_eq!(engine.run_once().await.unwrap().requests, 0);
}

#[tokio::test]
async fn updates_use_the_https_proxy_only_for_remote_https() {
    use dyntray_engine::departure::Departure;
    use dyntray_engine::engine::ProxyEnv;
    use tokio::io::AsyncReadExt;
    // A proxy and a server, both on loopback: nothing leaves the machine (through a
    // proxy the client does not even resolve the remote name).
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = server.local_addr().unwrap().port();
    let env = ProxyEnv {
        https: Some(format!("http://{}", proxy.local_addr().unwrap())),
        no_proxy: None,
    };
    let client = engine::update_client_with(&Departure::default(), &env).expect("a client");
    let wait = Duration::from_secs(5);

    // HTTPS to a remote server: through the proxy, as a tunnel it cannot look into.
    let remote = tokio::spawn(
        client
            .get("https://members.example.org/nic/update?hostname=a")
            .timeout(wait)
            .send(),
    );
    let (mut tunnel, _) = tokio::time::timeout(wait, proxy.accept())
        .await
        .expect("the proxy was asked")
        .unwrap();
    let mut head = vec![0; 256];
    let n = tunnel.read(&mut head).await.unwrap();
    let head = String::from_utf8_lossy(&head[..n]).into_owned();
    assert!(
        head.starts_with("CONNECT members.example.org:443 "),
        "{head}"
    );
    assert!(!head.contains("hostname"), "{head}");
    drop(tunnel);
    let _ = remote.await;

    // Loopback, over HTTPS or plain HTTP, by address or by name: straight to the server.
    for url in [
        format!("https://127.0.0.1:{port}/"),
        format!("http://127.0.0.1:{port}/"),
        format!("https://localhost:{port}/"),
    ] {
        let request = tokio::spawn(client.get(&url).timeout(wait).send());
        let accepted = tokio::time::timeout(wait, server.accept()).await;
        assert!(accepted.is_ok(), "{url} did not reach the server");
        assert!(
            tokio::time::timeout(Duration::from_millis(200), proxy.accept())
                .await
                .is_err(),
            "{url} went through the proxy"
        );
        drop(accepted);
        request.abort();
    }
}

#[tokio::test(start_paused = true)]
async fn a_huge_wait_answer_is_cut_to_a_week_and_the_engine_lives_on() {
    // u64::MAX seconds overflowed the back-off and killed the engine's task; 2^63 wrapped
    // the timestamp into the past, so there was no back-off at all.
    for wait in ["w18446744073709551615", "w9223372036854775808"] {
        let rig = Rig::new().await;
        rig.config("dyndns", &records(&["a.example.org"]));
        rig.provider.script([Reply::ok(wait)]);
        let engine = rig.engine();
        let report = engine.run_once().await.unwrap();
        assert_eq!(report.requests, 1, "{wait}");
        let status = engine.status();
        let record = &status.records[0];
        assert_eq!(record.phase, Phase::BackingOff, "{wait}");
        let until = record.next_attempt_at.unwrap() - 1_800_000_000;
        let week = 7 * 24 * 3600;
        assert!(
            (week..=week + week / 10 + 1).contains(&until),
            "{wait}: waits {until} s"
        );
        assert_eq!(engine.run_once().await.unwrap().requests, 0, "{wait}");
        assert_eq!(rig.provider.count(), 1, "{wait}");
    }
}

#[tokio::test(start_paused = true)]
async fn sources_rest_while_no_record_can_be_sent() {
    let rig = Rig::new().await;
    rig.config("dyndns", &records(&["a.example.org"]));
    let engine = rig.engine_at(true, 1_800_000_000);

    // Backing off after a provider error: the polls in the next 30 minutes ask nothing.
    rig.provider.script([Reply::ok("911")]);
    engine.run_once().await.unwrap();
    assert_eq!(phase(&engine, "a.example.org"), Phase::BackingOff);
    let asked = rig.source.asked();
    tokio::time::sleep(Duration::from_secs(29 * 60)).await;
    assert_eq!(
        rig.source.asked(),
        asked,
        "asked while nothing could be sent"
    );
    // At the end of the back-off the address is checked at once, and sent.
    rig.provider.script([Reply::ok("badauth")]);
    let until = engine.status().records[0].next_attempt_at.unwrap();
    let left = (until - 1_800_000_000 - 29 * 60 + 1) as u64;
    tokio::time::sleep(Duration::from_secs(left)).await;
    assert_eq!(rig.source.asked(), asked + 1);
    assert_eq!(rig.provider.count(), 2);

    // Disabled: an hour of polls asks nothing; re-enabling checks at once.
    assert_eq!(phase(&engine, "a.example.org"), Phase::Disabled);
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(rig.source.asked(), asked + 1, "asked for a disabled record");
    rig.provider.script([Reply::ok(&format!("good {V4}"))]);
    engine.re_enable("a.example.org".into()).await.unwrap();
    assert_eq!(rig.source.asked(), asked + 2);
    assert_eq!(phase(&engine, "a.example.org"), Phase::Ok);
    // Healthy again: every poll asks.
    tokio::time::sleep(Duration::from_secs(301)).await;
    assert_eq!(rig.source.asked(), asked + 3);
}

#[tokio::test(start_paused = true)]
async fn provider_words_are_stored_as_text() {
    let rig = Rig::new().await;
    rig.config("dyndns", &records(&["a.example.org"]));
    // An answer that would clear a terminal, retitle it, and hide itself behind a CR.
    rig.provider
        .script([Reply::ok("badauth \x1b[2J\x1b]0;pwned\x07\rall fine")]);
    let engine = rig.engine();
    engine.run_once().await.unwrap();
    let status = engine.status();
    let disabled = status.records[0].disabled.clone().unwrap();
    let history = engine.history(None, 1).await.unwrap();
    for text in [
        disabled.answer.as_str(),
        status.records[0].last_answer.as_deref().unwrap(),
        history[0].answer.as_str(),
    ] {
        assert!(!text.chars().any(char::is_control), "{text:?}");
        assert!(
            text.contains("\\x1b[2J") && text.contains("\\r"),
            "{text:?}"
        );
    }
}

#[cfg(unix)]
#[tokio::test(start_paused = true)]
async fn a_fixed_secret_file_is_noticed_and_the_refused_records_go_again() {
    use std::os::unix::fs::PermissionsExt;
    let rig = Rig::new().await;
    let file = rig.dir.path().join("home.secret");
    std::fs::write(&file, "wrong-p@ss\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    rig.config("dyndns", &records(&["a.example.org", "b.example.org"]));
    let text = std::fs::read_to_string(rig.config_path()).unwrap().replace(
        "secret = \"keychain\"",
        &format!("secret = \"file:{}\"", file.display()),
    );
    std::fs::write(rig.config_path(), text).unwrap();
    rig.provider.script([Reply::ok("badauth")]);
    let engine = rig.engine();
    engine.run_once().await.unwrap();
    assert_eq!(phase(&engine, "a.example.org"), Phase::Disabled);

    // The same file: still refused, nothing sent, across a restart too.
    assert_eq!(engine.run_once().await.unwrap().requests, 0);
    engine.shutdown().await;
    let engine = rig.engine();
    assert_eq!(engine.run_once().await.unwrap().requests, 0);

    // The user fixes the file: noticed at the next check, without any command.
    std::fs::write(&file, "right-p@ss\n").unwrap();
    rig.provider
        .script([Reply::ok(&format!("good {V4}\ngood {V4}"))]);
    let report = engine.run_once().await.unwrap();
    assert_eq!(report.requests, 1);
    assert_eq!(basic_auth(&rig.provider.seen()[1]).unwrap().1, "right-p@ss");
    assert_eq!(phase(&engine, "a.example.org"), Phase::Ok);
    assert_eq!(phase(&engine, "b.example.org"), Phase::Ok);
    // The fingerprint is not the secret, nor any simple form of it.
    let db = std::fs::read(rig.dir.path().join("state/state.sqlite3")).unwrap();
    let db = String::from_utf8_lossy(&db);
    assert!(!db.contains("p@ss"));
}

#[tokio::test(start_paused = true)]
async fn status_without_a_running_engine_shows_what_is_stored() {
    let rig = Rig::new().await;
    rig.config("dyndns", &records(&["a.example.org"]));
    rig.provider.script([Reply::ok(&format!("good {V4}"))]);
    let engine = rig.engine();
    engine.run_once().await.unwrap();
    engine.shutdown().await;

    // Another engine that checks nothing (dyntrayd status with no instance running).
    let engine = rig.engine();
    let status = engine.status();
    let record = &status.records[0];
    assert_eq!(record.phase, Phase::Ok);
    assert_eq!(
        record.note, None,
        "a healthy record is not 'no address checked yet'"
    );
    assert_eq!(
        record.last_answer.as_deref(),
        Some(format!("good {V4}").as_str())
    );
    assert!(record.last_attempt_at.is_some());
    let address = status.addresses.first().expect("the stored address check");
    assert_eq!(address.family, "A");
    assert_eq!(address.address, Some(V4.parse().unwrap()));
    assert_eq!(address.checked_at, Some(1_800_000_000));
}

#[tokio::test(start_paused = true)]
async fn update_now_is_rate_limited_and_warns_about_unchanged_addresses() {
    let rig = Rig::new().await;
    rig.config("dyndns", &records(&["a.example.org"]));
    rig.provider.always(Reply::ok(&format!("good {V4}")));
    let engine = rig.engine();
    engine.run_once().await.unwrap();

    rig.provider.always(Reply::ok(&format!("nochg {V4}")));
    let report = engine
        .update_now(Some("a.example.org".into()))
        .await
        .unwrap();
    assert_eq!(report.sent, ["home/a.example.org/A"]);
    assert!(
        report.warnings[0].contains("counts against the account"),
        "{report:?}"
    );
    assert_eq!(rig.provider.count(), 2);
    assert_eq!(
        phase(&engine, "a.example.org"),
        Phase::Ok,
        "a forced nochg is fine"
    );

    let refused = engine
        .update_now(Some("a.example.org".into()))
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("try again in 10 minutes"),
        "{refused}"
    );
    assert_eq!(rig.provider.count(), 2);

    tokio::time::advance(Duration::from_secs(10 * 60)).await;
    engine
        .update_now(Some("a.example.org".into()))
        .await
        .unwrap();
    assert_eq!(rig.provider.count(), 3);
}

#[tokio::test(start_paused = true)]
async fn dyndns_is_touched_every_28_days_and_not_before() {
    let rig = Rig::new().await;
    rig.config("dyndns", &records(&["a.example.org"]));
    rig.provider.always(Reply::ok(&format!("good {V4}")));
    let engine = rig.engine();
    engine.run_once().await.unwrap();
    tokio::time::advance(Duration::from_secs(27 * 24 * 3600)).await;
    assert_eq!(engine.run_once().await.unwrap().requests, 0);
    tokio::time::advance(Duration::from_secs(24 * 3600)).await;
    rig.provider.always(Reply::ok(&format!("nochg {V4}")));
    assert_eq!(engine.run_once().await.unwrap().requests, 1);
    assert_eq!(phase(&engine, "a.example.org"), Phase::Ok);
    assert_eq!(engine.run_once().await.unwrap().requests, 0);
}

#[tokio::test(start_paused = true)]
async fn no_valid_address_means_no_update() {
    let rig = Rig::new().await;
    rig.config("dyndns", &records(&["a.example.org"]));
    rig.source.set("192.168.1.20");
    let engine = rig.engine();
    let report = engine.run_once().await.unwrap();
    assert_eq!(report.requests, 0);
    assert!(report.failed[0].1.contains("private"), "{report:?}");
    rig.source.fail(IpFamily::V4, "all echo services down");
    assert_eq!(engine.run_once().await.unwrap().requests, 0);
    assert_eq!(rig.provider.count(), 0);
    let status = engine.status();
    assert!(
        status.addresses[0]
            .error
            .as_deref()
            .unwrap()
            .contains("down")
    );
}

#[tokio::test(start_paused = true)]
async fn the_scheduler_checks_at_the_poll_interval() {
    let rig = Rig::new().await;
    rig.config("dyndns", &records(&["a.example.org"]));
    rig.provider.always(Reply::ok(&format!("good {V4}")));
    let engine = rig.engine_at(true, 1_800_000_000);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(rig.provider.count(), 1, "the first pass runs at start");
    rig.source.set(V4_NEW);
    rig.provider.always(Reply::ok(&format!("good {V4_NEW}")));
    tokio::time::sleep(Duration::from_secs(290)).await;
    assert_eq!(rig.provider.count(), 1, "not before the poll interval");
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert_eq!(rig.provider.count(), 2);
    engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn missing_secret_sends_nothing_and_says_which_account() {
    let rig = Rig::new().await;
    rig.config("dyndns", &records(&["a.example.org"]));
    rig.secrets.delete("home").unwrap();
    let engine = rig.engine();
    let report = engine.run_once().await.unwrap();
    assert_eq!(rig.provider.count(), 0);
    assert!(report.failed[0].1.contains("`home`"), "{report:?}");
    assert_eq!(phase(&engine, "a.example.org"), Phase::Error);
}

#[tokio::test(start_paused = true)]
async fn secrets_never_reach_history_or_status() {
    let rig = Rig::new().await;
    rig.config("dyndns", &records(&["a.example.org"]));
    // A server that echoes the password back in its error page.
    rig.provider
        .script([Reply::status(400, "bad request for alice:s3cr3t-p@ss#word")]);
    let engine = rig.engine();
    engine.run_once().await.unwrap();
    let history = engine.history(None, 10).await.unwrap();
    let text = format!("{history:?}{:?}", engine.status());
    assert!(!text.contains("s3cr3t"), "{text}");
    assert!(text.contains("[redacted]"));
}

#[tokio::test(start_paused = true)]
async fn going_offline_uses_the_providers_mode_or_the_offline_address() {
    let rig = Rig::new().await;
    rig.config(
        "dyndns",
        "[[record]]\nname = \"a.example.org\"\naccount = \"home\"\noffline_mode = true\n\n\
         [[record]]\nname = \"b.example.org\"\naccount = \"home\"\noffline_address = \"81.2.69.1\"\n",
    );
    rig.provider
        .always(Reply::ok(&format!("good {V4}\ngood {V4}")));
    let engine = rig.engine();
    engine.run_once().await.unwrap();
    let before = rig.provider.count();
    rig.provider
        .script([Reply::ok("good"), Reply::ok("good 81.2.69.1")]);
    engine.set_offline(true).await.unwrap();
    let seen = &rig.provider.seen()[before..];
    assert_eq!(seen.len(), 2);
    let offline = seen.iter().find(|s| s.param("offline").is_some()).unwrap();
    assert_eq!(offline.param("offline"), Some("YES"));
    assert_eq!(offline.param("myip"), None);
    assert_eq!(offline.hostnames(), ["a.example.org"]);
    let address = seen.iter().find(|s| s.param("myip").is_some()).unwrap();
    assert_eq!(address.param("myip"), Some("81.2.69.1"));
    assert_eq!(
        engine.status().summary,
        dyntray_engine::engine::Summary::Offline
    );

    // Back online: a normal update brings both back.
    rig.provider
        .always(Reply::ok(&format!("good {V4}\ngood {V4}")));
    engine.set_offline(false).await.unwrap();
    let seen = &rig.provider.seen()[before + 2..];
    assert_eq!(seen.len(), 1, "same address, same options: one request");
    assert_eq!(seen[0].param("myip"), Some(V4));
    assert_eq!(seen[0].param("offline"), None);
}

#[tokio::test(start_paused = true)]
async fn dual_stack_records_update_each_family() {
    let rig = Rig::new().await;
    rig.config(
        "dyndns",
        "[[record]]\nname = \"a.example.org\"\naccount = \"home\"\nfamily = \"both\"\n",
    );
    rig.source.set(V6);
    rig.provider.script([
        Reply::ok(&format!("good {V4}")),
        Reply::ok(&format!("good {V6}")),
    ]);
    let engine = rig.engine();
    let report = engine.run_once().await.unwrap();
    assert_eq!(report.requests, 2);
    let sent: Vec<String> = rig
        .provider
        .seen()
        .iter()
        .map(|s| s.param("myip").unwrap().to_owned())
        .collect();
    assert_eq!(sent, [V4, V6]);
}

#[tokio::test(start_paused = true)]
async fn timeouts_huge_answers_and_refused_connections_back_off_with_their_reason() {
    let rig = Rig::new().await;
    rig.config("dyndns", &records(&["a.example.org"]));
    rig.provider
        .script([Reply::ok("good").delayed(Duration::from_secs(120))]);
    let engine = rig.engine();
    engine.run_once().await.unwrap();
    let last = &engine.history(None, 1).await.unwrap()[0];
    assert_eq!(last.classification, "transient");
    assert!(last.answer.to_lowercase().contains("timed out"), "{last:?}");
    assert_eq!(phase(&engine, "a.example.org"), Phase::BackingOff);

    // An answer larger than the cap is not read to the end, and is no success.
    tokio::time::advance(Duration::from_secs(3 * 3600)).await;
    rig.provider.script([Reply::ok(&"x".repeat(70_000))]);
    engine.run_once().await.unwrap();
    let last = &engine.history(None, 1).await.unwrap()[0];
    assert_eq!(last.classification, "protocol");
    assert!(last.answer.contains("longer than 65536 bytes"), "{last:?}");
    engine.shutdown().await;

    // Nothing listening: nothing reached the provider, so the first retry may be sooner.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let text = std::fs::read_to_string(rig.config_path())
        .unwrap()
        .replace(&rig.provider.url(), &format!("http://127.0.0.1:{port}"));
    std::fs::write(rig.config_path(), text).unwrap();
    let rig2_state = tempfile::tempdir().unwrap();
    let engine = engine::spawn(EngineOptions {
        config_path: rig.config_path(),
        state_dir: rig2_state.path().to_path_buf(),
        secrets: rig.secrets.clone(),
        sources: Some(vec![rig.source.clone()]),
        scheduled: false,
        watch_network: false,
        watch_config: false,
        clock_start: Some(1_800_000_000),
        import_sources: Default::default(),
    })
    .unwrap();
    engine.run_once().await.unwrap();
    let status = engine.status();
    let wait = status.records[0].next_attempt_at.unwrap() - 1_800_000_000;
    assert!(
        (300..=330).contains(&wait),
        "first retry after a refused connection: {wait}s"
    );
}

#[tokio::test(start_paused = true)]
async fn config_edits_are_validated_saved_and_applied() {
    use dyntray_engine::config_edit::{ConfigEdit, RecordId};
    use dyntray_engine::engine::EngineError;
    let rig = Rig::new().await;
    rig.config("dyndns", &records(&["a.example.org"]));
    rig.provider
        .always(Reply::ok(&format!("good {V4}\ngood {V4}")));
    let engine = rig.engine();
    let read = engine.read_config().await.unwrap();
    assert_eq!(read.config.records.len(), 1);

    // An edit whose result is not a valid config is refused with the problem's key;
    // the file stays as it was.
    let before = std::fs::read_to_string(rig.config_path()).unwrap();
    let bad = read.config.records[0].clone();
    let mut broken = bad.clone();
    broken.name = "not a host name!".into();
    match engine
        .edit_config(
            read.revision.clone(),
            ConfigEdit::UpsertRecord {
                id: Some(RecordId {
                    account: "home".into(),
                    name: "a.example.org".into(),
                }),
                record: Box::new(broken),
            },
        )
        .await
    {
        Err(EngineError::Invalid(problems)) => {
            assert_eq!(problems[0].key, "record[0].name", "{problems:?}");
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    let revision = read.revision;
    assert_eq!(std::fs::read_to_string(rig.config_path()).unwrap(), before);

    // A good edit is written and applied: the new name goes out.
    let mut added = bad.clone();
    added.name = "b.example.org".into();
    engine
        .edit_config(
            revision,
            ConfigEdit::UpsertRecord {
                id: None,
                record: Box::new(added),
            },
        )
        .await
        .unwrap();
    let saved = std::fs::read_to_string(rig.config_path()).unwrap();
    assert!(saved.contains("b.example.org"));
    assert!(!saved.contains("s3cr3t"));
    assert_eq!(engine.status().records.len(), 2);
    let last = rig.provider.seen().pop().unwrap();
    assert_eq!(last.hostnames(), ["a.example.org", "b.example.org"]);
}

#[tokio::test(start_paused = true)]
async fn an_edit_never_reverts_a_change_made_since_the_form_was_read() {
    use dyntray_engine::config_edit::ConfigEdit;
    use dyntray_engine::engine::EngineError;
    let rig = Rig::new().await;
    rig.config("dyndns", &records(&["a.example.org"]));
    // The user's own comments, around and inside the tables.
    let hand = format!(
        "# Written by hand. Keep this.\n{}\n# A note at the end.\n",
        std::fs::read_to_string(rig.config_path())
            .unwrap()
            .replace("account = \"home\"\n", "account = \"home\"   # my line\n")
    );
    std::fs::write(rig.config_path(), &hand).unwrap();
    rig.provider.always(Reply::ok(&format!("good {V4}")));
    let engine = rig.engine();

    // Two windows open on the same file.
    let first = engine.read_config().await.unwrap();
    let second = engine.read_config().await.unwrap();
    // The first changes General.
    let after_general = engine
        .edit_config(
            first.revision.clone(),
            ConfigEdit::SetGeneral {
                key: "poll_interval".into(),
                value: "10m".into(),
            },
        )
        .await
        .unwrap();
    // The second, opened before, adds a name: refused, not a silent revert of 10m.
    let mut record = first.config.records[0].clone();
    record.name = "b.example.org".into();
    let add = |record: &dyntray_engine::config::Record| ConfigEdit::UpsertRecord {
        id: None,
        record: Box::new(record.clone()),
    };
    match engine.edit_config(second.revision, add(&record)).await {
        Err(EngineError::Stale(message)) => {
            assert!(message.contains("changed since you opened"), "{message}");
        }
        other => panic!("expected Stale, got {other:?}"),
    }
    let text = std::fs::read_to_string(rig.config_path()).unwrap();
    assert!(text.contains("poll_interval = \"10m\""), "{text}");
    assert!(!text.contains("b.example.org"));

    // The first window goes on from its new revision: both changes stay, and every
    // byte outside the edited tables is the user's.
    engine
        .edit_config(after_general, add(&record))
        .await
        .unwrap();
    let text = std::fs::read_to_string(rig.config_path()).unwrap();
    assert!(
        text.starts_with("# Written by hand. Keep this.\nversion = 1\n"),
        "{text}"
    );
    assert!(text.contains("account = \"home\"   # my line\n"), "{text}");
    assert!(text.contains("# A note at the end.\n"), "{text}");
    assert!(text.contains("poll_interval = \"10m\""));
    assert_eq!(engine.status().records.len(), 2);

    // A hand edit while a form is open: the form's next edit is refused too.
    let open = engine.read_config().await.unwrap();
    std::fs::write(
        rig.config_path(),
        format!("{text}# edited by hand meanwhile\n"),
    )
    .unwrap();
    let mut third = record.clone();
    third.name = "c.example.org".into();
    assert!(matches!(
        engine.edit_config(open.revision, add(&third)).await,
        Err(EngineError::Stale(_))
    ));
    let reread = engine.read_config().await.unwrap();
    engine
        .edit_config(reread.revision, add(&third))
        .await
        .unwrap();
    let text = std::fs::read_to_string(rig.config_path()).unwrap();
    assert!(text.contains("# edited by hand meanwhile\n"), "{text}");
    assert!(text.contains("c.example.org"));
}

#[tokio::test(start_paused = true)]
async fn the_address_sources_are_edited_like_a_hand_edit() {
    use dyntray_engine::config_edit::ConfigEdit;
    use dyntray_engine::engine::EngineError;
    let rig = Rig::new().await;
    rig.config("dyndns", &records(&["a.example.org"]));
    let hand = std::fs::read_to_string(rig.config_path())
        .unwrap()
        .replace("[detect]\n", "# Where my address comes from.\n[detect]\n")
        .replace("ipv6 = []\n", "ipv6 = []   # no IPv6 line here\n");
    std::fs::write(rig.config_path(), &hand).unwrap();
    let engine = rig.engine();
    let read = engine.read_config().await.unwrap();
    let edit = |ipv4: &[&str], ipv6: &[&str], agree| ConfigEdit::SetDetect {
        ipv4: ipv4.iter().map(|s| (*s).to_owned()).collect(),
        ipv6: ipv6.iter().map(|s| (*s).to_owned()).collect(),
        agree,
    };

    // Every bad source is named by its key, the registry's checks included; the file
    // stays as it was.
    match engine
        .edit_config(
            read.revision.clone(),
            edit(
                &["dns:opendns", "provider:nope", "http://checkip.example/"],
                &["provider:dyndns"],
                2,
            ),
        )
        .await
    {
        Err(EngineError::Invalid(problems)) => {
            let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
            assert_eq!(keys, ["detect.ipv4[2]", "detect.ipv6[0]"], "{problems:?}");
            assert!(
                problems[0].message.contains("plain http://"),
                "{problems:?}"
            );
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert_eq!(std::fs::read_to_string(rig.config_path()).unwrap(), hand);
    // Once the file's own rules hold, the provider registry's: an unknown provider.
    match engine
        .edit_config(
            read.revision.clone(),
            edit(&["dns:opendns", "provider:nope"], &[], 2),
        )
        .await
    {
        Err(EngineError::Invalid(problems)) => {
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert_eq!(problems[0].key, "detect.ipv4[1]");
            assert!(problems[0].message.contains("unknown provider `nope`"));
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert_eq!(std::fs::read_to_string(rig.config_path()).unwrap(), hand);

    // A good edit is written in place and is the config in force.
    let revision = engine
        .edit_config(
            read.revision.clone(),
            edit(&["provider:dyndns", "dns:google"], &["interface:eth0"], 1),
        )
        .await
        .unwrap();
    let text = std::fs::read_to_string(rig.config_path()).unwrap();
    assert!(
        text.contains("# Where my address comes from.\n[detect]\n"),
        "{text}"
    );
    assert!(
        text.contains("ipv4 = [\"provider:dyndns\", \"dns:google\"]\n"),
        "{text}"
    );
    assert!(
        text.contains("ipv6 = [\"interface:eth0\"]   # no IPv6 line here\n"),
        "{text}"
    );
    assert!(text.contains("agree = 1\n"), "{text}");
    let now = engine.read_config().await.unwrap();
    assert_eq!(now.revision, revision);
    assert!(now.config.detect.ipv6[0] == "interface:eth0");
    assert_eq!(now.config.detect.agree, 1);
    assert_eq!(
        engine.status().config_revision.as_deref(),
        Some(revision.as_str())
    );

    // Based on the revision before: refused, never merged.
    assert!(matches!(
        engine.edit_config(read.revision, edit(&[], &[], 1)).await,
        Err(EngineError::Stale(_))
    ));
    assert_eq!(std::fs::read_to_string(rig.config_path()).unwrap(), text);
}

#[tokio::test(start_paused = true)]
async fn no_address_for_a_while_is_reported_once() {
    let rig = Rig::new().await;
    rig.config("dyndns", &records(&["a.example.org"]));
    rig.source.fail(IpFamily::V4, "every echo service is down");
    let engine = rig.engine();
    let mut events = engine.subscribe();
    engine.run_once().await.unwrap();
    tokio::time::advance(Duration::from_secs(10 * 60)).await;
    engine.run_once().await.unwrap();
    assert!(
        events.try_recv().is_err(),
        "a short outage is not worth a notification"
    );
    tokio::time::advance(Duration::from_secs(5 * 60)).await;
    engine.run_once().await.unwrap();
    match events.try_recv() {
        Ok(dyntray_engine::engine::EngineEvent::NoAddress { reason }) => {
            assert!(reason.contains("down"), "{reason}");
        }
        other => panic!("expected NoAddress, got {other:?}"),
    }
    for _ in 0..3 {
        tokio::time::advance(Duration::from_secs(5 * 60)).await;
        engine.run_once().await.unwrap();
    }
    assert!(events.try_recv().is_err(), "told once, not on every check");
    assert_eq!(rig.provider.count(), 0);
}

// The config file is watched with inotify; Windows' watcher is not built yet.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_edits_reach_the_running_engine_and_a_bad_one_keeps_the_config() {
    let rig = Rig::new().await;
    rig.config("dyndns", &records(&["a.example.org"]));
    rig.provider
        .always(Reply::ok(&format!("good {V4}\ngood {V4}")));
    let engine = engine::spawn(EngineOptions {
        config_path: rig.config_path(),
        state_dir: rig.dir.path().join("state"),
        secrets: rig.secrets.clone(),
        sources: Some(vec![rig.source.clone()]),
        scheduled: true,
        watch_network: false,
        watch_config: true,
        clock_start: None,
        import_sources: Default::default(),
    })
    .unwrap();
    let mut events = engine.subscribe();
    let wait = |what: &str, ok: &dyn Fn(&dyntray_engine::engine::Status) -> bool| {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let status = engine.status();
            if ok(&status) {
                return status;
            }
            assert!(std::time::Instant::now() < deadline, "{what}: {status:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait("the first config", &|s| s.records.len() == 1);

    // A name added by hand, the way an editor saves: a new file renamed over the old.
    let good = format!(
        "{}[[record]]\nname = \"b.example.org\"\naccount = \"home\"\n",
        std::fs::read_to_string(rig.config_path()).unwrap()
    );
    let temp = rig.dir.path().join(".config.toml.swp");
    std::fs::write(&temp, &good).unwrap();
    std::fs::rename(&temp, rig.config_path()).unwrap();
    wait("the hand edit applied", &|s| s.records.len() == 2);

    // A broken edit: the running config stays, and the user is told what and where.
    std::fs::write(rig.config_path(), format!("{good}[[record]\n")).unwrap();
    let status = wait("the broken edit reported", &|s| s.config_warning.is_some());
    let warning = status.config_warning.unwrap();
    assert!(
        warning.contains("config.toml")
            && warning.contains("line")
            && warning.contains("stay in force"),
        "{warning}"
    );
    assert_eq!(status.records.len(), 2, "the running config stays");
    assert!(status.config_error.is_none());
    let told = loop {
        match tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
            Ok(Ok(dyntray_engine::engine::EngineEvent::ConfigRejected { message })) => {
                break message;
            }
            Ok(Ok(_)) => continue,
            other => panic!("no ConfigRejected event: {other:?}"),
        }
    };
    assert_eq!(told, warning);

    // Undone: the file is the one applied again, and the warning goes with the edit.
    std::fs::write(rig.config_path(), &good).unwrap();
    let status = wait("the broken edit undone", &|s| s.config_warning.is_none());
    assert_eq!(status.records.len(), 2);
    std::fs::write(rig.config_path(), format!("{good}[[record]\n")).unwrap();
    wait("broken again", &|s| s.config_warning.is_some());

    // Fixed: applied, and the warning goes.
    std::fs::write(
        rig.config_path(),
        format!("{good}[[record]]\nname = \"c.example.org\"\naccount = \"home\"\n"),
    )
    .unwrap();
    let status = wait("the fix applied", &|s| s.records.len() == 3);
    assert!(status.config_warning.is_none());
    engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn re_enabling_several_records_checks_once() {
    let rig = Rig::new().await;
    rig.config("dyndns", &records(&["a.example.org", "b.example.org"]));
    rig.provider.script([Reply::ok("badauth")]);
    let engine = rig.engine();
    engine.run_once().await.unwrap();
    assert_eq!(phase(&engine, "b.example.org"), Phase::Disabled);
    let asked = rig.source.asked();
    rig.provider
        .script([Reply::ok(&format!("good {V4}\ngood {V4}"))]);
    engine
        .re_enable_all(vec!["a.example.org".into(), "home/b.example.org/A".into()])
        .await
        .unwrap();
    assert_eq!(rig.source.asked(), asked + 1, "one check for both");
    assert_eq!(rig.provider.count(), 2, "one request for both");
    assert_eq!(phase(&engine, "a.example.org"), Phase::Ok);
    assert_eq!(phase(&engine, "b.example.org"), Phase::Ok);
    // A name that does not exist re-enables nothing.
    assert!(
        engine
            .re_enable_all(vec!["a.example.org".into(), "nosuch.example.org".into()])
            .await
            .is_err()
    );
}
