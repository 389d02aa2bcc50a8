//! The engine's integration tests (one binary, one module per area).
// Helpers shared by the modules of one test binary: `pub` there reaches nothing outside.
#![allow(unreachable_pub)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api;
mod contract;
mod control;
mod detect;
mod engine;
mod gnudip;
mod import;
mod netns;
mod readme;
mod rfc2136;
