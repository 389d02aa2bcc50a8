//! The tray icon on Windows: a notification-area icon (tray-icon) with its menu (muda),
//! owned by the main thread, which runs the Windows message loop (tao, without windows).
//! Messages from other threads reach the loop as its user events; clicks on the icon
//! and on the menu come back as messages too. Notifications are toasts where the
//! installer registered Dyntray for them (`notify/toast.rs`), else balloons from the
//! icon, which Windows 10 and 11 show as toasts under the program's name; a click on
//! either that asks the user to act opens Settings.

use std::cell::Cell;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::path::Path;
use std::rc::Rc;
use std::sync::mpsc::{Receiver, Sender};

use dyntray_engine::engine::EngineHandle;
use dyntray_os::shell::{self, BalloonClicks, IconId};
use tao::event::Event;
use tao::event_loop::{ControlFlow, EventLoop, EventLoopBuilder};
use tao::platform::run_return::EventLoopExtRunReturn;
use tokio::sync::{broadcast, watch};
use tray_icon::menu::{CheckMenuItem, IsMenuItem, Menu, MenuEvent, MenuItem, PredefinedMenuItem};
use tray_icon::{MouseButton, MouseButtonState, TrayIcon, TrayIconAttributes, TrayIconEvent};

use super::{Action, Entry, TrayApp, TrayView, UiMsg};
use crate::notify::{self, Level, Message, toast};
use crate::tray_icons::TrayState;

/// How many of the last menus given to the icon stay alive, the current one included:
/// the shell may still be showing the one before (a status change while the user has
/// the menu open), and muda destroys a menu when its last handle goes.
const OLD_MENUS: usize = 2;

/// The message tray-icon 0.26 has the shell send the icon's events with (its private
/// `WM_USER_TRAYICON`). The Wine test clicks a balloon through it: a change shows there.
const TRAY_ICON_MESSAGE: u32 = 6002;

/// The icon as the main thread holds it.
pub(super) struct Icon {
    /// Before `tray`: the window's subclass goes before the window.
    clicks: Option<BalloonClicks>,
    /// Whether the balloon on screen asks the user to act (a click opens Settings).
    wants_settings: Rc<Cell<bool>>,
    /// Whether toasts are still worth trying: off once Windows refused one.
    toasts: Cell<bool>,
    ui: Sender<UiMsg>,
    tray: TrayIcon,
    id: IconId,
    /// The size the notification area draws icons at here.
    size: u32,
    state: TrayState,
    entries: Vec<Entry>,
    old_menus: VecDeque<Menu>,
    /// Created first (it makes the process DPI-aware, so `size` is right), run by
    /// [`run_loop`].
    event_loop: Option<EventLoop<UiMsg>>,
}

