//! End-to-end tests: the real binaries in the `make test` desktop session (Xvfb, a private
//! D-Bus session bus, gnome-keyring, dunst, a window manager). Run them through
//! `make test` or `scripts/headless-session.sh cargo test -p dyntray-tests`.

// The desktop they drive (X, D-Bus, the StatusNotifierItem tray, WebKitGTK) is Linux's;
// Windows has its own end-to-end test under Wine (scripts/test-windows.sh).
#![cfg(target_os = "linux")]
// Helpers shared by the modules of one test binary: `pub` there reaches nothing outside.
#![allow(unreachable_pub)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod address;
mod daemon;
mod import_offer;
mod looks;
mod panel;
mod providers;
mod rig;
mod smoke;
mod sources;
mod tray;
mod walkthrough;
mod webdriver;
mod window;

use std::sync::{Mutex, MutexGuard};

/// Tests that put windows or tray items on the shared screen take turns, so screenshots
/// and window searches only ever see one test's windows.
fn desktop_lock() -> MutexGuard<'static, ()> {
    static DESKTOP: Mutex<()> = Mutex::new(());
    DESKTOP
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
