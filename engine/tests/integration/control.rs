//! The control API over a real Unix socket.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use dyntray_engine::control::{
    AppInfo, BindError, ControlClient, ControlError, ControlHandler, ControlServer, ErrorCode,
    Event, Request,
};
use tokio::sync::{broadcast, oneshot};

struct Host {
    info: AppInfo,
    events: broadcast::Sender<Event>,
}

impl ControlHandler for Host {
    async fn handle(&self, request: Request) -> Result<serde_json::Value, ControlError> {
        match request {
            Request::AppInfo => Ok(serde_json::to_value(&self.info).unwrap()),
            Request::Quit => Ok(serde_json::Value::Null),
            _ => Err(ControlError::new(ErrorCode::Unsupported, "not here")),
        }
    }

    fn events(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }
}

struct Served {
    _dir: tempfile::TempDir,
    socket: std::path::PathBuf,
    events: broadcast::Sender<Event>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

fn host_info(socket: &std::path::Path) -> AppInfo {
    AppInfo {
        version: "9.9.9".into(),
        host: "test".into(),
        pid: 42,
        config_path: "/nowhere/config.toml".into(),
        log_dir: None,
        socket_path: socket.to_path_buf(),
    }
}

fn serve() -> Served {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("run/dyntray/control.sock");
    let server = ControlServer::bind(&socket).unwrap();
    let (events, _) = broadcast::channel(8);
    let host = Arc::new(Host {
        info: host_info(&socket),
        events: events.clone(),
    });
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(host, async move {
        let _ = stopped.await;
    }));
    Served {
        _dir: dir,
        socket,
        events,
        stop: Some(stop),
        task,
    }
}

/// Sends raw lines from a blocking thread (a misbehaving client) and reads what comes back
/// until the server closes or a second passes.
async fn raw_exchange(socket: &std::path::Path, lines: &[&str]) -> Vec<String> {
    let socket = socket.to_path_buf();
    let lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let mut stream = UnixStream::connect(&socket).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        for line in &lines {
            stream.write_all(line.as_bytes()).unwrap();
        }
        let mut replies = Vec::new();
        let mut reader = BufReader::new(stream);
        loop {
            let mut reply = String::new();
            match reader.read_line(&mut reply) {
                Ok(0) | Err(_) => break,
                Ok(_) => replies.push(reply.trim_end().to_owned()),
            }
        }
        replies
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn app_info_round_trip_and_private_permissions() {
    let served = serve();
    let client = ControlClient::connect(&served.socket).await.unwrap();
    let info = client.app_info().await.unwrap();
    assert_eq!(info, host_info(&served.socket));

    let socket_mode = std::fs::metadata(&served.socket)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(socket_mode & 0o777, 0o600);
    let dir_mode = std::fs::metadata(served.socket.parent().unwrap())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o777, 0o700);
}

#[tokio::test]
async fn malformed_line_gets_an_error_reply_and_the_connection_closes() {
    let served = serve();
    let replies = raw_exchange(
        &served.socket,
        &[
            "this is not json\n",
            "{\"v\":1,\"id\":2,\"method\":\"app_info\"}\n",
        ],
    )
    .await;
    assert_eq!(replies.len(), 1, "closed after the bad line: {replies:?}");
    let reply: serde_json::Value = serde_json::from_str(&replies[0]).unwrap();
    assert_eq!(reply["error"]["code"], "bad_request");
    assert!(reply["id"].is_null());

    // The server is unharmed: the next client is served.
    let client = ControlClient::connect(&served.socket).await.unwrap();
    assert_eq!(client.app_info().await.unwrap().version, "9.9.9");
}

