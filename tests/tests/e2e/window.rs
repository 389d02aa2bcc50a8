//! The settings window's place: remembered across opens, bounded to the screen; and the
//! command the page calls once drawn.

use std::time::Duration;

use dyntray_engine::control::Request;

use crate::rig::{User, bin, control, tool, tray_item, wait_for, windows_titled};
use crate::smoke::{SETTINGS_EXE, SETTINGS_TITLE, close_settings, settings_window_maps};
use crate::webdriver::WebDriver;

/// Where X says the window is: (x, y, width, height).
fn geometry(window: &str) -> Option<(i64, i64, i64, i64)> {
    let out = tool("xdotool", &["getwindowgeometry", "--shell", window])?;
    let field = |name: &str| -> Option<i64> {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.trim().parse().ok())
    };
    Some((field("X")?, field("Y")?, field("WIDTH")?, field("HEIGHT")?))
}

fn open_settings(user: &User) -> String {
    control(&user.socket(), async |c| {
        c.call::<()>(Request::OpenSettings).await
    })
    .expect("open Settings over the control API");
    // One search that finds it: a search may miss a window while others come and go.
    wait_for("the settings window", Duration::from_secs(20), || {
        windows_titled(SETTINGS_TITLE).into_iter().next()
    })
}

#[test]
fn the_settings_window_comes_back_where_it_was_left() {
    let _desktop = crate::desktop_lock();
    let user = User::new();
    let mut tray = user.spawn("dyntray");
    let _item = tray_item(tray.pid());
    let state = user
        .config_file()
        .parent()
        .and_then(|c| c.parent())
        .and_then(|c| c.parent())
        .expect("the user's dir")
        .join("data/dyntray/settings-window.json");

    // Moved and resized as a user does (through the window manager).
    let window = open_settings(&user);
    tool("xdotool", &["windowsize", &window, "700", "500"]).expect("resize");
    tool("xdotool", &["windowmove", &window, "150", "120"]).expect("move");
    let before = wait_for("the new size and place", Duration::from_secs(10), || {
        geometry(&window).filter(|&(x, _, w, h)| w == 700 && h == 500 && x != 0)
    });
    wait_for("the place written down", Duration::from_secs(10), || {
        let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).ok()?).ok()?;
        (saved["width"] == 700 && saved["height"] == 500).then_some(())
    });
    close_settings();

    // Opened again: the same size, the same place.
    let window = open_settings(&user);
    let after = wait_for("the window placed", Duration::from_secs(10), || {
        geometry(&window).filter(|g| *g == before)
    });
    assert_eq!(after, before);
    close_settings();

    // A saved place on no monitor, or absurd, is not used: the window opens on screen.
    std::fs::write(
        &state,
        r#"{"x": 90000, "y": -90000, "width": 4000000, "height": 500}"#,
    )
    .unwrap();
    open_settings(&user);
    // Searched again each time: the window found first may be gone by the time X is asked.
    let (x, y, w, h) = wait_for("the window's geometry", Duration::from_secs(10), || {
        windows_titled(SETTINGS_TITLE)
            .iter()
            .find_map(|w| geometry(w))
    });
    assert!(
        x >= 0 && y >= 0 && x + w <= 1280 && y + h <= 800,
        "{x},{y} {w}x{h}"
    );
    close_settings();

    // The command the page calls once its first view is drawn is there and allowed.
    let driver = WebDriver::launch(&user, &bin(SETTINGS_EXE));
    let answer = driver.execute_async(
        "const done = arguments[arguments.length - 1];\
         window.__TAURI__.core.invoke('window_drawn')\
           .then(() => done('shown'), (e) => done('refused: ' + JSON.stringify(e)));",
    );
    assert_eq!(answer, "shown");
    settings_window_maps("the window shown by window_drawn");
    driver.close_window();

    control(&user.socket(), async |c| c.call::<()>(Request::Quit).await).expect("quit");
    assert!(tray.wait_exit(Duration::from_secs(20)).success());
}
