//! Moving over from ddclient: its real sample config, and an import whose cached address
//! keeps the first Dyntray pass from sending anything.

use std::path::PathBuf;

use dyntray_engine::config::{Config, Family};
use dyntray_engine::import::{Import, ImportError, ddclient, inadyn};
use dyntray_engine::secrets::{Secret, SecretSource};
use dyntray_engine::state::StateStore;
use dyntray_tests::fake_provider::{Reply, basic_auth};

use crate::engine::Rig;

const V4: &str = "81.2.69.160";
const V4_NEW: &str = "81.2.69.161";
/// Later than every `mtime` in the fixtures.
const NOW: i64 = 1_800_000_000;

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/import")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn problem_lines(import: &Import) -> Vec<(usize, &str)> {
    import
        .problems
        .iter()
        .filter(|p| p.file == "config")
        .map(|p| (p.line, p.reason.as_str()))
        .collect()
}

#[test]
fn debians_sample_has_no_host_and_each_setting_is_listed() {
    let import = ddclient::import(&fixture("ddclient-sample.conf"), None, NOW);
    assert!(import.accounts.is_empty());
    assert!(import.records.is_empty());
    let lines = problem_lines(&import);
    // daemon, syslog, mail, mail-failure, pid: each named on its own line.
    for (line, key) in [
        (19, "`daemon`"),
        (20, "`syslog`"),
        (21, "`mail`"),
        (22, "`mail-failure`"),
        (23, "`pid`"),
    ] {
        assert!(
            lines.iter().any(|(l, r)| *l == line && r.contains(key)),
            "{key} at {line}: {lines:?}"
        );
    }
    assert!(lines.iter().any(|(l, r)| *l == 0 && r.contains("no host")));
    assert_eq!(import.to_toml().unwrap().trim(), "version = 1");
}

#[test]
fn debians_sample_as_a_user_enables_it() {
    let import = ddclient::import(
        &fixture("ddclient-sample-uncommented.conf"),
        Some(&fixture("ddclient.cache")),
        NOW,
    );
    let accounts: Vec<_> = import
        .accounts
        .iter()
        .map(|a| {
            (
                a.account.id.as_str(),
                a.account.provider.as_str(),
                a.account.username.as_str(),
                a.secret.as_ref().map(Secret::expose),
            )
        })
        .collect();
    assert_eq!(
        accounts,
        [
            ("namecheap", "namecheap", "", Some("example.com-password")),
            (
                "noip",
                "noip",
                "your-noip-login",
                Some("your-noip-password")
            ),
            (
                "changeip",
                "changeip",
                "my-my-changeip.com-login",
                Some("my-changeip.com-password")
            ),
            ("duckdns", "duckdns", "", Some("my-auto-generated-password")),
        ]
    );
    let records: Vec<_> = import
        .records
        .iter()
        .map(|r| (r.name.as_str(), r.account.as_str(), r.family))
        .collect();
    assert_eq!(
        records,
        [
            ("subdomain.example.com", "namecheap", Family::A),
            ("your-host.domain.com", "noip", Family::A),
            ("your-2nd-host.domain.com", "noip", Family::A),
            ("myhost.changeip.org", "changeip", Family::A),
            ("hostwithoutduckdnsorg.duckdns.org", "duckdns", Family::A),
        ]
    );
    // `use=web, web=checkip.dyndns.org/` (line 55), asked over HTTPS now.
    assert_eq!(
        import.ipv4_sources,
        Some(vec!["https://checkip.dyndns.org/".to_owned()])
    );
    let lines = problem_lines(&import);
    // The dyndns.org block names no login: not imported, and said so.
    assert!(
        lines
            .iter()
            .any(|(l, r)| *l == 77 && r.contains("needs a login")),
        "{lines:?}"
    );
    // ZoneEdit's block: its protocol line, and the reason.
    assert!(
        lines
            .iter()
            .any(|(l, r)| *l == 105 && r.contains("protocol=zoneedit1")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|(l, r)| *l == 55 && r.contains("`web-skip`")),
        "{lines:?}"
    );
    // The cache: two good hosts; the failed one is not taken as accepted.
    let cached: Vec<_> = import
        .cached
        .iter()
        .map(|c| (c.key.as_str(), c.address.to_string(), c.at))
        .collect();
    assert_eq!(
        cached,
        [(
            "noip/your-host.domain.com/A",
            V4_NEW.to_owned(),
            1_796_548_700
        )]
    );
    assert!(
        import
            .problems
            .iter()
            .any(|p| p.file == "cache" && p.line == 5 && p.reason.contains("`failed`"))
    );

    // What would be written is a valid config that names no password.
    let text = import.to_toml().unwrap();
    let config = Config::parse(&text).unwrap();
    assert_eq!(config.accounts.len(), 4);
    assert_eq!(config.records.len(), 5);
    assert!(!text.contains("password"), "{text}");
    assert!(!text.contains("your-noip-password"), "{text}");
}

