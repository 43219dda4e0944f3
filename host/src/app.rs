//! The running application: what plugins reach through their imports (policy-checked Falcon
//! egress, the files directory, operator config), plus the registry and runtime it serves.

use std::sync::Arc;

use std::time::Instant;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use tokio_util::sync::CancellationToken;

use crate::audit::Audit;
use crate::catalogue::{Catalogue, Guard};
use crate::cleanup::CallServices;
use crate::egress::Egress;
use crate::files::{DEFAULT_FILES_QUOTA_MIB, FilesDir};
use crate::inflight::InFlight;
use crate::policy::Policy;
use crate::registry::Registry;
use crate::runtime::{
    CallFailure, CallInfo, FilesOp, FilesReply, ProgressSink, Record, RecordBudget, Runtime,
    Services, falcon, files, log_safe, tools, truncate_str,
};

/// Shared state of a running server.
pub struct App {
    /// The wasm runtime.
    pub runtime: Runtime,
    /// What is being served.
    pub registry: Arc<Registry>,
    /// Host-side services plugins call into.
    pub services: Arc<HostServices>,
    /// Where plugins come from (for reloads).
    pub sources: crate::hotswap::SourceConfig,
    /// Who hears about list changes: legacy sessions and `subscriptions/listen` streams.
    pub changes: crate::mcp::changes::Changes,
    /// 2025 sessions' resource subscriptions.
    pub subscriptions: crate::mcp::subscriptions::Subscriptions,
    /// Serialises reloads.
    pub reload_lock: tokio::sync::Mutex<()>,
    /// Calls in flight, for the drain at shutdown.
    pub inflight: InFlight,
    /// How long in-flight calls get to finish at shutdown before they are stopped.
    pub shutdown_grace: std::time::Duration,
    /// Agent controls: profiles, budgets, cache, response store, approvals, tool mode.
    pub controls: crate::controls::Controls,
}

/// Largest tool result passed to a client, in bytes.
pub const MAX_RESULT_BYTES: usize = 4 << 20;

/// What a tool call produced, ready for any front end (MCP, the test harness, benchmarks).
#[derive(Debug, Clone)]
pub struct ToolOutcome {
    /// Text for the model.
    pub text: String,
    /// Structured JSON, if any.
    pub structured: Option<Value>,
    /// Content blocks after the text (images, audio, embedded resources), checked.
    pub content: Vec<rmcp::model::ContentBlock>,
    /// Whether this is a tool error.
    pub is_error: bool,
    /// What the host adds for the client in the result's `_meta` (budget left, cache age,
    /// stored-result handle), keyed by name.
    pub meta: serde_json::Map<String, Value>,
}

/// What a call refused at shutdown tells the model.
pub const SHUTTING_DOWN: &str =
    "aerie is shutting down and is not starting new calls; retry once it is back.";

/// How a call ended, before it becomes a [`ToolOutcome`].
enum Ended {
    /// The plugin returned (or the sandbox stopped it).
    Finished(Result<tools::Output, CallFailure>),
    /// The client cancelled the request.
    Cancelled,
    /// Shutdown's grace period ran out.
    Cut,
}

impl ToolOutcome {
    /// A tool error with `text`.
    pub fn error(text: impl Into<String>) -> ToolOutcome {
        ToolOutcome {
            text: text.into(),
            structured: None,
            content: Vec::new(),
            is_error: true,
            meta: serde_json::Map::new(),
        }
    }
}

impl App {
    /// Compile the served plugins' code into the compile cache now (`aerie plugins compile`).
    /// `None` without a compile cache.
    pub fn precompile(&self) -> Option<crate::runtime::Precompiled> {
        self.with_codes(|codes| self.runtime.precompile(codes))
    }

    /// Compile the served embedded plugins' code into the compile cache in a background child
    /// process at low priority: what a server does once it serves.
    pub fn precompile_in_background(&self) {
        self.with_codes(|codes| self.runtime.precompile_in_background(codes));
    }

