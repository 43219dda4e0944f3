//! RTR batches (falcon-api-2.md §11.2): one call opens sessions on many hosts, runs a command on
//! all of them and answers with every host's output inline, keyed by AID; a batch `get` collects
//! one path from every host, its files listed by `batch_get_cmd_req_id` once uploaded.
//!
//! Batch commands reuse the single-host sessions, so what a batch runs shows in each session's
//! log and its files in each session's file list.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::envelope::{ApiError, ApiResult, Req, Resp, error_item};
use crate::rtr::{self, Ran};
use crate::timeutil::rfc3339_ns;
use crate::world::{Ctx, RtrBatch, RtrBatchGet};

const PB: &str = "empower-api";
/// Most hosts one batch may name (§11.2).
const MAX_HOSTS: usize = 10_000;
/// Longest `timeout` a batch call accepts, in seconds (5 minutes).
const MAX_TIMEOUT_S: u64 = 300;

/// A batch answer: `meta`, the fields given, `errors`.
fn answer(status: u16, fields: Map<String, Value>) -> Resp {
    let mut body = Map::new();
    body.insert(
        "meta".into(),
        json!({"query_time": 0.0, "powered_by": PB, "trace_id": ""}),
    );
    body.extend(fields);
    body.entry("errors").or_insert_with(|| json!([]));
    Resp::json(status, Value::Object(body))
}

/// Checks the `timeout` query parameter every batch call takes.
fn check_timeout(req: &Req) -> Result<(), ApiError> {
    match req.q("timeout") {
        None | Some("") => Ok(()),
        Some(t) => match t.parse::<u64>() {
            Ok(n) if (1..=MAX_TIMEOUT_S).contains(&n) => Ok(()),
            _ => Err(ApiError::bad_request(format!(
                "timeout must be 1-{MAX_TIMEOUT_S} seconds, not '{t}'"
            ))),
        },
    }
}

/// A required string field of the body.
fn required(body: &Value, key: &str) -> Result<String, ApiError> {
    body[key]
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .ok_or_else(|| ApiError::bad_request(format!("{key} is required")))
}

/// One host's entry in a batch answer.
fn host_entry(aid: &str, session: &str, base: &str, ran: Result<&Ran, &ApiError>) -> Value {
    match ran {
        Ok(r) => {
            json!({"aid": aid, "session_id": session, "task_id": r.cloud_id, "base_command": base,
                        "complete": !r.queued, "stdout": r.stdout, "stderr": r.stderr, "errors": [],
                        "offline_queued": r.queued, "query_time": 0.2, "sequence_id": 0})
        }
        Err(e) => json!({"aid": aid, "session_id": session, "task_id": "", "base_command": base,
                         "complete": false, "stdout": "", "stderr": "", "errors": [error_item(e.status, &e.message)],
                         "offline_queued": false, "query_time": 0.0, "sequence_id": 0}),
    }
}

