//! Test parts shared by the workspace's test suites: a scripted provider server, DNS
//! server and UPnP router on 127.0.0.1. The end-to-end tests themselves live in `tests/e2e/`.

// Test support: a failed unwrap here is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod fake_api;
pub mod fake_dns;
pub mod fake_igd;
pub mod fake_provider;
#[cfg(target_os = "linux")]
pub mod netns;
