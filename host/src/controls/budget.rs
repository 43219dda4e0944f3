//! Call budgets: how many plugin tool calls a session may make under its profile, in all
//! (`budget`) and per tool or pattern (`budget_per_tool`). Enforced in the host before the call
//! runs; calls of built-in `aerie_*` tools are free. What is left goes into each result's `_meta`
//! (`aerie/budget`) and is shown by the built-in `aerie_budget`.
//!
//! Counters live behind [`CounterStore`], a narrow take-if-room / read interface: the default is
//! in memory, per process ([`MemoryCounters`], bounded: idle sessions forgotten, a cap on the
//! sessions tracked); a shared backend (Redis, for replicas) implements the same two calls.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde_json::{Value, json};

use super::Caller;
use super::builtins::Builtin;
use super::profiles::Profile;
use crate::app::{App, ToolOutcome};

/// Sessions idle this long are forgotten (their budgets start over if they come back).
pub const SESSION_IDLE: Duration = Duration::from_secs(3600);
/// Most sessions whose counters are kept; past it the least recently active is forgotten.
pub const MAX_SESSIONS: usize = 10_000;
/// Name of the built-in tool that reports the budget left.
pub const BUDGET_TOOL: &str = "aerie_budget";

/// One counter to take from: its key within the session and its limit.
#[derive(Debug, Clone)]
pub struct Want {
    /// Counter key within the session.
    pub key: String,
    /// Most the counter may reach.
    pub limit: u32,
}

/// Which counter is full, and its count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spent {
    /// Index into the wants.
    pub index: usize,
    /// The counter's value (its limit, or more if the limit was lowered).
    pub used: u32,
}

/// Where counters are kept. Both calls act on one session's counters.
pub trait CounterStore: Send + Sync {
    /// Atomically: if every counter in `wants` is below its limit, add one to each and return
    /// their new values (in order); otherwise change nothing and say which is full.
    fn take<'a>(
        &'a self,
        session: &'a str,
        wants: &'a [Want],
    ) -> BoxFuture<'a, Result<Vec<u32>, Spent>>;

    /// The current values of `keys` (0 for a counter never taken from).
    fn read<'a>(&'a self, session: &'a str, keys: &'a [String]) -> BoxFuture<'a, Vec<u32>>;

    /// Take one back from each of `keys` (never below 0): a call that was counted did not run.
    fn give_back<'a>(&'a self, session: &'a str, keys: &'a [String]) -> BoxFuture<'a, ()>;
}

/// Counters in this process's memory.
pub struct MemoryCounters {
    sessions: Mutex<HashMap<String, SessionCounts>>,
    idle: Duration,
    max_sessions: usize,
}

struct SessionCounts {
    last: Instant,
    counts: HashMap<String, u32>,
}

impl MemoryCounters {
    /// Counters forgetting sessions idle for `idle`, tracking at most `max_sessions`.
    pub fn new(idle: Duration, max_sessions: usize) -> MemoryCounters {
        MemoryCounters {
            sessions: Mutex::new(HashMap::new()),
            idle,
            max_sessions: max_sessions.max(1),
        }
    }

    /// Sessions tracked now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no session is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, SessionCounts>> {
        // A panic while holding the lock cannot leave the counts half-updated (each update is
        // one integer store), so a poisoned lock is still consistent.
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take_now(&self, session: &str, wants: &[Want], now: Instant) -> Result<Vec<u32>, Spent> {
        let mut sessions = self.lock();
        if !sessions.contains_key(session) {
            // Room for a new session: forget idle ones, then the least recently active.
            if sessions.len() >= self.max_sessions {
                sessions.retain(|_, s| now.duration_since(s.last) < self.idle);
            }
            if sessions.len() >= self.max_sessions
                && let Some(oldest) = sessions
                    .iter()
                    .min_by_key(|(_, s)| s.last)
                    .map(|(k, _)| k.clone())
            {
                sessions.remove(&oldest);
            }
        }
        let entry = sessions
            .entry(session.to_string())
            .or_insert_with(|| SessionCounts {
                last: now,
                counts: HashMap::new(),
            });
        if now.duration_since(entry.last) >= self.idle {
            entry.counts.clear();
        }
        entry.last = now;
        for (index, w) in wants.iter().enumerate() {
            let used = entry.counts.get(&w.key).copied().unwrap_or(0);
            if used >= w.limit {
                return Err(Spent { index, used });
            }
        }
        Ok(wants
            .iter()
            .map(|w| {
                let c = entry.counts.entry(w.key.clone()).or_insert(0);
                *c = c.saturating_add(1);
                *c
            })
            .collect())
    }

