//! Starting a program when the user signs in: a value under the user's `Run` key, which
//! needs no administrator. Task Manager's "Startup apps" page can disable such a value
//! without removing it, by a mark under `StartupApproved\Run`; a value so marked does
//! not start, and is reported as off here.

use std::io;

use windows_sys::Win32::Foundation::{ERROR_FILE_NOT_FOUND, ERROR_MORE_DATA, ERROR_SUCCESS};
use windows_sys::Win32::System::Registry::{
    HKEY_CURRENT_USER, REG_SZ, RRF_RT_REG_BINARY, RRF_RT_REG_SZ, RegDeleteKeyValueW, RegGetValueW,
    RegSetKeyValueW,
};

use crate::to_wide;

const RUN: &str = r"Software\Microsoft\Windows\CurrentVersion\Run";
const APPROVED: &str = r"Software\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\Run";

fn error(code: u32) -> io::Error {
    io::Error::from_raw_os_error(i32::try_from(code).unwrap_or(i32::MAX))
}

/// Reads value `name` of the user's key `key` of a given type, `None` when it is not
/// there.
#[allow(unsafe_code)]
fn read(key: &str, name: &str, kind: u32) -> io::Result<Option<Vec<u8>>> {
    let (key, name) = (to_wide(key), to_wide(name));
    let mut buffer = vec![0u8; 512];
    loop {
        let mut size = u32::try_from(buffer.len()).unwrap_or(u32::MAX);
        // SAFETY: key and name are NUL-terminated; `buffer` holds `size` writable bytes,
        // and the call writes at most that many and the length into `size`.
        let status = unsafe {
            RegGetValueW(
                HKEY_CURRENT_USER,
                key.as_ptr(),
                name.as_ptr(),
                kind,
                std::ptr::null_mut(),
                buffer.as_mut_ptr().cast(),
                &mut size,
            )
        };
        match status {
            ERROR_SUCCESS => {
                buffer.truncate(size as usize);
                return Ok(Some(buffer));
            }
            ERROR_FILE_NOT_FOUND => return Ok(None),
            // A value grown since the last try: try again with the size it has now.
            ERROR_MORE_DATA if (size as usize) > buffer.len() && size < 1 << 20 => {
                buffer.resize(size as usize, 0);
            }
            other => return Err(error(other)),
        }
    }
}

#[allow(unsafe_code)]
fn delete(key: &str, name: &str) -> io::Result<()> {
    let (key, name) = (to_wide(key), to_wide(name));
    // SAFETY: key and name are NUL-terminated UTF-16.
    match unsafe { RegDeleteKeyValueW(HKEY_CURRENT_USER, key.as_ptr(), name.as_ptr()) } {
        ERROR_SUCCESS | ERROR_FILE_NOT_FOUND => Ok(()),
        other => Err(error(other)),
    }
}

/// The command that starts at sign-in under `name`, if one does (present and not
/// disabled in Task Manager).
pub fn command(name: &str) -> io::Result<Option<String>> {
    let Some(bytes) = read(RUN, name, RRF_RT_REG_SZ)? else {
        return Ok(None);
    };
    // Task Manager writes 12 bytes: an odd first byte means "disabled".
    if let Some(mark) = read(APPROVED, name, RRF_RT_REG_BINARY)?
        && mark.first().is_some_and(|b| b & 1 == 1)
    {
        return Ok(None);
    }
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
        .take_while(|&unit| unit != 0)
        .collect();
    Ok(Some(String::from_utf16_lossy(&units)))
}

/// Starts `command` at sign-in under `name` (replacing what was there), and lifts a
/// Task Manager "disabled" mark: the user has just asked for it.
#[allow(unsafe_code)]
pub fn enable(name: &str, command: &str) -> io::Result<()> {
    let (key, value_name, data) = (to_wide(RUN), to_wide(name), to_wide(command));
    let size = u32::try_from(data.len() * 2)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "the command is too long"))?;
    // SAFETY: key and name are NUL-terminated; `data` is `size` bytes of UTF-16 ending
    // in a NUL, as REG_SZ wants. The key is created when missing.
    let status = unsafe {
        RegSetKeyValueW(
            HKEY_CURRENT_USER,
            key.as_ptr(),
            value_name.as_ptr(),
            REG_SZ,
            data.as_ptr().cast(),
            size,
        )
    };
    if status != ERROR_SUCCESS {
        return Err(error(status));
    }
    delete(APPROVED, name)
}

/// Stops starting anything at sign-in under `name`.
pub fn disable(name: &str) -> io::Result<()> {
    delete(RUN, name)?;
    delete(APPROVED, name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use windows_sys::Win32::System::Registry::REG_BINARY;

    #[allow(unsafe_code)]
    fn mark_disabled(name: &str) {
        let (key, name) = (to_wide(APPROVED), to_wide(name));
        let mark = [3u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        // SAFETY: NUL-terminated strings; 12 readable bytes.
        let status = unsafe {
            RegSetKeyValueW(
                HKEY_CURRENT_USER,
                key.as_ptr(),
                name.as_ptr(),
                REG_BINARY,
                mark.as_ptr().cast(),
                12,
            )
        };
        assert_eq!(status, ERROR_SUCCESS);
    }

    #[test]
    fn a_run_value_is_written_read_disabled_by_task_manager_and_removed() {
        let name = format!("dyntray-test-{}", std::process::id());
        let command = r#""C:\Users\Zoë\AppData\Local\Programs\Dyntray\dyntray.exe""#;
        assert_eq!(super::command(&name).unwrap(), None);
        enable(&name, command).unwrap();
        assert_eq!(super::command(&name).unwrap().as_deref(), Some(command));
        // Switched off in Task Manager: off here too; switched on again here: on.
        mark_disabled(&name);
        assert_eq!(super::command(&name).unwrap(), None);
        enable(&name, command).unwrap();
        assert_eq!(super::command(&name).unwrap().as_deref(), Some(command));
        disable(&name).unwrap();
        assert_eq!(super::command(&name).unwrap(), None);
        // Removing what is not there is not an error.
        disable(&name).unwrap();
    }
}
