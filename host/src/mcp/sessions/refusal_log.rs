//! aerie's log line for refused MCP sessions, rate-limited: a client flooding initializes must
//! not grow the log by a line per request. At most one line per [`WINDOW`] per cap; refusals
//! held back in between are counted in the next line, which a timer writes when the window
//! closes, so a flood that stops is still reported in full.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::Refusal;

/// Shortest time between two lines about one cap.
pub const WINDOW: Duration = Duration::from_secs(1);

/// One cap's window.
#[derive(Default)]
struct Window {
    /// When the last line about this cap was written.
    last_line: Option<Instant>,
    /// Refusals since that line that got no line of their own.
    held: u64,
    /// Whether a timer will write `held` when the window closes.
    flush_scheduled: bool,
}

/// The windows of both caps; cheap to clone (the timer holds a clone).
#[derive(Clone, Default)]
pub struct RefusalLog {
    windows: Arc<Mutex<[Window; 2]>>,
}

fn slot(r: Refusal) -> usize {
    match r {
        Refusal::Total => 0,
        Refusal::PerCaller => 1,
    }
}

/// " (N more refused in the last S s)", or nothing when none were held back.
fn held_suffix(held: u64, since: Option<Duration>) -> String {
    match (held, since) {
        (0, _) | (_, None) => String::new(),
        (n, Some(d)) => format!(
            " ({n} more refused in the last {} s)",
            d.as_secs_f64().round().max(1.0)
        ),
    }
}

impl RefusalLog {
    fn lock(&self) -> MutexGuard<'_, [Window; 2]> {
        // Every update leaves the counters consistent; a panic elsewhere cannot corrupt them.
        self.windows.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Record that cap `r` refused a session of `client`: a line now, or a count for later.
    pub fn refused(&self, r: Refusal, client: &str) {
        let now = Instant::now();
        let mut windows = self.lock();
        let w = &mut windows[slot(r)];
        if let Some(at) = w.last_line
            && now.duration_since(at) < WINDOW
        {
            w.held += 1;
            if !w.flush_scheduled
                && let Ok(rt) = tokio::runtime::Handle::try_current()
            {
                // Without a runtime (unit tests) the count waits for the next line instead.
                w.flush_scheduled = true;
                let log = self.clone();
                let due = at + WINDOW;
                rt.spawn(async move {
                    tokio::time::sleep_until(due.into()).await;
                    log.flush(r);
                });
            }
            return;
        }
        let held = std::mem::take(&mut w.held);
        let since = w.last_line.map(|at| now.duration_since(at));
        w.last_line = Some(now);
        drop(windows);
        tracing::warn!(
            client = %client,
            limit = ?r,
            "MCP session refused: {} reached{}",
            r.key(),
            held_suffix(held, since)
        );
    }

    /// The timer's end: write the count held back for cap `r`, if any.
    fn flush(&self, r: Refusal) {
        let now = Instant::now();
        let mut windows = self.lock();
        let w = &mut windows[slot(r)];
        w.flush_scheduled = false;
        let held = std::mem::take(&mut w.held);
        if held == 0 {
            // A refusal after the window wrote the count in its own line.
            return;
        }
        let since = w.last_line.map(|at| now.duration_since(at));
        w.last_line = Some(now);
        drop(windows);
        tracing::warn!(
            limit = ?r,
            "MCP sessions refused: {} reached{}",
            r.key(),
            held_suffix(held, since)
        );
    }

    /// Refusals of cap `r` held back so far (for tests).
    #[cfg(test)]
    fn held(&self, r: Refusal) -> u64 {
        self.lock()[slot(r)].held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_window_and_the_rest_counted() {
        let log = RefusalLog::default();
        for _ in 0..100 {
            log.refused(Refusal::PerCaller, "key:00000000");
        }
        // The first wrote a line; the others wait for the next one.
        assert_eq!(log.held(Refusal::PerCaller), 99);
        // Caps are counted apart.
        log.refused(Refusal::Total, "key:00000000");
        assert_eq!(log.held(Refusal::Total), 0);
        log.flush(Refusal::PerCaller);
        assert_eq!(log.held(Refusal::PerCaller), 0);
        assert_eq!(
            held_suffix(1234, Some(Duration::from_millis(9_500))),
            " (1234 more refused in the last 10 s)"
        );
        assert_eq!(held_suffix(0, Some(WINDOW)), "");
    }
}
