//! The response store on Redis: a handle made on one replica pages on any other. Each stored
//! result is two keys (its items, and a small listing), indexed by a per-session and a global
//! sorted set scored by expiry; one Lua script evicts (expired, then oldest in the session by
//! count and bytes, then oldest overall by bytes) and inserts, so the bounds hold across
//! replicas. While Redis is unreachable, results are kept in this replica's memory.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::{Redis, ms};
use crate::controls::store::{Bounds, Listing, MemoryBackend, Slice, StoreBackend, Stored};
use crate::state::now_ms;

/// KEYS[1] global index, KEYS[2] this session's index, KEYS[3] sizes (handle → "bytes session"),
/// KEYS[4] total bytes. ARGV: 1 handle, 2 bytes, 3 now ms, 4 ttl ms, 5 per session, 6 session
/// bytes, 7 total bytes, 8 key prefix, 9 items, 10 listing, 11 session. Returns 1.
const PUT: &str = r"
local pre = ARGV[8]
local function remove(h)
  local info = redis.call('HGET', KEYS[3], h)
  redis.call('ZREM', KEYS[1], h)
  redis.call('HDEL', KEYS[3], h)
  redis.call('DEL', pre .. 'r:' .. h, pre .. 'l:' .. h)
  if info then
    local sp = string.find(info, ' ')
    redis.call('DECRBY', KEYS[4], tonumber(string.sub(info, 1, sp - 1)))
    redis.call('ZREM', pre .. 's:' .. string.sub(info, sp + 1), h)
  end
end
local function bytes_of(h)
  local info = redis.call('HGET', KEYS[3], h)
  if not info then return 0 end
  return tonumber(string.sub(info, 1, string.find(info, ' ') - 1))
end
local now = tonumber(ARGV[3])
for _, h in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)) do remove(h) end
local bytes = tonumber(ARGV[2])
while true do
  local members = redis.call('ZRANGE', KEYS[2], 0, -1)
  if #members == 0 then break end
  local used = 0
  for _, h in ipairs(members) do used = used + bytes_of(h) end
  if #members < tonumber(ARGV[5]) and used + bytes <= tonumber(ARGV[6]) then break end
  remove(members[1])
end
while tonumber(redis.call('GET', KEYS[4]) or '0') + bytes > tonumber(ARGV[7]) do
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0)
  if #oldest == 0 then break end
  remove(oldest[1])
end
local h = ARGV[1]
local ttl = tonumber(ARGV[4])
redis.call('SET', pre .. 'r:' .. h, ARGV[9], 'PX', ttl)
redis.call('SET', pre .. 'l:' .. h, ARGV[10], 'PX', ttl)
redis.call('ZADD', KEYS[1], now + ttl, h)
redis.call('ZADD', KEYS[2], now + ttl, h)
redis.call('PEXPIRE', KEYS[2], ttl)
redis.call('HSET', KEYS[3], h, ARGV[2] .. ' ' .. ARGV[11])
redis.call('INCRBY', KEYS[4], bytes)
return 1
";

/// A stored result's items, as kept in Redis.
#[derive(Serialize, Deserialize)]
struct Items {
    session: String,
    tool: String,
    items: Vec<Box<str>>,
}

/// A stored result's listing line, as kept in Redis.
#[derive(Serialize, Deserialize)]
struct Line {
    tool: String,
    created: String,
    items: usize,
    bytes: usize,
}

/// Stored results on a shared Redis, with this replica's memory as the fallback.
pub struct RedisResponses {
    redis: Arc<Redis>,
    bounds: Bounds,
    local: MemoryBackend,
}

impl RedisResponses {
    /// Stored results on `redis` within `bounds`.
    pub fn new(redis: Arc<Redis>, bounds: Bounds) -> RedisResponses {
        RedisResponses {
            local: MemoryBackend::new(bounds.clone()),
            redis,
            bounds,
        }
    }

    fn pre(&self) -> String {
        self.redis.key("store:")
    }

