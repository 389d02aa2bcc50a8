//! `dyntray`: the tray process. It hosts the engine and the control API and starts the
//! settings window (`dyntray-settings`) on demand. It links no WebKit (docs/architecture.md).

// --help and --version answer on standard output, like any command.
#![allow(clippy::print_stdout)]
// Started from the Start menu or at sign-in, a Windows program of the console subsystem
// opens a console window beside its icon; a release build is a GUI program instead, and
// borrows the console of a command prompt that starts it (see `main`).
#![cfg_attr(all(windows, not(debug_assertions)), windows_subsystem = "windows")]

#[cfg(any(target_os = "linux", windows))]
mod notify;
#[cfg(any(target_os = "linux", windows))]
mod tray;
#[cfg(any(target_os = "linux", windows))]
mod tray_icons;

use std::process::ExitCode;

const HELP: &str = "\
dyntray - keeps your dynamic DNS names pointing at you, from the system tray

USAGE:
    dyntray [OPTIONS]

Starts the tray icon. When Dyntray is already running, asks it to open Settings and exits.

OPTIONS:
    -h, --help       Print this help
    -V, --version    Print the version

ENVIRONMENT:
    DYNTRAY_CONFIG   Config file (default: $XDG_CONFIG_HOME/dyntray/config.toml;
                     on Windows %APPDATA%\\dyntray\\config.toml)
    DYNTRAY_SOCKET   Control socket (default: $XDG_RUNTIME_DIR/dyntray/control.sock;
                     on Windows the named pipe \\\\.\\pipe\\dyntray-<your SID>)
    RUST_LOG         Log filter (default: info)
    DYNTRAY_TRAY_ICONS
                     symbolic or color: the tray icon's style on Linux (default:
                     symbolic on GNOME and Ubuntu, whose panels draw tray icons in one
                     colour)

For machines without a desktop, use dyntrayd.
";

fn main() -> ExitCode {
    #[cfg(windows)]
    dyntray_os::shell::attach_parent_console();
    // Only flags exist: the first argument decides.
    let mut parser = lexopt::Parser::from_env();
    match parser.next() {
        #[cfg(any(target_os = "linux", windows))]
        Ok(None) => tray::run(),
        #[cfg(not(any(target_os = "linux", windows)))]
        Ok(None) => {
            eprintln!(
                "dyntray: the tray icon is not built for this platform yet; `dyntrayd run` \
                 runs the same engine without it"
            );
            ExitCode::from(2)
        }
        Ok(Some(lexopt::Arg::Short('h') | lexopt::Arg::Long("help"))) => {
            print!("{HELP}");
            ExitCode::SUCCESS
        }
        Ok(Some(lexopt::Arg::Short('V') | lexopt::Arg::Long("version"))) => {
            println!("dyntray {}", dyntray_engine::VERSION);
            ExitCode::SUCCESS
        }
        Ok(Some(arg)) => {
            eprintln!("dyntray: {} (try --help)", arg.unexpected());
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("dyntray: {e} (try --help)");
            ExitCode::from(2)
        }
    }
}
