//! Call budgets per session and profile. (Placeholder: unlimited.)

use serde_json::Value;

use super::Caller;
use super::builtins::Builtin;
use super::profiles::Profile;
use crate::app::{App, ToolOutcome};

/// Budgets of every session.
#[derive(Default)]
pub struct Budgets {}

/// A charged call: what is left, for the result's `_meta`.
pub struct Charged {}

impl Budgets {
    /// Count one call of `tool` in `session` under `profile`; `Err` says the budget is spent.
    pub fn charge(&self, _session: &str, _profile: &Profile, _tool: &str) -> Result<Charged, String> {
        Ok(Charged {})
    }
}

impl Charged {
    /// Put the budget left into the result's `_meta`.
    pub fn annotate(&self, _out: &mut ToolOutcome) {}
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
