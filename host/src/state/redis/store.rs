//! The key-value [`Store`] on Redis (the result cache): one hash per entry (value, when it
//! was stored, its tags) with the entry's TTL, and one set per tag naming its entries, so a
//! write on one replica invalidates what every replica cached. Redis bounds the memory
//! (`maxmemory`), not `[cache] max_mib`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::{Redis, ms, scan};
use crate::state::{StateFuture, Stats, Store, Stored, entry_bytes, now_ms};

/// A [`Store`] on a shared Redis.
pub struct RedisStore {
    redis: Arc<Redis>,
}

/// Put an entry and name it in its tags' sets; a tag set lives as long as its longest entry.
/// KEYS[1] entry; KEYS[2..] tag sets. ARGV: value, stored ms, tags (\n-joined), bytes, ttl ms.
const PUT: &str = r"
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[1], 's', ARGV[2], 'g', ARGV[3], 'b', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
local ttl = tonumber(ARGV[5])
for i = 2, #KEYS do
  redis.call('SADD', KEYS[i], KEYS[1])
  if redis.call('PTTL', KEYS[i]) < ttl then redis.call('PEXPIRE', KEYS[i], ttl) end
end
return 1
";

/// Delete every entry a tag set names, and the set. KEYS[1] the set.
const DELETE_TAG: &str = r"
local keys = redis.call('SMEMBERS', KEYS[1])
local n = 0
for _, k in ipairs(keys) do n = n + redis.call('DEL', k) end
redis.call('DEL', KEYS[1])
return n
";

impl RedisStore {
    /// The store on `redis`.
    pub fn new(redis: Arc<Redis>) -> RedisStore {
        RedisStore { redis }
    }

    fn entry(&self, key: &str) -> String {
        self.redis.key(&format!("kv:{key}"))
    }

    fn tag(&self, tag: &str) -> String {
        self.redis.key(&format!("tag:{tag}"))
    }
}

impl Store for RedisStore {
    fn get<'a>(&'a self, key: &'a str) -> StateFuture<'a, Option<Stored>> {
        let k = self.entry(key);
        Box::pin(async move {
            let (value, stored): (Option<Vec<u8>>, Option<u64>) = self
                .redis
                .run(|mut c| async move {
                    redis::cmd("HMGET")
                        .arg(&k)
                        .arg("v")
                        .arg("s")
                        .query_async(&mut c)
                        .await
                })
                .await?;
            Ok(value.map(|value| Stored {
                value,
                age: Duration::from_millis(now_ms().saturating_sub(stored.unwrap_or(0))),
            }))
        })
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
        tags: &'a [String],
    ) -> StateFuture<'a, ()> {
        let bytes = entry_bytes(key, &value, tags);
        let k = self.entry(key);
        let tag_keys: Vec<String> = tags.iter().map(|t| self.tag(t)).collect();
        Box::pin(async move {
            if ttl.is_zero() {
                return Ok(());
            }
            self.redis
                .run(|mut c| async move {
                    let script = redis::Script::new(PUT);
                    let mut inv = script.key(&k);
                    for t in &tag_keys {
                        inv.key(t);
                    }
                    inv.arg(value)
                        .arg(now_ms())
                        .arg(tags.join("\n"))
                        .arg(bytes)
                        .arg(ms(ttl))
                        .invoke_async::<i64>(&mut c)
                        .await
                })
                .await
                .map(drop)
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StateFuture<'a, bool> {
        let k = self.entry(key);
        Box::pin(async move {
            let n: i64 = self
                .redis
                .run(|mut c| async move { redis::cmd("DEL").arg(&k).query_async(&mut c).await })
                .await?;
            Ok(n > 0)
        })
    }

    fn delete_prefix<'a>(&'a self, prefix: &'a str) -> StateFuture<'a, u64> {
        let p = self.entry(prefix);
        Box::pin(async move {
            self.redis
                .run(|c| async move {
                    let keys = scan(c.clone(), &p).await?;
                    let mut n = 0u64;
                    let mut c = c;
                    for chunk in keys.chunks(500) {
                        n += redis::cmd("DEL")
                            .arg(chunk)
                            .query_async::<u64>(&mut c)
                            .await?;
                    }
                    Ok(n)
                })
                .await
        })
    }

    fn delete_tag<'a>(&'a self, tag: &'a str) -> StateFuture<'a, u64> {
        let t = self.tag(tag);
        Box::pin(async move {
            self.redis
                .run(|mut c| async move {
                    redis::Script::new(DELETE_TAG)
                        .key(&t)
                        .invoke_async::<u64>(&mut c)
                        .await
                })
                .await
        })
    }

    fn stats<'a>(&'a self, prefix: &'a str, tag_prefix: &'a str) -> StateFuture<'a, Stats> {
        let p = self.entry(prefix);
        Box::pin(async move {
            let rows: Vec<(Option<String>, Option<u64>)> = self
                .redis
                .run(|c| async move {
                    let keys = scan(c.clone(), &p).await?;
                    let mut c = c;
                    let mut rows = Vec::with_capacity(keys.len());
                    for k in keys {
                        rows.push(
                            redis::cmd("HMGET")
                                .arg(&k)
                                .arg("g")
                                .arg("b")
                                .query_async(&mut c)
                                .await?,
                        );
                    }
                    Ok(rows)
                })
                .await?;
            let mut s = Stats {
                by_tag: BTreeMap::new(),
                ..Stats::default()
            };
            // An entry that expired between the scan and its read has no fields.
            for (tags, bytes) in rows {
                let Some(bytes) = bytes else { continue };
                s.entries += 1;
                s.bytes += bytes;
                for t in tags.iter().flat_map(|t| t.split('\n')) {
                    if !t.is_empty() && t.starts_with(tag_prefix) {
                        let slot = s.by_tag.entry(t.to_string()).or_default();
                        slot.0 += 1;
                        slot.1 += bytes;
                    }
                }
            }
            Ok(s)
        })
    }

    fn describe(&self) -> String {
        format!("redis ({}, shared by every replica)", self.redis.shown())
    }
}
