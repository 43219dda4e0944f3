//! Prompts: the investigation playbooks agents run, served as MCP prompts. Plugins contribute
//! theirs through the `mcp` export (a playbook lives in the plugin of its main tool group); the
//! host holds the ones that span groups ([`playbooks`]). Both are the same declaration, so one
//! renderer serves them.
//!
//! Each prompt names the tools it uses. A prompt is listed only to a caller who can run all of
//! its required tools (the profile allows them, writes are on where needed, their plugin is
//! loaded); optional tools the caller cannot run are named in a closing note so the agent skips
//! those steps. A name that is not loaded never breaks anything: it only hides or annotates.

mod playbooks;

use std::collections::BTreeMap;

use rmcp::ErrorData as McpError;
use rmcp::model::{
    ContentBlock, GetPromptResult, MetaObject, Prompt, PromptArgument, PromptMessage,
    ResourceContents, Role,
};
use serde_json::{Value, json};

use crate::app::App;
use crate::controls::Caller;
use crate::runtime::mcp;

/// Longest value one prompt argument may have, in bytes.
pub const MAX_ARGUMENT_BYTES: usize = 4096;

/// What the text says for an optional argument that was not given and has no default.
const NOT_GIVEN: &str = "(not given)";

/// Whether `name` is one of the host's own prompts (a plugin may not take it).
pub fn is_host_prompt(name: &str) -> bool {
    playbooks::all().iter().any(|p| p.name == name)
}

/// The `{name}` placeholders of `text`: a `{`, a name of `[a-z0-9_]`, a `}`. Anything else
/// with braces (JSON examples) is plain text.
pub fn placeholders(text: &str) -> impl Iterator<Item = &str> {
    text.split('{').skip(1).filter_map(|rest| {
        let end = rest.find('}')?;
        let name = &rest[..end];
        // Argument names may be camelCase (`resourceUri`).
        crate::registry::valid_name(&name.to_ascii_lowercase()).then_some(name)
    })
}

/// `text` with each placeholder replaced by its value.
fn fill(text: &str, values: &BTreeMap<&str, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        match after.find('}').map(|end| (end, &after[..end])) {
            Some((end, name)) if values.contains_key(name) => {
                out.push_str(&values[name]);
                rest = &after[end + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Where a prompt comes from: the host, or the plugin that declared it.
enum Source<'a> {
    Host(&'a mcp::Prompt),
    Plugin(&'a crate::registry::Plugin, usize),
}

impl Source<'_> {
    fn prompt(&self) -> &mcp::Prompt {
        match self {
            Source::Host(p) => p,
            Source::Plugin(plugin, i) => &plugin.features.prompts[*i],
        }
    }
}

impl App {
    /// Whether `caller` may run `tool` now: it is served and its profile allows it.
    pub fn can_run(&self, caller: &Caller, tool: &str) -> bool {
        self.registry
            .snapshot()
            .tool(tool)
            .is_some_and(|(_, t)| caller.profile.allows_tool(t))
    }

    /// The required tools of `p` that `caller` cannot run.
    fn missing_tools<'p>(&self, caller: &Caller, p: &'p mcp::Prompt) -> Vec<&'p str> {
        p.tools
            .iter()
            .filter(|t| !self.can_run(caller, t))
            .map(String::as_str)
            .collect()
    }

    /// Prompt `name` if `caller` can run it (it would be listed).
    pub fn visible_prompt(&self, caller: &Caller, name: &str) -> Option<mcp::Prompt> {
        let snap = self.registry.snapshot();
        let p = match playbooks::all().iter().find(|p| p.name == name) {
            Some(p) => p.clone(),
            None => {
                let (plugin, i) = snap.prompts.get(name)?;
                plugin.features.prompts[*i].clone()
            }
        };
        self.missing_tools(caller, &p).is_empty().then_some(p)
    }

    /// The required arguments of prompt `name` missing from `given` that the prompt asks the
    /// person for, with their questions. Empty for an unknown prompt or one `caller` cannot run
    /// (rendering says why).
    pub fn prompt_questions(
        &self,
        caller: &Caller,
        name: &str,
        given: &serde_json::Map<String, Value>,
    ) -> Vec<(String, String)> {
        let Some(p) = self.visible_prompt(caller, name) else {
            return Vec::new();
        };
        p.arguments
            .into_iter()
            .filter(|a| match given.get(&a.name) {
                None | Some(Value::Null) => true,
                Some(Value::String(s)) => s.trim().is_empty(),
                Some(_) => false,
            })
            .filter_map(|a| Some((a.name, a.ask?)))
            .collect()
    }

    /// Every prompt `caller` can run, the host's first.
    pub fn prompts_for(&self, caller: &Caller) -> Vec<Prompt> {
        let snap = self.registry.snapshot();
        let host = playbooks::all().iter();
        host.chain(snap.prompts.values().map(|(p, i)| &p.features.prompts[*i]))
            .filter(|p| self.missing_tools(caller, p).is_empty())
            .map(listed)
            .collect()
    }

    /// Render prompt `name` with `arguments` for `caller`. Unknown or hidden prompts, unknown,
    /// missing or oversized arguments are `invalid_params` errors naming what to fix.
    pub fn get_prompt(
        &self,
        caller: &Caller,
        name: &str,
        arguments: Option<&serde_json::Map<String, Value>>,
    ) -> Result<GetPromptResult, McpError> {
        let snap = self.registry.snapshot();
        let source = match playbooks::all().iter().find(|p| p.name == name) {
            Some(p) => Source::Host(p),
            None => match snap.prompts.get(name) {
                Some((plugin, i)) => Source::Plugin(plugin, *i),
                None => {
                    return Err(McpError::invalid_params(
                        format!("no prompt `{name}`; see prompts/list"),
                        None,
                    ));
                }
            },
        };
        let p = source.prompt();
        let missing = self.missing_tools(caller, p);
        if !missing.is_empty() {
            return Err(McpError::invalid_params(
                format!(
                    "prompt `{name}` needs tools this session cannot run: {} (not loaded, writes disabled, or outside profile `{}`)",
                    missing.join(", "),
                    caller.profile.name
                ),
                None,
            ));
        }
        let values = argument_values(p, arguments)?;
        let mut messages: Vec<PromptMessage> = p
            .messages
            .iter()
            .map(|m| PromptMessage::new(role(m.role), content(&m.content, &values)))
            .collect();
        let unavailable: Vec<&str> = p
            .optional_tools
            .iter()
            .filter(|t| !self.can_run(caller, t))
            .map(String::as_str)
            .collect();
        if !unavailable.is_empty() {
            messages.push(PromptMessage::new_text(
                Role::User,
                format!(
                    "Note: these tools are not available in this session; skip the steps that use them: {}.",
                    unavailable.join(", ")
                ),
            ));
        }
        Ok(GetPromptResult::new(messages).with_description(p.description.clone()))
    }
}

/// The value of every argument (given, default, or [`NOT_GIVEN`]), after checking names,
/// required arguments and sizes.
fn argument_values<'p>(
    p: &'p mcp::Prompt,
    given: Option<&serde_json::Map<String, Value>>,
) -> Result<BTreeMap<&'p str, String>, McpError> {
    let bad = |m: String| McpError::invalid_params(m, None);
    let names = || {
        p.arguments
            .iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut values = BTreeMap::new();
    for (k, v) in given.into_iter().flatten() {
        let Some(a) = p.arguments.iter().find(|a| a.name == *k) else {
            return Err(bad(format!(
                "prompt `{}` has no argument `{}` (arguments: {})",
                p.name,
                crate::runtime::truncate_str(k, 64),
                names()
            )));
        };
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => continue,
            _ => {
                return Err(bad(format!(
                    "prompt `{}`: argument `{k}` must be a string",
                    p.name
                )));
            }
        };
        if text.len() > MAX_ARGUMENT_BYTES {
            return Err(bad(format!(
                "prompt `{}`: argument `{k}` is {} bytes; at most {MAX_ARGUMENT_BYTES}",
                p.name,
                text.len()
            )));
        }
        if !(text.trim().is_empty() && a.required) {
            values.insert(a.name.as_str(), text);
        }
    }
    let missing: Vec<String> = p
        .arguments
        .iter()
        .filter(|a| a.required && !values.contains_key(a.name.as_str()))
        .map(|a| format!("`{}` ({})", a.name, a.description))
        .collect();
    if !missing.is_empty() {
        return Err(bad(format!(
            "prompt `{}` needs argument {}",
            p.name,
            missing.join(", ")
        )));
    }
    for a in &p.arguments {
        values
            .entry(a.name.as_str())
            .or_insert_with(|| a.default.clone().unwrap_or_else(|| NOT_GIVEN.into()));
    }
    Ok(values)
}

