//! The response store: results over a size threshold are kept per session and the model gets a
//! summary plus a handle it pages through with built-in tools. (Placeholder: results pass.)

use serde_json::Value;

use super::Caller;
use super::builtins::Builtin;
use crate::app::{App, ToolOutcome};

/// Stored results of every session.
#[derive(Default)]
pub struct ResponseStore {}

impl ResponseStore {
    /// Keep `out` if it is large and answer with its summary and handle; small results pass.
    pub async fn keep_if_large(&self, _caller: &Caller, _tool: &str, out: ToolOutcome) -> ToolOutcome {
        out
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
