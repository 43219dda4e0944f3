//! The operator's admin channel: a Unix socket only the server's own user can reach (0600 in
//! a directory that is not writable by others, and the peer's uid checked on every
//! connection), speaking one JSON request and one JSON answer per line. `aerie approvals
//! list|show|approve|deny` is its client.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use crate::app::App;

/// Longest request line accepted, in bytes.
const MAX_LINE: usize = 64 << 10;
/// Connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 8;
/// How long a connection may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest Unix socket path (`sun_path` holds 108 bytes with its NUL).
const MAX_SOCKET_PATH: usize = 107;

/// The default socket: `$XDG_RUNTIME_DIR/aerie/admin.sock`, else `<cache dir>/aerie/admin.sock`.
pub fn default_socket() -> Option<PathBuf> {
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(dirs::cache_dir)
        .map(|d| d.join("aerie").join("admin.sock"))
}

/// The socket `[approvals] socket` names, else the default.
pub fn socket_path(app_socket: Option<&Path>) -> Option<PathBuf> {
    app_socket.map(Path::to_path_buf).or_else(default_socket)
}

fn our_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// The login name of `uid`, if it has one.
fn user_name(uid: u32) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: a zeroed passwd is a valid out-parameter; getpwuid_r writes only into `pw` and
    // `buf` (whose length we pass) and sets `result` to null or to `&pw`.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    let rc = unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc != 0 || result.is_null() || pw.pw_name.is_null() {
        return None;
    }
    // SAFETY: on success pw_name points to a NUL-terminated string inside `buf`.
    let name = unsafe { std::ffi::CStr::from_ptr(pw.pw_name) };
    Some(name.to_string_lossy().into_owned())
}

/// Why the socket could not be set up.
#[derive(Debug)]
pub enum BindError {
    /// Another live server listens there.
    InUse(PathBuf),
    /// The path is unusable or unsafe (the message says which and how to fix it).
    Refused(String),
}

impl std::fmt::Display for BindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BindError::InUse(p) => write!(
                f,
                "admin socket {}: another aerie server is listening there (set [approvals] socket to another path)",
                p.display()
            ),
            BindError::Refused(m) => f.write_str(m),
        }
    }
}

/// Bind `path` safely: its directory is created 0700 if missing and must be ours and not
/// writable by others; an existing path must be our own stale socket; the socket is 0600.
pub fn bind(path: &Path) -> Result<UnixListener, BindError> {
    let refused = |m: String| BindError::Refused(format!("admin socket {}: {m}", path.display()));
    if path.as_os_str().len() > MAX_SOCKET_PATH {
        return Err(refused(format!(
            "the path is longer than {MAX_SOCKET_PATH} bytes, the Unix socket limit; set [approvals] socket to a shorter path"
        )));
    }
    let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Err(refused("needs a directory; use an absolute path".into()));
    };
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| refused(format!("cannot create {}: {e}", dir.display())))?;
    }
    let meta = std::fs::metadata(dir).map_err(|e| refused(format!("{}: {e}", dir.display())))?;
    if meta.uid() != our_uid() {
        return Err(refused(format!(
            "its directory {} belongs to uid {}, not to this user ({}); choose a directory you own",
            dir.display(),
            meta.uid(),
            our_uid()
        )));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(refused(format!(
            "its directory {} is writable by group or others (mode {:o}); `chmod 700` it",
            dir.display(),
            meta.mode() & 0o777
        )));
    }
    if let Ok(m) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        if m.uid() != our_uid() {
            return Err(refused(format!(
                "it belongs to uid {}, not to this user ({}); refusing to use or replace it",
                m.uid(),
                our_uid()
            )));
        }
        if !m.file_type().is_socket() {
            return Err(refused(
                "it exists and is not a socket; remove it or set [approvals] socket".into(),
            ));
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(BindError::InUse(path.to_path_buf()));
        }
        // Our own socket that nobody listens on: left by a server that was killed.
        std::fs::remove_file(path)
            .map_err(|e| refused(format!("cannot remove stale socket: {e}")))?;
    }
    let listener = UnixListener::bind(path).map_err(|e| refused(format!("cannot bind: {e}")))?;
    // The directory is ours and not writable by others, so nobody can swap the socket
    // between the bind and this chmod.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| refused(format!("cannot make it 0600: {e}")))?;
    Ok(listener)
}

