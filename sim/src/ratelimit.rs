//! Sliding one-minute request windows (per API client, per source IP for unauthenticated
//! requests and for the token endpoint), as the gateway does (reference §2.4).

use std::collections::{HashMap, VecDeque};

const WINDOW_MS: i64 = 60_000;

/// What a check decided.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Verdict {
    /// Allowed; `remaining` requests are left in the window.
    Allowed { limit: u32, remaining: u32 },
    /// Refused; retry at `retry_after` (Unix epoch seconds).
    Limited { limit: u32, retry_after: i64 },
}

/// All windows, keyed by bucket name.
#[derive(Debug, Default)]
pub(crate) struct Limiter {
    windows: HashMap<String, VecDeque<i64>>,
}

impl Limiter {
    /// Counts one request against `key` unless the window is full.
    pub fn check(&mut self, key: &str, limit: u32, now_ms: i64) -> Verdict {
        let w = self.windows.entry(key.to_string()).or_default();
        while w.front().is_some_and(|&t| t <= now_ms - WINDOW_MS) {
            w.pop_front();
        }
        if w.len() as u32 >= limit {
            let oldest = w.front().copied().unwrap_or(now_ms);
            // Round up: the slot frees at oldest + 60 s.
            let retry_after = (oldest + WINDOW_MS + 999) / 1000;
            return Verdict::Limited { limit, retry_after };
        }
        w.push_back(now_ms);
        Verdict::Allowed {
            limit,
            remaining: limit - w.len() as u32,
        }
    }

    /// The current state of a window without counting a request.
    pub fn peek(&mut self, key: &str, limit: u32, now_ms: i64) -> u32 {
        let w = self.windows.entry(key.to_string()).or_default();
        while w.front().is_some_and(|&t| t <= now_ms - WINDOW_MS) {
            w.pop_front();
        }
        limit.saturating_sub(w.len() as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_window() {
        let mut l = Limiter::default();
        assert_eq!(
            l.check("a", 2, 1000),
            Verdict::Allowed {
                limit: 2,
                remaining: 1
            }
        );
        assert_eq!(
            l.check("a", 2, 2000),
            Verdict::Allowed {
                limit: 2,
                remaining: 0
            }
        );
        assert_eq!(
            l.check("a", 2, 3000),
            Verdict::Limited {
                limit: 2,
                retry_after: 61
            }
        );
        assert_eq!(
            l.check("b", 2, 3000),
            Verdict::Allowed {
                limit: 2,
                remaining: 1
            }
        );
        // The first request leaves the window after 60 s.
        assert_eq!(
            l.check("a", 2, 61_001),
            Verdict::Allowed {
                limit: 2,
                remaining: 0
            }
        );
        assert_eq!(l.peek("a", 2, 61_001), 0);
    }
}
