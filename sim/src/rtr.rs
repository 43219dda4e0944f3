//! Real Time Response: sessions (idle expiry, pulse), command execution at three tiers with
//! status polling and chunked stdout, files pulled with `get` (served as a password-protected
//! 7z archive), admin put-files and scripts.

use std::io::Cursor;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::envelope::{ApiError, ApiResult, Body, Envelope, Req, Resp};

use crate::rtr_output;
use crate::timeutil::{rfc3339_ms, rfc3339_ns};
use crate::world::{
    Collection, Ctx, RtrCommand, RtrFile, RtrSession, Window, body_ids, entities_response,
    offset_pagination, page_from_query, query_ids, take_page,
};

const PB: &str = "empower-api";
/// Password of every extracted-file archive, as on the real service.
pub const ARCHIVE_PASSWORD: &str = "infected";

const READ_ONLY: &[&str] = &[
    "cat", "cd", "clear", "env", "eventlog", "filehash", "getsid", "help", "history", "ipconfig",
    "ifconfig", "ls", "dir", "mount", "netstat", "ps", "reg", "users", "pwd",
];
const ACTIVE_RESPONDER: &[&str] = &[
    "cp",
    "encrypt",
    "get",
    "kill",
    "map",
    "memdump",
    "mkdir",
    "mv",
    "restart",
    "rm",
    "runscript",
    "shutdown",
    "unmap",
    "update",
    "xmemdump",
    "zip",
];
const ADMIN: &[&str] = &["put", "run", "put-and-run"];

fn is_live(s: &RtrSession, now: i64, idle: i64) -> bool {
    s.deleted.is_none() && s.updated + idle > now
}

fn idle_ms(cx: &Ctx<'_>) -> i64 {
    cx.cfg.rtr_session_idle.as_millis() as i64
}

fn help_scripts() -> Value {
    let v: Vec<Value> = READ_ONLY
        .iter()
        .map(|c| json!({"command": c, "description": format!("{c} command"), "examples": "", "args": [], "sub_commands": [], "runnable": true, "internal_only": false}))
        .collect();
    Value::Array(v)
}

fn session_resource(cx: &Ctx<'_>, s: &RtrSession) -> Value {
    let platform =
        cx.w.hosts
            .get(&s.device_id)
            .and_then(|h| h["platform_name"].as_str())
            .unwrap_or("")
            .to_lowercase();
    let existing =
        cx.w.sessions
            .values()
            .filter(|x| x.device_id == s.device_id && is_live(x, cx.now, idle_ms(cx)))
            .count();
    json!({"session_id": s.id, "device_id": s.device_id, "created_at": rfc3339_ns(s.created, 0), "existing_aid_sessions": existing,
           "offline_queued": s.offline_queued, "platform": platform, "pwd": s.pwd, "previous_commands": [], "scripts": help_scripts()})
}

/// Opens (or reuses) the caller's session on host `aid`; the session id, or why not.
pub(crate) fn open_session(
    cx: &mut Ctx<'_>,
    aid: &str,
    queue: bool,
    origin: &str,
) -> Result<String, ApiError> {
    let Some(host) = cx.w.hosts.get(aid).cloned() else {
        return Err(ApiError::not_found(format!("Could not find device {aid}")));
    };
    let online = crate::timeutil::parse_timestamp(host["last_seen"].as_str().unwrap_or(""))
        .is_some_and(|t| cx.now - t < 15 * 60_000);
    if !online && !queue {
        return Err(ApiError::not_found("Sensor appears to be offline"));
    }
    let idle = idle_ms(cx);
    let existing =
        cx.w.sessions
            .values()
            .find(|s| s.device_id == aid && s.user == cx.client_id && is_live(s, cx.now, idle))
            .map(|s| s.id.clone());
    if let Some(id) = existing {
        if let Some(s) = cx.w.sessions.get_mut(&id) {
            s.updated = cx.now;
        }
        return Ok(id);
    }
    let id = cx.w.new_uuid();
    let s = RtrSession {
        id: id.clone(),
        device_id: aid.to_string(),
        user: cx.client_id.clone(),
        origin: origin.to_string(),
        pwd: rtr_output::default_pwd(&host),
        created: cx.now,
        updated: cx.now,
        deleted: None,
        offline_queued: !online,
        commands: Vec::new(),
    };
    cx.w.sessions.insert(id.clone(), s);
    Ok(id)
}

