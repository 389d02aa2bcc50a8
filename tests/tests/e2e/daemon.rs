//! `dyntrayd` as a user runs it: the real binary, the session's gnome-keyring, a provider
//! server and an address echo on 127.0.0.1.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use dyntray_tests::fake_provider::{FakeProvider, Reply};

use crate::rig::{User, bin, wait_for};

const V4: &str = "81.2.69.160";

struct Daemon {
    user: User,
    provider: FakeProvider,
    echo: FakeProvider,
    account: String,
}

impl Daemon {
    /// A user with a config of three names on one DynDNS-style account whose secret is
    /// in the session keyring. `account` must be unique per test (the keyring is shared).
    async fn new(account: &str) -> Self {
        let daemon = Self {
            user: User::new(),
            provider: FakeProvider::start().await,
            echo: FakeProvider::start().await,
            account: account.into(),
        };
        daemon.echo.always(Reply::ok(&format!("{V4}\n")));
        daemon.write_config("");
        let stored = daemon.run_with_stdin(&["secret", "set", account], "pa$$:w0rd#1\n");
        assert!(stored.status.success(), "{}", text(&stored));
        daemon
    }

    fn write_config(&self, extra_record: &str) {
        let config = format!(
            "version = 1\n\n[detect]\nipv4 = [\"{echo}/\"]\nipv6 = []\n\n\
             [[account]]\nid = \"{account}\"\nprovider = \"dyndns\"\nusername = \"bob\"\n\
             server = \"{server}\"\n\n\
             [[record]]\nname = \"a.example.org\"\naccount = \"{account}\"\n\n\
             [[record]]\nname = \"b.example.org\"\naccount = \"{account}\"\n\n\
             [[record]]\nname = \"c.example.org\"\naccount = \"{account}\"\n{extra_record}",
            echo = self.echo.url(),
            account = self.account,
            server = self.provider.url()
        );
        let path = self.user.config_file();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, config).unwrap();
    }

    fn run(&self, args: &[&str]) -> Output {
        self.user.run("dyntrayd", args)
    }

    fn run_with_stdin(&self, args: &[&str], input: &str) -> Output {
        let mut child = self
            .user
            .command("dyntrayd")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    fn requests(&self) -> usize {
        self.provider.count()
    }
}

/// Sends `signal` (`-TERM`, `-HUP`) to a child.
fn signal(child: &std::process::Child, signal: &str) {
    Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
}

/// Sends `signal` and waits (at most 10 s) for the child to exit.
fn signal_and_wait(child: &mut std::process::Child, how: &str) -> std::process::ExitStatus {
    signal(child, how);
    wait_for("dyntrayd to exit", Duration::from_secs(10), || {
        child.try_wait().unwrap()
    })
}

