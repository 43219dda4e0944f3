//! MCP sessions bound to the caller that opened them, under caps.
//!
//! [`BoundSessions`] wraps rmcp's [`LocalSessionManager`]. It admits a new session only under
//! the server-wide and per-caller caps, remembers which caller opened it (the full key digest,
//! [`ClientId::principal`], not the short label logs show), and
//! forgets it whenever rmcp closes it (DELETE, idle expiry, a failed handshake, shutdown).
//! [`guard`] is the axum middleware in front of rmcp: a session id this caller did not open is
//! answered exactly like an unknown one (404, so it leaks nothing), a refused session gets a
//! status naming the limit, and DELETE answers 204 as clients expect.
//!
//! rmcp's `SessionManager::create_session` is not told who is asking, so [`guard`] runs the
//! request inside a task-local [`Caller`]; rmcp awaits `create_session` inside that request's
//! future, so the task-local is set there.
//!
//! [`guard`] admits an initialize itself, before rmcp sees it, and hands the slot to
//! `create_session` through the task-local: rmcp logs every `create_session` error as an
//! ERROR, so a refusal there would let a client add a log line per request. aerie's own line
//! for refusals is rate-limited ([`refusal_log`]).

mod refusal_log;

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::Stream;
use rmcp::model::{ClientJsonRpcMessage, ClientRequest, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_server::SessionManager;
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError,
};
use rmcp::transport::streamable_http_server::session::{ServerSseMessage, SessionId};

use super::http::ClientId;

/// Seconds a refused client is told to wait before opening a session again.
const SESSION_RETRY_AFTER_SECS: u64 = 10;

/// Caps on open sessions.
#[derive(Clone, Copy, Debug)]
pub struct SessionLimits {
    /// Open sessions, all callers together.
    pub max_sessions: usize,
    /// Open sessions per caller (API key; keyless loopback is one caller).
    pub max_per_caller: usize,
    /// A session with no traffic for this long is closed.
    pub idle: Duration,
}

/// Which cap refused a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The server-wide `max_sessions`.
    Total,
    /// The caller's `max_sessions_per_key`.
    PerCaller,
}

impl Refusal {
    /// The setting that raises this cap.
    pub fn key(self) -> &'static str {
        match self {
            Refusal::Total => "[http] max_sessions",
            Refusal::PerCaller => "[http] max_sessions_per_key",
        }
    }
}

/// Errors of [`BoundSessions`].
#[derive(Debug, thiserror::Error)]
pub enum SessionsError {
    /// rmcp's own session error.
    #[error(transparent)]
    Local(#[from] LocalSessionManagerError),
    /// A cap refused a new session.
    #[error("session refused: {0:?} limit reached")]
    Refused(Refusal),
    /// `create_session` ran outside [`guard`], so the caller is unknown.
    #[error("a session was requested outside an HTTP request")]
    NoCaller,
}

/// The caller of the request being served, and whether a cap refused its session.
struct Caller {
    /// What sessions are bound to ([`ClientId::principal`]).
    id: String,
    /// What logs show ([`ClientId`]'s label).
    label: String,
    refused: Cell<Option<Refusal>>,
    /// [`guard`] admitted this request's initialize; `create_session` takes the slot.
    reserved: Cell<bool>,
}

/// (principal, label) of the request's caller; keyless when no key auth ran.
fn caller_of(req: &Request) -> (String, String) {
    let c = req
        .extensions()
        .get::<ClientId>()
        .cloned()
        .unwrap_or_else(ClientId::keyless);
    (c.principal().to_string(), c.0)
}

tokio::task_local! {
    static CALLER: Caller;
}

#[derive(Default)]
struct Table {
    owners: HashMap<SessionId, String>,
    per_caller: HashMap<String, usize>,
    total: usize,
}

/// rmcp's [`LocalSessionManager`] plus ownership and caps.
pub struct BoundSessions {
    inner: LocalSessionManager,
    limits: SessionLimits,
    table: Mutex<Table>,
    refusals: refusal_log::RefusalLog,
}

impl BoundSessions {
    /// A manager whose sessions expire after `limits.idle` without traffic.
    pub fn new(limits: SessionLimits) -> BoundSessions {
        let mut inner = LocalSessionManager::default();
        inner.session_config.keep_alive = Some(limits.idle);
        BoundSessions {
            inner,
            limits,
            table: Mutex::new(Table::default()),
            refusals: refusal_log::RefusalLog::default(),
        }
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        // The table is consistent after every statement, so a panic elsewhere cannot leave it
        // half-updated; keep serving rather than propagate the poison.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `caller` opened session `id` and it is still open.
    pub fn owned_by(&self, id: &str, caller: &str) -> bool {
        self.table().owners.get(id).is_some_and(|o| o == caller)
    }

    /// Open sessions, all callers together.
    pub fn open_sessions(&self) -> usize {
        self.table().total
    }

    /// Count a new session for `caller`, or say which cap is full.
    fn admit(&self, caller: &str) -> Result<(), Refusal> {
        let mut t = self.table();
        let mine = t.per_caller.get(caller).copied().unwrap_or(0);
        if mine >= self.limits.max_per_caller {
            return Err(Refusal::PerCaller);
        }
        if t.total >= self.limits.max_sessions {
            return Err(Refusal::Total);
        }
        t.total += 1;
        *t.per_caller.entry(caller.to_string()).or_default() += 1;
        Ok(())
    }

    /// Undo one [`admit`](Self::admit) for `caller`.
    fn release(t: &mut Table, caller: &str) {
        t.total = t.total.saturating_sub(1);
        if let Some(n) = t.per_caller.get_mut(caller) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                t.per_caller.remove(caller);
            }
        }
    }
}

