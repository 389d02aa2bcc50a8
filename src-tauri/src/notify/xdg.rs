//! The messages as freedesktop notifications (over D-Bus, through notify-rust): a
//! refusal carries an "Open Settings" action and is withdrawn once its names work again.

use std::sync::{Arc, Mutex, PoisonError};

use dyntray_engine::engine::{EngineEvent, EngineHandle, Phase, Status};
use dyntray_engine::text::markup_escaped;
use notify_rust::{Notification, Timeout, Urgency};
use tokio::sync::{broadcast, watch};

use super::{Level, Message};

/// A refusal notification on screen: it stays until dismissed or until its names work
/// again.
#[derive(Debug)]
struct Live {
    id: u32,
    names: Vec<String>,
}

/// The refusal notifications on screen. Locked only for a push, a scan or a removal;
/// never across an `.await`.
type LiveList = Arc<Mutex<Vec<Live>>>;

/// Shows notifications for the engine's events until it stops, and withdraws a refusal
/// notification once its names are up to date again. The ones that ask the user to act
/// carry an "Open Settings" action, which calls `open_settings`.
pub(crate) async fn follow(
    engine: EngineHandle,
    open_settings: impl Fn() + Clone + Send + Sync + 'static,
) {
    let mut events = engine.subscribe();
    let mut status = engine.watch_status();
    let live: LiveList = Arc::default();
    loop {
        tokio::select! {
            event = events.recv() => {
                let event = match event {
                    Ok(event) => event,
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => break,
                };
                let Some(message) = super::message(&event, engine.status().notify_success) else {
                    continue;
                };
                let notification = notification(&message);
                let names = match &event {
                    EngineEvent::Refused { names, .. } => Some(names.clone()),
                    _ => None,
                };
                show(notification, names, &live, status.clone(), open_settings.clone());
            }
            changed = status.changed() => {
                if changed.is_err() {
                    break;
                }
                let fixed = take_fixed(&live, &status.borrow_and_update());
                for id in fixed {
                    tokio::task::spawn_blocking(move || close(id));
                }
            }
        }
    }
}

