//! The tray process: tray icon and menu, the engine, the control API, and the
//! settings-process supervisor. No GTK, no WebKit.
//!
//! Threads: the main thread owns the app's state and wakes only for a [`UiMsg`]; it
//! computes a [`TrayView`] and a [`menu`] from the engine's status and hands them to the
//! platform's icon: a StatusNotifierItem over D-Bus on Linux ([`sni`]), a notification
//! area icon on Windows ([`win`]). Menu clicks come back as messages. A Tokio runtime
//! runs the engine and serves the control API. Nothing polls.

#[cfg(target_os = "linux")]
mod sni;
#[cfg(target_os = "linux")]
use sni as platform;
#[cfg(windows)]
mod win;
#[cfg(windows)]
use win as platform;

use std::net::IpAddr;
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
    self, EngineExit, EngineHandle, EngineOptions, KEYCHAIN_SERVICE, Phase, RecordStatus, Status,
    Summary,
};
use dyntray_engine::secrets::KeychainStore;
use dyntray_engine::state::StateLock;
use dyntray_engine::{logging, paths};
use tokio::sync::{broadcast, watch};

use crate::tray_icons::TrayState;

/// What wakes the main thread.
#[derive(Debug)]
enum UiMsg {
    /// The user picked a menu item (or clicked the icon).
    Action(Action),
    OpenSettings,
    SettingsExited(u32),
    Status(Box<Status>),
    Notice(String),
    /// The engine's task ended by itself: say so and exit with an error.
    EngineCrashed(String),
    /// Something to tell the user in a balloon from the icon.
    #[cfg(windows)]
    Notify(crate::notify::Message),
    Quit,
}

/// What the user asked for in the tray.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    Settings,
    CheckNow,
    Pause(bool),
    Offline,
    Copy(IpAddr),
    Quit,
}

/// Everything the tray shows, computed from the engine's status on the main thread and
/// handed to the StatusNotifierItem service whole.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TrayView {
    state: TrayState,
    /// "Dyntray: Up to date": short; a note about the last action at most.
    headline: String,
    /// One line per record: symbol, name, a few words.
    records: Vec<String>,
    /// The public addresses, one line per family found.
    addresses: Vec<IpAddr>,
    check_enabled: bool,
    paused: bool,
    /// "Go offline" or "Back online", when a record has an offline option.
    offline_item: Option<&'static str>,
    tooltip: String,
}

impl TrayView {
    fn new(status: &Status, notice: Option<&str>) -> Self {
        let headline = headline(status);
        let headline = match notice {
            Some(notice) => format!("Dyntray: {headline} — {}", shorten(notice, 48)),
            None => format!("Dyntray: {headline}"),
        };
        let addresses: Vec<IpAddr> = status.addresses.iter().filter_map(|a| a.address).collect();
        let last = status
            .records
            .iter()
            .filter_map(|r| r.last_update_at)
            .max()
            .map(|t| format!("\nLast update: {}", dyntray_engine::time::format_local(t)))
            .unwrap_or_default();
        let lines: Vec<String> = status.addresses.iter().map(address_line).collect();
        let tooltip = if lines.is_empty() {
            format!("{headline}{last}")
        } else {
            format!("{}\n{headline}{last}", lines.join(", "))
        };
        Self {
            state: tray_state(status),
            headline,
            records: status
                .records
                .iter()
                .map(|r| record_line(r, status.paused, status.offline))
                .collect(),
            addresses,
            check_enabled: !status.records.is_empty() && status.config_error.is_none(),
            paused: status.paused,
            offline_item: status.records.iter().any(|r| r.has_offline).then_some(
                if status.offline {
                    "Back online"
                } else {
                    "Go offline"
                },
            ),
            tooltip,
        }
    }
}

/// The icon for a status: neutral until something needs the user. A fresh start (no
/// names, nothing checked yet) is not trouble; a refused or disabled record, a record
/// the user must fix (a missing secret) or a config problem is.
fn tray_state(status: &Status) -> TrayState {
    if needs_user(status) {
        return TrayState::Attention;
    }
    match status.summary {
        Summary::Paused => TrayState::Paused,
        Summary::Updating => TrayState::Updating,
        Summary::Offline => TrayState::Offline,
        Summary::Ok if all_up_to_date(status) => TrayState::Ok,
        Summary::Ok | Summary::NotConfigured | Summary::Attention => TrayState::Idle,
    }
}

