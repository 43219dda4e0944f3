//! Where stored results live: the [`StoreBackend`] interface (what a shared backend for
//! several replicas implements) and the in-memory backend, with its bounds and session check.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

use futures::future::BoxFuture;

use super::{Bounds, human_bytes};

/// A result kept for paging: its main array, one compact JSON text per item.
#[derive(Debug)]
pub struct Stored {
    /// `r-` and 24 hex digits (96 random bits).
    pub handle: String,
    /// The session that made it; only it may read it.
    pub session: String,
    /// The tool that produced it.
    pub tool: String,
    /// When it was stored (RFC 3339).
    pub created: String,
    /// The items of the main array as compact JSON (strings for lines of a text-only result).
    pub items: Vec<Box<str>>,
    /// Bytes the items hold (what the bounds count).
    pub bytes: usize,
    /// Bytes of the original result (text + structured JSON).
    pub result_bytes: usize,
}

/// One line of `aerie_results`.
#[derive(Debug, Clone)]
pub struct Listing {
    /// The handle.
    pub handle: String,
    /// The tool that produced it.
    pub tool: String,
    /// When it was stored.
    pub created: String,
    /// Seconds until it expires.
    pub expires_in_secs: u64,
    /// Items kept.
    pub items: usize,
    /// Bytes kept.
    pub bytes: usize,
}

/// A slice of a stored result.
#[derive(Debug)]
pub struct Slice {
    /// Items in the stored result.
    pub total: usize,
    /// The tool that produced it.
    pub tool: String,
    /// Items from the requested offset, at most the requested limit.
    pub items: Vec<Box<str>>,
}

/// Where stored results live. The in-memory backend is the default; a shared backend (for
/// several replicas) implements the same four calls and enforces the same bounds and the same
/// session check.
pub trait StoreBackend: Send + Sync {
    /// Keep `entry`, evicting what the bounds require; `Err` says why it cannot be kept.
    fn put(&self, entry: Stored) -> BoxFuture<'_, Result<(), String>>;
    /// Items `offset..offset+limit` of `handle`, if `session` made it and it is still kept.
    fn slice<'a>(
        &'a self,
        session: &'a str,
        handle: &'a str,
        offset: usize,
        limit: usize,
    ) -> BoxFuture<'a, Option<Slice>>;
    /// What `session` has stored, oldest first.
    fn list<'a>(&'a self, session: &'a str) -> BoxFuture<'a, Vec<Listing>>;
}

/// A kept entry and when it goes.
struct Kept {
    entry: Stored,
    expires: Instant,
}

/// The in-memory backend: entries in creation order (so expiry and "oldest out" pop from the
/// front), found by handle and by session.
pub struct MemoryBackend {
    bounds: Bounds,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    next: u64,
    by_seq: BTreeMap<u64, Kept>,
    by_handle: HashMap<String, u64>,
    by_session: HashMap<String, VecDeque<u64>>,
    total_bytes: usize,
}

impl Inner {
    fn remove(&mut self, seq: u64) {
        let Some(k) = self.by_seq.remove(&seq) else {
            return;
        };
        self.by_handle.remove(&k.entry.handle);
        self.total_bytes -= k.entry.bytes;
        if let Some(q) = self.by_session.get_mut(&k.entry.session) {
            q.retain(|s| *s != seq);
            if q.is_empty() {
                self.by_session.remove(&k.entry.session);
            }
        }
    }

    /// Drop what has expired: every entry has the same time to live, so they are at the front.
    fn purge(&mut self, now: Instant) {
        while let Some((&seq, k)) = self.by_seq.first_key_value() {
            if k.expires > now {
                break;
            }
            self.remove(seq);
        }
    }

    fn session_bytes(&self, session: &str) -> usize {
        self.by_session.get(session).map_or(0, |q| {
            q.iter()
                .filter_map(|s| self.by_seq.get(s))
                .map(|k| k.entry.bytes)
                .sum()
        })
    }

