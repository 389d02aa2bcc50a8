//! Windows toasts, where the installer registered Dyntray with the notification platform
//! (its AppUserModelID with a name and an icon under `HKCU\Software\Classes\
//! AppUserModelId`): a toast carries Dyntray's own name and icon, waits in the
//! notification centre, and has an "Open Settings" button when it asks the user to act.
//! Windows drops the toasts of a program not registered so without a word, so a build run
//! where it lies gets the tray icon's balloons instead (`tray/win.rs`); so does a
//! session where Windows refused a toast once.

use tauri_winrt_notification::{Duration, Sound, Toast};

use super::{Level, Message};

/// Dyntray's AppUserModelID: what the installer registers, and Tauri's identifier.
pub(crate) const APP_ID: &str = "org.dyntray.Dyntray";

/// The argument of the "Open Settings" button, given back when it is clicked.
const OPEN_SETTINGS: &str = "open-settings";

/// Whether toasts can reach the user here: the installer registered the app. Asked at
/// each notification, so an install made while the tray runs counts at once.
pub(crate) fn registered() -> bool {
    match dyntray_os::shell::registered_app_name(APP_ID) {
        Ok(name) => name.is_some(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read whether Dyntray is registered for toasts");
            false
        }
    }
}

/// Shows `message` as a toast; `open_settings` runs when the user clicks one that asks
/// them to act (its body or its button).
pub(crate) fn show(
    message: &Message,
    open_settings: impl Fn() + Send + 'static,
) -> Result<(), String> {
    let mut toast = Toast::new(APP_ID)
        .title(&message.summary)
        .text1(&message.body)
        .duration(if message.sticky {
            Duration::Long
        } else {
            Duration::Short
        })
        // News comes quietly; what needs the user gets the system's sound.
        .sound(match message.level {
            Level::Info => None,
            Level::Warning | Level::Error => Some(Sound::Default),
        });
    if message.open_settings {
        toast = toast
            .add_button("Open Settings", OPEN_SETTINGS)
            .on_activated(move |_action| {
                open_settings();
                Ok(())
            });
    }
    toast.show().map_err(|e| e.to_string())
}
