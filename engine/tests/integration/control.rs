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
        tray_hint: None,
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
            // A server that closes after a bad line may have closed before the next one
            // is written: what it answered is still there to read.
            match stream.write_all(line.as_bytes()) {
                Ok(()) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
                    ) =>
                {
                    break;
                }
                Err(e) => panic!("writing to the control socket: {e}"),
            }
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

// ---- who is trusted at the other end ---------------------------------------------------

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The user a squatter runs as (nobody).
const OTHER_UID: u32 = 65534;

/// Not a test of its own: run as another user by `a_socket_of_another_user_gets_nothing`,
/// it serves a socket where Dyntray's would be and writes down every byte it is sent.
#[test]
#[ignore = "run as another user by a_socket_of_another_user_gets_nothing"]
fn squatter_process() {
    let (Some(socket), Some(log)) = (
        std::env::var_os("DYNTRAY_SQUATTER_SOCKET"),
        std::env::var_os("DYNTRAY_SQUATTER_LOG"),
    ) else {
        return;
    };
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    // Never outlive the test for long.
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(30));
        std::process::exit(0);
    });
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let log = log.clone();
        std::thread::spawn(move || {
            use std::io::Read;
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut buf = [0u8; 4096];
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .unwrap();
                file.write_all(&buf[..n]).unwrap();
            }
        });
    }
}

#[tokio::test]
async fn a_socket_of_another_user_gets_nothing() {
    use std::os::unix::process::CommandExt;
    if !is_root() {
        eprintln!("skipped: running a squatter as another user needs root");
        return;
    }
    let base = tempfile::tempdir().unwrap();
    // Reachable (not readable) for the squatter, who owns a directory inside.
    std::fs::set_permissions(base.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let squat = base.path().join("dyntray-0");
    std::fs::create_dir(&squat).unwrap();
    std::os::unix::fs::chown(&squat, Some(OTHER_UID), Some(OTHER_UID)).unwrap();
    let socket = squat.join("control.sock");
    let log = squat.join("received");
    // The squatter runs this test binary, from a place it can reach whatever the
    // checkout's directories allow (CI's clone may live under a private home).
    let exe = base.path().join("squatter");
    let me = std::env::current_exe().unwrap();
    if std::fs::hard_link(&me, &exe).is_err() {
        std::fs::copy(&me, &exe).unwrap();
    }
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut squatter = std::process::Command::new(&exe)
        .current_dir(base.path())
        .args(["--exact", "control::squatter_process", "--ignored"])
        .env("DYNTRAY_SQUATTER_SOCKET", &socket)
        .env("DYNTRAY_SQUATTER_LOG", &log)
        .uid(OTHER_UID)
        .gid(OTHER_UID)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..500 {
        if socket.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(socket.exists(), "the squatter did not start");

    // In the squatter's directory, as in a shared temp directory it got to first.
    let err = ControlClient::connect(&socket).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Untrusted, "{}", err.message);
    assert!(
        err.message.contains("belongs to user 65534") && err.message.contains("nothing was sent"),
        "{}",
        err.message
    );

    // Its socket moved into a private directory of ours and handed to us: only the
    // credentials of the process behind it give it away.
    let mine = base.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::set_permissions(&mine, std::fs::Permissions::from_mode(0o700)).unwrap();
    let moved = mine.join("control.sock");
    std::fs::rename(&socket, &moved).unwrap();
    std::os::unix::fs::lchown(&moved, Some(0), Some(0)).unwrap();
    let err = ControlClient::connect(&moved).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Untrusted, "{}", err.message);
    assert!(
        err.message.contains("runs as user 65534"),
        "{}",
        err.message
    );

    // Whatever it would have been (a password for `secret set`), the squatter got none.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let received = std::fs::read(&log).unwrap_or_default();
    squatter.kill().unwrap();
    squatter.wait().unwrap();
    assert!(
        received.is_empty(),
        "the squatter received {:?}",
        String::from_utf8_lossy(&received)
    );
}

