//! Per-call bounds on what a plugin can make the host emit: progress reports are coalesced
//! and rate-limited, and log lines and audit records are capped, with what was dropped counted
//! so it can be said once at the end of the call.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Progress reports passed on at once at the start of a call, before the rate applies.
pub const PROGRESS_BURST: u32 = 16;
/// After the burst, at most one progress report per this interval; newer ones replace the
/// pending one, so the client always ends up with the latest value.
pub const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

/// One progress report: (done, total, message).
pub type Progress = (u64, Option<u64>, String);

/// Coalesces a call's progress reports: the first [`PROGRESS_BURST`] pass, then at most one per
/// [`PROGRESS_INTERVAL`], always the latest.
#[derive(Default)]
pub struct ProgressGate {
    sent: u32,
    last: Option<Instant>,
    pending: Option<Progress>,
}

impl ProgressGate {
    /// Offer a report; returns what to send now, if anything. A report held back is kept as
    /// the pending one (replacing any older pending one).
    pub fn offer(&mut self, p: Progress) -> Option<Progress> {
        let now = Instant::now();
        let due = self.sent < PROGRESS_BURST
            || self
                .last
                .is_none_or(|l| now.duration_since(l) >= PROGRESS_INTERVAL);
        if due {
            self.sent = self.sent.saturating_add(1);
            self.last = Some(now);
            self.pending = None;
            Some(p)
        } else {
            self.pending = Some(p);
            None
        }
    }

    /// The held-back report, if any (sent when the guest next waits, and at the end of a call).
    pub fn flush(&mut self) -> Option<Progress> {
        let p = self.pending.take()?;
        self.last = Some(Instant::now());
        Some(p)
    }
}

/// Kinds of record a plugin can cause, each with its own per-call allowance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// A log line (`host.log`, or a line of the guest's stdout/stderr).
    Log,
    /// A refused Falcon request (a warning line and a `denied` audit record).
    Denied,
    /// A files operation (a `files` audit record).
    Files,
}

impl Record {
    const ALL: [Record; 3] = [Record::Log, Record::Denied, Record::Files];

    /// How the summary names these records.
    pub fn noun(self) -> &'static str {
        match self {
            Record::Log => "log lines",
            Record::Denied => "refused requests",
            Record::Files => "files operations",
        }
    }
}

/// How many records of each kind a call may still write, and how many it had dropped.
/// Shared by the call's imports and the host services they reach (hence atomics).
#[derive(Debug)]
pub struct RecordBudget {
    left: [AtomicU32; 3],
    dropped: [AtomicU64; 3],
}

impl RecordBudget {
    /// A budget of `log_lines` log lines and `records` of each audited kind.
    pub fn new(log_lines: u32, records: u32) -> RecordBudget {
        RecordBudget {
            left: [
                AtomicU32::new(log_lines),
                AtomicU32::new(records),
                AtomicU32::new(records),
            ],
            dropped: Default::default(),
        }
    }

    /// Whether one more record of `kind` may be written; counts it as dropped when not.
    pub fn admit(&self, kind: Record) -> bool {
        let i = kind as usize;
        let took = self.left[i]
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok();
        if !took {
            self.dropped[i].fetch_add(1, Ordering::Relaxed);
        }
        took
    }

    /// How many records of `kind` were dropped so far.
    pub fn dropped(&self, kind: Record) -> u64 {
        self.dropped[kind as usize].load(Ordering::Relaxed)
    }

    /// Every kind with something dropped, and how many.
    pub fn drops(&self) -> impl Iterator<Item = (Record, u64)> + '_ {
        Record::ALL
            .into_iter()
            .map(|k| (k, self.dropped(k)))
            .filter(|(_, n)| *n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_is_coalesced_to_the_latest() {
        let mut g = ProgressGate::default();
        let mut sent = 0;
        for i in 0..10_000u64 {
            if g.offer((i, None, String::new())).is_some() {
                sent += 1;
            }
        }
        // The burst, plus perhaps one more if the loop took longer than an interval.
        assert!(sent <= PROGRESS_BURST as usize + 2, "{sent}");
        assert_eq!(g.flush().map(|p| p.0), Some(9_999));
        assert!(g.flush().is_none());
    }

    #[test]
    fn budget_counts_what_it_drops() {
        let b = RecordBudget::new(2, 1);
        assert!(b.admit(Record::Log) && b.admit(Record::Log));
        assert!(!b.admit(Record::Log) && !b.admit(Record::Log));
        assert!(b.admit(Record::Denied) && !b.admit(Record::Denied));
        assert_eq!(
            b.drops().collect::<Vec<_>>(),
            vec![(Record::Log, 2), (Record::Denied, 1)]
        );
    }
}
