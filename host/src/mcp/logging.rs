//! MCP logging: the server's and the plugins' log lines as `notifications/message`.
//!
//! One tracing [`Layer`] sees every event aerie logs and forwards a copy to clients:
//!
//! - **A call's lines go to the client that made the call**, and to no one else: the handler
//!   runs each request that reaches a plugin inside [`scoped`], which marks the task with the
//!   request's peer and level. A plugin's `host.log` lines and its stdout/stderr say which
//!   plugin (`logger` `plugin:<name>`, and `plugin` in the data); the host's lines about the
//!   call (a refused operation, a retry, a dropped result) have `logger` `aerie`.
//! - **Server-wide lines** (plugins reloaded, a new version refused) go to every session that
//!   chose a level with `logging/setLevel`.
//!
//! Levels: a 2025 session's level is what it set with `logging/setLevel` (`warning` until it
//! does); a 2026-07-28 request opts in with `io.modelcontextprotocol/logLevel` in its `_meta`
//! and hears nothing otherwise (the revision makes logging opt-in per request).
//!
//! Everything forwarded is bounded and escaped as the host's own log is (plugin text was
//! already cut and escaped before it was logged; the message is escaped again, which changes
//! nothing that is already safe): at most [`MAX_MESSAGE_BYTES`] per message, only a few named
//! fields (never arbitrary ones), at most [`MAX_PER_CALL`] messages per call and then one that
//! says how many were dropped, and a bounded queue that drops rather than waits on a slow
//! client. aerie logs no secrets, so none can reach a client.

#![allow(
    deprecated,
    reason = "logging is deprecated by SEP-2577, but clients still use it"
)]

use std::fmt::Write as _;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use rmcp::model::{LoggingLevel, LoggingMessageNotificationParam, ProtocolVersion};
use rmcp::service::RequestContext;
use rmcp::{Peer, RoleServer};
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::Context;

/// Longest message forwarded, in bytes (the host log's bound for plugin lines).
pub const MAX_MESSAGE_BYTES: usize = 4096;
/// Messages forwarded per call; the rest are counted and reported once.
pub const MAX_PER_CALL: u64 = 200;
/// Messages waiting for a client in the server-wide queue. A call's queue holds its whole
/// allowance ([`MAX_PER_CALL`], at most about 1 MiB): a plugin logging in a tight loop does not
/// yield, so a smaller queue would drop lines the allowance admits.
const QUEUED: usize = 64;
/// Sessions remembered with a level; the oldest is forgotten beyond this.
const MAX_SESSIONS: usize = 10_000;
/// How long a call's answer waits for its log messages to be written first.
const FLUSH: Duration = Duration::from_secs(2);
/// The level of a 2025 session that never called `logging/setLevel`.
const DEFAULT_SESSION_LEVEL: LoggingLevel = LoggingLevel::Warning;
/// Fields of an event that are forwarded besides its message: the shared vocabulary of the
/// log and audit, none of which can hold a secret or a path.
const FIELDS: &[&str] = &[
    "plugin",
    "tool",
    "stream",
    "operation",
    "status",
    "retries",
    "duration_ms",
    "dropped",
    "attempt",
];
/// Targets whose events outside any call go to every session with a level: what a client
/// needs to know about the server itself (reloads and their refusals).
const SERVER_WIDE: &[&str] = &["aerie::hotswap"];

