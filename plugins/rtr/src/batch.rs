//! RTR batches (falcon-api-2.md §11.2): sessions on several hosts at once, a read-only command on
//! all of them, and a file fetched from all of them into the files directory.
//!
//! The host's RTR guard checks every batch body exactly as a single-host one (`BatchCmd` runs
//! read-only commands only, `BatchGetCmd` is checked as `get <file_path>`); this module picks the
//! operation and refuses early, with a clear message, what the guard would refuse anyway.

use aerie_sdk::{Ctx, Output, PollSpec, Polled, Step, ToolError, ids};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::{
    POLL_MS, Tier, base_name, host_path, max_wait, parse_command, plain_name, save_archive,
};

/// Most hosts one batch tool call names (Falcon allows 10,000; every host's output comes back
/// inline, so a call stays readable).
const MAX_HOSTS: usize = 100;
/// How long Falcon waits for the hosts of a batch call, in seconds: under the host's 30 s
/// request timeout, so a slow host comes back as not complete instead of failing the call.
const BATCH_TIMEOUT_S: u32 = 20;

/// The batch answer's per-host map: `resources` or `combined.resources`.
fn per_host(v: &Value) -> Map<String, Value> {
    v.pointer("/combined/resources")
        .or_else(|| v.get("resources"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// A host entry's errors as one line, if it has any.
fn host_error(entry: &Value) -> Option<String> {
    let errs: Vec<String> = entry
        .get("errors")
        .and_then(Value::as_array)
        .map(|e| {
            e.iter()
                .map(|e| {
                    let msg = e.get("message").and_then(Value::as_str).unwrap_or("error");
                    match e.get("code") {
                        Some(c) => format!("{msg} ({c})"),
                        None => msg.to_string(),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    (!errs.is_empty()).then(|| errs.join("; "))
}

fn text<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// Optional host ids narrowing a batch call, validated.
fn subset(host_ids: &Option<Vec<String>>) -> Result<Option<Vec<String>>, ToolError> {
    host_ids
        .as_ref()
        .map(|h| ids::list(h, MAX_HOSTS, "host id", ids::aid))
        .transpose()
}

/// Arguments of `rtr_batch_init`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct InitArgs {
    /// AIDs
    #[schemars(length(min = 1, max = 100))]
    host_ids: Vec<String>,
    /// Queue if offline
    #[serde(default)]
    queue_offline: bool,
}

pub(crate) fn init(ctx: &Ctx<'_>, a: InitArgs) -> Result<Output, ToolError> {
    let hosts = ids::list(&a.host_ids, MAX_HOSTS, "host id", ids::aid)?;
    let reply = ctx
        .op("BatchInitSessions")
        .query("timeout", BATCH_TIMEOUT_S)
        .body_json(&json!({"host_ids": hosts, "queue_offline": a.queue_offline}))?
        .send_allowing(&[404])?;
    if reply.status == 404 {
        return Err(ToolError::not_found(format!(
            "no RTR session could be opened on any of the {} host(s): {} (offline hosts need queue_offline=true)",
            hosts.len(),
            aerie_sdk::falcon_message(&reply.body)
        )));
    }
    let v: Value = reply.json()?;
    let batch = text(&v, "batch_id").to_string();
    if batch.is_empty() {
        return Err(ToolError::internal(
            "Falcon opened the batch but returned no batch_id",
        ));
    }
    let (mut opened, mut failed) = (Vec::new(), Vec::new());
    for (aid, e) in per_host(&v) {
        match host_error(&e) {
            Some(err) => failed.push(json!({"host_id": aid, "error": err})),
            None => opened.push(json!({"host_id": aid, "session_id": e.get("session_id"), "offline_queued": e.get("offline_queued")})),
        }
    }
    let mut summary = format!(
        "Batch {batch}: sessions on {} of {} host(s)",
        opened.len(),
        hosts.len()
    );
    if !failed.is_empty() {
        summary.push_str(&format!("; {} failed (see failed)", failed.len()));
    }
    summary.push_str("; idle sessions expire after 10 minutes.");
    Ok(Output::json(
        summary,
        &json!({"batch_id": batch, "hosts": opened, "failed": failed}),
    ))
}

/// Arguments of `rtr_batch_run_command`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunArgs {
    batch_id: String,
    /// Read-only, e.g. ps
    command: String,
    /// Subset of the batch
    host_ids: Option<Vec<String>>,
}

pub(crate) fn run_command(ctx: &Ctx<'_>, a: RunArgs) -> Result<Output, ToolError> {
    let batch = ids::uuid(&a.batch_id, "batch id")?;
    let cmd = parse_command(&a.command)?;
    if cmd.tier != Tier::ReadOnly {
        return Err(ToolError::invalid(format!(
            "`{}` changes the host; batches run read-only commands only — use rtr_run_response_command per host",
            cmd.base
        )));
    }
    let mut body = json!({"base_command": cmd.base, "command_string": cmd.line, "batch_id": batch, "persist_all": false});
    if let Some(hosts) = subset(&a.host_ids)? {
        body["optional_hosts"] = json!(hosts);
    }
    let v: Value = ctx
        .op("BatchCmd")
        .query("timeout", BATCH_TIMEOUT_S)
        .body_json(&body)?
        .subject(format!("RTR batch {batch}"))
        .send()?
        .json()?;
    let mut results = Vec::new();
    let (mut done, mut failed) = (0, 0);
    for (aid, e) in per_host(&v) {
        let mut r = json!({"host_id": aid});
        if let Some(err) = host_error(&e) {
            failed += 1;
            r["error"] = json!(err);
        } else if e.get("complete").and_then(Value::as_bool) == Some(true) {
            done += 1;
            r["stdout"] = json!(text(&e, "stdout"));
            r["stderr"] = json!(text(&e, "stderr"));
        } else {
            // Still running (or queued offline): its output is fetched by request id later.
            r["complete"] = json!(false);
            r["cloud_request_id"] = json!(text(&e, "task_id"));
        }
        results.push(r);
    }
    let pending = results.len() - done - failed;
    let mut summary = format!(
        "`{}` on {} host(s): {done} finished",
        cmd.line,
        results.len()
    );
    if failed > 0 {
        summary.push_str(&format!(", {failed} failed"));
    }
    if pending > 0 {
        summary.push_str(&format!(
            ", {pending} still running (rtr_get_command_result with cloud_request_id)"
        ));
    }
    summary.push('.');
    Ok(Output::json(
        summary,
        &json!({"batch_id": batch, "command": cmd.line, "results": results}),
    ))
}

/// Arguments of `rtr_batch_get_file`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GetArgs {
    batch_id: String,
    path: String,
    /// Subset of the batch
    host_ids: Option<Vec<String>>,
}

pub(crate) fn get_file(ctx: &Ctx<'_>, a: GetArgs) -> Result<Output, ToolError> {
    let batch = ids::uuid(&a.batch_id, "batch id")?;
    let path = host_path(&a.path)?;
    let name = base_name(path);
    // Each host's archive is saved as <aid>_<name>.7z; check the name before anything runs.
    plain_name(&format!("{name}.7z"), "file name")?;
    let mut body = json!({"batch_id": batch, "file_path": path});
    if let Some(hosts) = subset(&a.host_ids)? {
        body["optional_hosts"] = json!(hosts);
    }
    let v: Value = ctx
        .op("BatchGetCmd")
        .query("timeout", BATCH_TIMEOUT_S)
        .body_json(&body)?
        .subject(format!("RTR batch {batch}"))
        .send()?
        .json()?;
    let req_id = text(&v, "batch_get_cmd_req_id").to_string();
    if req_id.is_empty() {
        return Err(ToolError::internal(
            "Falcon accepted the batch get but returned no batch_get_cmd_req_id",
        ));
    }
    // Hosts whose `get` finished cleanly upload a file; the others say why not.
    let mut expected = Vec::new();
    let mut failed = Vec::new();
    for (aid, e) in per_host(&v) {
        let err = host_error(&e)
            .or_else(|| Some(text(&e, "stderr").to_string()).filter(|s| !s.is_empty()));
        match err {
            Some(err) => failed.push(json!({"host_id": aid, "error": err})),
            None if e.get("complete").and_then(Value::as_bool) == Some(true) => expected.push(aid),
            None => failed.push(
                json!({"host_id": aid, "error": "get did not finish within the batch timeout"}),
            ),
        }
    }
    let spec = PollSpec {
        interval_ms: POLL_MS,
        max_wait_ms: max_wait(ctx),
        what: "file uploads from the batch's hosts".into(),
    };
    let status = || -> Result<Map<String, Value>, ToolError> {
        let v: Value = ctx
            .op("BatchGetCmdStatus")
            .query("batch_get_cmd_req_id", &req_id)
            .query("timeout", BATCH_TIMEOUT_S)
            .subject(format!("RTR batch get {req_id}"))
            .send()?
            .json()?;
        Ok(per_host(&v))
    };
    let uploaded = if expected.is_empty() {
        Map::new()
    } else {
        match ctx.poll(&spec, |_| {
            let files = status()?;
            Ok(if expected.iter().all(|aid| files.contains_key(aid)) {
                Step::Done(files)
            } else {
                Step::Pending(files)
            })
        })? {
            Polled::Done(f) | Polled::TimedOut(f) => f,
        }
    };
    let mut saved = Vec::new();
    let mut pending = Vec::new();
    for aid in &expected {
        let Some(f) = uploaded.get(aid) else {
            pending.push(aid.clone());
            continue;
        };
        let sha = text(f, "sha256");
        let save_as = plain_name(&format!("{aid}_{name}.7z"), "file name")?;
        // One host's archive failing (gone, over the files quota) does not lose the others.
        match save_archive(ctx, text(f, "session_id"), sha, name, &save_as) {
            Ok((size, archive_sha)) => saved.push(
                json!({"host_id": aid, "saved_as": save_as, "archive_size": size,
                "archive_sha256": archive_sha, "file_sha256": sha, "file_size": f.get("size")}),
            ),
            Err(e) => failed.push(json!({"host_id": aid, "error": e.to_string()})),
        }
    }
    let mut summary = format!(
        "Saved {path} from {} host(s) into the files directory (7-Zip, password `infected`)",
        saved.len()
    );
    if !failed.is_empty() {
        summary.push_str(&format!("; {} failed", failed.len()));
    }
    if !pending.is_empty() {
        summary.push_str(&format!(
            "; {} not uploaded yet — retry later",
            pending.len()
        ));
    }
    summary.push('.');
    Ok(Output::json(
        summary,
        &json!({"batch_id": batch, "batch_get_cmd_req_id": req_id, "remote_path": path,
                "files": saved, "failed": failed, "pending": pending}),
    ))
}
