//! The settings process: a Tauri window over `ui/`, whose commands are thin calls to the
//! control-API client.
//!
//! The window starts hidden, placed where it was last (`window_state.rs`), and shows when
//! the page says its first view is drawn (`window_drawn`), so nobody watches an empty
//! frame fill in; if that never comes (a broken page), it shows anyway after
//! [`SHOW_ANYWAY_AFTER`]: a window that never appears would be worse.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dyntray_engine::control::{AppInfo, ControlClient, ControlError, ErrorCode, Event, Request};
use dyntray_engine::engine::{Status, UpdateNowReport};
use dyntray_engine::paths;
use dyntray_engine::secrets::Secret;
use dyntray_engine::state::HistoryEntry;
use tauri::{AppHandle, Emitter, Manager, Runtime, State, WebviewWindow, WindowEvent};
use tokio::sync::OnceCell;

use crate::window_state::{self, Area, Geometry};

/// The window's label in tauri.conf.json.
const WINDOW: &str = "settings";

/// How long the hidden window waits for `window_drawn` before it shows anyway.
const SHOW_ANYWAY_AFTER: Duration = Duration::from_secs(3);

/// How long the window must rest before a move or resize is written down.
const SAVE_AFTER: Duration = Duration::from_millis(400);

/// The settings process's one piece of state: its connection to the tray process.
pub(crate) struct Control {
    socket: PathBuf,
    client: OnceCell<ControlClient>,
}

impl Control {
    fn new(socket: PathBuf) -> Self {
        Self {
            socket,
            client: OnceCell::new(),
        }
    }

    /// The connection, made on first use (and again after a failed attempt).
    async fn client(&self) -> Result<&ControlClient, ControlError> {
        self.client
            .get_or_try_init(|| ControlClient::connect(&self.socket))
            .await
    }
}

/// Version and file locations, as the running tray process reports them.
#[tauri::command]
#[tracing::instrument(skip_all)]
async fn app_info(control: State<'_, Control>) -> Result<AppInfo, ControlError> {
    control.client().await?.app_info().await
}

/// Every record's state, as the engine reports it.
#[tauri::command]
#[tracing::instrument(skip_all)]
async fn status(control: State<'_, Control>) -> Result<Status, ControlError> {
    control.client().await?.call(Request::Status).await
}

/// Re-enables a record the provider refused (after the user fixed the cause).
#[tauri::command]
#[tracing::instrument(skip(control))]
async fn re_enable(control: State<'_, Control>, record: String) -> Result<(), ControlError> {
    control
        .client()
        .await?
        .call(Request::ReEnable {
            record,
            more: Vec::new(),
        })
        .await
}

/// Forces an update of one record (rate-limited by the engine).
#[tauri::command]
#[tracing::instrument(skip(control))]
async fn update_now(
    control: State<'_, Control>,
    record: String,
) -> Result<UpdateNowReport, ControlError> {
    control
        .client()
        .await?
        .call(Request::UpdateNow {
            record: Some(record),
        })
        .await
}

/// Update history, newest first, for one record or all.
#[tauri::command]
#[tracing::instrument(skip(control))]
async fn history(
    control: State<'_, Control>,
    record: Option<String>,
) -> Result<Vec<HistoryEntry>, ControlError> {
    control
        .client()
        .await?
        .call(Request::History {
            record,
            limit: Some(200),
        })
        .await
}

/// The provider registry: every descriptor, to render the forms from.
#[tauri::command]
#[tracing::instrument(skip_all)]
async fn providers(control: State<'_, Control>) -> Result<serde_json::Value, ControlError> {
    control.client().await?.call(Request::Providers).await
}

/// The config as it is on disk, with the revision an edit must name.
#[tauri::command]
#[tracing::instrument(skip_all)]
async fn read_config(control: State<'_, Control>) -> Result<serde_json::Value, ControlError> {
    control.client().await?.call(Request::ReadConfig).await
}

