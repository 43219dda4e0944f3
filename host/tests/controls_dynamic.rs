//! The dynamic tool mode end to end: the real `aerie` binary over stdio with
//! `--tool-mode dynamic`, the embedded plugins and the simulator over real HTTP. `tools/list`
//! holds only the built-ins (and stays small); search finds and ranks tools, describe gives
//! their schemas, call runs them through the same controls as a direct call; disabled writes,
//! profiles and unknown names are refused with what to do instead.

mod support;

use falcon_sim::KNOWN_HOSTNAME;
use rmcp::RoleClient;
use rmcp::service::RunningService;
use serde_json::{Value, json};
use support::*;

/// The dynamic mode's built-in tools.
const DYNAMIC: &[&str] = &[
    "aerie_search_tools",
    "aerie_describe_tools",
    "aerie_call_tool",
];

/// Upper bound on the dynamic mode's three tools in `tools/list` (serialized), in bytes.
const DYNAMIC_TOOLS_BOUND: usize = 1_200;
/// Upper bound on the whole dynamic `tools/list` (serialized tools array), in bytes: the three
/// dynamic tools plus every other control's built-ins (store paging, approvals, budget).
const DYNAMIC_LIST_BOUND: usize = 4_000;

/// What `tools/list` holds: the bytes of the serialized tools array, the names in it, and the
/// bytes of the dynamic mode's own tools within it. Bytes are what a model is shown: output
/// schemas are left out (clients validate with them; see BENCHMARKS.md and `readme.rs`).
struct Listing {
    bytes: usize,
    names: Vec<String>,
    dynamic_bytes: usize,
}

async fn listing(client: &RunningService<RoleClient, ()>) -> Listing {
    let mut tools = client.list_all_tools().await.unwrap();
    for t in &mut tools {
        t.output_schema = None;
    }
    let dynamic: Vec<_> = tools
        .iter()
        .filter(|t| DYNAMIC.contains(&t.name.as_ref()))
        .collect();
    Listing {
        bytes: serde_json::to_vec(&tools).unwrap().len(),
        names: tools.iter().map(|t| t.name.to_string()).collect(),
        dynamic_bytes: serde_json::to_vec(&dynamic).unwrap().len(),
    }
}

/// Names in a search result, best first.
fn result_names(s: &Value) -> Vec<String> {
    s["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results array: {s}"))
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect()
}

async fn search(client: &RunningService<RoleClient, ()>, query: &str) -> Value {
    ok_json(&call(client, "aerie_search_tools", json!({"query": query})).await)
}

/// `tools/list` in dynamic mode holds only built-in tools and stays under the byte bounds, with
/// and without writes; full mode lists every tool and none of the dynamic ones. Prints the
/// figures for BENCHMARKS.md (`cargo test --test controls_dynamic -- --nocapture`).
#[tokio::test(flavor = "multi_thread")]
async fn dynamic_list_is_only_builtins_and_small() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let mut figures = Vec::new();
    for writes in [false, true] {
        let mut extra = vec![];
        if writes {
            extra.push("--allow-writes");
        }
        let full_client = serve_against(&sim, &extra, work.path()).await;
        let full = listing(&full_client).await;
        full_client.cancel().await.unwrap();
        extra.extend(["--tool-mode", "dynamic"]);
        let dyn_client = serve_against(&sim, &extra, work.path()).await;
        let dynamic = listing(&dyn_client).await;
        dyn_client.cancel().await.unwrap();

        for t in DYNAMIC {
            assert!(
                dynamic.names.iter().any(|n| n == t),
                "{t} not listed: {:?}",
                dynamic.names
            );
            assert!(
                !full.names.iter().any(|n| n == t),
                "{t} listed in full mode"
            );
        }
        assert!(
            dynamic.names.iter().all(|n| n.starts_with("aerie_")),
            "dynamic mode lists a plugin tool: {:?}",
            dynamic.names
        );
        assert!(
            full.names.iter().any(|n| n == "hosts_search"),
            "{:?}",
            full.names
        );
        assert_eq!(
            full.names.iter().any(|n| n == "hosts_contain"),
            writes,
            "{:?}",
            full.names
        );
        assert_eq!(full.dynamic_bytes, 2, "no dynamic tools in full mode");
        assert!(
            dynamic.dynamic_bytes <= DYNAMIC_TOOLS_BOUND,
            "the three dynamic tools take {} B (bound {DYNAMIC_TOOLS_BOUND} B)",
            dynamic.dynamic_bytes
        );
        assert!(
            dynamic.bytes <= DYNAMIC_LIST_BOUND,
            "dynamic tools/list is {} B (bound {DYNAMIC_LIST_BOUND} B): {:?}",
            dynamic.bytes,
            dynamic.names
        );
        assert!(
            dynamic.bytes * 4 < full.bytes,
            "{} B vs {} B",
            dynamic.bytes,
            full.bytes
        );
        let plugin_tools = full
            .names
            .iter()
            .filter(|n| !n.starts_with("aerie_"))
            .count();
        figures.push(format!(
            "writes {}: full {} B ({} tools, {plugin_tools} from plugins); dynamic {} B ({} tools, the three dynamic ones {} B)",
            if writes { "on" } else { "off" },
            full.bytes,
            full.names.len(),
            dynamic.bytes,
            dynamic.names.len(),
            dynamic.dynamic_bytes,
        ));
    }
    eprintln!("tools/list bytes (serialized tools array, all first-party groups):");
    for f in figures {
        eprintln!("  {f}");
    }
}

