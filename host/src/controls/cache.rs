//! The result cache for read tools. (Placeholder: nothing is cached.)

use serde_json::Value;

use super::profiles::Profile;
use crate::app::ToolOutcome;
use crate::registry::{Plugin, Tool};

/// A cache key: SHA-256 of tool, canonical arguments, plugin version and tenant.
pub struct CacheKey(pub String);

impl CacheKey {
    /// The key of a call, or `None` when the tool's results must not be cached.
    pub fn for_call(_plugin: &Plugin, _tool: &Tool, _args: &Value) -> Option<CacheKey> {
        None
    }
}

/// Cached results.
#[derive(Default)]
pub struct ResultCache {}

impl ResultCache {
    /// A fresh cached result for `key`, marked as cached.
    pub async fn get(&self, _key: &CacheKey, _profile: &Profile, _tool: &Tool) -> Option<ToolOutcome> {
        None
    }

    /// Remember `out` under `key`.
    pub async fn put(&self, _key: &CacheKey, _plugin: &str, _profile: &Profile, _tool: &Tool, _out: &ToolOutcome) {}

    /// Forget every cached result of `plugin` (after one of its writes).
    pub async fn invalidate_plugin(&self, _plugin: &str) {}
}