#[tokio::test]
async fn a_directory_others_may_write_to_is_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let open = dir.path().join("tmp");
    std::fs::create_dir(&open).unwrap();
    let socket = open.join("control.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let err = ControlClient::connect(&socket).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Untrusted, "{}", err.message);
    assert!(err.message.contains("others may write"), "{}", err.message);
}

#[tokio::test]
async fn a_symlinked_socket_directory_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("elsewhere");
    std::fs::create_dir(&target).unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755)).unwrap();
    let link = dir.path().join("dyntray");
    std::os::unix::fs::symlink(&target, &link).unwrap();

    match ControlServer::bind(&link.join("control.sock")) {
        Err(e @ BindError::UnsafeDirectory { .. }) => {
            assert!(e.to_string().contains("symbolic link"), "{e}");
        }
        other => panic!("expected UnsafeDirectory, got {other:?}"),
    }
    let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o755, "the link's target was changed");
    assert!(!target.join("control.sock").exists());

    // A client does not follow such a link to a socket either.
    let _listener = std::os::unix::net::UnixListener::bind(target.join("control.sock")).unwrap();
    let err = ControlClient::connect(&link.join("control.sock"))
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Untrusted, "{}", err.message);
    assert!(err.message.contains("symbolic link"), "{}", err.message);
}

// ---- limits ----------------------------------------------------------------------------

/// Reads one line (or nothing, at end of stream) within two seconds, off the async threads.
async fn read_line(stream: UnixStream) -> (UnixStream, Option<String>) {
    tokio::task::spawn_blocking(move || {
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        let got = match reader.read_line(&mut line) {
            Ok(0) => None,
            Ok(_) => Some(line),
            Err(e) => panic!("no line and no end within 2 s: {e}"),
        };
        (reader.into_inner(), got)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn connections_are_capped_and_slow_or_idle_ones_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("run/control.sock");
    let limits = dyntray_engine::control::Limits {
        max_connections: 4,
        line_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(800),
    };
    let server = ControlServer::bind(&socket).unwrap().with_limits(limits);
    let (events, _) = broadcast::channel(8);
    let host = Arc::new(Host {
        info: host_info(&socket),
        events: events.clone(),
    });
    tokio::spawn(server.serve(host, std::future::pending()));

    // Four clients that begin a request and never finish it.
    let mut slow = Vec::new();
    for _ in 0..4 {
        let mut stream = UnixStream::connect(&socket).unwrap();
        stream.write_all(br#"{"v":1,"id":1,"meth"#).unwrap();
        slow.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    // A fifth is told why it is turned away: its call fails with that, by its id.
    let fifth = ControlClient::connect(&socket).await.unwrap();
    let err = fifth.app_info().await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Busy, "{}", err.message);
    assert!(err.message.contains("4 connections"), "{}", err.message);
    // A raw client that says nothing still gets the reason.
    let (_, line) = read_line(UnixStream::connect(&socket).unwrap()).await;
    let line = line.expect("a busy answer");
    assert!(line.contains(r#""code":"busy""#), "{line}");

    // The slow ones are closed once the line time-out passes, with a reason.
    for stream in slow {
        let (stream, line) = read_line(stream).await;
        let line = line.expect("an error line");
        assert!(line.contains("not finished within"), "{line}");
        let (_, end) = read_line(stream).await;
        assert_eq!(end, None, "closed after the error");
    }

    // Their places are free again; a subscriber may stay quiet, an idle client may not.
    let subscriber = ControlClient::connect(&socket).await.unwrap();
    let mut received = subscriber.subscribe().await.unwrap();
    let idle = UnixStream::connect(&socket).unwrap();
    let (_, end) = read_line(idle).await;
    assert_eq!(end, None, "an idle connection is closed");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(subscriber.app_info().await.unwrap().version, "9.9.9");
    events.send(Event::Shutdown).unwrap();
    assert_eq!(received.recv().await, Some(Event::Shutdown));
}
