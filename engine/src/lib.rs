//! Dyntray's engine: everything about dynamic DNS, with no GUI dependency.
//!
//! Both hosts use it: the desktop tray process (`dyntray`) and the headless daemon
//! (`dyntrayd`). Other processes on the same machine reach a running engine through the
//! [`control`] API.
#![warn(missing_docs)]

pub mod config;
pub mod config_edit;
pub mod confwatch;
pub mod control;
pub mod departure;
pub mod detect;
pub mod engine;
pub mod files;
pub mod import;
pub mod logging;
pub mod netwatch;
pub mod paths;
pub mod provider;
pub mod record;
pub mod secrets;
pub mod signals;
pub mod state;
pub mod text;
pub mod time;
pub mod triggers;

/// The version of this build, as reported to control-API clients.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
