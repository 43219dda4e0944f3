//! `correlation` end to end (see main.rs): every tool of the group through the real binary and
//! the simulator — the tenant's rules, whose CQL names its well-known domain, IP, hash, host and
//! user; filters (typed and FQL), free text, paging and sorts; full rules and templates by id; the structured
//! export; enabling and disabling with an audit comment (preview, apply, already so); the IaC
//! export into the files directory; and each tool's error paths (bad argument, not found,
//! missing scope, writes disabled, preview without confirm, files not granted).

use std::path::Path;

use falcon_sim::{KNOWN_BAD_DOMAIN, KNOWN_BAD_IP, KNOWN_BAD_SHA256, KNOWN_HOSTNAME, KNOWN_USER};
use rmcp::model::ReadResourceRequestParams;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::*;

const GUIDE: &str = "falcon://fql/correlation-rules";
const UNKNOWN_ID: &str = "0123456789abcdef0123456789abcdef";

type Client = rmcp::service::RunningService<rmcp::RoleClient, ()>;

fn results(s: &Value) -> &Vec<Value> {
    s["results"].as_array().unwrap_or_else(|| panic!("{s}"))
}

/// The full rule with `id`.
async fn rule(client: &Client, id: &str) -> Value {
    let s = ok_json(&call(client, "correlation_get_rules", json!({"ids": [id]})).await);
    s["rules"][0].clone()
}

