//! The MCP features beyond tools (the WIT `mcp` interface): output schemas, prompts, resource
//! templates and completers, declared as constants next to the tools they use.
//!
//! ```no_run
//! use aerie_sdk::{Arg, Message, Output, Plugin, Prompt, Shape, Template, ToolError, ToolSpec};
//! # use aerie_sdk::Ctx;
//! # #[derive(serde::Deserialize, schemars::JsonSchema)] struct Ids { ids: Vec<String> }
//! # fn get(_: &Ctx<'_>, _: Ids) -> Result<Output, ToolError> { unimplemented!() }
//! const INVESTIGATE: Prompt = Prompt::new("investigate_host", "Investigate a host",
//!     "Everything about one host.")
//!     .args(&[Arg::required("hostname", "Host name").complete("hostname")])
//!     .messages(&[Message::user("Investigate {hostname}: call demo_get ...")])
//!     .tools(&["demo_get"]);
//!
//! const HOST: Template = Template::json("falcon://hosts/{device_id}", "host",
//!     "A host record by device id.", "demo_get");
//!
//! fn plugin() -> Plugin {
//!     Plugin::new("demo", "0.1.0", "Demo")
//!         .tool(ToolSpec::read("demo_get", "Get", "Hosts by id.").ops(&["PostDeviceDetailsV2"])
//!             .output(Shape::List("hosts")), get)
//!         .prompt(&INVESTIGATE)
//!         .template(&HOST, |ctx, vars| get(ctx, Ids { ids: vec![vars.get("device_id")?.into()] }))
//!         .completer("hostname", "demo_get", |_ctx, prefix, _context| Ok(vec![prefix.to_uppercase()]))
//! }
//! ```

use serde_json::{Map, Value, json};

use crate::context::Ctx;
use crate::env::Env;
use crate::error::ToolError;
use crate::plugin::{Plugin, Tier};
use crate::result::Output;

/// The shape of a tool's structured result, declared on its [`crate::ToolSpec`] with
/// [`crate::ToolSpec::output`] and sent to the host as its MCP `outputSchema`. The host checks
/// every structured result against it, so a tool that changes its result must change its shape.
///
/// Schemas are listed in every `tools/list`, so they describe the top level only (field
/// names, JSON types, which are always there) and leave the items open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// The one search shape, [`crate::SearchResult`]: `{"results": [...], "total": n, "next": offset|cursor|null}`.
    Search,
    /// `{"<key>": [...]}`, what lookups by id return (`{"hosts": [...]}`).
    List(&'static str),
    /// An object with these top-level fields, written `name:type` separated by spaces, with a
    /// `?` after the name when the field may be absent and `|` between alternative types:
    /// `"applied:boolean preview?:boolean hosts?:array next:integer|null"`.
    Fields(&'static str),
}

impl Shape {
    /// The JSON Schema, or the error that makes [`Plugin::validate`] fail.
    pub fn schema(&self) -> Result<Value, String> {
        match self {
            Shape::Search => {
                Shape::Fields("results:array total:integer next:integer|string|null").schema()
            }
            Shape::List(key) => Ok(json!({
                "type": "object",
                "properties": { *key: {"type": "array"} },
                "required": [key],
            })),
            Shape::Fields(spec) => {
                let mut properties = Map::new();
                let mut required = Vec::new();
                for field in spec.split_whitespace() {
                    let Some((name, ty)) = field.split_once(':') else {
                        return Err(format!("output field `{field}` is not `name:type`"));
                    };
                    let (name, optional) = match name.strip_suffix('?') {
                        Some(n) => (n, true),
                        None => (name, false),
                    };
                    let types: Vec<&str> = ty.split('|').collect();
                    if let Some(bad) = types.iter().find(|t| {
                        !matches!(
                            **t,
                            "string"
                                | "integer"
                                | "number"
                                | "boolean"
                                | "array"
                                | "object"
                                | "null"
                        )
                    }) {
                        return Err(format!("output field `{name}`: `{bad}` is not a JSON type"));
                    }
                    let ty = match types.as_slice() {
                        [one] => json!(one),
                        many => json!(many),
                    };
                    properties.insert(name.to_string(), json!({ "type": ty }));
                    if !optional {
                        required.push(name);
                    }
                }
                let mut s = json!({"type": "object", "properties": properties});
                if !required.is_empty() {
                    s["required"] = json!(required);
                }
                Ok(s)
            }
        }
    }
}

/// Who speaks a prompt message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The person (or agent) running the playbook.
    User,
    /// The assistant.
    Assistant,
}