/// The status line's words: what holds for every name, in a few words.
fn headline(status: &Status) -> &'static str {
    if status.config_error.is_some() {
        return "Config file has problems";
    }
    if status.config_warning.is_some() {
        return "Config edit not applied";
    }
    match status.summary {
        Summary::NotConfigured => "No names yet",
        Summary::Paused => "Updates paused",
        Summary::Updating => "Updating…",
        Summary::Offline => "Offline",
        _ if needs_user(status) => "Needs your attention",
        _ if status
            .records
            .iter()
            .any(|r| r.phase != Phase::Off && no_address(status, r)) =>
        {
            "No public address"
        }
        _ if all_up_to_date(status) => "Up to date",
        _ if status.records.iter().any(|r| r.phase == Phase::BackingOff) => {
            "Provider busy, retrying later"
        }
        _ => "Not updated yet",
    }
}

/// Whether every name that is on has the current address at its provider (the engine's
/// `Ok` summary also covers names not sent yet).
fn all_up_to_date(status: &Status) -> bool {
    status
        .records
        .iter()
        .all(|r| matches!(r.phase, Phase::Ok | Phase::Off))
}

/// Whether the user must act: a config problem, a refused (disabled) record, or a record
/// held back by something local other than a missing public address (a missing secret).
/// No address (offline at login, say) is the network's to fix, not the user's.
fn needs_user(status: &Status) -> bool {
    status.config_error.is_some()
        || status.config_warning.is_some()
        || status.records.iter().any(|r| match r.phase {
            Phase::Disabled => true,
            Phase::Error => !no_address(status, r),
            _ => false,
        })
}

/// Whether the record waits only because its family has no public address.
fn no_address(status: &Status, record: &RecordStatus) -> bool {
    status
        .addresses
        .iter()
        .any(|a| a.family == record.family && a.address.is_none())
}

/// At most `max` characters, with "…" where it was cut.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// One line of the tray menu. Both platforms draw the same list.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Item {
        text: String,
        enabled: bool,
        action: Option<Action>,
    },
    Check {
        text: &'static str,
        checked: bool,
        action: Action,
    },
    Separator,
}

fn item(text: impl Into<String>, enabled: bool, action: Option<Action>) -> Entry {
    Entry::Item {
        text: text.into(),
        enabled,
        action,
    }
}

/// The menu for a view: the headline, the records, the addresses to copy, then the
/// commands.
fn menu(view: &TrayView) -> Vec<Entry> {
    let mut entries = vec![item(&view.headline, false, None)];
    // A record line is readable and opens Settings, where its details are.
    for line in &view.records {
        entries.push(item(line, true, Some(Action::Settings)));
    }
    for &address in &view.addresses {
        let text = match address {
            IpAddr::V4(_) => format!("Public address {address} — Copy"),
            IpAddr::V6(_) => format!("Public IPv6 address {address} — Copy"),
        };
        entries.push(item(text, true, Some(Action::Copy(address))));
    }
    entries.push(Entry::Separator);
    entries.push(item(
        "Check now",
        view.check_enabled,
        Some(Action::CheckNow),
    ));
    entries.push(Entry::Check {
        text: "Pause updates",
        checked: view.paused,
        action: Action::Pause(!view.paused),
    });
    if let Some(text) = view.offline_item {
        entries.push(item(text, true, Some(Action::Offline)));
    }
    entries.push(Entry::Separator);
    entries.push(item("Settings…", true, Some(Action::Settings)));
    entries.push(item("Quit", true, Some(Action::Quit)));
    entries
}

/// The control-API side of the tray process.
struct TrayHost {
    info: AppInfo,
    /// How to get a tray icon, while no tray host shows it.
    tray_hint: watch::Receiver<Option<String>>,
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
            Request::AppInfo => serde_json::to_value(AppInfo {
                tray_hint: self.tray_hint.borrow().clone(),
                ..self.info.clone()
            })
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

