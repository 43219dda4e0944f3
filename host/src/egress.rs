//! The only HTTP client: performs catalogue operations against Falcon with the shared token,
//! a client-side rate limiter, a concurrency cap, each plugin's fair share of both, timeouts,
//! bounded 429 waits, retries with backoff for reads only, and a response size cap.
//!
//! A write is repeated only when it provably never left (the connection was never made, or
//! Falcon answered 401/429, which apply nothing). Any other failure after sending is reported as
//! an unknown outcome ([`OUTCOME_UNKNOWN`]) so nobody retries a write that may have happened.

mod cause;
pub mod pacer;
mod share;
pub mod shared;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use governor::DefaultDirectRateLimiter;
use serde_json::json;
use tokio::sync::Semaphore;

use crate::audit::Audit;
use crate::auth::{AuthError, Session};
use crate::catalogue::{Access, Operation};
use crate::runtime::falcon;

pub use cause::{Failure, describe, host_port};
pub use share::PluginBudget;

/// Marker opening the `transport` error text of a write whose request was sent but whose answer
/// never arrived. The WIT cannot grow a variant (plugins are built against it), so the text is
/// the contract: the SDK looks for this phrase and tells the model to verify before retrying.
pub const OUTCOME_UNKNOWN: &str = "outcome unknown";
/// How an [`OUTCOME_UNKNOWN`] text ends; the SDK swaps in the plugin's verifying read tool.
pub const CHECK_BEFORE_RETRY: &str = "check the current state before retrying";

/// Egress settings.
#[derive(Debug, Clone)]
pub struct EgressConfig {
    /// Fixed client-side request budget per minute, for operators who share a CID; unset, aerie
    /// paces by Falcon's own rate-limit headers ([`pacer`]).
    pub requests_per_minute: Option<u32>,
    /// Requests in flight at once.
    pub max_concurrency: u32,
    /// Timeout of one HTTP attempt.
    pub request_timeout: Duration,
    /// Longest total wait for 429s before giving up.
    pub max_rate_limit_wait: Duration,
    /// Attempts for a read on 5xx/transport errors (and for any request that never connected).
    pub read_attempts: u32,
    /// Largest response body accepted.
    pub max_response_bytes: usize,
    /// Every plugin's share of the budgets unless overridden (`[egress] plugin_*`).
    pub plugin_default: PluginBudget,
    /// Per-plugin shares (`[plugins.<name>] egress_*`).
    pub plugins: BTreeMap<String, PluginBudget>,
}

