//! Declaring a tool group: [`Plugin`] holds the tools ([`ToolSpec`] + typed handler) and
//! resources, describes them to the host and dispatches calls.

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::context::Ctx;
use crate::decl::{Get, GetArgs, Search, SearchArgs};
use crate::env::Env;
use crate::error::ToolError;
use crate::result::Output;
use crate::schema::schema_for;

/// Whether a tool only reads or also changes the tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// Reads only; available by default.
    Read,
    /// Changes the tenant; hidden unless the operator allows writes.
    Write,
}

/// A tool's metadata: everything but the schema (derived) and the handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolSpec {
    /// Stable name, `^[a-z0-9_]{1,64}$`, conventionally `<group>_<verb>[_<object>]`.
    pub name: &'static str,
    /// Human-readable title.
    pub title: &'static str,
    /// What the tool returns and does; first sentence says what comes back.
    pub description: &'static str,
    /// Read or write.
    pub tier: Tier,
    /// May destroy or disrupt (containment, policy changes).
    pub destructive: bool,
    /// Repeating the call has no further effect.
    pub idempotent: bool,
    /// The host may cache results.
    pub cacheable: bool,
    /// Falcon operation ids the tool calls; the host denies all others.
    pub operations: &'static [&'static str],
    /// FQL guide resource cited when Falcon rejects a filter.
    pub fql_guide: Option<&'static str>,
    /// Shape of its structured result, sent as its MCP `outputSchema` and checked by the host.
    pub output: Option<crate::features::Shape>,
    /// Client capabilities it cannot work without; the host refuses a call from a client that
    /// did not declare one (MCP error -32021) before the tool runs.
    pub needs: &'static [ClientCapability],
}

/// A capability of the MCP client a tool may need (it asks the client through the host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientCapability {
    /// Sampling (`sampling/createMessage`).
    Sampling,
    /// Elicitation (`elicitation/create`).
    Elicitation,
    /// Roots (`roots/list`).
    Roots,
}

impl ToolSpec {
    /// A read tool: idempotent and cacheable.
    pub const fn read(name: &'static str, title: &'static str, description: &'static str) -> Self {
        Self {
            name,
            title,
            description,
            tier: Tier::Read,
            destructive: false,
            idempotent: true,
            cacheable: true,
            operations: &[],
            fql_guide: None,
            output: None,
            needs: &[],
        }
    }

    /// A write tool: neither idempotent nor cacheable until said otherwise.
    pub const fn write(name: &'static str, title: &'static str, description: &'static str) -> Self {
        Self {
            name,
            title,
            description,
            tier: Tier::Write,
            destructive: false,
            idempotent: false,
            cacheable: false,
            operations: &[],
            fql_guide: None,
            output: None,
            needs: &[],
        }
    }

    /// The shape of its structured result.
    pub const fn output(mut self, shape: crate::features::Shape) -> Self {
        self.output = Some(shape);
        self
    }

    /// `shape`, unless a shape was already declared (declared tools know their own).
    const fn output_or(mut self, shape: crate::features::Shape) -> Self {
        if self.output.is_none() {
            self.output = Some(shape);
        }
        self
    }

    /// The client capabilities it cannot work without.
    pub const fn needs(mut self, capabilities: &'static [ClientCapability]) -> Self {
        self.needs = capabilities;
        self
    }

    /// The Falcon operations this tool calls.
    pub const fn ops(mut self, operations: &'static [&'static str]) -> Self {
        self.operations = operations;
        self
    }

    /// Mark destructive (the tool should preview unless confirmed).
    pub const fn destructive(mut self) -> Self {
        self.destructive = true;
        self
    }

    /// Mark idempotent.
    pub const fn idempotent(mut self) -> Self {
        self.idempotent = true;
        self
    }

    /// Never cache results (live state such as RTR sessions).
    pub const fn not_cacheable(mut self) -> Self {
        self.cacheable = false;
        self
    }

    /// Cite this FQL guide on filter errors.
    pub const fn guide(mut self, uri: &'static str) -> Self {
        self.fql_guide = Some(uri);
        self
    }
}

/// A static resource (FQL/CQL guide) the plugin offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// URI, e.g. `falcon://fql/alerts`.
    pub uri: &'static str,
    /// Short name.
    pub name: &'static str,
    /// One line on what it holds.
    pub description: &'static str,
    /// MIME type.
    pub mime_type: &'static str,
    /// Content.
    pub contents: Contents,
}