    #[cfg(target_os = "linux")]
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
            import_sources: paths::import_sources(),
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
    #[cfg(target_os = "linux")]
    {
        let ui = ui_tx.clone();
        runtime.spawn(crate::notify::xdg::follow(engine.clone(), move || {
            let _ = ui.send(UiMsg::OpenSettings);
        }));
    }
    // Balloons come from the icon, which lives on the main thread.
    #[cfg(windows)]
    runtime.spawn(platform::follow(engine.clone(), ui_tx.clone()));
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
    let (hint_tx, hint_rx) = watch::channel(None::<String>);
    let host = Arc::new(TrayHost {
        tray_hint: hint_rx.clone(),
        info: AppInfo {
            version: dyntray_engine::VERSION.into(),
            host: "dyntray".into(),
            pid: std::process::id(),
            config_path,
            log_dir: log.dir.clone(),
            socket_path: socket.clone(),
            tray_hint: None,
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

    let status = engine.status();
    let tray = match platform::Icon::start(ui_tx.clone(), TrayView::new(&status, None), hint_tx) {
        Ok(tray) => tray,
        Err(e) => {
            eprintln!("dyntray: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(socket = %socket.display(), pid = std::process::id(), "tray running");

    let mut app = TrayApp {
        tray,
        settings: SettingsProcess::new(socket, ui_tx.clone()),
        events,
        engine: engine.clone(),
        runtime: runtime.handle().clone(),
        ui: ui_tx,
        status,
        notice: None,
        clipboard: None,
        crashed: None,
    };
    app.render();
    // Without a tray host there is no icon to click: the first launch opens Settings,
    // which says how to get one (app_info's tray_hint); the engine runs on either way.
    if hint_rx.borrow().is_some() {
        tracing::info!("no tray host: opening Settings");
        app.settings.open(&app.events);
    }
    platform::run_loop(&mut app, ui_rx);

    tracing::info!("quitting");
    let _ = app.events.send(Event::Shutdown);
    app.settings.stop();
    if let Some(message) = app.crashed.take() {
        drop(app);
        let _ = stop_tx.send(());
        runtime.shutdown_timeout(Duration::from_secs(2));
        eprintln!("dyntray: the engine stopped unexpectedly: {message}");
        // A balloon would go with the icon: a message box stays until it is read.
        #[cfg(windows)]
        {
            let said = crate::notify::engine_crashed(&message);
            dyntray_os::shell::message_box(
                &said.summary,
                &said.body,
                dyntray_os::shell::Level::Error,
            );
        }
        drop(log);
        return ExitCode::FAILURE;
    }
    app.into_icon().shutdown();
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

struct TrayApp {
    tray: platform::Icon,
    settings: SettingsProcess,
    events: broadcast::Sender<Event>,
    engine: EngineHandle,
    runtime: tokio::runtime::Handle,
    ui: Sender<UiMsg>,
    status: Status,
    /// A short note about the last action (why it failed), until the next action or the
    /// next change of status: a note never outlives what it was about.
    notice: Option<String>,
    /// Owns the clipboard while it holds an address the user copied (on X11 the owner
    /// serves the text to whoever pastes it).
    clipboard: Option<arboard::Clipboard>,
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
                #[cfg(target_os = "linux")]
                crate::notify::xdg::engine_crashed(&message);
                self.crashed = Some(message);
                return false;
            }
            #[cfg(windows)]
            UiMsg::Notify(message) => self.tray.notify(&message),
            UiMsg::OpenSettings => self.settings.open(&self.events),
            UiMsg::SettingsExited(pid) => self.settings.exited(pid, &self.events),
            UiMsg::Status(status) => {
                self.status = *status;
                self.notice = None;
                self.render();
            }
            UiMsg::Notice(text) => {
                self.notice = Some(text);
                self.render();
            }
            UiMsg::Action(action) => {
                // A note is about the last action: the next one clears it.
                if self.notice.take().is_some() {
                    self.render();
                }
                return self.act(action);
            }
        }
        true
    }

    fn act(&mut self, action: Action) -> bool {
        match action {
            Action::Quit => return false,
            Action::Settings => self.settings.open(&self.events),
            Action::Pause(paused) => {
                let engine = self.engine.clone();
                self.runtime.spawn(async move {
                    let _ = engine.pause(paused).await;
                });
            }
            Action::Offline => {
                let offline = !self.status.offline;
                let (engine, ui) = (self.engine.clone(), self.ui.clone());
                self.runtime.spawn(async move {
                    if let Err(e) = engine.set_offline(offline).await {
                        let _ = ui.send(UiMsg::Notice(e.to_string()));
                    }
                });
            }
            Action::CheckNow => {
                let (engine, ui) = (self.engine.clone(), self.ui.clone());
                self.runtime.spawn(async move {
                    // What the check finds shows in the record lines; only a check that
                    // could not run is worth a word.
                    if let Err(e) = engine.check_now().await {
                        let _ = ui.send(UiMsg::Notice(e.to_string()));
                    }
                });
            }
            Action::Copy(address) => {
                if let Err(e) = self.copy(&address.to_string()) {
                    tracing::warn!(error = %e, "cannot put the address on the clipboard");
                    self.notice = Some("cannot copy".into());
                    self.render();
                }
            }
        }
        true
    }

    fn copy(&mut self, text: &str) -> Result<(), arboard::Error> {
        let clipboard = match &mut self.clipboard {
            Some(clipboard) => clipboard,
            None => self.clipboard.insert(arboard::Clipboard::new()?),
        };
        clipboard.set_text(text)?;
        tracing::info!(address = text, "address copied to the clipboard");
        Ok(())
    }

    /// The icon alone, the rest of the app (the clipboard it owns included) gone.
    fn into_icon(self) -> platform::Icon {
        self.tray
    }

    /// Shows the engine's status in the icon, tooltip and menu.
    fn render(&mut self) {
        let view = TrayView::new(&self.status, self.notice.as_deref());
        self.tray.show(view);
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

/// One record's menu line: a symbol, the name, a few words ("✓ home.example.org — up to
/// date", "⚠ home.example.org — refused (badauth)"). The details are in Settings.
fn record_line(record: &RecordStatus, paused: bool, offline: bool) -> String {
    let name = if record.family == "AAAA" {
        format!("{} (IPv6)", record.name)
    } else {
        record.name.clone()
    };
    let (symbol, what) = match record.phase {
        Phase::Disabled => match &record.disabled {
            Some(disabled) => ("⚠", format!("refused ({})", shorten(&disabled.code, 20))),
            None => ("⚠", "refused".to_owned()),
        },
        Phase::Error => (
            "⚠",
            shorten(record.note.as_deref().unwrap_or("needs your attention"), 40),
        ),
        Phase::Off => ("○", "off".to_owned()),
        _ if paused => ("⏸", "paused".to_owned()),
        Phase::Ok if offline && record.has_offline => ("○", "offline".to_owned()),
        Phase::Ok => ("✓", "up to date".to_owned()),
        Phase::Pending => ("…", "waiting for its first update".to_owned()),
        Phase::Updating => ("⟳", "updating".to_owned()),
        Phase::BackingOff => ("⟳", "provider busy, retrying later".to_owned()),
    };
    format!("{symbol} {name} — {what}")
}

/// Starts, focuses and stops the settings process.
struct SettingsProcess {
    exe: PathBuf,
    socket: PathBuf,
    ui: Sender<UiMsg>,
    running: Option<u32>,
    /// When Settings was last asked for while a window was running. A window that was
    /// closing at that moment never shows again, so when it ends just after, a new one
    /// is started: the click is not lost.
    asked_at: Option<std::time::Instant>,
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
            asked_at: None,
        }
    }

    fn open(&mut self, events: &broadcast::Sender<Event>) {
        if self.running.is_some() {
            self.asked_at = Some(std::time::Instant::now());
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
                self.asked_at = None;
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

    fn exited(&mut self, pid: u32, events: &broadcast::Sender<Event>) {
        if self.running == Some(pid) {
            self.running = None;
            let closing = self
                .asked_at
                .take()
                .is_some_and(|at| at.elapsed() < Duration::from_secs(2));
            if closing {
                self.open(events);
            }
        }
    }

    /// Ends the settings process: it was told by the Shutdown event; a stuck one is
    /// terminated after a grace period.
    fn stop(&mut self) {
        let Some(pid) = self.running.take() else {
            return;
        };
        #[cfg(windows)]
        if dyntray_os::process::end(pid, Duration::from_secs(2))
            == dyntray_os::process::Ended::Terminated
        {
            tracing::warn!("settings window did not close; terminated it");
        }
        #[cfg(target_os = "linux")]
        {
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
    use dyntray_engine::engine::AddressStatus;

    fn record(name: &str, phase: Phase) -> RecordStatus {
        RecordStatus {
            key: format!("home/{name}/A"),
            name: name.into(),
            account: "home".into(),
            provider: "dyndns".into(),
            provider_name: "DynDNS".into(),
            family: "A".into(),
            phase,
            address: Some("81.2.69.160".parse().unwrap()),
            last_update_at: None,
            last_attempt_at: None,
            last_answer: None,
            disabled: None,
            next_attempt_at: None,
            note: None,
            has_offline: false,
            cure: None,
        }
    }

    fn address(ip: &str) -> AddressStatus {
        AddressStatus {
            family: "A".into(),
            address: Some(ip.parse().unwrap()),
            checked_at: None,
            error: None,
            agreed: vec!["echo".into()],
            needed: 1,
            sources: Vec::new(),
            trigger: None,
        }
    }

    fn labels(view: TrayView) -> Vec<(String, bool)> {
        menu(&view)
            .into_iter()
            .filter_map(|entry| match entry {
                Entry::Item { text, enabled, .. } => Some((text, enabled)),
                Entry::Check { text, .. } => Some((text.to_owned(), true)),
                Entry::Separator => None,
            })
            .collect()
    }

    #[test]
    fn a_fresh_start_is_neutral_not_trouble() {
        let status = Status::default();
        let view = TrayView::new(&status, None);
        assert_eq!(view.state, TrayState::Idle);
        assert_eq!(view.headline, "Dyntray: No names yet");
        // Names configured, nothing sent yet, no address yet: still neutral.
        let status = Status {
            summary: Summary::Ok,
            records: vec![record("home.example.org", Phase::Pending)],
            ..Status::default()
        };
        let view = TrayView::new(&status, None);
        assert_eq!(view.state, TrayState::Idle);
        assert_eq!(view.headline, "Dyntray: Not updated yet");
        let status = Status {
            summary: Summary::Attention,
            records: vec![record("home.example.org", Phase::Pending)],
            ..Status::default()
        };
        assert_eq!(TrayView::new(&status, None).state, TrayState::Idle);
    }

    #[test]
    fn attention_only_when_the_user_must_act() {
        let mut refused = record("home.example.org", Phase::Disabled);
        refused.disabled = Some(dyntray_engine::state::Disabled {
            code: "badauth".into(),
            answer: "badauth".into(),
            advice: "Check the password.".into(),
            at: 0,
        });
        let status = Status {
            summary: Summary::Attention,
            records: vec![refused, record("b.example.org", Phase::Ok)],
            ..Status::default()
        };
        let view = TrayView::new(&status, None);
        assert_eq!(view.state, TrayState::Attention);
        assert_eq!(
            view.records,
            [
                "⚠ home.example.org — refused (badauth)",
                "✓ b.example.org — up to date"
            ]
        );
        let config = Status {
            summary: Summary::Attention,
            config_error: Some("line 3: bad key".into()),
            ..Status::default()
        };
        assert_eq!(TrayView::new(&config, None).state, TrayState::Attention);
    }

    #[test]
    fn no_address_yet_is_not_the_users_to_fix() {
        let mut waiting = record("home.example.org", Phase::Error);
        waiting.note = Some("no IPv4 address: every source failed".into());
        let mut no_v4 = address("81.2.69.160");
        no_v4.address = None;
        no_v4.error = Some("every source failed".into());
        let status = Status {
            summary: Summary::Attention,
            addresses: vec![no_v4],
            records: vec![waiting.clone()],
            ..Status::default()
        };
        let view = TrayView::new(&status, None);
        assert_eq!(view.state, TrayState::Idle);
        assert_eq!(view.headline, "Dyntray: No public address");
        // With an address, the same note is the user's (a missing secret, say).
        let status = Status {
            summary: Summary::Attention,
            addresses: vec![address("81.2.69.160")],
            records: vec![waiting],
            ..Status::default()
        };
        let view = TrayView::new(&status, None);
        assert_eq!(view.state, TrayState::Attention);
        assert_eq!(view.headline, "Dyntray: Needs your attention");
    }

    #[test]
    fn record_lines_are_readable_and_the_address_can_be_copied() {
        let status = Status {
            summary: Summary::Ok,
            addresses: vec![address("81.2.69.160")],
            records: vec![record("my_host.example.org", Phase::Ok)],
            ..Status::default()
        };
        let labels = labels(TrayView::new(&status, None));
        assert_eq!(
            labels,
            [
                ("Dyntray: Up to date".to_owned(), false),
                ("✓ my_host.example.org — up to date".to_owned(), true),
                ("Public address 81.2.69.160 — Copy".to_owned(), true),
                ("Check now".to_owned(), true),
                ("Pause updates".to_owned(), true),
                ("Settings…".to_owned(), true),
                ("Quit".to_owned(), true),
            ]
        );
    }

    #[test]
    fn paused_records_say_so_and_notes_stay_short() {
        let status = Status {
            summary: Summary::Paused,
            paused: true,
            records: vec![record("home.example.org", Phase::Ok)],
            ..Status::default()
        };
        let view = TrayView::new(&status, Some(&"x".repeat(200)));
        assert_eq!(view.records, ["⏸ home.example.org — paused"]);
        assert_eq!(view.state, TrayState::Paused);
        assert!(view.headline.chars().count() < 80, "{}", view.headline);
        assert!(view.headline.ends_with('…'));
    }
}