#[test]
fn a_taken_account_id_is_refused_unless_replace_is_asked() {
    let import = ddclient::import(
        "protocol=noip, login=me, password=pw home.example.org\n",
        None,
        NOW,
    );
    let existing = "version = 1\n\n# mine\n[[account]]\nid = \"noip\"\nprovider = \"noip\"\n\
                    username = \"old\"\n";
    match import.merge_into(existing, false) {
        Err(ImportError::Exists(ids)) => assert_eq!(ids, ["noip"]),
        other => panic!("{other:?}"),
    }
    let merged = import.merge_into(existing, true).unwrap();
    assert!(
        merged.contains("# mine"),
        "the rest of the file is kept: {merged}"
    );
    let config = Config::parse(&merged).unwrap();
    assert_eq!(config.accounts.len(), 1);
    assert_eq!(config.accounts[0].username, "me");
    assert_eq!(config.records.len(), 1);
}

/// ddclient's config and cache for two hosts on the fake dyndns2 server.
fn ddclient_files(rig: &Rig) -> (String, String) {
    let server = rig.provider.url();
    let server = server
        .strip_prefix("http://")
        .unwrap_or(&server)
        .trim_end_matches('/');
    let config = format!(
        "# ddclient.conf\n\
         daemon=300\n\
         ssl=no\n\
         protocol=dyndns2, server={server}, \\\n\
         login=alice, password='pw #1' \\\n\
         a.example.org, b.example.org\n"
    );
    let cache = format!(
        "## ddclient-3.10.0\n\
         ## last updated at now ({NOW})\n\
         atime=0,host=a.example.org,ip={V4},mtime={},status=good a.example.org\n\
         atime=0,host=b.example.org,ip={V4},mtime={},status=good b.example.org\n",
        NOW - 600,
        NOW - 600
    );
    (config, cache)
}

/// Imports the files into the rig as `dyntrayd import ddclient` does.
fn import_into(rig: &Rig, config: &str, cache: &str) -> Import {
    let import = ddclient::import(config, Some(cache), NOW);
    assert!(
        import
            .problems
            .iter()
            .all(|p| p.reason.contains("`daemon`")),
        "{:?}",
        import.problems
    );
    let text = import.merge_into("", false).unwrap();
    std::fs::write(rig.config_path(), text).unwrap();
    for account in &import.accounts {
        dyntray_engine::secrets::store(
            &*rig.secrets,
            &account.account.id,
            &SecretSource::Keychain,
            account.secret.as_ref().unwrap(),
        )
        .unwrap();
    }
    let mut store = StateStore::open(&rig.dir.path().join("state")).unwrap();
    let written = import.write_state(&mut store, "ddclient").unwrap();
    assert_eq!(written.len(), 2);
    import
}

