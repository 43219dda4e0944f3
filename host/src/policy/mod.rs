//! The operator's policy: which plugins load, which operations each tool may call, whether
//! writes are allowed, RTR tiers, files access and per-plugin settings. The model can never
//! widen it: no tool grants anything.

pub mod check;
mod rtr;

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use crate::catalogue::{Access, Catalogue};
use crate::runtime::Limits;
pub use rtr::{RtrBody, RtrOperation, RtrPolicy, Tier, command_tier};

/// Per-plugin settings from `[plugins.<name>]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PluginPolicy {
    /// If set, the plugin may call only these operations (narrows, never widens).
    pub operations: Option<Vec<String>>,
    /// Whether the plugin may use the files directory.
    pub files: bool,
    /// Bytes of files this plugin may keep in the files directory (what it wrote that still
    /// exists), in MiB; unset = `files::DEFAULT_FILES_QUOTA_MIB`.
    pub files_quota_mib: Option<u64>,
    /// Values the plugin reads with `host.config`.
    pub config: BTreeMap<String, String>,
    /// Resource limits; unset fields take the defaults.
    pub limits: Option<Limits>,
    /// Tools of this plugin to hide.
    pub disabled_tools: Vec<String>,
    /// Which origin may serve this name when several declare it (`"embedded"`, `"dir"` or a
    /// file name); without it a directory plugin cannot take an embedded plugin's name.
    pub source: Option<crate::registry::PluginSource>,
    /// Falcon requests this plugin may have in flight (default: `[egress] plugin_concurrency`).
    pub egress_concurrency: Option<u32>,
    /// Falcon requests per minute this plugin may make (default: `[egress] plugin_requests_per_minute`).
    pub egress_requests_per_minute: Option<u32>,
}

/// The effective policy.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Writes allowed (`--allow-writes` or `allow_writes = true`).
    pub allow_writes: bool,
    /// Only these plugins load (`--modules`); `None` = all.
    pub modules: Option<BTreeSet<String>>,
    /// Per-plugin settings.
    pub plugins: BTreeMap<String, PluginPolicy>,
    /// Limits for plugins without their own.
    pub default_limits: Limits,
    /// RTR command guard.
    pub rtr: RtrPolicy,
    /// Plugin signature requirements.
    pub signing: crate::signing::SigningPolicy,
}

/// The result of applying the policy to one tool.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolGrant {
    /// Whether the tool is listed and callable.
    pub enabled: bool,
    /// Why not, when it is not.
    pub disabled_reason: Option<String>,
    /// Operations the tool may call.
    pub granted: BTreeSet<String>,
    /// Declared operations that were withheld, with the reason.
    pub withheld: BTreeMap<String, String>,
}

impl Policy {
    /// Whether a plugin of this name should load.
    pub fn loads(&self, plugin: &str) -> bool {
        self.modules.as_ref().is_none_or(|m| m.contains(plugin))
    }

    /// Settings for a plugin (defaults when it has no section).
    pub fn plugin(&self, name: &str) -> PluginPolicy {
        self.plugins.get(name).cloned().unwrap_or_default()
    }

    /// Limits for a plugin.
    pub fn limits(&self, name: &str) -> Limits {
        self.plugins
            .get(name)
            .and_then(|p| p.limits)
            .unwrap_or(self.default_limits)
    }

    /// Grant for a tool: its declared operations ∩ the plugin's allowed operations ∩ reads
    /// (plus writes when writes are enabled and the tool is write tier).
    pub fn grant(
        &self,
        catalogue: &Catalogue,
        plugin: &str,
        tool: &str,
        write_tier: bool,
        declared: &[String],
    ) -> ToolGrant {
        let pp = self.plugins.get(plugin);
        let mut g = ToolGrant {
            enabled: true,
            ..Default::default()
        };
        if write_tier && !self.allow_writes {
            g.enabled = false;
            g.disabled_reason =
                Some("write tool; writes are disabled (start with --allow-writes)".into());
        }
        if pp.is_some_and(|p| p.disabled_tools.iter().any(|t| t == tool)) {
            g.enabled = false;
            g.disabled_reason = Some(format!("disabled by [plugins.{plugin}] disabled_tools"));
        }
        for op in declared {
            let reason = match catalogue.get(op) {
                None => Some("not in the operation catalogue".to_string()),
                Some(_)
                    if pp
                        .and_then(|p| p.operations.as_ref())
                        .is_some_and(|ops| !ops.contains(op)) =>
                {
                    Some(format!("not in [plugins.{plugin}] operations"))
                }
                Some(o) if o.access == Access::Write && !write_tier => {
                    Some("write operation declared by a read-tier tool".to_string())
                }
                Some(o) if o.access == Access::Write && !self.allow_writes => {
                    Some("write operation; writes are disabled".to_string())
                }
                Some(_) => None,
            };
            match reason {
                Some(r) => {
                    g.withheld.insert(op.clone(), r);
                }
                None => {
                    g.granted.insert(op.clone());
                }
            }
        }
        g
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat() -> Catalogue {
        Catalogue::parse(
            "[[operation]]\nid='R'\nmethod='GET'\npath='/r'\nscope='s:read'\naccess='read'\n\
             [[operation]]\nid='W'\nmethod='POST'\npath='/w'\nscope='s:write'\naccess='write'\n",
        )
        .unwrap()
    }

    #[test]
    fn writes_need_the_flag_and_a_write_tool() {
        let ops = vec!["R".to_string(), "W".to_string()];
        let p = Policy::default();
        let g = p.grant(&cat(), "x", "t", true, &ops);
        assert!(!g.enabled);
        assert_eq!(g.granted, BTreeSet::from(["R".to_string()]));
        let p = Policy {
            allow_writes: true,
            ..Default::default()
        };
        let g = p.grant(&cat(), "x", "t", true, &ops);
        assert!(g.enabled);
        assert_eq!(g.granted.len(), 2);
        // A read-tier tool never gets a write operation, even with writes on.
        let g = p.grant(&cat(), "x", "t", false, &ops);
        assert!(g.withheld["W"].contains("read-tier"));
    }

    #[test]
    fn operator_can_narrow_a_plugin() {
        let mut p = Policy::default();
        p.plugins.insert(
            "x".into(),
            PluginPolicy {
                operations: Some(vec![]),
                ..Default::default()
            },
        );
        let g = p.grant(
            &cat(),
            "x",
            "t",
            false,
            &["R".to_string(), "Nope".to_string()],
        );
        assert!(g.granted.is_empty());
        assert!(g.withheld["R"].contains("[plugins.x]"));
        assert!(g.withheld["Nope"].contains("catalogue"));
    }
}