/// The running admin channel; stops listening and removes its socket when dropped.
pub struct AdminServer {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl AdminServer {
    /// Where it listens.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Start the admin channel when approvals can queue (mode is not `off`). A socket the operator
/// named must work; the default one may be unavailable (no runtime or cache directory), which
/// is logged, and when another server holds it this one listens on `admin-<pid>.sock` beside it.
pub fn start(app: Arc<App>) -> anyhow::Result<Option<AdminServer>> {
    use crate::controls::approvals::Mode;
    let approvals = &app.controls.approvals;
    if approvals.mode() == Mode::Off {
        return Ok(None);
    }
    let (path, explicit) = match &approvals.socket {
        Some(p) => (p.clone(), true),
        None => match default_socket() {
            Some(p) => (p, false),
            None => {
                tracing::warn!(
                    "no runtime or cache directory for the admin socket: queued approvals cannot be decided; set [approvals] socket"
                );
                return Ok(None);
            }
        },
    };
    let (listener, path) = match bind(&path) {
        Ok(l) => (l, path),
        Err(e) if explicit => return Err(anyhow::anyhow!("{e}")),
        Err(BindError::InUse(p)) => {
            let alt = p.with_file_name(format!("admin-{}.sock", std::process::id()));
            match bind(&alt) {
                Ok(l) => {
                    tracing::warn!(socket = %alt.display(), "another aerie server holds {}; approvals for this one: aerie approvals --socket {}", p.display(), alt.display());
                    (l, alt)
                }
                Err(e) => {
                    tracing::warn!(
                        "{e}: queued approvals cannot be decided; set [approvals] socket"
                    );
                    return Ok(None);
                }
            }
        }
        Err(e @ BindError::Refused(_)) if !path.parent().is_some_and(Path::exists) => {
            tracing::warn!("{e}: queued approvals cannot be decided; set [approvals] socket");
            return Ok(None);
        }
        Err(e) => return Err(anyhow::anyhow!("{e}")),
    };
    tracing::info!(socket = %path.display(), "operator admin socket listening (aerie approvals)");
    let task = tokio::spawn(accept_loop(app, listener));
    Ok(Some(AdminServer { path, task }))
}

async fn accept_loop(app: Arc<App>, listener: UnixListener) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!(error = %e, "admin socket accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let app = app.clone();
        tokio::spawn(async move {
            serve_connection(&app, stream).await;
            drop(permit);
        });
    }
}

async fn serve_connection(app: &App, stream: UnixStream) {
    // The file mode already keeps others out; the peer's uid is checked too, so a socket
    // reached some other way (a passed descriptor, a looser mode) still answers only us.
    let uid = match stream.peer_cred() {
        Ok(c) => c.uid(),
        Err(_) => return,
    };
    let (read, mut write) = stream.into_split();
    let answer = if uid != our_uid() && uid != 0 {
        json!({"ok": false, "error": format!("uid {uid} may not use this server's admin socket")})
    } else {
        let mut line = String::new();
        let mut reader = BufReader::new(read).take(MAX_LINE as u64 + 1);
        match tokio::time::timeout(REQUEST_TIMEOUT, reader.read_line(&mut line)).await {
            Err(_) => json!({"ok": false, "error": "no request within 10 s"}),
            Ok(Err(e)) => json!({"ok": false, "error": format!("cannot read the request: {e}")}),
            Ok(Ok(_)) if line.len() > MAX_LINE => {
                json!({"ok": false, "error": format!("request longer than {MAX_LINE} bytes")})
            }
            Ok(Ok(_)) => {
                let by = match user_name(uid) {
                    Some(n) => format!("operator:{uid}/{n}"),
                    None => format!("operator:{uid}"),
                };
                handle(app, &line, &by).await
            }
        }
    };
    let mut out = answer.to_string();
    out.push('\n');
    let _ = tokio::time::timeout(REQUEST_TIMEOUT, write.write_all(out.as_bytes())).await;
}

/// Answer one request: `{"op": "list"}`, `{"op": "show"|"approve", "id": …}`,
/// `{"op": "deny", "id": …, "reason": …}`, `{"op": "cache_stats"}`,
/// `{"op": "cache_clear", "plugin": …}`.
async fn handle(app: &App, line: &str, by: &str) -> Value {
    let req: Value = match serde_json::from_str(line.trim()) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return json!({"ok": false, "error": "the request must be one JSON object on one line"});
        }
    };
    let approvals = &app.controls.approvals;
    let id = req.get("id").and_then(Value::as_str);
    let result = match (req.get("op").and_then(Value::as_str), id) {
        (Some("list"), _) => approvals.list().await.map(|a| json!({"approvals": a})),
        (Some("show"), Some(id)) => approvals.show(id).await.map(|a| json!({"approval": a})),
        (Some("approve"), Some(id)) => approvals
            .decide(app, id, true, None, by)
            .await
            .map(|a| json!({"approval": a})),
        (Some("deny"), Some(id)) => {
            let reason = req
                .get("reason")
                .and_then(Value::as_str)
                .map(str::to_string);
            approvals
                .decide(app, id, false, reason, by)
                .await
                .map(|a| json!({"approval": a}))
        }
        (Some("show" | "approve" | "deny"), None) => {
            Err("this request needs an \"id\"".to_string())
        }
        (Some("cache_stats"), _) => crate::controls::cache::stats_text(app.controls.cache.store())
            .await
            .map(|text| json!({"text": text})),
        (Some("cache_clear"), _) => {
            let plugin = req.get("plugin").and_then(Value::as_str);
            let text = crate::controls::cache::clear_text(app.controls.cache.store(), plugin).await;
            if let Ok(t) = &text {
                app.services.audit.record(
                    "cache_clear",
                    json!({"by": by, "plugin": plugin, "result": t.trim()}),
                );
            }
            text.map(|text| json!({"text": text}))
        }
        _ => Err(
            "unknown \"op\": use list, show, approve, deny, cache_stats or cache_clear".to_string(),
        ),
    };
    match result {
        Ok(Value::Object(mut m)) => {
            m.insert("ok".into(), Value::Bool(true));
            Value::Object(m)
        }
        Ok(other) => json!({"ok": true, "result": other}),
        Err(e) => json!({"ok": false, "error": e}),
    }
}

