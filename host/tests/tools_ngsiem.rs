//! The `ngsiem_query` tool end to end: the real `aerie` binary, the embedded plugin and the
//! simulator's NG-SIEM jobs, through rmcp's client — events the tenant holds, the query
//! normalisation (IN lists, over-escaped regexes), and the error paths (bad argument, unknown
//! repository, invalid CQL, missing scope). The group has no write tool.

mod support;

use falcon_sim::{KNOWN_BAD_DOMAIN, KNOWN_BAD_SHA256, KNOWN_HOSTNAME};
use serde_json::json;
use support::*;

/// Happy paths and normalisation; the job is polled until done and then stopped.
#[tokio::test(flavor = "multi_thread")]
async fn query_returns_the_tenants_events() {
    // One "not done" poll: the plugin must wait and poll again.
    let sim = sim_with_limited_client(&[], |c| c.ngsiem_polls_until_done = 1).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_against(&sim, &["--modules", "ngsiem"], work.path()).await;

    let q = format!(
        "#event_simpleName=ProcessRollup2 ComputerName={KNOWN_HOSTNAME}\n\nSHA256HashData={KNOWN_BAD_SHA256}\n| head(5)"
    );
    let r = call(&client, "ngsiem_query", json!({"query": q, "start": "7d"})).await;
    let s = ok_json(&r);
    let events = s["results"].as_array().unwrap();
    assert!(!events.is_empty() && events.len() <= 5, "{s}");
    assert_eq!(s["complete"], true);
    for e in events {
        assert_eq!(e["#event_simpleName"], "ProcessRollup2", "{e}");
        assert_eq!(e["SHA256HashData"], KNOWN_BAD_SHA256, "{e}");
        assert_eq!(e["ComputerName"], KNOWN_HOSTNAME, "{e}");
    }
    // Blank lines are dropped from the query sent.
    assert!(!s["query"].as_str().unwrap().contains("\n\n"));
    assert!(
        count_op(&sim, "GetSearchStatusV1") >= 2,
        "polled until done"
    );
    // Stopped once, by the plugin: the host's on_abandon adds nothing to a call that ends well.
    assert_eq!(count_op(&sim, "StopSearchV1"), 1, "the job is freed");

    // `IN [...]` becomes a regex alternation, and both event types come back.
    let r = call(
        &client,
        "ngsiem_query",
        json!({"query": format!("ComputerName={KNOWN_HOSTNAME} #event_simpleName IN [\"DnsRequest\", \"UserLogon\"] | tail(200)"), "start": "7d", "max_results": 200}),
    )
    .await;
    let s = ok_json(&r);
    assert!(
        s["query"]
            .as_str()
            .unwrap()
            .contains("#event_simpleName=/^(DnsRequest|UserLogon)$/"),
        "{s}"
    );
    let kinds: std::collections::BTreeSet<&str> = s["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["#event_simpleName"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["DnsRequest", "UserLogon"],
        "{s}"
    );

    // An over-escaped regex (`\\.`) is fixed to mean a literal dot, so the domain matches.
    let q = format!(
        "#event_simpleName=DnsRequest DomainName=/{}/ | head(3)",
        KNOWN_BAD_DOMAIN.replace('.', "\\\\.")
    );
    let s = ok_json(&call(&client, "ngsiem_query", json!({"query": q, "start": "7d"})).await);
    assert!(
        s["query"]
            .as_str()
            .unwrap()
            .contains(&KNOWN_BAD_DOMAIN.replace('.', "\\.")),
        "{s}"
    );
    let events = s["results"].as_array().unwrap();
    assert!(!events.is_empty(), "{s}");
    assert!(events.iter().all(|e| e["DomainName"] == KNOWN_BAD_DOMAIN));

    // max_results truncates and says so; total counts every match.
    let r = call(
        &client,
        "ngsiem_query",
        json!({"query": "#event_simpleName=ProcessRollup2", "start": "7d", "max_results": 3}),
    )
    .await;
    let s = ok_json(&r);
    assert_eq!(s["results"].as_array().unwrap().len(), 3);
    assert!(s["total"].as_u64().unwrap() > 3, "{s}");
    assert!(text(&r).contains("raise max_results"), "{}", text(&r));
    // Nothing matches: an empty page, not an error.
    let s = ok_json(
        &call(
            &client,
            "ngsiem_query",
            json!({"query": "ComputerName=no-such-host-anywhere", "start": "7d"}),
        )
        .await,
    );
    assert_eq!(s["total"], 0, "{s}");
    client.cancel().await.unwrap();
    sim.shutdown().await;
}

