//! `detections` extensions end to end (see main.rs): `detections_analyze_alert` routes by the
//! kind of alert — NG-SIEM alerts bring the events their rule matched (indicator → detection →
//! events), endpoint alerts their EDR behaviors and process tree from the sensor's telemetry,
//! cloud, identity and third-party alerts their payload — and an enrichment the API client may
//! not read is a note, not a failure.

use falcon_sim::{KNOWN_BAD_IP, KNOWN_BAD_SHA256, KNOWN_HOSTNAME, KNOWN_USER};
use serde_json::{Value, json};

use crate::support::*;

type Client = rmcp::service::RunningService<rmcp::RoleClient, ()>;

/// The first alert `detections_search` finds for `args` whose display name is `name` (any name
/// when empty).
async fn find(client: &Client, args: Value, name: &str) -> Value {
    let mut args = args;
    args["limit"] = json!(100);
    let s = ok_json(&call(client, "detections_search", args.clone()).await);
    s["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| name.is_empty() || a["display_name"] == name)
        .unwrap_or_else(|| panic!("no `{name}` alert for {args}: {s}"))
        .clone()
}

fn id(a: &Value) -> String {
    a["composite_id"].as_str().unwrap().to_string()
}

async fn analyze(client: &Client, id: &str) -> (Value, String) {
    let r = call(client, "detections_analyze_alert", json!({ "id": id })).await;
    (ok_json(&r), text(&r))
}

/// Each kind of alert gets its own enrichment, with the tenant's real data.
#[tokio::test(flavor = "multi_thread")]
async fn analysis_routes_by_alert_type() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_against(&sim, &["--modules", "detections"], work.path()).await;

    // NG-SIEM: the brute force on the known host, and the failed logons from the known-bad IP
    // its rule matched — found through the indicator event's detection id.
    let brute = find(
        &client,
        json!({"product": "ngsiem", "hostname": KNOWN_HOSTNAME}),
        "Brute force followed by successful logon",
    )
    .await;
    sim.clear_requests();
    let (s, t) = analyze(&client, &id(&brute)).await;
    let e = &s["enrichment"];
    assert_eq!(e["kind"], "ngsiem", "{s}");
    assert_eq!(s["host"]["hostname"], KNOWN_HOSTNAME);
    let rel = &e["related_events"];
    let indicator = id(&brute).rsplit(':').next().unwrap().to_string();
    assert_eq!(rel["indicator_id"], indicator.as_str());
    assert!(
        rel["queries"][0].as_str().unwrap().contains(&indicator),
        "{rel}"
    );
    let detection = rel["detection_id"].as_str().unwrap();
    let events = rel["events"].as_array().unwrap();
    assert!(events.len() >= 4, "{rel}");
    assert!(
        events
            .iter()
            .all(|ev| ev["Ngsiem.detection.id"] == detection),
        "{rel}"
    );
    assert!(
        events
            .iter()
            .any(|ev| ev["#event_simpleName"] == "UserLogonFailed2"
                && ev["RemoteAddressIP4"] == KNOWN_BAD_IP
                && ev["ComputerName"] == KNOWN_HOSTNAME),
        "{rel}"
    );
    let times: Vec<i64> = events
        .iter()
        .map(|ev| ev["@timestamp"].as_i64().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "oldest first: {times:?}"
    );
    assert!(t.contains("related NG-SIEM event(s)"), "{t}");
    assert_eq!(count_op(&sim, "StartSearchV1"), 2);
    assert_eq!(count_op(&sim, "StopSearchV1"), 2, "both jobs are freed");
    // `events` caps what comes back.
    let s = ok_json(
        &call(
            &client,
            "detections_analyze_alert",
            json!({"id": id(&brute), "events": 2}),
        )
        .await,
    );
    assert_eq!(
        s["enrichment"]["related_events"]["events"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Endpoint: the beacon with the known-bad hash on the known host — its behaviors, its
    // lineage, and from telemetry the children it started and the C2 address it contacted.
    let beacon = find(
        &client,
        json!({"product": "epp", "hostname": KNOWN_HOSTNAME, "filter": format!("sha256:'{KNOWN_BAD_SHA256}'")}),
        "CobaltStrikeBeacon",
    )
    .await;
    let full =
        ok_json(&call(&client, "detections_get", json!({"ids": [id(&beacon)]})).await)["alerts"][0]
            .clone();
    let (s, t) = analyze(&client, &id(&beacon)).await;
    let e = &s["enrichment"];
    assert_eq!(e["kind"], "endpoint", "{s}");
    assert!(e.get("notes").is_none(), "{s}");
    let behaviors = e["behaviors"].as_array().unwrap();
    assert!(behaviors.iter().any(|b| b["this_alert"] == true), "{s}");
    let tree = &e["process_tree"];
    assert_eq!(tree["lineage"][0]["role"], "grandparent");
    assert_eq!(
        tree["lineage"][1]["filename"],
        full["parent_details"]["filename"]
    );
    let trig = &tree["triggering"];
    assert_eq!(trig["sha256"], KNOWN_BAD_SHA256);
    assert_eq!(trig["process_id"], full["process_id"]);
    let children = trig["children"].as_array().unwrap();
    assert!(!children.is_empty(), "{tree}");
    assert!(children.iter().all(|c| c["cmdline"].is_string()), "{tree}");
    assert!(
        trig["network_connections"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["remote_ip"] == KNOWN_BAD_IP),
        "{tree}"
    );
    assert!(
        tree["telemetry_query"]
            .as_str()
            .unwrap()
            .contains(full["process_id"].as_str().unwrap())
    );
    assert!(t.contains("child process(es)"), "{t}");

    // Cloud: account, resource, policy and remediation from the payload; no host, no search.
    let cloud = find(&client, json!({"product": "cwpp"}), "").await;
    sim.clear_requests();
    let (s, t) = analyze(&client, &id(&cloud)).await;
    let e = &s["enrichment"];
    assert_eq!(e["kind"], "cloud", "{s}");
    let p = &e["payload"];
    for k in [
        "cloud_provider",
        "cloud_account_id",
        "resource_id",
        "policy_name",
        "remediation",
    ] {
        assert!(!p[k].is_null(), "{k}: {p}");
    }
    assert!(
        p.get("composite_id").is_none() && p.get("show_in_ui").is_none(),
        "{p}"
    );
    assert!(s["host"].is_null(), "{s}");
    assert!(t.contains("cloud account"), "{t}");
    assert_eq!(count_op(&sim, "StartSearchV1"), 0);
    assert_eq!(count_op(&sim, "PostDeviceDetailsV2"), 0);

    // Identity: the Kerberoasting from the known user's workstation.
    let kerb = find(
        &client,
        json!({"product": "idp", "hostname": KNOWN_HOSTNAME}),
        "Kerberoasting",
    )
    .await;
    let (s, _) = analyze(&client, &id(&kerb)).await;
    let e = &s["enrichment"];
    assert_eq!(e["kind"], "identity", "{s}");
    assert_eq!(e["payload"]["source_account_name"], KNOWN_USER);
    assert!(
        e["payload"]["target_service"]
            .as_str()
            .unwrap()
            .starts_with("MSSQLSvc/"),
        "{s}"
    );
    assert_eq!(s["host"]["hostname"], KNOWN_HOSTNAME);

    // Third party: the phishing mail that delivered the known-bad hash.
    let phish = find(
        &client,
        json!({"product": "thirdparty", "filter": format!("sha256:'{KNOWN_BAD_SHA256}'")}),
        "Malicious attachment delivered",
    )
    .await;
    let (s, _) = analyze(&client, &id(&phish)).await;
    let e = &s["enrichment"];
    assert_eq!(e["kind"], "thirdparty", "{s}");
    assert_eq!(e["payload"]["source_vendors"], json!(["Proofpoint"]));
    assert!(e["payload"]["email_subject"].is_string(), "{s}");
    assert!(e["note"].as_str().unwrap().contains("originating platform"));
    // No host of its own: related by the attachment's hash, which many endpoints ran.
    let related = s["related"]["results"].as_array().unwrap();
    assert!(!related.is_empty(), "{s}");
    assert!(
        related.iter().all(|r| r["sha256"] == KNOWN_BAD_SHA256),
        "{s}"
    );
    assert!(s["related"]["total"].as_u64().unwrap() > 3, "{s}");

    // Bad arguments.
    for (args, needle) in [
        (json!({"id": id(&brute), "events": 0}), "events"),
        (json!({"id": id(&brute), "events": 51}), "events"),
        (json!({"id": "ngsiem:1"}), "`ngsiem:1`"),
    ] {
        let e = call_err(&client, "detections_analyze_alert", args).await;
        assert!(e.contains(needle), "{needle}: {e}");
    }
    client.cancel().await.unwrap();
    sim.shutdown().await;
}

/// An API client without `NGSIEM:read` (or `Incidents:read`) still gets the analysis: the
/// missing enrichment is a note naming the scope to add.
#[tokio::test(flavor = "multi_thread")]
async fn enrichment_without_its_scope_is_a_note() {
    let sim =
        sim_with_limited_client(&["alerts:read", "hosts:read", "incidents:read"], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_as(
        &sim,
        &["--modules", "detections"],
        work.path(),
        LIMITED_CLIENT_ID,
        LIMITED_CLIENT_SECRET,
    )
    .await;
    let brute = find(
        &client,
        json!({"product": "ngsiem", "hostname": KNOWN_HOSTNAME}),
        "Brute force followed by successful logon",
    )
    .await;
    let (s, t) = analyze(&client, &id(&brute)).await;
    let e = &s["enrichment"];
    assert!(e.get("related_events").is_none(), "{s}");
    let note = e["notes"][0].as_str().unwrap();
    assert!(
        note.contains("NG-SIEM events unavailable") && note.contains("`NGSIEM:read`"),
        "{note}"
    );
    assert!(t.contains("unavailable, see notes"), "{t}");
    assert_eq!(s["alert"]["composite_id"], id(&brute).as_str());

    let beacon = find(
        &client,
        json!({"product": "epp", "hostname": KNOWN_HOSTNAME, "filter": format!("sha256:'{KNOWN_BAD_SHA256}'")}),
        "CobaltStrikeBeacon",
    )
    .await;
    let (s, _) = analyze(&client, &id(&beacon)).await;
    let e = &s["enrichment"];
    assert!(!e["behaviors"].as_array().unwrap().is_empty(), "{s}");
    assert_eq!(e["process_tree"]["triggering"]["sha256"], KNOWN_BAD_SHA256);
    let note = e["notes"][0].as_str().unwrap();
    assert!(
        note.contains("process telemetry unavailable") && note.contains("`NGSIEM:read`"),
        "{note}"
    );
    client.cancel().await.unwrap();

    let sim2 = sim_with_limited_client(&["alerts:read", "hosts:read"], |_| {}).await;
    let client = serve_as(
        &sim2,
        &["--modules", "detections"],
        work.path(),
        LIMITED_CLIENT_ID,
        LIMITED_CLIENT_SECRET,
    )
    .await;
    let (s, _) = analyze(&client, &id(&beacon)).await;
    let notes = s["enrichment"]["notes"].to_string();
    assert!(
        notes.contains("EDR behaviors unavailable") && notes.contains("`Incidents:read`"),
        "{notes}"
    );
    client.cancel().await.unwrap();
    sim.shutdown().await;
    sim2.shutdown().await;
}
