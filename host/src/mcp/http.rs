//! Streamable HTTP transport: rmcp's service under `/mcp`, `/healthz` without a key, API-key
//! auth (keys kept as SHA-256 digests, compared in constant time), Host and Origin checks, a
//! request body cap, sessions bound to their key under caps ([`super::sessions`]), and bounded
//! connections ([`super::connections`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio_util::sync::CancellationToken;

use super::Handler;
use super::connections::{self, ConnectionLimits};
use super::sessions::{self, BoundSessions, SessionLimits};

/// Largest MCP request body accepted.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// API keys, stored as SHA-256 digests, each with the profile it selects (`None`: the default).
#[derive(Clone, Default)]
pub struct ApiKeys {
    digests: Vec<([u8; 32], Option<String>)>,
}

/// One `[http] api_keys` entry: `"sha256:<hex>"`, or `{ digest = "sha256:<hex>", profile = "NAME" }`
/// to select a profile.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKeyEntry {
    /// `sha256:<hex>` of the key.
    pub digest: String,
    /// The profile callers with this key run under; `None`: the default profile.
    pub profile: Option<String>,
}

impl From<String> for ApiKeyEntry {
    fn from(digest: String) -> Self {
        ApiKeyEntry {
            digest,
            profile: None,
        }
    }
}

impl<'de> serde::Deserialize<'de> for ApiKeyEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// The table form, strict about its keys.
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            digest: String,
            profile: Option<String>,
        }
        struct Entry;
        impl<'de> serde::de::Visitor<'de> for Entry {
            type Value = ApiKeyEntry;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(r#""sha256:<hex>" or { digest = "sha256:<hex>", profile = "NAME" }"#)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ApiKeyEntry, E> {
                Ok(ApiKeyEntry::from(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<ApiKeyEntry, A::Error> {
                let t = <Table as serde::Deserialize>::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )?;
                Ok(ApiKeyEntry {
                    digest: t.digest,
                    profile: t.profile,
                })
            }
        }
        d.deserialize_any(Entry)
    }
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeys({} keys)", self.digests.len())
    }
}

impl ApiKeys {
    /// Keys from plain values (flags, environment; the default profile) and `sha256:<hex>`
    /// digests with their profiles (config file).
    pub fn new(plain: &[String], hashed: &[ApiKeyEntry]) -> Result<ApiKeys, String> {
        let mut digests: Vec<([u8; 32], Option<String>)> = plain
            .iter()
            .filter(|k| !k.is_empty())
            .map(|k| (Sha256::digest(k.as_bytes()).into(), None))
            .collect();
        for ApiKeyEntry { digest: h, profile } in hashed {
            let hex = h.strip_prefix("sha256:").unwrap_or(h);
            let bytes = hex::decode(hex).ok().and_then(|b| <[u8; 32]>::try_from(b).ok()).ok_or_else(|| {
                format!("api key digest `{h}` is not sha256:<64 hex digits> (make one with `printf %s KEY | sha256sum`)")
            })?;
            digests.push((bytes, profile.clone()));
        }
        Ok(ApiKeys { digests })
    }

    /// Whether no key is configured.
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Whether `presented` is one of the keys. Every digest is compared, in constant time.
    pub fn accepts(&self, presented: &str) -> bool {
        self.lookup(presented).is_some()
    }

    /// `Some(profile)` when `presented` is one of the keys (`profile` is `None` for a key
    /// without one). Every digest is compared, in constant time; the last match wins.
    pub fn lookup(&self, presented: &str) -> Option<Option<&str>> {
        use subtle::ConditionallySelectable;
        let d: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let (mut found, mut index) = (subtle::Choice::from(0), 0u64);
        for (i, (k, _)) in self.digests.iter().enumerate() {
            let eq = k.ct_eq(&d);
            found |= eq;
            index = u64::conditional_select(&index, &(i as u64), eq);
        }
        let found: bool = found.into();
        found.then(|| {
            usize::try_from(index)
                .ok()
                .and_then(|i| self.digests.get(i))
                .and_then(|(_, p)| p.as_deref())
        })
    }
}

/// Who is calling. `.0` is the label for logs and the audit log: `stdio`, `http`, or
/// `key:<first 8 hex of the key's SHA-256>` — enough to tell keys apart, useless for
/// recovering one. Sessions are bound to [`ClientId::principal`] instead, the key's full
/// digest: two keys whose digests share 8 hex digits have one label but never share sessions.
#[derive(Clone, Debug)]
pub struct ClientId(pub String, String);

