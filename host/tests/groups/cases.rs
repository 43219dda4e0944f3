//! `cases` end to end (see main.rs): every tool of the group through the real binary and the
//! simulator — searches and reads over the tenant's seeded cases (built from its alerts, so the
//! known host and hash lead to a case), a case built from an investigation's alerts, events,
//! tags and files, versioned updates refused when stale, and each tool's error paths (bad
//! argument, not found, missing scope, writes disabled, preview without confirm).

use std::path::Path;

use falcon_sim::{KNOWN_BAD_SHA256, KNOWN_HOSTNAME, KNOWN_USER};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::*;

type Client = rmcp::service::RunningService<rmcp::RoleClient, ()>;

/// A well-formed case id no case has.
const UNKNOWN_CASE: &str = "Y2FzZTowMDAwMDAwMDowMDAwMDAwMDAwMDAwMDAw";

const WRITE_TOOLS: &[&str] = &[
    "cases_create",
    "cases_update",
    "cases_add_alert_evidence",
    "cases_add_event_evidence",
    "cases_add_tags",
    "cases_remove_tags",
    "cases_upload_file",
    "cases_add_rtr_file",
];

/// The seeded case on the known host with the known-bad hash, found by its evidence.
async fn known_case(client: &Client) -> Value {
    let s = ok_json(
        &call(
            client,
            "cases_search",
            json!({"filter": format!("sha256s:'{KNOWN_BAD_SHA256}'+hostnames:'{KNOWN_HOSTNAME}'")}),
        )
        .await,
    );
    assert!(s["total"].as_u64().unwrap() >= 1, "{s}");
    let id = s["results"][0]["id"].as_str().unwrap();
    ok_json(&call(client, "cases_get", json!({"ids": [id]})).await)["cases"][0].clone()
}

fn records<'a>(case: &'a Value, path: &str) -> &'a Vec<Value> {
    case.pointer(path)
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("{path} in {case}"))
}

/// The files directory grant for the plugins that move bytes.
fn config(work: &Path) -> String {
    let p = work.join("aerie.toml");
    std::fs::write(
        &p,
        "[plugins.cases]\nfiles = true\n\n[plugins.rtr]\nfiles = true\n\n[rtr]\nmax_tier = \"active-responder\"\n",
    )
    .unwrap();
    p.to_str().unwrap().to_string()
}