/// How `p` appears in `prompts/list`: its arguments, and in `_meta` the tools it uses.
fn listed(p: &mcp::Prompt) -> Prompt {
    let args = p
        .arguments
        .iter()
        .map(|a| {
            PromptArgument::new(a.name.clone())
                .with_description(a.description.clone())
                .with_required(a.required)
        })
        .collect();
    let mut meta = MetaObject::new();
    meta.0.insert(
        "aerie/tools".into(),
        json!({"required": p.tools, "optional": p.optional_tools}),
    );
    Prompt::new(p.name.clone(), Some(p.description.clone()), Some(args))
        .with_title(p.title.clone())
        .with_meta(meta)
}

fn role(r: mcp::Role) -> Role {
    match r {
        mcp::Role::User => Role::User,
        mcp::Role::Assistant => Role::Assistant,
    }
}

fn content(c: &mcp::Content, values: &BTreeMap<&str, String>) -> ContentBlock {
    match c {
        mcp::Content::Text(t) => ContentBlock::text(fill(t, values)),
        mcp::Content::Image(m) => ContentBlock::image(m.data.clone(), m.mime_type.clone()),
        mcp::Content::Audio(m) => ContentBlock::audio(m.data.clone(), m.mime_type.clone()),
        mcp::Content::Embedded(e) => ContentBlock::resource(
            ResourceContents::text(fill(&e.text, values), fill(&e.uri, values))
                .with_mime_type(e.mime_type.clone()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_other_braces_kept() {
        let values = BTreeMap::from([("host", "WS-1".to_string())]);
        assert_eq!(
            fill(
                "Check {host}, then {\"ids\": [{host}]} and {other}.",
                &values
            ),
            "Check WS-1, then {\"ids\": [WS-1]} and {other}."
        );
        assert_eq!(
            placeholders("a {b} {\"c\"} {d_1} {").collect::<Vec<_>>(),
            ["b", "d_1"]
        );
    }

    #[test]
    fn the_host_playbooks_are_valid_and_within_bounds() {
        for p in playbooks::all() {
            crate::registry::check_prompt(p).unwrap();
        }
    }
}
