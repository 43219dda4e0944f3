//! Operations endpoints of the HTTP transport: `/metrics` in the Prometheus text format and
//! `/healthz` (which says when a replica has lost its shared state).
//!
//! Most series are derived from the audit stream ([`observe_audit`], called for every record
//! whether or not an audit log is written), so they count exactly what is audited: tool calls
//! by outcome and latency, egress requests by operation and status, approvals by decision,
//! refusals by reason. The rest are counted where they happen: cache lookups, rate-limit
//! waits, budget charges, and each plugin's memory and CPU per call.
//!
//! `/metrics` is served on loopback binds and, on other binds, only behind an API key (it
//! always takes the same key as `/mcp` when keys are configured); `[metrics] enabled = false`
//! turns it off.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus::{
    CounterVec, Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use serde::Deserialize;
use serde_json::Value;

use crate::app::App;
use crate::state::Health;

/// `[metrics]` in `aerie.toml`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsFile {
    /// Serve `/metrics` (default: on loopback binds, and on others when API keys protect it).
    pub enabled: Option<bool>,
}

impl MetricsFile {
    /// Whether `/metrics` is served on `addr` with API keys (`keyed`).
    pub fn served(&self, addr: std::net::SocketAddr, keyed: bool) -> bool {
        self.enabled.unwrap_or(addr.ip().is_loopback() || keyed)
    }
}

/// Latency buckets in seconds: cached answers (sub-millisecond) to slow Falcon searches.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

struct Metrics {
    registry: Registry,
    calls: IntCounterVec,
    call_seconds: HistogramVec,
    egress: IntCounterVec,
    egress_seconds: HistogramVec,
    cache: IntCounterVec,
    rate_waits: IntCounterVec,
    rate_wait_seconds: CounterVec,
    budget: IntCounterVec,
    approvals: IntCounterVec,
    plugin_memory: IntGaugeVec,
    plugin_cpu: CounterVec,
    state_up: IntGauge,
}

fn counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(c.clone())).expect("unique metric");
    c
}

fn seconds(r: &Registry, name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    let h = HistogramVec::new(
        HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
        labels,
    )
    .expect("valid metric");
    r.register(Box::new(h.clone())).expect("unique metric");
    h
}

fn float_counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> CounterVec {
    let c = CounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(c.clone())).expect("unique metric");
    c
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let r = Registry::new_custom(Some("aerie".into()), None).expect("valid prefix");
    let plugin_memory = IntGaugeVec::new(
        Opts::new(
            "plugin_memory_peak_bytes",
            "Linear memory the plugin's most recent call grew to",
        ),
        &["plugin"],
    )
    .expect("valid metric");
    r.register(Box::new(plugin_memory.clone()))
        .expect("unique metric");
    let state_up = IntGauge::new(
        "state_backend_up",
        "1 while the state backend answers (always 1 for memory and SQLite), 0 while a shared one is lost",
    )
    .expect("valid metric");
    r.register(Box::new(state_up.clone()))
        .expect("unique metric");
    Metrics {
        calls: counter(
            &r,
            "tool_calls_total",
            "Tool calls by tool and outcome (ok, error, cached, refused_*, …)",
            &["tool", "outcome"],
        ),
        call_seconds: seconds(
            &r,
            "tool_call_duration_seconds",
            "Tool call latency (answered calls, cached ones included)",
            &["tool"],
        ),
        egress: counter(
            &r,
            "egress_requests_total",
            "Falcon API requests by operation and HTTP status (`none`: no answer)",
            &["operation", "status"],
        ),
        egress_seconds: seconds(
            &r,
            "egress_request_duration_seconds",
            "Falcon API request latency, retries included",
            &["operation"],
        ),
        cache: counter(
            &r,
            "cache_lookups_total",
            "Result cache lookups by result (hit, miss)",
            &["result"],
        ),
        rate_waits: counter(
            &r,
            "rate_limit_waits_total",
            "Requests that waited for the rate limit, by where (falcon: its headers or a 429; cap: the fixed cap; cid: the CID budget shared by replicas)",
            &["by"],
        ),
        rate_wait_seconds: float_counter(
            &r,
            "rate_limit_wait_seconds_total",
            "Time requests waited for the rate limit, by where",
            &["by"],
        ),
        budget: counter(
            &r,
            "budget_charges_total",
            "Call budget charges by profile and outcome (charged, spent)",
            &["profile", "outcome"],
        ),
        approvals: counter(
            &r,
            "approvals_total",
            "Approval events by decision (pending, approved, denied, used, asked, declined, …)",
            &["decision"],
        ),
        plugin_cpu: float_counter(
            &r,
            "plugin_cpu_seconds_total",
            "Guest CPU time by plugin, in 10 ms epoch ticks",
            &["plugin"],
        ),
        plugin_memory,
        state_up,
        registry: r,
    }
});

