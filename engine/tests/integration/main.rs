//! The engine's integration tests (one binary, one module per area).
#![allow(clippy::unwrap_used)]

mod contract;
mod control;
mod engine;
mod gnudip;
mod readme;
mod rfc2136;
