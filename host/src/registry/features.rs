//! A plugin's MCP features beyond tools (the optional `mcp` export): output schemas, prompts,
//! resource templates and completers, validated at load like the descriptor, so everything the
//! host later serves from them has a known shape and size.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::Value;

use super::bounds::{self, cap};
use super::uri_template::UriTemplate;
use super::{Tool, valid_name};
use crate::runtime::{mcp, tools};

/// A tool's output schema, parsed and compiled.
pub struct OutputSchema {
    /// As listed in `tools/list`.
    pub schema: Arc<serde_json::Map<String, Value>>,
    /// Checks every structured result before it leaves.
    pub validator: jsonschema::Validator,
}

impl OutputSchema {
    /// Why `structured` (a successful result's structured content) does not conform: at most
    /// three errors with where they are; empty when it conforms.
    pub fn violations(&self, structured: Option<&Value>) -> Vec<String> {
        let Some(v) = structured else {
            return vec!["no structured content, but the tool declares an output schema".into()];
        };
        self.validator
            .iter_errors(v)
            .take(3)
            .map(|e| {
                let at = e.instance_path().to_string();
                let what = crate::runtime::truncate_str(&e.to_string(), 200).to_string();
                if at.is_empty() {
                    what
                } else {
                    format!("{at}: {what}")
                }
            })
            .collect()
    }
}

/// A resource template ready to match URIs.
pub struct Template {
    /// As the plugin declared it.
    pub desc: mcp::ResourceTemplate,
    /// The parsed URI template.
    pub uri: UriTemplate,
}

/// Prompts, templates and completers of one plugin (output schemas live on its tools).
#[derive(Default)]
pub struct Features {
    /// Prompts, in declaration order.
    pub prompts: Vec<mcp::Prompt>,
    /// Resource templates.
    pub templates: Vec<Template>,
    /// Completers.
    pub completers: Vec<mcp::Completer>,
}

/// A read tool of this plugin, named by a template or a completer: reads must never write.
fn read_tool<'a>(tools: &'a [Tool], what: &str, name: &str) -> Result<&'a Tool, String> {
    match tools.iter().find(|t| t.desc.name == name) {
        Some(t) if t.desc.tier == tools::Tier::Read => Ok(t),
        Some(_) => Err(format!(
            "{what} names `{name}`, a write tool; it must name a read tool of the plugin"
        )),
        None => Err(format!(
            "{what} names tool `{name}`, which the plugin does not declare"
        )),
    }
}

/// Check `f` against the bounds and the plugin's tools; attach output schemas to `tools`.
pub(super) fn build(tools: &mut [Tool], f: Option<&mcp::Features>) -> Result<Features, String> {
    let Some(f) = f else {
        return Ok(Features::default());
    };
    bounds::check_feature_bounds(f)?;
    for (name, text) in &f.output_schemas {
        let Some(t) = tools.iter_mut().find(|t| t.desc.name == *name) else {
            return Err(format!(
                "output schema for `{}`, which the plugin does not declare",
                crate::runtime::truncate_str(name, 64)
            ));
        };
        if t.output.is_some() {
            return Err(format!("tool `{name}` has two output schemas"));
        }
        let schema: Value = serde_json::from_str(text)
            .map_err(|e| format!("tool `{name}`: output schema is not JSON: {e}"))?;
        // MCP: structured content is a JSON object, so its schema describes one.
        let Value::Object(obj) = &schema else {
            return Err(format!(
                "tool `{name}`: output schema must be a JSON object"
            ));
        };
        if obj.get("type").and_then(Value::as_str) != Some("object") {
            return Err(format!(
                "tool `{name}`: output schema must have \"type\": \"object\""
            ));
        }
        let validator = jsonschema::validator_for(&schema)
            .map_err(|e| format!("tool `{name}`: output schema is not valid JSON Schema: {e}"))?;
        t.output = Some(OutputSchema {
            schema: Arc::new(obj.clone()),
            validator,
        });
    }
    let mut names = BTreeSet::new();
    for p in &f.prompts {
        check_prompt(p)?;
        if !names.insert(p.name.as_str()) {
            return Err(format!("prompt `{}` is declared twice", p.name));
        }
    }
    let mut completers = BTreeSet::new();
    for c in &f.completers {
        if !valid_name(&c.name) {
            return Err(format!(
                "completer name `{}` must match ^[a-z0-9_]{{1,64}}$",
                c.name
            ));
        }
        read_tool(tools, &format!("completer `{}`", c.name), &c.tool)?;
        if !completers.insert(c.name.as_str()) {
            return Err(format!("completer `{}` is declared twice", c.name));
        }
    }
    let mut templates: Vec<Template> = Vec::new();
    for t in &f.resource_templates {
        let uri = UriTemplate::parse(&t.uri_template)?;
        let what = format!("resource template `{}`", t.uri_template);
        read_tool(tools, &what, &t.tool)?;
        for (var, completer) in &t.completers {
            if !uri.variables().any(|v| v == var) {
                return Err(format!("{what}: completer for unknown variable `{var}`"));
            }
            if !valid_name(completer) {
                return Err(format!(
                    "{what}: completer name `{completer}` must match ^[a-z0-9_]{{1,64}}$"
                ));
            }
        }
        if templates
            .iter()
            .any(|o| o.desc.uri_template == t.uri_template)
        {
            return Err(format!("{what} is declared twice"));
        }
        templates.push(Template {
            desc: t.clone(),
            uri,
        });
    }
    Ok(Features {
        prompts: f.prompts.clone(),
        templates,
        completers: f.completers.clone(),
    })
}

