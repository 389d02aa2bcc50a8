//! The serving side of the control API: a Unix domain socket, or on Windows a named pipe
//! (see `pipe`). Either way only this user's processes are served.

use std::future::Future;
use std::io;
#[cfg(unix)]
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
#[cfg(unix)]
use tokio::net::UnixListener;
#[cfg(windows)]
use tokio::net::windows::named_pipe::NamedPipeServer;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast, mpsc};

#[cfg(windows)]
use super::pipe;
#[cfg(unix)]
use super::trust::{self, DirProblem};

/// What accepts connections: a Unix listener, or the pipe instance waiting for the next
/// client.
#[cfg(unix)]
type Listener = UnixListener;
/// One client's connection.
#[cfg(unix)]
type Stream = tokio::net::UnixStream;
#[cfg(windows)]
#[derive(Debug)]
struct Listener {
    /// The instance a client connects to next.
    next: NamedPipeServer,
}
/// One client's connection.
#[cfg(windows)]
type Stream = NamedPipeServer;

use super::{
    ControlError, ErrorCode, Event, MAX_MESSAGE_BYTES, PROTOCOL_VERSION, RawRequest, Reply, Request,
};

/// What a host (tray process or daemon) does with control requests.
pub trait ControlHandler: Send + Sync + 'static {
    /// Answers one request. `Subscribe` never reaches this: the server handles it.
    fn handle(
        &self,
        request: Request,
    ) -> impl Future<Output = Result<serde_json::Value, ControlError>> + Send;

    /// A new receiver of the host's events, for a subscribing connection.
    fn events(&self) -> broadcast::Receiver<Event>;
}

/// Why the control socket could not be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BindError {
    /// Another instance answers on this socket.
    #[error("another instance is already running (control socket {0})")]
    AlreadyRunning(PathBuf),
    /// The socket's directory is not private to this user.
    #[error("{path} {why}; refusing to put the control socket there")]
    UnsafeDirectory {
        /// The directory.
        path: PathBuf,
        /// What is wrong with it ("belongs to user 1001", "is a symbolic link").
        why: String,
    },
    /// Another user holds the pipe's name (Windows), so nothing can be served there.
    #[error("{path} is held by another user ({why}); refusing to serve there")]
    Taken {
        /// The pipe name.
        path: PathBuf,
        /// Who holds it, as far as can be told.
        why: String,
    },
    /// Anything else the OS refused.
    #[error("cannot serve the control socket {path}: {source}")]
    Io {
        /// The socket path.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
}

/// How much a control server gives its clients. Every client is this user's own (the
/// peer check), but a buggy or stuck one must not grow the engine's host without bound.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once; one more is told "busy" and closed.
    pub max_connections: usize,
    /// A request line must be complete this long after its first byte.
    pub line_timeout: Duration,
    /// A connection that subscribed to nothing is closed after this long without a
    /// request.
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 32,
            line_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(600),
        }
    }
}

/// A bound control socket, ready to serve. Dropping it removes the socket file.
#[derive(Debug)]
pub struct ControlServer {
    listener: Listener,
    path: PathBuf,
    limits: Limits,
}

