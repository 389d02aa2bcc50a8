//! Choosing where the address comes from in the settings window: the real window over
//! WebDriver, the real tray and its engine, the config file on disk.

use std::time::Duration;

use dyntray_tests::fake_dns::FakeDns;
use dyntray_tests::fake_provider::{FakeProvider, Reply};
use serde_json::json;

use crate::rig::{User, artifacts_dir, bin, click, tray_item, wait_for};
use crate::webdriver::WebDriver;

const V4: &str = "81.2.69.160";

/// The user's config, with their comments: three IPv4 sources, one IPv6 source.
fn hand_written(echo: &str, dns: &str, provider: &str) -> String {
    format!(
        "# My Dyntray setup. Keep this comment.\n\
         version = 1\n\n\
         # Where my address comes from.\n\
         [detect]\n\
         ipv4 = [\"{echo}/ip\", \"dns:opendns@{dns}\", \"command:echo {V4}\"]   # three voices\n\
         ipv6 = [\"{echo}/ip6\"]   # my IPv6 echo\n\
         agree = 2\n\n\
         [[account]]\nid = \"sources-e2e\"\nprovider = \"dyndns\"\nusername = \"bob\"\n\
         server = \"{provider}\"\n\n\
         # The one name.\n\
         [[record]]\nname = \"home.example.org\"\naccount = \"sources-e2e\"\n"
    )
}

/// The `[detect]` lines of the file on disk.
fn detect_lines(user: &User) -> (String, String) {
    let text = std::fs::read_to_string(user.config_file()).unwrap();
    let line = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("no {key} in:\n{text}"))
            .to_owned()
    };
    let lines = format!("{}\n{}\n{}", line("ipv4"), line("ipv6"), line("agree"));
    (text, lines)
}

