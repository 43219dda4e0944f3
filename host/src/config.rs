//! `aerie.toml`: the operator's configuration file, merged with flags and environment into
//! [`Settings`]. Unknown keys are errors, so a typo never silently weakens a policy.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::auth::CredentialSource;
use crate::egress::EgressConfig;
use crate::policy::{PluginPolicy, Policy, RtrPolicy};
use crate::runtime::Limits;

/// The file's shape.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    /// Allow write tools and operations.
    pub allow_writes: bool,
    /// Plugins to load (default: all).
    pub modules: Option<Vec<String>>,
    /// Directory of third-party or overriding plugins.
    pub plugins_dir: Option<PathBuf>,
    /// Largest directory component read, in MiB (default 64); larger files are refused unread.
    pub max_component_mib: Option<u64>,
    /// Directory for RTR uploads and downloads.
    pub files_dir: Option<PathBuf>,
    /// Compile cache directory.
    pub cache_dir: Option<PathBuf>,
    /// Audit log path (JSON Lines).
    pub audit_log: Option<PathBuf>,
    /// Default plugin limits.
    pub limits: Option<Limits>,
    /// Per-plugin policy.
    pub plugins: BTreeMap<String, PluginPolicy>,
    /// RTR command guard.
    pub rtr: RtrPolicy,
    /// Plugin signing.
    pub signing: crate::signing::SigningPolicy,
    /// Egress tuning.
    pub egress: EgressFile,
    /// HTTP transport.
    pub http: HttpFile,
    /// Falcon credentials (lowest precedence).
    pub falcon: CredentialSource,
    /// `[cache]`: the result cache of read tools.
    pub cache: crate::controls::cache::CacheFile,
    /// `[profiles.<name>]`: tool sets, writes and call budgets per agent role.
    pub profiles: crate::controls::profiles::ProfilesFile,
    /// Seconds in-flight calls get to finish at shutdown before they are stopped (default 10).
    pub shutdown_grace_secs: Option<u64>,
    /// `[store]`: large results kept for paging.
    pub store: crate::controls::store::StoreFile,
    /// `[approvals]`: human approval of destructive calls.
    pub approvals: crate::controls::approvals::ApprovalsFile,
    /// `[state]`: where the controls keep their state (memory, SQLite, Redis for replicas).
    pub state: crate::state::StateFile,
    /// `[metrics]`: the Prometheus endpoint.
    pub metrics: crate::metrics::MetricsFile,
    /// `[tenants.<name>]`: several Falcon API clients in one server.
    pub tenants: BTreeMap<String, crate::tenants::TenantFile>,
}

/// Longest shutdown grace period accepted: past it, a stuck call would hold a restart.
pub const MAX_SHUTDOWN_GRACE_SECS: u64 = 600;

/// `[egress]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EgressFile {
    /// Fixed cap in requests per minute (default none: paced by Falcon's headers;
    /// [`EGRESS_RPM_RANGE`]).
    pub requests_per_minute: Option<u32>,
    /// Requests in flight (default 32; [`EGRESS_CONCURRENCY_RANGE`]).
    pub max_concurrency: Option<u32>,
    /// Per-request timeout in seconds (default 30; [`EGRESS_TIMEOUT_RANGE`]).
    pub timeout_secs: Option<u64>,
    /// Longest 429 wait in seconds (default 30; [`EGRESS_RATE_LIMIT_WAIT_RANGE`]).
    pub max_rate_limit_wait_secs: Option<u64>,
    /// Response size cap in MiB (default 16; [`EGRESS_RESPONSE_MIB_RANGE`]).
    pub max_response_mib: Option<usize>,
    /// Requests per minute one plugin may use when the budget is scarce or capped (default 3/4
    /// of `requests_per_minute`, or of Falcon's 6,000; at most that).
    pub plugin_requests_per_minute: Option<u32>,
    /// Requests one plugin may have in flight (default half of `max_concurrency`; at most it).
    pub plugin_concurrency: Option<u32>,
}

/// Accepted `[egress] requests_per_minute`: 0 would stop every call, and past this a typo no
/// longer protects the Falcon API limit it stands for.
pub const EGRESS_RPM_RANGE: RangeInclusive<u32> = 1..=100_000;
/// Accepted `[egress] max_concurrency` (each request in flight holds a socket and a buffer).
pub const EGRESS_CONCURRENCY_RANGE: RangeInclusive<u32> = 1..=1024;
/// Accepted `[egress] timeout_secs`: 0 would fail every request.
pub const EGRESS_TIMEOUT_RANGE: RangeInclusive<u64> = 1..=600;
/// Accepted `[egress] max_rate_limit_wait_secs` (0 = give up on the first 429).
pub const EGRESS_RATE_LIMIT_WAIT_RANGE: RangeInclusive<u64> = 0..=600;
/// Accepted `[egress] max_response_mib`: 0 would refuse every answer.
pub const EGRESS_RESPONSE_MIB_RANGE: RangeInclusive<usize> = 1..=1024;

