//! The HTTP server: accept loop, the per-request pipeline (log → faults → route → auth → rate
//! limit → scope → handler → headers) and the running [`Simulator`] handle.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use crate::config::{Faults, SimConfig};
use crate::envelope::{ApiError, Body, Req, Resp};
use crate::faults::FaultState;
use crate::oauth::{self, Tokens};
use crate::ratelimit::{Limiter, Verdict};
use crate::routes::{self, Route};
use crate::timeutil;
use crate::world::{Ctx, World, uuid};

const GATEWAY: &str = "crowdstrike-api-gateway";

/// One request as the simulator saw it (including requests refused by faults or auth).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// Raw query string (empty if none).
    pub query: String,
    /// Status answered; 0 when the connection was dropped by a fault.
    pub status: u16,
    /// Request body, lossily decoded as UTF-8.
    pub body: String,
    /// API client, when the request carried a valid token or client credentials.
    pub client_id: Option<String>,
    /// Falcon operation id the route maps to, if any.
    pub operation: Option<String>,
    /// Trace id answered in `X-Cs-Traceid`.
    pub trace_id: String,
    /// When the request arrived.
    pub timestamp: SystemTime,
}

/// State shared by every connection.
pub(crate) struct Shared {
    pub cfg: SimConfig,
    pub world: Mutex<World>,
    pub tokens: Mutex<Tokens>,
    pub limiter: Mutex<Limiter>,
    pub faults: Mutex<FaultState>,
    pub log: Mutex<Vec<RequestRecord>>,
    pub token_requests: AtomicUsize,
    pub rng: Mutex<SmallRng>,
}

/// Locks a mutex, recovering from poisoning: a panicking handler must not wedge the simulator,
/// and every structure here stays consistent between statements.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Debug)]
struct Dropped;
impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}
impl std::error::Error for Dropped {}

/// A running simulator; dropping it without `shutdown` leaves the server running until the runtime ends.
pub struct Simulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Simulator {
    /// Starts a simulator on `127.0.0.1` with an ephemeral port.
    pub async fn start(config: SimConfig) -> anyhow::Result<Simulator> {
        Self::start_on(config, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts a simulator on `addr`.
    pub async fn start_on(config: SimConfig, addr: SocketAddr) -> anyhow::Result<Simulator> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let generated_at = timeutil::epoch_ms(config.generated_at.unwrap_or_else(SystemTime::now));
        let pinned = config.generated_at.is_some();
        let seed = config.seed;
        let (hosts, alerts) = (config.hosts, config.alerts);
        // Generation takes a few tens of milliseconds; keep it off the async workers.
        let world = tokio::task::spawn_blocking(move || {
            crate::tenant::generate_cached(seed, generated_at, pinned, hosts, alerts)
        })
        .await?;
        let shared = Arc::new(Shared {
            faults: Mutex::new(FaultState::new(config.faults.clone(), seed)),
            rng: Mutex::new(SmallRng::seed_from_u64(seed ^ 0x7ACE)),
            cfg: config,
            world: Mutex::new(world),
            tokens: Mutex::new(Tokens::default()),
            limiter: Mutex::new(Limiter::default()),
            log: Mutex::new(Vec::new()),
            token_requests: AtomicUsize::new(0),
        });
        let (stop, mut stopped) = oneshot::channel::<()>();
        let sh = shared.clone();
        let task = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    acc = listener.accept() => {
                        let Ok((stream, peer)) = acc else { continue };
                        let sh = sh.clone();
                        conns.spawn(async move {
                            let svc = service_fn(move |req| handle(sh.clone(), req, peer));
                            let _ = hyper::server::conn::http1::Builder::new()
                                .keep_alive(true)
                                .serve_connection(TokioIo::new(stream), svc)
                                .await;
                        });
                    }
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
            conns.abort_all();
        });
        Ok(Simulator {
            shared,
            addr,
            stop: Some(stop),
            task,
        })
    }

    /// Base URL, e.g. `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// API requests seen so far, oldest first, capped at the newest 50,000 (admin `/_sim/` requests are not logged).
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared.log).clone()
    }

    /// Empties the request log.
    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }

    /// Replaces the injected faults.
    pub fn set_faults(&self, f: Faults) {
        lock(&self.shared.faults).faults = f;
    }

    /// The faults currently in force (bursts count down as they fire).
    pub fn faults(&self) -> Faults {
        lock(&self.shared.faults).faults.clone()
    }

    /// Invalidates every issued token (next API call answers 401).
    pub fn expire_all_tokens(&self) {
        lock(&self.shared.tokens).expire_all();
    }

    /// How many `/oauth2/token` requests were made.
    pub fn token_requests(&self) -> usize {
        self.shared.token_requests.load(Ordering::SeqCst)
    }

    /// The generated customer id.
    pub fn cid(&self) -> String {
        lock(&self.shared.world).cid.clone()
    }

    /// Stops accepting and closes open connections.
    pub async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = (&mut self.task).await;
    }
}

