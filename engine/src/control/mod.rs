//! The local control API: how other processes on this machine talk to a running engine.
//!
//! Transport: a Unix domain socket in the user's runtime directory (directory mode 0700,
//! socket 0600, and every peer's uid checked against ours). Messages are JSON objects, one
//! per line, at most [`MAX_MESSAGE_BYTES`] long, each carrying the protocol version `v`.
//!
//! ```text
//! → {"v":1,"id":1,"method":"app_info"}
//! ← {"v":1,"id":1,"result":{"version":"0.1.0",...}}
//! → {"v":1,"id":2,"method":"subscribe"}
//! ← {"v":1,"id":2,"result":null}
//! ← {"v":1,"event":{"kind":"show_settings"}}
//! → {"v":1,"id":3,"method":"nope"}
//! ← {"v":1,"id":3,"error":{"code":"unknown_method","message":"unknown method `nope`; ..."}}
//! ```
//!
//! A line that is not a valid request envelope gets an error reply and the connection is
//! closed; a well-formed request for an unknown method or with bad parameters gets an error
//! reply and the connection stays open.

mod bridge;
mod client;
#[cfg(windows)]
pub(crate) mod pipe;
mod server;
#[cfg(unix)]
mod trust;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use bridge::{engine_request, forward_engine};
pub use client::ControlClient;
pub use server::{BindError, ControlHandler, ControlServer, Limits};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// The longest message line accepted, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// A request to the engine's host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", content = "params", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Request {
    /// Version and file locations of the running instance. Answers [`AppInfo`].
    AppInfo,
    /// Open (or focus) the settings window. Only a desktop host can; `dyntrayd` answers
    /// `unsupported`.
    OpenSettings,
    /// Ask the host to exit cleanly.
    Quit,
    /// Turn this connection into an event stream as well: [`Event`]s follow as they happen.
    Subscribe,
    /// The engine's status. Answers [`crate::engine::Status`].
    Status,
    /// Update history, newest first. Answers a list of [`crate::state::HistoryEntry`].
    History {
        /// One record (key or name), or all.
        #[serde(default)]
        record: Option<String>,
        /// At most this many entries (default 100).
        #[serde(default)]
        limit: Option<u32>,
    },
    /// The provider registry with every descriptor.
    Providers,
    /// Check the address now (and update what changed).
    CheckNow,
    /// Force an update of one record or all (rate-limited). Answers
    /// [`crate::engine::UpdateNowReport`].
    UpdateNow {
        /// One record (key or name), or all.
        #[serde(default)]
        record: Option<String>,
    },
    /// Pause or resume updates.
    Pause {
        /// Paused or not.
        paused: bool,
    },
    /// Go offline (publish offline addresses) or back online.
    SetOffline {
        /// Offline or not.
        offline: bool,
    },
    /// Re-enable a record disabled by a fatal answer (or several: one check for all).
    ReEnable {
        /// The record (key or name).
        record: String,
        /// More records re-enabled with it.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        more: Vec<String>,
    },
    /// Read the config file again.
    Reload,
    /// The config as it is on disk with its revision, for a form that will edit it.
    /// Answers [`crate::engine::ConfigRead`].
    ReadConfig,
    /// Apply one edit to the config file in place (comments and layout kept). Refused
    /// with `stale` when `revision` is not the file's any more (it changed since it was
    /// read), and with `invalid_params` and every problem when the result is not a valid
    /// config. Answers the new revision.
    EditConfig {
        /// The revision the edit is based on ([`Request::ReadConfig`]).
        revision: String,
        /// The edit.
        edit: crate::config_edit::ConfigEdit,
    },
    /// Store an account's secret in the keychain (never echoed back).
    SetSecret {
        /// The account id.
        account: String,
        /// The secret.
        secret: crate::secrets::Secret,
    },
    /// Check an account's credential without changing anything at the provider, where
    /// its API can. Answers a [`crate::provider::CheckResult`]; `unsupported` where only
    /// an update would tell.
    CheckAccount {
        /// The account id.
        account: String,
    },
    /// Ask every address source of a family now (`dyntrayd ip`), minimum intervals
    /// honoured. Answers a list of [`crate::engine::AddressStatus`].
    AskSources {
        /// `A` or `AAAA`; both when absent (the families the records use, or every
        /// family with sources).
        #[serde(default)]
        family: Option<crate::provider::IpFamily>,
    },
    /// Other dynamic DNS clients' configs on this machine (ddclient, inadyn): each
    /// readable with a preview of what an import brings, or with why not and the command
    /// line to use instead. Answers a list of [`crate::import::Offer`].
    FindImports,
    /// Imports another client's config into the running engine: its cached addresses
    /// become the accepted ones, its passwords go into the keychain, the config is edited
    /// in place. Refused with `stale` as [`Request::EditConfig`] is. Answers a
    /// [`crate::import::ImportReport`].
    ApplyImport(crate::engine::ImportAsk),
}

