//! Resource templates: entities read as resources (`falcon://hosts/{device_id}`), each read
//! by the plugin that declared the template, in a fresh store, under the grant of the read tool
//! it names. A caller sees and reads a template only when its profile may run that tool; a
//! read counts against the profile's call budget as a call of that tool and is audited
//! (`resource_read`), because it makes the same Falcon requests.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use rmcp::ErrorData as McpError;
use rmcp::model::{ReadResourceResult, ResourceContents, ResourceTemplate};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::app::{App, MAX_RESULT_BYTES};
use crate::cleanup::CallServices;
use crate::controls::Caller;
use crate::registry::{Plugin, Template};
use crate::runtime::{CallFailure, CallInfo, tools};

/// The templates `caller` may read.
pub fn list(app: &App, caller: &Caller) -> Vec<ResourceTemplate> {
    let snap = app.registry.snapshot();
    snap.templates
        .values()
        .map(|(p, i)| &p.features.templates[*i])
        .filter(|t| app.can_run(caller, &t.desc.tool))
        .map(|t| {
            let d = &t.desc;
            ResourceTemplate::new(d.uri_template.clone(), d.name.clone())
                .with_description(d.description.clone())
                .with_mime_type(d.mime_type.clone())
        })
        .collect()
}

/// A template's plugin, its index there, and the variables of a URI it matched.
pub type Resolved = (Arc<Plugin>, usize, Vec<(String, String)>);

/// The template `uri` is an instance of, with its variables.
pub fn resolve(snap: &crate::registry::Snapshot, uri: &str) -> Option<Resolved> {
    snap.templates.values().find_map(|(p, i)| {
        let vars = p.features.templates[*i].uri.matches(uri)?;
        Some((p.clone(), *i, vars))
    })
}

/// Run a plugin's `mcp` call for `who` like a tool call: refused while the server drains,
/// stopped when `cancel` fires, and whatever it left running on Falcon released after.
pub(super) async fn guarded<R, F, Fut>(
    app: &App,
    who: &CallInfo,
    cancel: &CancellationToken,
    run: F,
) -> Result<R, String>
where
    F: FnOnce(Arc<CallServices>) -> Fut,
    Fut: Future<Output = Result<R, CallFailure>>,
{
    let Some(_in_flight) = app.inflight.enter() else {
        return Err(crate::app::SHUTTING_DOWN.into());
    };
    let services = Arc::new(CallServices::new(
        app.services.clone(),
        app.services.audit.clone(),
    ));
    let out = tokio::select! {
        biased;
        r = run(services.clone()) => r.map_err(|f| failure(&who.plugin, f)),
        _ = cancel.cancelled() => Err("cancelled".into()),
        _ = app.inflight.cut().cancelled() => Err("stopped by shutdown".into()),
    };
    services.release(who, "completed").await;
    out
}

/// What a failed `mcp` call tells the client.
fn failure(plugin: &str, f: CallFailure) -> String {
    match f {
        CallFailure::Tool(e) => match e {
            tools::CallError::InvalidArguments(m) => format!("invalid: {m}"),
            tools::CallError::NotFound(m) => format!("not found: {m}"),
            tools::CallError::Upstream(u) => {
                format!("Falcon returned HTTP {}: {}", u.status, u.message)
            }
            tools::CallError::Denied(m) => format!("denied by aerie's policy: {m}"),
            tools::CallError::Internal(m) => format!("plugin `{plugin}` failed: {m}"),
        },
        other => format!("plugin `{plugin}`: {other}"),
    }
}

/// Read `uri` through its template for `caller`; `None` when no template matches it.
pub async fn read(
    app: &App,
    caller: &Caller,
    uri: &str,
    cancel: &CancellationToken,
) -> Option<Result<ReadResourceResult, McpError>> {
    let snap = app.registry.snapshot();
    let (plugin, i, vars) = resolve(&snap, uri)?;
    let t: &Template = &plugin.features.templates[i];
    let tool = t.desc.tool.as_str();
    if !app.can_run(caller, tool) {
        // The same answer as for a URI nothing serves: a profile learns nothing about what
        // it may not read.
        return Some(Err(not_found(uri)));
    }
    if let Err(m) = app
        .controls
        .budgets
        .charge(&caller.session, &caller.profile, tool)
        .await
    {
        return Some(Err(McpError::invalid_request(m, None)));
    }
    let started = Instant::now();
    let who = CallInfo {
        plugin: plugin.name.as_str().into(),
        tool: tool.into(),
    };
    let out = guarded(app, &who, cancel, |services| {
        app.runtime.read_resource(
            &plugin.instance,
            who.clone(),
            services,
            &t.desc.uri_template,
            vars,
        )
    })
    .await;
    let outcome = match &out {
        Ok(_) => "ok",
        Err(_) => "error",
    };
    app.services.audit.record(
        "resource_read",
        json!({"client": caller.client, "profile": caller.profile.name, "plugin": plugin.name,
               "tool": tool, "template": t.desc.uri_template, "outcome": outcome,
               "duration_ms": started.elapsed().as_millis() as u64}),
    );
    Some(match out {
        Err(m) if m.starts_with("not found") => Err(not_found(uri)),
        Err(m) if m.starts_with("invalid") => Err(McpError::invalid_params(m, None)),
        Err(m) => Err(McpError::internal_error(m, None)),
        Ok(o) => contents(uri, &t.desc.mime_type, o),
    })
}

fn not_found(uri: &str) -> McpError {
    McpError::resource_not_found(
        format!("no resource `{uri}`; see resources/list and resources/templates/list"),
        None,
    )
}

/// The read's content: the structured result as JSON, else the text.
fn contents(uri: &str, mime: &str, o: tools::Output) -> Result<ReadResourceResult, McpError> {
    let text = match o.structured {
        Some(s) => match serde_json::from_str::<Value>(&s) {
            Ok(v) => v.to_string(),
            Err(_) => {
                return Err(McpError::internal_error(
                    "the plugin returned content that is not JSON",
                    None,
                ));
            }
        },
        None => o.text,
    };
    if text.len() > MAX_RESULT_BYTES {
        return Err(McpError::internal_error(
            format!(
                "the resource is too large ({} bytes; the limit is {MAX_RESULT_BYTES})",
                text.len()
            ),
            None,
        ));
    }
    Ok(ReadResourceResult::new(vec![
        ResourceContents::text(text, uri.to_string()).with_mime_type(mime.to_string()),
    ]))
}
