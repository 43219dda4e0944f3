use super::*;
use aerie_sdk::testing::MockEnv;

const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const AID: &str = "5388c592189444ad9e84df071c8f3954";

fn call(env: &MockEnv, tool: &str, args: Value) -> Result<Output, ToolError> {
    plugin().call(env, tool, &args.to_string())
}

fn process(pid: &str, ts: &str) -> Value {
    json!({"id": format!("pid:{AID}:{pid}"), "vertex_type": "process", "device_id": AID, "customer_id": "c",
           "timestamp": ts, "scope": "device", "properties": {"FileName": "invoice.exe", "SHA256HashData": SHA, "RawProcessId": "1"}})
}

#[test]
fn declarations_are_valid_and_compact() {
    let p = plugin();
    p.validate().unwrap();
    let avg = p.describe().average_tool_bytes();
    assert!(avg < 470, "average tool size {avg} bytes");
}

#[test]
fn ran_on_detects_the_type_and_groups_by_host() {
    let env = MockEnv::new().reply(
        "combined_ran_on_get",
        200,
        json!({"meta": {"pagination": {"limit": 2, "offset": "dGc6Mg", "next_page": "dGc6Mg"}},
               "resources": [process("1", "2025-06-13T02:00:00Z"), process("2", "2025-06-12T02:00:00Z")]}),
    );
    let out = call(
        &env,
        "threat_graph_ran_on",
        json!({"value": SHA.to_uppercase(), "limit": 2}),
    )
    .unwrap();
    let q = &env.calls_to("combined_ran_on_get")[0];
    assert_eq!(q.query_value("type"), Some("sha256"));
    assert_eq!(q.query_value("value"), Some(SHA));
    let s = out.structured.unwrap();
    assert_eq!(
        s["devices"],
        json!([{"device_id": AID, "processes": 2, "first_seen": "2025-06-12T02:00:00Z", "last_seen": "2025-06-13T02:00:00Z"}])
    );
    assert!(
        s["processes"][0]["properties"]
            .get("RawProcessId")
            .is_none(),
        "summary fields only"
    );
    assert_eq!(s["next"], "dGc6Mg");
    // A short page is the last one.
    let env = MockEnv::new().reply(
        "combined_ran_on_get",
        200,
        json!({"meta": {"pagination": {"offset": "x"}}, "resources": []}),
    );
    let s = call(
        &env,
        "threat_graph_ran_on",
        json!({"value": "update-check.badcdn.example"}),
    )
    .unwrap()
    .structured
    .unwrap();
    assert_eq!(
        (s["indicator"]["type"].clone(), s["next"].clone()),
        (json!("domain"), Value::Null)
    );
    for (args, want) in [
        (json!({"value": "not a thing"}), "not a hash"),
        (json!({"value": "abc", "type": "sha1"}), "40 hexadecimal"),
        (json!({"value": "1.2.3", "type": "ipv4"}), "IPv4"),
        (json!({"value": SHA, "cursor": "a b"}), "cursor"),
    ] {
        let e = call(&MockEnv::new(), "threat_graph_ran_on", args.clone())
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{args}: {e}");
    }
    let sha1 = "a".repeat(40);
    let env = MockEnv::new().reply("combined_ran_on_get", 200, json!({"resources": []}));
    call(&env, "threat_graph_ran_on", json!({"value": sha1})).unwrap();
    assert_eq!(env.calls()[0].query_value("type"), Some("sha1"));
}

#[test]
fn vertices_name_the_missing_and_use_the_type_path() {
    let id = format!("pid:{AID}:1");
    let env = MockEnv::new().reply(
        "entities_vertices_getv2",
        200,
        json!({"resources": [process("1", "t")], "errors": [{"code": 404, "id": "pid:x:9"}]}),
    );
    let e = call(
        &env,
        "threat_graph_get_vertices",
        json!({"ids": [id, "pid:x:9"], "vertex_type": "process"}),
    )
    .unwrap_err();
    assert!(
        matches!(e, ToolError::NotFound(ref m) if m.contains("pid:x:9") && !m.contains(AID)),
        "{e}"
    );
    assert_eq!(
        env.calls()[0].path_params,
        vec![("vertex_type".to_string(), "processes".to_string())]
    );
    let env = MockEnv::new().reply(
        "entities_vertices_getv2",
        404,
        json!({"resources": [], "errors": [{"code": 404}]}),
    );
    assert!(matches!(
        call(&env, "threat_graph_get_vertices", json!({"ids": [id]})),
        Err(ToolError::NotFound(_))
    ));
    assert_eq!(env.calls()[0].path_params[0].1, "any-vertex");
    let e = call(
        &MockEnv::new(),
        "threat_graph_get_vertices",
        json!({"ids": ["nocolon"]}),
    )
    .unwrap_err();
    assert!(e.to_string().contains("vertex id"), "{e}");
}

#[test]
fn summary_counts_edges_by_type_and_direction() {
    let mut v = process("1", "t");
    v["edges"] = json!({"child_process": [{"id": "pid:a:2", "direction": "primary"}, {"id": "pid:a:0", "direction": "secondary"}, {"id": "pid:a:3", "direction": "primary"}],
                        "primary_module": [{"id": format!("module:a:{SHA}"), "direction": "primary", "properties": {}}]});
    let env = MockEnv::new().reply("combined_summary_get", 200, json!({"resources": [v]}));
    let out = call(
        &env,
        "threat_graph_get_summary",
        json!({"ids": [format!("pid:{AID}:1")], "edges": 1}),
    )
    .unwrap();
    let e = &out.structured.unwrap()["vertices"][0]["edges"];
    assert_eq!(
        e["child_process"],
        json!({"count": 3, "primary": 2, "secondary": 1, "first": [{"id": "pid:a:2", "direction": "primary"}]})
    );
    assert_eq!(e["primary_module"]["count"], 1);
    assert!(out.text.contains("child_process 3"), "{}", out.text);
}

#[test]
fn edges_pass_type_and_direction_and_cite_the_resource_on_400() {
    let env = MockEnv::new().reply(
        "combined_edges_get",
        200,
        json!({"meta": {"pagination": {"offset": "", "next_page": ""}}, "resources": [{"id": "domain:c:x.example", "edge_type": "dns", "direction": "primary", "source_vertex_id": "pid:a:1", "target_vertex_id": "domain:c:x.example", "timestamp": "t", "properties": {}}]}),
    );
    let out = call(
        &env,
        "threat_graph_get_edges",
        json!({"id": "pid:a:1", "edge_type": "dns", "direction": "primary"}),
    )
    .unwrap();
    let q = &env.calls()[0];
    assert_eq!(
        (
            q.query_value("edge_type"),
            q.query_value("direction"),
            q.query_value("ids")
        ),
        (Some("dns"), Some("primary"), Some("pid:a:1"))
    );
    let s = out.structured.unwrap();
    assert_eq!(s["results"][0]["target"], "domain:c:x.example");
    assert_eq!(s["next"], Value::Null);
    let env = MockEnv::new().reply(
        "combined_edges_get",
        400,
        json!({"errors": [{"message": "invalid edge_type 'dnz'"}]}),
    );
    let e = call(
        &env,
        "threat_graph_get_edges",
        json!({"id": "pid:a:1", "edge_type": "dnz"}),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("invalid edge_type") && e.contains(EDGE_TYPES),
        "{e}"
    );
    let e = call(
        &MockEnv::new(),
        "threat_graph_get_edges",
        json!({"id": "pid:a:1", "edge_type": "DNS;x"}),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("not an edge type"), "{e}");
}
