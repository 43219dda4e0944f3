//! The only HTTP client: performs catalogue operations against Falcon with the shared token,
//! a client-side rate limiter, a concurrency cap, timeouts, bounded 429 waits, retries with
//! backoff for reads only, and a response size cap.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota};
use serde_json::json;
use tokio::sync::Semaphore;

use crate::audit::Audit;
use crate::auth::{AuthError, Session};
use crate::catalogue::{Access, Operation};
use crate::runtime::falcon;

/// Egress settings.
#[derive(Debug, Clone)]
pub struct EgressConfig {
    /// Client-side request budget per minute.
    pub requests_per_minute: u32,
    /// Requests in flight at once.
    pub max_concurrency: u32,
    /// Timeout of one HTTP attempt.
    pub request_timeout: Duration,
    /// Longest total wait for 429s before giving up.
    pub max_rate_limit_wait: Duration,
    /// Attempts for a read on 5xx/transport errors.
    pub read_attempts: u32,
    /// Largest response body accepted.
    pub max_response_bytes: usize,
}

impl Default for EgressConfig {
    fn default() -> Self {
        EgressConfig {
            requests_per_minute: 5_000,
            max_concurrency: 32,
            request_timeout: Duration::from_secs(30),
            max_rate_limit_wait: Duration::from_secs(30),
            read_attempts: 3,
            max_response_bytes: 16 << 20,
        }
    }
}

/// Response headers a plugin may see.
const PASS_HEADERS: &[&str] = &[
    "content-type",
    "x-cs-traceid",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-retryafter",
    "x-cs-region",
];

/// The Falcon HTTP client.
pub struct Egress {
    session: Session,
    http: reqwest::Client,
    config: EgressConfig,
    limiter: DefaultDirectRateLimiter,
    inflight: Semaphore,
    audit: Arc<Audit>,
}

/// The HTTP client every Falcon request uses: rustls, proxies from the environment, no
/// redirects (Falcon does not redirect API calls, and a redirect must never carry the token).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("aerie/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default()
}

