//! The `rtr` tool group: Real Time Response sessions, commands (polled to completion with
//! progress, bounded), and file transfer through the operator's files directory — file bytes never
//! pass through the model (reference §4.7).
//!
//! Which commands may run is decided by the host's `rtr-command` guard, not here: a plugin is
//! untrusted. The plugin only picks the execute operation matching the command's tier, so the
//! guard and the API see a consistent request, and refuses early with a clear message when a
//! command is sent to the wrong tool.

use aerie_sdk::{Ctx, Output, Plugin, PollSpec, Polled, Shape, ToolError, ToolSpec, ids, project};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

mod batch;
mod scripts;

/// The output of a command (`rtr_run_command`, `rtr_get_command_result`).
const RESULT: &str = "cloud_request_id:string complete:boolean stdout:string stderr:string";

/// Default bound on waiting for a command; operator config `max_wait_s` overrides it.
const DEFAULT_MAX_WAIT_MS: u64 = 60_000;
const POLL_MS: u32 = 2_000;

/// Read-only command set (reference §4.7); `reg` only with `query`.
const READ_ONLY: &[&str] = &[
    "cat", "cd", "clear", "env", "eventlog", "filehash", "getsid", "help", "history", "ipconfig",
    "ls", "mount", "netstat", "ps", "reg", "users", "pwd",
];
/// Active-responder additions.
const ACTIVE_RESPONDER: &[&str] = &[
    "cp",
    "encrypt",
    "get",
    "kill",
    "map",
    "memdump",
    "mkdir",
    "mv",
    "reg",
    "restart",
    "rm",
    "runscript",
    "shutdown",
    "unmap",
    "update",
    "xmemdump",
    "zip",
];
/// Admin additions.
const ADMIN: &[&str] = &["put", "run", "put-and-run", "runscript"];

// The three RTR command tiers (no doc comment: it would repeat in the schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Tier {
    ReadOnly,
    ActiveResponder,
    Admin,
}

impl Tier {
    fn execute_op(self) -> &'static str {
        match self {
            Tier::ReadOnly => "RTR_ExecuteCommand",
            Tier::ActiveResponder => "RTR_ExecuteActiveResponderCommand",
            Tier::Admin => "RTR_ExecuteAdminCommand",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Tier::ReadOnly => "read-only",
            Tier::ActiveResponder => "active-responder",
            Tier::Admin => "admin",
        }
    }

    fn status_op(self) -> &'static str {
        match self {
            Tier::ReadOnly => "RTR_CheckCommandStatus",
            Tier::ActiveResponder => "RTR_CheckActiveResponderCommandStatus",
            Tier::Admin => "RTR_CheckAdminCommandStatus",
        }
    }
}

/// A validated command line: its base command and the lowest tier that can run it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Command {
    base: String,
    line: String,
    tier: Tier,
}

fn parse_command(line: &str) -> Result<Command, ToolError> {
    let line = line.trim();
    if line.is_empty() || line.len() > 4096 {
        return Err(ToolError::invalid("command must be 1-4096 characters"));
    }
    if line.chars().any(|c| c.is_control() && c != '\t') {
        return Err(ToolError::invalid(
            "command must be one line without control characters",
        ));
    }
    let mut words = line.split_whitespace();
    let base = words.next().unwrap_or_default().to_ascii_lowercase();
    let sub = words.next().map(str::to_ascii_lowercase);
    let tier = match base.as_str() {
        "reg" if sub.as_deref() == Some("query") => Tier::ReadOnly,
        "reg" => Tier::ActiveResponder,
        // Cloud scripts run through the admin endpoint; local scripts are active-responder.
        "runscript" if line.to_ascii_lowercase().contains("-cloudfile") => Tier::Admin,
        b if READ_ONLY.contains(&b) => Tier::ReadOnly,
        b if ACTIVE_RESPONDER.contains(&b) => Tier::ActiveResponder,
        b if ADMIN.contains(&b) => Tier::Admin,
        b => {
            return Err(ToolError::invalid(format!(
                "`{b}` is not an RTR command; read-only: {}; response: {}; admin: put, run, runscript -CloudFile",
                READ_ONLY.join(" "),
                ACTIVE_RESPONDER.join(" ")
            )));
        }
    };
    Ok(Command {
        base,
        line: line.to_string(),
        tier,
    })
}

fn max_wait(ctx: &Ctx<'_>) -> u64 {
    ctx.config("max_wait_s")
        .and_then(|s| s.parse::<u64>().ok())
        .map_or(DEFAULT_MAX_WAIT_MS, |s| s.saturating_mul(1000))
}

/// Most stdout chunks read for one command (64 KiB each on the real service: 64 MiB), so a
/// misbehaving upstream cannot keep a call looping.
const MAX_CHUNKS: usize = 1024;

/// Poll a command's status until `complete`, concatenating chunks; bounded by `max_wait`.
///
/// Long output arrives in chunks by `sequence_id`: chunk 0 with stdout but `complete: false`
/// means more chunks follow (`complete` is true on the last one), while chunk 0 with neither is
/// a command still running. Chunks are read back to back; only "still running" sleeps.
fn wait_for(ctx: &Ctx<'_>, tier: Tier, cloud_request_id: &str) -> Result<Value, ToolError> {
    let spec = PollSpec {
        interval_ms: POLL_MS,
        max_wait_ms: max_wait(ctx),
        what: "RTR command".into(),
    };
    let status = |seq: usize| -> Result<Value, ToolError> {
        let env = ctx
            .op(tier.status_op())
            .query("cloud_request_id", cloud_request_id)
            .query("sequence_id", seq)
            .subject(format!("RTR command {cloud_request_id}"))
            .envelope()?;
        Ok(env.resources.into_iter().next().unwrap_or(Value::Null))
    };
    let text = |r: &Value, k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let is_complete = |r: &Value| r.get("complete").and_then(Value::as_bool) == Some(true);
    let mut stdout = String::new();
    let mut next_seq = 0usize;
    let outcome = ctx.poll(&spec, |_| {
        loop {
            let r = status(next_seq)?;
            let chunk = text(&r, "stdout");
            if is_complete(&r) {
                stdout.push_str(&chunk);
                return Ok(aerie_sdk::Step::Done(r));
            }
            if chunk.is_empty() || next_seq + 1 >= MAX_CHUNKS {
                // Still running (or a later chunk is not there yet): wait and ask again.
                return Ok(aerie_sdk::Step::Pending(r));
            }
            stdout.push_str(&chunk);
            next_seq += 1;
        }
    })?;
    let (complete, r) = match outcome {
        Polled::Done(r) => (true, r),
        Polled::TimedOut(r) => (false, r),
    };
    Ok(json!({
        "cloud_request_id": cloud_request_id,
        "base_command": text(&r, "base_command"),
        "complete": complete,
        "stdout": stdout,
        "stderr": text(&r, "stderr"),
    }))
}

