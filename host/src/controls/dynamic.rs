//! The dynamic tool mode: `tools/list` holds a few built-in tools that search the catalogue by
//! words, describe tools by name, and call a tool by name. (Placeholder: no tools.)

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::Caller;
use super::builtins::Builtin;
use crate::app::{App, ToolOutcome};
use crate::runtime::ProgressSink;

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
    _progress: Option<ProgressSink>,
    _cancel: &CancellationToken,
) -> Option<ToolOutcome> {
    None
}
