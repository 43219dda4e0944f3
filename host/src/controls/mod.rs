//! Agent controls, enforced in the host for every plugin (first-party or third-party), never in
//! plugins or prompts: what each agent may see and do (profiles with tool globs and call
//! budgets), a result cache for read tools, a response store for large results, human approval
//! before destructive calls, and the dynamic tool mode.
//!
//! [`App::call_as`] is the one path every MCP tool call takes; [`App::tools_for`] is what
//! `tools/list` shows. Each control lives in its own module and is consulted here in order.

pub mod approval_queue;
pub mod approvals;
pub mod budget;
pub mod builtins;
pub mod cache;
pub mod dynamic;
pub mod profiles;
pub mod store;

use std::sync::Arc;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::app::{App, ToolOutcome};
use crate::runtime::ProgressSink;

pub use profiles::{Profile, Profiles};

/// Who is calling: the audit name of the client, the session its state is kept under, and the
/// profile it runs with. (Asking the client for input goes through [`crate::client_input`].)
#[derive(Clone)]
pub struct Caller {
    /// `stdio`, `http` or `key:<8 hex>`, as in the audit log.
    pub client: String,
    /// Session key: per-session state (budgets, stored responses) lives under it. The MCP
    /// session id over HTTP, `stdio` over stdio.
    pub session: String,
    /// The profile this caller runs with.
    pub profile: Arc<Profile>,
}

/// How `tools/list` is shaped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ToolMode {
    /// Every tool the profile allows, with its full schema.
    #[default]
    Full,
    /// A few built-in tools that search, describe and call the catalogue by name.
    Dynamic,
}

/// The controls of a running server.
pub struct Controls {
    /// Named profiles and the default one.
    pub profiles: Profiles,
    /// Call budgets per session.
    pub budgets: budget::Budgets,
    /// Cached results of read tools.
    pub cache: cache::ResultCache,
    /// Large results kept for paging.
    pub store: store::ResponseStore,
    /// Human approval of destructive calls.
    pub approvals: approvals::Approvals,
    /// Full or dynamic `tools/list`.
    pub tool_mode: ToolMode,
    /// Where all of the above keep their state (`[state] backend`).
    pub state: crate::state::Backend,
}

impl App {
    /// What `tools/list` shows `caller`: the built-in tools, then (in full mode) every served
    /// tool the caller's profile allows.
    pub fn tools_for(&self, caller: &Caller) -> Vec<rmcp::model::Tool> {
        let mut tools = builtins::list(self, caller);
        if self.controls.tool_mode == ToolMode::Full {
            let snap = self.registry.snapshot();
            tools.extend(
                snap.tools
                    .keys()
                    .filter_map(|name| snap.tool(name))
                    .filter(|(_, t)| caller.profile.allows_tool(t))
                    .map(|(_, t)| self.with_tenant_arg(caller, crate::mcp::mcp_tool(t))),
            );
        }
        tools
    }

    /// Run tool `name` for `caller` through every control: the profile, the call budget,
    /// built-in tools, approval, the result cache, the plugin call itself, invalidation after
    /// writes, and the response store.
    pub async fn call_as(
        &self,
        caller: &Caller,
        name: &str,
        args: Value,
        progress: Option<ProgressSink>,
        cancel: &CancellationToken,
    ) -> ToolOutcome {
        if let Some(out) = builtins::call(self, caller, name, &args, progress.clone(), cancel).await
        {
            return out;
        }
        self.call_plugin_tool_as(caller, name, args, progress, cancel)
            .await
    }

