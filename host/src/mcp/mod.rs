//! The MCP surface: a hand-written rmcp handler over the live registry (tools and resources
//! change with hot swap, so nothing is generated at compile time), and its transports.

pub mod changes;
pub mod completion;
pub mod connections;
pub mod http;
pub mod logging;
pub mod prompt_input;
pub mod sessions;
pub mod stdio;
pub mod subscriptions;
pub mod templates;

use std::sync::Arc;

use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, CallToolResult, CompleteRequestParams,
    CompleteResult, ContentBlock as Content, GetPromptRequestParams, GetPromptResponse,
    Implementation, ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult,
    ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, ProtocolVersion,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource,
    ServerCapabilities, ServerConfig, SubscriptionFilter, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::Value;

use crate::app::App;
use crate::client_input;
use crate::controls::Caller;
use crate::registry;
use crate::runtime::{ProgressSink, tools};

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

    /// Who sent this request: the API key's client id and profile over HTTP (with the MCP
    /// session id as the session), `stdio` and the server's default profile otherwise.
    fn caller(&self, ctx: &RequestContext<RoleServer>) -> Caller {
        let parts = ctx.extensions.get::<::http::request::Parts>();
        let client = parts
            .and_then(|p| p.extensions.get::<http::ClientId>())
            .map_or("stdio", |c| c.0.as_str())
            .to_string();
        let session = parts
            .and_then(|p| p.headers.get("mcp-session-id"))
            .and_then(|v| v.to_str().ok())
            .map_or_else(|| client.clone(), |s| format!("{client}/{s}"));
        let profile = parts
            .and_then(|p| p.extensions.get::<ProfileName>())
            .and_then(|n| self.app.controls.profiles.get(&n.0))
            .unwrap_or_else(|| self.app.controls.profiles.default_profile());
        Caller {
            client,
            session,
            profile,
        }
    }

    /// The tenant of the API client this request brought in its headers, if it did (see
    /// [`crate::client_credentials`]).
    fn request_tenant(
        &self,
        ctx: &RequestContext<RoleServer>,
    ) -> Option<(String, Arc<crate::egress::Egress>)> {
        let parts = ctx.extensions.get::<::http::request::Parts>()?;
        let client = parts
            .extensions
            .get::<crate::client_credentials::RequestClient>()?;
        let pool = self.app.services.clients.as_ref()?;
        Some((client.tenant_name(), pool.egress(client)))
    }

    /// Run `f` for this request: its log lines go to this client, and it runs against the API
    /// client the request brought, if it did.
    async fn scoped<F: Future>(
        &self,
        ctx: &RequestContext<RoleServer>,
        caller: &Caller,
        f: F,
    ) -> F::Output {
        let f = logging::scoped(ctx, &caller.session, f);
        match self.request_tenant(ctx) {
            Some((name, egress)) => crate::tenants::scope(&name, egress, f).await,
            None => f.await,
        }
    }
}

/// The client capabilities tool `name` needs that this request's client did not declare (its
/// `_meta` on 2026-07-28, its `initialize` on a session), or `None` when it has them all.
/// Such a call is refused before the tool runs: its `ask` could not be answered.
fn missing_capabilities(
    app: &App,
    name: &str,
    ctx: &RequestContext<RoleServer>,
) -> Option<rmcp::model::ClientCapabilities> {
    let snap = app.registry.snapshot();
    let (_, tool) = snap.tool(name)?;
    let declared = ctx.client_capabilities().unwrap_or_default();
    let mut missing = rmcp::model::ClientCapabilities::default();
    for need in &tool.desc.needs {
        match need {
            tools::ClientCapability::Sampling if declared.sampling.is_none() => {
                missing.sampling = Some(Default::default());
            }
            tools::ClientCapability::Elicitation if declared.elicitation.is_none() => {
                missing.elicitation = Some(Default::default());
            }
            tools::ClientCapability::Roots if declared.roots.is_none() => {
                missing.roots = Some(Default::default());
            }
            _ => {}
        }
    }
    let none =
        missing.sampling.is_none() && missing.elicitation.is_none() && missing.roots.is_none();
    (!none).then_some(missing)
}

/// Who sent this request, in full (sessions and input-required rounds are bound to it): the
/// API key's digest over HTTP (`http` without keys), `stdio` otherwise.
fn principal(ctx: &RequestContext<RoleServer>) -> String {
    ctx.extensions
        .get::<::http::request::Parts>()
        .and_then(|p| p.extensions.get::<http::ClientId>())
        .map_or("stdio", |c| c.principal())
        .to_string()
}

/// The profile an HTTP request's API key maps to, put in the request's extensions by the key
/// check.
#[derive(Clone, Debug)]
pub struct ProfileName(pub String);

