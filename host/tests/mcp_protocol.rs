//! Both protocol generations, with the official Python SDK (`clients/*.py`) against the real
//! binary over HTTP: a hot swap reaches a 2026-07-28 client on its `subscriptions/listen`
//! stream and a legacy session as `notifications/tools/list_changed`; closing a legacy session
//! (DELETE) draws no warning from the SDK.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;
use support::*;

/// Install `fixture` as `dir/swapper.wasm` the way operators should: write elsewhere, rename.
fn install(dir: &Path, fixture_name: &str) {
    let tmp = dir.join("swapper.wasm.tmp");
    std::fs::copy(fixture(fixture_name), &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("swapper.wasm")).unwrap();
}

/// Run `clients/changes.py` in `mode` against `url`; once it listens, swap `swap_a` for
/// `swap_b` in `dir`; return what it heard.
fn hear_a_swap(url: &str, mode: &str, dir: &Path, log: &Path) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/changes.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .args([url, mode])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs (the CI installs the `mcp` package)");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(
        line.trim(),
        "ready",
        "changes.py did not start listening: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
    install(dir, "swap_b");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(
        status.success(),
        "changes.py failed: {err}\nserver log: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
    serde_json::from_str(rest.trim()).unwrap_or_else(|e| panic!("no JSON ({e}): {rest}\n{err}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_2026_client_hears_a_hot_swap_on_its_listen_stream() {
    let dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    install(dir.path(), "swap_a");
    let log = work.path().join("server.log");
    let server = start_http_server(dir.path(), &[], &log).await;
    let url = server.url();
    let heard = tokio::task::spawn_blocking({
        let dir = dir.path().to_path_buf();
        move || hear_a_swap(&url, "auto", &dir, &log)
    })
    .await
    .unwrap();
    assert_eq!(heard["protocol"], "2026-07-28", "{heard}");
    let events: Vec<&str> = heard["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(events.contains(&"ToolsListChanged"), "{heard}");
    // The swapped plugin is what answers now.
    assert_eq!(heard["which"], "b", "{heard}");
    assert_eq!(heard["warnings"], serde_json::json!([]), "{heard}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_legacy_session_hears_a_hot_swap_and_closes_without_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    install(dir.path(), "swap_a");
    let log = work.path().join("server.log");
    let server = start_http_server(dir.path(), &[], &log).await;
    let url = server.url();
    let heard = tokio::task::spawn_blocking({
        let dir = dir.path().to_path_buf();
        move || hear_a_swap(&url, "legacy", &dir, &log)
    })
    .await
    .unwrap();
    assert_eq!(heard["protocol"], "2025-11-25", "{heard}");
    let events: Vec<&str> = heard["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        events.contains(&"notifications/tools/list_changed"),
        "{heard}"
    );
    assert_eq!(heard["which"], "b", "{heard}");
    // The SDK ends the session with DELETE and logs "Session termination failed: <status>"
    // for anything but 200/204.
    assert_eq!(heard["warnings"], serde_json::json!([]), "{heard}");
}

/// A `subscriptions/listen` request as a 2026-07-28 client sends it.
fn listen_request() -> Value {
    serde_json::json!({
        "jsonrpc": "2.0", "id": "listen-1", "method": "subscriptions/listen",
        "params": {
            "notifications": {"toolsListChanged": true},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"}
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_ends_a_listen_stream_with_its_final_result() {
    let dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    install(dir.path(), "swap_a");
    let log = work.path().join("server.log");
    let mut server = start_http_server(dir.path(), &[], &log).await;
    let resp = reqwest::Client::new()
        .post(server.url())
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "subscriptions/listen")
        .json(&listen_request())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut resp = resp;
    let mut seen = String::new();
    while !seen.contains("notifications/subscriptions/acknowledged") {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), resp.chunk())
            .await
            .expect("the acknowledgment comes at once")
            .unwrap()
            .expect("the stream stays open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("\"toolsListChanged\":true"), "{seen}");
    // SIGTERM: the drain ends the stream with the final result instead of waiting on it.
    unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) };
    while let Some(chunk) = resp.chunk().await.unwrap() {
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        seen.contains("\"id\":\"listen-1\""),
        "the final result answers the request: {seen}"
    );
    assert!(seen.contains("\"resultType\":\"complete\""), "{seen}");
    let status = server.child.wait().unwrap();
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        !logged.contains("were not written before shutdown"),
        "{logged}"
    );
}

/// POST one JSON-RPC request as a 2026-07-28 client (no session) and return its answer.
async fn post_2026(url: &str, method: &str, params: Value) -> Value {
    let mut params = params;
    params["_meta"] = listen_request()["params"]["_meta"].clone();
    // A client that can answer a person's form (the approval question).
    params["_meta"]["io.modelcontextprotocol/clientCapabilities"] =
        serde_json::json!({"elicitation": {"form": {}}});
    // SEP-2243: the tool's name or the resource's URI rides in a header too.
    let name = params["name"]
        .as_str()
        .or(params["uri"].as_str())
        .unwrap_or_default();
    let mut request = reqwest::Client::new().post(url);
    if !name.is_empty() {
        request = request.header("mcp-name", name);
    }
    let resp = request
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method)
        .json(&serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
        .send()
        .await
        .unwrap();
    let text = resp.text().await.unwrap();
    // An SSE answer: the last `data:` line is the response.
    let json = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or(text.trim());
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_and_reads_carry_cache_hints_for_2026_clients() {
    let dir = plugins_dir(&["hello"]);
    let work = tempfile::tempdir().unwrap();
    let server = start_http_server(dir.path(), &[], &work.path().join("server.log")).await;
    let tools = post_2026(&server.url(), "tools/list", serde_json::json!({})).await;
    assert_eq!(tools["result"]["ttlMs"], 60_000, "{tools}");
    assert_eq!(
        tools["result"]["cacheScope"], "private",
        "the list depends on the key's profile: {tools}"
    );
    let resources = post_2026(&server.url(), "resources/list", serde_json::json!({})).await;
    assert_eq!(resources["result"]["cacheScope"], "private", "{resources}");
    let uri = resources["result"]["resources"][0]["uri"]
        .as_str()
        .unwrap()
        .to_string();
    let read = post_2026(
        &server.url(),
        "resources/read",
        serde_json::json!({"uri": uri}),
    )
    .await;
    assert_eq!(read["result"]["ttlMs"], 60_000, "{read}");
    assert_eq!(read["result"]["cacheScope"], "public", "{read}");
    // A legacy session's results have no such fields.
    let client = rmcp::ServiceExt::serve(
        (),
        rmcp::transport::StreamableHttpClientTransport::from_uri(server.url()),
    )
    .await
    .unwrap();
    let legacy = client.list_tools(None).await.unwrap();
    assert_eq!((legacy.ttl_ms, legacy.cache_scope), (None, None));
    let _ = client.cancel().await;
}

/// `aerie serve --transport http` against `sim` with the hosts plugin and writes on, approvals
/// in their default mode (ask by elicitation, else queue) with the admin socket in `work`.
async fn approving_server(sim: &falcon_sim::Simulator, work: &Path) -> HttpServer {
    let config = work.join("aerie.toml");
    let socket = work.join("admin").join("admin.sock");
    std::fs::write(
        &config,
        format!("[approvals]\nsocket = {:?}\n", socket.display().to_string()),
    )
    .unwrap();
    let port = free_port();
    let log = work.join("server.log");
    let child = Command::new(aerie())
        .args(["serve", "--transport", "http", "--port", &port.to_string()])
        .args([
            "--cache-dir",
            &shared_cache(),
            "--modules",
            "hosts",
            "--allow-writes",
            "--config",
        ])
        .arg(&config)
        .arg("--audit-log")
        .arg(work.join("audit.jsonl"))
        .env("HOME", "/nonexistent")
        .env_remove("AERIE_APPROVALS")
        .env_remove("AERIE_API_KEYS")
        .env("FALCON_CLIENT_ID", falcon_sim::DEMO_CLIENT_ID)
        .env("FALCON_CLIENT_SECRET", falcon_sim::DEMO_CLIENT_SECRET)
        .env("FALCON_BASE_URL", sim.base_url())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let server = HttpServer { child, port };
    for _ in 0..150 {
        if reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return server;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!(
        "server did not start: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

/// `clients/approve_http.py`: the Python SDK in 2026-07-28 mode calls `tool` and answers the
/// approval question with `answer`.
fn approve_over_http(url: &str, answer: &str, tool: &str, args: &Value) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/approve_http.py");
    let out = Command::new("python3")
        .arg(&script)
        .args([url, answer, tool, &args.to_string()])
        .output()
        .expect("python3 runs (the CI installs the `mcp` package)");
    assert!(
        out.status.success(),
        "approve_http.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// The Falcon operation a containment sends.
const CONTAIN_OP: &str = "PerformActionV2";

/// Approval on a stateless 2026-07-28 client: the question comes as an input-required result
/// (the client cannot take server-to-client requests), the Python SDK asks the person and calls
/// again with the answer. Accept contains the host once, decline sends nothing; an accepted
/// round sent again does not contain twice; a tampered requestState is refused.
#[tokio::test(flavor = "multi_thread")]
async fn a_stateless_client_approves_through_input_required() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let (aid, other) = {
        let client = serve_against(&sim, &["--modules", "hosts"], work.path()).await;
        let a = aid_of(&client, falcon_sim::KNOWN_HOSTNAME).await;
        let b = aid_of(&client, falcon_sim::KNOWN_LINUX_HOSTNAME).await;
        client.cancel().await.unwrap();
        (a, b)
    };
    let server = approving_server(&sim, work.path()).await;
    let url = server.url();
    let args = serde_json::json!({"ids": [aid], "confirm": true, "note": "IR-9"});

    sim.clear_requests();
    let r = tokio::task::spawn_blocking({
        let (url, args) = (url.clone(), args.clone());
        move || approve_over_http(&url, "decline", "hosts_contain", &args)
    })
    .await
    .unwrap();
    assert_eq!(r["protocol"], "2026-07-28", "{r}");
    assert_eq!(r["is_error"], true, "{r}");
    assert!(r["text"].as_str().unwrap().contains("declined"), "{r}");
    assert_eq!(count_op(&sim, CONTAIN_OP), 0, "{:?}", operations(&sim));

    let r = tokio::task::spawn_blocking({
        let (url, args) = (url.clone(), args.clone());
        move || approve_over_http(&url, "accept", "hosts_contain", &args)
    })
    .await
    .unwrap();
    assert_eq!(r["is_error"], false, "{r}");
    let asked = r["elicitations"].as_array().unwrap();
    assert_eq!(asked.len(), 1, "{r}");
    assert!(
        asked[0]
            .as_str()
            .unwrap()
            .contains("Would network-contain 1 host(s)"),
        "{r}"
    );
    assert!(
        r["text"].as_str().unwrap().contains("Requested contain"),
        "{r}"
    );
    assert_eq!(count_op(&sim, CONTAIN_OP), 1, "{:?}", operations(&sim));
    assert_eq!(r["warnings"], serde_json::json!([]), "{r}");

    // By hand, on the other host: the first round asks, the answer runs the call once.
    sim.clear_requests();
    let args = serde_json::json!({"ids": [other], "confirm": true, "note": "IR-9"});
    let call = serde_json::json!({"name": "hosts_contain", "arguments": args});
    let first = post_2026(&url, "tools/call", call.clone()).await;
    let result = &first["result"];
    assert_eq!(result["resultType"], "input_required", "{first}");
    assert_eq!(
        result["inputRequests"]["aerie_approval"]["method"], "elicitation/create",
        "{first}"
    );
    let state = result["requestState"].as_str().unwrap().to_string();
    let mut answer = call.clone();
    answer["inputResponses"] =
        serde_json::json!({"aerie_approval": {"action": "accept", "content": {}}});
    answer["requestState"] = Value::String(state.clone());
    let ran = post_2026(&url, "tools/call", answer.clone()).await;
    assert_eq!(ran["result"]["isError"], false, "{ran}");
    assert_eq!(count_op(&sim, CONTAIN_OP), 1, "{:?}", operations(&sim));
    let again = post_2026(&url, "tools/call", answer.clone()).await;
    assert_eq!(again["result"]["isError"], true, "{again}");
    assert!(
        again["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("already used"),
        "{again}"
    );
    assert_eq!(
        count_op(&sim, CONTAIN_OP),
        1,
        "a replayed answer does not contain twice"
    );
    // The state is bound to the call: other arguments, or a changed state, are refused.
    let mut other = answer.clone();
    other["arguments"]["note"] = Value::String("IR-10".into());
    let refused = post_2026(&url, "tools/call", other).await;
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    let mut tampered = answer;
    tampered["requestState"] = Value::String(format!("{}x", &state[..state.len() - 1]));
    let refused = post_2026(&url, "tools/call", tampered).await;
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    assert_eq!(count_op(&sim, CONTAIN_OP), 1);
}
