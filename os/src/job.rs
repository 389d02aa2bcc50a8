//! A job object that ends a command together with everything it started.
//!
//! On Unix a command runs in a process group of its own and a time-out kills the group.
//! Windows has no groups that do this; a job with "kill on close" does: every process
//! assigned to it, and every process those start, ends when the job's last handle closes.

use std::io;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};

use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION, JobObjectExtendedLimitInformation,
    SetInformationJobObject,
};

/// A job whose processes are killed when it is dropped, unless [`KillJob::release`]d.
#[derive(Debug)]
pub struct KillJob(OwnedHandle);

impl KillJob {
    /// A new, empty job that kills what it holds when dropped.
    #[allow(unsafe_code)]
    pub fn new() -> io::Result<Self> {
        // SAFETY: null attributes and name make an unnamed job with default security; a
        // null result is an error, checked below.
        let raw = unsafe { CreateJobObjectW(std::ptr::null(), std::ptr::null()) };
        if raw.is_null() {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a handle this call just made; nothing else owns or closes it.
        let job = Self(unsafe { OwnedHandle::from_raw_handle(raw) });
        job.set_limits(JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE)?;
        Ok(job)
    }

    /// Puts `child` (and so whatever it starts from now on) in the job. A process the
    /// child started before this call stays outside.
    #[allow(unsafe_code)]
    pub fn assign(&self, child: &tokio::process::Child) -> io::Result<()> {
        let Some(process) = child.raw_handle() else {
            return Err(io::Error::other("the process has already been waited for"));
        };
        // SAFETY: both handles are valid while `self` and `child` are borrowed (tokio
        // keeps the process handle open until the child is waited for, which needs
        // `&mut`).
        if unsafe { AssignProcessToJobObject(self.0.as_raw_handle(), process) } == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// The command finished: the job is closed without killing anything (what it left
    /// running in the background goes on, as with a Unix process group that is not
    /// killed). On error the job is closed anyway, which ends what is left.
    pub fn release(self) -> io::Result<()> {
        self.set_limits(0)
    }

    #[allow(unsafe_code)]
    fn set_limits(&self, flags: u32) -> io::Result<()> {
        // SAFETY: an all-zero JOBOBJECT_EXTENDED_LIMIT_INFORMATION is valid (plain
        // numbers; zero means "no limit").
        let mut limits: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = unsafe { std::mem::zeroed() };
        limits.BasicLimitInformation.LimitFlags = flags;
        // SAFETY: the job handle is valid while `self` is borrowed; the pointer and size
        // describe `limits`, alive during the call.
        let set = unsafe {
            SetInformationJobObject(
                self.0.as_raw_handle(),
                JobObjectExtendedLimitInformation,
                (&raw const limits).cast(),
                u32::try_from(size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>())
                    .unwrap_or(u32::MAX),
            )
        };
        if set == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::*;

    /// cmd.exe starting a second cmd.exe, which writes `file` once ping has waited two
    /// seconds. The first is killed when its handle drops; the second is not.
    fn start(file: &Path) -> tokio::process::Child {
        let mut command = tokio::process::Command::new("cmd.exe");
        command
            .raw_arg(format!(
                "/d /s /c \"cmd /d /c \"ping -n 3 127.0.0.1 >nul & echo late>{}\"\"",
                file.display()
            ))
            .kill_on_drop(true);
        command.spawn().unwrap()
    }

    async fn appears(file: &Path, within: Duration) -> bool {
        let start = std::time::Instant::now();
        while start.elapsed() < within {
            if file.exists() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    #[tokio::test]
    async fn a_dropped_job_ends_the_command_and_what_it_started() {
        let dir = std::env::temp_dir().join(format!("dyntray-os-job-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();

        // Released: the command ends alone, what it started goes on and writes.
        let released = dir.join("released");
        let child = start(&released);
        let job = KillJob::new().unwrap();
        job.assign(&child).unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        job.release().unwrap();
        drop(child);
        assert!(
            appears(&released, Duration::from_secs(15)).await,
            "nothing ran on"
        );

        // Dropped: everything in it ends.
        let dropped = dir.join("dropped");
        let child = start(&dropped);
        let job = KillJob::new().unwrap();
        job.assign(&child).unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        drop(job);
        drop(child);
        let outlived = appears(&dropped, Duration::from_secs(5)).await;
        let _ = std::fs::remove_dir_all(&dir);
        assert!(!outlived, "a process the command started outlived its job");
    }
}