    fn give_back_now(&self, session: &str, keys: &[String]) {
        if let Some(s) = self.lock().get_mut(session) {
            for k in keys {
                if let Some(c) = s.counts.get_mut(k) {
                    *c = c.saturating_sub(1);
                }
            }
        }
    }

    fn read_now(&self, session: &str, keys: &[String], now: Instant) -> Vec<u32> {
        let sessions = self.lock();
        let counts = sessions
            .get(session)
            .filter(|s| now.duration_since(s.last) < self.idle);
        keys.iter()
            .map(|k| counts.and_then(|s| s.counts.get(k)).copied().unwrap_or(0))
            .collect()
    }
}

impl CounterStore for MemoryCounters {
    fn take<'a>(
        &'a self,
        session: &'a str,
        wants: &'a [Want],
    ) -> BoxFuture<'a, Result<Vec<u32>, Spent>> {
        Box::pin(std::future::ready(self.take_now(
            session,
            wants,
            Instant::now(),
        )))
    }

    fn read<'a>(&'a self, session: &'a str, keys: &'a [String]) -> BoxFuture<'a, Vec<u32>> {
        Box::pin(std::future::ready(self.read_now(
            session,
            keys,
            Instant::now(),
        )))
    }

    fn give_back<'a>(&'a self, session: &'a str, keys: &'a [String]) -> BoxFuture<'a, ()> {
        self.give_back_now(session, keys);
        Box::pin(std::future::ready(()))
    }
}

/// Budgets of every session.
pub struct Budgets {
    store: Arc<dyn CounterStore>,
}

impl Default for Budgets {
    fn default() -> Self {
        Budgets::new(Arc::new(MemoryCounters::new(SESSION_IDLE, MAX_SESSIONS)))
    }
}

/// One limit as the agent sees it.
#[derive(Debug, Clone)]
struct Count {
    /// `None`: the total; else the tool name or pattern of a per-tool budget.
    tools: Option<String>,
    used: u32,
    limit: Option<u32>,
}

impl Count {
    fn json(&self) -> Value {
        let mut v = json!({
            "used": self.used,
            "limit": self.limit,
            "remaining": self.limit.map(|l| l.saturating_sub(self.used)),
        });
        if let Some(t) = &self.tools {
            v["tools"] = json!(t);
        }
        v
    }
}

/// A charged call: what is left, for the result's `_meta`.
pub struct Charged {
    profile: String,
    /// The total first, then the per-tool budgets that applied; empty when nothing is counted.
    counts: Vec<Count>,
    /// The counter keys of `counts`, to give the call back if it does not run.
    keys: Vec<String>,
}

/// Counter keys: the profile is part of the key, so a session never carries counts across
/// profiles. Patterns cannot contain `#`, so keys never collide.
fn total_key(profile: &Profile) -> String {
    format!("{}#total", profile.name)
}

fn tool_key(profile: &Profile, pattern: &str) -> String {
    format!("{}#tool:{pattern}", profile.name)
}

/// `1 call`, `6 calls`.
fn calls(n: u32) -> String {
    if n == 1 {
        "1 call".into()
    } else {
        format!("{n} calls")
    }
}

/// `all 6 are used`, `it is used`.
fn all_used(n: u32) -> String {
    if n == 1 {
        "it is used".into()
    } else {
        format!("all {n} are used")
    }
}

impl Budgets {
    /// Budgets kept in `store`.
    pub fn new(store: Arc<dyn CounterStore>) -> Budgets {
        Budgets { store }
    }

