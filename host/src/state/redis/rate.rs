//! The per-CID egress budget on Redis: a GCRA (generic cell rate algorithm) bucket in one Lua
//! script, timed by Redis's own clock so replicas' clocks do not matter. Each request reserves
//! the next emission time; in any window of `W` the replicas together send at most
//! `burst + W × rate` requests.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use super::Redis;
use crate::egress::shared::{NoTurn, SharedRate};

/// KEYS[1] the bucket (its theoretical arrival time, µs). ARGV: emission interval µs, burst
/// tolerance µs, patience µs. Returns the wait in µs, or minus it when it exceeds the patience
/// (nothing reserved then).
const TURN: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - tonumber(ARGV[2]) - now
if wait < 0 then wait = 0 end
if wait > tonumber(ARGV[3]) then return -wait end
local next = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', next), 'PX', math.floor((next - now) / 1000) + 1000)
return wait
";

/// One CID's bucket on a shared Redis.
pub struct RedisRate {
    redis: Arc<Redis>,
    key: String,
}

impl RedisRate {
    /// The bucket of `tenant` (base URL, client id and member CID) on `redis`.
    pub fn new(redis: Arc<Redis>, tenant: &str) -> RedisRate {
        use sha2::{Digest, Sha256};
        // Hashed: the key names no client id.
        let id = hex::encode(&Sha256::digest(tenant.as_bytes())[..12]);
        RedisRate {
            key: redis.key(&format!("egress:{id}")),
            redis,
        }
    }
}

impl SharedRate for RedisRate {
    fn turn(
        &self,
        per_minute: u32,
        burst: u32,
        patience: Duration,
    ) -> BoxFuture<'_, Result<Duration, NoTurn>> {
        Box::pin(async move {
            let interval = 60_000_000 / u64::from(per_minute.max(1));
            let tolerance = interval * u64::from(burst.max(1) - 1);
            let patience = patience.as_micros().min(i64::MAX as u128) as i64;
            let key = &self.key;
            let r = self
                .redis
                .run(|mut c| async move {
                    redis::Script::new(TURN)
                        .key(key)
                        .arg(interval)
                        .arg(tolerance)
                        .arg(patience)
                        .invoke_async::<i64>(&mut c)
                        .await
                })
                .await;
            match r {
                Ok(w) if w >= 0 => Ok(Duration::from_micros(w as u64)),
                Ok(w) => Err(NoTurn::TooLate(Duration::from_micros(w.unsigned_abs()))),
                Err(e) => Err(NoTurn::Unavailable(e.0)),
            }
        })
    }
}
