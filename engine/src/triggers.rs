//! What makes the engine check the address besides its poll timer: network changes
//! reported by the OS, and waking up from sleep. Both only ask for a *check*; an update
//! follows only when the checked address differs from the published one (invariant 5).

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::engine::EngineHandle;

/// Network events are merged until this long passes without another one: links and
/// addresses settle in bursts (DHCP, router advertisements, duplicate address detection).
pub const DEBOUNCE: Duration = Duration::from_millis(250);
/// How often the wall clock is compared with the monotonic clock.
const CLOCK_TICK: Duration = Duration::from_secs(30);
/// A wall-clock lead over the monotonic clock beyond this means the machine slept (the
/// monotonic clock stops during suspend) or the clock was set.
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
/// ahead of the monotonic one by the time spent asleep.
async fn watch_clock(engine: EngineHandle) {
    let mut ticker = tokio::time::interval(CLOCK_TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = (Instant::now(), SystemTime::now());
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = engine.stopped() => break,
        }
        let now = (Instant::now(), SystemTime::now());
        if let Some(slept) = wall_lead(last, now) {
            engine.woke_up(slept).await;
        }
        last = now;
    }
}

/// How far the wall clock ran ahead of the monotonic clock between two readings, if by
/// more than [`JUMP`].
fn wall_lead(before: (Instant, SystemTime), after: (Instant, SystemTime)) -> Option<Duration> {
    let monotonic = after.0.saturating_duration_since(before.0);
    let wall = after.1.duration_since(before.1).ok()?;
    wall.checked_sub(monotonic).filter(|lead| *lead > JUMP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wall_clock_jump_is_a_wake_up() {
        let i = Instant::now();
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
