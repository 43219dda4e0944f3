//! Human approval of destructive calls: the host previews the call, asks a person (MCP
//! elicitation, or the operator's approval queue), and runs it only once approved.
//! (Placeholder: every call proceeds.)

use std::sync::Arc;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::Caller;
use super::builtins::Builtin;
use crate::app::{App, ToolOutcome};
use crate::registry::{Plugin, Tool};

/// What the approval gate decided.
pub enum Gate {
    /// Run the call.
    Proceed,
    /// Do not run it; answer with this (pending, declined, expired…).
    Respond(ToolOutcome),
}

/// Pending and decided approvals.
#[derive(Default)]
pub struct Approvals {}

impl Approvals {
    /// Decide whether `tool` may run with `args` for `caller` now.
    pub async fn gate(
        &self,
        _app: &App,
        _caller: &Caller,
        _plugin: &Arc<Plugin>,
        _tool: &Tool,
        _args: &Value,
        _cancel: &CancellationToken,
    ) -> Gate {
        Gate::Proceed
    }
}

/// Built-in tools of this control.
pub fn builtins(_app: &App, _caller: &Caller) -> Vec<Builtin> {
    Vec::new()
}

/// Run a built-in tool of this control, or `None`.
pub async fn call_builtin(
    _app: &App,
    _caller: &Caller,
    _name: &str,
    _args: &Value,
) -> Option<ToolOutcome> {
    None
}