#[tokio::test(start_paused = true)]
async fn an_imported_cache_sends_nothing_until_the_address_changes() {
    let rig = Rig::new().await;
    let (config, cache) = ddclient_files(&rig);
    let import = import_into(&rig, &config, &cache);
    assert_eq!(import.accounts[0].account.provider, "dyndns2");

    let engine = rig.engine_at(false, NOW);
    let report = engine.run_once().await.unwrap();
    assert_eq!(report.requests, 0, "{report:?}");
    assert_eq!(
        rig.provider.count(),
        0,
        "the provider has this address already"
    );
    assert_eq!(report.succeeded.len(), 2, "{report:?}");

    let history = engine
        .history(Some("dyndns2/a.example.org/A".into()), 10)
        .await
        .unwrap();
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0].classification, "imported");
    assert_eq!(history[0].address.as_deref(), Some(V4));

    // A new address goes out once, with the imported login and password.
    rig.source.set(V4_NEW);
    rig.provider
        .script([Reply::ok(&format!("good {V4_NEW}\ngood {V4_NEW}\n"))]);
    assert_eq!(engine.run_once().await.unwrap().requests, 1);
    let seen = rig.provider.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].hostnames(), ["a.example.org", "b.example.org"]);
    assert_eq!(seen[0].param("myip"), Some(V4_NEW));
    assert_eq!(basic_auth(&seen[0]), Some(("alice".into(), "pw #1".into())));
    assert_eq!(engine.run_once().await.unwrap().requests, 0);
}

#[tokio::test(start_paused = true)]
async fn an_imported_cache_with_another_address_sends_exactly_once() {
    let rig = Rig::new().await;
    let (config, cache) = ddclient_files(&rig);
    import_into(&rig, &config, &cache);
    rig.source.set(V4_NEW);
    rig.provider
        .script([Reply::ok(&format!("good {V4_NEW}\ngood {V4_NEW}\n"))]);

    let engine = rig.engine_at(false, NOW);
    assert_eq!(engine.run_once().await.unwrap().requests, 1);
    assert_eq!(rig.provider.count(), 1);
    assert_eq!(engine.run_once().await.unwrap().requests, 0);
}

fn inadyn_fixture(name: &str) -> Import {
    inadyn::import(&fixture(name), &|_| None, NOW)
}