/// Events a result returned: all of them, or the count the response store kept.
fn returned(r: &rmcp::model::CallToolResult, s: &serde_json::Value) -> u64 {
    r.meta
        .as_ref()
        .and_then(|m| m.0.get("aerie/stored"))
        .and_then(|st| st["total"].as_u64())
        .unwrap_or_else(|| s["results"].as_array().map_or(0, |a| a.len() as u64))
}

/// Issue #9: a result NG-SIEM capped (its 200-event buffer for a query without an aggregate)
/// is reported as capped, with how to get the rest, never as "200 of 200, complete"; an
/// explicit `tail(N)` lifts the cap and max_results then caps, and says so.
#[tokio::test(flavor = "multi_thread")]
async fn capped_results_say_so_and_how_to_get_the_rest() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_against(&sim, &["--modules", "ngsiem"], work.path()).await;

    let r = call(
        &client,
        "ngsiem_query",
        json!({"query": "*", "start": "30d", "max_results": 1000}),
    )
    .await;
    let s = ok_json(&r);
    let t = text(&r);
    // 200 events are too many to send whole: the response store keeps them and the answer
    // carries a preview, but the plugin's summary (the cap and how to get the rest) survives.
    assert_eq!(returned(&r, &s), 200, "{s}");
    assert_eq!(s["complete"], false, "{t}");
    assert_eq!(s["capped_by"], "ngsiem_result_limit", "{t}");
    assert!(!t.contains("200 of 200"), "{t}");
    assert!(t.contains("capped by NG-SIEM"), "{t}");
    assert!(
        t.contains("narrow the time range") && t.contains("| tail(N)"),
        "{t}"
    );

    // With tail(1000) NG-SIEM returns more than 200; max_results=300 then caps them.
    let r = call(
        &client,
        "ngsiem_query",
        json!({"query": "* | tail(1000)", "start": "30d", "max_results": 300}),
    )
    .await;
    let s = ok_json(&r);
    let t = text(&r);
    assert_eq!(returned(&r, &s), 300, "{s}");
    assert!(s["total"].as_u64().unwrap() > 300, "{t}");
    assert_eq!(s["complete"], false, "{t}");
    assert_eq!(s["capped_by"], "max_results", "{t}");
    assert!(t.contains("raise max_results (up to 1000)"), "{t}");

    // Under every cap: complete, and nothing says otherwise.
    let r = call(
        &client,
        "ngsiem_query",
        json!({"query": "* | head(5)", "start": "30d"}),
    )
    .await;
    let s = ok_json(&r);
    assert_eq!(s["complete"], true, "{}", text(&r));
    assert_eq!(s["capped_by"], serde_json::Value::Null);
    client.cancel().await.unwrap();
    sim.shutdown().await;
}

/// Audit records of `kind` in the JSON Lines file at `path`.
fn audit_records(path: &std::path::Path, kind: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["kind"] == kind)
        .collect()
}