impl ClientId {
    /// The keyless caller (no keys configured, loopback only): one principal for all.
    pub(super) fn keyless() -> ClientId {
        ClientId("http".into(), "http".into())
    }

    /// The caller presenting `key` (an accepted one).
    pub(super) fn for_key(key: &str) -> ClientId {
        let digest = hex::encode(Sha256::digest(key.as_bytes()));
        ClientId(format!("key:{}", &digest[..8]), format!("key:{digest}"))
    }

    /// What sessions and the per-key session cap are bound to: `key:<full SHA-256 hex>`, or
    /// `http` for the keyless caller.
    pub fn principal(&self) -> &str {
        &self.1
    }
}

/// Highest `max_connections` accepted (far above any descriptor limit; a semaphore holds it).
const MAX_CONNECTIONS_CEILING: usize = 1 << 20;

/// Bounds on sessions and connections (`[http]` in aerie.toml).
#[derive(Clone, Copy, Debug)]
pub struct HttpLimits {
    /// Open MCP sessions, all callers together (`max_sessions`).
    pub max_sessions: usize,
    /// Open MCP sessions per API key; keyless loopback is one caller (`max_sessions_per_key`).
    pub max_sessions_per_key: usize,
    /// A session without traffic for this long is closed (`session_idle_secs`).
    pub session_idle: Duration,
    /// TCP connections open at once (`max_connections`).
    pub max_connections: usize,
    /// Time a connection has to send a complete request head, from connect or from its
    /// previous response; idle keep-alive connections close after it (`header_timeout_secs`).
    pub header_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> HttpLimits {
        HttpLimits {
            max_sessions: 256,
            max_sessions_per_key: 64,
            session_idle: Duration::from_secs(300),
            max_connections: 512,
            header_timeout: Duration::from_secs(30),
        }
    }
}

impl HttpLimits {
    /// Every bound must allow something.
    pub fn validate(&self) -> Result<(), String> {
        for (key, zero) in [
            ("max_sessions", self.max_sessions == 0),
            ("max_sessions_per_key", self.max_sessions_per_key == 0),
            ("session_idle_secs", self.session_idle.is_zero()),
            ("max_connections", self.max_connections == 0),
            ("header_timeout_secs", self.header_timeout.is_zero()),
        ] {
            if zero {
                return Err(format!("[http] {key} must be at least 1"));
            }
        }
        if self.max_connections > MAX_CONNECTIONS_CEILING {
            return Err(format!(
                "[http] max_connections must be at most {MAX_CONNECTIONS_CEILING}"
            ));
        }
        Ok(())
    }
}

/// HTTP transport settings.
#[derive(Clone)]
pub struct HttpOptions {
    /// Address to bind.
    pub addr: SocketAddr,
    /// Accepted keys; required when `addr` is not loopback.
    pub keys: ApiKeys,
    /// Extra Host header values to accept (e.g. a reverse proxy's name).
    pub allowed_hosts: Vec<String>,
    /// Browser origins allowed to call; a request with any other `Origin` header is refused.
    pub allowed_origins: Vec<String>,
    /// Session and connection bounds.
    pub limits: HttpLimits,
    /// `[metrics]`: whether `/metrics` is served ([`crate::metrics`]).
    pub metrics: crate::metrics::MetricsFile,
}

impl HttpOptions {
    /// Refuse a non-loopback bind without API keys, a bound of zero, or a malformed origin.
    pub fn check(&self) -> anyhow::Result<()> {
        if !self.addr.ip().is_loopback() && self.keys.is_empty() {
            anyhow::bail!(
                "refusing to serve on {} without API keys: pass --api-key KEY (or AERIE_API_KEYS), or bind to 127.0.0.1",
                self.addr
            );
        }
        self.limits.validate().map_err(anyhow::Error::msg)?;
        for o in &self.allowed_origins {
            normalize_origin(o).map_err(anyhow::Error::msg)?;
        }
        Ok(())
    }
}

/// An origin in the form browsers send (`scheme://host[:port]`, default port left out), so
/// `http://localhost:80` and `http://localhost` compare equal. `null` stays `null`.
fn normalize_origin(origin: &str) -> Result<String, String> {
    let bad = || {
        format!(
            "allowed origin `{origin}` is not an origin like http://localhost:6274 (scheme, host and port, no path)"
        )
    };
    if origin == "null" {
        return Ok(origin.into());
    }
    let url = url::Url::parse(origin).map_err(|_| bad())?;
    if url.host().is_none()
        || url.path() != "/"
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
    {
        return Err(bad());
    }
    match url.origin() {
        o @ url::Origin::Tuple(..) => Ok(o.ascii_serialization()),
        url::Origin::Opaque(_) => Err(bad()),
    }
}

