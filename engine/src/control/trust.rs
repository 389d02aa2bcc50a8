//! Who may be trusted at the end of the control socket, and the socket's directory.
//!
//! The socket lives in `$XDG_RUNTIME_DIR/dyntray` (private to the user by the OS), or,
//! without a runtime directory, in `<temp>/dyntray-<uid>`, where another local user could
//! have made the directory first. Both ends check before they trust it: the server makes
//! the directory private or refuses it, and the client checks the directory, the socket
//! and the listening process before it sends anything.

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use tokio::net::UnixStream;

use super::{ControlError, ErrorCode};

/// This process's effective user id.
pub(super) fn me() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Why a directory cannot hold the socket.
#[derive(Debug)]
pub(super) enum DirProblem {
    /// It is a symbolic link (which another user may have planted).
    Symlink,
    /// Another user owns it.
    Owner(u32),
    /// It is not a directory.
    NotDir,
    /// The OS refused to open or change it.
    Io(io::Error),
}

/// Creates `dir` (mode 0700) when missing and opens it without following a symbolic
/// link; refuses one that is not this user's, and takes group and other permissions away
/// from one that is (through the open directory, so no link swapped in meanwhile is
/// changed instead).
pub(super) fn prepare_private_dir(dir: &Path) -> Result<(), DirProblem> {
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(DirProblem::Io)?;
    }
    match rustix::fs::mkdir(dir, Mode::from_raw_mode(0o700)) {
        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
        Err(e) => return Err(DirProblem::Io(e.into())),
    }
    let fd = match rustix::fs::open(
        dir,
        OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::LOOP) => return Err(DirProblem::Symlink),
        Err(rustix::io::Errno::NOTDIR) => {
            return Err(match std::fs::symlink_metadata(dir) {
                Ok(meta) if meta.file_type().is_symlink() => DirProblem::Symlink,
                _ => DirProblem::NotDir,
            });
        }
        Err(e) => return Err(DirProblem::Io(e.into())),
    };
    let stat = rustix::fs::fstat(&fd).map_err(|e| DirProblem::Io(e.into()))?;
    if stat.st_uid != me() {
        return Err(DirProblem::Owner(stat.st_uid));
    }
    if stat.st_mode & 0o077 != 0 {
        // Ours but too open (made by an older version or by hand): tighten it.
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o700))
            .map_err(|e| DirProblem::Io(e.into()))?;
    }
    Ok(())
}

fn untrusted(path: &Path, why: impl std::fmt::Display) -> ControlError {
    ControlError::new(
        ErrorCode::Untrusted,
        format!(
            "refusing to talk to {}: {why}. Another local user may be posing as Dyntray; \
             nothing was sent",
            path.display()
        ),
    )
}

fn not_running(path: &Path, e: &io::Error) -> ControlError {
    ControlError::new(
        ErrorCode::NotRunning,
        format!(
            "Dyntray is not running (no answer on {}: {e})",
            path.display()
        ),
    )
}

/// Checks the socket's directory and the socket file before connecting: the directory is
/// a real directory of this user (or root) that nobody else may write to, and the socket
/// is a socket of this user. A missing socket is "not running".
pub(super) fn check_socket_path(path: &Path) -> Result<(), ControlError> {
    let dir: PathBuf = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    let me = me();
    let meta = match std::fs::symlink_metadata(&dir) {
        Ok(meta) => meta,
        Err(e) => return Err(not_running(path, &e)),
    };
    if meta.file_type().is_symlink() {
        return Err(untrusted(
            path,
            format_args!("its directory {} is a symbolic link", dir.display()),
        ));
    }
    if !meta.is_dir() {
        return Err(untrusted(
            path,
            format_args!("{} is not a directory", dir.display()),
        ));
    }
    if meta.uid() != me && meta.uid() != 0 {
        return Err(untrusted(
            path,
            format_args!(
                "its directory {} belongs to user {} (you are {me})",
                dir.display(),
                meta.uid()
            ),
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(untrusted(
            path,
            format_args!(
                "others may write to its directory {} (mode {:o})",
                dir.display(),
                meta.mode() & 0o7777
            ),
        ));
    }
    let socket = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) => return Err(not_running(path, &e)),
    };
    if !socket.file_type().is_socket() {
        return Err(untrusted(path, "it is not a socket"));
    }
    if socket.uid() != me {
        return Err(untrusted(
            path,
            format_args!("the socket belongs to user {} (you are {me})", socket.uid()),
        ));
    }
    Ok(())
}

/// Checks the process at the other end of a connected socket: it must run as this user.
pub(super) fn check_peer(stream: &UnixStream, path: &Path) -> Result<(), ControlError> {
    let me = me();
    match stream.peer_cred() {
        Ok(cred) if cred.uid() == me => Ok(()),
        Ok(cred) => Err(untrusted(
            path,
            format_args!(
                "the process serving it runs as user {} (you are {me})",
                cred.uid()
            ),
        )),
        Err(e) => Err(untrusted(
            path,
            format_args!("its server's credentials cannot be read: {e}"),
        )),
    }
}

/// Why a connected client is refused, if it is: it must run as this user.
pub(super) fn check_client(stream: &UnixStream) -> Result<(), String> {
    let me = me();
    match stream.peer_cred() {
        Ok(cred) if cred.uid() == me => Ok(()),
        Ok(cred) => Err(format!("the client runs as user {}, not {me}", cred.uid())),
        Err(e) => Err(format!("the client's credentials cannot be read: {e}")),
    }
}