    /// `f` over the code of every plugin served now.
    fn with_codes<R>(&self, f: impl FnOnce(&[&crate::runtime::Code]) -> R) -> R {
        let snapshot = self.registry.snapshot();
        let codes: Vec<_> = snapshot
            .plugins
            .values()
            .map(|p| p.instance.code())
            .collect();
        f(&codes)
    }

    /// Run tool `name` with `args`: look it up in the current snapshot, validate the arguments
    /// against its schema, run it in the sandbox, cap the result, and audit the call. Every
    /// failure is a [`ToolOutcome`] with a message a model can act on. `client` names the caller
    /// in the audit log.
    pub async fn call_tool(
        &self,
        client: &str,
        name: &str,
        args: Value,
        progress: Option<ProgressSink>,
    ) -> ToolOutcome {
        self.call_tool_until(client, name, args, progress, &CancellationToken::new())
            .await
    }

    /// [`App::call_tool`], stopped early when `cancel` fires (the client cancelled) or when
    /// shutdown's grace period runs out. A stopped call is answered and audited as such, says
    /// whether a write it sent may have been applied, and has what it left running on Falcon
    /// released ([`CallServices`]). While the server drains, new calls are refused.
    pub async fn call_tool_until(
        &self,
        client: &str,
        name: &str,
        args: Value,
        progress: Option<ProgressSink>,
        cancel: &CancellationToken,
    ) -> ToolOutcome {
        let started = Instant::now();
        // The `tenant` argument chose the egress (controls); the plugin's schema has no such
        // argument.
        let args = match self.services.tenants.any() {
            true => crate::tenants::strip(args),
            false => args,
        };
        let tenant = crate::tenants::current_name();
        let Some(_in_flight) = self.inflight.enter() else {
            self.services.audit.record(
                "tool_call",
                json!({"client": client, "tool": name, "outcome": "refused_shutting_down", "duration_ms": 0}),
            );
            return ToolOutcome::error(SHUTTING_DOWN);
        };
        // The snapshot is held for the whole call: a hot swap mid-call does not affect it.
        let snap = self.registry.snapshot();
        let Some((plugin, tool)) = snap.tool(name) else {
            let hint = if snap.tools.contains_key(name) {
                "it is a write tool and writes are disabled (the operator can start aerie with --allow-writes)"
            } else {
                "call tools/list for the available tools"
            };
            return ToolOutcome::error(format!("Unknown tool `{name}`: {hint}."));
        };
        // Serialised once: the audit digest and the plugin see the same bytes.
        let args_json = args.to_string();
        let digest = hex::encode(Sha256::digest(args_json.as_bytes()));
        let audit = |outcome: &str| {
            self.services.audit.record(
                "tool_call",
                json!({
                    "client": client, "tool": name, "plugin": plugin.name, "version": plugin.version, "args_sha256": digest,
                    "outcome": outcome, "duration_ms": started.elapsed().as_millis() as u64, "tenant": tenant.as_deref(),
                }),
            );
        };
        let errors: Vec<String> = tool
            .validator
            .iter_errors(&args)
            .take(5)
            .map(|e| {
                let at = e.instance_path().to_string();
                if at.is_empty() {
                    e.to_string()
                } else {
                    format!("{at}: {e}")
                }
            })
            .collect();
        if !errors.is_empty() {
            audit("invalid_arguments");
            return ToolOutcome::error(format!(
                "Invalid arguments for `{name}`: {}. Check the tool's input schema.",
                errors.join("; ")
            ));
        }
        let who = CallInfo {
            plugin: plugin.name.as_str().into(),
            tool: name.into(),
        };
        let services = Arc::new(CallServices::new(
            self.services.clone(),
            self.services.audit.clone(),
        ));
        let release = ReleaseOnDrop {
            inflight: &self.inflight,
            services: Some(services.clone()),
            who: who.clone(),
        };
        let run = self.runtime.call(
            &plugin.instance,
            who.clone(),
            services.clone(),
            progress,
            name,
            &args_json,
        );
        // A finished call wins over a cancellation that arrives in the same instant.
        let ended = tokio::select! {
            biased;
            r = run => Ended::Finished(r),
            _ = cancel.cancelled() => Ended::Cancelled,
            _ = self.inflight.cut().cancelled() => Ended::Cut,
        };
        let reason = match &ended {
            Ended::Finished(Ok(_)) => "completed",
            Ended::Finished(Err(CallFailure::Deadline(_))) => "deadline",
            Ended::Finished(Err(_)) => "failed",
            Ended::Cancelled => "cancelled",
            Ended::Cut => "shutdown",
        };
        release.disarm();
        services.release(&who, reason).await;
        let stopped = |outcome: &str, what: &str| {
            audit(outcome);
            let write = if services.write_sent() {
                " A write request had already been sent to Falcon, so the change may have been applied: check the current state before retrying."
            } else {
                " No write had been sent to Falcon."
            };
            ToolOutcome::error(format!("{what}{write}"))
        };
        let result = match ended {
            Ended::Finished(r) => r,
            Ended::Cancelled => return stopped("cancelled", "The call was cancelled."),
            Ended::Cut => {
                return stopped(
                    "stopped_by_shutdown",
                    "The call was stopped by shutdown (aerie is exiting) before it finished.",
                );
            }
        };
        let out = match result {
            Ok(out) => out,
            Err(f) => {
                audit(match f {
                    CallFailure::Tool(_) => "tool_error",
                    CallFailure::InputRequired => "input_required",
                    _ => "sandbox_error",
                });
                return ToolOutcome::error(failure_message(&plugin.name, f));
            }
        };
        let size = out.text.len()
            + out.structured.as_ref().map_or(0, String::len)
            + crate::runtime::content::blocks_bytes(&out.content);
        if size > MAX_RESULT_BYTES {
            audit("too_large");
            return ToolOutcome::error(format!(
                "The result is too large ({size} bytes; the limit is {MAX_RESULT_BYTES}). Narrow the query or lower its limit."
            ));
        }
        let structured = out.structured.and_then(|s| match serde_json::from_str::<Value>(&s) {
            Ok(v @ Value::Object(_)) => Some(v),
            Ok(other) => Some(json!({ "result": other })),
            Err(_) => {
                tracing::warn!(tool = %name, "plugin returned structured content that is not JSON; dropped");
                None
            }
        });
        // A result that breaks the tool's declared output schema would make a client that
        // validates (as MCP asks) reject the whole response; it is the plugin's fault, so the
        // model gets a tool error saying so, and the operator a log line.
        if let Some(schema) = &tool.output {
            let bad = schema.violations(structured.as_ref());
            if !bad.is_empty() {
                audit("bad_output");
                let bad = bad.join("; ");
                tracing::warn!(plugin = %plugin.name, tool = %name, "result does not match the tool's output schema: {bad}");
                return ToolOutcome::error(format!(
                    "Plugin `{}` returned a result for `{name}` that does not match the tool's declared output schema ({bad}), so it was withheld. This is a fault in the plugin, not in the arguments; report it to the plugin's author.",
                    plugin.name
                ));
            }
        }
        let content = match crate::runtime::content::blocks(out.content) {
            Ok(c) => c,
            Err(bad) => {
                audit("bad_output");
                tracing::warn!(plugin = %plugin.name, tool = %name, "result has bad content: {bad}");
                return ToolOutcome::error(format!(
                    "Plugin `{}` returned a result for `{name}` with bad content ({bad}), so it was withheld. This is a fault in the plugin, not in the arguments; report it to the plugin's author.",
                    plugin.name
                ));
            }
        };
        audit("ok");
        ToolOutcome {
            text: out.text,
            structured,
            content,
            is_error: false,
            meta: serde_json::Map::new(),
        }
    }
}