impl ControlServer {
    /// Serves the named pipe `path` (`\\.\pipe\…`), every instance open to this user only.
    ///
    /// A name this user's running instance serves gives [`BindError::AlreadyRunning`], so
    /// the caller can hand off to it; one another user holds gives [`BindError::Taken`].
    /// Must be called within a Tokio runtime.
    #[cfg(windows)]
    pub fn bind(path: &Path) -> Result<Self, BindError> {
        let io_err = |source| BindError::Io {
            path: path.to_path_buf(),
            source,
        };
        let name = pipe::name(path).map_err(io_err)?;
        // A name whose server has just exited lives on while a client still holds an
        // instance of it (it is busy, or refuses a first instance): that settles within a
        // moment, so an unclear answer is asked again for up to three seconds.
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        let settled = || std::time::Instant::now() >= deadline;
        let next = loop {
            // Asked as a client first: a first instance is refused while the name is held
            // on Windows, but not under Wine, which ignores that flag.
            match held(path, name) {
                Held::Free => {}
                Held::By(error) => return Err(error),
                Held::Busy if settled() => {
                    // A live server, most likely; the hand-off checks whose it is.
                    return Err(BindError::AlreadyRunning(path.to_path_buf()));
                }
                Held::Busy => {
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
            }
            match pipe::create(name, true) {
                Ok(next) => break next,
                Err(e)
                    if e.raw_os_error() == Some(dyntray_os::pipe::ACCESS_DENIED) && !settled() =>
                {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => return Err(io_err(e)),
            }
        };
        Ok(Self {
            listener: Listener { next },
            path: path.to_path_buf(),
            limits: Limits::default(),
        })
    }

    /// Binds the socket at `path`, creating its directory (mode 0700) when missing.
    ///
    /// A socket file left behind by a dead instance is detected (nothing accepts on it)
    /// and replaced; a live instance gives [`BindError::AlreadyRunning`], so the caller can
    /// hand off to it. Must be called within a Tokio runtime.
    #[cfg(unix)]
    pub fn bind(path: &Path) -> Result<Self, BindError> {
        let io_err = |source| BindError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            prepare_private_dir(dir)?;
        }
        let listener = match UnixListener::bind(path) {
            Ok(listener) => listener,
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                match std::os::unix::net::UnixStream::connect(path) {
                    Ok(_) => return Err(BindError::AlreadyRunning(path.to_path_buf())),
                    Err(_) => {
                        tracing::info!(socket = %path.display(), "replacing a stale control socket");
                        std::fs::remove_file(path).map_err(io_err)?;
                        UnixListener::bind(path).map_err(io_err)?
                    }
                }
            }
            Err(e) => return Err(io_err(e)),
        };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io_err)?;
        Ok(Self {
            listener,
            path: path.to_path_buf(),
            limits: Limits::default(),
        })
    }

    /// The same server with other limits (tests use short time-outs).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts connections until `shutdown` completes, each served on its own task. A
    /// connected instance is handed to its task and a new one made for the next client.
    #[cfg(windows)]
    pub async fn serve<H: ControlHandler>(
        mut self,
        handler: Arc<H>,
        shutdown: impl Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let slots = Arc::new(Semaphore::new(self.limits.max_connections));
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                connected = self.listener.next.connect() => {
                    let fresh = loop {
                        match pipe::create(&self.path.to_string_lossy(), false) {
                            Ok(fresh) => break fresh,
                            Err(e) => {
                                tracing::warn!(error = %e, "control pipe: cannot make the next instance");
                                tokio::select! {
                                    () = &mut shutdown => return,
                                    () = tokio::time::sleep(Duration::from_millis(200)) => {}
                                }
                            }
                        }
                    };
                    let stream = std::mem::replace(&mut self.listener.next, fresh);
                    if let Err(e) = connected {
                        tracing::warn!(error = %e, "control pipe: a connection failed");
                        continue;
                    }
                    self.accepted(stream, &handler, &slots);
                }
            }
        }
    }

    /// Accepts connections until `shutdown` completes, each served on its own task.
    #[cfg(unix)]
    pub async fn serve<H: ControlHandler>(
        self,
        handler: Arc<H>,
        shutdown: impl Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let slots = Arc::new(Semaphore::new(self.limits.max_connections));
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => self.accepted(stream, &handler, &slots),
                    Err(e) => {
                        tracing::warn!(error = %e, "control socket accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                },
            }
        }
    }

    /// Serves a new connection on its own task, from this user only, or tells it the
    /// server is busy.
    fn accepted<H: ControlHandler>(
        &self,
        stream: Stream,
        handler: &Arc<H>,
        slots: &Arc<Semaphore>,
    ) {
        let limits = self.limits;
        match Arc::clone(slots).try_acquire_owned() {
            Ok(slot) => {
                let handler = Arc::clone(handler);
                tokio::spawn(async move {
                    match check_client(&stream) {
                        Ok(()) => serve_connection(stream, handler, limits, slot).await,
                        Err(why) => tracing::warn!(%why, "control connection refused"),
                    }
                });
            }
            Err(_) => {
                tracing::warn!(
                    max = limits.max_connections,
                    "control socket: too many connections; one refused"
                );
                tokio::spawn(refuse_busy(stream, limits.max_connections));
            }
        }
    }
}

/// Whether anyone holds a pipe name, as far as opening it as a client tells.
#[cfg(windows)]
enum Held {
    /// Nobody answers.
    Free,
    /// Every instance is busy (a live server, or one that just exited).
    Busy,
    /// This user's running instance, or another user: the answer to give.
    By(BindError),
}

