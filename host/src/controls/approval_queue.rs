//! Where queued approvals live: the [`ApprovalQueue`] interface, and the in-memory queue of a
//! single server. A shared queue (Redis, [`crate::state::redis::approvals`]) implements the
//! same four calls, so an approval queued through one replica is decided through any other,
//! is recorded once, and runs once.
//!
//! Times are epoch milliseconds, not [`std::time::Instant`]s: entries cross processes.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::approvals::Status;
use crate::state::{StateError, StateFuture, expiry_ms, now_ms};

/// One queued call awaiting (or past) a decision.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// `ap-` and 12 hex digits.
    pub id: String,
    /// The gated tool.
    pub tool: String,
    /// Its plugin.
    pub plugin: String,
    /// The exact arguments the person approves.
    pub args: Value,
    /// Their canonical digest.
    pub digest: String,
    /// The session that asked; only it may run the approval.
    pub session: String,
    /// Its audit name.
    pub client: String,
    /// The preview text shown to the person.
    pub preview: String,
    /// The preview's structured result.
    pub preview_structured: Option<Value>,
    /// When it was queued (epoch seconds).
    pub created_unix: u64,
    /// When it stops being usable (epoch ms).
    pub expires_ms: u64,
    /// Where it stands.
    pub status: Status,
}

impl Entry {
    /// Whether its time is up.
    pub fn expired(&self) -> bool {
        now_ms() >= self.expires_ms
    }

    /// What the operator sees; `full` adds the arguments and the structured preview.
    pub fn view(&self, full: bool) -> Value {
        let left = self.expires_ms.saturating_sub(now_ms()) / 1000;
        let status = if self.expired() && !matches!(self.status, Status::Used { .. }) {
            "expired"
        } else {
            self.status.name()
        };
        let mut v = json!({
            "id": self.id, "tool": self.tool, "plugin": self.plugin, "client": self.client,
            "session": self.session, "args_sha256": self.digest, "status": status,
            "created_unix": self.created_unix, "expires_in_secs": left, "preview": self.preview,
        });
        match &self.status {
            Status::Approved { by } | Status::Used { by } => v["decided_by"] = json!(by),
            Status::Denied { by, reason } => {
                v["decided_by"] = json!(by);
                v["reason"] = json!(reason);
            }
            Status::Pending => {}
        }
        if full {
            v["args"] = self.args.clone();
            v["preview_structured"] = self.preview_structured.clone().unwrap_or(Value::Null);
        }
        v
    }

    /// Whether `other` asks for the same call in the same session.
    fn same_call(&self, other: &Entry) -> bool {
        self.session == other.session && self.tool == other.tool && self.digest == other.digest
    }
}

/// What [`ApprovalQueue::enqueue`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    /// The entry was queued under its id.
    Added,
    /// The same call of the same session was already pending, under this id.
    Found(String),
    /// `max` unexpired approvals are kept already: how many.
    Full(usize),
}

/// A change to one entry: `Err` refuses it (with the operator's or agent's message) and
/// leaves the entry as it was.
pub type Change<'a> = &'a (dyn Fn(&mut Entry) -> Result<(), String> + Send + Sync);

/// Where approvals are kept. Every call is atomic: two processes deciding the same approval
/// cannot both succeed.
pub trait ApprovalQueue: Send + Sync {
    /// Queue `fresh` unless the same call of its session is pending (then its id), or `max`
    /// unexpired approvals are kept.
    fn enqueue(&self, fresh: Entry, max: usize) -> StateFuture<'_, Enqueued>;
    /// The entry `id`, expired or not, while it is kept.
    fn get<'a>(&'a self, id: &'a str) -> StateFuture<'a, Option<Entry>>;
    /// Every kept entry (recently expired ones too).
    fn all(&self) -> StateFuture<'_, Vec<Entry>>;
    /// Apply `change` to entry `id`: `None` if there is none, else the change's verdict and
    /// the entry as it now is.
    fn update<'a>(
        &'a self,
        id: &'a str,
        change: Change<'a>,
    ) -> StateFuture<'a, Option<Result<Entry, String>>>;
    /// Record that `key` (an input-required round whose approval ran its call) is used, for
    /// `ttl`: true the first time, false ever after.
    fn first_use<'a>(&'a self, key: &'a str, ttl: Duration) -> StateFuture<'a, bool>;
}

/// The queue of a single server, in its memory.
#[derive(Default)]
pub struct MemoryQueue {
    entries: Mutex<BTreeMap<String, Entry>>,
    /// Used rounds and until when (epoch ms) they are remembered.
    used: Mutex<HashMap<String, u64>>,
}

impl MemoryQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        // Every update is one insert or one closure over a cloned entry, so a poisoned lock
        // still holds consistent entries.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn ready<'a, T: Send + 'a>(v: T) -> StateFuture<'a, T> {
    Box::pin(std::future::ready(Ok::<T, StateError>(v)))
}

impl ApprovalQueue for MemoryQueue {
    fn enqueue(&self, fresh: Entry, max: usize) -> StateFuture<'_, Enqueued> {
        let mut q = self.lock();
        q.retain(|_, e| !e.expired());
        if let Some(e) = q
            .values()
            .find(|e| e.same_call(&fresh) && e.status == Status::Pending)
        {
            return ready(Enqueued::Found(e.id.clone()));
        }
        if q.len() >= max {
            return ready(Enqueued::Full(q.len()));
        }
        q.insert(fresh.id.clone(), fresh);
        ready(Enqueued::Added)
    }

    fn get<'a>(&'a self, id: &'a str) -> StateFuture<'a, Option<Entry>> {
        ready(self.lock().get(id).cloned())
    }

    fn all(&self) -> StateFuture<'_, Vec<Entry>> {
        let mut q = self.lock();
        // Expired entries are shown once more as expired, then dropped.
        let out = q.values().cloned().collect();
        q.retain(|_, e| !e.expired());
        ready(out)
    }

    fn update<'a>(
        &'a self,
        id: &'a str,
        change: Change<'a>,
    ) -> StateFuture<'a, Option<Result<Entry, String>>> {
        let mut q = self.lock();
        let r = q.get_mut(id).map(|e| {
            let mut next = e.clone();
            change(&mut next)?;
            *e = next.clone();
            Ok(next)
        });
        ready(r)
    }

    fn first_use<'a>(&'a self, key: &'a str, ttl: Duration) -> StateFuture<'a, bool> {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        let now = now_ms();
        used.retain(|_, until| *until > now);
        ready(used.insert(key.to_string(), expiry_ms(now, ttl)).is_none())
    }
}
