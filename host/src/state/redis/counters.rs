//! Call budgets on Redis: a session's counters are shared by every replica, and one Lua script
//! takes from all of a call's counters or from none, so two replicas can never both take the
//! last call. While Redis is unreachable, counting goes on in this replica's memory (reads keep
//! working; writes are refused before they are charged, see [`crate::state::Backend`]).

use std::sync::Arc;

use futures::future::BoxFuture;

use super::{Redis, ms};
use crate::controls::budget::{CounterStore, MemoryCounters, SESSION_IDLE, Spent, Want};

/// KEYS: the counters; ARGV[1] idle TTL in ms, ARGV[1 + i] the limit of KEYS[i].
/// Returns {1, new values…} or {0, index of the full counter, its value}.
const TAKE: &str = r"
for i = 1, #KEYS do
  local v = tonumber(redis.call('GET', KEYS[i]) or '0')
  if v >= tonumber(ARGV[i + 1]) then return {0, i - 1, v} end
end
local out = {1}
for i = 1, #KEYS do
  out[#out + 1] = redis.call('INCR', KEYS[i])
  redis.call('PEXPIRE', KEYS[i], ARGV[1])
end
return out
";

/// KEYS: counters to take one back from, never below zero.
const GIVE_BACK: &str = r"
for i = 1, #KEYS do
  if tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then redis.call('DECR', KEYS[i]) end
end
return 1
";

/// Budget counters on a shared Redis, with this replica's memory as the fallback.
pub struct RedisCounters {
    redis: Arc<Redis>,
    local: MemoryCounters,
}

impl RedisCounters {
    /// Counters on `redis`.
    pub fn new(redis: Arc<Redis>) -> RedisCounters {
        RedisCounters {
            redis,
            local: MemoryCounters::new(SESSION_IDLE, crate::controls::budget::MAX_SESSIONS),
        }
    }

    fn keys(&self, session: &str, names: impl Iterator<Item = String>) -> Vec<String> {
        names
            .map(|n| self.redis.key(&format!("budget:{session}:{n}")))
            .collect()
    }
}

impl CounterStore for RedisCounters {
    fn take<'a>(
        &'a self,
        session: &'a str,
        wants: &'a [Want],
    ) -> BoxFuture<'a, Result<Vec<u32>, Spent>> {
        let keys = self.keys(session, wants.iter().map(|w| w.key.clone()));
        Box::pin(async move {
            let r = self
                .redis
                .run(|mut c| async move {
                    let script = redis::Script::new(TAKE);
                    let mut inv = script.prepare_invoke();
                    for k in &keys {
                        inv.key(k);
                    }
                    inv.arg(ms(SESSION_IDLE));
                    for w in wants {
                        inv.arg(w.limit);
                    }
                    inv.invoke_async::<Vec<i64>>(&mut c).await
                })
                .await;
            match r {
                Ok(v) if v.first() == Some(&1) => Ok(v[1..].iter().map(|&n| n as u32).collect()),
                Ok(v) => Err(Spent {
                    index: v.get(1).copied().unwrap_or(0) as usize,
                    used: v.get(2).copied().unwrap_or(0) as u32,
                }),
                Err(e) => {
                    tracing::debug!(error = %e, "budget counted in this replica's memory");
                    self.local.take(session, wants).await
                }
            }
        })
    }

    fn read<'a>(&'a self, session: &'a str, keys: &'a [String]) -> BoxFuture<'a, Vec<u32>> {
        let rkeys = self.keys(session, keys.iter().cloned());
        Box::pin(async move {
            let r = self
                .redis
                .run(|mut c| async move {
                    redis::cmd("MGET")
                        .arg(&rkeys)
                        .query_async::<Vec<Option<u32>>>(&mut c)
                        .await
                })
                .await;
            match r {
                Ok(v) => v.into_iter().map(|n| n.unwrap_or(0)).collect(),
                Err(_) => self.local.read(session, keys).await,
            }
        })
    }

    fn give_back<'a>(&'a self, session: &'a str, keys: &'a [String]) -> BoxFuture<'a, ()> {
        let rkeys = self.keys(session, keys.iter().cloned());
        Box::pin(async move {
            let r = self
                .redis
                .run(|mut c| async move {
                    let script = redis::Script::new(GIVE_BACK);
                    let mut inv = script.prepare_invoke();
                    for k in &rkeys {
                        inv.key(k);
                    }
                    inv.invoke_async::<i64>(&mut c).await
                })
                .await;
            if r.is_err() {
                self.local.give_back(session, keys).await;
            }
        })
    }
}