/// Applies one edit to the config file in place, if it is still at `revision`; answers
/// the new revision. A refusal is `stale` (read again) or lists every problem by key.
#[tauri::command]
#[tracing::instrument(skip(control, edit))]
async fn edit_config(
    control: State<'_, Control>,
    revision: String,
    edit: serde_json::Value,
) -> Result<String, ControlError> {
    let edit = serde_json::from_value(edit).map_err(|e| {
        ControlError::new(
            ErrorCode::InvalidParams,
            format!("the form sent a bad edit: {e}"),
        )
    })?;
    control
        .client()
        .await?
        .call(Request::EditConfig { revision, edit })
        .await
}

/// Stores an account's secret in the keychain; it is never sent back to the window.
#[tauri::command]
#[tracing::instrument(skip(control, secret))]
async fn set_secret(
    control: State<'_, Control>,
    account: String,
    secret: String,
) -> Result<(), ControlError> {
    control
        .client()
        .await?
        .call(Request::SetSecret {
            account,
            secret: Secret::new(secret),
        })
        .await
}

/// Checks an account's login without changing anything at the provider.
#[tauri::command]
#[tracing::instrument(skip(control))]
async fn check_account(
    control: State<'_, Control>,
    account: String,
) -> Result<serde_json::Value, ControlError> {
    control
        .client()
        .await?
        .call(Request::CheckAccount { account })
        .await
}

/// Other clients' configs on this machine (ddclient, inadyn), each with a preview of
/// what an import brings, or with why it cannot be read and the command line to use.
#[tauri::command]
#[tracing::instrument(skip_all)]
async fn find_imports(control: State<'_, Control>) -> Result<serde_json::Value, ControlError> {
    control.client().await?.call(Request::FindImports).await
}

/// Imports another client's config into the running engine, based on the config revision
/// the window last read (a stale one is refused); answers what was imported.
#[tauri::command]
#[tracing::instrument(skip(control))]
async fn apply_import(
    control: State<'_, Control>,
    client: dyntray_engine::import::Client,
    revision: String,
) -> Result<serde_json::Value, ControlError> {
    control
        .client()
        .await?
        .call(Request::ApplyImport(dyntray_engine::engine::ImportAsk {
            client,
            revision,
            file: None,
            cache: None,
            replace: false,
            no_secrets: false,
        }))
        .await
}

/// Whether Dyntray starts at login.
#[tauri::command]
#[tracing::instrument]
fn autostart() -> Result<bool, ControlError> {
    crate::autostart::enabled()
}

/// Turns starting at login on or off.
#[tauri::command]
#[tracing::instrument]
fn set_autostart(enabled: bool) -> Result<(), ControlError> {
    crate::autostart::set(enabled)
}

/// The page has drawn its first view: show the window (placed before it was hidden).
#[tauri::command]
#[tracing::instrument(skip_all)]
fn window_drawn<R: Runtime>(window: WebviewWindow<R>) {
    reveal(&window);
}

fn reveal<R: Runtime>(window: &WebviewWindow<R>) {
    if window.is_visible().unwrap_or(false) {
        return;
    }
    if let Err(e) = window.show() {
        tracing::warn!(error = %e, "cannot show the settings window");
    }
    let _ = window.set_focus();
}

/// Puts the window where it was last, fitted to today's monitors.
fn restore_place<R: Runtime>(window: &WebviewWindow<R>) {
    let Some(saved) = window_state::file().and_then(|f| window_state::load(&f)) else {
        return;
    };
    let monitors: Vec<Area> = window
        .available_monitors()
        .unwrap_or_default()
        .iter()
        .map(|m| Area {
            x: m.position().x,
            y: m.position().y,
            width: m.size().width,
            height: m.size().height,
        })
        .collect();
    let scale = window.scale_factor().unwrap_or(1.0);
    // tauri.conf.json's minimum size, in physical pixels.
    let min = ((560.0 * scale) as u32, (420.0 * scale) as u32);
    let Some(place) = window_state::fit(saved, &monitors, min) else {
        tracing::info!(
            ?saved,
            "the saved window place is on no monitor; using the default"
        );
        return;
    };
    let _ = window.set_size(tauri::PhysicalSize::new(place.width, place.height));
    let _ = window.set_position(tauri::PhysicalPosition::new(place.x, place.y));
}

