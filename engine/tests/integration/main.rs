//! The engine's integration tests (one binary, one module per area).
// Helpers shared by the modules of one test binary: `pub` there reaches nothing outside.
#![allow(unreachable_pub)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api;
mod contract;
// The Unix socket's trust checks; the named pipe gets its own.
#[cfg(unix)]
mod control;
#[cfg(windows)]
mod control_pipe;
mod detect;
mod engine;
mod gnudip;
mod import;
#[cfg(target_os = "linux")]
mod netns;
mod readme;
// Runs BIND (named, tsig-keygen), which is Debian's.
#[cfg(target_os = "linux")]
mod rfc2136;
