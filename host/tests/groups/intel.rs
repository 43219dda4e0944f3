//! `intel` end to end (see main.rs): every tool of the group through the real binary and the
//! simulator — the tenant's known-bad hash, IP and domain as indicators of the actor behind
//! them and the report that cites them, actors and reports by FQL and free text, full records
//! by id, the actor's ATT&CK techniques, a report's PDF saved into the files directory, the FQL
//! guides, and each tool's error paths (bad argument, not found, missing scope, files not
//! granted). The group has no write tools.

use std::path::Path;

use falcon_sim::{KNOWN_ACTOR, KNOWN_BAD_DOMAIN, KNOWN_BAD_IP, KNOWN_BAD_SHA256, KNOWN_REPORT};
use rmcp::model::ReadResourceRequestParams;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::*;

type Client = rmcp::service::RunningService<rmcp::RoleClient, ()>;

fn results(s: &Value) -> &Vec<Value> {
    s["results"].as_array().unwrap_or_else(|| panic!("{s}"))
}

/// `aerie.toml` granting the intel plugin the files directory.
fn config(work: &Path) -> String {
    let p = work.join("aerie.toml");
    std::fs::write(&p, "[plugins.intel]\nfiles = true\n").unwrap();
    p.to_str().unwrap().to_string()
}