/// Submit a command and wait for its result.
fn run(ctx: &Ctx<'_>, session: &str, cmd: &Command) -> Result<Value, ToolError> {
    let env = ctx
        .op(cmd.tier.execute_op())
        .body_json(&json!({
            "base_command": cmd.base,
            "command_string": cmd.line,
            "session_id": session,
            "persist": false,
        }))?
        .subject(format!("RTR session {session}"))
        .envelope()?;
    let id = env
        .resources
        .first()
        .and_then(|r| r.get("cloud_request_id"))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ToolError::internal("RTR accepted the command but returned no cloud_request_id")
        })?
        .to_string();
    wait_for(ctx, cmd.tier, &id)
}

fn render_result(r: Value) -> Output {
    let complete = r["complete"].as_bool() == Some(true);
    let summary = if !complete {
        format!(
            "Still running; check later with rtr_get_command_result cloud_request_id={}.",
            r["cloud_request_id"].as_str().unwrap_or("")
        )
    } else if r["stderr"].as_str().is_some_and(|e| !e.is_empty()) {
        "Command finished with errors (see stderr).".to_string()
    } else {
        "Command finished.".to_string()
    };
    Output::json(summary, &r)
}

/// Arguments of `rtr_init_session`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct InitArgs {
    /// AID
    host_id: String,
    /// Queue if offline
    #[serde(default)]
    queue_offline: bool,
}

fn init(ctx: &Ctx<'_>, a: InitArgs) -> Result<Output, ToolError> {
    let aid = ids::aid(&a.host_id)?;
    let env = ctx
        .op("RTR_InitSession")
        .query("timeout", 30)
        .body_json(&json!({"device_id": aid, "queue_offline": a.queue_offline, "origin": "aerie"}))?
        .subject(format!("host {aid}"))
        .envelope()?;
    let s = env
        .resources
        .into_iter()
        .next()
        .ok_or_else(|| ToolError::Upstream {
            status: 502,
            message:
                "RTR returned no session; the sensor may be offline (retry with queue_offline)"
                    .into(),
        })?;
    let out = project(
        &s,
        &[
            "session_id",
            "device_id",
            "platform",
            "pwd",
            "offline_queued",
            "existing_aid_sessions",
            "created_at",
        ],
    );
    Ok(Output::json(
        format!(
            "Session {} open on {aid} (idle sessions expire after 10 minutes).",
            s.get("session_id").and_then(Value::as_str).unwrap_or("?")
        ),
        &out,
    ))
}

/// Arguments of `rtr_run_command`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RunArgs {
    session_id: String,
    /// e.g. ls C:\Users
    command: String,
}

fn run_read_only(ctx: &Ctx<'_>, a: RunArgs) -> Result<Output, ToolError> {
    let session = ids::uuid(&a.session_id, "session id")?;
    let cmd = parse_command(&a.command)?;
    if cmd.tier != Tier::ReadOnly {
        return Err(ToolError::invalid(format!(
            "`{}` changes the host; use rtr_run_response_command (needs writes allowed)",
            cmd.base
        )));
    }
    Ok(render_result(run(ctx, &session, &cmd)?))
}

/// Arguments of `rtr_run_response_command`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RespondArgs {
    session_id: String,
    /// e.g. kill 4242
    command: String,
    #[serde(default)]
    confirm: bool,
}

fn run_response(ctx: &Ctx<'_>, a: RespondArgs) -> Result<Output, ToolError> {
    let session = ids::uuid(&a.session_id, "session id")?;
    let cmd = parse_command(&a.command)?;
    if cmd.tier == Tier::ReadOnly {
        return Err(ToolError::invalid(format!(
            "`{}` is read-only; use rtr_run_command",
            cmd.base
        )));
    }
    if !a.confirm {
        let s = session_record(ctx, &session)?;
        let host = host_label(&s);
        return Ok(Output::preview(
            format!(
                "Would run `{}` on {host} as an {} command.",
                cmd.line,
                cmd.tier.label()
            ),
            json!({"session_id": session, "host": host, "command": cmd.line, "tier": cmd.tier}),
        ));
    }
    Ok(render_result(run(ctx, &session, &cmd)?))
}

/// The caller's session `session` as `RTR_ListSessions` describes it (host, platform, state).
fn session_record(ctx: &Ctx<'_>, session: &str) -> Result<Value, ToolError> {
    ctx.op("RTR_ListSessions")
        .body_json(&json!({ "ids": [session] }))?
        .envelope()?
        .resources
        .into_iter()
        .next()
        .ok_or_else(|| {
            ToolError::not_found(format!("RTR session {session} (expired? open a new one)"))
        })
}

/// How a session record names its host: hostname, else device id.
fn host_label(s: &Value) -> &str {
    s.get("hostname")
        .filter(|h| h.as_str().is_some_and(|h| !h.is_empty()))
        .or_else(|| s.get("device_id"))
        .and_then(Value::as_str)
        .unwrap_or("?")
}

/// Arguments naming one session.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SessionArgs {
    session_id: String,
}

