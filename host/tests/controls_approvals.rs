//! Human approval of destructive calls, end to end: the real `aerie` binary with writes on,
//! the simulator over real HTTP (its request log shows whether a containment reached "Falcon"),
//! a real client that answers elicitations (the official Python SDK, `clients/elicit.py`), and
//! the operator's `aerie approvals` CLI over the admin socket.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use falcon_sim::{KNOWN_HOSTNAME, KNOWN_LINUX_HOSTNAME};
use rmcp::RoleClient;
use rmcp::service::RunningService;
use serde_json::{Value, json};
use support::*;

/// The Falcon operation a containment sends.
const CONTAIN_OP: &str = "PerformActionV2";

/// A work directory with `aerie.toml` holding `[approvals]` `extra` lines and a socket in a
/// private directory; returns (dir, config path, socket path).
fn workdir(extra: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let work = tempfile::tempdir().unwrap();
    let socket = work.path().join("admin").join("admin.sock");
    let config = work.path().join("aerie.toml");
    std::fs::write(
        &config,
        format!(
            "[approvals]\nsocket = {:?}\n{extra}\n",
            socket.display().to_string()
        ),
    )
    .unwrap();
    (work, config, socket)
}

/// `aerie serve` (hosts plugin, writes on, approvals as `config` says) with rmcp's client,
/// which has no elicitation capability.
async fn serve(
    sim: &falcon_sim::Simulator,
    config: &Path,
    work: &Path,
) -> RunningService<RoleClient, ()> {
    use rmcp::ServiceExt;
    use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
    let log = std::fs::File::create(work.join("stderr.log")).unwrap();
    let (transport, _) =
        TokioChildProcess::builder(tokio::process::Command::new(aerie()).configure(|c| {
            c.args([
                "serve",
                "--cache-dir",
                &shared_cache(),
                "--modules",
                "hosts",
            ])
            .args(["--allow-writes", "--config"])
            .arg(config)
            .arg("--audit-log")
            .arg(work.join("audit.jsonl"))
            .env("HOME", "/nonexistent")
            // The mode comes from the config file alone.
            .env_remove("AERIE_APPROVALS")
            .env("FALCON_CLIENT_ID", falcon_sim::DEMO_CLIENT_ID)
            .env("FALCON_CLIENT_SECRET", falcon_sim::DEMO_CLIENT_SECRET)
            .env("FALCON_BASE_URL", sim.base_url());
        }))
        .stderr(std::process::Stdio::from(log))
        .spawn()
        .unwrap();
    ().serve(transport).await.expect("client connects")
}

