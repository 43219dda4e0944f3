//! The result cache for read tools. A read tool whose descriptor says `cacheable` is answered
//! from the cache when the same call (tool, canonical arguments, plugin version and digest,
//! granted operations, tenant) was answered within its TTL. RTR tools, write tools and tools
//! calling write operations are never cached, whatever they declare; errors are never cached.
//! A write invalidates the cached results of its plugin and of every tool reading the same
//! Falcon API area (the operation scope, e.g. `Hosts`), so containing a host leaves no stale
//! "normal" status in `hosts_get` nor in `detections_analyze_alert`.
//!
//! The entries live in a [`Store`](crate::state::Store): in memory (default) or in SQLite.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::Caller;
use super::profiles::Profile;
use crate::app::{App, ToolOutcome};
use crate::catalogue::{Access, Catalogue};
use crate::registry::{Plugin, Tool};
use crate::runtime::tools::Tier;
use crate::state::{MemoryStore, SqliteStore, Store};

/// Default TTL of a cached result (`[cache] ttl_secs`), as in the seed.
pub const DEFAULT_TTL_SECS: u64 = 3600;
/// Default TTL cap for tools that run a Falcon search job (`[cache] job_ttl_secs`): their
/// relative time windows ("1d") move, so the same call means newer data soon.
pub const DEFAULT_JOB_TTL_SECS: u64 = 300;
/// Default settle window after a write (`[cache] settle_secs`): Falcon applies some writes
/// asynchronously (containment goes `containment_pending` → `contained`), so results of the
/// areas a write touched are not cached for this long after it.
pub const DEFAULT_SETTLE_SECS: u64 = 300;
/// Default byte bound of the cache (`[cache] max_mib`).
pub const DEFAULT_MAX_MIB: u64 = 64;
/// Longest TTL accepted anywhere (30 days): past it a typo keeps stale data for ever.
pub const MAX_TTL_SECS: u64 = 30 * 24 * 3600;
/// Accepted `[cache] max_mib`.
pub const MAX_MIB_RANGE: std::ops::RangeInclusive<u64> = 1..=65_536;
/// Key prefix of the cache's entries in the state store.
pub const KEY_PREFIX: &str = "cache/";
/// Key prefix of the marks of areas a recent write touched (see `settle_secs`).
const SETTLE_PREFIX: &str = "settle/";
/// Tag prefix naming the plugin an entry belongs to.
const PLUGIN_TAG: &str = "plugin:";
/// Tag prefix naming a Falcon API area (scope without `:read`) an entry read from.
const SCOPE_TAG: &str = "scope:";

/// `[cache]` in `aerie.toml`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheFile {
    /// `memory` (default) or `sqlite:PATH`.
    pub backend: Option<String>,
    /// Byte bound in MiB (default 64), for either backend.
    pub max_mib: Option<u64>,
    /// TTL of a cached result in seconds (default 3600; 0 disables the cache).
    pub ttl_secs: Option<u64>,
    /// TTL cap for tools that run a Falcon search job (NG-SIEM), default 300.
    pub job_ttl_secs: Option<u64>,
    /// Seconds after a write during which the areas it touched are not cached (default 300).
    pub settle_secs: Option<u64>,
    /// Per-tool TTL in seconds (`hosts_search = 60`; 0 never caches that tool).
    pub tools: BTreeMap<String, u64>,
}

/// Where the cache lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// In the server process.
    Memory,
    /// In a SQLite file.
    Sqlite(PathBuf),
}

impl CacheFile {
    /// The configured backend.
    pub fn backend(&self) -> Result<Backend, String> {
        match self.backend.as_deref().map(str::trim) {
            None | Some("memory") => Ok(Backend::Memory),
            Some(b) => match b.strip_prefix("sqlite:") {
                Some(p) if !p.trim().is_empty() => Ok(Backend::Sqlite(PathBuf::from(p.trim()))),
                _ => Err(format!(
                    "[cache] backend must be \"memory\" or \"sqlite:PATH\" (e.g. \"sqlite:/var/lib/aerie/cache.db\"), not {b:?}"
                )),
            },
        }
    }

