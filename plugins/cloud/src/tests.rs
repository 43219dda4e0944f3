use super::*;
use aerie_sdk::testing::MockEnv;

fn call(env: &MockEnv, tool: &str, args: Value) -> Result<Output, ToolError> {
    plugin().call(env, tool, &args.to_string())
}

#[test]
fn declarations_are_valid_and_compact() {
    let p = plugin();
    p.validate().unwrap();
    let avg = p.describe().average_tool_bytes();
    assert!(avg < 470, "average tool size {avg} bytes");
}

#[test]
fn accounts_come_from_each_provider_with_their_problems() {
    let env = MockEnv::new()
        .reply(
            "GetCSPMAwsAccount",
            207,
            json!({"resources": [
                {"ID": 1, "account_id": "123456789012", "account_name": "prod", "status": "Event_DiscoverySuccessful", "valid": true, "conditions": [], "active_regions": ["us-east-1"]},
                {"ID": 2, "account_id": "210987654321", "account_name": "stage", "valid": false,
                 "conditions": [{"status": "False", "message": "role cannot be assumed"}, {"status": "True", "message": "fine"}]}],
                   "errors": [{"code": 404, "id": "x"}]}),
        )
        .reply("GetCSPMAzureAccount", 200, json!({"resources": [{"subscription_id": "s-1", "subscription_name": "corp", "status": "Subscription_Registered"}]}))
        .reply("GetCSPMGCPAccount", 200, json!({"resources": []}));
    let out = call(&env, "cloud_list_accounts", json!({})).unwrap();
    let s = out.structured.unwrap();
    let a = s["accounts"].as_array().unwrap();
    assert_eq!(a.len(), 3);
    assert_eq!(a[1]["problems"], json!(["role cannot be assumed"]));
    assert_eq!(
        (a[0]["operational"].clone(), a[1]["operational"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(
        (
            a[2]["provider"].clone(),
            a[2]["account_id"].clone(),
            a[2]["name"].clone()
        ),
        (json!("azure"), json!("s-1"), json!("corp"))
    );
    assert!(
        out.text
            .starts_with("3 registered cloud account(s), 1 with problems"),
        "{}",
        out.text
    );
    let env = MockEnv::new().reply("GetCSPMGCPAccount", 200, json!({"resources": []}));
    call(
        &env,
        "cloud_list_accounts",
        json!({"provider": "gcp", "status": "operational"}),
    )
    .unwrap();
    assert_eq!(env.operations(), ["GetCSPMGCPAccount"]);
    assert_eq!(env.calls()[0].query_value("status"), Some("operational"));
    // More accounts than a page: the next page is read, until the total.
    let page = |from: usize, n: usize| -> Value {
        let r: Vec<Value> = (from..from + n)
            .map(|i| json!({"parent_id": format!("p{i}")}))
            .collect();
        json!({"meta": {"pagination": {"offset": from, "limit": 100, "total": 130}}, "resources": r})
    };
    let env = MockEnv::new()
        .reply("GetCSPMGCPAccount", 200, page(0, 100))
        .reply("GetCSPMGCPAccount", 200, page(100, 30));
    let s = call(&env, "cloud_list_accounts", json!({"provider": "gcp"}))
        .unwrap()
        .structured
        .unwrap();
    assert_eq!(s["accounts"].as_array().unwrap().len(), 130);
    let offsets: Vec<_> = env
        .calls()
        .iter()
        .map(|c| c.query_value("offset").map(str::to_string))
        .collect();
    assert_eq!(offsets, [Some("0".to_string()), Some("100".to_string())]);
}

#[test]
fn risks_are_ranked_by_score_in_the_tool() {
    let env = MockEnv::new().reply(
        "combined_cloud_risks",
        200,
        json!({"meta": {"pagination": {"offset": 0, "limit": 500, "total": 3}}, "resources": [
            {"id": "a", "score": 60, "risk_factors": [{"type": "Misconfiguration"}], "cid": "c"},
            {"id": "b", "score": 97, "risk_factors": [{"type": "ActiveDetection"}]},
            {"id": "c", "score": 75, "risk_factors": []}]}),
    );
    let out = call(
        &env,
        "cloud_search_risks",
        json!({"provider": "aws", "severity": "critical", "limit": 2}),
    )
    .unwrap();
    let q = &env.calls()[0];
    assert_eq!(
        q.query_value("filter"),
        Some("cloud_provider:'aws'+severity:'Critical'+status:'open'")
    );
    assert_eq!(q.query_value("limit"), Some("500"));
    let s = out.structured.unwrap();
    let ids: Vec<&str> = s["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["b", "c"]);
    assert_eq!(s["results"][0]["risk_factors"], json!(["ActiveDetection"]));
    assert!(s["results"][0].get("cid").is_none());
    let env = MockEnv::new().reply("combined_cloud_risks", 200, json!({"resources": []}));
    call(&env, "cloud_search_risks", json!({"status": "all"})).unwrap();
    assert_eq!(env.calls()[0].query_value("filter"), None);
    for args in [
        json!({"account_id": "12 34"}),
        json!({"filter": "a:'1' AND b:'2'"}),
    ] {
        assert!(matches!(
            call(&MockEnv::new(), "cloud_search_risks", args),
            Err(ToolError::InvalidArguments(_))
        ));
    }
}

#[test]
fn ioms_and_assets_search_with_flat_filters_and_pipe_sorts() {
    let env = MockEnv::new()
        .reply("cspm_evaluations_iom_queries", 200, json!({"meta": {"pagination": {"offset": 0, "limit": 1, "total": 4}}, "resources": ["i1"]}))
        .reply("cspm_evaluations_iom_entities", 200, json!({"resources": [{"id": "i1", "cid": "c", "evaluation": {"severity": "High", "rule": {"name": "S3 public", "remediation": "Step 1. Fix it.", "alert_logic": "x"}}}]}));
    let out = call(&env, "cloud_search_ioms", json!({"account_id": "123456789012", "severity": "high", "filter": "status:'failed'", "region": "us-east-1", "sort": "severity.asc", "limit": 1})).unwrap();
    let q = &env.calls_to("cspm_evaluations_iom_queries")[0];
    assert_eq!(
        q.query_value("filter"),
        Some("account_id:'123456789012'+region:'us-east-1'+severity:'High'+(status:'failed')")
    );
    assert_eq!(q.query_value("sort"), Some("severity|asc"));
    let s = out.structured.unwrap();
    assert_eq!(
        s["results"][0]["evaluation"]["rule"],
        json!({"name": "S3 public", "remediation": "Step 1. Fix it."})
    );
    assert_eq!(s["next"], 1);
    let env = MockEnv::new().reply(
        "cloud_security_assets_queries",
        200,
        json!({"resources": []}),
    );
    call(&env, "cloud_search_assets", json!({"provider": "azure", "exposed": true, "resource_type": "Microsoft.Storage/storageAccounts"})).unwrap();
    let q = &env.calls()[0];
    assert_eq!(
        q.query_value("filter"),
        Some(
            "cloud_provider:'azure'+resource_type:'Microsoft.Storage/storageAccounts'+publicly_exposed:true"
        )
    );
    assert_eq!(q.query_value("sort"), Some("resource_name|asc"));
    assert_eq!(
        env.operations(),
        ["cloud_security_assets_queries"],
        "nothing to hydrate"
    );
    let e = call(
        &MockEnv::new(),
        "cloud_search_assets",
        json!({"sort": "secret|asc"}),
    )
    .unwrap_err();
    assert!(e.to_string().contains("resource_name"), "{e}");
}

#[test]
fn compliance_rolls_up_per_account_and_region() {
    let row = |acct: &str, region: &str, ok: u64, bad: u64, control: &str| {
        json!({"account_id": acct, "account_name": "n", "cloud_provider": "aws", "region": region, "resource_type_name": "S3 Bucket",
               "control": {"name": control, "framework": "CIS"}, "rules": [{"name": format!("rule {control}")}],
               "resource_counts": {"compliant": ok, "non_compliant": bad, "total": ok + bad}, "severities": if bad > 0 { json!(["High"]) } else { json!([]) }})
    };
    let env = MockEnv::new().reply(
        "cloud_security_assets_combined_compliance_by_account",
        200,
        json!({"meta": {"pagination": {"total": 3}}, "resources": [row("1", "us-east-1", 3, 1, "2.1.1"), row("1", "us-east-1", 1, 3, "2.1.5"), row("2", "eu-west-1", 2, 0, "2.1.1")]}),
    );
    let out = call(
        &env,
        "cloud_compliance_by_account",
        json!({"framework": "CIS"}),
    )
    .unwrap();
    assert_eq!(
        env.calls()[0].query_value("filter"),
        Some("control.framework:'CIS'")
    );
    let s = out.structured.unwrap();
    let first = &s["accounts"][0];
    assert_eq!(
        (
            first["account_id"].clone(),
            first["compliant"].clone(),
            first["non_compliant"].clone(),
            first["pass_rate"].clone()
        ),
        (json!("1"), json!(4), json!(4), json!(50.0))
    );
    assert_eq!(
        first["failing"][0]["control"], "CIS 2.1.5",
        "worst control first"
    );
    assert_eq!(first["failing_controls"], 2);
    assert_eq!(s["accounts"][1]["pass_rate"], 100.0);
    assert_eq!(s["accounts"][1]["failing"], json!([]));
}

#[test]
fn policy_settings_pass_the_dashed_parameters() {
    let env = MockEnv::new().reply(
        "GetCSPMPolicySettings",
        200,
        json!({"resources": [{"policy_id": 1001, "name": "S3 public", "cloud_provider": "aws", "cis_benchmark": [{"benchmark_short": "CIS AWS", "recommendation_number": "2.1.5"}],
                             "policy_settings": [{"account_id": "1", "enabled": true}, {"account_id": "2", "enabled": false}]}]}),
    );
    let out = call(
        &env,
        "cloud_policy_settings",
        json!({"provider": "aws", "service": "S3", "policy_id": 1001}),
    )
    .unwrap();
    let q = &env.calls()[0];
    assert_eq!(
        (
            q.query_value("cloud-platform"),
            q.query_value("service"),
            q.query_value("policy-id")
        ),
        (Some("aws"), Some("S3"), Some("1001"))
    );
    let p = &out.structured.unwrap()["policies"][0];
    assert_eq!(
        (
            p["disabled_in"].clone(),
            p["benchmarks"].clone(),
            p["accounts"].clone()
        ),
        (json!(["2"]), json!(["CIS AWS 2.1.5"]), json!(2))
    );
    let env = MockEnv::new().reply(
        "GetCSPMPolicySettings",
        404,
        json!({"errors": [{"message": "Policy 9 not found"}]}),
    );
    let e = call(&env, "cloud_policy_settings", json!({"policy_id": 9})).unwrap_err();
    assert!(
        matches!(e, ToolError::NotFound(ref m) if m.contains("policy 9")),
        "{e}"
    );
}
