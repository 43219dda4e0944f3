//! `aerie.toml`: the operator's configuration file, merged with flags and environment into
//! [`Settings`]. Unknown keys are errors, so a typo never silently weakens a policy.

use std::collections::{BTreeMap, BTreeSet};
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
    /// Seconds in-flight calls get to finish at shutdown before they are stopped (default 10).
    pub shutdown_grace_secs: Option<u64>,
}

/// Longest shutdown grace period accepted: past it, a stuck call would hold a restart.
pub const MAX_SHUTDOWN_GRACE_SECS: u64 = 600;

/// `[egress]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EgressFile {
    /// Requests per minute (default 5000).
    pub requests_per_minute: Option<u32>,
    /// Requests in flight (default 32).
    pub max_concurrency: Option<u32>,
    /// Per-request timeout in seconds (default 30).
    pub timeout_secs: Option<u64>,
    /// Longest 429 wait in seconds (default 30).
    pub max_rate_limit_wait_secs: Option<u64>,
    /// Response size cap in MiB (default 16).
    pub max_response_mib: Option<usize>,
    /// Requests per minute one plugin may use (default 3/4 of `requests_per_minute`).
    pub plugin_requests_per_minute: Option<u32>,
    /// Requests one plugin may have in flight (default half of `max_concurrency`).
    pub plugin_concurrency: Option<u32>,
}

/// `[http]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpFile {
    /// Accepted API keys as `sha256:<hex>` digests.
    pub api_keys: Vec<String>,
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
        cfg.signing
            .validate()
            .map_err(|e| format!("config {}: [signing] {e}", path.display()))?;
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
            requests_per_minute: e.requests_per_minute.unwrap_or(d.requests_per_minute),
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
