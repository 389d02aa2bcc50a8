//! The tray process: tray icon and menu (tray-icon over StatusNotifierItem/D-Bus, no GTK,
//! no WebKit), the control API, and the settings-process supervisor.
//!
//! Threads: the main thread owns the menu and the tray icon (muda's items are not `Send`)
//! and sleeps on a channel of [`UiMsg`]; a Tokio runtime serves the control API. Nothing
//! polls: every wake-up is a message.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode};
use std::sync::Arc;
use std::sync::mpsc::{self, Sender};
use std::time::Duration;

use dyntray_engine::control::{
    AppInfo, BindError, ControlClient, ControlError, ControlHandler, ControlServer, ErrorCode,
    Event, Request,
};
use dyntray_engine::{logging, paths};
use tokio::sync::broadcast;
use tray_icon::menu::{CheckMenuItem, Menu, MenuEvent, MenuItem, PredefinedMenuItem};
use tray_icon::{Icon, MouseButton, MouseButtonState, TrayIcon, TrayIconBuilder, TrayIconEvent};

/// What wakes the main thread.
#[derive(Debug)]
enum UiMsg {
    Menu(tray_icon::menu::MenuId),
    OpenSettings,
    SettingsExited(u32),
    Quit,
}

/// The state the tray icon shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// Ok, Updating and Offline are shown once records exist (the engine reports them).
#[allow(dead_code)]
enum TrayState {
    Ok,
    Updating,
    Attention,
    Paused,
    Offline,
}

impl TrayState {
    fn png(self) -> &'static [u8] {
        match self {
            Self::Ok => include_bytes!("../../icons/tray/ok-32.png"),
            Self::Updating => include_bytes!("../../icons/tray/updating-32.png"),
            Self::Attention => include_bytes!("../../icons/tray/attention-32.png"),
            Self::Paused => include_bytes!("../../icons/tray/paused-32.png"),
            Self::Offline => include_bytes!("../../icons/tray/offline-32.png"),
        }
    }

    fn icon(self) -> Option<Icon> {
        match decode_png(self.png()) {
            Ok((rgba, width, height)) => Icon::from_rgba(rgba, width, height)
                .map_err(|e| tracing::error!(error = %e, "tray icon rejected"))
                .ok(),
            Err(e) => {
                tracing::error!(error = %e, state = ?self, "tray icon does not decode");
                None
            }
        }
    }
}

fn decode_png(bytes: &[u8]) -> Result<(Vec<u8>, u32, u32), png::DecodingError> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::ALPHA);
    let mut reader = decoder.read_info()?;
    let size = reader.output_buffer_size().unwrap_or(0);
    let mut buf = vec![0; size];
    let info = reader.next_frame(&mut buf)?;
    buf.truncate(info.buffer_size());
    Ok((buf, info.width, info.height))
}

/// The control-API side of the tray process.
struct TrayHost {
    info: AppInfo,
    events: broadcast::Sender<Event>,
    ui: Sender<UiMsg>,
}

impl TrayHost {
    fn to_ui(&self, msg: UiMsg) -> Result<serde_json::Value, ControlError> {
        self.ui
            .send(msg)
            .map(|()| serde_json::Value::Null)
            .map_err(|_| ControlError::new(ErrorCode::Failed, "the tray is shutting down"))
    }
}

impl ControlHandler for TrayHost {
    async fn handle(&self, request: Request) -> Result<serde_json::Value, ControlError> {
        match request {
            Request::AppInfo => serde_json::to_value(&self.info)
                .map_err(|e| ControlError::new(ErrorCode::Failed, e.to_string())),
            Request::OpenSettings => self.to_ui(UiMsg::OpenSettings),
            Request::Quit => self.to_ui(UiMsg::Quit),
            other => Err(ControlError::new(
                ErrorCode::Unsupported,
                format!("the tray does not handle {other:?}"),
            )),
        }
    }

    fn events(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }
}

