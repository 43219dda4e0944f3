//! Human approval of destructive calls: the host previews the call (`confirm: false`), asks a
//! person — by MCP elicitation when the client can, else through the operator's approval queue
//! (`aerie approvals …` over [`crate::admin`]'s socket) — and runs it only once approved.
//!
//! A queued approval is bound to the exact tool, canonical-argument digest and session, runs
//! once, and expires. The agent runs it with the built-in `aerie_run_approved`, which replays
//! the stored call: the agent cannot change the arguments after the person saw the preview.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rmcp::model::ElicitationAction;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::Caller;
use super::builtins::Builtin;
use super::profiles::Pattern;
use crate::app::{App, ToolOutcome};
use crate::client_input::{Answer, Kind, Pending, Question, Unanswered};
use crate::registry::{Plugin, Tool};
use crate::runtime::{ProgressSink, tools::Tier};

/// Name of the built-in tool that runs an approved call.
pub const RUN_APPROVED: &str = "aerie_run_approved";
/// Default `[approvals] ttl_secs`: how long a queued approval stays usable.
pub const DEFAULT_TTL_SECS: u64 = 900;
/// Accepted `[approvals] ttl_secs`.
pub const TTL_RANGE: std::ops::RangeInclusive<u64> = 1..=86_400;
/// Default `[approvals] elicit_timeout_secs`: how long a call waits for the person's answer.
pub const DEFAULT_ELICIT_TIMEOUT_SECS: u64 = 300;
/// Accepted `[approvals] elicit_timeout_secs`.
pub const ELICIT_TIMEOUT_RANGE: std::ops::RangeInclusive<u64> = 1..=3_600;
/// Default `[approvals] max_pending`: approvals kept at once (pending or decided, unexpired).
pub const DEFAULT_MAX_PENDING: usize = 64;
/// Accepted `[approvals] max_pending`.
pub const MAX_PENDING_RANGE: std::ops::RangeInclusive<usize> = 1..=4_096;
/// The key of the approval question (the answer comes back under it).
const APPROVAL_KEY: &str = "aerie_approval";
/// Preview text kept per approval (the person sees it; the rest is cut, saying so).
const MAX_PREVIEW_BYTES: usize = 16 << 10;

/// How destructive calls are approved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Ask by MCP elicitation when the client supports it, else queue for the operator.
    #[default]
    ElicitOrQueue,
    /// Always queue for the operator (`aerie approvals`).
    Queue,
    /// No approval: `confirm: true` runs at once.
    Off,
}

/// `[approvals]` in `aerie.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApprovalsFile {
    /// `elicit-or-queue` (default), `queue` or `off`.
    pub mode: Option<Mode>,
    /// Glob patterns (`*`, `?`) of the write tools that need approval (default: every
    /// destructive tool).
    pub tools: Option<Vec<String>>,
    /// Seconds a queued approval stays usable (default 900).
    pub ttl_secs: Option<u64>,
    /// Seconds a call waits for an elicitation answer (default 300).
    pub elicit_timeout_secs: Option<u64>,
    /// Approvals kept at once (default 64); past it new calls are refused until some expire.
    pub max_pending: Option<usize>,
    /// The operator's admin socket (default `$XDG_RUNTIME_DIR/aerie/admin.sock`, else
    /// `<cache dir>/aerie/admin.sock`).
    pub socket: Option<PathBuf>,
}