/// Check one prompt, a plugin's or the host's: bounds, names, tool names, and that every
/// `{name}` placeholder names one of its arguments (a typo would reach the model verbatim).
pub fn check_prompt(p: &mcp::Prompt) -> Result<(), String> {
    check_prompt_bounds(p)?;
    if !valid_name(&p.name) {
        return Err(format!(
            "prompt name `{}` must match ^[a-z0-9_]{{1,64}}$",
            crate::runtime::truncate_str(&p.name, 64)
        ));
    }
    let at = |e: String| format!("prompt `{}`: {e}", p.name);
    let (mut args, mut lowered) = (BTreeSet::new(), BTreeSet::new());
    for a in &p.arguments {
        // MCP clients name arguments in camelCase (`resourceUri`), so capitals are allowed.
        let lower = a.name.to_ascii_lowercase();
        if !valid_name(&lower) {
            return Err(at(format!(
                "argument name `{}` must match ^[A-Za-z0-9_]{{1,64}}$",
                crate::runtime::truncate_str(&a.name, 64)
            )));
        }
        if a.completer.as_deref().is_some_and(|c| !valid_name(c)) {
            return Err(at(format!("argument `{}`: bad completer name", a.name)));
        }
        // Case-insensitively: a question asked for an argument is keyed by its lower-case name.
        if !lowered.insert(lower) || !args.insert(a.name.as_str()) {
            return Err(at(format!("argument `{}` is declared twice", a.name)));
        }
        if a.ask.is_some() && !a.required {
            return Err(at(format!(
                "argument `{}`: only a required argument is asked for",
                a.name
            )));
        }
    }
    if let Some(t) = p
        .tools
        .iter()
        .chain(&p.optional_tools)
        .find(|t| !valid_name(t))
    {
        return Err(at(format!("`{t}` is not a tool name")));
    }
    if p.messages.is_empty() {
        return Err(at("has no messages".into()));
    }
    for m in &p.messages {
        let texts: Vec<&str> = match &m.content {
            mcp::Content::Text(t) => vec![t],
            mcp::Content::Embedded(e) => vec![&e.uri, &e.text],
            mcp::Content::Image(_) | mcp::Content::Audio(_) => vec![],
        };
        for text in texts {
            if let Some(name) = crate::prompts::placeholders(text).find(|n| !args.contains(n)) {
                return Err(at(format!(
                    "placeholder `{{{name}}}` names no argument (arguments: {})",
                    args.iter().copied().collect::<Vec<_>>().join(", ")
                )));
            }
        }
    }
    Ok(())
}

