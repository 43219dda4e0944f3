//! Every `detections` tool end to end: the real `aerie` binary, the embedded plugin and the
//! simulator, through rmcp's client — happy paths with the tenant's real data, and each tool's
//! error paths (bad argument, not found, missing scope, writes disabled).

mod support;

use falcon_sim::{KNOWN_BAD_SHA256, KNOWN_HOSTNAME};
use serde_json::{Value, json};
use support::*;

/// A composite alert id of the right shape that no alert has: a real one with its tail changed.
fn unknown_alert_id(real: &str) -> String {
    let (head, _) = real.rsplit_once(':').unwrap();
    format!("{head}:ffffffffffffffffffffffffffffffff")
}

const UNKNOWN_INCIDENT: &str =
    "inc:0123456789abcdef0123456789abcdef:fedcba9876543210fedcba9876543210";

/// The read tools with the demo client and writes disabled: real content, bad arguments,
/// unknown ids, and the write tool neither listed nor callable.
#[tokio::test(flavor = "multi_thread")]
async fn read_tools_and_their_errors() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_against(&sim, &["--modules", "detections"], work.path()).await;

    // detections_search: severity floor, status and host narrow the page; newest first.
    let s = ok_json(
        &call(
            &client,
            "detections_search",
            json!({"min_severity": 70, "limit": 10}),
        )
        .await,
    );
    let results = s["results"].as_array().unwrap();
    assert_eq!(results.len(), 10, "{s}");
    assert!(s["total"].as_u64().unwrap() > 10);
    assert!(
        results
            .iter()
            .all(|a| a["severity"].as_u64().unwrap() >= 70)
    );
    let times: Vec<&str> = results
        .iter()
        .map(|a| a["created_timestamp"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
    let s = ok_json(
        &call(
            &client,
            "detections_search",
            json!({"hostname": KNOWN_HOSTNAME, "status": "new", "limit": 50}),
        )
        .await,
    );
    let on_host = s["results"].as_array().unwrap();
    assert!(!on_host.is_empty(), "{s}");
    assert!(
        on_host
            .iter()
            .all(|a| a["device"]["hostname"] == KNOWN_HOSTNAME && a["status"] == "new"),
        "{s}"
    );
    let bad = on_host
        .iter()
        .find(|a| a["sha256"] == KNOWN_BAD_SHA256)
        .expect("the known host has an alert with the known-bad hash");
    let alert_id = bad["composite_id"].as_str().unwrap().to_string();
    // Bad arguments.
    let e = call_err(
        &client,
        "detections_search",
        json!({"product": "antivirus"}),
    )
    .await;
    assert!(e.contains("antivirus"), "{e}");
    let e = call_err(&client, "detections_search", json!({"since": "last week"})).await;
    assert!(e.contains("last week"), "{e}");
    let e = call_err(&client, "detections_search", json!({"sort": "secret.asc"})).await;
    assert!(e.contains("secret"), "{e}");
    let e = call_err(&client, "detections_search", json!({"status": "done"})).await;
    assert!(e.contains("status") || e.contains("done"), "{e}");
    let e = call_err(
        &client,
        "detections_search",
        json!({"filter": "no_such_field:'x'"}),
    )
    .await;
    assert!(e.contains("falcon://fql/alerts"), "{e}");

    // detections_get: the full alert, with fields the search summary leaves out.
    let s = ok_json(&call(&client, "detections_get", json!({"ids": [alert_id]})).await);
    let a = &s["alerts"][0];
    assert_eq!(a["composite_id"], alert_id.as_str());
    assert_eq!(a["sha256"], KNOWN_BAD_SHA256);
    assert_eq!(a["device"]["hostname"], KNOWN_HOSTNAME);
    assert!(a["cmdline"].is_string() && a["tactic"].is_string(), "{a}");
    let e = call_err(&client, "detections_get", json!({"ids": ["abc"]})).await;
    assert!(
        e.contains("`abc`") && e.contains("composite alert id"),
        "{e}"
    );
    let unknown = unknown_alert_id(&alert_id);
    let e = call_err(&client, "detections_get", json!({"ids": [unknown]})).await;
    assert!(
        e.to_lowercase().contains("not found") && e.contains(&unknown),
        "{e}"
    );

    // detections_list_incidents: open incidents above a score, newest start first.
    let s = ok_json(
        &call(
            &client,
            "detections_list_incidents",
            json!({"state": "open", "limit": 5}),
        )
        .await,
    );
    let incidents = s["results"].as_array().unwrap();
    assert!(!incidents.is_empty(), "{s}");
    assert!(incidents.iter().all(|i| i["state"] == "open"), "{s}");
    let incident_id = incidents[0]["incident_id"].as_str().unwrap().to_string();
    assert!(incident_id.starts_with("inc:"));
    let s = ok_json(
        &call(
            &client,
            "detections_list_incidents",
            json!({"min_score": 50}),
        )
        .await,
    );
    assert!(
        s["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["fine_score"].as_u64().unwrap() >= 50),
        "{s}"
    );
    let e = call_err(
        &client,
        "detections_list_incidents",
        json!({"sort": "nope.desc"}),
    )
    .await;
    assert!(e.contains("nope"), "{e}");
    let e = call_err(&client, "detections_list_incidents", json!({"limit": 101})).await;
    assert!(e.contains("limit"), "{e}");

    // detections_get_incident: the incident and its behaviors, oldest first.
    let s = ok_json(
        &call(
            &client,
            "detections_get_incident",
            json!({"id": incident_id}),
        )
        .await,
    );
    assert_eq!(s["incident"]["incident_id"], incident_id.as_str());
    let timeline = s["timeline"].as_array().unwrap();
    assert!(
        !timeline.is_empty() && s["behaviors_total"].as_u64().unwrap() > 0,
        "{s}"
    );
    let ts: Vec<&str> = timeline
        .iter()
        .map(|b| b["timestamp"].as_str().unwrap())
        .collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]), "{ts:?}");
    let e = call_err(&client, "detections_get_incident", json!({"id": "inc:xyz"})).await;
    assert!(e.contains("inc:xyz") && e.contains("incident id"), "{e}");
    let e = call_err(
        &client,
        "detections_get_incident",
        json!({"id": UNKNOWN_INCIDENT}),
    )
    .await;
    assert!(
        e.to_lowercase().contains("not found") && e.contains(UNKNOWN_INCIDENT),
        "{e}"
    );

    // detections_analyze_alert: MITRE context, the host, and related alerts on the same host or hash.
    let r = call(&client, "detections_analyze_alert", json!({"id": alert_id})).await;
    let s = ok_json(&r);
    assert_eq!(s["alert"]["composite_id"], alert_id.as_str());
    assert!(s["alert"]["technique_id"].is_string(), "{s}");
    assert_eq!(s["host"]["hostname"], KNOWN_HOSTNAME);
    assert!(text(&r).contains(KNOWN_HOSTNAME));
    let related = s["related"]["results"].as_array().unwrap();
    assert!(!related.is_empty(), "{s}");
    for rel in related {
        assert_ne!(rel["composite_id"], alert_id.as_str());
        assert!(
            rel["device"]["hostname"] == KNOWN_HOSTNAME || rel["sha256"] == KNOWN_BAD_SHA256,
            "{rel}"
        );
    }
    let e = call_err(&client, "detections_analyze_alert", json!({"id": "1234"})).await;
    assert!(e.contains("`1234`"), "{e}");
    let e = call_err(&client, "detections_analyze_alert", json!({"id": unknown})).await;
    assert!(
        e.to_lowercase().contains("not found") && e.contains(&unknown),
        "{e}"
    );
    let e = call_err(
        &client,
        "detections_analyze_alert",
        json!({"id": alert_id, "related": 51}),
    )
    .await;
    assert!(e.contains("related"), "{e}");

    // Writes disabled: the status tool is not listed and a call changes nothing.
    let names = tool_names(&client).await;
    assert!(names.iter().any(|n| n == "detections_search"));
    assert!(
        !names.iter().any(|n| n == "detections_update_status"),
        "{names:?}"
    );
    sim.clear_requests();
    let e = call_err(
        &client,
        "detections_update_status",
        json!({"ids": [alert_id], "status": "closed"}),
    )
    .await;
    assert!(e.contains("writes are disabled"), "{e}");
    assert!(sim.requests().is_empty(), "{:?}", operations(&sim));
    client.cancel().await.unwrap();
    sim.shutdown().await;
}

