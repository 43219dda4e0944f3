use super::*;
use aerie_sdk::testing::MockEnv;

const ID: &str = "c3f1a2b4d5e64f7a8b9c0d1e2f3a4b5c";
const ID2: &str = "9d2e7c1b0a4f4e3d8c7b6a5f4e3d2c1b";

fn call(env: &MockEnv, tool: &str, args: Value) -> Result<Output, ToolError> {
    plugin().call(env, tool, &args.to_string())
}

fn rule(id: &str, name: &str, status: &str) -> Value {
    json!({
        "id": id, "rule_id": id, "name": name, "description": "d", "status": status,
        "severity": 70, "version": 2, "state": "published", "customer_id": "cid",
        "mitre_attack": [{"tactic_id": "TA0002", "technique_id": "T1059.001"}],
        "search": {"filter": "#event_simpleName=ProcessRollup2\n| CommandLine=/-enc/i", "lookback": "1h0m",
                   "outcome": "detection", "trigger_mode": "summary", "use_ingest_time": false},
        "operation": {"schedule": {"definition": "@every 1h0m"}},
        "last_updated_on": "2025-06-12T09:30:00Z", "user_id": "a@example.com",
        "last_execution": {"result_metadata": {"result_count": 3}},
    })
}

fn entities(rules: Vec<Value>) -> Value {
    json!({"resources": rules})
}

#[test]
fn declarations_are_valid_and_compact() {
    let p = plugin();
    p.validate().unwrap();
    let avg = p.describe().average_tool_bytes();
    assert!(avg < 450, "average tool size {avg} bytes");
}

#[test]
fn search_builds_fql_free_text_and_sort_then_hydrates() {
    let env = MockEnv::new()
        .reply(
            "queries_rules_get_v1",
            200,
            json!({"meta": {"pagination": {"offset": 0, "limit": 5, "total": 9}}, "resources": [ID]}),
        )
        .reply(
            "entities_rules_get_v1",
            200,
            entities(vec![rule(ID, "r", "active")]),
        );
    let out = call(
        &env,
        "correlation_search_rules",
        json!({"status": "active", "min_severity": 70, "technique": "t1059.001",
               "text": "office", "limit": 5, "sort": "created_on.asc"}),
    )
    .unwrap();
    let q = &env.calls_to("queries_rules_get_v1")[0].query;
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(
        get("filter"),
        Some("status:'active'+severity:>=70+mitre_attack.technique_id:'T1059.001'")
    );
    assert_eq!(get("q"), Some("office"));
    assert_eq!(get("sort"), Some("created_on|asc"));
    let s = out.structured.unwrap();
    assert_eq!(s["total"], 9);
    assert_eq!(s["next"], 1);
    let r = &s["results"][0];
    assert_eq!(
        r["search"],
        json!({"outcome": "detection"}),
        "summary only: {r}"
    );
    assert!(r.get("description").is_none());
    // Bad input never reaches Falcon.
    let env = MockEnv::new();
    for bad in [
        json!({"technique": "1059"}),
        json!({"sort": "severity.desc"}),
    ] {
        assert!(call(&env, "correlation_search_rules", bad).is_err());
    }
    assert!(env.calls().is_empty());
}

#[test]
fn set_status_previews_then_patches_a_list_with_status_and_comment() {
    let env = MockEnv::new().reply(
        "entities_rules_get_v1",
        200,
        entities(vec![rule(ID, "Enc PS", "active")]),
    );
    let out = call(
        &env,
        "correlation_set_rule_status",
        json!({"id": ID, "enabled": false, "comment": "noisy"}),
    )
    .unwrap();
    let s = out.structured.unwrap();
    assert_eq!(
        (s["preview"].clone(), s["applied"].clone()),
        (json!(true), json!(false))
    );
    assert!(out.text.contains("active → inactive"), "{}", out.text);
    assert!(env.calls_to("entities_rules_patch_v1").is_empty());

    let mut patched = rule(ID, "Enc PS", "inactive");
    patched["version"] = json!(3);
    let env = MockEnv::new()
        .reply(
            "entities_rules_get_v1",
            200,
            entities(vec![rule(ID, "Enc PS", "active")]),
        )
        .reply("entities_rules_patch_v1", 200, entities(vec![patched]));
    let out = call(
        &env,
        "correlation_set_rule_status",
        json!({"id": ID, "enabled": false, "comment": " noisy ", "confirm": true}),
    )
    .unwrap();
    let body = env.calls_to("entities_rules_patch_v1")[0]
        .body_json()
        .unwrap();
    assert_eq!(
        body,
        json!([{"id": ID, "status": "inactive", "comment": "noisy"}])
    );
    let s = out.structured.unwrap();
    assert_eq!(s["applied"], true);
    assert_eq!(s["rule"]["version"], 3);

    // Already in the asked state: no write, even with confirm.
    let env = MockEnv::new().reply(
        "entities_rules_get_v1",
        200,
        entities(vec![rule(ID, "Enc PS", "active")]),
    );
    let out = call(
        &env,
        "correlation_set_rule_status",
        json!({"id": ID, "enabled": true, "comment": "x", "confirm": true}),
    )
    .unwrap();
    assert_eq!(out.structured.unwrap()["applied"], false);
    assert!(env.calls_to("entities_rules_patch_v1").is_empty());
    // A blank comment is refused before anything is read.
    let env = MockEnv::new();
    assert!(matches!(
        call(
            &env,
            "correlation_set_rule_status",
            json!({"id": ID, "enabled": true, "comment": "  "})
        ),
        Err(ToolError::InvalidArguments(_))
    ));
    assert!(env.calls().is_empty());
}

