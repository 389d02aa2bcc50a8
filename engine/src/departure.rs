//! The moment an update may reach the provider: the second of an update's recorded
//! phases (intended, sent, answered; the rule and its reasons are in `docs/recovery.md`).
//!
//! Before this moment nothing of the request has left the machine, so a crash means
//! "send it after restart". After it the provider may have the update, so a crash means
//! "settle it at start". The moment is when the connection that carries the request is
//! open (TCP, and TLS where used): the next thing on it is the request. A [`Departure`]
//! is armed by the engine before each update with a hook that records the phase; it
//! fires once, synchronously, before the request can be written. A hook that fails
//! stops the request: an update the store does not know may have left must not leave.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

type Hook = Box<dyn FnOnce() -> Result<(), String> + Send>;

#[derive(Default)]
enum Stage {
    /// No update under way.
    #[default]
    Idle,
    /// An update is under way and has not left.
    Armed(Hook),
    /// Its departure is recorded.
    Left,
    /// Its departure could not be recorded: it must not leave.
    Failed(String),
}

/// Why a request was stopped before it left.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the update was not sent: {0}")]
pub struct DepartureError(pub String);

/// Fires its armed hook once, the first time a request of the current update may reach
/// the provider. Cheap to clone; clones share the hook.
#[derive(Clone, Default)]
pub struct Departure(Arc<Mutex<Stage>>);

impl std::fmt::Debug for Departure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Departure")
    }
}

impl Departure {
    /// Runs `hook` at the next [`fire`](Self::fire) (replacing a hook not yet fired).
    pub fn arm(&self, hook: impl FnOnce() -> Result<(), String> + Send + 'static) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Stage::Armed(Box::new(hook));
    }

    /// Ends the update (whether or not it left).
    pub fn disarm(&self) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Stage::Idle;
    }

    /// The request may leave now: runs the armed hook, if any, before returning. An error
    /// (now, or from an earlier call for the same update) means the request must not be
    /// written.
    pub fn fire(&self) -> Result<(), DepartureError> {
        let mut stage = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match std::mem::take(&mut *stage) {
            Stage::Armed(hook) => match hook() {
                Ok(()) => {
                    *stage = Stage::Left;
                    Ok(())
                }
                Err(e) => {
                    *stage = Stage::Failed(e.clone());
                    Err(DepartureError(e))
                }
            },
            Stage::Failed(e) => {
                *stage = Stage::Failed(e.clone());
                Err(DepartureError(e))
            }
            other => {
                *stage = other;
                Ok(())
            }
        }
    }

    /// A layer for reqwest's connector that fires this departure when a connection is
    /// established (after the TLS handshake), before the request is written on it; the
    /// connection fails when the departure cannot be recorded.
    pub fn layer(&self) -> DepartureLayer {
        DepartureLayer(self.clone())
    }
}

/// See [`Departure::layer`].
#[derive(Clone, Debug)]
pub struct DepartureLayer(Departure);

impl<S> tower_layer::Layer<S> for DepartureLayer {
    type Service = DepartureService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DepartureService {
            inner,
            departure: self.0.clone(),
        }
    }
}

/// The connector wrapped by [`DepartureLayer`].
#[derive(Clone, Debug)]
pub struct DepartureService<S> {
    inner: S,
    departure: Departure,
}

type Connecting<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, R> tower_service::Service<R> for DepartureService<S>
where
    S: tower_service::Service<R>,
    S::Future: Send + 'static,
    S::Error: From<DepartureError>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Connecting<S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let connecting = self.inner.call(request);
        let departure = self.departure.clone();
        Box::pin(async move {
            let connection = connecting.await?;
            // Dropping the connection here sends nothing of the request.
            departure.fire()?;
            Ok(connection)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn fires_once_and_only_when_armed() {
        let departure = Departure::default();
        let count = Arc::new(AtomicUsize::new(0));
        departure.fire().unwrap();
        let seen = Arc::clone(&count);
        departure.arm(move || {
            seen.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
        let clone = departure.clone();
        clone.fire().unwrap();
        departure.fire().unwrap();
        assert_eq!(count.load(Ordering::SeqCst), 1);
        let seen = Arc::clone(&count);
        departure.arm(move || {
            seen.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
        departure.disarm();
        departure.fire().unwrap();
        assert_eq!(count.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_departure_that_cannot_be_recorded_stops_every_later_attempt() {
        let departure = Departure::default();
        departure.arm(|| Err("database is locked".into()));
        let err = departure.fire().unwrap_err();
        assert_eq!(
            err.to_string(),
            "the update was not sent: database is locked"
        );
        // A second server of the same update may not be tried either.
        assert_eq!(departure.fire(), Err(err));
        departure.disarm();
        assert_eq!(departure.fire(), Ok(()));
    }
}
