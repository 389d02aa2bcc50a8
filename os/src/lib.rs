//! The few Windows calls Dyntray makes that Rust's standard library, Tokio and the other
//! chosen crates do not wrap: who a process runs as, a named pipe only its owner may
//! open, a clock that stops during sleep, a job that ends a command with everything it
//! started, the network adapters with their addresses and their changes, and a
//! directory watch; balloons from the tray icon, whether the app is registered for toasts,
//! ending the settings process, and starting at sign-in. Every function here is safe to
//! call; the `unsafe` stays inside, one foreign call per block, each with the reason it
//! is sound.
//!
//! The rest of the workspace forbids unsafe code; this crate exists so that it can keep
//! doing so. On other systems it is empty.
#![cfg(windows)]

pub mod adapters;
pub mod autostart;
pub mod clock;
pub mod dirwatch;
pub mod identity;
pub mod job;
pub mod netchange;
pub mod pipe;
pub mod process;
mod registry;
pub mod shell;

/// Reads a NUL-terminated UTF-16 string (as Windows returns them).
///
/// # Safety
/// `text` must point at a readable, NUL-terminated UTF-16 string.
#[allow(unsafe_code)]
unsafe fn wide_to_string(text: *const u16) -> String {
    let mut len = 0;
    // SAFETY: the caller promises a NUL-terminated string: every index up to and
    // including the NUL is in bounds.
    while unsafe { *text.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: the `len` units before the NUL were just read one by one.
    String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(text, len) })
}

/// `text` as a NUL-terminated UTF-16 string, for the calls that take one.
fn to_wide(text: &str) -> Vec<u16> {
    text.encode_utf16().chain(std::iter::once(0)).collect()
}
