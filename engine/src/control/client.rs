//! The client side of the control API, used by the settings process, the `dyntrayd`
//! subcommands and the tests.

use std::collections::HashMap;
use std::path::Path;

use serde::de::DeserializeOwned;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
#[cfg(unix)]
use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot};

use super::{
    AppInfo, ControlError, ErrorCode, Event, MAX_MESSAGE_BYTES, PROTOCOL_VERSION, Reply, Request,
};

type Pending = oneshot::Sender<Result<serde_json::Value, ControlError>>;

/// A connection to a running instance. Cheap to clone; all clones share the connection,
/// which one background task owns (requests go to it over a channel, replies come back by
/// id, events go to the subscriber).
#[derive(Debug, Clone)]
pub struct ControlClient {
    requests: mpsc::Sender<(Request, Pending)>,
    subscribe: mpsc::Sender<mpsc::Sender<Event>>,
}

impl ControlClient {
    /// Connects to the instance serving `path`, after making sure it is this user's own:
    /// the socket's directory belongs to this user (or root) and nobody else may write to
    /// it, the socket is this user's, and the process listening on it runs as this user.
    /// Nothing is sent before those checks pass, so another local user who put a socket
    /// where Dyntray's would be (say, in a shared temp directory) gets no request, and
    /// never a password.
    ///
    /// Fails with [`ErrorCode::NotRunning`] when nothing serves there, and with
    /// [`ErrorCode::Untrusted`] when something does that is not this user's.
    #[cfg(unix)]
    pub async fn connect(path: &Path) -> Result<Self, ControlError> {
        super::trust::check_socket_path(path)?;
        let stream = UnixStream::connect(path).await.map_err(|e| {
            ControlError::new(
                ErrorCode::NotRunning,
                format!(
                    "Dyntray is not running (no answer on {}: {e})",
                    path.display()
                ),
            )
        })?;
        super::trust::check_peer(&stream, path)?;
        Ok(Self::over(stream))
    }

    /// Connects to the instance serving the named pipe `path` (`\\.\pipe\…`), after
    /// making sure the process serving it runs as this user. Nothing is sent before that
    /// check passes.
    ///
    /// Fails with [`ErrorCode::NotRunning`] when nothing serves there, and with
    /// [`ErrorCode::Untrusted`] when something does that is not this user's.
    #[cfg(windows)]
    pub async fn connect(path: &Path) -> Result<Self, ControlError> {
        Ok(Self::over(super::pipe::connect(path).await?))
    }

    /// A client over a checked connection.
    fn over<S: AsyncRead + AsyncWrite + Send + 'static>(stream: S) -> Self {
        let (requests, requests_rx) = mpsc::channel(16);
        let (subscribe, subscribe_rx) = mpsc::channel(1);
        tokio::spawn(run_connection(stream, requests_rx, subscribe_rx));
        Self {
            requests,
            subscribe,
        }
    }

    /// Sends a request and waits for its result, decoded as `T`.
    pub async fn call<T: DeserializeOwned>(&self, request: Request) -> Result<T, ControlError> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send((request, tx))
            .await
            .map_err(|_| disconnected())?;
        let value = rx.await.map_err(|_| disconnected())??;
        serde_json::from_value(value).map_err(|e| {
            ControlError::new(
                ErrorCode::Failed,
                format!("unexpected reply from the running instance: {e}"),
            )
        })
    }

    /// Version and file locations of the running instance.
    pub async fn app_info(&self) -> Result<AppInfo, ControlError> {
        self.call(Request::AppInfo).await
    }

    /// Subscribes to the instance's events. The receiver ends when the connection does.
    pub async fn subscribe(&self) -> Result<mpsc::Receiver<Event>, ControlError> {
        let (tx, rx) = mpsc::channel(64);
        self.subscribe.send(tx).await.map_err(|_| disconnected())?;
        self.call::<()>(Request::Subscribe).await?;
        Ok(rx)
    }
}

fn disconnected() -> ControlError {
    ControlError::new(
        ErrorCode::NotRunning,
        "the connection to Dyntray was closed",
    )
}

