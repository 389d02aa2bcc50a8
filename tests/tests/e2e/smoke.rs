//! The foundation's smoke test: tray process, dbusmenu, settings process on demand,
//! WebDriver in the settings window, single-instance hand-off, and Quit.

use std::time::{Duration, Instant};

use crate::rig::{
    User, artifacts_dir, bin, click, close_window, control, menu, processes_named, tool, tray_item,
    wait_for, windows_titled,
};
use crate::webdriver::WebDriver;

pub const SETTINGS_TITLE: &str = "Dyntray Settings";
pub const SETTINGS_EXE: &str = "dyntray-settings";

#[test]
fn tray_settings_handoff_and_quit() {
    let _desktop = crate::desktop_lock();
    let user = User::new();
    let started = Instant::now();
    let mut tray = user.spawn("dyntray");
    let item = tray_item(tray.pid());
    eprintln!("tray item registered after {:?}", started.elapsed());

    // The menu, as a tray host reads it.
    let entries = menu(&item);
    let labels: Vec<&str> = entries.iter().map(|e| e.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "Dyntray: No names yet",
            "Check now",
            "Pause updates",
            "Settings…",
            "Quit"
        ]
    );
    assert!(!entries[0].enabled, "the status line is not clickable");
    assert!(
        !entries[1].enabled,
        "nothing to update before a name is configured"
    );
    assert_eq!(entries[2].toggled, Some(false));

    // Pause is a check item and the status line follows it.
    click(&item, "Pause updates");
    wait_for(
        "the paused state in the menu",
        Duration::from_secs(5),
        || {
            let entries = menu(&item);
            (entries[2].toggled == Some(true) && entries[0].label == "Dyntray: Updates paused")
                .then_some(())
        },
    );
    click(&item, "Pause updates");
    wait_for(
        "the unpaused state in the menu",
        Duration::from_secs(5),
        || (menu(&item)[2].toggled == Some(false)).then_some(()),
    );

    // What the tray process says about itself, over the control API.
    let info = control(&user.socket(), async |c| {
        c.app_info().await.expect("app_info")
    });
    assert_eq!(info.pid, tray.pid());
    assert_eq!(info.host, "dyntray");
    assert_eq!(info.config_path, user.config_file());

    // "Settings…" starts the settings process, whose window maps.
    click(&item, "Settings…");
    settings_window_maps("the settings window to map");
    let from_tray: Vec<u32> = processes_named(SETTINGS_EXE)
        .into_iter()
        .filter(|&(_, ppid)| ppid == tray.pid())
        .map(|(pid, _)| pid)
        .collect();
    assert_eq!(
        from_tray.len(),
        1,
        "one settings process, started by the tray"
    );

    // A second "Settings…" focuses the open window instead of starting another.
    click(&item, "Settings…");
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(windows_titled(SETTINGS_TITLE).len(), 1);
    assert_eq!(
        processes_named(SETTINGS_EXE)
            .iter()
            .filter(|&&(_, ppid)| ppid == tray.pid())
            .count(),
        1
    );

    // Closing the window ends the settings process; the tray lives on.
    close_settings();
    assert!(tray.is_running(), "the tray outlives its settings window");

    // The settings window over WebDriver (tauri-driver launches it; it connects to the
    // running tray) shows what the tray process reported.
    let driver = WebDriver::launch(&user, &bin(SETTINGS_EXE));
    let version = driver.wait_text("#fact-version", |t| t != "…");
    assert_eq!(version, info.version);
    let config = driver.text("#fact-config");
    assert_eq!(config, info.config_path.display().to_string());
    let connected = format!("Connected to Dyntray {}", info.version);
    driver.wait_text("#connection", |t| t == connected);
    driver.screenshot(&artifacts_dir().join("settings.png"));
    driver.close_window();
    wait_for(
        "the WebDriver settings process to exit",
        Duration::from_secs(15),
        || processes_named(SETTINGS_EXE).is_empty().then_some(()),
    );
    assert!(tray.is_running());

    // A left click on the icon (the host calls Activate) opens Settings too.
    tool(
        "busctl",
        &[
            "--user",
            "--timeout=2",
            "call",
            &item,
            "/StatusNotifierItem",
            "org.kde.StatusNotifierItem",
            "Activate",
            "ii",
            "0",
            "0",
        ],
    )
    .expect("Activate answers");
    settings_window_maps("Settings opened by a left click");
    close_settings();

    // A second launch hands off to the running tray: it exits 0 and Settings opens.
    let second = user.run("dyntray", &[]);
    assert!(second.status.success(), "second launch: {second:?}");
    settings_window_maps("Settings opened by the second launch");

    // Quit ends the settings process too, and the tray exits 0.
    click(&item, "Quit");
    let status = tray.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "tray exit: {status:?}");
    wait_for(
        "the settings process to exit after Quit",
        Duration::from_secs(10),
        || processes_named(SETTINGS_EXE).is_empty().then_some(()),
    );
    assert!(
        !user.socket().exists(),
        "the control socket is removed on exit"
    );
}