/// Longest request log kept; long benchmark runs must not grow memory without bound.
const LOG_CAP: usize = 50_000;

fn push_log(sh: &Shared, record: RequestRecord) {
    let mut log = lock(&sh.log);
    if log.len() >= LOG_CAP {
        let excess = log.len() + 1 - LOG_CAP;
        log.drain(..excess);
    }
    log.push(record);
}

fn trace_id(sh: &Shared) -> String {
    uuid(&mut *lock(&sh.rng))
}

async fn handle(
    sh: Arc<Shared>,
    req: hyper::Request<Incoming>,
    peer: SocketAddr,
) -> Result<hyper::Response<Full<Bytes>>, Dropped> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map_err(|_| Dropped)?.to_bytes();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    let mut r = Req {
        method: parts.method.as_str().to_ascii_uppercase(),
        path: parts.uri.path().to_string(),
        query: form_urlencoded::parse(raw_query.as_bytes())
            .into_owned()
            .collect(),
        body: body.to_vec(),
        content_type: header("content-type").unwrap_or_default(),
        params: Vec::new(),
    };
    if r.path.starts_with("/_sim/") || r.path == "/_sim" {
        let resp = crate::admin::handle(&sh, &r);
        return Ok(finish(&sh, resp, &trace_id(&sh), None, 0.0));
    }
    let started = Instant::now();
    let trace = trace_id(&sh);
    let mut record = RequestRecord {
        method: r.method.clone(),
        path: r.path.clone(),
        query: raw_query,
        status: 0,
        body: String::from_utf8_lossy(&r.body).to_string(),
        client_id: None,
        operation: None,
        trace_id: trace.clone(),
        timestamp: SystemTime::now(),
    };
    let is_oauth = r.path.starts_with("/oauth2/");
    let decision = lock(&sh.faults).decide(is_oauth);
    if decision.latency_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(decision.latency_ms)).await;
    }
    if decision.drop {
        push_log(&sh, record);
        return Err(Dropped);
    }
    let auth_header = header("authorization");
    let (resp, rl) = pipeline(
        &sh,
        &mut r,
        &mut record,
        auth_header.as_deref(),
        peer,
        &decision,
    );
    record.status = resp.status;
    let out = finish(&sh, resp, &trace, Some(rl), started.elapsed().as_secs_f64());
    let is_write =
        routes::find(&r.method, &r.path).is_some_and(|(rt, _)| rt.scope.ends_with(":write"));
    let after = if is_write {
        lock(&sh.faults).after_apply()
    } else {
        crate::faults::AfterApply::default()
    };
    if after.drop {
        // The handler ran (a write took effect); the client never hears about it. The log keeps
        // the status the handler produced, so a test can see the write happened.
        push_log(&sh, record);
        return Err(Dropped);
    }
    push_log(&sh, record);
    if after.latency_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(after.latency_ms)).await;
    }
    Ok(out)
}