/// `Err("<section> <key> must be <lo>..=<hi>[ (<why>)], not <v>")` when `value` is set and
/// outside `range`.
fn check_range<T: PartialOrd + std::fmt::Display>(
    section: &str,
    key: &str,
    value: Option<T>,
    range: RangeInclusive<T>,
    why: &str,
) -> Result<(), String> {
    match value {
        Some(v) if !range.contains(&v) => Err(format!(
            "{section} {key} must be {}..={}{why}, not {v}",
            range.start(),
            range.end()
        )),
        _ => Ok(()),
    }
}

impl EgressFile {
    /// Refuses values out of range, here and in each plugin's egress share, so a typo is an
    /// error naming the key instead of a silently clamped (or zero) budget.
    pub fn validate(&self, plugins: &BTreeMap<String, PluginPolicy>) -> Result<(), String> {
        let s = "[egress]";
        check_range(
            s,
            "requests_per_minute",
            self.requests_per_minute,
            EGRESS_RPM_RANGE,
            "",
        )?;
        check_range(
            s,
            "max_concurrency",
            self.max_concurrency,
            EGRESS_CONCURRENCY_RANGE,
            "",
        )?;
        check_range(
            s,
            "timeout_secs",
            self.timeout_secs,
            EGRESS_TIMEOUT_RANGE,
            "",
        )?;
        check_range(
            s,
            "max_rate_limit_wait_secs",
            self.max_rate_limit_wait_secs,
            EGRESS_RATE_LIMIT_WAIT_RANGE,
            "",
        )?;
        check_range(
            s,
            "max_response_mib",
            self.max_response_mib,
            EGRESS_RESPONSE_MIB_RANGE,
            "",
        )?;
        // A share above the global budget would be clamped to it: refuse it rather than let
        // the file say something the server does not do.
        let d = EgressConfig::default();
        let rpm = 1..=self
            .requests_per_minute
            .or(d.requests_per_minute)
            .unwrap_or(crate::egress::pacer::FALCON_DEFAULT_PER_MINUTE);
        let conc = 1..=self.max_concurrency.unwrap_or(d.max_concurrency);
        let rpm_why = " (at most [egress] requests_per_minute)";
        let conc_why = " (at most [egress] max_concurrency)";
        let shares = [(
            s.to_string(),
            "plugin_",
            self.plugin_requests_per_minute,
            self.plugin_concurrency,
        )]
        .into_iter()
        .chain(plugins.iter().map(|(name, p)| {
            (
                format!("[plugins.{name}]"),
                "egress_",
                p.egress_requests_per_minute,
                p.egress_concurrency,
            )
        }));
        for (section, prefix, r, c) in shares {
            let r_key = format!("{prefix}requests_per_minute");
            check_range(&section, &r_key, r, rpm.clone(), rpm_why)?;
            let c_key = format!("{prefix}concurrency");
            check_range(&section, &c_key, c, conc.clone(), conc_why)?;
        }
        Ok(())
    }
}

/// `[http]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpFile {
    /// Accepted API keys as `sha256:<hex>` digests, or `{ digest, profile }` tables that
    /// select a profile.
    pub api_keys: Vec<crate::mcp::http::ApiKeyEntry>,
    /// Extra accepted Host header values.
    pub allowed_hosts: Vec<String>,
    /// Browser origins allowed to call (any other `Origin` header is refused).
    pub allowed_origins: Vec<String>,
    /// Open MCP sessions, all callers together (default 256).
    pub max_sessions: Option<usize>,
    /// Open MCP sessions per API key, or in all for keyless loopback (default 64).
    pub max_sessions_per_key: Option<usize>,
    /// Seconds an idle session lives before it is closed (default 300).
    pub session_idle_secs: Option<u64>,
    /// Concurrent TCP connections (default 512).
    pub max_connections: Option<usize>,
    /// Seconds a connection has to send a complete request head, counted from connect or from
    /// its previous response, so idle keep-alive connections close too (default 30).
    pub header_timeout_secs: Option<u64>,
    /// Per-client Falcon credentials in request headers (off by default).
    pub client_credentials: crate::client_credentials::ClientCredentialsFile,
}