/// Severity rank, so levels compare (debug lowest).
fn rank(l: LoggingLevel) -> u8 {
    match l {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

fn level_of(l: &tracing::Level) -> LoggingLevel {
    match *l {
        tracing::Level::ERROR => LoggingLevel::Error,
        tracing::Level::WARN => LoggingLevel::Warning,
        tracing::Level::INFO => LoggingLevel::Info,
        _ => LoggingLevel::Debug,
    }
}

/// Where one call's messages go.
struct CallLog {
    level: LoggingLevel,
    tx: mpsc::Sender<LoggingMessageNotificationParam>,
    sent: AtomicU64,
    dropped: Arc<AtomicU64>,
}

tokio::task_local! {
    static CALL: CallLog;
}

/// Sessions that chose a level, for server-wide lines.
struct Sessions {
    list: Mutex<Vec<(String, Peer<RoleServer>, LoggingLevel)>>,
    /// How many are listed, read on every event without the lock.
    count: AtomicUsize,
    tx: Mutex<Option<mpsc::Sender<LoggingMessageNotificationParam>>>,
}

static SESSIONS: LazyLock<Sessions> = LazyLock::new(|| Sessions {
    list: Mutex::new(Vec::new()),
    count: AtomicUsize::new(0),
    tx: Mutex::new(None),
});

/// `logging/setLevel` of session `session` (a 2025 session; the key of its per-session state).
pub fn set_level(session: &str, peer: Peer<RoleServer>, level: LoggingLevel) {
    let s = &*SESSIONS;
    let Ok(mut list) = s.list.lock() else { return };
    list.retain(|(k, p, _)| k != session && !p.is_transport_closed());
    if list.len() >= MAX_SESSIONS {
        list.remove(0);
    }
    list.push((session.to_string(), peer, level));
    s.count.store(list.len(), Ordering::Relaxed);
    drop(list);
    let Ok(mut tx) = s.tx.lock() else { return };
    if tx.is_none() {
        // Started by the first setLevel, from a request, so inside the runtime.
        let (t, mut rx) = mpsc::channel::<LoggingMessageNotificationParam>(QUEUED);
        tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                let peers: Vec<(Peer<RoleServer>, LoggingLevel)> = SESSIONS
                    .list
                    .lock()
                    .map(|l| l.iter().map(|(_, p, lv)| (p.clone(), *lv)).collect())
                    .unwrap_or_default();
                for (peer, lv) in peers {
                    if rank(m.level) >= rank(lv) && !peer.is_transport_closed() {
                        let _ = peer.notify_logging_message(m.clone()).await;
                    }
                }
            }
        });
        *tx = Some(t);
    }
}

/// The level a session set, if it did.
fn session_level(session: &str) -> Option<LoggingLevel> {
    if SESSIONS.count.load(Ordering::Relaxed) == 0 {
        return None;
    }
    let list = SESSIONS.list.lock().ok()?;
    list.iter()
        .find(|(k, _, _)| k == session)
        .map(|(_, _, l)| *l)
}

/// The level `ctx` asks for: the request's own (2026-07-28), else its session's (2025), else
/// the default for sessions; `None` for a 2026 request that did not opt in.
fn level_for(ctx: &RequestContext<RoleServer>, session: &str) -> Option<LoggingLevel> {
    if let Some(l) = ctx.meta.log_level() {
        return Some(l);
    }
    let modern = ctx
        .protocol_version()
        .is_some_and(|v| v.as_str() >= ProtocolVersion::V_2026_07_28.as_str());
    if modern {
        return None;
    }
    Some(session_level(session).unwrap_or(DEFAULT_SESSION_LEVEL))
}

/// Run `fut` (a request that reaches a plugin) so that the log lines it causes go to the
/// client that sent it, at the level it asked for; then let them reach the client before the
/// answer does.
pub async fn scoped<F: Future>(
    ctx: &RequestContext<RoleServer>,
    session: &str,
    fut: F,
) -> F::Output {
    let Some(level) = level_for(ctx, session) else {
        return fut.await;
    };
    let (tx, mut rx) = mpsc::channel::<LoggingMessageNotificationParam>(MAX_PER_CALL as usize);
    let dropped = Arc::new(AtomicU64::new(0));
    let peer = ctx.peer.clone();
    let count = dropped.clone();
    let forward = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            if peer.notify_logging_message(m).await.is_err() {
                return;
            }
        }
        let n = count.load(Ordering::Relaxed);
        if n > 0 {
            let mut data = Map::new();
            data.insert(
                "message".into(),
                Value::String(format!(
                    "{n} further log messages of this call were not sent"
                )),
            );
            let m =
                LoggingMessageNotificationParam::new(LoggingLevel::Warning, Value::Object(data))
                    .with_logger("aerie");
            let _ = peer.notify_logging_message(m).await;
        }
    });
    let log = CallLog {
        level,
        tx,
        sent: AtomicU64::new(0),
        dropped,
    };
    // The scope's value (and its sender) is dropped when `fut` is done, which ends `forward`.
    let out = CALL.scope(log, fut).await;
    if tokio::time::timeout(FLUSH, forward).await.is_err() {
        tracing::debug!("log messages of a call were not written in time");
    }
    out
}