/// Shows one notification. One that carries an action gets a blocking thread of its own
/// that waits for the click (notify-rust waits on the connection that sent it, which
/// some servers require); the thread ends when the notification is closed, by the user,
/// its timeout or [`close`]. So at most one thread per notification on screen.
fn show(
    notification: Notification,
    refused: Option<Vec<String>>,
    live: &LiveList,
    status: watch::Receiver<Status>,
    open: impl Fn() + Send + 'static,
) {
    let live = Arc::clone(live);
    let waits = !notification.actions.is_empty();
    // A thread of its own, not Tokio's blocking pool: a refusal can stay for days, and
    // quitting must not wait for it.
    let spawned = std::thread::Builder::new()
        .name("notification".into())
        .spawn(move || {
            let handle = match notification.show() {
                Ok(handle) => handle,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot show a desktop notification");
                    return;
                }
            };
            let id = handle.id();
            if let Some(names) = refused {
                live.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(Live { id, names });
                // Fixed while it was being shown: withdraw it now.
                for id in take_fixed(&live, &status.borrow()) {
                    close(id);
                }
            }
            if waits {
                handle.wait_for_action(|action| {
                    if action == "default" || action == "settings" {
                        open();
                    }
                });
                forget(&live, id);
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot show a desktop notification");
    }
}

fn forget(live: &LiveList, id: u32) {
    live.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .retain(|l| l.id != id);
}

/// The refusal notifications whose names are all up to date again (or gone from the
/// config), taken off the list.
fn take_fixed(live: &LiveList, status: &Status) -> Vec<u32> {
    if status.config_error.is_some() {
        // No records to judge by: nothing is known to be fixed.
        return Vec::new();
    }
    let works = |name: &String| {
        status
            .records
            .iter()
            .filter(|r| &r.name == name)
            .all(|r| r.phase == Phase::Ok)
    };
    let mut live = live.lock().unwrap_or_else(PoisonError::into_inner);
    let (fixed, open): (Vec<Live>, Vec<Live>) =
        live.drain(..).partition(|l| l.names.iter().all(works));
    *live = open;
    fixed.into_iter().map(|l| l.id).collect()
}

/// Withdraws a notification (CloseNotification): its thread, if any, sees it closed.
fn close(id: u32) {
    let closed = zbus::block_on(async {
        let connection = zbus::Connection::session().await?;
        connection
            .call_method(
                Some("org.freedesktop.Notifications"),
                "/org/freedesktop/Notifications",
                Some("org.freedesktop.Notifications"),
                "CloseNotification",
                &id,
            )
            .await
            .map(drop)
    });
    match closed {
        Ok(()) => tracing::info!(id, "refusal fixed: notification withdrawn"),
        Err(e) => tracing::warn!(id, error = %e, "cannot withdraw a notification"),
    }
}

/// Says that the engine stopped by itself and the tray is quitting (shown before the
/// process exits with an error, so it is shown synchronously).
pub(crate) fn engine_crashed(message: &str) {
    let mut n = notification(&super::engine_crashed(message));
    n.icon("dialog-error");
    if let Err(e) = n.show() {
        tracing::warn!(error = %e, "cannot show a desktop notification");
    }
}

/// The notification for a message.
fn notification(message: &Message) -> Notification {
    let mut n = Notification::new();
    n.appname("Dyntray")
        .icon("network-transmit-receive")
        .summary(&message.summary)
        // Servers may read the body as markup; what comes from a provider is text.
        .body(&markup_escaped(&message.body));
    match message.level {
        Level::Error => n.urgency(Urgency::Critical),
        Level::Info | Level::Warning => n.urgency(Urgency::Normal),
    };
    n.timeout(if message.sticky {
        Timeout::Never
    } else {
        Timeout::Default
    });
    if message.open_settings {
        // Clicking the notification ("default", where the server has it) or its button
        // opens Settings.
        n.action("default", "Open Settings")
            .action("settings", "Open Settings");
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(answer: &str, advice: &str) -> EngineEvent {
        EngineEvent::Refused {
            names: vec!["a.example.org".into()],
            provider: "dyndns2".into(),
            code: "badauth".into(),
            answer: answer.into(),
            advice: advice.into(),
        }
    }

    #[test]
    fn a_refusal_stays_and_offers_settings_news_goes() {
        let n =
            notification(&super::super::message(&refused("abuse", "Unblock it."), true).unwrap());
        assert_eq!(n.timeout, Timeout::Never);
        assert!(n.actions.contains(&"settings".to_owned()));
        let news = EngineEvent::Updated {
            names: vec!["a.example.org".into()],
            address: Some("81.2.69.160".parse().unwrap()),
            provider: "dyndns".into(),
        };
        let n = notification(&super::super::message(&news, true).unwrap());
        assert_eq!(n.timeout, Timeout::Default);
        assert!(n.actions.is_empty());
    }

    #[test]
    fn provider_words_are_text_not_markup() {
        let event = refused(
            "<a href=\"https://evil.example/login\">log in again</a>\x1b[2J",
            "Fix the password & re-enable it.",
        );
        let n = notification(&super::super::message(&event, true).unwrap());
        assert!(!n.body.contains("<a"), "{}", n.body);
        assert!(
            n.body
                .contains("&lt;a href=\"https://evil.example/login\"&gt;log in again&lt;/a&gt;"),
            "{}",
            n.body
        );
        assert!(
            n.body.contains("\\x1b[2J") && !n.body.contains('\x1b'),
            "{}",
            n.body
        );
        assert!(n.body.contains("password &amp; re-enable"), "{}", n.body);
    }

    #[test]
    fn a_refusal_is_withdrawn_only_when_all_its_names_work() {
        let record = |name: &str, phase: Phase| dyntray_engine::engine::RecordStatus {
            key: format!("home/{name}/A"),
            name: name.into(),
            account: "home".into(),
            provider: "dyndns".into(),
            provider_name: "DynDNS".into(),
            family: "A".into(),
            phase,
            address: None,
            last_update_at: None,
            last_attempt_at: None,
            last_answer: None,
            disabled: None,
            next_attempt_at: None,
            note: None,
            has_offline: false,
            cure: None,
        };
        let live: LiveList = Arc::new(Mutex::new(vec![
            Live {
                id: 1,
                names: vec!["a.example.org".into(), "b.example.org".into()],
            },
            Live {
                id: 2,
                names: vec!["c.example.org".into()],
            },
        ]));
        let mut status = Status {
            records: vec![
                record("a.example.org", Phase::Ok),
                record("b.example.org", Phase::Disabled),
                record("c.example.org", Phase::Disabled),
            ],
            ..Status::default()
        };
        assert!(take_fixed(&live, &status).is_empty());
        status.records[1].phase = Phase::Ok;
        assert_eq!(take_fixed(&live, &status), [1]);
        assert_eq!(take_fixed(&live, &status), Vec::<u32>::new(), "taken once");
        // A broken config says nothing about the names.
        status.records.clear();
        status.config_error = Some("line 1".into());
        assert!(take_fixed(&live, &status).is_empty());
        // A name removed from the config needs no refusal on screen.
        status.config_error = None;
        assert_eq!(take_fixed(&live, &status), [2]);
    }
}
