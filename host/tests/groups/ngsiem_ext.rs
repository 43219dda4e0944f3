//! `ngsiem` content and data tools end to end (see main.rs): saved queries, dashboards and
//! parsers with their YAML templates, lookup files (content into the files directory, or a
//! preview when the directory is not granted), data connections with their provisioning status,
//! connectors and their configurations — every content request carrying its required selector
//! (the simulator answers 400 without one, as the live API does) — and each tool's error paths
//! (bad argument, not found, missing scope). These tools only read.

use std::path::Path;

use falcon_sim::{KNOWN_BAD_DOMAIN, KNOWN_BAD_SHA256, KNOWN_HOSTNAME};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::*;

type Client = rmcp::service::RunningService<rmcp::RoleClient, ()>;

fn results(s: &Value) -> &Vec<Value> {
    s["results"].as_array().unwrap_or_else(|| panic!("{s}"))
}

/// The id of the one item `tool` lists under `name`.
async fn one(client: &Client, tool: &str, name: &str, id_field: &str) -> String {
    let s = ok_json(&call(client, tool, json!({"name": name})).await);
    assert_eq!(s["total"], 1, "{tool} {name}: {s}");
    results(&s)[0][id_field].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn content_tools_and_their_errors() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_against(&sim, &["--modules", "ngsiem"], work.path()).await;

    // Saved queries: listed without their YAML, fetched with it; the dropper hunt names the hash.
    let s = ok_json(&call(&client, "ngsiem_list_saved_queries", json!({})).await);
    assert!(s["total"].as_u64().unwrap() >= 5, "{s}");
    assert!(results(&s).iter().all(|q| q.get("yaml_template").is_none()));
    let id = one(&client, "ngsiem_list_saved_queries", "dropper", "id").await;
    let s = ok_json(
        &call(
            &client,
            "ngsiem_get_saved_queries",
            json!({"ids": [id], "search_domain": "falcon"}),
        )
        .await,
    );
    let yaml = s["saved_queries"][0]["yaml_template"].as_str().unwrap();
    assert!(
        yaml.contains("queryString: |") && yaml.contains(KNOWN_BAD_SHA256),
        "{yaml}"
    );
    let page = ok_json(&call(&client, "ngsiem_list_saved_queries", json!({"limit": 2})).await);
    assert_eq!((results(&page).len(), page["next"].clone()), (2, json!(2)));
    let e = call_err(
        &client,
        "ngsiem_list_saved_queries",
        json!({"search_domain": "everything"}),
    )
    .await;
    assert!(e.contains("third-party"), "{e}");
    let e = call_err(
        &client,
        "ngsiem_get_saved_queries",
        json!({"ids": [id, "0123abcd"]}),
    )
    .await;
    assert!(e.contains("0123abcd") && !e.contains(&id), "{e}");

    // Dashboards.
    let id = one(&client, "ngsiem_list_dashboards", "finance", "id").await;
    let s = ok_json(&call(&client, "ngsiem_get_dashboards", json!({"ids": [id]})).await);
    let d = &s["dashboards"][0];
    assert_eq!(d["labels"], json!(["finance"]));
    assert!(
        d["yaml_template"]
            .as_str()
            .unwrap()
            .contains(KNOWN_HOSTNAME),
        "{d}"
    );
    let e = call_err(&client, "ngsiem_get_dashboards", json!({"ids": ["x y"]})).await;
    assert!(e.contains("`x y`"), "{e}");

    // Parsers: by update and type, then their templates (the list says `ID`, templates `id`).
    let s = ok_json(
        &call(
            &client,
            "ngsiem_list_parsers",
            json!({"update_available": true}),
        )
        .await,
    );
    assert!(!results(&s).is_empty(), "{s}");
    assert!(
        results(&s)
            .iter()
            .all(|p| p["update_available"] == true && p["version"] != p["latest_version"]),
        "{s}"
    );
    let s = ok_json(
        &call(
            &client,
            "ngsiem_list_parsers",
            json!({"parser_type": "custom"}),
        )
        .await,
    );
    assert!(
        results(&s).iter().all(|p| p["parser_type"] == "custom"),
        "{s}"
    );
    let pid = results(&s)[0]["ID"].as_str().unwrap().to_string();
    let s = ok_json(&call(&client, "ngsiem_get_parsers", json!({"ids": [pid]})).await);
    assert_eq!(s["parsers"][0]["id"], pid.as_str());
    assert!(
        s["parsers"][0]["yaml_template"]
            .as_str()
            .unwrap()
            .contains("script: |"),
        "{s}"
    );
    let e = call_err(
        &client,
        "ngsiem_list_parsers",
        json!({"parser_type": "builtin"}),
    )
    .await;
    assert!(e.contains("ootb"), "{e}");

    // Lookup files: names only, then one file; without the files directory, a preview.
    let s = ok_json(&call(&client, "ngsiem_list_lookup_files", json!({})).await);
    let names: Vec<&str> = results(&s)
        .iter()
        .map(|f| f["filename"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"known_bad_domains.csv"), "{s}");
    let r = call(
        &client,
        "ngsiem_get_lookup_file",
        json!({"filename": "known_bad_domains.csv"}),
    )
    .await;
    let s = ok_json(&r);
    assert_eq!(s["saved_as"], Value::Null, "{s}");
    assert!(s["not_saved"].as_str().unwrap().contains("files"), "{s}");
    assert!(
        s["preview"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().contains(KNOWN_BAD_DOMAIN)),
        "{s}"
    );
    let e = call_err(
        &client,
        "ngsiem_get_lookup_file",
        json!({"filename": "no_such.csv"}),
    )
    .await;
    assert!(e.to_lowercase().contains("not found"), "{e}");
    let e = call_err(
        &client,
        "ngsiem_get_lookup_file",
        json!({"filename": "../etc/passwd"}),
    )
    .await;
    assert!(e.contains("plain file name"), "{e}");

    // Data connections: the one still provisioning, with its status merged in.
    let s = ok_json(
        &call(
            &client,
            "ngsiem_list_data_connections",
            json!({"filter": "status:'provisioning'"}),
        )
        .await,
    );
    assert_eq!(s["total"], 1, "{s}");
    let conn = results(&s)[0]["id"].as_str().unwrap().to_string();
    let okta = one(&client, "ngsiem_list_data_connections", "okta", "id").await;
    let r = call(
        &client,
        "ngsiem_get_data_connections",
        json!({"ids": [conn, okta]}),
    )
    .await;
    let s = ok_json(&r);
    let conns = s["connections"].as_array().unwrap();
    assert_eq!(conns[0]["provisioning"]["status"], "provisioning", "{s}");
    assert_eq!(conns[1]["provisioning"]["status"], "active", "{s}");
    assert!(
        conns[1]["provisioning"]["last_ingested_ts"].is_string(),
        "{s}"
    );
    assert!(text(&r).contains("provisioning"), "{}", text(&r));
    let e = call_err(
        &client,
        "ngsiem_get_data_connections",
        json!({"ids": ["0123456789abcdef0123456789abcdef"]}),
    )
    .await;
    assert!(e.contains("0123456789abcdef0123456789abcdef"), "{e}");
    let e = call_err(&client, "ngsiem_list_data_connections", json!({"limit": 0})).await;
    assert!(e.contains("limit"), "{e}");

    // Connectors and the configurations of one; a connection's parser is a listed parser.
    let s = ok_json(&call(&client, "ngsiem_list_connectors", json!({})).await);
    assert!(s["total"].as_u64().unwrap() >= 5, "{s}");
    let okta_connector = results(&s)
        .iter()
        .find(|c| c["vendor_name"] == "Okta")
        .unwrap();
    assert_eq!(okta_connector["parsers"], json!(["okta-sso"]));
    let s = ok_json(
        &call(
            &client,
            "ngsiem_get_connector_configs",
            json!({"id": okta_connector["id"]}),
        )
        .await,
    );
    assert!(!s["configs"].as_array().unwrap().is_empty(), "{s}");
    let e = call_err(
        &client,
        "ngsiem_get_connector_configs",
        json!({"id": "no-such-connector"}),
    )
    .await;
    assert!(e.to_lowercase().contains("not found"), "{e}");

    // Every content request carried its selector (the API answers 400 without it).
    for r in sim.requests() {
        if r.path.starts_with("/ngsiem-content/") {
            let selector = if r.path.contains("parsers") {
                "repository=parsers-repository"
            } else {
                "search_domain="
            };
            assert!(r.query.contains(selector), "{} {}", r.path, r.query);
            assert_ne!(r.status, 400, "{} {}", r.path, r.query);
        }
    }
    client.cancel().await.unwrap();
    sim.shutdown().await;
}

