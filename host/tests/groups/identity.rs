//! `identity` end to end (see main.rs): every tool of the group through the real binary and
//! the simulator's GraphQL endpoint — the known user is found by account, display name, email,
//! UUID and domain, high risk, tied to the known host, with open incidents and the password
//! spray from the known-bad IP on her timeline; the host and the IP investigated too; entities
//! ranked by risk with cursors; the documents sent are the plugin's fixed ones whatever the
//! input; each tool's error paths (bad argument, not found, missing scopes). No write tools.

use falcon_sim::{KNOWN_BAD_IP, KNOWN_HOSTNAME, KNOWN_USER};
use serde_json::{Value, json};

use crate::support::*;

type Client = rmcp::service::RunningService<rmcp::RoleClient, ()>;

async fn investigate(client: &Client, args: Value) -> Value {
    ok_json(&call(client, "identity_investigate", args).await)
}

fn entity(s: &Value) -> &Value {
    &s["entities"][0]
}

/// The GraphQL documents the simulator received.
fn documents(sim: &falcon_sim::Simulator) -> Vec<String> {
    sim.requests()
        .into_iter()
        .filter(|r| r.operation.as_deref() == Some("api_preempt_proxy_post_graphql"))
        .map(|r| {
            let v: Value = serde_json::from_str(&r.body).unwrap();
            v["query"].as_str().unwrap().to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn investigations_follow_the_known_thread() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_against(&sim, &["--modules", "identity"], work.path()).await;

    // The known user by her account name: high risk, why, her host, her incidents, her timeline.
    let s = investigate(&client, json!({"entity": KNOWN_USER})).await;
    let jane = entity(&s);
    assert_eq!(jane["type"], "USER");
    assert_eq!(jane["primaryDisplayName"], "Jane Doe");
    assert_eq!(jane["riskScoreSeverity"], "HIGH");
    assert!(jane["riskScore"].as_f64().unwrap() >= 0.7, "{s}");
    assert!(!jane["riskFactors"].as_array().unwrap().is_empty(), "{s}");
    assert_eq!(jane["accounts"][0]["samAccountName"], KNOWN_USER);
    assert!(
        jane["related"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == KNOWN_HOSTNAME && r["binding"] == "OWNERSHIP"),
        "{s}"
    );
    let incidents: Vec<&str> = jane["openIncidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    assert!(incidents.contains(&"CREDENTIAL_THEFT"), "{s}");
    let timeline = s["timeline"].as_array().unwrap();
    assert!(!timeline.is_empty() && timeline.len() <= 20, "{s}");
    let times: Vec<&str> = timeline
        .iter()
        .map(|t| t["time"].as_str().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {times:?}"
    );
    assert!(
        timeline
            .iter()
            .any(|t| t["type"] == "FAILED_AUTHENTICATION" && t["ip"] == KNOWN_BAD_IP),
        "{s}"
    );
    let id = jane["entityId"].as_str().unwrap().to_string();

    // The same entity by every other form of name.
    for args in [
        json!({"entity": format!("CORP\\{KNOWN_USER}"), "timeline": 0}),
        json!({"entity": "Jane*", "type": "user", "timeline": 0}),
        json!({"entity": format!("{KNOWN_USER}@corp.example"), "timeline": 0}),
        json!({"entity": id.to_uppercase(), "timeline": 0}),
        json!({"entity": KNOWN_USER, "domain": "corp.example", "timeline": 0}),
    ] {
        let s = investigate(&client, args.clone()).await;
        assert_eq!(entity(&s)["entityId"], id.as_str(), "{args}: {s}");
        assert_eq!(s["timeline"], json!([]), "{args}");
    }

    // The known host: a high-risk endpoint owned by her, with its alerts on its timeline.
    let s = investigate(
        &client,
        json!({"entity": KNOWN_HOSTNAME, "days": 30, "timeline": 100}),
    )
    .await;
    let host = entity(&s);
    assert_eq!(
        (host["type"].clone(), host["riskScoreSeverity"].clone()),
        (json!("ENDPOINT"), json!("HIGH")),
        "{s}"
    );
    assert!(
        host["related"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["entity_id"] == id.as_str()),
        "{s}"
    );
    assert!(
        s["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["category"] == "THREAT" && t["type"].as_str().unwrap().starts_with("ALERT_")),
        "{s}"
    );

    // The spraying address: an unmanaged endpoint named by its IP.
    let s = investigate(&client, json!({"entity": KNOWN_BAD_IP})).await;
    let ip = entity(&s);
    assert_eq!(
        (ip["primaryDisplayName"].clone(), ip["unmanaged"].clone()),
        (json!(KNOWN_BAD_IP), json!(true)),
        "{s}"
    );
    assert!(
        s["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["type"] == "FAILED_AUTHENTICATION"),
        "{s}"
    );

    // Whatever the input, the document sent is the plugin's: the input travels as a variable.
    sim.clear_requests();
    investigate(&client, json!({"entity": KNOWN_USER, "timeline": 0})).await;
    let evil = "x\") { entities { nodes { entityId } } } mutation { y }";
    let e = call_err(
        &client,
        "identity_investigate",
        json!({"entity": evil, "timeline": 0}),
    )
    .await;
    assert!(
        e.to_lowercase().contains("no identity protection entity"),
        "{e}"
    );
    let docs = documents(&sim);
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0], docs[1]);
    assert!(docs[0].trim_start().starts_with("query Resolve(") && !docs[0].contains("mutation"));

    // identity_search_entities: high-risk users, riskiest first, counted, paged by cursor.
    let s = ok_json(
        &call(
            &client,
            "identity_search_entities",
            json!({"type": "user", "min_risk": "high", "limit": 2}),
        )
        .await,
    );
    let page1 = s["results"].as_array().unwrap().clone();
    assert_eq!(page1.len(), 2, "{s}");
    assert!(
        page1
            .iter()
            .all(|e| e["riskScoreSeverity"] == "HIGH" && e["type"] == "USER")
    );
    assert_eq!(
        page1[0]["primaryDisplayName"], "Jane Doe",
        "the riskiest user: {s}"
    );
    let total = s["total"].as_u64().unwrap();
    assert!(total >= 2, "{s}");
    if total > 2 {
        let cursor = s["next"].as_str().unwrap();
        let s2 = ok_json(
            &call(
                &client,
                "identity_search_entities",
                json!({"type": "user", "min_risk": "high", "limit": 2, "cursor": cursor}),
            )
            .await,
        );
        let first2 = &s2["results"][0];
        assert!(
            page1.iter().all(|e| e["entityId"] != first2["entityId"]),
            "{s2}"
        );
        assert!(first2["riskScore"].as_f64() <= page1[1]["riskScore"].as_f64());
    }
    let s = ok_json(
        &call(
            &client,
            "identity_search_entities",
            json!({"name": "SRV-*", "type": "endpoint"}),
        )
        .await,
    );
    assert!(
        s["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["primaryDisplayName"]
                .as_str()
                .unwrap()
                .starts_with("SRV-")),
        "{s}"
    );

    // Errors: nothing to look for, bad forms, nothing found, a bad cursor.
    for (args, want) in [
        (json!({"entity": "*"}), "every entity"),
        (json!({"entity": "jdoe@"}), "email"),
        (
            json!({"entity": KNOWN_USER, "domain": "corp example"}),
            "domain",
        ),
        (json!({"entity": KNOWN_USER, "days": 0}), "days"),
        (json!({}), "entity"),
    ] {
        let e = call_err(&client, "identity_investigate", args.clone()).await;
        assert!(e.contains(want), "{args}: {e}");
    }
    for args in [
        json!({"entity": "nobody-by-this-name"}),
        json!({"entity": KNOWN_USER, "domain": "other.example"}),
    ] {
        let e = call_err(&client, "identity_investigate", args.clone()).await;
        assert!(
            e.to_lowercase().contains("no identity protection entity"),
            "{args}: {e}"
        );
    }
    let e = call_err(
        &client,
        "identity_search_entities",
        json!({"cursor": "bm9wZQ"}),
    )
    .await;
    assert!(e.contains("Invalid cursor"), "{e}");
    let e = call_err(&client, "identity_search_entities", json!({"limit": 101})).await;
    assert!(e.contains("limit"), "{e}");
    client.cancel().await.unwrap();
    sim.shutdown().await;
}

/// The GraphQL write scope alone is not enough: the entity and timeline read scopes are named.
#[tokio::test(flavor = "multi_thread")]
async fn missing_scopes_are_named() {
    let e = missing_scope_error(
        &["identity-protection-graphql:write"],
        &["--modules", "identity"],
        "identity_search_entities",
        json!({}),
    )
    .await;
    assert!(
        e.contains("`Identity Protection GraphQL:write` and `Identity Protection Entities:read`"),
        "{e}"
    );
    let sim = sim_with_limited_client(
        &[
            "identity-protection-graphql:write",
            "identity-protection-entities:read",
        ],
        |_| {},
    )
    .await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_as(
        &sim,
        &["--modules", "identity"],
        work.path(),
        LIMITED_CLIENT_ID,
        LIMITED_CLIENT_SECRET,
    )
    .await;
    let e = call_err(
        &client,
        "identity_investigate",
        json!({"entity": KNOWN_USER}),
    )
    .await;
    assert!(e.contains("`Identity Protection Timeline:read`"), "{e}");
    // Without a timeline the entity read suffices.
    let s = ok_json(
        &call(
            &client,
            "identity_investigate",
            json!({"entity": KNOWN_USER, "timeline": 0}),
        )
        .await,
    );
    assert_eq!(entity(&s)["primaryDisplayName"], "Jane Doe");
    client.cancel().await.unwrap();
    sim.shutdown().await;
    let e = missing_scope_error(
        &["hosts:read"],
        &["--modules", "identity"],
        "identity_investigate",
        json!({"entity": KNOWN_USER}),
    )
    .await;
    assert!(e.contains("Identity Protection GraphQL:write"), "{e}");
}