impl Default for EgressConfig {
    fn default() -> Self {
        EgressConfig {
            requests_per_minute: None,
            max_concurrency: 32,
            request_timeout: Duration::from_secs(30),
            max_rate_limit_wait: Duration::from_secs(30),
            read_attempts: 3,
            max_response_bytes: 16 << 20,
            plugin_default: PluginBudget::default(),
            plugins: BTreeMap::new(),
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
    limiter: Option<DefaultDirectRateLimiter>,
    pacer: pacer::Pacer,
    inflight: Semaphore,
    shares: share::Shares,
    /// The CID's budget shared with other replicas (`[state] backend = "redis://…"`).
    shared: Option<Arc<dyn shared::SharedRate>>,
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

/// The audit record of one `perform`, written when it is dropped: a call cut at its deadline or
/// cancelled drops the future mid-request, and the request that left must still be audited.
struct EgressRecord<'a> {
    audit: &'a Audit,
    plugin: &'a str,
    op: &'a Operation,
    path: &'a str,
    started: Instant,
    retries: u32,
    /// Attempts that may have reached Falcon (sent, or failed after connecting).
    sent: u32,
    /// `Some` once `perform` has its answer.
    outcome: Option<(Option<u16>, Option<&'static str>)>,
}

impl Drop for EgressRecord<'_> {
    fn drop(&mut self) {
        let (outcome, status, error) = match self.outcome {
            Some((status, None)) => ("ok", status, None),
            Some((status, Some(kind))) => ("error", status, Some(kind)),
            // Dropped before an answer: the status is unknown, the request may have landed.
            None => ("abandoned", None, Some("abandoned")),
        };
        self.audit.record(
            "egress",
            json!({
                "plugin": self.plugin,
                "operation": self.op.id,
                "method": self.op.method,
                "path": self.path,
                "outcome": outcome,
                "status": status,
                "error": error,
                "sent": self.sent > 0,
                "duration_ms": self.started.elapsed().as_millis() as u64,
                "retries": self.retries,
            }),
        );
    }
}

impl Egress {
    /// An egress for `session`.
    pub fn new(
        session: Session,
        http: reqwest::Client,
        config: EgressConfig,
        audit: Arc<Audit>,
    ) -> Egress {
        let max_concurrency = config.max_concurrency.max(1);
        Egress {
            session,
            http,
            limiter: config.requests_per_minute.map(share::limiter),
            pacer: pacer::Pacer::new(max_concurrency),
            inflight: Semaphore::new(max_concurrency as usize),
            shares: share::Shares::new(
                config
                    .requests_per_minute
                    .unwrap_or(pacer::FALCON_DEFAULT_PER_MINUTE)
                    .max(1),
                max_concurrency,
                config.plugin_default,
                config.plugins.clone(),
            ),
            config,
            shared: None,
            audit,
        }
    }

    /// Also take every request's turn from `shared`, the CID budget of all replicas.
    pub fn sharing(mut self, shared: Option<Arc<dyn shared::SharedRate>>) -> Egress {
        self.shared = shared;
        self
    }

    /// The session (for revoke at shutdown).
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The effective (requests per minute, requests in flight) share of `plugin`.
    pub fn plugin_budget(&self, plugin: &str) -> (u32, u32) {
        self.shares.budget(plugin)
    }

    /// Perform `op` for `plugin` at `path` (the operation's path template rendered from the
    /// request's path parameters). The caller has already checked the grant and the path.
    pub async fn perform(
        &self,
        plugin: &str,
        op: &Operation,
        path: &str,
        req: &falcon::Request,
    ) -> Result<falcon::Response, falcon::Error> {
        let mut record = EgressRecord {
            audit: &self.audit,
            plugin,
            op,
            path,
            started: Instant::now(),
            retries: 0,
            sent: 0,
            outcome: None,
        };
        let outcome = self.attempts(plugin, op, req, path, &mut record).await;
        record.outcome = Some(match &outcome {
            Ok(r) => (Some(r.status), None),
            Err(e) => (None, Some(error_kind(e))),
        });
        outcome
    }

    async fn attempts(
        &self,
        plugin: &str,
        op: &Operation,
        req: &falcon::Request,
        path: &str,
        record: &mut EgressRecord<'_>,
    ) -> Result<falcon::Response, falcon::Error> {
        let mut refreshed = false;
        let mut waited = Duration::ZERO;
        let write = op.access == Access::Write;
        let method = reqwest::Method::from_bytes(op.method.as_bytes())
            .map_err(|e| falcon::Error::Transport(e.to_string()))?;
        let gate = self.shares.gate(plugin);
        loop {
            // The plugin's own share first, so a flooding plugin queues on its own limiter and
            // leaves the global budget's remainder to everyone else. Shares only bind when the
            // budget is scarce (or capped): with plenty left, nobody waits.
            if self.limiter.is_some() || self.pacer.scarce() {
                gate.limiter.until_ready().await;
            }
            if let Some(limiter) = &self.limiter {
                let t = Instant::now();
                limiter.until_ready().await;
                crate::metrics::rate_wait("cap", t.elapsed());
            }
            let patience = self.config.max_rate_limit_wait.saturating_sub(waited);
            let t = Instant::now();
            if let Err(hold) = self.pacer.admit(patience).await {
                // Falcon said the CID's budget is gone for longer than we may wait: sending
                // now would only earn another 429.
                return Err(rate_limited(hold));
            }
            crate::metrics::rate_wait("falcon", t.elapsed());
            self.take_shared_turn(patience).await?;
            let closed = |e: tokio::sync::AcquireError| falcon::Error::Transport(e.to_string());
            let plugin_permit = gate.inflight.acquire().await.map_err(closed)?;
            let permit = self.inflight.acquire().await.map_err(closed)?;
            let token = self.session.token().await.map_err(auth_error)?;
            let url = self
                .session
                .base_url()
                .join(path)
                .map_err(|e| falcon::Error::Transport(e.to_string()))?;
            let mut rb = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(token.expose())
                .timeout(self.config.request_timeout);
            if !req.query.is_empty() {
                rb = rb.query(&req.query);
            }
            if let Some(body) = &req.body {
                let ct = op.content_type.as_deref().unwrap_or("application/json");
                rb = rb.header("content-type", ct).body(body.clone());
            }
            let attempts_left = record.retries + 1 < self.config.read_attempts;
            let can_retry = !write && attempts_left;
            record.sent += 1;
            let resp = match rb.send().await {
                Ok(r) => r,
                Err(e) => {
                    let f = describe(&e, &url);
                    if f.before_send {
                        record.sent -= 1;
                    }
                    // A request that never connected never reached Falcon: safe to repeat,
                    // even a write.
                    if (f.before_send && attempts_left) || can_retry {
                        tracing::debug!(operation = %op.id, error = %f.text, "transport error; retrying");
                        record.retries += 1;
                        drop((permit, plugin_permit));
                        tokio::time::sleep(backoff(record.retries)).await;
                        continue;
                    }
                    return Err(self.failure(op, f, write));
                }
            };
            let status = resp.status().as_u16();
            self.pacer.observe(resp.headers());
            match status {
                // Neither a 401 nor a 429 applies anything, so even a write may be repeated.
                401 if !refreshed => {
                    refreshed = true;
                    record.retries += 1;
                    self.session.invalidate(&token).await;
                    continue;
                }
                429 => {
                    let wait = retry_after(resp.headers());
                    // Every request waits, not only this one: the window is the CID's.
                    self.pacer.block_until(tokio::time::Instant::now() + wait);
                    if waited + wait > self.config.max_rate_limit_wait {
                        return Err(rate_limited(wait));
                    }
                    waited += wait;
                    record.retries += 1;
                    drop((permit, plugin_permit));
                    continue;
                }
                500..=599 if can_retry => {
                    record.retries += 1;
                    drop((permit, plugin_permit));
                    tokio::time::sleep(backoff(record.retries)).await;
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
            return match read_capped(resp, self.config.max_response_bytes, &url).await {
                Ok(body) => Ok(falcon::Response {
                    status,
                    headers,
                    body,
                }),
                Err(BodyError::TooLarge(cap)) => Err(falcon::Error::TooLarge(cap)),
                Err(BodyError::Cut(f)) => {
                    let f = Failure {
                        text: format!(
                            "Falcon answered HTTP {status} but the response was cut off: {}",
                            f.text
                        ),
                        ..f
                    };
                    Err(self.failure(op, f, write))
                }
            };
        }
    }

    /// Wait for this request's turn in the CID budget the replicas share, if they do: the
    /// configured cap, else the limit Falcon announced. Without the shared bucket (Redis lost),
    /// local pacing alone applies.
    async fn take_shared_turn(&self, patience: Duration) -> Result<(), falcon::Error> {
        let Some(shared) = &self.shared else {
            return Ok(());
        };
        let per_minute = self
            .config
            .requests_per_minute
            .unwrap_or_else(|| self.pacer.budget().0);
        match shared
            .turn(per_minute, shared::burst(per_minute), patience)
            .await
        {
            Ok(wait) => {
                if !wait.is_zero() {
                    crate::metrics::rate_wait("cid", wait);
                    tokio::time::sleep(wait).await;
                }
                Ok(())
            }
            Err(shared::NoTurn::TooLate(wait)) => Err(rate_limited(wait)),
            Err(shared::NoTurn::Unavailable(_)) => Ok(()),
        }
    }

    /// The error for a failed attempt that will not be repeated.
    fn failure(&self, op: &Operation, f: Failure, write: bool) -> falcon::Error {
        if f.before_send {
            return falcon::Error::Transport(format!(
                "{}; the request was not sent, so it is safe to retry",
                f.text
            ));
        }
        if write {
            let cause = if f.timed_out {
                format!(
                    "no answer within {} s",
                    self.config.request_timeout.as_secs_f32()
                )
            } else {
                f.text
            };
            return falcon::Error::Transport(format!(
                "{OUTCOME_UNKNOWN}: the {} request was sent and may have been applied ({cause}); \
                 it was not repeated — {CHECK_BEFORE_RETRY}",
                op.id
            ));
        }
        if f.timed_out {
            return falcon::Error::Timeout;
        }
        falcon::Error::Transport(f.text)
    }
}

/// Only refused credentials are an `auth` error (the operator must fix a setting); a token
/// endpoint that is down or unreachable is a transport failure to retry later.
fn auth_error(e: AuthError) -> falcon::Error {
    match e {
        AuthError::Rejected { .. } => falcon::Error::Auth(e.to_string()),
        _ => falcon::Error::Transport(e.to_string()),
    }
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

/// The error for a call that may not wait `wait` for Falcon's rate limit.
fn rate_limited(wait: Duration) -> falcon::Error {
    falcon::Error::RateLimited(format!(
        "Falcon rate limit reached; retry in {} s",
        wait.as_secs_f64().ceil().max(1.0) as u64
    ))
}

/// Exponential backoff with full jitter: 200 ms, 400 ms, 800 ms … capped at 5 s.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let cap = 200u64.saturating_mul(1 << attempt.min(5)).min(5_000);
    Duration::from_millis(rand::random::<u64>() % cap + 1)
}

/// `X-RateLimit-RetryAfter` is a Unix epoch second; wait until then (at least 1 s).
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Duration {
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

enum BodyError {
    TooLarge(u64),
    Cut(Failure),
}

async fn read_capped(
    mut resp: reqwest::Response,
    cap: usize,
    url: &url::Url,
) -> Result<Vec<u8>, BodyError> {
    if resp.content_length().is_some_and(|n| n as usize > cap) {
        return Err(BodyError::TooLarge(cap as u64));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| BodyError::Cut(describe(&e, url)))?
    {
        if body.len() + chunk.len() > cap {
            return Err(BodyError::TooLarge(cap as u64));
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