/// `RTR_InitSession` → 201; reuses the caller's live session on the same host.
pub(crate) fn init_session(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let body = req.json_value()?;
    let aid = body["device_id"].as_str().unwrap_or("").to_string();
    if aid.is_empty() {
        return Err(ApiError::bad_request("device_id is required"));
    }
    let queue = body["queue_offline"].as_bool().unwrap_or(false);
    let origin = body["origin"].as_str().unwrap_or("").to_string();
    let id = open_session(cx, &aid, queue, &origin)?;
    let s =
        cx.w.sessions
            .get(&id)
            .cloned()
            .ok_or_else(|| ApiError::new(500, "session vanished"))?;
    Ok(Envelope::new(201, PB)
        .resources(vec![session_resource(cx, &s)])
        .into_resp())
}

/// `RTR_PulseSession` → 201; refreshes the caller's session on a host.
pub(crate) fn pulse_session(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let body = req.json_value()?;
    let aid = body["device_id"].as_str().unwrap_or("").to_string();
    if aid.is_empty() {
        return Err(ApiError::bad_request("device_id is required"));
    }
    let idle = idle_ms(cx);
    let now = cx.now;
    let user = cx.client_id.clone();
    let Some(s) =
        cx.w.sessions
            .values_mut()
            .find(|s| s.device_id == aid && s.user == user && is_live(s, now, idle))
    else {
        return Err(ApiError::not_found(format!(
            "No active session for device {aid}; initialize a new session"
        )));
    };
    s.updated = now;
    let s = s.clone();
    Ok(Envelope::new(201, PB)
        .resources(vec![session_resource(cx, &s)])
        .into_resp())
}

pub(crate) fn live_session<'a>(
    cx: &'a mut Ctx<'_>,
    id: &str,
) -> Result<&'a mut RtrSession, ApiError> {
    let idle = idle_ms(cx);
    let now = cx.now;
    let user = cx.client_id.clone();
    match cx.w.sessions.get_mut(id) {
        Some(s) if s.user == user && s.deleted.is_none() => {
            if s.updated + idle <= now {
                Err(ApiError::not_found(format!(
                    "Session {id} has expired; initialize a new session"
                )))
            } else {
                Ok(s)
            }
        }
        _ => Err(ApiError::not_found(format!("Could not find session {id}"))),
    }
}

/// `RTR_DeleteSession` → 204.
pub(crate) fn delete_session(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let id = req
        .q("session_id")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("session_id is required"))?
        .to_string();
    let now = cx.now;
    let s = live_session(cx, &id)?;
    s.deleted = Some(now);
    Ok(Resp::no_content())
}

fn session_view(cx: &Ctx<'_>, s: &RtrSession) -> Value {
    let host = cx.w.hosts.get(&s.device_id);
    let logs: Vec<Value> = s.commands.iter().filter_map(|c| cx.w.commands.get(c).map(|cmd| (c, cmd))).map(|(c, cmd)| {
        json!({"id": 0, "session_id": s.id, "base_command": cmd.base_command, "command_string": cmd.command_string, "cloud_request_id": c,
               "current_directory": cmd.cwd, "created_at": rfc3339_ns(cmd.created, 0), "updated_at": rfc3339_ns(cmd.created, 0)})
    }).collect();
    json!({"id": s.id, "cid": cx.w.cid, "device_id": s.device_id, "aid": s.device_id,
           "hostname": host.map(|h| h["hostname"].clone()).unwrap_or(Value::Null),
           "user_id": s.user, "user_uuid": s.user, "origin": s.origin,
           "platform_id": host.map(|h| h["platform_id"].clone()).unwrap_or(Value::Null),
           "platform_name": host.map(|h| h["platform_name"].clone()).unwrap_or(Value::Null),
           "pwd": s.pwd, "created_at": rfc3339_ns(s.created, 0), "updated_at": rfc3339_ns(s.updated, 0),
           "deleted_at": s.deleted.map(|d| rfc3339_ns(d, 0)), "duration": ((s.deleted.unwrap_or(cx.now) - s.created) as f64) / 1000.0,
           "offline_queued": s.offline_queued, "commands_queued": s.offline_queued && !s.commands.is_empty(),
           "cloud_request_ids": s.commands, "logs": logs})
}