/// Releases a dropped call's leftovers in the background, inside the drain. A call is normally
/// ended by [`App::call_tool_until`] itself, which disarms this and releases in line.
struct ReleaseOnDrop<'a> {
    inflight: &'a InFlight,
    services: Option<Arc<CallServices>>,
    who: CallInfo,
}

impl ReleaseOnDrop<'_> {
    fn disarm(mut self) {
        self.services = None;
    }
}

impl Drop for ReleaseOnDrop<'_> {
    fn drop(&mut self) {
        let Some(services) = self.services.take().filter(|s| s.has_pending()) else {
            return;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let who = self.who.clone();
        let _enter = rt.enter();
        self.inflight
            .spawn(async move { services.release(&who, "dropped").await });
    }
}

/// Turn a failed call into the message a model can act on.
fn failure_message(plugin: &str, f: CallFailure) -> String {
    match f {
        CallFailure::Tool(e) => match e {
            tools::CallError::InvalidArguments(m) => format!("Invalid arguments: {m}"),
            tools::CallError::NotFound(m) => format!("Not found: {m}"),
            tools::CallError::Upstream(u) => {
                format!("Falcon returned HTTP {}: {}", u.status, u.message)
            }
            tools::CallError::Denied(m) => format!("Denied by aerie's policy: {m}"),
            tools::CallError::Internal(m) => format!("Plugin `{plugin}` failed: {m}"),
        },
        other => format!("Plugin `{plugin}`: {other}"),
    }
}