/// Wait (bounded) until the simulator has seen `n` requests for `operation`.
async fn wait_for_op(sim: &falcon_sim::Simulator, operation: &str, n: usize) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while count_op(sim, operation) < n {
        assert!(
            std::time::Instant::now() < until,
            "no {operation} after 30 s: {:?}",
            operations(sim)
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Issue #9: a call that ends without stopping its search job — cancelled by the client, or
/// stopped by its deadline — has the job stopped by the host (`StopSearchV1`, the catalogue's
/// `on_abandon`), and the stop is audited. The job never finishes in this simulator.
#[tokio::test(flavor = "multi_thread")]
async fn abandoned_search_jobs_are_stopped() {
    let sim = sim_with_limited_client(&[], |c| c.ngsiem_polls_until_done = u32::MAX).await;
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("aerie.toml");
    std::fs::write(&config, "[plugins.ngsiem.limits]\ndeadline_secs = 3\n").unwrap();
    let audit = work.path().join("audit.jsonl");
    let client = serve_against(
        &sim,
        &[
            "--modules",
            "ngsiem",
            "--config",
            config.to_str().unwrap(),
            "--audit-log",
            audit.to_str().unwrap(),
        ],
        work.path(),
    )
    .await;
    let query = json!({"query": "#event_simpleName=ProcessRollup2", "start": "7d"});

    // Cancelled by the client (rmcp's client sends notifications/cancelled when the call's
    // future is dropped) while the plugin polls.
    let peer = client.peer().clone();
    let serde_json::Value::Object(args) = query.clone() else {
        unreachable!()
    };
    let pending = tokio::spawn(async move {
        peer.call_tool(rmcp::model::CallToolRequestParams::new("ngsiem_query").with_arguments(args))
            .await
    });
    wait_for_op(&sim, "GetSearchStatusV1", 1).await;
    pending.abort();
    wait_for_op(&sim, "StopSearchV1", 1).await;
    let start = sim
        .requests()
        .into_iter()
        .find(|r| r.operation.as_deref() == Some("StopSearchV1"))
        .unwrap();
    assert_eq!(start.method, "DELETE");
    assert!(
        start
            .path
            .starts_with("/humio/api/v1/repositories/search-all/queryjobs/P"),
        "{}",
        start.path
    );

    // Stopped by the deadline: the result says so, and the job is stopped before it arrives.
    sim.clear_requests();
    let e = call_err(&client, "ngsiem_query", query.clone()).await;
    assert!(e.contains("deadline"), "{e}");
    assert_eq!(count_op(&sim, "StopSearchV1"), 1, "{:?}", operations(&sim));

    let cleanups = audit_records(&audit, "cleanup");
    let reasons: Vec<&str> = cleanups
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["cancelled", "deadline"], "{cleanups:?}");
    assert!(
        cleanups
            .iter()
            .all(|r| r["operation"] == "StopSearchV1" && r["status"] == 204)
    );
    let stops = audit_records(&audit, "egress")
        .into_iter()
        .filter(|r| r["operation"] == "StopSearchV1")
        .count();
    assert_eq!(stops, 2, "each stop is an audited egress request");
    let outcomes: Vec<String> = audit_records(&audit, "tool_call")
        .iter()
        .map(|r| r["outcome"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(outcomes, ["cancelled", "sandbox_error"]);

    client.cancel().await.unwrap();
    sim.shutdown().await;
}

/// Bad arguments, an unknown repository, invalid CQL and a missing scope each give a message a
/// model can act on; argument errors never start a job.
#[tokio::test(flavor = "multi_thread")]
async fn query_errors() {
    let sim = sim_with_limited_client(&["hosts:read"], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_against(&sim, &["--modules", "ngsiem"], work.path()).await;
    for (args, needle) in [
        (json!({"query": "  \n "}), "query is empty"),
        (json!({"query": "x", "start": "yesterday"}), "yesterday"),
        (json!({"query": "x", "repository": "a/b"}), "`a/b`"),
        (json!({"query": "x", "max_results": 0}), "max_results"),
        (json!({"query": "a IN [\"b\""}), "unclosed ["),
        (json!({"start": "7d"}), "query"),
    ] {
        let e = call_err(&client, "ngsiem_query", args).await;
        assert!(e.contains(needle), "{needle}: {e}");
    }
    assert_eq!(count_op(&sim, "StartSearchV1"), 0);
    // Unknown repository: named.
    let e = call_err(
        &client,
        "ngsiem_query",
        json!({"query": "x", "repository": "no_such_repo"}),
    )
    .await;
    assert!(e.contains("no_such_repo"), "{e}");
    // Invalid CQL: Falcon's syntax error plus the guide.
    let e = call_err(
        &client,
        "ngsiem_query",
        json!({"query": "ComputerName=(", "start": "1d"}),
    )
    .await;
    assert!(
        e.contains("Syntax error") && e.contains("falcon://cql/syntax"),
        "{e}"
    );
    client.cancel().await.unwrap();

    // A client without the NGSIEM scope is told which one to add.
    let client = serve_as(
        &sim,
        &["--modules", "ngsiem"],
        work.path(),
        LIMITED_CLIENT_ID,
        LIMITED_CLIENT_SECRET,
    )
    .await;
    let e = call_err(&client, "ngsiem_query", json!({"query": "x"})).await;
    assert!(e.contains("`NGSIEM:read`"), "{e}");
    client.cancel().await.unwrap();
    sim.shutdown().await;
}
