//! Fair share of the egress budgets: each plugin has its own rate limiter and concurrency cap,
//! set below the global ones, so one tool group flooding Falcon leaves room for every other
//! group while a plugin on its own still gets most of the budget.

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use governor::{DefaultDirectRateLimiter, Quota};
use tokio::sync::Semaphore;

/// One plugin's egress budget; unset fields derive from the global budget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PluginBudget {
    /// Requests per minute this plugin may make (default: 3/4 of the global budget).
    pub requests_per_minute: Option<u32>,
    /// Requests this plugin may have in flight (default: half the global cap).
    pub max_concurrency: Option<u32>,
}

impl PluginBudget {
    /// Fields set in `self` win over `fallback`'s.
    pub fn or(self, fallback: PluginBudget) -> PluginBudget {
        PluginBudget {
            requests_per_minute: self.requests_per_minute.or(fallback.requests_per_minute),
            max_concurrency: self.max_concurrency.or(fallback.max_concurrency),
        }
    }

    /// The effective (rate, concurrency) within the global `(rpm, concurrency)`: never above
    /// the global budget, never zero.
    pub fn resolve(self, global_rpm: u32, global_concurrency: u32) -> (u32, u32) {
        let rpm = self
            .requests_per_minute
            .unwrap_or(global_rpm.saturating_mul(3) / 4)
            .clamp(1, global_rpm.max(1));
        let conc = self
            .max_concurrency
            .unwrap_or(global_concurrency / 2)
            .clamp(1, global_concurrency.max(1));
        (rpm, conc)
    }
}

/// A rate limiter of `per_minute` with a burst of five seconds' worth, so a hydrate fan-out is
/// not serialised.
pub fn limiter(per_minute: u32) -> DefaultDirectRateLimiter {
    let per_min = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new((per_minute / 12).max(1)).unwrap_or(NonZeroU32::MIN);
    governor::RateLimiter::direct(Quota::per_minute(per_min).allow_burst(burst))
}

/// One plugin's limiter and in-flight cap.
pub struct Gate {
    /// The plugin's rate share.
    pub limiter: DefaultDirectRateLimiter,
    /// The plugin's in-flight share.
    pub inflight: Semaphore,
}

/// Every plugin's gate, made on first use (one per loaded plugin name, so the map stays small).
pub struct Shares {
    global_rpm: u32,
    global_concurrency: u32,
    default: PluginBudget,
    overrides: BTreeMap<String, PluginBudget>,
    gates: Mutex<HashMap<String, Arc<Gate>>>,
}

impl Shares {
    /// Shares of the global budgets.
    pub fn new(
        global_rpm: u32,
        global_concurrency: u32,
        default: PluginBudget,
        overrides: BTreeMap<String, PluginBudget>,
    ) -> Shares {
        Shares {
            global_rpm,
            global_concurrency,
            default,
            overrides,
            gates: Mutex::new(HashMap::new()),
        }
    }

    /// The effective (rate, concurrency) of `plugin`.
    pub fn budget(&self, plugin: &str) -> (u32, u32) {
        self.overrides
            .get(plugin)
            .copied()
            .unwrap_or_default()
            .or(self.default)
            .resolve(self.global_rpm, self.global_concurrency)
    }

    /// The gate of `plugin`.
    pub fn gate(&self, plugin: &str) -> Arc<Gate> {
        // A poisoned lock only means another caller panicked mid-insert; the map stays valid.
        let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(g) = gates.get(plugin) {
            return g.clone();
        }
        let (rpm, conc) = self.budget(plugin);
        let g = Arc::new(Gate {
            limiter: limiter(rpm),
            inflight: Semaphore::new(conc as usize),
        });
        gates.insert(plugin.to_string(), g.clone());
        g
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_leave_room_and_overrides_stay_within_the_global_budget() {
        let s = Shares::new(
            100,
            32,
            PluginBudget::default(),
            BTreeMap::from([(
                "big".to_string(),
                PluginBudget {
                    requests_per_minute: Some(1_000),
                    max_concurrency: Some(0),
                },
            )]),
        );
        assert_eq!(s.budget("any"), (75, 16));
        assert_eq!(
            s.budget("big"),
            (100, 1),
            "clamped to the global budget, never 0"
        );
        let s = Shares::new(1, 1, PluginBudget::default(), BTreeMap::new());
        assert_eq!(s.budget("any"), (1, 1));
    }
}