    /// Count one call of `tool` in `session` under `profile`; `Err` says the budget is spent
    /// (and how many calls were used), and then nothing is counted.
    pub async fn charge(
        &self,
        session: &str,
        profile: &Profile,
        tool: &str,
    ) -> Result<Charged, String> {
        if !profile.has_budget() {
            return Ok(Charged::free());
        }
        // The total is always counted when the profile has any budget, so `_meta` can say
        // how many calls were made even when only per-tool budgets limit them.
        let mut wants = vec![Want {
            key: total_key(profile),
            limit: profile.budget.unwrap_or(u32::MAX),
        }];
        let per_tool: Vec<_> = profile
            .budget_per_tool
            .iter()
            .filter(|b| b.tools.matches(tool))
            .collect();
        wants.extend(per_tool.iter().map(|b| Want {
            key: tool_key(profile, b.tools.as_str()),
            limit: b.limit,
        }));
        match self.store.take(session, &wants).await {
            Ok(used) => Ok(Charged {
                profile: profile.name.clone(),
                keys: wants.iter().map(|w| w.key.clone()).collect(),
                counts: used
                    .into_iter()
                    .enumerate()
                    .map(|(i, used)| match i {
                        0 => Count {
                            tools: None,
                            used,
                            limit: profile.budget,
                        },
                        i => Count {
                            tools: Some(per_tool[i - 1].tools.as_str().to_string()),
                            used,
                            limit: Some(per_tool[i - 1].limit),
                        },
                    })
                    .collect(),
            }),
            Err(Spent { index: 0, used }) => Err(format!(
                "The call budget is spent: profile `{}` allows {} per session; {}. Finish with what you have (aerie_budget shows the budget).",
                profile.name,
                calls(profile.budget.unwrap_or(u32::MAX)),
                all_used(used)
            )),
            Err(Spent { index, used }) => {
                let b = per_tool[index - 1];
                let of = if b.tools.is_glob() {
                    format!("of tools matching `{}`", b.tools.as_str())
                } else {
                    format!("of `{}`", b.tools.as_str())
                };
                Err(format!(
                    "The budget for this tool is spent: profile `{}` allows {} {of} per session; {}. Other tools may still have calls left (aerie_budget shows them).",
                    profile.name,
                    calls(b.limit),
                    all_used(used)
                ))
            }
        }
    }

    /// Give back a charged call that did not run (held for approval, declined or expired), so
    /// only calls that run count; `charged` then shows the counts without it.
    pub async fn refund(&self, session: &str, charged: &mut Charged) {
        if charged.keys.is_empty() {
            return;
        }
        self.store.give_back(session, &charged.keys).await;
        for c in &mut charged.counts {
            c.used = c.used.saturating_sub(1);
        }
        charged.keys.clear();
    }

    /// What `profile` has used and has left in `session`: the total, then each per-tool budget.
    async fn report(&self, session: &str, profile: &Profile) -> Vec<Count> {
        let mut keys = vec![total_key(profile)];
        keys.extend(
            profile
                .budget_per_tool
                .iter()
                .map(|b| tool_key(profile, b.tools.as_str())),
        );
        let used = self.store.read(session, &keys).await;
        let mut out = vec![Count {
            tools: None,
            used: used.first().copied().unwrap_or(0),
            limit: profile.budget,
        }];
        out.extend(
            profile
                .budget_per_tool
                .iter()
                .zip(used.iter().skip(1))
                .map(|(b, &used)| Count {
                    tools: Some(b.tools.as_str().to_string()),
                    used,
                    limit: Some(b.limit),
                }),
        );
        out
    }
}

impl Charged {
    /// A call nothing was counted for (the profile has no budget).
    pub fn free() -> Charged {
        Charged {
            profile: String::new(),
            counts: Vec::new(),
            keys: Vec::new(),
        }
    }

    /// Put the budget left into the result's `_meta` as `aerie/budget`: the profile, the
    /// session's calls `used`, its `limit` and `remaining` (`null` without a total budget),
    /// and under `tools` each per-tool budget this call counted against.
    pub fn annotate(&self, out: &mut ToolOutcome) {
        let Some(total) = self.counts.first() else {
            return;
        };
        let mut v = total.json();
        v["profile"] = json!(self.profile);
        if self.counts.len() > 1 {
            v["tools"] = Value::Array(self.counts[1..].iter().map(Count::json).collect());
        }
        out.meta.insert("aerie/budget".into(), v);
    }
}

/// Audit a call the controls refused before it reached a plugin (`outcome`: `refused_profile`
/// or `refused_budget`), in the shape of the host's other `tool_call` records plus the profile.
pub fn audit_refusal(app: &App, caller: &Caller, tool: &str, outcome: &str) {
    app.services.audit.record(
        "tool_call",
        json!({"client": caller.client, "profile": caller.profile.name, "tool": tool,
               "outcome": outcome, "duration_ms": 0}),
    );
}

/// Built-in tools of this control: `aerie_budget`, for profiles with a budget.
pub fn builtins(_app: &App, caller: &Caller) -> Vec<Builtin> {
    if !caller.profile.has_budget() {
        return Vec::new();
    }
    vec![Builtin {
        name: BUDGET_TOOL,
        title: "Call budget left",
        description: "Tool calls left in this session under your profile, in all and per tool. Free: does not count against the budget.",
        schema: json!({"type": "object", "properties": {}, "additionalProperties": false}),
        read_only: true,
    }]
}

