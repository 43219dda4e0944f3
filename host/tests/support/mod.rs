//! Shared helpers for the end-to-end tests: the real `aerie` binary, real fixture components,
//! and rmcp's client over real transports.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;

use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;

/// The binary under test.
pub fn aerie() -> &'static str {
    env!("CARGO_BIN_EXE_aerie")
}

/// Run `aerie ARGS` (without a home directory), check that it succeeded, and return its stdout
/// and stderr.
pub fn aerie_ok<'a>(args: impl IntoIterator<Item = &'a std::ffi::OsStr>) -> (String, String) {
    let out = std::process::Command::new(aerie())
        .args(args)
        .env("HOME", "/nonexistent")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "aerie failed: {stderr}");
    (String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
}

/// A compile cache shared by the tests that do not test caching itself.
pub fn shared_cache() -> String {
    format!("{}/compile-cache", env!("CARGO_TARGET_TMPDIR"))
}

/// Path of a built fixture component.
pub fn fixture(name: &str) -> PathBuf {
    let p = Path::new(env!("AERIE_FIXTURES_DIR")).join(format!("fixture_{name}.wasm"));
    assert!(p.exists(), "fixture {} was not built", p.display());
    p
}

/// A temporary plugins directory holding copies of the named fixtures.
pub fn plugins_dir(names: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for n in names {
        std::fs::copy(fixture(n), dir.path().join(format!("{n}.wasm"))).unwrap();
    }
    dir
}

/// An MCP client connected to `aerie <args>` over stdio. Logs go to a file under `logs`.
pub async fn stdio_client(
    args: &[&str],
    envs: &[(&str, &str)],
    log: &Path,
) -> RunningService<RoleClient, ()> {
    let log_file = std::fs::File::create(log).unwrap();
    let (transport, _) =
        TokioChildProcess::builder(tokio::process::Command::new(aerie()).configure(|c| {
            c.args(args)
                .env_remove("FALCON_CLIENT_ID")
                .env_remove("FALCON_CLIENT_SECRET")
                .env("HOME", "/nonexistent")
                // rmcp's test client cannot answer elicitations: tools tests run destructive
                // calls unapproved (controls_approvals.rs starts its servers itself).
                .env("AERIE_APPROVALS", "off");
            for (k, v) in envs {
                c.env(k, v);
            }
        }))
        .stderr(Stdio::from(log_file))
        .spawn()
        .unwrap();
    ().serve(transport).await.expect("client connects")
}

/// Call `tool` with JSON `args`.
pub async fn call<H: rmcp::Service<RoleClient>>(
    client: &RunningService<RoleClient, H>,
    tool: &str,
    args: Value,
) -> CallToolResult {
    let Value::Object(map) = args else {
        panic!("args must be an object")
    };
    client
        .call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(map))
        .await
        .unwrap_or_else(|e| panic!("tools/call {tool} failed at the protocol level: {e}"))
}

/// The text of the first content block.
pub fn text(r: &CallToolResult) -> String {
    r.content
        .first()
        .and_then(|c| c.as_text())
        .map(|t| t.text.clone())
        .unwrap_or_default()
}

/// Whether the result is a tool error.
pub fn is_error(r: &CallToolResult) -> bool {
    r.is_error == Some(true)
}

/// `aerie serve` against a simulator the test owns, so its request log is visible.
pub async fn serve_against(
    sim: &falcon_sim::Simulator,
    extra: &[&str],
    work: &std::path::Path,
) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
    let base = sim.base_url();
    let cache = shared_cache();
    let mut args = vec!["serve", "--cache-dir", cache.as_str()];
    args.extend_from_slice(extra);
    let envs = [
        ("FALCON_CLIENT_ID", falcon_sim::DEMO_CLIENT_ID),
        ("FALCON_CLIENT_SECRET", falcon_sim::DEMO_CLIENT_SECRET),
        ("FALCON_BASE_URL", base.as_str()),
    ];
    stdio_client(&args, &envs, &work.join("stderr.log")).await
}

