//! A new user's first minutes, in the real window: from the first launch to a name
//! updated at a fake DuckDNS, counting the clicks and typed fields it takes, with a
//! screenshot of each step for the README; then a revoked token, walked to its fix.

use std::cell::Cell;
use std::sync::{Arc, Mutex};

use dyntray_tests::fake_api::{FakeApi, Reply};
use dyntray_tests::fake_provider::{FakeProvider, Reply as Echo};

use crate::rig::{User, artifacts_dir, bin, control};
use crate::webdriver::WebDriver;

const TOKEN: &str = "a7c4d1e2-5f60-4b7a-9c3d-2e1f0a9b8c7d";
const NEW_TOKEN: &str = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9";

/// The window, counting what the user does: clicks and fields typed into.
struct Counted<'a> {
    driver: &'a WebDriver,
    clicks: Cell<u32>,
    typed: Cell<u32>,
}

impl Counted<'_> {
    fn click(&self, css: &str) {
        self.clicks.set(self.clicks.get() + 1);
        self.driver.click(css);
    }

    fn type_into(&self, css: &str, text: &str) {
        self.typed.set(self.typed.get() + 1);
        self.driver.type_into(css, text);
    }
}

/// Saves a step's screenshot under the artifacts folder (the README's come from there).
fn shot(driver: &WebDriver, name: &str) {
    driver.screenshot(&artifacts_dir().join(format!("{name}.png")));
}

/// DuckDNS's update call: the token in `valid` gets "OK" and its address remembered;
/// any other token "KO", as DuckDNS answers.
fn fake_duckdns(api: &FakeApi, valid: &Arc<Mutex<String>>, published: &Arc<Mutex<String>>) {
    let (valid, published) = (Arc::clone(valid), Arc::clone(published));
    api.route_fn("GET", "/update", move |call| {
        if call.param("token") != Some(valid.lock().unwrap().as_str())
            || call.param("domains") != Some("home")
        {
            return Reply::text(200, "KO");
        }
        match call.param("ip") {
            Some(ip) => {
                *published.lock().unwrap() = ip.to_owned();
                Reply::text(200, "OK")
            }
            None => Reply::text(200, "KO"),
        }
    });
}

fn check_now(user: &User) {
    control(&user.socket(), async |c| {
        c.call::<()>(dyntray_engine::control::Request::CheckNow)
            .await
    })
    .unwrap();
}