/// `RTR_ListAllSessions`: session ids (supports `user_id:'@me'`).
pub(crate) fn list_all_sessions(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let page = page_from_query(req, 100, 10_000, 1, Window::None)?;
    let views: Vec<Value> =
        cx.w.sessions
            .values()
            .map(|s| {
                let mut v = session_view(cx, s);
                v["date_created"] = v["created_at"].clone();
                v
            })
            .collect();
    let coll = Collection::new(
        "id",
        views,
        &[
            "aid",
            "hostname",
            "user_id",
            "origin",
            "created_at",
            "updated_at",
            "deleted_at",
            "date_created",
            "base_command",
            "command_string",
            "cloud_request_id",
            "offline_queued",
            "commands_queued",
        ],
    );
    let filter = req
        .q("filter")
        .map(|f| f.replace("'@me'", &format!("'{}'", cx.client_id)));
    let all = coll.select(
        filter.as_deref(),
        req.q("sort"),
        "date_created|desc",
        cx.now,
        |_| true,
    )?;
    let ids: Vec<Value> = take_page(&all, page)
        .into_iter()
        .map(|v| v["id"].clone())
        .collect();
    Ok(Envelope::new(200, PB)
        .resources(ids)
        .pagination(offset_pagination(page, all.len()))
        .into_resp())
}

/// `RTR_ListSessions`: the caller's sessions by id.
pub(crate) fn list_sessions(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let ids = body_ids(req, "ids", 1000)?;
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for id in ids {
        match cx.w.sessions.get(&id).filter(|s| s.user == cx.client_id) {
            Some(s) => found.push(session_view(cx, s)),
            None => missing.push(id),
        }
    }
    Ok(entities_response(found, missing, PB, "Session"))
}

/// The command sets an execute endpoint accepts, lowest tier first.
pub(crate) const READ_ONLY_SETS: &[&[&str]] = &[READ_ONLY];
pub(crate) const ACTIVE_RESPONDER_SETS: &[&[&str]] = &[READ_ONLY, ACTIVE_RESPONDER];
pub(crate) const ADMIN_SETS: &[&[&str]] = &[READ_ONLY, ACTIVE_RESPONDER, ADMIN];

/// Checks a command against an endpoint's command sets; returns the trimmed base and line.
pub(crate) fn check_command(
    base: &str,
    line: &str,
    allowed: &[&[&str]],
) -> Result<(String, String), ApiError> {
    let (base, line) = (base.trim(), line.trim());
    if !allowed.iter().any(|set| set.contains(&base)) {
        return Err(ApiError::bad_request(format!(
            "'{base}' is not a valid command for this endpoint"
        )));
    }
    if line.split_whitespace().next() != Some(base) {
        return Err(ApiError::bad_request(format!(
            "command_string must start with the base_command '{base}'"
        )));
    }
    Ok((base.to_string(), line.to_string()))
}

/// What one command did in a session.
pub(crate) struct Ran {
    /// Its cloud request id.
    pub cloud_id: String,
    /// Output (empty until an offline-queued session's host returns, which never happens here).
    pub stdout: String,
    /// Error output.
    pub stderr: String,
    /// Queued for an offline host.
    pub queued: bool,
    /// Id of the file a `get` produced.
    pub file: Option<String>,
}

