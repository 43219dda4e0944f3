//! Human approval of destructive calls: the host previews the call (`confirm: false`), asks a
//! person — by MCP elicitation when the client can, else through the operator's approval queue
//! (`aerie approvals …` over [`crate::admin`]'s socket) — and runs it only once approved.
//!
//! A queued approval is bound to the exact tool, canonical-argument digest and session, runs
//! once, and expires. The agent runs it with the built-in `aerie_run_approved`, which replays
//! the stored call: the agent cannot change the arguments after the person saw the preview.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::ElicitationAction;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::Caller;
use super::approval_queue::{ApprovalQueue, Enqueued, Entry, MemoryQueue};
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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
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
    /// `pending`, `approved`, `denied` or `used`.
    pub fn name(&self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved { .. } => "approved",
            Status::Denied { .. } => "denied",
            Status::Used { .. } => "used",
        }
    }
}

/// The approved call `aerie_run_approved` is running: (session, tool, argument digest).
type Running = (String, String, String);

tokio::task_local! {
    /// The approved call being run: the gate lets exactly that call through.
    static RUNNING: Running;
}

/// Longest `wait_secs` of `aerie_run_approved`.
pub const MAX_WAIT_SECS: u64 = 300;
/// How often a waiting `aerie_run_approved` looks for the decision (in the shared queue when
/// there are replicas, so a decision made through any of them releases it).
const WAIT_POLL: Duration = Duration::from_millis(250);

/// Pending and decided approvals.
pub struct Approvals {
    mode: Mode,
    patterns: Option<Vec<Pattern>>,
    ttl: Duration,
    elicit_timeout: Duration,
    max_pending: usize,
    /// `[approvals] socket`, if the operator named one.
    pub socket: Option<PathBuf>,
    queue: Arc<dyn ApprovalQueue>,
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
            queue: Arc::new(MemoryQueue::default()),
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

    /// The same approvals kept in `queue` (a shared one, for replicas).
    pub fn on_queue(mut self, queue: Arc<dyn ApprovalQueue>) -> Approvals {
        self.queue = queue;
        self
    }

