//! The tray item as a tray host reads it over D-Bus (StatusNotifierItem properties and
//! dbusmenu), the clipboard over X, notifications from dunst, and the tray without any
//! tray host (on a D-Bus session bus of its own).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use dyntray_engine::control::Request;
use dyntray_tests::fake_provider::{FakeProvider, Reply};

use crate::rig::{
    Running, User, bin, click, control, menu, processes_named, tool, tray_item, wait_for,
};
use crate::smoke::{SETTINGS_EXE, close_settings, notifications, settings_window_maps};

/// One property of the tray item, as busctl's JSON (`{"type": .., "data": ..}`).
fn sni_property(item: &str, name: &str) -> serde_json::Value {
    let out = tool(
        "busctl",
        &[
            "--user",
            "--timeout=2",
            "--json=short",
            "get-property",
            item,
            "/StatusNotifierItem",
            "org.kde.StatusNotifierItem",
            name,
        ],
    )
    .unwrap_or_else(|| panic!("the tray item answers for {name}"));
    let json: serde_json::Value = serde_json::from_str(&out).expect("busctl JSON");
    json["data"].clone()
}

/// The settings processes the tray process `tray` started.
fn settings_of(tray: u32) -> usize {
    processes_named(SETTINGS_EXE)
        .iter()
        .filter(|&&(_, ppid)| ppid == tray)
        .count()
}

/// A config with one name kept at a local provider; the secret in a file.
fn one_name(user: &User, echo: &FakeProvider, provider: &FakeProvider) {
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
}

fn quit(user: &User, tray: &mut Running) {
    control(&user.socket(), async |c| c.call::<()>(Request::Quit).await)
        .expect("quit over the control API");
    assert!(tray.wait_exit(Duration::from_secs(20)).success());
}

/// A fresh start shows the neutral icon (not the attention one), at every size the host
/// may draw, and by name from a hicolor folder of the same PNGs; a GNOME session gets the
/// one-colour variant. With the session's panel hosting it, app_info has no tray hint and
/// no window opens by itself.
#[test]
fn a_fresh_tray_is_neutral_and_offers_every_size() {
    let _desktop = crate::desktop_lock();
    let user = User::new();
    let mut tray = Running::adopt(
        user.command("dyntray")
            .env_remove("XDG_CURRENT_DESKTOP")
            .env_remove("DYNTRAY_TRAY_ICONS")
            .stdin(Stdio::null())
            .spawn()
            .expect("dyntray starts"),
    );
    let item = tray_item(tray.pid());
    assert_eq!(sni_property(&item, "Status"), "Active");
    assert_eq!(sni_property(&item, "IconName"), "dyntray-idle");
    let sizes: Vec<(i64, i64)> = sni_property(&item, "IconPixmap")
        .as_array()
        .expect("an array of pixmaps")
        .iter()
        .map(|p| {
            let (w, h) = (p[0].as_i64().unwrap(), p[1].as_i64().unwrap());
            assert_eq!(p[2].as_array().unwrap().len() as i64, w * h * 4);
            (w, h)
        })
        .collect();
    assert_eq!(
        sizes,
        [(16, 16), (22, 22), (24, 24), (32, 32), (48, 48), (64, 64)]
    );
    // The pixmaps are the idle icon's, not the attention one's.
    let first = &sni_property(&item, "IconPixmap")[0][2];
    let idle = decode_argb("idle-16.png");
    let attention = decode_argb("attention-16.png");
    let sent: Vec<u8> = first
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_u64().unwrap() as u8)
        .collect();
    assert_eq!(sent, idle);
    assert_ne!(sent, attention);
    let theme = PathBuf::from(
        sni_property(&item, "IconThemePath")
            .as_str()
            .expect("a theme path"),
    );
    for size in [16, 22, 24, 32, 48, 64] {
        let png = theme.join(format!("hicolor/{size}x{size}/apps/dyntray-idle.png"));
        assert!(png.is_file(), "{}", png.display());
    }

    let info = control(&user.socket(), async |c| {
        c.app_info().await.expect("app_info")
    });
    assert_eq!(info.tray_hint, None, "the session's panel hosts the icon");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(settings_of(tray.pid()), 0, "no window opens by itself");
    quit(&user, &mut tray);

    // On GNOME (monochrome panel icons), the symbolic name.
    let user = User::new();
    let mut tray = Running::adopt(
        user.command("dyntray")
            .env("XDG_CURRENT_DESKTOP", "ubuntu:GNOME")
            .env_remove("DYNTRAY_TRAY_ICONS")
            .stdin(Stdio::null())
            .spawn()
            .expect("dyntray starts"),
    );
    let item = tray_item(tray.pid());
    assert_eq!(sni_property(&item, "IconName"), "dyntray-idle-symbolic");
    let theme = PathBuf::from(sni_property(&item, "IconThemePath").as_str().unwrap());
    assert!(
        theme
            .join("hicolor/symbolic/apps/dyntray-idle-symbolic.svg")
            .is_file()
    );
    quit(&user, &mut tray);
}

