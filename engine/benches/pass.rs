//! One engine pass over 1,000 records (50 dyndns accounts of 20 names) against the fake
//! provider on 127.0.0.1, which accepts everything. Prints figures; asserts only that
//! batching holds (at most 60 requests for a pass that changes everything).
//!
//!     nice -n 10 cargo bench -p dyntray-engine --bench pass
// A bench binary: standard output is where the figures go.
#![allow(clippy::print_stdout, clippy::expect_used)]

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dyntray_engine::detect::{Source, SourceError, SourceKind};
use dyntray_engine::engine::{self, EngineHandle, EngineOptions, PassReport};
use dyntray_engine::provider::{BoxFuture, IpFamily};
use dyntray_engine::secrets::{MemoryStore, Secret, SecretStore};
use dyntray_tests::fake_provider::FakeProvider;

const ACCOUNTS: usize = 50;
const RECORDS_PER_ACCOUNT: usize = 20;
const RECORDS: usize = ACCOUNTS * RECORDS_PER_ACCOUNT;
/// dyndns takes 20 names a request: one request per account when everything changes.
const EXPECTED_REQUESTS: usize = ACCOUNTS;
/// More than this means batching broke.
const MAX_REQUESTS: usize = 60;
const FIRST: &str = "81.2.69.160";
const SECOND: &str = "81.2.69.161";

/// The public address, set by hand.
struct Fixed(Mutex<IpAddr>);

impl Fixed {
    fn new(address: &str) -> Self {
        Self(Mutex::new(parse(address)))
    }

    fn set(&self, address: &str) {
        *self.0.lock().expect("address lock") = parse(address);
    }
}

fn parse(address: &str) -> IpAddr {
    address.parse().expect("a valid address")
}

impl Source for Fixed {
    fn label(&self) -> &str {
        "fixed"
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Manual
    }

    fn min_interval(&self) -> Duration {
        Duration::ZERO
    }

    fn ask(&self, _family: IpFamily) -> BoxFuture<'_, Result<Vec<IpAddr>, SourceError>> {
        let address = *self.0.lock().expect("address lock");
        Box::pin(async move { Ok(vec![address]) })
    }
}

fn account_id(a: usize) -> String {
    format!("acct{a:02}")
}

/// 50 accounts on the fake server, 20 A records each; secrets in the keychain (here a
/// `MemoryStore`).
fn config_text(server: &str) -> String {
    let mut text = String::from(
        "version = 1\n\n[general]\npoll_interval = \"5m\"\n\n[detect]\nipv4 = []\nipv6 = []\n\n",
    );
    for a in 0..ACCOUNTS {
        let id = account_id(a);
        text.push_str(&format!(
            "[[account]]\nid = \"{id}\"\nprovider = \"dyndns\"\nusername = \"user{a}\"\n\
             secret = \"keychain\"\nserver = \"{server}\"\n\n"
        ));
    }
    for a in 0..ACCOUNTS {
        let id = account_id(a);
        for r in 0..RECORDS_PER_ACCOUNT {
            text.push_str(&format!(
                "[[record]]\nname = \"h{r:02}.{id}.example.org\"\naccount = \"{id}\"\n\n"
            ));
        }
    }
    text
}

/// Runs one pass and prints its line; panics when batching broke or records failed.
async fn pass(
    engine: &EngineHandle,
    provider: &FakeProvider,
    label: &str,
    expect_requests: usize,
) -> PassReport {
    let before = provider.count();
    let start = Instant::now();
    let report = engine.run_once().await.expect("the pass runs");
    let elapsed = start.elapsed();
    let sent = provider.count() - before;
    println!(
        "{label:<28} requests {sent:>3} (engine: {:>3})  succeeded {:>4}  failed {:>4}  {:>8.1} ms",
        report.requests,
        report.succeeded.len(),
        report.failed.len(),
        elapsed.as_secs_f64() * 1000.0
    );
    assert!(
        sent <= MAX_REQUESTS,
        "{label}: {sent} requests for {RECORDS} records (at most {MAX_REQUESTS} expected, \
         {EXPECTED_REQUESTS} of {RECORDS_PER_ACCOUNT} names): batching is broken"
    );
    assert_eq!(
        sent, expect_requests,
        "{label}: unexpected number of requests"
    );
    assert!(
        report.failed.is_empty(),
        "{label}: records failed: {:?}",
        &report.failed[..report.failed.len().min(5)]
    );
    assert_eq!(
        report.succeeded.len(),
        RECORDS,
        "{label}: not every record succeeded"
    );
    report
}

/// The names per request seen since request `from`, for the batching check.
fn names_per_request(provider: &FakeProvider, from: usize) -> (usize, usize) {
    let seen = provider.seen();
    let sizes: Vec<usize> = seen[from..].iter().map(|s| s.hostnames().len()).collect();
    (
        sizes.iter().copied().min().unwrap_or(0),
        sizes.iter().copied().max().unwrap_or(0),
    )
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

async fn bench() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let provider = FakeProvider::start().await;
    provider.echo_good();
    let config_path = dir.path().join("config.toml");
    std::fs::write(&config_path, config_text(&provider.url())).expect("config written");
    let secrets = Arc::new(MemoryStore::new());
    for a in 0..ACCOUNTS {
        secrets
            .set(&account_id(a), &Secret::new(format!("pass-{a}")))
            .expect("secret stored");
    }
    let source = Arc::new(Fixed::new(FIRST));

    let start = Instant::now();
    let engine = engine::spawn(EngineOptions {
        config_path,
        state_dir: dir.path().join("state"),
        secrets,
        sources: Some(vec![source.clone()]),
        scheduled: false,
        watch_network: false,
        watch_config: false,
        clock_start: None,
        import_sources: Default::default(),
    })
    .expect("the engine starts");
    if let Some(error) = engine.status().config_error {
        panic!("the config is not usable: {error}");
    }
    println!(
        "{RECORDS} records in {ACCOUNTS} dyndns accounts; engine start (config + state) {:.1} ms",
        start.elapsed().as_secs_f64() * 1000.0
    );

    pass(&engine, &provider, "1. first pass", EXPECTED_REQUESTS).await;
    let (min, max) = names_per_request(&provider, 0);
    println!("   names per request: {min}..{max}");
    pass(&engine, &provider, "2. unchanged", 0).await;
    source.set(SECOND);
    let from = provider.count();
    pass(&engine, &provider, "3. address changed", EXPECTED_REQUESTS).await;
    let (min, max) = names_per_request(&provider, from);
    println!("   names per request: {min}..{max}");
    assert!(
        provider.seen()[from..]
            .iter()
            .all(|s| s.param("myip") == Some(SECOND)),
        "the third pass must publish {SECOND}"
    );

    engine.shutdown().await;
    match peak_rss_kib() {
        Some(kib) => println!(
            "peak RSS (VmHWM, whole process incl. fake server): {:.1} MiB",
            kib as f64 / 1024.0
        ),
        None => println!("peak RSS: /proc/self/status has no VmHWM"),
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument (or `--list`) is ignored.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // The runtime dyntrayd uses: one thread.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    runtime.block_on(bench());
}