fn text(output: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_updates_a_batch_then_sends_nothing() {
    let daemon = Daemon::new("e2e-once").await;
    daemon
        .provider
        .script([Reply::ok(&format!("good {V4}\n").repeat(3))]);
    let first = daemon.run(&["once"]);
    assert!(first.status.success(), "{}", text(&first));
    assert_eq!(daemon.requests(), 1, "three names, one request");
    let seen = &daemon.provider.seen()[0];
    assert_eq!(
        seen.hostnames(),
        ["a.example.org", "b.example.org", "c.example.org"]
    );
    assert_eq!(seen.param("myip"), Some(V4));
    assert_eq!(
        dyntray_tests::fake_provider::basic_auth(seen),
        Some(("bob".into(), "pa$$:w0rd#1".into())),
        "the secret came from the session keyring"
    );

    let second = daemon.run(&["once"]);
    assert!(second.status.success(), "{}", text(&second));
    assert_eq!(daemon.requests(), 1, "a second run sends nothing");
    assert!(text(&second).contains("0 request(s) sent"));

    let history = daemon.run(&["history", "a.example.org"]);
    assert!(
        text(&history).contains(&format!("good {V4}")),
        "{}",
        text(&history)
    );
    let config = std::fs::read_to_string(daemon.user.config_file()).unwrap();
    assert!(!config.contains("w0rd"), "no secret in the config file");
}

/// A minimal system without CA certificates (found by the package's install test in a
/// debootstrapped Debian): dyntrayd panicked building its HTTP client. It now runs, says
/// why HTTPS will fail, and still updates over plain HTTP on loopback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_runs_without_ca_certificates() {
    let daemon = Daemon::new("e2e-no-ca").await;
    daemon
        .provider
        .script([Reply::ok(&format!("good {V4}\n").repeat(3))]);
    let empty = tempfile::tempdir().unwrap();
    // rustls-native-certs reads only these when they are set: no certificate at all.
    let output = output_within(
        {
            let mut command = daemon.user.command("dyntrayd");
            command
                .arg("once")
                .env("SSL_CERT_FILE", empty.path().join("none.pem"))
                .env("SSL_CERT_DIR", empty.path());
            command
        },
        Duration::from_secs(60),
    );
    assert!(output.status.success(), "{}", text(&output));
    assert!(!text(&output).contains("panicked"), "{}", text(&output));
    assert!(
        text(&output).contains("ca-certificates"),
        "the log says why HTTPS will fail: {}",
        text(&output)
    );
    assert_eq!(daemon.requests(), 1, "the update went out over loopback");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn badauth_disables_until_secret_set() {
    let daemon = Daemon::new("e2e-badauth").await;
    daemon.provider.script([Reply::ok("badauth")]);
    let refused = daemon.run(&["once"]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(text(&refused).contains("badauth"));

    // Later runs send nothing, even after a change of address.
    daemon.echo.always(Reply::ok("81.2.69.171"));
    let again = daemon.run(&["once"]);
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(daemon.requests(), 1);
    let status = daemon.run(&["status"]);
    assert!(
        text(&status).contains("refused: badauth"),
        "{}",
        text(&status)
    );
    assert!(text(&status).contains("username or password"));
    // For scripts: the same, as JSON of a versioned shape.
    let json = daemon.run(&["status", "--json"]);
    assert_eq!(json.status.code(), Some(0), "{}", text(&json));
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value["version"], 1);
    let record = &value["status"]["records"][0];
    assert_eq!(record["phase"], "disabled", "{value}");
    assert_eq!(record["disabled"]["code"], "badauth");
    let history = daemon.run(&["history", "--json"]);
    let value: serde_json::Value = serde_json::from_slice(&history.stdout).unwrap();
    assert_eq!(value["version"], 1);
    assert_eq!(value["history"][0]["classification"], "fatal", "{value}");
    assert!(!String::from_utf8_lossy(&history.stdout).contains("w0rd"));
    let wrong = daemon.run(&["once", "--json"]);
    assert_ne!(wrong.status.code(), Some(0));
    assert!(text(&wrong).contains("--json is for status, history and ip"));
    // The shell's way to a new secret is told here, not in the desktop's advice.
    assert!(
        text(&status).contains("a new secret: dyntrayd secret set e2e-badauth"),
        "{}",
        text(&status)
    );

    // A new secret re-enables the records, and they go out with it.
    daemon
        .provider
        .always(Reply::ok(&"good 81.2.69.171\n".repeat(3)));
    let set = daemon.run_with_stdin(&["secret", "set", "e2e-badauth"], "right-one");
    assert!(set.status.success(), "{}", text(&set));
    let ok = daemon.run(&["once"]);
    assert!(ok.status.success(), "{}", text(&ok));
    assert_eq!(daemon.requests(), 2);
    let last = daemon.provider.seen().pop().unwrap();
    assert_eq!(
        dyntray_tests::fake_provider::basic_auth(&last).unwrap().1,
        "right-one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_delete_all_empties_the_keychain_of_the_configs_accounts() {
    let daemon = Daemon::new("e2e-delete-all").await;
    let removed = daemon.run(&["secret", "delete", "--all"]);
    assert!(removed.status.success(), "{}", text(&removed));
    assert!(
        text(&removed).contains("e2e-delete-all"),
        "{}",
        text(&removed)
    );
    // Gone from the keyring: nothing can be sent, and the user is told what to do.
    let once = daemon.run(&["once"]);
    assert!(!once.status.success(), "{}", text(&once));
    assert!(text(&once).contains("secret set"), "{}", text(&once));
    assert_eq!(daemon.requests(), 0);
    // Again: nothing left to remove is not an error.
    let again = daemon.run(&["secret", "delete", "--all"]);
    assert!(again.status.success(), "{}", text(&again));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_waits_at_least_thirty_minutes() {
    let daemon = Daemon::new("e2e-911").await;
    daemon.provider.script([Reply::ok("911")]);
    let first = daemon.run(&["once"]);
    assert_eq!(first.status.code(), Some(1));
    let again = daemon.run(&["once"]);
    assert_eq!(daemon.requests(), 1, "{}", text(&again));
    let status = text(&daemon.run(&["status"]));
    assert!(status.contains("next attempt not before"), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_errors_exit_2_naming_the_line() {
    let daemon = Daemon::new("e2e-config").await;
    daemon.write_config("wildcard = \"maybe\"\nbogus = 1\n");
    let checked = daemon.run(&["check-config"]);
    assert_eq!(checked.status.code(), Some(2));
    let out = text(&checked);
    assert!(out.contains("line 24: record[2].wildcard"), "{out}");
    assert!(out.contains("line 25: record[2]"), "{out}");
    assert!(out.contains("bogus"), "{out}");
    let once = daemon.run(&["once"]);
    assert_eq!(once.status.code(), Some(2));
    assert_eq!(daemon.requests(), 0);
    assert!(!text(&once).contains("panicked"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_serves_status_and_stops_cleanly_on_sigterm() {
    let daemon = Daemon::new("e2e-run").await;
    daemon
        .provider
        .always(Reply::ok(&format!("good {V4}\n").repeat(3)));
    let mut child = daemon
        .user
        .command("dyntrayd")
        .arg("run")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the first update", Duration::from_secs(10), || {
        (daemon.requests() == 1).then_some(())
    });
    let status = wait_for(
        "status over the control API",
        Duration::from_secs(10),
        || {
            let out = daemon.run(&["status"]);
            let t = text(&out);
            (out.status.success() && t.contains("ok") && t.contains(V4)).then_some(t)
        },
    );
    assert!(status.contains("a.example.org"), "{status}");
    // A second engine on the same state is refused.
    let once = daemon.run(&["once"]);
    assert_eq!(once.status.code(), Some(1));
    assert!(
        text(&once).contains("another Dyntray engine"),
        "{}",
        text(&once)
    );

    let exit = signal_and_wait(&mut child, "-TERM");
    assert!(exit.success(), "{exit:?}");
    assert!(!daemon.user.socket().exists());
    let _ = bin("dyntrayd");
}

/// Waits for a command, killing it after `limit` (a test must fail, not hang).
fn output_within(mut command: Command, limit: Duration) -> Output {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("still running after {limit:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_updates_never_go_through_a_proxy() {
    let daemon = Daemon::new("e2e-proxy").await;
    daemon
        .provider
        .script([Reply::ok(&format!("good {V4}\n").repeat(3))]);
    // A "proxy" that counts whoever comes to it (and would see Basic credentials).
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    proxy.set_nonblocking(true).unwrap();
    let mut command = daemon.user.command("dyntrayd");
    command.arg("once");
    for var in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
    ] {
        command.env(var, &proxy_url);
    }
    let once = output_within(command, Duration::from_secs(30));
    assert!(once.status.success(), "{}", text(&once));
    assert_eq!(
        daemon.requests(),
        1,
        "the update went straight to the server"
    );
    assert!(
        proxy.accept().is_err(),
        "the proxy was asked: credentials to loopback went through it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_path_that_is_not_a_file_is_refused_at_once() {
    let daemon = Daemon::new("e2e-fifo").await;
    let fifo = daemon.user.config_file().with_file_name("fifo.toml");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    for (path, kind) in [
        (fifo.to_str().unwrap(), "named pipe"),
        ("/dev/zero", "a device"),
    ] {
        let mut command = daemon.user.command("dyntrayd");
        command.args(["--config", path, "check-config"]);
        let checked = output_within(command, Duration::from_secs(10));
        assert_eq!(checked.status.code(), Some(2), "{path}: {}", text(&checked));
        let out = text(&checked);
        assert!(out.contains(path) && out.contains(kind), "{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_errors_in_the_log_and_back_off_is_a_warning_with_its_end() {
    let daemon = Daemon::new("e2e-logs").await;
    daemon.provider.script([Reply::ok("911")]);
    let once = daemon.run(&["once"]);
    let log = String::from_utf8_lossy(&once.stderr).into_owned();
    let warned: Vec<&str> = log.lines().filter(|l| l.contains("backing off")).collect();
    assert_eq!(warned.len(), 3, "one line per record: {log}");
    assert!(
        warned
            .iter()
            .all(|l| l.contains(" WARN ") && l.contains("until=")),
        "{log}"
    );
    assert!(
        !log.contains('\x1b'),
        "no colours in a log that is not a terminal: {log}"
    );

    // A failed address check is one line, not one per source and one more.
    let daemon = Daemon::new("e2e-logs-check").await;
    daemon.echo.always(Reply::status(503, "busy"));
    let once = daemon.run(&["once"]);
    let log = String::from_utf8_lossy(&once.stderr).into_owned();
    let failed: Vec<&str> = log.lines().filter(|l| l.contains("no address")).collect();
    assert_eq!(failed.len(), 1, "{log}");
    assert!(
        failed[0].contains(" WARN ") && failed[0].contains("503"),
        "{log}"
    );
    assert!(!log.contains("address source failed"), "{log}");

    let daemon = Daemon::new("e2e-logs-fatal").await;
    daemon.provider.script([Reply::ok("badauth")]);
    let once = daemon.run(&["once"]);
    let log = String::from_utf8_lossy(&once.stderr).into_owned();
    let refused: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("the provider refused"))
        .collect();
    assert_eq!(refused.len(), 3, "{log}");
    assert!(
        refused
            .iter()
            .all(|l| l.contains("ERROR") && l.contains("badauth")),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enable_sends_a_refused_record_again_without_the_keychain() {
    let daemon = Daemon::new("e2e-enable").await;
    daemon.provider.script([Reply::ok(&"nohost\n".repeat(3))]);
    let refused = daemon.run(&["once"]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    let status = text(&daemon.run(&["status"]));
    assert!(
        status.contains("dyntrayd enable e2e-enable/a.example.org/A"),
        "{status}"
    );

    let unknown = daemon.run(&["enable", "nosuch.example.org"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(text(&unknown).contains("no record `nosuch.example.org`"));

    // The user fixed the name at the provider: one name, then the rest.
    let one = daemon.run(&["enable", "a.example.org"]);
    assert!(one.status.success(), "{}", text(&one));
    assert!(text(&one).contains("enabled e2e-enable/a.example.org/A"));
    let status = text(&daemon.run(&["status"]));
    assert_eq!(status.matches("refused: nohost").count(), 2, "{status}");
    let all = daemon.run(&["enable", "--all"]);
    assert!(all.status.success(), "{}", text(&all));
    let status = text(&daemon.run(&["status"]));
    assert!(!status.contains("refused"), "{status}");

    daemon
        .provider
        .script([Reply::ok(&format!("good {V4}\n").repeat(3))]);
    let ok = daemon.run(&["once"]);
    assert!(ok.status.success(), "{}", text(&ok));
    assert_eq!(daemon.requests(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_history_and_once_print_provider_words_as_text() {
    let daemon = Daemon::new("e2e-escapes").await;
    // A hostile answer: clear the screen, set the title, and hide it behind a CR.
    daemon.provider.script([Reply::ok(
        &"good 81.2.69.160 \x1b[2J\x1b]0;owned\x07\rgood\n".repeat(3),
    )]);
    let once = daemon.run(&["once"]);
    for output in [once, daemon.run(&["status"]), daemon.run(&["history"])] {
        let all = text(&output);
        assert!(!all.contains('\x1b') && !all.contains('\r'), "{all:?}");
    }
    let history = text(&daemon.run(&["history"]));
    assert!(
        history.contains("\\x1b[2J\\x1b]0;owned\\x07\\rgood"),
        "{history}"
    );

    // Without a running instance, a healthy record shows its last answer and the last
    // address check, not "no address checked yet".
    let status = text(&daemon.run(&["status"]));
    assert!(status.contains("last answer: good 81.2.69.160"), "{status}");
    assert!(
        status.contains(&format!("address A: {V4} (checked ")),
        "{status}"
    );
    assert!(!status.contains("no address checked yet"), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_makes_dyntrayd_read_its_config_again() {
    let daemon = Daemon::new("e2e-hup").await;
    daemon
        .provider
        .always(Reply::ok(&format!("good {V4}\n").repeat(4)));
    // The config lives behind a symlink, in a directory the watcher does not see: only
    // SIGHUP can tell dyntrayd that it changed.
    let link = daemon.user.config_file();
    let elsewhere = link.parent().unwrap().parent().unwrap().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let real = elsewhere.join("dyntray.toml");
    std::fs::rename(&link, &real).unwrap();
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let mut child = daemon
        .user
        .command("dyntrayd")
        .arg("run")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the first update", Duration::from_secs(10), || {
        (daemon.requests() == 1).then_some(())
    });
    let before = std::fs::read_to_string(&real).unwrap();
    std::fs::write(
        &real,
        format!("{before}\n[[record]]\nname = \"d.example.org\"\naccount = \"e2e-hup\"\n"),
    )
    .unwrap();
    signal(&child, "-HUP");
    let status = wait_for("the new name", Duration::from_secs(10), || {
        let t = text(&daemon.run(&["status"]));
        t.contains("d.example.org").then_some(t)
    });
    assert!(status.contains("a.example.org"), "{status}");
    assert!(
        child.try_wait().unwrap().is_none(),
        "SIGHUP must not end it"
    );

    // `dyntrayd reload` asks the same over the control API (Windows has no SIGHUP).
    let before = std::fs::read_to_string(&real).unwrap();
    std::fs::write(
        &real,
        format!("{before}\n[[record]]\nname = \"e.example.org\"\naccount = \"e2e-hup\"\n"),
    )
    .unwrap();
    let reload = daemon.run(&["reload"]);
    assert!(reload.status.success(), "{}", text(&reload));
    assert!(text(&reload).contains("again"), "{}", text(&reload));
    assert!(text(&daemon.run(&["status"])).contains("e.example.org"));
    // A broken file is refused, saying why; the running config stays.
    std::fs::write(&real, format!("{before}\n[[record]\n")).unwrap();
    let reload = daemon.run(&["reload"]);
    assert!(!reload.status.success(), "{}", text(&reload));
    assert!(text(&reload).contains("line"), "{}", text(&reload));
    let status = text(&daemon.run(&["status"]));
    assert!(status.contains("e.example.org"), "{status}");

    let exit = signal_and_wait(&mut child, "-TERM");
    assert!(exit.success(), "{exit:?}");
}