/// Refuse a request whose `Origin` is not allowed. The MCP spec requires servers to validate
/// Origin against DNS rebinding; and since any local web page can reach a loopback port, no
/// origin is trusted by default. Non-browser clients send no Origin and pass.
async fn check_origin(
    State(allowed): State<Arc<Vec<String>>>,
    req: Request,
    next: Next,
) -> Response {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return next.run(req).await;
    };
    let shown = String::from_utf8_lossy(origin.as_bytes()).into_owned();
    let ok = origin
        .to_str()
        .ok()
        .and_then(|o| normalize_origin(o).ok())
        .is_some_and(|o| allowed.contains(&o));
    if ok {
        return next.run(req).await;
    }
    let text = format!(
        "Forbidden: requests from browser origin {shown} are refused. To let a web page at that origin call aerie, \
         start it with --allowed-origin {shown} or add it to [http] allowed_origins in aerie.toml.\n"
    );
    (StatusCode::FORBIDDEN, text).into_response()
}

/// Refuse a request without an accepted API key (when keys are configured); note the caller's
/// id and profile.
pub(crate) async fn require_key(
    State(keys): State<Arc<ApiKeys>>,
    mut req: Request,
    next: Next,
) -> Response {
    if keys.is_empty() {
        req.extensions_mut().insert(ClientId::keyless());
        return next.run(req).await;
    }
    let h = req.headers();
    let presented = h
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .or_else(|| h.get("x-api-key").and_then(|v| v.to_str().ok()))
        .map(str::trim);
    let (id, profile) = match presented.and_then(|k| Some((k, keys.lookup(k)?))) {
        Some((k, profile)) => (ClientId::for_key(k), profile),
        // No detail: a caller without a key learns nothing about why.
        None => return StatusCode::UNAUTHORIZED.into_response(),
    };
    req.extensions_mut().insert(id);
    // The key's profile; a key without one runs under the default profile.
    if let Some(p) = profile {
        req.extensions_mut()
            .insert(crate::mcp::ProfileName(p.to_string()));
    }
    next.run(req).await
}

/// Count a POST's response as an answer in flight until its body has been written (or the
/// client went away), so a shutdown closes sessions only after drained calls' answers left.
async fn track_answer(
    State(app): State<Arc<crate::app::App>>,
    req: Request,
    next: Next,
) -> Response {
    if req.method() != axum::http::Method::POST {
        return next.run(req).await;
    }
    let token = app.inflight.answering();
    let (parts, body) = next.run(req).await.into_parts();
    let body = futures::StreamExt::map(body.into_data_stream(), move |chunk| {
        let _held = &token;
        chunk
    });
    Response::from_parts(parts, axum::body::Body::from_stream(body))
}

/// The router: `/mcp` and `/healthz`.
pub fn router(handler: Handler, opts: &HttpOptions, shutdown: CancellationToken) -> Router {
    let sessions = Arc::new(BoundSessions::new(SessionLimits {
        max_sessions: opts.limits.max_sessions,
        max_per_caller: opts.limits.max_sessions_per_key,
        idle: opts.limits.session_idle,
    }));
    let port = opts.addr.port();
    let mut hosts = vec![
        "localhost".to_string(),
        "127.0.0.1".into(),
        "::1".into(),
        "[::1]".into(),
    ];
    hosts.extend([
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
    ]);
    if !opts.addr.ip().is_unspecified() {
        hosts.push(opts.addr.ip().to_string());
        hosts.push(opts.addr.to_string());
    }
    hosts.extend(opts.allowed_hosts.iter().cloned());
    // `check` refused malformed entries; rmcp's own Origin check stays off, [`check_origin`]
    // is the one place that decides.
    let origins: Vec<String> = opts
        .allowed_origins
        .iter()
        .filter_map(|o| normalize_origin(o).ok())
        .collect();
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts)
        .with_max_request_body_bytes(MAX_BODY_BYTES)
        .with_cancellation_token(shutdown);
    let app = handler.app.clone();
    let served = opts.metrics.served(opts.addr, !opts.keys.is_empty());
    let ops = crate::metrics::routes(app.clone(), served, opts.keys.clone());
    let service = StreamableHttpService::new(move || Ok(handler.clone()), sessions.clone(), config);
    let keys = Arc::new(opts.keys.clone());
    let request_clients = app.services.clients.as_ref().map(|c| c.allowed().clone());
    // Outermost first: Origin, then the key, then per-client credentials, then session
    // ownership and caps.
    Router::new()
        .nest_service("/mcp", service)
        .layer(middleware::from_fn_with_state(app, track_answer))
        .layer(middleware::from_fn_with_state(sessions, sessions::guard))
        .layer(middleware::from_fn_with_state(
            request_clients,
            crate::client_credentials::extract,
        ))
        .layer(middleware::from_fn_with_state(keys, require_key))
        .layer(middleware::from_fn_with_state(
            Arc::new(origins),
            check_origin,
        ))
        .merge(ops)
}