/// The MCP description of a registry tool.
pub fn mcp_tool(t: &registry::Tool) -> Tool {
    let d = &t.desc;
    // Hints that equal the MCP defaults are left out (an agent pays for every byte of
    // tools/list): readOnlyHint defaults to false, destructiveHint to true, idempotentHint to
    // false and openWorldHint to true; destructive and idempotent only mean something when
    // readOnlyHint is false.
    let mut annotations = ToolAnnotations::default();
    if d.tier == tools::Tier::Read {
        annotations = annotations.read_only(true);
    } else {
        if !d.destructive {
            annotations = annotations.destructive(false);
        }
        if d.idempotent {
            annotations = annotations.idempotent(true);
        }
    }
    let mut tool = Tool::new(d.name.clone(), d.description.clone(), t.schema.clone())
        .with_title(d.title.clone());
    if annotations != ToolAnnotations::default() {
        tool = tool.with_annotations(annotations);
    }
    match &t.output {
        Some(o) => tool.with_raw_output_schema(o.schema.clone()),
        None => tool,
    }
}

/// What aerie serves, as advertised to clients (and as [`changes::between`] reports changes).
pub fn capabilities() -> ServerCapabilities {
    #[allow(
        deprecated,
        reason = "logging is deprecated by SEP-2577, but clients still use it"
    )]
    let builder = ServerCapabilities::builder().enable_logging();
    builder
        .enable_completions()
        .enable_prompts()
        .enable_prompts_list_changed()
        .enable_tools()
        .enable_tool_list_changed()
        .enable_resources()
        .enable_resources_list_changed()
        .enable_resources_subscribe()
        .build()
}

/// How long a 2026-07-28 client may reuse a list or a plugin's static resource before asking
/// again (SEP-2549 `ttlMs`). A hot swap reaches listening clients at once; this bounds how stale
/// a client that does not listen can be.
pub const LIST_TTL_MS: u64 = 60_000;

/// SEP-2549 caching hints for a cacheable result: [`LIST_TTL_MS`] and `scope` for a 2026-07-28
/// client, none for older ones (their results have no such fields).
fn cache_hint(
    ctx: &RequestContext<RoleServer>,
    scope: CacheScope,
) -> (Option<u64>, Option<CacheScope>) {
    let modern = ctx
        .protocol_version()
        .is_some_and(|v| v.as_str() >= ProtocolVersion::V_2026_07_28.as_str());
    if modern {
        (Some(LIST_TTL_MS), Some(scope))
    } else {
        (None, None)
    }
}

/// Progress from the plugin, forwarded in order as MCP progress notifications. The runtime
/// already coalesces and rate-limits a call's reports; the queue to the client is bounded too,
/// and a report that finds it full (a client not reading) is dropped: progress is advisory.
fn progress_sink(ctx: &RequestContext<RoleServer>) -> Option<ProgressSink> {
    /// Reports waiting for the client, per call.
    const QUEUED: usize = 64;
    let token = ctx.meta.get_progress_token()?;
    let peer = ctx.peer.clone();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(u64, Option<u64>, String)>(QUEUED);
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
        let _ = tx.try_send((done, total, message));
    }))
}

