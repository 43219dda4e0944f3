//! The MCP surface: a hand-written rmcp handler over the live registry (tools and resources
//! change with hot swap, so nothing is generated at compile time), and its transports.

pub mod http;

use std::sync::Arc;
use std::time::Instant;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock as Content,
    Implementation, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ProgressNotificationParam, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult,
    Resource, ResourceContents, ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::app::App;
use crate::registry;
use crate::runtime::{CallFailure, CallInfo, ProgressSink, tools};

/// Largest tool result passed to a client, in bytes.
pub const MAX_RESULT_BYTES: usize = 4 << 20;

/// The rmcp handler. Cheap to clone: one per connection or HTTP session.
#[derive(Clone)]
pub struct Handler {
    app: Arc<App>,
}

impl Handler {
    /// A handler serving `app`.
    pub fn new(app: Arc<App>) -> Handler {
        Handler { app }
    }
}

/// The MCP description of a registry tool.
pub fn mcp_tool(t: &registry::Tool) -> Tool {
    let d = &t.desc;
    // Hints that equal the MCP defaults are left out (an agent pays for every byte of
    // tools/list): openWorldHint defaults to true, and destructive/idempotent only mean
    // something when readOnlyHint is false.
    let read_only = d.tier == tools::Tier::Read;
    let mut annotations = ToolAnnotations::new().read_only(read_only);
    if !read_only {
        annotations = annotations
            .destructive(d.destructive)
            .idempotent(d.idempotent);
    }
    Tool::new(d.name.clone(), d.description.clone(), t.schema.clone())
        .with_title(d.title.clone())
        .with_annotations(annotations)
}

fn tool_error(message: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![Content::text(message.into())])
}

/// Turn a failed call into the message a model can act on.
fn failure_message(plugin: &str, f: CallFailure) -> String {
    match f {
        CallFailure::Tool(e) => match e {
            tools::CallError::InvalidArguments(m) => format!("Invalid arguments: {m}"),
            tools::CallError::NotFound(m) => format!("Not found: {m}"),
            tools::CallError::Upstream(u) => {
                format!("Falcon returned HTTP {}: {}", u.status, u.message)
            }
            tools::CallError::Denied(m) => format!("Denied by aerie's policy: {m}"),
            tools::CallError::Internal(m) => format!("Plugin `{plugin}` failed: {m}"),
        },
        other => format!("Plugin `{plugin}`: {other}"),
    }
}

fn args_digest(args: &Value) -> String {
    hex::encode(Sha256::digest(args.to_string().as_bytes()))
}

/// Progress from the plugin, forwarded in order as MCP progress notifications.
fn progress_sink(ctx: &RequestContext<RoleServer>) -> Option<ProgressSink> {
    let token = ctx.meta.get_progress_token()?;
    let peer = ctx.peer.clone();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(u64, Option<u64>, String)>();
    tokio::spawn(async move {
        while let Some((done, total, message)) = rx.recv().await {
            let mut p =
                ProgressNotificationParam::new(token.clone(), done as f64).with_message(message);
            if let Some(t) = total {
                p = p.with_total(t as f64);
            }
            if peer.notify_progress(p).await.is_err() {
                break;
            }
        }
    });
    Some(Arc::new(move |done, total, message| {
        let _ = tx.send((done, total, message));
    }))
}

