//! The clocks a plugin sees through WASI: real time, but only to the millisecond.
//!
//! Plugins get the wall clock (a tool may stamp or age what it reports) and a monotonic clock
//! (timeouts, polling), both at the resolution of `host.monotonic-ms`. A nanosecond timer is
//! what cache-timing and speculative-execution probes against the host process need, and no
//! Falcon tool needs one.

use std::time::{Duration, Instant, SystemTime};

use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

/// The resolution of every clock a plugin can read.
pub const RESOLUTION: Duration = Duration::from_millis(1);

const RESOLUTION_NS: u64 = RESOLUTION.as_nanos() as u64;

/// Unix time, rounded down to [`RESOLUTION`].
pub struct CoarseWallClock;

impl HostWallClock for CoarseWallClock {
    fn resolution(&self) -> Duration {
        RESOLUTION
    }

    fn now(&self) -> Duration {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        Duration::from_millis(now.as_millis() as u64)
    }
}

/// Nanoseconds since the call started, rounded down to [`RESOLUTION`].
pub struct CoarseMonotonicClock {
    start: Instant,
}

impl CoarseMonotonicClock {
    /// A clock starting at zero now.
    pub fn new() -> CoarseMonotonicClock {
        CoarseMonotonicClock {
            start: Instant::now(),
        }
    }
}

impl HostMonotonicClock for CoarseMonotonicClock {
    fn resolution(&self) -> u64 {
        RESOLUTION_NS
    }

    fn now(&self) -> u64 {
        let ns = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        ns - ns % RESOLUTION_NS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_tick_in_whole_milliseconds() {
        assert!(
            CoarseWallClock
                .now()
                .subsec_nanos()
                .is_multiple_of(1_000_000)
        );
        let m = CoarseMonotonicClock::new();
        std::thread::sleep(Duration::from_micros(1500));
        let t = m.now();
        assert!(t >= 1_000_000 && t.is_multiple_of(1_000_000), "{t}");
    }
}
