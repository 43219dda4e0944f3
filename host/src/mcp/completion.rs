//! `completion/complete`: suggested values for a prompt's argument or a resource template's
//! variable, answered by the plugin that declared the completer the argument names (through
//! its `mcp.complete` export, under the grant of the read tool the completer names).
//!
//! A person is typing, so every answer is bounded: the plugin gets [`DEADLINE`], at most
//! [`MAX_VALUES`] values of at most [`MAX_VALUE_BYTES`] each are kept (values with control
//! characters are dropped), and anything that goes wrong answers with no suggestions rather
//! than an error. Completions are not charged to call budgets (every keystroke would spend
//! them); their Falcon requests are paced and audited like every other.

use std::time::Duration;

use rmcp::ErrorData as McpError;
use rmcp::model::{CompleteRequestParams, CompleteResult, CompletionInfo, Reference};
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::controls::Caller;
use crate::runtime::CallInfo;

/// How long a plugin gets to answer.
pub const DEADLINE: Duration = Duration::from_secs(3);
/// Values kept (MCP's own cap).
pub const MAX_VALUES: usize = CompletionInfo::MAX_VALUES;
/// Longest value kept, in bytes.
pub const MAX_VALUE_BYTES: usize = 256;
/// Longest typed value or context value passed to a plugin, in bytes.
const MAX_INPUT_BYTES: usize = 1024;
/// Context arguments passed to a plugin.
const MAX_CONTEXT: usize = 16;

/// Answer `request` for `caller`.
pub async fn complete(
    app: &App,
    caller: &Caller,
    request: &CompleteRequestParams,
    cancel: &CancellationToken,
) -> Result<CompleteResult, McpError> {
    let bad = |m: String| McpError::invalid_params(m, None);
    let arg = &request.argument.name;
    let completer = match &request.r#ref {
        Reference::Prompt(p) => {
            let Some(prompt) = app.visible_prompt(caller, &p.name) else {
                return Err(bad(format!("no prompt `{}`; see prompts/list", p.name)));
            };
            let Some(a) = prompt.arguments.iter().find(|a| a.name == *arg) else {
                return Err(bad(format!("prompt `{}` has no argument `{arg}`", p.name)));
            };
            a.completer.clone()
        }
        Reference::Resource(r) => {
            let snap = app.registry.snapshot();
            let Some((plugin, i)) = snap.templates.get(&r.uri) else {
                return Err(bad(format!(
                    "no resource template `{}`; see resources/templates/list",
                    r.uri
                )));
            };
            let t = &plugin.features.templates[*i];
            if !app.can_run(caller, &t.desc.tool) {
                return Err(bad(format!(
                    "no resource template `{}`; see resources/templates/list",
                    r.uri
                )));
            }
            if !t.uri.variables().any(|v| v == arg) {
                return Err(bad(format!("template `{}` has no variable `{arg}`", r.uri)));
            }
            t.desc
                .completers
                .iter()
                .find(|(v, _)| v == arg)
                .map(|(_, c)| c.clone())
        }
        _ => {
            return Err(bad(
                "unknown completion reference; use ref/prompt or ref/resource".into(),
            ));
        }
    };
    let values = match completer {
        Some(c) => suggestions(app, caller, &c, request, cancel).await,
        None => Vec::new(),
    };
    let info = CompletionInfo::new(values).unwrap_or_default();
    Ok(CompleteResult::new(info))
}

/// The completer's values, bounded; empty when it is not served, not available to the caller,
/// slow or failing.
async fn suggestions(
    app: &App,
    caller: &Caller,
    completer: &str,
    request: &CompleteRequestParams,
    cancel: &CancellationToken,
) -> Vec<String> {
    let snap = app.registry.snapshot();
    let Some((plugin, i)) = snap.completers.get(completer) else {
        return Vec::new();
    };
    let c = &plugin.features.completers[*i];
    if !app.can_run(caller, &c.tool) {
        return Vec::new();
    }
    let value = crate::runtime::truncate_str(&request.argument.value, MAX_INPUT_BYTES).to_string();
    let context: Vec<(String, String)> = request
        .context
        .as_ref()
        .and_then(|c| c.arguments.as_ref())
        .into_iter()
        .flatten()
        .filter(|(k, _)| **k != request.argument.name)
        .take(MAX_CONTEXT)
        .map(|(k, v)| {
            (
                crate::runtime::truncate_str(k, 64).to_string(),
                crate::runtime::truncate_str(v, MAX_INPUT_BYTES).to_string(),
            )
        })
        .collect();
    let who = CallInfo {
        plugin: plugin.name.as_str().into(),
        tool: c.tool.as_str().into(),
    };
    let out = super::templates::guarded(app, &who, cancel, |services| {
        app.runtime.complete(
            &plugin.instance,
            who.clone(),
            services,
            completer,
            &value,
            context,
            DEADLINE,
        )
    })
    .await;
    match out {
        Ok(values) => bounded(values),
        Err(e) => {
            tracing::debug!(plugin = %plugin.name, completer, "completion failed: {e}");
            Vec::new()
        }
    }
}

/// At most [`MAX_VALUES`] distinct values of at most [`MAX_VALUE_BYTES`] without control
/// characters.
fn bounded(values: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in values {
        if out.len() == MAX_VALUES {
            break;
        }
        if v.is_empty()
            || v.len() > MAX_VALUE_BYTES
            || v.chars().any(char::is_control)
            || out.contains(&v)
        {
            continue;
        }
        out.push(v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_are_bounded_and_clean() {
        let mut v: Vec<String> = (0..150).map(|i| format!("v{i}")).collect();
        v.insert(0, "a\nb".into());
        v.insert(0, "x".repeat(300));
        v.insert(0, "v0".into());
        let b = bounded(v);
        assert_eq!(b.len(), MAX_VALUES);
        assert_eq!(b[0], "v0");
        assert_eq!(
            b[1], "v1",
            "duplicates, oversized and control characters dropped"
        );
    }
}