/// Id of the one rule mapped to `technique`.
async fn rule_for(client: &Client, technique: &str) -> String {
    let s = ok_json(
        &call(
            client,
            "correlation_search_rules",
            json!({"technique": technique}),
        )
        .await,
    );
    assert_eq!(s["total"], 1, "{s}");
    s["results"][0]["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn read_tools_and_their_errors() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_against(&sim, &["--modules", "correlation"], work.path()).await;

    // correlation_search_rules: every rule, newest change first, summary fields only.
    let all = ok_json(&call(&client, "correlation_search_rules", json!({"limit": 100})).await);
    let total = all["total"].as_u64().unwrap();
    assert!(total >= 10, "{all}");
    let rules = results(&all);
    assert_eq!(rules.len() as u64, total);
    let updated: Vec<&str> = rules
        .iter()
        .map(|r| r["last_updated_on"].as_str().unwrap())
        .collect();
    assert!(updated.windows(2).all(|w| w[0] >= w[1]), "{updated:?}");
    assert!(
        rules
            .iter()
            .all(|r| r.get("search").is_none_or(|s| s.get("filter").is_none())),
        "no CQL in summaries"
    );
    // Filters: status, severity, technique, name text, free text; each result obeys them.
    let s = ok_json(
        &call(
            &client,
            "correlation_search_rules",
            json!({"status": "inactive", "limit": 100}),
        )
        .await,
    );
    let inactive = results(&s);
    assert!(
        !inactive.is_empty() && (inactive.len() as u64) < total,
        "{s}"
    );
    assert!(inactive.iter().all(|r| r["status"] == "inactive"), "{s}");
    let s = ok_json(
        &call(
            &client,
            "correlation_search_rules",
            json!({"min_severity": 90, "limit": 100}),
        )
        .await,
    );
    assert!(results(&s).iter().all(|r| r["severity"] == 90), "{s}");
    let s = ok_json(
        &call(
            &client,
            "correlation_search_rules",
            json!({"filter": "name:~'powershell'"}),
        )
        .await,
    );
    assert!(!results(&s).is_empty(), "{s}");
    assert!(
        results(&s).iter().all(|r| r["name"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("powershell")),
        "{s}"
    );
    let s = ok_json(
        &call(
            &client,
            "correlation_search_rules",
            json!({"text": "outside hours"}),
        )
        .await,
    );
    assert_eq!(s["total"], 1, "{s}");
    // Paging and sort.
    let page = ok_json(
        &call(
            &client,
            "correlation_search_rules",
            json!({"limit": 3, "sort": "created_on.asc"}),
        )
        .await,
    );
    assert_eq!(results(&page).len(), 3);
    assert_eq!(page["next"], 3);
    let next = ok_json(
        &call(
            &client,
            "correlation_search_rules",
            json!({"limit": 3, "offset": 3, "sort": "created_on.asc"}),
        )
        .await,
    );
    assert_ne!(results(&page)[0]["id"], results(&next)[0]["id"]);

    // correlation_get_rules: the CQL follows the tenant's thread.
    let domain_rule = rule_for(&client, "T1071.004").await;
    let r = rule(&client, &domain_rule).await;
    assert!(
        r["search"]["filter"]
            .as_str()
            .unwrap()
            .contains(KNOWN_BAD_DOMAIN),
        "{r}"
    );
    assert!(r["mitre_attack"][0]["tactic_id"] == "TA0011", "{r}");
    let mut cql = String::new();
    for technique in ["T1071.001", "T1204.002", "T1078", "T1110.003"] {
        let id = rule_for(&client, technique).await;
        cql.push_str(
            rule(&client, &id).await["search"]["filter"]
                .as_str()
                .unwrap(),
        );
    }
    for known in [KNOWN_BAD_IP, KNOWN_BAD_SHA256, KNOWN_HOSTNAME, KNOWN_USER] {
        assert!(cql.contains(known), "{known} in {cql}");
    }
    let e = call_err(
        &client,
        "correlation_get_rules",
        json!({"ids": [UNKNOWN_ID]}),
    )
    .await;
    assert!(e.contains(UNKNOWN_ID), "{e}");
    let e = call_err(
        &client,
        "correlation_get_rules",
        json!({"ids": [domain_rule, UNKNOWN_ID]}),
    )
    .await;
    assert!(e.contains(UNKNOWN_ID) && !e.contains(&domain_rule), "{e}");
    let e = call_err(&client, "correlation_get_rules", json!({"ids": ["nope"]})).await;
    assert!(e.contains("`nope`") && e.contains("rule id"), "{e}");

    // correlation_export_rule: provenance plus a definition that recreates the rule.
    let s = ok_json(
        &call(
            &client,
            "correlation_export_rule",
            json!({"id": domain_rule}),
        )
        .await,
    );
    assert_eq!(s["rule"]["id"], domain_rule.as_str());
    assert!(s["rule"]["version"].as_u64().unwrap() >= 1);
    let d = &s["definition"];
    assert_eq!(d["search"]["filter"], r["search"]["filter"]);
    assert_eq!(d["severity"], r["severity"]);
    assert_eq!(
        d["operation"]["schedule"]["definition"],
        r["operation"]["schedule"]["definition"]
    );
    assert!(
        d.get("id").is_none() && d.get("customer_id").is_none(),
        "{d}"
    );
    let e = call_err(
        &client,
        "correlation_export_rule",
        json!({"id": UNKNOWN_ID}),
    )
    .await;
    assert!(e.contains(UNKNOWN_ID), "{e}");

    // correlation_export_iac without the files directory granted: nothing written, told why.
    let e = call_err(
        &client,
        "correlation_export_iac",
        json!({"ids": [domain_rule]}),
    )
    .await;
    assert!(e.contains("files"), "{e}");
    let e = call_err(&client, "correlation_export_iac", json!({})).await;
    assert!(e.contains("ids or filter"), "{e}");

    // Templates: by vendor (an alias of the template's vendors), technique, and by id.
    let s = ok_json(
        &call(
            &client,
            "correlation_search_templates",
            json!({"vendor": "aws"}),
        )
        .await,
    );
    let aws = results(&s);
    assert!(!aws.is_empty(), "{s}");
    assert!(aws.iter().all(|t| t["vendors"] == json!(["aws"])), "{s}");
    let s = ok_json(
        &call(
            &client,
            "correlation_search_templates",
            json!({"technique": "T1003.001"}),
        )
        .await,
    );
    let tid = results(&s)[0]["id"].as_str().unwrap().to_string();
    let s = ok_json(&call(&client, "correlation_get_templates", json!({"ids": [tid]})).await);
    let t = &s["templates"][0];
    assert!(
        t["search"]["filter"].as_str().unwrap().contains("lsass"),
        "{t}"
    );
    assert!(t["license_details"]["name"].is_string(), "{t}");
    let e = call_err(
        &client,
        "correlation_get_templates",
        json!({"ids": [UNKNOWN_ID]}),
    )
    .await;
    assert!(e.contains(UNKNOWN_ID), "{e}");

    // Bad arguments, refused before Falcon sees them, or by Falcon with the guide cited.
    let e = call_err(
        &client,
        "correlation_search_rules",
        json!({"technique": "1059"}),
    )
    .await;
    assert!(e.contains("T1234"), "{e}");
    let e = call_err(
        &client,
        "correlation_search_rules",
        json!({"sort": "severity.desc"}),
    )
    .await;
    assert!(e.contains("last_updated_on"), "{e}");
    let e = call_err(&client, "correlation_search_rules", json!({"limit": 0})).await;
    assert!(e.contains("limit"), "{e}");
    let e = call_err(
        &client,
        "correlation_search_rules",
        json!({"filter": "no_such_field:'x'"}),
    )
    .await;
    assert!(e.contains(GUIDE), "{e}");

    // The FQL guide resource.
    let read = client
        .read_resource(ReadResourceRequestParams::new(GUIDE))
        .await
        .unwrap();
    let body = serde_json::to_string(&read).unwrap();
    assert!(body.contains("mitre_attack.technique_id"), "{body}");

    // Writes disabled: the status tool is neither listed nor callable.
    assert_writes_refused(
        &client,
        &sim,
        &["correlation_set_rule_status"],
        vec![(
            "correlation_set_rule_status",
            json!({"id": domain_rule, "enabled": false, "comment": "x", "confirm": true}),
        )],
    )
    .await;
    client.cancel().await.unwrap();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn set_rule_status_previews_applies_and_is_audited_on_the_rule() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_against(
        &sim,
        &["--modules", "correlation", "--allow-writes"],
        work.path(),
    )
    .await;
    let id = rule_for(&client, "T1003.001").await;
    let before = rule(&client, &id).await;
    assert_eq!(before["status"], "active");

    // Without confirm: a preview, and the rule is untouched.
    let r = call(
        &client,
        "correlation_set_rule_status",
        json!({"id": id, "enabled": false, "comment": "IR-7: noisy on the build servers"}),
    )
    .await;
    let s = ok_json(&r);
    assert_eq!(
        (s["preview"].clone(), s["applied"].clone()),
        (json!(true), json!(false))
    );
    assert!(text(&r).contains("active → inactive"), "{}", text(&r));
    assert_eq!(count_op(&sim, "entities_rules_patch_v1"), 0);
    assert_eq!(rule(&client, &id).await["status"], "active");

    // Confirmed: switched off, the comment kept on the rule, a new version.
    let s = ok_json(
        &call(
            &client,
            "correlation_set_rule_status",
            json!({"id": id, "enabled": false, "comment": "IR-7: noisy on the build servers", "confirm": true}),
        )
        .await,
    );
    assert_eq!(s["applied"], true, "{s}");
    let after = rule(&client, &id).await;
    assert_eq!(after["status"], "inactive");
    assert_eq!(after["comment"], "IR-7: noisy on the build servers");
    assert_eq!(
        after["version"].as_u64().unwrap(),
        before["version"].as_u64().unwrap() + 1
    );
    assert_eq!(s["rule"]["version"], after["version"]);
    assert_eq!(count_op(&sim, "entities_rules_patch_v1"), 1);
    // The list sees it, and asking again changes nothing.
    let s = ok_json(
        &call(
            &client,
            "correlation_search_rules",
            json!({"status": "inactive", "technique": "T1003.001"}),
        )
        .await,
    );
    assert_eq!(s["total"], 1, "{s}");
    let s = ok_json(
        &call(
            &client,
            "correlation_set_rule_status",
            json!({"id": id, "enabled": false, "comment": "again", "confirm": true}),
        )
        .await,
    );
    assert_eq!(s["applied"], false, "{s}");
    assert_eq!(count_op(&sim, "entities_rules_patch_v1"), 1);
    // And back on.
    let s = ok_json(
        &call(
            &client,
            "correlation_set_rule_status",
            json!({"id": id, "enabled": true, "comment": "IR-7 closed", "confirm": true}),
        )
        .await,
    );
    assert_eq!(s["rule"]["status"], "active", "{s}");

    // Errors: no comment, unknown rule, bad id, missing argument.
    let e = call_err(
        &client,
        "correlation_set_rule_status",
        json!({"id": id, "enabled": true, "comment": "   ", "confirm": true}),
    )
    .await;
    assert!(e.contains("comment"), "{e}");
    let e = call_err(
        &client,
        "correlation_set_rule_status",
        json!({"id": UNKNOWN_ID, "enabled": true, "comment": "x", "confirm": true}),
    )
    .await;
    assert!(e.contains(UNKNOWN_ID), "{e}");
    let e = call_err(
        &client,
        "correlation_set_rule_status",
        json!({"id": "x y", "enabled": true, "comment": "x"}),
    )
    .await;
    assert!(e.contains("rule id"), "{e}");
    let e = call_err(
        &client,
        "correlation_set_rule_status",
        json!({"id": id, "comment": "x"}),
    )
    .await;
    assert!(e.contains("enabled"), "{e}");
    assert_eq!(count_op(&sim, "entities_rules_patch_v1"), 2);
    client.cancel().await.unwrap();
    sim.shutdown().await;
}

fn files_config(work: &Path) -> String {
    let p = work.join("aerie.toml");
    std::fs::write(&p, "[plugins.correlation]\nfiles = true\n").unwrap();
    p.to_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn iac_export_writes_yaml_templates_into_the_files_dir() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let cfg = files_config(work.path());
    let client = serve_against(
        &sim,
        &[
            "--modules",
            "correlation",
            "--config",
            &cfg,
            "--files-dir",
            files.path().to_str().unwrap(),
        ],
        work.path(),
    )
    .await;

    // Every active rule by filter, one file each, placed by vendor.
    let s = ok_json(
        &call(
            &client,
            "correlation_export_iac",
            json!({"filter": "status:'active'", "limit": 100}),
        )
        .await,
    );
    let exported = s["files"].as_array().unwrap();
    assert_eq!(s["total"], exported.len(), "{s}");
    assert!(exported.len() >= 8, "{s}");
    for f in exported {
        let name = f["file"].as_str().unwrap();
        let on_disk = std::fs::read(files.path().join(name)).expect("file written");
        assert_eq!(f["sha256"], hex::encode(Sha256::digest(&on_disk)), "{f}");
        assert_eq!(f["bytes"], on_disk.len());
        let yaml = String::from_utf8(on_disk).unwrap();
        let id = f["rule_id"].as_str().unwrap();
        assert!(
            yaml.starts_with(&format!("# Correlation rule {id} ")),
            "{yaml}"
        );
        assert!(yaml.contains(&format!(
            "resource_id: {}\n",
            name.trim_end_matches(".yaml")
        )));
        assert!(yaml.contains("\nstatus: active\n"), "{yaml}");
        assert!(yaml.contains("\nsearch:\n  filter: "), "{yaml}");
    }
    let aws = exported
        .iter()
        .find(|f| f["name"] == "AWS root account console login")
        .expect("the AWS rule is active");
    assert_eq!(
        aws["repo_path"],
        "resources/detections/aws/aws_root_account_console_login.yaml"
    );
    // By id, with the vendor directory given: the domain rule's CQL as a literal block.
    let domain_rule = rule_for(&client, "T1071.004").await;
    let s = ok_json(
        &call(
            &client,
            "correlation_export_iac",
            json!({"ids": [domain_rule], "vendor": "dns"}),
        )
        .await,
    );
    let f = &s["files"][0];
    assert_eq!(
        f["repo_path"],
        "resources/detections/dns/known_bad_domain_resolved.yaml"
    );
    let yaml =
        std::fs::read_to_string(files.path().join("known_bad_domain_resolved.yaml")).unwrap();
    assert!(
        yaml.contains(&format!(
            "  filter: |\n    #event_simpleName=DnsRequest DomainName=\"{KNOWN_BAD_DOMAIN}\"\n"
        )),
        "{yaml}"
    );
    assert!(yaml.contains("tactic_id: TA0011"), "{yaml}");
    // Errors: an unknown rule writes nothing; a bad vendor or filter is refused.
    let e = call_err(
        &client,
        "correlation_export_iac",
        json!({"ids": [UNKNOWN_ID]}),
    )
    .await;
    assert!(e.contains(UNKNOWN_ID), "{e}");
    let e = call_err(
        &client,
        "correlation_export_iac",
        json!({"ids": [domain_rule], "vendor": "../up"}),
    )
    .await;
    assert!(e.contains("vendor"), "{e}");
    let e = call_err(
        &client,
        "correlation_export_iac",
        json!({"filter": "nope:'x'"}),
    )
    .await;
    assert!(e.contains(GUIDE), "{e}");
    client.cancel().await.unwrap();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_scopes_are_named() {
    let e = missing_scope_error(
        &["ngsiem:read"],
        &["--modules", "correlation"],
        "correlation_search_rules",
        json!({}),
    )
    .await;
    assert!(e.contains("`Correlation Rules:read`"), "{e}");
    let sim = sim_with_limited_client(&["correlation-rules:read"], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_as(
        &sim,
        &["--modules", "correlation", "--allow-writes"],
        work.path(),
        LIMITED_CLIENT_ID,
        LIMITED_CLIENT_SECRET,
    )
    .await;
    let id = rule_for(&client, "T1003.001").await;
    let e = call_err(
        &client,
        "correlation_set_rule_status",
        json!({"id": id, "enabled": false, "comment": "x", "confirm": true}),
    )
    .await;
    assert!(e.contains("`Correlation Rules:write`"), "{e}");
    client.cancel().await.unwrap();
    sim.shutdown().await;
}
