//! `cloud` end to end (see main.rs): every tool of the group through the real binary and the
//! simulator — registered accounts with the broken one's problem, policy settings, risks ranked
//! by score, IOMs with their remediation, assets (EC2 instances that are the tenant's hosts),
//! full asset records, compliance per account and region; each tool's error paths (bad
//! argument, not found, missing scope). The group has no write tools.

use rmcp::model::ReadResourceRequestParams;
use serde_json::{Value, json};

use crate::support::*;

const GUIDE: &str = "falcon://fql/cloud";

fn results(s: &Value) -> &Vec<Value> {
    s["results"].as_array().unwrap_or_else(|| panic!("{s}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn read_tools_and_their_errors() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_against(&sim, &["--modules", "cloud,hosts"], work.path()).await;

    // cloud_list_accounts: all three clouds; the account that lost its role says why.
    let s = ok_json(&call(&client, "cloud_list_accounts", json!({})).await);
    let accounts = s["accounts"].as_array().unwrap();
    for p in ["aws", "azure", "gcp"] {
        assert!(accounts.iter().any(|a| a["provider"] == p), "{p}: {s}");
    }
    let broken: Vec<&Value> = accounts
        .iter()
        .filter(|a| a["operational"] == false)
        .collect();
    assert_eq!(broken.len(), 1, "{s}");
    assert!(
        broken[0]["problems"][0]
            .as_str()
            .unwrap()
            .contains("could not assume"),
        "{s}"
    );
    let s = ok_json(&call(&client, "cloud_list_accounts", json!({"provider": "azure"})).await);
    assert!(
        s["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["provider"] == "azure")
    );
    let s = ok_json(
        &call(
            &client,
            "cloud_list_accounts",
            json!({"status": "provisioned", "provider": "aws"}),
        )
        .await,
    );
    assert_eq!(s["accounts"].as_array().unwrap().len(), 1, "{s}");
    let e = call_err(
        &client,
        "cloud_list_accounts",
        json!({"provider": "oracle"}),
    )
    .await;
    assert!(e.contains("provider") || e.contains("oracle"), "{e}");

    // cloud_policy_settings: by platform and service; an unknown policy is not found.
    let s = ok_json(
        &call(
            &client,
            "cloud_policy_settings",
            json!({"provider": "azure", "service": "KeyVault"}),
        )
        .await,
    );
    let p = &s["policies"][0];
    assert_eq!(
        (p["policy_id"].clone(), p["provider"].clone()),
        (json!(2003), json!("azure")),
        "{s}"
    );
    assert!(p["benchmarks"][0].as_str().unwrap().contains("CIS"), "{s}");
    let e = call_err(&client, "cloud_policy_settings", json!({"policy_id": 9})).await;
    assert!(
        e.to_lowercase().contains("not found") && e.contains('9'),
        "{e}"
    );
    let e = call_err(&client, "cloud_policy_settings", json!({"service": "Nope"})).await;
    assert!(e.contains("Nope"), "{e}");

    // cloud_search_risks: open risks, highest score first; narrowed by provider.
    let s = ok_json(&call(&client, "cloud_search_risks", json!({"limit": 5})).await);
    let scores: Vec<u64> = results(&s)
        .iter()
        .map(|r| r["score"].as_u64().unwrap())
        .collect();
    assert!(
        !scores.is_empty() && scores.windows(2).all(|w| w[0] >= w[1]),
        "{s}"
    );
    assert!(results(&s).iter().all(|r| r["status"] == "open"));
    assert!(s["total"].as_u64().unwrap() >= scores.len() as u64);
    let s = ok_json(
        &call(
            &client,
            "cloud_search_risks",
            json!({"provider": "gcp", "status": "all"}),
        )
        .await,
    );
    assert!(results(&s).iter().all(|r| r["provider"] == "gcp"), "{s}");
    let e = call_err(
        &client,
        "cloud_search_risks",
        json!({"filter": "nonsense:'x'"}),
    )
    .await;
    assert!(e.contains(GUIDE), "{e}");

    // cloud_search_ioms: high-severity AWS misconfigurations with their remediation, paged.
    let s = ok_json(
        &call(
            &client,
            "cloud_search_ioms",
            json!({"provider": "aws", "severity": "high", "limit": 2}),
        )
        .await,
    );
    let ioms = results(&s);
    assert_eq!(ioms.len(), 2, "{s}");
    for i in ioms {
        assert_eq!(i["cloud"]["provider"], "aws");
        assert_eq!(i["evaluation"]["severity"], "High");
        assert!(
            i["evaluation"]["rule"]["remediation"]
                .as_str()
                .unwrap()
                .starts_with("Step 1."),
            "{i}"
        );
    }
    assert_eq!(s["next"], 2);
    let s2 = ok_json(
        &call(
            &client,
            "cloud_search_ioms",
            json!({"provider": "aws", "severity": "high", "limit": 2, "offset": 2}),
        )
        .await,
    );
    assert_ne!(results(&s2).first().map(|i| &i["id"]), Some(&ioms[0]["id"]));
    let e = call_err(&client, "cloud_search_ioms", json!({"sort": "secret|asc"})).await;
    assert!(e.contains("last_detected"), "{e}");
    let e = call_err(&client, "cloud_search_ioms", json!({"account_id": "12 34"})).await;
    assert!(e.contains("account id"), "{e}");

    // cloud_search_assets: the EC2 instances are the tenant's EC2 hosts, with their AID.
    let s = ok_json(
        &call(
            &client,
            "cloud_search_assets",
            json!({"resource_type": "AWS::EC2::Instance", "limit": 100}),
        )
        .await,
    );
    let with_host: Vec<&Value> = results(&s)
        .iter()
        .filter(|a| a["cloud_context"]["host"]["aid"].is_string())
        .collect();
    assert!(!with_host.is_empty(), "{s}");
    let instance = with_host[0];
    assert_eq!(instance["cloud_context"]["has_falcon_sensor"], true);
    let name = instance["resource_name"].as_str().unwrap();
    assert_eq!(
        aid_of(&client, name).await,
        instance["cloud_context"]["host"]["aid"].as_str().unwrap()
    );
    let s = ok_json(&call(&client, "cloud_search_assets", json!({"exposed": true})).await);
    assert!(
        results(&s).iter().all(|a| a["publicly_exposed"] == true),
        "{s}"
    );

    // cloud_get_assets: the full record; an unknown id is named.
    let id = instance["id"].as_str().unwrap();
    let s = ok_json(&call(&client, "cloud_get_assets", json!({"ids": [id]})).await);
    let full = &s["assets"][0];
    assert_eq!(full["id"], id);
    assert!(
        full["gcrn"].as_str().unwrap().starts_with("crn:aws:"),
        "{s}"
    );
    assert!(full["cloud_context"]["detections"].is_object(), "{s}");
    let e = call_err(&client, "cloud_get_assets", json!({"ids": [id, "nope"]})).await;
    assert!(e.contains("nope") && !e.contains(id), "{e}");

    // cloud_compliance_by_account: per account and region, lowest pass rate first.
    let s = ok_json(&call(&client, "cloud_compliance_by_account", json!({})).await);
    let rows = s["accounts"].as_array().unwrap();
    assert!(rows.len() >= 3, "{s}");
    let rates: Vec<f64> = rows
        .iter()
        .map(|r| r["pass_rate"].as_f64().unwrap())
        .collect();
    assert!(rates.windows(2).all(|w| w[0] <= w[1]), "{rates:?}");
    assert!(
        rows[0]["failing"].as_array().is_some_and(|f| !f.is_empty()),
        "{s}"
    );
    let s = ok_json(
        &call(
            &client,
            "cloud_compliance_by_account",
            json!({"provider": "azure", "framework": "CIS Microsoft Azure Foundations"}),
        )
        .await,
    );
    assert!(
        s["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["provider"] == "azure"),
        "{s}"
    );

    let read = client
        .read_resource(ReadResourceRequestParams::new(GUIDE))
        .await
        .unwrap();
    let body = serde_json::to_string(&read).unwrap();
    assert!(
        body.contains("publicly_exposed") && body.contains("rule_name"),
        "{body}"
    );
    client.cancel().await.unwrap();
    sim.shutdown().await;
}

/// Each area's tools name the console scope to add.
#[tokio::test(flavor = "multi_thread")]
async fn missing_scopes_are_named() {
    let sim = sim_with_limited_client(&["cloud-security-assets:read"], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_as(
        &sim,
        &["--modules", "cloud"],
        work.path(),
        LIMITED_CLIENT_ID,
        LIMITED_CLIENT_SECRET,
    )
    .await;
    for (tool, args, scope) in [
        ("cloud_list_accounts", json!({}), "CSPM registration:read"),
        ("cloud_policy_settings", json!({}), "CSPM registration:read"),
        (
            "cloud_search_risks",
            json!({}),
            "Cloud Security API Risks:read",
        ),
        (
            "cloud_search_ioms",
            json!({}),
            "Cloud Security API Detections:read",
        ),
    ] {
        let e = call_err(&client, tool, args).await;
        assert!(e.contains(&format!("`{scope}`")), "{tool}: {e}");
    }
    // Assets and compliance need only the assets scope this client holds.
    ok_json(&call(&client, "cloud_search_assets", json!({"limit": 1})).await);
    ok_json(&call(&client, "cloud_compliance_by_account", json!({})).await);
    client.cancel().await.unwrap();
    sim.shutdown().await;
    let e = missing_scope_error(
        &["cspm-registration:read"],
        &["--modules", "cloud"],
        "cloud_get_assets",
        json!({"ids": ["x"]}),
    )
    .await;
    assert!(e.contains("`Cloud Security API Assets:read`"), "{e}");
}
