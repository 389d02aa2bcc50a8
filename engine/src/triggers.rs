//! What makes the engine check the address besides its poll timer: network changes
//! reported by the OS, and waking up from sleep. Both only ask for a *check*; an update
//! follows only when the checked address differs from the published one (invariant 5).

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::engine::EngineHandle;

/// Network events are merged until this long passes without another one: links and
/// addresses settle in bursts (DHCP, router advertisements, duplicate address detection).
pub const DEBOUNCE: Duration = Duration::from_millis(250);
/// How often the wall clock is compared with the awake clock.
const CLOCK_TICK: Duration = Duration::from_secs(30);
/// A wall-clock lead over the awake clock beyond this means the machine slept (the awake
/// clock stops during suspend) or the clock was set.
const JUMP: Duration = Duration::from_secs(60);

/// Starts the network watcher (where the OS has one) and the wake-up detector; both end
/// when the engine stops.
pub fn spawn(engine: EngineHandle) {
    match crate::netwatch::spawn(DEBOUNCE) {
        Ok(mut changes) => {
            let engine = engine.clone();
            tokio::spawn(async move {
                loop {
                    // Ends with the engine (dropping `changes` ends the watcher too).
                    let change = tokio::select! {
                        change = changes.recv() => change,
                        () = engine.stopped() => None,
                    };
                    let Some(change) = change else { break };
                    tracing::debug!(reason = %change.reason,
                        waited_ms = change.first_event.elapsed().as_millis() as u64,
                        "network change");
                    engine.network_changed(change.reason).await;
                }
            });
        }
        Err(e) => {
            tracing::info!(error = %e, "network changes are not watched; the poll timer finds them")
        }
    }
    tokio::spawn(watch_clock(engine));
}

/// Compares the two clocks every [`CLOCK_TICK`]: after a suspend, the wall clock has run
/// ahead of the awake clock by the time spent asleep.
async fn watch_clock(engine: EngineHandle) {
    let mut ticker = tokio::time::interval(CLOCK_TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let origin = Instant::now();
    let mut last = (awake(origin), SystemTime::now());
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = engine.stopped() => break,
        }
        let now = (awake(origin), SystemTime::now());
        if let Some(slept) = wall_lead(last, now) {
            engine.woke_up(slept).await;
        }
        last = now;
    }
}

/// A reading of a clock that stops while the machine sleeps, for differences only. On
/// Linux and macOS that is the monotonic clock (read since `origin`). On Windows it is
/// not (`Instant` counts sleep there), so the unbiased interrupt time is read instead.
fn awake(origin: Instant) -> Duration {
    #[cfg(windows)]
    {
        let _ = origin;
        dyntray_os::clock::awake()
    }
    #[cfg(not(windows))]
    {
        Instant::now().saturating_duration_since(origin)
    }
}

/// How far the wall clock ran ahead of the awake clock between two readings, if by more
/// than [`JUMP`].
fn wall_lead(before: (Duration, SystemTime), after: (Duration, SystemTime)) -> Option<Duration> {
    let awake = after.0.saturating_sub(before.0);
    let wall = after.1.duration_since(before.1).ok()?;
    wall.checked_sub(awake).filter(|lead| *lead > JUMP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wall_clock_jump_is_a_wake_up() {
        let i = Duration::from_secs(1000);
        let w = SystemTime::now();
        let tick = Duration::from_secs(30);
        assert_eq!(wall_lead((i, w), (i + tick, w + tick)), None);
        // Two hours asleep: the monotonic clock moved one tick, the wall clock two hours.
        let lead = wall_lead((i, w), (i + tick, w + tick + Duration::from_secs(7200)));
        assert_eq!(lead, Some(Duration::from_secs(7200)));
        // The clock set back is no wake-up.
        assert_eq!(wall_lead((i, w), (i + tick, w - tick)), None);
        // A small drift (NTP slewing) is none either.
        assert_eq!(wall_lead((i, w), (i + tick, w + tick * 2)), None);
    }
}
