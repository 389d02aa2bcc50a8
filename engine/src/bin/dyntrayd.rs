//! `dyntrayd`: the Dyntray engine without a desktop.
// A command-line tool: standard output is where its answers go.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use dyntray_engine::control::{
    AppInfo, BindError, ControlClient, ControlError, ControlHandler, ControlServer, ErrorCode,
    Event, Request,
};
use dyntray_engine::{logging, paths};
use tokio::sync::{Notify, broadcast};

const HELP: &str = "\
dyntrayd - the Dyntray dynamic DNS engine, headless

USAGE:
    dyntrayd [OPTIONS] <COMMAND>

COMMANDS:
    run        Run the engine in the foreground and serve the control API
    info       Ask the running instance for its version and file locations
    stop       Ask the running instance to exit

OPTIONS:
    --config PATH    Config file (default: $XDG_CONFIG_HOME/dyntray/config.toml)
    --socket PATH    Control socket (default: $XDG_RUNTIME_DIR/dyntray/control.sock)
    -h, --help       Print this help
    -V, --version    Print the version

EXAMPLES:
    dyntrayd run
    dyntrayd --socket /run/user/1000/dyntray/control.sock info
";

struct Args {
    command: Command,
    config: Option<PathBuf>,
    socket: Option<PathBuf>,
}

enum Command {
    Run,
    Info,
    Stop,
    Help,
    Version,
}

fn parse_args() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_env();
    let mut command = None;
    let mut config = None;
    let mut socket = None;
    while let Some(arg) = parser.next()? {
        match arg {
            Long("config") => config = Some(parser.value()?.into()),
            Long("socket") => socket = Some(parser.value()?.into()),
            Short('h') | Long("help") => command = Some(Command::Help),
            Short('V') | Long("version") => command = Some(Command::Version),
            Value(word) if command.is_none() => {
                command = Some(match word.to_string_lossy().as_ref() {
                    "run" => Command::Run,
                    "info" => Command::Info,
                    "stop" => Command::Stop,
                    other => {
                        return Err(lexopt::Error::Custom(
                            format!("unknown command `{other}` (try --help)").into(),
                        ));
                    }
                })
            }
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(Args {
        command: command.unwrap_or(Command::Help),
        config,
        socket,
    })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("dyntrayd: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dyntrayd: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("dyntrayd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(args: Args) -> Result<ExitCode> {
    let socket = args.socket.clone().unwrap_or_else(paths::control_socket);
    match args.command {
        Command::Help => {
            print!("{HELP}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Version => {
            println!("dyntrayd {}", dyntray_engine::VERSION);
            Ok(ExitCode::SUCCESS)
        }
        Command::Info => {
            let client = ControlClient::connect(&socket).await?;
            let info = client.app_info().await?;
            println!("{}", serde_json::to_string_pretty(&info)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Stop => {
            let client = ControlClient::connect(&socket).await?;
            client.call::<()>(Request::Quit).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Run => run(args, socket).await,
    }
}

struct Daemon {
    info: AppInfo,
    events: broadcast::Sender<Event>,
    quit: Notify,
}

impl ControlHandler for Daemon {
    async fn handle(&self, request: Request) -> Result<serde_json::Value, ControlError> {
        match request {
            Request::AppInfo => Ok(serde_json::to_value(&self.info).unwrap_or_default()),
            Request::Quit => {
                self.quit.notify_one();
                Ok(serde_json::Value::Null)
            }
            Request::OpenSettings => Err(ControlError::new(
                ErrorCode::Unsupported,
                "dyntrayd runs without a desktop: there is no settings window to open",
            )),
            other => Err(ControlError::new(
                ErrorCode::Unsupported,
                format!("dyntrayd does not handle {other:?}"),
            )),
        }
    }

    fn events(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }
}

async fn run(args: Args, socket: PathBuf) -> Result<ExitCode> {
    let _log = logging::init("dyntrayd", None);
    let config_path = match args.config {
        Some(path) => path,
        None => paths::config_file()?,
    };
    let server = match ControlServer::bind(&socket) {
        Ok(server) => server,
        Err(BindError::AlreadyRunning(path)) => {
            anyhow::bail!(
                "another Dyntray instance already serves {}; stop it first (dyntrayd stop)",
                path.display()
            )
        }
        Err(e) => return Err(e).context("starting the control API"),
    };
    let (events, _) = broadcast::channel(64);
    let daemon = Arc::new(Daemon {
        info: AppInfo {
            version: dyntray_engine::VERSION.into(),
            host: "dyntrayd".into(),
            pid: std::process::id(),
            config_path,
            log_dir: None,
            socket_path: socket.clone(),
        },
        events,
        quit: Notify::new(),
    });
    tracing::info!(socket = %socket.display(), "dyntrayd running");
    let stop = {
        let daemon = Arc::clone(&daemon);
        async move {
            tokio::select! {
                () = daemon.quit.notified() => {}
                () = shutdown_signal() => {}
            }
        }
    };
    server.serve(Arc::clone(&daemon), stop).await;
    let _ = daemon.events.send(Event::Shutdown);
    tracing::info!("dyntrayd stopped");
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers the default disposition still ends the process.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