impl SessionManager for BoundSessions {
    type Error = SessionsError;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        let (caller, label, reserved) = CALLER
            .try_with(|c| (c.id.clone(), c.label.clone(), c.reserved.replace(false)))
            .map_err(|_| SessionsError::NoCaller)?;
        // Normally [`guard`] admitted the initialize already; an initialize it did not
        // recognise is still held to the caps here.
        if !reserved && let Err(r) = self.admit(&caller) {
            self.refusals.refused(r, &label);
            let _ = CALLER.try_with(|c| c.refused.set(Some(r)));
            return Err(SessionsError::Refused(r));
        }
        match self.inner.create_session().await {
            // rmcp starts the session's worker only after this returns, so nothing can close
            // the session before it is recorded.
            Ok((id, transport)) => {
                self.table().owners.insert(id.clone(), caller);
                Ok((id, transport))
            }
            Err(e) => {
                Self::release(&mut self.table(), &caller);
                Err(e.into())
            }
        }
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        Ok(self.inner.initialize_session(id, message).await?)
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        Ok(self.inner.has_session(id).await?)
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        {
            let mut t = self.table();
            if let Some(caller) = t.owners.remove(id) {
                Self::release(&mut t, &caller);
            }
        }
        Ok(self.inner.close_session(id).await?)
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(self.inner.create_stream(id, message).await?)
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        Ok(self.inner.accept_message(id, message).await?)
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(self.inner.create_standalone_stream(id).await?)
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(self.inner.resume(id, last_event_id).await?)
    }
}

/// rmcp's answer for an unknown session, reused so a foreign session looks the same.
fn unknown_session() -> Response {
    (StatusCode::NOT_FOUND, "Not Found: Session not found").into_response()
}

fn refused(r: Refusal, limits: &SessionLimits) -> Response {
    let (status, text) = match r {
        Refusal::PerCaller => (
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many open MCP sessions for this client: the limit is {} ([http] max_sessions_per_key). \
                 End one with DELETE /mcp, or wait for an idle one to expire ({} s).\n",
                limits.max_per_caller,
                limits.idle.as_secs()
            ),
        ),
        Refusal::Total => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "The server has its maximum of {} open MCP sessions ([http] max_sessions). Retry later.\n",
                limits.max_sessions
            ),
        ),
    };
    (
        status,
        [(header::RETRY_AFTER, SESSION_RETRY_AFTER_SECS.to_string())],
        text,
    )
        .into_response()
}

/// What [`admit_initialize`] did with a request.
enum Admission {
    /// An initialize, admitted under the caps: its slot is reserved for `create_session`.
    Reserved(Request),
    /// Not an initialize (or already in a session): passed on untouched.
    NotInitialize(Request),
}

/// A response [`guard`] gives without calling rmcp, and the cap that caused it, if one did.
struct Early {
    response: Response,
    refusal: Option<Refusal>,
}

/// Admit a session-less POST that is an initialize (parsed as rmcp parses it), so a refusal
/// is answered here and rmcp, which logs each `create_session` error, never sees it. The body
/// is read under the same cap rmcp applies, and handed on unchanged.
async fn admit_initialize(
    sessions: &BoundSessions,
    caller: &str,
    req: Request,
) -> Result<Admission, Early> {
    if req.method() != Method::POST || req.headers().contains_key("mcp-session-id") {
        return Ok(Admission::NotInitialize(req));
    }
    let (parts, body) = req.into_parts();
    let bytes = read_body(body, super::http::MAX_BODY_BYTES)
        .await
        .map_err(|response| Early {
            response,
            refusal: None,
        })?;
    let initialize = matches!(
        serde_json::from_slice::<ClientJsonRpcMessage>(&bytes),
        Ok(ClientJsonRpcMessage::Request(r)) if matches!(r.request, ClientRequest::InitializeRequest(_))
    );
    let req = Request::from_parts(parts, axum::body::Body::from(bytes));
    if !initialize {
        return Ok(Admission::NotInitialize(req));
    }
    match sessions.admit(caller) {
        Ok(()) => Ok(Admission::Reserved(req)),
        Err(r) => Err(Early {
            response: refused(r, &sessions.limits),
            refusal: Some(r),
        }),
    }
}