impl ApprovalsFile {
    /// Refuses out-of-range values and patterns that are not tool names or globs, naming the key.
    pub fn validate(&self) -> Result<(), String> {
        let range = |key: &str, v: Option<u64>, r: std::ops::RangeInclusive<u64>| match v {
            Some(v) if !r.contains(&v) => Err(format!(
                "[approvals] {key} must be {}..={}, not {v}",
                r.start(),
                r.end()
            )),
            _ => Ok(()),
        };
        range("ttl_secs", self.ttl_secs, TTL_RANGE)?;
        range(
            "elicit_timeout_secs",
            self.elicit_timeout_secs,
            ELICIT_TIMEOUT_RANGE,
        )?;
        if let Some(m) = self.max_pending
            && !MAX_PENDING_RANGE.contains(&m)
        {
            return Err(format!(
                "[approvals] max_pending must be {}..={}, not {m}",
                MAX_PENDING_RANGE.start(),
                MAX_PENDING_RANGE.end()
            ));
        }
        for p in self.tools.iter().flatten() {
            Pattern::parse(p).map_err(|e| format!("[approvals] tools: {e}"))?;
        }
        Ok(())
    }
}

/// Where a decision came from, as audited.
fn who_elicited(caller: &Caller) -> String {
    format!("elicitation:{}", caller.client)
}

/// State of one approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Waiting for the operator.
    Pending,
    /// Approved by `by`; not run yet.
    Approved {
        /// Who approved.
        by: String,
    },
    /// Denied by `by`.
    Denied {
        /// Who denied.
        by: String,
        /// Their reason, if given.
        reason: Option<String>,
    },
    /// Approved and run.
    Used {
        /// Who approved.
        by: String,
    },
}

impl Status {
    fn name(&self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved { .. } => "approved",
            Status::Denied { .. } => "denied",
            Status::Used { .. } => "used",
        }
    }
}

/// One queued call awaiting (or past) a decision.
#[derive(Debug, Clone)]
struct Entry {
    id: String,
    tool: String,
    plugin: String,
    args: Value,
    digest: String,
    session: String,
    client: String,
    preview: String,
    preview_structured: Option<Value>,
    created: SystemTime,
    expires: Instant,
    status: Status,
}

impl Entry {
    fn expired(&self) -> bool {
        Instant::now() >= self.expires
    }

    /// What the operator sees; `full` adds the arguments and the structured preview.
    fn view(&self, full: bool) -> Value {
        let created = self
            .created
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let left = self.expires.saturating_duration_since(Instant::now());
        let mut v = json!({
            "id": self.id, "tool": self.tool, "plugin": self.plugin, "client": self.client,
            "session": self.session, "args_sha256": self.digest,
            "status": if self.expired() && !matches!(self.status, Status::Used { .. }) { "expired" } else { self.status.name() },
            "created_unix": created, "expires_in_secs": left.as_secs(), "preview": self.preview,
        });
        match &self.status {
            Status::Approved { by } | Status::Used { by } => v["decided_by"] = json!(by),
            Status::Denied { by, reason } => {
                v["decided_by"] = json!(by);
                v["reason"] = json!(reason);
            }
            Status::Pending => {}
        }
        if full {
            v["args"] = self.args.clone();
            v["preview_structured"] = self.preview_structured.clone().unwrap_or(Value::Null);
        }
        v
    }
}

tokio::task_local! {
    /// The approval id `aerie_run_approved` is running: the gate lets exactly that call through.
    static RUNNING: String;
}

/// Pending and decided approvals.
pub struct Approvals {
    mode: Mode,
    patterns: Option<Vec<Pattern>>,
    ttl: Duration,
    elicit_timeout: Duration,
    max_pending: usize,
    /// `[approvals] socket`, if the operator named one.
    pub socket: Option<PathBuf>,
    queue: Mutex<BTreeMap<String, Entry>>,
    /// Input-required rounds whose approval ran its call, until their state expires.
    used_rounds: Mutex<std::collections::HashMap<String, Instant>>,
}

impl Default for Approvals {
    fn default() -> Self {
        Approvals::new(&ApprovalsFile::default())
    }
}

/// A refused operator request.
pub type AdminError = String;