/// Run a built-in tool of this control, or `None`.
pub async fn call_builtin(
    app: &App,
    caller: &Caller,
    name: &str,
    _args: &Value,
) -> Option<ToolOutcome> {
    if name != BUDGET_TOOL {
        return None;
    }
    let p = &caller.profile;
    if !p.has_budget() {
        return Some(ToolOutcome {
            text: format!("Profile `{}` has no call budget.", p.name),
            structured: Some(json!({"profile": p.name, "total": null, "per_tool": []})),
            content: Vec::new(),
            is_error: false,
            meta: Default::default(),
        });
    }
    let counts = app.controls.budgets.report(&caller.session, p).await;
    let left = |c: &Count| match c.limit {
        Some(l) => format!("{} of {l} left ({} used)", l.saturating_sub(c.used), c.used),
        None => format!("no limit ({} used)", c.used),
    };
    let mut text = format!("Profile `{}`, calls in all: {}", p.name, left(&counts[0]));
    for c in &counts[1..] {
        text.push_str(&format!(
            "; `{}`: {}",
            c.tools.as_deref().unwrap_or_default(),
            left(c)
        ));
    }
    text.push_str(". aerie_* tools are free.");
    Some(ToolOutcome {
        text,
        structured: Some(json!({
            "profile": p.name,
            "total": counts[0].json(),
            "per_tool": counts[1..].iter().map(Count::json).collect::<Vec<_>>(),
        })),
        content: Vec::new(),
        is_error: false,
        meta: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want(key: &str, limit: u32) -> Want {
        Want {
            key: key.into(),
            limit,
        }
    }

    #[test]
    fn take_counts_all_or_nothing() {
        let c = MemoryCounters::new(SESSION_IDLE, 10);
        let now = Instant::now();
        let w = [want("t", 3), want("x", 1)];
        assert_eq!(c.take_now("s", &w, now), Ok(vec![1, 1]));
        // `x` is full: nothing is counted, not even the total.
        assert_eq!(c.take_now("s", &w, now), Err(Spent { index: 1, used: 1 }));
        assert_eq!(c.read_now("s", &["t".into(), "x".into()], now), vec![1, 1]);
        assert_eq!(c.take_now("s", &w[..1], now), Ok(vec![2]));
        assert_eq!(c.take_now("s", &w[..1], now), Ok(vec![3]));
        assert_eq!(
            c.take_now("s", &w[..1], now),
            Err(Spent { index: 0, used: 3 })
        );
        // Another session has its own counters.
        assert_eq!(c.take_now("other", &w, now), Ok(vec![1, 1]));
        // A call given back frees its place, never below zero.
        c.give_back_now("s", &["t".into(), "x".into()]);
        c.give_back_now("s", &["x".into()]);
        assert_eq!(c.read_now("s", &["t".into(), "x".into()], now), vec![2, 0]);
        assert_eq!(c.take_now("s", &w, now), Ok(vec![3, 1]));
    }

    #[test]
    fn sessions_are_bounded_and_idle_ones_forgotten() {
        let c = MemoryCounters::new(Duration::from_secs(60), 3);
        let t0 = Instant::now();
        for (i, s) in ["a", "b", "c"].into_iter().enumerate() {
            c.take_now(s, &[want("t", 5)], t0 + Duration::from_secs(i as u64))
                .unwrap();
        }
        assert_eq!(c.len(), 3);
        // A fourth session evicts the least recently active (`a`).
        c.take_now("d", &[want("t", 5)], t0 + Duration::from_secs(10))
            .unwrap();
        assert_eq!(c.len(), 3);
        let later = t0 + Duration::from_secs(11);
        assert_eq!(c.read_now("a", &["t".into()], later), vec![0]);
        assert_eq!(c.read_now("b", &["t".into()], later), vec![1]);
        // Past the idle time every old session goes at once when room is needed, and a
        // session coming back after idling starts over.
        let much_later = t0 + Duration::from_secs(200);
        assert_eq!(c.take_now("b", &[want("t", 5)], much_later), Ok(vec![1]));
        c.take_now("e", &[want("t", 5)], much_later).unwrap();
        assert_eq!(c.len(), 2);
        for i in 0..1000 {
            c.take_now(&format!("s{i}"), &[want("t", 5)], much_later)
                .unwrap();
        }
        assert_eq!(c.len(), 3);
    }
}