/// A name configured but no public address found yet (offline at login, say): the
/// network's to fix, not the user's, so no attention icon.
#[test]
fn no_address_at_start_is_not_trouble() {
    let _desktop = crate::desktop_lock();
    let user = User::new();
    let servers = tokio::runtime::Runtime::new().expect("runtime");
    let provider = servers.block_on(FakeProvider::start());
    let echo = servers.block_on(FakeProvider::start());
    echo.always(Reply::status(503, "down"));
    one_name(&user, &echo, &provider);
    let mut tray = user.spawn("dyntray");
    let item = tray_item(tray.pid());
    wait_for("the status line", Duration::from_secs(15), || {
        menu(&item)
            .into_iter()
            .find(|e| e.label == "Dyntray: No public address")
    });
    assert_eq!(sni_property(&item, "IconName"), "dyntray-idle");
    assert_eq!(sni_property(&item, "Status"), "Active");
    assert_eq!(provider.count(), 0);
    quit(&user, &mut tray);
}

/// The ARGB32 bytes SNI carries for one of the tray PNGs.
fn decode_argb(file: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../icons/tray")
        .join(file);
    let out = Command::new("convert")
        .args([path.to_str().unwrap(), "-depth", "8", "rgba:-"])
        .output()
        .expect("convert");
    let mut data = out.stdout;
    for pixel in data.chunks_exact_mut(4) {
        pixel.rotate_right(1);
    }
    data
}

/// The menu: a record line that reads as text, is enabled and opens Settings; the public
/// address with Copy, which puts it on the X clipboard; a refusal turns the icon to
/// attention and the line says so.
#[test]
fn menu_lines_copy_and_attention() {
    let _desktop = crate::desktop_lock();
    let user = User::new();
    let servers = tokio::runtime::Runtime::new().expect("runtime");
    let provider = servers.block_on(FakeProvider::start());
    let echo = servers.block_on(FakeProvider::start());
    echo.always(Reply::ok("81.2.69.160"));
    provider.always(Reply::ok("good 81.2.69.160"));
    one_name(&user, &echo, &provider);
    let mut tray = user.spawn("dyntray");
    let item = tray_item(tray.pid());
    let line = wait_for("the record line", Duration::from_secs(15), || {
        menu(&item)
            .into_iter()
            .find(|e| e.label == "✓ home.example.org — up to date")
    });
    assert!(line.enabled, "a record line is readable, not greyed out");
    let entries = menu(&item);
    let labels: Vec<&str> = entries.iter().map(|e| e.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "Dyntray: Up to date",
            "✓ home.example.org — up to date",
            "Public address 81.2.69.160 — Copy",
            "Check now",
            "Pause updates",
            "Settings…",
            "Quit"
        ]
    );
    assert!(!entries[0].enabled, "the status line is not clickable");
    assert!(entries[2].enabled);
    assert_eq!(sni_property(&item, "IconName"), "dyntray-ok");

    // Copy puts the address on the clipboard, served by the tray.
    let _ = Command::new("xclip")
        .args(["-selection", "clipboard", "-i", "/dev/null"])
        .status();
    click(&item, "Public address 81.2.69.160 — Copy");
    let pasted = wait_for(
        "the address on the clipboard",
        Duration::from_secs(5),
        || tool("xclip", &["-selection", "clipboard", "-o"]).filter(|t| t == "81.2.69.160"),
    );
    assert_eq!(pasted, "81.2.69.160");

    // A record line opens Settings.
    click(&item, "✓ home.example.org — up to date");
    settings_window_maps("Settings opened from a record line");
    assert_eq!(settings_of(tray.pid()), 1);
    close_settings();

    // Refused: the icon asks for attention, the line says why.
    provider.always(Reply::ok("badauth"));
    echo.always(Reply::ok("81.2.69.171"));
    control(&user.socket(), async |c| {
        c.call::<()>(Request::CheckNow).await
    })
    .unwrap();
    wait_for("the refusal in the menu", Duration::from_secs(15), || {
        menu(&item)
            .into_iter()
            .find(|e| e.label == "⚠ home.example.org — refused (badauth)")
    });
    assert_eq!(sni_property(&item, "IconName"), "dyntray-attention");
    assert_eq!(sni_property(&item, "Status"), "NeedsAttention");
    assert_eq!(menu(&item)[0].label, "Dyntray: Needs your attention");
    let _ = tool("dunstctl", &["close-all"]);
    quit(&user, &mut tray);
}