impl Approvals {
    /// The approvals `[approvals]` configures.
    pub fn new(f: &ApprovalsFile) -> Approvals {
        Approvals {
            mode: f.mode.unwrap_or_default(),
            // `validate` refused any pattern that does not parse.
            patterns: f
                .tools
                .as_ref()
                .map(|ps| ps.iter().filter_map(|p| Pattern::parse(p).ok()).collect()),
            ttl: Duration::from_secs(f.ttl_secs.unwrap_or(DEFAULT_TTL_SECS)),
            elicit_timeout: Duration::from_secs(
                f.elicit_timeout_secs.unwrap_or(DEFAULT_ELICIT_TIMEOUT_SECS),
            ),
            max_pending: f.max_pending.unwrap_or(DEFAULT_MAX_PENDING),
            socket: f.socket.clone(),
            queue: Mutex::new(BTreeMap::new()),
            used_rounds: Mutex::default(),
        }
    }

    /// The `[approvals] tools` patterns, when the operator narrowed the gated tools.
    pub fn patterns(&self) -> Option<&[Pattern]> {
        self.patterns.as_deref()
    }

    /// How long a call waits for a person's answer (`[approvals] elicit_timeout_secs`); also how
    /// long a 2026-07-28 client has to answer an input-required round.
    pub fn elicit_timeout(&self) -> Duration {
        self.elicit_timeout
    }

