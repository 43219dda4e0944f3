//! The epoch clock behind CPU budgets and yields: it advances the engine's epoch every tick
//! while at least one store runs, and parks while nothing does, so an idle server never wakes.
//! Epoch deadlines are relative to the epoch when a store arms them, so pausing the clock
//! between calls changes nothing for them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use wasmtime::Engine;

/// The clock's shared state: stores running, and whether the runtime is gone.
#[derive(Default)]
struct State {
    running: usize,
    stopped: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    /// Ticks so far (for tests and diagnostics).
    ticks: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is two plain fields updated in one step each: a panic elsewhere cannot
        // leave it half-written, so a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The epoch clock of one engine; stops its thread when dropped.
pub struct Ticker {
    shared: Arc<Shared>,
}

/// Keeps the clock ticking while held (one per running store).
pub struct Running {
    shared: Arc<Shared>,
}

impl Ticker {
    /// Start the clock thread for `engine`, ticking every `tick` while stores run.
    pub fn start(engine: &Engine, tick: Duration) -> std::io::Result<Ticker> {
        let shared = Arc::new(Shared::default());
        let weak = engine.weak();
        let s = shared.clone();
        std::thread::Builder::new()
            .name("aerie-epoch".into())
            .spawn(move || {
                loop {
                    {
                        let mut st = s.lock();
                        while st.running == 0 && !st.stopped {
                            st = s.wake.wait(st).unwrap_or_else(|p| p.into_inner());
                        }
                        if st.stopped {
                            return;
                        }
                    }
                    // A full tick before the first increment: a store that starts the clock
                    // gets its whole first tick, not an immediate yield.
                    std::thread::sleep(tick);
                    let Some(engine) = weak.upgrade() else { return };
                    engine.increment_epoch();
                    drop(engine);
                    s.ticks.fetch_add(1, Ordering::Relaxed);
                }
            })?;
        Ok(Ticker { shared })
    }

    /// Keep the clock ticking until the returned guard is dropped.
    pub fn running(&self) -> Running {
        let mut st = self.shared.lock();
        st.running += 1;
        // Only a parked clock needs waking (one that is ticking sees the count).
        if st.running == 1 {
            self.shared.wake.notify_one();
        }
        drop(st);
        Running {
            shared: self.shared.clone(),
        }
    }

    /// Ticks so far.
    #[cfg(test)]
    fn ticks(&self) -> u64 {
        self.shared.ticks.load(Ordering::Relaxed)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.running = st.running.saturating_sub(1);
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.shared.lock().stopped = true;
        self.shared.wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_only_while_something_runs() {
        let engine = Engine::default();
        let t = Ticker::start(&engine, Duration::from_millis(1)).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(t.ticks(), 0, "an idle clock does not tick");
        let running = t.running();
        std::thread::sleep(Duration::from_millis(50));
        assert!(t.ticks() > 0, "a running store makes it tick");
        drop(running);
        // The tick in progress when the guard went may still land; then it parks.
        std::thread::sleep(Duration::from_millis(20));
        let parked = t.ticks();
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            t.ticks() <= parked + 1,
            "idle again after the last store ended"
        );
    }

    #[test]
    fn a_store_that_wakes_the_clock_gets_a_whole_first_tick() {
        let engine = Engine::default();
        let t = Ticker::start(&engine, Duration::from_millis(200)).unwrap();
        let running = t.running();
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(
            t.ticks(),
            0,
            "the first tick came early: the store would yield at once"
        );
        drop(running);
    }
}