/// Every string of `f`, counted once, for the descriptor's total.
pub(super) fn feature_bytes(f: &mcp::Features) -> usize {
    let schemas: usize = f
        .output_schemas
        .iter()
        .map(|(a, b)| a.len() + b.len())
        .sum();
    let prompts: usize = f.prompts.iter().map(prompt_bytes).sum();
    let templates: usize = f
        .resource_templates
        .iter()
        .map(|t| {
            t.uri_template.len()
                + t.name.len()
                + t.description.len()
                + t.mime_type.len()
                + t.tool.len()
                + t.completers
                    .iter()
                    .map(|(a, b)| a.len() + b.len())
                    .sum::<usize>()
        })
        .sum();
    let completers: usize = f
        .completers
        .iter()
        .map(|c| c.name.len() + c.tool.len())
        .sum();
    schemas + prompts + templates + completers
}

fn prompt_bytes(p: &mcp::Prompt) -> usize {
    let args: usize = p
        .arguments
        .iter()
        .map(|a| {
            a.name.len()
                + a.description.len()
                + a.default.as_ref().map_or(0, String::len)
                + a.completer.as_ref().map_or(0, String::len)
        })
        .sum();
    let messages: usize = p.messages.iter().map(|m| content_bytes(&m.content)).sum();
    let tools: usize = p
        .tools
        .iter()
        .chain(&p.optional_tools)
        .map(String::len)
        .sum();
    p.name.len() + p.title.len() + p.description.len() + args + messages + tools
}

/// Bytes of one message's content.
pub(super) fn content_bytes(c: &mcp::Content) -> usize {
    match c {
        mcp::Content::Text(t) => t.len(),
        mcp::Content::Image(m) | mcp::Content::Audio(m) => m.data.len() + m.mime_type.len(),
        mcp::Content::Embedded(e) => e.uri.len() + e.mime_type.len() + e.text.len(),
    }
}