    /// The byte bound.
    pub fn max_bytes(&self) -> Result<u64, String> {
        let mib = self.max_mib.unwrap_or(DEFAULT_MAX_MIB);
        if !MAX_MIB_RANGE.contains(&mib) {
            return Err(format!(
                "[cache] max_mib must be {}..={}, not {mib} (set ttl_secs = 0 to disable the cache)",
                MAX_MIB_RANGE.start(),
                MAX_MIB_RANGE.end()
            ));
        }
        Ok(mib << 20)
    }

    fn ttl(key: &str, secs: u64) -> Result<Duration, String> {
        if secs > MAX_TTL_SECS {
            return Err(format!(
                "[cache] {key} must be at most {MAX_TTL_SECS} seconds (30 days), not {secs}"
            ));
        }
        Ok(Duration::from_secs(secs))
    }
}

/// A cache key: SHA-256 of tool, canonical arguments, plugin version and tenant; plus the
/// write generation seen when it was made (a result read across a write is not kept).
pub struct CacheKey {
    key: String,
    generation: u64,
}

impl CacheKey {
    /// The key of a call, or `None` when the tool's results must not be cached.
    pub fn for_call(app: &App, plugin: &Plugin, tool: &Tool, args: &Value) -> Option<CacheKey> {
        if !cacheable(&plugin.name, tool) {
            return None;
        }
        let egress = crate::tenants::current()
            .map(|(_, e)| e)
            .or_else(|| app.services.egress.clone());
        let tenant = egress.map_or_else(|| "none".to_string(), |e| e.session().cache_identity());
        let granted: Vec<&str> = tool.grant.granted.iter().map(String::as_str).collect();
        let material = json!([
            "aerie-cache-v1",
            tool.desc.name,
            canonical_json(args),
            plugin.name,
            plugin.version,
            plugin.digest,
            granted,
            tenant,
        ]);
        let digest = hex::encode(Sha256::digest(material.to_string().as_bytes()));
        Some(CacheKey {
            key: format!("{KEY_PREFIX}{digest}"),
            generation: app.controls.cache.generation.load(Ordering::SeqCst),
        })
    }

    /// The state-store key.
    pub fn as_str(&self) -> &str {
        &self.key
    }
}

/// Whether `tool`'s results may be cached at all: it declares itself cacheable, is a read
/// tool, calls only read operations, and is not RTR (live session state) by plugin or by
/// operation, whatever the plugin claims.
pub fn cacheable(plugin: &str, tool: &Tool) -> bool {
    if !tool.desc.cacheable || tool.desc.tier == Tier::Write || plugin == "rtr" {
        return false;
    }
    let catalogue = Catalogue::builtin();
    tool.desc.operations.iter().all(|id| {
        let rtr = id.starts_with("RTR_") || id.starts_with("Batch");
        let op = catalogue.get(id);
        let write = op.is_none_or(|o| o.access == Access::Write);
        let rtr_scope = op.is_some_and(|o| o.scope.starts_with("Real time response"));
        !rtr && !write && !rtr_scope
    })
}