/// Who holds the pipe `name` already, if anyone.
#[cfg(windows)]
fn held(path: &Path, name: &str) -> Held {
    use tokio::net::windows::named_pipe::ClientOptions;
    match ClientOptions::new().open(name) {
        Ok(client) => Held::By(match pipe::foreign_server(&client) {
            None => BindError::AlreadyRunning(path.to_path_buf()),
            Some(why) => BindError::Taken {
                path: path.to_path_buf(),
                why,
            },
        }),
        Err(e) if e.raw_os_error() == Some(dyntray_os::pipe::PIPE_BUSY) => Held::Busy,
        Err(e) if e.raw_os_error() == Some(dyntray_os::pipe::ACCESS_DENIED) => {
            Held::By(BindError::Taken {
                path: path.to_path_buf(),
                why: format!("it exists and does not let you in: {e}"),
            })
        }
        Err(_) => Held::Free,
    }
}

/// Why a client is refused, if it is: it must run as this user.
#[cfg(unix)]
fn check_client(stream: &Stream) -> Result<(), String> {
    trust::check_client(stream)
}

/// Why a client is refused, if it is: it must run as this user.
#[cfg(windows)]
fn check_client(stream: &Stream) -> Result<(), String> {
    pipe::check_client(stream)
}

#[cfg(unix)]
impl Drop for ControlServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(unix)]
fn prepare_private_dir(dir: &Path) -> Result<(), BindError> {
    let unsafe_dir = |why: String| BindError::UnsafeDirectory {
        path: dir.to_path_buf(),
        why,
    };
    match trust::prepare_private_dir(dir) {
        Ok(()) => Ok(()),
        Err(DirProblem::Symlink) => Err(unsafe_dir("is a symbolic link".into())),
        Err(DirProblem::NotDir) => Err(unsafe_dir("is not a directory".into())),
        Err(DirProblem::Owner(owner)) => Err(unsafe_dir(format!(
            "belongs to user {owner}, not to you (user {})",
            trust::me()
        ))),
        Err(DirProblem::Io(source)) => Err(BindError::Io {
            path: dir.to_path_buf(),
            source,
        }),
    }
}

/// Tells a connection over the limit why it is closed: its first request (read for a
/// second, at most 4 KiB) gets the answer by id, so that the client's call fails with
/// it rather than with a closed connection.
async fn refuse_busy(stream: Stream, max: usize) {
    let (read, mut write) = tokio::io::split(stream);
    let mut first = Vec::new();
    let mut reader = BufReader::new(read).take(4096);
    let _ =
        tokio::time::timeout(Duration::from_secs(1), reader.read_until(b'\n', &mut first)).await;
    let id = serde_json::from_slice::<serde_json::Value>(&first)
        .ok()
        .and_then(|v| v.get("id")?.as_u64());
    let line = error_reply(
        id,
        ControlError::new(
            ErrorCode::Busy,
            format!("Dyntray is serving {max} connections already; try again shortly"),
        ),
    ) + "\n";
    let _ = tokio::time::timeout(Duration::from_secs(1), write.write_all(line.as_bytes())).await;
}

/// Serves one client (already checked) until it closes or idles out.
async fn serve_connection<H: ControlHandler>(
    stream: Stream,
    handler: Arc<H>,
    limits: Limits,
    _slot: OwnedSemaphorePermit,
) {
    let (read, mut write) = tokio::io::split(stream);
    // One writer task: replies and events share the connection without a lock.
    let (out_tx, mut out_rx) = mpsc::channel::<String>(64);
    let writer = tokio::spawn(async move {
        while let Some(mut line) = out_rx.recv().await {
            line.push('\n');
            if write.write_all(line.as_bytes()).await.is_err() {
                break;
            }
        }
    });

    let mut reader = BufReader::new(read);
    let mut buf = Vec::new();
    let mut forwarder: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        buf.clear();
        // Between requests: a subscriber may stay quiet as long as it likes; anyone else
        // is closed after the idle time-out.
        let first = reader.fill_buf();
        let first = if forwarder.is_some() {
            first.await.map(|b| b.is_empty())
        } else {
            match tokio::time::timeout(limits.idle_timeout, first).await {
                Ok(read) => read.map(|b| b.is_empty()),
                Err(_) => {
                    tracing::debug!("idle control connection closed");
                    break;
                }
            }
        };
        match first {
            Ok(false) => {}
            Ok(true) => break,
            Err(e) => {
                tracing::debug!(error = %e, "control connection read failed");
                break;
            }
        }
        // A line that has begun must end soon: a slow writer holds no buffer for long.
        let limit = MAX_MESSAGE_BYTES as u64 + 1;
        let mut line = (&mut reader).take(limit);
        let n = match tokio::time::timeout(limits.line_timeout, line.read_until(b'\n', &mut buf))
            .await
        {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "control connection read failed");
                break;
            }
            Err(_) => {
                tracing::warn!(
                    bytes = buf.len(),
                    "control connection closed: a request line was not finished in time"
                );
                let error = ControlError::new(
                    ErrorCode::BadRequest,
                    format!(
                        "the request line was not finished within {} s",
                        limits.line_timeout.as_secs()
                    ),
                );
                let _ = out_tx.send(error_reply(None, error)).await;
                break;
            }
        };
        if n == 0 {
            break;
        }
        let (reply, keep_open) = match parse_line(&buf) {
            Err(failure) => (error_reply(failure.id, failure.error), !failure.fatal),
            Ok((id, Request::Subscribe)) => {
                if forwarder.is_none() {
                    forwarder = Some(tokio::spawn(forward_events(
                        handler.events(),
                        out_tx.clone(),
                    )));
                }
                (ok_reply(id, serde_json::Value::Null), true)
            }
            Ok((id, request)) => match handler.handle(request).await {
                Ok(result) => (ok_reply(id, result), true),
                Err(error) => (error_reply(Some(id), error), true),
            },
        };
        if out_tx.send(reply).await.is_err() || !keep_open {
            break;
        }
    }
    if let Some(forwarder) = forwarder {
        forwarder.abort();
    }
    drop(out_tx);
    let _ = writer.await;
}