/// Client id of the narrow API client that [`sim_with_limited_client`] adds.
pub const LIMITED_CLIENT_ID: &str = "limitedclient000000000000000000a";
/// Secret of that client.
pub const LIMITED_CLIENT_SECRET: &str = "limited-client-secret-for-tests-only-0000";

/// A simulator holding the demo client plus [`LIMITED_CLIENT_ID`] with only `scopes`; RTR
/// commands and NG-SIEM jobs complete on their first poll so tool tests do not sleep.
pub async fn sim_with_limited_client(
    scopes: &[&str],
    tweak: impl FnOnce(&mut falcon_sim::SimConfig),
) -> falcon_sim::Simulator {
    let mut config = falcon_sim::SimConfig {
        clients: vec![
            falcon_sim::ApiClient::demo(),
            falcon_sim::ApiClient::new(LIMITED_CLIENT_ID, LIMITED_CLIENT_SECRET, scopes),
        ],
        unauthenticated_limit_per_minute: 10_000,
        rtr_command_polls: 0,
        ngsiem_polls_until_done: 0,
        ..Default::default()
    };
    tweak(&mut config);
    falcon_sim::Simulator::start(config).await.unwrap()
}

/// `aerie serve` against `sim` as the API client `client_id` / `secret`; logs go to
/// `work/stderr-<client_id>.log` so several servers can share one work directory.
pub async fn serve_as(
    sim: &falcon_sim::Simulator,
    extra: &[&str],
    work: &std::path::Path,
    client_id: &str,
    secret: &str,
) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
    let base = sim.base_url();
    let cache = shared_cache();
    let mut args = vec!["serve", "--cache-dir", cache.as_str()];
    args.extend_from_slice(extra);
    let envs = [
        ("FALCON_CLIENT_ID", client_id),
        ("FALCON_CLIENT_SECRET", secret),
        ("FALCON_BASE_URL", base.as_str()),
    ];
    stdio_client(&args, &envs, &work.join(format!("stderr-{client_id}.log"))).await
}

/// The structured content of a successful result (panics with the text otherwise).
pub fn ok_json(r: &CallToolResult) -> Value {
    assert!(!is_error(r), "unexpected tool error: {}", text(r));
    r.structured_content
        .clone()
        .unwrap_or_else(|| panic!("no structured content: {}", text(r)))
}

/// The text of a tool error (panics if the call succeeded).
pub fn err_text(r: &CallToolResult) -> String {
    assert!(is_error(r), "expected a tool error, got: {}", text(r));
    text(r)
}

/// Operation ids of the requests the simulator received, oldest first.
pub fn operations(sim: &falcon_sim::Simulator) -> Vec<String> {
    sim.requests()
        .into_iter()
        .filter_map(|r| r.operation)
        .collect()
}

/// How many requests for `operation` reached the simulator.
pub fn count_op(sim: &falcon_sim::Simulator, operation: &str) -> usize {
    operations(sim).iter().filter(|o| *o == operation).count()
}

/// Names of the tools the server lists.
pub async fn tool_names<H: rmcp::Service<RoleClient>>(
    client: &RunningService<RoleClient, H>,
) -> Vec<String> {
    client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect()
}