/// Rate-limit headers to attach: (limit, remaining).
type RateHeaders = (u32, u32);

fn pipeline(
    sh: &Shared,
    r: &mut Req,
    record: &mut RequestRecord,
    authorization: Option<&str>,
    peer: SocketAddr,
    decision: &crate::faults::Decision,
) -> (Resp, RateHeaders) {
    let now = timeutil::now_ms();
    let cfg = &sh.cfg;
    let ip_key = format!("ip:{}", peer.ip());
    // Token service.
    if r.path == "/oauth2/token" || r.path == "/oauth2/revoke" {
        if r.method != "POST" {
            return (
                ApiError::new(405, "Method Not Allowed").into_resp(oauth::CSAM),
                (cfg.token_limit_per_minute, cfg.token_limit_per_minute),
            );
        }
        let is_token = r.path == "/oauth2/token";
        record.operation = Some(
            if is_token {
                "oauth2AccessToken"
            } else {
                "oauth2RevokeToken"
            }
            .into(),
        );
        if is_token {
            sh.token_requests.fetch_add(1, Ordering::SeqCst);
        }
        let key = format!("token:{}", peer.ip());
        let rl = match lock(&sh.limiter).check(&key, cfg.token_limit_per_minute, now) {
            Verdict::Allowed { limit, remaining } => (limit, remaining),
            Verdict::Limited { limit, retry_after } => {
                return (too_many(limit, retry_after, oauth::CSAM), (limit, 0));
            }
        };
        if decision.too_many {
            return (too_many(rl.0, now / 1000 + 1, oauth::CSAM), (rl.0, 0));
        }
        if decision.server_error {
            return (
                ApiError::new(500, "Internal Server Error").into_resp(oauth::CSAM),
                rl,
            );
        }
        let mut tokens = lock(&sh.tokens);
        let res = if is_token {
            let form: std::collections::HashMap<String, String> =
                form_urlencoded::parse(&r.body).into_owned().collect();
            record.client_id = form.get("client_id").cloned();
            // Never log secrets, even in a simulator: tests print the log on failure.
            record.body = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form.iter().map(|(k, v)| {
                    (
                        k.as_str(),
                        if k == "client_secret" {
                            "***"
                        } else {
                            v.as_str()
                        },
                    )
                }))
                .finish();
            oauth::token(&mut tokens, cfg, r, now, &mut lock(&sh.rng))
        } else {
            oauth::revoke(&mut tokens, cfg, r, authorization)
        };
        let resp = res.unwrap_or_else(|e| e.into_resp(oauth::CSAM));
        return (resp, rl);
    }
    let Some((route, params)) = routes::find(&r.method, &r.path) else {
        let rem = lock(&sh.limiter).peek(&ip_key, cfg.unauthenticated_limit_per_minute, now);
        return (
            ApiError::new(404, "Not Found").into_resp(GATEWAY),
            (cfg.unauthenticated_limit_per_minute, rem),
        );
    };
    r.params = params;
    record.operation = Some(route.op.to_string());
    // Gateway: bearer token.
    let token = authorization
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim);
    let client_id = token.and_then(|t| {
        lock(&sh.tokens)
            .validate(t, now)
            .map(|t| t.client_id.clone())
    });
    let client_id = client_id.filter(|_| !decision.unauthorized);
    let Some(client_id) = client_id else {
        return match lock(&sh.limiter).check(&ip_key, cfg.unauthenticated_limit_per_minute, now) {
            Verdict::Allowed { limit, remaining } => (
                ApiError::new(401, "access denied, invalid bearer token").into_resp(GATEWAY),
                (limit, remaining),
            ),
            Verdict::Limited { limit, retry_after } => {
                (too_many(limit, retry_after, GATEWAY), (limit, 0))
            }
        };
    };
    record.client_id = Some(client_id.clone());
    let rl = if decision.too_many {
        return (
            too_many(cfg.rate_limit_per_minute, now / 1000 + 1, GATEWAY),
            (cfg.rate_limit_per_minute, 0),
        );
    } else {
        match lock(&sh.limiter).check(
            &format!("client:{client_id}"),
            cfg.rate_limit_per_minute,
            now,
        ) {
            Verdict::Allowed { limit, remaining } => (limit, remaining),
            Verdict::Limited { limit, retry_after } => {
                return (too_many(limit, retry_after, GATEWAY), (limit, 0));
            }
        }
    };
    if decision.server_error {
        return (
            ApiError::new(500, "Internal Server Error").into_resp(route.powered_by),
            rl,
        );
    }
    let allowed = cfg
        .clients
        .iter()
        .any(|c| c.client_id == client_id && c.has_scope(route.scope));
    if !allowed {
        return (
            ApiError::new(403, "access denied, authorization failed").into_resp(GATEWAY),
            rl,
        );
    }
    (run(sh, route, r, client_id, now), rl)
}