/// Search → describe → call: "find hosts by hostname" finds `hosts_search`, describe gives its
/// input schema, and the call is answered from the simulator.
#[tokio::test(flavor = "multi_thread")]
async fn search_describe_call_reaches_the_simulator() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_against(&sim, &["--tool-mode", "dynamic"], work.path()).await;

    let s = search(&client, "find hosts by hostname").await;
    let names = result_names(&s);
    assert_eq!(
        names.first().map(String::as_str),
        Some("hosts_search"),
        "{s}"
    );
    let first = &s["results"][0];
    assert_eq!(first["title"], "Search hosts", "{s}");
    assert_eq!(first["tier"], "read", "{s}");
    assert!(first.get("inputSchema").is_none(), "search is compact: {s}");
    assert!(
        first["description"]
            .as_str()
            .unwrap()
            .contains("Hosts by name"),
        "{s}"
    );
    // A limit caps the results; the total still counts every match.
    let s = ok_json(
        &call(
            &client,
            "aerie_search_tools",
            json!({"query": "hosts", "limit": 2}),
        )
        .await,
    );
    assert_eq!(result_names(&s).len(), 2, "{s}");
    assert!(s["total"].as_u64().unwrap() > 2, "{s}");

    let d = ok_json(
        &call(
            &client,
            "aerie_describe_tools",
            json!({"names": ["hosts_search"]}),
        )
        .await,
    );
    let tool = &d["tools"][0];
    assert_eq!(tool["name"], "hosts_search", "{d}");
    assert_eq!(tool["plugin"], "hosts", "{d}");
    assert_eq!(tool["annotations"]["readOnlyHint"], true, "{d}");
    let props = &tool["inputSchema"]["properties"];
    assert!(
        props.get("hostname").is_some() && props.get("limit").is_some(),
        "{d}"
    );

    sim.clear_requests();
    let r = call(
        &client,
        "aerie_call_tool",
        json!({"name": "hosts_search", "arguments": {"hostname": KNOWN_HOSTNAME}}),
    )
    .await;
    let s = ok_json(&r);
    assert_eq!(s["total"], 1, "{s}");
    assert_eq!(s["results"][0]["hostname"], KNOWN_HOSTNAME, "{s}");
    assert!(
        count_op(&sim, "QueryDevicesByFilter") >= 1,
        "{:?}",
        operations(&sim)
    );
    // The tool's own argument checks still hold through the dynamic call.
    let e = err_text(
        &call(
            &client,
            "aerie_call_tool",
            json!({"name": "hosts_search", "arguments": {"limit": 0}}),
        )
        .await,
    );
    assert!(e.contains("limit"), "{e}");
    // Bad arguments to the built-ins themselves say what shape is expected.
    let e = err_text(&call(&client, "aerie_call_tool", json!({"tool": "hosts_search"})).await);
    assert!(
        e.contains("aerie_call_tool") && e.contains("\"name\""),
        "{e}"
    );
    let e = err_text(
        &call(
            &client,
            "aerie_call_tool",
            json!({"name": "hosts_search", "arguments": [1]}),
        )
        .await,
    );
    assert!(e.contains("`arguments` must be an object"), "{e}");
    let e = err_text(
        &call(
            &client,
            "aerie_search_tools",
            json!({"query": "x", "limit": 0}),
        )
        .await,
    );
    assert!(e.contains("limit") && e.contains("1 to 50"), "{e}");
    let e = err_text(
        &call(
            &client,
            "aerie_call_tool",
            json!({"name": "aerie_search_tools"}),
        )
        .await,
    );
    assert!(e.contains("built-in") && e.contains("directly"), "{e}");
    client.cancel().await.unwrap();
}