/// The dunst history entries whose summary is `summary`.
fn history_entries(summary: &str) -> Vec<serde_json::Value> {
    let json: serde_json::Value =
        serde_json::from_str(&tool("dunstctl", &["history"]).unwrap_or_default())
            .unwrap_or_default();
    json["data"][0]
        .as_array()
        .map(|all| {
            all.iter()
                .filter(|n| n["summary"]["data"] == summary)
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

fn displayed() -> usize {
    tool("dunstctl", &["count", "displayed"])
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Notifications as dunst (the session's notification server) shows them: a refusal
/// stays (no timeout) with an action that opens Settings, and is withdrawn once the name
/// works again; text from outside keeps its `<…>`; success notifications time out.
#[test]
fn refusal_notifications_act_and_withdraw_when_fixed() {
    let _desktop = crate::desktop_lock();
    let user = User::new();
    let servers = tokio::runtime::Runtime::new().expect("runtime");
    let provider = servers.block_on(FakeProvider::start());
    let echo = servers.block_on(FakeProvider::start());
    echo.always(Reply::ok("81.2.69.160"));
    provider.always(Reply::ok("badauth"));
    one_name(&user, &echo, &provider);
    let _ = tool("dunstctl", &["close-all"]);
    let refused = "DynDNS refused home.example.org";
    let earlier = history_entries(refused).len();
    let re_enable = || {
        control(&user.socket(), async |c| {
            c.call::<()>(Request::ReEnable {
                record: "home/home.example.org/A".into(),
                more: Vec::new(),
            })
            .await
        })
        .expect("re-enable");
    };
    let mut tray = user.spawn("dyntray");
    let item = tray_item(tray.pid());
    wait_for("the refusal notification", Duration::from_secs(15), || {
        (displayed() == 1).then_some(())
    });
    // Dismissed by the user, it shows in the history: no timeout, an action.
    tool("dunstctl", &["close"]).expect("dunstctl close");
    let first = wait_for("the refusal in the history", Duration::from_secs(5), || {
        history_entries(refused).into_iter().nth(earlier)
    });
    assert_eq!(first["timeout"]["data"], 0, "a refusal stays until read");
    assert_eq!(first["default_action_name"]["data"], "default");

    // Refused again after a re-enable: its action opens Settings (dunst invokes the
    // default action of the top one).
    re_enable();
    wait_for(
        "the second refusal notification",
        Duration::from_secs(15),
        || (displayed() == 1).then_some(()),
    );
    tool("dunstctl", &["action", "0"]).expect("dunstctl action");
    settings_window_maps("Settings opened from the refusal notification");
    assert_eq!(settings_of(tray.pid()), 1);
    close_settings();

    // Refused a third time, then fixed: the tray withdraws the notification (nobody here
    // closes it, and it has no timeout); dunst moves it to its history.
    re_enable();
    wait_for(
        "the third refusal notification",
        Duration::from_secs(15),
        || (displayed() == 1).then_some(()),
    );
    let before = history_entries(refused).len();
    provider.always(Reply::ok("good 81.2.69.160"));
    re_enable();
    wait_for("the record up to date", Duration::from_secs(15), || {
        menu(&item)
            .into_iter()
            .find(|e| e.label == "✓ home.example.org — up to date")
    });
    wait_for("the refusal withdrawn", Duration::from_secs(10), || {
        (history_entries(refused).len() == before + 1).then_some(())
    });
    let success = wait_for("the success notification", Duration::from_secs(10), || {
        notifications();
        history_entries("home.example.org updated")
            .into_iter()
            .next()
    });
    assert_ne!(success["timeout"]["data"], 0, "news times out");

    // Text from outside is text: `<account>` is not swallowed as markup.
    let config = std::fs::read_to_string(user.config_file()).unwrap();
    std::fs::write(
        user.config_file(),
        config.replace(
            "username = \"alice\"",
            "username = \"alice\"\npassword = \"x\"",
        ),
    )
    .unwrap();
    let rejected = wait_for("the config notification", Duration::from_secs(15), || {
        notifications();
        history_entries("Config file not applied")
            .into_iter()
            .next()
    });
    let shown = rejected["message"]["data"].as_str().unwrap_or_default();
    assert!(
        shown.contains("dyntrayd secret set &lt;account&gt;"),
        "dunst shows: {shown}"
    );
    quit(&user, &mut tray);
}

/// Without a tray host (no StatusNotifierWatcher on its bus) the first launch opens
/// Settings, app_info says how to get an icon, and the engine runs on; when a host
/// appears, the hint goes.
#[test]
fn without_a_tray_host_settings_opens_and_says_how_to_get_one() {
    let _desktop = crate::desktop_lock();
    let user = User::new();
    let address = user.runtime_dir().join("bus-address");
    // A session bus of its own, with no panel on it.
    let mut session = Command::new("dbus-run-session");
    session
        .arg("--")
        .arg("sh")
        .arg("-c")
        .arg("echo \"$DBUS_SESSION_BUS_ADDRESS\" > \"$0\"; exec \"$1\"")
        .arg(&address)
        .arg(bin("dyntray"))
        .envs(user.env())
        .env("XDG_CURRENT_DESKTOP", "GNOME")
        .stdin(Stdio::null())
        .stderr(Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut session, 0);
    let session = Running::adopt_group(session.spawn().expect("dbus-run-session"));
    let tray = wait_for("the tray process", Duration::from_secs(10), || {
        processes_named("dyntray")
            .into_iter()
            .find(|&(_, ppid)| ppid == session.pid())
            .map(|(pid, _)| pid)
    });
    wait_for("the settings process", Duration::from_secs(10), || {
        (settings_of(tray) == 1).then_some(())
    });
    settings_window_maps("Settings opened because no tray host shows the icon");
    let info = wait_for("the control API", Duration::from_secs(10), || {
        user.socket()
            .exists()
            .then(|| control(&user.socket(), async |c| c.app_info().await.ok()))
            .flatten()
    });
    let hint = info.tray_hint.expect("a tray hint without a tray host");
    assert!(
        hint.contains("AppIndicator and KStatusNotifierItem Support"),
        "{hint}"
    );
    // The engine runs on.
    let status: dyntray_engine::engine::Status =
        control(&user.socket(), async |c| c.call(Request::Status).await).expect("status");
    assert!(status.records.is_empty());
    close_settings();

    // A host appears on that bus: the icon registers and the hint goes.
    let bus = std::fs::read_to_string(&address).expect("the bus address");
    let panel = Command::new("xfce4-panel")
        .arg("--disable-wm-check")
        .envs(user.env())
        .env("DBUS_SESSION_BUS_ADDRESS", bus.trim())
        .env(
            "XDG_CONFIG_HOME",
            std::env::var_os("XDG_CONFIG_HOME").expect("the session's config dir"),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("xfce4-panel");
    let _panel = Running::adopt(panel);
    wait_for("the hint to go", Duration::from_secs(20), || {
        control(&user.socket(), async |c| c.app_info().await.ok())
            .filter(|info| info.tray_hint.is_none())
    });
    control(&user.socket(), async |c| c.call::<()>(Request::Quit).await).expect("quit");
    wait_for("the tray to exit", Duration::from_secs(20), || {
        processes_named("dyntray")
            .iter()
            .all(|&(pid, _)| pid != tray)
            .then_some(())
    });
}
