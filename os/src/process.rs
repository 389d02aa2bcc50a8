//! Ending another process of ours by its id, the way `kill` and `waitpid` do on Unix.

use std::time::Duration;

use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, WAIT_OBJECT_0};
use windows_sys::Win32::System::Threading::{
    OpenProcess, PROCESS_SYNCHRONIZE, PROCESS_TERMINATE, TerminateProcess, WaitForSingleObject,
};

/// An open process handle, closed when dropped.
struct Process(HANDLE);

impl Drop for Process {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: the handle came from OpenProcess and is closed once, here.
        unsafe { CloseHandle(self.0) };
    }
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// By itself within the grace period (or it was gone already).
    ByItself,
    /// Terminated after the grace period.
    Terminated,
    /// Still running: it could be neither waited for nor terminated.
    Failed,
}

/// Waits up to `grace` for process `pid` to exit, then terminates it.
#[allow(unsafe_code)]
pub fn end(pid: u32, grace: Duration) -> Ended {
    // SAFETY: OpenProcess takes plain values and returns a handle or null.
    let handle = unsafe { OpenProcess(PROCESS_SYNCHRONIZE | PROCESS_TERMINATE, 0, pid) };
    if handle.is_null() {
        // No such process (it has exited and been reaped), or not ours to open.
        return Ended::ByItself;
    }
    let process = Process(handle);
    let millis = u32::try_from(grace.as_millis()).unwrap_or(u32::MAX - 1);
    // SAFETY: the handle is open with SYNCHRONIZE; the wait is bounded.
    if unsafe { WaitForSingleObject(process.0, millis) } == WAIT_OBJECT_0 {
        return Ended::ByItself;
    }
    // SAFETY: the handle is open with PROCESS_TERMINATE.
    if unsafe { TerminateProcess(process.0, 1) } == 0 {
        return Ended::Failed;
    }
    Ended::Terminated
}

#[cfg(test)]
mod tests {
    use super::*;

    fn child(script: &str) -> std::process::Child {
        std::process::Command::new("cmd")
            .args(["/c", script])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("cmd starts")
    }

    #[test]
    fn a_process_that_ends_in_time_is_not_terminated() {
        let mut quick = child("exit 0");
        let pid = quick.id();
        assert_eq!(end(pid, Duration::from_secs(10)), Ended::ByItself);
        assert!(quick.wait().expect("waited").success());
    }

    #[test]
    fn a_stuck_process_is_terminated_after_the_grace_period() {
        // `ping -n 30` waits about 30 s between its probes of loopback.
        let mut stuck = child("ping -n 30 127.0.0.1");
        let pid = stuck.id();
        assert_eq!(end(pid, Duration::from_millis(300)), Ended::Terminated);
        let status = stuck.wait().expect("waited");
        assert!(!status.success(), "{status:?}");
    }
}