/// Ranking with writes on: the containment query ranks `hosts_contain` first, and word forms
/// meet ("containment", "isolation").
#[tokio::test(flavor = "multi_thread")]
async fn ranking_puts_the_meant_tool_first() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_against(
        &sim,
        &["--allow-writes", "--tool-mode", "dynamic"],
        work.path(),
    )
    .await;

    let s = search(&client, "contain host network isolate").await;
    let names = result_names(&s);
    assert_eq!(
        names.first().map(String::as_str),
        Some("hosts_contain"),
        "{s}"
    );
    assert_eq!(s["results"][0]["tier"], "write", "{s}");
    assert_eq!(s["results"][0]["destructive"], true, "{s}");
    for (query, want) in [
        ("host containment", "hosts_contain"),
        ("isolation of a machine", "hosts_contain"),
        ("lift containment", "hosts_lift_containment"),
        ("file hash", "hunting_query_hash"),
        ("run NG-SIEM query", "ngsiem_query"),
        ("hunting_create_ioc", "hunting_create_ioc"),
    ] {
        let s = search(&client, query).await;
        assert_eq!(
            result_names(&s).first().map(String::as_str),
            Some(want),
            "{query}: {s}"
        );
    }
    // Nothing matches: an empty result that says so, not an error.
    let s = search(&client, "zzqx").await;
    assert_eq!(s["total"], 0, "{s}");
    // No words: the whole catalogue, in name order.
    let s = ok_json(
        &call(
            &client,
            "aerie_search_tools",
            json!({"query": "", "limit": 50}),
        )
        .await,
    );
    let all = result_names(&s);
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted);
    assert_eq!(all.len(), 50, "{s}");
    assert!(
        s["total"].as_u64().unwrap() > 50,
        "the whole catalogue counts: {s}"
    );
    client.cancel().await.unwrap();
}

/// Writes off: write tools are neither found, described nor called, and nothing reaches the
/// simulator.
#[tokio::test(flavor = "multi_thread")]
async fn disabled_writes_stay_hidden_and_refused() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_against(&sim, &["--tool-mode", "dynamic"], work.path()).await;

    let s = search(&client, "contain host network isolate").await;
    let names = result_names(&s);
    assert!(!names.iter().any(|n| n == "hosts_contain"), "{s}");
    let s = ok_json(
        &call(
            &client,
            "aerie_search_tools",
            json!({"query": "", "limit": 50}),
        )
        .await,
    );
    assert!(
        s["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["tier"] == "read"),
        "{s}"
    );
    let e = err_text(
        &call(
            &client,
            "aerie_describe_tools",
            json!({"names": ["hosts_contain"]}),
        )
        .await,
    );
    assert!(e.contains("writes are disabled"), "{e}");
    sim.clear_requests();
    let direct = call_err(
        &client,
        "hosts_contain",
        json!({"ids": ["0123456789abcdef0123456789abcdef"], "confirm": true}),
    )
    .await;
    let e = err_text(
        &call(
            &client,
            "aerie_call_tool",
            json!({"name": "hosts_contain", "arguments": {"ids": ["0123456789abcdef0123456789abcdef"], "confirm": true}}),
        )
        .await,
    );
    assert!(e.contains("writes are disabled"), "{e}");
    assert_eq!(e, direct, "refused as a direct call is");
    assert!(sim.requests().is_empty(), "{:?}", operations(&sim));
    client.cancel().await.unwrap();
}

/// Unknown names in describe and call: an error saying which, with the nearest names; known
/// names beside an unknown one are still described.
#[tokio::test(flavor = "multi_thread")]
async fn unknown_names_are_refused_with_suggestions() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_against(
        &sim,
        &["--allow-writes", "--tool-mode", "dynamic"],
        work.path(),
    )
    .await;

    let e = err_text(
        &call(
            &client,
            "aerie_describe_tools",
            json!({"names": ["host_serch"]}),
        )
        .await,
    );
    assert!(
        e.contains("Unknown tool `host_serch`") && e.contains("`hosts_search`"),
        "{e}"
    );
    let r = call(
        &client,
        "aerie_describe_tools",
        json!({"names": ["hosts_get", "no_such_tool"]}),
    )
    .await;
    let d = ok_json(&r);
    assert_eq!(d["tools"].as_array().unwrap().len(), 1, "{d}");
    assert!(
        text(&r).contains("Unknown tool `no_such_tool`"),
        "{}",
        text(&r)
    );
    let e = err_text(&call(&client, "aerie_describe_tools", json!({"names": []})).await);
    assert!(e.contains("1 to 20"), "{e}");

    sim.clear_requests();
    // Words in the wrong order are not a typo, but the search behind the suggestions finds them.
    let e = err_text(
        &call(
            &client,
            "aerie_call_tool",
            json!({"name": "contain_hosts", "arguments": {}}),
        )
        .await,
    );
    assert!(e.contains("Unknown tool `contain_hosts`"), "{e}");
    assert!(e.contains("`hosts_contain`"), "{e}");
    let e = err_text(&call(&client, "aerie_call_tool", json!({"name": "zzqx"})).await);
    assert!(
        e.contains("Unknown tool `zzqx`") && e.contains("aerie_search_tools"),
        "{e}"
    );
    assert!(sim.requests().is_empty(), "{:?}", operations(&sim));
    client.cancel().await.unwrap();
}