impl Egress {
    /// An egress for `session`.
    pub fn new(
        session: Session,
        http: reqwest::Client,
        config: EgressConfig,
        audit: Arc<Audit>,
    ) -> Egress {
        let per_min = NonZeroU32::new(config.requests_per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        // Burst of a few seconds' worth, so a hydrate fan-out isn't serialised.
        let burst =
            NonZeroU32::new((config.requests_per_minute / 12).max(1)).unwrap_or(NonZeroU32::MIN);
        Egress {
            session,
            http,
            limiter: governor::RateLimiter::direct(Quota::per_minute(per_min).allow_burst(burst)),
            inflight: Semaphore::new(config.max_concurrency.max(1) as usize),
            config,
            audit,
        }
    }

    /// The session (for revoke at shutdown).
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Perform `op` for `plugin`. The caller has already checked the grant.
    pub async fn perform(
        &self,
        plugin: &str,
        op: &Operation,
        req: &falcon::Request,
    ) -> Result<falcon::Response, falcon::Error> {
        let path = op
            .render_path(&req.path_params)
            .map_err(|e| falcon::Error::Denied(format!("{}: {e}", op.id)))?;
        let started = Instant::now();
        let mut retries = 0u32;
        let mut refreshed = false;
        let mut waited = Duration::ZERO;
        let method = reqwest::Method::from_bytes(op.method.as_bytes())
            .map_err(|e| falcon::Error::Transport(e.to_string()))?;
        let outcome = loop {
            self.limiter.until_ready().await;
            let _permit = self
                .inflight
                .acquire()
                .await
                .map_err(|e| falcon::Error::Transport(e.to_string()))?;
            let token = self.session.token().await.map_err(auth_error)?;
            let url = self
                .session
                .base_url()
                .join(&path)
                .map_err(|e| falcon::Error::Transport(e.to_string()))?;
            let mut rb = self
                .http
                .request(method.clone(), url)
                .bearer_auth(token.expose())
                .timeout(self.config.request_timeout);
            if !req.query.is_empty() {
                rb = rb.query(&req.query);
            }
            if let Some(body) = &req.body {
                let ct = op.content_type.as_deref().unwrap_or("application/json");
                rb = rb.header("content-type", ct).body(body.clone());
            }
            let can_retry = op.access == Access::Read && retries + 1 < self.config.read_attempts;
            let resp = match rb.send().await {
                Ok(r) => r,
                Err(e) if can_retry => {
                    tracing::debug!(operation = %op.id, error = %e.without_url(), "transport error; retrying read");
                    retries += 1;
                    tokio::time::sleep(backoff(retries)).await;
                    continue;
                }
                Err(e) if e.is_timeout() => break Err(falcon::Error::Timeout),
                Err(e) => break Err(falcon::Error::Transport(e.without_url().to_string())),
            };
            let status = resp.status().as_u16();
            match status {
                401 if !refreshed => {
                    refreshed = true;
                    retries += 1;
                    self.session.invalidate(&token).await;
                    continue;
                }
                429 => {
                    let wait = retry_after(resp.headers());
                    if waited + wait > self.config.max_rate_limit_wait {
                        break Err(falcon::Error::RateLimited(format!(
                            "Falcon rate limit reached; retry in {} s",
                            wait.as_secs().max(1)
                        )));
                    }
                    waited += wait;
                    retries += 1;
                    drop(_permit);
                    tokio::time::sleep(wait).await;
                    continue;
                }
                500..=599 if can_retry => {
                    retries += 1;
                    tokio::time::sleep(backoff(retries)).await;
                    continue;
                }
                _ => {}
            }
            let headers: Vec<(String, String)> = resp
                .headers()
                .iter()
                .filter(|(k, _)| PASS_HEADERS.contains(&k.as_str()))
                .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
                .chain(
                    (status == 403)
                        .then(|| ("x-aerie-required-scope".to_string(), op.scope.clone())),
                )
                .collect::<Vec<_>>();
            break match read_capped(resp, self.config.max_response_bytes).await {
                Ok(body) => Ok(falcon::Response {
                    status,
                    headers,
                    body,
                }),
                Err(e) => Err(e),
            };
        };
        self.audit.record(
            "egress",
            json!({
                "plugin": plugin,
                "operation": op.id,
                "method": op.method,
                "path": path,
                "status": outcome.as_ref().ok().map(|r| r.status),
                "error": outcome.as_ref().err().map(error_kind),
                "duration_ms": started.elapsed().as_millis() as u64,
                "retries": retries,
            }),
        );
        outcome
    }
}

fn auth_error(e: AuthError) -> falcon::Error {
    falcon::Error::Auth(e.to_string())
}

fn error_kind(e: &falcon::Error) -> &'static str {
    match e {
        falcon::Error::Denied(_) => "denied",
        falcon::Error::Timeout => "timeout",
        falcon::Error::RateLimited(_) => "rate_limited",
        falcon::Error::Transport(_) => "transport",
        falcon::Error::TooLarge(_) => "too_large",
        falcon::Error::Auth(_) => "auth",
    }
}

/// Exponential backoff with full jitter: 200 ms, 400 ms, 800 ms … capped at 5 s.
fn backoff(attempt: u32) -> Duration {
    let cap = 200u64.saturating_mul(1 << attempt.min(5)).min(5_000);
    Duration::from_millis(rand::random::<u64>() % cap + 1)
}

/// `X-RateLimit-RetryAfter` is a Unix epoch second; wait until then (at least 1 s).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Duration {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    headers
        .get("x-ratelimit-retryafter")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|at| Duration::from_secs(at.saturating_sub(now).max(1)))
        .unwrap_or(Duration::from_secs(1))
}

async fn read_capped(mut resp: reqwest::Response, cap: usize) -> Result<Vec<u8>, falcon::Error> {
    if resp.content_length().is_some_and(|n| n as usize > cap) {
        return Err(falcon::Error::TooLarge(cap as u64));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| falcon::Error::Transport(e.without_url().to_string()))?
    {
        if body.len() + chunk.len() > cap {
            return Err(falcon::Error::TooLarge(cap as u64));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The first `errors[].message` of a Falcon error body, or a short excerpt.
pub fn first_error_message(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    v["errors"][0]["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| {
            crate::runtime::truncate_str(&String::from_utf8_lossy(body), 200).to_string()
        })
}
