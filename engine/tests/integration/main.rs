//! The engine's integration tests (one binary, one module per area).
#![allow(clippy::unwrap_used)]

mod control;
mod engine;
mod fake_provider;
