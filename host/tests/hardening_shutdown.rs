//! Shutdown during calls (issue #9): SIGTERM drains in-flight calls for a bounded grace period,
//! answers each truthfully (its real result, or "stopped by shutdown" saying whether a write may
//! have been applied), refuses new calls meanwhile, audits every call and egress request, and
//! exits. The real `aerie` binary against the simulator over real HTTP, with rmcp's client over
//! stdio and streamable HTTP.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use falcon_sim::{Faults, KNOWN_HOSTNAME};
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{ConfigureCommandExt, StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};
use support::*;

/// Longest any wait in these tests may take before it counts as a hang.
const HANG: Duration = Duration::from_secs(30);

/// `aerie serve` over stdio against `sim`, writes enabled, with an audit log; returns the
/// client and the server's pid.
async fn serve_stdio(
    sim: &falcon_sim::Simulator,
    extra: &[&str],
    work: &Path,
) -> (RunningService<RoleClient, ()>, u32) {
    let cache = shared_cache();
    let base = sim.base_url();
    let log = std::fs::File::create(work.join("stderr.log")).unwrap();
    let audit = work.join("audit.jsonl");
    let (transport, _) =
        TokioChildProcess::builder(tokio::process::Command::new(aerie()).configure(|c| {
            c.args(["serve", "--cache-dir", &cache, "--modules", "hosts,ngsiem"])
                .args(["--allow-writes", "--audit-log"])
                .arg(&audit)
                .args(extra)
                .env("HOME", "/nonexistent")
                // The drain tests contain hosts unapproved (approvals are tested elsewhere).
                .env("AERIE_APPROVALS", "off")
                .env("FALCON_CLIENT_ID", falcon_sim::DEMO_CLIENT_ID)
                .env("FALCON_CLIENT_SECRET", falcon_sim::DEMO_CLIENT_SECRET)
                .env("FALCON_BASE_URL", &base);
        }))
        .stderr(std::process::Stdio::from(log))
        .spawn()
        .unwrap();
    let pid = transport.id().expect("child pid");
    let client = ().serve(transport).await.expect("client connects");
    (client, pid)
}

fn sigterm(pid: u32) {
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -TERM {pid}");
}

/// Whether process `pid` has exited (gone, or a zombie its parent has not reaped yet).
fn exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
    }
}

