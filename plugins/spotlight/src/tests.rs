use super::*;
use aerie_sdk::testing::MockEnv;

const AID: &str = "5388c592189444ad9e84df071c8f3954";

fn call(env: &MockEnv, tool: &str, args: Value) -> Result<Output, ToolError> {
    plugin().call(env, tool, &args.to_string())
}

fn finding(id: &str, score: f64, exploit: u32, severity: &str) -> Value {
    json!({
        "id": id, "aid": AID, "status": "open", "cid": "c",
        "cve": {"id": "CVE-2024-0001", "severity": severity, "base_score": score, "exploit_status": exploit,
                "actors": [], "cisa_info": {"is_cisa_kev": exploit == 90}},
        "host_info": {"hostname": "WS-1"},
        "apps": [{"product_name_version": "App 1.0"}],
        "remediation": {"entities": [{"action": "Update App"}]},
    })
}

#[test]
fn declarations_are_valid_and_compact() {
    let p = plugin();
    p.validate().unwrap();
    let avg = p.describe().average_tool_bytes();
    // 435 bytes when written; the tools/list budget is 520 including annotations.
    assert!(avg < 450, "average tool size {avg} bytes");
}

#[test]
fn search_resolves_the_hostname_and_builds_the_filter() {
    let env = MockEnv::new()
        .reply("QueryDevicesByFilter", 200, json!({"resources": [AID]}))
        .reply(
            "combinedQueryVulnerabilities",
            200,
            json!({"meta": {"pagination": {"limit": 1, "total": 3, "after": "tok"}}, "resources": [finding("v1", 9.8, 90, "CRITICAL")]}),
        );
    let out = call(
        &env,
        "spotlight_search",
        json!({"hostname": "WS-1", "cve": "cve-2024-0001", "severity": "critical", "status": "open", "exploit_status": "easily_accessible", "limit": 1}),
    )
    .unwrap();
    let q = &env.calls_to("combinedQueryVulnerabilities")[0];
    assert_eq!(
        q.query_value("filter"),
        Some(format!(
            "aid:['{AID}']+cve.id:['CVE-2024-0001']+cve.severity:'CRITICAL'+status:'open'+cve.exploit_status:['60','90']"
        ))
        .as_deref()
    );
    assert_eq!(q.query_value("sort"), Some("updated_timestamp|desc"));
    assert!(q.query.contains(&("facet".into(), "host_info".into())));
    let s = out.structured.unwrap();
    assert_eq!(s["next"], "tok");
    let r = &s["results"][0];
    assert_eq!(
        (
            r["hostname"].as_str(),
            r["remediation"].as_str(),
            r["cisa_kev"].as_bool()
        ),
        (Some("WS-1"), Some("Update App"), Some(true))
    );
    assert!(r.get("cid").is_none() && r.get("actors").is_none(), "{r}");
}

#[test]
fn bad_input_is_refused_before_any_request() {
    let env = MockEnv::new();
    for (tool, args, needle) in [
        ("spotlight_search", json!({}), "needs a filter"),
        ("spotlight_search", json!({"cve": "2024-1"}), "CVE-YYYY"),
        ("spotlight_search", json!({"aid": "x"}), "32 hexadecimal"),
        ("spotlight_search", json!({"severity": "urgent"}), "urgent"),
        (
            "spotlight_query",
            json!({"cve": "CVE-2024-1234", "sort": "cve.id.asc"}),
            "cannot sort",
        ),
        (
            "spotlight_get",
            json!({"ids": ["a b"]}),
            "not a vulnerability id",
        ),
        (
            "spotlight_get_remediations",
            json!({"ids": ["x"]}),
            "remediation id",
        ),
        (
            "spotlight_supported_evaluations",
            json!({}),
            "needs a filter",
        ),
        ("spotlight_host_vulns", json!({"host": " "}), "empty"),
    ] {
        let e = call(&env, tool, args).unwrap_err();
        assert!(
            matches!(e, ToolError::InvalidArguments(_)) && e.to_string().contains(needle),
            "{tool}: {e}"
        );
    }
    assert!(env.calls().is_empty());
}

#[test]
fn an_unknown_hostname_is_not_found() {
    let env = MockEnv::new().reply("QueryDevicesByFilter", 200, json!({"resources": []}));
    let e = call(&env, "spotlight_host_vulns", json!({"host": "NOPE"})).unwrap_err();
    assert!(
        matches!(e, ToolError::NotFound(ref m) if m.contains("NOPE")),
        "{e}"
    );
    assert_eq!(env.operations(), ["QueryDevicesByFilter"]);
}

#[test]
fn host_vulns_pages_sorts_worst_first_and_counts() {
    let page1: Vec<Value> = (0..500)
        .map(|i| finding(&format!("a{i}"), 5.0, 0, "MEDIUM"))
        .collect();
    let env = MockEnv::new()
        .reply(
            "combinedQueryVulnerabilities",
            200,
            json!({"meta": {"pagination": {"limit": 500, "total": 502, "after": "p2"}}, "resources": page1}),
        )
        .reply(
            "combinedQueryVulnerabilities",
            200,
            json!({"meta": {"pagination": {"limit": 500, "total": 502}}, "resources": [finding("b1", 9.8, 90, "CRITICAL"), finding("b2", 7.0, 90, "HIGH")]}),
        );
    let s = call(&env, "spotlight_host_vulns", json!({"host": AID}))
        .unwrap()
        .structured
        .unwrap();
    let calls = env.calls_to("combinedQueryVulnerabilities");
    assert_eq!(calls.len(), 2);
    assert_eq!(
        calls[0].query_value("filter"),
        Some(format!("aid:'{AID}'+status:['open','reopen']")).as_deref()
    );
    assert_eq!(calls[1].query_value("after"), Some("p2"));
    assert_eq!(s["total"], 502);
    assert_eq!(s["vulnerabilities"][0]["id"], "b1");
    assert_eq!(s["vulnerabilities"][1]["id"], "b2");
    assert_eq!(
        s["by_severity"],
        json!({"MEDIUM": 500, "CRITICAL": 1, "HIGH": 1})
    );
    assert!(s.get("truncated").is_none());
    assert!(s["vulnerabilities"][0].get("hostname").is_none());
}

#[test]
fn a_hostname_naming_several_hosts_asks_for_an_aid() {
    let env = MockEnv::new().reply(
        "QueryDevicesByFilter",
        200,
        json!({"resources": [AID, "0123456789abcdef0123456789abcdef"]}),
    );
    let e = call(&env, "spotlight_host_vulns", json!({"host": "WS-*"})).unwrap_err();
    assert!(
        e.to_string().contains("2 hosts") && e.to_string().contains(AID),
        "{e}"
    );
}