    async fn put_shared(&self, entry: &Stored) -> Result<(), crate::state::StateError> {
        let b = &self.bounds;
        let pre = self.pre();
        let items = serde_json::to_string(&Items {
            session: entry.session.clone(),
            tool: entry.tool.clone(),
            items: entry.items.clone(),
        })
        .unwrap_or_default();
        let line = serde_json::to_string(&Line {
            tool: entry.tool.clone(),
            created: entry.created.clone(),
            items: entry.items.len(),
            bytes: entry.bytes,
        })
        .unwrap_or_default();
        self.redis
            .run(|mut c| async move {
                redis::Script::new(PUT)
                    .key(format!("{pre}all"))
                    .key(format!("{pre}s:{}", entry.session))
                    .key(format!("{pre}sizes"))
                    .key(format!("{pre}total"))
                    .arg(&entry.handle)
                    .arg(entry.bytes)
                    .arg(now_ms())
                    .arg(ms(b.ttl))
                    .arg(b.per_session)
                    .arg(b.session_bytes)
                    .arg(b.total_bytes)
                    .arg(&pre)
                    .arg(items)
                    .arg(line)
                    .arg(&entry.session)
                    .invoke_async::<i64>(&mut c)
                    .await
            })
            .await
            .map(drop)
    }
}

impl StoreBackend for RedisResponses {
    fn put(&self, entry: Stored) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let b = &self.bounds;
            if entry.bytes > b.session_bytes.min(b.total_bytes) {
                // The memory backend words the refusal; it keeps nothing this large.
                return self.local.put(entry).await;
            }
            match self.put_shared(&entry).await {
                Ok(()) => Ok(()),
                Err(e) => {
                    tracing::debug!(error = %e, "stored result kept in this replica's memory");
                    self.local.put(entry).await
                }
            }
        })
    }

    fn slice<'a>(
        &'a self,
        session: &'a str,
        handle: &'a str,
        offset: usize,
        limit: usize,
    ) -> BoxFuture<'a, Option<Slice>> {
        let key = format!("{}r:{handle}", self.pre());
        Box::pin(async move {
            let got = self
                .redis
                .run(|mut c| async move {
                    redis::cmd("GET")
                        .arg(&key)
                        .query_async::<Option<String>>(&mut c)
                        .await
                })
                .await;
            match got {
                Ok(Some(text)) => {
                    let kept: Items = serde_json::from_str(&text).ok()?;
                    // Another session's handle is "no such stored result", as in memory.
                    (kept.session == session).then(|| Slice {
                        total: kept.items.len(),
                        tool: kept.tool,
                        items: kept.items.into_iter().skip(offset).take(limit).collect(),
                    })
                }
                Ok(None) | Err(_) => self.local.slice(session, handle, offset, limit).await,
            }
        })
    }

    fn list<'a>(&'a self, session: &'a str) -> BoxFuture<'a, Vec<Listing>> {
        let pre = self.pre();
        Box::pin(async move {
            let now = now_ms();
            let index = format!("{pre}s:{session}");
            let got = self
                .redis
                .run(|mut c| async move {
                    let live: Vec<(String, u64)> = redis::cmd("ZRANGEBYSCORE")
                        .arg(&index)
                        .arg(format!("({now}"))
                        .arg("+inf")
                        .arg("WITHSCORES")
                        .query_async(&mut c)
                        .await?;
                    if live.is_empty() {
                        return Ok(Vec::new());
                    }
                    let keys: Vec<String> =
                        live.iter().map(|(h, _)| format!("{pre}l:{h}")).collect();
                    let lines: Vec<Option<String>> =
                        redis::cmd("MGET").arg(&keys).query_async(&mut c).await?;
                    Ok(live.into_iter().zip(lines).collect::<Vec<_>>())
                })
                .await;
            let mut out: Vec<Listing> = match got {
                Ok(rows) => rows
                    .into_iter()
                    .filter_map(|((handle, expires), line)| {
                        let l: Line = serde_json::from_str(&line?).ok()?;
                        Some(Listing {
                            handle,
                            tool: l.tool,
                            created: l.created,
                            expires_in_secs: expires.saturating_sub(now) / 1000,
                            items: l.items,
                            bytes: l.bytes,
                        })
                    })
                    .collect(),
                Err(_) => Vec::new(),
            };
            // What this replica kept while Redis was away is still readable here.
            out.extend(self.local.list(session).await);
            out
        })
    }
}