/// The window's place now, when it is shown normally (not minimized or maximized).
fn current_place<R: Runtime>(window: &WebviewWindow<R>) -> Option<Geometry> {
    if !window.is_visible().unwrap_or(false)
        || window.is_minimized().unwrap_or(false)
        || window.is_maximized().unwrap_or(false)
    {
        return None;
    }
    let position = window.outer_position().ok()?;
    let size = window.inner_size().ok()?;
    Some(Geometry {
        x: position.x,
        y: position.y,
        width: size.width,
        height: size.height,
    })
}

fn save_place<R: Runtime>(window: &WebviewWindow<R>) {
    let (Some(place), Some(file)) = (current_place(window), window_state::file()) else {
        return;
    };
    if let Err(e) = window_state::save(&file, place) {
        tracing::warn!(file = %file.display(), error = %e, "cannot save the window's place");
    }
}

/// Restores the window's place, shows it when drawn (or after the grace period), and
/// writes its place down after it moved or was resized and when it closes.
fn manage_window<R: Runtime>(window: WebviewWindow<R>) {
    restore_place(&window);
    let generation = Arc::new(AtomicU64::new(0));
    let events = window.clone();
    window.on_window_event(move |event| match event {
        WindowEvent::Moved(_) | WindowEvent::Resized(_) => {
            // Written once the window rests: a drag is many events.
            let mine = generation.fetch_add(1, Ordering::SeqCst) + 1;
            let (generation, window) = (Arc::clone(&generation), events.clone());
            tauri::async_runtime::spawn(async move {
                tokio::time::sleep(SAVE_AFTER).await;
                if generation.load(Ordering::SeqCst) == mine {
                    save_place(&window);
                }
            });
        }
        WindowEvent::CloseRequested { .. } => save_place(&events),
        _ => {}
    });
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(SHOW_ANYWAY_AFTER).await;
        if !window.is_visible().unwrap_or(true) {
            tracing::warn!("the page did not say it was drawn; showing the window anyway");
            reveal(&window);
        }
    });
}

/// Opens a provider's page (its docs or where its token is made) in the browser.
#[tauri::command]
#[tracing::instrument]
fn open_link(url: String) -> Result<(), ControlError> {
    if !crate::open::is_provider_page(&url) {
        return Err(ControlError {
            code: ErrorCode::InvalidParams,
            message: "Only a provider's own pages can be opened from here.".into(),
            problems: Vec::new(),
        });
    }
    crate::open::open(&url)
}

/// Opens the folder with Dyntray's logs, as the tray process reports it.
#[tauri::command]
#[tracing::instrument(skip_all)]
async fn open_logs(control: State<'_, Control>) -> Result<(), ControlError> {
    let info = control.client().await?.app_info().await?;
    match info.log_dir {
        Some(folder) => crate::open::open_folder(&folder),
        None => Err(ControlError {
            code: ErrorCode::Failed,
            message: "Dyntray writes no log files: it was started in a terminal.".into(),
            problems: Vec::new(),
        }),
    }
}

/// Adds the settings commands and state to a builder. Generic over the runtime so tests
/// can run it on `tauri::test`'s mock runtime.
pub(crate) fn build<R: Runtime>(builder: tauri::Builder<R>, socket: PathBuf) -> tauri::Builder<R> {
    builder
        .manage(Control::new(socket))
        .invoke_handler(tauri::generate_handler![
            app_info,
            status,
            re_enable,
            update_now,
            history,
            providers,
            read_config,
            edit_config,
            set_secret,
            check_account,
            find_imports,
            apply_import,
            autostart,
            set_autostart,
            window_drawn,
            open_link,
            open_logs
        ])
        .setup(|app| {
            if let Some(window) = app.get_webview_window(WINDOW) {
                manage_window(window);
            }
            let handle = app.handle().clone();
            tauri::async_runtime::spawn(follow_events(handle));
            Ok(())
        })
}

