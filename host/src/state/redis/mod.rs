//! The Redis backend: the state several replicas share. One connection (redis-rs's
//! [`ConnectionManager`], which reconnects by itself) serves every control; each control's view
//! lives in its own module and keeps every multi-key step atomic with one Lua script.
//!
//! Reachability is tracked here, for all of them. A failed command marks Redis down (logged
//! once, shown by `/healthz`); while it is down no command is sent — callers fall back to local
//! state for reads and refuse writes. A probe pings once a second, so a loss is seen without
//! traffic and a return is seen at once.
//!
//! Keys start with `[state] prefix` (default `aerie:`), so deployments can share one Redis.
//! Scripts touch keys they derive from their arguments, which plain Redis and Sentinel allow
//! (Redis Cluster does not).

pub mod approvals;
pub mod counters;
pub mod rate;
pub mod responses;
mod store;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{StateError, now_ms};

pub use store::RedisStore;

/// How long one command may take before Redis counts as unreachable.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How often Redis is pinged.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// A Redis server shared by the replicas.
pub struct Redis {
    /// The URL without its password, for logs and `/healthz`.
    shown: String,
    prefix: String,
    conn: ConnectionManager,
    up: AtomicBool,
    /// When it was last found down (epoch ms), 0 while up.
    down_since: AtomicU64,
}

/// `url` without a password (`redis://:***@host:port/db`).
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "redis://(unparsable URL)".into(),
    }
}

impl Redis {
    /// Connect to `url` (one PING must answer) and watch it; keys start with `prefix`.
    pub async fn connect(url: &str, prefix: &str) -> Result<Arc<Redis>, StateError> {
        let shown = redact(url);
        let client = redis::Client::open(url).map_err(|e| {
            StateError(format!(
                "[state] backend {shown} is not a Redis URL (redis://[:password@]host[:port][/db]): {e}"
            ))
        })?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| StateError(format!("cannot reach Redis at {shown}: {e}")))?;
        let redis = Arc::new(Redis {
            shown,
            prefix: prefix.to_string(),
            conn,
            up: AtomicBool::new(true),
            down_since: AtomicU64::new(0),
        });
        redis.ping().await?;
        tokio::spawn(probe(Arc::downgrade(&redis)));
        Ok(redis)
    }

    /// The URL without its password.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// `prefix` + `rest`.
    pub fn key(&self, rest: &str) -> String {
        format!("{}{rest}", self.prefix)
    }

    /// Whether the last command (or probe) reached Redis.
    pub fn up(&self) -> bool {
        self.up.load(Ordering::SeqCst)
    }

    /// Epoch milliseconds since which Redis is unreachable, if it is.
    pub fn down_since_ms(&self) -> Option<u64> {
        (!self.up()).then(|| self.down_since.load(Ordering::SeqCst))
    }

    /// The error of a command not sent because Redis is down.
    fn down_error(&self) -> StateError {
        let secs = now_ms().saturating_sub(self.down_since.load(Ordering::SeqCst)) / 1000;
        StateError(format!(
            "the shared state (Redis at {}) has been unreachable for {secs} s",
            self.shown
        ))
    }

    /// Run `f` on the connection, unless Redis is down; a failure marks it down.
    pub async fn run<T, F, Fut>(&self, f: F) -> Result<T, StateError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        if !self.up() {
            return Err(self.down_error());
        }
        self.attempt(f).await
    }

    async fn attempt<T, F, Fut>(&self, f: F) -> Result<T, StateError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        match f(self.conn.clone()).await {
            Ok(v) => {
                if !self.up.swap(true, Ordering::SeqCst) {
                    tracing::warn!(redis = %self.shown, "the shared state is reachable again; writes and approvals work again");
                }
                Ok(v)
            }
            // A script's own error (a bug, or a key of the wrong type) says nothing about
            // reachability.
            Err(e) if !unreachable(&e) => Err(StateError(format!("Redis at {}: {e}", self.shown))),
            Err(e) => {
                if self.up.swap(false, Ordering::SeqCst) {
                    self.down_since.store(now_ms(), Ordering::SeqCst);
                    tracing::error!(redis = %self.shown, error = %e, "lost the shared state: serving reads from this replica's local state, refusing writes and approval decisions until it is back");
                }
                Err(StateError(format!("Redis at {}: {e}", self.shown)))
            }
        }
    }

    async fn ping(&self) -> Result<(), StateError> {
        self.attempt(|mut c| async move { redis::cmd("PING").query_async::<String>(&mut c).await })
            .await
            .map(drop)
    }
}

/// Whether `e` means Redis cannot serve now (rather than that a command was wrong).
fn unreachable(e: &redis::RedisError) -> bool {
    use redis::{ErrorKind::Server, ServerErrorKind as S};
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || matches!(
            e.kind(),
            Server(S::BusyLoading | S::MasterDown | S::ReadOnly | S::TryAgain)
                | redis::ErrorKind::Io
        )
}

/// Ping Redis once a second, so a loss shows in `/healthz` without waiting for traffic and a
/// return is noticed; ends with the server.
async fn probe(redis: Weak<Redis>) {
    loop {
        tokio::time::sleep(PROBE_EVERY).await;
        let Some(r) = redis.upgrade() else { return };
        let _ = r.ping().await;
    }
}

/// `s` with Redis glob characters escaped, for `SCAN MATCH <escaped>*`.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Every key starting with `prefix` (SCAN, so Redis is never blocked).
async fn scan(mut c: ConnectionManager, prefix: &str) -> redis::RedisResult<Vec<String>> {
    let pattern = format!("{}*", glob_escape(prefix));
    let mut cursor: u64 = 0;
    let mut out = Vec::new();
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(500)
            .query_async(&mut c)
            .await?;
        out.extend(keys);
        if next == 0 {
            return Ok(out);
        }
        cursor = next;
    }
}

/// Milliseconds of `d`, at least 1 (Redis refuses a zero expiry).
fn ms(d: Duration) -> u64 {
    (d.as_millis().min(u64::MAX as u128) as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_shown_and_globs_escaped() {
        assert_eq!(
            redact("redis://:hunter2@127.0.0.1:6379/0"),
            "redis://:***@127.0.0.1:6379/0"
        );
        assert_eq!(redact("redis://127.0.0.1:6380"), "redis://127.0.0.1:6380");
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }
}