impl ServerHandler for Handler {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(capabilities())
            .with_server_info(
                Implementation::new("aerie", env!("CARGO_PKG_VERSION")).with_title("aerie — CrowdStrike Falcon MCP server"),
            )
            .with_instructions(
                "Tools for CrowdStrike Falcon: detections, incidents, hosts, threat hunting, real-time response, \
                 prevention policies and NG-SIEM. Filters use FQL; read the falcon:// resources for syntax. \
                 Write tools appear only when the operator enabled writes; destructive ones preview unless confirm is true.",
            )
    }

    async fn on_initialized(&self, ctx: rmcp::service::NotificationContext<RoleServer>) {
        self.app.changes.add_session(ctx.peer);
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(changes::accepted_filter(requested))
    }

    async fn listen(&self, ctx: rmcp::service::SubscriptionContext) -> Result<(), McpError> {
        self.app.changes.listen(ctx).await;
        Ok(())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let caller = self.caller(&ctx);
        let tools = self
            .scoped(&ctx, &caller, async { self.app.tools_for(&caller) })
            .await;
        let mut r = ListToolsResult::with_all_items(tools);
        // The list depends on the caller's profile.
        (r.ttl_ms, r.cache_scope) = cache_hint(&ctx, CacheScope::Private);
        Ok(r)
    }

    /// SEP-2243: rmcp checks a call's `Mcp-Param-*` headers against the input schema of the
    /// tool it names (properties annotated `x-mcp-header`) before the call reaches the handler.
    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.app
            .registry
            .snapshot()
            .tool(name)
            .map(|(_, t)| mcp_tool(t))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let caller = self.caller(&ctx);
        if let Some(required) = missing_capabilities(&self.app, &request.name, &ctx) {
            self.app.services.audit.record(
                "tool_call",
                serde_json::json!({"client": caller.client, "tool": request.name,
                    "outcome": "refused_missing_capability", "duration_ms": 0}),
            );
            return Err(McpError::missing_required_client_capability(required));
        }
        let args = Value::Object(request.arguments.unwrap_or_default());
        // Questions to the client (approval, a plugin's `ask`) are bound to this caller, tool
        // and arguments: a 2026-07-28 client's answers come back with the same call.
        let binding = format!(
            "tools/call\n{}\n{}\n{}",
            principal(&ctx),
            request.name,
            crate::controls::approvals::args_digest(&args)
        );
        let asker = Arc::new(client_input::Asker::for_request(
            &ctx,
            &binding,
            request.request_state.as_deref(),
            request.input_responses.as_ref(),
            self.app.controls.approvals.elicit_timeout(),
        )?);
        // Cancellation is the app's to handle: it audits the call, releases what it left
        // running and says whether a write may have been applied. At shutdown the sessions
        // are closed only after the drain, so this token does not cut a call the drain waits for.
        let call = client_input::scope(
            asker.clone(),
            self.app
                .call_as(&caller, &request.name, args, progress_sink(&ctx), &ctx.ct),
        );
        // The call's log lines go to this client, before its answer.
        let mut outcome = self.scoped(&ctx, &caller, call).await;
        if let Some((tenant, _)) = self.request_tenant(&ctx) {
            outcome.meta.insert("aerie/tenant".into(), tenant.into());
        }
        if let Some(input_required) = asker.input_required()? {
            return Ok(input_required.into());
        }
        let mut content = vec![Content::text(outcome.text)];
        content.extend(outcome.content);
        let mut result = if outcome.is_error {
            CallToolResult::error(content)
        } else {
            CallToolResult::success(content)
        };
        result.structured_content = outcome.structured;
        if !outcome.meta.is_empty() {
            result.meta = Some(rmcp::model::MetaObject(outcome.meta));
        }
        Ok(result.into())
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        let caller = self.caller(&ctx);
        let mut result =
            ListResourceTemplatesResult::with_all_items(templates::list(&self.app, &caller));
        // What a caller sees depends on its profile, like tools/list.
        (result.ttl_ms, result.cache_scope) = cache_hint(&ctx, CacheScope::Private);
        Ok(result)
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        let caller = self.caller(&ctx);
        let answer = completion::complete(&self.app, &caller, &request, &ctx.ct);
        self.scoped(&ctx, &caller, answer).await
    }

    #[allow(
        deprecated,
        reason = "resources/subscribe is how 2025 sessions subscribe"
    )]
    async fn subscribe(
        &self,
        request: rmcp::model::SubscribeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        if !subscriptions::exists(&self.app.registry.snapshot(), &request.uri) {
            return Err(McpError::resource_not_found(
                format!(
                    "no resource `{}`; see resources/list and resources/templates/list",
                    request.uri
                ),
                None,
            ));
        }
        let caller = self.caller(&ctx);
        self.app
            .subscriptions
            .subscribe(&caller.session, ctx.peer.clone(), &request.uri)
            .map_err(|m| McpError::invalid_request(m, None))
    }

    #[allow(
        deprecated,
        reason = "resources/unsubscribe is how 2025 sessions unsubscribe"
    )]
    async fn unsubscribe(
        &self,
        request: rmcp::model::UnsubscribeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let caller = self.caller(&ctx);
        self.app
            .subscriptions
            .unsubscribe(&caller.session, &request.uri);
        Ok(())
    }

    #[allow(
        deprecated,
        reason = "logging is deprecated by SEP-2577, but clients still use it"
    )]
    async fn set_level(
        &self,
        request: rmcp::model::SetLevelRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let caller = self.caller(&ctx);
        logging::set_level(&caller.session, ctx.peer.clone(), request.level);
        Ok(())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        let caller = self.caller(&ctx);
        Ok(ListPromptsResult::with_all_items(
            self.app.prompts_for(&caller),
        ))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let caller = self.caller(&ctx);
        let arguments = match prompt_input::arguments(&self.app, &caller, &request, &ctx).await? {
            Ok(a) => a,
            Err(more) => return Ok(more.into()),
        };
        self.app
            .get_prompt(&caller, &request.name, Some(&arguments))
            .map(Into::into)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
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
        let mut r = ListResourcesResult::with_all_items(resources);
        (r.ttl_ms, r.cache_scope) = cache_hint(&ctx, CacheScope::Private);
        Ok(r)
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let snap = self.app.registry.snapshot();
        let Some((p, i)) = snap.resources.get(&request.uri) else {
            let caller = self.caller(&ctx);
            let read = templates::read(&self.app, &caller, &request.uri, &ctx.ct);
            if let Some(r) = self.scoped(&ctx, &caller, read).await {
                // Entity data is live and the caller's own: no client may cache it.
                let mut result = r?;
                if cache_hint(&ctx, CacheScope::Private).0.is_some() {
                    (result.ttl_ms, result.cache_scope) = (Some(0), Some(CacheScope::Private));
                }
                return Ok(result.into());
            }
            // SEP-2164: the error names the URI in its data.
            return Err(McpError::resource_not_found(
                format!("no resource `{}`; see resources/list", request.uri),
                Some(serde_json::json!({"uri": request.uri})),
            ));
        };
        let r = &p.resources[*i];
        let contents =
            crate::runtime::content::resource_contents(&r.uri, &r.mime_type, &r.contents);
        let mut result = ReadResourceResult::new(vec![contents]);
        // A plugin's static resource is the same for every caller.
        (result.ttl_ms, result.cache_scope) = cache_hint(&ctx, CacheScope::Public);
        Ok(result.into())
    }
}
