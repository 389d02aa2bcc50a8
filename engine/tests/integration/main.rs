//! The engine's integration tests (one binary, one module per area).
#![allow(clippy::unwrap_used)]

mod contract;
mod control;
mod detect;
mod engine;
mod gnudip;
mod netns;
mod readme;
mod rfc2136;
