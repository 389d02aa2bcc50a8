//! Being told when something in a directory changes (FindFirstChangeNotification), on a
//! thread that sleeps until it does: no polling.

use std::io;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;

use windows_sys::Win32::Foundation::{HANDLE, INVALID_HANDLE_VALUE, WAIT_OBJECT_0};
use windows_sys::Win32::Storage::FileSystem::{
    FILE_NOTIFY_CHANGE_FILE_NAME, FILE_NOTIFY_CHANGE_LAST_WRITE, FILE_NOTIFY_CHANGE_SIZE,
    FindCloseChangeNotification, FindFirstChangeNotificationW, FindNextChangeNotification,
};
use windows_sys::Win32::System::Threading::{
    CreateEventW, INFINITE, SetEvent, WaitForMultipleObjects,
};

/// A directory being watched; dropping it stops the watch (and waits for its thread).
#[derive(Debug)]
pub struct DirWatch {
    stop: Arc<OwnedHandle>,
    thread: Option<JoinHandle<()>>,
}

impl DirWatch {
    /// Calls `changed` on a thread of its own each time a file in `dir` is written,
    /// created, renamed or deleted (several changes may come as one call), until it
    /// returns false or the watch is dropped. `changed` must not block: dropping the
    /// watch waits for it to return.
    #[allow(unsafe_code)]
    pub fn new(dir: &Path, mut changed: impl FnMut() -> bool + Send + 'static) -> io::Result<Self> {
        let change = ChangeHandle::open(dir)?;
        // SAFETY: null attributes and name; a manual-reset event, not signalled; a null
        // result is an error, checked below.
        let raw = unsafe { CreateEventW(std::ptr::null(), 1, 0, std::ptr::null()) };
        if raw.is_null() {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a handle this call just made; nothing else owns or closes it.
        let stop = Arc::new(unsafe { OwnedHandle::from_raw_handle(raw) });
        let stopped = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("dyntray-dirwatch".into())
            .spawn(move || {
                // The whole handle moves here (not just its pointer), and closes at the end.
                let change: ChangeHandle = change;
                // The stop event first: when both are signalled, the lower index wins.
                let handles: [HANDLE; 2] = [stopped.as_raw_handle(), change.0];
                loop {
                    // SAFETY: both handles stay open while this thread runs (`change`
                    // and `stopped` are owned by it).
                    let woke = unsafe { WaitForMultipleObjects(2, handles.as_ptr(), 0, INFINITE) };
                    if woke == WAIT_OBJECT_0 {
                        break;
                    }
                    if woke != WAIT_OBJECT_0 + 1 {
                        // A failed wait: the watch ends; hand edits then wait for a
                        // reload (said in the engine's log when the watch cannot start).
                        break;
                    }
                    if !changed() {
                        break;
                    }
                    // SAFETY: `change` is a valid change notification handle.
                    if unsafe { FindNextChangeNotification(change.0) } == 0 {
                        break;
                    }
                }
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for DirWatch {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: the event handle is open (owned by `self.stop`).
        unsafe { SetEvent(self.stop.as_raw_handle()) };
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A change notification handle (closed with its own call, not CloseHandle).
struct ChangeHandle(HANDLE);

// SAFETY: a change notification handle may be waited on and closed from any thread.
#[allow(unsafe_code)]
unsafe impl Send for ChangeHandle {}

impl ChangeHandle {
    #[allow(unsafe_code)]
    fn open(dir: &Path) -> io::Result<Self> {
        use std::os::windows::ffi::OsStrExt;
        let wide: Vec<u16> = dir
            .as_os_str()
            .encode_wide()
            .chain(std::iter::once(0))
            .collect();
        // SAFETY: `wide` is NUL-terminated and alive during the call.
        let raw = unsafe {
            FindFirstChangeNotificationW(
                wide.as_ptr(),
                0,
                FILE_NOTIFY_CHANGE_FILE_NAME
                    | FILE_NOTIFY_CHANGE_LAST_WRITE
                    | FILE_NOTIFY_CHANGE_SIZE,
            )
        };
        if raw == INVALID_HANDLE_VALUE || raw.is_null() {
            return Err(io::Error::last_os_error());
        }
        Ok(Self(raw))
    }
}

impl Drop for ChangeHandle {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: the handle came from FindFirstChangeNotificationW and is closed once.
        unsafe { FindCloseChangeNotification(self.0) };
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_file_written_in_the_directory_is_told_and_a_drop_ends_the_watch() {
        let dir = std::env::temp_dir().join(format!("dyntray-os-watch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (tx, rx) = mpsc::channel();
        let watch = DirWatch::new(&dir, move || tx.send(()).is_ok()).unwrap();
        assert!(
            rx.recv_timeout(Duration::from_millis(300)).is_err(),
            "told of nothing"
        );

        std::fs::write(dir.join("config.toml"), "version = 1\n").unwrap();
        rx.recv_timeout(Duration::from_secs(5))
            .expect("no change told");

        drop(watch);
        // The thread ended and dropped its sender.
        while rx.try_recv().is_ok() {}
        assert!(matches!(
            rx.recv_timeout(Duration::from_secs(5)),
            Err(mpsc::RecvTimeoutError::Disconnected)
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_directory_is_an_error() {
        let missing = std::env::temp_dir().join("dyntray-os-no-such-dir/inner");
        assert!(DirWatch::new(&missing, || true).is_err());
    }
}