/// JSON text of `v` with object keys sorted at every level, so argument order never matters.
pub fn canonical_json(v: &Value) -> String {
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    write(&m[k], out);
                }
                out.push('}');
            }
            Value::Array(a) => {
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(x, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(v, &mut out);
    out
}

/// The API area of an operation scope: `Hosts:read` → `Hosts`.
fn area(scope: &str) -> &str {
    scope.rsplit_once(':').map_or(scope, |(a, _)| a)
}

/// Tags of `tool`'s entries: its plugin and the API areas its operations read. A write
/// invalidates the entries sharing a tag; resource subscriptions use the same rule.
pub(crate) fn tags(plugin: &str, tool: &Tool) -> Vec<String> {
    let catalogue = Catalogue::builtin();
    let mut t = vec![format!("{PLUGIN_TAG}{plugin}")];
    for id in &tool.desc.operations {
        if let Some(op) = catalogue.get(id) {
            let tag = format!("{SCOPE_TAG}{}", area(&op.scope));
            if !t.contains(&tag) {
                t.push(tag);
            }
        }
    }
    t
}

/// Whether `tool` runs a Falcon-side job (an operation the host must release if abandoned,
/// such as an NG-SIEM search).
fn runs_job(tool: &Tool) -> bool {
    let catalogue = Catalogue::builtin();
    tool.desc
        .operations
        .iter()
        .any(|id| catalogue.get(id).is_some_and(|o| o.on_abandon.is_some()))
}

/// What the cache keeps of a result.
#[derive(serde::Serialize, Deserialize)]
struct Kept {
    text: String,
    structured: Option<Value>,
    /// Absent from entries written before results had content blocks.
    #[serde(default)]
    content: Vec<rmcp::model::ContentBlock>,
}

/// Cached results of read tools.
pub struct ResultCache {
    store: Arc<dyn Store>,
    ttl: Duration,
    job_ttl: Duration,
    tools: BTreeMap<String, Duration>,
    settle: Duration,
    /// Bumped by every write: a result read while a write ran may predate it.
    generation: AtomicU64,
    /// Tags a recent write touched, and until when their results are not cached.
    settling: Mutex<HashMap<String, Instant>>,
}

impl Default for ResultCache {
    fn default() -> Self {
        ResultCache {
            store: Arc::new(MemoryStore::new(DEFAULT_MAX_MIB << 20)),
            ttl: Duration::from_secs(DEFAULT_TTL_SECS),
            job_ttl: Duration::from_secs(DEFAULT_JOB_TTL_SECS),
            tools: BTreeMap::new(),
            settle: Duration::from_secs(DEFAULT_SETTLE_SECS),
            generation: AtomicU64::new(0),
            settling: Mutex::default(),
        }
    }
}

impl ResultCache {
    /// Tool names given their own TTL in `[cache.tools]`.
    pub fn tools_with_ttl(&self) -> impl Iterator<Item = &str> {
        self.tools.keys().map(String::as_str)
    }

    /// The cache `[cache]` configures, in `state` unless `[cache] backend` names its own
    /// (opens the SQLite file if named).
    pub fn from_config(
        file: &CacheFile,
        state: &crate::state::Backend,
    ) -> Result<ResultCache, String> {
        let ttl = CacheFile::ttl("ttl_secs", file.ttl_secs.unwrap_or(DEFAULT_TTL_SECS))?;
        let job_ttl = CacheFile::ttl(
            "job_ttl_secs",
            file.job_ttl_secs.unwrap_or(DEFAULT_JOB_TTL_SECS),
        )?;
        let settle = CacheFile::ttl(
            "settle_secs",
            file.settle_secs.unwrap_or(DEFAULT_SETTLE_SECS),
        )?;
        let mut tools = BTreeMap::new();
        for (name, secs) in &file.tools {
            tools.insert(
                name.clone(),
                CacheFile::ttl(&format!("tools.{name}"), *secs)?,
            );
        }
        let max = file.max_bytes()?;
        let store: Arc<dyn Store> = match file.backend()? {
            _ if file.backend.is_none() => state.cache_store(max)?,
            Backend::Memory => Arc::new(MemoryStore::new(max)),
            Backend::Sqlite(p) => {
                Arc::new(SqliteStore::open(&p, max).map_err(|e| format!("[cache] backend: {e}"))?)
            }
        };
        Ok(ResultCache {
            store,
            ttl,
            job_ttl,
            tools,
            settle,
            generation: AtomicU64::new(0),
            settling: Mutex::default(),
        })
    }

    /// The backing store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The TTL of `tool`'s results for `profile`: the per-tool setting, else the profile's,
    /// else the global one (capped by `job_ttl_secs` for search-job tools).
    pub fn ttl_for(&self, profile: &Profile, tool: &Tool) -> Duration {
        if let Some(t) = self.tools.get(&*tool.desc.name) {
            return *t;
        }
        let base = profile.cache_ttl.unwrap_or(self.ttl);
        if runs_job(tool) {
            base.min(self.job_ttl)
        } else {
            base
        }
    }

    /// A fresh cached result for `key`, marked as cached (`_meta` `aerie/cache`) and audited
    /// as a `tool_call` with outcome `cached`.
    pub async fn get(
        &self,
        app: &App,
        caller: &Caller,
        plugin: &Plugin,
        tool: &Tool,
        key: &CacheKey,
        args: &Value,
    ) -> Option<ToolOutcome> {
        let ttl = self.ttl_for(&caller.profile, tool);
        // While the server drains, new calls are refused (by the real call path), cached or not.
        if ttl.is_zero() || app.inflight.draining() {
            return None;
        }
        let stored = match self.store.get(key.as_str()).await {
            Ok(Some(s)) => s,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(error = %e, "result cache read failed; calling the tool");
                return None;
            }
        };
        // The entry may have been kept for a longer TTL (another profile); this caller's wins.
        if stored.age >= ttl {
            return None;
        }
        let kept: Kept = serde_json::from_slice(&stored.value).ok()?;
        let age = stored.age.as_secs();
        app.services.audit.record(
            "tool_call",
            json!({
                "client": caller.client, "tool": tool.desc.name, "plugin": plugin.name,
                "version": plugin.version,
                "args_sha256": hex::encode(Sha256::digest(args.to_string().as_bytes())),
                "outcome": "cached", "cache_age_secs": age, "duration_ms": 0,
            }),
        );
        let mut meta = serde_json::Map::new();
        meta.insert("aerie/cache".into(), json!({"hit": true, "age_secs": age}));
        Some(ToolOutcome {
            text: kept.text,
            structured: kept.structured,
            content: kept.content,
            is_error: false,
            meta,
        })
    }

    /// Remember `out` under `key` (not errors; not if a write ran since the key was made).
    pub async fn put(
        &self,
        key: &CacheKey,
        plugin: &str,
        profile: &Profile,
        tool: &Tool,
        out: &ToolOutcome,
    ) {
        let ttl = self.ttl_for(profile, tool);
        if out.is_error || ttl.is_zero() || self.generation.load(Ordering::SeqCst) != key.generation
        {
            return;
        }
        let kept = Kept {
            text: out.text.clone(),
            structured: out.structured.clone(),
            content: out.content.clone(),
        };
        let tags = tags(plugin, tool);
        if self.is_settling(&tags) || self.settling_elsewhere(&tags).await {
            return;
        }
        let Ok(bytes) = serde_json::to_vec(&kept) else {
            return;
        };
        if let Err(e) = self.store.put(key.as_str(), bytes, ttl, &tags).await {
            tracing::warn!(error = %e, "result cache write failed; result not cached");
        }
    }

    /// Forget what a write by `tool` of `plugin` may have made stale: every cached result of
    /// the plugin and of every tool reading the API areas the write's operations touch.
    pub async fn invalidate_after_write(&self, plugin: &Plugin, tool: &Tool) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        let tags = tags(&plugin.name, tool);
        {
            let now = Instant::now();
            let mut hot = self.settling.lock().unwrap_or_else(|p| p.into_inner());
            // Bounded by the number of plugins and API areas; expired marks go here too.
            hot.retain(|_, until| *until > now);
            for t in &tags {
                hot.insert(t.clone(), now + self.settle);
            }
        }
        // The marks go in the store too, before the entries go: a replica sharing it does not
        // cache what it read while this write settles.
        for t in &tags {
            let mark = format!("{SETTLE_PREFIX}{t}");
            if let Err(e) = self.store.put(&mark, Vec::new(), self.settle, &[]).await {
                tracing::warn!(error = %e, tag = %t, "result cache settle mark failed");
            }
        }
        self.invalidate_plugin(&plugin.name).await;
        for tag in tags.iter().skip(1) {
            if let Err(e) = self.store.delete_tag(tag).await {
                tracing::warn!(error = %e, %tag, "result cache invalidation failed");
            }
        }
    }

    /// Whether a write through another process sharing the store is settling on `tags`.
    async fn settling_elsewhere(&self, tags: &[String]) -> bool {
        for t in tags {
            if let Ok(Some(_)) = self.store.get(&format!("{SETTLE_PREFIX}{t}")).await {
                return true;
            }
        }
        false
    }

    fn is_settling(&self, tags: &[String]) -> bool {
        let now = Instant::now();
        let hot = self.settling.lock().unwrap_or_else(|p| p.into_inner());
        tags.iter()
            .any(|t| hot.get(t).is_some_and(|until| *until > now))
    }

    /// Forget every cached result of `plugin`.
    pub async fn invalidate_plugin(&self, plugin: &str) {
        if let Err(e) = self
            .store
            .delete_tag(&format!("{PLUGIN_TAG}{plugin}"))
            .await
        {
            tracing::warn!(error = %e, %plugin, "result cache invalidation failed");
        }
    }
}