/// Runs a checked command in the caller's live session `sid`: output, the working directory,
/// files pulled with `get`, the session log. Status polls answer `complete: false` `polls` times.
pub(crate) fn run_in_session(
    cx: &mut Ctx<'_>,
    sid: &str,
    base: &str,
    line: &str,
    polls: u32,
) -> Result<Ran, ApiError> {
    let now = cx.now;
    let s = live_session(cx, sid)?;
    s.updated = now;
    let (aid, cwd, queued) = (s.device_id.clone(), s.pwd.clone(), s.offline_queued);
    let host = cx.w.hosts.get(&aid).cloned().unwrap_or(Value::Null);
    let out = if base == "runscript" {
        runscript(cx, &host, line)
    } else {
        rtr_output::run(&host, &cwd, base, line)
    };
    let cloud_id = cx.w.new_uuid();
    if let Some(new) = &out.cwd
        && let Some(s) = cx.w.sessions.get_mut(sid)
    {
        s.pwd = new.clone();
    }
    let mut file = None;
    if let Some((path, content)) = out.file {
        let id = cx.w.new_uuid();
        let sha256 = hex::encode(Sha256::digest(&content));
        cx.w.files.insert(
            id.clone(),
            RtrFile {
                id: id.clone(),
                session_id: sid.to_string(),
                cloud_request_id: cloud_id.clone(),
                name: path,
                content,
                sha256,
                created: now,
            },
        );
        file = Some(id);
    }
    if let Some(s) = cx.w.sessions.get_mut(sid) {
        s.commands.push(cloud_id.clone());
    }
    // An offline-queued session's commands run when the host comes back, which never happens here.
    let polls_left = if queued { u32::MAX } else { polls };
    cx.w.commands.insert(
        cloud_id.clone(),
        RtrCommand {
            session_id: sid.to_string(),
            base_command: base.to_string(),
            command_string: line.to_string(),
            polls_left,
            stdout: out.stdout.clone(),
            stderr: out.stderr.clone(),
            created: now,
            cwd,
        },
    );
    Ok(Ran {
        cloud_id,
        stdout: out.stdout,
        stderr: out.stderr,
        queued,
        file,
    })
}

/// The value of a `-Name=value` runscript flag, quotes removed.
fn flag<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let lower = line.to_ascii_lowercase();
    let at = lower.find(&format!("-{}=", name.to_ascii_lowercase()))?;
    let rest = &line[at + name.len() + 2..];
    Some(match rest.chars().next() {
        Some(q @ ('\'' | '"')) => rest[1..].split(q).next().unwrap_or(""),
        _ => rest.split_whitespace().next().unwrap_or(""),
    })
}

/// `runscript -CloudFile='<name>' [-CommandLine='<args>']`: runs a script of the library (its
/// run counters move); `-Raw` inline scripts just complete.
fn runscript(cx: &mut Ctx<'_>, host: &Value, line: &str) -> rtr_output::Output {
    let mut o = rtr_output::Output::default();
    let Some(name) = flag(line, "CloudFile") else {
        if flag(line, "Raw").is_some() {
            o.stdout = "runscript: completed\n".into();
        } else {
            o.stderr = "runscript needs -CloudFile='<script name>' or -Raw=```<script>```".into();
        }
        return o;
    };
    let hostname = host["hostname"].as_str().unwrap_or("").to_string();
    let platform = host["platform_name"].as_str().unwrap_or("").to_lowercase();
    let Some(script) = cx.w.scripts.items.iter_mut().find(|s| s["name"] == name) else {
        o.stderr = format!("Cloud file '{name}' was not found in the script library");
        return o;
    };
    let bump = |s: &mut Value, k: &str| s[k] = json!(s[k].as_u64().unwrap_or(0) + 1);
    bump(script, "run_attempt_count");
    let platforms = script["platform"].as_array().cloned().unwrap_or_default();
    if !platforms.iter().any(|p| p == platform.as_str()) {
        o.stderr = format!(
            "Script '{name}' supports {} and cannot run on {hostname} ({platform})",
            platforms
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        );
        return o;
    }
    bump(script, "run_success_count");
    let args = flag(line, "CommandLine").unwrap_or("");
    o.stdout = format!(
        "Executing {name} on {hostname}{}\n{}: completed\n",
        if args.is_empty() {
            String::new()
        } else {
            format!(" with arguments {args}")
        },
        script["description"].as_str().unwrap_or(name)
    );
    o
}

