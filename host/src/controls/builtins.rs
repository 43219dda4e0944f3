//! Built-in tools: tools the host itself serves beside the plugins' (the budget left, paging
//! through stored results, approvals, and the dynamic mode's search/describe/call). Each control
//! module declares its own; this module lists and dispatches them. Names start with `aerie_`,
//! which no plugin may use.

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::Caller;
use crate::app::{App, ToolOutcome};
use crate::runtime::ProgressSink;

/// Prefix of every built-in tool name; plugin tools may not start with it.
pub const PREFIX: &str = "aerie_";

/// A built-in tool's description for `tools/list`.
pub struct Builtin {
    /// Tool name, starting with [`PREFIX`].
    pub name: &'static str,
    /// Human-readable title.
    pub title: &'static str,
    /// What it does, for the model.
    pub description: &'static str,
    /// JSON Schema of its arguments (an object schema).
    pub schema: Value,
    /// Whether it only reads. `false` for a tool that can reach write tools (the dynamic mode's
    /// `aerie_call_tool`), so a client never auto-approves it as harmless.
    pub read_only: bool,
}

impl Builtin {
    /// The MCP description: a read-only built-in is closed world; one that can reach write
    /// tools keeps the MCP defaults (destructive, open world), the conservative hints.
    pub fn to_mcp(&self) -> rmcp::model::Tool {
        let schema = match &self.schema {
            Value::Object(m) => std::sync::Arc::new(m.clone()),
            _ => std::sync::Arc::new(serde_json::Map::new()),
        };
        let annotations = if self.read_only {
            rmcp::model::ToolAnnotations::new()
                .read_only(true)
                .open_world(false)
        } else {
            rmcp::model::ToolAnnotations::new().read_only(false)
        };
        let tool = rmcp::model::Tool::new(self.name, self.description, schema)
            .with_title(self.title)
            .with_annotations(annotations);
        match output_schema(self.name) {
            Some(s) => tool.with_raw_output_schema(s),
            None => tool,
        }
    }
}

/// The output schemas of the built-ins whose results have a fixed shape, by name.
/// `aerie_call_tool` and `aerie_run_approved` return the called tool's own result, so they
/// declare none (its schema is the called tool's).
const OUTPUT_SCHEMAS: &[(&str, &str)] = &[
    (
        "aerie_budget",
        r#"{"type":"object","properties":{"profile":{"type":"string"},"total":{"type":["object","null"]},"per_tool":{"type":"array"}},"required":["profile","total","per_tool"]}"#,
    ),
    (
        "aerie_result_page",
        r#"{"type":"object","properties":{"handle":{"type":"string"},"offset":{"type":"integer"},"total":{"type":"integer"},"next":{"type":["integer","null"]},"items":{"type":"array"}},"required":["handle","offset","total","next","items"]}"#,
    ),
    (
        "aerie_results",
        r#"{"type":"object","properties":{"results":{"type":"array"}},"required":["results"]}"#,
    ),
    (
        "aerie_search_tools",
        r#"{"type":"object","properties":{"total":{"type":"integer"},"results":{"type":"array"}},"required":["total","results"]}"#,
    ),
    (
        "aerie_describe_tools",
        r#"{"type":"object","properties":{"tools":{"type":"array"}},"required":["tools"]}"#,
    ),
];

/// A parsed JSON Schema object, shared.
type Schema = std::sync::Arc<serde_json::Map<String, Value>>;

/// The output schema of built-in `name`, parsed once.
fn output_schema(name: &str) -> Option<Schema> {
    static PARSED: std::sync::OnceLock<Vec<(&str, Schema)>> = std::sync::OnceLock::new();
    let parsed = PARSED.get_or_init(|| {
        OUTPUT_SCHEMAS
            .iter()
            .filter_map(|(n, s)| match serde_json::from_str(s) {
                Ok(Value::Object(m)) => Some((*n, std::sync::Arc::new(m))),
                _ => None,
            })
            .collect()
    });
    parsed
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| s.clone())
}

/// Every built-in tool `caller` sees.
pub fn list(app: &App, caller: &Caller) -> Vec<rmcp::model::Tool> {
    let mut out = Vec::new();
    out.extend(super::budget::builtins(app, caller));
    out.extend(super::store::builtins(app, caller));
    out.extend(super::approvals::builtins(app, caller));
    out.extend(super::dynamic::builtins(app, caller));
    out.iter().map(Builtin::to_mcp).collect()
}

/// Run built-in `name`, or `None` when it is not a built-in (a plugin tool).
pub async fn call(
    app: &App,
    caller: &Caller,
    name: &str,
    args: &Value,
    progress: Option<ProgressSink>,
    cancel: &CancellationToken,
) -> Option<ToolOutcome> {
    if !name.starts_with(PREFIX) {
        return None;
    }
    if let Some(out) = super::budget::call_builtin(app, caller, name, args).await {
        return Some(out);
    }
    if let Some(out) = super::store::call_builtin(app, caller, name, args).await {
        return Some(out);
    }
    if let Some(out) =
        super::approvals::call_builtin(app, caller, name, args, progress.clone(), cancel).await
    {
        return Some(out);
    }
    super::dynamic::call_builtin(app, caller, name, args, progress, cancel).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_output_schema_parses_as_an_object_schema() {
        for (name, _) in OUTPUT_SCHEMAS {
            let s = output_schema(name).unwrap_or_else(|| panic!("{name} parses"));
            assert_eq!(s["type"], "object", "{name}");
            jsonschema::validator_for(&Value::Object((*s).clone())).unwrap();
        }
    }
}