/// `aerie cache stats`: entries and bytes, in all and per plugin. The memory backend lives in
/// the server process, so there is nothing to read from outside it.
pub async fn cli_stats(file: &CacheFile) -> Result<String, String> {
    stats_text(&open_for_cli(file)?).await
}

/// Entries and bytes of `store`'s cached results, in all and per plugin, as `aerie cache stats`
/// prints them (also answered by a running server's admin socket for its memory cache).
pub async fn stats_text(store: &Arc<dyn Store>) -> Result<String, String> {
    let s = store
        .stats(KEY_PREFIX, PLUGIN_TAG)
        .await
        .map_err(|e| e.to_string())?;
    let mut out = format!(
        "backend: {}\nentries: {}\nbytes: {}\n",
        store.describe(),
        s.entries,
        s.bytes
    );
    for (tag, (n, b)) in &s.by_tag {
        let name = tag.strip_prefix(PLUGIN_TAG).unwrap_or(tag);
        out.push_str(&format!("  {name}: {n} entries, {b} bytes\n"));
    }
    Ok(out)
}

/// `aerie cache clear [--plugin NAME]`.
pub async fn cli_clear(file: &CacheFile, plugin: Option<&str>) -> Result<String, String> {
    clear_text(&open_for_cli(file)?, plugin).await
}

