//! The CID's request budget shared by every replica ([`SharedRate`]): Falcon counts requests
//! per CID, not per process, so replicas on one CID take their turns from one bucket (on Redis,
//! [`crate::state::redis::rate`]). Local pacing (Falcon's headers, the fixed cap, the plugin
//! shares) still applies on top; this only keeps the sum under the CID's rate.

use std::time::Duration;

use futures::future::BoxFuture;

/// Why no turn was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoTurn {
    /// The next turn is later than the caller may wait: how long until it.
    TooLate(Duration),
    /// The shared bucket cannot be reached; the caller paces locally.
    Unavailable(String),
}

/// A request budget shared with other processes on the same CID.
pub trait SharedRate: Send + Sync {
    /// Take the next turn at `per_minute` (with a burst of `burst`): how long to wait before
    /// sending. Nothing is taken when the turn is later than `patience`.
    fn turn(
        &self,
        per_minute: u32,
        burst: u32,
        patience: Duration,
    ) -> BoxFuture<'_, Result<Duration, NoTurn>>;
}

/// The burst allowed above the steady rate: five seconds' worth, as the local limiter allows.
pub fn burst(per_minute: u32) -> u32 {
    (per_minute / 12).max(1)
}
