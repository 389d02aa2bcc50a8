//! Where Dyntray keeps its files, per operating system.
//!
//! Every location can be overridden: by a command-line flag in the binaries, or by the
//! environment variables named here (used by tests and by users with unusual layouts).

use std::path::PathBuf;

/// Directory name used under the OS config, data, log and runtime directories.
pub const APP_DIR: &str = "dyntray";

/// Environment variable that overrides the control socket path.
pub const SOCKET_ENV: &str = "DYNTRAY_SOCKET";

/// Environment variable that overrides the config file path.
pub const CONFIG_ENV: &str = "DYNTRAY_CONFIG";

/// Environment variable naming a directory under which other clients' files are looked
/// for instead of `/` (`$DYNTRAY_IMPORT_ROOT/etc/ddclient.conf`, ...): for tests.
pub const IMPORT_ROOT_ENV: &str = "DYNTRAY_IMPORT_ROOT";

/// Where other clients' configs are looked for, to offer moving over from them:
/// their own default paths, under `DYNTRAY_IMPORT_ROOT` when it is set.
pub fn import_sources() -> crate::import::Sources {
    match std::env::var_os(IMPORT_ROOT_ENV) {
        Some(root) if !root.is_empty() => crate::import::Sources::under(root),
        _ => crate::import::Sources::system(),
    }
}

/// Errors finding a usable directory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The OS did not tell us where this kind of directory lives.
    #[error("cannot determine the {what} directory: set HOME (or {env})")]
    Unknown {
        /// Which directory (config, data, ...).
        what: &'static str,
        /// The environment variable that would fix it.
        env: &'static str,
    },
}

/// The config file: `DYNTRAY_CONFIG`, else `<OS config dir>/dyntray/config.toml`.
pub fn config_file() -> Result<PathBuf, PathError> {
    if let Some(path) = std::env::var_os(CONFIG_ENV) {
        return Ok(PathBuf::from(path));
    }
    dirs::config_dir()
        .map(|d| d.join(APP_DIR).join("config.toml"))
        .ok_or(PathError::Unknown {
            what: "config",
            env: "XDG_CONFIG_HOME",
        })
}

/// The state directory (SQLite state store): `<OS data dir>/dyntray`; on Windows the
/// local one (`%LOCALAPPDATA%\dyntray`): the store and its lock belong to this machine and
/// must not roam with the profile (the config, in `%APPDATA%`, may).
pub fn state_dir() -> Result<PathBuf, PathError> {
    #[cfg(windows)]
    let dir = dirs::data_local_dir();
    #[cfg(not(windows))]
    let dir = dirs::data_dir();
    dir.map(|d| d.join(APP_DIR)).ok_or(PathError::Unknown {
        what: "data",
        env: "XDG_DATA_HOME",
    })
}

/// The log directory: `$XDG_STATE_HOME/dyntray/logs` on Linux, `~/Library/Logs/Dyntray` on
/// macOS, `%LOCALAPPDATA%\dyntray\logs` on Windows.
pub fn log_dir() -> Result<PathBuf, PathError> {
    #[cfg(target_os = "macos")]
    let dir = dirs::home_dir().map(|h| h.join("Library/Logs/Dyntray"));
    #[cfg(not(target_os = "macos"))]
    let dir = dirs::state_dir()
        .or_else(dirs::data_local_dir)
        .map(|d| d.join(APP_DIR).join("logs"));
    dir.ok_or(PathError::Unknown {
        what: "log",
        env: "XDG_STATE_HOME",
    })
}

/// What tells this user's fallback socket directory from another user's.
#[cfg(unix)]
fn user_tag() -> String {
    rustix::process::getuid().as_raw().to_string()
}

/// The control socket: `DYNTRAY_SOCKET`, else `$XDG_RUNTIME_DIR/dyntray/control.sock`,
/// else a per-user directory under the system temp dir.
#[cfg(unix)]
pub fn control_socket() -> PathBuf {
    if let Some(path) = std::env::var_os(SOCKET_ENV) {
        return PathBuf::from(path);
    }
    let base = dirs::runtime_dir()
        .map(|d| d.join(APP_DIR))
        .unwrap_or_else(|| std::env::temp_dir().join(format!("{APP_DIR}-{}", user_tag())));
    base.join("control.sock")
}

/// The control API's named pipe: `DYNTRAY_SOCKET`, else `\\.\pipe\dyntray-<user SID>`
/// (pipe names are machine-wide: the SID keeps users apart; the server's and client's
/// checks keep them out).
#[cfg(windows)]
pub fn control_socket() -> PathBuf {
    if let Some(path) = std::env::var_os(SOCKET_ENV) {
        return PathBuf::from(path);
    }
    let user = crate::control::pipe::me()
        .map(str::to_owned)
        .unwrap_or_else(|_| std::env::var("USERNAME").unwrap_or_else(|_| "user".into()));
    PathBuf::from(format!(r"\\.\pipe\{APP_DIR}-{user}"))
}