    /// The configured mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Whether calls of `tool` need a person's approval (write tools only: a read changes
    /// nothing).
    pub fn gates(&self, tool: &Tool) -> bool {
        if self.mode == Mode::Off || tool.desc.tier != Tier::Write {
            return false;
        }
        match &self.patterns {
            None => tool.desc.destructive,
            Some(p) => p.iter().any(|p| p.matches(&tool.desc.name)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        // A panic while holding the lock leaves the map consistent (every update is one
        // insert or field assignment), so a poisoned lock is still usable.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Decide whether `tool` may run with `args` for `caller` now.
    pub async fn gate(
        &self,
        app: &App,
        caller: &Caller,
        plugin: &Arc<Plugin>,
        tool: &Tool,
        args: &Value,
        cancel: &CancellationToken,
    ) -> Gate {
        if !self.gates(tool) {
            return Gate::Proceed;
        }
        let name = tool.desc.name.as_str();
        let has_confirm = tool
            .schema
            .get("properties")
            .and_then(|p| p.get("confirm"))
            .is_some();
        // A tool with the confirm convention only acts with confirm: true; one without it
        // acts on every call, so every call is gated.
        if has_confirm && args.get("confirm") != Some(&Value::Bool(true)) {
            return Gate::Proceed;
        }
        let digest = args_digest(args);
        if let Ok(id) = RUNNING.try_with(String::clone) {
            let q = self.lock();
            if q.get(&id).is_some_and(|e| {
                e.tool == name && e.digest == digest && e.session == caller.session
            }) {
                return Gate::Proceed;
            }
        }
        let asker = crate::client_input::current()
            .filter(|a| self.mode == Mode::ElicitOrQueue && a.supports(Kind::Elicit));
        // A 2026-07-28 client that answered already sends the call again with the answer:
        // the person saw the preview in the question, so it is not run a second time.
        if let Some(a) = &asker
            && a.has_answer(APPROVAL_KEY)
        {
            let ask = Question::elicit(
                APPROVAL_KEY,
                "",
                json!({"type": "object", "properties": {}}),
            );
            let answer = a.ask(&[ask], None).await;
            return self.decide_elicited(app, caller, plugin, name, &digest, a.round_id(), answer);
        }
        // The preview: the same call with confirm false (it reads, never writes).
        let (preview, preview_structured) = if has_confirm {
            let mut p = args.clone();
            p["confirm"] = Value::Bool(false);
            let out = app
                .call_tool_until(&caller.client, name, p, None, cancel)
                .await;
            if out.is_error {
                return Gate::Respond(ToolOutcome::error(format!(
                    "`{name}` needs a person's approval, and its preview failed, so nothing was sent to Falcon: {}",
                    out.text
                )));
            }
            (truncated(out.text), out.structured)
        } else {
            (
                format!("`{name}` has no preview: it will run with the arguments shown."),
                None,
            )
        };
        let shown = format!(
            "An AI agent ({}) asks to run `{name}` (plugin {}) with arguments:\n{}\n\nPreview: {preview}\n\nApprove?",
            caller.client,
            plugin.name,
            truncated(serde_json::to_string_pretty(args).unwrap_or_default())
        );
        if let Some(a) = &asker {
            let ask = [Question::elicit(
                APPROVAL_KEY,
                &shown,
                json!({"type": "object", "properties": {}}),
            )];
            let answer = tokio::select! {
                a = a.ask(&ask, Some(self.elicit_timeout)) => a,
                _ = cancel.cancelled() => {
                    self.audit_elicited(app, caller, plugin, name, &digest, "cancelled");
                    return Gate::Respond(ToolOutcome::error(
                        "The call was cancelled while waiting for approval. No write had been sent to Falcon.",
                    ));
                }
            };
            let failed = matches!(&answer, Ok(v) if matches!(v.first(), Some(Err(Unanswered::Failed(_) | Unanswered::Unsupported))));
            if !failed {
                return self.decide_elicited(
                    app,
                    caller,
                    plugin,
                    name,
                    &digest,
                    a.round_id(),
                    answer,
                );
            }
            // The client claimed elicitation but could not do it: the queue still works.
            tracing::warn!(tool = %name, "elicitation failed; queueing the approval for the operator");
        }
        Gate::Respond(self.enqueue(
            app,
            caller,
            plugin,
            name,
            args,
            digest,
            preview,
            preview_structured,
        ))
    }

    /// Audit an approval decided (or cut short) by elicitation.
    fn audit_elicited(
        &self,
        app: &App,
        caller: &Caller,
        plugin: &Plugin,
        name: &str,
        digest: &str,
        decision: &str,
    ) {
        app.services.audit.record(
            "approval",
            json!({"id": Value::Null, "tool": name, "plugin": plugin.name, "args_sha256": digest,
                   "session": caller.session, "decision": decision, "by": who_elicited(caller)}),
        );
    }

    /// What the person's answer to the approval question means for the call. `round` is the
    /// input-required round the answer came in (2026-07-28): each round's answer runs the call
    /// once, so a client that sends the same answer again is refused.
    #[allow(clippy::too_many_arguments)]
    fn decide_elicited(
        &self,
        app: &App,
        caller: &Caller,
        plugin: &Plugin,
        name: &str,
        digest: &str,
        round: Option<String>,
        answer: Result<Vec<Answer>, Pending>,
    ) -> Gate {
        let audit = |d: &str| self.audit_elicited(app, caller, plugin, name, digest, d);
        let answer = match answer {
            // Asked in an input-required result: the client answers in its next round.
            Err(Pending) => {
                audit("asked");
                return Gate::Respond(ToolOutcome::error(format!(
                    "`{name}` waits for a person's approval; nothing was sent to Falcon."
                )));
            }
            Ok(mut v) => v.pop(),
        };
        match answer {
            Some(Ok(v)) => {
                let action =
                    serde_json::from_value::<rmcp::model::ElicitResult>(v).map(|r| r.action);
                match action {
                    Ok(ElicitationAction::Accept) => {
                        if let Some(r) = round
                            && !self.first_use_of_round(&r)
                        {
                            audit("replayed");
                            return Gate::Respond(ToolOutcome::error(format!(
                                "This approval of `{name}` was already used; an approval runs its call once. Nothing was sent to Falcon; call the tool again to ask the person again."
                            )));
                        }
                        audit("approved");
                        Gate::Proceed
                    }
                    // Decline, cancel, and any answer a later protocol adds: no.
                    other => {
                        let d = if other.ok() == Some(ElicitationAction::Decline) {
                            "declined"
                        } else {
                            "cancelled"
                        };
                        audit(d);
                        Gate::Respond(ToolOutcome::error(format!(
                            "The person {d} `{name}` when asked to approve it; nothing was sent to Falcon. Do not retry unless they ask you to."
                        )))
                    }
                }
            }
            Some(Err(Unanswered::TimedOut)) => {
                audit("timed_out");
                Gate::Respond(ToolOutcome::error(format!(
                    "No answer from the person within {} s to approve `{name}`; nothing was sent to Falcon.",
                    self.elicit_timeout.as_secs()
                )))
            }
            Some(Err(e)) => {
                audit("failed");
                Gate::Respond(ToolOutcome::error(format!(
                    "Asking the person to approve `{name}` failed ({e:?}); nothing was sent to Falcon."
                )))
            }
            None => Gate::Respond(ToolOutcome::error("no answer to the approval question")),
        }
    }

    /// Record that the answer of input-required round `round` ran its call; false if it had.
    fn first_use_of_round(&self, round: &str) -> bool {
        let mut used = self.used_rounds.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        used.retain(|_, until| *until > now);
        used.insert(round.to_string(), now + self.elicit_timeout)
            .is_none()
    }

    /// Queue the call for the operator (or find it already queued) and say so to the agent.
    #[allow(clippy::too_many_arguments)]
    fn enqueue(
        &self,
        app: &App,
        caller: &Caller,
        plugin: &Plugin,
        name: &str,
        args: &Value,
        digest: String,
        preview: String,
        preview_structured: Option<Value>,
    ) -> ToolOutcome {
        let mut q = self.lock();
        q.retain(|_, e| !e.expired());
        let existing = q
            .values()
            .find(|e| {
                e.session == caller.session
                    && e.tool == name
                    && e.digest == digest
                    && e.status == Status::Pending
            })
            .map(|e| e.id.clone());
        let id = match existing {
            Some(id) => id,
            None => {
                if q.len() >= self.max_pending {
                    return ToolOutcome::error(format!(
                        "`{name}` needs an operator's approval, but {} approvals are already waiting ([approvals] max_pending); nothing was sent to Falcon. Try again once the operator has decided some.",
                        q.len()
                    ));
                }
                let id = format!("ap-{}", hex::encode(rand::random::<[u8; 6]>()));
                q.insert(
                    id.clone(),
                    Entry {
                        id: id.clone(),
                        tool: name.to_string(),
                        plugin: plugin.name.clone(),
                        args: args.clone(),
                        digest: digest.clone(),
                        session: caller.session.clone(),
                        client: caller.client.clone(),
                        preview: preview.clone(),
                        preview_structured,
                        created: SystemTime::now(),
                        expires: Instant::now() + self.ttl,
                        status: Status::Pending,
                    },
                );
                app.services.audit.record(
                    "approval",
                    json!({"id": id, "tool": name, "plugin": plugin.name, "args_sha256": digest,
                           "session": caller.session, "client": caller.client, "decision": "pending"}),
                );
                id
            }
        };
        let mut out = ToolOutcome::error(format!(
            "`{name}` needs a person's approval before it runs; nothing was sent to Falcon. \
             It is queued as approval `{id}` (expires in {} s). Ask the operator to run `aerie approvals approve {id}`; \
             once approved, call `{RUN_APPROVED}` with {{\"approval_id\": \"{id}\"}} to run exactly this call.\n\nPreview: {preview}",
            self.ttl.as_secs()
        ));
        out.meta.insert(
            "aerie/approval".into(),
            json!({"id": id, "status": "pending", "expires_in_secs": self.ttl.as_secs()}),
        );
        out
    }

    /// Every unexpired approval (and recently expired ones, marked so), for `aerie approvals list`.
    pub fn list(&self) -> Vec<Value> {
        let mut q = self.lock();
        // Expired entries are shown once more as expired, then dropped at the next call.
        let out = q.values().map(|e| e.view(false)).collect();
        q.retain(|_, e| !e.expired());
        out
    }

    /// One approval in full.
    pub fn show(&self, id: &str) -> Result<Value, AdminError> {
        self.lock()
            .get(id)
            .map(|e| e.view(true))
            .ok_or_else(|| format!("no approval `{id}` (see `aerie approvals list`)"))
    }

    /// Approve (`reason` None and `approve`) or deny a pending approval; audited with `by`.
    pub fn decide(
        &self,
        app: &App,
        id: &str,
        approve: bool,
        reason: Option<String>,
        by: &str,
    ) -> Result<Value, AdminError> {
        let mut q = self.lock();
        let Some(e) = q.get_mut(id) else {
            return Err(format!("no approval `{id}` (see `aerie approvals list`)"));
        };
        if e.expired() {
            return Err(format!(
                "approval `{id}` has expired ([approvals] ttl_secs = {}); the agent must call the tool again",
                self.ttl.as_secs()
            ));
        }
        if e.status != Status::Pending {
            return Err(format!("approval `{id}` is already {}", e.status.name()));
        }
        e.status = if approve {
            Status::Approved { by: by.to_string() }
        } else {
            Status::Denied {
                by: by.to_string(),
                reason: reason.clone(),
            }
        };
        app.services.audit.record(
            "approval",
            json!({"id": id, "tool": e.tool, "plugin": e.plugin, "args_sha256": e.digest, "session": e.session,
                   "decision": if approve { "approved" } else { "denied" }, "by": by, "reason": reason}),
        );
        Ok(e.view(false))
    }

    /// `aerie_run_approved`: run approval `id`'s call once, for the session that made it.
    async fn run_approved(
        &self,
        app: &App,
        caller: &Caller,
        id: &str,
        progress: Option<ProgressSink>,
        cancel: &CancellationToken,
    ) -> ToolOutcome {
        let (tool, args) = {
            let mut q = self.lock();
            // Another session's approval is "not found": ids are not shared between agents.
            let Some(e) = q.get_mut(id).filter(|e| e.session == caller.session) else {
                return ToolOutcome::error(format!(
                    "No approval `{id}` for this session. Call the tool again to queue a new one."
                ));
            };
            if e.expired() && !matches!(e.status, Status::Used { .. }) {
                return ToolOutcome::error(format!(
                    "Approval `{id}` has expired (approvals last {} s); nothing was sent to Falcon. Call `{}` again to queue a new one.",
                    self.ttl.as_secs(),
                    e.tool
                ));
            }
            match e.status.clone() {
                Status::Pending => {
                    return ToolOutcome::error(format!(
                        "Approval `{id}` is still pending: the operator has not decided yet. Nothing was sent to Falcon; try again later."
                    ));
                }
                Status::Denied { by, reason } => {
                    let why = reason
                        .as_deref()
                        .map_or(String::new(), |r| format!(": {r}"));
                    return ToolOutcome::error(format!(
                        "Approval `{id}` was denied by {by}{why}. Nothing was sent to Falcon; do not retry unless asked."
                    ));
                }
                Status::Used { .. } => {
                    return ToolOutcome::error(format!(
                        "Approval `{id}` was already used; an approval runs its call once. Call `{}` again to queue a new one.",
                        e.tool
                    ));
                }
                Status::Approved { by } => {
                    e.status = Status::Used { by: by.clone() };
                    app.services.audit.record(
                        "approval",
                        json!({"id": id, "tool": e.tool, "plugin": e.plugin, "args_sha256": e.digest,
                               "session": e.session, "decision": "used", "by": by}),
                    );
                }
            }
            (e.tool.clone(), e.args.clone())
        };
        RUNNING
            .scope(
                id.to_string(),
                app.call_plugin_tool_as(caller, &tool, args, progress, cancel),
            )
            .await
    }

    /// Whether `caller` sees a gated tool (so `aerie_run_approved` is worth listing).
    fn any_gated(&self, app: &App, caller: &Caller) -> bool {
        if self.mode == Mode::Off {
            return false;
        }
        let snap = app.registry.snapshot();
        snap.tools
            .keys()
            .filter_map(|n| snap.tool(n))
            .any(|(_, t)| self.gates(t) && caller.profile.allows_tool(t))
    }
}

/// What the approval gate decided.
pub enum Gate {
    /// Run the call.
    Proceed,
    /// Do not run it; answer with this (pending, declined, expired…).
    Respond(ToolOutcome),
}

/// SHA-256 of the arguments with object keys sorted, so key order does not matter.
pub fn args_digest(args: &Value) -> String {
    hex::encode(Sha256::digest(
        super::cache::canonical_json(args).as_bytes(),
    ))
}

/// `text` cut to [`MAX_PREVIEW_BYTES`], saying so.
fn truncated(text: String) -> String {
    if text.len() <= MAX_PREVIEW_BYTES {
        return text;
    }
    format!(
        "{}… (cut at {MAX_PREVIEW_BYTES} bytes)",
        crate::runtime::truncate_str(&text, MAX_PREVIEW_BYTES)
    )
}

/// Built-in tools of this control: `aerie_run_approved`, when the caller sees a gated tool.
pub fn builtins(app: &App, caller: &Caller) -> Vec<Builtin> {
    if !app.controls.approvals.any_gated(app, caller) {
        return Vec::new();
    }
    vec![Builtin {
        name: RUN_APPROVED,
        title: "Run an approved call",
        description: "Run a destructive call a person approved, by the approval id its first attempt returned. Runs exactly the approved tool and arguments, once.",
        schema: json!({
            "type": "object",
            "properties": {"approval_id": {"type": "string", "description": "Id from the pending-approval answer (ap-…)"}},
            "required": ["approval_id"],
            "additionalProperties": false,
        }),
        // It runs a write tool.
        read_only: false,
    }]
}

/// Run a built-in tool of this control, or `None`.
pub async fn call_builtin(
    app: &App,
    caller: &Caller,
    name: &str,
    args: &Value,
    progress: Option<ProgressSink>,
    cancel: &CancellationToken,
) -> Option<ToolOutcome> {
    if name != RUN_APPROVED {
        return None;
    }
    let Some(id) = args.get("approval_id").and_then(Value::as_str) else {
        return Some(ToolOutcome::error(format!(
            "`{RUN_APPROVED}` needs {{\"approval_id\": \"ap-…\"}}, the id the pending-approval answer gave."
        )));
    };
    Some(
        app.controls
            .approvals
            .run_approved(app, caller, id, progress, cancel)
            .await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_pick_the_gated_write_tools() {
        let f = ApprovalsFile {
            tools: Some(vec!["hosts_*".into(), "rtr_run_response_command".into()]),
            ..Default::default()
        };
        f.validate().unwrap();
        let a = Approvals::new(&f);
        let p = a.patterns.as_ref().unwrap();
        assert!(p.iter().any(|p| p.matches("hosts_contain")));
        assert!(!p.iter().any(|p| p.matches("rtr_init_session")));
    }

    #[test]
    fn digest_ignores_key_order() {
        let a = json!({"ids": ["x"], "confirm": true, "n": {"b": 1, "a": 2}});
        let b = json!({"n": {"a": 2, "b": 1}, "confirm": true, "ids": ["x"]});
        assert_eq!(args_digest(&a), args_digest(&b));
        assert_ne!(
            args_digest(&a),
            args_digest(&json!({"ids": ["y"], "confirm": true}))
        );
    }

    #[test]
    fn config_values_are_checked() {
        let f = ApprovalsFile {
            ttl_secs: Some(0),
            ..Default::default()
        };
        assert!(
            f.validate()
                .unwrap_err()
                .contains("ttl_secs must be 1..=86400")
        );
        let f = ApprovalsFile {
            tools: Some(vec![" ".into()]),
            ..Default::default()
        };
        assert!(
            f.validate()
                .unwrap_err()
                .contains("[approvals] tools: ` ` contains ` `")
        );
    }
}
