//! Requests sent for 50 names at one provider when the address changes: Cloudflare (one
//! zone), DuckDNS and deSEC, each against a stateful fake of its API on 127.0.0.1.
//! Prints the requests of the first pass and of the pass after an address change (reads
//! and writes apart), and how long each took; asserts only what the figures claim.
//!
//!     nice -n 10 cargo bench -p dyntray-engine --bench api
// A bench binary: standard output is where the figures go.
#![allow(clippy::print_stdout, clippy::expect_used, clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dyntray_engine::detect::{Source, SourceError, SourceKind};
use dyntray_engine::engine::{self, EngineOptions};
use dyntray_engine::provider::{BoxFuture, IpFamily};
use dyntray_engine::secrets::{MemoryStore, Secret, SecretStore};
use dyntray_tests::fake_api::{FakeApi, Reply};
use serde_json::json;

const NAMES: usize = 50;
const FIRST: &str = "81.2.69.160";
const SECOND: &str = "81.2.69.161";

/// The public address, set by hand.
struct Fixed(Mutex<IpAddr>);

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
        let address = *self.0.lock().unwrap();
        Box::pin(async move { Ok(vec![address]) })
    }
}

/// A Cloudflare zone whose A records the fake keeps: list, PATCH and batch change them.
fn cloudflare(api: &FakeApi, names: &[String]) {
    let records: Arc<Mutex<HashMap<String, String>>> = Arc::new(Mutex::new(
        names
            .iter()
            .map(|n| (n.clone(), "81.2.69.1".to_owned()))
            .collect(),
    ));
    api.route(
        "GET",
        "/client/v4/zones",
        Reply::json(
            200,
            json!({"success": true, "errors": [], "messages": [],
                "result": [{"id": "zone1", "name": "example.org"}]})
            .to_string(),
        ),
    );
    let state = Arc::clone(&records);
    api.route_fn("GET", "/client/v4/zones/*/dns_records", move |_| {
        let list: Vec<serde_json::Value> = state
            .lock()
            .unwrap()
            .iter()
            .map(|(name, content)| json!({"id": name, "name": name, "type": "A", "content": content}))
            .collect();
        Reply::json(
            200,
            json!({"success": true, "errors": [], "messages": [], "result": list,
                "result_info": {"page": 1, "total_pages": 1}})
            .to_string(),
        )
    });
    let state = Arc::clone(&records);
    api.route_fn(
        "POST",
        "/client/v4/zones/*/dns_records/batch",
        move |call| {
            let body: serde_json::Value = serde_json::from_str(&call.body).unwrap();
            let mut records = state.lock().unwrap();
            let mut done = Vec::new();
            for patch in body["patches"].as_array().into_iter().flatten() {
                let id = patch["id"].as_str().unwrap().to_owned();
                records.insert(id.clone(), patch["content"].as_str().unwrap().to_owned());
                done.push(json!({"id": id, "content": patch["content"]}));
            }
            Reply::json(
                200,
                json!({"success": true, "errors": [], "messages": [], "result": {"patches": done}})
                    .to_string(),
            )
        },
    );
}

struct Case {
    provider: &'static str,
    base: &'static str,
    account: &'static str,
    name: fn(usize) -> String,
}

const CASES: &[Case] = &[
    Case {
        provider: "cloudflare",
        base: "/client/v4",
        account: "zone = \"example.org\"\n",
        name: |i| format!("host{i:02}.example.org"),
    },
    Case {
        provider: "duckdns",
        base: "",
        account: "",
        name: |i| format!("host{i:02}.duckdns.org"),
    },
    Case {
        provider: "desec",
        base: "",
        account: "",
        name: |i| format!("host{i:02}.example.dedyn.io"),
    },
];

async fn run(case: &Case) {
    let api = FakeApi::start().await;
    let names: Vec<String> = (0..NAMES).map(case.name).collect();
    match case.provider {
        "cloudflare" => cloudflare(&api, &names),
        "duckdns" => {
            api.mark_write("GET", "/update");
            api.route_fn("GET", "/update", |call| {
                let ip = call.param("ip").unwrap_or_default().to_owned();
                Reply::text(200, format!("OK\n{ip}\n\nUPDATED"))
            });
        }
        _ => {
            api.mark_write("GET", "/");
            api.route("GET", "/", Reply::text(200, "good"));
        }
    }
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = dir.path().join("config.toml");
    let mut text = format!(
        "version = 1\n\n[detect]\nipv4 = []\nipv6 = []\n\n[[account]]\nid = \"home\"\n\
         provider = \"{}\"\nsecret = \"keychain\"\nserver = \"{}{}\"\n{}\n",
        case.provider,
        api.url(),
        case.base,
        case.account
    );
    for name in &names {
        text.push_str(&format!(
            "[[record]]\nname = \"{name}\"\naccount = \"home\"\n\n"
        ));
    }
    std::fs::write(&config, text).expect("config written");
    let secrets = Arc::new(MemoryStore::new());
    secrets
        .set("home", &Secret::new("bench-token-0123456789"))
        .expect("secret set");
    let source = Arc::new(Fixed(Mutex::new(FIRST.parse().unwrap())));
    let engine = engine::spawn(EngineOptions {
        config_path: config,
        state_dir: dir.path().join("state"),
        secrets,
        sources: Some(vec![source.clone() as Arc<dyn Source>]),
        watch_network: false,
        watch_config: false,
        scheduled: false,
        clock_start: None,
        import_sources: Default::default(),
    })
    .expect("the engine starts");

    for (label, address) in [("first pass", FIRST), ("address change", SECOND)] {
        *source.0.lock().unwrap() = address.parse().unwrap();
        api.clear();
        let start = Instant::now();
        let report = engine.run_once().await.expect("the pass runs");
        let elapsed = start.elapsed();
        let calls = api.calls();
        let writes = api.writes().len();
        println!(
            "{:<11} {label:<15} requests {:>3} (reads {:>2}, writes {:>2})  names {:>2} ok  {:>7.1} ms",
            case.provider,
            calls.len(),
            calls.len() - writes,
            writes,
            report.succeeded.len(),
            elapsed.as_secs_f64() * 1000.0
        );
        assert_eq!(report.succeeded.len(), NAMES, "{:?}", report.failed);
        if label == "address change" {
            let (reads, most) = match case.provider {
                "cloudflare" => (1, 1),
                _ => (0, 1),
            };
            assert_eq!((calls.len() - writes, writes), (reads, most));
        }
    }
    api.clear();
    engine.run_once().await.expect("the pass runs");
    println!(
        "{:<11} {:<15} requests {:>3}",
        case.provider,
        "no change",
        api.count()
    );
    assert_eq!(api.count(), 0);
    engine.shutdown().await;
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    println!(
        "{NAMES} names at one provider; a per-record client sends {NAMES} writes (plus reads or DNS look-ups) for one change."
    );
    runtime.block_on(async {
        for case in CASES {
            run(case).await;
        }
    });
}
