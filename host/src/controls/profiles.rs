//! Tool profiles: named sets of tool glob patterns, a write switch and call budgets, chosen by
//! `--profile` (stdio) or by API key (HTTP). (Placeholder: every tool is allowed.)

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::registry;

/// One profile.
#[derive(Debug)]
pub struct Profile {
    /// Its name, as in `[profiles.<name>]`; `default` when none is configured.
    pub name: String,
    /// Result cache TTL for this profile's calls (overrides the global `[cache]` TTL; a
    /// per-tool TTL overrides both). `None`: the global setting.
    pub cache_ttl: Option<std::time::Duration>,
}

impl Profile {
    /// The profile used when the operator configured none: everything the server serves.
    pub fn unrestricted() -> Profile {
        Profile {
            name: "default".into(),
            cache_ttl: None,
        }
    }

    /// Whether this profile may see and call `tool`.
    pub fn allows_tool(&self, _tool: &registry::Tool) -> bool {
        true
    }
}

/// Every configured profile and the default.
#[derive(Debug)]
pub struct Profiles {
    default: Arc<Profile>,
    named: BTreeMap<String, Arc<Profile>>,
}

impl Default for Profiles {
    fn default() -> Self {
        Profiles {
            default: Arc::new(Profile::unrestricted()),
            named: BTreeMap::new(),
        }
    }
}

impl Profiles {
    /// The profile named `name`.
    pub fn get(&self, name: &str) -> Option<Arc<Profile>> {
        self.named.get(name).cloned()
    }

    /// The profile of a caller that names none.
    pub fn default_profile(&self) -> Arc<Profile> {
        self.default.clone()
    }
}
