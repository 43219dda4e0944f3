//! Tool calls in flight, and the drain at shutdown: stop starting calls, wait a bounded grace
//! period for the running ones to finish, then cut what is left so every caller still gets a
//! truthful answer before the server exits.
//!
//! What a cut call answers, and what is audited, is [`crate::app::App::call_tool`]'s job; the
//! transports ([`crate::server`]) decide when to drain and when to close sessions.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tokio_util::task::task_tracker::TaskTrackerToken;

/// Default grace period for in-flight calls at shutdown.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// How long cut calls get to answer (and release what they started) after the grace period.
const CUT_MARGIN: Duration = Duration::from_secs(3);

/// The server's in-flight calls.
#[derive(Default)]
pub struct InFlight {
    tracker: TaskTracker,
    /// Answers still being written to HTTP clients (a call can end before its response body
    /// has gone out; closing the session then would drop it).
    answers: TaskTracker,
    draining: AtomicBool,
    cut: CancellationToken,
}

/// How a drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Calls still running when the grace period ended (or a second signal came), which were cut.
    pub cut: usize,
    /// Whether every call had answered when the drain returned.
    pub settled: bool,
}

impl InFlight {
    /// Register a call; it counts as in flight until the returned guard is dropped. `None`
    /// while draining: the caller must refuse the call.
    pub fn enter(&self) -> Option<TaskTrackerToken> {
        // Registered before the check: a drain that has started either sees this call in its
        // count or this call sees the drain, never neither.
        let token = self.tracker.token();
        if self.draining.load(Ordering::SeqCst) {
            return None;
        }
        Some(token)
    }

    /// Whether a drain has started.
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Fires when running calls must stop now.
    pub fn cut(&self) -> &CancellationToken {
        &self.cut
    }

    /// Calls in flight now.
    pub fn len(&self) -> usize {
        self.tracker.len()
    }

    /// Whether no call is in flight.
    pub fn is_empty(&self) -> bool {
        self.tracker.is_empty()
    }

    /// Register a response being written; it counts until the returned guard is dropped.
    pub fn answering(&self) -> TaskTrackerToken {
        self.answers.token()
    }

    /// Wait up to `bound` for every response registered with [`InFlight::answering`] to be
    /// written. Returns whether they all were.
    pub async fn answers_written(&self, bound: Duration) -> bool {
        self.answers.close();
        tokio::time::timeout(bound, self.answers.wait())
            .await
            .is_ok()
    }

    /// Keep a background task (a cleanup after a dropped call) inside the drain.
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tracker.spawn(task);
    }

    /// Refuse new calls, wait up to `grace` for the running ones, then cut the rest and give
    /// them a short margin to answer. `now` (a second signal) ends the grace period at once.
    pub async fn drain(&self, grace: Duration, now: &CancellationToken) -> Drained {
        self.draining.store(true, Ordering::SeqCst);
        self.tracker.close();
        let running = self.tracker.len();
        if running > 0 {
            tracing::info!(
                calls = running,
                grace_s = grace.as_secs(),
                "shutting down: draining in-flight calls"
            );
        } else {
            tracing::info!("shutting down: draining (no call in flight)");
        }
        let finished = tokio::select! {
            _ = self.tracker.wait() => true,
            _ = tokio::time::sleep(grace) => false,
            _ = now.cancelled() => false,
        };
        if finished {
            return Drained {
                cut: 0,
                settled: true,
            };
        }
        let cut = self.tracker.len();
        tracing::warn!(
            calls = cut,
            "shutting down: grace period over, stopping the calls still running"
        );
        self.cut.cancel();
        let settled = tokio::time::timeout(CUT_MARGIN, self.tracker.wait())
            .await
            .is_ok();
        if !settled {
            tracing::error!(
                calls = self.tracker.len(),
                "shutting down: calls did not answer after being stopped"
            );
        }
        Drained { cut, settled }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drain_waits_for_calls_and_refuses_new_ones() {
        let f = std::sync::Arc::new(InFlight::default());
        let guard = f.enter().unwrap();
        let g = f.clone();
        let release = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            drop(guard);
            g.len()
        });
        let d = f
            .drain(Duration::from_secs(30), &CancellationToken::new())
            .await;
        assert_eq!(
            d,
            Drained {
                cut: 0,
                settled: true
            }
        );
        assert!(f.enter().is_none(), "no new call during or after a drain");
        assert!(!f.cut().is_cancelled());
        release.await.unwrap();
    }

    #[tokio::test]
    async fn a_call_past_the_grace_is_cut() {
        let f = std::sync::Arc::new(InFlight::default());
        let guard = f.enter().unwrap();
        let g = f.clone();
        // The "call": ends as soon as it is cut.
        tokio::spawn(async move {
            g.cut().cancelled().await;
            drop(guard);
        });
        let now = CancellationToken::new();
        now.cancel();
        let d = f.drain(Duration::from_secs(30), &now).await;
        assert_eq!(
            d,
            Drained {
                cut: 1,
                settled: true
            }
        );
        assert!(f.is_empty());
    }
}
