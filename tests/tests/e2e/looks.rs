//! What the settings window looks like and who can use it: the layout at 560, 800 and
//! 1,280 px wide in light and dark (nothing wrapped inside an address, a time or a
//! button; nothing wider than the window), and axe-core over every view with no serious
//! or critical finding. Screenshots go to the artifacts folder to be looked at.

use std::time::Duration;

use dyntray_tests::fake_provider::{FakeProvider, Reply};
use serde_json::{Value, json};

use crate::rig::{User, artifacts_dir, bin, wait_for};
use crate::webdriver::WebDriver;

/// axe-core, vendored (tests/vendor/axe-core/README.md says where from).
const AXE: &str = include_str!("../../vendor/axe-core/axe.min.js");

/// Elements that must never wrap: addresses, times, buttons, names, the setup's steps.
/// (A provider card in the setup is a button of two lines by design: its name must not wrap.)
const UNBROKEN: &str =
    ".address, time, button:not(.choice), .choice strong, .steps li, .badge, .record .name";

/// A window with two names: one up to date, one refused, and their history.
fn two_names(
    user: &User,
) -> (
    FakeProvider,
    FakeProvider,
    FakeProvider,
    tokio::runtime::Runtime,
) {
    let servers = tokio::runtime::Runtime::new().unwrap();
    let good = servers.block_on(FakeProvider::start());
    let refusing = servers.block_on(FakeProvider::start());
    let echo = servers.block_on(FakeProvider::start());
    echo.always(Reply::ok("81.2.69.160"));
    good.echo_good();
    refusing.always(Reply::ok("badauth"));
    let dir = user.config_file().parent().unwrap().to_owned();
    std::fs::create_dir_all(&dir).unwrap();
    let secret = dir.join("home.secret");
    std::fs::write(&secret, "s3cret\n").unwrap();
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    std::fs::write(
        user.config_file(),
        format!(
            "version = 1\n\n[detect]\nipv4 = [\"{echo}/\"]\nipv6 = []\n\n\
             [[account]]\nid = \"home\"\nprovider = \"dyndns\"\nusername = \"alice\"\n\
             secret = \"file:{secret}\"\nserver = \"{good}\"\n\n\
             [[account]]\nid = \"office\"\nprovider = \"noip\"\nusername = \"bob\"\n\
             secret = \"file:{secret}\"\nserver = \"{refusing}\"\n\n\
             [[record]]\nname = \"home.example.org\"\naccount = \"home\"\n\n\
             [[record]]\nname = \"a-rather-long-name.office.example.net\"\naccount = \"office\"\n",
            echo = echo.url(),
            secret = secret.display(),
            good = good.url(),
            refusing = refusing.url(),
        ),
    )
    .unwrap();
    (good, refusing, echo, servers)
}

/// Sets the window's width, waits for the layout, and reports what breaks the rules.
fn layout_problems(driver: &WebDriver, width: u32) -> Vec<String> {
    driver.resize(width, 760);
    std::thread::sleep(Duration::from_millis(300));
    let found = driver.execute(
        "const problems = []; \
         const page = document.documentElement; \
         if (page.scrollWidth > window.innerWidth + 1) \
           problems.push(`the page is ${page.scrollWidth}px wide in a ${window.innerWidth}px window`); \
         for (const e of document.querySelectorAll(arguments[0])) { \
           if (e.offsetParent === null) continue; \
           const lines = e.getClientRects().length; \
           const tall = e.getBoundingClientRect().height > parseFloat(getComputedStyle(e).lineHeight || '20') * 1.9 + 12; \
           if (lines > 1 || tall) problems.push(`${e.tagName.toLowerCase()}.${e.className} wraps: ${e.textContent.trim()}`); \
         } \
         return problems;",
        json!([UNBROKEN]),
    );
    found
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect()
}

/// Runs axe-core on the page as it is; returns the serious and critical findings.
fn axe(driver: &WebDriver) -> Vec<String> {
    driver.execute(&format!("{AXE}\nreturn true;"), json!([]));
    let found = driver.post_async(
        "const done = arguments[arguments.length - 1]; \
         axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations \
           .filter(v => v.impact === 'serious' || v.impact === 'critical') \
           .map(v => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3) \
             .map(n => n.target.join(' ') + ': ' + n.failureSummary.replace(/\\n/g, ' ')).join(' | ')}`)), \
           e => done([`axe failed: ${e}`]));",
    );
    found
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect()
}