/// The event's message and named fields.
#[derive(Default)]
struct Collect {
    message: String,
    fields: Map<String, Value>,
}

impl Visit for Collect {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else if FIELDS.contains(&field.name()) {
            let text = format!("{value:?}");
            let text = text.trim_matches('"');
            self.fields.insert(
                field.name().into(),
                Value::String(crate::runtime::log_safe(text, 256).into_owned()),
            );
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else if FIELDS.contains(&field.name()) {
            self.fields.insert(
                field.name().into(),
                Value::String(crate::runtime::log_safe(value, 256).into_owned()),
            );
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if FIELDS.contains(&field.name()) {
            self.fields.insert(field.name().into(), value.into());
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if FIELDS.contains(&field.name()) {
            self.fields.insert(field.name().into(), value.into());
        }
    }
}

/// The notification for `event`.
fn message(event: &tracing::Event<'_>, level: LoggingLevel) -> LoggingMessageNotificationParam {
    let mut c = Collect::default();
    event.record(&mut c);
    let meta = event.metadata();
    // A plugin's own text: its host.log lines, and its stdout/stderr.
    let from_plugin = meta.target() == "aerie::runtime::state" || c.fields.contains_key("stream");
    let logger = match c.fields.get("plugin").and_then(Value::as_str) {
        Some(p) if from_plugin => format!("plugin:{p}"),
        _ => "aerie".to_string(),
    };
    let mut data = c.fields;
    data.insert(
        "message".into(),
        Value::String(crate::runtime::log_safe(&c.message, MAX_MESSAGE_BYTES).into_owned()),
    );
    LoggingMessageNotificationParam::new(level, Value::Object(data)).with_logger(logger)
}

/// The tracing layer that forwards log lines to MCP clients; installed once at start-up.
pub struct McpLogLayer;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for McpLogLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        if !meta.target().starts_with("aerie") {
            return;
        }
        let level = level_of(meta.level());
        let in_call = CALL.try_with(|call| {
            if rank(level) < rank(call.level) {
                return;
            }
            if call.sent.fetch_add(1, Ordering::Relaxed) >= MAX_PER_CALL
                || call.tx.try_send(message(event, level)).is_err()
            {
                call.dropped.fetch_add(1, Ordering::Relaxed);
            }
        });
        if in_call.is_ok()
            || SESSIONS.count.load(Ordering::Relaxed) == 0
            || !SERVER_WIDE.iter().any(|t| meta.target().starts_with(t))
        {
            return;
        }
        if let Ok(tx) = SESSIONS.tx.lock()
            && let Some(tx) = tx.as_ref()
        {
            // A full queue drops the line: a slow client never holds up the server.
            let _ = tx.try_send(message(event, level));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_order_from_debug_to_emergency() {
        assert!(rank(LoggingLevel::Debug) < rank(LoggingLevel::Info));
        assert!(rank(LoggingLevel::Warning) < rank(LoggingLevel::Error));
        assert_eq!(level_of(&tracing::Level::TRACE), LoggingLevel::Debug);
        assert_eq!(level_of(&tracing::Level::WARN), LoggingLevel::Warning);
    }
}
