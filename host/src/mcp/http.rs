//! Streamable HTTP transport: rmcp's service under `/mcp`, `/healthz` without a key, API-key
//! auth (keys kept as SHA-256 digests, compared in constant time), Host and Origin checks, and
//! a request body cap.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio_util::sync::CancellationToken;

use super::Handler;

/// Largest MCP request body accepted.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// API keys, stored as SHA-256 digests.
#[derive(Clone, Default)]
pub struct ApiKeys {
    digests: Vec<[u8; 32]>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeys({} keys)", self.digests.len())
    }
}

impl ApiKeys {
    /// Keys from plain values (flags, environment) and `sha256:<hex>` digests (config file).
    pub fn new(plain: &[String], hashed: &[String]) -> Result<ApiKeys, String> {
        let mut digests: Vec<[u8; 32]> = plain
            .iter()
            .filter(|k| !k.is_empty())
            .map(|k| Sha256::digest(k.as_bytes()).into())
            .collect();
        for h in hashed {
            let hex = h.strip_prefix("sha256:").unwrap_or(h);
            let bytes = hex::decode(hex).ok().and_then(|b| <[u8; 32]>::try_from(b).ok()).ok_or_else(|| {
                format!("api key digest `{h}` is not sha256:<64 hex digits> (make one with `printf %s KEY | sha256sum`)")
            })?;
            digests.push(bytes);
        }
        Ok(ApiKeys { digests })
    }

    /// Whether no key is configured.
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Whether `presented` is one of the keys. Every digest is compared, in constant time.
    pub fn accepts(&self, presented: &str) -> bool {
        let d: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        self.digests
            .iter()
            .fold(subtle::Choice::from(0), |acc, k| acc | k.ct_eq(&d))
            .into()
    }
}

/// Who is calling, for the audit log: `stdio`, `http`, or `key:<first 8 hex of the key's
/// SHA-256>` — enough to tell keys apart, useless for recovering one.
#[derive(Clone, Debug)]
pub struct ClientId(pub String);

impl ClientId {
    fn for_key(key: &str) -> ClientId {
        ClientId(format!(
            "key:{}",
            &hex::encode(Sha256::digest(key.as_bytes()))[..8]
        ))
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
    /// Browser origins allowed to call (loopback origins are always allowed).
    pub allowed_origins: Vec<String>,
}

impl HttpOptions {
    /// Refuse a non-loopback bind without API keys.
    pub fn check(&self) -> anyhow::Result<()> {
        if !self.addr.ip().is_loopback() && self.keys.is_empty() {
            anyhow::bail!(
                "refusing to serve on {} without API keys: pass --api-key KEY (or AERIE_API_KEYS), or bind to 127.0.0.1",
                self.addr
            );
        }
        Ok(())
    }
}

async fn require_key(State(keys): State<Arc<ApiKeys>>, mut req: Request, next: Next) -> Response {
    if keys.is_empty() {
        req.extensions_mut().insert(ClientId("http".into()));
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
    let id = match presented {
        Some(k) if keys.accepts(k) => ClientId::for_key(k),
        // No detail: a caller without a key learns nothing about why.
        _ => return StatusCode::UNAUTHORIZED.into_response(),
    };
    req.extensions_mut().insert(id);
    next.run(req).await
}

/// The router: `/mcp` and `/healthz`.
pub fn router(handler: Handler, opts: &HttpOptions, shutdown: CancellationToken) -> Router {
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
    let mut origins = vec![
        format!("http://localhost:{port}"),
        format!("http://127.0.0.1:{port}"),
        "http://localhost".into(),
        "http://127.0.0.1".into(),
    ];
    origins.extend(opts.allowed_origins.iter().cloned());
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts)
        .with_allowed_origins(origins)
        .with_max_request_body_bytes(MAX_BODY_BYTES)
        .with_cancellation_token(shutdown);
    let service = StreamableHttpService::new(
        move || Ok(handler.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let keys = Arc::new(opts.keys.clone());
    Router::new()
        .nest_service("/mcp", service)
        .layer(middleware::from_fn_with_state(keys, require_key))
        .route("/healthz", axum::routing::get(|| async { "ok" }))
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
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_plain_and_hashed() {
        let digest = hex::encode(Sha256::digest(b"k2"));
        let keys = ApiKeys::new(&["k1".into()], &[format!("sha256:{digest}")]).unwrap();
        assert!(keys.accepts("k1") && keys.accepts("k2"));
        assert!(!keys.accepts("k3") && !keys.accepts(""));
        assert!(
            ApiKeys::new(&[], &["sha256:zz".into()])
                .unwrap_err()
                .contains("sha256")
        );
    }
}
