//! One investigation thread across groups, as an analyst (or an agent) would follow it: an alert
//! carrying the known-bad hash → its host → the host's open vulnerabilities → where the hash ran
//! in Threat Graph → what Intel knows about it → a case with the alert as evidence. Every step
//! uses only what the previous steps returned, so the simulator's cross-links are what is tested.

use falcon_sim::{KNOWN_BAD_SHA256, KNOWN_HOSTNAME};
use serde_json::{Value, json};

use crate::support::*;

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_alert_leads_through_host_vulnerabilities_graph_and_intel_to_a_case() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_against(
        &sim,
        &[
            "--allow-writes",
            "--modules",
            "detections,hosts,spotlight,threat_graph,intel,cases",
        ],
        work.path(),
    )
    .await;

    // 1. The alert: the known-bad hash on the known host.
    let filter = format!("sha256:'{KNOWN_BAD_SHA256}'");
    let alerts = ok_json(
        &call(
            &client,
            "detections_search",
            json!({"hostname": KNOWN_HOSTNAME, "filter": filter, "limit": 5}),
        )
        .await,
    );
    let alert = &alerts["results"][0];
    assert_eq!(alert["sha256"], KNOWN_BAD_SHA256, "{alerts}");
    assert_eq!(alert["device"]["hostname"], KNOWN_HOSTNAME, "{alerts}");
    let composite_id = alert["composite_id"].as_str().unwrap().to_string();
    let second_alert = alerts["results"][1]["composite_id"]
        .as_str()
        .map(String::from);
    let aid = alert["device"]["device_id"].as_str().unwrap().to_string();

    // 2. Its host.
    let host = ok_json(&call(&client, "hosts_get", json!({"ids": [aid]})).await);
    assert_eq!(host["hosts"][0]["hostname"], KNOWN_HOSTNAME, "{host}");

    // 3. The host's open vulnerabilities, worst first.
    let vulns = ok_json(&call(&client, "spotlight_host_vulns", json!({"host": aid})).await);
    assert_eq!(vulns["aid"], aid.as_str(), "{vulns}");
    let findings = vulns["vulnerabilities"].as_array().unwrap();
    assert!(!findings.is_empty(), "{vulns}");
    assert!(findings.iter().all(|f| f["status"] == "open"), "{vulns}");
    let host_cves: Vec<String> = findings
        .iter()
        .filter_map(|f| f["cve"].as_str().map(String::from))
        .collect();

    // 4. Where the hash ran: the alert's host is among them (following the cursor).
    let mut args = json!({"value": KNOWN_BAD_SHA256, "limit": 100});
    let mut seen_on_host = false;
    for _ in 0..10 {
        let graph = ok_json(&call(&client, "threat_graph_ran_on", args.clone()).await);
        assert_eq!(graph["indicator"]["type"], "sha256", "{graph}");
        seen_on_host |= graph["devices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["device_id"] == aid.as_str());
        match graph["next"].as_str() {
            Some(cursor) if !seen_on_host => args["cursor"] = json!(cursor),
            _ => break,
        }
    }
    assert!(
        seen_on_host,
        "Threat Graph does not place the hash on {aid}"
    );

    // 5. What Intel knows: the hash is a known loader that exploits this host's CVEs.
    let intel = ok_json(
        &call(
            &client,
            "intel_search_indicators",
            json!({"indicator": KNOWN_BAD_SHA256}),
        )
        .await,
    );
    let indicator = &intel["results"][0];
    assert_eq!(indicator["indicator"], KNOWN_BAD_SHA256, "{intel}");
    let exploited = strs(&indicator["vulnerabilities"]);
    assert!(
        exploited.iter().any(|c| host_cves.contains(c)),
        "the indicator's CVEs {exploited:?} should include one of the host's {host_cves:?}"
    );
    let actor = strs(&indicator["actors"])
        .into_iter()
        .next()
        .expect("an actor");
    let techniques = ok_json(&call(&client, "intel_get_techniques", json!({"actor": actor})).await);
    assert!(
        techniques.to_string().contains("T1"),
        "the actor's ATT&CK techniques: {techniques}"
    );

    // 6. A case with the alert as evidence, then the second alert added to it.
    let case = ok_json(
        &call(
            &client,
            "cases_create",
            json!({"name": "invoice.exe loader on WS-FIN-042", "severity": 80, "alert_ids": [composite_id]}),
        )
        .await,
    );
    assert_eq!(
        case["alerts"][0]["composite_id"],
        composite_id.as_str(),
        "{case}"
    );
    let case_id = case["case"]["id"].as_str().unwrap().to_string();
    if let Some(second) = second_alert {
        ok_json(
            &call(
                &client,
                "cases_add_alert_evidence",
                json!({"case_id": case_id, "alert_ids": [second]}),
            )
            .await,
        );
        let got = ok_json(&call(&client, "cases_get", json!({"ids": [case_id]})).await);
        let text = got.to_string();
        assert!(
            text.contains(&composite_id) && text.contains(&second),
            "{got}"
        );
    }
    client.cancel().await.ok();
    sim.shutdown().await;
}
