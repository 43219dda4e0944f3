//! `aerie demo` as a user runs it: the real binary with the embedded plugins and the built-in
//! simulator, driven by rmcp's client through a short triage flow.

mod support;

use serde_json::{Value, json};
use support::*;

#[tokio::test(flavor = "multi_thread")]
async fn demo_triage_flow() {
    let work = tempfile::tempdir().unwrap();
    let cache = shared_cache();
    let args = ["demo", "--cache-dir", cache.as_str()];
    let client = stdio_client(&args, &[], &work.path().join("stderr.log")).await;

    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for expected in [
        "detections_search",
        "hosts_get",
        "ngsiem_query",
        "rtr_run_command",
        "prevention_list_policies",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    // Read-only by default: no write tool is listed.
    assert!(!names.contains(&"hosts_contain"));

    // 1. High-severity alerts from the last week.
    let r = call(
        &client,
        "detections_search",
        json!({"min_severity": 60, "since": "7d", "limit": 5}),
    )
    .await;
    assert!(!is_error(&r), "{}", text(&r));
    let s = r.structured_content.clone().expect("structured result");
    let results = s["results"].as_array().expect("results array");
    assert!(
        !results.is_empty() && s["total"].as_u64().unwrap() >= results.len() as u64,
        "{s}"
    );
    let alert = &results[0];
    assert!(alert["severity"].as_u64().unwrap() >= 60, "{alert}");
    let aid = alert["device"]["device_id"]
        .as_str()
        .or_else(|| alert["agent_id"].as_str())
        .expect("alert names its host")
        .to_string();

    // 2. The host behind it.
    let r = call(&client, "hosts_get", json!({"ids": [aid]})).await;
    assert!(!is_error(&r), "{}", text(&r));
    let body = serde_json::to_string(&r.structured_content).unwrap();
    assert!(body.contains(&aid) && body.contains("hostname"), "{body}");

    // 3. What that host did, in NG-SIEM.
    let hostname = r
        .structured_content
        .as_ref()
        .and_then(|v| find_str(v, "hostname"))
        .expect("hostname")
        .to_string();
    let q = format!("#event_simpleName=ProcessRollup2 ComputerName={hostname} | head(5)");
    let r = call(&client, "ngsiem_query", json!({"query": q, "start": "7d"})).await;
    assert!(!is_error(&r), "{}", text(&r));
    let body = serde_json::to_string(&r.structured_content).unwrap();
    assert!(body.contains(&hostname), "{body}");

    // Errors a model can act on.
    let r = call(&client, "hosts_get", json!({"ids": ["not-an-aid"]})).await;
    assert!(
        is_error(&r) && text(&r).contains("not-an-aid"),
        "{}",
        text(&r)
    );
    let r = call(
        &client,
        "detections_search",
        json!({"filter": "no_such_field:'x'"}),
    )
    .await;
    assert!(is_error(&r), "{}", text(&r));
    assert!(
        text(&r).contains("falcon://fql/alerts"),
        "invalid filter should point at the guide: {}",
        text(&r)
    );
    client.cancel().await.unwrap();
}

/// The first string value of `key` anywhere in `v`.
fn find_str<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    match v {
        Value::Object(m) => m
            .get(key)
            .and_then(Value::as_str)
            .or_else(|| m.values().find_map(|x| find_str(x, key))),
        Value::Array(a) => a.iter().find_map(|x| find_str(x, key)),
        _ => None,
    }
}
