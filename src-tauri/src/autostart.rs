//! "Start at login": an XDG autostart entry that launches the tray process (not this
//! settings process, which is what a generic autostart plugin would register).

use std::path::PathBuf;

use dyntray_engine::control::{ControlError, ErrorCode};

const FILE: &str = "dyntray.desktop";

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
pub(crate) fn enabled() -> Result<bool, ControlError> {
    Ok(entry_path()?.exists())
}

/// Turns starting at login on or off.
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
