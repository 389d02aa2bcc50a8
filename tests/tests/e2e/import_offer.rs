//! Moving over from ddclient in the window: a first run on a machine where ddclient is
//! set up (its config and cache under a private root, `DYNTRAY_IMPORT_ROOT`) offers the
//! move next to starting fresh, previews it line by line, and imports it with the
//! address ddclient last sent, so nothing is sent to the provider.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use dyntray_tests::fake_provider::{FakeProvider, Reply};

use crate::rig::{User, artifacts_dir, bin};
use crate::webdriver::WebDriver;

const V4: &str = "81.2.69.160";

fn shot(driver: &WebDriver, name: &str) {
    driver.screenshot(&artifacts_dir().join(format!("{name}.png")));
}

/// ddclient's config and cache, as it leaves them, under `root`: one dyndns2 account at
/// the fake provider with two names, both last sent as `V4`.
fn ddclient_at(root: &Path, server: &str) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let conf = root.join("etc/ddclient.conf");
    let cache = root.join("var/cache/ddclient/ddclient.cache");
    std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
    std::fs::create_dir_all(cache.parent().unwrap()).unwrap();
    std::fs::write(
        &conf,
        format!(
            "# /etc/ddclient.conf\n\
             daemon=300\n\
             ssl=no\n\
             protocol=dyndns2, server={server}, \\\n\
             login=alice, password='pw #1' \\\n\
             home.example.org, nas.example.org\n"
        ),
    )
    .unwrap();
    let mtime = now - 3600;
    std::fs::write(
        &cache,
        format!(
            "## ddclient-3.10.0\n\
             atime=0,host=home.example.org,ip={V4},mtime={mtime},status=good home.example.org\n\
             atime=0,host=nas.example.org,ip={V4},mtime={mtime},status=good nas.example.org\n"
        ),
    )
    .unwrap();
}

#[test]
fn a_first_run_with_ddclient_moves_over_and_sends_nothing() {
    let user = User::new();
    let servers = tokio::runtime::Runtime::new().unwrap();
    let provider = servers.block_on(FakeProvider::start());
    provider.echo_good();
    let echo = servers.block_on(FakeProvider::start());
    echo.always(Reply::ok(V4));
    let root = tempfile::tempdir().unwrap();
    let server = provider.url();
    let server = server
        .strip_prefix("http://")
        .unwrap_or(&server)
        .trim_end_matches('/');
    ddclient_at(root.path(), server);
    // As in the walkthrough: the address comes from this machine, not a public echo.
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
    let _tray = user.spawn_with("dyntray", &[("DYNTRAY_IMPORT_ROOT", root.path())]);
    let driver = WebDriver::launch(&user, &bin("dyntray-settings"));

    // The first step offers the move next to the providers.
    driver.wait_text("#setup .choice[data-import=ddclient] strong", |t| {
        t == "Move over from ddclient"
    });
    assert!(driver.find("#setup-providers .choice").is_some());
    shot(&driver, "import-1-offer");
    driver.click("#setup .choice[data-import=ddclient]");

    // The preview: the names with the address ddclient sent, the account, the lines
    // not brought over with their numbers.
    driver.wait_text("#setup .step-title", |t| t == "Move over from ddclient");
    let names = driver.text("#import-names");
    assert!(names.contains("home.example.org"), "{names}");
    assert!(
        names.contains(&format!("ddclient last sent {V4}")),
        "{names}"
    );
    let problems = driver.text("#import-problems");
    assert!(problems.contains("Line 2"), "{problems}");
    assert!(problems.contains("daemon"), "{problems}");
    assert_eq!(driver.text("#setup-next"), "Import");
    shot(&driver, "import-2-preview");
    driver.resize(560, 760);
    shot(&driver, "import-2-preview-560");
    driver.resize(800, 760);

    driver.click("#setup-next");
    driver.wait_text("#setup .step-title", |t| t == "Moved over from ddclient");
    let said = driver.text("#setup-body");
    assert!(said.contains("home.example.org, nas.example.org"), "{said}");
    assert!(said.contains("systemctl disable --now ddclient"), "{said}");
    shot(&driver, "import-3-done");
    driver.click("#setup-next");

    // The names are listed, up to date, and the provider heard nothing.
    driver.wait_text("#records", |t| {
        t.contains("home.example.org") && t.contains("nas.example.org")
    });
    driver.wait_text("#records .phase", |t| t == "Up to date");
    assert!(driver.find("#setup:not([hidden])").is_none());
    shot(&driver, "import-4-listed");
    assert_eq!(provider.count(), 0, "{:?}", provider.seen());
    let config = std::fs::read_to_string(user.config_file()).unwrap();
    assert!(config.contains("home.example.org"), "{config}");
    assert!(!config.contains("pw #1"), "{config}");
}
