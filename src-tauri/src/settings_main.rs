//! `dyntray-settings`: the settings window, started by the tray process on demand. It talks
//! to the tray only through the control API and exits when its window closes, giving all
//! of WebKit's memory back.
// Without a console window on Windows release builds.
#![cfg_attr(all(not(debug_assertions), windows), windows_subsystem = "windows")]

mod autostart;
mod open;
mod settings;
mod window_state;

fn main() -> std::process::ExitCode {
    settings::run()
}