/// Runs the tray process until Quit.
pub(crate) fn run() -> ExitCode {
    let log_dir = paths::log_dir().ok();
    let log = logging::init("dyntray.log", log_dir.as_deref());

    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        eprintln!(
            "dyntray: no graphical session (neither DISPLAY nor WAYLAND_DISPLAY is set); \
             on machines without a desktop run dyntrayd instead"
        );
        return ExitCode::from(2);
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("dyntray-engine")
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("dyntray: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };

    let socket = paths::control_socket();
    let bound = {
        let _guard = runtime.enter();
        ControlServer::bind(&socket)
    };
    let server = match bound {
        Ok(server) => server,
        Err(BindError::AlreadyRunning(path)) => return hand_off(&runtime, &path),
        Err(e) => {
            eprintln!("dyntray: {e}");
            return ExitCode::FAILURE;
        }
    };

    let config_path = match paths::config_file() {
        Ok(path) => path,
        Err(e) => {
            eprintln!("dyntray: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (ui_tx, ui_rx) = mpsc::channel::<UiMsg>();
    let (events, _) = broadcast::channel(64);
    let host = Arc::new(TrayHost {
        info: AppInfo {
            version: dyntray_engine::VERSION.into(),
            host: "dyntray".into(),
            pid: std::process::id(),
            config_path,
            log_dir: log.dir.clone(),
            socket_path: socket.clone(),
        },
        events: events.clone(),
        ui: ui_tx.clone(),
    });

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    runtime.spawn(server.serve(Arc::clone(&host), async move {
        let _ = stop_rx.await;
    }));
    {
        let ui = ui_tx.clone();
        runtime.spawn(async move {
            wait_for_signal().await;
            let _ = ui.send(UiMsg::Quit);
        });
    }

    let menu = TrayMenu::new();
    let tray = match TrayIconBuilder::new()
        .with_id("dyntray")
        .with_title("Dyntray")
        .with_tooltip("Dyntray")
        .with_menu(Box::new(menu.menu.clone()))
        .with_icon_option(TrayState::Attention.icon())
        .build()
    {
        Ok(tray) => tray,
        Err(e) => {
            eprintln!("dyntray: cannot create the tray icon (is a D-Bus session running?): {e}");
            return ExitCode::FAILURE;
        }
    };
    {
        let ui = ui_tx.clone();
        MenuEvent::set_event_handler(Some(move |event: MenuEvent| {
            let _ = ui.send(UiMsg::Menu(event.id));
        }));
    }
    {
        let ui = ui_tx.clone();
        TrayIconEvent::set_event_handler(Some(move |event: TrayIconEvent| {
            if let TrayIconEvent::Click {
                button: MouseButton::Left,
                button_state: MouseButtonState::Up,
                ..
            } = event
            {
                let _ = ui.send(UiMsg::OpenSettings);
            }
        }));
    }
    tracing::info!(socket = %socket.display(), pid = std::process::id(), "tray running");

    let mut app = TrayApp {
        tray,
        menu,
        settings: SettingsProcess::new(socket, ui_tx),
        events,
        paused: false,
    };
    app.render();
    while let Ok(msg) = ui_rx.recv() {
        if !app.handle(msg) {
            break;
        }
    }

    tracing::info!("quitting");
    let _ = app.events.send(Event::Shutdown);
    app.settings.stop();
    drop(app);
    let _ = stop_tx.send(());
    runtime.shutdown_timeout(Duration::from_secs(2));
    drop(log);
    ExitCode::SUCCESS
}

/// A second launch: ask the running instance to open Settings, then leave.
fn hand_off(runtime: &tokio::runtime::Runtime, socket: &Path) -> ExitCode {
    let result = runtime.block_on(async {
        let client = ControlClient::connect(socket).await?;
        client.call::<()>(Request::OpenSettings).await
    });
    match result {
        Ok(()) => {
            tracing::info!("Dyntray is already running; asked it to open Settings");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "dyntray: another instance holds {} but did not answer: {e}",
                socket.display()
            );
            ExitCode::FAILURE
        }
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

trait TrayIconBuilderExt {
    fn with_icon_option(self, icon: Option<Icon>) -> Self;
}

impl TrayIconBuilderExt for TrayIconBuilder {
    fn with_icon_option(self, icon: Option<Icon>) -> Self {
        match icon {
            Some(icon) => self.with_icon(icon),
            None => self,
        }
    }
}

/// The menu items the tray updates.
struct TrayMenu {
    menu: Menu,
    status: MenuItem,
    update_now: MenuItem,
    pause: CheckMenuItem,
    settings: MenuItem,
    quit: MenuItem,
}

impl TrayMenu {
    fn new() -> Self {
        let status = MenuItem::with_id("status", "Dyntray: starting…", false, None);
        let update_now = MenuItem::with_id("update-now", "Update now", false, None);
        let pause = CheckMenuItem::with_id("pause", "Pause updates", true, false, None);
        let settings = MenuItem::with_id("settings", "Settings…", true, None);
        let quit = MenuItem::with_id("quit", "Quit", true, None);
        let menu = Menu::new();
        let appended = menu.append_items(&[
            &status,
            &PredefinedMenuItem::separator(),
            &update_now,
            &pause,
            &PredefinedMenuItem::separator(),
            &settings,
            &quit,
        ]);
        if let Err(e) = appended {
            tracing::error!(error = %e, "building the tray menu failed");
        }
        Self {
            menu,
            status,
            update_now,
            pause,
            settings,
            quit,
        }
    }
}

struct TrayApp {
    tray: TrayIcon,
    menu: TrayMenu,
    settings: SettingsProcess,
    events: broadcast::Sender<Event>,
    paused: bool,
}

impl TrayApp {
    /// Handles one message; `false` means quit.
    fn handle(&mut self, msg: UiMsg) -> bool {
        match msg {
            UiMsg::Quit => return false,
            UiMsg::OpenSettings => self.settings.open(&self.events),
            UiMsg::SettingsExited(pid) => self.settings.exited(pid),
            UiMsg::Menu(id) => {
                if id == *self.menu.quit.id() {
                    return false;
                } else if id == *self.menu.settings.id() {
                    self.settings.open(&self.events);
                } else if id == *self.menu.pause.id() {
                    self.paused = self.menu.pause.is_checked();
                    tracing::info!(paused = self.paused, "pause toggled");
                    self.render();
                } else if id == *self.menu.update_now.id() {
                    tracing::info!("update now requested");
                }
            }
        }
        true
    }

    /// Shows the current state in the icon, tooltip and status line.
    fn render(&mut self) {
        // No records can exist before the engine lands: the tray says so.
        let (state, status) = if self.paused {
            (TrayState::Paused, "Updates paused")
        } else {
            (
                TrayState::Attention,
                "Not configured: open Settings to add a name",
            )
        };
        self.menu.status.set_text(format!("Dyntray: {status}"));
        self.menu.update_now.set_enabled(false);
        if let Err(e) = self.tray.set_icon(state.icon()) {
            tracing::warn!(error = %e, "cannot set the tray icon");
        }
        if let Err(e) = self.tray.set_tooltip(Some(format!("Dyntray: {status}"))) {
            tracing::warn!(error = %e, "cannot set the tray tooltip");
        }
    }
}

/// Starts, focuses and stops the settings process.
struct SettingsProcess {
    exe: PathBuf,
    socket: PathBuf,
    ui: Sender<UiMsg>,
    running: Option<u32>,
}

impl SettingsProcess {
    fn new(socket: PathBuf, ui: Sender<UiMsg>) -> Self {
        let name = format!("dyntray-settings{}", std::env::consts::EXE_SUFFIX);
        let exe = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(|dir| dir.join(&name)))
            .unwrap_or_else(|| PathBuf::from(name));
        Self {
            exe,
            socket,
            ui,
            running: None,
        }
    }

    fn open(&mut self, events: &broadcast::Sender<Event>) {
        if self.running.is_some() {
            // The window exists: it listens for this and comes to the front.
            let _ = events.send(Event::ShowSettings);
            return;
        }
        match Command::new(&self.exe)
            .env(paths::SOCKET_ENV, &self.socket)
            .spawn()
        {
            Ok(child) => {
                let pid = child.id();
                tracing::info!(pid, "settings window started");
                self.running = Some(pid);
                let ui = self.ui.clone();
                let reaper = std::thread::Builder::new()
                    .name("settings-reaper".into())
                    .spawn(move || reap(child, &ui));
                if let Err(e) = reaper {
                    tracing::warn!(error = %e, "cannot watch the settings process");
                }
            }
            Err(e) => {
                tracing::error!(exe = %self.exe.display(), error = %e, "cannot start the settings window");
            }
        }
    }

    fn exited(&mut self, pid: u32) {
        if self.running == Some(pid) {
            self.running = None;
        }
    }

    /// Ends the settings process: it was told by the Shutdown event; a stuck one is
    /// terminated after a grace period.
    fn stop(&mut self) {
        let Some(pid) = self.running.take() else {
            return;
        };
        let Some(pid) = rustix::process::Pid::from_raw(pid as i32) else {
            return;
        };
        for _ in 0..40 {
            if rustix::process::test_kill_process(pid).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        tracing::warn!("settings window did not close; terminating it");
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
}

fn reap(mut child: Child, ui: &Sender<UiMsg>) {
    let pid = child.id();
    match child.wait() {
        Ok(status) => tracing::info!(pid, %status, "settings window closed"),
        Err(e) => tracing::warn!(pid, error = %e, "waiting for the settings window failed"),
    }
    let _ = ui.send(UiMsg::SettingsExited(pid));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_icon_decodes_to_square_rgba() {
        for state in [
            TrayState::Ok,
            TrayState::Updating,
            TrayState::Attention,
            TrayState::Paused,
            TrayState::Offline,
        ] {
            let (rgba, width, height) = decode_png(state.png()).unwrap();
            assert_eq!((width, height), (32, 32), "{state:?}");
            assert_eq!(rgba.len(), 32 * 32 * 4, "{state:?}");
            assert!(state.icon().is_some(), "{state:?}");
        }
    }
}