/// `detections_update_status` with writes enabled: the change is visible through
/// `detections_get`; empty and malformed updates are refused before any request; an unknown
/// alert is named.
#[tokio::test(flavor = "multi_thread")]
async fn update_status_changes_the_alert() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_against(
        &sim,
        &["--modules", "detections", "--allow-writes"],
        work.path(),
    )
    .await;
    let s = ok_json(
        &call(
            &client,
            "detections_search",
            json!({"status": "new", "limit": 1}),
        )
        .await,
    );
    let id = s["results"][0]["composite_id"]
        .as_str()
        .unwrap()
        .to_string();

    let r = call(
        &client,
        "detections_update_status",
        json!({"ids": [id], "status": "in_progress", "resolution": "true_positive",
               "comment": "triaged by aerie test", "add_tags": ["ir-42"]}),
    )
    .await;
    let s = ok_json(&r);
    assert_eq!(s["updated"][0], id.as_str());
    assert!(
        text(&r).contains("update_status=in_progress"),
        "{}",
        text(&r)
    );
    assert_eq!(count_op(&sim, "PatchEntitiesAlertsV3"), 1);
    let a =
        ok_json(&call(&client, "detections_get", json!({"ids": [id]})).await)["alerts"][0].clone();
    assert_eq!(a["status"], "in_progress", "{a}");
    let tags: Vec<&str> = a["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        tags.contains(&"ir-42") && tags.contains(&"true_positive"),
        "{tags:?}"
    );
    // The status filter now finds it.
    let s = ok_json(
        &call(
            &client,
            "detections_search",
            json!({"filter": format!("composite_id:'{id}'"), "status": "in_progress"}),
        )
        .await,
    );
    assert_eq!(s["total"], 1, "{s}");

    // Bad arguments: nothing to change, a malformed id, a bad status, an empty tag.
    sim.clear_requests();
    let e = call_err(&client, "detections_update_status", json!({"ids": [id]})).await;
    assert!(e.contains("nothing to change"), "{e}");
    let e = call_err(
        &client,
        "detections_update_status",
        json!({"ids": ["nope"], "status": "closed"}),
    )
    .await;
    assert!(e.contains("`nope`"), "{e}");
    let e = call_err(
        &client,
        "detections_update_status",
        json!({"ids": [id], "status": "finished"}),
    )
    .await;
    assert!(e.contains("status") || e.contains("finished"), "{e}");
    let e = call_err(
        &client,
        "detections_update_status",
        json!({"ids": [id], "add_tags": [" "]}),
    )
    .await;
    assert!(e.contains("tag"), "{e}");
    assert_eq!(count_op(&sim, "PatchEntitiesAlertsV3"), 0);
    // Not found: a well-formed id no alert has is named.
    let unknown = unknown_alert_id(&id);
    let e = call_err(
        &client,
        "detections_update_status",
        json!({"ids": [unknown], "status": "closed"}),
    )
    .await;
    assert!(e.contains(&unknown), "{e}");
    client.cancel().await.unwrap();
    sim.shutdown().await;
}