#[tokio::test]
async fn unknown_method_and_bad_params_keep_the_connection_open() {
    let served = serve();
    let replies = raw_exchange(
        &served.socket,
        &[
            "{\"v\":1,\"id\":1,\"method\":\"format_disk\"}\n",
            "{\"v\":1,\"id\":2,\"method\":\"app_info\",\"params\":{\"x\":1}}\n",
            "{\"v\":1,\"id\":3,\"method\":\"app_info\"}\n",
        ],
    )
    .await;
    assert_eq!(replies.len(), 3, "{replies:?}");
    let first: serde_json::Value = serde_json::from_str(&replies[0]).unwrap();
    assert_eq!(first["id"], 1);
    assert_eq!(first["error"]["code"], "unknown_method");
    assert!(
        first["error"]["message"]
            .as_str()
            .unwrap()
            .contains("format_disk")
    );
    let second: serde_json::Value = serde_json::from_str(&replies[1]).unwrap();
    assert_eq!(second["error"]["code"], "invalid_params");
    let third: serde_json::Value = serde_json::from_str(&replies[2]).unwrap();
    assert_eq!(third["result"]["version"], "9.9.9");
}

#[tokio::test]
async fn other_protocol_version_is_refused_by_name() {
    let served = serve();
    let replies = raw_exchange(
        &served.socket,
        &["{\"v\":7,\"id\":5,\"method\":\"app_info\"}\n"],
    )
    .await;
    assert_eq!(replies.len(), 1);
    let reply: serde_json::Value = serde_json::from_str(&replies[0]).unwrap();
    assert_eq!(reply["id"], 5);
    assert_eq!(reply["error"]["code"], "unsupported_version");
}

#[tokio::test]
async fn oversized_line_is_refused() {
    let served = serve();
    let huge = format!(
        "{{\"v\":1,\"id\":1,\"method\":\"{}\"}}\n",
        "x".repeat(dyntray_engine::control::MAX_MESSAGE_BYTES + 10)
    );
    let replies = raw_exchange(&served.socket, &[&huge]).await;
    assert!(!replies.is_empty());
    let reply: serde_json::Value = serde_json::from_str(&replies[0]).unwrap();
    assert_eq!(reply["error"]["code"], "bad_request");
}

#[tokio::test]
async fn events_reach_subscribers() {
    let served = serve();
    let client = ControlClient::connect(&served.socket).await.unwrap();
    let mut events = client.subscribe().await.unwrap();
    served.events.send(Event::ShowSettings).unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap();
    assert_eq!(event, Some(Event::ShowSettings));
    // Engine events (tagged themselves) arrive intact too.
    let refused = Event::Engine {
        event: dyntray_engine::engine::EngineEvent::Refused {
            names: vec!["a.example.org".into()],
            provider: "dyndns".into(),
            code: "badauth".into(),
            answer: "badauth".into(),
            advice: "enter the password again".into(),
        },
    };
    served.events.send(refused.clone()).unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap();
    assert_eq!(event, Some(refused));
    // Requests still work on a subscribed connection.
    assert_eq!(client.app_info().await.unwrap().pid, 42);
}

#[tokio::test]
async fn live_instance_is_reported_and_stale_socket_replaced() {
    let mut served = serve();
    match ControlServer::bind(&served.socket) {
        Err(BindError::AlreadyRunning(path)) => assert_eq!(path, served.socket),
        other => panic!("expected AlreadyRunning, got {other:?}"),
    }

    // Leave a socket file that nobody accepts on (a crashed instance).
    served.stop.take().unwrap().send(()).unwrap();
    served.task.await.unwrap();
    assert!(!served.socket.exists(), "a clean stop removes the socket");
    let listener = std::os::unix::net::UnixListener::bind(&served.socket).unwrap();
    drop(listener); // the file stays, nothing listens
    assert!(served.socket.exists());

    let server = ControlServer::bind(&served.socket).unwrap();
    assert_eq!(server.path(), served.socket);
}

#[tokio::test]
async fn nothing_running_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = ControlClient::connect(&dir.path().join("none.sock"))
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::NotRunning);
    assert!(err.message.contains("none.sock"), "{}", err.message);
}