impl ServerHandler for Handler {
    fn get_info(&self) -> ServerConfig {
        let caps = ServerCapabilities::builder()
            .enable_tools()
            .enable_tool_list_changed()
            .enable_resources()
            .build();
        ServerConfig::new(caps)
            .with_server_info(
                Implementation::new("aerie", env!("CARGO_PKG_VERSION")).with_title("aerie — CrowdStrike Falcon MCP server"),
            )
            .with_instructions(
                "Tools for CrowdStrike Falcon: detections, incidents, hosts, threat hunting, real-time response, \
                 prevention policies and NG-SIEM. Filters use FQL; read the falcon:// resources for syntax. \
                 Write tools appear only when the operator enabled writes; destructive ones preview unless confirm is true.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let snap = self.app.registry.snapshot();
        let tools = snap
            .tools
            .keys()
            .filter_map(|name| snap.tool(name))
            .map(|(_, t)| mcp_tool(t))
            .collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let started = Instant::now();
        // The snapshot is held for the whole call: a hot swap mid-call does not affect it.
        let snap = self.app.registry.snapshot();
        let name = request.name.to_string();
        let Some((plugin, tool)) = snap.tool(&name) else {
            let hint = if snap.tools.contains_key(&name) {
                "it is a write tool and writes are disabled (the operator can start aerie with --allow-writes)"
            } else {
                "call tools/list for the available tools"
            };
            return Ok(tool_error(format!("Unknown tool `{name}`: {hint}.")).into());
        };
        let args = Value::Object(request.arguments.unwrap_or_default());
        let digest = args_digest(&args);
        let audit = |outcome: &str| {
            self.app.services.audit.record(
                "tool_call",
                json!({
                    "tool": name, "plugin": plugin.name, "version": plugin.version, "args_sha256": digest,
                    "outcome": outcome, "duration_ms": started.elapsed().as_millis() as u64,
                }),
            );
        };
        let errors: Vec<String> = tool
            .validator
            .iter_errors(&args)
            .take(5)
            .map(|e| {
                let at = e.instance_path.to_string();
                if at.is_empty() {
                    e.to_string()
                } else {
                    format!("{at}: {e}")
                }
            })
            .collect();
        if !errors.is_empty() {
            audit("invalid_arguments");
            return Ok(tool_error(format!(
                "Invalid arguments for `{name}`: {}. Check the tool's input schema.",
                errors.join("; ")
            ))
            .into());
        }
        let args_json = args.to_string();
        let who = CallInfo {
            plugin: plugin.name.as_str().into(),
            tool: name.as_str().into(),
        };
        let call = self.app.runtime.call(
            &plugin.instance,
            who,
            self.app.services.clone(),
            progress_sink(&ctx),
            &name,
            &args_json,
        );
        let result = tokio::select! {
            r = call => r,
            _ = ctx.ct.cancelled() => {
                audit("cancelled");
                return Ok(tool_error("The call was cancelled.").into());
            }
        };
        let out = match result {
            Ok(out) => out,
            Err(f) => {
                let kind = match &f {
                    CallFailure::Tool(_) => "tool_error",
                    _ => "sandbox_error",
                };
                audit(kind);
                return Ok(tool_error(failure_message(&plugin.name, f)).into());
            }
        };
        let size = out.text.len() + out.structured.as_ref().map_or(0, String::len);
        if size > MAX_RESULT_BYTES {
            audit("too_large");
            return Ok(tool_error(format!(
                "The result is too large ({size} bytes; the limit is {MAX_RESULT_BYTES}). Narrow the query or lower its limit."
            ))
            .into());
        }
        audit("ok");
        let mut result = CallToolResult::success(vec![Content::text(out.text)]);
        if let Some(s) = out.structured {
            match serde_json::from_str::<Value>(&s) {
                Ok(v @ Value::Object(_)) => result.structured_content = Some(v),
                Ok(other) => result.structured_content = Some(json!({ "result": other })),
                Err(_) => {
                    tracing::warn!(tool = %name, "plugin returned structured content that is not JSON; dropped")
                }
            }
        }
        Ok(result.into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let snap = self.app.registry.snapshot();
        let resources = snap
            .resources
            .values()
            .map(|(p, i)| {
                let r = &p.resources[*i];
                Resource::new(r.uri.clone(), r.name.clone())
                    .with_description(r.description.clone())
                    .with_mime_type(r.mime_type.clone())
            })
            .collect();
        Ok(ListResourcesResult::with_all_items(resources))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let snap = self.app.registry.snapshot();
        let Some((p, i)) = snap.resources.get(&request.uri) else {
            return Err(McpError::resource_not_found(
                format!("no resource `{}`; see resources/list", request.uri),
                None,
            ));
        };
        let r = &p.resources[*i];
        let contents = ResourceContents::text(r.text.clone(), r.uri.clone())
            .with_mime_type(r.mime_type.clone());
        Ok(ReadResourceResult::new(vec![contents]).into())
    }
}