impl Request {
    /// Every method name, for error messages.
    pub const METHODS: &[&str] = &[
        "app_info",
        "open_settings",
        "quit",
        "subscribe",
        "status",
        "history",
        "providers",
        "check_now",
        "update_now",
        "pause",
        "set_offline",
        "re_enable",
        "reload",
        "read_config",
        "edit_config",
        "set_secret",
        "check_account",
        "ask_sources",
        "find_imports",
        "apply_import",
    ];

    /// Builds a request from a method name and its parameters.
    fn from_parts(method: &str, params: serde_json::Value) -> Result<Self, ControlError> {
        if !Self::METHODS.contains(&method) {
            return Err(ControlError::new(
                ErrorCode::UnknownMethod,
                format!(
                    "unknown method `{method}`; this instance knows: {}",
                    Self::METHODS.join(", ")
                ),
            ));
        }
        let parse = |params: serde_json::Value| {
            let mut object = serde_json::Map::new();
            object.insert("method".into(), method.into());
            if !params.is_null() {
                object.insert("params".into(), params);
            }
            serde_json::from_value::<Self>(object.into())
        };
        // Methods whose parameters are all optional may omit `params` altogether.
        let omitted = params.is_null();
        parse(params)
            .or_else(|e| {
                if omitted {
                    parse(serde_json::json!({})).map_err(|_| e)
                } else {
                    Err(e)
                }
            })
            .map_err(|e| {
                ControlError::new(
                    ErrorCode::InvalidParams,
                    format!("bad parameters for `{method}`: {e}"),
                )
            })
    }
}

/// Something that happened, pushed to subscribed connections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// The settings window should come to the front (sent when it is already open).
    ShowSettings,
    /// The host is exiting; clients should close.
    Shutdown,
    /// The engine's status changed.
    Status(Box<crate::engine::Status>),
    /// Something the user may want to hear about.
    Engine {
        /// What happened.
        event: crate::engine::EngineEvent,
    },
}

/// What `app_info` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppInfo {
    /// The engine's version.
    pub version: String,
    /// Which host answers: `dyntray` (desktop) or `dyntrayd` (headless).
    pub host: String,
    /// The host's process id.
    pub pid: u32,
    /// The config file in use.
    pub config_path: PathBuf,
    /// The directory logs are written to, if file logging is on.
    pub log_dir: Option<PathBuf>,
    /// The control socket this instance serves.
    pub socket_path: PathBuf,
    /// How to get a tray icon, in a user's words, while no tray host shows Dyntray's
    /// (`None` when the icon shows, and for `dyntrayd`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tray_hint: Option<String>,
}

/// Why a request failed: the one error type that crosses the control API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ControlError {
    /// What kind of failure, for clients that act on it.
    pub code: ErrorCode,
    /// A sentence for a person.
    pub message: String,
    /// For refused config edits: every problem, by key, for the form to show.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<crate::config::Problem>,
}

impl ControlError {
    /// An error with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            problems: Vec::new(),
        }
    }
}

/// The kinds of [`ControlError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The line was not a request envelope (bad JSON, missing fields, too long).
    BadRequest,
    /// The peer speaks another protocol version.
    UnsupportedVersion,
    /// No such method.
    UnknownMethod,
    /// The method exists but its parameters are wrong.
    InvalidParams,
    /// This host cannot do that (e.g. open a window when headless).
    Unsupported,
    /// No instance is running at that socket, or it went away.
    NotRunning,
    /// What answers at that socket cannot be trusted (another user's socket or
    /// directory, one others can write to, a symlink): nothing was sent to it.
    Untrusted,
    /// The instance has as many connections as it serves; try again shortly.
    Busy,
    /// The host failed doing it; the message says why.
    Failed,
    /// An edit was based on a revision of the config that is not the file's any more:
    /// read it again and redo the edit.
    Stale,
}

/// One line from client to server.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequest {
    v: u32,
    id: u64,
    method: String,
    #[serde(default)]
    params: serde_json::Value,
}

/// One line from server to client: a reply (with `id`) or an event.
#[derive(Debug, Serialize, Deserialize)]
struct Reply {
    v: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    result: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<ControlError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    event: Option<Event>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_from_parts_accepts_unit_methods_without_params() {
        assert_eq!(
            Request::from_parts("app_info", serde_json::Value::Null),
            Ok(Request::AppInfo)
        );
    }