    fn get(&mut self, session: &str, handle: &str) -> Option<&Kept> {
        self.purge(Instant::now());
        let seq = self.by_handle.get(handle)?;
        self.by_seq.get(seq).filter(|k| k.entry.session == session)
    }
}

impl MemoryBackend {
    /// An empty store with `bounds`.
    pub fn new(bounds: Bounds) -> MemoryBackend {
        MemoryBackend {
            bounds,
            inner: Mutex::default(),
        }
    }

    /// The state; a panic while it was held left it consistent (every change is one step).
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Total bytes kept, over every session.
    pub fn total_bytes(&self) -> usize {
        self.lock().total_bytes
    }

    /// Keep `entry` now (the synchronous body of [`StoreBackend::put`]).
    pub(super) fn put_now(&self, entry: Stored) -> Result<(), String> {
        let b = &self.bounds;
        if entry.bytes > b.session_bytes.min(b.total_bytes) {
            return Err(format!(
                "it is {} and one session may keep at most {} ([store] max_session_mib / max_total_mib)",
                human_bytes(entry.bytes),
                human_bytes(b.session_bytes.min(b.total_bytes))
            ));
        }
        let mut inner = self.lock();
        inner.purge(Instant::now());
        // Oldest out: first within the session (count and bytes), then over every session.
        loop {
            let count = inner
                .by_session
                .get(&entry.session)
                .map_or(0, VecDeque::len);
            let over = count >= b.per_session
                || inner.session_bytes(&entry.session) + entry.bytes > b.session_bytes;
            let oldest = inner
                .by_session
                .get(&entry.session)
                .and_then(|q| q.front().copied());
            match (over, oldest) {
                (true, Some(seq)) => inner.remove(seq),
                _ => break,
            }
        }
        while inner.total_bytes + entry.bytes > b.total_bytes {
            let Some(&seq) = inner.by_seq.keys().next() else {
                break;
            };
            inner.remove(seq);
        }
        let seq = inner.next;
        inner.next += 1;
        inner.total_bytes += entry.bytes;
        inner.by_handle.insert(entry.handle.clone(), seq);
        inner
            .by_session
            .entry(entry.session.clone())
            .or_default()
            .push_back(seq);
        inner.by_seq.insert(
            seq,
            Kept {
                entry,
                expires: Instant::now() + b.ttl,
            },
        );
        Ok(())
    }
}

impl StoreBackend for MemoryBackend {
    fn put(&self, entry: Stored) -> BoxFuture<'_, Result<(), String>> {
        let r = self.put_now(entry);
        Box::pin(async move { r })
    }

    fn slice<'a>(
        &'a self,
        session: &'a str,
        handle: &'a str,
        offset: usize,
        limit: usize,
    ) -> BoxFuture<'a, Option<Slice>> {
        let mut inner = self.lock();
        let r = inner.get(session, handle).map(|k| Slice {
            total: k.entry.items.len(),
            tool: k.entry.tool.clone(),
            items: k
                .entry
                .items
                .iter()
                .skip(offset)
                .take(limit)
                .cloned()
                .collect(),
        });
        drop(inner);
        Box::pin(async move { r })
    }

    fn list<'a>(&'a self, session: &'a str) -> BoxFuture<'a, Vec<Listing>> {
        let now = Instant::now();
        let mut inner = self.lock();
        inner.purge(now);
        let r = inner.by_session.get(session).map_or_else(Vec::new, |q| {
            q.iter()
                .filter_map(|s| inner.by_seq.get(s))
                .map(|k| Listing {
                    handle: k.entry.handle.clone(),
                    tool: k.entry.tool.clone(),
                    created: k.entry.created.clone(),
                    expires_in_secs: k.expires.saturating_duration_since(now).as_secs(),
                    items: k.entry.items.len(),
                    bytes: k.entry.bytes,
                })
                .collect()
        });
        drop(inner);
        Box::pin(async move { r })
    }
}
