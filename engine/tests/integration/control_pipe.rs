//! The control API over a real named pipe (Windows; under Wine in `make test`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

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
            _ => Err(ControlError::new(ErrorCode::Unsupported, "not here")),
        }
    }

    fn events(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }
}

/// A pipe name no other test uses.
fn pipe_name() -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    PathBuf::from(format!(
        r"\\.\pipe\dyntray-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

fn info(pipe: &Path) -> AppInfo {
    AppInfo {
        version: "9.9.9".into(),
        host: "test".into(),
        pid: 42,
        config_path: r"C:\nowhere\config.toml".into(),
        log_dir: None,
        socket_path: pipe.to_path_buf(),
        tray_hint: None,
    }
}

/// Serves `pipe` until the returned sender is dropped or fired.
fn serve(pipe: &Path) -> (broadcast::Sender<Event>, oneshot::Sender<()>) {
    let server = ControlServer::bind(pipe).unwrap();
    let (events, _) = broadcast::channel(8);
    let host = Arc::new(Host {
        info: info(pipe),
        events: events.clone(),
    });
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server.serve(host, async move {
        let _ = stopped.await;
    }));
    (events, stop)
}

#[tokio::test]
async fn requests_and_events_go_over_the_pipe_to_several_clients() {
    let pipe = pipe_name();
    let (events, _stop) = serve(&pipe);
    // More clients than one instance: each connection gets its own, the next is made.
    let clients: Vec<ControlClient> = {
        let mut clients = Vec::new();
        for _ in 0..3 {
            clients.push(ControlClient::connect(&pipe).await.unwrap());
        }
        clients
    };
    for client in &clients {
        assert_eq!(client.app_info().await.unwrap(), info(&pipe));
    }
    let refused = clients[1].call::<()>(Request::Quit).await.unwrap_err();
    assert_eq!(refused.code, ErrorCode::Unsupported);

    let mut received = clients[2].subscribe().await.unwrap();
    events.send(Event::ShowSettings).unwrap();
    let event = tokio::time::timeout(std::time::Duration::from_secs(5), received.recv())
        .await
        .unwrap();
    assert_eq!(event, Some(Event::ShowSettings));
}

#[tokio::test]
async fn a_second_server_finds_the_first_running() {
    let pipe = pipe_name();
    let (_events, _stop) = serve(&pipe);
    match ControlServer::bind(&pipe) {
        Err(BindError::AlreadyRunning(path)) => assert_eq!(path, pipe),
        other => panic!("a second bind gave {other:?}"),
    }
}

#[tokio::test]
async fn the_pipe_is_free_again_once_its_server_stops() {
    let pipe = pipe_name();
    let (_events, stop) = serve(&pipe);
    ControlClient::connect(&pipe).await.unwrap();
    stop.send(()).unwrap();
    let again = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            match ControlServer::bind(&pipe) {
                Ok(server) => break server,
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        }
    })
    .await;
    assert!(
        again.is_ok(),
        "the name stayed taken after its server stopped"
    );
}

#[tokio::test]
async fn nothing_served_is_not_running_and_a_path_is_not_a_pipe() {
    let error = ControlClient::connect(&pipe_name()).await.unwrap_err();
    assert_eq!(error.code, ErrorCode::NotRunning, "{}", error.message);

    let path = Path::new(r"C:\Users\me\control.sock");
    match ControlServer::bind(path) {
        Err(e @ BindError::Io { .. }) => {
            assert!(e.to_string().contains(r"C:\Users\me\control.sock"), "{e}");
            assert!(e.to_string().contains("named pipe"), "{e}");
        }
        other => panic!("binding a file path gave {other:?}"),
    }
    let error = ControlClient::connect(path).await.unwrap_err();
    assert!(error.message.contains("named pipe"), "{}", error.message);
}

#[test]
fn the_default_pipe_is_this_users() {
    // The name carries this user's SID (pipe names are shared by every user of the
    // machine). `make test` does not set DYNTRAY_SOCKET, which would override it.
    let pipe = dyntray_engine::paths::control_socket();
    let pipe = pipe.to_str().unwrap();
    assert!(pipe.starts_with(r"\\.\pipe\dyntray-S-1-5-"), "{pipe}");
}