/// A client without the alerts and incidents scopes: each tool names the console scope to add.
#[tokio::test(flavor = "multi_thread")]
async fn missing_scopes_are_named() {
    let sim = sim_with_limited_client(&["hosts:read"], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    // An id to ask about, found with the demo client.
    let demo = serve_against(&sim, &["--modules", "detections"], work.path()).await;
    let s = ok_json(&call(&demo, "detections_search", json!({"limit": 1})).await);
    let id = s["results"][0]["composite_id"]
        .as_str()
        .unwrap()
        .to_string();
    let s = ok_json(&call(&demo, "detections_list_incidents", json!({"limit": 1})).await);
    let inc = s["results"][0]["incident_id"].as_str().unwrap().to_string();
    demo.cancel().await.unwrap();

    let client = serve_as(
        &sim,
        &["--modules", "detections", "--allow-writes"],
        work.path(),
        LIMITED_CLIENT_ID,
        LIMITED_CLIENT_SECRET,
    )
    .await;
    for (tool, args, scope) in [
        ("detections_search", json!({}), "`Alerts:read`"),
        ("detections_get", json!({"ids": [id]}), "`Alerts:read`"),
        (
            "detections_analyze_alert",
            json!({"id": id}),
            "`Alerts:read`",
        ),
        (
            "detections_update_status",
            json!({"ids": [id], "status": "closed"}),
            "`Alerts:write`",
        ),
        ("detections_list_incidents", json!({}), "`Incidents:read`"),
        (
            "detections_get_incident",
            json!({"id": inc}),
            "`Incidents:read`",
        ),
    ] {
        let e = call_err(&client, tool, args).await;
        assert!(e.contains(scope), "{tool}: {e}");
    }
    client.cancel().await.unwrap();
    sim.shutdown().await;
}