#[test]
fn no_display_is_one_clear_line_and_a_failure() {
    let user = User::new();
    let output = user
        .command("dyntray")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .expect("run dyntray");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("no graphical session"), "{stderr}");
    assert!(!stderr.contains("panicked"));
}

#[test]
fn the_tray_shows_each_record_and_the_providers_refusal() {
    use dyntray_tests::fake_provider::{FakeProvider, Reply};
    let user = User::new();
    // The local servers run on a runtime of their own, in the background.
    let servers = tokio::runtime::Runtime::new().unwrap();
    let provider = servers.block_on(FakeProvider::start());
    let echo = servers.block_on(FakeProvider::start());
    echo.always(Reply::ok("81.2.69.160"));
    let config = format!(
        "version = 1\n\n[general]\noffline_on_quit = true\n\n[detect]\nipv4 = [\"{}/\"]\nipv6 = []\n\n\
         [[account]]\nid = \"tray-e2e\"\nprovider = \"dyndns\"\nusername = \"bob\"\n\
         server = \"{}\"\n\n[[record]]\nname = \"home.example.org\"\naccount = \"tray-e2e\"\n\
         offline_address = \"81.2.69.1\"\n",
        echo.url(),
        provider.url()
    );
    std::fs::create_dir_all(user.config_file().parent().unwrap()).unwrap();
    std::fs::write(user.config_file(), config).unwrap();
    let mut set = user
        .command("dyntrayd")
        .args(["secret", "set", "tray-e2e"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut set.stdin.take().unwrap(), b"tray-secret").unwrap();
    assert!(set.wait().unwrap().success());

    provider.script([Reply::ok("good 81.2.69.160")]);
    let _desktop = crate::desktop_lock();
    // Notifications of earlier tests may still be on screen: the one clicked below must
    // be this test's.
    let _ = tool("dunstctl", &["close-all"]);
    let mut tray = user.spawn("dyntray");
    let item = tray_item(tray.pid());
    let line = wait_for(
        "the record line in the tray menu",
        Duration::from_secs(15),
        || {
            menu(&item)
                .into_iter()
                .find(|e| e.label.starts_with("✓ home.example.org"))
        },
    );
    assert_eq!(line.label, "✓ home.example.org — up to date");
    assert!(line.enabled, "a record line opens Settings");
    assert_eq!(menu(&item)[0].label, "Dyntray: Up to date");
    assert_eq!(provider.count(), 1);
    // A desktop notification said so (dunst, the session's notification server).
    wait_for("the success notification", Duration::from_secs(10), || {
        notifications()
            .contains("home.example.org updated")
            .then_some(())
    });
    assert!(notifications().contains("It now points at 81.2.69.160 (DynDNS)."));

    // The settings window shows the same, and follows changes live.
    let driver = WebDriver::launch(&user, &bin(SETTINGS_EXE));
    assert_eq!(
        driver.wait_text("#records .name", |t| !t.is_empty()),
        "home.example.org"
    );
    assert_eq!(driver.text("#records .phase"), "Up to date");
    assert_eq!(driver.text("#records .address"), "81.2.69.160");
    assert_eq!(
        driver.text("#records .said"),
        "DynDNS said “good 81.2.69.160”"
    );
    // The public address card: the address, its source and that source's health.
    assert_eq!(driver.text("#detection .family-name"), "IPv4");
    assert_eq!(driver.text("#detection .family-address"), "81.2.69.160");
    let why = driver.text("#detection .family-why");
    assert!(why.starts_with("— from http://127.0.0.1:"), "{why}");
    assert_eq!(driver.text("#detection .source-answer"), "81.2.69.160");
    assert_eq!(driver.text("#detection .source-state"), "used");
    driver.screenshot(&artifacts_dir().join("settings-records.png"));

    // The provider starts refusing; the address changes; the tray says so, and nothing
    // more is sent.
    provider.always(Reply::ok("badauth"));
    echo.always(Reply::ok("81.2.69.171"));
    check_now(&user);
    wait_for(
        "the refusal in the tray menu",
        Duration::from_secs(15),
        || {
            menu(&item)
                .into_iter()
                .find(|e| e.label == "⚠ home.example.org — refused (badauth)")
        },
    );
    assert_eq!(menu(&item)[0].label, "Dyntray: Needs your attention");
    wait_for("the refusal notification", Duration::from_secs(10), || {
        notifications()
            .contains("DynDNS refused home.example.org")
            .then_some(())
    });
    assert!(notifications().contains("username or password"));
    assert_eq!(
        driver.wait_text("#records .phase", |t| t == "Refused"),
        "Refused"
    );
    assert_eq!(driver.text("#records .said"), "DynDNS said “badauth”");
    assert_eq!(driver.text("#records .fix"), "Change password");
    assert!(
        driver
            .text("#records .advice")
            .contains("username or password")
    );
    driver.screenshot(&artifacts_dir().join("settings-refused.png"));
    check_now(&user);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(provider.count(), 2, "nothing more after the refusal");

    // The user fixed it at the provider and re-enables the record in the window.
    provider.always(Reply::ok("good 81.2.69.171"));
    driver.click("#records .re-enable");
    driver.wait_text("#records .address", |t| t == "81.2.69.171");
    assert_eq!(driver.text("#records .phase"), "Up to date");
    assert_eq!(provider.count(), 3);

    // Update now with an unchanged address asks first, then sends once.
    driver.click("#records .update-now");
    let question = driver.wait_text("#record-message", |t| t.contains("against your account"));
    assert!(question.ends_with("Send it anyway?"), "{question}");
    assert_eq!(provider.count(), 3, "nothing sent before the confirmation");
    driver.click("#records .update-now");
    driver.wait_text("#record-message", |t| {
        t.contains("counts against the account")
    });
    assert_eq!(provider.count(), 4);
    driver.click("#records .update-now");
    driver.click("#records .update-now");
    driver.wait_text("#record-message", |t| t.contains("try again in"));
    assert_eq!(
        provider.count(),
        4,
        "Update now is limited to once per 10 minutes"
    );

    // The history lists every attempt, newest first.
    let history = driver.wait_text("#history", |t| t.contains("Refused"));
    assert!(history.contains("Updated"), "{history}");
    assert!(history.contains("badauth"), "{history}");
    driver.screenshot(&artifacts_dir().join("settings-history.png"));
    driver.close_window();

    // Quitting publishes the off-line address first ("Go offline when quitting").
    let before = provider.count();
    click(&item, "Quit");
    assert!(tray.wait_exit(Duration::from_secs(20)).success());
    let seen = provider.seen();
    assert_eq!(seen.len(), before + 1, "one request on quit");
    assert_eq!(seen[before].param("myip"), Some("81.2.69.1"));
}

/// Asks the tray to check the address now.
fn check_now(user: &User) {
    control(&user.socket(), async |c| {
        c.call::<()>(dyntray_engine::control::Request::CheckNow)
            .await
    })
    .unwrap();
}

/// Everything the session's notification server has shown, as JSON text: the open ones
/// are closed first, which moves them into dunst's history.
pub fn notifications() -> String {
    let _ = tool("dunstctl", &["close-all"]);
    tool("dunstctl", &["history"]).unwrap_or_default()
}

#[test]
fn settings_form_adds_an_account_and_a_name() {
    use dyntray_tests::fake_provider::{FakeProvider, Reply, basic_auth};
    let user = User::new();
    let servers = tokio::runtime::Runtime::new().unwrap();
    let provider = servers.block_on(FakeProvider::start());
    let echo = servers.block_on(FakeProvider::start());
    echo.always(Reply::ok("81.2.69.160"));
    provider.always(Reply::ok("good 81.2.69.160"));
    // A first run: only where the address comes from.
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
    let mut tray = user.spawn("dyntray");
    let item = tray_item(tray.pid());
    let driver = WebDriver::launch(&user, &bin(SETTINGS_EXE));
    driver.wait_text("#setup .step-title", |t| t == "Where is your name hosted?");

    // The guided setup: the provider first, then its fields, rendered from the descriptors.
    driver.type_into("#setup-search", "dyndns2");
    let first = driver.text("#setup-providers li:first-child .choice strong");
    assert_eq!(
        first, "Other dyndns2-compatible server",
        "a search shows names that match first"
    );
    driver.click("#setup-providers .choice[data-provider=dyndns2]");
    driver.type_into("#setup-body input[name=username]", "bob");
    driver.type_into("#setup-body input[name=secret]", "form-s3cret!");
    driver.type_into("#setup-body input[name=server]", &provider.url());
    driver.click("#setup-body details.more > summary");
    driver.type_into("#setup-body input[name=id]", "form-e2e");
    driver.screenshot(&artifacts_dir().join("settings-account-form.png"));
    driver.click("#setup-next");

    // A bad name is refused by the engine, shown next to the field, and not saved.
    driver.type_into("#setup-body input[name=name]", "not a name!");
    driver.click("#setup-next");
    let problem = driver.wait_text("#setup-body .field[data-key=name] .problem", |t| {
        !t.is_empty()
    });
    assert!(!problem.contains('`'), "{problem}");
    assert!(
        !std::fs::read_to_string(user.config_file())
            .unwrap()
            .contains("not a name")
    );

    driver.type_into("#setup-body input[name=name]", "form.example.org");
    driver.click("#setup-body details.more > summary");
    driver.choose("#setup-body select[name=wildcard]", "true");
    driver.click("#setup-next");
    let said = driver.wait_text("#setup-test", |t| t.contains("said"));
    assert!(said.contains("“good 81.2.69.160”"), "{said}");
    driver.click("#setup-next");
    // Start at login is offered ticked; this user unticks it.
    driver.click("#setup-autostart");
    driver.click("#setup-next");
    assert!(
        driver
            .text("#accounts")
            .contains("The password is kept in the system keychain.")
    );
    driver.wait_text("#records .phase", |t| t == "Up to date");
    // The list may be redrawn by a status event in between: wait for the name too.
    driver.wait_text("#records .name", |t| t == "form.example.org");

    // Exactly one update, with the typed secret; the config has no secret; the keychain has it.
    let seen = provider.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].hostnames(), ["form.example.org"]);
    assert_eq!(seen[0].param("wildcard"), Some("ON"));
    assert_eq!(
        basic_auth(&seen[0]).unwrap(),
        ("bob".into(), "form-s3cret!".into())
    );
    let config = std::fs::read_to_string(user.config_file()).unwrap();
    assert!(!config.contains("form-s3cret"), "{config}");
    assert!(config.contains("secret = \"keychain\""), "{config}");
    let stored = tool(
        "secret-tool",
        &["lookup", "service", "dyntray", "username", "form-e2e"],
    )
    .unwrap_or_default();
    assert_eq!(stored.trim_end(), "form-s3cret!");
    // The window never gets the secret back.
    assert!(!driver.text("body").contains("form-s3cret"));

    // "Test" explains what it will send, and sends only on the second click.
    provider.always(Reply::ok("nochg 81.2.69.160"));
    driver.click("#accounts .test");
    let plan = driver.wait_text("#accounts .test-result", |t| t.contains("Send test"));
    assert!(
        plan.contains("form.example.org") && plan.contains("81.2.69.160"),
        "{plan}"
    );
    assert_eq!(provider.count(), 1, "nothing sent before the confirmation");
    driver.click("#accounts .test");
    let verdict = driver.wait_text("#accounts .test-result", |t| t.contains("login works"));
    assert!(verdict.contains("nochg 81.2.69.160"), "{verdict}");
    assert_eq!(provider.count(), 2);
    assert_eq!(
        dyntray_tests::fake_provider::basic_auth(&provider.seen()[1])
            .unwrap()
            .1,
        "form-s3cret!"
    );

    // The tray and a notification agree.
    wait_for(
        "the record in the tray menu",
        Duration::from_secs(10),
        || {
            menu(&item)
                .into_iter()
                .find(|e| e.label == "✓ form.example.org — up to date")
        },
    );
    wait_for("the success notification", Duration::from_secs(10), || {
        notifications()
            .contains("form.example.org updated")
            .then_some(())
    });

    // General settings: saved through the engine; start at login writes an autostart
    // entry that launches the tray binary.
    driver.click("#notify-success");
    driver.wait_text("#general-message", |t| t == "Saved.");
    let config = std::fs::read_to_string(user.config_file()).unwrap();
    assert!(config.contains("notify_success = false"), "{config}");
    driver.click("#start-at-login");
    driver.wait_text("#general-message", |t| t.contains("will start at login"));
    let entry = user
        .config_file()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("autostart/dyntray.desktop");
    let text = std::fs::read_to_string(&entry).unwrap();
    assert!(
        text.contains(&format!("Exec=\"{}\"", bin("dyntray").display())),
        "{text}"
    );
    driver.click("#start-at-login");
    driver.wait_text("#general-message", |t| {
        t.contains("will not start at login")
    });
    assert!(!entry.exists());

    // Saves never undo each other or a hand edit. The file is edited by hand while the
    // window is open: the window's next save is refused, nothing is overwritten, and
    // after the window has read the file again the same save goes through, keeping the
    // hand edit, General's change and the earlier name.
    // (The form is opened first: a window with no form open reads a changed file by
    // itself, and then has nothing to refuse.)
    driver.click("#add-record");
    driver.click("#setup-body .choice[data-account=form-e2e]");
    driver.wait_text("#setup .step-title", |t| {
        t == "Which names should point at this machine?"
    });
    let revision = || {
        control(&user.socket(), async |c| {
            c.call::<dyntray_engine::engine::Status>(dyntray_engine::control::Request::Status)
                .await
        })
        .expect("status")
        .config_revision
    };
    let before = revision();
    let text = std::fs::read_to_string(user.config_file()).unwrap();
    std::fs::write(user.config_file(), format!("# My own note.\n{text}")).unwrap();
    // The tray has applied the hand edit and told the window, before anything is typed:
    // an open form is not read again under the user, so the save is still refused.
    wait_for("the hand edit applied", Duration::from_secs(10), || {
        (revision() != before).then_some(())
    });
    driver.type_into("#setup-body input[name=name]", "late.example.org");
    driver.click("#setup-next");
    driver.wait_text("#setup-error", |t| t.contains("changed since you opened"));
    // As a user with the narrowest window sees it.
    driver.resize(560, 420);
    driver.screenshot(&artifacts_dir().join("settings-stale-edit.png"));
    driver.resize(880, 700);
    let config = std::fs::read_to_string(user.config_file()).unwrap();
    assert!(!config.contains("late.example.org"), "{config}");
    driver.click("#setup-next");
    let config = wait_for("the second save", Duration::from_secs(10), || {
        let text = std::fs::read_to_string(user.config_file()).unwrap();
        text.contains("late.example.org").then_some(text)
    });
    assert!(config.starts_with("# My own note.\n"), "{config}");
    assert!(config.contains("notify_success = false"), "{config}");
    assert!(config.contains("form.example.org"), "{config}");

    // A hand edit reaches the running tray by itself, and the open window shows it.
    std::fs::write(
        user.config_file(),
        format!("{config}\n[[record]]\nname = \"hand.example.org\"\naccount = \"form-e2e\"\n"),
    )
    .unwrap();
    driver.wait_text("#accounts", |t| t.contains("hand.example.org"));

    driver.close_window();
    click(&item, "Quit");
    assert!(tray.wait_exit(Duration::from_secs(10)).success());
}

/// Waits for the settings window to map; `what` says what opened it.
pub fn settings_window_maps(what: &str) {
    wait_for(what, Duration::from_secs(20), || {
        (!windows_titled(SETTINGS_TITLE).is_empty()).then_some(())
    });
}

/// Closes the settings window as its close button does, and waits for its process to end
/// and its window to be gone.
/// A window that has just mapped may not handle the request yet: it is asked again each
/// second, as an impatient user would click again.
pub fn close_settings() {
    let start = std::time::Instant::now();
    loop {
        if !windows_titled(SETTINGS_TITLE).is_empty() {
            close_window(SETTINGS_TITLE);
        }
        let closed = (0..20).any(|_| {
            std::thread::sleep(Duration::from_millis(50));
            processes_named(SETTINGS_EXE).is_empty()
        });
        if closed {
            // X destroys a window when it sees its client's connection close, a moment
            // after the process ended: until then a search still finds the old window.
            wait_for("the closed window gone", Duration::from_secs(10), || {
                windows_titled(SETTINGS_TITLE).is_empty().then_some(())
            });
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "the settings process did not exit after its window was closed"
        );
    }
}