/// Read tools with writes disabled: real cases and configuration, bad arguments and unknown ids,
/// the write tools neither listed nor callable.
#[tokio::test(flavor = "multi_thread")]
async fn read_tools_and_their_errors() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_against(&sim, &["--modules", "cases"], work.path()).await;

    // cases_search: every seeded case, newest first, summary fields only.
    let s = ok_json(&call(&client, "cases_search", json!({"limit": 200})).await);
    let all = s["results"].as_array().unwrap().clone();
    assert!(all.len() >= 10 && s["total"] == all.len(), "{s}");
    assert!(all.iter().all(|c| c.get("evidence").is_none()), "{s}");
    assert!(
        all.iter()
            .all(|c| c["reference_id"].as_str().unwrap().starts_with("CAS-")),
        "{s}"
    );
    let created: Vec<&str> = all
        .iter()
        .map(|c| c["created_timestamp"].as_str().unwrap())
        .collect();
    assert!(created.windows(2).all(|w| w[0] >= w[1]), "{created:?}");
    // Typed filters narrow; each result satisfies them.
    let s = ok_json(
        &call(
            &client,
            "cases_search",
            json!({"status": "in_progress", "min_severity": 40, "limit": 200}),
        )
        .await,
    );
    let hits = s["results"].as_array().unwrap();
    assert!(!hits.is_empty() && hits.len() < all.len(), "{s}");
    assert!(
        hits.iter()
            .all(|c| c["status"] == "in_progress" && c["severity"].as_u64().unwrap() >= 40),
        "{s}"
    );
    // Sort and paging.
    let s = ok_json(
        &call(
            &client,
            "cases_search",
            json!({"sort": "severity.desc", "limit": 3}),
        )
        .await,
    );
    let sev: Vec<u64> = s["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["severity"].as_u64().unwrap())
        .collect();
    assert!(
        sev.windows(2).all(|w| w[0] >= w[1]) && sev.len() == 3,
        "{s}"
    );
    assert_eq!(s["next"], 3);

    // The investigation thread: the known host and hash lead to a case with its alerts.
    let known = known_case(&client).await;
    let id = known["id"].as_str().unwrap().to_string();
    let alerts = records(&known, "/evidence/alerts/records");
    assert!(!alerts.is_empty(), "{known}");
    let alert_id = alerts[0]["selector"]["id"].as_str().unwrap().to_string();
    let hosts = records(&known, "/analysis_results/hosts/records");
    assert!(
        hosts.iter().any(|h| h["hostname"] == KNOWN_HOSTNAME),
        "{known}"
    );
    assert!(
        records(&known, "/analysis_results/users/records")
            .iter()
            .any(|u| u["username"] == KNOWN_USER),
        "{known}"
    );
    let aid = hosts[0]["aid"].as_str().unwrap().to_string();
    let uuid = known["assigned_to"]["uuid"].as_str().unwrap().to_string();
    // The same case by alert, by host, by assignee and by free text.
    for args in [
        json!({"alert_id": alert_id}),
        json!({"hostname": KNOWN_HOSTNAME}),
        json!({"assignee": uuid, "limit": 200}),
        json!({"q": "credential_theft"}),
        json!({"tag": "credential_theft"}),
    ] {
        let s = ok_json(&call(&client, "cases_search", args.clone()).await);
        assert!(
            s["results"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["id"] == id.as_str()),
            "{args}: {s}"
        );
    }
    for (args, needle) in [
        (json!({"filter": "no_such_field:'x'"}), "falcon://fql/cases"),
        (json!({"sort": "cid.asc"}), "cannot sort"),
        (json!({"assignee": "bob"}), "user UUID"),
        (json!({"alert_id": "nope"}), "composite alert id"),
        (json!({"limit": 0}), "limit"),
        (json!({"filter": "status:'new' AND severity:>50"}), "AND"),
    ] {
        let e = call_err(&client, "cases_search", args).await;
        assert!(e.contains(needle), "{needle}: {e}");
    }

    // cases_get: unknown, reference ids and malformed ids are named.
    let e = call_err(&client, "cases_get", json!({"ids": [UNKNOWN_CASE]})).await;
    assert!(
        e.contains(UNKNOWN_CASE) && e.to_lowercase().contains("not found"),
        "{e}"
    );
    let e = call_err(&client, "cases_get", json!({"ids": [id, UNKNOWN_CASE]})).await;
    assert!(e.contains(UNKNOWN_CASE) && !e.contains(&id), "{e}");
    let reference = known["reference_id"].as_str().unwrap();
    let e = call_err(&client, "cases_get", json!({"ids": [reference]})).await;
    assert!(e.contains(&format!("reference_id:'{reference}'")), "{e}");
    let s = ok_json(
        &call(
            &client,
            "cases_search",
            json!({"filter": format!("reference_id:'{reference}'")}),
        )
        .await,
    );
    assert_eq!(s["results"][0]["id"], id.as_str(), "{s}");
    let e = call_err(&client, "cases_get", json!({"ids": []})).await;
    assert!(e.contains("ids"), "{e}");

    // cases_list_fields: the tenant's custom fields; a filter narrows.
    let s = ok_json(&call(&client, "cases_list_fields", json!({})).await);
    let fields = s["results"].as_array().unwrap();
    let unit = fields
        .iter()
        .find(|f| f["name"] == "Business unit")
        .expect("Business unit field");
    assert_eq!(unit["input_type"], "dropdown");
    assert!(unit["options"].as_array().unwrap().len() >= 3, "{unit}");
    let s = ok_json(
        &call(
            &client,
            "cases_list_fields",
            json!({"filter": "required:true"}),
        )
        .await,
    );
    assert_eq!(s["total"], 1, "{s}");
    let e = call_err(&client, "cases_list_fields", json!({"limit": 201})).await;
    assert!(e.contains("limit"), "{e}");

    // Access tags: cursor paging, get by id, aggregate.
    let s = ok_json(&call(&client, "cases_search_access_tags", json!({"limit": 2})).await);
    let page1 = s["results"].as_array().unwrap().clone();
    let cursor = s["next"].as_str().expect("a cursor").to_string();
    let s = ok_json(
        &call(
            &client,
            "cases_search_access_tags",
            json!({"limit": 2, "after": cursor}),
        )
        .await,
    );
    let page2 = s["results"].as_array().unwrap();
    assert!(
        !page2.is_empty() && page2.iter().all(|t| !page1.contains(t)),
        "{s}"
    );
    let s = ok_json(
        &call(
            &client,
            "cases_search_access_tags",
            json!({"key": "finance"}),
        )
        .await,
    );
    assert_eq!(s["total"], 1, "{s}");
    let tag_id = s["results"][0]["id"].as_str().unwrap().to_string();
    let s = ok_json(&call(&client, "cases_get_access_tags", json!({"ids": [tag_id]})).await);
    assert_eq!(s["access_tags"][0]["key"], "finance");
    assert_eq!(s["access_tags"][0]["templates"][0]["name"], "IR Standard");
    let e = call_err(
        &client,
        "cases_get_access_tags",
        json!({"ids": ["0f0f0f0f"]}),
    )
    .await;
    assert!(e.contains("0f0f0f0f"), "{e}");
    let e = call_err(
        &client,
        "cases_search_access_tags",
        json!({"after": "not-a-cursor"}),
    )
    .await;
    assert!(e.contains("after"), "{e}");
    let s = ok_json(
        &call(
            &client,
            "cases_aggregate_access_tags",
            json!({"field": "templates.name"}),
        )
        .await,
    );
    let ir = s["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["label"] == "IR Standard")
        .unwrap_or_else(|| panic!("{s}"));
    assert_eq!(ir["count"], 3, "{s}");
    let s = ok_json(
        &call(
            &client,
            "cases_aggregate_access_tags",
            json!({"field": "has_access", "filter": "key:'executive'"}),
        )
        .await,
    );
    assert_eq!(s["buckets"], json!([{"label": "false", "count": 1}]), "{s}");
    let e = call_err(
        &client,
        "cases_aggregate_access_tags",
        json!({"field": "cid"}),
    )
    .await;
    assert!(e.contains("cid") || e.contains("field"), "{e}");

    // cases_rtr_file_metadata: a file on the known host, through RTR, without fetching it.
    let path = format!("C:\\Users\\{KNOWN_USER}\\Downloads\\invoice.exe");
    let s = ok_json(
        &call(
            &client,
            "cases_rtr_file_metadata",
            json!({"host_id": aid, "path": path}),
        )
        .await,
    );
    assert_eq!(s["metadata"]["file_name"], "invoice.exe", "{s}");
    assert!(s["metadata"]["file_size"].as_u64().unwrap() > 0, "{s}");
    let e = call_err(
        &client,
        "cases_rtr_file_metadata",
        json!({"host_id": aid, "path": "C:\\no\\such.exe"}),
    )
    .await;
    assert!(e.contains("C:\\no\\such.exe"), "{e}");
    let e = call_err(
        &client,
        "cases_rtr_file_metadata",
        json!({"host_id": KNOWN_HOSTNAME, "path": path}),
    )
    .await;
    assert!(e.contains("32 hexadecimal"), "{e}");

    // Writes disabled: not listed, refused, nothing sent.
    assert_writes_refused(
        &client,
        &sim,
        WRITE_TOOLS,
        vec![
            ("cases_create", json!({"name": "x", "severity": 50})),
            ("cases_update", json!({"id": id, "status": "closed"})),
            (
                "cases_add_alert_evidence",
                json!({"case_id": id, "alert_ids": [alert_id]}),
            ),
            (
                "cases_add_event_evidence",
                json!({"case_id": id, "event_ids": ["abc"]}),
            ),
            ("cases_add_tags", json!({"case_id": id, "tags": ["x"]})),
            (
                "cases_remove_tags",
                json!({"case_id": id, "tags": ["x"], "confirm": true}),
            ),
            ("cases_upload_file", json!({"case_id": id, "file": "x.txt"})),
            (
                "cases_add_rtr_file",
                json!({"case_id": id, "session_id": "fdd6408f-6688-441b-8659-41bcad25441c", "sha256": KNOWN_BAD_SHA256}),
            ),
        ],
    )
    .await;
    client.cancel().await.unwrap();
    sim.shutdown().await;
}

/// A case built from an investigation: alerts found by detections become evidence (refused
/// when they do not exist), then events, tags, an uploaded file and a file an RTR session
/// pulled; updates move the version, and a stale version is refused without changing anything.
#[tokio::test(flavor = "multi_thread")]
async fn build_a_case_from_an_investigation() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let cfg = config(work.path());
    let client = serve_against(
        &sim,
        &[
            "--modules",
            "cases,detections,rtr,hosts",
            "--allow-writes",
            "--config",
            &cfg,
            "--files-dir",
            files.path().to_str().unwrap(),
        ],
        work.path(),
    )
    .await;
    let names = tool_names(&client).await;
    for t in WRITE_TOOLS {
        assert!(names.iter().any(|n| n == t), "{t} missing: {names:?}");
    }
    // The investigation: alerts on the known host.
    let s = ok_json(
        &call(
            &client,
            "detections_search",
            json!({"hostname": KNOWN_HOSTNAME, "limit": 3}),
        )
        .await,
    );
    let alert_ids: Vec<String> = s["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["composite_id"].as_str().unwrap().to_string())
        .collect();
    assert!(alert_ids.len() >= 2, "{s}");
    // An alert id of the right shape that does not exist.
    let ghost = {
        let mut parts: Vec<&str> = alert_ids[0].splitn(4, ':').collect();
        parts[3] = "999999999-99999-999999";
        parts.join(":")
    };

    // cases_create: refused whole when an evidence alert does not exist; nothing created.
    sim.clear_requests();
    let e = call_err(
        &client,
        "cases_create",
        json!({"name": "x", "severity": 70, "alert_ids": [alert_ids[0], ghost]}),
    )
    .await;
    assert!(
        e.contains(&ghost) && e.to_lowercase().contains("not found"),
        "{e}"
    );
    assert_eq!(count_op(&sim, "entities_cases_put_v2"), 0);
    for (args, needle) in [
        (json!({"name": "x", "severity": 0}), "severity"),
        (json!({"name": " ", "severity": 10}), "name"),
        (
            json!({"name": "x", "severity": 10, "alert_ids": ["nope"]}),
            "`nope`",
        ),
        (
            json!({"name": "x", "severity": 10, "assignee": "bob"}),
            "user UUID",
        ),
        (json!({"name": "x"}), "severity"),
    ] {
        let e = call_err(&client, "cases_create", args).await;
        assert!(e.contains(needle), "{needle}: {e}");
    }
    assert_eq!(count_op(&sim, "entities_cases_put_v2"), 0);
    let r = call(
        &client,
        "cases_create",
        json!({"name": "Loader on WS-FIN-042", "severity": 70, "description": "From triage.",
               "alert_ids": [alert_ids[0]], "tags": ["aerie-e2e"]}),
    )
    .await;
    let s = ok_json(&r);
    let case = &s["case"];
    let id = case["id"].as_str().unwrap().to_string();
    assert_eq!(
        (case["status"].clone(), case["version"].clone()),
        (json!("new"), json!(1)),
        "{s}"
    );
    assert_eq!(case["severity_info"]["level"], "high");
    assert_eq!(s["alerts"][0]["device"]["hostname"], KNOWN_HOSTNAME, "{s}");
    assert!(
        text(&r).contains(case["reference_id"].as_str().unwrap()),
        "{}",
        text(&r)
    );
    let full = &ok_json(&call(&client, "cases_get", json!({"ids": [id]})).await)["cases"][0];
    assert_eq!(
        records(full, "/evidence/alerts/records")[0]["selector"]["id"],
        alert_ids[0].as_str()
    );
    assert!(
        records(full, "/analysis_results/hosts/records")
            .iter()
            .any(|h| h["hostname"] == KNOWN_HOSTNAME),
        "{full}"
    );
    // The alert now names the case.
    let a = ok_json(&call(&client, "detections_get", json!({"ids": [alert_ids[0]]})).await);
    assert!(
        a.to_string().contains(&id),
        "linked_case_ids names the case: {a}"
    );

    // cases_add_alert_evidence: a missing alert is refused before the write.
    sim.clear_requests();
    let e = call_err(
        &client,
        "cases_add_alert_evidence",
        json!({"case_id": id, "alert_ids": [ghost]}),
    )
    .await;
    assert!(e.contains(&ghost), "{e}");
    assert_eq!(count_op(&sim, "entities_alert_evidence_post_v1"), 0);
    let e = call_err(
        &client,
        "cases_add_alert_evidence",
        json!({"case_id": UNKNOWN_CASE, "alert_ids": [alert_ids[1]]}),
    )
    .await;
    assert!(e.contains(UNKNOWN_CASE), "{e}");
    let s = ok_json(
        &call(
            &client,
            "cases_add_alert_evidence",
            json!({"case_id": id, "alert_ids": [alert_ids[1], alert_ids[0]]}),
        )
        .await,
    );
    assert_eq!(s["case"]["version"], 2, "{s}");
    let body = &sim
        .requests()
        .into_iter()
        .find(|r| r.operation.as_deref() == Some("entities_alert_evidence_post_v1"))
        .unwrap()
        .body;
    assert!(
        body.contains(&format!("{{\"id\":\"{}\"}}", alert_ids[1])),
        "{body}"
    );

    // cases_add_event_evidence: an NG-SIEM event the seeded case holds; unknown events fail.
    let known = known_case(&client).await;
    let event = records(&known, "/evidence/events/records")[0]["selector"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let s = ok_json(
        &call(
            &client,
            "cases_add_event_evidence",
            json!({"case_id": id, "event_ids": [event]}),
        )
        .await,
    );
    assert_eq!(s["case"]["version"], 3, "{s}");
    let e = call_err(
        &client,
        "cases_add_event_evidence",
        json!({"case_id": id, "event_ids": ["feedface"]}),
    )
    .await;
    assert!(e.contains("feedface"), "{e}");
    let e = call_err(
        &client,
        "cases_add_event_evidence",
        json!({"case_id": id, "event_ids": ["a b"]}),
    )
    .await;
    assert!(e.contains("`a b`"), "{e}");

    // cases_update: status and assignee, from → to; the version moves.
    let uuid = known["assigned_to"]["uuid"].as_str().unwrap().to_string();
    let s = ok_json(
        &call(
            &client,
            "cases_update",
            json!({"id": id, "status": "in_progress", "assignee": uuid}),
        )
        .await,
    );
    assert_eq!(s["case"]["version"], 4, "{s}");
    assert_eq!(
        s["changed"]["status"],
        json!({"from": "new", "to": "in_progress"})
    );
    assert_eq!(s["changed"]["assigned_to_user_uuid"]["to"], uuid.as_str());
    let patch = sim
        .requests()
        .into_iter()
        .rfind(|r| r.operation.as_deref() == Some("entities_cases_patch_v2"))
        .unwrap();
    assert!(
        patch.body.contains("\"fields\":{") && patch.body.contains("\"expected_version\":3"),
        "{}",
        patch.body
    );
    // A stale version is refused with the current one, and nothing changes.
    let e = call_err(
        &client,
        "cases_update",
        json!({"id": id, "status": "closed", "expected_version": 2}),
    )
    .await;
    assert!(
        e.contains("changed since version 2") && e.contains("now at version 4"),
        "{e}"
    );
    let now = &ok_json(&call(&client, "cases_get", json!({"ids": [id]})).await)["cases"][0];
    assert_eq!(
        (now["status"].clone(), now["version"].clone()),
        (json!("in_progress"), json!(4))
    );
    // The current version is accepted; unassign clears the assignee.
    let s = ok_json(
        &call(
            &client,
            "cases_update",
            json!({"id": id, "severity": 85, "unassign": true, "expected_version": 4}),
        )
        .await,
    );
    assert_eq!(s["case"]["severity_info"]["level"], "critical", "{s}");
    assert!(s["case"].get("assigned_to").is_none(), "{s}");
    for (args, needle) in [
        (json!({"id": id}), "nothing to change"),
        (
            json!({"id": UNKNOWN_CASE, "status": "closed"}),
            UNKNOWN_CASE,
        ),
        (
            json!({"id": id, "assignee": "0f0f0f0f-0f0f-4f0f-8f0f-0f0f0f0f0f0f"}),
            "not a user",
        ),
        (json!({"id": id, "status": "done"}), "done"),
    ] {
        let e = call_err(&client, "cases_update", args).await;
        assert!(e.contains(needle), "{needle}: {e}");
    }

    // Tags: add; remove previews without confirm and changes nothing; confirm removes.
    let s = ok_json(
        &call(
            &client,
            "cases_add_tags",
            json!({"case_id": id, "tags": ["lateral_movement", "aerie-e2e"]}),
        )
        .await,
    );
    assert_eq!(
        s["case"]["tags"],
        json!(["aerie-e2e", "lateral_movement"]),
        "{s}"
    );
    sim.clear_requests();
    let r = call(
        &client,
        "cases_remove_tags",
        json!({"case_id": id, "tags": ["aerie-e2e", "never-set"]}),
    )
    .await;
    let s = ok_json(&r);
    assert!(text(&r).starts_with("PREVIEW"), "{}", text(&r));
    assert_eq!(s["would_remove"], json!(["aerie-e2e"]));
    assert_eq!(s["not_on_case"], json!(["never-set"]));
    assert_eq!(count_op(&sim, "entities_case_tags_delete_v1"), 0);
    let s = ok_json(
        &call(
            &client,
            "cases_remove_tags",
            json!({"case_id": id, "tags": ["aerie-e2e"], "confirm": true}),
        )
        .await,
    );
    assert_eq!(s["case"]["tags"], json!(["lateral_movement"]), "{s}");
    let e = call_err(
        &client,
        "cases_add_tags",
        json!({"case_id": id, "tags": []}),
    )
    .await;
    assert!(e.contains("tag"), "{e}");

    // cases_upload_file: the bytes from the files directory, with the case in the form.
    let payload = b"timeline: 02:01 loader ran; 02:03 beacon to C2\n".to_vec();
    std::fs::write(files.path().join("timeline.txt"), &payload).unwrap();
    sim.clear_requests();
    let s = ok_json(
        &call(
            &client,
            "cases_upload_file",
            json!({"case_id": id, "file": "timeline.txt", "description": "analyst timeline"}),
        )
        .await,
    );
    let f = &s["file"];
    assert_eq!(
        (f["case_id"].as_str(), f["name"].as_str()),
        (Some(id.as_str()), Some("timeline.txt")),
        "{s}"
    );
    assert_eq!(f["hash_value"], hex::encode(Sha256::digest(&payload)));
    assert_eq!(f["file_size_bytes"], payload.len());
    assert_eq!(f["description"], "analyst timeline");
    let up = sim
        .requests()
        .into_iter()
        .find(|r| r.operation.as_deref() == Some("entities_files_upload_post_v1"))
        .expect("the upload reached Falcon");
    assert!(
        up.query.is_empty() && up.body.contains("name=\"case_id\""),
        "{up:?}"
    );
    let e = call_err(
        &client,
        "cases_upload_file",
        json!({"case_id": id, "file": "absent.txt"}),
    )
    .await;
    assert!(e.contains("absent.txt"), "{e}");
    let e = call_err(
        &client,
        "cases_upload_file",
        json!({"case_id": id, "file": "../x"}),
    )
    .await;
    assert!(e.contains("plain file name"), "{e}");
    let e = call_err(
        &client,
        "cases_upload_file",
        json!({"case_id": UNKNOWN_CASE, "file": "timeline.txt"}),
    )
    .await;
    assert!(e.contains(UNKNOWN_CASE), "{e}");

    // cases_add_rtr_file: a file an RTR session pulled from the host, attached by its hash.
    let aid = aid_of(&client, KNOWN_HOSTNAME).await;
    let session =
        ok_json(&call(&client, "rtr_init_session", json!({"host_id": aid})).await)["session_id"]
            .as_str()
            .unwrap()
            .to_string();
    let d = ok_json(
        &call(
            &client,
            "rtr_download_file",
            json!({"session_id": session, "path": format!("C:\\Users\\{KNOWN_USER}\\Downloads\\invoice.exe")}),
        )
        .await,
    );
    let sha = d["file_sha256"].as_str().unwrap().to_string();
    let s = ok_json(
        &call(
            &client,
            "cases_add_rtr_file",
            json!({"case_id": id, "session_id": session, "sha256": sha, "host_id": aid, "description": "loader"}),
        )
        .await,
    );
    assert_eq!(
        (s["file"]["name"].as_str(), s["file"]["source"].as_str()),
        (Some("invoice.exe"), Some("rtr")),
        "{s}"
    );
    assert_eq!(s["file"]["hash_value"], sha.as_str());
    assert_eq!(s["file"]["case_id"], id.as_str());
    for (args, needle) in [
        (
            json!({"case_id": id, "session_id": session, "sha256": KNOWN_BAD_SHA256}),
            KNOWN_BAD_SHA256,
        ),
        (
            json!({"case_id": id, "session_id": session, "sha256": sha, "host_id": "0123456789abcdef0123456789abcdef"}),
            "not on host",
        ),
        (
            json!({"case_id": id, "session_id": "s", "sha256": sha}),
            "`s`",
        ),
        (
            json!({"case_id": id, "session_id": session, "sha256": "abc"}),
            "64 hexadecimal",
        ),
    ] {
        let e = call_err(&client, "cases_add_rtr_file", args).await;
        assert!(e.contains(needle), "{needle}: {e}");
    }
    client.cancel().await.unwrap();
    sim.shutdown().await;
}

/// Clients without the cases scopes: reads name `Cases:read`, writes `Cases:write`, and alert
/// evidence checks name `Alerts:read`.
#[tokio::test(flavor = "multi_thread")]
async fn missing_scopes_are_named() {
    let work = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    std::fs::write(files.path().join("n.txt"), b"n").unwrap();
    let cfg = config(work.path());
    let args = [
        "--modules",
        "cases",
        "--allow-writes",
        "--config",
        cfg.as_str(),
        "--files-dir",
        files.path().to_str().unwrap(),
    ];
    // Cases readable, not writable; alerts readable.
    let sim = sim_with_limited_client(&["cases:read", "alerts:read"], |_| {}).await;
    let client = serve_as(
        &sim,
        &args,
        work.path(),
        LIMITED_CLIENT_ID,
        LIMITED_CLIENT_SECRET,
    )
    .await;
    let known = known_case(&client).await;
    let id = known["id"].as_str().unwrap().to_string();
    let alert = records(&known, "/evidence/alerts/records")[0]["selector"]["id"].clone();
    let aid = records(&known, "/analysis_results/hosts/records")[0]["aid"].clone();
    for (tool, args) in [
        ("cases_create", json!({"name": "x", "severity": 50})),
        ("cases_update", json!({"id": id, "status": "closed"})),
        (
            "cases_add_alert_evidence",
            json!({"case_id": id, "alert_ids": [alert]}),
        ),
        (
            "cases_add_event_evidence",
            json!({"case_id": id, "event_ids": ["abc"]}),
        ),
        ("cases_add_tags", json!({"case_id": id, "tags": ["x"]})),
        (
            "cases_remove_tags",
            json!({"case_id": id, "tags": ["credential_theft"], "confirm": true}),
        ),
        ("cases_upload_file", json!({"case_id": id, "file": "n.txt"})),
        (
            "cases_add_rtr_file",
            json!({"case_id": id, "session_id": "fdd6408f-6688-441b-8659-41bcad25441c", "sha256": KNOWN_BAD_SHA256}),
        ),
    ] {
        let e = call_err(&client, tool, args).await;
        assert!(e.contains("`Cases:write`"), "{tool}: {e}");
    }
    client.cancel().await.unwrap();
    sim.shutdown().await;

    // No cases scope: every read names `Cases:read`.
    let sim = sim_with_limited_client(&["alerts:read"], |_| {}).await;
    let client = serve_as(
        &sim,
        &args,
        work.path(),
        LIMITED_CLIENT_ID,
        LIMITED_CLIENT_SECRET,
    )
    .await;
    for (tool, args) in [
        ("cases_search", json!({})),
        ("cases_get", json!({"ids": [id]})),
        ("cases_list_fields", json!({})),
        ("cases_search_access_tags", json!({})),
        ("cases_get_access_tags", json!({"ids": ["abc"]})),
        ("cases_aggregate_access_tags", json!({"field": "key"})),
        (
            "cases_rtr_file_metadata",
            json!({"host_id": aid, "path": "C:\\x"}),
        ),
    ] {
        let e = call_err(&client, tool, args).await;
        assert!(e.contains("`Cases:read`"), "{tool}: {e}");
    }
    client.cancel().await.unwrap();
    sim.shutdown().await;

    // Cases writable but alerts unreadable: evidence cannot be checked, and says why.
    let e = missing_scope_error(
        &["cases:read", "cases:write"],
        &["--modules", "cases", "--allow-writes"],
        "cases_add_alert_evidence",
        json!({"case_id": id, "alert_ids": [alert]}),
    )
    .await;
    assert!(e.contains("`Alerts:read`"), "{e}");
}
