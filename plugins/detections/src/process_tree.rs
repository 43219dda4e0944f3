//! Endpoint alert enrichment: the EDR behaviors of the attack (incidents API) and the process
//! tree — the ancestors the alert records, and what the triggering process did according to the
//! sensor's telemetry in NG-SIEM (child processes, DNS requests, network connections).

use aerie_sdk::fql::Fql;
use aerie_sdk::ngsiem;
use aerie_sdk::{Ctx, ToolError, project};
use serde_json::{Value, json};

use crate::{BEHAVIORS, timeline};

/// Behaviors shown with an endpoint alert.
const MAX_BEHAVIORS: u32 = 20;
/// Child processes, DNS requests and connections kept per triggering process.
const MAX_ACTIVITY: usize = 25;

/// The attack's behaviors, oldest first: the alert's incident's when it has one, else the
/// alert's own; each says whether it is this alert's.
pub(crate) fn behaviors(ctx: &Ctx<'_>, alert: &Value, id: &str) -> Result<Value, ToolError> {
    let filter = match alert.pointer("/incident/id").and_then(Value::as_str) {
        Some(inc) if !inc.is_empty() => Fql::new().eq("incident_id", inc),
        _ => Fql::new().eq("alert_ids", id),
    };
    let env = ctx
        .op("QueryBehaviors")
        .query("filter", filter.build().unwrap_or_default())
        .query("sort", "timestamp.asc")
        .query("limit", MAX_BEHAVIORS)
        .envelope()?;
    let found = ctx.hydrate(&BEHAVIORS, &env.ids())?;
    let mine: Vec<bool> = found
        .iter()
        .map(|b| {
            b.get("alert_ids")
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|x| x == id))
        })
        .collect();
    // `timeline` sorts; mark afterwards by behavior id.
    let own: Vec<String> = found
        .iter()
        .zip(&mine)
        .filter(|(_, m)| **m)
        .filter_map(|(b, _)| {
            b.get("behavior_id")
                .and_then(Value::as_str)
                .map(String::from)
        })
        .collect();
    let mut out = timeline(found);
    for b in &mut out {
        let is_own = b
            .get("behavior_id")
            .and_then(Value::as_str)
            .is_some_and(|x| own.iter().any(|o| o == x));
        b["this_alert"] = json!(is_own);
    }
    Ok(Value::Array(out))
}

/// A process as the alert records it.
fn node(role: &str, details: &Value) -> Value {
    let mut n = project(
        details,
        &["filename", "filepath", "cmdline", "process_id", "sha256"],
    );
    n["role"] = json!(role);
    n
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// The process tree: lineage from the alert, the triggering process's activity from telemetry.
/// Without telemetry (no NG-SIEM scope, a failed search) the lineage stands alone and the
/// second value says why.
pub(crate) fn tree(ctx: &Ctx<'_>, alert: &Value) -> (Value, Option<String>) {
    let lineage: Vec<Value> = [
        ("grandparent", "/grandparent_details"),
        ("parent", "/parent_details"),
    ]
    .into_iter()
    .filter_map(|(role, p)| alert.pointer(p).map(|d| node(role, d)))
    .filter(|n| !s(n, "filename").is_empty())
    .collect();
    let mut triggering = project(
        alert,
        &[
            "filename",
            "filepath",
            "cmdline",
            "process_id",
            "sha256",
            "user_name",
        ],
    );
    let mut tree = json!({"lineage": lineage});
    let note = match telemetry(ctx, alert, &mut triggering) {
        Ok(Some((cql, matched, complete))) => {
            tree["telemetry_query"] = json!(cql);
            tree["events_matched"] = json!(matched);
            tree["complete"] = json!(complete);
            None
        }
        Ok(None) => Some("process telemetry: the alert names no sensor process to follow".into()),
        Err(e) => Some(format!("process telemetry unavailable: {e}")),
    };
    tree["triggering"] = triggering;
    (tree, note)
}

/// Adds what the triggering process did (children, DNS, connections) from NG-SIEM; the query,
/// events matched and whether the search finished, or `None` when there is no process to follow.
fn telemetry(
    ctx: &Ctx<'_>,
    alert: &Value,
    triggering: &mut Value,
) -> Result<Option<(String, u64, bool)>, ToolError> {
    let aid = s(alert, "agent_id");
    let pid = s(alert, "process_id");
    // Both go into the query: only a 32-hex AID and a decimal process id are used.
    let usable = aid.len() == 32
        && aid.bytes().all(|b| b.is_ascii_hexdigit())
        && !pid.is_empty()
        && pid.bytes().all(|b| b.is_ascii_digit());
    if !usable {
        return Ok(None);
    }
    let started = s(alert, "process_start_time")
        .parse::<i64>()
        .ok()
        .map(|secs| secs * 1000)
        .or_else(|| ngsiem::epoch_ms(s(alert, "timestamp")))
        .ok_or_else(|| ToolError::internal("the alert has no process start time or timestamp"))?;
    let pid_q = ngsiem::quote(pid);
    let cql = format!(
        "aid={} (TargetProcessId={pid_q} or ParentProcessId={pid_q} or ContextProcessId={pid_q}) | tail(200)",
        ngsiem::quote(aid)
    );
    // From just before the process started to a day after: what it spawned and contacted.
    let r = crate::analysis::enrichment_search(ctx, &cql, started - 300_000, started + 86_400_000)?;
    let mut events = r.events;
    events.sort_by_key(|e| e.get("@timestamp").and_then(Value::as_i64).unwrap_or(0));
    let (mut children, mut dns, mut net) = (Vec::new(), Vec::new(), Vec::new());
    for e in &events {
        let at = e.get("@timestamp").cloned().unwrap_or(Value::Null);
        match s(e, "#event_simpleName") {
            "ProcessRollup2" if s(e, "ParentProcessId") == pid => children.push(json!({
                "filename": e.get("FileName"), "cmdline": e.get("CommandLine"), "process_id": e.get("TargetProcessId"),
                "sha256": e.get("SHA256HashData"), "user_name": e.get("UserName"), "timestamp": at})),
            // The process's own start event fills what the alert left out.
            "ProcessRollup2"
                if s(e, "TargetProcessId") == pid && triggering.get("sha256").is_none() =>
            {
                triggering["sha256"] = e.get("SHA256HashData").cloned().unwrap_or(Value::Null);
            }
            "DnsRequest" => dns.push(json!({"domain": e.get("DomainName"), "timestamp": at})),
            "NetworkConnectIP4" | "NetworkConnectIP6" => net.push(json!({
                "remote_ip": e.get("RemoteAddressIP4").or_else(|| e.get("RemoteAddressIP6")),
                "remote_port": e.get("RemotePort"), "timestamp": at})),
            _ => {}
        }
    }
    for list in [&mut children, &mut dns, &mut net] {
        list.truncate(MAX_ACTIVITY);
    }
    triggering["children"] = json!(children);
    triggering["dns_requests"] = json!(dns);
    triggering["network_connections"] = json!(net);
    Ok(Some((cql, r.matched, r.complete)))
}
