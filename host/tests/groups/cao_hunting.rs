//! `cao_hunting` end to end (see main.rs): every tool of the group through the real binary and
//! the simulator — hunting queries for the tenant's own values (the known-bad hash's hunt runs as
//! is through `ngsiem_query` and finds the tenant's events), filters, free text and paging, full
//! queries with their SPL translation, guides and the queries they list, aggregations, the FQL
//! guide, and each tool's error paths (bad argument, not found, missing scope). The group has no
//! write tools.

use falcon_sim::KNOWN_BAD_SHA256;
use rmcp::model::ReadResourceRequestParams;
use serde_json::{Value, json};

use crate::support::*;

const GUIDE: &str = "falcon://fql/cao-hunting";
const UNKNOWN_ID: &str = "0123456789abcdef0123456789abcdef";

fn results(s: &Value) -> &Vec<Value> {
    s["results"].as_array().unwrap_or_else(|| panic!("{s}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn read_tools_and_their_errors() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_against(&sim, &["--modules", "cao_hunting,ngsiem"], work.path()).await;

    // cao_hunting_search_queries: free text finds the hunt for the tenant's known-bad hash.
    let s = ok_json(
        &call(
            &client,
            "cao_hunting_search_queries",
            json!({"text": KNOWN_BAD_SHA256}),
        )
        .await,
    );
    assert_eq!(s["total"], 1, "{s}");
    let hunt = &results(&s)[0];
    let content = hunt["content"].as_str().unwrap().to_string();
    assert!(content.contains(KNOWN_BAD_SHA256), "{hunt}");
    assert_eq!(hunt["language"], "cql");
    let actor = hunt["adversaries"][0].as_str().unwrap().to_string();
    let guide_id = hunt["hunting_guides"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The hunt's CQL runs as written and finds the tenant's events.
    let events = ok_json(
        &call(
            &client,
            "ngsiem_query",
            json!({"query": content, "start": "7d"}),
        )
        .await,
    );
    assert!(!results(&events).is_empty(), "{events}");
    // By technique, language and actor; every result obeys.
    let s = ok_json(
        &call(
            &client,
            "cao_hunting_search_queries",
            json!({"technique": "t1003.001", "language": "CQL"}),
        )
        .await,
    );
    assert_eq!(s["total"], 1, "{s}");
    let lsass = results(&s)[0]["id"].as_str().unwrap().to_string();
    assert_eq!(results(&s)[0]["mitre_technique_ids"], json!(["T1003.001"]));
    let s = ok_json(
        &call(
            &client,
            "cao_hunting_search_queries",
            json!({"adversary": actor, "limit": 100}),
        )
        .await,
    );
    assert!(!results(&s).is_empty(), "{s}");
    assert!(
        results(&s).iter().all(|q| q["adversaries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == actor.as_str())),
        "{s}"
    );
    // Paging.
    let all = ok_json(&call(&client, "cao_hunting_search_queries", json!({"limit": 100})).await);
    let total = all["total"].as_u64().unwrap();
    assert!(total >= 8, "{all}");
    let page = ok_json(&call(&client, "cao_hunting_search_queries", json!({"limit": 2})).await);
    assert_eq!((results(&page).len(), page["next"].clone()), (2, json!(2)));

    // cao_hunting_get_queries: full records; SPL only when asked.
    let s = ok_json(&call(&client, "cao_hunting_get_queries", json!({"ids": [lsass]})).await);
    let q = &s["queries"][0];
    assert!(q["content"].as_str().unwrap().contains("MiniDump"), "{q}");
    assert_eq!(q["mitre"][0]["tactic_id"], "TA0006");
    assert!(q.get("translations").is_none(), "{q}");
    let s = ok_json(
        &call(
            &client,
            "cao_hunting_get_queries",
            json!({"ids": [lsass], "spl": true}),
        )
        .await,
    );
    let t = &s["queries"][0]["translations"][0];
    assert_eq!(t["language"], "SPL", "{s}");
    assert!(t["content"].as_str().unwrap().contains("comsvcs"), "{t}");
    let e = call_err(
        &client,
        "cao_hunting_get_queries",
        json!({"ids": [lsass, UNKNOWN_ID]}),
    )
    .await;
    assert!(e.contains(UNKNOWN_ID) && !e.contains(&lsass), "{e}");
    let e = call_err(&client, "cao_hunting_get_queries", json!({"ids": ["a/b"]})).await;
    assert!(e.contains("`a/b`"), "{e}");

    // Guides: the hash hunt's guide lists it back; by tactic.
    let s = ok_json(
        &call(
            &client,
            "cao_hunting_get_guides",
            json!({"ids": [guide_id]}),
        )
        .await,
    );
    let g = &s["guides"][0];
    assert!(
        g["queries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == hunt["id"]),
        "{g}"
    );
    let s = ok_json(
        &call(
            &client,
            "cao_hunting_search_guides",
            json!({"category": "Credential Access"}),
        )
        .await,
    );
    assert_eq!(s["total"], 1, "{s}");
    let cred = &results(&s)[0];
    assert!(
        cred["queries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == lsass.as_str()),
        "{cred}"
    );
    let s = ok_json(
        &call(
            &client,
            "cao_hunting_search_guides",
            json!({"technique": "T1003.001"}),
        )
        .await,
    );
    assert_eq!(results(&s)[0]["id"], cred["id"], "{s}");
    let e = call_err(
        &client,
        "cao_hunting_get_guides",
        json!({"ids": [UNKNOWN_ID]}),
    )
    .await;
    assert!(e.contains(UNKNOWN_ID), "{e}");

    // cao_hunting_aggregate: counts add up to the total; distinct actors; by month.
    let s = ok_json(
        &call(
            &client,
            "cao_hunting_aggregate",
            json!({"of": "queries", "field": "environment"}),
        )
        .await,
    );
    let buckets = s["buckets"].as_array().unwrap();
    assert_eq!(buckets[0]["label"], "Windows", "{s}");
    let counted: u64 = buckets.iter().map(|b| b["count"].as_u64().unwrap()).sum();
    assert_eq!(counted, total, "{s}");
    let s = ok_json(
        &call(
            &client,
            "cao_hunting_aggregate",
            json!({"of": "queries", "field": "adversaries", "type": "cardinality"}),
        )
        .await,
    );
    assert!(s["value"].as_u64().unwrap() >= 1, "{s}");
    let s = ok_json(
        &call(
            &client,
            "cao_hunting_aggregate",
            json!({"of": "queries", "field": "created_at", "type": "date_histogram", "interval": "month"}),
        )
        .await,
    );
    let months: u64 = s["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .sum();
    assert_eq!(months, total, "{s}");
    let s = ok_json(
        &call(
            &client,
            "cao_hunting_aggregate",
            json!({"of": "guides", "field": "category.name", "filter": "environments:'Linux'"}),
        )
        .await,
    );
    assert!(!s["buckets"].as_array().unwrap().is_empty(), "{s}");
    let r = call(
        &client,
        "cao_hunting_aggregate",
        json!({"of": "guides", "field": "no_such_field"}),
    )
    .await;
    assert!(text(&r).contains("unknown field"), "{}", text(&r));
    let e = call_err(
        &client,
        "cao_hunting_aggregate",
        json!({"of": "queries", "field": "a b"}),
    )
    .await;
    assert!(e.contains("field"), "{e}");
    let e = call_err(
        &client,
        "cao_hunting_aggregate",
        json!({"of": "hunts", "field": "name"}),
    )
    .await;
    assert!(e.contains("hunts") || e.contains("of"), "{e}");

    // Bad arguments and the guide.
    let e = call_err(
        &client,
        "cao_hunting_search_queries",
        json!({"language": "kql"}),
    )
    .await;
    assert!(e.contains("cql"), "{e}");
    let e = call_err(
        &client,
        "cao_hunting_search_queries",
        json!({"sort": "content.asc"}),
    )
    .await;
    assert!(e.contains("last_updated_at"), "{e}");
    let e = call_err(
        &client,
        "cao_hunting_search_queries",
        json!({"filter": "no_such_field:'x'"}),
    )
    .await;
    assert!(e.contains(GUIDE), "{e}");
    let read = client
        .read_resource(ReadResourceRequestParams::new(GUIDE))
        .await
        .unwrap();
    let body = serde_json::to_string(&read).unwrap();
    assert!(body.contains("mitre_technique_ids"), "{body}");
    client.cancel().await.unwrap();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_scope_is_named() {
    let e = missing_scope_error(
        &["ngsiem:read"],
        &["--modules", "cao_hunting"],
        "cao_hunting_search_guides",
        json!({}),
    )
    .await;
    assert!(e.contains("`CAO Hunting:read`"), "{e}");
}
