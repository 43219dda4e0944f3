use super::*;
use aerie_sdk::testing::MockEnv;

fn call(env: &MockEnv, tool: &str, args: Value) -> Result<Output, ToolError> {
    plugin().call(env, tool, &args.to_string())
}

fn page(total: u64, items: Value) -> Value {
    json!({"meta": {"pagination": {"offset": 0, "limit": 10, "total": total}}, "resources": items})
}

#[test]
fn declarations_are_valid_and_compact() {
    let p = plugin();
    p.validate().unwrap();
    let avg = p.describe().average_tool_bytes();
    assert!(avg < 450, "average tool size {avg} bytes");
    assert_eq!(p.describe().resources.len(), 3);
}

#[test]
fn actor_search_sends_fql_text_and_full_fields_and_flattens_taxonomies() {
    let actor = json!({"id": 7, "name": "FANCY BEAR", "slug": "fancy-bear", "cid": "x",
        "origins": [{"id": 1, "slug": "ru", "value": "Russian Federation"}],
        "target_industries": [{"id": 2, "slug": "government", "value": "Government"}]});
    let env = MockEnv::new().reply("QueryIntelActorEntities", 200, page(1, json!([actor])));
    let s = call(
        &env,
        "intel_search_actors",
        json!({"name": "Fancy Bear", "animal": "bear", "industry": "Government", "q": "espionage"}),
    )
    .unwrap()
    .structured
    .unwrap();
    let q = &env.calls()[0];
    assert_eq!(
        q.query_value("filter"),
        Some("slug:'fancy-bear'+animal_classifier:'BEAR'+target_industries.slug:'government'")
    );
    assert_eq!(q.query_value("q"), Some("espionage"));
    assert_eq!(q.query_value("fields"), Some("__full__"));
    assert_eq!(q.query_value("sort"), Some("last_activity_date|desc"));
    let r = &s["results"][0];
    assert_eq!(r["origins"], json!(["Russian Federation"]));
    assert_eq!(r["target_industries"], json!(["Government"]));
    assert!(r.get("cid").is_none());
}

#[test]
fn indicator_search_normalises_values() {
    let env = MockEnv::new().reply("QueryIntelIndicatorEntities", 200, page(0, json!([])));
    let sha = "42265B18327115957F629C707CDBE7B95A3030BE7AF8FBF1CC0469675AC2E4FB";
    call(
        &env,
        "intel_search_indicators",
        json!({"indicator": sha, "actor": "gilded spider", "report": "csit-25042", "cve": "cve-2024-21412", "confidence": "high"}),
    )
    .unwrap();
    let q = &env.calls()[0];
    assert_eq!(
        q.query_value("filter"),
        Some(format!(
            "indicator:'{}'+actors:'GILDEDSPIDER'+reports:'CSIT-25042'+vulnerabilities:'CVE-2024-21412'+malicious_confidence:'high'",
            sha.to_lowercase()
        ))
        .as_deref()
    );
    assert_eq!(q.query_value("include_relations"), Some("false"));
}

