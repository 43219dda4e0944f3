//! Two tenants in one server against two simulators: each call goes to the tenant its `tenant`
//! argument names, with that tenant's token (the simulator's request log shows which API
//! client's token came), a tenant outside the profile's set is refused before any request,
//! cache entries never cross tenants, and results and audit records name the tenant.

mod support;

use falcon_sim::KNOWN_HOSTNAME;
use rmcp::model::CallToolResult;
use serde_json::{Value, json};
use support::*;

const GLOBEX_ID: &str = "globexclient00000000000000000000b";
const GLOBEX_SECRET: &str = "globex-client-secret-for-tests-only-00000";

struct Setup {
    acme: falcon_sim::Simulator,
    globex: falcon_sim::Simulator,
    work: tempfile::TempDir,
}

async fn setup() -> Setup {
    let acme = sim_with_limited_client(&[], |_| {}).await;
    let globex = falcon_sim::Simulator::start(falcon_sim::SimConfig {
        clients: vec![falcon_sim::ApiClient::new(GLOBEX_ID, GLOBEX_SECRET, &["*"])],
        unauthenticated_limit_per_minute: 10_000,
        ..Default::default()
    })
    .await
    .unwrap();
    let work = tempfile::tempdir().unwrap();
    let config = format!(
        "[tenants.acme]\nclient_id_env = \"ACME_ID\"\nclient_secret_env = \"ACME_SECRET\"\nbase_url = {:?}\n\n\
         [tenants.globex]\nclient_id_env = \"GLOBEX_ID\"\nclient_secret_env = \"GLOBEX_SECRET\"\nbase_url = {:?}\n\n\
         [profiles.both]\ntools = [\"hosts_*\"]\ntenants = [\"acme\", \"globex\"]\n\n\
         [profiles.acme_only]\ntools = [\"hosts_*\"]\ntenants = [\"acme\"]\n",
        acme.base_url(),
        globex.base_url()
    );
    std::fs::write(work.path().join("aerie.toml"), config).unwrap();
    Setup { acme, globex, work }
}

async fn serve(s: &Setup, profile: &str) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
    serve_with(s, profile, &[]).await
}

async fn serve_with(
    s: &Setup,
    profile: &str,
    extra: &[&str],
) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
    let config = s.work.path().join("aerie.toml");
    let audit = s.work.path().join(format!("audit-{profile}.jsonl"));
    let cache = shared_cache();
    let args = [
        "serve",
        "--cache-dir",
        &cache,
        "--modules",
        "hosts",
        "--profile",
        profile,
        "--config",
        config.to_str().unwrap(),
        "--audit-log",
        audit.to_str().unwrap(),
    ]
    .iter()
    .chain(extra)
    .copied()
    .collect::<Vec<_>>();
    let envs = [
        ("ACME_ID", falcon_sim::DEMO_CLIENT_ID),
        ("ACME_SECRET", falcon_sim::DEMO_CLIENT_SECRET),
        ("GLOBEX_ID", GLOBEX_ID),
        ("GLOBEX_SECRET", GLOBEX_SECRET),
    ];
    stdio_client(&args, &envs, &s.work.path().join(format!("{profile}.log"))).await
}

/// API clients whose tokens reached `sim`, one per API request (token requests left out).
fn tokens_seen(sim: &falcon_sim::Simulator) -> Vec<String> {
    sim.requests()
        .into_iter()
        .filter(|r| !r.path.starts_with("/oauth2/"))
        .map(|r| r.client_id.unwrap_or_default())
        .collect()
}

