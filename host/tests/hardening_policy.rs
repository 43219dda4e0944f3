//! Policy hardening end to end: the RTR guard holds against forged request bodies from a
//! hostile plugin (the `rtr_forger` fixture, served from a plugins directory next to the
//! simulator), and operator mistakes in configuration and on the command line are errors that
//! name what to fix, never a silently weaker policy.

mod support;

use std::path::Path;

use serde_json::{Value, json};
use support::*;

type Client = rmcp::service::RunningService<rmcp::RoleClient, ()>;

/// `aerie serve --allow-writes` with the forger plugin, the given `[rtr]` section and an audit
/// log, against `sim`.
async fn forger_server(sim: &falcon_sim::Simulator, work: &Path, rtr: &str) -> Client {
    let plugins = work.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(fixture("rtr_forger"), plugins.join("rtr_forger.wasm")).unwrap();
    let config = work.join("aerie.toml");
    std::fs::write(&config, format!("[rtr]\n{rtr}\n")).unwrap();
    let audit = work.join("audit.jsonl");
    serve_against(
        sim,
        &[
            "--allow-writes",
            "--no-embedded",
            "--plugins-dir",
            plugins.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
            "--audit-log",
            audit.to_str().unwrap(),
        ],
        work,
    )
    .await
}

/// The audit log's `denied` records.
fn denials(work: &Path) -> Vec<Value> {
    std::fs::read_to_string(work.join("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["kind"] == "denied")
        .collect()
}

/// Requests for RTR paths that reached the simulator.
fn rtr_requests(sim: &falcon_sim::Simulator) -> Vec<String> {
    sim.requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/real-time-response/"))
        .map(|r| format!("{} {} {}", r.method, r.path, r.body))
        .collect()
}

/// Calls `tool` with a raw body and expects a denial containing `reason`, audited, with
/// nothing sent upstream.
async fn assert_denied(
    client: &Client,
    sim: &falcon_sim::Simulator,
    work: &Path,
    tool: &str,
    body: &str,
    reason: &str,
) {
    sim.clear_requests();
    let before = denials(work).len();
    let e = call_err(client, tool, json!({ "body": body })).await;
    assert!(e.contains("Denied by aerie's policy"), "{tool} {body}: {e}");
    assert!(e.contains(reason), "{tool} {body}: {e}");
    let d = denials(work);
    assert_eq!(d.len(), before + 1, "one denied record: {d:?}");
    let last = &d[d.len() - 1];
    assert_eq!(last["plugin"], "rtr_forger");
    assert_eq!(last["tool"], tool);
    assert!(
        last["reason"].as_str().unwrap_or_default().contains(reason),
        "{last}"
    );
    assert!(rtr_requests(sim).is_empty(), "{:?}", rtr_requests(sim));
}

/// `BatchGetCmd` fetches files (an implicit `get`): a write-tier tool declaring it is held to
/// `blocked = ["get"]` and to the default `max_tier = "read-only"`.
#[tokio::test(flavor = "multi_thread")]
async fn batch_get_is_guarded_as_get() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let body = r#"{"batch_id":"b-1","file_path":"C:\\Windows\\System32\\config\\SAM"}"#;

    let work = tempfile::tempdir().unwrap();
    let client = forger_server(&sim, work.path(), "max_tier = \"admin\"\nblocked = [\"get\"]").await;
    assert_denied(
        &client,
        &sim,
        work.path(),
        "forge_batch_get",
        body,
        "RTR command `get` is blocked",
    )
    .await;
    client.cancel().await.unwrap();

    let work = tempfile::tempdir().unwrap();
    let client = forger_server(&sim, work.path(), "").await;
    assert_denied(
        &client,
        &sim,
        work.path(),
        "forge_batch_get",
        body,
        "`get` needs the ActiveResponder tier; the operator allows up to ReadOnly",
    )
    .await;
    // A command smuggled next to the path is not an accepted key.
    assert_denied(
        &client,
        &sim,
        work.path(),
        "forge_batch_get",
        r#"{"batch_id":"b-1","file_path":"C:\\x","base_command":"ls"}"#,
        "unexpected key `base_command`",
    )
    .await;
    client.cancel().await.unwrap();

    // With active-responder allowed, the same body leaves (the guard, not the fixture, refused).
    let work = tempfile::tempdir().unwrap();
    let client = forger_server(&sim, work.path(), "max_tier = \"active-responder\"").await;
    sim.clear_requests();
    let _ = call(&client, "forge_batch_get", json!({ "body": body })).await;
    let sent = rtr_requests(&sim);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].contains("batch-get-command"), "{sent:?}");
    client.cancel().await.unwrap();
}

/// Case-variant and duplicate keys, which Falcon's decoder could read as a different command
/// than the guard checked, are refused before anything leaves; a clean body goes through.
#[tokio::test(flavor = "multi_thread")]
async fn forged_command_bodies_are_refused() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let client = forger_server(&sim, work.path(), "").await;
    for (body, reason) in [
        (
            r#"{"base_command":"ls","command_string":"ls","Command_String":"rm -rf C:\\x","session_id":"s"}"#,
            "`Command_String` differs from `command_string` only by case",
        ),
        (
            r#"{"base_command":"ls","command_string":"ls","command_string":"rm -rf C:\\x","session_id":"s"}"#,
            "has the key `command_string` more than once",
        ),
        (
            r#"{"base_command":"rm","Base_Command":"ls","command_string":"ls","session_id":"s"}"#,
            "only by case",
        ),
        (
            r#"{"base_command":"ls","command_string":"ls","session_id":"s","persist_all":true}"#,
            "unexpected key `persist_all`",
        ),
    ] {
        assert_denied(&client, &sim, work.path(), "forge_execute", body, reason).await;
    }
    sim.clear_requests();
    let _ = call(
        &client,
        "forge_execute",
        json!({"body": r#"{"base_command":"ls","command_string":"ls","session_id":"s","persist":false}"#}),
    )
    .await;
    assert_eq!(rtr_requests(&sim).len(), 1, "{:?}", rtr_requests(&sim));
    client.cancel().await.unwrap();
}