fn execute(cx: &mut Ctx<'_>, req: &Req, allowed: &[&[&str]]) -> ApiResult {
    let body = req.json_value()?;
    let field = |k: &str| body[k].as_str().unwrap_or("").trim().to_string();
    let (base, line, sid) = (
        field("base_command"),
        field("command_string"),
        field("session_id"),
    );
    if base.is_empty() || line.is_empty() || sid.is_empty() {
        return Err(ApiError::bad_request(
            "base_command, command_string and session_id are required",
        ));
    }
    let (base, line) = check_command(&base, &line, allowed)?;
    let polls = cx.cfg.rtr_command_polls;
    let ran = run_in_session(cx, &sid, &base, &line, polls)?;
    Ok(Envelope::new(201, PB).resources(vec![json!({"session_id": sid, "cloud_request_id": ran.cloud_id, "queued_command_offline": ran.queued})]).into_resp())
}

/// `RTR_ExecuteCommand` (read-only commands).
pub(crate) fn execute_read_only(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    execute(cx, req, READ_ONLY_SETS)
}

/// `RTR_ExecuteActiveResponderCommand`.
pub(crate) fn execute_active_responder(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    execute(cx, req, ACTIVE_RESPONDER_SETS)
}

/// `RTR_ExecuteAdminCommand`.
pub(crate) fn execute_admin(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    execute(cx, req, ADMIN_SETS)
}

fn chunk(s: &str, size: usize, n: usize) -> (String, usize) {
    let bytes = s.as_bytes();
    let count = bytes.len().div_ceil(size.max(1)).max(1);
    let start = (n * size).min(bytes.len());
    let mut end = (start + size).min(bytes.len());
    let mut start = start;
    // Keep chunks on UTF-8 boundaries.
    while start > 0 && !s.is_char_boundary(start) {
        start -= 1;
    }
    while end < bytes.len() && !s.is_char_boundary(end) {
        end += 1;
    }
    (s[start..end].to_string(), count)
}

/// `RTR_CheckCommandStatus` (and the AR/admin variants): `complete:false` for the configured
/// number of polls, then stdout chunk `sequence_id`; `complete` is true on the last chunk.
pub(crate) fn check_status(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let id = req
        .q("cloud_request_id")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("cloud_request_id is required"))?
        .to_string();
    let seq: usize = match req.q("sequence_id") {
        None | Some("") => 0,
        Some(s) => s
            .parse()
            .map_err(|_| ApiError::bad_request(format!("invalid sequence_id '{s}'")))?,
    };
    let size = cx.cfg.rtr_chunk_size;
    let user = cx.client_id.clone();
    let owner_ok = |cx: &Ctx<'_>, sid: &str| cx.w.sessions.get(sid).is_some_and(|s| s.user == user);
    let Some(cmd) = cx.w.commands.get(&id).cloned() else {
        return Err(ApiError::not_found(format!("Could not find command {id}")));
    };
    if !owner_ok(cx, &cmd.session_id) {
        return Err(ApiError::not_found(format!("Could not find command {id}")));
    }
    if cmd.polls_left > 0 {
        if let Some(c) = cx.w.commands.get_mut(&id)
            && c.polls_left != u32::MAX
        {
            c.polls_left -= 1;
        }
        return Ok(Envelope::new(200, PB).resources(vec![json!({"session_id": cmd.session_id, "task_id": id, "base_command": cmd.base_command, "complete": false, "stdout": "", "stderr": "", "sequence_id": seq})]).into_resp());
    }
    let (stdout, count) = chunk(&cmd.stdout, size, seq);
    let last = seq + 1 >= count;
    Ok(Envelope::new(200, PB)
        .resources(vec![json!({"session_id": cmd.session_id, "task_id": id, "base_command": cmd.base_command, "complete": last,
                               "stdout": stdout, "stderr": if last { cmd.stderr.as_str() } else { "" }, "sequence_id": seq})])
        .into_resp())
}