fn pulse(ctx: &Ctx<'_>, a: SessionArgs) -> Result<Output, ToolError> {
    let session = ids::uuid(&a.session_id, "session id")?;
    // Falcon refreshes the caller's session on a device, so the session is looked up first.
    let s = session_record(ctx, &session)?;
    if s.get("deleted_at").is_some_and(|d| !d.is_null()) {
        return Err(ToolError::invalid(format!(
            "RTR session {session} was closed; open a new one with rtr_init_session"
        )));
    }
    let device = s
        .get("device_id")
        .and_then(Value::as_str)
        .ok_or_else(|| ToolError::internal("the RTR session record names no device"))?;
    let refreshed = ctx
        .op("RTR_PulseSession")
        .body_json(&json!({"device_id": device, "origin": "aerie", "queue_offline": false}))?
        .subject(format!("RTR session {session}"))
        .envelope()?
        .resources
        .into_iter()
        .next()
        .unwrap_or(Value::Null);
    let id = refreshed
        .get("session_id")
        .and_then(Value::as_str)
        .unwrap_or(&session);
    Ok(Output::json(
        format!(
            "Session {id} on {} refreshed; it expires after 10 idle minutes.",
            host_label(&s)
        ),
        &json!({"session_id": id, "device_id": device, "hostname": s.get("hostname"), "pwd": refreshed.get("pwd")}),
    ))
}

const FILE_FIELDS: &[&str] = &[
    "id",
    "name",
    "sha256",
    "size",
    "cloud_request_id",
    "created_at",
    "status",
];

fn list_files(ctx: &Ctx<'_>, a: SessionArgs) -> Result<Output, ToolError> {
    let session = ids::uuid(&a.session_id, "session id")?;
    let files: Vec<Value> = ctx
        .op("RTR_ListFilesV2")
        .query("session_id", &session)
        .subject(format!("RTR session {session}"))
        .envelope()?
        .resources
        .iter()
        .map(|f| project(f, FILE_FIELDS))
        .collect();
    Ok(Output::json(
        format!(
            "{} file(s) extracted in session {session} (get, rtr_download_file, rtr_batch_get_file).",
            files.len()
        ),
        &json!({ "session_id": session, "files": files }),
    ))
}

/// Arguments of `rtr_get_session`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SessionsArgs {
    #[schemars(length(min = 1, max = 20))]
    session_ids: Vec<String>,
}