/// In full mode the dynamic tools are not listed and do not exist.
#[tokio::test(flavor = "multi_thread")]
async fn full_mode_has_no_dynamic_tools() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_against(&sim, &["--modules", "hosts"], work.path()).await;
    let e = call_err(&client, "aerie_search_tools", json!({"query": "hosts"})).await;
    assert!(e.contains("Unknown tool `aerie_search_tools`"), "{e}");
    client.cancel().await.unwrap();
}

/// A profile holds in dynamic mode: search and describe see only its tools, and a call to a
/// tool outside it through `aerie_call_tool` is refused exactly as a direct call is.
#[tokio::test(flavor = "multi_thread")]
async fn profile_limits_search_describe_and_call() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let cfg = work.path().join("aerie.toml");
    std::fs::write(
        &cfg,
        "[profiles.hunt]\ntools = [\"hunting_*\", \"hosts_search\"]\n",
    )
    .unwrap();
    let client = serve_against(
        &sim,
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--allow-writes",
            "--profile",
            "hunt",
            "--tool-mode",
            "dynamic",
        ],
        work.path(),
    )
    .await;

    let s = ok_json(
        &call(
            &client,
            "aerie_search_tools",
            json!({"query": "", "limit": 50}),
        )
        .await,
    );
    let names = result_names(&s);
    assert!(names.iter().any(|n| n == "hosts_search"), "{s}");
    assert!(names.iter().any(|n| n == "hunting_query_hash"), "{s}");
    assert!(
        names
            .iter()
            .all(|n| n == "hosts_search" || n.starts_with("hunting_")),
        "{s}"
    );
    // The profile allows no writes, so hunting_create_ioc is hidden even with --allow-writes.
    assert!(!names.iter().any(|n| n == "hunting_create_ioc"), "{s}");
    let s = search(&client, "contain host network isolate").await;
    assert!(
        !result_names(&s).iter().any(|n| n == "hosts_contain"),
        "{s}"
    );

    let e = err_text(
        &call(
            &client,
            "aerie_describe_tools",
            json!({"names": ["hosts_get"]}),
        )
        .await,
    );
    assert!(e.contains("not available to profile `hunt`"), "{e}");
    sim.clear_requests();
    let direct = call_err(
        &client,
        "hosts_get",
        json!({"ids": ["0123456789abcdef0123456789abcdef"]}),
    )
    .await;
    let e = err_text(
        &call(
            &client,
            "aerie_call_tool",
            json!({"name": "hosts_get", "arguments": {"ids": ["0123456789abcdef0123456789abcdef"]}}),
        )
        .await,
    );
    assert!(e.contains("profile `hunt`"), "{e}");
    assert_eq!(e, direct, "refused as a direct call is");
    assert!(sim.requests().is_empty(), "{:?}", operations(&sim));
    client.cancel().await.unwrap();
}

/// A call through `aerie_call_tool` is charged to the same per-session budget as a direct call,
/// carries the same `_meta`, and is refused the same way once the budget is spent (nothing
/// reaches the simulator). Search and describe are free.
#[tokio::test(flavor = "multi_thread")]
async fn dynamic_calls_share_the_call_budget() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let cfg = work.path().join("aerie.toml");
    std::fs::write(&cfg, "[profiles.tight]\ntools = ['hosts_*']\nbudget = 2\n").unwrap();
    let client = serve_against(
        &sim,
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--profile",
            "tight",
            "--tool-mode",
            "dynamic",
        ],
        work.path(),
    )
    .await;
    let args = json!({"hostname": KNOWN_HOSTNAME});
    for _ in 0..3 {
        search(&client, "hosts").await;
        ok_json(
            &call(
                &client,
                "aerie_describe_tools",
                json!({"names": ["hosts_search"]}),
            )
            .await,
        );
    }
    let r = call(&client, "hosts_search", args.clone()).await;
    ok_json(&r);
    let r = call(
        &client,
        "aerie_call_tool",
        json!({"name": "hosts_search", "arguments": args}),
    )
    .await;
    ok_json(&r);
    let meta = serde_json::to_value(&r).unwrap()["_meta"]["aerie/budget"].clone();
    assert_eq!(meta["remaining"], 0, "{r:?}");
    sim.clear_requests();
    let e = err_text(
        &call(
            &client,
            "aerie_call_tool",
            json!({"name": "hosts_search", "arguments": args}),
        )
        .await,
    );
    assert!(
        e.contains("budget is spent") && e.contains("`tight`"),
        "{e}"
    );
    let direct = call_err(&client, "hosts_search", args).await;
    assert_eq!(e, direct, "refused as a direct call is");
    assert!(sim.requests().is_empty(), "{:?}", operations(&sim));
    client.cancel().await.unwrap();
}
