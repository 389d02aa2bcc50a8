//! RFC 2136 + TSIG through the real engine against a real BIND (`named`), started per test
//! on a free loopback port with a fresh TSIG key and zone.

use std::net::{TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dyntray_engine::engine::{EngineHandle, Phase};
use dyntray_engine::secrets::{Secret, SecretStore};

use crate::engine::Rig;

const V4: &str = "81.2.69.160";
const V4_NEW: &str = "81.2.69.161";
const V6: &str = "2a00:1450:4001:81b::200e";
const KEY: &str = "dyntray-test-key";
const ZONE: &str = "example.test";
const NAME: &str = "home.example.test";

/// A `named` in the foreground on 127.0.0.1, serving `example.test` as primary; killed on drop.
struct Bind {
    child: Option<Child>,
    port: u16,
    secret: String,
    dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    // Free for both TCP and UDP at the time of asking.
    loop {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn tsig_secret(output: &str) -> String {
    output
        .lines()
        .find_map(|l| l.trim().strip_prefix("secret \""))
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no secret in tsig-keygen output: {output}"))
        .to_owned()
}

fn tsig_keygen(name: &str) -> String {
    let out = Command::new("tsig-keygen")
        .args(["-a", "hmac-sha256", name])
        .output()
        .expect("tsig-keygen (Debian: apt-get install bind9-utils; `make test-deps`)");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

impl Bind {
    /// Starts named with `policy` as the zone's update-policy body (`{key}` is replaced by the
    /// key name) and waits until it answers.
    fn start(policy: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let key_conf = tsig_keygen(KEY);
        let secret = tsig_secret(&key_conf);
        std::fs::write(dir.path().join("key.conf"), &key_conf).unwrap();
        std::fs::write(
            dir.path().join("zone.db"),
            format!(
                "$TTL 300\n@ IN SOA ns.{ZONE}. admin.{ZONE}. 1 3600 600 86400 60\n\
                 @ IN NS ns.{ZONE}.\nns IN A 127.0.0.1\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let policy = policy.replace("{key}", KEY);
        std::fs::write(
            dir.path().join("named.conf"),
            format!(
                "include \"{d}/key.conf\";\n\
                 options {{\n  directory \"{d}\";\n  pid-file \"{d}/named.pid\";\n  \
                 session-keyfile \"{d}/session.key\";\n  managed-keys-directory \"{d}\";\n  \
                 listen-on port {port} {{ 127.0.0.1; }};\n  listen-on-v6 {{ none; }};\n  \
                 recursion no;\n  dnssec-validation no;\n  notify no;\n}};\n\
                 controls {{ }};\n\
                 zone \"{ZONE}\" {{\n  type primary;\n  file \"{d}/zone.db\";\n  \
                 update-policy {{ {policy} }};\n}};\n"
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("named.log")).unwrap();
        let mut command = Command::new(named());
        command
            .arg("-g")
            .arg("-c")
            .arg(dir.path().join("named.conf"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let child = command.spawn().expect("named");
        let mut bind = Self {
            child: Some(child),
            port,
            secret,
            dir,
        };
        bind.wait_ready();
        bind
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("named.log")).unwrap_or_default()
    }

    fn wait_ready(&mut self) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("named exited with {status}:\n{}", self.log());
            }
            if self.dig("SOA", ZONE).contains(&format!("ns.{ZONE}.")) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("named did not answer within 10 s:\n{}", self.log());
    }

    /// `dig +short` for one name and type, sorted lines.
    fn dig(&self, rtype: &str, name: &str) -> String {
        let out = Command::new("dig")
            .args(["+short", "+time=1", "+tries=1", "@127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .args([name, rtype])
            .output()
            .expect("dig (Debian: apt-get install bind9-dnsutils)");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines: Vec<&str> = text.lines().collect();
        lines.sort_unstable();
        lines.join("\n")
    }

    /// The TTL of the name's record of this type.
    fn ttl(&self, rtype: &str, name: &str) -> Option<u32> {
        let out = Command::new("dig")
            .args([
                "+noall",
                "+answer",
                "+time=1",
                "+tries=1",
                "@127.0.0.1",
                "-p",
            ])
            .arg(self.port.to_string())
            .args([name, rtype])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|t| t.parse().ok())
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Bind {
    fn drop(&mut self) {
        self.stop();
    }
}

fn named() -> &'static str {
    for path in ["/usr/sbin/named", "/usr/bin/named"] {
        if Path::new(path).exists() {
            return path;
        }
    }
    panic!(
        "BIND is not installed (Debian: apt-get install bind9 bind9-utils bind9-dnsutils; `make test-deps`)"
    );
}

/// Writes the config: one rfc2136 account `home` at `port`, one record for `family`.
fn configure(rig: &Rig, port: u16, family: &str, extra_record: &str) {
    let text = format!(
        "version = 1\n\n[general]\npoll_interval = \"5m\"\n\n[detect]\nipv4 = []\nipv6 = []\n\n\
         [[account]]\nid = \"home\"\nprovider = \"rfc2136\"\nusername = \"{KEY}\"\n\
         secret = \"keychain\"\nserver = \"dns://127.0.0.1:{port}\"\nzone = \"{ZONE}\"\n\
         ttl = 120\n\n\
         [[record]]\nname = \"{NAME}\"\naccount = \"home\"\nfamily = \"{family}\"\n{extra_record}"
    );
    std::fs::write(rig.config_path(), text).unwrap();
}

fn set_secret(rig: &Rig, secret: &str) {
    rig.secrets.set("home", &Secret::new(secret)).unwrap();
}

fn record(engine: &EngineHandle, family: &str) -> dyntray_engine::engine::RecordStatus {
    engine
        .status()
        .records
        .into_iter()
        .find(|r| r.family == family)
        .unwrap_or_else(|| panic!("no {family} record"))
}

#[tokio::test]
async fn a_and_aaaa_are_replaced_in_bind_once_per_change() {
    let bind = Bind::start("grant {key} zonesub ANY;");
    let rig = Rig::new().await;
    set_secret(&rig, &bind.secret);
    rig.source.set(V6);
    configure(&rig, bind.port, "both", "offline_address = \"192.0.2.1\"\n");
    let engine = rig.engine();

    let report = engine.run_once().await.unwrap();
    assert_eq!(report.requests, 2, "{report:?}\n{}", bind.log());
    assert_eq!(report.succeeded.len(), 2, "{report:?}");
    assert_eq!(bind.dig("A", NAME), V4);
    assert_eq!(bind.dig("AAAA", NAME), V6);
    assert_eq!(bind.ttl("A", NAME), Some(120));
    assert_eq!(record(&engine, "A").phase, Phase::Ok);
    assert_eq!(record(&engine, "AAAA").phase, Phase::Ok);

    // Nothing changed: nothing is sent.
    let again = engine.run_once().await.unwrap();
    assert_eq!(again.requests, 0, "{again:?}");

    // A change replaces the RRset: the old address is gone, not kept next to the new one.
    rig.source.set(V4_NEW);
    let report = engine.run_once().await.unwrap();
    assert_eq!(report.requests, 1, "{report:?}");
    assert_eq!(bind.dig("A", NAME), V4_NEW);
    assert_eq!(bind.dig("AAAA", NAME), V6, "the other family is left alone");

    // Going offline publishes the offline address (RFC 2136 has no offline mode).
    engine.set_offline(true).await.unwrap();
    engine.run_once().await.unwrap();
    assert_eq!(bind.dig("A", NAME), "192.0.2.1");
    engine.shutdown().await;
}

#[tokio::test]
async fn a_wrong_secret_is_refused_and_disables_the_record() {
    let bind = Bind::start("grant {key} zonesub ANY;");
    let rig = Rig::new().await;
    // A well-formed key, just not the server's.
    set_secret(&rig, &tsig_secret(&tsig_keygen(KEY)));
    configure(&rig, bind.port, "A", "");
    let engine = rig.engine();

    engine.run_once().await.unwrap();
    let status = record(&engine, "A");
    assert_eq!(status.phase, Phase::Disabled, "{status:?}\n{}", bind.log());
    let disabled = status.disabled.unwrap();
    assert_eq!(disabled.code, "tsig-badsig", "{disabled:?}");
    assert!(disabled.advice.contains(KEY), "{}", disabled.advice);
    assert!(disabled.advice.contains("secret"), "{}", disabled.advice);
    assert!(disabled.answer.contains("BADSIG"), "{}", disabled.answer);
    assert_eq!(bind.dig("A", NAME), "", "nothing was published");
    assert_eq!(
        engine.run_once().await.unwrap().requests,
        0,
        "disabled sends nothing"
    );
    engine.shutdown().await;
}

#[tokio::test]
async fn an_update_policy_refusal_names_the_policy() {
    // The key may only touch another name.
    let bind = Bind::start(&format!("grant {{key}} name other.{ZONE}. A;"));
    let rig = Rig::new().await;
    set_secret(&rig, &bind.secret);
    configure(&rig, bind.port, "A", "");
    let engine = rig.engine();

    engine.run_once().await.unwrap();
    let status = record(&engine, "A");
    let disabled = status
        .disabled
        .unwrap_or_else(|| panic!("{:?}", record(&engine, "A")));
    assert_eq!(disabled.code, "refused", "{disabled:?}");
    assert!(
        disabled.advice.contains("update-policy"),
        "{}",
        disabled.advice
    );
    assert!(disabled.answer.contains("REFUSED"), "{}", disabled.answer);
    engine.shutdown().await;
}

#[tokio::test]
async fn a_stopped_server_means_back_off_not_disable() {
    let mut bind = Bind::start("grant {key} zonesub ANY;");
    let rig = Rig::new().await;
    set_secret(&rig, &bind.secret);
    configure(&rig, bind.port, "A", "");
    bind.stop();
    let engine = rig.engine();

    let report = engine.run_once().await.unwrap();
    assert_eq!(report.requests, 1);
    let status = record(&engine, "A");
    assert_eq!(status.phase, Phase::BackingOff, "{status:?}");
    assert!(status.disabled.is_none());
    assert!(status.next_attempt_at.is_some());
    assert!(
        status
            .last_answer
            .as_deref()
            .is_some_and(|a| a.contains(&format!("127.0.0.1:{}", bind.port))),
        "{status:?}"
    );
    engine.shutdown().await;
}

#[tokio::test]
async fn a_secret_that_is_not_base64_disables_with_a_clear_message() {
    let rig = Rig::new().await;
    set_secret(&rig, "hunter2 is not base64!");
    // Nothing listens there: the secret is refused before anything is sent.
    configure(&rig, free_port(), "A", "");
    let engine = rig.engine();

    engine.run_once().await.unwrap();
    let status = record(&engine, "A");
    assert_eq!(status.phase, Phase::Disabled, "{status:?}");
    let disabled = status.disabled.unwrap();
    assert_eq!(disabled.code, "bad-secret");
    assert!(
        disabled.answer.contains("not a base64 TSIG key"),
        "{}",
        disabled.answer
    );
    assert!(disabled.advice.contains(KEY), "{}", disabled.advice);
    assert!(!disabled.answer.contains("hunter2") && !disabled.advice.contains("hunter2"));
    engine.shutdown().await;
}

#[tokio::test]
async fn an_account_without_a_zone_is_a_config_error_naming_the_line() {
    let rig = Rig::new().await;
    configure(&rig, free_port(), "A", "");
    let text = std::fs::read_to_string(rig.config_path())
        .unwrap()
        .replace(&format!("zone = \"{ZONE}\"\n"), "");
    std::fs::write(rig.config_path(), text).unwrap();
    let engine = rig.engine();
    let error = engine.status().config_error.unwrap();
    assert!(error.contains("account[0].zone"), "{error}");
    assert!(error.contains("needs `zone`"), "{error}");
    assert!(engine.run_once().await.is_err());
}

#[test]
fn rfc2136_keys_and_dns_servers_belong_to_rfc2136_accounts_only() {
    let problems = |account: &str| {
        let text = format!("version = 1\n[[account]]\nid = \"a\"\nusername = \"k\"\n{account}");
        let config = dyntray_engine::config::Config::parse(&text).unwrap();
        dyntray_engine::engine::check_against_registry(&config)
            .iter()
            .map(|p| format!("line {:?}: {}: {}", p.line, p.key, p.message))
            .collect::<Vec<_>>()
    };
    let ok = problems(
        "provider = \"rfc2136\"\nserver = \"dns://ns.example.org\"\nzone = \"example.org\"\n",
    );
    assert!(ok.is_empty(), "{ok:?}");
    let p = problems("provider = \"dyndns\"\nzone = \"example.org\"\nttl = 60\n");
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(
        p[0].starts_with("line Some(7): account[0].ttl: DynDNS has no setting `ttl`"),
        "{p:?}"
    );
    assert!(
        p[1].starts_with("line Some(6): account[0].zone: DynDNS has no setting `zone`"),
        "{p:?}"
    );
    let p = problems("provider = \"dyndns\"\nserver = \"dns://ns.example.org\"\n");
    assert_eq!(
        p,
        [
            "line Some(6): account[0].server: dns:// servers are for RFC 2136 accounts; this provider takes an https:// URL"
        ]
    );
    let p = problems(
        "provider = \"rfc2136\"\nserver = \"https://ns.example.org\"\nzone = \"example.org\"\n",
    );
    assert_eq!(
        p,
        [
            "line Some(6): account[0].server: RFC 2136 needs `server = \"dns://host[:port]\"`, the zone's primary server"
        ]
    );
    let p = problems("provider = \"rfc2136\"\nzone = \"example.org\"\n");
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].contains("account[0].server") && p[0].contains("dns://"),
        "{p:?}"
    );
}

#[tokio::test]
async fn an_account_with_a_ttl_saves_from_the_settings_form() {
    // The form sends every input as text, the TTL too; the file gets a number.
    let rig = crate::engine::Rig::new().await;
    std::fs::write(rig.config_path(), "version = 1\n").unwrap();
    let engine = rig.engine();
    let read = engine.read_config().await.unwrap();
    let edit: dyntray_engine::config_edit::ConfigEdit = serde_json::from_str(
        r#"{"op": "upsert_account", "id": null, "account": {"id": "dns", "provider": "rfc2136",
            "username": "dyntray-key", "secret": "keychain", "server": "dns://127.0.0.1:5353",
            "zone": "example.org", "ttl": "60", "algorithm": "hmac-sha512"}}"#,
    )
    .unwrap();
    engine.edit_config(read.revision, edit).await.unwrap();
    let text = std::fs::read_to_string(rig.config_path()).unwrap();
    assert!(text.contains("ttl = 60\n"), "{text}");
    assert_eq!(engine.status().config_error, None);
    // A TTL out of range is named, not saved.
    let read = engine.read_config().await.unwrap();
    let edit: dyntray_engine::config_edit::ConfigEdit = serde_json::from_str(
        r#"{"op": "upsert_account", "id": "dns", "account": {"id": "dns", "provider": "rfc2136",
            "username": "dyntray-key", "secret": "keychain", "server": "dns://127.0.0.1:5353",
            "zone": "example.org", "ttl": "999999"}}"#,
    )
    .unwrap();
    match engine.edit_config(read.revision, edit).await {
        Err(dyntray_engine::engine::EngineError::Invalid(problems)) => {
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert_eq!(problems[0].key, "account[0].ttl");
            assert!(problems[0].message.contains("from 1 to 86400"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(std::fs::read_to_string(rig.config_path()).unwrap(), text);
}