/// Chooses sources for IPv6, moves an IPv4 source up, sets the agreement, saves; turns
/// IPv6 off, saves; and sees a plain-http web address refused by the engine, the
/// engine's words next to that source.
#[test]
fn sources_are_chosen_in_the_window_and_saved_in_place() {
    let user = User::new();
    let servers = tokio::runtime::Runtime::new().unwrap();
    let provider = servers.block_on(FakeProvider::start());
    provider.echo_good();
    let echo = servers.block_on(FakeProvider::start());
    echo.route("/ip", Reply::ok(V4));
    let dns = servers.block_on(FakeDns::start());
    dns.answer_a("myip.opendns.com.", V4);
    let (echo_url, dns_addr) = (echo.url(), dns.addr().to_string());
    let original = hand_written(&echo_url, &dns_addr, &provider.url());
    std::fs::create_dir_all(user.config_file().parent().unwrap()).unwrap();
    std::fs::write(user.config_file(), &original).unwrap();
    let mut set = user
        .command("dyntrayd")
        .args(["secret", "set", "sources-e2e"])
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

    let driver = WebDriver::launch(&user, &bin("dyntray-settings"));
    let count = |css: &str| {
        driver
            .execute(
                "return document.querySelectorAll(arguments[0]).length;",
                json!([css]),
            )
            .as_u64()
            .unwrap_or(0)
    };
    wait_for("the IPv4 sources", Duration::from_secs(15), || {
        (count("#sources-ipv4 .sources-item") == 3).then_some(())
    });
    let v4 = |n: usize, class: &str| format!("#sources-ipv4 .sources-item:nth-child({n}) .{class}");
    let v6 = |n: usize, class: &str| format!("#sources-ipv6 .sources-item:nth-child({n}) .{class}");
    // Each source in the user's words, with what it means.
    assert_eq!(driver.text(&v4(1, "sources-kind")), "A web address");
    assert_eq!(driver.text(&v4(2, "sources-kind")), "DNS service");
    assert_eq!(
        driver.text(&v4(2, "sources-address")),
        format!("OpenDNS at {dns_addr}")
    );
    assert_eq!(driver.text(&v4(3, "sources-kind")), "A command");

    // IPv6: this machine's address on eth0 instead of the echo service.
    driver.click("#sources-ipv6 .sources-add summary");
    let meaning = driver.text("#sources-ipv6 [data-preset=\"interface\"] + .sources-meaning");
    assert!(
        meaning.starts_with("The lasting address of this computer's own"),
        "{meaning}"
    );
    driver.click("#sources-ipv6 button[data-preset=\"interface\"]");
    driver.type_into(&v6(2, "sources-input"), "eth0");
    driver.click(&v6(1, "sources-remove"));
    assert_eq!(count("#sources-ipv6 .sources-item"), 1);
    // IPv4: the DNS service asked first. The focus stays on the moved source (its
    // "up" button is off at the top, so on its "down" button).
    driver.click(&v4(2, "sources-up"));
    let focused = driver.execute(
        "return document.activeElement.getAttribute('aria-label');",
        json!([]),
    );
    assert_eq!(
        focused,
        format!("Move down: DNS service OpenDNS at {dns_addr}"),
        "focus after moving"
    );
    driver.choose("#sources-agree", "3");
    assert_eq!(driver.text("#sources-message"), "Not saved yet.");
    driver.click("#sources-save");
    driver.wait_text("#sources-message", |t| t.starts_with("Saved."));

    let (text, lines) = detect_lines(&user);
    assert_eq!(
        lines,
        format!(
            "ipv4 = [\"dns:opendns@{dns_addr}\", \"{echo_url}/ip\", \"command:echo {V4}\"]   \
             # three voices\nipv6 = [\"interface:eth0\"]   # my IPv6 echo\nagree = 3"
        )
    );
    // Everything else is the user's, comments included.
    let head = &original[..original.find("ipv4 = ").unwrap()];
    let tail = &original[original.find("\n\n[[account]]").unwrap()..];
    assert!(text.starts_with(head), "{text}");
    assert!(text.ends_with(tail), "{text}");

    // IPv6 off: an empty list.
    driver.click("#sources-ipv6 .sources-enabled");
    let off = driver.text("#sources-ipv6 .sources-off");
    assert!(
        off.starts_with("Off: no IPv6 address is looked up"),
        "{off}"
    );
    assert_eq!(count("#sources-ipv6 .sources-item"), 0);
    driver.click("#sources-save");
    driver.wait_text("#sources-message", |t| t.starts_with("Saved."));
    let (text, lines) = detect_lines(&user);
    assert!(
        lines.contains("\nipv6 = []   # my IPv6 echo\nagree = 3"),
        "{lines}"
    );
    assert!(text.starts_with(head) && text.ends_with(tail), "{text}");

    // A web address over plain http to a host on the internet: the engine refuses it,
    // and says why next to that source; the file stays as it was.
    driver.click("#sources-ipv4 .sources-add summary");
    driver.click("#sources-ipv4 button[data-preset=\"url\"]");
    assert_eq!(count("#sources-ipv4 .sources-item"), 4);
    driver.type_into(&v4(4, "sources-input"), "http://checkip.example/");
    driver.click("#sources-save");
    let problem = driver.wait_text(&v4(4, "sources-problem"), |t| !t.is_empty());
    assert!(
        problem.starts_with("plain http:// is accepted only for loopback hosts"),
        "{problem}"
    );
    for n in 1..=3 {
        assert_eq!(driver.text(&v4(n, "sources-problem")), "", "source {n}");
    }
    let told = driver.text("#sources-message");
    assert!(told.starts_with("Nothing was saved."), "{told}");
    assert_eq!(std::fs::read_to_string(user.config_file()).unwrap(), text);

    // The narrowest window: nothing sticks out of the card.
    driver.resize(560, 800);
    driver.execute(
        "document.getElementById('sources-ipv4').scrollIntoView();",
        json!([]),
    );
    let overflow = driver.execute(
        "const f = document.getElementById('address-sources'); \
         return [document.documentElement.scrollWidth - document.documentElement.clientWidth, \
                 f.scrollWidth - f.clientWidth];",
        json!([]),
    );
    assert_eq!(overflow, json!([0, 0]), "wider than a 560 px window");
    driver.screenshot(&artifacts_dir().join("settings-sources.png"));
    driver.execute(
        "document.getElementById('detection-card').scrollIntoView();",
        json!([]),
    );
    driver.screenshot(&artifacts_dir().join("settings-sources-card.png"));

    // A hand edit while the window holds unsaved changes: the save is refused, the hand
    // edit stays, and the window shows the file as it is now.
    driver.click(&v4(4, "sources-remove"));
    driver.click(&v4(2, "sources-up"));
    let by_hand = text.replace("\nagree = 3\n", "\nagree = 2   # by hand, meanwhile\n");
    assert_ne!(by_hand, text);
    std::fs::write(user.config_file(), &by_hand).unwrap();
    driver.click("#sources-save");
    // Refused by the engine (stale revision), or by the window when it had read the
    // file again already: either way nothing is saved and the file is shown as it is.
    driver.wait_text("#sources-message", |t| t.contains("nothing was saved"));
    assert_eq!(
        std::fs::read_to_string(user.config_file()).unwrap(),
        by_hand
    );
    assert_eq!(count("#sources-ipv4 .sources-item"), 3);
    assert_eq!(driver.text(&v4(1, "sources-kind")), "DNS service");
    let agree = driver.execute(
        "return document.getElementById('sources-agree').value;",
        json!([]),
    );
    assert_eq!(agree, "2");
    driver.close_window();
    click(&item, "Quit");
    assert!(tray.wait_exit(Duration::from_secs(10)).success());
}
