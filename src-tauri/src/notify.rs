//! Desktop notifications for what the engine reports: one per request that succeeded
//! (several names together give one notification), one per refusal with the provider's
//! words and what to do, one when no address can be found for a while, reminders. Never
//! one per retry: the engine only reports these events.

use dyntray_engine::engine::{EngineEvent, EngineHandle};
use dyntray_engine::text::{markup_escaped, visible};
use notify_rust::{Notification, Timeout, Urgency};
use tokio::sync::broadcast;

/// Shows notifications for the engine's events until it stops. Clicking one (its default
/// action, where the notification server supports actions) calls `open_settings`.
pub(crate) async fn follow(
    engine: EngineHandle,
    open_settings: impl Fn() + Clone + Send + Sync + 'static,
) {
    let mut events = engine.subscribe();
    loop {
        let event = match events.recv().await {
            Ok(event) => event,
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => break,
        };
        let Some(notification) = render(&event, engine.status().notify_success) else {
            continue;
        };
        // The D-Bus calls block (waiting for a click lasts as long as the notification
        // does): each notification gets a blocking task of its own.
        let open = open_settings.clone();
        tokio::task::spawn_blocking(move || match notification.show() {
            Ok(handle) => handle.wait_for_action(|action| {
                if action == "default" {
                    open();
                }
            }),
            Err(e) => tracing::warn!(error = %e, "cannot show a desktop notification"),
        });
    }
}

/// Says that the engine stopped by itself and the tray is quitting (shown before the
/// process exits with an error, so it is shown synchronously).
pub(crate) fn engine_crashed(message: &str) {
    let body = markup_escaped(&visible(&format!(
        "Its engine failed ({message}). No names are updated until Dyntray is started again; \
         the log says more."
    )));
    let shown = Notification::new()
        .appname("Dyntray")
        .icon("dialog-error")
        .summary("Dyntray stopped working")
        .body(&body)
        .urgency(Urgency::Critical)
        .timeout(Timeout::Never)
        .show();
    if let Err(e) = shown {
        tracing::warn!(error = %e, "cannot show a desktop notification");
    }
}

/// The notification for an event, if it deserves one.
fn render(event: &EngineEvent, notify_success: bool) -> Option<Notification> {
    let mut n = Notification::new();
    n.appname("Dyntray")
        .icon("network-transmit-receive")
        .action("default", "Open Settings");
    render_text(&mut n, event, notify_success)?;
    // Servers may read the body as markup; what comes from a provider is text.
    n.body = markup_escaped(&visible(&n.body));
    n.summary = visible(&n.summary);
    Some(n)
}

/// The name people know a provider by (`DynDNS` for `dyndns`).
fn provider_name(id: &str) -> &str {
    dyntray_engine::provider::lookup(id).map_or(id, |p| p.descriptor().name)
}

fn render_text(n: &mut Notification, event: &EngineEvent, notify_success: bool) -> Option<()> {
    match event {
        EngineEvent::Updated {
            names,
            address,
            provider,
        } => {
            if !notify_success {
                return None;
            }
            let summary = match names.as_slice() {
                [one] => format!("{one} updated"),
                many => format!("{} names updated", many.len()),
            };
            let provider = provider_name(provider);
            let body = match (names.as_slice(), address) {
                ([_], Some(a)) => format!("It now points at {a} ({provider})."),
                ([_], None) => format!("It shows as offline ({provider})."),
                (many, Some(a)) => format!("{} now point at {a} ({provider}).", many.join(", ")),
                (many, None) => format!("{} show as offline ({provider}).", many.join(", ")),
            };
            n.summary(&summary)
                .body(&body)
                .timeout(Timeout::Milliseconds(8000));
        }
        EngineEvent::Refused {
            names,
            provider,
            code: _,
            answer,
            advice,
        } => {
            // The provider's own words once, then what to do; its code is in Settings.
            let provider = provider_name(provider);
            n.summary(&format!("{provider} refused {}", names.join(", ")))
                .body(&format!("{provider} answered \u{201c}{answer}\u{201d}. {advice} Dyntray sends nothing more for it until then."))
                .urgency(Urgency::Critical)
                .timeout(Timeout::Never);
        }
        EngineEvent::ConfigRejected { message } => {
            n.summary("Config file not applied")
                .body(message)
                .urgency(Urgency::Critical);
        }
        EngineEvent::NoAddress { reason } => {
            n.summary("No public address found")
                .body(&format!("Nothing is updated until one is found: {reason}"))
                .urgency(Urgency::Normal);
        }
        EngineEvent::Reminder { name, message } => {
            n.summary(&format!("Confirm {name}")).body(message);
        }
        _ => return None,
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn updated(names: &[&str]) -> EngineEvent {
        EngineEvent::Updated {
            names: names.iter().map(|s| (*s).to_owned()).collect(),
            address: Some("81.2.69.160".parse().unwrap()),
            provider: "dyndns".into(),
        }
    }

    #[test]
    fn one_notification_per_request_in_plain_words() {
        let one = render(&updated(&["a.example.org"]), true).unwrap();
        assert_eq!(one.summary, "a.example.org updated");
        assert_eq!(one.body, "It now points at 81.2.69.160 (DynDNS).");
        let many = render(&updated(&["a.example.org", "b.example.org"]), true).unwrap();
        assert_eq!(many.summary, "2 names updated");
        assert_eq!(
            many.body,
            "a.example.org, b.example.org now point at 81.2.69.160 (DynDNS)."
        );
    }

    #[test]
    fn success_can_be_silenced_but_refusals_cannot() {
        assert!(render(&updated(&["a.example.org"]), false).is_none());
        let refused = EngineEvent::Refused {
            names: vec!["a.example.org".into()],
            provider: "dyndns".into(),
            code: "abuse".into(),
            answer: "abuse".into(),
            advice: "Unblock it on the provider's website.".into(),
        };
        let n = render(&refused, false).unwrap();
        // The provider's name people know, its words once, no internal code.
        assert_eq!(n.summary, "DynDNS refused a.example.org");
        assert_eq!(
            n.body,
            "DynDNS answered \u{201c}abuse\u{201d}. Unblock it on the provider's website. \
             Dyntray sends nothing more for it until then."
        );
    }

    #[test]
    fn provider_words_are_text_not_markup() {
        let refused = EngineEvent::Refused {
            names: vec!["a.example.org".into()],
            provider: "dyndns2".into(),
            code: "badauth".into(),
            answer: "<a href=\"https://evil.example/login\">log in again</a>\x1b[2J".into(),
            advice: "Fix the password & re-enable it.".into(),
        };
        let n = render(&refused, true).unwrap();
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
}