fn file_view(f: &RtrFile) -> Value {
    json!({"id": f.id, "cloud_request_id": f.cloud_request_id, "session_id": f.session_id, "name": f.name, "sha256": f.sha256,
           "size": f.content.len(), "progress": 100, "stage": "complete", "status": "complete", "complete": true, "error_message": "",
           "created_at": rfc3339_ns(f.created, 0), "updated_at": rfc3339_ns(f.created, 0), "deleted_at": Value::Null})
}

/// `RTR_ListFilesV2`.
pub(crate) fn list_files(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let sid = req
        .q("session_id")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("session_id is required"))?
        .to_string();
    live_session(cx, &sid)?;
    let files: Vec<Value> =
        cx.w.files
            .values()
            .filter(|f| f.session_id == sid)
            .map(file_view)
            .collect();
    Ok(Envelope::new(200, PB).resources(files).into_resp())
}

/// `RTR_DeleteFileV2` → 204.
pub(crate) fn delete_file(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let sid = req
        .q("session_id")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("session_id is required"))?
        .to_string();
    let ids = query_ids(req, "ids", 100)?;
    live_session(cx, &sid)?;
    for id in &ids {
        if cx.w.files.get(id).is_none_or(|f| f.session_id != sid) {
            return Err(ApiError::not_found(format!("Could not find file {id}")));
        }
    }
    for id in ids {
        cx.w.files.remove(&id);
    }
    Ok(Resp::no_content())
}

/// Packs one file into an AES-256 encrypted 7z archive with password [`ARCHIVE_PASSWORD`].
pub(crate) fn seven_zip(
    name: &str,
    content: &[u8],
    iv: [u8; 16],
    salt: [u8; 16],
) -> Result<Vec<u8>, ApiError> {
    use sevenz_rust2::encoder_options::{AesEncoderOptions, Lzma2Options};
    use sevenz_rust2::{ArchiveEntry, ArchiveWriter};
    let fail =
        |e: &dyn std::fmt::Display| ApiError::new(500, format!("failed to build archive: {e}"));
    let mut w = ArchiveWriter::new(Cursor::new(Vec::new())).map_err(|e| fail(&e))?;
    // 2^8 key-derivation rounds keep the simulator fast; 7-Zip reads the round count from the header.
    let aes = AesEncoderOptions {
        password: ARCHIVE_PASSWORD.into(),
        iv,
        salt,
        num_cycles_power: 8,
    };
    w.set_content_methods(vec![aes.into(), Lzma2Options::from_level(1).into()]);
    w.push_archive_entry(ArchiveEntry::new_file(name), Some(content))
        .map_err(|e| fail(&e))?;
    let cur = w.finish().map_err(|e| fail(&e))?;
    Ok(cur.into_inner())
}

/// `RTR_GetExtractedFileContents`: the file in a 7z archive (password `infected`).
pub(crate) fn extracted_file_contents(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let sid = req
        .q("session_id")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("session_id is required"))?
        .to_string();
    let sha = req
        .q("sha256")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("sha256 is required"))?
        .to_lowercase();
    live_session(cx, &sid)?;
    let Some(f) =
        cx.w.files
            .values()
            .find(|f| f.session_id == sid && f.sha256 == sha)
            .cloned()
    else {
        return Err(ApiError::not_found(format!(
            "Could not find file with sha256 {sha} in session {sid}"
        )));
    };
    let base = f
        .name
        .rsplit(['\\', '/'])
        .next()
        .unwrap_or(&f.name)
        .to_string();
    let name = req
        .q("filename")
        .filter(|s| !s.is_empty())
        .map(String::from)
        .unwrap_or(base);
    let seed = Sha256::digest(format!("{}:{}", f.id, f.sha256).as_bytes());
    let mut iv = [0u8; 16];
    let mut salt = [0u8; 16];
    iv.copy_from_slice(&seed[..16]);
    salt.copy_from_slice(&seed[16..]);
    let bytes = seven_zip(&name, &f.content, iv, salt)?;
    Ok(Resp {
        status: 200,
        body: Body::Bytes(bytes, "application/x-7z-compressed"),
        headers: vec![(
            "Content-Disposition".into(),
            format!("attachment; filename=\"{}.7z\"", name),
        )],
    })
}