/// `BatchInitSessions` → 201 `{batch_id, resources: {<aid>: …}}`; hosts that could not connect
/// carry their error, and a batch where none connected is a 404.
pub(crate) fn init(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    check_timeout(req)?;
    let body = req.json_value()?;
    let hosts: Vec<String> = body["host_ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    if hosts.is_empty() {
        return Err(ApiError::bad_request("host_ids is required"));
    }
    if hosts.len() > MAX_HOSTS {
        return Err(ApiError::bad_request(format!(
            "host_ids names {} hosts; at most {MAX_HOSTS} are allowed",
            hosts.len()
        )));
    }
    let queue = body["queue_offline"].as_bool().unwrap_or(false);
    let user = cx.client_id.clone();
    let existing = body["existing_batch_id"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(String::from);
    if let Some(id) = &existing
        && cx.w.batches.get(id).is_none_or(|b| b.user != user)
    {
        return Err(ApiError::not_found(format!("Could not find batch {id}")));
    }
    let mut resources = Map::new();
    let mut opened = BTreeMap::new();
    for aid in &hosts {
        let entry = match rtr::open_session(cx, aid, queue, "batch") {
            Ok(sid) => {
                let s = cx.w.sessions.get(&sid).cloned();
                let (pwd, queued) = s.map_or((String::new(), false), |s| (s.pwd, s.offline_queued));
                let v = json!({"aid": aid, "session_id": sid, "task_id": "", "complete": true, "stdout": pwd,
                               "stderr": "", "errors": [], "offline_queued": queued, "query_time": 0.4});
                opened.insert(aid.clone(), sid);
                v
            }
            Err(e) => {
                // The service's code for an unreachable sensor.
                let code = if e.message.contains("offline") {
                    40407
                } else {
                    e.status
                };
                json!({"aid": aid, "session_id": "", "task_id": "", "complete": false, "stdout": "", "stderr": "",
                       "errors": [error_item(code, &e.message)], "offline_queued": false, "query_time": 0.0})
            }
        };
        resources.insert(aid.clone(), entry);
    }
    if opened.is_empty() {
        return Err(ApiError::not_found(
            "no successful hosts initialized on RTR",
        ));
    }
    let batch_id = match existing {
        Some(id) => id,
        None => cx.w.new_uuid(),
    };
    cx.w.batches
        .entry(batch_id.clone())
        .or_insert_with(|| RtrBatch {
            user,
            sessions: BTreeMap::new(),
        })
        .sessions
        .extend(opened);
    let mut fields = Map::new();
    fields.insert("batch_id".into(), json!(batch_id));
    fields.insert("resources".into(), Value::Object(resources));
    Ok(answer(201, fields))
}

/// `BatchRefreshSessions` → 201: keeps the batch's sessions alive, minus `hosts_to_remove`.
pub(crate) fn refresh(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    check_timeout(req)?;
    let body = req.json_value()?;
    let id = required(&body, "batch_id")?;
    let remove: Vec<&str> = body["hosts_to_remove"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let sessions = batch_sessions(cx, &id, &[])?;
    let mut resources = Map::new();
    for (aid, sid) in sessions {
        if remove.contains(&aid.as_str()) {
            if let Some(b) = cx.w.batches.get_mut(&id) {
                b.sessions.remove(&aid);
            }
            continue;
        }
        let now = cx.now;
        let errors = match rtr::live_session(cx, &sid) {
            Ok(s) => {
                s.updated = now;
                json!([])
            }
            Err(e) => json!([error_item(e.status, &e.message)]),
        };
        resources.insert(
            aid.clone(),
            json!({"aid": aid, "session_id": sid, "errors": errors}),
        );
    }
    let mut fields = Map::new();
    fields.insert("batch_id".into(), json!(id));
    fields.insert("resources".into(), Value::Object(resources));
    Ok(answer(201, fields))
}

/// The caller's batch `id`, narrowed to `optional_hosts` when given: (aid, session id) pairs.
fn batch_sessions(
    cx: &Ctx<'_>,
    id: &str,
    optional: &[String],
) -> Result<Vec<(String, String)>, ApiError> {
    let batch =
        cx.w.batches
            .get(id)
            .filter(|b| b.user == cx.client_id)
            .ok_or_else(|| ApiError::not_found(format!("Could not find batch {id}")))?;
    if let Some(h) = optional.iter().find(|h| !batch.sessions.contains_key(*h)) {
        return Err(ApiError::bad_request(format!(
            "optional_hosts names {h}, which is not in batch {id}"
        )));
    }
    Ok(batch
        .sessions
        .iter()
        .filter(|(aid, _)| optional.is_empty() || optional.contains(aid))
        .map(|(a, s)| (a.clone(), s.clone()))
        .collect())
}

fn optional_hosts(body: &Value) -> Vec<String> {
    body["optional_hosts"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// Runs `line` on every host of the batch; the per-host results and the files `get` produced.
fn run_all(
    cx: &mut Ctx<'_>,
    sessions: &[(String, String)],
    base: &str,
    line: &str,
) -> (Map<String, Value>, BTreeMap<String, Option<String>>) {
    let mut resources = Map::new();
    let mut files = BTreeMap::new();
    for (aid, sid) in sessions {
        // A batch answers with the output inline: the command is complete when it returns.
        let ran = rtr::run_in_session(cx, sid, base, line, 0);
        files.insert(aid.clone(), ran.as_ref().ok().and_then(|r| r.file.clone()));
        resources.insert(aid.clone(), host_entry(aid, sid, base, ran.as_ref()));
    }
    (resources, files)
}

fn command(cx: &mut Ctx<'_>, req: &Req, allowed: &[&[&str]]) -> ApiResult {
    check_timeout(req)?;
    let body = req.json_value()?;
    let (base, line, id) = (
        required(&body, "base_command")?,
        required(&body, "command_string")?,
        required(&body, "batch_id")?,
    );
    let (base, line) = rtr::check_command(&base, &line, allowed)?;
    let sessions = batch_sessions(cx, &id, &optional_hosts(&body))?;
    let (resources, _) = run_all(cx, &sessions, &base, &line);
    let mut fields = Map::new();
    fields.insert("combined".into(), json!({ "resources": resources }));
    Ok(answer(201, fields))
}

/// `BatchCmd` (read-only commands).
pub(crate) fn command_read_only(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    command(cx, req, rtr::READ_ONLY_SETS)
}

/// `BatchActiveResponderCmd`.
pub(crate) fn command_active_responder(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    command(cx, req, rtr::ACTIVE_RESPONDER_SETS)
}

/// `BatchAdminCmd`.
pub(crate) fn command_admin(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    command(cx, req, rtr::ADMIN_SETS)
}

/// `BatchGetCmd` → 201 `{batch_get_cmd_req_id, combined: {resources}}`: `get <file_path>` on
/// every host of the batch.
pub(crate) fn get(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    check_timeout(req)?;
    let body = req.json_value()?;
    let id = required(&body, "batch_id")?;
    let path = required(&body, "file_path")?;
    let sessions = batch_sessions(cx, &id, &optional_hosts(&body))?;
    let (resources, files) = run_all(cx, &sessions, "get", &format!("get \"{path}\""));
    let req_id = cx.w.new_uuid();
    let polls_left = cx.cfg.rtr_command_polls;
    cx.w.batch_gets.insert(
        req_id.clone(),
        RtrBatchGet {
            user: cx.client_id.clone(),
            files,
            polls_left,
        },
    );
    let mut fields = Map::new();
    fields.insert("batch_get_cmd_req_id".into(), json!(req_id));
    fields.insert("combined".into(), json!({ "resources": resources }));
    Ok(answer(201, fields))
}

/// `BatchGetCmdStatus` → 200 `resources: {<aid>: file}`: only the files already uploaded (none
/// for the configured number of polls), never the hosts whose `get` failed.
pub(crate) fn get_status(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    check_timeout(req)?;
    let id = req
        .q("batch_get_cmd_req_id")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("batch_get_cmd_req_id is required"))?
        .to_string();
    let user = cx.client_id.clone();
    let Some(bg) = cx.w.batch_gets.get_mut(&id).filter(|b| b.user == user) else {
        return Err(ApiError::not_found(format!(
            "Could not find batch get request {id}"
        )));
    };
    let mut resources = Map::new();
    if bg.polls_left > 0 {
        bg.polls_left -= 1;
    } else {
        let files = bg.files.clone();
        for (aid, file) in files {
            let Some(f) = file.and_then(|f| cx.w.files.get(&f)) else {
                continue;
            };
            // The service numbers files; derive a stable number from the file's id.
            let num = u64::from_str_radix(&f.id.replace('-', "")[..12], 16).unwrap_or(0);
            let stamp = rfc3339_ns(f.created, 0);
            resources.insert(
                aid,
                json!({"id": num, "name": f.name, "sha256": f.sha256, "size": f.content.len(),
                       "session_id": f.session_id, "cloud_request_id": f.cloud_request_id,
                       "created_at": stamp, "updated_at": stamp, "deleted_at": Value::Null}),
            );
        }
    }
    let mut fields = Map::new();
    fields.insert("resources".into(), Value::Object(resources));
    Ok(answer(200, fields))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::config::SimConfig;
    use crate::envelope::Body;
    use crate::families::testkit::{NOW, req, world};
    use crate::routes::Handler;
    use crate::world::World;

    fn call(
        w: &mut World,
        client: &str,
        h: Handler,
        q: &[(&str, &str)],
        body: Value,
    ) -> (u16, Value) {
        let cfg = SimConfig::default();
        let mut cx = Ctx {
            w,
            cfg: &cfg,
            now: NOW,
            client_id: client.into(),
        };
        let method = if body.is_null() { "GET" } else { "POST" };
        match h(&mut cx, &req(method, q, body)) {
            Ok(r) => match r.body {
                Body::Json(v) => (r.status, v),
                Body::Bytes(b, _) => (r.status, json!({"bytes": b.len()})),
                Body::Empty => (r.status, Value::Null),
            },
            Err(e) => (e.status, json!({"message": e.message})),
        }
    }

    fn aid(w: &World, i: usize) -> String {
        w.hosts.items[i]["device_id"].as_str().unwrap().to_string()
    }

    /// A batch on the known host and an offline one: the offline host carries its error, the
    /// batch runs a read-only command on the rest with the output inline.
    #[test]
    fn init_then_command_per_host() {
        let mut w = world();
        let (known, offline) = (aid(&w, 0), aid(&w, 5));
        w.hosts.get_mut(&offline).unwrap()["last_seen"] = json!("2020-01-01T00:00:00Z");
        let (st, v) = call(
            &mut w,
            "c",
            init,
            &[("timeout", "30")],
            json!({"host_ids": [known, offline, "0".repeat(32)]}),
        );
        assert_eq!(st, 201, "{v}");
        let batch = v["batch_id"].as_str().unwrap().to_string();
        assert!(v["resources"][&known]["session_id"].is_string(), "{v}");
        assert_eq!(v["resources"][&offline]["errors"][0]["code"], 40407, "{v}");
        assert_eq!(
            v["resources"]["0".repeat(32)]["errors"][0]["code"],
            404,
            "{v}"
        );

        let ls = json!({"base_command": "ls", "command_string": "ls C:\\Users\\jdoe\\Downloads", "batch_id": batch});
        let (st, v) = call(&mut w, "c", command_read_only, &[], ls.clone());
        assert_eq!(st, 201, "{v}");
        let out = &v["combined"]["resources"][&known];
        assert_eq!(out["complete"], true);
        assert!(
            out["stdout"].as_str().unwrap().contains("invoice.exe"),
            "{v}"
        );
        // The command shows in the host's session log.
        let sid = out["session_id"].as_str().unwrap();
        assert_eq!(w.sessions[sid].commands.len(), 1);

        // Tier, membership and ownership are checked.
        let kill = json!({"base_command": "kill", "command_string": "kill 4", "batch_id": batch});
        assert_eq!(
            call(&mut w, "c", command_read_only, &[], kill.clone()).0,
            400
        );
        assert_eq!(
            call(&mut w, "c", command_active_responder, &[], kill).0,
            201
        );
        let mut other = ls.clone();
        other["optional_hosts"] = json!([aid(&w, 7)]);
        assert_eq!(call(&mut w, "c", command_read_only, &[], other).0, 400);
        assert_eq!(
            call(&mut w, "someone-else", command_read_only, &[], ls).0,
            404
        );
        assert_eq!(
            call(
                &mut w,
                "c",
                init,
                &[("timeout", "900")],
                json!({"host_ids": [known]})
            )
            .0,
            400
        );
        // No host reachable: the whole batch is a 404.
        let (st, v) = call(&mut w, "c", init, &[], json!({"host_ids": [offline]}));
        assert_eq!(st, 404, "{v}");
    }

    /// A batch `get` lists each host's file once uploaded; the file downloads from its session.
    #[test]
    fn batch_get_lists_files_after_upload() {
        let mut w = world();
        let known = aid(&w, 0);
        let (_, v) = call(&mut w, "c", init, &[], json!({"host_ids": [known]}));
        let batch = v["batch_id"].as_str().unwrap().to_string();
        let (st, v) = call(
            &mut w,
            "c",
            get,
            &[],
            json!({"batch_id": batch, "file_path": "C:\\Users\\jdoe\\Downloads\\invoice.exe"}),
        );
        assert_eq!(st, 201, "{v}");
        let req_id = v["batch_get_cmd_req_id"].as_str().unwrap().to_string();
        let q = [("batch_get_cmd_req_id", req_id.as_str())];
        let (_, first) = call(&mut w, "c", get_status, &q, Value::Null);
        assert_eq!(first["resources"], json!({}), "still uploading");
        let (st, v) = call(&mut w, "c", get_status, &q, Value::Null);
        assert_eq!(st, 200);
        let f = &v["resources"][&known];
        let sha = f["sha256"].as_str().unwrap();
        let sid = f["session_id"].as_str().unwrap();
        assert!(f["size"].as_u64().unwrap() > 0, "{v}");
        let (st, bytes) = call(
            &mut w,
            "c",
            rtr::extracted_file_contents,
            &[("session_id", sid), ("sha256", sha)],
            Value::Null,
        );
        assert_eq!(st, 200);
        assert!(bytes["bytes"].as_u64().unwrap() > 0);
        // A missing path is the host's error, not a file.
        let (_, v) = call(
            &mut w,
            "c",
            get,
            &[],
            json!({"batch_id": batch, "file_path": "C:\\nope.txt"}),
        );
        assert!(
            v["combined"]["resources"][&known]["stderr"]
                .as_str()
                .unwrap()
                .contains("does not exist"),
            "{v}"
        );
        assert_eq!(
            call(
                &mut w,
                "c",
                get_status,
                &[("batch_get_cmd_req_id", "x")],
                Value::Null
            )
            .0,
            404
        );
    }

    /// `runscript -CloudFile` runs a library script (its counters move) on a matching platform.
    #[test]
    fn runscript_uses_the_script_library() {
        let mut w = world();
        let known = aid(&w, 0);
        let (_, v) = call(&mut w, "c", init, &[], json!({"host_ids": [known]}));
        let batch = v["batch_id"].as_str().unwrap().to_string();
        let run = |line: &str| json!({"base_command": "runscript", "command_string": line, "batch_id": batch});
        let (_, v) = call(
            &mut w,
            "c",
            command_admin,
            &[],
            run("runscript -CloudFile='collect-triage.ps1' -CommandLine='-Quick'"),
        );
        let out = &v["combined"]["resources"][&known];
        assert!(
            out["stdout"]
                .as_str()
                .unwrap()
                .contains("Executing collect-triage.ps1 on WS-FIN-042 with arguments -Quick"),
            "{v}"
        );
        let script = w
            .scripts
            .items
            .iter()
            .find(|s| s["name"] == "collect-triage.ps1")
            .unwrap();
        assert_eq!(script["run_success_count"], 1);
        let (_, v) = call(
            &mut w,
            "c",
            command_admin,
            &[],
            run("runscript -CloudFile=\"collect-logs.sh\""),
        );
        assert!(
            v["combined"]["resources"][&known]["stderr"]
                .as_str()
                .unwrap()
                .contains("supports linux"),
            "{v}"
        );
        let (_, v) = call(
            &mut w,
            "c",
            command_admin,
            &[],
            run("runscript -CloudFile='nope.ps1'"),
        );
        assert!(
            v["combined"]["resources"][&known]["stderr"]
                .as_str()
                .unwrap()
                .contains("not found"),
            "{v}"
        );
    }
}