fn run(sh: &Shared, route: &Route, r: &Req, client_id: String, now: i64) -> Resp {
    let mut world = lock(&sh.world);
    world.tick(now);
    let mut cx = Ctx {
        w: &mut world,
        cfg: &sh.cfg,
        now,
        client_id,
    };
    match route.handle(&mut cx, r) {
        Ok(resp) => resp,
        Err(e) => e.into_resp(route.powered_by),
    }
}

fn too_many(limit: u32, retry_after: i64, powered_by: &'static str) -> Resp {
    let mut resp = ApiError::new(429, "API rate limit exceeded.").into_resp(powered_by);
    resp.headers
        .push(("X-RateLimit-RetryAfter".into(), retry_after.to_string()));
    let _ = limit;
    resp
}

fn finish(
    sh: &Shared,
    resp: Resp,
    trace: &str,
    rl: Option<RateHeaders>,
    elapsed: f64,
) -> hyper::Response<Full<Bytes>> {
    let mut b = hyper::Response::builder().status(resp.status);
    let (bytes, ctype) = match resp.body {
        Body::Json(mut v) => {
            if let Some(meta) = v.get_mut("meta").and_then(Value::as_object_mut) {
                if meta.contains_key("trace_id") {
                    meta.insert("trace_id".into(), json!(trace));
                }
                if meta.contains_key("query_time") {
                    meta.insert("query_time".into(), json!(elapsed.max(1e-6)));
                }
            }
            (
                serde_json::to_vec(&v).unwrap_or_default(),
                "application/json",
            )
        }
        Body::Bytes(b, t) => (b, t),
        Body::Empty => (Vec::new(), ""),
    };
    if !ctype.is_empty() {
        b = b.header("Content-Type", ctype);
    }
    b = b.header("X-Cs-Traceid", trace);
    if sh.cfg.region_header {
        b = b.header("X-Cs-Region", sh.cfg.region.as_str());
    }
    b = b
        .header("Server", "nginx")
        .header(
            "Strict-Transport-Security",
            "max-age=31536000; includeSubDomains",
        )
        .header("X-Content-Type-Options", "nosniff");
    if let Some((limit, remaining)) = rl {
        b = b
            .header("X-RateLimit-Limit", limit.to_string())
            .header("X-RateLimit-Remaining", remaining.to_string());
    }
    let mut has_region = false;
    for (k, v) in &resp.headers {
        if k.eq_ignore_ascii_case("x-cs-region") {
            has_region = true;
            continue;
        }
        b = b.header(k.as_str(), v.as_str());
    }
    let _ = has_region;
    b.body(Full::new(Bytes::from(bytes)))
        .unwrap_or_else(|_| hyper::Response::new(Full::new(Bytes::new())))
}