/// Remove `store`'s cached results (all, or one plugin's) and say how many went.
pub async fn clear_text(store: &Arc<dyn Store>, plugin: Option<&str>) -> Result<String, String> {
    let removed = match plugin {
        Some(p) => store.delete_tag(&format!("{PLUGIN_TAG}{p}")).await,
        None => store.delete_prefix(KEY_PREFIX).await,
    }
    .map_err(|e| e.to_string())?;
    Ok(match plugin {
        Some(p) => format!("removed {removed} cached results of plugin {p}\n"),
        None => format!("removed {removed} cached results\n"),
    })
}

/// Why `aerie cache` cannot open a memory cache itself.
pub const MEMORY_BACKEND: &str = "the result cache uses the memory backend ([cache] backend = \"memory\", the default): it lives in the running server's process, reached through its admin socket (started unless [approvals] mode = \"off\"), and is cleared by restarting the server; set backend = \"sqlite:PATH\" to inspect and clear it without a server";

fn open_for_cli(file: &CacheFile) -> Result<Arc<dyn Store>, String> {
    match file.backend()? {
        Backend::Memory => Err(MEMORY_BACKEND.into()),
        Backend::Sqlite(p) => {
            if !p.exists() {
                return Err(format!(
                    "no cache file at {} (nothing has been cached there yet)",
                    p.display()
                ));
            }
            Ok(Arc::new(
                SqliteStore::open(&p, file.max_bytes()?).map_err(|e| e.to_string())?,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let a: Value =
            serde_json::from_str(r#"{"b":2,"a":{"y":[{"q":1,"p":2}],"x":null}}"#).unwrap();
        let b: Value =
            serde_json::from_str(r#"{"a":{"x":null,"y":[{"p":2,"q":1}]},"b":2}"#).unwrap();
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(
            canonical_json(&b),
            r#"{"a":{"x":null,"y":[{"p":2,"q":1}]},"b":2}"#
        );
        let c: Value =
            serde_json::from_str(r#"{"a":{"x":null,"y":[{"p":1,"q":2}]},"b":2}"#).unwrap();
        assert_ne!(canonical_json(&a), canonical_json(&c));
    }

    fn tool(tier: Tier, cacheable: bool, ops: &[&str]) -> Tool {
        let schema = json!({"type": "object"});
        Tool {
            desc: crate::runtime::tools::Tool {
                name: "t_read".into(),
                title: "t".into(),
                description: "t".into(),
                input_schema: schema.to_string(),
                tier,
                destructive: false,
                idempotent: true,
                cacheable,
                operations: ops.iter().map(|s| s.to_string()).collect(),
                needs: vec![],
            },
            schema: Arc::new(serde_json::Map::new()),
            validator: jsonschema::validator_for(&schema).unwrap(),
            grant: Default::default(),
            output: None,
        }
    }

    #[test]
    fn only_read_tools_of_read_operations_outside_rtr_are_cacheable_whatever_they_claim() {
        assert!(cacheable(
            "hosts",
            &tool(Tier::Read, true, &["PostDeviceDetailsV2"])
        ));
        assert!(!cacheable(
            "hosts",
            &tool(Tier::Read, false, &["PostDeviceDetailsV2"])
        ));
        // A plugin claiming `cacheable` on a write tool, a write operation, RTR or an unknown op.
        assert!(!cacheable(
            "hosts",
            &tool(Tier::Write, true, &["PostDeviceDetailsV2"])
        ));
        assert!(!cacheable(
            "hosts",
            &tool(Tier::Read, true, &["PerformActionV2"])
        ));
        assert!(!cacheable(
            "x",
            &tool(Tier::Read, true, &["RTR_ListAllSessions"])
        ));
        assert!(!cacheable(
            "x",
            &tool(Tier::Read, true, &["BatchGetCmdStatus"])
        ));
        assert!(!cacheable(
            "x",
            &tool(Tier::Read, true, &["NoSuchOperation"])
        ));
        assert!(!cacheable(
            "rtr",
            &tool(Tier::Read, true, &["PostDeviceDetailsV2"])
        ));
    }

    #[test]
    fn ttl_most_specific_wins_and_search_jobs_are_capped() {
        let f: CacheFile = toml::from_str("ttl_secs = 1000\n[tools]\nt_read = 7\n").unwrap();
        let c = ResultCache::from_config(&f, &Default::default()).unwrap();
        let mut p = Profile::unrestricted();
        let read = tool(Tier::Read, true, &["PostDeviceDetailsV2"]);
        assert_eq!(c.ttl_for(&p, &read), Duration::from_secs(7), "per tool");
        let mut other = tool(Tier::Read, true, &["PostDeviceDetailsV2"]);
        other.desc.name = "u_read".into();
        assert_eq!(c.ttl_for(&p, &other), Duration::from_secs(1000), "global");
        p.cache_ttl = Some(Duration::from_secs(30));
        assert_eq!(c.ttl_for(&p, &other), Duration::from_secs(30), "profile");
        let mut job = tool(Tier::Read, true, &["StartSearchV1", "GetSearchStatusV1"]);
        job.desc.name = "j".into();
        p.cache_ttl = None;
        assert_eq!(
            c.ttl_for(&p, &job),
            Duration::from_secs(DEFAULT_JOB_TTL_SECS),
            "capped"
        );
    }

    #[test]
    fn config_errors_name_the_key() {
        let bad = |toml: &str| {
            let f: CacheFile = toml::from_str(toml).unwrap();
            ResultCache::from_config(&f, &Default::default())
                .err()
                .unwrap()
        };
        assert!(bad("backend = \"redis://x\"").contains("[cache] backend must be"));
        assert!(bad("backend = \"sqlite:\"").contains("sqlite:PATH"));
        assert!(bad("max_mib = 0").contains("[cache] max_mib must be 1..=65536"));
        assert!(bad("ttl_secs = 99999999").contains("[cache] ttl_secs must be at most"));
        assert!(bad("[tools]\nhosts_search = 99999999").contains("[cache] tools.hosts_search"));
        assert!(toml::from_str::<CacheFile>("ttl = 5").is_err());
    }
}
