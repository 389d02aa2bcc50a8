//! Checking a large config: `Config::parse` and `check_against_registry` on files of
//! 1,000 to 10,000 records (10 records an account), and the engine loading the largest.
//! Prints the time of each size and the time per record, which stays flat when checking
//! is linear (it was quadratic: a 479 KB file took 10 s). Asserts only that the files
//! are valid.
//!
//!     nice -n 10 cargo bench -p dyntray-engine --bench config
// A bench binary: standard output is where the figures go.
#![allow(clippy::print_stdout, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use dyntray_engine::config::Config;
use dyntray_engine::engine::{self, EngineOptions};
use dyntray_engine::secrets::MemoryStore;

const PER_ACCOUNT: usize = 10;

fn config_text(records: usize) -> String {
    let mut text = String::from(
        "version = 1\n\n# A large hand-written file.\n[general]\npoll_interval = \"5m\"\n\n\
         [detect]\nipv4 = [\"https://api.ipify.org\", \"dns:opendns\"]\nipv6 = []\n\n",
    );
    for account in 0..records.div_ceil(PER_ACCOUNT) {
        text.push_str(&format!(
            "[[account]]\nid = \"acct{account}\"\nprovider = \"dyndns\"\n\
             username = \"user{account}\"\nsecret = \"keychain\"\n\n"
        ));
    }
    for record in 0..records {
        text.push_str(&format!(
            "[[record]]\nname = \"host{record}.example.org\"\naccount = \"acct{}\"\n\
             wildcard = true   # comment\nmx = \"mail.example.org\"\n\n",
            record / PER_ACCOUNT
        ));
    }
    text
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    println!("records  bytes     parse+check (median of 5)  per record");
    for records in [1_000, 2_500, 5_000, 10_000] {
        let text = config_text(records);
        let times: Vec<Duration> = (0..5)
            .map(|_| {
                let start = Instant::now();
                let config = Config::parse(&text).expect("the generated config is valid");
                let problems = engine::check_against_registry(&config);
                assert!(problems.is_empty(), "{problems:?}");
                assert_eq!(config.records.len(), records);
                start.elapsed()
            })
            .collect();
        let time = median(times);
        println!(
            "{records:>7}  {:>8}  {:>10.1} ms                {:>6.1} µs",
            text.len(),
            time.as_secs_f64() * 1000.0,
            time.as_secs_f64() * 1e6 / records as f64
        );
    }

    // The engine reading the largest file at start (parse, check, apply, one state row
    // per record): what a hand edit costs the running engine.
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config_text(10_000)).expect("config written");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let start = Instant::now();
        let engine = engine::spawn(EngineOptions {
            config_path: path.clone(),
            state_dir: dir.path().join("state"),
            secrets: Arc::new(MemoryStore::new()),
            sources: Some(Vec::new()),
            scheduled: false,
            watch_network: false,
            watch_config: false,
            clock_start: None,
            import_sources: Default::default(),
        })
        .expect("the engine starts");
        let status = engine.status();
        let started = start.elapsed();
        assert!(status.config_error.is_none(), "{:?}", status.config_error);
        assert_eq!(status.records.len(), 10_000);
        let start = Instant::now();
        engine.reload().await.expect("reload");
        let reloaded = start.elapsed();
        engine.shutdown().await;
        println!(
            "engine, 10,000 records: start {:.0} ms, reload {:.0} ms",
            started.as_secs_f64() * 1000.0,
            reloaded.as_secs_f64() * 1000.0
        );
    });
}
