//! The tray as a user sees it: hosted by a real panel (xfce4-panel's status tray, a
//! StatusNotifierWatcher, started by the headless session), its menu opened with a right
//! click, captured for the README.

use std::time::Duration;

use dyntray_tests::fake_provider::{FakeProvider, Reply};

use crate::rig::{User, artifacts_dir, screenshot_root, tool, tray_item, wait_for};

/// Registered items, as the panel's StatusNotifierWatcher lists them.
fn registered_items() -> Option<String> {
    tool(
        "busctl",
        &[
            "--user",
            "--timeout=2",
            "get-property",
            "org.kde.StatusNotifierWatcher",
            "/StatusNotifierWatcher",
            "org.kde.StatusNotifierWatcher",
            "RegisteredStatusNotifierItems",
        ],
    )
}

#[test]
fn tray_menu_in_a_real_panel() {
    let _desktop = crate::desktop_lock();
    let user = User::new();
    // The session's panel (scripts/headless-session.sh starts it) hosts the item.
    wait_for(
        "the panel's status tray watcher",
        Duration::from_secs(20),
        || registered_items().map(|_| ()),
    );

    // One name, kept up to date against a local provider, so the menu shows a record.
    let servers = tokio::runtime::Runtime::new().expect("runtime");
    let provider = servers.block_on(FakeProvider::start());
    let echo = servers.block_on(FakeProvider::start());
    echo.always(Reply::ok("81.2.69.160"));
    provider.always(Reply::ok("good 81.2.69.160"));
    let secret = user.config_file().with_file_name("home.secret");
    std::fs::create_dir_all(secret.parent().expect("config dir")).expect("config dir");
    std::fs::write(&secret, "s3cret\n").expect("secret file");
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    std::fs::write(
        user.config_file(),
        format!(
            "version = 1\n\n[detect]\nipv4 = [\"{}/\"]\nipv6 = []\n\n[[account]]\n\
             id = \"home\"\nprovider = \"dyndns\"\nusername = \"alice\"\n\
             secret = \"file:{}\"\nserver = \"{}\"\n\n[[record]]\nname = \"home.example.org\"\n\
             account = \"home\"\noffline_address = \"81.2.69.1\"\n",
            echo.url(),
            secret.display(),
            provider.url()
        ),
    )
    .expect("config");

    let mut tray = user.spawn("dyntray");
    let item = tray_item(tray.pid());
    wait_for("the record in the menu", Duration::from_secs(10), || {
        crate::rig::menu(&item)
            .into_iter()
            .find(|e| e.label == "✓ home.example.org — up to date")
    });
    wait_for(
        "the panel to host the tray item",
        Duration::from_secs(10),
        || {
            registered_items()
                .filter(|items| items.contains(&item))
                .map(|_| ())
        },
    );
    // The panel sits at the top; the status tray is its rightmost plugin.
    std::thread::sleep(Duration::from_millis(500));
    // No notification popup over the picture.
    let _ = tool("dunstctl", &["close-all"]);
    tool("xdotool", &["mousemove", "1266", "15", "click", "3"]).expect("right click");
    std::thread::sleep(Duration::from_millis(700));
    let shot = artifacts_dir().join("tray-menu-full.png");
    screenshot_root(&shot);
    let cropped = artifacts_dir().join("tray-menu.png");
    tool(
        "convert",
        &[
            shot.to_str().expect("utf-8"),
            "-crop",
            "500x260+780+0",
            "+repage",
            cropped.to_str().expect("utf-8"),
        ],
    )
    .expect("crop the screenshot");
    tool("xdotool", &["key", "Escape"]);

    crate::rig::control(&user.socket(), async |c| {
        c.call::<()>(dyntray_engine::control::Request::Quit).await
    })
    .expect("quit over the control API");
    assert!(tray.wait_exit(Duration::from_secs(10)).success());
}

/// "Check now" in the tray checks the address and sends only what changed: an unchanged
/// address sends nothing (an unchanged update counts against the account; forcing one is
/// the window's, behind its question), a changed one exactly one update.
#[test]
fn the_trays_check_now_sends_only_what_changed() {
    let _desktop = crate::desktop_lock();
    let user = User::new();
    let servers = tokio::runtime::Runtime::new().expect("runtime");
    let provider = servers.block_on(FakeProvider::start());
    let echo = servers.block_on(FakeProvider::start());
    echo.always(Reply::ok("81.2.69.160"));
    provider.echo_good();
    let secret = user.config_file().with_file_name("home.secret");
    std::fs::create_dir_all(secret.parent().expect("config dir")).expect("config dir");
    std::fs::write(&secret, "s3cret\n").expect("secret file");
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    std::fs::write(
        user.config_file(),
        format!(
            "version = 1\n\n[detect]\nipv4 = [\"{}/\"]\nipv6 = []\n\n[[account]]\n\
             id = \"home\"\nprovider = \"dyndns\"\nusername = \"alice\"\n\
             secret = \"file:{}\"\nserver = \"{}\"\n\n[[record]]\nname = \"home.example.org\"\n\
             account = \"home\"\n",
            echo.url(),
            secret.display(),
            provider.url()
        ),
    )
    .expect("config");
    let tray = user.spawn("dyntray");
    let item = tray_item(tray.pid());
    wait_for("the record in the menu", Duration::from_secs(10), || {
        crate::rig::menu(&item)
            .into_iter()
            .find(|e| e.label == "✓ home.example.org — up to date")
    });
    assert_eq!(provider.count(), 1);
    let asked = echo.count();

    crate::rig::click(&item, "Check now");
    wait_for("the address checked again", Duration::from_secs(10), || {
        (echo.count() > asked).then_some(())
    });
    // The engine runs one command at a time: once a check asked over the control socket
    // has returned, the click's check and its pass are over.
    crate::rig::control(&user.socket(), async |c| {
        c.call::<()>(dyntray_engine::control::Request::CheckNow)
            .await
    })
    .expect("a check over the control socket");
    assert_eq!(provider.count(), 1, "an unchanged address sends nothing");

    echo.always(Reply::ok("81.2.69.161"));
    crate::rig::click(&item, "Check now");
    wait_for(
        "the new address in the menu",
        Duration::from_secs(10),
        || {
            crate::rig::menu(&item)
                .into_iter()
                .find(|e| e.label == "Public address 81.2.69.161 — Copy")
        },
    );
    // Once a check over the control socket returns, the click's pass is over.
    crate::rig::control(&user.socket(), async |c| {
        c.call::<()>(dyntray_engine::control::Request::CheckNow)
            .await
    })
    .expect("a check over the control socket");
    assert_eq!(provider.count(), 2, "a changed address sends one update");
    assert_eq!(provider.seen()[1].param("myip"), Some("81.2.69.161"));
    assert_eq!(crate::rig::menu(&item)[0].label, "Dyntray: Up to date");
}
