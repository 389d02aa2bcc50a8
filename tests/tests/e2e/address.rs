//! `dyntrayd ip` as a user runs it: the real binary asking every kind of source, each one
//! a real server on 127.0.0.1 (HTTP echo, DNS, a UPnP router) or a real command.

use std::process::Output;
use std::time::Duration;

use dyntray_tests::fake_dns::FakeDns;
use dyntray_tests::fake_igd::FakeIgd;
use dyntray_tests::fake_provider::{FakeProvider, Reply};

use crate::rig::{User, artifacts_dir, bin, click, tray_item, wait_for};
use crate::webdriver::WebDriver;

const V4: &str = "81.2.69.160";
const V4_OTHER: &str = "81.2.69.161";

fn text(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn write_config(user: &User, detect: &str) {
    let path = user.config_file();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, format!("version = 1\n\n[detect]\n{detect}")).unwrap();
}

/// The line of `output` about `source`.
fn line_of<'a>(stdout: &'a str, source: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.trim_start().starts_with(source))
        .unwrap_or_else(|| panic!("no line for {source} in:\n{stdout}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_shows_every_source_and_the_agreed_address() {
    let echo = FakeProvider::start().await;
    echo.route("/plain", Reply::ok(&format!("{V4}\n")));
    echo.route("/error", Reply::status(500, "down"));
    let dns = FakeDns::start().await;
    dns.answer_a("myip.opendns.com.", V4);
    dns.answer_txt("o-o.myaddr.l.google.com.", false, &[V4]);
    dns.answer_txt("whoami.cloudflare.", true, &[V4_OTHER]);
    let router = FakeIgd::start().await;
    router.set_external(V4);

    let user = User::new();
    let sources = [
        format!("{}/plain", echo.url()),
        format!("{}/error", echo.url()),
        format!("dns:cloudflare@{}", dns.addr()),
        format!("dns:opendns@{}", dns.addr()),
        format!("upnp@{}", router.ssdp_addr()),
        format!("dns:google@{}", dns.addr()),
        format!("command:echo WAN {V4}"),
    ];
    let quoted: Vec<String> = sources.iter().map(|s| format!("{s:?}")).collect();
    write_config(
        &user,
        &format!("ipv4 = [{}]\nipv6 = []\nagree = 3\n", quoted.join(", ")),
    );
    let output = user.run("dyntrayd", &["ip"]);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        stdout.starts_with("IPv4 (7 sources, 3 must agree)"),
        "{stdout}"
    );
    // Every source is asked and shown with its own answer.
    assert!(line_of(&stdout, &sources[0]).ends_with(&format!("{V4}  (agrees)")));
    assert!(line_of(&stdout, &sources[1]).contains("failed: HTTP 500"));
    let cloudflare = line_of(&stdout, &sources[2]);
    assert!(cloudflare.ends_with(V4_OTHER), "{cloudflare}");
    assert!(line_of(&stdout, &sources[3]).ends_with("(agrees)"));
    assert!(line_of(&stdout, &sources[4]).ends_with("(agrees)"));
    // Asked anyway (`ip` asks everyone), the later sources agree too.
    assert!(line_of(&stdout, &sources[5]).ends_with("(agrees)"));
    assert!(line_of(&stdout, &sources[6]).ends_with(&format!("{V4}  (agrees)")));
    assert!(
        stdout.contains(&format!("=> {V4} would be published")),
        "{stdout}"
    );
    // Each server really was asked, the DNS ones in the right class.
    assert_eq!(echo.count(), 2);
    assert_eq!(router.soap_count(), 1);
    let classes: Vec<String> = dns.seen().iter().map(|q| q.class.to_string()).collect();
    assert!(classes.contains(&"CH".to_owned()), "{classes:?}");
    assert_eq!(dns.count(), 3);

    // For scripts: the same report as JSON of a versioned shape.
    let output = user.run("dyntrayd", &["ip", "--json"]);
    assert!(output.status.success(), "{}", text(&output));
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["version"], 1, "{value}");
    assert_eq!(value["addresses"][0]["address"], V4, "{value}");
    assert_eq!(
        value["addresses"][0]["sources"].as_array().unwrap().len(),
        7
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_exits_1_when_no_address_is_agreed() {
    let echo = FakeProvider::start().await;
    echo.route("/a", Reply::ok(V4));
    echo.route("/b", Reply::ok("192.168.0.2"));
    let router = FakeIgd::start().await;
    router.set_external("");
    let user = User::new();
    write_config(
        &user,
        &format!(
            "ipv4 = [\"{0}/a\", \"{0}/b\", \"upnp@{1}\"]\nipv6 = []\n",
            echo.url(),
            router.ssdp_addr()
        ),
    );
    let output = user.run("dyntrayd", &["ip", "-4"]);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        stdout.contains("192.168.0.2 is a private address"),
        "{stdout}"
    );
    assert!(
        stdout.contains("the router has no WAN address (not connected?)"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "=> no address: not enough sources agree (1 of 2 needed): {V4} from {}/a",
            echo.url()
        )),
        "{stdout}"
    );

    // A bad source in the config is named with its key and the exit status is 2.
    write_config(&user, "ipv4 = [\"dns:quad9\"]\n");
    let output = user.run("dyntrayd", &["ip"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("detect.ipv4[0]") && stderr.contains("unknown DNS service `quad9`"),
        "{stderr}"
    );
}