/// Wait until `pid` exits; panics after `bound`.
async fn wait_exit(pid: u32, bound: Duration) {
    let until = Instant::now() + bound;
    while !exited(pid) {
        assert!(
            Instant::now() < until,
            "aerie still running {bound:?} after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Wait until `cond` holds; panics with `what` after [`HANG`].
async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let until = Instant::now() + HANG;
    while !cond() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn contains(path: &Path, needle: &str) -> bool {
    std::fs::read_to_string(path).is_ok_and(|s| s.contains(needle))
}

/// Audit records of `kind` (JSON Lines), in order.
fn audit(work: &Path, kind: &str) -> Vec<Value> {
    std::fs::read_to_string(work.join("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["kind"] == kind)
        .collect()
}

fn tool_call(work: &Path, tool: &str) -> Vec<String> {
    audit(work, "tool_call")
        .into_iter()
        .filter(|r| r["tool"] == tool)
        .map(|r| r["outcome"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn egress_statuses(work: &Path, operation: &str) -> Vec<Value> {
    audit(work, "egress")
        .into_iter()
        .filter(|r| r["operation"] == operation)
        .map(|r| r["status"].clone())
        .collect()
}

/// Start `hosts_contain` with `confirm: true` on `aid` in the background.
fn contain(
    client: &RunningService<RoleClient, ()>,
    aid: &str,
) -> tokio::task::JoinHandle<Result<CallToolResult, rmcp::ServiceError>> {
    let peer = client.peer().clone();
    let Value::Object(args) = json!({"ids": [aid], "confirm": true, "note": "IR-9"}) else {
        unreachable!()
    };
    tokio::spawn(async move {
        peer.call_tool(CallToolRequestParams::new("hosts_contain").with_arguments(args))
            .await
    })
}

/// Make every API request wait `ms` in the simulator before it is carried out.
fn slow(sim: &falcon_sim::Simulator, ms: u64) {
    sim.clear_requests();
    sim.set_faults(Faults {
        latency_ms: ms,
        ..Faults::default()
    });
}

/// Wait until the containment's host lookup has been answered: its write is next.
async fn write_is_next(sim: &falcon_sim::Simulator) {
    wait_for("the containment's host lookup", || {
        count_op(sim, "PostDeviceDetailsV2") > 0
    })
    .await;
}

/// stdio: SIGTERM while a containment is in flight. The client gets the real result, a call
/// made during the drain is refused as "shutting down", both calls and the write's egress are
/// audited, the token is revoked and the process exits within the grace period plus a margin.
#[tokio::test(flavor = "multi_thread")]
async fn stdio_sigterm_drains_an_in_flight_write() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let (client, pid) = serve_stdio(&sim, &[], work.path()).await;
    let aid = aid_of(&client, KNOWN_HOSTNAME).await;
    slow(&sim, 1500);
    let call = contain(&client, &aid);
    write_is_next(&sim).await;
    sigterm(pid);
    let log = work.path().join("stderr.log");
    wait_for("the drain to start or the call to end", || {
        contains(&log, "draining") || call.is_finished()
    })
    .await;
    let drained = !call.is_finished();
    if drained {
        // A new call during the drain is refused with a message a model can act on.
        let refused = call_err(&client, "hosts_search", json!({"hostname": KNOWN_HOSTNAME})).await;
        assert!(refused.contains("aerie is shutting down"), "{refused}");
    }

    let r = tokio::time::timeout(HANG, call)
        .await
        .expect("the in-flight call is answered")
        .unwrap()
        .expect("answered with a result, not a protocol error");
    let s = ok_json(&r);
    assert!(
        !text(&r).contains("cancelled"),
        "the real result, not a cancellation: {}",
        text(&r)
    );
    assert_eq!(s["applied"], true, "{s}");
    assert_eq!(
        count_op(&sim, "PerformActionV2"),
        1,
        "the write reached Falcon once"
    );
    assert!(drained, "the call was answered before the drain began");
    // Grace is 10 s by default; the drain ends as soon as the call does.
    wait_exit(pid, Duration::from_secs(15)).await;

    assert_eq!(tool_call(work.path(), "hosts_contain"), ["ok"]);
    let searches = tool_call(work.path(), "hosts_search");
    assert_eq!(searches, ["ok", "refused_shutting_down"], "{searches:?}");
    assert_eq!(egress_statuses(work.path(), "PerformActionV2").len(), 1);
    assert!(
        sim.requests()
            .iter()
            .any(|r| r.path == "/oauth2/revoke" && r.status == 200),
        "token revoked after the drain"
    );
    drop(client);
    sim.shutdown().await;
}

/// stdio with a grace period shorter than the write: the call is cut, and the client is told
/// that shutdown stopped it and that the write had been sent and may have been applied. The
/// cut call is audited and the process exits within grace plus a margin.
#[tokio::test(flavor = "multi_thread")]
async fn stdio_sigterm_past_the_grace_says_the_write_may_have_been_applied() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let (client, pid) = serve_stdio(&sim, &["--shutdown-grace-secs", "1"], work.path()).await;
    let aid = aid_of(&client, KNOWN_HOSTNAME).await;
    slow(&sim, 6000);
    let call = contain(&client, &aid);
    write_is_next(&sim).await;
    // The write has left aerie once the lookup answered; give it a moment to be sent.
    tokio::time::sleep(Duration::from_millis(300)).await;
    sigterm(pid);
    let r = tokio::time::timeout(HANG, call)
        .await
        .expect("the cut call is answered")
        .unwrap()
        .expect("answered with a result, not a protocol error");
    let e = err_text(&r);
    assert!(e.contains("stopped by shutdown"), "{e}");
    assert!(e.contains("may have been applied"), "{e}");
    wait_exit(pid, Duration::from_secs(8)).await;
    assert_eq!(
        tool_call(work.path(), "hosts_contain"),
        ["stopped_by_shutdown"]
    );
    drop(client);
    sim.shutdown().await;
}

struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// HTTP: SIGTERM while a containment is in flight over a streamable HTTP session. The session
/// stays up until the call has been answered (today rmcp's cancellation token ended it at
/// once), the write and the call are audited, and the server exits.
#[tokio::test(flavor = "multi_thread")]
async fn http_sigterm_answers_the_in_flight_write() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let audit_log = work.path().join("audit.jsonl");
    let child = std::process::Command::new(aerie())
        .args(["serve", "--transport", "http", "--port", &port.to_string()])
        .args(["--cache-dir", &shared_cache(), "--modules", "hosts"])
        .args(["--allow-writes", "--audit-log"])
        .arg(&audit_log)
        .env("HOME", "/nonexistent")
        // This test is about the drain, not approvals: the write runs on `confirm: true`.
        .env("AERIE_APPROVALS", "off")
        .env("FALCON_CLIENT_ID", falcon_sim::DEMO_CLIENT_ID)
        .env("FALCON_CLIENT_SECRET", falcon_sim::DEMO_CLIENT_SECRET)
        .env("FALCON_BASE_URL", sim.base_url())
        .stderr(std::fs::File::create(work.path().join("stderr.log")).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut server = Server(child);
    let url = format!("http://127.0.0.1:{port}/mcp");
    let mut client = None;
    for _ in 0..100 {
        let config = StreamableHttpClientTransportConfig::with_uri(url.clone());
        if let Ok(c) = ().serve(StreamableHttpClientTransport::from_config(config)).await {
            client = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let client = client.expect("connected over HTTP");
    let aid = aid_of(&client, KNOWN_HOSTNAME).await;
    slow(&sim, 1500);
    let call = contain(&client, &aid);
    write_is_next(&sim).await;
    sigterm(pid);
    let r = tokio::time::timeout(HANG, call).await.unwrap_or_else(|_| {
        let log = std::fs::read_to_string(work.path().join("stderr.log")).unwrap_or_default();
        panic!("the in-flight call was not answered; server log:\n{log}")
    });
    let r = r
        .unwrap()
        .expect("answered over the session, not dropped with it");
    let s = ok_json(&r);
    assert_eq!(s["applied"], true, "{s}");
    let until = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(
            Instant::now() < until,
            "HTTP server still running after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(tool_call(work.path(), "hosts_contain"), ["ok"]);
    assert_eq!(egress_statuses(work.path(), "PerformActionV2").len(), 1);
    drop(client);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_while_plugins_compile_stops_at_once() {
    // Compiling every first-party group without the cache takes seconds; the signal must not
    // wait for it. (Embedded, they would not be compiled at start: their descriptions are
    // built in. From a plugins directory they are compiled to be described.)
    let work = tempfile::tempdir().unwrap();
    let plugins = work.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    for (package, bytes, ..) in aerie::embedded::PLUGINS {
        std::fs::write(plugins.join(format!("{package}.wasm")), bytes).unwrap();
    }
    let log = work.path().join("stderr.log");
    let mut child = std::process::Command::new(aerie())
        .args(["serve", "--no-cache", "--no-embedded", "--plugins-dir"])
        .arg(&plugins)
        .env("HOME", "/nonexistent")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let signalled = Instant::now();
    sigterm(child.id());
    wait_exit(child.id(), Duration::from_secs(10)).await;
    let status = child.wait().unwrap();
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("stopped while starting"), "{logged}");
    assert!(status.success(), "{status}: {logged}");
    eprintln!("stopped {:?} after SIGTERM", signalled.elapsed());
}