/// The [`Services`] implementation: every plugin request passes through here.
pub struct HostServices {
    /// The operator's policy.
    pub policy: Policy,
    /// Falcon egress; `None` when no credentials are configured.
    pub egress: Option<Arc<Egress>>,
    /// `[tenants]`: one egress per tenant; a call uses the one its scope chose.
    pub tenants: crate::tenants::Tenants,
    /// Sessions of the API clients requests bring in headers, when the operator allows it.
    pub clients: Option<crate::client_credentials::ClientTenants>,
    /// Files directory, if the operator named one.
    pub files: Option<FilesDir>,
    /// Audit log.
    pub audit: Arc<Audit>,
    /// Registry, to find the calling tool's grant.
    pub registry: Arc<Registry>,
}

impl HostServices {
    /// Refuse a request: log and audit it (within the call's allowance of records; the rest
    /// are counted) and tell the plugin why. `operation` and `reason` may carry text the plugin
    /// chose, so the log gets them escaped; the audit log is JSON and escapes by itself.
    fn deny(
        &self,
        who: &CallInfo,
        records: &RecordBudget,
        operation: &str,
        reason: String,
    ) -> falcon::Error {
        if records.admit(Record::Denied) {
            tracing::warn!(
                plugin = %who.plugin,
                tool = %who.tool,
                operation = %log_safe(operation, 256),
                reason = %log_safe(&reason, 1024),
                "operation denied"
            );
            self.audit.record(
                "denied",
                json!({"plugin": &*who.plugin, "tool": &*who.tool, "operation": truncate_str(operation, 256), "reason": reason}),
            );
        }
        falcon::Error::Denied(reason)
    }
}