    /// A plugin tool through the controls (the built-in `call` of the dynamic mode lands here
    /// too, so it is held to exactly the same rules).
    pub async fn call_plugin_tool_as(
        &self,
        caller: &Caller,
        name: &str,
        args: Value,
        progress: Option<ProgressSink>,
        cancel: &CancellationToken,
    ) -> ToolOutcome {
        let snap = self.registry.snapshot();
        let tool = snap.tool(name).map(|(p, t)| (p.clone(), t));
        if let Some((_, t)) = &tool
            && !caller.profile.allows_tool(t)
        {
            budget::audit_refusal(self, caller, name, "refused_profile");
            return ToolOutcome::error(format!(
                "Tool `{name}` is not available to profile `{}`; call tools/list for the tools it may use.",
                caller.profile.name
            ));
        }
        // Without the shared state a write's invalidation, budget and approval would not reach
        // the other replicas: refused before anything is counted or sent.
        if let Some((_, t)) = &tool
            && t.desc.tier == crate::runtime::tools::Tier::Write
            && let Some(why) = self.controls.state.refuse_write()
        {
            budget::audit_refusal(self, caller, name, "refused_state");
            return ToolOutcome::error(why);
        }
        // Several tenants: the call runs against the one its profile allows and its `tenant`
        // argument names, checked before anything is counted or sent.
        let tenants = &self.services.tenants;
        if tenants.any() && tool.is_some() && crate::tenants::current().is_none() {
            let (tenant, egress) = match tenants.choose(&caller.profile.tenants, &args) {
                Ok(t) => t,
                Err(why) => {
                    budget::audit_refusal(self, caller, name, "refused_tenant");
                    return ToolOutcome::error(why);
                }
            };
            let call = self.call_plugin_tool_as(caller, name, args, progress, cancel);
            let mut out = crate::tenants::scope(&tenant, egress, Box::pin(call)).await;
            out.meta
                .insert("aerie/tenant".into(), serde_json::json!(tenant));
            return out;
        }
        // A name that is not served (unknown, or disabled by the policy) fails before reaching
        // a plugin, so it costs nothing.
        let mut budget = match &tool {
            None => budget::Charged::free(),
            Some(_) => match self
                .controls
                .budgets
                .charge(&caller.session, &caller.profile, name)
                .await
            {
                Ok(state) => {
                    if caller.profile.has_budget() {
                        crate::metrics::budget_charge(&caller.profile.name, true);
                    }
                    state
                }
                Err(message) => {
                    crate::metrics::budget_charge(&caller.profile.name, false);
                    budget::audit_refusal(self, caller, name, "refused_budget");
                    return ToolOutcome::error(message);
                }
            },
        };
        let mut out = match tool {
            None => {
                self.call_tool_until(&caller.client, name, args, progress, cancel)
                    .await
            }
            Some((plugin, t)) => match self
                .controls
                .approvals
                .gate(self, caller, &plugin, t, &args, cancel)
                .await
            {
                approvals::Gate::Respond(out) => {
                    // Nothing ran (pending, declined, expired): not counted; the approved call
                    // counts when `aerie_run_approved` runs it.
                    self.controls
                        .budgets
                        .refund(&caller.session, &mut budget)
                        .await;
                    out
                }
                approvals::Gate::Proceed => {
                    self.call_through_cache(caller, &plugin, t, args, progress, cancel)
                        .await
                }
            },
        };
        if !out.is_error {
            out = self.controls.store.keep_if_large(caller, name, out).await;
        }
        budget.annotate(&mut out);
        out
    }
}

impl App {
    /// `tool` as `caller` sees it: with the `tenant` argument when its profile may use
    /// several tenants.
    fn with_tenant_arg(&self, caller: &Caller, mut tool: rmcp::model::Tool) -> rmcp::model::Tool {
        // A request that brought its own API client runs against it: nothing to choose.
        if crate::tenants::current().is_some() {
            return tool;
        }
        let schema = Value::Object((*tool.input_schema).clone());
        if let Some(Value::Object(s)) = self
            .services
            .tenants
            .schema_for(&caller.profile.tenants, &schema)
        {
            tool.input_schema = Arc::new(s);
        }
        tool
    }

