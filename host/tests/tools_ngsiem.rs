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
