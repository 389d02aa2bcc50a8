//! The control API on Windows: a named pipe per user, `\\.\pipe\dyntray-<SID>`.
//!
//! Any user can create an instance of a pipe name nobody holds, and a new pipe lets
//! Everyone read it unless told otherwise. So, as with the Unix socket: the server gives
//! every instance a DACL that lets only its own user in, and checks who runs each client;
//! the client checks who runs the server before it sends anything. Another user who took
//! the name first can keep Dyntray from serving (said in words), never read a request.

use std::io;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use dyntray_os::{identity, pipe};
use tokio::net::windows::named_pipe::{
    ClientOptions, NamedPipeClient, NamedPipeServer, ServerOptions,
};

use super::{ControlError, ErrorCode};

/// What every pipe name starts with.
const PREFIX: &str = r"\\.\pipe\";

/// How long a client waits while every instance is busy (the server makes the next one
/// as soon as one connects).
const BUSY_WAIT: Duration = Duration::from_secs(2);

/// The SID of the user this process runs as, read once.
pub(crate) fn me() -> io::Result<&'static str> {
    static ME: OnceLock<Result<String, String>> = OnceLock::new();
    ME.get_or_init(|| identity::current_user().map_err(|e| e.to_string()))
        .as_deref()
        .map_err(|e| io::Error::other(format!("cannot tell which user this is: {e}")))
}

/// The pipe name in `path`, which must be one (`\\.\pipe\…`).
pub(super) fn name(path: &Path) -> io::Result<&str> {
    path.to_str()
        .filter(|name| {
            name.get(..PREFIX.len())
                .is_some_and(|start| start.eq_ignore_ascii_case(PREFIX))
                && name.len() > PREFIX.len()
        })
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "on Windows the control API is a named pipe, and {} is not one \
                     (a pipe name starts with {PREFIX})",
                    path.display()
                ),
            )
        })
}

/// Creates an instance of the pipe `name` that only this user may open. `first` fails
/// with [`pipe::ACCESS_DENIED`] when the name is held already.
pub(super) fn create(name: &str, first: bool) -> io::Result<NamedPipeServer> {
    let mut options = ServerOptions::new();
    options
        .first_pipe_instance(first)
        .reject_remote_clients(true);
    pipe::create_private(&options, name, me()?)
}

/// Why a connected client is refused, if it is: it must run as this user.
pub(super) fn check_client(server: &NamedPipeServer) -> Result<(), String> {
    let me = me().map_err(|e| e.to_string())?;
    match pipe::client_user(server) {
        Ok(user) if user == me => Ok(()),
        Ok(user) => Err(format!("the client runs as {user}, not as {me}")),
        Err(e) => Err(format!("cannot tell who the client is: {e}")),
    }
}

/// Who serves the pipe a client is connected to, when that is not this user: told by the
/// pipe's owner, which the server sets to its user and nobody can set to another's. (The
/// serving process's id would do less well: it names the process that made the instance,
/// which may have handed it on and exited, its id then reused; and a process elevated by
/// UAC may not let its token be read.)
pub(super) fn foreign_server(client: &NamedPipeClient) -> Option<String> {
    let me = match me() {
        Ok(me) => me,
        Err(e) => return Some(e.to_string()),
    };
    match pipe::owner(client) {
        Ok(user) if user == me => None,
        Ok(user) => Some(format!("it belongs to {user} (you are {me})")),
        Err(e) => Some(format!("whose it is cannot be read: {e}")),
    }
}

/// Opens the pipe at `path` as a client and checks who serves it; nothing has been sent
/// when this returns. Waits up to two seconds while every instance is busy.
pub(super) async fn connect(path: &Path) -> Result<NamedPipeClient, ControlError> {
    let name = name(path).map_err(|e| ControlError::new(ErrorCode::NotRunning, e.to_string()))?;
    let start = Instant::now();
    let client = loop {
        match ClientOptions::new().open(name) {
            Ok(client) => break client,
            Err(e) if e.raw_os_error() == Some(pipe::PIPE_BUSY) && start.elapsed() < BUSY_WAIT => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => {
                return Err(ControlError::new(
                    ErrorCode::NotRunning,
                    format!("Dyntray is not running (no answer on {name}: {e})"),
                ));
            }
        }
    };
    if let Some(why) = foreign_server(&client) {
        return Err(ControlError::new(
            ErrorCode::Untrusted,
            format!(
                "refusing to talk to {name}: {why}. Another local user may be posing as \
                 Dyntray; nothing was sent"
            ),
        ));
    }
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pipe_names_are_taken() {
        assert_eq!(
            name(Path::new(r"\\.\pipe\dyntray-S-1-5-21-1")).unwrap(),
            r"\\.\pipe\dyntray-S-1-5-21-1"
        );
        assert!(name(Path::new(r"\\.\PIPE\x")).is_ok());
        for not_one in [r"C:\Users\me\control.sock", r"\\.\pipe\", "pipe", ""] {
            let error = name(Path::new(not_one)).unwrap_err();
            assert!(error.to_string().contains("is not one"), "{error}");
        }
    }
}
