//! `dyntray`: the tray process. It hosts the engine and the control API and starts the
//! settings window (`dyntray-settings`) on demand. It links no WebKit (docs/architecture.md).

// --help and --version answer on standard output, like any command.
#![allow(clippy::print_stdout)]

#[cfg(target_os = "linux")]
mod notify;
#[cfg(target_os = "linux")]
mod tray;
#[cfg(target_os = "linux")]
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
    DYNTRAY_CONFIG   Config file (default: $XDG_CONFIG_HOME/dyntray/config.toml)
    DYNTRAY_SOCKET   Control socket (default: $XDG_RUNTIME_DIR/dyntray/control.sock)
    RUST_LOG         Log filter (default: info)
    DYNTRAY_TRAY_ICONS
                     symbolic or color: the tray icon's style (default: symbolic on
                     GNOME and Ubuntu, whose panels draw tray icons in one colour)

For machines without a desktop, use dyntrayd.
";

fn main() -> ExitCode {
    // Only flags exist: the first argument decides.
    let mut parser = lexopt::Parser::from_env();
    match parser.next() {
        #[cfg(target_os = "linux")]
        Ok(None) => tray::run(),
        // Said, not faked: the tray's platform loop (tray-icon) is the next step there.
        #[cfg(not(target_os = "linux"))]
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
