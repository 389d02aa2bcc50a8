//! HTTP API providers set up as a new user would: in the real settings window, against
//! a fake of the provider's API on 127.0.0.1.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use dyntray_tests::fake_api::{FakeApi, Reply};
use dyntray_tests::fake_provider::{FakeProvider, Reply as Echo};
use serde_json::json;

use crate::rig::{User, artifacts_dir, bin, control, wait_for};
use crate::webdriver::WebDriver;

const TOKEN: &str = "cf-T0ken_e2e-9f8e7d";
const ZONE_ID: &str = "023e105f4ecef8ad9ca31a8372d0c353";

/// Asks the running tray to check the address now; returns when the pass is done.
fn check_now(user: &User) {
    control(&user.socket(), async |c| {
        c.call::<()>(dyntray_engine::control::Request::CheckNow)
            .await
    })
    .unwrap();
}

/// A Cloudflare API with one zone and one A record, whose content PATCH changes; it
/// refuses every call with Cloudflare's "Invalid access token" once `refuse` is set.
fn fake_cloudflare(api: &FakeApi, content: &Arc<Mutex<String>>, refuse: &Arc<Mutex<bool>>) {
    let refused = || {
        Reply::json(
            401,
            json!({"success": false, "errors": [{"code": 9109, "message": "Invalid access token"}],
                "messages": [], "result": null})
            .to_string(),
        )
    };
    let no = Arc::clone(refuse);
    api.route_fn("GET", "/client/v4/user/tokens/verify", move |_| {
        if *no.lock().unwrap() {
            return refused();
        }
        Reply::json(
            200,
            json!({"success": true, "errors": [], "messages": [],
                "result": {"id": "e2e", "status": "active"}})
            .to_string(),
        )
    });
    let no = Arc::clone(refuse);
    api.route_fn("GET", "/client/v4/zones", move |call| {
        if *no.lock().unwrap() {
            return refused();
        }
        // By name (finding a name's zone) or all (the account check).
        let result = if matches!(call.param("name"), None | Some("example.org")) {
            json!([{"id": ZONE_ID, "name": "example.org", "status": "active"}])
        } else {
            json!([])
        };
        Reply::json(
            200,
            json!({"success": true, "errors": [], "messages": [], "result": result}).to_string(),
        )
    });
    let (now, no) = (Arc::clone(content), Arc::clone(refuse));
    api.route_fn("GET", "/client/v4/zones/*/dns_records", move |_| {
        if *no.lock().unwrap() {
            return refused();
        }
        let record = json!({"id": "rec1", "name": "home.example.org", "type": "A",
            "content": *now.lock().unwrap(), "proxied": true, "ttl": 1});
        Reply::json(
            200,
            json!({"success": true, "errors": [], "messages": [], "result": [record]}).to_string(),
        )
    });
    let (now, no) = (Arc::clone(content), Arc::clone(refuse));
    api.route_fn(
        "PATCH",
        "/client/v4/zones/*/dns_records/rec1",
        move |call| {
            if *no.lock().unwrap() {
                return refused();
            }
            let body: serde_json::Value = serde_json::from_str(&call.body).unwrap();
            let content = body["content"].as_str().unwrap().to_owned();
            *now.lock().unwrap() = content.clone();
            let record = json!({"id": "rec1", "name": "home.example.org", "type": "A",
            "content": content, "proxied": true, "ttl": 1});
            Reply::json(
                200,
                json!({"success": true, "errors": [], "messages": [], "result": record})
                    .to_string(),
            )
        },
    );
}