    #[test]
    fn unknown_method_lists_the_known_ones() {
        let err = Request::from_parts("reboot", serde_json::Value::Null).unwrap_err();
        assert_eq!(err.code, ErrorCode::UnknownMethod);
        assert!(err.message.contains("`reboot`"), "{}", err.message);
        assert!(err.message.contains("app_info"), "{}", err.message);
    }

    #[test]
    fn every_listed_method_parses() {
        let params = |method: &str| match method {
            "pause" => serde_json::json!({"paused": true}),
            "set_offline" => serde_json::json!({"offline": true}),
            "re_enable" => serde_json::json!({"record": "a"}),
            "set_secret" => serde_json::json!({"account": "a", "secret": "s3cret"}),
            "check_account" => serde_json::json!({"account": "a"}),
            "apply_import" => serde_json::json!({"client": "ddclient", "revision": "none"}),
            "edit_config" => serde_json::json!({
                "revision": "none",
                "edit": {"op": "remove_account", "id": "a"}
            }),
            _ => serde_json::Value::Null,
        };
        for method in Request::METHODS {
            let parsed = Request::from_parts(method, params(method));
            assert!(parsed.is_ok(), "{method}: {parsed:?}");
            let json = serde_json::to_value(parsed.unwrap()).unwrap();
            assert_eq!(json["method"], *method);
        }
    }

    #[test]
    fn every_request_is_listed_and_every_listed_method_is_a_request() {
        let all = [
            Request::AppInfo,
            Request::OpenSettings,
            Request::Quit,
            Request::Subscribe,
            Request::Status,
            Request::History {
                record: None,
                limit: None,
            },
            Request::Providers,
            Request::CheckNow,
            Request::UpdateNow { record: None },
            Request::Pause { paused: true },
            Request::SetOffline { offline: true },
            Request::ReEnable {
                record: "a".into(),
                more: vec!["b".into()],
            },
            Request::Reload,
            Request::ReadConfig,
            Request::EditConfig {
                revision: "none".into(),
                edit: crate::config_edit::ConfigEdit::RemoveAccount { id: "a".into() },
            },
            Request::SetSecret {
                account: "a".into(),
                secret: crate::secrets::Secret::new("s3cret"),
            },
            Request::AskSources { family: None },
            Request::CheckAccount {
                account: "a".into(),
            },
            Request::FindImports,
            Request::ApplyImport(crate::engine::ImportAsk {
                client: crate::import::Client::Inadyn,
                revision: "none".into(),
                file: None,
                cache: None,
                replace: false,
                no_secrets: false,
            }),
        ];
        // A new variant stops this match from compiling until it is in `all` above.
        for request in &all {
            match request {
                Request::AppInfo
                | Request::OpenSettings
                | Request::Quit
                | Request::Subscribe
                | Request::Status
                | Request::History { .. }
                | Request::Providers
                | Request::CheckNow
                | Request::UpdateNow { .. }
                | Request::Pause { .. }
                | Request::SetOffline { .. }
                | Request::ReEnable { .. }
                | Request::Reload
                | Request::ReadConfig
                | Request::EditConfig { .. }
                | Request::SetSecret { .. }
                | Request::AskSources { .. }
                | Request::CheckAccount { .. }
                | Request::FindImports
                | Request::ApplyImport(_) => {}
            }
        }
        let mut named: Vec<String> = all
            .iter()
            .map(|r| {
                serde_json::to_value(r).unwrap()["method"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        named.sort();
        let mut listed: Vec<String> = Request::METHODS.iter().map(|m| (*m).to_owned()).collect();
        listed.sort();
        assert_eq!(named, listed, "Request::METHODS and the variants differ");
    }

    #[test]
    fn every_event_round_trips() {
        let events = [
            Event::ShowSettings,
            Event::Shutdown,
            Event::Status(Box::default()),
            Event::Engine {
                event: crate::engine::EngineEvent::NoAddress {
                    reason: "down".into(),
                },
            },
        ];
        for event in events {
            let json = serde_json::to_string(&event).unwrap();
            let back: Event = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{json}: {e}"));
            assert_eq!(back, event);
        }
    }

    #[test]
    fn a_secret_in_a_request_never_shows_in_debug_output() {
        let request = Request::from_parts(
            "set_secret",
            serde_json::json!({"account": "home", "secret": "hunter22"}),
        )
        .unwrap();
        assert!(!format!("{request:?}").contains("hunter22"));
    }
}