/// Check one prompt's strings against the bounds (also used for the host's own prompts).
pub(super) fn check_prompt_bounds(p: &mcp::Prompt) -> Result<(), String> {
    let name = crate::runtime::truncate_str(&p.name, 64);
    let at = |what: &str| format!("prompt `{name}`: {what}");
    cap(&at("title"), p.title.len(), bounds::MAX_TITLE_BYTES)?;
    cap(
        &at("description"),
        p.description.len(),
        bounds::MAX_DESCRIPTION_BYTES,
    )?;
    if p.arguments.len() > bounds::MAX_PROMPT_ARGUMENTS {
        return Err(format!(
            "prompt `{name}` declares {} arguments; at most {}",
            p.arguments.len(),
            bounds::MAX_PROMPT_ARGUMENTS
        ));
    }
    if p.messages.len() > bounds::MAX_PROMPT_MESSAGES {
        return Err(format!(
            "prompt `{name}` has {} messages; at most {}",
            p.messages.len(),
            bounds::MAX_PROMPT_MESSAGES
        ));
    }
    if p.tools.len() + p.optional_tools.len() > bounds::MAX_OPERATIONS_PER_TOOL {
        return Err(format!(
            "prompt `{name}` names {} tools; at most {}",
            p.tools.len() + p.optional_tools.len(),
            bounds::MAX_OPERATIONS_PER_TOOL
        ));
    }
    for a in &p.arguments {
        cap(
            &at("argument description"),
            a.description.len(),
            bounds::MAX_DESCRIPTION_BYTES,
        )?;
        cap(
            &at("argument default"),
            a.default.as_ref().map_or(0, String::len),
            bounds::MAX_TITLE_BYTES,
        )?;
        cap(
            &at("argument question"),
            a.ask.as_ref().map_or(0, String::len),
            bounds::MAX_DESCRIPTION_BYTES,
        )?;
    }
    let text: usize = p.messages.iter().map(|m| content_bytes(&m.content)).sum();
    cap(&at("messages"), text, bounds::MAX_PROMPT_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompt(text: &str) -> mcp::Prompt {
        mcp::Prompt {
            name: "p".into(),
            title: "P".into(),
            description: "d".into(),
            arguments: vec![mcp::PromptArgument {
                name: "host".into(),
                description: "d".into(),
                required: true,
                default: None,
                completer: None,
                ask: None,
            }],
            messages: vec![mcp::Message {
                role: mcp::Role::User,
                content: mcp::Content::Text(text.into()),
            }],
            tools: vec!["hosts_get".into()],
            optional_tools: vec![],
        }
    }

    fn tool(name: &str, tier: tools::Tier) -> Tool {
        let schema = serde_json::json!({"type": "object"});
        Tool {
            desc: tools::Tool {
                name: name.into(),
                title: name.into(),
                description: "d".into(),
                input_schema: schema.to_string(),
                tier,
                destructive: false,
                idempotent: true,
                cacheable: false,
                operations: vec![],
                needs: vec![],
            },
            schema: Arc::new(serde_json::Map::new()),
            validator: jsonschema::validator_for(&schema).unwrap(),
            grant: Default::default(),
            output: None,
        }
    }

    fn features() -> mcp::Features {
        mcp::Features {
            output_schemas: vec![("r".into(), r#"{"type":"object","required":["n"]}"#.into())],
            prompts: vec![],
            resource_templates: vec![mcp::ResourceTemplate {
                uri_template: "falcon://x/{id}".into(),
                name: "x".into(),
                description: "d".into(),
                mime_type: "application/json".into(),
                tool: "r".into(),
                completers: vec![("id".into(), "x_id".into())],
            }],
            completers: vec![mcp::Completer {
                name: "x_id".into(),
                tool: "r".into(),
            }],
        }
    }

    #[test]
    fn features_must_name_the_plugins_own_read_tools() {
        let mut tools = vec![tool("r", tools::Tier::Read), tool("w", tools::Tier::Write)];
        let built = build(&mut tools, Some(&features())).unwrap();
        assert_eq!(built.templates.len(), 1);
        let checked = tools[0].output.as_ref().unwrap();
        assert!(
            checked
                .violations(Some(&serde_json::json!({"n": 1})))
                .is_empty()
        );
        assert!(checked.violations(Some(&serde_json::json!({})))[0].contains("\"n\""));
        assert!(checked.violations(None)[0].contains("no structured content"));
        let refused = |f: mcp::Features| {
            let mut tools = vec![tool("r", tools::Tier::Read), tool("w", tools::Tier::Write)];
            build(&mut tools, Some(&f)).err().unwrap()
        };
        let mut f = features();
        f.completers[0].tool = "w".into();
        assert!(refused(f).contains("a write tool"));
        let mut f = features();
        f.resource_templates[0].tool = "nope".into();
        assert!(refused(f).contains("does not declare"));
        let mut f = features();
        f.resource_templates[0].completers[0].0 = "other".into();
        assert!(refused(f).contains("unknown variable `other`"));
        let mut f = features();
        f.output_schemas[0].1 = r#"{"type":"array"}"#.into();
        assert!(refused(f).contains("\"type\": \"object\""));
        let mut f = features();
        f.output_schemas.push(("ghost".into(), "{}".into()));
        assert!(refused(f).contains("does not declare"));
    }

    #[test]
    fn a_placeholder_must_name_an_argument() {
        check_prompt(&prompt("Look at {host}; JSON {\"a\": 1} is left alone")).unwrap();
        let e = check_prompt(&prompt("Look at {hots}")).unwrap_err();
        assert!(
            e.contains("`{hots}` names no argument (arguments: host)"),
            "{e}"
        );
        let mut p = prompt("x");
        p.tools = vec!["Bad Tool".into()];
        assert!(check_prompt(&p).unwrap_err().contains("is not a tool name"));
    }

    #[test]
    fn argument_names_may_be_camel_case_and_only_required_ones_are_asked_for() {
        let mut p = prompt("Read {resourceUri}");
        p.arguments[0].name = "resourceUri".into();
        p.arguments[0].ask = Some("Which resource?".into());
        check_prompt(&p).unwrap();
        let mut twice = p.clone();
        twice.arguments.push(mcp::PromptArgument {
            name: "resourceuri".into(),
            ..p.arguments[0].clone()
        });
        assert!(check_prompt(&twice).unwrap_err().contains("declared twice"));
        p.arguments[0].required = false;
        assert!(
            check_prompt(&p)
                .unwrap_err()
                .contains("only a required argument is asked for")
        );
        p.arguments[0].name = "resource-uri".into();
        assert!(check_prompt(&p).unwrap_err().contains("must match"));
    }
}