impl Services for HostServices {
    fn falcon(
        &self,
        who: &CallInfo,
        records: &RecordBudget,
        req: falcon::Request,
    ) -> BoxFuture<'static, Result<falcon::Response, falcon::Error>> {
        let op_id = req.operation.clone();
        let refuse = |reason: String| {
            futures::future::ready(Err(self.deny(who, records, &op_id, reason))).boxed()
        };
        let Some(op) = Catalogue::builtin().get(&op_id) else {
            return refuse(format!("unknown operation `{}`", log_safe(&op_id, 256)));
        };
        // The grant is looked up in the current snapshot: a plugin replaced mid-call is held
        // to the policy of what is being served now, never to something wider.
        let snap = self.registry.snapshot();
        let granted = snap
            .plugins
            .get(&*who.plugin)
            .and_then(|p| p.tools.iter().find(|t| *t.desc.name == *who.tool))
            .map(|t| t.grant.granted.contains(&op_id));
        if granted != Some(true) {
            return refuse(format!(
                "operation `{op_id}` is not granted to tool `{}` of plugin `{}` (not declared by the tool, or withheld by policy)",
                who.tool, who.plugin
            ));
        }
        // Path parameters are checked here, with the other refusals, so a bad one (`..`, `.`,
        // empty, missing) is audited like them; egress sends the path rendered here.
        let path = match op.render_path(&req.path_params) {
            Ok(p) => p,
            Err(e) => return refuse(format!("{op_id}: {e}")),
        };
        if op.guard == Some(Guard::RtrCommand)
            && let Err(reason) = self.policy.rtr.check(op, req.body.as_deref())
        {
            return refuse(reason);
        }
        // The call's tenant (chosen and checked by the controls), else the one client.
        let egress = crate::tenants::current()
            .map(|(_, e)| e)
            .or_else(|| self.egress.clone());
        let Some(egress) = egress else {
            return futures::future::ready(Err(falcon::Error::Auth(
                "Falcon credentials are not configured: set FALCON_CLIENT_ID and FALCON_CLIENT_SECRET (and FALCON_BASE_URL), or try `aerie demo`".into(),
            )))
            .boxed();
        };
        let plugin = who.plugin.clone();
        let op = op.clone();
        async move { egress.perform(&plugin, &op, &path, &req).await }.boxed()
    }

    fn files(
        &self,
        who: &CallInfo,
        records: &RecordBudget,
        op: FilesOp,
    ) -> BoxFuture<'static, Result<FilesReply, files::Error>> {
        let policy = self.policy.plugin(&who.plugin);
        if !policy.files {
            return futures::future::ready(Err(files::Error::Denied(format!(
                "plugin `{}` has no file access (set [plugins.{}] files = true)",
                who.plugin, who.plugin
            ))))
            .boxed();
        }
        let Some(dir) = self.files.clone() else {
            return futures::future::ready(Err(files::Error::Denied(
                "no files directory configured (start with --files-dir DIR)".into(),
            )))
            .boxed();
        };
        let quota = policy.files_quota_mib.unwrap_or(DEFAULT_FILES_QUOTA_MIB);
        let audited = records.admit(Record::Files);
        let audit = self.audit.clone();
        let who = who.clone();
        async move {
            // File I/O blocks (and a FIFO or a slow disk could block for long): never on an
            // async worker.
            let plugin = who.plugin.clone();
            let reply = tokio::task::spawn_blocking(move || match op {
                FilesOp::Read(n) => dir.read(&n).map(FilesReply::Contents),
                FilesOp::Write(n, c) => dir.write(&plugin, quota, &n, &c).map(FilesReply::Written),
                FilesOp::List => dir.list().map(FilesReply::Listing),
                FilesOp::Stat(n) => dir.stat(&n).map(FilesReply::Info),
            })
            .await
            .unwrap_or_else(|e| {
                Err(files::Error::Io(format!(
                    "internal: files task failed: {e}"
                )))
            });
            if audited {
                audit.record(
                    "files",
                    json!({"plugin": &*who.plugin, "tool": &*who.tool, "ok": reply.is_ok()}),
                );
            }
            reply
        }
        .boxed()
    }

    fn dropped(&self, who: &CallInfo, kind: Record, count: u64) {
        let audit_kind = match kind {
            Record::Denied => "denied",
            Record::Files => "files",
            Record::Log => return,
        };
        self.audit.record(
            audit_kind,
            json!({"plugin": &*who.plugin, "tool": &*who.tool, "suppressed": count,
                   "reason": format!("{count} further {} of this call not recorded one by one", kind.noun())}),
        );
    }

    fn config(&self, who: &CallInfo, key: &str) -> Option<String> {
        self.policy
            .plugins
            .get(&*who.plugin)?
            .config
            .get(key)
            .cloned()
    }
}
