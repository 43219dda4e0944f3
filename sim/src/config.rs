//! Simulator configuration: tenant seed, API clients and their scopes, limits and faults.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// Client id of the built-in demo API client (it holds every scope).
pub const DEMO_CLIENT_ID: &str = "falconsimdemo0000000000000000000";
/// Client secret of the built-in demo API client.
pub const DEMO_CLIENT_SECRET: &str = "falcon-sim-demo-secret-not-a-real-secret0";

/// Every scope the simulator knows, in `<api>:<read|write>` form; `"*"` on a client grants them all.
pub const ALL_SCOPES: &[&str] = &[
    "alerts:read",
    "alerts:write",
    "hosts:read",
    "hosts:write",
    "host-group:read",
    "host-group:write",
    "incidents:read",
    "incidents:write",
    "ioc:read",
    "ioc:write",
    "real-time-response:read",
    "real-time-response:write",
    "real-time-response-admin:write",
    "prevention-policies:read",
    "prevention-policies:write",
    "ngsiem:read",
    "ngsiem:write",
    "spotlight-vulnerabilities:read",
    "threatgraph:read",
    "cspm-registration:read",
    "cloud-security-assets:read",
    "cloud-security-detections:read",
    "cloud-security:read",
    "identity-protection-graphql:write",
    "identity-protection-entities:read",
    "identity-protection-timeline:read",
    "falconx-actors:read",
    "falconx-indicators:read",
    "falconx-reports:read",
    "cases:read",
    "cases:write",
    "correlation-rules:read",
    "correlation-rules:write",
    "cao-hunting:read",
];

/// How a simulator instance behaves; `Default` gives seed 42 and the real service's limits.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Seed for the tenant and for every random choice the simulator makes (faults included).
    pub seed: u64,
    /// Lifetime of issued bearer tokens (`expires_in`); the real service uses 1799 s.
    pub token_ttl: Duration,
    /// API clients that may obtain tokens.
    pub clients: Vec<ApiClient>,
    /// Sliding-window request budget per API client per minute (real: 6000 per CID).
    pub rate_limit_per_minute: u32,
    /// Budget per source IP per minute for requests with a missing or bad bearer token (real: 15).
    pub unauthenticated_limit_per_minute: u32,
    /// Budget per source IP per minute on `/oauth2/token` (real: 300).
    pub token_limit_per_minute: u32,
    /// How long `containment_pending` / `lift_containment_pending` last before the sensor "acknowledges".
    pub containment_delay: Duration,
    /// Faults injected into API requests.
    pub faults: Faults,
    /// `X-CS-Region` value on every response.
    pub region: String,
    /// Whether responses carry `X-CS-Region` at all. Off for clients that follow it: FalconPy
    /// moves its base URL to the named region's real cloud, away from the simulator.
    pub region_header: bool,
    /// Wall-clock instant the tenant's timestamps are generated relative to; `None` = start time.
    /// Pin it to get byte-identical data from two runs with the same seed.
    pub generated_at: Option<SystemTime>,
    /// Idle lifetime of an RTR session before it expires (real: 10 minutes).
    pub rtr_session_idle: Duration,
    /// How many status polls of an RTR command answer `complete: false` before the output is ready.
    pub rtr_command_polls: u32,
    /// Size in bytes of one RTR stdout chunk (one `sequence_id`).
    pub rtr_chunk_size: usize,
    /// How many polls of an NG-SIEM query job answer `done: false` before the results are ready.
    pub ngsiem_polls_until_done: u32,
    /// An NG-SIEM job not polled for this long is deleted (real: about 90 s).
    pub ngsiem_job_idle: Duration,
    /// Number of hosts in the generated tenant (at least 500 unless changed).
    pub hosts: usize,
    /// Number of endpoint alerts in the generated tenant (at least 1000 unless changed); 22
    /// NG-SIEM, cloud, identity and third-party alerts come on top.
    pub alerts: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 42,
            token_ttl: Duration::from_secs(1799),
            clients: vec![ApiClient::demo()],
            rate_limit_per_minute: 6000,
            unauthenticated_limit_per_minute: 15,
            token_limit_per_minute: 300,
            containment_delay: Duration::from_secs(3),
            faults: Faults::default(),
            region: "us-1".to_string(),
            region_header: true,
            generated_at: None,
            rtr_session_idle: Duration::from_secs(600),
            rtr_command_polls: 1,
            rtr_chunk_size: 64 * 1024,
            ngsiem_polls_until_done: 1,
            ngsiem_job_idle: Duration::from_secs(90),
            hosts: 520,
            alerts: 1200,
        }
    }
}

/// An API client (client id + secret) and the scopes the console granted it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ApiClient {
    /// OAuth2 client id.
    pub client_id: String,
    /// OAuth2 client secret.
    pub client_secret: String,
    /// Granted scopes such as `hosts:read`; `"*"` grants all.
    pub scopes: Vec<String>,
    /// If set, the only `member_cid` this client may request a token for (MSSP child CID).
    pub member_cid: Option<String>,
}

impl ApiClient {
    /// The demo client: [`DEMO_CLIENT_ID`] / [`DEMO_CLIENT_SECRET`] with every scope.
    pub fn demo() -> Self {
        ApiClient {
            client_id: DEMO_CLIENT_ID.to_string(),
            client_secret: DEMO_CLIENT_SECRET.to_string(),
            scopes: vec!["*".to_string()],
            member_cid: None,
        }
    }

    /// A client with the given id, secret and scopes.
    pub fn new(client_id: &str, client_secret: &str, scopes: &[&str]) -> Self {
        ApiClient {
            client_id: client_id.to_string(),
            client_secret: client_secret.to_string(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            member_cid: None,
        }
    }

    /// Whether this client holds `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == "*" || s == scope)
    }
}

/// Faults injected into API requests (everything except `/_sim/` and, unless stated, `/oauth2/`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Faults {
    /// Extra delay before every API response, in milliseconds (applies to `/oauth2/` too).
    pub latency_ms: u64,
    /// Probability (0..1) that an API request is answered `500`.
    pub error_5xx_rate: f64,
    /// The next N API requests are answered `429` as if the rate limit were exhausted.
    pub status_429_burst: u32,
    /// Probability (0..1) that an API request's connection is closed without any response.
    pub drop_connection_rate: f64,
    /// The next N API requests are answered `500`.
    pub status_5xx_burst: u32,
    /// The next N API requests have their connection closed without any response.
    pub drop_connection_burst: u32,
    /// The next N `/oauth2/token` requests are answered `500`.
    pub token_error_burst: u32,
    /// The next N `/oauth2/token` requests are answered `429` with `X-RateLimit-RetryAfter`.
    pub token_429_burst: u32,
    /// The next N `/oauth2/token` requests have their connection closed without any response.
    pub token_drop_burst: u32,
    /// The next N write requests (operations needing a `:write` scope) are carried out and then
    /// their connection is closed without a response: the client cannot tell the write happened.
    pub drop_after_apply_burst: u32,
    /// Extra delay after a write request was carried out and before its response is sent, in
    /// milliseconds: a client timeout shorter than this sees no answer to a write that happened.
    pub latency_after_apply_ms: u64,
    /// The next N API requests are answered `401` as if their bearer token were invalid.
    pub status_401_burst: u32,
}
