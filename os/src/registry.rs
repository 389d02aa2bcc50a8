//! Values under the user's registry hive (`HKEY_CURRENT_USER`), which a program may read
//! and write without an administrator: what start at sign-in and the notification
//! platform's registration are kept in.

use std::io;

use windows_sys::Win32::Foundation::{ERROR_FILE_NOT_FOUND, ERROR_MORE_DATA, ERROR_SUCCESS};
use windows_sys::Win32::System::Registry::{
    HKEY_CURRENT_USER, REG_SZ, RRF_RT_REG_SZ, RegDeleteKeyValueW, RegGetValueW, RegSetKeyValueW,
};

use crate::to_wide;

fn error(code: u32) -> io::Error {
    io::Error::from_raw_os_error(i32::try_from(code).unwrap_or(i32::MAX))
}

/// Reads value `name` of the user's key `key` of a given type (`RRF_RT_*`), `None` when
/// the key or the value is not there.
#[allow(unsafe_code)]
pub(crate) fn read(key: &str, name: &str, kind: u32) -> io::Result<Option<Vec<u8>>> {
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

/// Reads the string value `name` of the user's key `key`, `None` when it is not there.
pub(crate) fn read_string(key: &str, name: &str) -> io::Result<Option<String>> {
    let Some(bytes) = read(key, name, RRF_RT_REG_SZ)? else {
        return Ok(None);
    };
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
        .take_while(|&unit| unit != 0)
        .collect();
    Ok(Some(String::from_utf16_lossy(&units)))
}

/// Sets the string value `name` of the user's key `key`, creating the key when missing.
#[allow(unsafe_code)]
pub(crate) fn set_string(key: &str, name: &str, value: &str) -> io::Result<()> {
    let (key, name, data) = (to_wide(key), to_wide(name), to_wide(value));
    let size = u32::try_from(data.len() * 2)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "the value is too long"))?;
    // SAFETY: key and name are NUL-terminated; `data` is `size` bytes of UTF-16 ending
    // in a NUL, as REG_SZ wants. The key is created when missing.
    let status = unsafe {
        RegSetKeyValueW(
            HKEY_CURRENT_USER,
            key.as_ptr(),
            name.as_ptr(),
            REG_SZ,
            data.as_ptr().cast(),
            size,
        )
    };
    if status != ERROR_SUCCESS {
        return Err(error(status));
    }
    Ok(())
}

/// Removes the value `name` of the user's key `key`; one not there is not an error.
#[allow(unsafe_code)]
pub(crate) fn delete(key: &str, name: &str) -> io::Result<()> {
    let (key, name) = (to_wide(key), to_wide(name));
    // SAFETY: key and name are NUL-terminated UTF-16.
    match unsafe { RegDeleteKeyValueW(HKEY_CURRENT_USER, key.as_ptr(), name.as_ptr()) } {
        ERROR_SUCCESS | ERROR_FILE_NOT_FOUND => Ok(()),
        other => Err(error(other)),
    }
}
