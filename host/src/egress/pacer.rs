//! Pacing by what Falcon says rather than a guess below it.
//!
//! Falcon's limit is a sliding one-minute window per CID (6,000 requests by default), and every
//! answer carries `X-RateLimit-Limit` and `X-RateLimit-Remaining`. While plenty remains, requests
//! go out at once: a server alone on its CID is never slower than the API allows. When the
//! remaining budget falls to a reserve, requests are spaced at the sustainable rate (one per
//! `60 s / limit`), so the window drains smoothly instead of ending in a wall of 429s; after a
//! 429, nothing is sent before its `X-RateLimit-RetryAfter`. Shared-CID operators can still set a
//! fixed cap (`[egress] requests_per_minute`), applied on top.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Falcon's default budget per CID, assumed until a response says otherwise.
pub const FALCON_DEFAULT_PER_MINUTE: u32 = 6_000;

/// The CID's budget as the last responses described it.
pub struct Pacer {
    /// Smallest reserve: the requests that may be in flight at once, twice over.
    reserve_floor: u32,
    state: Mutex<State>,
}

struct State {
    /// `X-RateLimit-Limit`.
    limit: u32,
    /// `X-RateLimit-Remaining` of the last response, less the requests admitted since.
    remaining: Option<u32>,
    /// Nothing goes out before this (a 429's retry time).
    blocked_until: Option<Instant>,
    /// The next free slot while paced.
    next_slot: Instant,
}

impl Pacer {
    /// A pacer for an egress with `max_concurrency` requests in flight.
    pub fn new(max_concurrency: u32) -> Pacer {
        Pacer {
            reserve_floor: max_concurrency.saturating_mul(2).max(1),
            state: Mutex::new(State {
                limit: FALCON_DEFAULT_PER_MINUTE,
                remaining: None,
                blocked_until: None,
                next_slot: Instant::now(),
            }),
        }
    }

    /// Wait for this request's turn. When Falcon has said the budget is gone until later than
    /// `patience` from now, do not wait and do not send: `Err` says how long until it returns.
    pub async fn admit(&self, patience: Duration) -> Result<(), Duration> {
        let wait = self.reserve(Instant::now(), patience)?.0;
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }

    /// Take a slot at `now`: how long to wait for it, and whether the budget is scarce; `Err`
    /// (no slot taken) when a 429's hold lasts longer than `patience`.
    fn reserve(&self, now: Instant, patience: Duration) -> Result<(Duration, bool), Duration> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let start = match s.blocked_until {
            Some(at) if at > now + patience => return Err(at - now),
            Some(at) if at > now => at,
            _ => {
                s.blocked_until = None;
                now
            }
        };
        let reserve = (s.limit / 10).max(self.reserve_floor);
        Ok(match s.remaining {
            Some(r) if r <= reserve || start > now => {
                let interval = Duration::from_secs(60) / s.limit.max(1);
                let slot = s.next_slot.max(start);
                s.next_slot = slot + interval;
                s.remaining = Some(r.saturating_sub(1));
                (slot - now, true)
            }
            Some(r) => {
                s.remaining = Some(r - 1);
                (Duration::ZERO, false)
            }
            None if start > now => (start - now, true),
            None => (Duration::ZERO, false),
        })
    }

    /// Whether the budget is scarce now (paced or held after a 429).
    pub fn scarce(&self) -> bool {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let reserve = (s.limit / 10).max(self.reserve_floor);
        s.blocked_until.is_some_and(|at| at > Instant::now())
            || s.remaining.is_some_and(|r| r <= reserve)
    }

    /// Learn the budget from a response's headers.
    pub fn observe(&self, headers: &reqwest::header::HeaderMap) {
        let num = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u32>().ok())
        };
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(limit) = num("x-ratelimit-limit").filter(|l| *l > 0) {
            s.limit = limit;
        }
        if let Some(remaining) = num("x-ratelimit-remaining") {
            s.remaining = Some(remaining);
        }
    }

    /// Falcon answered 429: hold every request until `until`.
    pub fn block_until(&self, until: Instant) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.blocked_until = Some(s.blocked_until.map_or(until, |b| b.max(until)));
        s.remaining = Some(0);
    }

    /// The CID's budget as last seen: (limit, estimated remaining).
    pub fn budget(&self) -> (u32, Option<u32>) {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        (s.limit, s.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    /// Patience longer than any hold in these tests.
    const P: Duration = Duration::from_secs(60);

    fn headers(limit: u32, remaining: u32) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-limit", HeaderValue::from(limit));
        h.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
        h
    }

    #[test]
    fn plenty_left_means_no_wait() {
        let p = Pacer::new(4);
        let now = Instant::now();
        assert_eq!(
            p.reserve(now, P),
            Ok((Duration::ZERO, false)),
            "nothing known"
        );
        p.observe(&headers(6000, 5000));
        for _ in 0..100 {
            assert_eq!(p.reserve(now, P), Ok((Duration::ZERO, false)));
        }
        assert_eq!(p.budget(), (6000, Some(4900)));
    }

    #[test]
    fn a_low_budget_is_spread_at_the_sustainable_rate() {
        let p = Pacer::new(4);
        p.observe(&headers(600, 60)); // reserve is max(600/10, 8) = 60
        let now = Instant::now();
        let waits: Vec<Duration> = (0..3).map(|_| p.reserve(now, P).unwrap().0).collect();
        // One request per 100 ms (60 s / 600).
        assert_eq!(
            waits,
            [0, 100, 200].map(Duration::from_millis).to_vec(),
            "{waits:?}"
        );
        assert!(p.reserve(now, P).unwrap().1, "scarce");
        assert!(p.scarce());
        // A fresh window says plenty again: no wait.
        p.observe(&headers(600, 590));
        assert!(!p.scarce());
        let later = now + Duration::from_secs(1);
        assert_eq!(p.reserve(later, P).unwrap().0, Duration::ZERO);
    }

    #[test]
    fn a_429_holds_everything_until_its_retry_time() {
        let p = Pacer::new(4);
        let now = Instant::now();
        p.block_until(now + Duration::from_secs(2));
        let (wait, scarce) = p.reserve(now, P).unwrap();
        assert!(scarce && wait >= Duration::from_secs(2), "{wait:?}");
        // Less patience than the hold: refused at once, nothing reserved.
        let short = Duration::from_secs(1);
        assert_eq!(p.reserve(now, short), Err(Duration::from_secs(2)));
        // After the retry time, the pace continues from there.
        let (wait, _) = p.reserve(now + Duration::from_secs(3), P).unwrap();
        assert!(wait <= Duration::from_millis(20), "{wait:?}");
    }
}
