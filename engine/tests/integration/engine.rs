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
}

impl Manual {
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
            scheduled,
            clock_start: Some(clock_start),
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

#[tokio::test]
async fn a_crash_between_request_and_answer_never_resends() {
    let rig = Rig::new().await;
    rig.config("dyndns", &records(&["a.example.org"]));
    // The provider takes the request and has not answered when the engine dies.
    rig.provider.script([Reply::hang()]);
    {
        // The engine runs on its own runtime, which is torn down mid-request: a crash.
        let dir = rig.dir.path().to_path_buf();
        let (config, secrets, source) =
            (rig.config_path(), rig.secrets.clone(), rig.source.clone());
        let provider = rig.provider.clone();
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
                    clock_start: Some(1_800_000_000),
                })
                .unwrap();
                engine.check_now().await.unwrap();
                while provider.count() == 0 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            });
            drop(runtime);
        });
        let crashed = tokio::task::spawn_blocking(move || crashed_engine.join());
        crashed.await.unwrap().unwrap();
    }
    assert_eq!(rig.provider.count(), 1);
    let engine = rig.engine();
    let report = engine.run_once().await.unwrap();
    assert_eq!(
        report.requests, 0,
        "the address sent before the crash is not resent"
    );
    let status = engine.status();
    assert_eq!(status.records[0].address, Some(V4.parse().unwrap()));
    assert!(
        status.records[0]
            .note
            .as_deref()
            .unwrap()
            .contains("stopped before")
    );
    assert_eq!(
        engine.history(None, 1).await.unwrap()[0].classification,
        "unconfirmed"
    );
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
        refused.to_string().contains("allowed again at"),
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
        clock_start: Some(1_800_000_000),
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
    let rig = Rig::new().await;
    rig.config("dyndns", &records(&["a.example.org"]));
    rig.provider
        .always(Reply::ok(&format!("good {V4}\ngood {V4}")));
    let engine = rig.engine();
    let mut config = engine.config().await.unwrap();
    assert_eq!(config.records.len(), 1);

    // An option the provider lacks is refused with the problem's key; the file stays.
    let before = std::fs::read_to_string(rig.config_path()).unwrap();
    let mut bad = config.clone();
    bad.accounts[0].provider = "noip".into();
    bad.records[0].wildcard = Some(true);
    match engine.save_config(bad).await {
        Err(dyntray_engine::engine::EngineError::Invalid(problems)) => {
            assert_eq!(problems[0].key, "record[0].wildcard", "{problems:?}");
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert_eq!(std::fs::read_to_string(rig.config_path()).unwrap(), before);

    // A good edit is written and applied: the new name goes out.
    let mut added = config.records[0].clone();
    added.name = "b.example.org".into();
    config.records.push(added);
    engine.save_config(config).await.unwrap();
    let saved = std::fs::read_to_string(rig.config_path()).unwrap();
    assert!(saved.contains("b.example.org"));
    assert!(!saved.contains("s3cr3t"));
    assert_eq!(engine.status().records.len(), 2);
    let last = rig.provider.seen().pop().unwrap();
    assert_eq!(last.hostnames(), ["a.example.org", "b.example.org"]);
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