/// Follows the tray's events: come to the front when asked, close when the tray quits,
/// tell the page when the tray went away.
async fn follow_events<R: Runtime>(app: AppHandle<R>) {
    let control = app.state::<Control>();
    let subscribed = match control.client().await {
        Ok(client) => client.subscribe().await,
        Err(e) => Err(e),
    };
    let mut events = match subscribed {
        Ok(events) => events,
        Err(e) => {
            tracing::warn!(error = %e, "no event stream from the tray");
            let _ = app.emit("control-lost", &e);
            return;
        }
    };
    while let Some(event) = events.recv().await {
        match event {
            Event::ShowSettings => {
                if let Some(window) = app.get_webview_window(WINDOW) {
                    let _ = window.unminimize();
                    let _ = window.show();
                    let _ = window.set_focus();
                }
            }
            Event::Shutdown => {
                app.exit(0);
                return;
            }
            Event::Status(status) => {
                let _ = app.emit("status", &status);
            }
            _ => {}
        }
    }
    let _ = app.emit(
        "control-lost",
        &ControlError::new(ErrorCode::NotRunning, "Dyntray stopped running"),
    );
}

/// Microsoft's page for the WebView2 Runtime's installer.
#[cfg(windows)]
const WEBVIEW2_DOWNLOAD: &str = "https://go.microsoft.com/fwlink/p/?LinkId=2124703";

/// Why the WebView2 Runtime cannot be used, if it cannot (Windows 10 before 2021 and
/// Wine lack it; without it Tauri panics when it makes the window).
#[cfg(windows)]
fn webview2_missing() -> Option<String> {
    match tauri::webview_version() {
        Ok(version) if !version.trim().is_empty() => None,
        Ok(_) => Some("no version is installed".into()),
        Err(e) => Some(e.to_string()),
    }
}

pub(crate) fn run() -> ExitCode {
    let _log =
        dyntray_engine::logging::init("dyntray-settings.log", paths::log_dir().ok().as_deref());
    #[cfg(windows)]
    if let Some(reason) = webview2_missing() {
        tracing::error!(%reason, "no WebView2 runtime: the settings window cannot open");
        dyntray_os::shell::message_box(
            "Dyntray Settings",
            &format!(
                "The Settings window needs the Microsoft Edge WebView2 Runtime, which is not \
                 installed on this computer.\n\nGet it from {WEBVIEW2_DOWNLOAD} and open \
                 Settings again. Dyntray keeps your names up to date meanwhile."
            ),
            dyntray_os::shell::Level::Warning,
        );
        return ExitCode::from(3);
    }
    let app =
        build(tauri::Builder::default(), paths::control_socket()).build(tauri::generate_context!());
    match app {
        Ok(app) => {
            app.run(|_, _| {});
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("dyntray-settings: cannot open the settings window: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use tauri::test::{get_ipc_response, mock_builder, mock_context, noop_assets};

    #[test]
    fn app_info_reports_not_running_when_no_tray_answers() {
        let dir = tempfile::tempdir().unwrap();
        let app = build(mock_builder(), dir.path().join("absent.sock"))
            .build(mock_context(noop_assets()))
            .unwrap();
        let window = tauri::WebviewWindowBuilder::new(&app, "settings", Default::default())
            .build()
            .unwrap();
        let response = get_ipc_response(
            &window,
            tauri::webview::InvokeRequest {
                cmd: "app_info".into(),
                callback: tauri::ipc::CallbackFn(0),
                error: tauri::ipc::CallbackFn(1),
                url: "tauri://localhost".parse().unwrap(),
                body: tauri::ipc::InvokeBody::default(),
                headers: Default::default(),
                invoke_key: tauri::test::INVOKE_KEY.to_string(),
            },
        );
        let error = response.unwrap_err();
        assert_eq!(error["code"], "not_running");
        assert!(error["message"].as_str().unwrap().contains("absent.sock"));
    }
}