/// What a static resource holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contents {
    /// Text.
    Text(&'static str),
    /// Bytes; the host sends them as base64.
    Blob(&'static [u8]),
}

impl Resource {
    /// A markdown resource.
    pub const fn markdown(
        uri: &'static str,
        name: &'static str,
        description: &'static str,
        text: &'static str,
    ) -> Self {
        Self {
            uri,
            name,
            description,
            mime_type: "text/markdown",
            contents: Contents::Text(text),
        }
    }

    /// A binary resource (an image, an archive), sent as a base64 blob.
    pub const fn blob(
        uri: &'static str,
        name: &'static str,
        description: &'static str,
        mime_type: &'static str,
        data: &'static [u8],
    ) -> Self {
        Self {
            uri,
            name,
            description,
            mime_type,
            contents: Contents::Blob(data),
        }
    }
}

/// A described tool: metadata plus its compact input schema as JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolInfo {
    /// Metadata.
    pub spec: ToolSpec,
    /// Input schema (JSON text).
    pub input_schema: String,
}

/// What [`Plugin::describe`] returns (mirrors the WIT `descriptor`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    /// Plugin name.
    pub name: &'static str,
    /// Semver.
    pub version: &'static str,
    /// One line.
    pub description: &'static str,
    /// Tools.
    pub tools: Vec<ToolInfo>,
    /// Resources.
    pub resources: Vec<Resource>,
}

impl Descriptor {
    /// Bytes a tool costs in `tools/list`, roughly: name, title, description and schema.
    pub fn tool_bytes(&self) -> Vec<(&'static str, usize)> {
        self.tools
            .iter()
            .map(|t| {
                let s = &t.spec;
                (
                    s.name,
                    s.name.len() + s.title.len() + s.description.len() + t.input_schema.len(),
                )
            })
            .collect()
    }

    /// Average of [`Descriptor::tool_bytes`]; the target is under 450.
    pub fn average_tool_bytes(&self) -> usize {
        let sizes = self.tool_bytes();
        sizes.iter().map(|(_, n)| n).sum::<usize>() / sizes.len().max(1)
    }
}