/// Parses one line into its id and request. Envelope errors carry the id when it could be
/// read, so the client can match them.
fn parse_line(line: &[u8]) -> Result<(u64, Request), ParseFailure> {
    if line.len() > MAX_MESSAGE_BYTES {
        return Err(ParseFailure::fatal(
            None,
            ControlError::new(
                ErrorCode::BadRequest,
                format!("message longer than {MAX_MESSAGE_BYTES} bytes"),
            ),
        ));
    }
    let raw: RawRequest = serde_json::from_slice(line).map_err(|e| {
        ParseFailure::fatal(
            None,
            ControlError::new(
                ErrorCode::BadRequest,
                format!("not a request envelope: {e}"),
            ),
        )
    })?;
    if raw.v != PROTOCOL_VERSION {
        return Err(ParseFailure::fatal(
            Some(raw.id),
            ControlError::new(
                ErrorCode::UnsupportedVersion,
                format!(
                    "protocol version {} is not supported; this instance speaks {PROTOCOL_VERSION}",
                    raw.v
                ),
            ),
        ));
    }
    Request::from_parts(&raw.method, raw.params)
        .map(|request| (raw.id, request))
        .map_err(|error| ParseFailure {
            id: Some(raw.id),
            error,
            fatal: false,
        })
}

/// A line that could not be turned into a request.
#[derive(Debug)]
struct ParseFailure {
    id: Option<u64>,
    error: ControlError,
    /// Whether the connection must close (the envelope itself was bad).
    fatal: bool,
}

impl ParseFailure {
    fn fatal(id: Option<u64>, error: ControlError) -> Self {
        Self {
            id,
            error,
            fatal: true,
        }
    }
}

async fn forward_events(mut events: broadcast::Receiver<Event>, out: mpsc::Sender<String>) {
    loop {
        match events.recv().await {
            Ok(event) => {
                let line = encode(&Reply {
                    v: PROTOCOL_VERSION,
                    id: None,
                    result: None,
                    error: None,
                    event: Some(event),
                });
                if out.send(line).await.is_err() {
                    break;
                }
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(skipped = n, "a slow control client missed events");
            }
            Err(broadcast::error::RecvError::Closed) => break,
        }
    }
}

fn ok_reply(id: u64, result: serde_json::Value) -> String {
    encode(&Reply {
        v: PROTOCOL_VERSION,
        id: Some(id),
        result: Some(result),
        error: None,
        event: None,
    })
}

fn error_reply(id: Option<u64>, error: ControlError) -> String {
    encode(&Reply {
        v: PROTOCOL_VERSION,
        id,
        result: None,
        error: Some(error),
        event: None,
    })
}

fn encode(reply: &Reply) -> String {
    // Serializing these plain structs to a String cannot fail (no maps with non-string
    // keys, no failing Serialize impls); fall back to a fixed line rather than panic.
    serde_json::to_string(reply).unwrap_or_else(|_| {
        format!(
            r#"{{"v":{PROTOCOL_VERSION},"error":{{"code":"failed","message":"encoding failed"}}}}"#
        )
    })
}
