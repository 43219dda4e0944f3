//! The result cache end to end: the real `aerie` binary with the embedded plugins against the
//! simulator over real HTTP. Whether a call reached "Falcon" is read from the simulator's
//! request log.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use falcon_sim::{KNOWN_HOSTNAME, KNOWN_LINUX_HOSTNAME};
use rmcp::model::CallToolResult;
use serde_json::{Value, json};
use support::*;

/// `_meta["aerie/cache"]` of a result, if any.
fn cache_meta(r: &CallToolResult) -> Option<Value> {
    let meta = serde_json::to_value(r).unwrap();
    meta.get("_meta")
        .and_then(|m| m.get("aerie/cache"))
        .cloned()
}

/// Writes `toml` to `work/aerie.toml` and returns its path.
fn config(work: &Path, toml: &str) -> String {
    let p = work.join("aerie.toml");
    std::fs::write(&p, toml).unwrap();
    p.to_str().unwrap().to_string()
}

/// The audit log's records, parsed.
fn audit(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Same call twice: the second is answered from the cache (no request reaches the simulator),
/// says so in `_meta` with its age, carries the same content, and is audited as `cached`.
#[tokio::test(flavor = "multi_thread")]
async fn a_repeated_read_is_served_from_the_cache_and_says_so() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let audit_log = work.path().join("audit.jsonl");
    let client = serve_against(
        &sim,
        &[
            "--modules",
            "hosts",
            "--audit-log",
            audit_log.to_str().unwrap(),
        ],
        work.path(),
    )
    .await;
    let aid = aid_of(&client, KNOWN_HOSTNAME).await;

    sim.clear_requests();
    let first = call(&client, "hosts_get", json!({"ids": [aid]})).await;
    let s1 = ok_json(&first);
    assert_eq!(s1["hosts"][0]["status"], "normal");
    assert_eq!(cache_meta(&first), None, "a miss is not marked as a hit");
    assert!(count_op(&sim, "PostDeviceDetailsV2") >= 1);

    sim.clear_requests();
    let second = call(&client, "hosts_get", json!({"ids": [aid]})).await;
    assert_eq!(ok_json(&second), s1, "the cached answer is the same answer");
    assert_eq!(text(&second), text(&first));
    let meta = cache_meta(&second).expect("a hit says so in _meta");
    assert_eq!(meta["hit"], true, "{meta}");
    assert!(meta["age_secs"].as_u64().is_some(), "{meta}");
    assert!(
        sim.requests().is_empty(),
        "a cached call must not reach Falcon: {:?}",
        operations(&sim)
    );

    // Different arguments are a different entry.
    sim.clear_requests();
    let other = aid_of(&client, KNOWN_LINUX_HOSTNAME).await;
    let r = call(&client, "hosts_get", json!({"ids": [other]})).await;
    assert_eq!(cache_meta(&r), None);
    assert!(count_op(&sim, "PostDeviceDetailsV2") >= 1);

    client.cancel().await.unwrap();
    let records = audit(&audit_log);
    let cached: Vec<&Value> = records
        .iter()
        .filter(|r| r["outcome"] == "cached")
        .collect();
    assert_eq!(cached.len(), 1, "{records:?}");
    let c = cached[0];
    assert_eq!(c["tool"], "hosts_get", "{c}");
    assert_eq!(c["plugin"], "hosts", "{c}");
    assert!(c["cache_age_secs"].as_u64().is_some(), "{c}");
    assert!(
        c["args_sha256"].as_str().is_some_and(|d| d.len() == 64),
        "{c}"
    );
    assert_eq!(c["client"], "stdio", "{c}");
    sim.shutdown().await;
}

/// A raw MCP client over stdio, so argument objects go on the wire with their keys in the
/// order the test writes them (rmcp's client would sort them).
struct RawClient {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
    next_id: u64,
}

impl RawClient {
    fn start(sim: &falcon_sim::Simulator, args: &[&str], work: &Path) -> RawClient {
        let log = std::fs::File::create(work.join("raw-stderr.log")).unwrap();
        let cache = shared_cache();
        let mut child = Command::new(aerie())
            .args(["serve", "--cache-dir", cache.as_str()])
            .args(args)
            .env("FALCON_CLIENT_ID", falcon_sim::DEMO_CLIENT_ID)
            .env("FALCON_CLIENT_SECRET", falcon_sim::DEMO_CLIENT_SECRET)
            .env("FALCON_BASE_URL", sim.base_url())
            .env("HOME", "/nonexistent")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut c = RawClient {
            child,
            stdin,
            stdout,
            next_id: 1,
        };
        c.request(
            "initialize",
            r#"{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}"#,
        );
        writeln!(
            c.stdin,
            r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
        )
        .unwrap();
        c
    }

