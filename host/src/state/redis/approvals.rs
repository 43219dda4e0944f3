//! The approval queue on Redis: an approval queued through one replica is listed, decided and
//! run through any other. Each entry is one JSON key; an index sorted by expiry counts them for
//! `max_pending`; a pointer per (session, tool, arguments) finds a pending duplicate. Queueing
//! is one Lua script; a decision is a compare-and-set, so it is recorded once however many
//! replicas race, and an approval runs once.

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::Redis;
use crate::controls::approval_queue::{ApprovalQueue, Change, Enqueued, Entry};
use crate::state::{StateError, StateFuture, now_ms};

/// How long an entry stays listed (as expired, or used) after its expiry.
const KEEP_AFTER: Duration = Duration::from_secs(60);
/// Compare-and-set attempts before a decision gives up (only under heavy contention).
const CAS_ATTEMPTS: usize = 16;

/// KEYS[1] index, KEYS[2] the call's pending pointer. ARGV: 1 now ms, 2 id, 3 entry JSON,
/// 4 expires ms, 5 max, 6 keep ms, 7 entry key prefix. Returns {0} added, {1, id} found,
/// {2, n} full.
const ENQUEUE: &str = r"
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[6]))
local found = redis.call('GET', KEYS[2])
if found then
  local rec = redis.call('GET', ARGV[7] .. found)
  if rec and cjson.decode(rec).status.state == 'pending' then return {1, found} end
end
local live = redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
if live >= tonumber(ARGV[5]) then return {2, tostring(live)} end
local expires = tonumber(ARGV[4])
redis.call('SET', ARGV[7] .. ARGV[2], ARGV[3], 'PX', expires - now + tonumber(ARGV[6]))
redis.call('ZADD', KEYS[1], expires, ARGV[2])
redis.call('SET', KEYS[2], ARGV[2], 'PX', math.max(expires - now, 1))
return {0}
";

/// KEYS[1] the entry. ARGV: what it must still be, what it becomes. Returns 1 if set.
const SWAP: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
return 1
";

/// Approvals on a shared Redis. No local fallback: a decision that cannot be recorded for
/// every replica is refused, not kept where the others cannot see it.
pub struct RedisApprovals {
    redis: Arc<Redis>,
}

fn bad(e: serde_json::Error) -> StateError {
    StateError(format!("an approval in Redis is not readable: {e}"))
}

impl RedisApprovals {
    /// The queue on `redis`.
    pub fn new(redis: Arc<Redis>) -> RedisApprovals {
        RedisApprovals { redis }
    }

    fn entry_prefix(&self) -> String {
        self.redis.key("ap:e:")
    }

    fn index(&self) -> String {
        self.redis.key("ap:index")
    }

    async fn raw(&self, id: &str) -> Result<Option<String>, StateError> {
        let key = format!("{}{id}", self.entry_prefix());
        self.redis
            .run(|mut c| async move { redis::cmd("GET").arg(&key).query_async(&mut c).await })
            .await
    }
}

impl ApprovalQueue for RedisApprovals {
    fn enqueue(&self, fresh: Entry, max: usize) -> StateFuture<'_, Enqueued> {
        Box::pin(async move {
            let call = hex::encode(Sha256::digest(
                format!("{}\n{}\n{}", fresh.session, fresh.tool, fresh.digest).as_bytes(),
            ));
            let pointer = self.redis.key(&format!("ap:p:{call}"));
            let json = serde_json::to_string(&fresh).map_err(bad)?;
            let (index, prefix) = (self.index(), self.entry_prefix());
            let r: Vec<String> = self
                .redis
                .run(|mut c| async move {
                    redis::Script::new(ENQUEUE)
                        .key(&index)
                        .key(&pointer)
                        .arg(now_ms())
                        .arg(&fresh.id)
                        .arg(json)
                        .arg(fresh.expires_ms)
                        .arg(max)
                        .arg(KEEP_AFTER.as_millis() as u64)
                        .arg(&prefix)
                        .invoke_async(&mut c)
                        .await
                })
                .await?;
            Ok(match (r.first().map(String::as_str), r.get(1)) {
                (Some("1"), Some(id)) => Enqueued::Found(id.clone()),
                (Some("2"), Some(n)) => Enqueued::Full(n.parse().unwrap_or(max)),
                _ => Enqueued::Added,
            })
        })
    }

    fn get<'a>(&'a self, id: &'a str) -> StateFuture<'a, Option<Entry>> {
        Box::pin(async move {
            match self.raw(id).await? {
                Some(text) => Ok(Some(serde_json::from_str(&text).map_err(bad)?)),
                None => Ok(None),
            }
        })
    }

    fn all(&self) -> StateFuture<'_, Vec<Entry>> {
        Box::pin(async move {
            let (index, prefix) = (self.index(), self.entry_prefix());
            let since = now_ms().saturating_sub(KEEP_AFTER.as_millis() as u64);
            let texts: Vec<Option<String>> = self
                .redis
                .run(|mut c| async move {
                    let ids: Vec<String> = redis::cmd("ZRANGEBYSCORE")
                        .arg(&index)
                        .arg(since)
                        .arg("+inf")
                        .query_async(&mut c)
                        .await?;
                    if ids.is_empty() {
                        return Ok(Vec::new());
                    }
                    let keys: Vec<String> = ids.iter().map(|i| format!("{prefix}{i}")).collect();
                    redis::cmd("MGET").arg(&keys).query_async(&mut c).await
                })
                .await?;
            texts
                .into_iter()
                .flatten()
                .map(|t| serde_json::from_str(&t).map_err(bad))
                .collect()
        })
    }

    fn update<'a>(
        &'a self,
        id: &'a str,
        change: Change<'a>,
    ) -> StateFuture<'a, Option<Result<Entry, String>>> {
        Box::pin(async move {
            let key = format!("{}{id}", self.entry_prefix());
            for _ in 0..CAS_ATTEMPTS {
                let Some(old) = self.raw(id).await? else {
                    return Ok(None);
                };
                let mut entry: Entry = serde_json::from_str(&old).map_err(bad)?;
                if let Err(why) = change(&mut entry) {
                    return Ok(Some(Err(why)));
                }
                let new = serde_json::to_string(&entry).map_err(bad)?;
                let key = &key;
                let swapped: i64 = self
                    .redis
                    .run(|mut c| async move {
                        redis::Script::new(SWAP)
                            .key(key)
                            .arg(&old)
                            .arg(new)
                            .invoke_async(&mut c)
                            .await
                    })
                    .await?;
                if swapped == 1 {
                    return Ok(Some(Ok(entry)));
                }
                // Another replica changed it first: read it again and re-judge the change.
            }
            Err(StateError(format!(
                "approval `{id}` is being changed by many replicas at once; try again"
            )))
        })
    }

    fn first_use<'a>(&'a self, key: &'a str, ttl: Duration) -> StateFuture<'a, bool> {
        let k = self.redis.key(&format!(
            "ap:round:{}",
            hex::encode(Sha256::digest(key.as_bytes()))
        ));
        Box::pin(async move {
            let set: Option<String> = self
                .redis
                .run(|mut c| async move {
                    redis::cmd("SET")
                        .arg(&k)
                        .arg(1)
                        .arg("NX")
                        .arg("PX")
                        .arg(super::ms(ttl))
                        .query_async(&mut c)
                        .await
                })
                .await?;
            Ok(set.is_some())
        })
    }
}