#[test]
fn a_cloudflare_name_is_set_up_from_the_window_with_a_token_alone() {
    let user = User::new();
    let servers = tokio::runtime::Runtime::new().unwrap();
    let api = servers.block_on(FakeApi::start());
    let echo = servers.block_on(FakeProvider::start());
    echo.always(Echo::ok("81.2.69.160"));
    let content = Arc::new(Mutex::new("81.2.69.1".to_owned()));
    let refuse = Arc::new(Mutex::new(false));
    fake_cloudflare(&api, &content, &refuse);
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
    driver.wait_text("#setup .step-title", |t| t == "Where is your name hosted?");

    // The provider is found by typing part of its name; its form asks for a token only.
    driver.type_into("#setup-search", "cloudfl");
    driver.click("#setup-providers .choice[data-provider=cloudflare]");
    driver.wait_text("#setup-body .field[data-key=secret] .label", |t| {
        t == "API token"
    });
    assert!(driver.find("#setup-body input[name=username]").is_none());
    let help = driver.text("#setup-body");
    assert!(help.contains("Edit zone DNS"), "{help}");
    assert_eq!(
        driver.text("#setup-body .provider-link"),
        "dash.cloudflare.com/profile/api-tokens"
    );
    assert!(help.contains("Where to find your API token:"), "{help}");
    driver.type_into("#setup-body input[name=secret]", TOKEN);
    driver.screenshot(&artifacts_dir().join("settings-cloudflare-account.png"));
    // The fake API stands where api.cloudflare.com would.
    driver.click("#setup-body details.more > summary");
    driver.type_into(
        "#setup-body input[name=server]",
        &format!("{}/client/v4", api.url()),
    );
    driver.click("#setup-next");
    driver.type_into("#setup-body input[name=name]", "home.example.org");
    driver.click("#setup-next");
    let said = driver.wait_text("#setup-test", |t| t.contains("said"));
    assert!(
        said.contains("home.example.org points at 81.2.69.160"),
        "{said}"
    );
    driver.click("#setup-next");
    driver.click("#setup-next");
    driver.wait_text("#records .phase", |t| t == "Up to date");

    // The zone was found from the name, the record read, and only its content written.
    let writes = api.writes();
    assert_eq!(writes.len(), 1, "{:#?}", api.calls());
    assert_eq!(writes[0].method, "PATCH");
    assert_eq!(writes[0].bearer(), Some(TOKEN));
    let body: serde_json::Value = serde_json::from_str(&writes[0].body).unwrap();
    assert_eq!(body, json!({"content": "81.2.69.160"}));
    assert!(
        api.calls()
            .iter()
            .any(|c| c.path == "/client/v4/zones" && c.param("name") == Some("example.org"))
    );
    let config = std::fs::read_to_string(user.config_file()).unwrap();
    assert!(!config.contains(TOKEN), "{config}");
    assert!(!config.contains("username"), "{config}");

    // "Test" asks Cloudflare about the token and changes nothing.
    driver.click("#accounts .test");
    let verdict = driver.wait_text("#accounts .test-result", |t| !t.is_empty());
    assert_eq!(
        verdict,
        "Cloudflare accepts the token. It can see the zone example.org."
    );
    assert_eq!(api.writes().len(), 1, "{:#?}", api.calls());

    // A second pass sends nothing at all: the address did not change.
    let before = api.count();
    check_now(&user);
    assert_eq!(api.count(), before, "{:#?}", api.calls());

    // The token is revoked and the address changes: the name is refused, with
    // Cloudflare's words, and nothing more is sent.
    *refuse.lock().unwrap() = true;
    echo.always(Echo::ok("81.2.69.161"));
    check_now(&user);
    let answer = driver.wait_text("#records .said", |t| t.contains("Invalid access token"));
    assert!(answer.contains("9109"), "{answer}");
    assert_eq!(driver.text("#records .fix"), "Change API token");
    driver.wait_text("#records .phase", |t| !t.is_empty() && t != "Up to date");
    let status = control(&user.socket(), async |c| {
        c.call::<dyntray_engine::engine::Status>(dyntray_engine::control::Request::Status)
            .await
    })
    .unwrap();
    let disabled = status.records[0].disabled.clone().unwrap();
    assert_eq!(disabled.code, "cf-9109");
    assert!(disabled.advice.contains("token"), "{}", disabled.advice);
    driver.screenshot(&artifacts_dir().join("settings-cloudflare-refused.png"));
    let after = api.count();
    check_now(&user);
    assert_eq!(api.count(), after, "a refused token sends nothing more");
    wait_for(
        "no write with the refused token",
        Duration::from_secs(1),
        || (api.writes().len() == 1).then_some(()),
    );
    driver.close_window();
}

/// Remove asks first: Cancel keeps the name; Remove takes it out of the file and
/// nothing more. An account that still has names is not removed at all.
#[test]
fn remove_asks_first_and_an_account_with_names_stays() {
    let user = User::new();
    let servers = tokio::runtime::Runtime::new().unwrap();
    let provider = servers.block_on(FakeProvider::start());
    let echo = servers.block_on(FakeProvider::start());
    echo.always(Echo::ok("81.2.69.160"));
    provider.echo_good();
    let secret = user.config_file().with_file_name("home.secret");
    std::fs::create_dir_all(secret.parent().unwrap()).unwrap();
    std::fs::write(&secret, "s3cret\n").unwrap();
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    std::fs::write(
        user.config_file(),
        format!(
            "version = 1\n\n[detect]\nipv4 = [\"{}/\"]\nipv6 = []\n\n[[account]]\n\
             id = \"home\"\nprovider = \"dyndns\"\nusername = \"alice\"\n\
             secret = \"file:{}\"\nserver = \"{}\"\n\n# Keep this note.\n[[record]]\n\
             name = \"home.example.org\"\naccount = \"home\"\n",
            echo.url(),
            secret.display(),
            provider.url()
        ),
    )
    .unwrap();

    let _desktop = crate::desktop_lock();
    let _tray = user.spawn("dyntray");
    let driver = WebDriver::launch(&user, &bin("dyntray-settings"));
    driver.wait_text("#records .name", |t| t == "home.example.org");
    let before = std::fs::read_to_string(user.config_file()).unwrap();

    // The account still has a name: the question explains, and offers no Remove.
    driver.click("#accounts .remove");
    driver.wait_text("#editor-title", |t| {
        t == "Remove the DynDNS (alice) account?"
    });
    let why = driver.text("#editor-fields");
    assert!(why.contains("remove it first"), "{why}");
    assert!(driver.find("#editor-save:not([hidden])").is_none());
    driver.click("#editor-cancel");

    // A name: Cancel keeps it, untouched.
    driver.click("#records .remove");
    driver.wait_text("#editor-title", |t| t == "Remove home.example.org?");
    assert!(driver.text("#editor-fields").contains("history stays"));
    driver.click("#editor-cancel");
    assert_eq!(std::fs::read_to_string(user.config_file()).unwrap(), before);

    // Remove removes that table and nothing else.
    driver.click("#records .remove");
    driver.wait_text("#editor-save", |t| t == "Remove");
    driver.click("#editor-save");
    wait_for(
        "the name removed from the file",
        Duration::from_secs(10),
        || {
            let after = std::fs::read_to_string(user.config_file()).unwrap();
            (!after.contains("home.example.org")).then_some(after)
        },
    );
    let after = std::fs::read_to_string(user.config_file()).unwrap();
    assert!(after.contains("[[account]]\nid = \"home\""), "{after}");
    // The engine writes the file before it answers; the question closes on the answer.
    wait_for("the question closed", Duration::from_secs(10), || {
        driver.find("#editor:not([hidden])").is_none().then_some(())
    });
    driver.close_window();
}