    /// Send `method` with `params` (raw JSON text) and wait for its answer.
    fn request(&mut self, method: &str, params: &str) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        writeln!(
            self.stdin,
            r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{params}}}"#
        )
        .unwrap();
        self.stdin.flush().unwrap();
        // Bounded: notifications may come first; the answer carries our id.
        for _ in 0..1000 {
            let mut line = String::new();
            assert!(
                self.stdout.read_line(&mut line).unwrap() > 0,
                "aerie closed stdout"
            );
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["id"] == id {
                return v;
            }
        }
        panic!("no answer to {method}");
    }
}

impl Drop for RawClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `{"platform":"Linux","limit":5}` and `{"limit":5,"platform":"Linux"}` (and nested objects
/// reordered) are the same call: the second is a hit.
#[tokio::test(flavor = "multi_thread")]
async fn reordered_argument_keys_hit_the_same_entry() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let mut c = RawClient::start(&sim, &["--modules", "hosts"], work.path());
    let a = c.request(
        "tools/call",
        r#"{"name":"hosts_search","arguments":{"platform":"Linux","limit":5,"sort":"hostname.asc"}}"#,
    );
    assert!(a["result"]["isError"] != true, "{a}");
    assert!(a["result"]["_meta"]["aerie/cache"].is_null(), "{a}");
    sim.clear_requests();
    let b = c.request(
        "tools/call",
        r#"{"name":"hosts_search","arguments":{"sort":"hostname.asc","limit":5,"platform":"Linux"}}"#,
    );
    assert_eq!(b["result"]["_meta"]["aerie/cache"]["hit"], true, "{b}");
    assert_eq!(
        b["result"]["structuredContent"],
        a["result"]["structuredContent"]
    );
    assert!(sim.requests().is_empty(), "{:?}", operations(&sim));
    drop(c);
    sim.shutdown().await;
}