/// The content of one prompt message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// Text; `{argument}` placeholders are filled in by the host.
    Text(&'static str),
    /// An image: base64 data and MIME type.
    Image(&'static str, &'static str),
    /// An embedded resource: URI, MIME type and text (placeholders allowed in URI and text).
    Embedded(&'static str, &'static str, &'static str),
}

/// One message of a prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// What is said.
    pub content: Content,
}

impl Message {
    /// A user message of text.
    pub const fn user(text: &'static str) -> Self {
        Self {
            role: Role::User,
            content: Content::Text(text),
        }
    }
}

/// One argument of a prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arg {
    /// `^[a-z0-9_]{1,64}$`; `{name}` in the text is replaced by its value.
    pub name: &'static str,
    /// What to give.
    pub description: &'static str,
    /// The host refuses the prompt without it.
    pub required: bool,
    /// Used when an optional argument is not given.
    pub default: Option<&'static str>,
    /// The completer (of any plugin) that suggests values.
    pub completer: Option<&'static str>,
    /// Asked of the person (elicitation) when a required argument is not given.
    pub ask: Option<&'static str>,
}

impl Arg {
    /// A required argument.
    pub const fn required(name: &'static str, description: &'static str) -> Self {
        Self {
            name,
            description,
            required: true,
            default: None,
            completer: None,
            ask: None,
        }
    }

    /// An optional argument.
    pub const fn optional(name: &'static str, description: &'static str) -> Self {
        Self {
            required: false,
            ..Self::required(name, description)
        }
    }

    /// The value used when the argument is not given.
    pub const fn default(mut self, value: &'static str) -> Self {
        self.default = Some(value);
        self
    }

    /// When the client does not give it, ask the person `message` for it instead of refusing.
    pub const fn ask(mut self, message: &'static str) -> Self {
        self.ask = Some(message);
        self
    }

    /// Suggest values with `completer`.
    pub const fn complete(mut self, completer: &'static str) -> Self {
        self.completer = Some(completer);
        self
    }
}

/// A prompt: a playbook with arguments and the tools it uses. The host lists it only to callers
/// who can run every one of `tools`, and notes which `optional_tools` are missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prompt {
    /// `^[a-z0-9_]{1,64}$`, unique across plugins.
    pub name: &'static str,
    /// Title.
    pub title: &'static str,
    /// One line.
    pub description: &'static str,
    /// Arguments.
    pub arguments: &'static [Arg],
    /// Messages.
    pub messages: &'static [Message],
    /// Tools it cannot do without.
    pub tools: &'static [&'static str],
    /// Tools it uses when they are there.
    pub optional_tools: &'static [&'static str],
}

impl Prompt {
    /// A prompt with no arguments, messages or tools yet.
    pub const fn new(name: &'static str, title: &'static str, description: &'static str) -> Self {
        Self {
            name,
            title,
            description,
            arguments: &[],
            messages: &[],
            tools: &[],
            optional_tools: &[],
        }
    }

    /// Its arguments.
    pub const fn args(mut self, arguments: &'static [Arg]) -> Self {
        self.arguments = arguments;
        self
    }

    /// Its messages.
    pub const fn messages(mut self, messages: &'static [Message]) -> Self {
        self.messages = messages;
        self
    }

    /// The tools it needs.
    pub const fn tools(mut self, tools: &'static [&'static str]) -> Self {
        self.tools = tools;
        self
    }

    /// The tools it uses when available.
    pub const fn optional(mut self, tools: &'static [&'static str]) -> Self {
        self.optional_tools = tools;
        self
    }
}

/// A family of resources, e.g. `falcon://hosts/{device_id}`, read by a handler under the grant
/// of one of the plugin's read tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Template {
    /// URI template: literal text and `{variable}`s, each one path segment.
    pub uri: &'static str,
    /// Short name.
    pub name: &'static str,
    /// One line.
    pub description: &'static str,
    /// MIME type of the content.
    pub mime_type: &'static str,
    /// The read tool whose grant (and name, in errors) the read uses.
    pub tool: &'static str,
    /// (variable, completer) pairs.
    pub completers: &'static [(&'static str, &'static str)],
}