/// `aerie approvals <args> --socket <socket>`: (success, stdout + stderr).
fn approvals_cli(socket: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(aerie())
        .arg("approvals")
        .args(args)
        .arg("--socket")
        .arg(socket)
        .env("HOME", "/nonexistent")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The pending approval id a gated call answered with (its text names it too).
fn pending_id(r: &rmcp::model::CallToolResult) -> String {
    let t = err_text(r);
    assert!(t.contains("needs a person's approval"), "{t}");
    assert!(t.contains("nothing was sent to Falcon"), "{t}");
    let meta = r.meta.as_ref().expect("_meta on a pending approval");
    let a = &meta.0["aerie/approval"];
    assert_eq!(a["status"], "pending", "{a}");
    let id = a["id"].as_str().unwrap().to_string();
    assert!(t.contains(&id), "{t}");
    id
}

async fn run_approved(
    client: &RunningService<RoleClient, ()>,
    id: &str,
) -> rmcp::model::CallToolResult {
    call(client, "aerie_run_approved", json!({"approval_id": id})).await
}

/// The AIDs of two normal hosts, found with approvals off (reads are never gated anyway).
async fn two_aids(sim: &falcon_sim::Simulator) -> (String, String) {
    let work = tempfile::tempdir().unwrap();
    let client = serve_against(sim, &["--modules", "hosts"], work.path()).await;
    let a = aid_of(&client, KNOWN_HOSTNAME).await;
    let b = aid_of(&client, KNOWN_LINUX_HOSTNAME).await;
    client.cancel().await.unwrap();
    (a, b)
}

/// Runs `clients/elicit.py` (the Python SDK's stdio client) against aerie; it answers every
/// elicitation with `answer`. Returns its JSON report.
fn python_client(sim: &falcon_sim::Simulator, work: &Path, answer: &str, aid: &str) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/elicit.py");
    let cache = shared_cache();
    let args = json!({"ids": [aid], "confirm": true, "note": "IR-7"}).to_string();
    let out = Command::new("python3")
        .arg(&script)
        .args([aerie(), answer, "hosts_contain", args.as_str()])
        .args([
            "serve",
            "--cache-dir",
            cache.as_str(),
            "--modules",
            "hosts",
            "--allow-writes",
        ])
        .arg("--audit-log")
        .arg(work.join("audit.jsonl"))
        .env("FALCON_CLIENT_ID", falcon_sim::DEMO_CLIENT_ID)
        .env("FALCON_CLIENT_SECRET", falcon_sim::DEMO_CLIENT_SECRET)
        .env("FALCON_BASE_URL", sim.base_url())
        .env_remove("AERIE_APPROVALS")
        .env("ELICIT_SERVER_LOG", work.join("stderr.log"))
        .output()
        .expect("python3 runs (the CI installs the `mcp` package)");
    assert!(
        out.status.success(),
        "elicit.py failed: {}\nserver log: {}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(work.join("stderr.log")).unwrap_or_default()
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "elicit.py printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Audit records of kind `approval`.
fn approval_records(work: &Path) -> Vec<Value> {
    std::fs::read_to_string(work.join("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["kind"] == "approval")
        .collect()
}

/// Elicitation: the person sees the preview; accept runs the containment, decline sends no
/// write at all. Both decisions are audited as `elicitation:stdio`.
#[tokio::test(flavor = "multi_thread")]
async fn elicitation_accept_runs_and_decline_sends_nothing() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let (aid, other) = two_aids(&sim).await;

    let work = tempfile::tempdir().unwrap();
    sim.clear_requests();
    let r = python_client(&sim, work.path(), "accept", &aid);
    assert_eq!(r["is_error"], false, "{r}");
    let asked = r["elicitations"].as_array().unwrap();
    assert_eq!(asked.len(), 1, "{r}");
    let message = asked[0].as_str().unwrap();
    assert!(message.contains("hosts_contain"), "{message}");
    assert!(
        message.contains("Would network-contain 1 host(s): WS-FIN-042"),
        "{message}"
    );
    assert!(
        r["text"].as_str().unwrap().contains("Requested contain"),
        "{r}"
    );
    assert_eq!(count_op(&sim, CONTAIN_OP), 1, "{:?}", operations(&sim));
    let audit = approval_records(work.path());
    assert!(
        audit
            .iter()
            .any(|a| a["decision"] == "approved" && a["by"] == "elicitation:stdio"),
        "{audit:?}"
    );

    let work = tempfile::tempdir().unwrap();
    sim.clear_requests();
    let r = python_client(&sim, work.path(), "decline", &other);
    assert_eq!(r["is_error"], true, "{r}");
    let t = r["text"].as_str().unwrap();
    assert!(
        t.contains("declined") && t.contains("nothing was sent to Falcon"),
        "{t}"
    );
    assert_eq!(count_op(&sim, CONTAIN_OP), 0, "{:?}", operations(&sim));
    let audit = approval_records(work.path());
    assert!(
        audit
            .iter()
            .any(|a| a["decision"] == "declined" && a["by"] == "elicitation:stdio"),
        "{audit:?}"
    );
}

/// The queue: a client without elicitation gets a pending id and no write; the operator lists
/// it with its preview and approves; the agent runs it once; a second run, a different set of
/// arguments, and a denied approval are all refused without a write.
#[tokio::test(flavor = "multi_thread")]
async fn queue_cli_approves_once_and_denies() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let (aid, other) = two_aids(&sim).await;
    let (work, config, socket) = workdir("");
    let client = serve(&sim, &config, work.path()).await;
    assert!(
        tool_names(&client)
            .await
            .iter()
            .any(|n| n == "aerie_run_approved")
    );
    // Only this user can reach the socket.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&socket), 0o600);
    assert_eq!(mode(socket.parent().unwrap()), 0o700);

    sim.clear_requests();
    let args = json!({"ids": [aid], "confirm": true, "note": "IR-8"});
    let id = pending_id(&call(&client, "hosts_contain", args.clone()).await);
    assert_eq!(count_op(&sim, CONTAIN_OP), 0);
    // Asking again (same call, same session) finds the same approval, not a second one.
    assert_eq!(pending_id(&call(&client, "hosts_contain", args).await), id);

    let (ok, listed) = approvals_cli(&socket, &["list"]);
    assert!(ok, "{listed}");
    assert!(
        listed.contains(&id) && listed.contains("pending"),
        "{listed}"
    );
    assert!(
        listed.contains("Would network-contain 1 host(s): WS-FIN-042"),
        "{listed}"
    );
    let (ok, shown) = approvals_cli(&socket, &["show", &id]);
    assert!(
        ok && shown.contains(&aid) && shown.contains("IR-8"),
        "{shown}"
    );

    let e = err_text(&run_approved(&client, &id).await);
    assert!(e.contains("still pending"), "{e}");
    assert_eq!(count_op(&sim, CONTAIN_OP), 0);

    let (ok, out) = approvals_cli(&socket, &["approve", &id]);
    assert!(ok, "{out}");
    let r = run_approved(&client, &id).await;
    assert!(!is_error(&r), "{}", text(&r));
    assert!(text(&r).contains("Requested contain"), "{}", text(&r));
    assert_eq!(count_op(&sim, CONTAIN_OP), 1, "{:?}", operations(&sim));

    // Once only.
    let e = err_text(&run_approved(&client, &id).await);
    assert!(e.contains("already used"), "{e}");
    assert_eq!(count_op(&sim, CONTAIN_OP), 1);
    // Not for other arguments: they are a new call that needs its own approval.
    let other_args = json!({"ids": [other], "confirm": true});
    let second = pending_id(&call(&client, "hosts_contain", other_args).await);
    assert_ne!(second, id);
    assert_eq!(count_op(&sim, CONTAIN_OP), 1);

    let (ok, out) = approvals_cli(&socket, &["deny", &second, "--reason", "wrong host"]);
    assert!(ok, "{out}");
    let e = err_text(&run_approved(&client, &second).await);
    assert!(
        e.contains("denied by operator:") && e.contains("wrong host"),
        "{e}"
    );
    assert_eq!(count_op(&sim, CONTAIN_OP), 1);
    // A decided approval cannot be decided again.
    let (ok, out) = approvals_cli(&socket, &["approve", &second]);
    assert!(!ok && out.contains("already denied"), "{out}");
    let (ok, out) = approvals_cli(&socket, &["approve", "ap-000000000000"]);
    assert!(!ok && out.contains("no approval"), "{out}");

    let audit = approval_records(work.path());
    let decided = |d: &str, id: &str| {
        audit.iter().any(|a| {
            a["decision"] == d
                && a["id"] == id
                && a["by"].as_str().is_some_and(|b| b.starts_with("operator:"))
                && a["args_sha256"].as_str().is_some_and(|s| s.len() == 64)
                && a["ts"].is_string()
        })
    };
    assert!(
        decided("approved", &id) && decided("used", &id),
        "{audit:?}"
    );
    assert!(decided("denied", &second), "{audit:?}");
    client.cancel().await.unwrap();
}

/// An approval past its TTL can neither be approved nor run.
#[tokio::test(flavor = "multi_thread")]
async fn expired_approval_is_refused() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let (aid, _) = two_aids(&sim).await;
    let (work, config, socket) = workdir("mode = \"queue\"\nttl_secs = 1");
    let client = serve(&sim, &config, work.path()).await;
    sim.clear_requests();
    let id = pending_id(
        &call(
            &client,
            "hosts_contain",
            json!({"ids": [aid], "confirm": true}),
        )
        .await,
    );
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (ok, out) = approvals_cli(&socket, &["approve", &id]);
    assert!(!ok && out.contains("expired"), "{out}");
    let e = err_text(&run_approved(&client, &id).await);
    assert!(e.contains("expired"), "{e}");
    assert_eq!(count_op(&sim, CONTAIN_OP), 0);
    client.cancel().await.unwrap();
}

/// `mode = "off"`: confirm runs at once, and the run-approved tool is not listed.
#[tokio::test(flavor = "multi_thread")]
async fn mode_off_does_not_gate() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let (aid, _) = two_aids(&sim).await;
    let (work, config, socket) = workdir("mode = \"off\"");
    let client = serve(&sim, &config, work.path()).await;
    assert!(
        !tool_names(&client)
            .await
            .iter()
            .any(|n| n == "aerie_run_approved")
    );
    assert!(!socket.exists(), "no admin socket when approvals are off");
    sim.clear_requests();
    let r = call(
        &client,
        "hosts_contain",
        json!({"ids": [aid], "confirm": true}),
    )
    .await;
    assert!(!is_error(&r), "{}", text(&r));
    assert_eq!(count_op(&sim, CONTAIN_OP), 1);
    client.cancel().await.unwrap();
}

/// A socket directory others can write to is refused at start, naming the fix.
#[test]
fn unsafe_socket_directory_is_refused_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let (work, config, socket) = workdir("");
    let dir = socket.parent().unwrap();
    std::fs::create_dir(dir).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = Command::new(aerie())
        .args(["serve", "--no-embedded", "--no-cache", "--config"])
        .arg(&config)
        .env("HOME", "/nonexistent")
        .env_remove("AERIE_APPROVALS")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("writable by group or others") && err.contains("chmod 700"),
        "{err}"
    );
    drop(work);
}
