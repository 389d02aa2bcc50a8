//! "Start at login": the tray process (not this settings process, which is what a
//! generic autostart plugin would register) from an XDG autostart entry on Linux, from
//! the user's `Run` key on Windows (the value the installer writes).

use std::path::PathBuf;

use dyntray_engine::control::{ControlError, ErrorCode};

#[cfg(target_os = "linux")]
const FILE: &str = "dyntray.desktop";

#[cfg(target_os = "linux")]
fn entry_path() -> Result<PathBuf, ControlError> {
    dirs::config_dir()
        .map(|d| d.join("autostart").join(FILE))
        .ok_or_else(|| {
            ControlError::new(
                ErrorCode::Unsupported,
                "cannot find the config directory for the autostart entry (set HOME)",
            )
        })
}

/// The tray binary next to this one.
fn tray_exe() -> Result<PathBuf, ControlError> {
    let name = format!("dyntray{}", std::env::consts::EXE_SUFFIX);
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(&name)))
        .filter(|path| path.exists())
        .ok_or_else(|| ControlError::new(ErrorCode::Failed, "cannot find the dyntray binary"))
}

/// Whether Dyntray starts at login.
#[cfg(target_os = "linux")]
pub(crate) fn enabled() -> Result<bool, ControlError> {
    Ok(entry_path()?.exists())
}

/// Turns starting at login on or off.
#[cfg(target_os = "linux")]
pub(crate) fn set(enabled: bool) -> Result<(), ControlError> {
    let path = entry_path()?;
    let failed = |e: std::io::Error| {
        ControlError::new(
            ErrorCode::Failed,
            format!("cannot change {}: {e}", path.display()),
        )
    };
    if !enabled {
        return match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(failed(e)),
        };
    }
    let exe = tray_exe()?;
    // Desktop-entry quoting: the path in double quotes, with \, ", ` and $ escaped.
    let quoted: String = exe
        .to_string_lossy()
        .chars()
        .flat_map(|c| match c {
            '\\' | '"' | '`' | '$' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    let entry = format!(
        "[Desktop Entry]\nType=Application\nName=Dyntray\n\
         Comment=Keeps your dynamic DNS names pointing at you\nExec=\"{quoted}\"\n\
         Terminal=false\nX-GNOME-Autostart-enabled=true\n"
    );
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(failed)?;
    }
    let temp = path.with_extension("desktop.tmp");
    std::fs::write(&temp, entry).map_err(failed)?;
    std::fs::rename(&temp, &path).map_err(failed)
}

/// The name of the `Run` value, as the installer writes it.
#[cfg(windows)]
const RUN_VALUE: &str = "Dyntray";

#[cfg(windows)]
fn registry_error(e: std::io::Error) -> ControlError {
    ControlError::new(
        ErrorCode::Failed,
        format!("cannot change the sign-in programs in the registry: {e}"),
    )
}

/// Whether Dyntray starts at sign-in: the `Run` value exists and Task Manager has not
/// disabled it.
#[cfg(windows)]
pub(crate) fn enabled() -> Result<bool, ControlError> {
    dyntray_os::autostart::command(RUN_VALUE)
        .map(|command| command.is_some())
        .map_err(registry_error)
}

/// Turns starting at sign-in on or off.
#[cfg(windows)]
pub(crate) fn set(enabled: bool) -> Result<(), ControlError> {
    if !enabled {
        return dyntray_os::autostart::disable(RUN_VALUE).map_err(registry_error);
    }
    // Quoted: the path usually has spaces ("C:\Users\Ann Lee\AppData\...").
    let command = format!("\"{}\"", tray_exe()?.display());
    dyntray_os::autostart::enable(RUN_VALUE, &command).map_err(registry_error)
}