#[test]
fn bad_input_is_refused_before_any_request() {
    let env = MockEnv::new();
    for (tool, args, needle) in [
        (
            "intel_get_actor",
            json!({"ids": ["fancy-bear"]}),
            "expected digits",
        ),
        (
            "intel_get_report",
            json!({"ids": ["1 2"]}),
            "expected digits",
        ),
        (
            "intel_get_indicator",
            json!({"ids": ["nounderscore"]}),
            "<type>_<value>",
        ),
        (
            "intel_search_reports",
            json!({"sort": "url.asc"}),
            "cannot sort",
        ),
        (
            "intel_search_indicators",
            json!({"confidence": "sure"}),
            "sure",
        ),
        ("intel_get_techniques", json!({"actor": "  "}), "empty"),
        (
            "intel_download_report",
            json!({"report": "1", "save_as": "../x.pdf"}),
            "plain file name",
        ),
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
fn techniques_resolve_a_name_and_read_the_bare_array() {
    let env = MockEnv::new()
        .reply(
            "QueryIntelActorEntities",
            200,
            page(1, json!([{"id": 7, "name": "FANCY BEAR", "slug": "fancy-bear"}])),
        )
        .reply(
            "GetMitreReport",
            200,
            json!([
                {"id": "fancy-bear_TA0011_T1071", "tactic_id": "TA0011", "tactic_name": "Command and Control", "technique_id": "T1071", "technique_name": "Application Layer Protocol", "reports": ["CSA-1"], "observables": []},
                {"id": "fancy-bear_TA0001_T1566", "tactic_id": "TA0001", "tactic_name": "Initial Access", "technique_id": "T1566", "technique_name": "Phishing", "reports": ["CSA-1"], "observables": ["lures"]}
            ]),
        );
    let s = call(&env, "intel_get_techniques", json!({"actor": "Fancy Bear"}))
        .unwrap()
        .structured
        .unwrap();
    assert_eq!(
        env.calls()[0].query_value("filter"),
        Some("slug:'fancy-bear'")
    );
    let m = &env.calls_to("GetMitreReport")[0];
    assert_eq!(
        (m.query_value("actor_id"), m.query_value("format")),
        (Some("7"), Some("json"))
    );
    assert_eq!(s["actor"]["slug"], "fancy-bear");
    assert_eq!(s["techniques"][0]["technique_id"], "T1566");
    assert!(s["techniques"][1].get("observables").is_none(), "pruned");
}

#[test]
fn techniques_of_an_actor_without_any_are_empty_and_unknown_actors_not_found() {
    let env = MockEnv::new()
        .reply(
            "GetIntelActorEntities",
            200,
            json!({"resources": [{"id": 9, "name": "X", "slug": "x"}]}),
        )
        .reply_bytes("GetMitreReport", 200, b"null".to_vec());
    let s = call(&env, "intel_get_techniques", json!({"actor": "9"}))
        .unwrap()
        .structured
        .unwrap();
    assert_eq!(s["techniques"], json!([]));
    let env = MockEnv::new().reply("QueryIntelActorEntities", 200, page(0, json!([])));
    let e = call(&env, "intel_get_techniques", json!({"actor": "nobody"})).unwrap_err();
    assert!(
        matches!(e, ToolError::NotFound(ref m) if m.contains("nobody")),
        "{e}"
    );
}

#[test]
fn download_resolves_a_serial_and_writes_the_pdf() {
    let env = MockEnv::new()
        .reply(
            "QueryIntelReportEntities",
            200,
            page(
                1,
                json!([{"id": 1025042, "name": "CSIT-25042 X", "slug": "csit-25042"}]),
            ),
        )
        .reply_bytes("GetIntelReportPDF", 200, b"%PDF-1.4 body".to_vec());
    let s = call(
        &env,
        "intel_download_report",
        json!({"report": "CSIT-25042"}),
    )
    .unwrap()
    .structured
    .unwrap();
    assert_eq!(s["saved_as"], "csit-25042.pdf");
    assert_eq!(
        env.file_contents("csit-25042.pdf").as_deref(),
        Some(&b"%PDF-1.4 body"[..])
    );
    assert_eq!(
        env.calls_to("GetIntelReportPDF")[0].query_value("id"),
        Some("1025042")
    );
    // Not a PDF: refused, nothing written.
    let env = MockEnv::new()
        .reply(
            "GetIntelReportEntities",
            200,
            json!({"resources": [{"id": 5, "slug": "csa-5"}]}),
        )
        .reply_bytes("GetIntelReportPDF", 200, b"<html>".to_vec());
    let e = call(&env, "intel_download_report", json!({"report": "5"})).unwrap_err();
    assert!(e.to_string().contains("not return a PDF"), "{e}");
    assert!(env.file_contents("csa-5.pdf").is_none());
}

#[test]
fn actor_slugs_from_names_and_indicator_forms() {
    assert_eq!(super::slug("GILDED SPIDER"), "gilded-spider");
    assert_eq!(super::slug("GILDEDSPIDER"), "gilded-spider");
    assert_eq!(super::slug("fancybear"), "fancy-bear");
    assert_eq!(super::slug("gilded-spider"), "gilded-spider");
    // Not an actor-shaped name: left alone.
    assert_eq!(super::slug("Spider"), "spider");
    assert_eq!(super::slug("unknownthing"), "unknownthing");
}