/// The one indicator whose value is `value`.
async fn indicator(client: &Client, value: &str) -> Value {
    let s = ok_json(
        &call(
            client,
            "intel_search_indicators",
            json!({"indicator": value}),
        )
        .await,
    );
    assert_eq!(s["total"], 1, "{value}: {s}");
    results(&s)[0].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn read_tools_and_their_errors() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let cfg = config(work.path());
    let client = serve_against(
        &sim,
        &[
            "--modules",
            "intel",
            "--config",
            &cfg,
            "--files-dir",
            files.path().to_str().unwrap(),
        ],
        work.path(),
    )
    .await;
    let label = KNOWN_ACTOR.replace(' ', "");

    // intel_search_indicators: the tenant's known-bad values, tied to the actor and report.
    let hash = indicator(&client, &KNOWN_BAD_SHA256.to_uppercase()).await;
    assert_eq!(hash["type"], "hash_sha256");
    assert_eq!(hash["indicator"], KNOWN_BAD_SHA256);
    assert_eq!(hash["malicious_confidence"], "high");
    assert_eq!(hash["actors"], json!([label]));
    assert_eq!(hash["reports"], json!([KNOWN_REPORT]));
    assert!(
        hash.get("relations").is_none() && hash.get("labels").is_none(),
        "summary: {hash}"
    );
    let ip = indicator(&client, KNOWN_BAD_IP).await;
    assert_eq!(ip["type"], "ip_address");
    assert_eq!(ip["malware_families"], json!(["Cobalt Strike"]));
    let domain = indicator(&client, KNOWN_BAD_DOMAIN).await;
    assert_eq!(domain["actors"], json!([label]));
    // By actor (name as people write it), by CVE, by free text, paged.
    let s = ok_json(
        &call(
            &client,
            "intel_search_indicators",
            json!({"actor": KNOWN_ACTOR.to_lowercase(), "limit": 50}),
        )
        .await,
    );
    assert!(s["total"].as_u64().unwrap() >= 4, "{s}");
    assert!(
        results(&s).iter().all(|i| i["actors"] == json!([label])),
        "{s}"
    );
    let cve = hash["vulnerabilities"][0].as_str().unwrap().to_string();
    let s = ok_json(
        &call(
            &client,
            "intel_search_indicators",
            json!({"cve": cve, "limit": 50}),
        )
        .await,
    );
    assert!(
        results(&s)
            .iter()
            .any(|i| i["indicator"] == KNOWN_BAD_SHA256),
        "{s}"
    );
    let s = ok_json(
        &call(
            &client,
            "intel_search_indicators",
            json!({"q": "cobalt strike", "confidence": "high", "limit": 50}),
        )
        .await,
    );
    assert!(
        results(&s).iter().any(|i| i["indicator"] == KNOWN_BAD_IP),
        "{s}"
    );
    let s = ok_json(&call(&client, "intel_search_indicators", json!({"limit": 3})).await);
    assert_eq!((results(&s).len(), &s["next"]), (3, &json!(3)), "{s}");
    let dates: Vec<i64> = results(&s)
        .iter()
        .map(|i| i["published_date"].as_i64().unwrap())
        .collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]), "newest first: {s}");
    let e = call_err(
        &client,
        "intel_search_indicators",
        json!({"filter": "no_such_field:'x'"}),
    )
    .await;
    assert!(e.contains("falcon://fql/intel-indicators"), "{e}");
    let e = call_err(
        &client,
        "intel_search_indicators",
        json!({"sort": "indicator.asc"}),
    )
    .await;
    assert!(e.contains("published_date"), "{e}");
    let e = call_err(&client, "intel_search_indicators", json!({"limit": 0})).await;
    assert!(e.contains("limit"), "{e}");
    let e = call_err(
        &client,
        "intel_search_indicators",
        json!({"offset": 9995, "limit": 10}),
    )
    .await;
    assert!(e.contains("10000") || e.contains("10,000"), "{e}");

    // intel_get_indicator: the full record relates the IP to the domain and hashes.
    let id = format!("ip_address_{KNOWN_BAD_IP}");
    let g = ok_json(&call(&client, "intel_get_indicator", json!({"ids": [id]})).await);
    let full = &g["indicators"][0];
    let related: Vec<&str> = full["relations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["indicator"].as_str().unwrap())
        .collect();
    assert!(
        related.contains(&KNOWN_BAD_DOMAIN) && related.contains(&KNOWN_BAD_SHA256),
        "{full}"
    );
    assert!(
        full["labels"].as_array().is_some_and(|l| !l.is_empty()),
        "{full}"
    );
    let e = call_err(
        &client,
        "intel_get_indicator",
        json!({"ids": ["domain_nothing.example"]}),
    )
    .await;
    assert!(e.contains("domain_nothing.example"), "{e}");
    let e = call_err(
        &client,
        "intel_get_indicator",
        json!({"ids": ["nounderscore"]}),
    )
    .await;
    assert!(e.contains("<type>_<value>"), "{e}");

    // intel_search_actors: by name, animal, industry and free text.
    let s = ok_json(
        &call(
            &client,
            "intel_search_actors",
            json!({"name": KNOWN_ACTOR.to_lowercase()}),
        )
        .await,
    );
    assert_eq!(s["total"], 1, "{s}");
    let actor = results(&s)[0].clone();
    assert_eq!(actor["name"], KNOWN_ACTOR);
    assert!(
        actor["target_industries"][0].is_string(),
        "taxonomies flattened: {actor}"
    );
    let actor_id = actor["id"].as_i64().unwrap();
    let s = ok_json(&call(&client, "intel_search_actors", json!({"animal": "spider"})).await);
    assert!(s["total"].as_u64().unwrap() >= 2, "{s}");
    assert!(
        results(&s)
            .iter()
            .all(|a| a["animal_classifier"] == "SPIDER"),
        "{s}"
    );
    let s = ok_json(
        &call(
            &client,
            "intel_search_actors",
            json!({"industry": "government", "animal": "bear"}),
        )
        .await,
    );
    assert!(!results(&s).is_empty(), "{s}");
    assert!(
        results(&s).iter().all(|a| a["target_industries"]
            .as_array()
            .unwrap()
            .contains(&json!("Government"))),
        "{s}"
    );
    let s = ok_json(&call(&client, "intel_search_actors", json!({"q": "ransomware"})).await);
    assert_eq!(s["total"], 1, "{s}");
    let s = ok_json(
        &call(
            &client,
            "intel_search_actors",
            json!({"sort": "name.asc", "limit": 100}),
        )
        .await,
    );
    let names: Vec<&str> = results(&s)
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    let e = call_err(
        &client,
        "intel_search_actors",
        json!({"filter": "no_such_field:'x'"}),
    )
    .await;
    assert!(e.contains("falcon://fql/intel-actors"), "{e}");

    // intel_get_actor.
    let g = ok_json(
        &call(
            &client,
            "intel_get_actor",
            json!({"ids": [actor_id.to_string()]}),
        )
        .await,
    );
    let a = &g["actors"][0];
    assert_eq!(a["id"], actor_id);
    assert!(
        a["description"].is_string() && a["kill_chain"].is_object(),
        "{a}"
    );
    assert!(
        a["in_reports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["slug"] == KNOWN_REPORT.to_lowercase()),
        "{a}"
    );
    let e = call_err(&client, "intel_get_actor", json!({"ids": ["1"]})).await;
    assert!(
        e.to_lowercase().contains("not found") && e.contains('1'),
        "{e}"
    );
    let e = call_err(
        &client,
        "intel_get_actor",
        json!({"ids": ["gilded-spider"]}),
    )
    .await;
    assert!(e.contains("expected digits"), "{e}");

    // intel_search_reports and intel_get_report.
    let s = ok_json(
        &call(
            &client,
            "intel_search_reports",
            json!({"actor": KNOWN_ACTOR}),
        )
        .await,
    );
    assert_eq!(s["total"], 2, "{s}");
    let known = results(&s)
        .iter()
        .find(|r| r["slug"] == KNOWN_REPORT.to_lowercase())
        .unwrap_or_else(|| panic!("{s}"))
        .clone();
    assert_eq!(known["actors"], json!([KNOWN_ACTOR]));
    let s = ok_json(&call(&client, "intel_search_reports", json!({"q": "regreSSHion"})).await);
    assert_eq!(s["total"], 1, "{s}");
    let e = call_err(
        &client,
        "intel_search_reports",
        json!({"filter": "no_such_field:'x'"}),
    )
    .await;
    assert!(e.contains("falcon://fql/intel-reports"), "{e}");
    let report_id = known["id"].as_i64().unwrap().to_string();
    let g = ok_json(&call(&client, "intel_get_report", json!({"ids": [report_id]})).await);
    let r = &g["reports"][0];
    assert!(
        r["description"]
            .as_str()
            .unwrap()
            .contains(KNOWN_BAD_DOMAIN),
        "{r}"
    );
    assert!(
        r["mitre_attacks"].as_array().is_some_and(|m| !m.is_empty()),
        "{r}"
    );
    let e = call_err(&client, "intel_get_report", json!({"ids": ["42"]})).await;
    assert!(e.contains("42"), "{e}");

    // intel_get_techniques: by name, slug and id alike; rows cite the report.
    let t = ok_json(
        &call(
            &client,
            "intel_get_techniques",
            json!({"actor": KNOWN_ACTOR}),
        )
        .await,
    );
    assert_eq!(t["actor"]["id"], actor_id);
    let rows = t["techniques"].as_array().unwrap();
    let ids: Vec<&str> = rows
        .iter()
        .map(|r| r["technique_id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"T1566") && ids.contains(&"T1071"), "{t}");
    assert!(
        rows.iter().all(|r| r["reports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == KNOWN_REPORT)),
        "{t}"
    );
    let by_id = ok_json(
        &call(
            &client,
            "intel_get_techniques",
            json!({"actor": actor_id.to_string()}),
        )
        .await,
    );
    let by_slug = ok_json(
        &call(
            &client,
            "intel_get_techniques",
            json!({"actor": "gilded-spider"}),
        )
        .await,
    );
    assert_eq!(by_id, t);
    assert_eq!(by_slug, t);
    let e = call_err(
        &client,
        "intel_get_techniques",
        json!({"actor": "NOBODY BEAR"}),
    )
    .await;
    assert!(
        e.contains("NOBODY BEAR") && e.contains("intel_search_actors"),
        "{e}"
    );
    let e = call_err(&client, "intel_get_techniques", json!({"actor": "999"})).await;
    assert!(e.contains("999"), "{e}");

    // intel_download_report: the PDF lands in the files directory with the reported digest.
    let d = ok_json(
        &call(
            &client,
            "intel_download_report",
            json!({"report": KNOWN_REPORT}),
        )
        .await,
    );
    let name = d["saved_as"].as_str().unwrap();
    assert_eq!(name, format!("{}.pdf", KNOWN_REPORT.to_lowercase()));
    let bytes = std::fs::read(files.path().join(name)).unwrap();
    assert!(bytes.starts_with(b"%PDF-") && bytes.ends_with(b"%%EOF\n"));
    assert_eq!(d["size"], bytes.len());
    assert_eq!(d["sha256"], hex::encode(Sha256::digest(&bytes)));
    let d = ok_json(
        &call(
            &client,
            "intel_download_report",
            json!({"report": report_id, "save_as": "gilded.pdf"}),
        )
        .await,
    );
    assert_eq!(
        std::fs::read(files.path().join("gilded.pdf")).unwrap(),
        bytes,
        "{d}"
    );
    let e = call_err(
        &client,
        "intel_download_report",
        json!({"report": "CSIT-00000"}),
    )
    .await;
    assert!(
        e.contains("CSIT-00000") && e.contains("intel_search_reports"),
        "{e}"
    );
    let e = call_err(&client, "intel_download_report", json!({"report": "42"})).await;
    assert!(e.contains("42"), "{e}");
    let e = call_err(
        &client,
        "intel_download_report",
        json!({"report": KNOWN_REPORT, "save_as": "../x.pdf"}),
    )
    .await;
    assert!(e.contains("plain file name"), "{e}");

    // The three FQL guides.
    for (uri, field) in [
        ("falcon://fql/intel-actors", "animal_classifier"),
        ("falcon://fql/intel-indicators", "malicious_confidence"),
        ("falcon://fql/intel-reports", "mitre_attacks.technique_id"),
    ] {
        let read = client
            .read_resource(ReadResourceRequestParams::new(uri))
            .await
            .unwrap();
        let body = serde_json::to_string(&read).unwrap();
        assert!(body.contains(field), "{uri}: {body}");
    }

    client.cancel().await.unwrap();
    sim.shutdown().await;
}

/// Without the operator's files grant the PDF is not fetched and the error says what to set.
#[tokio::test(flavor = "multi_thread")]
async fn report_download_needs_the_files_grant() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let client = serve_against(
        &sim,
        &[
            "--modules",
            "intel",
            "--files-dir",
            files.path().to_str().unwrap(),
        ],
        work.path(),
    )
    .await;
    let e = call_err(
        &client,
        "intel_download_report",
        json!({"report": KNOWN_REPORT}),
    )
    .await;
    assert!(e.contains("files = true"), "{e}");
    assert!(std::fs::read_dir(files.path()).unwrap().next().is_none());
    client.cancel().await.unwrap();
    sim.shutdown().await;
}

/// `aerie serve --modules intel` as the limited client holding only `scopes`.
async fn limited(scopes: &[&str], work: &Path) -> (falcon_sim::Simulator, Client) {
    let sim = sim_with_limited_client(scopes, |_| {}).await;
    let client = serve_as(
        &sim,
        &["--modules", "intel"],
        work,
        LIMITED_CLIENT_ID,
        LIMITED_CLIENT_SECRET,
    )
    .await;
    (sim, client)
}

/// Each family names its own console scope.
#[tokio::test(flavor = "multi_thread")]
async fn missing_scopes_are_named() {
    let work = tempfile::tempdir().unwrap();
    let (sim, client) = limited(&["falconx-actors:read"], work.path()).await;
    let indicators = "`Indicators (Falcon Intelligence):read`";
    let reports = "`Reports (Falcon Intelligence):read`";
    for (tool, args, scope) in [
        (
            "intel_search_indicators",
            json!({"indicator": KNOWN_BAD_IP}),
            indicators,
        ),
        (
            "intel_get_indicator",
            json!({"ids": ["domain_x.example"]}),
            indicators,
        ),
        ("intel_search_reports", json!({"q": "loader"}), reports),
        ("intel_get_report", json!({"ids": ["1"]}), reports),
        ("intel_download_report", json!({"report": "1"}), reports),
    ] {
        let e = call_err(&client, tool, args).await;
        assert!(e.contains(scope), "{tool}: {e}");
    }
    // The actor scope is enough for actors and their techniques.
    ok_json(
        &call(
            &client,
            "intel_get_techniques",
            json!({"actor": KNOWN_ACTOR}),
        )
        .await,
    );
    client.cancel().await.unwrap();
    sim.shutdown().await;

    let work = tempfile::tempdir().unwrap();
    let (sim, client) = limited(&["falconx-indicators:read"], work.path()).await;
    for (tool, args) in [
        ("intel_search_actors", json!({"q": "bear"})),
        ("intel_get_actor", json!({"ids": ["1"]})),
        ("intel_get_techniques", json!({"actor": "1"})),
        ("intel_get_techniques", json!({"actor": KNOWN_ACTOR})),
    ] {
        let e = call_err(&client, tool, args).await;
        assert!(
            e.contains("`Actors (Falcon Intelligence):read`"),
            "{tool}: {e}"
        );
    }
    client.cancel().await.unwrap();
    sim.shutdown().await;
}