async fn run_connection<S: AsyncRead + AsyncWrite>(
    stream: S,
    mut requests: mpsc::Receiver<(Request, Pending)>,
    mut subscribe: mpsc::Receiver<mpsc::Sender<Event>>,
) {
    let (read, mut write) = tokio::io::split(stream);
    // A line may not grow past MAX_MESSAGE_BYTES: the limit is re-armed before each read.
    let mut reader = BufReader::new(read).take(0);
    let mut pending: HashMap<u64, Pending> = HashMap::new();
    let mut events: Option<mpsc::Sender<Event>> = None;
    let mut next_id: u64 = 1;
    let mut buf = Vec::new();
    let mut requests_open = true;
    // An error without an id that came when nothing was pending (a server turning the
    // connection away): what the requests still to come fail with.
    let mut closing: Option<ControlError> = None;

    loop {
        reader.set_limit((MAX_MESSAGE_BYTES as u64 + 1).saturating_sub(buf.len() as u64));
        tokio::select! {
            request = requests.recv(), if requests_open => {
                let Some((request, reply)) = request else {
                    requests_open = false;
                    if pending.is_empty() && events.is_none() {
                        break;
                    }
                    continue;
                };
                let id = next_id;
                next_id += 1;
                let line = match envelope(id, &request) {
                    Ok(line) => line,
                    Err(e) => {
                        let _ = reply.send(Err(e));
                        continue;
                    }
                };
                if write.write_all(line.as_bytes()).await.is_err() {
                    let _ = reply.send(Err(disconnected()));
                    break;
                }
                pending.insert(id, reply);
            }
            Some(sender) = subscribe.recv() => events = Some(sender),
            // Not cancel-safe on its own, but bytes read before a cancel stay in `buf`,
            // which is only cleared once a whole line has been handled.
            read = reader.read_until(b'\n', &mut buf) => {
                match read {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                if !buf.ends_with(b"\n") && buf.len() <= MAX_MESSAGE_BYTES {
                    // A partial line (the peer is still writing it): keep reading.
                    continue;
                }
                let parsed = serde_json::from_slice::<Reply>(&buf);
                let buf_copy = if parsed.is_err() { std::mem::take(&mut buf) } else { Vec::new() };
                buf.clear();
                let reply: Reply = match parsed {
                    Ok(reply) => reply,
                    Err(e) => {
                        // A line this client cannot read (say, an event from a newer
                        // version) is skipped; a reply it cannot read fails its request.
                        tracing::warn!(error = %e, "unreadable line from the control socket");
                        if let Some(id) = unreadable_reply_id(&buf_copy)
                            && let Some(waiter) = pending.remove(&id)
                        {
                            let _ = waiter.send(Err(ControlError::new(
                                ErrorCode::Failed,
                                format!("unreadable reply from the running instance: {e}"),
                            )));
                        }
                        continue;
                    }
                };
                if let Some(event) = reply.event {
                    if let Some(sender) = &events {
                        // A subscriber that stopped reading must not stall replies.
                        let _ = sender.try_send(event);
                    }
                    continue;
                }
                let outcome = match reply.error {
                    Some(error) => Err(error),
                    None => Ok(reply.result.unwrap_or(serde_json::Value::Null)),
                };
                match reply.id.and_then(|id| pending.remove(&id)) {
                    Some(waiter) => {
                        let _ = waiter.send(outcome);
                    }
                    None => {
                        // An error without an id answers the oldest request (the server
                        // could not read its id); the server closes after it.
                        if let Err(error) = outcome {
                            match pending.keys().min().copied() {
                                Some(oldest) => {
                                    if let Some(waiter) = pending.remove(&oldest) {
                                        let _ = waiter.send(Err(error));
                                    }
                                }
                                None => closing = Some(error),
                            }
                        }
                    }
                }
            }
        }
    }
    for (_, waiter) in pending.drain() {
        let _ = waiter.send(Err(closing.clone().unwrap_or_else(disconnected)));
    }
}

/// The `id` of a reply line that did not parse as a whole.
fn unreadable_reply_id(line: &[u8]) -> Option<u64> {
    let value: serde_json::Value = serde_json::from_slice(line).ok()?;
    value.get("id")?.as_u64()
}

fn envelope(id: u64, request: &Request) -> Result<String, ControlError> {
    let mut value = serde_json::to_value(request).map_err(|e| {
        ControlError::new(
            ErrorCode::InvalidParams,
            format!("cannot encode request: {e}"),
        )
    })?;
    if let Some(object) = value.as_object_mut() {
        object.insert("v".into(), PROTOCOL_VERSION.into());
        object.insert("id".into(), id.into());
    }
    let mut line = value.to_string();
    line.push('\n');
    Ok(line)
}
