//! Engine requests and events over the control API, shared by both hosts.

use serde::Serialize;
use tokio::sync::broadcast;

use super::{ControlError, ErrorCode, Event, Request};
use crate::engine::{EngineError, EngineHandle};
use crate::provider::REGISTRY;

/// Answers an engine request; `None` for requests the host answers itself (app info,
/// open settings, quit, subscribe).
pub async fn engine_request(
    engine: &EngineHandle,
    request: Request,
) -> Option<Result<serde_json::Value, ControlError>> {
    let result = match request {
        Request::Status => to_value(&engine.status()),
        Request::History { record, limit } => engine
            .history(record, limit.unwrap_or(100).min(10_000))
            .await
            .map_err(engine_error)
            .and_then(|h| to_value(&h)),
        Request::Providers => {
            let descriptors: Vec<_> = REGISTRY.iter().map(|p| p.descriptor()).collect();
            to_value(&descriptors)
        }
        Request::CheckNow => engine.check_now().await.map_err(engine_error).map(null),
        Request::UpdateNow { record } => engine
            .update_now(record)
            .await
            .map_err(engine_error)
            .and_then(|r| to_value(&r)),
        Request::Pause { paused } => engine.pause(paused).await.map_err(engine_error).map(null),
        Request::SetOffline { offline } => engine
            .set_offline(offline)
            .await
            .map_err(engine_error)
            .map(null),
        Request::ReEnable { record, more } => engine
            .re_enable_all(std::iter::once(record).chain(more).collect())
            .await
            .map_err(engine_error)
            .map(null),
        Request::Reload => engine.reload().await.map_err(engine_error).map(null),
        Request::ReadConfig => engine
            .read_config()
            .await
            .map_err(engine_error)
            .and_then(|c| to_value(&c)),
        Request::EditConfig { revision, edit } => engine
            .edit_config(revision, edit)
            .await
            .map_err(engine_error)
            .and_then(|r| to_value(&r)),
        Request::SetSecret { account, secret } => engine
            .set_secret(account, secret)
            .await
            .map_err(engine_error)
            .map(null),
        Request::CheckAccount { account } => engine
            .check_account(account)
            .await
            .map_err(engine_error)
            .and_then(|r| to_value(&r)),
        Request::AskSources { family } => engine
            .ask_sources(family)
            .await
            .map_err(engine_error)
            .and_then(|r| to_value(&r)),
        Request::FindImports => engine
            .find_imports()
            .await
            .map_err(engine_error)
            .and_then(|r| to_value(&r)),
        Request::ApplyImport(ask) => engine
            .apply_import(ask)
            .await
            .map_err(engine_error)
            .and_then(|r| to_value(&r)),
        Request::AppInfo | Request::OpenSettings | Request::Quit | Request::Subscribe => {
            return None;
        }
    };
    Some(result)
}

/// Forwards the engine's status changes and events to the host's control events until
/// the engine stops.
pub async fn forward_engine(engine: EngineHandle, events: broadcast::Sender<Event>) {
    let mut status = engine.watch_status();
    let mut engine_events = engine.subscribe();
    loop {
        tokio::select! {
            changed = status.changed() => {
                if changed.is_err() {
                    break;
                }
                let snapshot = status.borrow_and_update().clone();
                let _ = events.send(Event::Status(Box::new(snapshot)));
            }
            event = engine_events.recv() => match event {
                Ok(event) => {
                    let _ = events.send(Event::Engine { event });
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            },
        }
    }
}

fn null<T>(_: T) -> serde_json::Value {
    serde_json::Value::Null
}

fn to_value<T: Serialize>(value: &T) -> Result<serde_json::Value, ControlError> {
    serde_json::to_value(value).map_err(|e| ControlError::new(ErrorCode::Failed, e.to_string()))
}

fn engine_error(error: EngineError) -> ControlError {
    let code = match &error {
        EngineError::NotFound(_) | EngineError::Config(_) | EngineError::Invalid(_) => {
            ErrorCode::InvalidParams
        }
        EngineError::Stopped => ErrorCode::NotRunning,
        EngineError::Stale(_) => ErrorCode::Stale,
        EngineError::Unsupported(_) => ErrorCode::Unsupported,
        _ => ErrorCode::Failed,
    };
    let mut control = ControlError::new(code, error.to_string());
    if let EngineError::Invalid(problems) = error {
        control.problems = problems;
    }
    control
}