type Handler = Box<dyn Fn(&Ctx<'_>, &str) -> Result<Output, ToolError>>;

struct Entry {
    spec: ToolSpec,
    schema: Box<dyn Fn() -> Value>,
    run: Handler,
}

/// A tool group: name, version, tools and resources.
pub struct Plugin {
    name: &'static str,
    version: &'static str,
    description: &'static str,
    tools: Vec<Entry>,
    resources: Vec<Resource>,
    pub(crate) features: crate::features::Features,
}

impl Plugin {
    /// A plugin with no tools yet.
    pub fn new(name: &'static str, version: &'static str, description: &'static str) -> Self {
        Self {
            name,
            version,
            description,
            tools: Vec::new(),
            resources: Vec::new(),
            features: Default::default(),
        }
    }

    /// Add a tool. `A` is the arguments struct: its JSON schema is derived (and compacted) and the
    /// arguments are deserialised into it before `handler` runs.
    pub fn tool<A, F>(mut self, spec: ToolSpec, handler: F) -> Self
    where
        A: DeserializeOwned + JsonSchema + 'static,
        F: Fn(&Ctx<'_>, A) -> Result<Output, ToolError> + 'static,
    {
        let run: Handler = Box::new(move |ctx, json| {
            let args: A = parse_args(json)?;
            handler(ctx, args)
        });
        self.tools.push(Entry {
            spec,
            schema: Box::new(schema_for::<A>),
            run,
        });
        self
    }

    /// Add a declared search tool: `A`'s fields give the schema and the FQL, `search` the rest.
    pub fn search<A>(self, spec: ToolSpec, search: &'static Search) -> Self
    where
        A: DeserializeOwned + JsonSchema + SearchArgs + 'static,
    {
        let spec = spec.output_or(crate::features::Shape::Search);
        self.tool(spec, move |ctx, args: A| search.run(ctx, &args))
    }

    /// Add a declared lookup by id; its schema is `{"ids": [...]}` bounded by `get.max`.
    pub fn get(mut self, spec: ToolSpec, get: &'static Get) -> Self {
        self.tools.push(Entry {
            spec: spec.output_or(crate::features::Shape::List(get.noun)),
            schema: Box::new(move || get.schema()),
            run: Box::new(move |ctx, json| {
                let args: GetArgs = parse_args(json)?;
                get.run(ctx, &args.ids)
            }),
        });
        self
    }

    /// Add a resource.
    pub fn resource(mut self, resource: Resource) -> Self {
        self.resources.push(resource);
        self
    }

    /// Describe the plugin (schemas are generated here, once per load).
    pub fn describe(&self) -> Descriptor {
        Descriptor {
            name: self.name,
            version: self.version,
            description: self.description,
            tools: self
                .tools
                .iter()
                .map(|e| ToolInfo {
                    spec: e.spec,
                    input_schema: (e.schema)().to_string(),
                })
                .collect(),
            resources: self.resources.clone(),
        }
    }

    /// Run `tool` with JSON `arguments` against `env`.
    pub fn call(&self, env: &dyn Env, tool: &str, arguments: &str) -> Result<Output, ToolError> {
        let entry = self
            .tools
            .iter()
            .find(|e| e.spec.name == tool)
            .ok_or_else(|| {
                ToolError::not_found(format!("tool `{tool}` in plugin {}", self.name))
            })?;
        let ctx = Ctx::new(env, entry.spec.name, entry.spec.fql_guide);
        (entry.run)(&ctx, arguments)
    }

    /// Check the declarations a host would reject: tool names, duplicate names, missing
    /// operations. Plugins call this from a unit test.
    pub fn validate(&self) -> Result<(), String> {
        let mut seen = Vec::new();
        for e in &self.tools {
            let n = e.spec.name;
            let ok = !n.is_empty()
                && n.len() <= 64
                && n.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !ok {
                return Err(format!(
                    "tool name `{n}` does not match ^[a-z0-9_]{{1,64}}$"
                ));
            }
            if seen.contains(&n) {
                return Err(format!("tool `{n}` declared twice"));
            }
            seen.push(n);
            if e.spec.operations.is_empty() {
                return Err(format!("tool `{n}` declares no operations"));
            }
            let schema = (e.schema)();
            if schema.get("type").and_then(Value::as_str) != Some("object") {
                return Err(format!("tool `{n}`: arguments schema is not an object"));
            }
        }
        self.validate_features()
    }

    /// Every tool's metadata, in declaration order.
    pub(crate) fn specs(&self) -> impl Iterator<Item = &ToolSpec> {
        self.tools.iter().map(|e| &e.spec)
    }
}

/// Deserialise tool arguments; an empty string reads as `{}`.
fn parse_args<A: DeserializeOwned>(json: &str) -> Result<A, ToolError> {
    let json = if json.trim().is_empty() { "{}" } else { json };
    serde_json::from_str(json).map_err(|e| ToolError::invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MockEnv;
    use serde::Deserialize;

    /// Echo args.
    #[derive(Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Echo {
        /// Text.
        text: String,
    }

    fn plugin() -> Plugin {
        Plugin::new("demo", "0.1.0", "Demo").tool(
            ToolSpec::read("demo_echo", "Echo", "Echoes.").ops(&["X"]),
            |_ctx, a: Echo| Ok(Output::text(a.text)),
        )
    }

    #[test]
    fn dispatch_and_argument_errors() {
        let p = plugin();
        let env = MockEnv::new();
        assert_eq!(
            p.call(&env, "demo_echo", r#"{"text":"hi"}"#).unwrap().text,
            "hi"
        );
        let e = p.call(&env, "demo_echo", r#"{"txt":"hi"}"#).unwrap_err();
        assert!(matches!(e, ToolError::InvalidArguments(ref m) if m.contains("txt")));
        assert!(matches!(
            p.call(&env, "nope", "{}"),
            Err(ToolError::NotFound(_))
        ));
    }

    #[test]
    fn describe_and_validate() {
        let p = plugin();
        p.validate().unwrap();
        let d = p.describe();
        assert_eq!(d.tools.len(), 1);
        assert!(
            d.tools[0]
                .input_schema
                .contains("\"additionalProperties\":false")
        );
        let bad = Plugin::new("x", "0.1.0", "x").tool(
            ToolSpec::read("Bad-Name", "t", "d").ops(&["X"]),
            |_c, a: Echo| Ok(Output::text(a.text)),
        );
        assert!(bad.validate().is_err());
    }
}
