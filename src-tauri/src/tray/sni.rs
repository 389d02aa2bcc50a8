//! The tray icon on Linux: a StatusNotifierItem over D-Bus with ksni (no GTK, no
//! WebKit). ksni serves it from a thread of its own; its callbacks only send messages to
//! the main thread, which sleeps on the channel of [`UiMsg`].

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender};
use std::time::Duration;

use dyntray_engine::paths;
use ksni::blocking::TrayMethods;
use tokio::sync::watch;

use super::{Action, Entry, TrayApp, TrayView, UiMsg};
use crate::tray_icons::{self, TrayState};

/// The StatusNotifierItem: what ksni serves over D-Bus. Its callbacks run on ksni's
/// thread and only send messages to the main thread.
pub(super) struct SniTray {
    ui: Sender<UiMsg>,
    view: TrayView,
    pixmaps: Vec<ksni::Icon>,
    /// The folder of [`tray_icons::install_theme`], if it could be written.
    theme_path: Option<PathBuf>,
    symbolic: bool,
    /// What app_info says while no tray host shows the icon.
    hint: String,
    tray_hint: watch::Sender<Option<String>>,
}

impl SniTray {
    fn set_view(&mut self, view: TrayView) {
        if view.state != self.view.state {
            self.pixmaps = view.state.pixmaps();
        }
        self.view = view;
    }

    fn send(&self, action: Action) {
        let _ = self.ui.send(UiMsg::Action(action));
    }
}

/// A dbusmenu label shows text as written: its underscores are mnemonics otherwise.
fn label(text: &str) -> String {
    text.replace('_', "__")
}

fn ksni_item(entry: Entry) -> ksni::MenuItem<SniTray> {
    let send = |action: Action| Box::new(move |tray: &mut SniTray| tray.send(action.clone()));
    match entry {
        Entry::Item {
            text,
            enabled,
            action,
        } => ksni::menu::StandardItem {
            label: label(&text),
            enabled,
            activate: match action {
                Some(action) => send(action),
                None => Box::new(|_: &mut SniTray| {}),
            },
            ..Default::default()
        }
        .into(),
        Entry::Check {
            text,
            checked,
            action,
        } => ksni::menu::CheckmarkItem {
            label: label(text),
            checked,
            activate: send(action),
            ..Default::default()
        }
        .into(),
        Entry::Separator => ksni::MenuItem::Separator,
    }
}

impl ksni::Tray for SniTray {
    fn id(&self) -> String {
        "dyntray".into()
    }

    fn title(&self) -> String {
        "Dyntray".into()
    }

    fn category(&self) -> ksni::Category {
        ksni::Category::ApplicationStatus
    }

    fn status(&self) -> ksni::Status {
        if self.view.state == TrayState::Attention {
            ksni::Status::NeedsAttention
        } else {
            ksni::Status::Active
        }
    }

    fn activate(&mut self, _x: i32, _y: i32) {
        self.send(Action::Settings);
    }

    fn icon_theme_path(&self) -> String {
        self.theme_path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    }

    fn icon_name(&self) -> String {
        match self.theme_path {
            Some(_) => self.view.state.icon_name(self.symbolic),
            None => String::new(),
        }
    }

    fn icon_pixmap(&self) -> Vec<ksni::Icon> {
        self.pixmaps.clone()
    }

    fn attention_icon_name(&self) -> String {
        self.icon_name()
    }

    fn attention_icon_pixmap(&self) -> Vec<ksni::Icon> {
        self.pixmaps.clone()
    }

    fn tool_tip(&self) -> ksni::ToolTip {
        ksni::ToolTip {
            title: "Dyntray".into(),
            description: self.view.tooltip.clone(),
            ..Default::default()
        }
    }

    fn menu(&self) -> Vec<ksni::MenuItem<Self>> {
        super::menu(&self.view).into_iter().map(ksni_item).collect()
    }

    fn watcher_online(&self) {
        tracing::info!("a tray host appeared; the tray icon shows");
        self.tray_hint.send_replace(None);
    }

    fn watcher_offline(&self, reason: ksni::OfflineReason) -> bool {
        tracing::warn!(
            ?reason,
            "no tray host (StatusNotifierWatcher) shows the tray icon"
        );
        self.tray_hint.send_replace(Some(self.hint.clone()));
        // Keep serving: the icon shows as soon as a host appears.
        true
    }
}

/// The icon as the main thread holds it: a handle on ksni's service.
pub(super) struct Icon(ksni::blocking::Handle<SniTray>);

impl Icon {
    /// Serves the icon. A missing tray host is not an error: the item waits for one (ksni
    /// calls `watcher_offline` now and `watcher_online` when a host appears), and `hint`
    /// says meanwhile how to get one.
    pub(super) fn start(
        ui: Sender<UiMsg>,
        view: TrayView,
        hint: watch::Sender<Option<String>>,
    ) -> Result<Self, String> {
        let desktop = std::env::var("XDG_CURRENT_DESKTOP").ok();
        let symbolic = tray_icons::wants_symbolic(
            std::env::var("DYNTRAY_TRAY_ICONS").ok().as_deref(),
            desktop.as_deref(),
        );
        // Hosts that look icons up by name find every size (and the symbolic variant)
        // here; without the folder they still get the pixmaps.
        let theme_path = paths::control_socket()
            .parent()
            .map(|dir| dir.join("icons"))
            .filter(|dir| match tray_icons::install_theme(dir) {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "cannot write the tray icons");
                    false
                }
            });
        let sni = SniTray {
            ui,
            pixmaps: view.state.pixmaps(),
            view,
            theme_path,
            symbolic,
            hint: tray_icons::tray_hint(desktop.as_deref()),
            tray_hint: hint,
        };
        sni.assume_sni_available(true)
            .spawn()
            .map(Self)
            .map_err(|e| format!("cannot create the tray icon (is a D-Bus session running?): {e}"))
    }

    pub(super) fn show(&self, view: TrayView) {
        if self.0.update(move |tray| tray.set_view(view)).is_none() {
            tracing::warn!("the tray icon service has stopped");
        }
    }

    pub(super) fn shutdown(self) {
        // The "Quit" click arrived as a D-Bus call that the tray thread answers just after
        // handing it to us: give that reply a moment to leave before the connection closes.
        std::thread::sleep(Duration::from_millis(100));
        self.0.shutdown().wait();
    }
}

/// The main thread's loop: one message at a time until Quit.
pub(super) fn run_loop(app: &mut TrayApp, ui: Receiver<UiMsg>) {
    while let Ok(msg) = ui.recv() {
        if !app.handle(msg) {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_underscores_are_shown_as_written() {
        let entry = Entry::Item {
            text: "✓ my_host.example.org — up to date".into(),
            enabled: true,
            action: Some(Action::Settings),
        };
        let ksni::MenuItem::Standard(item) = ksni_item(entry) else {
            panic!("a plain entry is a standard item");
        };
        assert_eq!(item.label, "✓ my__host.example.org — up to date");
        assert!(item.enabled);
    }
}