fn files_config(work: &Path) -> String {
    let p = work.join("aerie.toml");
    std::fs::write(&p, "[plugins.ngsiem]\nfiles = true\n").unwrap();
    p.to_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn lookup_file_content_goes_into_the_files_dir() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let cfg = files_config(work.path());
    let client = serve_against(
        &sim,
        &[
            "--modules",
            "ngsiem",
            "--config",
            &cfg,
            "--files-dir",
            files.path().to_str().unwrap(),
        ],
        work.path(),
    )
    .await;
    let s = ok_json(
        &call(
            &client,
            "ngsiem_get_lookup_file",
            json!({"filename": "critical_assets.csv", "search_domain": "falcon", "save_as": "assets.csv"}),
        )
        .await,
    );
    let on_disk = std::fs::read(files.path().join("assets.csv")).expect("saved");
    assert_eq!(s["saved_as"], "assets.csv");
    assert_eq!(s["sha256"], hex::encode(Sha256::digest(&on_disk)));
    assert_eq!(s["bytes"], on_disk.len());
    let text = String::from_utf8(on_disk).unwrap();
    assert!(
        text.starts_with("hostname,platform,criticality,owner\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!("{KNOWN_HOSTNAME},Windows,high")),
        "{text}"
    );
    assert_eq!(s["lines"], text.lines().count());
    let e = call_err(
        &client,
        "ngsiem_get_lookup_file",
        json!({"filename": "critical_assets.csv", "save_as": ".aerie-owners.json"}),
    )
    .await;
    assert!(e.contains("save_as"), "{e}");
    client.cancel().await.unwrap();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_scope_is_named() {
    let e = missing_scope_error(
        &["cao-hunting:read"],
        &["--modules", "ngsiem"],
        "ngsiem_list_parsers",
        json!({}),
    )
    .await;
    assert!(e.contains("`NGSIEM:read`"), "{e}");
}
