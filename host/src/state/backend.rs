//! `[state] backend`: the one place that decides where every control keeps its state — the
//! result cache, the response store, call budgets, the approval queue and the per-CID egress
//! budget — and hands each control its view of it.
//!
//! - `memory` (default): everything in this process.
//! - `sqlite:PATH`: the result cache in a file that survives restarts; the rest in memory.
//! - `redis://…`: everything shared by the replicas behind a load balancer. A replica that
//!   loses Redis serves reads from its own memory (cache, budgets, stored results) and refuses
//!   writes and approval decisions with an error saying why, until Redis answers again.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::redis::{Redis, RedisStore, approvals, counters, rate, responses};
use super::{MemoryStore, SqliteStore, StateFuture, Stats, Store, Stored};
use crate::controls::approval_queue::{ApprovalQueue, MemoryQueue};
use crate::controls::budget::{CounterStore, MAX_SESSIONS, MemoryCounters, SESSION_IDLE};
use crate::controls::store::{Bounds, MemoryBackend, StoreBackend};
use crate::egress::shared::SharedRate;

/// Default key prefix in a shared backend.
pub const DEFAULT_PREFIX: &str = "aerie:";

/// `[state]` in `aerie.toml`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StateFile {
    /// `memory` (default), `sqlite:PATH` or `redis://[:password@]host[:port][/db]`.
    pub backend: Option<String>,
    /// Prefix of every key in Redis (default `aerie:`), so deployments can share one server.
    pub prefix: Option<String>,
}

/// Where state lives, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// In the server process.
    Memory,
    /// The result cache in a SQLite file.
    Sqlite(PathBuf),
    /// Shared on Redis (the URL).
    Redis(String),
}

impl StateFile {
    /// The configured backend, or an error saying what to write.
    pub fn kind(&self) -> Result<Kind, String> {
        let b = self.backend.as_deref().map(str::trim);
        match b {
            None | Some("memory") => Ok(Kind::Memory),
            Some(b) if b.starts_with("redis://") || b.starts_with("rediss://") => {
                Ok(Kind::Redis(b.to_string()))
            }
            Some(b) => match b.strip_prefix("sqlite:").map(str::trim) {
                Some(p) if !p.is_empty() => Ok(Kind::Sqlite(PathBuf::from(p))),
                _ => Err(format!(
                    "[state] backend must be \"memory\", \"sqlite:PATH\" or \"redis://host:port\", not {:?}",
                    super::redis::redact(b)
                )),
            },
        }
    }

    /// The key prefix, checked: short, printable, no spaces.
    pub fn prefix(&self) -> Result<String, String> {
        let p = self.prefix.as_deref().unwrap_or(DEFAULT_PREFIX);
        if p.is_empty() || p.len() > 64 || p.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "[state] prefix must be 1..=64 characters without spaces, not {p:?}"
            ));
        }
        Ok(p.to_string())
    }
}

/// The opened backend; cheap to clone.
#[derive(Clone, Default)]
pub struct Backend {
    sqlite: Option<PathBuf>,
    redis: Option<Arc<Redis>>,
}

/// Whether the shared state is reachable, for `/healthz` and the metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// State is in this process (or a local file): nothing to lose.
    Local,
    /// Redis answers.
    Shared,
    /// Redis has not answered since this epoch millisecond.
    Lost {
        /// The URL without password.
        redis: String,
        /// Epoch ms.
        since_ms: u64,
    },
}

impl Backend {
    /// Open the backend `[state]` names (for Redis: connect and ping once).
    pub async fn open(f: &StateFile) -> Result<Backend, String> {
        let prefix = f.prefix()?;
        Ok(match f.kind()? {
            Kind::Memory => Backend::default(),
            Kind::Sqlite(p) => Backend {
                sqlite: Some(p),
                redis: None,
            },
            Kind::Redis(url) => Backend {
                sqlite: None,
                redis: Some(
                    Redis::connect(&url, &prefix)
                        .await
                        .map_err(|e| format!("[state] backend: {e}"))?,
                ),
            },
        })
    }

    /// One line naming the backend.
    pub fn describe(&self) -> String {
        match (&self.redis, &self.sqlite) {
            (Some(r), _) => format!("redis ({})", r.shown()),
            (None, Some(p)) => format!(
                "sqlite ({}) for the cache, memory for the rest",
                p.display()
            ),
            (None, None) => "memory".into(),
        }
    }

    /// Whether state is shared with other replicas.
    pub fn shared(&self) -> bool {
        self.redis.is_some()
    }

    /// Reachability of the shared state.
    pub fn health(&self) -> Health {
        match &self.redis {
            None => Health::Local,
            Some(r) => match r.down_since_ms() {
                None => Health::Shared,
                Some(since_ms) => Health::Lost {
                    redis: r.shown().to_string(),
                    since_ms,
                },
            },
        }
    }