#[test]
fn a_new_user_sets_up_a_duckdns_name_and_fixes_a_revoked_token() {
    let user = User::new();
    let servers = tokio::runtime::Runtime::new().unwrap();
    let api = servers.block_on(FakeApi::start());
    let echo = servers.block_on(FakeProvider::start());
    echo.always(Echo::ok("81.2.69.160"));
    let valid = Arc::new(Mutex::new(TOKEN.to_owned()));
    let published = Arc::new(Mutex::new(String::new()));
    fake_duckdns(&api, &valid, &published);
    // The one thing a test must set that a user never does: the address sources stay on
    // this machine (a new user's defaults ask public echo services).
    std::fs::create_dir_all(user.config_file().parent().unwrap()).unwrap();
    std::fs::write(
        user.config_file(),
        format!(
            "version = 1\n\n[detect]\nipv4 = [\"{}/\"]\nipv6 = []\n",
            echo.url()
        ),
    )
    .unwrap();

    let _desktop = crate::desktop_lock();
    let _tray = user.spawn("dyntray");
    let driver = WebDriver::launch(&user, &bin("dyntray-settings"));
    let user_did = Counted {
        driver: &driver,
        clicks: Cell::new(0),
        typed: Cell::new(0),
    };

    // 1. The setup is open at once: which provider?
    driver.wait_text("#setup .step-title", |t| t == "Where is your name hosted?");
    let popular = driver.text("#setup-providers li:first-child .choice strong");
    assert_eq!(popular, "DuckDNS", "popular free services come first");
    shot(&driver, "setup-1-provider");
    user_did.type_into("#setup-search", "duck");
    user_did.click("#setup-providers .choice[data-provider=duckdns]");

    // 2. Only what DuckDNS needs: the token, with where to find it.
    driver.wait_text("#setup .step-title", |t| t == "Your DuckDNS account");
    assert!(driver.find("#setup-body input[name=username]").is_none());
    let link = driver.text("#setup-body .provider-link");
    assert_eq!(link, "www.duckdns.org");
    user_did.type_into("#setup-body input[name=secret]", TOKEN);
    driver.click("#setup-body .show-secret");
    shot(&driver, "setup-2-account");
    // Not a user's step: the fake stands where www.duckdns.org would.
    driver.click("#setup-body details.more > summary");
    driver.type_into("#setup-body input[name=server]", &api.url());
    user_did.click("#setup-next");

    // 3. The name.
    driver.wait_text("#setup .step-title", |t| {
        t == "Which names should point at this machine?"
    });
    user_did.type_into("#setup-body input[name=name]", "home.duckdns.org");
    shot(&driver, "setup-3-names");
    user_did.click("#setup-next");

    // 4. The test shows what DuckDNS said, once it said it.
    let said = driver.wait_text("#setup-test", |t| t.contains("said"));
    assert_eq!(
        said,
        "✓ home.duckdns.org points at 81.2.69.160. DuckDNS said “OK”."
    );
    assert_eq!(*published.lock().unwrap(), "81.2.69.160");
    assert_eq!(api.count(), 1, "{:#?}", api.calls());
    shot(&driver, "setup-4-test");
    user_did.click("#setup-next");

    // 5. Start at login is offered, ticked.
    driver.wait_text("#setup .step-title", |t| t == "All set");
    let ticked = driver.execute(
        "return document.querySelector('#setup-autostart').checked;",
        serde_json::json!([]),
    );
    assert_eq!(ticked, true);
    shot(&driver, "setup-5-finish");
    user_did.click("#setup-next");
    driver.wait_text("#records .phase", |t| t == "Up to date");
    let autostart = user.config_home().join("autostart/dyntray.desktop");
    assert!(autostart.exists(), "{}", autostart.display());
    assert!(driver.find("#setup:not([hidden])").is_none());
    shot(&driver, "setup-6-done");
    let (clicks, typed) = (user_did.clicks.get(), user_did.typed.get());
    println!(
        "first launch to a name updated: {clicks} clicks, {typed} typed fields \
         (plus 1 click and 1 field pointing DuckDNS at the test's fake server)"
    );
    assert!(clicks <= 6 && typed <= 3, "{clicks} clicks, {typed} fields");
    let config = std::fs::read_to_string(user.config_file()).unwrap();
    assert!(!config.contains(TOKEN), "{config}");

    // The token is revoked at DuckDNS and the address changes: refused, with DuckDNS's
    // word, and the one button that fixes it.
    *valid.lock().unwrap() = NEW_TOKEN.to_owned();
    echo.always(Echo::ok("81.2.69.161"));
    check_now(&user);
    driver.wait_text("#records .phase", |t| t == "Refused");
    let said = driver.text("#records .said");
    assert_eq!(said, "DuckDNS said “KO”");
    let fix = driver.text("#records .fix");
    assert_eq!(fix, "Change token");
    shot(&driver, "setup-7-refused");
    let fixing = Counted {
        driver: &driver,
        clicks: Cell::new(0),
        typed: Cell::new(0),
    };
    fixing.click("#records .fix");
    fixing.type_into("#editor-fields input[name=secret]", NEW_TOKEN);
    fixing.click("#editor-save");
    // The new token re-enables the name, and the changed address goes out with it.
    driver.wait_text("#records .address", |t| t == "81.2.69.161");
    assert_eq!(driver.text("#records .phase"), "Up to date");
    assert_eq!(*published.lock().unwrap(), "81.2.69.161");
    println!(
        "a revoked token to a working name: {} clicks, {} typed field",
        fixing.clicks.get(),
        fixing.typed.get()
    );
    shot(&driver, "setup-8-fixed");
}

/// Closing the window with something typed and not saved asks first: "Keep editing"
/// keeps the window and what was typed; "Close without saving" closes it.
#[test]
fn closing_with_unsaved_typing_asks_first() {
    let user = User::new();
    let servers = tokio::runtime::Runtime::new().unwrap();
    let echo = servers.block_on(FakeProvider::start());
    echo.always(Echo::ok("81.2.69.160"));
    std::fs::create_dir_all(user.config_file().parent().unwrap()).unwrap();
    std::fs::write(
        user.config_file(),
        format!(
            "version = 1\n\n[detect]\nipv4 = [\"{}/\"]\nipv6 = []\n",
            echo.url()
        ),
    )
    .unwrap();
    let _desktop = crate::desktop_lock();
    let _tray = user.spawn("dyntray");
    let driver = WebDriver::launch(&user, &bin("dyntray-settings"));
    driver.click("#setup-providers .choice[data-provider=desec]");
    driver.type_into("#setup-body input[name=secret]", "half-typed");

    crate::rig::wait_for(
        "the close question",
        std::time::Duration::from_secs(10),
        || {
            crate::rig::close_window("Dyntray Settings");
            driver.find("#ask[open]")
        },
    );
    assert_eq!(driver.text("#ask-title"), "Close without saving?");
    shot(&driver, "close-question");
    driver.click("#ask-no");
    let kept = driver.execute(
        "return document.querySelector('#setup-body input[name=secret]').value;",
        serde_json::json!([]),
    );
    assert_eq!(kept, "half-typed", "Keep editing keeps what was typed");
    assert_eq!(crate::rig::windows_titled("Dyntray Settings").len(), 1);

    crate::rig::close_window("Dyntray Settings");
    driver.wait_text("#ask-title", |t| t == "Close without saving?");
    driver.click("#ask-yes");
    crate::rig::wait_for(
        "the window to close",
        std::time::Duration::from_secs(10),
        || {
            crate::rig::windows_titled("Dyntray Settings")
                .is_empty()
                .then_some(())
        },
    );
}