impl Template {
    /// A template whose reads return JSON (the handler's structured result).
    pub const fn json(
        uri: &'static str,
        name: &'static str,
        description: &'static str,
        tool: &'static str,
    ) -> Self {
        Self {
            uri,
            name,
            description,
            mime_type: "application/json",
            tool,
            completers: &[],
        }
    }

    /// Completers for its variables.
    pub const fn complete(mut self, completers: &'static [(&'static str, &'static str)]) -> Self {
        self.completers = completers;
        self
    }
}

/// Variables of a templated read, or the other arguments of a completion.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vars(pub Vec<(String, String)>);

impl Vars {
    /// The value of `name`, or an invalid-arguments error naming it.
    pub fn get(&self, name: &str) -> Result<&str, ToolError> {
        self.find(name)
            .ok_or_else(|| ToolError::invalid(format!("missing `{name}`")))
    }

    /// The value of `name`, if given.
    pub fn find(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

type ReadFn = Box<dyn Fn(&Ctx<'_>, &Vars) -> Result<Output, ToolError>>;
type CompleteFn = Box<dyn Fn(&Ctx<'_>, &str, &Vars) -> Result<Vec<String>, ToolError>>;

/// What a plugin declared beyond tools.
#[derive(Default)]
pub(crate) struct Features {
    prompts: Vec<&'static Prompt>,
    templates: Vec<(&'static Template, ReadFn)>,
    completers: Vec<(&'static str, &'static str, CompleteFn)>,
}

/// What [`Plugin::describe_features`] returns (mirrors the WIT `features`).
#[derive(Debug, Clone, PartialEq)]
pub struct FeaturesInfo {
    /// (tool, output schema JSON text).
    pub output_schemas: Vec<(&'static str, String)>,
    /// Prompts.
    pub prompts: Vec<Prompt>,
    /// Resource templates.
    pub templates: Vec<Template>,
    /// (completer, tool) pairs.
    pub completers: Vec<(&'static str, &'static str)>,
}

impl Plugin {
    /// Add a prompt.
    pub fn prompt(mut self, prompt: &'static Prompt) -> Self {
        self.features.prompts.push(prompt);
        self
    }

    /// Add a resource template read by `read` (its structured result is the content).
    pub fn template<F>(mut self, template: &'static Template, read: F) -> Self
    where
        F: Fn(&Ctx<'_>, &Vars) -> Result<Output, ToolError> + 'static,
    {
        self.features.templates.push((template, Box::new(read)));
        self
    }

    /// Add a completer named `name` that runs under read tool `tool`'s grant: `complete(ctx,
    /// value, other_arguments)` returns suggestions, best first (the host keeps 100).
    pub fn completer<F>(mut self, name: &'static str, tool: &'static str, complete: F) -> Self
    where
        F: Fn(&Ctx<'_>, &str, &Vars) -> Result<Vec<String>, ToolError> + 'static,
    {
        self.features
            .completers
            .push((name, tool, Box::new(complete)));
        self
    }

    /// Describe the features (output schemas are generated here).
    pub fn describe_features(&self) -> FeaturesInfo {
        FeaturesInfo {
            output_schemas: self
                .specs()
                .filter_map(|s| {
                    let schema = s.output?.schema().ok()?;
                    Some((s.name, schema.to_string()))
                })
                .collect(),
            prompts: self.features.prompts.iter().map(|p| **p).collect(),
            templates: self.features.templates.iter().map(|(t, _)| **t).collect(),
            completers: self
                .features
                .completers
                .iter()
                .map(|(n, t, _)| (*n, *t))
                .collect(),
        }
    }

    /// Read a resource of template `uri` with `vars`.
    pub fn read_resource(
        &self,
        env: &dyn Env,
        uri: &str,
        vars: &Vars,
    ) -> Result<Output, ToolError> {
        let (t, read) = self
            .features
            .templates
            .iter()
            .find(|(t, _)| t.uri == uri)
            .ok_or_else(|| ToolError::not_found(format!("resource template `{uri}`")))?;
        read(&Ctx::new(env, t.tool, None), vars)
    }

    /// Suggestions of completer `name` for `value`.
    pub fn complete(
        &self,
        env: &dyn Env,
        name: &str,
        value: &str,
        context: &Vars,
    ) -> Result<Vec<String>, ToolError> {
        let (_, tool, complete) = self
            .features
            .completers
            .iter()
            .find(|(n, _, _)| *n == name)
            .ok_or_else(|| ToolError::not_found(format!("completer `{name}`")))?;
        complete(&Ctx::new(env, tool, None), value, context)
    }

    /// The checks of [`Plugin::validate`] for features: shapes parse, templates and completers
    /// name read tools of this plugin, placeholders name arguments.
    pub(crate) fn validate_features(&self) -> Result<(), String> {
        for s in self.specs() {
            if let Some(shape) = s.output {
                shape
                    .schema()
                    .map_err(|e| format!("tool `{}`: {e}", s.name))?;
            }
        }
        let read_tool = |what: &str, tool: &str| match self.specs().find(|s| s.name == tool) {
            Some(s) if s.tier == Tier::Read => Ok(()),
            Some(_) => Err(format!(
                "{what} names write tool `{tool}`; it must be a read tool"
            )),
            None => Err(format!("{what} names tool `{tool}`, which is not declared")),
        };
        for (t, _) in &self.features.templates {
            read_tool(&format!("template `{}`", t.uri), t.tool)?;
        }
        for (name, tool, _) in &self.features.completers {
            read_tool(&format!("completer `{name}`"), tool)?;
        }
        for p in &self.features.prompts {
            for m in p.messages {
                let texts = match m.content {
                    Content::Text(t) => vec![t],
                    Content::Embedded(u, _, t) => vec![u, t],
                    Content::Image(..) => vec![],
                };
                for text in texts {
                    for name in placeholders(text) {
                        if !p.arguments.iter().any(|a| a.name == name) {
                            return Err(format!(
                                "prompt `{}`: placeholder `{{{name}}}` names no argument",
                                p.name
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Most suggestions a completion returns (MCP's own cap).
pub const MAX_SUGGESTIONS: usize = 100;

/// Suggestions from `values` for what the person typed: those starting with it (ignoring
/// case) first, then those containing it, each once, at most [`MAX_SUGGESTIONS`].
pub fn suggest(values: impl IntoIterator<Item = String>, typed: &str) -> Vec<String> {
    let typed = typed.to_lowercase();
    let (mut starts, mut contains) = (Vec::new(), Vec::new());
    for v in values {
        let l = v.to_lowercase();
        if starts.contains(&v) || contains.contains(&v) {
            continue;
        }
        if l.starts_with(&typed) {
            starts.push(v);
        } else if l.contains(&typed) {
            contains.push(v);
        }
    }
    starts.extend(contains);
    starts.truncate(MAX_SUGGESTIONS);
    starts
}

/// `typed` as an FQL wildcard prefix (`WS-F*`), its own `*`s removed so what a person types
/// is matched literally.
pub fn prefix_pattern(typed: &str) -> String {
    format!("{}*", typed.trim().replace('*', ""))
}

impl Output {
    /// The one item of the array `key` of a lookup's result (`{"hosts": [h]}` → `h`) as the
    /// structured result, for reading one entity as a resource; not-found names `what`.
    pub fn single(self, key: &str, what: &str) -> Result<Output, ToolError> {
        let item = self
            .structured
            .as_ref()
            .and_then(|s| s.get(key))
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .cloned()
            .ok_or_else(|| ToolError::not_found(what.to_string()))?;
        Ok(Output {
            text: item.to_string(),
            structured: Some(item),
            content: Vec::new(),
        })
    }
}

/// The `{name}` placeholders of `text` (the host fills them in the same way).
fn placeholders(text: &str) -> impl Iterator<Item = &str> {
    text.split('{').skip(1).filter_map(|rest| {
        let name = &rest[..rest.find('}')?];
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        ok.then_some(name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_put_prefix_matches_first() {
        let v = ["ws-fin-042", "WS-FIN-001", "db-ws-1", "mail"].map(String::from);
        assert_eq!(
            suggest(v.clone(), "ws"),
            ["ws-fin-042", "WS-FIN-001", "db-ws-1"]
        );
        assert_eq!(
            suggest(v, ""),
            ["ws-fin-042", "WS-FIN-001", "db-ws-1", "mail"]
        );
        assert_eq!(prefix_pattern(" W*S "), "WS*");
    }

    #[test]
    fn shapes_become_compact_schemas() {
        assert_eq!(
            Shape::Search.schema().unwrap().to_string(),
            r#"{"properties":{"next":{"type":["integer","string","null"]},"results":{"type":"array"},"total":{"type":"integer"}},"required":["results","total","next"],"type":"object"}"#
        );
        assert_eq!(
            Shape::Fields("applied:boolean preview?:boolean")
                .schema()
                .unwrap()["required"],
            json!(["applied"])
        );
        assert!(Shape::Fields("a:text").schema().is_err());
        assert!(Shape::Fields("a").schema().is_err());
    }
}

/// Glue between [`Plugin`] and the generated `mcp` export; used by [`crate::export_plugin!`].
pub(crate) mod glue {
    use super::{Content, Role, Vars};
    use crate::bindings::exports::aerie::plugin::{mcp as wit, tools};
    use crate::{HostEnv, Plugin};

    /// Describe `p`'s features in WIT types.
    pub fn describe_features(p: &Plugin) -> wit::Features {
        let f = p.describe_features();
        let s = |v: &str| v.to_string();
        wit::Features {
            output_schemas: f
                .output_schemas
                .into_iter()
                .map(|(t, schema)| (s(t), schema))
                .collect(),
            prompts: f
                .prompts
                .iter()
                .map(|p| wit::Prompt {
                    name: s(p.name),
                    title: s(p.title),
                    description: s(p.description),
                    arguments: p
                        .arguments
                        .iter()
                        .map(|a| wit::PromptArgument {
                            name: s(a.name),
                            description: s(a.description),
                            required: a.required,
                            default: a.default.map(s),
                            completer: a.completer.map(s),
                            ask: a.ask.map(s),
                        })
                        .collect(),
                    messages: p
                        .messages
                        .iter()
                        .map(|m| wit::Message {
                            role: match m.role {
                                Role::User => wit::Role::User,
                                Role::Assistant => wit::Role::Assistant,
                            },
                            content: match m.content {
                                Content::Text(t) => wit::Content::Text(s(t)),
                                Content::Image(data, mime) => wit::Content::Image(wit::Media {
                                    data: s(data),
                                    mime_type: s(mime),
                                }),
                                Content::Embedded(uri, mime, text) => {
                                    wit::Content::Embedded(wit::Embedded {
                                        uri: s(uri),
                                        mime_type: s(mime),
                                        text: s(text),
                                    })
                                }
                            },
                        })
                        .collect(),
                    tools: p.tools.iter().map(|t| s(t)).collect(),
                    optional_tools: p.optional_tools.iter().map(|t| s(t)).collect(),
                })
                .collect(),
            resource_templates: f
                .templates
                .iter()
                .map(|t| wit::ResourceTemplate {
                    uri_template: s(t.uri),
                    name: s(t.name),
                    description: s(t.description),
                    mime_type: s(t.mime_type),
                    tool: s(t.tool),
                    completers: t.completers.iter().map(|(v, c)| (s(v), s(c))).collect(),
                })
                .collect(),
            completers: f
                .completers
                .iter()
                .map(|(name, tool)| wit::Completer {
                    name: s(name),
                    tool: s(tool),
                })
                .collect(),
        }
    }

    /// Read a templated resource against the real host.
    pub fn read_resource(
        p: &Plugin,
        uri: &str,
        variables: Vec<(String, String)>,
    ) -> Result<tools::Output, tools::CallError> {
        crate::__private::to_wit(p.read_resource(&HostEnv, uri, &Vars(variables)))
    }

    /// Complete against the real host.
    pub fn complete(
        p: &Plugin,
        completer: &str,
        value: &str,
        context: Vec<(String, String)>,
    ) -> Result<Vec<String>, tools::CallError> {
        p.complete(&HostEnv, completer, value, &Vars(context))
            .map_err(crate::__private::error_to_wit)
    }
}