    /// Why a write must be refused now, if it must: with the shared state lost, its cache
    /// invalidation, budget and approval would not reach the other replicas.
    pub fn refuse_write(&self) -> Option<String> {
        match self.health() {
            Health::Lost { redis, since_ms } => Some(format!(
                "This replica has lost its shared state (Redis at {redis}, unreachable for {} s), so write tools are refused: nothing was sent to Falcon. Read tools still work. Try again once it is back (see /healthz).",
                super::now_ms().saturating_sub(since_ms) / 1000
            )),
            _ => None,
        }
    }

    /// The result cache's store, bounded by `max_bytes` where the backend bounds it.
    pub fn cache_store(&self, max_bytes: u64) -> Result<Arc<dyn Store>, String> {
        Ok(match (&self.redis, &self.sqlite) {
            (Some(r), _) => Arc::new(Fallback {
                shared: RedisStore::new(r.clone()),
                local: MemoryStore::new(max_bytes),
            }),
            (None, Some(p)) => Arc::new(
                SqliteStore::open(p, max_bytes).map_err(|e| format!("[state] backend: {e}"))?,
            ),
            (None, None) => Arc::new(MemoryStore::new(max_bytes)),
        })
    }

    /// Where call budgets count.
    pub fn counters(&self) -> Arc<dyn CounterStore> {
        match &self.redis {
            Some(r) => Arc::new(counters::RedisCounters::new(r.clone())),
            None => Arc::new(MemoryCounters::new(SESSION_IDLE, MAX_SESSIONS)),
        }
    }

    /// Where large results are kept for paging.
    pub fn responses(&self, bounds: Bounds) -> Box<dyn StoreBackend> {
        match &self.redis {
            Some(r) => Box::new(responses::RedisResponses::new(r.clone(), bounds)),
            None => Box::new(MemoryBackend::new(bounds)),
        }
    }

    /// Where queued approvals wait.
    pub fn approvals(&self) -> Arc<dyn ApprovalQueue> {
        match &self.redis {
            Some(r) => Arc::new(approvals::RedisApprovals::new(r.clone())),
            None => Arc::new(MemoryQueue::default()),
        }
    }

    /// The CID budget shared with the other replicas of `tenant`, if state is shared.
    pub fn egress_rate(&self, tenant: &str) -> Option<Arc<dyn SharedRate>> {
        self.redis
            .as_ref()
            .map(|r| Arc::new(rate::RedisRate::new(r.clone(), tenant)) as Arc<dyn SharedRate>)
    }
}

/// A shared store with this replica's memory behind it: while the shared one fails, reads and
/// puts use the local one; invalidations reach both.
struct Fallback {
    shared: RedisStore,
    local: MemoryStore,
}

impl Store for Fallback {
    fn get<'a>(&'a self, key: &'a str) -> StateFuture<'a, Option<Stored>> {
        Box::pin(async move {
            match self.shared.get(key).await {
                Ok(v) => Ok(v),
                Err(_) => self.local.get(key).await,
            }
        })
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
        tags: &'a [String],
    ) -> StateFuture<'a, ()> {
        Box::pin(async move {
            if self
                .shared
                .put(key, value.clone(), ttl, tags)
                .await
                .is_err()
            {
                self.local.put(key, value, ttl, tags).await?;
            }
            Ok(())
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StateFuture<'a, bool> {
        Box::pin(async move {
            let local = self.local.delete(key).await?;
            Ok(self.shared.delete(key).await? || local)
        })
    }

    fn delete_prefix<'a>(&'a self, prefix: &'a str) -> StateFuture<'a, u64> {
        Box::pin(async move {
            let local = self.local.delete_prefix(prefix).await?;
            Ok(self.shared.delete_prefix(prefix).await? + local)
        })
    }

    fn delete_tag<'a>(&'a self, tag: &'a str) -> StateFuture<'a, u64> {
        Box::pin(async move {
            let local = self.local.delete_tag(tag).await?;
            Ok(self.shared.delete_tag(tag).await? + local)
        })
    }

    fn stats<'a>(&'a self, prefix: &'a str, tag_prefix: &'a str) -> StateFuture<'a, Stats> {
        self.shared.stats(prefix, tag_prefix)
    }

    fn describe(&self) -> String {
        self.shared.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(b: &str) -> StateFile {
        StateFile {
            backend: Some(b.into()),
            prefix: None,
        }
    }

    #[test]
    fn backends_parse_and_bad_ones_say_what_to_write() {
        assert_eq!(StateFile::default().kind(), Ok(Kind::Memory));
        assert_eq!(
            file("sqlite:/var/lib/aerie/state.db").kind(),
            Ok(Kind::Sqlite("/var/lib/aerie/state.db".into()))
        );
        assert_eq!(
            file("redis://127.0.0.1:6379/0").kind(),
            Ok(Kind::Redis("redis://127.0.0.1:6379/0".into()))
        );
        let e = file("postgres://:pw@db").kind().unwrap_err();
        assert!(
            e.contains("\"memory\", \"sqlite:PATH\" or \"redis://host:port\""),
            "{e}"
        );
        let e = StateFile {
            prefix: Some("a b".into()),
            ..Default::default()
        }
        .prefix()
        .unwrap_err();
        assert!(e.contains("[state] prefix"), "{e}");
    }
}