/// Every view of the window in one colour scheme: the main page, the open account form,
/// the question before a removal, and each step of the guided setup.
fn every_view(driver: &WebDriver, scheme: &str) -> Vec<String> {
    let mut findings = Vec::new();
    let mut check = |view: &str| {
        for finding in axe(driver) {
            findings.push(format!("{scheme} {view}: {finding}"));
        }
    };
    check("names");
    driver.click("#accounts .edit");
    driver.wait_text("#editor-title", |t| !t.is_empty());
    check("account form");
    driver.click("#editor-cancel");
    driver.click("#records .remove");
    driver.wait_text("#editor-title", |t| t.starts_with("Remove"));
    check("remove question");
    driver.click("#editor-cancel");
    driver.click("#add-record");
    driver.wait_text("#setup .step-title", |t| t == "Where is your name hosted?");
    check("setup: provider");
    driver.click("#setup-providers .choice[data-provider=duckdns]");
    driver.wait_text("#setup .step-title", |t| t == "Your DuckDNS account");
    check("setup: account");
    driver.click("#setup-next");
    driver.wait_text("#setup-body .problem", |t| !t.is_empty());
    check("setup: a problem shown");
    driver.click("#setup-cancel");
    wait_for("the question", Duration::from_secs(5), || {
        driver.find("#ask[open]")
    });
    check("question");
    driver.click("#ask-yes");
    findings
}

#[test]
fn the_window_fits_every_width_and_passes_axe_in_light_and_dark() {
    let user = User::new();
    let (_good, _refusing, _echo, _servers) = two_names(&user);
    let _desktop = crate::desktop_lock();
    let _tray = user.spawn("dyntray");
    let mut problems = Vec::new();
    for scheme in ["light", "dark"] {
        let theme = if scheme == "dark" {
            "Adwaita:dark"
        } else {
            "Adwaita"
        };
        let driver =
            WebDriver::launch_with(&user, &bin("dyntray-settings"), &[("GTK_THEME", theme)]);
        driver.wait_text("#records", |t| {
            t.contains("Refused") && t.contains("Up to date")
        });
        driver.wait_text("#history", |t| t.contains("Refused"));
        let dark = driver.execute(
            "return matchMedia('(prefers-color-scheme: dark)').matches;",
            serde_json::json!([]),
        );
        assert_eq!(
            dark,
            Value::Bool(scheme == "dark"),
            "the window follows the desktop's scheme"
        );
        for width in [560, 800, 1280] {
            for problem in layout_problems(&driver, width) {
                problems.push(format!("{scheme} {width}px: {problem}"));
            }
            driver.screenshot(&artifacts_dir().join(format!("layout-{width}-{scheme}.png")));
        }
        // The guided setup at the narrowest width, on its busiest steps.
        driver.click("#add-record");
        driver.wait_text("#setup .step-title", |t| t == "Where is your name hosted?");
        for problem in layout_problems(&driver, 560) {
            problems.push(format!("{scheme} setup 560px: {problem}"));
        }
        driver.screenshot(&artifacts_dir().join(format!("layout-560-setup-{scheme}.png")));
        driver.click("#setup-providers .choice[data-provider=cloudflare]");
        driver.wait_text("#setup .step-title", |t| t == "Your Cloudflare account");
        driver.click("#setup-body details.more > summary");
        for problem in layout_problems(&driver, 560) {
            problems.push(format!("{scheme} setup account 560px: {problem}"));
        }
        driver.screenshot(&artifacts_dir().join(format!("layout-560-setup-account-{scheme}.png")));
        // A provider was chosen: Cancel asks before dropping that.
        driver.click("#setup-cancel");
        driver.wait_text("#ask-title", |t| t == "Stop setting up?");
        driver.click("#ask-yes");
        driver.resize(800, 760);
        problems.extend(every_view(&driver, scheme));
        driver.close_window();
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
