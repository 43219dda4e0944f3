use super::*;
use aerie_sdk::testing::MockEnv;

const JANE: &str = "c1732de2-853c-4375-a479-17b0afbe114f";
const HOST: &str = "0b9e6d2a-1f3c-4e5d-8a7b-6c5d4e3f2a1b";

fn call(env: &MockEnv, tool: &str, args: Value) -> Result<Output, ToolError> {
    plugin().call(env, tool, &args.to_string())
}

fn jane(risk: f64) -> Value {
    json!({"entityId": JANE, "type": "USER", "primaryDisplayName": "Jane Doe", "riskScore": risk,
           "riskScoreSeverity": "HIGH", "riskFactors": [{"type": "HAS_ATTACK_PATH", "severity": "HIGH", "score": 0.9}],
           "emailAddresses": ["jdoe@corp.example"], "roles": [],
           "associations": [{"bindingType": "OWNERSHIP", "entity": {"entityId": HOST, "type": "ENDPOINT", "primaryDisplayName": "WS-FIN-042", "riskScoreSeverity": "HIGH"}},
                            {"bindingType": "LOGIN"}],
           "openIncidents": {"nodes": [{"type": "CREDENTIAL_THEFT"}]}})
}

fn resolved() -> Value {
    json!({"data": {"byName": {"nodes": [], "pageInfo": {"hasNextPage": false}},
                    "byAccount": {"nodes": [jane(0.91)], "pageInfo": {"hasNextPage": false}}},
           "extensions": {"remainingPoints": 10}})
}

fn body(req: &aerie_sdk::FalconRequest) -> Value {
    serde_json::from_slice(req.body.as_deref().unwrap()).unwrap()
}

#[test]
fn declarations_are_valid_and_compact() {
    let p = plugin();
    p.validate().unwrap();
    let avg = p.describe().average_tool_bytes();
    assert!(avg < 520, "average tool size {avg} bytes");
}

#[test]
fn investigate_sends_fixed_documents_with_the_inputs_as_variables() {
    let timeline = json!({"data": {
        "asSource": {"nodes": [{"eventId": "e1", "eventType": "FAILED_AUTHENTICATION", "timestamp": "2025-06-13T01:00:00Z", "sourceEntity": {"primaryDisplayName": "Jane Doe"}, "targetEntity": {"primaryDisplayName": "203.0.113.66"}, "ipAddress": "203.0.113.66"}]},
        "asTarget": {"nodes": [{"eventId": "e2", "eventType": "SUCCESSFUL_AUTHENTICATION", "timestamp": "2025-06-13T02:00:00Z"},
                               {"eventId": "e1", "eventType": "FAILED_AUTHENTICATION", "timestamp": "2025-06-13T01:00:00Z"}]}}});
    let env = MockEnv::new()
        .reply(OP, 200, resolved())
        .reply(OP, 200, timeline);
    let evil = r#"CORP\jdoe") { x } mutation {"#;
    let out = call(
        &env,
        "identity_investigate",
        json!({"entity": r"CORP\jdoe", "days": 2}),
    )
    .unwrap();
    let calls = env.calls_to(OP);
    assert_eq!(calls.len(), 2);
    let first = body(&calls[0]);
    assert!(
        first["query"]
            .as_str()
            .unwrap()
            .starts_with("\nquery Resolve(")
    );
    assert_eq!(first["variables"]["pattern"], r"CORP\jdoe");
    assert_eq!(first["variables"]["accounts"], json!(["jdoe"]));
    assert_eq!(first["variables"]["byAccount"], true);
    assert_eq!(first["variables"]["first"], 3);
    let second = body(&calls[1]);
    assert_eq!(second["query"], TIMELINE);
    assert_eq!(second["variables"]["ids"], json!([JANE]));
    let start =
        aerie_sdk::ngsiem::epoch_ms(second["variables"]["start"].as_str().unwrap()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        (now - 2 * DAY_MS - start).abs() < 5_000,
        "start {start} vs now {now}"
    );
    let s = out.structured.unwrap();
    let e = &s["entities"][0];
    assert_eq!(
        e["related"],
        json!([{"binding": "OWNERSHIP", "entity_id": HOST, "name": "WS-FIN-042", "type": "ENDPOINT", "risk": "HIGH"}])
    );
    assert_eq!(e["openIncidents"][0]["type"], "CREDENTIAL_THEFT");
    // Events from both ends, once each, newest first.
    let types: Vec<&str> = s["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["SUCCESSFUL_AUTHENTICATION", "FAILED_AUTHENTICATION"]
    );
    assert_eq!(s["timeline"][1]["target"], "203.0.113.66");
    assert!(
        out.text.starts_with("Jane Doe (USER, HIGH risk 0.91)"),
        "{}",
        out.text
    );
    // Whatever the name holds, it is a variable: the document does not change.
    let env = MockEnv::new()
        .reply(OP, 200, resolved())
        .reply(OP, 200, json!({"data": {}}));
    call(
        &env,
        "identity_investigate",
        json!({"entity": evil, "timeline": 0}),
    )
    .unwrap();
    let calls = env.calls_to(OP);
    assert_eq!(calls.len(), 1, "no timeline with timeline 0");
    assert_eq!(body(&calls[0])["query"], first["query"]);
    assert_eq!(
        body(&calls[0])["variables"]["byAccount"],
        false,
        "a name with spaces is no account"
    );
}