#[test]
fn export_rule_gives_a_create_definition() {
    let env = MockEnv::new().reply(
        "entities_rules_get_v1",
        200,
        entities(vec![rule(ID, "Enc PS", "active")]),
    );
    let s = call(&env, "correlation_export_rule", json!({"id": ID}))
        .unwrap()
        .structured
        .unwrap();
    let d = &s["definition"];
    assert_eq!(d["name"], "Enc PS");
    assert_eq!(d["search"]["use_ingest_time"], false);
    assert_eq!(d["operation"]["schedule"]["definition"], "@every 1h0m");
    assert!(d.get("id").is_none() && d.get("customer_id").is_none());
    assert_eq!(s["rule"]["version"], 2);
}

#[test]
fn export_iac_writes_one_file_per_rule_and_keeps_names_apart() {
    let env = MockEnv::new().reply(
        "entities_rules_get_v1",
        200,
        entities(vec![
            rule(ID, "Same name", "active"),
            rule(ID2, "Same name", "inactive"),
        ]),
    );
    let out = call(&env, "correlation_export_iac", json!({"ids": [ID, ID2]})).unwrap();
    let s = out.structured.unwrap();
    let files: Vec<&str> = s["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["same_name.yaml", "same_name_2.yaml"]);
    let second = String::from_utf8(env.file_contents("same_name_2.yaml").unwrap()).unwrap();
    assert!(second.contains("resource_id: same_name_2\n"), "{second}");
    assert!(second.contains("status: inactive"), "{second}");
    assert_eq!(
        s["files"][0]["repo_path"],
        "resources/detections/crowdstrike/same_name.yaml"
    );

    let env = MockEnv::new().reply(
        "combined_rules_get_v1",
        200,
        json!({"meta": {"pagination": {"offset": 0, "limit": 1, "total": 4}}, "resources": [rule(ID, "A", "active")]}),
    );
    let out = call(
        &env,
        "correlation_export_iac",
        json!({"filter": "status:'active'", "limit": 1, "vendor": "Acme"}),
    )
    .unwrap();
    assert!(out.text.contains("4 rules matched"), "{}", out.text);
    assert_eq!(
        out.structured.unwrap()["files"][0]["repo_path"],
        "resources/detections/acme/a.yaml"
    );
    let env = MockEnv::new();
    for bad in [
        json!({}),
        json!({"ids": [ID], "filter": "status:'active'"}),
        json!({"ids": ["nope"]}),
        json!({"filter": "status:'active'", "vendor": "../x"}),
    ] {
        assert!(call(&env, "correlation_export_iac", bad).is_err());
    }
    assert!(env.calls().is_empty());
}

#[test]
fn templates_filter_by_vendor() {
    let env = MockEnv::new().reply(
        "queries_templates_get_v1Mixin0",
        200,
        json!({"meta": {"pagination": {"offset": 0, "limit": 20, "total": 0}}, "resources": []}),
    );
    call(
        &env,
        "correlation_search_templates",
        json!({"vendor": "AWS"}),
    )
    .unwrap();
    let q = &env.calls()[0].query;
    assert!(
        q.contains(&("filter".into(), "vendor:'aws'".into())),
        "{q:?}"
    );
}
