//! Time for the engine: a wall clock that moves with Tokio's, jitter, the event budget.

use super::*;

/// How many event-triggered checks may run now: a token bucket of
/// [`EVENT_CHECK_BURST`] refilled one per [`EVENT_CHECK_GAP`].
pub(super) struct EventBudget {
    /// Tokens left, in units of 1/1000.
    milli: u64,
    at: Instant,
    /// A deferred check is already scheduled at this time.
    deferred: Option<Instant>,
}

impl EventBudget {
    pub(super) fn new() -> Self {
        Self {
            milli: u64::from(EVENT_CHECK_BURST) * 1000,
            at: Instant::now(),
            deferred: None,
        }
    }

    /// Takes a token, or tells when the deferred check runs.
    pub(super) fn take(&mut self, now: Instant) -> Result<(), Instant> {
        let gap = EVENT_CHECK_GAP.as_millis() as u64;
        // `at` is in the future while a deferred check waits: nothing refills until then.
        if now > self.at {
            let refill = (now - self.at).as_millis() as u64 * 1000 / gap;
            self.milli = (self.milli + refill).min(u64::from(EVENT_CHECK_BURST) * 1000);
            self.at = now;
        }
        if let Some(at) = self.deferred.filter(|at| *at > now) {
            return Err(at);
        }
        self.deferred = None;
        if self.milli >= 1000 {
            self.milli -= 1000;
            return Ok(());
        }
        let wait = Duration::from_millis((1000 - self.milli) * gap / 1000);
        // The deferred check spends the token it waits for.
        self.milli = 0;
        self.at = now + wait;
        self.deferred = Some(now + wait);
        Err(now + wait)
    }
}

/// Wall-clock seconds derived from Tokio's clock, so paused-time tests move both.
pub(super) struct Clock {
    pub(super) start_unix: Timestamp,
    start: Instant,
}

impl Clock {
    pub(super) fn new(start_unix: Option<Timestamp>) -> Self {
        let start_unix = start_unix.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(secs)
                .unwrap_or(0)
        });
        Self {
            start_unix,
            start: Instant::now(),
        }
    }

    pub(super) fn now(&self) -> Timestamp {
        self.start_unix.saturating_add(secs(self.start.elapsed()))
    }

    /// The Tokio instant of a wall-clock time (for timers); a time too far ahead to
    /// represent is a year away, which no timer here needs to reach.
    pub(super) fn instant(&self, at: Timestamp) -> Instant {
        let delta = at.saturating_sub(self.now());
        let now = Instant::now();
        match u64::try_from(delta) {
            Ok(0) | Err(_) => now,
            Ok(delta) => {
                let delta = Duration::from_secs(delta).min(Duration::from_secs(366 * 86_400));
                now.checked_add(delta).unwrap_or(now)
            }
        }
    }
}

/// Jitter only needs to spread clients apart, not resist prediction: xorshift.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn seeded() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() as u64)
            .unwrap_or(0);
        Self((nanos ^ (u64::from(std::process::id()) << 32)) | 1)
    }

    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A fraction in [0, 1).
    pub(super) fn fraction(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Whole seconds of a duration as a timestamp difference, saturating.
pub(super) fn secs(duration: Duration) -> Timestamp {
    Timestamp::try_from(duration.as_secs()).unwrap_or(Timestamp::MAX)
}

pub(super) async fn sleep_until_opt(wake: Option<Instant>) {
    match wake {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