/// One multipart part: (field name, file name, bytes).
pub(crate) type Part = (String, Option<String>, Vec<u8>);

/// Minimal multipart/form-data parser: (name, filename, bytes) per part (also case files).
pub(crate) fn multipart(req: &Req) -> Result<Vec<Part>, ApiError> {
    let boundary = req
        .content_type
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("boundary="))
        .map(|b| b.trim_matches('"').to_string())
        .ok_or_else(|| {
            ApiError::bad_request("Content-Type must be multipart/form-data with a boundary")
        })?;
    let delim = format!("--{boundary}").into_bytes();
    let body = &req.body;
    let mut parts = Vec::new();
    let mut positions = Vec::new();
    let mut i = 0;
    while i + delim.len() <= body.len() {
        if body[i..].starts_with(&delim) {
            positions.push(i);
            i += delim.len();
        } else {
            i += 1;
        }
    }
    for w in positions.windows(2) {
        let mut part = &body[w[0] + delim.len()..w[1]];
        part = part.strip_prefix(b"\r\n").unwrap_or(part);
        part = part.strip_suffix(b"\r\n").unwrap_or(part);
        let Some(split) = part.windows(4).position(|x| x == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&part[..split]).to_string();
        let data = part[split + 4..].to_vec();
        let disp = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition"))
            .unwrap_or("");
        let attr = |k: &str| {
            disp.split(';')
                .map(str::trim)
                .find_map(|p| p.strip_prefix(&format!("{k}=")))
                .map(|v| v.trim_matches('"').to_string())
        };
        if let Some(name) = attr("name") {
            parts.push((name, attr("filename"), data));
        }
    }
    Ok(parts)
}

/// `RTR_CreatePut_Files` (v1 and v2): multipart `file`, `description`, optional `name`.
pub(crate) fn create_put_file(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let parts = multipart(req)?;
    let get = |k: &str| parts.iter().find(|p| p.0 == k);
    let (_, filename, content) = get("file")
        .cloned()
        .ok_or_else(|| ApiError::bad_request("file is required"))?;
    let description = get("description")
        .map(|p| String::from_utf8_lossy(&p.2).to_string())
        .filter(|d| !d.is_empty())
        .ok_or_else(|| ApiError::bad_request("description is required"))?;
    let name = get("name")
        .map(|p| String::from_utf8_lossy(&p.2).to_string())
        .filter(|n| !n.is_empty())
        .or(filename)
        .ok_or_else(|| ApiError::bad_request("name is required"))?;
    if cx
        .w
        .put_files
        .items
        .iter()
        .any(|p| p["name"] == name.as_str())
    {
        return Err(ApiError::new(
            409,
            format!("A put file named '{name}' already exists"),
        ));
    }
    let id = format!("{}_{}", cx.w.new_hex32(), cx.w.new_hex32());
    let stamp = rfc3339_ms(cx.now);
    let v = json!({"id": id, "name": name, "description": description, "file_type": "put", "sha256": hex::encode(Sha256::digest(&content)),
                   "size": content.len(), "permission_type": "none", "created_by": cx.client_id, "created_by_uuid": cx.client_id,
                   "created_timestamp": stamp, "modified_by": cx.client_id, "modified_timestamp": stamp,
                   "comments_for_audit_log": get("comments_for_audit_log").map(|p| String::from_utf8_lossy(&p.2).to_string()).unwrap_or_default(),
                   "run_attempt_count": 0, "run_success_count": 0});
    cx.w.put_files.insert(v.clone());
    cx.w.put_contents.insert(id, content);
    Ok(Envelope::new(200, PB).resources(vec![v]).into_resp())
}

