//! `threat_graph` end to end (see main.rs): every tool of the group through the real binary and
//! the simulator — the known-bad hash ran on the known host, and the graph walks from that
//! process to its image, the alert it raised and its parent; cursors, vertex types, the edge
//! types resource and the vertex resources; each tool's error paths (bad argument, not found,
//! missing scope). The group has no write tools.

use falcon_sim::{KNOWN_BAD_DOMAIN, KNOWN_BAD_IP, KNOWN_BAD_SHA256, KNOWN_HOSTNAME};
use rmcp::model::ReadResourceRequestParams;
use serde_json::{Value, json};

use crate::support::*;

const EDGE_TYPES: &str = "falcon://threat-graph/edge-types";

fn processes(s: &Value) -> &Vec<Value> {
    s["processes"].as_array().unwrap_or_else(|| panic!("{s}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_known_hash_leads_through_the_graph() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_against(&sim, &["--modules", "threat_graph,hosts"], work.path()).await;
    let aid = aid_of(&client, KNOWN_HOSTNAME).await;

    // threat_graph_ran_on: the type is detected from the hash; the known host is among the hosts.
    let s = ok_json(
        &call(
            &client,
            "threat_graph_ran_on",
            json!({"value": KNOWN_BAD_SHA256.to_uppercase()}),
        )
        .await,
    );
    assert_eq!(
        s["indicator"],
        json!({"type": "sha256", "value": KNOWN_BAD_SHA256})
    );
    let host = s["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["device_id"] == aid.as_str())
        .unwrap_or_else(|| panic!("known host missing: {s}"));
    assert!(host["processes"].as_u64().unwrap() >= 1);
    let proc = processes(&s)
        .iter()
        .find(|p| p["device_id"] == aid.as_str())
        .unwrap()
        .clone();
    let pid = proc["id"].as_str().unwrap().to_string();
    assert!(pid.starts_with(&format!("pid:{aid}:")), "{pid}");
    // The domain and the IP ran somewhere too; an unseen hash ran nowhere.
    for value in [KNOWN_BAD_DOMAIN, KNOWN_BAD_IP] {
        let s = ok_json(&call(&client, "threat_graph_ran_on", json!({"value": value})).await);
        assert!(!processes(&s).is_empty(), "{value}: {s}");
    }
    let s = ok_json(
        &call(
            &client,
            "threat_graph_ran_on",
            json!({"value": "0".repeat(64), "type": "sha256"}),
        )
        .await,
    );
    assert_eq!(
        (s["devices"].clone(), s["next"].clone()),
        (json!([]), Value::Null)
    );
    // Paging: one process per page, the second page starts after the first.
    let p1 = ok_json(
        &call(
            &client,
            "threat_graph_ran_on",
            json!({"value": KNOWN_BAD_SHA256, "limit": 1}),
        )
        .await,
    );
    let cursor = p1["next"].as_str().expect("more than one process ran it");
    let p2 = ok_json(
        &call(
            &client,
            "threat_graph_ran_on",
            json!({"value": KNOWN_BAD_SHA256, "limit": 1, "cursor": cursor}),
        )
        .await,
    );
    assert_ne!(processes(&p1)[0]["id"], processes(&p2)[0]["id"]);

    // threat_graph_get_summary: the process's image is the hash; it raised an alert.
    let s = ok_json(
        &call(
            &client,
            "threat_graph_get_summary",
            json!({"ids": [pid], "vertex_type": "process"}),
        )
        .await,
    );
    let edges = &s["vertices"][0]["edges"];
    let module = format!("module:{aid}:{KNOWN_BAD_SHA256}");
    assert_eq!(
        edges["primary_module"]["first"][0]["id"],
        module.as_str(),
        "{s}"
    );
    assert!(
        edges["child_process"]["secondary"].as_u64().unwrap() >= 1,
        "{s}"
    );
    let indicator = edges["triggered_indicator"]["first"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no alert: {s}"))
        .to_string();

    // threat_graph_get_vertices: the alert vertex names its composite id; the module its hash.
    let s = ok_json(
        &call(
            &client,
            "threat_graph_get_vertices",
            json!({"ids": [indicator, module]}),
        )
        .await,
    );
    let v = s["vertices"].as_array().unwrap();
    assert_eq!(v.len(), 2);
    let p = ok_json(&call(&client, "threat_graph_get_vertices", json!({"ids": [pid]})).await);
    assert_eq!(p["vertices"][0]["vertex_type"], "process");
    assert_eq!(
        p["vertices"][0]["properties"]["SHA256HashData"],
        KNOWN_BAD_SHA256
    );
    assert_eq!(v[0]["vertex_type"], "indicator");
    assert!(
        v[0]["properties"]["CompositeId"]
            .as_str()
            .unwrap()
            .contains(&aid),
        "{s}"
    );
    assert_eq!(v[1]["properties"]["SHA256HashData"], KNOWN_BAD_SHA256);

    // threat_graph_get_edges: into the module from the process; out of it, nothing.
    let s = ok_json(
        &call(
            &client,
            "threat_graph_get_edges",
            json!({"id": module, "edge_type": "primary_module", "direction": "secondary"}),
        )
        .await,
    );
    assert!(
        s["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["source"] == pid.as_str() && e["target"] == module.as_str()),
        "{s}"
    );
    let s = ok_json(
        &call(
            &client,
            "threat_graph_get_edges",
            json!({"id": module, "edge_type": "primary_module", "direction": "primary"}),
        )
        .await,
    );
    assert_eq!(s["results"], json!([]));
    // The parent, through the incoming child_process edge.
    let s = ok_json(
        &call(
            &client,
            "threat_graph_get_edges",
            json!({"id": pid, "edge_type": "child_process", "direction": "secondary"}),
        )
        .await,
    );
    let parent = s["results"][0]["source"].as_str().unwrap().to_string();
    assert!(
        parent.starts_with(&format!("pid:{aid}:")) && parent != pid,
        "{s}"
    );

    // Resources: the edge types guide, and a vertex read through the plugin.
    let read = client
        .read_resource(ReadResourceRequestParams::new(EDGE_TYPES))
        .await
        .unwrap();
    let body = serde_json::to_string(&read).unwrap();
    assert!(
        body.contains("primary_module") && body.contains("secondary"),
        "{body}"
    );
    let read = client
        .read_resource(ReadResourceRequestParams::new(format!(
            "falcon://threat-graph/vertices/{pid}"
        )))
        .await
        .unwrap();
    let body = serde_json::to_string(&read).unwrap();
    assert!(
        body.contains("primary_module") && body.contains(&pid),
        "{body}"
    );

    client.cancel().await.unwrap();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_arguments_unknown_vertices_and_missing_scope() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_against(&sim, &["--modules", "threat_graph"], work.path()).await;
    sim.clear_requests();
    for (tool, args, want) in [
        (
            "threat_graph_ran_on",
            json!({"value": "not a thing"}),
            "not a hash",
        ),
        (
            "threat_graph_ran_on",
            json!({"value": "1.2.3", "type": "ipv4"}),
            "IPv4",
        ),
        (
            "threat_graph_ran_on",
            json!({"value": KNOWN_BAD_IP, "limit": 101}),
            "limit",
        ),
        (
            "threat_graph_get_vertices",
            json!({"ids": ["nocolon"]}),
            "vertex id",
        ),
        (
            "threat_graph_get_vertices",
            json!({"ids": []}),
            "at least one",
        ),
        (
            "threat_graph_get_summary",
            json!({"ids": ["pid:a:1"], "vertex_type": "galaxy"}),
            "vertex_type",
        ),
        (
            "threat_graph_get_edges",
            json!({"id": "pid:a:1", "edge_type": "DNS;x"}),
            "not an edge type",
        ),
        (
            "threat_graph_get_edges",
            json!({"id": "pid:a:1"}),
            "edge_type",
        ),
    ] {
        let e = call_err(&client, tool, args.clone()).await;
        assert!(e.contains(want), "{tool} {args}: {e}");
    }
    assert!(sim.requests().is_empty(), "{:?}", operations(&sim));
    // Well-formed but unknown: not found, named; an unknown edge type cites the guide.
    let gone = "pid:0123456789abcdef0123456789abcdef:42";
    let e = call_err(&client, "threat_graph_get_vertices", json!({"ids": [gone]})).await;
    assert!(
        e.to_lowercase().contains("not found") && e.contains(gone),
        "{e}"
    );
    let e = call_err(
        &client,
        "threat_graph_get_summary",
        json!({"ids": [gone], "vertex_type": "module"}),
    )
    .await;
    assert!(e.contains(gone), "{e}");
    let e = call_err(
        &client,
        "threat_graph_get_edges",
        json!({"id": gone, "edge_type": "dns"}),
    )
    .await;
    assert!(
        e.to_lowercase().contains("not found") && e.contains(gone),
        "{e}"
    );
    let s = ok_json(
        &call(
            &client,
            "threat_graph_ran_on",
            json!({"value": KNOWN_BAD_DOMAIN, "limit": 1}),
        )
        .await,
    );
    let pid = processes(&s)[0]["id"].as_str().unwrap().to_string();
    let e = call_err(
        &client,
        "threat_graph_get_edges",
        json!({"id": pid, "edge_type": "no_such_edge"}),
    )
    .await;
    assert!(e.contains("no_such_edge") && e.contains(EDGE_TYPES), "{e}");
    client.cancel().await.unwrap();
    sim.shutdown().await;

    let e = missing_scope_error(
        &["hosts:read"],
        &["--modules", "threat_graph"],
        "threat_graph_ran_on",
        json!({"value": KNOWN_BAD_SHA256}),
    )
    .await;
    assert!(e.contains("`Threatgraph:read`"), "{e}");
}