/// The daemon's environment may hold an account's secret (`secret = "env:…"`); a command
/// source never sees it.
#[test]
fn a_command_source_does_not_inherit_secrets() {
    let user = User::new();
    write_config(
        &user,
        "ipv4 = [\"command:echo ${HOME_DDNS_KEY:-81.2.69.160}\"]\nipv6 = []\n",
    );
    let output = user
        .command("dyntrayd")
        .args(["ip"])
        .env("HOME_DDNS_KEY", "81.2.69.99")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        stdout.contains(&format!("=> {V4} would be published")),
        "{stdout}"
    );
    assert!(!stdout.contains("81.2.69.99"), "{stdout}");
}

/// The settings window's Public address card, with the tray running on a config of four
/// sources: two agree, one fails (and rests), the last is not needed.
#[test]
fn the_settings_window_shows_every_source() {
    let user = User::new();
    let servers = tokio::runtime::Runtime::new().unwrap();
    let provider = servers.block_on(FakeProvider::start());
    provider.echo_good();
    let echo = servers.block_on(FakeProvider::start());
    echo.route("/ip", Reply::ok(V4));
    echo.route("/down", Reply::status(503, "maintenance"));
    let dns = servers.block_on(FakeDns::start());
    dns.answer_a("myip.opendns.com.", V4);
    let config = format!(
        "version = 1\n\n[detect]\nipv4 = [\"{0}/ip\", \"{0}/down\", \"dns:opendns@{1}\", \
         \"command:echo {V4}\"]\nipv6 = []\n\n\
         [[account]]\nid = \"address-e2e\"\nprovider = \"dyndns\"\nusername = \"bob\"\n\
         server = \"{2}\"\n\n[[record]]\nname = \"home.example.org\"\naccount = \"address-e2e\"\n",
        echo.url(),
        dns.addr(),
        provider.url()
    );
    std::fs::create_dir_all(user.config_file().parent().unwrap()).unwrap();
    std::fs::write(user.config_file(), config).unwrap();
    let mut set = user
        .command("dyntrayd")
        .args(["secret", "set", "address-e2e"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut set.stdin.take().unwrap(), b"secret").unwrap();
    assert!(set.wait().unwrap().success());

    let _desktop = crate::desktop_lock();
    let mut tray = user.spawn("dyntray");
    let item = tray_item(tray.pid());
    wait_for("the update", Duration::from_secs(15), || {
        (provider.count() == 1).then_some(())
    });
    assert_eq!(provider.seen()[0].param("myip"), Some(V4));

    let driver = WebDriver::launch(&user, &bin("dyntray-settings"));
    assert_eq!(
        driver.wait_text("#detection .family-address", |t| t == V4),
        V4
    );
    let why = driver.text("#detection .family-why");
    assert!(why.starts_with("— 2 sources agree · checked"), "{why}");
    let cell = |row: usize, class: &str| {
        driver.text(&format!("#detection tbody tr:nth-child({row}) .{class}"))
    };
    assert_eq!(cell(1, "source-name"), format!("{}/ip", echo.url()));
    assert_eq!(cell(1, "source-answer"), V4);
    assert_eq!(cell(1, "source-state"), "agrees");
    assert_eq!(cell(2, "source-answer"), "HTTP 503 Service Unavailable");
    let resting = cell(2, "source-state");
    assert!(resting.starts_with("failed; asked again in "), "{resting}");
    assert_eq!(
        cell(3, "source-name"),
        format!("dns:opendns@{}", dns.addr())
    );
    assert_eq!(cell(3, "source-state"), "agrees");
    assert_eq!(cell(4, "source-answer"), "—");
    assert_eq!(cell(4, "source-state"), "not needed");
    driver.screenshot(&artifacts_dir().join("settings-address.png"));
    driver.close_window();
    click(&item, "Quit");
    assert!(tray.wait_exit(Duration::from_secs(10)).success());
}