/// Poll the tool list until `ok` holds for its names (two minutes at most: a hot swap may
/// compile a component first); a failure says `what` was awaited and what was listed.
#[allow(
    dead_code,
    reason = "used by some of the test binaries sharing this module"
)]
pub async fn until_tools<H: rmcp::Service<RoleClient>>(
    client: &RunningService<RoleClient, H>,
    what: &str,
    ok: impl Fn(&[String]) -> bool,
) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let names = tool_names(client).await;
        if ok(&names) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: tools are {names:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The device id of the host named `hostname`, through `hosts_search`.
pub async fn aid_of(client: &RunningService<RoleClient, ()>, hostname: &str) -> String {
    let r = call(
        client,
        "hosts_search",
        serde_json::json!({"hostname": hostname}),
    )
    .await;
    let s = ok_json(&r);
    assert_eq!(s["total"], 1, "{s}");
    s["results"][0]["device_id"].as_str().unwrap().to_string()
}

/// The error text of calling `tool` (panics if the call succeeds).
pub async fn call_err(client: &RunningService<RoleClient, ()>, tool: &str, args: Value) -> String {
    err_text(&call(client, tool, args).await)
}

/// With writes disabled: none of `write_tools` is listed, each attempt is refused as a
/// disabled write, and nothing reaches the simulator.
pub async fn assert_writes_refused(
    client: &RunningService<RoleClient, ()>,
    sim: &falcon_sim::Simulator,
    write_tools: &[&str],
    attempts: Vec<(&str, Value)>,
) {
    let names = tool_names(client).await;
    for t in write_tools {
        assert!(!names.iter().any(|n| n == t), "{t} listed");
    }
    sim.clear_requests();
    for (tool, args) in attempts {
        let e = call_err(client, tool, args).await;
        assert!(e.contains("writes are disabled"), "{tool}: {e}");
    }
    assert!(sim.requests().is_empty(), "{:?}", operations(sim));
}

/// A running `aerie serve --transport http`; killed on drop.
pub struct HttpServer {
    /// The server process.
    pub child: std::process::Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl HttpServer {
    /// `http://127.0.0.1:<port>/mcp`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.port)
    }

    /// The server's resident set size in KiB, from /proc.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc status")
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port (racy, but the server binds it right away).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `aerie serve --transport http` with the plugins in `dir` plus `extra` flags; logs go to
/// `log`. Returns once `/healthz` answers (the probe's connection is closed before returning).
pub async fn start_http_server(dir: &Path, extra: &[&str], log: &Path) -> HttpServer {
    // A free port can be taken by another test's connection before the server binds it.
    for _ in 0..5 {
        if let Some(s) = try_start_http_server_on(free_port(), dir, extra, log).await {
            return s;
        }
    }
    panic!("no free port after 5 tries");
}

/// [`start_http_server`] on `port` (for flags that name it).
pub async fn start_http_server_on(port: u16, dir: &Path, extra: &[&str], log: &Path) -> HttpServer {
    try_start_http_server_on(port, dir, extra, log)
        .await
        .unwrap_or_else(|| panic!("port {port} is in use"))
}

/// [`start_http_server_on`], or `None` when `port` was taken before the server could bind it.
async fn try_start_http_server_on(
    port: u16,
    dir: &Path,
    extra: &[&str],
    log: &Path,
) -> Option<HttpServer> {
    let child = std::process::Command::new(aerie())
        .args(["serve", "--transport", "http", "--port", &port.to_string()])
        .args(["--no-embedded", "--no-cache", "--plugins-dir"])
        .arg(dir)
        .args(extra)
        .env("HOME", "/nonexistent")
        // Each server's admin socket in its own test's directory, so servers of tests running
        // at once do not collide.
        .env("XDG_RUNTIME_DIR", log.parent().unwrap())
        .env_remove("AERIE_API_KEYS")
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let mut server = HttpServer { child, port };
    let health = format!("http://127.0.0.1:{port}/healthz");
    for _ in 0..150 {
        if server.child.try_wait().ok().flatten().is_some()
            && std::fs::read_to_string(log).is_ok_and(|l| l.contains("Address already in use"))
        {
            return None;
        }
        let probe = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        if probe
            .get(&health)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Some(server);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!(
        "HTTP server did not come up: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// The error of calling `tool` through a server whose API client holds only `scopes` (simulator
/// scope names), with `extra` server arguments; such errors should name the scope to add.
pub async fn missing_scope_error(
    scopes: &[&str],
    extra: &[&str],
    tool: &str,
    args: Value,
) -> String {
    let sim = sim_with_limited_client(scopes, |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_as(
        &sim,
        extra,
        work.path(),
        LIMITED_CLIENT_ID,
        LIMITED_CLIENT_SECRET,
    )
    .await;
    let e = call_err(&client, tool, args).await;
    client.cancel().await.ok();
    e
}