fn tenant_of(r: &CallToolResult) -> Value {
    let v = serde_json::to_value(r).unwrap();
    v["_meta"]["aerie/tenant"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_call_goes_to_the_tenant_it_names_with_that_tenants_token() {
    let s = setup().await;
    let client = serve(&s, "both").await;
    let tools = client.list_all_tools().await.unwrap();
    let search = tools.iter().find(|t| t.name == "hosts_search").unwrap();
    let schema = serde_json::to_value(&*search.input_schema).unwrap();
    assert_eq!(
        schema["properties"]["tenant"]["enum"],
        json!(["acme", "globex"]),
        "{schema}"
    );
    assert!(
        schema["required"]
            .as_array()
            .unwrap()
            .contains(&json!("tenant"))
    );

    let args = |t: &str| json!({"hostname": KNOWN_HOSTNAME, "tenant": t});
    let r = call(&client, "hosts_search", args("acme")).await;
    assert_eq!(ok_json(&r)["total"], 1);
    assert_eq!(tenant_of(&r), "acme");
    let acme_seen = tokens_seen(&s.acme);
    assert!(!acme_seen.is_empty());
    assert!(
        acme_seen.iter().all(|c| c == falcon_sim::DEMO_CLIENT_ID),
        "{acme_seen:?}"
    );
    assert!(
        tokens_seen(&s.globex).is_empty(),
        "nothing went to the other tenant"
    );

    // The same arguments for the other tenant: not the first one's cached answer.
    let r = call(&client, "hosts_search", args("globex")).await;
    assert_eq!(ok_json(&r)["total"], 1);
    assert_eq!(tenant_of(&r), "globex");
    let globex_seen = tokens_seen(&s.globex);
    assert!(!globex_seen.is_empty(), "a miss for the other tenant");
    assert!(
        globex_seen.iter().all(|c| c == GLOBEX_ID),
        "{globex_seen:?}"
    );
    assert_eq!(tokens_seen(&s.acme).len(), acme_seen.len());
    // Its own repeat is a hit.
    let r = call(&client, "hosts_search", args("acme")).await;
    let meta = serde_json::to_value(&r).unwrap()["_meta"].clone();
    assert_eq!(meta["aerie/cache"]["hit"], true, "{meta}");
    assert_eq!(tokens_seen(&s.acme).len(), acme_seen.len());

    // Outside the set, or missing: refused before any request.
    let (a, g) = (tokens_seen(&s.acme).len(), tokens_seen(&s.globex).len());
    let e = call_err(&client, "hosts_search", args("initech")).await;
    assert!(e.contains("must be one of \"acme\", \"globex\""), "{e}");
    let e = call_err(&client, "hosts_search", json!({"hostname": KNOWN_HOSTNAME})).await;
    assert!(e.contains("pass \"tenant\""), "{e}");
    let e = call_err(&client, "hosts_search", json!({"tenant": 7})).await;
    assert!(e.contains("not 7"), "{e}");
    assert_eq!(tokens_seen(&s.acme).len(), a);
    assert_eq!(tokens_seen(&s.globex).len(), g);
    client.cancel().await.ok();

    let audit = std::fs::read_to_string(s.work.path().join("audit-both.jsonl")).unwrap();
    let calls: Vec<Value> = audit
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["kind"] == "tool_call" && v["outcome"] == "ok")
        .collect();
    let named: Vec<&str> = calls.iter().filter_map(|v| v["tenant"].as_str()).collect();
    assert_eq!(named, ["acme", "globex"], "{audit}");
    assert!(audit.contains("refused_tenant"), "{audit}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_profile_with_one_tenant_needs_no_argument_and_cannot_reach_the_other() {
    let s = setup().await;
    let client = serve(&s, "acme_only").await;
    let tools = client.list_all_tools().await.unwrap();
    let search = tools.iter().find(|t| t.name == "hosts_search").unwrap();
    let schema = serde_json::to_value(&*search.input_schema).unwrap();
    assert!(schema["properties"].get("tenant").is_none(), "{schema}");
    let r = call(&client, "hosts_search", json!({"hostname": KNOWN_HOSTNAME})).await;
    assert_eq!(ok_json(&r)["total"], 1);
    assert_eq!(tenant_of(&r), "acme");
    let e = call_err(
        &client,
        "hosts_search",
        json!({"hostname": KNOWN_HOSTNAME, "tenant": "globex"}),
    )
    .await;
    assert!(e.contains("must be one of \"acme\""), "{e}");
    assert!(tokens_seen(&s.globex).is_empty(), "never reached");
    client.cancel().await.ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dynamic_mode_describes_and_checks_the_tenant_argument_too() {
    let s = setup().await;
    let client = serve_with(&s, "both", &["--tool-mode", "dynamic"]).await;
    let described = call(
        &client,
        "aerie_describe_tools",
        json!({"names": ["hosts_search"]}),
    )
    .await;
    let tool = &ok_json(&described)["tools"][0];
    assert_eq!(
        tool["inputSchema"]["properties"]["tenant"]["enum"],
        json!(["acme", "globex"]),
        "{tool}"
    );
    assert!(
        tool["inputSchema"]["required"]
            .as_array()
            .unwrap()
            .contains(&json!("tenant"))
    );
    let r = call(
        &client,
        "aerie_call_tool",
        json!({"name": "hosts_search", "arguments": {"limit": 1, "tenant": "globex"}}),
    )
    .await;
    assert!(!is_error(&r), "{}", text(&r));
    assert!(
        !tokens_seen(&s.globex).is_empty(),
        "the call went to globex"
    );
    assert!(tokens_seen(&s.acme).is_empty(), "nothing went to acme");
    client.cancel().await.unwrap();
}