fn get_session(ctx: &Ctx<'_>, a: SessionsArgs) -> Result<Output, ToolError> {
    let sids = ids::list(&a.session_ids, 20, "session id", |s| {
        ids::uuid(s, "session id")
    })?;
    let env = ctx
        .op("RTR_ListSessions")
        .body_json(&json!({ "ids": sids }))?
        .envelope()?;
    let sessions: Vec<Value> = env
        .resources
        .iter()
        .map(|s| {
            let mut out = project(
                s,
                &[
                    "id",
                    "device_id",
                    "hostname",
                    "platform_name",
                    "pwd",
                    "created_at",
                    "updated_at",
                    "deleted_at",
                    "offline_queued",
                    "commands_queued",
                ],
            );
            let logs: Vec<Value> = s
                .get("logs")
                .and_then(Value::as_array)
                .map(|l| {
                    l.iter()
                        .rev()
                        .take(20)
                        .map(|e| {
                            project(
                                e,
                                &[
                                    "created_at",
                                    "base_command",
                                    "command_string",
                                    "cloud_request_id",
                                ],
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            if let Value::Object(m) = &mut out {
                m.insert("recent_commands".into(), Value::Array(logs));
            }
            out
        })
        .collect();
    if sessions.is_empty() {
        return Err(ToolError::not_found(format!(
            "RTR session(s) {} (expired, deleted, or owned by another user)",
            sids.join(", ")
        )));
    }
    Ok(Output::json(
        format!("{} session(s).", sessions.len()),
        &json!({ "sessions": sessions }),
    ))
}

/// Arguments of `rtr_get_command_result`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ResultArgs {
    cloud_request_id: String,
    /// Default read_only
    tier: Option<Tier>,
}

fn command_result(ctx: &Ctx<'_>, a: ResultArgs) -> Result<Output, ToolError> {
    let id = ids::uuid(&a.cloud_request_id, "cloud_request_id")?;
    Ok(render_result(wait_for(
        ctx,
        a.tier.unwrap_or(Tier::ReadOnly),
        &id,
    )?))
}

fn close(ctx: &Ctx<'_>, a: SessionArgs) -> Result<Output, ToolError> {
    let session = ids::uuid(&a.session_id, "session id")?;
    ctx.op("RTR_DeleteSession")
        .query("session_id", &session)
        .subject(format!("RTR session {session}"))
        .send()?;
    Ok(Output::json(
        format!("Closed session {session}."),
        &json!({"closed": session}),
    ))
}

/// A file name usable both in the files directory and quoted in an RTR command line.
fn plain_name(name: &str, what: &str) -> Result<String, ToolError> {
    let n = name.trim();
    let ok = !n.is_empty()
        && n.len() <= 255
        && !n.contains(['/', '\\', '"', '\''])
        && !n.chars().any(char::is_control)
        && n != "."
        && n != "..";
    if ok {
        Ok(n.to_string())
    } else {
        Err(ToolError::invalid(format!(
            "{what} `{name}` must be a plain file name (no path separators or quotes)"
        )))
    }
}

/// Quote an argument for an RTR command line when it contains spaces.
fn quote_arg(s: &str) -> String {
    if s.contains(char::is_whitespace) {
        format!("\"{s}\"")
    } else {
        s.to_string()
    }
}

/// Arguments of `rtr_upload_file`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct UploadArgs {
    session_id: String,
    /// Name in files dir
    file: String,
    description: Option<String>,
}

fn upload(ctx: &Ctx<'_>, a: UploadArgs) -> Result<Output, ToolError> {
    let session = ids::uuid(&a.session_id, "session id")?;
    let name = plain_name(&a.file, "file")?;
    let bytes = ctx.read_file(&name)?;
    let sha = hex::encode(Sha256::digest(&bytes));
    // Reuse an identical put-file; refuse to shadow a different one of the same name.
    let existing = ctx
        .op("RTR_ListPut_Files")
        .query(
            "filter",
            aerie_sdk::Fql::new()
                .eq("name", name.as_str())
                .build()
                .unwrap_or_default(),
        )
        .envelope()?
        .ids();
    let mut put_id = None;
    if !existing.is_empty() {
        let files = ctx
            .op("RTR_GetPut_FilesV2")
            .query_all("ids", &existing)
            .envelope()?
            .resources;
        match files
            .iter()
            .find(|f| f.get("name").and_then(Value::as_str) == Some(name.as_str()))
        {
            Some(f) if f.get("sha256").and_then(Value::as_str) == Some(sha.as_str()) => {
                put_id = f.get("id").and_then(Value::as_str).map(str::to_string);
            }
            Some(_) => {
                return Err(ToolError::invalid(format!(
                    "a different put-file named `{name}` already exists in Falcon; rename the local file"
                )));
            }
            None => {}
        }
    }
    let put_id = match put_id {
        Some(id) => id,
        None => {
            let body = aerie_sdk::multipart::Multipart::new()
                .file("file", &name, &bytes)
                .text("name", &name)
                .text(
                    "description",
                    a.description.as_deref().unwrap_or("uploaded by aerie"),
                )
                .text(
                    "comments_for_audit_log",
                    &format!("aerie upload to session {session}"),
                )
                .finish()?;
            let created = ctx
                .op("RTR_CreatePut_FilesV2")
                .body_bytes(body)
                .envelope()?;
            created
                .resources
                .first()
                .and_then(|r| r.get("id"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        }
    };
    let cmd = Command {
        base: "put".into(),
        line: format!("put {}", quote_arg(&name)),
        tier: Tier::Admin,
    };
    let result = run(ctx, &session, &cmd)?;
    let ok = result["complete"] == true && result["stderr"].as_str().is_none_or(str::is_empty);
    Ok(Output::json(
        if ok {
            format!(
                "Put {name} ({} bytes) into the session's working directory.",
                bytes.len()
            )
        } else {
            format!("Put {name} did not finish cleanly; see stderr.")
        },
        &json!({"file": name, "size": bytes.len(), "sha256": sha, "put_file_id": put_id, "result": result}),
    ))
}

/// A host path as `get` takes it: one line, no double quotes (it is quoted on the command line).
fn host_path(path: &str) -> Result<&str, ToolError> {
    let path = path.trim();
    if path.is_empty() || path.contains('"') || path.chars().any(char::is_control) {
        return Err(ToolError::invalid(
            "path must be one line without double quotes",
        ));
    }
    Ok(path)
}

/// The last component of a Windows or Unix path.
fn base_name(path: &str) -> &str {
    path.rsplit(['\\', '/']).next().unwrap_or(path)
}

/// Fetch an extracted file (by session and SHA-256) as Falcon's 7z archive into the files
/// directory as `save_as`; the archive's size and SHA-256. The bytes never reach the model.
fn save_archive(
    ctx: &Ctx<'_>,
    session: &str,
    sha256: &str,
    file_name: &str,
    save_as: &str,
) -> Result<(usize, String), ToolError> {
    let archive = ctx
        .op("RTR_GetExtractedFileContents")
        .query("session_id", session)
        .query("sha256", sha256)
        .query("filename", file_name)
        .subject(format!("file {sha256} in RTR session {session}"))
        .send()?
        .body;
    let sha = ctx.write_file(save_as, &archive)?;
    Ok((archive.len(), sha))
}

/// Arguments of `rtr_download_file`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct DownloadArgs {
    session_id: String,
    path: String,
    /// Default <name>.7z
    save_as: Option<String>,
}

fn download(ctx: &Ctx<'_>, a: DownloadArgs) -> Result<Output, ToolError> {
    let session = ids::uuid(&a.session_id, "session id")?;
    let path = host_path(&a.path)?;
    let base_name = base_name(path);
    let save_as = match a.save_as.as_deref() {
        Some(s) => plain_name(s, "save_as")?,
        None => plain_name(&format!("{base_name}.7z"), "derived name")?,
    };
    let cmd = Command {
        base: "get".into(),
        line: format!("get {}", quote_arg(path)),
        tier: Tier::ActiveResponder,
    };
    let result = run(ctx, &session, &cmd)?;
    if result["complete"] != true {
        return Ok(render_result(result));
    }
    if let Some(err) = result["stderr"].as_str().filter(|e| !e.is_empty()) {
        return Err(ToolError::Upstream {
            status: 422,
            message: format!("get {path} failed on the host: {err}"),
        });
    }
    let request_id = result["cloud_request_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // The sensor uploads the file to the cloud after `get` completes; wait for it to land.
    let spec = PollSpec {
        interval_ms: POLL_MS,
        max_wait_ms: max_wait(ctx),
        what: "file upload from the host".into(),
    };
    let listed = ctx.poll(&spec, |_| {
        let files = ctx
            .op("RTR_ListFilesV2")
            .query("session_id", &session)
            .envelope()?
            .resources;
        let f = files.into_iter().find(|f| {
            f.get("cloud_request_id").and_then(Value::as_str) == Some(request_id.as_str())
        });
        Ok(match f {
            Some(f)
                if f.get("sha256")
                    .and_then(Value::as_str)
                    .is_some_and(|s| !s.is_empty())
                    && f.get("complete").and_then(Value::as_bool) != Some(false) =>
            {
                aerie_sdk::Step::Done(f)
            }
            other => aerie_sdk::Step::Pending(other.unwrap_or(Value::Null)),
        })
    })?;
    let file = match listed {
        Polled::Done(f) => f,
        Polled::TimedOut(_) => {
            return Err(ToolError::Upstream {
                status: 504,
                message: format!(
                    "{path} was collected but has not reached the cloud yet; retry rtr_download_file later"
                ),
            });
        }
    };
    let sha = file
        .get("sha256")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let (archive_size, archive_sha) = save_archive(ctx, &session, &sha, base_name, &save_as)?;
    Ok(Output::json(
        format!("Saved {path} as {save_as} ({archive_size} bytes, 7-Zip, password `infected`)."),
        &json!({
            "saved_as": save_as,
            "archive_size": archive_size,
            "archive_sha256": archive_sha,
            "file_sha256": sha,
            "file_size": file.get("size"),
            "remote_path": path,
            "format": "7z, password infected",
        }),
    ))
}

/// The `rtr` plugin.
pub fn plugin() -> Plugin {
    Plugin::new(
        "rtr",
        env!("CARGO_PKG_VERSION"),
        "Falcon Real Time Response: sessions, commands, file transfer",
    )
    .tool(
        ToolSpec::read(
            "rtr_init_session",
            "Initiate RTR session",
            "Open (or reuse) an RTR session on a host",
        )
        .ops(&["RTR_InitSession"])
        .output(Shape::Fields("session_id:string device_id:string"))
        .not_cacheable(),
        init,
    )
    .tool(
        ToolSpec::read(
            "rtr_run_command",
            "Run command",
            "Run a read-only command (ls, ps, netstat, reg query…); waits for output",
        )
        .ops(&["RTR_ExecuteCommand", "RTR_CheckCommandStatus"])
        .output(Shape::Fields(RESULT))
        .not_cacheable(),
        run_read_only,
    )
    .tool(
        ToolSpec::write(
            "rtr_run_response_command",
            "Run response command",
            "Run a response/admin command (kill, rm, runscript…). Previews unless confirm",
        )
        .ops(&[
            "RTR_ListSessions",
            "RTR_ExecuteActiveResponderCommand",
            "RTR_CheckActiveResponderCommandStatus",
            "RTR_ExecuteAdminCommand",
            "RTR_CheckAdminCommandStatus",
        ])
        .output(Shape::Fields(
            "preview?:boolean command?:string cloud_request_id?:string complete?:boolean stdout?:string",
        ))
        .destructive(),
        run_response,
    )
    .tool(
        ToolSpec::read(
            "rtr_get_session",
            "Get session status",
            "RTR sessions: host, state, recent commands",
        )
        .ops(&["RTR_ListSessions"])
        .output(Shape::List("sessions"))
        .not_cacheable(),
        get_session,
    )
    .tool(
        ToolSpec::read(
            "rtr_get_command_result",
            "Get command result",
            "Output of an RTR command by cloud_request_id",
        )
        .ops(&[
            "RTR_CheckCommandStatus",
            "RTR_CheckActiveResponderCommandStatus",
            "RTR_CheckAdminCommandStatus",
        ])
        .output(Shape::Fields(RESULT))
        .not_cacheable(),
        command_result,
    )
    .tool(
        ToolSpec::read(
            "rtr_pulse_session",
            "Keep session alive",
            "Refresh a session so it does not expire (10 idle minutes)",
        )
        .ops(&["RTR_ListSessions", "RTR_PulseSession"])
        .output(Shape::Fields("session_id:string device_id:string"))
        .not_cacheable(),
        pulse,
    )
    .tool(
        ToolSpec::read(
            "rtr_list_files",
            "List extracted files",
            "Files pulled with get in a session: name, SHA-256, size",
        )
        .ops(&["RTR_ListFilesV2"])
        .output(Shape::Fields("session_id:string files:array"))
        .not_cacheable(),
        list_files,
    )
    .search::<scripts::ListArgs>(
        ToolSpec::read(
            "rtr_list_scripts",
            "List RTR scripts",
            "Library scripts by name or platform",
        )
        .ops(&["RTR_ListScripts", "RTR_GetScriptsV2"])
        .output(Shape::Search)
        .not_cacheable(),
        &scripts::SEARCH,
    )
    .tool(
        ToolSpec::write(
            "rtr_run_script",
            "Run library script",
            "Run a library script on a session's host (runscript). Previews unless confirm",
        )
        .ops(&[
            "RTR_ListScripts",
            "RTR_GetScriptsV2",
            "RTR_ListSessions",
            "RTR_ExecuteAdminCommand",
            "RTR_CheckAdminCommandStatus",
        ])
        .output(Shape::Fields(
            "preview?:boolean script:object cloud_request_id?:string complete?:boolean stdout?:string",
        ))
        .destructive(),
        scripts::run_script,
    )
    .tool(
        ToolSpec::read(
            "rtr_batch_init",
            "Open batch sessions",
            "Open RTR sessions on several hosts; returns a batch_id",
        )
        .ops(&["BatchInitSessions"])
        .output(Shape::Fields("batch_id:string hosts:array failed:array"))
        .not_cacheable(),
        batch::init,
    )
    .tool(
        ToolSpec::read(
            "rtr_batch_run_command",
            "Run batch command",
            "Run a read-only command on a batch's hosts; output per host",
        )
        .ops(&["BatchCmd"])
        .output(Shape::Fields("batch_id:string command:string results:array"))
        .not_cacheable(),
        batch::run_command,
    )
    .tool(
        ToolSpec::write(
            "rtr_batch_get_file",
            "Batch download file",
            "Fetch a path from each batch host into the files dir (7z, password infected)",
        )
        .ops(&[
            "BatchGetCmd",
            "BatchGetCmdStatus",
            "RTR_GetExtractedFileContents",
        ])
        .output(Shape::Fields(
            "batch_get_cmd_req_id:string files:array failed:array pending:array",
        )),
        batch::get_file,
    )
    .tool(
        ToolSpec::read(
            "rtr_close_session",
            "Close RTR session",
            "Close an RTR session",
        )
        .ops(&["RTR_DeleteSession"])
        .output(Shape::Fields("closed:string"))
        .not_cacheable(),
        close,
    )
    .tool(
        ToolSpec::write(
            "rtr_upload_file",
            "Upload file",
            "Put a file from the files dir into the session's directory",
        )
        .ops(&[
            "RTR_ListPut_Files",
            "RTR_GetPut_FilesV2",
            "RTR_CreatePut_FilesV2",
            "RTR_ExecuteAdminCommand",
            "RTR_CheckAdminCommandStatus",
        ])
        .output(Shape::Fields("file:string size:integer sha256:string result:object")),
        upload,
    )
    .tool(
        ToolSpec::write(
            "rtr_download_file",
            "Download file",
            "Fetch a host file into the files dir (7z, password infected)",
        )
        .ops(&[
            "RTR_ExecuteActiveResponderCommand",
            "RTR_CheckActiveResponderCommandStatus",
            "RTR_ListFilesV2",
            "RTR_GetExtractedFileContents",
        ])
        .output(Shape::Fields(
            "saved_as?:string archive_size?:integer archive_sha256?:string complete?:boolean",
        )),
        download,
    )
}

aerie_sdk::export_plugin!(plugin);

#[cfg(test)]
mod tests {
    use super::*;
    use aerie_sdk::testing::MockEnv;

    const SID: &str = "fdd6408f-6688-441b-8659-41bcad25441c";
    const RID: &str = "ae323961-5aa8-442e-8461-8d05c4541d7d";
    const AID: &str = "5388c592189444ad9e84df071c8f3954";

    fn call(env: &MockEnv, tool: &str, args: Value) -> Result<Output, ToolError> {
        plugin().call(env, tool, &args.to_string())
    }

    fn submitted() -> Value {
        json!({"resources": [{"session_id": SID, "cloud_request_id": RID, "queued_command_offline": false}]})
    }

    #[test]
    fn declarations_are_valid_and_uncached() {
        let p = plugin();
        p.validate().unwrap();
        let d = p.describe();
        assert!(d.tools.iter().all(|t| !t.spec.cacheable));
        let avg = d.average_tool_bytes();
        assert!(avg < 450, "average tool size {avg} bytes");
    }

    #[test]
    fn command_tiers() {
        assert_eq!(parse_command("ls C:\\Users").unwrap().tier, Tier::ReadOnly);
        assert_eq!(
            parse_command("reg query HKLM\\Software").unwrap().tier,
            Tier::ReadOnly
        );
        assert_eq!(
            parse_command("reg set HKLM\\x v").unwrap().tier,
            Tier::ActiveResponder
        );
        assert_eq!(parse_command("KILL 42").unwrap().base, "kill");
        assert_eq!(parse_command("put tool.exe").unwrap().tier, Tier::Admin);
        assert_eq!(
            parse_command("runscript -CloudFile=x").unwrap().tier,
            Tier::Admin
        );
        assert_eq!(
            parse_command("runscript -Raw=```x```").unwrap().tier,
            Tier::ActiveResponder
        );
        assert!(parse_command("format c:").is_err());
        assert!(parse_command("ls\nrm x").is_err());
    }

    #[test]
    fn read_only_runs_and_polls() {
        let env = MockEnv::new()
            .reply("RTR_ExecuteCommand", 201, submitted())
            .reply("RTR_CheckCommandStatus", 200, json!({"resources": [{"complete": false, "stdout": ""}]}))
            .reply(
                "RTR_CheckCommandStatus",
                200,
                json!({"resources": [{"complete": true, "stdout": "Directory listing", "stderr": "", "base_command": "ls"}]}),
            );
        let out = call(
            &env,
            "rtr_run_command",
            json!({"session_id": SID, "command": "ls C:\\Users"}),
        )
        .unwrap();
        let s = out.structured.unwrap();
        assert_eq!(s["stdout"], "Directory listing");
        assert_eq!(s["complete"], true);
        let body = env.calls_to("RTR_ExecuteCommand")[0].body_json().unwrap();
        assert_eq!(body["base_command"], "ls");
        assert_eq!(body["command_string"], "ls C:\\Users");
        assert_eq!(
            env.calls_to("RTR_CheckCommandStatus")[0].query_value("cloud_request_id"),
            Some(RID)
        );
    }

    #[test]
    fn read_only_tool_refuses_response_commands() {
        let env = MockEnv::new();
        let e = call(
            &env,
            "rtr_run_command",
            json!({"session_id": SID, "command": "rm C:\\x"}),
        )
        .unwrap_err();
        assert!(
            matches!(e, ToolError::InvalidArguments(ref m) if m.contains("rtr_run_response_command"))
        );
        assert!(env.calls().is_empty());
    }

    #[test]
    fn response_command_previews_then_uses_matching_op() {
        let env = MockEnv::new()
            .reply(
                "RTR_ListSessions",
                200,
                json!({"resources": [{"id": SID, "hostname": "WS1"}]}),
            )
            .reply("RTR_ExecuteActiveResponderCommand", 201, submitted())
            .reply(
                "RTR_CheckActiveResponderCommandStatus",
                200,
                json!({"resources": [{"complete": true, "stdout": "killed", "stderr": ""}]}),
            );
        let out = call(
            &env,
            "rtr_run_response_command",
            json!({"session_id": SID, "command": "kill 42"}),
        )
        .unwrap();
        assert!(out.text.contains("Would run `kill 42` on WS1"));
        assert!(env.calls_to("RTR_ExecuteActiveResponderCommand").is_empty());
        call(
            &env,
            "rtr_run_response_command",
            json!({"session_id": SID, "command": "kill 42", "confirm": true}),
        )
        .unwrap();
        assert_eq!(env.calls_to("RTR_ExecuteActiveResponderCommand").len(), 1);
    }

    #[test]
    fn polling_is_bounded() {
        let env = MockEnv::new()
            .config("max_wait_s", "5")
            .reply("RTR_ExecuteCommand", 201, submitted())
            .reply(
                "RTR_CheckCommandStatus",
                200,
                json!({"resources": [{"complete": false}]}),
            );
        let out = call(
            &env,
            "rtr_run_command",
            json!({"session_id": SID, "command": "ps"}),
        )
        .unwrap();
        assert!(out.text.contains("rtr_get_command_result"));
        assert!(env.elapsed_ms() <= 5_000);
    }

    #[test]
    fn init_session() {
        let env = MockEnv::new().reply(
            "RTR_InitSession",
            201,
            json!({"resources": [{"session_id": SID, "device_id": AID, "pwd": "C:\\", "scripts": [{"command": "x"}]}]}),
        );
        let out = call(&env, "rtr_init_session", json!({"host_id": AID})).unwrap();
        let s = out.structured.unwrap();
        assert_eq!(s["session_id"], SID);
        assert!(s.get("scripts").is_none());
        assert_eq!(env.calls()[0].body_json().unwrap()["device_id"], AID);
    }

    #[test]
    fn download_writes_archive_not_bytes_to_model() {
        let env = MockEnv::new()
            .reply("RTR_ExecuteActiveResponderCommand", 201, submitted())
            .reply(
                "RTR_CheckActiveResponderCommandStatus",
                200,
                json!({"resources": [{"complete": true, "stdout": "", "stderr": ""}]}),
            )
            .reply(
                "RTR_ListFilesV2",
                200,
                json!({"resources": [{"cloud_request_id": RID, "sha256": "ab".repeat(32), "size": 3, "complete": true}]}),
            )
            .reply_bytes("RTR_GetExtractedFileContents", 200, b"7z\xbc\xaf".to_vec());
        let out = call(
            &env,
            "rtr_download_file",
            json!({"session_id": SID, "path": "C:\\Users\\jdoe\\evil file.exe"}),
        )
        .unwrap();
        assert_eq!(
            env.file_contents("evil file.exe.7z").unwrap(),
            b"7z\xbc\xaf"
        );
        let get = env.calls_to("RTR_ExecuteActiveResponderCommand")[0]
            .body_json()
            .unwrap();
        assert_eq!(
            get["command_string"],
            "get \"C:\\Users\\jdoe\\evil file.exe\""
        );
        let s = out.structured.unwrap();
        assert_eq!(s["file_sha256"], "ab".repeat(32));
        assert!(!out.text.contains("7z\u{bc}"));
        let q = &env.calls_to("RTR_GetExtractedFileContents")[0];
        assert_eq!(q.query_value("filename"), Some("evil file.exe"));
    }

    #[test]
    fn upload_creates_put_file_then_puts() {
        let env = MockEnv::new()
            .file("tool.exe", b"MZ")
            .reply("RTR_ListPut_Files", 200, json!({"resources": []}))
            .reply(
                "RTR_CreatePut_FilesV2",
                200,
                json!({"resources": [{"id": "pf1"}]}),
            )
            .reply("RTR_ExecuteAdminCommand", 201, submitted())
            .reply(
                "RTR_CheckAdminCommandStatus",
                200,
                json!({"resources": [{"complete": true, "stdout": "", "stderr": ""}]}),
            );
        let out = call(
            &env,
            "rtr_upload_file",
            json!({"session_id": SID, "file": "tool.exe"}),
        )
        .unwrap();
        assert_eq!(out.structured.unwrap()["put_file_id"], "pf1");
        let body = env.calls_to("RTR_CreatePut_FilesV2")[0]
            .body
            .clone()
            .unwrap();
        assert!(String::from_utf8_lossy(&body).contains(aerie_sdk::multipart::BOUNDARY));
        assert_eq!(
            env.calls_to("RTR_ExecuteAdminCommand")[0]
                .body_json()
                .unwrap()["command_string"],
            "put tool.exe"
        );
        assert!(matches!(
            call(
                &env,
                "rtr_upload_file",
                json!({"session_id": SID, "file": "../etc/passwd"})
            ),
            Err(ToolError::InvalidArguments(_))
        ));
    }

    #[test]
    fn chunked_output_is_read_to_the_last_chunk() {
        let chunk = |seq: u32, complete: bool, out: &str| json!({"resources": [{"complete": complete, "stdout": out, "stderr": "", "base_command": "ps", "sequence_id": seq}]});
        let env = MockEnv::new()
            .reply("RTR_ExecuteCommand", 201, submitted())
            .reply("RTR_CheckCommandStatus", 200, chunk(0, false, ""))
            .reply("RTR_CheckCommandStatus", 200, chunk(0, false, "one "))
            .reply("RTR_CheckCommandStatus", 200, chunk(1, false, "two "))
            .reply("RTR_CheckCommandStatus", 200, chunk(2, true, "three"));
        let out = call(
            &env,
            "rtr_run_command",
            json!({"session_id": SID, "command": "ps"}),
        )
        .unwrap();
        let s = out.structured.unwrap();
        assert_eq!(s["stdout"], "one two three");
        assert_eq!(s["complete"], true);
        let seqs: Vec<String> = env
            .calls_to("RTR_CheckCommandStatus")
            .iter()
            .map(|c| c.query_value("sequence_id").unwrap_or_default().to_string())
            .collect();
        assert_eq!(seqs, ["0", "0", "1", "2"]);
        // Only the "still running" answer slept; the chunks were read back to back.
        assert_eq!(env.elapsed_ms(), u64::from(POLL_MS));
    }

    const BATCH: &str = "0c4b1e4e-8a6f-4c7d-9b1a-3e2f1d0c9b8a";
    const AID2: &str = "0123456789abcdef0123456789abcdef";

    fn session(platform: &str) -> Value {
        json!({"resources": [{"id": SID, "device_id": AID, "hostname": "WS1", "platform_name": platform, "deleted_at": null}]})
    }

    #[test]
    fn pulse_refreshes_the_sessions_device() {
        let env = MockEnv::new()
            .reply("RTR_ListSessions", 200, session("Windows"))
            .reply(
                "RTR_PulseSession",
                201,
                json!({"resources": [{"session_id": SID, "pwd": "C:\\"}]}),
            );
        let out = call(&env, "rtr_pulse_session", json!({"session_id": SID})).unwrap();
        assert!(out.text.contains("refreshed"), "{}", out.text);
        let body = env.calls_to("RTR_PulseSession")[0].body_json().unwrap();
        assert_eq!(body["device_id"], AID);
        // A closed session is not refreshed.
        let env = MockEnv::new().reply(
            "RTR_ListSessions",
            200,
            json!({"resources": [{"id": SID, "device_id": AID, "deleted_at": "2025-06-13T02:00:00Z"}]}),
        );
        let e = call(&env, "rtr_pulse_session", json!({"session_id": SID})).unwrap_err();
        assert!(matches!(e, ToolError::InvalidArguments(ref m) if m.contains("rtr_init_session")));
        assert!(env.calls_to("RTR_PulseSession").is_empty());
    }

    #[test]
    fn run_script_previews_checks_platform_then_runs_as_admin() {
        let script = json!({"resources": [{"id": "s1", "name": "collect-logs.sh", "platform": ["linux"], "description": "logs", "content": "tar"}]});
        let env = MockEnv::new()
            .reply("RTR_ListScripts", 200, json!({"resources": ["s1"]}))
            .reply("RTR_GetScriptsV2", 200, script.clone())
            .reply("RTR_ListSessions", 200, session("Windows"));
        let e = call(
            &env,
            "rtr_run_script",
            json!({"session_id": SID, "script": "collect-logs.sh"}),
        )
        .unwrap_err();
        assert!(
            matches!(e, ToolError::InvalidArguments(ref m) if m.contains("is for linux")),
            "{e:?}"
        );
        let env = MockEnv::new()
            .reply("RTR_ListScripts", 200, json!({"resources": ["s1"]}))
            .reply("RTR_GetScriptsV2", 200, script.clone())
            .reply("RTR_ListSessions", 200, session("Linux"));
        let out = call(
            &env,
            "rtr_run_script",
            json!({"session_id": SID, "script": "collect-logs.sh", "args": "-v"}),
        )
        .unwrap();
        assert!(out.text.starts_with("PREVIEW"), "{}", out.text);
        assert!(
            out.text
                .contains("runscript -CloudFile='collect-logs.sh' -CommandLine='-v'")
        );
        assert!(env.calls_to("RTR_ExecuteAdminCommand").is_empty());
        assert_eq!(
            env.calls_to("RTR_ListScripts")[0].query_value("filter"),
            Some("name:'collect-logs.sh'")
        );
        let env = MockEnv::new()
            .reply("RTR_ListScripts", 200, json!({"resources": ["s1"]}))
            .reply("RTR_GetScriptsV2", 200, script)
            .reply("RTR_ListSessions", 200, session("Linux"))
            .reply("RTR_ExecuteAdminCommand", 201, submitted())
            .reply(
                "RTR_CheckAdminCommandStatus",
                200,
                json!({"resources": [{"complete": true, "stdout": "done", "stderr": ""}]}),
            );
        let out = call(
            &env,
            "rtr_run_script",
            json!({"session_id": SID, "script": "collect-logs.sh", "confirm": true}),
        )
        .unwrap();
        assert_eq!(out.structured.unwrap()["script"]["name"], "collect-logs.sh");
        let body = env.calls_to("RTR_ExecuteAdminCommand")[0]
            .body_json()
            .unwrap();
        assert_eq!(body["base_command"], "runscript");
        assert_eq!(
            body["command_string"],
            "runscript -CloudFile='collect-logs.sh'"
        );
        // Quotes and separators never reach a command line.
        for args in [
            json!({"script": "a'b"}),
            json!({"script": "x", "args": "a; rm b"}),
        ] {
            let mut a = args;
            a["session_id"] = json!(SID);
            let env = MockEnv::new();
            assert!(matches!(
                call(&env, "rtr_run_script", a),
                Err(ToolError::InvalidArguments(_))
            ));
            assert!(env.calls().is_empty());
        }
    }

    #[test]
    fn batch_command_reports_each_host() {
        let env = MockEnv::new().reply(
            "BatchCmd",
            201,
            json!({"combined": {"resources": {
                AID: {"aid": AID, "complete": true, "stdout": "a", "stderr": "", "errors": []},
                AID2: {"aid": AID2, "complete": false, "task_id": RID, "stdout": "", "errors": []}
            }}}),
        );
        let out = call(
            &env,
            "rtr_batch_run_command",
            json!({"batch_id": BATCH, "command": "ps", "host_ids": [AID, AID2]}),
        )
        .unwrap();
        assert!(
            out.text.contains("1 finished") && out.text.contains("1 still running"),
            "{}",
            out.text
        );
        let s = out.structured.unwrap();
        let r: Vec<&Value> = s["results"].as_array().unwrap().iter().collect();
        assert!(r.iter().any(|h| h["stdout"] == "a"));
        assert!(r.iter().any(|h| h["cloud_request_id"] == RID));
        let body = env.calls_to("BatchCmd")[0].body_json().unwrap();
        assert_eq!(body["optional_hosts"], json!([AID, AID2]));
        assert_eq!(body["command_string"], "ps");
        let e = call(
            &env,
            "rtr_batch_run_command",
            json!({"batch_id": BATCH, "command": "kill 4"}),
        )
        .unwrap_err();
        assert!(matches!(e, ToolError::InvalidArguments(ref m) if m.contains("read-only")));
    }

    #[test]
    fn batch_get_polls_until_uploaded_and_saves_each_archive() {
        let sha = "ab".repeat(32);
        let env = MockEnv::new()
            .reply(
                "BatchGetCmd",
                201,
                json!({"batch_get_cmd_req_id": RID, "combined": {"resources": {
                    AID: {"aid": AID, "session_id": SID, "complete": true, "stdout": "x", "stderr": "", "errors": []},
                    AID2: {"aid": AID2, "complete": true, "stderr": "Cannot find path", "errors": []}
                }}}),
            )
            .reply("BatchGetCmdStatus", 200, json!({"resources": {}}))
            .reply(
                "BatchGetCmdStatus",
                200,
                json!({"resources": {AID: {"session_id": SID, "sha256": sha, "size": 3}}}),
            )
            .reply_bytes("RTR_GetExtractedFileContents", 200, b"7z\xbc\xaf".to_vec());
        let out = call(
            &env,
            "rtr_batch_get_file",
            json!({"batch_id": BATCH, "path": "C:\\Windows\\x.dll"}),
        )
        .unwrap();
        let s = out.structured.unwrap();
        assert_eq!(s["files"][0]["saved_as"], format!("{AID}_x.dll.7z"));
        assert_eq!(s["failed"][0]["host_id"], AID2);
        assert_eq!(
            env.file_contents(&format!("{AID}_x.dll.7z")).unwrap(),
            b"7z\xbc\xaf"
        );
        assert_eq!(env.calls_to("BatchGetCmdStatus").len(), 2);
        let q = &env.calls_to("RTR_GetExtractedFileContents")[0];
        assert_eq!(q.query_value("sha256"), Some(sha.as_str()));
        assert_eq!(q.query_value("filename"), Some("x.dll"));
    }

    #[test]
    fn batch_get_keeps_the_archives_that_arrive() {
        let sha = "cd".repeat(32);
        let ok = |aid: &str| json!({"aid": aid, "session_id": SID, "complete": true, "stderr": "", "errors": []});
        let env = MockEnv::new()
            .reply(
                "BatchGetCmd",
                201,
                json!({"batch_get_cmd_req_id": RID, "combined": {"resources": {AID: ok(AID), AID2: ok(AID2)}}}),
            )
            .reply(
                "BatchGetCmdStatus",
                200,
                json!({"resources": {AID: {"session_id": SID, "sha256": sha}, AID2: {"session_id": SID, "sha256": sha}}}),
            )
            .reply_bytes("RTR_GetExtractedFileContents", 200, b"7z".to_vec())
            .reply("RTR_GetExtractedFileContents", 404, json!({"errors": [{"message": "gone"}]}));
        let s = call(
            &env,
            "rtr_batch_get_file",
            json!({"batch_id": BATCH, "path": "/etc/hosts"}),
        )
        .unwrap()
        .structured
        .unwrap();
        assert_eq!(s["files"].as_array().unwrap().len(), 1, "{s}");
        assert!(
            s["failed"][0]["error"].as_str().unwrap().contains("gone"),
            "{s}"
        );
    }
}