/// `hosts_get` (cached) → `hosts_contain confirm:true` → `hosts_get` goes to Falcon again and
/// shows the new containment status, not a stale "normal"; while Falcon settles the write, the
/// host's status is not cached, so polling sees `containment_pending` turn into `contained`.
#[tokio::test(flavor = "multi_thread")]
async fn a_write_invalidates_the_plugins_cached_results() {
    let sim =
        sim_with_limited_client(&[], |c| c.containment_delay = Duration::from_millis(300)).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_against(&sim, &["--modules", "hosts", "--allow-writes"], work.path()).await;
    let aid = aid_of(&client, KNOWN_HOSTNAME).await;
    let status = |r: &CallToolResult| ok_json(r)["hosts"][0]["status"].clone();

    let r = call(&client, "hosts_get", json!({"ids": [aid]})).await;
    assert_eq!(status(&r), "normal");
    let r = call(&client, "hosts_get", json!({"ids": [aid]})).await;
    assert_eq!(
        cache_meta(&r).unwrap()["hit"],
        true,
        "cached before the write"
    );

    let r = call(
        &client,
        "hosts_contain",
        json!({"ids": [aid], "confirm": true}),
    )
    .await;
    assert!(!is_error(&r), "{}", text(&r));

    sim.clear_requests();
    let r = call(&client, "hosts_get", json!({"ids": [aid]})).await;
    assert_eq!(cache_meta(&r), None, "the write dropped the cached status");
    assert!(count_op(&sim, "PostDeviceDetailsV2") >= 1, "went to Falcon");
    let s = status(&r);
    assert!(
        s == "containment_pending" || s == "contained",
        "new status, not a stale normal: {s}"
    );
    // The sensor acknowledges later; a poll must see it, not a cached "pending".
    let start = Instant::now();
    loop {
        let r = call(&client, "hosts_get", json!({"ids": [aid]})).await;
        assert_eq!(cache_meta(&r), None, "not cached while the write settles");
        if status(&r) == "contained" {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "stuck at {s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    client.cancel().await.unwrap();
    sim.shutdown().await;
}

/// Write tools (even a preview) and RTR tools are never cached: each repeat reaches Falcon.
#[tokio::test(flavor = "multi_thread")]
async fn rtr_and_write_tools_are_never_cached() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_against(
        &sim,
        &["--modules", "hosts,rtr", "--allow-writes"],
        work.path(),
    )
    .await;
    let aid = aid_of(&client, KNOWN_HOSTNAME).await;

    sim.clear_requests();
    for _ in 0..2 {
        // confirm omitted: a preview, which only reads, but from a write tool.
        let r = call(&client, "hosts_contain", json!({"ids": [aid]})).await;
        assert!(!is_error(&r), "{}", text(&r));
        assert_eq!(cache_meta(&r), None);
    }
    assert_eq!(
        count_op(&sim, "PostDeviceDetailsV2"),
        2,
        "{:?}",
        operations(&sim)
    );

    sim.clear_requests();
    for _ in 0..2 {
        let r = call(&client, "rtr_init_session", json!({"host_id": aid})).await;
        assert!(!is_error(&r), "{}", text(&r));
        assert_eq!(cache_meta(&r), None);
    }
    assert_eq!(
        count_op(&sim, "RTR_InitSession"),
        2,
        "{:?}",
        operations(&sim)
    );
    client.cancel().await.unwrap();
    sim.shutdown().await;
}

/// `[cache] ttl_secs = 1`: after a second the entry is stale and the call goes to Falcon; a
/// per-tool TTL wins over it (`hosts_search = 3600` still hits); a per-tool 0 never caches.
#[tokio::test(flavor = "multi_thread")]
async fn ttl_expiry_and_per_tool_ttls() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let cfg = config(
        work.path(),
        "[cache]\nttl_secs = 1\n[cache.tools]\nhosts_search = 3600\nhosts_list_groups = 0\n",
    );
    let client = serve_against(&sim, &["--modules", "hosts", "--config", &cfg], work.path()).await;
    let aid = aid_of(&client, KNOWN_HOSTNAME).await;
    let get = json!({"ids": [aid]});
    let search = json!({"hostname": KNOWN_HOSTNAME});

    call(&client, "hosts_get", get.clone()).await;
    call(&client, "hosts_list_groups", json!({})).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    sim.clear_requests();
    let r = call(&client, "hosts_get", get.clone()).await;
    assert_eq!(cache_meta(&r), None, "expired after ttl_secs");
    assert!(count_op(&sim, "PostDeviceDetailsV2") >= 1);

    sim.clear_requests();
    let r = call(&client, "hosts_search", search).await;
    let meta = cache_meta(&r).expect("the per-tool TTL outlives the global one");
    assert!(meta["age_secs"].as_u64().unwrap() >= 1, "{meta}");
    assert!(sim.requests().is_empty(), "{:?}", operations(&sim));

    let r = call(&client, "hosts_list_groups", json!({})).await;
    assert_eq!(cache_meta(&r), None, "hosts_list_groups = 0 never caches");
    assert_eq!(count_op(&sim, "queryCombinedHostGroups"), 1);
    client.cancel().await.unwrap();
    sim.shutdown().await;
}