/// The whole body, or rmcp's own answer when it is over `max` bytes.
async fn read_body(body: axum::body::Body, max: usize) -> Result<axum::body::Bytes, Response> {
    use futures::StreamExt;
    let mut stream = body.into_data_stream();
    let mut buf = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            (
                StatusCode::BAD_REQUEST,
                format!("Failed to read request body: {e}"),
            )
                .into_response()
        })?;
        if chunk.len() > max.saturating_sub(buf.len()) {
            let text = format!("Payload Too Large: request body exceeds {max} bytes");
            return Err((StatusCode::PAYLOAD_TOO_LARGE, text).into_response());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.into())
}

/// Middleware in front of rmcp's service; needs the [`ClientId`] that API-key auth inserts.
pub async fn guard(
    State(sessions): State<Arc<BoundSessions>>,
    req: Request,
    next: Next,
) -> Response {
    let (caller, label) = caller_of(&req);
    if let Some(id) = req.headers().get("mcp-session-id")
        && !id.to_str().is_ok_and(|id| sessions.owned_by(id, &caller))
    {
        return unknown_session();
    }
    let delete = req.method() == Method::DELETE;
    let (req, reserved) = match admit_initialize(&sessions, &caller, req).await {
        Ok(Admission::Reserved(req)) => (req, true),
        Ok(Admission::NotInitialize(req)) => (req, false),
        Err(resp) => {
            if let Some(r) = resp.refusal {
                sessions.refusals.refused(r, &label);
            }
            return resp.response;
        }
    };
    let ctx = Caller {
        id: caller.clone(),
        label,
        refused: Cell::new(None),
        reserved: Cell::new(reserved),
    };
    let (resp, refusal, unused) = CALLER
        .scope(ctx, async {
            let resp = next.run(req).await;
            CALLER.with(|c| (resp, c.refused.get(), c.reserved.get()))
        })
        .await;
    if unused {
        // rmcp answered without creating a session (a bad header, say): free the slot.
        BoundSessions::release(&mut sessions.table(), &caller);
    }
    if let Some(r) = refusal {
        return refused(r, &sessions.limits);
    }
    // rmcp answers a successful DELETE with 202; the Python SDK logs anything but 200/204 as
    // "Session termination failed", and 204 is what an empty success means.
    if delete && resp.status() == StatusCode::ACCEPTED {
        return StatusCode::NO_CONTENT.into_response();
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two keys whose SHA-256 digests share their first 8 hex digits (`a9c81e51`), found by a
    /// birthday search over `aerie-key-<n>`.
    const SAME_PREFIX_KEYS: [&str; 2] = ["aerie-key-16271", "aerie-key-26266"];

    fn request_from(key: &str) -> Request {
        let mut req = Request::new(axum::body::Body::empty());
        req.extensions_mut().insert(ClientId::for_key(key));
        req
    }

    #[test]
    fn keys_sharing_a_digest_prefix_share_neither_sessions_nor_caps() {
        let [a, b] = SAME_PREFIX_KEYS.map(|k| caller_of(&request_from(k)));
        assert_eq!(a.1, "key:a9c81e51");
        assert_eq!(a.1, b.1, "logs show the same short label");
        assert_ne!(a.0, b.0, "sessions are bound to the full digest");
        assert_eq!(a.0.len(), "key:".len() + 64);
        assert_eq!(caller_of(&request_from(SAME_PREFIX_KEYS[0])).0, a.0);

        let s = BoundSessions::new(SessionLimits {
            max_sessions: 10,
            max_per_caller: 1,
            idle: Duration::from_secs(60),
        });
        assert_eq!(s.admit(&a.0), Ok(()));
        assert_eq!(s.admit(&b.0), Ok(()), "a's sessions do not count for b");
        assert_eq!(s.admit(&a.0), Err(Refusal::PerCaller));
        let id: SessionId = "s1".to_string().into();
        s.table().owners.insert(id.clone(), a.0.clone());
        assert!(s.owned_by(&id, &a.0));
        assert!(!s.owned_by(&id, &b.0), "b cannot use a's session");
    }

    #[test]
    fn caps_count_per_caller_and_in_total() {
        let s = BoundSessions::new(SessionLimits {
            max_sessions: 3,
            max_per_caller: 2,
            idle: Duration::from_secs(60),
        });
        assert_eq!(s.admit("a"), Ok(()));
        assert_eq!(s.admit("a"), Ok(()));
        assert_eq!(s.admit("a"), Err(Refusal::PerCaller));
        assert_eq!(s.admit("b"), Ok(()));
        assert_eq!(s.admit("c"), Err(Refusal::Total));
        BoundSessions::release(&mut s.table(), "a");
        assert_eq!(s.admit("c"), Ok(()));
        assert_eq!(s.open_sessions(), 3);
    }
}