impl Icon {
    /// Puts the icon in the notification area. Windows always has one, so there is
    /// never a hint to give: `hint` stays empty.
    pub(super) fn start(
        ui: Sender<UiMsg>,
        view: TrayView,
        _hint: watch::Sender<Option<String>>,
    ) -> Result<Self, String> {
        let event_loop = EventLoopBuilder::<UiMsg>::with_user_event().build();
        let size = shell::small_icon_size();
        let guid = std::env::current_exe().map_or(DEFAULT_GUID, |exe| guid_for(&exe));
        let entries = super::menu(&view);
        let attributes = TrayIconAttributes {
            tooltip: Some(tip(&view.tooltip)),
            menu: Some(Box::new(native_menu(&entries))),
            icon: Some(picture(view.state, size)?),
            menu_on_left_click: false,
            guid: Some(guid),
            ..TrayIconAttributes::default()
        };
        let tray = TrayIcon::with_id("dyntray", attributes)
            .map_err(|e| format!("cannot create the tray icon: {e}"))?;
        let id = IconId {
            window: tray.window_handle() as isize,
            // Shells that ignore the GUID (Wine's) know the icon by its window and this
            // number, which tray-icon counts from 1 for the first icon of a process.
            uid: 1,
            guid,
        };
        let wants_settings = Rc::new(Cell::new(false));
        let clicks = {
            let (ui, wants) = (ui.clone(), Rc::clone(&wants_settings));
            shell::follow_balloon_clicks(id.window, TRAY_ICON_MESSAGE, move || {
                if wants.get() {
                    let _ = ui.send(UiMsg::Action(Action::Settings));
                }
            })
            .map_err(
                |e| tracing::warn!(error = %e, "a click on a notification cannot open Settings"),
            )
            .ok()
        };
        let toast_ui = ui.clone();
        {
            let ui = ui.clone();
            MenuEvent::set_event_handler(Some(move |event: MenuEvent| {
                if let Some(action) = action(event.id.as_ref()) {
                    let _ = ui.send(UiMsg::Action(action));
                }
            }));
        }
        TrayIconEvent::set_event_handler(Some(move |event: TrayIconEvent| {
            if let TrayIconEvent::Click {
                button: MouseButton::Left,
                button_state: MouseButtonState::Up,
                ..
            } = event
            {
                let _ = ui.send(UiMsg::Action(Action::Settings));
            }
        }));
        Ok(Self {
            clicks,
            wants_settings,
            toasts: Cell::new(true),
            ui: toast_ui,
            tray,
            id,
            size,
            state: view.state,
            entries,
            old_menus: VecDeque::new(),
            event_loop: Some(event_loop),
        })
    }

    pub(super) fn show(&mut self, view: TrayView) {
        if view.state != self.state {
            match picture(view.state, self.size) {
                Ok(icon) => {
                    if let Err(e) = self.tray.set_icon(Some(icon)) {
                        tracing::warn!(error = %e, "cannot change the tray icon");
                    }
                    self.state = view.state;
                }
                Err(e) => tracing::warn!(error = %e, "cannot change the tray icon"),
            }
        }
        if let Err(e) = self.tray.set_tooltip(Some(tip(&view.tooltip))) {
            tracing::warn!(error = %e, "cannot change the tray icon's tooltip");
        }
        let entries = super::menu(&view);
        if entries != self.entries {
            let menu = native_menu(&entries);
            self.tray.set_menu(Some(Box::new(menu.clone())));
            self.old_menus.push_back(menu);
            if self.old_menus.len() > OLD_MENUS {
                self.old_menus.pop_front();
            }
            self.entries = entries;
        }
    }

    /// Shows a toast where Dyntray is registered for them, else (or when Windows refuses
    /// it) a balloon from the icon; clicking either opens Settings when it asks the user
    /// to act.
    pub(super) fn notify(&self, message: &Message) {
        if self.toasts.get() && toast::registered() {
            let ui = self.ui.clone();
            match toast::show(message, move || {
                let _ = ui.send(UiMsg::Action(Action::Settings));
            }) {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(
                        error = %e,
                        "Windows refused a toast: notifications come as balloons from the tray \
                         icon until Dyntray starts again"
                    );
                    self.toasts.set(false);
                }
            }
        }
        self.wants_settings.set(message.open_settings);
        let level = match message.level {
            Level::Info => shell::Level::Info,
            Level::Warning => shell::Level::Warning,
            Level::Error => shell::Level::Error,
        };
        if let Err(e) = shell::balloon(self.id, &message.summary, &message.body, level) {
            tracing::warn!(error = %e, "cannot show a notification");
        }
    }

    /// Removes the icon (tray-icon does when it is dropped), the subclass first.
    pub(super) fn shutdown(self) {
        drop(self.clicks);
        drop(self.tray);
    }
}

