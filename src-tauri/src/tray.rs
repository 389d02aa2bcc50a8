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
    Event, Request, engine_request, forward_engine,
};
use dyntray_engine::engine::{
    self, EngineExit, EngineHandle, EngineOptions, KEYCHAIN_SERVICE, Phase, Status, Summary,
};
use dyntray_engine::secrets::KeychainStore;
use dyntray_engine::state::StateLock;
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
    Status(Box<Status>),
    Notice(String),
    /// The engine's task ended by itself: say so and exit with an error.
    EngineCrashed(String),
    Quit,
}

/// The state the tray icon shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

impl From<Summary> for TrayState {
    fn from(summary: Summary) -> Self {
        match summary {
            Summary::Ok => Self::Ok,
            Summary::Updating => Self::Updating,
            Summary::NotConfigured | Summary::Attention => Self::Attention,
            Summary::Paused => Self::Paused,
            Summary::Offline => Self::Offline,
        }
    }
}

/// The control-API side of the tray process.
struct TrayHost {
    info: AppInfo,
    engine: EngineHandle,
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
        if let Some(result) = engine_request(&self.engine, request.clone()).await {
            return result;
        }
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
    let state_dir = match paths::state_dir() {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("dyntray: {e}");
            return ExitCode::FAILURE;
        }
    };
    let _state_lock = match StateLock::acquire(&state_dir) {
        Ok(lock) => lock,
        Err(e) => {
            eprintln!("dyntray: {e}");
            return ExitCode::FAILURE;
        }
    };
    let engine = {
        let _guard = runtime.enter();
        engine::spawn(EngineOptions {
            config_path: config_path.clone(),
            state_dir,
            secrets: Arc::new(KeychainStore::new(KEYCHAIN_SERVICE)),
            sources: None,
            scheduled: true,
            watch_network: true,
            watch_config: true,
            clock_start: None,
        })
    };
    let engine = match engine {
        Ok(engine) => engine,
        Err(e) => {
            eprintln!("dyntray: cannot start the engine: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (ui_tx, ui_rx) = mpsc::channel::<UiMsg>();
    let (events, _) = broadcast::channel(64);
    runtime.spawn(forward_engine(engine.clone(), events.clone()));
    {
        let ui = ui_tx.clone();
        runtime.spawn(crate::notify::follow(engine.clone(), move || {
            let _ = ui.send(UiMsg::OpenSettings);
        }));
    }
    {
        // Status changes reach the menu thread as messages: nothing polls.
        let mut status = engine.watch_status();
        let ui = ui_tx.clone();
        runtime.spawn(async move {
            while status.changed().await.is_ok() {
                let snapshot = status.borrow_and_update().clone();
                if ui.send(UiMsg::Status(Box::new(snapshot))).is_err() {
                    break;
                }
            }
        });
    }
    let host = Arc::new(TrayHost {
        info: AppInfo {
            version: dyntray_engine::VERSION.into(),
            host: "dyntray".into(),
            pid: std::process::id(),
            config_path,
            log_dir: log.dir.clone(),
            socket_path: socket.clone(),
        },
        engine: engine.clone(),
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
            dyntray_engine::signals::terminated().await;
            let _ = ui.send(UiMsg::Quit);
        });
    }
    {
        // An engine that ended by itself leaves a tray that updates nothing: never that.
        let (ui, engine) = (ui_tx.clone(), engine.clone());
        runtime.spawn(async move {
            if let EngineExit::Crashed(message) = engine.exited().await {
                let _ = ui.send(UiMsg::EngineCrashed(message));
            }
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

    let status = engine.status();
    let mut app = TrayApp {
        tray,
        menu,
        settings: SettingsProcess::new(socket, ui_tx.clone()),
        events,
        engine: engine.clone(),
        runtime: runtime.handle().clone(),
        ui: ui_tx,
        status,
        notice: None,
        crashed: None,
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
    if let Some(message) = app.crashed.take() {
        drop(app);
        let _ = stop_tx.send(());
        runtime.shutdown_timeout(Duration::from_secs(2));
        eprintln!("dyntray: the engine stopped unexpectedly: {message}");
        drop(log);
        return ExitCode::FAILURE;
    }
    // The "Quit" click arrived as a D-Bus call that the tray thread answers just after
    // handing it to us: give that reply a moment to leave before the connection closes.
    std::thread::sleep(Duration::from_millis(100));
    drop(app);
    // "Offline on quit": publish the offline addresses first (bounded: quitting must not
    // hang on a slow provider).
    runtime.block_on(async {
        let wanted = engine
            .config()
            .await
            .is_ok_and(|c| c.general.offline_on_quit);
        if wanted && engine.status().records.iter().any(|r| r.has_offline) {
            tracing::info!("publishing offline addresses before quitting");
            match tokio::time::timeout(Duration::from_secs(20), engine.offline_for_quit()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "offline on quit failed"),
                Err(_) => tracing::warn!("offline on quit timed out"),
            }
        }
    });
    // The request in flight, if any, finishes and is recorded before the engine stops.
    runtime.block_on(engine.shutdown());
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
    /// One disabled line per record, after the status line.
    records: Vec<MenuItem>,
    /// "Check now": checks the address and updates what changed. Forcing an unchanged
    /// update lives only in the window, behind its question (an unchanged update counts
    /// against the account at the provider).
    check_now: MenuItem,
    pause: CheckMenuItem,
    offline: MenuItem,
    offline_shown: bool,
    settings: MenuItem,
    quit: MenuItem,
}

impl TrayMenu {
    fn new() -> Self {
        let status = MenuItem::with_id("status", "Dyntray: starting…", false, None);
        let check_now = MenuItem::with_id("check-now", "Check now", false, None);
        let pause = CheckMenuItem::with_id("pause", "Pause updates", true, false, None);
        let offline = MenuItem::with_id("offline", "Go offline", true, None);
        let settings = MenuItem::with_id("settings", "Settings…", true, None);
        let quit = MenuItem::with_id("quit", "Quit", true, None);
        let menu = Menu::new();
        let appended = menu.append_items(&[
            &status,
            &PredefinedMenuItem::separator(),
            &check_now,
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
            records: Vec::new(),
            check_now,
            pause,
            offline,
            offline_shown: false,
            settings,
            quit,
        }
    }

    /// Position of the "Check now" item: after the status line, the record lines and a
    /// separator.
    fn actions_start(&self) -> usize {
        2 + self.records.len()
    }

    /// Makes the record lines match `lines` (texts), adding or removing items as needed.
    fn set_record_lines(&mut self, lines: &[String]) {
        while self.records.len() > lines.len() {
            if let Some(item) = self.records.pop()
                && let Err(e) = self.menu.remove(&item)
            {
                tracing::warn!(error = %e, "cannot remove a tray menu line");
            }
        }
        for (i, text) in lines.iter().enumerate() {
            match self.records.get(i) {
                Some(item) => item.set_text(text),
                None => {
                    let item = MenuItem::with_id(format!("record-{i}"), text, false, None);
                    if let Err(e) = self.menu.insert(&item, 1 + i) {
                        tracing::warn!(error = %e, "cannot add a tray menu line");
                    }
                    self.records.push(item);
                }
            }
        }
    }

    /// Shows "Go offline" / "Back online" only when a record has an offline option.
    fn set_offline_item(&mut self, shown: bool, offline: bool) {
        self.offline
            .set_text(if offline { "Back online" } else { "Go offline" });
        if shown == self.offline_shown {
            return;
        }
        let result = if shown {
            self.menu.insert(&self.offline, self.actions_start() + 2)
        } else {
            self.menu.remove(&self.offline)
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "cannot change the offline menu item");
        }
        self.offline_shown = shown;
    }
}

struct TrayApp {
    tray: TrayIcon,
    menu: TrayMenu,
    settings: SettingsProcess,
    events: broadcast::Sender<Event>,
    engine: EngineHandle,
    runtime: tokio::runtime::Handle,
    ui: Sender<UiMsg>,
    status: Status,
    /// A short message for the status line (why going offline failed), until the next
    /// menu action.
    notice: Option<String>,
    /// Why the engine stopped by itself, once it has.
    crashed: Option<String>,
}

impl TrayApp {
    /// Handles one message; `false` means quit.
    fn handle(&mut self, msg: UiMsg) -> bool {
        match msg {
            UiMsg::Quit => return false,
            UiMsg::EngineCrashed(message) => {
                tracing::error!(error = %message, "the engine stopped unexpectedly; quitting");
                crate::notify::engine_crashed(&message);
                self.crashed = Some(message);
                return false;
            }
            UiMsg::OpenSettings => self.settings.open(&self.events),
            UiMsg::SettingsExited(pid) => self.settings.exited(pid),
            UiMsg::Status(status) => {
                self.status = *status;
                self.render();
            }
            UiMsg::Notice(text) => {
                self.notice = Some(text);
                self.render();
            }
            UiMsg::Menu(id) => {
                // A note is about the last action: the next one clears it.
                if self.notice.take().is_some() {
                    self.render();
                }
                if id == *self.menu.quit.id() {
                    return false;
                } else if id == *self.menu.settings.id() {
                    self.settings.open(&self.events);
                } else if id == *self.menu.pause.id() {
                    let paused = self.menu.pause.is_checked();
                    let engine = self.engine.clone();
                    self.runtime.spawn(async move {
                        let _ = engine.pause(paused).await;
                    });
                } else if id == *self.menu.offline.id() {
                    let offline = !self.status.offline;
                    let (engine, ui) = (self.engine.clone(), self.ui.clone());
                    self.runtime.spawn(async move {
                        if let Err(e) = engine.set_offline(offline).await {
                            let _ = ui.send(UiMsg::Notice(e.to_string()));
                        }
                    });
                } else if id == *self.menu.check_now.id() {
                    let (engine, ui) = (self.engine.clone(), self.ui.clone());
                    self.runtime.spawn(async move {
                        // What the check finds shows in the record lines; only a check that
                        // could not run is worth a word.
                        if let Err(e) = engine.check_now().await {
                            let _ = ui.send(UiMsg::Notice(e.to_string()));
                        }
                    });
                }
            }
        }
        true
    }

    /// Shows the engine's status in the icon, tooltip and menu.
    fn render(&mut self) {
        let status = &self.status;
        let state = TrayState::from(status.summary);
        let headline = match status.summary {
            Summary::NotConfigured => "Not configured: open Settings to add a name".to_owned(),
            Summary::Paused => "Updates paused".to_owned(),
            Summary::Updating => "Updating…".to_owned(),
            Summary::Offline => "Offline".to_owned(),
            Summary::Ok => "Up to date".to_owned(),
            Summary::Attention if status.config_error.is_some() => {
                "The config file has problems: open Settings".to_owned()
            }
            Summary::Attention => "Needs your attention".to_owned(),
        };
        let headline = match &self.notice {
            Some(notice) => format!("{headline} ({notice})"),
            None => headline,
        };
        self.menu.status.set_text(format!("Dyntray: {headline}"));
        let lines: Vec<String> = status.records.iter().map(record_line).collect();
        self.menu.set_record_lines(&lines);
        self.menu
            .check_now
            .set_enabled(!status.records.is_empty() && status.config_error.is_none());
        self.menu.pause.set_checked(status.paused);
        let has_offline = status.records.iter().any(|r| r.has_offline);
        self.menu.set_offline_item(has_offline, status.offline);

        if let Err(e) = self.tray.set_icon(state.icon()) {
            tracing::warn!(error = %e, "cannot set the tray icon");
        }
        let addresses: Vec<String> = status.addresses.iter().map(address_line).collect();
        let last = status
            .records
            .iter()
            .filter_map(|r| r.last_update_at)
            .max()
            .map(|t| format!("\nLast update: {}", dyntray_engine::time::format_local(t)))
            .unwrap_or_default();
        let tooltip = if addresses.is_empty() {
            format!("Dyntray: {headline}{last}")
        } else {
            format!("Dyntray: {}\n{headline}{last}", addresses.join(", "))
        };
        if let Err(e) = self.tray.set_tooltip(Some(tooltip)) {
            tracing::warn!(error = %e, "cannot set the tray tooltip");
        }
    }
}

/// One family's tooltip line: "81.2.69.160 (2 sources agree)", "no IPv6 address".
fn address_line(address: &dyntray_engine::engine::AddressStatus) -> String {
    match address.address {
        Some(ip) if address.agreed.len() > 1 => {
            format!("{ip} ({} sources agree)", address.agreed.len())
        }
        Some(ip) => ip.to_string(),
        None if address.family == "AAAA" => "no IPv6 address".to_owned(),
        None => "no IPv4 address".to_owned(),
    }
}

/// One record's menu line: "home.example.org — 81.2.69.160 ✓", "… — refused: badauth".
fn record_line(record: &dyntray_engine::engine::RecordStatus) -> String {
    let family = if record.family == "AAAA" {
        " (IPv6)"
    } else {
        ""
    };
    let what = match record.phase {
        Phase::Ok => match record.address {
            Some(address) => format!("{address} ✓"),
            None => "offline ✓".to_owned(),
        },
        Phase::Pending => "waiting for the first update".to_owned(),
        Phase::Updating => "updating…".to_owned(),
        Phase::BackingOff => "provider busy, retrying later".to_owned(),
        Phase::Disabled => match &record.disabled {
            Some(disabled) => format!("refused: {}", disabled.code),
            None => "refused".to_owned(),
        },
        Phase::Off => "off".to_owned(),
        Phase::Error => record.note.clone().unwrap_or_else(|| "error".to_owned()),
    };
    format!("{}{family} — {what}", record.name)
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