/// Run `aerie cache <args>`; (exit ok, stdout, stderr).
fn cache_cli(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(aerie())
        .arg("cache")
        .args(args)
        .env("HOME", "/nonexistent")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The SQLite backend survives a restart of the binary (the second process answers from it
/// with no request to Falcon), and `aerie cache stats|clear` read and empty the same file.
#[tokio::test(flavor = "multi_thread")]
async fn sqlite_cache_survives_a_restart_and_the_cli_reads_and_clears_it() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("cache.db");
    let cfg = config(
        work.path(),
        &format!("[cache]\nbackend = \"sqlite:{}\"\n", db.display()),
    );
    let args = ["--modules", "hosts", "--config", cfg.as_str()];
    let client = serve_against(&sim, &args, work.path()).await;
    let aid = aid_of(&client, KNOWN_HOSTNAME).await;
    let r = call(&client, "hosts_get", json!({"ids": [aid]})).await;
    assert_eq!(cache_meta(&r), None);
    client.cancel().await.unwrap();

    let client = serve_against(&sim, &args, work.path()).await;
    sim.clear_requests();
    let r = call(&client, "hosts_get", json!({"ids": [aid]})).await;
    assert_eq!(cache_meta(&r).expect("hit after restart")["hit"], true);
    assert_eq!(ok_json(&r)["hosts"][0]["device_id"], aid.as_str());
    assert!(sim.requests().is_empty(), "{:?}", operations(&sim));
    client.cancel().await.unwrap();

    // Two entries (hosts_search from aid_of, hosts_get), both of plugin hosts.
    let (ok, out, err) = cache_cli(&["stats", "--config", &cfg]);
    assert!(ok, "{err}");
    assert!(out.contains("entries: 2"), "{out}");
    assert!(out.contains("hosts: 2 entries"), "{out}");
    assert!(out.contains(&db.display().to_string()), "{out}");

    let (ok, out, err) = cache_cli(&["clear", "--config", &cfg, "--plugin", "detections"]);
    assert!(ok, "{err}");
    assert!(out.contains("removed 0"), "{out}");
    let (ok, out, err) = cache_cli(&["clear", "--config", &cfg, "--plugin", "hosts"]);
    assert!(ok, "{err}");
    assert!(out.contains("removed 2"), "{out}");
    let (ok, out, _) = cache_cli(&["stats", "--config", &cfg]);
    assert!(ok && out.contains("entries: 0"), "{out}");

    // Cleared: the next server goes to Falcon.
    let client = serve_against(&sim, &args, work.path()).await;
    sim.clear_requests();
    let r = call(&client, "hosts_get", json!({"ids": [aid]})).await;
    assert_eq!(cache_meta(&r), None);
    assert!(count_op(&sim, "PostDeviceDetailsV2") >= 1);
    client.cancel().await.unwrap();
    let (ok, out, _) = cache_cli(&["clear", "--config", &cfg]);
    assert!(ok && out.contains("removed 1"), "{out}");
    sim.shutdown().await;
}

/// With the memory backend the CLI says plainly where the cache lives and how to clear it.
#[test]
fn cache_cli_on_the_memory_backend_explains_itself() {
    let work = tempfile::tempdir().unwrap();
    // An admin socket of its own that no server listens on: the default one may belong to a
    // server another test started.
    let socket = work.path().join("admin.sock");
    let cfg = config(
        work.path(),
        &format!(
            "[cache]\nbackend = \"memory\"\n[approvals]\nsocket = {:?}\n",
            socket.display().to_string()
        ),
    );
    for cmd in ["stats", "clear"] {
        let (ok, _, err) = cache_cli(&[cmd, "--config", &cfg]);
        assert!(!ok, "{cmd} cannot reach another process's memory");
        assert!(
            err.contains("running server's process") && err.contains("restarting"),
            "{err}"
        );
    }
    let cfg = config(work.path(), "[cache]\nbackend = \"redis\"\n");
    let (ok, _, err) = cache_cli(&["stats", "--config", &cfg]);
    assert!(!ok && err.contains("sqlite:PATH"), "{err}");
}

/// With the memory backend, `aerie cache stats|clear` reach the running server through its
/// admin socket: stats count what the server cached, and a cleared entry is fetched again.
#[tokio::test(flavor = "multi_thread")]
async fn the_cli_reads_and_clears_a_running_servers_memory_cache() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let socket = work.path().join("admin").join("admin.sock");
    let cfg = config(
        work.path(),
        &format!("[approvals]\nsocket = {:?}\n", socket.display().to_string()),
    );
    let client = serve_against(
        &sim,
        &[
            "--modules",
            "hosts",
            "--config",
            &cfg,
            "--approvals",
            "queue",
        ],
        work.path(),
    )
    .await;
    let aid = aid_of(&client, KNOWN_HOSTNAME).await;
    call(&client, "hosts_get", json!({"ids": [aid]})).await;
    let hit = call(&client, "hosts_get", json!({"ids": [aid]})).await;
    assert!(cache_meta(&hit).is_some(), "the second call is a hit");

    let (ok, out, err) = cache_cli(&["stats", "--config", &cfg]);
    assert!(ok, "{err}");
    assert!(out.contains("backend: memory"), "{out}");
    assert!(out.contains("  hosts: "), "{out}");
    assert!(!out.contains("entries: 0\n"), "{out}");

    let (ok, out, err) = cache_cli(&["clear", "--config", &cfg, "--plugin", "hosts"]);
    assert!(ok, "{err}");
    assert!(out.contains("cached results of plugin hosts"), "{out}");
    assert!(!out.contains("removed 0 "), "{out}");

    sim.clear_requests();
    let again = call(&client, "hosts_get", json!({"ids": [aid]})).await;
    assert_eq!(cache_meta(&again), None, "a cleared entry is not served");
    assert!(
        count_op(&sim, "PostDeviceDetailsV2") >= 1,
        "{:?}",
        operations(&sim)
    );
    client.cancel().await.unwrap();
    sim.shutdown().await;
}
