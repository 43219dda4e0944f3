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
                .env("HOME", "/nonexistent");
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
pub async fn call(
    client: &RunningService<RoleClient, ()>,
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
