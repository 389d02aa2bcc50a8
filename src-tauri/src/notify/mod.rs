//! What Dyntray tells the user on the desktop, whatever shows it: one notification per
//! request that succeeded (several names together give one), one per refusal with the
//! provider's words and what to do, one when no address can be found for a while,
//! reminders. Never one per retry: the engine only reports these events.
//!
//! The words are made here, once; [`xdg`] shows them as freedesktop notifications on
//! Linux; on Windows they are toasts where the installer registered Dyntray for them
//! (`toast`), else balloons from the tray's notification-area icon.

#[cfg(windows)]
pub(crate) mod toast;
#[cfg(target_os = "linux")]
pub(crate) mod xdg;

use dyntray_engine::engine::EngineEvent;
use dyntray_engine::text::visible;

/// How much a message matters: the icon it gets, and whether it may interrupt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Info,
    Warning,
    Error,
}

/// One notification, in plain text (a provider's words are text, never markup).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    pub(crate) summary: String,
    pub(crate) body: String,
    pub(crate) level: Level,
    /// Stays until the user dismisses it (or, where the platform can, until fixed).
    pub(crate) sticky: bool,
    /// Asks the user to act: clicking it opens Settings.
    pub(crate) open_settings: bool,
}

impl Message {
    fn new(summary: String, body: String, level: Level) -> Self {
        Self {
            summary: visible(&summary),
            body: visible(&body),
            level,
            sticky: false,
            open_settings: false,
        }
    }
}

/// The name people know a provider by (`DynDNS` for `dyndns`).
fn provider_name(id: &str) -> &str {
    dyntray_engine::provider::lookup(id).map_or(id, |p| p.descriptor().name)
}

/// The message for an event, if it deserves one.
pub(crate) fn message(event: &EngineEvent, notify_success: bool) -> Option<Message> {
    let message = match event {
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
            // News, not a task: it goes away as the others do.
            Message::new(summary, body, Level::Info)
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
            Message {
                sticky: true,
                open_settings: true,
                ..Message::new(
                    format!("{provider} refused {}", names.join(", ")),
                    format!(
                        "{provider} answered \u{201c}{answer}\u{201d}. {advice} Dyntray sends \
                         nothing more for it until then."
                    ),
                    Level::Error,
                )
            }
        }
        EngineEvent::ConfigRejected { message } => Message {
            open_settings: true,
            // Dyntray's own words, a problem per line: the lines stay lines.
            body: message.lines().map(visible).collect::<Vec<_>>().join("\n"),
            ..Message::new(
                "Config file not applied".into(),
                String::new(),
                Level::Error,
            )
        },
        EngineEvent::NoAddress { reason } => Message::new(
            "No public address found".into(),
            format!("Nothing is updated until one is found: {reason}"),
            Level::Warning,
        ),
        EngineEvent::Reminder { name, message } => Message {
            open_settings: true,
            ..Message::new(format!("Confirm {name}"), message.clone(), Level::Info)
        },
        _ => return None,
    };
    Some(message)
}

/// Says that the engine stopped by itself and the tray is quitting.
pub(crate) fn engine_crashed(message: &str) -> Message {
    Message {
        sticky: true,
        ..Message::new(
            "Dyntray stopped working".into(),
            format!(
                "Its engine failed ({message}). No names are updated until Dyntray is started \
                 again; the log says more."
            ),
            Level::Error,
        )
    }
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
        let one = message(&updated(&["a.example.org"]), true).unwrap();
        assert!(!one.sticky);
        assert!(!one.open_settings, "news, nothing to do");
        assert_eq!(one.level, Level::Info);
        assert_eq!(one.summary, "a.example.org updated");
        assert_eq!(one.body, "It now points at 81.2.69.160 (DynDNS).");
        let many = message(&updated(&["a.example.org", "b.example.org"]), true).unwrap();
        assert_eq!(many.summary, "2 names updated");
        assert_eq!(
            many.body,
            "a.example.org, b.example.org now point at 81.2.69.160 (DynDNS)."
        );
    }

    #[test]
    fn success_can_be_silenced_but_refusals_cannot() {
        assert!(message(&updated(&["a.example.org"]), false).is_none());
        let refused = EngineEvent::Refused {
            names: vec!["a.example.org".into()],
            provider: "dyndns".into(),
            code: "abuse".into(),
            answer: "abuse".into(),
            advice: "Unblock it on the provider's website.".into(),
        };
        let m = message(&refused, false).unwrap();
        assert!(m.sticky, "a refusal stays until read or fixed");
        assert!(m.open_settings);
        assert_eq!(m.level, Level::Error);
        // The provider's name people know, its words once, no internal code.
        assert_eq!(m.summary, "DynDNS refused a.example.org");
        assert_eq!(
            m.body,
            "DynDNS answered \u{201c}abuse\u{201d}. Unblock it on the provider's website. \
             Dyntray sends nothing more for it until then."
        );
    }

    #[test]
    fn a_config_problem_keeps_its_lines_a_provider_answer_does_not() {
        let rejected = EngineEvent::ConfigRejected {
            message: "config.toml has 2 problems:\n  line 3: bad\x1b\n  line 9: worse".into(),
        };
        let m = message(&rejected, true).unwrap();
        assert_eq!(
            m.body,
            "config.toml has 2 problems:\n  line 3: bad\\x1b\n  line 9: worse"
        );
        assert!(m.open_settings);
        // A provider cannot start a line of its own in Dyntray's words.
        let refused = EngineEvent::Refused {
            names: vec!["a.example.org".into()],
            provider: "dyndns".into(),
            code: "badauth".into(),
            answer: "badauth\nDyntray: type your password at evil.example".into(),
            advice: "Fix the password.".into(),
        };
        let m = message(&refused, true).unwrap();
        assert!(!m.body.contains('\n'), "{}", m.body);
    }

    #[test]
    fn control_characters_from_a_provider_are_made_visible() {
        let refused = EngineEvent::Refused {
            names: vec!["a.example.org".into()],
            provider: "dyndns2".into(),
            code: "badauth".into(),
            answer: "log in again\x1b[2J".into(),
            advice: "Fix the password.".into(),
        };
        let m = message(&refused, true).unwrap();
        assert!(
            m.body.contains("\\x1b[2J") && !m.body.contains('\x1b'),
            "{}",
            m.body
        );
    }
}
