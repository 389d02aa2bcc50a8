//! Hand edits reach the running engine: the config file is watched (inotify on Linux, a
//! directory change notification on Windows), and SIGHUP asks for a reload as daemons do
//! (`dyntrayd reload` everywhere). The engine decides what a change means (a file that is the
//! same as the one applied is nothing; a bad one keeps the running config).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::engine::EngineHandle;

/// Changes closer together than this are one (an editor writes, renames, chmods).
#[cfg_attr(not(any(target_os = "linux", windows)), allow(dead_code))]
const SETTLE: Duration = Duration::from_millis(300);

/// Watches `path` (through its directory, so that an editor's write-and-rename is seen)
/// and the SIGHUP signal until the engine stops; each change asks the engine to read
/// the file again.
pub fn spawn(path: PathBuf, engine: EngineHandle) {
    // Windows has no SIGHUP: `dyntrayd reload` asks over the control API instead.
    #[cfg(unix)]
    {
        let engine = engine.clone();
        tokio::spawn(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let Ok(mut hangups) = signal(SignalKind::hangup()) else {
                tracing::info!("SIGHUP cannot be watched; the config file still is");
                return;
            };
            loop {
                tokio::select! {
                    got = hangups.recv() => if got.is_none() { break },
                    () = engine.stopped() => break,
                }
                engine.config_file_changed("SIGHUP".into()).await;
            }
        });
    }
    match watcher(&path) {
        Ok(changes) => {
            tokio::spawn(follow(changes, engine));
        }
        Err(e) => tracing::info!(path = %path.display(), error = %e, "{UNWATCHED}"),
    }
}

/// What to do instead when the file cannot be watched.
#[cfg(unix)]
const UNWATCHED: &str = "the config file is not watched; send SIGHUP after editing it";
#[cfg(not(unix))]
const UNWATCHED: &str = "the config file is not watched; run `dyntrayd reload` after editing it";

#[cfg(target_os = "linux")]
type Changes = inotify::Watch;

#[cfg(target_os = "linux")]
fn watcher(path: &Path) -> std::io::Result<Changes> {
    inotify::Watch::new(path)
}

#[cfg(target_os = "linux")]
async fn follow(mut changes: Changes, engine: EngineHandle) {
    loop {
        tokio::select! {
            changed = changes.next() => {
                if !changed {
                    break;
                }
                // Let the editor finish, then take every event so far as one change.
                tokio::time::sleep(SETTLE).await;
                changes.drain();
                engine.config_file_changed("the file changed".into()).await;
            }
            () = engine.stopped() => break,
        }
    }
}

/// On Windows: the directory's change notifications, which a thread of their own
/// passes on (the engine tells a change of this file from the others' by its content).
#[cfg(windows)]
struct Changes {
    told: tokio::sync::mpsc::Receiver<()>,
    _watch: dyntray_os::dirwatch::DirWatch,
}

#[cfg(windows)]
fn watcher(path: &Path) -> std::io::Result<Changes> {
    use tokio::sync::mpsc::error::TrySendError;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let (tx, told) = tokio::sync::mpsc::channel(1);
    // A full channel already holds a change to act on: nothing is lost.
    let watch = dyntray_os::dirwatch::DirWatch::new(dir, move || {
        !matches!(tx.try_send(()), Err(TrySendError::Closed(())))
    })?;
    Ok(Changes {
        told,
        _watch: watch,
    })
}

#[cfg(windows)]
async fn follow(mut changes: Changes, engine: EngineHandle) {
    loop {
        tokio::select! {
            told = changes.told.recv() => {
                if told.is_none() {
                    break;
                }
                tokio::time::sleep(SETTLE).await;
                while changes.told.try_recv().is_ok() {}
                engine.config_file_changed("the file changed".into()).await;
            }
            () = engine.stopped() => break,
        }
    }
}

#[cfg(not(any(target_os = "linux", windows)))]
type Changes = ();

#[cfg(not(any(target_os = "linux", windows)))]
fn watcher(_path: &Path) -> std::io::Result<Changes> {
    Err(std::io::Error::other(
        "file watching is built for Linux and Windows only",
    ))
}

#[cfg(not(any(target_os = "linux", windows)))]
async fn follow(_changes: Changes, _engine: EngineHandle) {}

#[cfg(target_os = "linux")]
mod inotify {
    use std::ffi::OsStr;
    use std::mem::MaybeUninit;
    use std::os::fd::OwnedFd;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    use rustix::fs::inotify::{self, CreateFlags, WatchFlags};
    use tokio::io::unix::AsyncFd;

    /// An inotify watch on a file's directory, reporting events about that file.
    pub(super) struct Watch {
        fd: AsyncFd<OwnedFd>,
        name: Vec<u8>,
    }

    impl Watch {
        pub(super) fn new(path: &Path) -> std::io::Result<Self> {
            let dir = match path.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent,
                _ => Path::new("."),
            };
            let name = path
                .file_name()
                .map(OsStr::as_bytes)
                .unwrap_or_default()
                .to_vec();
            let fd = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)?;
            inotify::add_watch(
                &fd,
                dir,
                WatchFlags::CLOSE_WRITE
                    | WatchFlags::MOVED_TO
                    | WatchFlags::MOVED_FROM
                    | WatchFlags::CREATE
                    | WatchFlags::DELETE
                    | WatchFlags::ATTRIB,
            )?;
            // `AsyncFd::new` is deprecated because a caller could close or swap the fd while
            // it is registered; here the OwnedFd moves into the AsyncFd, which owns it
            // until it is dropped, and nothing else can reach it. The safe replacement
            // (`register`) is `unsafe`, which this crate forbids.
            #[allow(deprecated)]
            let fd = AsyncFd::new(fd)?;
            Ok(Self { fd, name })
        }

        /// Waits for an event about the file; `false` when the watch broke.
        pub(super) async fn next(&mut self) -> bool {
            loop {
                let Ok(mut ready) = self.fd.readable().await else {
                    return false;
                };
                match read_events(ready.get_inner(), &self.name) {
                    Ok(found) => {
                        ready.clear_ready();
                        if found {
                            return true;
                        }
                    }
                    Err(_) => return false,
                }
            }
        }

        /// Takes the events waiting, whatever they are about.
        pub(super) fn drain(&mut self) {
            let _ = read_events(self.fd.get_ref(), &self.name);
        }
    }

    /// Reads the waiting events; whether one was about the file `name`.
    fn read_events(fd: &OwnedFd, name: &[u8]) -> std::io::Result<bool> {
        let mut buf = [MaybeUninit::<u8>::uninit(); 4096];
        let mut reader = inotify::Reader::new(fd, &mut buf);
        let mut found = false;
        loop {
            match reader.next() {
                Ok(event) => {
                    found |= event.file_name().is_some_and(|n| n.to_bytes() == name);
                }
                Err(rustix::io::Errno::WOULDBLOCK) => return Ok(found),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}