impl FileConfig {
    /// Read `path`; a missing default file is an empty config, a missing explicit one an error.
    pub fn load(path: Option<&Path>) -> Result<FileConfig, String> {
        let (path, explicit) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from("aerie.toml"), false),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                return Ok(FileConfig::default());
            }
            Err(e) => return Err(format!("cannot read config {}: {e}", path.display())),
        };
        let cfg: FileConfig =
            toml::from_str(&text).map_err(|e| format!("config {}: {e}", path.display()))?;
        if let Some(l) = &cfg.limits {
            l.validate()
                .map_err(|e| format!("config {}: [limits] {e}", path.display()))?;
        }
        if cfg
            .shutdown_grace_secs
            .is_some_and(|g| g > MAX_SHUTDOWN_GRACE_SECS)
        {
            return Err(format!(
                "config {}: shutdown_grace_secs must be at most {MAX_SHUTDOWN_GRACE_SECS}",
                path.display()
            ));
        }
        cfg.egress
            .validate(&cfg.plugins)
            .map_err(|e| format!("config {}: {e}", path.display()))?;
        cfg.signing
            .validate()
            .map_err(|e| format!("config {}: [signing] {e}", path.display()))?;
        cfg.approvals
            .validate()
            .map_err(|e| format!("config {}: {e}", path.display()))?;
        cfg.store
            .settings()
            .map_err(|e| format!("config {}: {e}", path.display()))?;
        // Checked here, not only when the HTTP transport starts, so `aerie config check` and a
        // stdio `serve` of the same file catch a bad digest before it matters.
        crate::mcp::http::ApiKeys::new(&[], &cfg.http.api_keys)
            .map_err(|e| format!("config {}: [http] {e}", path.display()))?;
        for (name, p) in &cfg.plugins {
            if let Some(l) = &p.limits {
                l.validate().map_err(|e| {
                    format!("config {}: [plugins.{name}.limits] {e}", path.display())
                })?;
            }
        }
        Ok(cfg)
    }

    /// The effective policy, with command-line overrides.
    pub fn policy(&self, allow_writes: bool, modules: Option<&[String]>) -> Policy {
        let modules = modules.map(|m| m.to_vec()).or_else(|| self.modules.clone());
        Policy {
            allow_writes: allow_writes || self.allow_writes,
            modules: modules.map(|m| {
                m.into_iter()
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect::<BTreeSet<_>>()
            }),
            plugins: self.plugins.clone(),
            default_limits: self.limits.unwrap_or_default(),
            rtr: self.rtr.clone(),
            signing: self.signing.clone(),
        }
    }

    /// How long in-flight calls get to finish at shutdown.
    pub fn shutdown_grace(&self) -> std::time::Duration {
        self.shutdown_grace_secs
            .map(|s| std::time::Duration::from_secs(s.min(MAX_SHUTDOWN_GRACE_SECS)))
            .unwrap_or(crate::inflight::DEFAULT_GRACE)
    }

    /// The directory component size cap in bytes.
    pub fn max_component_bytes(&self) -> u64 {
        self.max_component_mib
            .unwrap_or(crate::registry::DEFAULT_MAX_COMPONENT_MIB)
            .saturating_mul(1 << 20)
    }

    /// Egress settings.
    pub fn egress(&self) -> EgressConfig {
        let d = EgressConfig::default();
        let e = &self.egress;
        EgressConfig {
            requests_per_minute: e.requests_per_minute.or(d.requests_per_minute),
            max_concurrency: e.max_concurrency.unwrap_or(d.max_concurrency),
            request_timeout: e
                .timeout_secs
                .map(std::time::Duration::from_secs)
                .unwrap_or(d.request_timeout),
            max_rate_limit_wait: e
                .max_rate_limit_wait_secs
                .map(std::time::Duration::from_secs)
                .unwrap_or(d.max_rate_limit_wait),
            read_attempts: d.read_attempts,
            max_response_bytes: e
                .max_response_mib
                .map(|m| m << 20)
                .unwrap_or(d.max_response_bytes),
            plugin_default: crate::egress::PluginBudget {
                requests_per_minute: e.plugin_requests_per_minute,
                max_concurrency: e.plugin_concurrency,
            },
            plugins: self
                .plugins
                .iter()
                .map(|(name, p)| {
                    let budget = crate::egress::PluginBudget {
                        requests_per_minute: p.egress_requests_per_minute,
                        max_concurrency: p.egress_concurrency,
                    };
                    (name.clone(), budget)
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("aerie.toml");
        std::fs::write(&p, "allow_write = true\n").unwrap();
        assert!(
            FileConfig::load(Some(&p))
                .unwrap_err()
                .contains("allow_write")
        );
        std::fs::write(&p, "[plugins.hosts]\noperations = ['QueryDevicesByFilter']\n[plugins.hosts.limits]\nmemory_mib = 0\n").unwrap();
        assert!(
            FileConfig::load(Some(&p))
                .unwrap_err()
                .contains("memory_mib")
        );
        assert!(FileConfig::load(Some(&dir.path().join("missing.toml"))).is_err());
    }

    /// Loads `toml` from a temporary file.
    fn load_str(toml: &str) -> Result<FileConfig, String> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("aerie.toml");
        std::fs::write(&p, toml).unwrap();
        FileConfig::load(Some(&p))
    }

    #[test]
    fn egress_values_out_of_range_are_errors_naming_the_key_and_range() {
        let cases = [
            (
                "[egress]\nrequests_per_minute = 0\n",
                "[egress] requests_per_minute must be 1..=100000, not 0",
            ),
            (
                "[egress]\nrequests_per_minute = 1000000\n",
                "[egress] requests_per_minute must be 1..=100000, not 1000000",
            ),
            (
                "[egress]\nmax_concurrency = 0\n",
                "[egress] max_concurrency must be 1..=1024, not 0",
            ),
            (
                "[egress]\nmax_concurrency = 10_000_000\n",
                "[egress] max_concurrency must be 1..=1024, not 10000000",
            ),
            (
                "[egress]\ntimeout_secs = 0\n",
                "[egress] timeout_secs must be 1..=600, not 0",
            ),
            (
                "[egress]\nmax_rate_limit_wait_secs = 86400\n",
                "[egress] max_rate_limit_wait_secs must be 0..=600, not 86400",
            ),
            (
                "[egress]\nmax_response_mib = 0\n",
                "[egress] max_response_mib must be 1..=1024, not 0",
            ),
            (
                "[egress]\nmax_response_mib = 99999999999999\n",
                "[egress] max_response_mib must be 1..=1024",
            ),
            (
                "[egress]\nplugin_requests_per_minute = 0\n",
                "[egress] plugin_requests_per_minute must be 1..=6000 (at most [egress] requests_per_minute), not 0",
            ),
            (
                "[egress]\nrequests_per_minute = 100\nplugin_requests_per_minute = 200\n",
                "[egress] plugin_requests_per_minute must be 1..=100 (at most [egress] requests_per_minute), not 200",
            ),
            (
                "[egress]\nplugin_concurrency = 0\n",
                "[egress] plugin_concurrency must be 1..=32 (at most [egress] max_concurrency), not 0",
            ),
            (
                "[egress]\nmax_concurrency = 4\nplugin_concurrency = 8\n",
                "[egress] plugin_concurrency must be 1..=4 (at most [egress] max_concurrency), not 8",
            ),
            (
                "[plugins.hosts]\negress_concurrency = 0\n",
                "[plugins.hosts] egress_concurrency must be 1..=32 (at most [egress] max_concurrency), not 0",
            ),
            (
                "[plugins.hosts]\negress_requests_per_minute = 0\n",
                "[plugins.hosts] egress_requests_per_minute must be 1..=6000 (at most [egress] requests_per_minute), not 0",
            ),
            (
                "[egress]\nrequests_per_minute = 10\n[plugins.hosts]\negress_requests_per_minute = 11\n",
                "[plugins.hosts] egress_requests_per_minute must be 1..=10",
            ),
        ];
        for (toml, expected) in cases {
            let e = load_str(toml).map(|_| ()).unwrap_err();
            assert!(e.contains(expected), "{toml}: {e}");
        }
        // The bounds themselves, and 0 where it means "never wait", are accepted.
        let cfg = load_str(
            "[egress]\nrequests_per_minute = 100000\nmax_concurrency = 1\ntimeout_secs = 600\n\
             max_rate_limit_wait_secs = 0\nmax_response_mib = 1024\nplugin_requests_per_minute = 100000\n\
             plugin_concurrency = 1\n[plugins.hosts]\negress_concurrency = 1\negress_requests_per_minute = 1\n",
        )
        .unwrap();
        let e = cfg.egress();
        assert_eq!(
            (e.requests_per_minute, e.max_concurrency),
            (Some(100_000), 1)
        );
        assert_eq!(e.max_response_bytes, 1024 << 20);
        assert!(load_str("").is_ok());
    }

    #[test]
    fn flags_override_file() {
        let cfg: FileConfig = toml::from_str(
            "modules = ['a']\n[rtr]\nmax_tier = 'active-responder'\nblocked = ['rm']\n",
        )
        .unwrap();
        let p = cfg.policy(true, Some(&["b".into()]));
        assert!(p.allow_writes && p.loads("b") && !p.loads("a"));
        assert_eq!(p.rtr.blocked, vec!["rm".to_string()]);
    }
}