/// Count one audit record of `kind`.
pub fn observe_audit(kind: &str, fields: &Value) {
    let m = &*METRICS;
    let s = |k: &str| fields.get(k).and_then(Value::as_str).unwrap_or("");
    let secs = fields
        .get("duration_ms")
        .and_then(Value::as_u64)
        .map(|ms| ms as f64 / 1000.0);
    match kind {
        "tool_call" => {
            let (tool, outcome) = (s("tool"), s("outcome"));
            m.calls.with_label_values(&[tool, outcome]).inc();
            if let Some(secs) = secs.filter(|_| !outcome.starts_with("refused")) {
                m.call_seconds.with_label_values(&[tool]).observe(secs);
            }
        }
        "egress" => {
            let status = fields
                .get("status")
                .and_then(Value::as_u64)
                .map_or_else(|| "none".to_string(), |n| n.to_string());
            let op = s("operation");
            m.egress.with_label_values(&[op, &status]).inc();
            if let Some(secs) = secs {
                m.egress_seconds.with_label_values(&[op]).observe(secs);
            }
        }
        "approval" => m.approvals.with_label_values(&[s("decision")]).inc(),
        _ => {}
    }
}

/// Count a result-cache lookup.
pub fn cache_lookup(hit: bool) {
    let result = if hit { "hit" } else { "miss" };
    METRICS.cache.with_label_values(&[result]).inc();
}

/// Count a wait for the rate limit (`by`: `falcon`, `cap` or `cid`).
pub fn rate_wait(by: &str, waited: Duration) {
    // Taking a free slot takes microseconds; that is no wait.
    if waited < Duration::from_millis(1) {
        return;
    }
    let m = &*METRICS;
    m.rate_waits.with_label_values(&[by]).inc();
    m.rate_wait_seconds
        .with_label_values(&[by])
        .inc_by(waited.as_secs_f64());
}

/// Count a budget charge of `profile` (`charged`, or `spent` when refused).
pub fn budget_charge(profile: &str, charged: bool) {
    let outcome = if charged { "charged" } else { "spent" };
    METRICS.budget.with_label_values(&[profile, outcome]).inc();
}

/// Record what one call of `plugin` used: its linear memory's peak and guest CPU time.
pub fn plugin_call(plugin: &str, memory_peak: usize, cpu: Duration) {
    let m = &*METRICS;
    m.plugin_memory
        .with_label_values(&[plugin])
        .set(memory_peak as i64);
    m.plugin_cpu
        .with_label_values(&[plugin])
        .inc_by(cpu.as_secs_f64());
}

/// The text exposition of every series.
fn render(app: &App) -> String {
    let m = &*METRICS;
    m.state_up.set(i64::from(!matches!(
        app.controls.state.health(),
        Health::Lost { .. }
    )));
    let mut buf = Vec::new();
    // Encoding into memory only fails on a malformed family, which the registry prevents.
    let _ = TextEncoder::new().encode(&m.registry.gather(), &mut buf);
    String::from_utf8(buf).unwrap_or_default()
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render(&app),
    )
        .into_response()
}

/// `ok`, or what is degraded. Always 200: a lost Redis is lost for every replica, and taking
/// them all out of the load balancer would stop the reads they can still serve.
async fn healthz(State(app): State<Arc<App>>) -> Response {
    let body = match app.controls.state.health() {
        Health::Lost { redis, since_ms } => format!(
            "degraded: the shared state (Redis at {redis}) has been unreachable for {} s; serving reads from this replica's local state, refusing writes and approval decisions\n",
            crate::state::now_ms().saturating_sub(since_ms) / 1000
        ),
        _ => "ok".into(),
    };
    (StatusCode::OK, body).into_response()
}

/// `/healthz`, always open, and `/metrics` if `served`, behind `keys` when there are any.
pub fn routes(app: Arc<App>, served: bool, keys: crate::mcp::http::ApiKeys) -> Router {
    let mut r = Router::new().route("/healthz", axum::routing::get(healthz));
    if served {
        r = r.merge(
            Router::new()
                .route("/metrics", axum::routing::get(metrics))
                .layer(axum::middleware::from_fn_with_state(
                    Arc::new(keys),
                    crate::mcp::http::require_key,
                )),
        );
    }
    r.with_state(app)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metrics_are_off_by_default_on_open_binds_without_keys() {
        let f = MetricsFile::default();
        let lo: std::net::SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let any: std::net::SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert!(f.served(lo, false));
        assert!(!f.served(any, false));
        assert!(f.served(any, true));
        let off = MetricsFile {
            enabled: Some(false),
        };
        assert!(!off.served(lo, true));
    }

    #[test]
    fn audit_records_become_series() {
        observe_audit(
            "tool_call",
            &json!({"tool": "unit_tool", "outcome": "ok", "duration_ms": 12}),
        );
        observe_audit(
            "egress",
            &json!({"operation": "UnitOp", "status": 429, "duration_ms": 3}),
        );
        observe_audit("egress", &json!({"operation": "UnitOp", "status": null}));
        let text = {
            let mut buf = Vec::new();
            TextEncoder::new()
                .encode(&METRICS.registry.gather(), &mut buf)
                .unwrap();
            String::from_utf8(buf).unwrap()
        };
        assert!(
            text.contains(r#"aerie_tool_calls_total{outcome="ok",tool="unit_tool"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"aerie_egress_requests_total{operation="UnitOp",status="429"} 1"#));
        assert!(
            text.contains(r#"aerie_egress_requests_total{operation="UnitOp",status="none"} 1"#)
        );
        assert!(text.contains(r#"aerie_tool_call_duration_seconds_count{tool="unit_tool"} 1"#));
    }
}