#[test]
fn debians_inadyn_examples_import_as_asserted() {
    // The main example has every provider commented out.
    let import = inadyn_fixture("inadyn-inadyn.conf");
    assert!(import.accounts.is_empty(), "{:?}", import.accounts);
    assert!(import.problems.is_empty(), "{:?}", import.problems);

    let import = inadyn_fixture("inadyn-dyndns.conf");
    assert_eq!(import.accounts.len(), 1);
    let account = &import.accounts[0];
    assert_eq!(
        (
            account.account.provider.as_str(),
            account.account.username.as_str(),
            account.secret.as_ref().map(Secret::expose)
        ),
        ("dyndns", "user", Some("secret"))
    );
    assert_eq!(import.records[0].name, "example.dyndns.org");
    let lines = problem_lines(&import);
    assert!(
        lines.iter().any(|(l, r)| *l == 2 && r.contains("`period`")),
        "{lines:?}"
    );

    // DuckDNS: the example's placeholder YOUR_DOMAIN is no host name Dyntray takes, so the
    // account is listed with Dyntray's reason instead (the token-as-username mapping is
    // unit-tested in inadyn.rs).
    let import = inadyn_fixture("inadyn-duckdns.conf");
    assert!(import.accounts.is_empty());
    let lines = problem_lines(&import);
    assert!(
        lines.iter().any(|(l, r)| *l == 6
            && r.contains("account duckdns not imported")
            && r.contains("YOUR_DOMAIN.duckdns.org")),
        "{lines:?}"
    );

    // FreeDNS: Dyntray needs the record's token, so no password is taken.
    let import = inadyn_fixture("inadyn-freedns.conf");
    assert_eq!(import.accounts[0].account.provider, "freedns");
    assert!(import.accounts[0].secret.is_none());
    assert!(import.accounts[0].secret_note.is_some());
    assert_eq!(import.records[0].name, "coffee.example.org");

    // A custom provider that is not dyndns2 (Namecheap's own URL) is not approximated.
    let import = inadyn_fixture("inadyn-custom.conf");
    assert!(import.accounts.is_empty());
    let lines = problem_lines(&import);
    assert!(
        lines
            .iter()
            .any(|(l, r)| *l == 12 && r.contains("not a dyndns2 update")),
        "{lines:?}"
    );

    // Cloudflare over two sections: one account (zone + token), one record; the second
    // section's copy of the name, its different address source and its settings are listed.
    let import = inadyn_fixture("inadyn-cloudflare-ipv4-ipv6.conf");
    assert_eq!(import.accounts.len(), 1);
    assert_eq!(import.accounts[0].account.provider, "cloudflare");
    assert_eq!(
        import.accounts[0].secret.as_ref().map(Secret::expose),
        Some("api_token")
    );
    assert_eq!(import.records.len(), 1);
    assert_eq!(import.records[0].name, "hostname.zone.name");
    assert_eq!(import.ipv4_sources, None);
    let lines = problem_lines(&import);
    for (line, what) in [
        (1, "`allow-ipv6`"),
        (10, "`ttl`"),
        (11, "`proxied`"),
        (15, "listed twice"),
        (16, "different ipv4"),
    ] {
        assert!(
            lines.iter().any(|(l, r)| *l == line && r.contains(what)),
            "{what} at {line}: {lines:?}"
        );
    }
    Config::parse(&import.to_toml().unwrap()).unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_imported_inadyn_cache_sends_nothing_until_the_address_changes() {
    let rig = Rig::new().await;
    let server = rig.provider.url();
    let server = server.strip_prefix("http://").unwrap_or(&server);
    let config = format!(
        "period = 300\n\
         custom local {{\n\
             username = alice\n\
             password = \"pw #1\"\n\
             ssl = false\n\
             ddns-server = {server}\n\
             ddns-path = \"/nic/update?hostname=%h\"\n\
             hostname = {{ \"a.example.org\", \"b.example.org\" }}\n\
         }}\n"
    );
    let cache = |host: &str| {
        ["a.example.org", "b.example.org"]
            .contains(&host)
            .then(|| (format!("{V4}\n"), NOW - 600))
    };
    let import = inadyn::import(&config, &cache, NOW);
    assert_eq!(import.accounts.len(), 1, "{:?}", import.problems);
    assert_eq!(
        import.accounts[0].account.server.as_deref(),
        Some(rig.provider.url().trim_end_matches('/'))
    );
    std::fs::write(rig.config_path(), import.merge_into("", false).unwrap()).unwrap();
    let account = &import.accounts[0];
    dyntray_engine::secrets::store(
        &*rig.secrets,
        &account.account.id,
        &SecretSource::Keychain,
        account.secret.as_ref().unwrap(),
    )
    .unwrap();
    let mut store = StateStore::open(&rig.dir.path().join("state")).unwrap();
    assert_eq!(import.write_state(&mut store, "inadyn").unwrap().len(), 2);
    drop(store);

    let engine = rig.engine_at(false, NOW);
    assert_eq!(engine.run_once().await.unwrap().requests, 0);
    assert_eq!(rig.provider.count(), 0);

    rig.source.set(V4_NEW);
    rig.provider
        .script([Reply::ok(&format!("good {V4_NEW}\ngood {V4_NEW}\n"))]);
    assert_eq!(engine.run_once().await.unwrap().requests, 1);
    assert_eq!(
        basic_auth(&rig.provider.seen()[0]),
        Some(("alice".into(), "pw #1".into()))
    );
}

#[cfg(unix)]
/// The engine behind a real control socket, answering as both hosts do (`engine_request`).
struct Served {
    socket: PathBuf,
    _stop: tokio::sync::oneshot::Sender<()>,
}

#[cfg(unix)]
struct EngineHost {
    engine: dyntray_engine::engine::EngineHandle,
    events: tokio::sync::broadcast::Sender<dyntray_engine::control::Event>,
}

#[cfg(unix)]
impl dyntray_engine::control::ControlHandler for EngineHost {
    async fn handle(
        &self,
        request: dyntray_engine::control::Request,
    ) -> Result<serde_json::Value, dyntray_engine::control::ControlError> {
        dyntray_engine::control::engine_request(&self.engine, request)
            .await
            .unwrap_or_else(|| {
                Err(dyntray_engine::control::ControlError::new(
                    dyntray_engine::control::ErrorCode::Unsupported,
                    "not here",
                ))
            })
    }

    fn events(&self) -> tokio::sync::broadcast::Receiver<dyntray_engine::control::Event> {
        self.events.subscribe()
    }
}

#[cfg(unix)]
fn serve(rig: &Rig, engine: &dyntray_engine::engine::EngineHandle) -> Served {
    let socket = rig.dir.path().join("run/dyntray/control.sock");
    let server = dyntray_engine::control::ControlServer::bind(&socket).unwrap();
    let (events, _) = tokio::sync::broadcast::channel(8);
    let host = std::sync::Arc::new(EngineHost {
        engine: engine.clone(),
        events,
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.serve(host, async move {
        let _ = stopped.await;
    }));
    Served {
        socket,
        _stop: stop,
    }
}

#[cfg(unix)]
/// ddclient's files where the engine looks for them (`Sources::under(<rig>/import)`),
/// and an empty Dyntray config whose address source is the rig's.
fn place_ddclient(rig: &Rig, config: &str, cache: &str) {
    let root = rig.dir.path().join("import");
    let conf = root.join("etc/ddclient.conf");
    let cached = root.join("var/cache/ddclient/ddclient.cache");
    std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
    std::fs::create_dir_all(cached.parent().unwrap()).unwrap();
    std::fs::write(conf, config).unwrap();
    std::fs::write(cached, cache).unwrap();
    std::fs::write(rig.config_path(), "version = 1\n").unwrap();
}

#[cfg(unix)]
/// Finds the offer, applies it through the control API, and returns the report.
async fn import_over_the_socket(rig: &Rig, served: &Served) -> serde_json::Value {
    use dyntray_engine::control::{ControlClient, Request};
    let client = ControlClient::connect(&served.socket).await.unwrap();
    let offers: serde_json::Value = client.call(Request::FindImports).await.unwrap();
    let offers = offers.as_array().unwrap();
    assert_eq!(offers.len(), 1, "only ddclient is there: {offers:#?}");
    let offer = &offers[0];
    assert_eq!(offer["client"], "ddclient");
    assert_eq!(offer["readable"], true);
    assert_eq!(offer["cache_read"], true);
    let preview = &offer["preview"];
    let names: Vec<&str> = preview["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a.example.org", "b.example.org"]);
    assert_eq!(preview["records"][0]["address"], V4);
    assert_eq!(preview["accounts"][0]["secret"], true);
    // The mapping table and the problems with their lines, and never the password.
    assert!(
        preview["mappings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["line"] == 4 && m["from"].as_str().unwrap().contains("dyndns2")),
        "{preview:#}"
    );
    assert!(
        preview["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["line"] == 2 && p["reason"].as_str().unwrap().contains("`daemon`")),
        "{preview:#}"
    );
    assert!(!offer.to_string().contains("pw #1"), "{offer:#}");

    // A revision that is not the file's any more is refused, and nothing changes.
    let stale = client
        .call::<serde_json::Value>(Request::ApplyImport(dyntray_engine::engine::ImportAsk {
            client: dyntray_engine::import::Client::Ddclient,
            revision: "not-the-revision".into(),
            file: None,
            cache: None,
            replace: false,
            no_secrets: false,
        }))
        .await
        .unwrap_err();
    assert_eq!(stale.code, dyntray_engine::control::ErrorCode::Stale);
    assert_eq!(
        std::fs::read_to_string(rig.config_path()).unwrap(),
        "version = 1\n"
    );

    let read: dyntray_engine::engine::ConfigRead = client.call(Request::ReadConfig).await.unwrap();
    let report: serde_json::Value = client
        .call(Request::ApplyImport(dyntray_engine::engine::ImportAsk {
            client: dyntray_engine::import::Client::Ddclient,
            revision: read.revision,
            file: None,
            cache: None,
            replace: false,
            no_secrets: false,
        }))
        .await
        .unwrap();
    assert!(!report.to_string().contains("pw #1"), "{report:#}");
    report
}

// Through the control socket, which Windows does not serve yet.
#[cfg(unix)]
#[tokio::test]
async fn an_import_through_the_control_api_sends_nothing_for_an_unchanged_address() {
    let rig = Rig::new().await;
    let (config, cache) = ddclient_files(&rig);
    place_ddclient(&rig, &config, &cache);
    let engine = rig.engine_at(false, NOW);
    let served = serve(&rig, &engine);

    let report = import_over_the_socket(&rig, &served).await;
    assert_eq!(report["accounts"], serde_json::json!(["dyndns2"]));
    assert_eq!(
        report["names"],
        serde_json::json!(["a.example.org", "b.example.org"])
    );
    assert_eq!(report["addresses"].as_array().unwrap().len(), 2);
    assert_eq!(report["set_by_hand"], serde_json::json!([]));
    // The pass the import ran, and the next: nothing sent, the names up to date.
    assert_eq!(engine.run_once().await.unwrap().requests, 0);
    assert_eq!(rig.provider.count(), 0, "{:?}", rig.provider.seen());
    let status = engine.status();
    assert_eq!(status.records.len(), 2);
    assert!(
        status
            .records
            .iter()
            .all(|r| r.address.map(|a| a.to_string()).as_deref() == Some(V4)),
        "{status:#?}"
    );
    // The password is in the secret store, not in the config.
    assert_eq!(
        dyntray_engine::secrets::SecretStore::get(&*rig.secrets, "dyndns2")
            .unwrap()
            .expose(),
        "pw #1"
    );
    let text = std::fs::read_to_string(rig.config_path()).unwrap();
    assert!(!text.contains("pw #1"), "{text}");
    assert!(text.contains("a.example.org"), "{text}");
}

// Through the control socket, which Windows does not serve yet.
#[cfg(unix)]
#[tokio::test]
async fn an_import_through_the_control_api_sends_once_for_a_changed_address() {
    let rig = Rig::new().await;
    let (config, cache) = ddclient_files(&rig);
    place_ddclient(&rig, &config, &cache);
    rig.source.set(V4_NEW);
    rig.provider
        .script([Reply::ok(&format!("good {V4_NEW}\ngood {V4_NEW}\n"))]);
    let engine = rig.engine_at(false, NOW);
    let served = serve(&rig, &engine);

    import_over_the_socket(&rig, &served).await;
    // The import's own pass sent the new address, once for both names.
    assert_eq!(rig.provider.count(), 1, "{:?}", rig.provider.seen());
    let seen = rig.provider.seen();
    assert_eq!(seen[0].hostnames(), ["a.example.org", "b.example.org"]);
    assert_eq!(seen[0].param("myip"), Some(V4_NEW));
    assert_eq!(basic_auth(&seen[0]), Some(("alice".into(), "pw #1".into())));
    assert_eq!(engine.run_once().await.unwrap().requests, 0);
    assert_eq!(rig.provider.count(), 1);
}