/// Send `request` to the server at `path` and return its answer; `Err` says what went wrong
/// (no server there, or the server refused), in words for the operator.
pub async fn request(path: &Path, request: &Value) -> Result<Value, String> {
    let stream = UnixStream::connect(path).await.map_err(|e| {
        let mut m = format!(
            "cannot reach an aerie server at {}: {e}. Is it running with [approvals] mode other than off?",
            path.display()
        );
        let others = others_beside(path);
        if !others.is_empty() {
            m.push_str(&format!(" Other admin sockets there: {} (pass --socket).", others.join(", ")));
        }
        m
    })?;
    let (read, mut write) = stream.into_split();
    let mut line = request.to_string();
    line.push('\n');
    write
        .write_all(line.as_bytes())
        .await
        .map_err(|e| format!("cannot send the request: {e}"))?;
    let mut answer = String::new();
    let mut reader = BufReader::new(read).take(16 << 20);
    tokio::time::timeout(REQUEST_TIMEOUT, reader.read_line(&mut answer))
        .await
        .map_err(|_| "the server did not answer within 10 s".to_string())?
        .map_err(|e| format!("cannot read the answer: {e}"))?;
    let v: Value = serde_json::from_str(answer.trim())
        .map_err(|e| format!("the server's answer is not JSON: {e}"))?;
    if v.get("ok") == Some(&Value::Bool(true)) {
        Ok(v)
    } else {
        Err(v
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("the server refused the request")
            .to_string())
    }
}

/// `admin-<pid>.sock` files next to `path` (servers that found the default socket taken).
fn others_beside(path: &Path) -> Vec<String> {
    let Some(dir) = path.parent() else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p != path
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("admin-") && n.ends_with(".sock"))
        })
        .take(20)
        .map(|p| p.display().to_string())
        .collect()
}

/// One approval as a line of `aerie approvals list`.
pub fn render_line(a: &Value) -> String {
    let s = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or("-").to_string();
    let preview = s("preview").replace('\n', " ");
    format!(
        "{}  {:<8}  {}  client {}  expires in {}s  {}",
        s("id"),
        s("status"),
        s("tool"),
        s("client"),
        a.get("expires_in_secs")
            .and_then(Value::as_u64)
            .unwrap_or(0),
        crate::runtime::truncate_str(&preview, 160)
    )
}

/// One approval in full, for `aerie approvals show`.
pub fn render_full(a: &Value) -> String {
    let s = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or("-").to_string();
    let mut out = format!(
        "approval {}\n  status:   {}\n  tool:     {} (plugin {})\n  client:   {}  session {}\n  expires:  in {} s\n  args sha256: {}\n",
        s("id"),
        s("status"),
        s("tool"),
        s("plugin"),
        s("client"),
        s("session"),
        a.get("expires_in_secs")
            .and_then(Value::as_u64)
            .unwrap_or(0),
        s("args_sha256"),
    );
    if let Some(by) = a.get("decided_by").and_then(Value::as_str) {
        out.push_str(&format!("  decided by: {by}\n"));
    }
    if let Some(r) = a.get("reason").and_then(Value::as_str) {
        out.push_str(&format!("  reason:   {r}\n"));
    }
    let args = a
        .get("args")
        .map(|v| serde_json::to_string_pretty(v).unwrap_or_default());
    out.push_str(&format!(
        "  arguments:\n{}\n",
        indent(&args.unwrap_or_default())
    ));
    out.push_str(&format!("  preview:\n{}\n", indent(&s("preview"))));
    if let Some(p) = a.get("preview_structured").filter(|v| !v.is_null()) {
        out.push_str(&format!(
            "  preview (structured):\n{}\n",
            indent(&serde_json::to_string_pretty(p).unwrap_or_default())
        ));
    }
    out
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