    /// An operator-facing error for a queue that cannot be reached.
    fn unreachable(e: crate::state::StateError) -> String {
        format!("the approval queue cannot be reached, so nothing was recorded: {e}")
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
        if RUNNING
            .try_with(|(session, tool, d)| {
                *session == caller.session && tool == name && *d == digest
            })
            .unwrap_or(false)
        {
            return Gate::Proceed;
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
            return self
                .decide_elicited(app, caller, plugin, name, &digest, a.round_id(), answer)
                .await;
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
                return self
                    .decide_elicited(app, caller, plugin, name, &digest, a.round_id(), answer)
                    .await;
            }
            // The client claimed elicitation but could not do it: the queue still works.
            tracing::warn!(tool = %name, "elicitation failed; queueing the approval for the operator");
        }
        Gate::Respond(
            self.enqueue(
                app,
                caller,
                plugin,
                name,
                args,
                digest,
                preview,
                preview_structured,
            )
            .await,
        )
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
    async fn decide_elicited(
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
                        // Recorded in the queue's backend: with replicas, a round's answer
                        // replayed to another replica is refused too.
                        let first = match &round {
                            Some(r) => self.queue.first_use(r, self.elicit_timeout).await,
                            None => Ok(true),
                        };
                        if let Err(e) = first {
                            audit("failed");
                            return Gate::Respond(ToolOutcome::error(format!(
                                "The person approved `{name}`, but {}; nothing was sent to Falcon. Call the tool again later.",
                                Self::unreachable(e)
                            )));
                        }
                        if matches!(first, Ok(false)) {
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

    /// Queue the call for the operator (or find it already queued) and say so to the agent.
    #[allow(clippy::too_many_arguments)]
    async fn enqueue(
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
        let fresh = Entry {
            id: format!("ap-{}", hex::encode(rand::random::<[u8; 6]>())),
            tool: name.to_string(),
            plugin: plugin.name.clone(),
            args: args.clone(),
            digest: digest.clone(),
            session: caller.session.clone(),
            client: caller.client.clone(),
            preview: preview.clone(),
            preview_structured,
            created_unix: crate::state::now_ms() / 1000,
            expires_ms: crate::state::expiry_ms(crate::state::now_ms(), self.ttl),
            status: Status::Pending,
        };
        let id = match self.queue.enqueue(fresh.clone(), self.max_pending).await {
            Ok(Enqueued::Found(id)) => id,
            Ok(Enqueued::Added) => {
                app.services.audit.record(
                    "approval",
                    json!({"id": fresh.id, "tool": name, "plugin": plugin.name, "args_sha256": digest,
                           "session": caller.session, "client": caller.client, "decision": "pending"}),
                );
                fresh.id
            }
            Ok(Enqueued::Full(n)) => {
                return ToolOutcome::error(format!(
                    "`{name}` needs an operator's approval, but {n} approvals are already waiting ([approvals] max_pending); nothing was sent to Falcon. Try again once the operator has decided some."
                ));
            }
            Err(e) => {
                return ToolOutcome::error(format!(
                    "`{name}` needs an operator's approval, and {}; nothing was sent to Falcon. Try again later.",
                    Self::unreachable(e)
                ));
            }
        };
        let mut out = ToolOutcome::error(format!(
            "`{name}` needs a person's approval before it runs; nothing was sent to Falcon. \
             It is queued as approval `{id}` (expires in {} s). Ask the operator to run `aerie approvals approve {id}`; \
             once approved, call `{RUN_APPROVED}` with {{\"approval_id\": \"{id}\"}} to run exactly this call \
             (add \"wait_secs\" to wait for the decision).\n\nPreview: {preview}",
            self.ttl.as_secs()
        ));
        out.meta.insert(
            "aerie/approval".into(),
            json!({"id": id, "status": "pending", "expires_in_secs": self.ttl.as_secs()}),
        );
        out
    }

    /// Every unexpired approval (and recently expired ones, marked so), for `aerie approvals list`.
    pub async fn list(&self) -> Result<Vec<Value>, AdminError> {
        let all = self.queue.all().await.map_err(Self::unreachable)?;
        Ok(all.iter().map(|e| e.view(false)).collect())
    }

    /// One approval in full.
    pub async fn show(&self, id: &str) -> Result<Value, AdminError> {
        self.queue
            .get(id)
            .await
            .map_err(Self::unreachable)?
            .map(|e| e.view(true))
            .ok_or_else(|| format!("no approval `{id}` (see `aerie approvals list`)"))
    }

    /// Approve (`reason` None and `approve`) or deny a pending approval; audited with `by`.
    /// Recorded once: of two operators deciding at once (on any replicas), one is told it is
    /// already decided.
    pub async fn decide(
        &self,
        app: &App,
        id: &str,
        approve: bool,
        reason: Option<String>,
        by: &str,
    ) -> Result<Value, AdminError> {
        let ttl = self.ttl.as_secs();
        let decision = if approve {
            Status::Approved { by: by.to_string() }
        } else {
            Status::Denied {
                by: by.to_string(),
                reason: reason.clone(),
            }
        };
        let change = move |e: &mut Entry| {
            if e.expired() {
                return Err(format!(
                    "approval `{}` has expired ([approvals] ttl_secs = {ttl}); the agent must call the tool again",
                    e.id
                ));
            }
            if e.status != Status::Pending {
                return Err(format!(
                    "approval `{}` is already {}",
                    e.id,
                    e.status.name()
                ));
            }
            e.status = decision.clone();
            Ok(())
        };
        let e = match self
            .queue
            .update(id, &change)
            .await
            .map_err(Self::unreachable)?
        {
            None => return Err(format!("no approval `{id}` (see `aerie approvals list`)")),
            Some(r) => r?,
        };
        app.services.audit.record(
            "approval",
            json!({"id": id, "tool": e.tool, "plugin": e.plugin, "args_sha256": e.digest, "session": e.session,
                   "decision": if approve { "approved" } else { "denied" }, "by": by, "reason": reason}),
        );
        Ok(e.view(false))
    }

    /// `aerie_run_approved`: run approval `id`'s call once, for the session that made it;
    /// while it is pending, wait up to `wait` for the operator's decision.
    async fn run_approved(
        &self,
        app: &App,
        caller: &Caller,
        id: &str,
        wait: Duration,
        progress: Option<ProgressSink>,
        cancel: &CancellationToken,
    ) -> ToolOutcome {
        let ttl = self.ttl.as_secs();
        // Another session's approval is "not found": ids are not shared between agents.
        let not_found = || {
            ToolOutcome::error(format!(
                "No approval `{id}` for this session. Call the tool again to queue a new one."
            ))
        };
        let session = caller.session.clone();
        let change = move |e: &mut Entry| {
            if e.session != session {
                return Err(String::new());
            }
            if e.expired() && !matches!(e.status, Status::Used { .. }) {
                return Err(format!(
                    "Approval `{}` has expired (approvals last {ttl} s); nothing was sent to Falcon. Call `{}` again to queue a new one.",
                    e.id, e.tool
                ));
            }
            match e.status.clone() {
                Status::Pending => Err(format!(
                    "Approval `{}` is still pending: the operator has not decided yet. Nothing was sent to Falcon; try again later (with \"wait_secs\" to wait for the decision).",
                    e.id
                )),
                Status::Denied { by, reason } => {
                    let why = reason
                        .as_deref()
                        .map_or(String::new(), |r| format!(": {r}"));
                    Err(format!(
                        "Approval `{}` was denied by {by}{why}. Nothing was sent to Falcon; do not retry unless asked.",
                        e.id
                    ))
                }
                Status::Used { .. } => Err(format!(
                    "Approval `{}` was already used; an approval runs its call once. Call `{}` again to queue a new one.",
                    e.id, e.tool
                )),
                Status::Approved { by } => {
                    e.status = Status::Used { by };
                    Ok(())
                }
            }
        };
        let deadline = tokio::time::Instant::now() + wait;
        let unreachable = |e| {
            ToolOutcome::error(format!(
                "Approval `{id}` could not be run: {}. Nothing was sent to Falcon; try again later.",
                Self::unreachable(e)
            ))
        };
        let e = loop {
            // Waiting: look without changing anything until the decision is in.
            if tokio::time::Instant::now() < deadline {
                match self.queue.get(id).await {
                    Err(e) => return unreachable(e),
                    Ok(Some(e))
                        if e.session == caller.session
                            && e.status == Status::Pending
                            && !e.expired() =>
                    {
                        tokio::select! {
                            _ = tokio::time::sleep(WAIT_POLL) => continue,
                            _ = cancel.cancelled() => return ToolOutcome::error(format!(
                                "The wait for approval `{id}` was cancelled; nothing was sent to Falcon."
                            )),
                        }
                    }
                    Ok(_) => {}
                }
            }
            match self.queue.update(id, &change).await {
                Err(e) => return unreachable(e),
                Ok(None) => return not_found(),
                Ok(Some(Err(why))) if why.is_empty() => return not_found(),
                Ok(Some(Err(why))) => return ToolOutcome::error(why),
                Ok(Some(Ok(e))) => break e,
            }
        };
        let by = match &e.status {
            Status::Used { by } => by.clone(),
            _ => String::new(),
        };
        app.services.audit.record(
            "approval",
            json!({"id": id, "tool": e.tool, "plugin": e.plugin, "args_sha256": e.digest,
                   "session": e.session, "decision": "used", "by": by}),
        );
        RUNNING
            .scope(
                (e.session.clone(), e.tool.clone(), e.digest.clone()),
                app.call_plugin_tool_as(caller, &e.tool, e.args.clone(), progress, cancel),
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
            "properties": {
                "approval_id": {"type": "string", "description": "Id from the pending-approval answer (ap-…)"},
                "wait_secs": {"type": "integer", "minimum": 0, "maximum": MAX_WAIT_SECS, "description": "While the approval is pending, wait this long for the operator's decision (default 0: answer at once)"}
            },
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
    let wait = match args.get("wait_secs") {
        None | Some(Value::Null) => 0,
        Some(v) => match v.as_u64().filter(|w| *w <= MAX_WAIT_SECS) {
            Some(w) => w,
            None => {
                return Some(ToolOutcome::error(format!(
                    "`{RUN_APPROVED}`: wait_secs must be a whole number of seconds, 0..={MAX_WAIT_SECS}, not {v}"
                )));
            }
        },
    };
    Some(
        app.controls
            .approvals
            .run_approved(app, caller, id, Duration::from_secs(wait), progress, cancel)
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
