//! Who a process runs as: its user's security identifier (SID), in the form Windows
//! prints (`S-1-5-21-…`), which is what two SIDs are compared by here.

use std::io;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};

use windows_sys::Win32::Foundation::{HANDLE, LocalFree};
use windows_sys::Win32::Security::Authorization::ConvertSidToStringSidW;
use windows_sys::Win32::Security::{GetTokenInformation, PSID, TOKEN_QUERY, TOKEN_USER, TokenUser};
use windows_sys::Win32::System::Threading::{
    GetCurrentProcess, OpenProcess, OpenProcessToken, PROCESS_QUERY_LIMITED_INFORMATION,
};

/// The SID of the user this process runs as.
#[allow(unsafe_code)]
pub fn current_user() -> io::Result<String> {
    // SAFETY: takes nothing; returns a pseudo handle that is always valid and never closed.
    let process = unsafe { GetCurrentProcess() };
    token_user(process)
}

/// The SID of the user that process `pid` runs as. Fails when the process is gone or
/// this user may not query it (another user's elevated process, say).
#[allow(unsafe_code)]
pub fn process_user(pid: u32) -> io::Result<String> {
    // SAFETY: plain call with plain arguments; a null result is an error, checked below.
    let raw = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if raw.is_null() {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a handle this call just opened; nothing else owns or closes it.
    let process = unsafe { OwnedHandle::from_raw_handle(raw) };
    token_user(process.as_raw_handle())
}

/// The user of the process behind `process` (valid for the duration of the call).
#[allow(unsafe_code)]
fn token_user(process: HANDLE) -> io::Result<String> {
    let mut raw: HANDLE = std::ptr::null_mut();
    // SAFETY: `process` is valid during the call; `raw` is a place for the new handle.
    if unsafe { OpenProcessToken(process, TOKEN_QUERY, &mut raw) } == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` was just opened by the call above and is owned here only.
    let token = unsafe { OwnedHandle::from_raw_handle(raw) };
    // A TOKEN_USER is a pointer to a SID followed by the SID: ask for its size first.
    let mut needed = 0u32;
    // SAFETY: a null buffer of length 0 only asks for the size; the call then fails with
    // ERROR_INSUFFICIENT_BUFFER, which is expected and not an error here.
    unsafe {
        GetTokenInformation(
            token.as_raw_handle(),
            TokenUser,
            std::ptr::null_mut(),
            0,
            &mut needed,
        )
    };
    if (needed as usize) < size_of::<TOKEN_USER>() {
        return Err(io::Error::last_os_error());
    }
    // In u64 units: aligned for the pointer at the start of TOKEN_USER.
    let mut buffer = vec![0u64; (needed as usize).div_ceil(8)];
    // SAFETY: `buffer` holds at least `needed` bytes and is aligned for TOKEN_USER.
    let filled = unsafe {
        GetTokenInformation(
            token.as_raw_handle(),
            TokenUser,
            buffer.as_mut_ptr().cast(),
            needed,
            &mut needed,
        )
    };
    if filled == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the call filled `buffer` with a TOKEN_USER, which starts it (alignment
    // checked above); its SID pointer points inside `buffer`, alive until the end.
    let sid = unsafe { (*buffer.as_ptr().cast::<TOKEN_USER>()).User.Sid };
    sid_string(sid)
}

/// A SID as text.
#[allow(unsafe_code)]
pub(crate) fn sid_string(sid: PSID) -> io::Result<String> {
    let mut text: *mut u16 = std::ptr::null_mut();
    // SAFETY: `sid` points at a valid SID for the duration of the call; `text` receives
    // a string the system allocates with LocalAlloc.
    if unsafe { ConvertSidToStringSidW(sid, &mut text) } == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: on success `text` is a NUL-terminated UTF-16 string.
    let sid = unsafe { crate::wide_to_string(text) };
    // SAFETY: `text` came from LocalAlloc in the call above and is freed once, here.
    unsafe { LocalFree(text.cast()) };
    Ok(sid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_runs_as_the_current_user() {
        let me = current_user().unwrap();
        assert!(me.starts_with("S-1-"), "{me}");
        assert_eq!(process_user(std::process::id()).unwrap(), me);
    }

    #[test]
    fn a_process_that_does_not_exist_is_an_error() {
        // Process ids are multiples of 4 on Windows: 3 is never one.
        assert!(process_user(3).is_err());
    }
}
