//! Where the agent controls keep their state. [`Backend`] (`[state] backend`) decides it for
//! all of them at once — the result cache, the response store, call budgets, the approval queue
//! and the per-CID egress budget — and hands each control its view.
//!
//! The result cache uses the small key-value interface [`Store`], with TTLs, tags for group
//! invalidation, and byte accounting. Keys are namespaced by their owner (`cache/…`) and always
//! include the tenant and, where it matters, the session. Backends: [`memory`] (the default;
//! bounded by bytes, least recently used out), [`sqlite`] (a file on disk that survives
//! restarts) and [`redis`] (shared by several replicas). Every method is async and returns a
//! boxed future, so `Arc<dyn Store>` works for all of them.

pub mod backend;
pub mod memory;
pub mod redis;
pub mod sqlite;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;

pub use backend::{Backend, Health, StateFile};
pub use memory::MemoryStore;
pub use sqlite::SqliteStore;

/// A backend failure (I/O, a corrupt file): callers treat it as a miss and log it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("state store: {0}")]
pub struct StateError(pub String);

/// What every [`Store`] method returns.
pub type StateFuture<'a, T> = BoxFuture<'a, Result<T, StateError>>;

/// A value read back, with how long ago it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The bytes put.
    pub value: Vec<u8>,
    /// Time since the put (zero if the clock went back).
    pub age: Duration,
}

/// Entries and bytes under a prefix, in total and per tag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Live entries.
    pub entries: u64,
    /// Their accounted bytes ([`entry_bytes`]).
    pub bytes: u64,
    /// Per tag (only tags starting with the asked tag prefix): entries and bytes.
    pub by_tag: BTreeMap<String, (u64, u64)>,
}

/// The state storage interface. Expired entries are never returned; each backend drops them
/// lazily. A backend may evict live entries to stay within its bound (least recently used
/// first), so callers must treat every entry as a hint they can recompute.
pub trait Store: Send + Sync {
    /// The live value under `key`, marking it recently used.
    fn get<'a>(&'a self, key: &'a str) -> StateFuture<'a, Option<Stored>>;
    /// Put `value` under `key` for `ttl`, labelled with `tags` (for [`Store::delete_tag`]);
    /// replaces an existing entry. A value larger than the backend's bound is not kept.
    fn put<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
        tags: &'a [String],
    ) -> StateFuture<'a, ()>;
    /// Remove `key`; whether it was there.
    fn delete<'a>(&'a self, key: &'a str) -> StateFuture<'a, bool>;
    /// Remove every key starting with `prefix`; how many.
    fn delete_prefix<'a>(&'a self, prefix: &'a str) -> StateFuture<'a, u64>;
    /// Remove every entry labelled `tag`; how many.
    fn delete_tag<'a>(&'a self, tag: &'a str) -> StateFuture<'a, u64>;
    /// Live entries under `prefix`, split by the tags that start with `tag_prefix`.
    fn stats<'a>(&'a self, prefix: &'a str, tag_prefix: &'a str) -> StateFuture<'a, Stats>;
    /// One line naming the backend, for logs and `aerie cache stats`.
    fn describe(&self) -> String;
}

/// Bytes an entry is accounted at: key, value and tags, plus a fixed allowance for the
/// backend's bookkeeping, so many tiny entries cannot slip past a byte bound.
pub fn entry_bytes(key: &str, value: &[u8], tags: &[String]) -> u64 {
    const OVERHEAD: u64 = 96;
    (key.len() + value.len() + tags.iter().map(String::len).sum::<usize>()) as u64 + OVERHEAD
}

/// Milliseconds since the Unix epoch: stored timestamps survive restarts (SQLite).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `now + ttl` in epoch milliseconds, saturating.
pub fn expiry_ms(now: u64, ttl: Duration) -> u64 {
    now.saturating_add(ttl.as_millis().min(u64::MAX as u128) as u64)
}