#[test]
fn criteria_are_checked_before_any_request() {
    let env = MockEnv::new();
    for (args, want) in [
        (json!({"entity": " * "}), "every entity"),
        (json!({"entity": "jdoe@"}), "not one"),
        (
            json!({"entity": "a", "domain": "corp example"}),
            "not a domain",
        ),
        (json!({"entity": "x".repeat(201)}), "200 characters"),
        (json!({"entity": "a\u{7}"}), "control characters"),
    ] {
        let e = call(&env, "identity_investigate", args.clone())
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{args}: {e}");
    }
    assert!(env.calls().is_empty());
    let e = call(
        &env,
        "identity_search_entities",
        json!({"domain": "no domain"}),
    )
    .unwrap_err();
    assert!(e.to_string().contains("domain"), "{e}");
}

#[test]
fn graphql_errors_not_found_and_missing_scopes() {
    let env = MockEnv::new().reply(
        OP,
        200,
        json!({"errors": [{"message": "Cannot query field \"x\" on type \"Entity\"."}]}),
    );
    let e = call(
        &env,
        "identity_investigate",
        json!({"entity": "jdoe@corp.example"}),
    )
    .unwrap_err();
    assert!(e.to_string().contains("Cannot query field"), "{e}");
    let env = MockEnv::new().reply(
        OP,
        200,
        json!({"data": {"byName": {"nodes": []}, "byAccount": null}}),
    );
    let e = call(&env, "identity_investigate", json!({"entity": "10.9.9.9"})).unwrap_err();
    assert!(matches!(e, ToolError::NotFound(_)), "{e}");
    let env = MockEnv::new().reply(
        OP,
        403,
        json!({"errors": [{"message": "access denied, authorization failed"}]}),
    );
    let e = call(&env, "identity_investigate", json!({"entity": "10.9.9.9"}))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("`Identity Protection GraphQL:write` and `Identity Protection Entities:read`"),
        "{e}"
    );
}

#[test]
fn search_ranks_with_count_and_cursor() {
    let env = MockEnv::new().reply(
        OP,
        200,
        json!({"data": {"countEntities": 42, "entities": {"nodes": [{"entityId": JANE, "riskScore": 0.9, "riskFactors": [{"type": "A"}, {"type": "B"}]}], "pageInfo": {"hasNextPage": true, "endCursor": "Y3Vyc29y"}}}}),
    );
    let out = call(
        &env,
        "identity_search_entities",
        json!({"type": "user", "min_risk": "medium", "limit": 1, "cursor": "YWJj"}),
    )
    .unwrap();
    let v = body(&env.calls_to(OP)[0])["variables"].clone();
    assert_eq!(
        v,
        json!({"types": ["USER"], "min": "MEDIUM", "first": 1, "after": "YWJj"})
    );
    let s = out.structured.unwrap();
    assert_eq!(
        (s["total"].clone(), s["next"].clone()),
        (json!(42), json!("Y3Vyc29y"))
    );
    assert_eq!(s["results"][0]["riskFactors"], json!(["A", "B"]));
}

#[test]
fn rfc3339_renders_utc() {
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(1_709_164_800_000), "2024-02-29T00:00:00Z");
    assert_eq!(rfc3339(1_749_780_114_602), "2025-06-13T02:01:54Z");
    for ms in [951_782_400_000i64, 4_107_542_399_000, 1_234_567_890_123] {
        assert_eq!(
            aerie_sdk::ngsiem::epoch_ms(&rfc3339(ms)),
            Some(ms - ms % 1000)
        );
    }
}

#[test]
fn the_entity_argument_is_detected_by_form() {
    let vars = |e: &str| {
        resolve_variables(&InvestigateArgs {
            entity: e.into(),
            domain: None,
            kind: None,
            days: 7,
            timeline: 0,
        })
        .unwrap()
    };
    assert_eq!(vars(JANE)["ids"], json!([JANE]));
    assert_eq!(vars(" 10.3.0.4 ")["ips"], json!(["10.3.0.4"]));
    assert_eq!(vars("2001:DB8::1")["ips"], json!(["2001:db8::1"]));
    assert_eq!(
        vars("jdoe@corp.example")["emails"],
        json!(["jdoe@corp.example"])
    );
    let v = vars("Jane*");
    assert_eq!(
        (
            v["pattern"].clone(),
            v["byAccount"].clone(),
            v.get("accounts")
        ),
        (json!("Jane*"), json!(false), None)
    );
    assert_eq!(vars("WS-FIN-042")["accounts"], json!(["WS-FIN-042"]));
}
