//! A clock that stops while the machine sleeps.
//!
//! On Linux the monotonic clock does that by itself; on Windows `Instant`
//! (QueryPerformanceCounter) counts the time asleep too, so a wake-up cannot be told from
//! it. The interrupt time without its sleep bias can.

use std::time::Duration;

use windows_sys::Win32::System::WindowsProgramming::QueryUnbiasedInterruptTime;

/// How long this machine has been awake since it started: time asleep or hibernating
/// not counted.
#[allow(unsafe_code)]
pub fn awake() -> Duration {
    let mut units = 0u64;
    // SAFETY: the call writes one u64 (100 ns units) to `units`; it cannot fail on the
    // Windows versions Rust supports.
    unsafe { QueryUnbiasedInterruptTime(&mut units) };
    Duration::from_nanos(units.saturating_mul(100))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_awake_clock_moves_with_time_awake() {
        let before = awake();
        assert!(before > Duration::ZERO);
        std::thread::sleep(Duration::from_millis(100));
        let moved = awake().saturating_sub(before);
        // Its tick is coarse (about 16 ms), never off by more.
        assert!(
            moved >= Duration::from_millis(80) && moved < Duration::from_secs(5),
            "{moved:?}"
        );
    }
}