/// `RTR_ListPut_Files`.
pub(crate) fn list_put_files(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let page = page_from_query(req, 100, 10_000, 1, Window::None)?;
    let all =
        cx.w.put_files
            .select(req.q("filter"), req.q("sort"), "", cx.now, |_| true)?;
    let ids: Vec<Value> = take_page(&all, page)
        .into_iter()
        .map(|v| v["id"].clone())
        .collect();
    Ok(Envelope::new(200, PB)
        .resources(ids)
        .pagination(offset_pagination(page, all.len()))
        .into_resp())
}

/// `RTR_GetPut_Files` (v1 and v2).
pub(crate) fn get_put_files(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let ids = query_ids(req, "ids", 100)?;
    let (found, missing) = cx.w.put_files.lookup(&ids);
    Ok(entities_response(found, missing, PB, "Put file"))
}

/// `RTR_DeletePut_Files`: one id at a time.
pub(crate) fn delete_put_file(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let ids = query_ids(req, "ids", 1)?;
    if cx.w.put_files.remove(&ids[0]).is_none() {
        return Err(ApiError::not_found(format!(
            "Could not find put file {}",
            ids[0]
        )));
    }
    cx.w.put_contents.remove(&ids[0]);
    Ok(Envelope::new(200, PB).into_resp())
}

/// `RTR_GetPutFileContents`: raw bytes.
pub(crate) fn put_file_contents(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let id = req
        .q("id")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("id is required"))?;
    let bytes =
        cx.w.put_contents
            .get(id)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("Could not find put file {id}")))?;
    Ok(Resp {
        status: 200,
        body: Body::Bytes(bytes, "application/octet-stream"),
        headers: Vec::new(),
    })
}

/// `RTR_ListScripts`.
pub(crate) fn list_scripts(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let page = page_from_query(req, 100, 10_000, 1, Window::None)?;
    let all =
        cx.w.scripts
            .select(req.q("filter"), req.q("sort"), "", cx.now, |_| true)?;
    let ids: Vec<Value> = take_page(&all, page)
        .into_iter()
        .map(|v| v["id"].clone())
        .collect();
    Ok(Envelope::new(200, PB)
        .resources(ids)
        .pagination(offset_pagination(page, all.len()))
        .into_resp())
}

/// `RTR_GetScripts` (v1 and v2).
pub(crate) fn get_scripts(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let ids = query_ids(req, "ids", 100)?;
    let (found, missing) = cx.w.scripts.lookup(&ids);
    Ok(entities_response(found, missing, PB, "Script"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_output() {
        let s = "abcdefghij";
        assert_eq!(chunk(s, 4, 0), ("abcd".to_string(), 3));
        assert_eq!(chunk(s, 4, 2), ("ij".to_string(), 3));
        assert_eq!(chunk(s, 4, 5).0, "");
        assert_eq!(chunk("", 4, 0), (String::new(), 1));
    }

    #[test]
    fn archive_round_trips_with_password() {
        let bytes = seven_zip("a.txt", b"hello falcon", [1; 16], [2; 16]).unwrap();
        assert_eq!(&bytes[..6], b"7z\xbc\xaf\x27\x1c");
        let mut r =
            sevenz_rust2::ArchiveReader::new(Cursor::new(bytes.clone()), ARCHIVE_PASSWORD.into())
                .unwrap();
        assert_eq!(r.read_file("a.txt").unwrap(), b"hello falcon");
        assert!(
            sevenz_rust2::ArchiveReader::new(Cursor::new(bytes), "wrong".into())
                .and_then(|mut r| r.read_file("a.txt"))
                .is_err()
        );
    }
}
