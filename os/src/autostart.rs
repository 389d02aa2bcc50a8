//! Starting a program when the user signs in: a value under the user's `Run` key, which
//! needs no administrator. Task Manager's "Startup apps" page can disable such a value
//! without removing it, by a mark under `StartupApproved\Run`; a value so marked does
//! not start, and is reported as off here.

use std::io;

use windows_sys::Win32::System::Registry::RRF_RT_REG_BINARY;

use crate::registry::{delete, read, read_string, set_string};

const RUN: &str = r"Software\Microsoft\Windows\CurrentVersion\Run";
const APPROVED: &str = r"Software\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\Run";

/// The command that starts at sign-in under `name`, if one does (present and not
/// disabled in Task Manager).
pub fn command(name: &str) -> io::Result<Option<String>> {
    let Some(command) = read_string(RUN, name)? else {
        return Ok(None);
    };
    // Task Manager writes 12 bytes: an odd first byte means "disabled".
    if let Some(mark) = read(APPROVED, name, RRF_RT_REG_BINARY)?
        && mark.first().is_some_and(|b| b & 1 == 1)
    {
        return Ok(None);
    }
    Ok(Some(command))
}

/// Starts `command` at sign-in under `name` (replacing what was there), and lifts a
/// Task Manager "disabled" mark: the user has just asked for it.
pub fn enable(name: &str, command: &str) -> io::Result<()> {
    set_string(RUN, name, command)?;
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
    use crate::to_wide;
    use windows_sys::Win32::Foundation::ERROR_SUCCESS;
    use windows_sys::Win32::System::Registry::{HKEY_CURRENT_USER, REG_BINARY, RegSetKeyValueW};

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
