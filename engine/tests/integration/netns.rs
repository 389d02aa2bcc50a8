//! The whole engine inside a network namespace the test creates: its interface source
//! reads the namespace's addresses, the kernel's netlink events trigger its checks, and
//! the provider it updates is a local server in the same namespace.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dyntray_engine::engine::{self, EngineHandle, EngineOptions, Status};
use dyntray_engine::secrets::{MemoryStore, Secret, SecretStore};
use dyntray_tests::fake_provider::FakeProvider;
use dyntray_tests::netns::NetNs;

const STABLE: &str = "2a00:1:2:3::5";
const MOVED: &str = "2a00:1:2:4::5";

async fn wait_status(engine: &EngineHandle, what: &str, done: impl Fn(&Status) -> bool) -> Status {
    let mut watch = engine.watch_status();
    match tokio::time::timeout(Duration::from_secs(20), watch.wait_for(|s| done(s))).await {
        Ok(Ok(status)) => status.clone(),
        _ => panic!("timed out waiting for {what}: {:#?}", engine.status()),
    }
}

fn v6(status: &Status) -> &dyntray_engine::engine::AddressStatus {
    status
        .addresses
        .iter()
        .find(|a| a.family == "AAAA")
        .expect("the AAAA family is checked")
}

/// An IPv6 address appears on the interface, with the temporary (privacy) address the
/// kernel makes for it: the engine checks within the debounce, publishes the stable one,
/// and sends nothing for events that do not change it.
#[test]
fn interface_changes_in_a_namespace_reach_the_provider() {
    let ns = NetNs::for_test("dt-engine");
    ns.add_veth("v0").unwrap();
    ns.sysctl("net.ipv6.conf.v0.use_tempaddr", "2").unwrap();
    let dir = tempfile::tempdir().unwrap();
    ns.enter_thread(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let provider = FakeProvider::start().await;
            provider.echo_good();
            let config = dir.path().join("config.toml");
            std::fs::write(
                &config,
                format!(
                    "version = 1\n[general]\npoll_interval = \"24h\"\n\n\
                     [detect]\nipv4 = []\nipv6 = [\"interface:v0\"]\n\n\
                     [[account]]\nid = \"home\"\nprovider = \"dyndns\"\nusername = \"u\"\n\
                     server = \"{}\"\n\n[[record]]\nname = \"home.example.org\"\n\
                     account = \"home\"\nfamily = \"AAAA\"\n",
                    provider.url()
                ),
            )
            .unwrap();
            let secrets = Arc::new(MemoryStore::new());
            secrets.set("home", &Secret::new("pw")).unwrap();
            let engine = engine::spawn(EngineOptions {
                config_path: config,
                state_dir: dir.path().join("state"),
                secrets,
                sources: None,
                scheduled: true,
                watch_network: true,
                watch_config: false,
                clock_start: None,
                import_sources: Default::default(),
            })
            .unwrap();

            // No global address yet: no update, and the status says why.
            let status = wait_status(&engine, "the first check", |s| {
                s.addresses.iter().any(|a| a.family == "AAAA")
            })
            .await;
            assert_eq!(
                v6(&status).error.as_deref(),
                Some("interface:v0: no global IPv6 address on v0")
            );
            assert_eq!(provider.count(), 0);

            // A stable address arrives (with a temporary one made by the kernel).
            let added = Instant::now();
            ns.ip(&[
                "-6",
                "addr",
                "add",
                &format!("{STABLE}/64"),
                "dev",
                "v0",
                "mngtmpaddr",
            ])
            .unwrap();
            let status = wait_status(&engine, "the new address checked", |s| {
                v6(s).address.is_some()
            })
            .await;
            let checked = added.elapsed();
            assert_eq!(v6(&status).address, Some(STABLE.parse().unwrap()));
            // The check was the netlink event's (the batch may start with the
            // temporary address, whichever passed duplicate detection first).
            let trigger = v6(&status).trigger.clone().unwrap_or_default();
            assert!(
                trigger.starts_with("address 2a00:1:2:3:") && trigger.contains("added on v0"),
                "{trigger}"
            );
            // Duplicate address detection keeps the address tentative for about a second;
            // the check follows the kernel's "usable" event within the debounce.
            assert!(checked < Duration::from_secs(5), "{checked:?}");
            wait_status(&engine, "the update", |s| {
                s.records[0].address == Some(STABLE.parse().unwrap())
            })
            .await;
            assert_eq!(provider.count(), 1);
            assert_eq!(provider.seen()[0].param("myip"), Some(STABLE));

            // The kernel's temporary address exists, and was not published.
            let temporary = wait_for_temporary(&ns).await;
            let status = engine.status();
            let source = &v6(&status).sources[0];
            assert_eq!(source.address, Some(STABLE.parse().unwrap()));
            assert_ne!(Some(temporary), source.address);

            // Let the temporary address pass duplicate detection, its events pass.
            tokio::time::sleep(Duration::from_millis(2500)).await;
            assert_eq!(provider.count(), 1, "{:#?}", provider.seen());

            // An unrelated change (an IPv4 address) makes a check, not an update.
            ns.ip(&["addr", "add", "81.2.69.160/24", "dev", "v0"])
                .unwrap();
            wait_status(&engine, "the check after the IPv4 change", |s| {
                v6(s)
                    .trigger
                    .as_deref()
                    .is_some_and(|t| t.contains("81.2.69.160"))
            })
            .await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert_eq!(provider.count(), 1, "no update without a changed address");

            // The address moves to a new prefix: one update with the new address.
            ns.ip(&[
                "-6",
                "addr",
                "add",
                &format!("{MOVED}/64"),
                "dev",
                "v0",
                "nodad",
            ])
            .unwrap();
            ns.ip(&["-6", "addr", "del", &format!("{STABLE}/64"), "dev", "v0"])
                .unwrap();
            wait_status(&engine, "the moved address published", |s| {
                s.records[0].address == Some(MOVED.parse().unwrap())
            })
            .await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            assert_eq!(provider.count(), 2, "{:#?}", provider.seen());
            assert_eq!(provider.seen()[1].param("myip"), Some(MOVED));

            // The interface goes away entirely: no address, no update.
            ns.ip(&["link", "set", "v0", "down"]).unwrap();
            let status = wait_status(&engine, "the link down checked", |s| {
                v6(s).address.is_none()
            })
            .await;
            assert_eq!(
                v6(&status).error.as_deref(),
                Some("interface:v0: v0 is down")
            );
            assert_eq!(provider.count(), 2);
            engine.shutdown().await;
        });
    })
    .unwrap();
}

/// The kernel's temporary address in 2a00:1:2:3::/64 (it appears shortly after the stable
/// one passes duplicate address detection).
async fn wait_for_temporary(ns: &NetNs) -> IpAddr {
    for _ in 0..50 {
        let out = ns
            .ip(&["-6", "addr", "show", "dev", "v0", "temporary"])
            .unwrap();
        if let Some(address) = out
            .split_whitespace()
            .skip_while(|w| *w != "inet6")
            .nth(1)
            .and_then(|a| a.split('/').next())
            .and_then(|a| a.parse().ok())
        {
            return address;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the kernel made no temporary address")
}