/// Serve until `shutdown` is cancelled, then stop accepting and wait for open connections;
/// MCP sessions end when `sessions` is cancelled (after the caller drained in-flight calls).
/// Refuses a non-loopback bind without API keys.
pub async fn serve(
    handler: Handler,
    opts: HttpOptions,
    shutdown: CancellationToken,
    sessions: CancellationToken,
) -> anyhow::Result<()> {
    opts.check()?;
    let limits = opts.limits;
    let listener = tokio::net::TcpListener::bind(opts.addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", opts.addr))?;
    let local = listener.local_addr()?;
    tracing::info!(url = %format!("http://{local}/mcp"), "serving MCP over streamable HTTP");
    let app = router(
        handler,
        &HttpOptions {
            addr: local,
            ..opts
        },
        sessions,
    );
    let limits = ConnectionLimits {
        max_connections: limits.max_connections,
        header_timeout: limits.header_timeout,
    };
    connections::serve(listener, app, limits, shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_plain_and_hashed() {
        let digest = hex::encode(Sha256::digest(b"k2"));
        let keys = ApiKeys::new(&["k1".into()], &[format!("sha256:{digest}").into()]).unwrap();
        assert!(keys.accepts("k1") && keys.accepts("k2"));
        assert!(!keys.accepts("k3") && !keys.accepts(""));
        assert!(
            ApiKeys::new(&[], &["sha256:zz".to_string().into()])
                .unwrap_err()
                .contains("sha256")
        );
    }

    #[test]
    fn keys_select_their_profile() {
        let entry = |key: &str, profile: Option<&str>| ApiKeyEntry {
            digest: format!("sha256:{}", hex::encode(Sha256::digest(key.as_bytes()))),
            profile: profile.map(str::to_string),
        };
        let keys = ApiKeys::new(
            &["flag".into()],
            &[
                entry("a", Some("triage")),
                entry("b", Some("rtr")),
                entry("c", None),
            ],
        )
        .unwrap();
        assert_eq!(keys.lookup("a"), Some(Some("triage")));
        assert_eq!(keys.lookup("b"), Some(Some("rtr")));
        assert_eq!(keys.lookup("c"), Some(None));
        assert_eq!(keys.lookup("flag"), Some(None));
        assert_eq!(keys.lookup("d"), None);
        #[derive(serde::Deserialize)]
        struct F {
            api_keys: Vec<ApiKeyEntry>,
        }
        let f: F =
            toml::from_str("api_keys = ['sha256:00', { digest = 'sha256:11', profile = 'hunt' }]")
                .unwrap();
        assert_eq!(f.api_keys[0].profile, None);
        assert_eq!(f.api_keys[1].profile.as_deref(), Some("hunt"));
        let e = toml::from_str::<F>("api_keys = [{ digest = 'sha256:11', profil = 'hunt' }]")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("unknown field `profil`"), "{e}");
    }

    #[test]
    fn origins_compare_as_browsers_send_them() {
        assert_eq!(
            normalize_origin("HTTP://LocalHost:80").unwrap(),
            "http://localhost"
        );
        assert_eq!(
            normalize_origin("http://localhost:3000/").unwrap(),
            "http://localhost:3000"
        );
        assert_eq!(normalize_origin("null").unwrap(), "null");
        for bad in [
            "localhost:3000",
            "http://localhost:3000/app",
            "http://x/?q",
            "*",
        ] {
            assert!(
                normalize_origin(bad).unwrap_err().contains("not an origin"),
                "{bad}"
            );
        }
    }

    #[test]
    fn zero_bounds_are_refused_by_name() {
        let limits = HttpLimits {
            max_connections: 0,
            ..HttpLimits::default()
        };
        assert!(limits.validate().unwrap_err().contains("max_connections"));
        assert!(HttpLimits::default().validate().is_ok());
    }
}