    /// A served plugin tool through the result cache: a fresh cached answer if there is one,
    /// else the real call, after which a write invalidates what it may have changed and a
    /// read's answer is kept.
    async fn call_through_cache(
        &self,
        caller: &Caller,
        plugin: &Arc<crate::registry::Plugin>,
        tool: &crate::registry::Tool,
        args: Value,
        progress: Option<ProgressSink>,
        cancel: &CancellationToken,
    ) -> ToolOutcome {
        let cache = &self.controls.cache;
        let key = cache::CacheKey::for_call(self, plugin, tool, &args);
        if let Some(k) = &key {
            let hit = cache.get(self, caller, plugin, tool, k, &args).await;
            crate::metrics::cache_lookup(hit.is_some());
            if let Some(hit) = hit {
                return hit;
            }
        }
        let name = tool.desc.name.as_str();
        let write = tool.desc.tier == crate::runtime::tools::Tier::Write;
        // A write's arguments name what it changed, for resource subscribers.
        let written = write.then(|| args.clone());
        let out = self
            .call_tool_until(&caller.client, name, args, progress, cancel)
            .await;
        if let Some(args) = &written {
            cache.invalidate_after_write(plugin, tool).await;
            crate::mcp::subscriptions::after_write(self, plugin, tool, args, &out).await;
        } else if let Some(k) = &key
            && !out.is_error
        {
            cache
                .put(k, &plugin.name, &caller.profile, tool, &out)
                .await;
        }
        out
    }
}

impl Controls {
    /// Every tool name and pattern the controls were configured with, against the tools being
    /// served: a typo would hide, show or ungate the wrong tools, so it fails start-up (and
    /// `config check`) naming the nearest tool. See [`profiles::check_patterns`].
    pub fn check_at_start(
        &self,
        snap: &crate::registry::Snapshot,
        sources: &[crate::registry::Source],
        refusals: &[crate::registry::Refusal],
    ) -> Result<(), String> {
        let known = crate::policy::check::plugin_names(snap, sources, refusals);
        let mut f = self.profiles.check(snap, &known);
        if let Some(p) = self.approvals.patterns() {
            profiles::check_patterns("[approvals] tools", p, "", snap, &known, &mut f);
        }
        let mut cached = Vec::new();
        for t in self.cache.tools_with_ttl() {
            match profiles::Pattern::parse(t) {
                Ok(p) => cached.push(p),
                Err(e) => f.errors.push(format!("[cache.tools]: {e}")),
            }
        }
        profiles::check_patterns("[cache.tools]", &cached, "", snap, &known, &mut f);
        f.enforce()
    }

    /// The controls `file` configures, keeping their state in `state`; `profile`
    /// (`--profile`) picks the default profile.
    pub fn new(
        file: &crate::config::FileConfig,
        profile: Option<&str>,
        tool_mode: ToolMode,
        state: &crate::state::Backend,
    ) -> Result<Controls, String> {
        let profiles = Profiles::from_file(&file.profiles, profile)?;
        for (name, p) in &file.profiles.0 {
            if let Some(t) = p.tenants.iter().find(|t| !file.tenants.contains_key(*t)) {
                return Err(format!(
                    "[profiles.{name}] tenants names `{t}`, but no [tenants.{t}] is configured"
                ));
            }
        }
        for (i, key) in file.http.api_keys.iter().enumerate() {
            if let Some(p) = &key.profile {
                profiles.require(p, &format!("[http] api_keys entry {}", i + 1))?;
            }
        }
        let settings = file.store.settings()?;
        let bounds = settings.bounds.clone();
        Ok(Controls {
            profiles,
            budgets: budget::Budgets::new(state.counters()),
            cache: cache::ResultCache::from_config(&file.cache, state)?,
            store: store::ResponseStore::with_backend(settings, state.responses(bounds)),
            approvals: approvals::Approvals::new(&file.approvals).on_queue(state.approvals()),
            tool_mode,
            state: state.clone(),
        })
    }
}