/// The main thread's loop: Windows messages (the icon's, the menu's) and ours, one at a
/// time, until Quit.
pub(super) fn run_loop(app: &mut TrayApp, ui: Receiver<UiMsg>) {
    let Some(mut event_loop) = app.tray.event_loop.take() else {
        return;
    };
    let proxy = event_loop.create_proxy();
    let forwarder = std::thread::Builder::new()
        .name("tray-messages".into())
        .spawn(move || {
            while let Ok(msg) = ui.recv() {
                if proxy.send_event(msg).is_err() {
                    break;
                }
            }
        });
    if let Err(e) = forwarder {
        tracing::error!(error = %e, "cannot start the tray's message thread");
        return;
    }
    event_loop.run_return(|event, _, flow| {
        *flow = ControlFlow::Wait;
        if let Event::UserEvent(msg) = event
            && !app.handle(msg)
        {
            *flow = ControlFlow::Exit;
        }
    });
}

/// Sends the engine's events that deserve a notification to the main thread, where the
/// icon is.
pub(super) async fn follow(engine: EngineHandle, ui: Sender<UiMsg>) {
    let mut events = engine.subscribe();
    loop {
        let event = match events.recv().await {
            Ok(event) => event,
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => break,
        };
        if let Some(message) = notify::message(&event, engine.status().notify_success)
            && ui.send(UiMsg::Notify(message)).is_err()
        {
            break;
        }
    }
}

fn picture(state: TrayState, size: u32) -> Result<tray_icon::Icon, String> {
    let (rgba, width, height) = state
        .rgba(size)
        .ok_or_else(|| format!("the {state:?} tray icon does not decode"))?;
    tray_icon::Icon::from_rgba(rgba, width, height).map_err(|e| e.to_string())
}

/// A tooltip holds 127 UTF-16 units: longer ones are cut with an ellipsis.
fn tip(text: &str) -> String {
    const ROOM: usize = 127;
    if text.encode_utf16().count() <= ROOM {
        return text.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        if used + c.len_utf16() > ROOM - 1 {
            break;
        }
        used += c.len_utf16();
        out.push(c);
    }
    out.push('…');
    out
}

/// A Windows menu label shows text as written: `&` marks a mnemonic otherwise.
fn label(text: &str) -> String {
    text.replace('&', "&&")
}

/// The menu entries as a native menu. An item's id names its action ([`action`]).
fn native_menu(entries: &[Entry]) -> Menu {
    let menu = Menu::new();
    for entry in entries {
        let item: Box<dyn IsMenuItem> = match entry {
            Entry::Item {
                text,
                enabled,
                action,
            } => Box::new(MenuItem::with_id(
                action.as_ref().map_or_else(|| "none".to_owned(), id),
                label(text),
                *enabled,
                None,
            )),
            Entry::Check {
                text,
                checked,
                action,
            } => Box::new(CheckMenuItem::with_id(
                id(action),
                label(text),
                true,
                *checked,
                None,
            )),
            Entry::Separator => Box::new(PredefinedMenuItem::separator()),
        };
        if let Err(e) = menu.append(item.as_ref()) {
            tracing::warn!(error = %e, "cannot build the tray menu");
        }
    }
    menu
}

/// A menu item's id for an action.
fn id(action: &Action) -> String {
    match action {
        Action::Settings => "settings".into(),
        Action::CheckNow => "check".into(),
        Action::Pause(true) => "pause".into(),
        Action::Pause(false) => "resume".into(),
        Action::Offline => "offline".into(),
        Action::Copy(address) => format!("copy {address}"),
        Action::Quit => "quit".into(),
    }
}

/// The action a menu item's id names.
fn action(id: &str) -> Option<Action> {
    Some(match id {
        "settings" => Action::Settings,
        "check" => Action::CheckNow,
        "pause" => Action::Pause(true),
        "resume" => Action::Pause(false),
        "offline" => Action::Offline,
        "quit" => Action::Quit,
        other => Action::Copy(other.strip_prefix("copy ")?.parse::<IpAddr>().ok()?),
    })
}

/// For a program whose path cannot be read.
const DEFAULT_GUID: u128 = 0x5d1c_0d7e_7a0e_8f3b_9c21_4b6e_2f80_a1d4;

/// The icon's GUID, one per place the program is installed. The shell keys the user's
/// "show this icon" choice on it; and it ties a GUID to the program path that first
/// used it, refusing it from another path, so a second copy (a portable one, a build
/// tree) must not reuse the installed copy's GUID. FNV-1a over the path, marked as an
/// RFC 9562 version 8 (custom) UUID.
fn guid_for(exe: &Path) -> u128 {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    let path = exe.to_string_lossy().to_lowercase();
    let hash = path.bytes().fold(OFFSET, |hash, byte| {
        (hash ^ u128::from(byte)).wrapping_mul(PRIME)
    });
    let versioned = (hash & !(0xf << 76)) | (0x8 << 76);
    (versioned & !(0x3 << 62)) | (0x2 << 62)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_survives_its_menu_id() {
        for action in [
            Action::Settings,
            Action::CheckNow,
            Action::Pause(true),
            Action::Pause(false),
            Action::Offline,
            Action::Copy("81.2.69.160".parse().unwrap()),
            Action::Copy("2001:db8::1".parse().unwrap()),
            Action::Quit,
        ] {
            assert_eq!(super::action(&id(&action)), Some(action));
        }
        assert_eq!(super::action("none"), None);
        assert_eq!(super::action("copy nonsense"), None);
    }

    #[test]
    fn the_native_menu_holds_every_entry_with_its_action() {
        use tray_icon::menu::MenuItemKind;
        let entries = vec![
            Entry::Item {
                text: "Dyntray: Up to date".into(),
                enabled: false,
                action: None,
            },
            Entry::Item {
                text: "✓ R&D.example.org — up to date".into(),
                enabled: true,
                action: Some(Action::Settings),
            },
            Entry::Separator,
            Entry::Check {
                text: "Pause updates",
                checked: true,
                action: Action::Pause(false),
            },
            Entry::Item {
                text: "Quit".into(),
                enabled: true,
                action: Some(Action::Quit),
            },
        ];
        let menu = native_menu(&entries);
        let items: Vec<(String, String, bool, Option<bool>)> = menu
            .items()
            .into_iter()
            .filter_map(|item| match item {
                MenuItemKind::MenuItem(i) => {
                    Some((i.id().0.clone(), i.text(), i.is_enabled(), None))
                }
                MenuItemKind::Check(i) => Some((
                    i.id().0.clone(),
                    i.text(),
                    i.is_enabled(),
                    Some(i.is_checked()),
                )),
                MenuItemKind::Predefined(_) => Some(("-".into(), "-".into(), true, None)),
                _ => None,
            })
            .collect();
        let want = |id: &str, text: &str, enabled: bool, checked: Option<bool>| {
            (id.to_owned(), text.to_owned(), enabled, checked)
        };
        assert_eq!(
            items,
            [
                want("none", "Dyntray: Up to date", false, None),
                want("settings", "✓ R&&D.example.org — up to date", true, None),
                want("-", "-", true, None),
                want("resume", "Pause updates", true, Some(true)),
                want("quit", "Quit", true, None),
            ]
        );
    }

    #[test]
    fn tooltips_fit_and_labels_show_ampersands() {
        assert_eq!(tip("short"), "short");
        let long = tip(&"é".repeat(300));
        assert_eq!(long.encode_utf16().count(), 127);
        assert!(long.ends_with('…'));
        assert_eq!(label("Tom & Jerry"), "Tom && Jerry");
    }

    #[test]
    fn one_guid_per_install_place() {
        let a = guid_for(Path::new(
            r"C:\Users\a\AppData\Local\Programs\Dyntray\dyntray.exe",
        ));
        let b = guid_for(Path::new(
            r"C:\Users\b\AppData\Local\Programs\Dyntray\dyntray.exe",
        ));
        assert_ne!(a, b);
        // Windows paths are case-insensitive.
        let upper = guid_for(Path::new(
            r"C:\USERS\A\APPDATA\LOCAL\PROGRAMS\DYNTRAY\DYNTRAY.EXE",
        ));
        assert_eq!(a, upper);
        assert_eq!((a >> 76) & 0xf, 8, "version 8");
        assert_eq!((a >> 62) & 0x3, 2, "RFC variant");
    }
}
