//! Profiles and call budgets end to end: the real `aerie` binary with the embedded plugins,
//! rmcp's client over stdio and HTTP, and the simulator over real HTTP (its request log shows
//! that a refused call never reached "Falcon"). A profile hides tools from tools/list and
//! refuses calls outside it; budgets run out (in all and per tool) with a message saying how
//! many calls were used, visible in each result's `_meta` and through `aerie_budget`; HTTP API
//! keys select profiles; typos in patterns are refused at start and by `config check`; and the
//! six seed roles of `docs/profiles.example.toml` see exactly what the seed allows.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use falcon_sim::KNOWN_HOSTNAME;
use rmcp::RoleClient;
use rmcp::ServiceExt;
use rmcp::model::CallToolResult;
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};
use sha2::Digest;
use support::*;

/// The plugin tools listed (built-in `aerie_*` tools left out), sorted.
async fn plugin_tools(client: &RunningService<RoleClient, ()>) -> BTreeSet<String> {
    tool_names(client)
        .await
        .into_iter()
        .filter(|n| !n.starts_with("aerie_"))
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// The result's `_meta["aerie/budget"]`.
fn budget_meta(r: &CallToolResult) -> Value {
    let v = serde_json::to_value(r).unwrap();
    v["_meta"]["aerie/budget"].clone()
}

/// Write `toml` as `work/aerie.toml` and return its path.
fn write_config(work: &Path, name: &str, toml: &str) -> String {
    let p = work.join(name);
    std::fs::write(&p, toml).unwrap();
    p.to_str().unwrap().to_string()
}

/// Run `aerie <args>` to completion (stdin closed, no credentials): success, stderr.
fn run_aerie(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(aerie())
        .args(args)
        .current_dir(dir)
        .env_remove("FALCON_CLIENT_ID")
        .env_remove("FALCON_CLIENT_SECRET")
        .env_remove("AERIE_CONFIG")
        .env_remove("AERIE_PROFILE")
        .env("HOME", "/nonexistent")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.success(), format!("{stdout}{stderr}"))
}

/// A profile hides tools: tools/list shows only its patterns (minus its excludes, and no write
/// tool unless both the server and the profile allow writes), and a call outside it is a tool
/// error naming the profile that never reaches Falcon.
#[tokio::test(flavor = "multi_thread")]
async fn a_profile_hides_tools_and_refuses_calls_outside_it() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let config = write_config(
        work.path(),
        "aerie.toml",
        "[profiles.narrow]\ntools = ['hosts_*']\nexclude = ['hosts_get_*']\n\
         [profiles.writer]\ntools = ['hosts_*']\nallow_writes = true\n",
    );
    let base = ["--config", config.as_str(), "--modules", "hosts,detections"];
    let with = |extra: &[&'static str]| -> Vec<String> {
        base.iter().chain(extra).map(|s| s.to_string()).collect()
    };

    // Writes allowed by the server but not by the profile: no write tool, no excluded tool,
    // nothing from another group.
    let audit = work.path().join("audit.jsonl");
    let mut args = with(&["--allow-writes", "--profile", "narrow", "--audit-log"]);
    args.push(audit.to_str().unwrap().to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let client = serve_against(&sim, &args, work.path()).await;
    assert_eq!(
        plugin_tools(&client).await,
        set(&["hosts_get", "hosts_list_groups", "hosts_search"])
    );
    sim.clear_requests();
    for (tool, args) in [
        ("detections_search", json!({})),
        (
            "hosts_get_login_history",
            json!({"device_id": "0123456789abcdef0123456789abcdef"}),
        ),
        (
            "hosts_contain",
            json!({"device_id": "0123456789abcdef0123456789abcdef"}),
        ),
    ] {
        let e = call_err(&client, tool, args).await;
        assert!(
            e.contains(&format!(
                "Tool `{tool}` is not available to profile `narrow`"
            )),
            "{tool}: {e}"
        );
    }
    assert!(sim.requests().is_empty(), "{:?}", operations(&sim));
    // What the profile allows still works.
    let r = call(&client, "hosts_search", json!({"hostname": KNOWN_HOSTNAME})).await;
    assert_eq!(ok_json(&r)["total"], 1);
    // No budget: nothing counted, no budget tool, no budget in `_meta`.
    assert!(budget_meta(&r).is_null(), "{r:?}");
    assert!(
        !tool_names(&client)
            .await
            .iter()
            .any(|n| n == "aerie_budget")
    );
    client.cancel().await.unwrap();
    // The refusals are audited with the profile.
    let refused: Vec<Value> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["outcome"] == "refused_profile")
        .collect();
    assert_eq!(refused.len(), 3, "{refused:?}");
    assert!(
        refused.iter().all(|r| r["profile"] == "narrow"),
        "{refused:?}"
    );
    assert_eq!(refused[0]["tool"], "detections_search");

    // The profile allows writes but the server does not: still no write tool.
    let args = with(&["--profile", "writer"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let client = serve_against(&sim, &args, work.path()).await;
    let tools = plugin_tools(&client).await;
    assert!(!tools.contains("hosts_contain"), "{tools:?}");
    assert!(tools.contains("hosts_get_login_history"), "{tools:?}");
    client.cancel().await.unwrap();
    // Both allow writes: the write tools are there.
    let args = with(&["--profile", "writer", "--allow-writes"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let client = serve_against(&sim, &args, work.path()).await;
    let tools = plugin_tools(&client).await;
    assert!(
        tools.contains("hosts_contain") && tools.contains("hosts_create_group"),
        "{tools:?}"
    );
    assert!(
        !tools.iter().any(|t| t.starts_with("detections_")),
        "{tools:?}"
    );
    client.cancel().await.unwrap();
}

/// A budget runs out: per tool (a name and a glob) and in all. Each result's `_meta` says what
/// is used and left, `aerie_budget` shows it for free, refused calls say how many were used and
/// reach nothing, and neither refused calls nor unknown tool names count.
#[tokio::test(flavor = "multi_thread")]
async fn budgets_run_out_in_all_and_per_tool() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let config = write_config(
        work.path(),
        "aerie.toml",
        "[profiles.tight]\ntools = ['hosts_*']\nbudget = 4\n\
         budget_per_tool = { hosts_search = 2, 'hosts_list_*' = 1 }\n",
    );
    let audit = work.path().join("audit.jsonl");
    let client = serve_against(
        &sim,
        &[
            "--config",
            &config,
            "--modules",
            "hosts",
            "--profile",
            "tight",
            "--audit-log",
            audit.to_str().unwrap(),
        ],
        work.path(),
    )
    .await;
    assert!(
        tool_names(&client)
            .await
            .iter()
            .any(|n| n == "aerie_budget")
    );
    let budget = |client| async move { ok_json(&call(client, "aerie_budget", json!({})).await) };

    let b = budget(&client).await;
    assert_eq!(b["profile"], "tight");
    assert_eq!(b["total"], json!({"used": 0, "limit": 4, "remaining": 4}));
    assert_eq!(
        b["per_tool"],
        json!([
            {"tools": "hosts_list_*", "used": 0, "limit": 1, "remaining": 1},
            {"tools": "hosts_search", "used": 0, "limit": 2, "remaining": 2},
        ])
    );

    let r = call(&client, "hosts_search", json!({"hostname": KNOWN_HOSTNAME})).await;
    let aid = ok_json(&r)["results"][0]["device_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        budget_meta(&r),
        json!({"profile": "tight", "used": 1, "limit": 4, "remaining": 3,
               "tools": [{"tools": "hosts_search", "used": 1, "limit": 2, "remaining": 1}]})
    );
    let r = call(
        &client,
        "hosts_search",
        json!({"platform": "Linux", "limit": 1}),
    )
    .await;
    assert!(!is_error(&r), "{}", text(&r));
    assert_eq!(budget_meta(&r)["tools"][0]["remaining"], 0);
    assert_eq!(budget_meta(&r)["remaining"], 2);

    // hosts_search's own budget is spent; the refusal reaches nothing and costs nothing.
    sim.clear_requests();
    let e = call_err(&client, "hosts_search", json!({"hostname": KNOWN_HOSTNAME})).await;
    assert!(
        e.contains("profile `tight` allows 2 calls of `hosts_search` per session; all 2 are used"),
        "{e}"
    );
    assert!(sim.requests().is_empty(), "{:?}", operations(&sim));
    // A name that is not served is an error and costs nothing either.
    let e = call_err(&client, "hosts_serch", json!({})).await;
    assert!(!e.contains("budget"), "{e}");
    assert_eq!(budget(&client).await["total"]["used"], 2);
    // (per_tool is in name order: `hosts_list_*`, then `hosts_search`.)

    // A glob budget: the tools it matches share it.
    let r = call(&client, "hosts_list_groups", json!({})).await;
    assert!(!is_error(&r), "{}", text(&r));
    let e = call_err(&client, "hosts_list_groups", json!({})).await;
    assert!(
        e.contains(
            "profile `tight` allows 1 call of tools matching `hosts_list_*` per session; it is used"
        ),
        "{e}"
    );

    // The last call of the total, then the total is spent for every tool.
    let r = call(&client, "hosts_get", json!({"ids": [aid.clone()]})).await;
    assert!(!is_error(&r), "{}", text(&r));
    assert_eq!(
        budget_meta(&r),
        json!({"profile": "tight", "used": 4, "limit": 4, "remaining": 0})
    );
    sim.clear_requests();
    let e = call_err(&client, "hosts_get", json!({"ids": [aid]})).await;
    assert!(
        e.contains(
            "The call budget is spent: profile `tight` allows 4 calls per session; all 4 are used"
        ),
        "{e}"
    );
    assert!(sim.requests().is_empty(), "{:?}", operations(&sim));
    // The budget tool stays free and says so.
    for _ in 0..3 {
        let b = budget(&client).await;
        assert_eq!(b["total"], json!({"used": 4, "limit": 4, "remaining": 0}));
        assert_eq!(b["per_tool"][0]["remaining"], 0);
        assert_eq!(b["per_tool"][1]["remaining"], 0);
    }
    let r = call(&client, "aerie_budget", json!({})).await;
    assert!(
        text(&r).contains("Profile `tight`, calls in all: 0 of 4 left (4 used); `hosts_list_*`: 0 of 1 left (1 used)"),
        "{}",
        text(&r)
    );
    client.cancel().await.unwrap();
    // Each refusal is audited with the profile: two per-tool, one in all.
    let refused: Vec<Value> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["outcome"] == "refused_budget")
        .collect();
    let tools: Vec<&str> = refused
        .iter()
        .map(|r| r["tool"].as_str().unwrap())
        .collect();
    assert_eq!(
        tools,
        ["hosts_search", "hosts_list_groups", "hosts_get"],
        "{refused:?}"
    );
    assert!(
        refused.iter().all(|r| r["profile"] == "tight"),
        "{refused:?}"
    );
}

/// `sha256:<hex>` of an API key, as `[http] api_keys` holds it.
fn digest(key: &str) -> String {
    format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(key.as_bytes()))
    )
}

/// An rmcp client over HTTP sending `key`.
async fn http_client(url: &str, key: &str) -> RunningService<RoleClient, ()> {
    for _ in 0..100 {
        let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_string());
        config.auth_header = Some(key.to_string());
        if let Ok(c) = ().serve(StreamableHttpClientTransport::from_config(config)).await {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("could not connect to {url}");
}

/// Over HTTP each API key selects its profile: two keys see different tools and are refused
/// each other's, a profile-less key (in the file or by `--api-key`) gets the default profile,
/// and budgets are kept per session. A key mapped to an unknown profile is refused at start.
#[tokio::test(flavor = "multi_thread")]
async fn http_keys_map_to_profiles() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let config = write_config(
        work.path(),
        "aerie.toml",
        &format!(
            "[http]\napi_keys = [\n  {{ digest = '{}', profile = 'triage' }},\n  {{ digest = '{}', profile = 'hostsonly' }},\n  '{}',\n]\n\
             [profiles.triage]\ntools = ['detections_*']\nbudget = 2\n\
             [profiles.hostsonly]\ntools = ['hosts_*']\n",
            digest("key-triage"),
            digest("key-hosts"),
            digest("key-plain")
        ),
    );
    let port = free_port();
    let child = std::process::Command::new(aerie())
        .args(["serve", "--transport", "http", "--port", &port.to_string()])
        .args([
            "--cache-dir",
            &shared_cache(),
            "--modules",
            "hosts,detections",
        ])
        .args(["--config", &config, "--api-key", "key-flag"])
        .env("HOME", "/nonexistent")
        .env_remove("AERIE_API_KEYS")
        .env_remove("AERIE_PROFILE")
        .env("FALCON_CLIENT_ID", falcon_sim::DEMO_CLIENT_ID)
        .env("FALCON_CLIENT_SECRET", falcon_sim::DEMO_CLIENT_SECRET)
        .env("FALCON_BASE_URL", sim.base_url())
        .stderr(std::fs::File::create(work.path().join("stderr.log")).unwrap())
        .spawn()
        .unwrap();
    let _server = HttpServer { child, port };
    let url = format!("http://127.0.0.1:{port}/mcp");

    let triage = http_client(&url, "key-triage").await;
    let hosts = http_client(&url, "key-hosts").await;
    let plain = http_client(&url, "key-plain").await;
    let flag = http_client(&url, "key-flag").await;
    let t = plugin_tools(&triage).await;
    assert!(
        !t.is_empty() && t.iter().all(|n| n.starts_with("detections_")),
        "{t:?}"
    );
    let h = plugin_tools(&hosts).await;
    assert!(
        !h.is_empty() && h.iter().all(|n| n.starts_with("hosts_")),
        "{h:?}"
    );
    for c in [&plain, &flag] {
        let all = plugin_tools(c).await;
        assert_eq!(all, t.union(&h).cloned().collect::<BTreeSet<_>>());
    }
    // Each key is refused the other's tools, naming its profile.
    let e = call_err(&triage, "hosts_search", json!({})).await;
    assert!(e.contains("not available to profile `triage`"), "{e}");
    let e = call_err(&hosts, "detections_search", json!({})).await;
    assert!(e.contains("not available to profile `hostsonly`"), "{e}");
    // The triage key's budget shows in `_meta` and runs out after two calls.
    let r = call(&triage, "detections_search", json!({"limit": 1})).await;
    assert!(!is_error(&r), "{}", text(&r));
    assert_eq!(
        budget_meta(&r),
        json!({"profile": "triage", "used": 1, "limit": 2, "remaining": 1})
    );
    assert!(!is_error(
        &call(&triage, "detections_search", json!({"limit": 1})).await
    ));
    let e = call_err(&triage, "detections_search", json!({"limit": 1})).await;
    assert!(
        e.contains("allows 2 calls per session; all 2 are used"),
        "{e}"
    );
    // Another session of the same key has its own budget.
    let triage2 = http_client(&url, "key-triage").await;
    let r = call(&triage2, "detections_search", json!({"limit": 1})).await;
    assert_eq!(budget_meta(&r)["used"], 1, "{r:?}");
    for c in [triage, triage2, hosts, plain, flag] {
        c.cancel().await.unwrap();
    }

    // A key mapped to a profile that does not exist: refused at start, and by config check.
    let bad = write_config(
        work.path(),
        "bad.toml",
        &format!(
            "[http]\napi_keys = [{{ digest = '{}', profile = 'triag' }}]\n[profiles.triage]\ntools = ['detections_*']\n",
            digest("key-triage")
        ),
    );
    for cmd in [
        &["config", "check"][..],
        &["serve", "--transport", "http", "--port", "0"],
    ] {
        let mut args = cmd.to_vec();
        args.extend(["--config", &bad, "--modules", "detections", "--cache-dir"]);
        let cache = shared_cache();
        args.push(&cache);
        let (ok, out) = run_aerie(work.path(), &args);
        assert!(!ok, "{args:?} succeeded: {out}");
        assert!(
            out.contains("[http] api_keys entry 1 maps to profile `triag`, which is not configured; did you mean `triage`?"),
            "{args:?}: {out}"
        );
    }
}

/// A typo in a profile's pattern or tool name would hide or show the wrong tools: refused at
/// start and by `config check`, naming the nearest tool or group. Patterns for groups not
/// installed go in `optional_tools`; a group left out by `--modules` is only a warning.
#[test]
fn typo_patterns_are_refused_at_start_and_by_config_check() {
    let work = tempfile::tempdir().unwrap();
    let cache = shared_cache();
    let cases: &[(&str, &str)] = &[
        (
            "[profiles.triage]\ntools = ['detection_*', 'hosts_search']\n",
            "[profiles.triage] tools: `detection_*` matches no tool; did you mean `detections_*`?",
        ),
        (
            "[profiles.triage]\ntools = ['hosts_serch']\n",
            "[profiles.triage] tools: `hosts_serch` matches no tool; did you mean `hosts_search`?",
        ),
        (
            "[profiles.triage]\nexclude = ['hosts_contian']\n",
            "[profiles.triage] exclude: `hosts_contian` matches no tool; did you mean `hosts_contain`?",
        ),
        (
            "[profiles.triage]\nbudget = 3\nbudget_per_tool = { ngsiem_qeury = 1 }\n",
            "[profiles.triage] budget_per_tool: `ngsiem_qeury` matches no tool; did you mean `ngsiem_query`?",
        ),
        (
            "[profiles.triage]\ntools = ['vt_*']\n",
            "`vt_*` matches no tool (a pattern for tools not installed yet belongs in optional_tools)",
        ),
        (
            "[profiles.triage]\ntools = ['Hosts-*']\n",
            "[profiles.triage] tools: `Hosts-*` contains `H`",
        ),
        (
            "[profiles.triage]\ntool = ['hosts_*']\n",
            "unknown field `tool`",
        ),
        // The other controls' tool names are held to the same rule: a typo in the gated tools
        // would leave containment ungated.
        (
            "[approvals]\ntools = ['hosts_contian']\n",
            "[approvals] tools: `hosts_contian` matches no tool; did you mean `hosts_contain`?",
        ),
        (
            "[cache.tools]\nhosts_gte = 60\n",
            "[cache.tools]: `hosts_gte` matches no tool; did you mean `hosts_get`?",
        ),
    ];
    for (toml, expected) in cases {
        let config = write_config(work.path(), "aerie.toml", toml);
        for cmd in [&["config", "check"][..], &["serve"]] {
            let mut args = cmd.to_vec();
            args.extend([
                "--config",
                &config,
                "--modules",
                "hosts,detections,ngsiem",
                "--cache-dir",
                &cache,
            ]);
            let (ok, out) = run_aerie(work.path(), &args);
            assert!(!ok, "{args:?} with {toml} succeeded");
            assert!(out.contains(expected), "{args:?} with {toml}: {out}");
        }
    }
    // `--profile` naming no profile.
    let config = write_config(work.path(), "aerie.toml", "[profiles.triage]\n");
    let (ok, out) = run_aerie(
        work.path(),
        &[
            "config",
            "check",
            "--config",
            &config,
            "--profile",
            "triag",
            "--cache-dir",
            &cache,
        ],
    );
    assert!(!ok);
    assert!(
        out.contains("--profile `triag`: no such profile; did you mean `triage`?"),
        "{out}"
    );
    // Optional patterns may match nothing; a plugin left out by --modules is a warning.
    let config = write_config(
        work.path(),
        "aerie.toml",
        "[profiles.triage]\ntools = ['detections_*', 'rtr_*']\noptional_tools = ['intel_*']\n",
    );
    let (ok, out) = run_aerie(
        work.path(),
        &[
            "config",
            "check",
            "--config",
            &config,
            "--modules",
            "detections",
            "--cache-dir",
            &cache,
        ],
    );
    assert!(ok, "{out}");
    assert!(
        out.contains(
            "[profiles.triage] tools: `rtr_*` matches no tool now: plugin `rtr` is not loaded"
        ),
        "{out}"
    );
}

/// The six agent roles of seed 002, as shipped in `docs/profiles.example.toml`: each sees
/// through tools/list of the real binary exactly what the seed's table allows (mapped to
/// aerie's tool groups) and nothing it forbids, with the server's writes on.
#[tokio::test(flavor = "multi_thread")]
async fn the_six_seed_roles_see_what_the_seed_allows() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/profiles.example.toml");
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let (ok, out) = run_aerie(
        work.path(),
        &[
            "config",
            "check",
            "--config",
            example,
            "--cache-dir",
            &shared_cache(),
        ],
    );
    assert!(ok, "{out}");
    assert!(!out.contains("matches no tool"), "{out}");

    let serve = |profile: &'static str| {
        let sim = &sim;
        let work = work.path();
        async move {
            let args = ["--config", example, "--allow-writes", "--profile", profile];
            let client = serve_against(sim, &args, work).await;
            let tools = plugin_tools(&client).await;
            client.cancel().await.unwrap();
            tools
        }
    };
    let all = {
        let client = serve_against(&sim, &["--allow-writes"], work.path()).await;
        let tools = plugin_tools(&client).await;
        client.cancel().await.unwrap();
        tools
    };
    let writes = set(&[
        "detections_update_status",
        "hosts_contain",
        "hosts_lift_containment",
        "hosts_create_group",
        "hunting_create_ioc",
        "prevention_create_policy",
        "prevention_update_policy",
        "prevention_assign_policy",
        "rtr_run_response_command",
        "rtr_upload_file",
        "rtr_download_file",
    ]);
    assert!(writes.is_subset(&all), "{all:?}");
    let group = |g: &str| -> BTreeSet<String> {
        all.iter()
            .filter(|t| t.starts_with(&format!("{g}_")))
            .cloned()
            .collect()
    };
    let reads = |groups: &[&str]| -> BTreeSet<String> {
        groups
            .iter()
            .flat_map(|g| group(g))
            .filter(|t| !writes.contains(t))
            .collect()
    };
    let indicators = set(&[
        "hunting_query_hash",
        "hunting_query_ip",
        "hunting_list_iocs",
    ]);

    // (role, exactly what it sees, groups it must not see any tool of)
    let roles: Vec<(&'static str, BTreeSet<String>, &[&str])> = vec![
        (
            "triage",
            reads(&["detections", "hosts", "ngsiem"]),
            &["rtr", "hunting", "prevention", "intel", "spotlight"],
        ),
        (
            "hunt",
            reads(&["ngsiem", "detections", "hosts", "hunting"]),
            &["rtr", "prevention"],
        ),
        (
            "investigate",
            reads(&["detections", "hosts", "ngsiem", "intel", "identity"])
                .union(&indicators)
                .cloned()
                .collect(),
            &["rtr", "prevention", "cases", "spotlight"],
        ),
        (
            "enrichment",
            reads(&["intel", "spotlight"])
                .union(&indicators)
                .cloned()
                .collect(),
            &["ngsiem", "rtr", "hosts", "detections", "prevention"],
        ),
        (
            "rtr",
            group("rtr")
                .union(&set(&[
                    "hosts_search",
                    "hosts_contain",
                    "hosts_lift_containment",
                ]))
                .cloned()
                .collect(),
            &["detections", "ngsiem", "hunting", "prevention"],
        ),
        (
            "cti",
            reads(&["ngsiem", "intel", "cao_hunting"])
                .union(&set(&["hunting_list_iocs"]))
                .cloned()
                .collect(),
            &["rtr", "hosts", "detections", "prevention", "spotlight"],
        ),
    ];
    for (role, expected, forbidden) in roles {
        let seen = serve(role).await;
        assert_eq!(seen, expected, "role {role}");
        for g in forbidden {
            assert!(
                !seen.iter().any(|t| t.starts_with(&format!("{g}_"))),
                "role {role} sees a {g}_* tool: {seen:?}"
            );
        }
        // Only the RTR role may write.
        let wrote: Vec<_> = seen.intersection(&writes).collect();
        if role == "rtr" {
            assert!(seen.contains("hosts_contain") && seen.contains("rtr_run_response_command"));
            assert!(!seen.contains("hosts_create_group"), "{seen:?}");
        } else {
            assert!(wrote.is_empty(), "role {role} sees write tools {wrote:?}");
        }
    }
}

/// A call held for a person's approval did not run, so it is not counted; the approved call is
/// counted when `aerie_run_approved` runs it. (It used to count twice, so a per-tool budget of
/// one containment made the approved containment impossible.)
#[tokio::test(flavor = "multi_thread")]
async fn a_call_held_for_approval_counts_once_when_it_runs() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let socket = work.path().join("admin").join("admin.sock");
    let config = write_config(
        work.path(),
        "aerie.toml",
        &format!(
            "[approvals]\nmode = 'queue'\nsocket = {:?}\n\
             [profiles.responder]\ntools = ['hosts_*']\nallow_writes = true\nbudget = 4\n\
             budget_per_tool = {{ hosts_contain = 1 }}\n",
            socket.display().to_string()
        ),
    );
    let cache = shared_cache();
    let args = [
        "serve",
        "--cache-dir",
        &cache,
        "--modules",
        "hosts",
        "--allow-writes",
        "--config",
        &config,
        "--profile",
        "responder",
    ];
    let base = sim.base_url();
    let envs = [
        ("FALCON_CLIENT_ID", falcon_sim::DEMO_CLIENT_ID),
        ("FALCON_CLIENT_SECRET", falcon_sim::DEMO_CLIENT_SECRET),
        ("FALCON_BASE_URL", base.as_str()),
        ("AERIE_APPROVALS", "queue"),
    ];
    let client = stdio_client(&args, &envs, &work.path().join("stderr.log")).await;
    let aid = aid_of(&client, KNOWN_HOSTNAME).await;

    let r = call(
        &client,
        "hosts_contain",
        json!({"ids": [aid], "confirm": true}),
    )
    .await;
    let pending = serde_json::to_value(&r).unwrap()["_meta"]["aerie/approval"].clone();
    assert_eq!(pending["status"], "pending", "{}", text(&r));
    let id = pending["id"].as_str().unwrap().to_string();
    assert_eq!(budget_meta(&r)["used"], 1, "only hosts_search ran: {r:?}");
    assert_eq!(budget_meta(&r)["tools"][0]["used"], 0, "{r:?}");

    let out = std::process::Command::new(aerie())
        .args(["approvals", "approve", &id, "--socket"])
        .arg(&socket)
        .env("HOME", "/nonexistent")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = call(&client, "aerie_run_approved", json!({"approval_id": id})).await;
    assert!(!is_error(&r), "{}", text(&r));
    assert_eq!(
        budget_meta(&r),
        json!({"profile": "responder", "used": 2, "limit": 4, "remaining": 2,
               "tools": [{"tools": "hosts_contain", "used": 1, "limit": 1, "remaining": 0}]})
    );
    // The one containment is used: a second is refused before any approval is asked.
    let other = aid_of(&client, falcon_sim::KNOWN_LINUX_HOSTNAME).await;
    let e = call_err(
        &client,
        "hosts_contain",
        json!({"ids": [other], "confirm": true}),
    )
    .await;
    assert!(
        e.contains("profile `responder` allows 1 call of `hosts_contain` per session; it is used"),
        "{e}"
    );
    client.cancel().await.unwrap();
}

/// `aerie config check` shows the operator what each profile sees and its budget, so a profile
/// can be checked before an agent runs with it.
#[test]
fn config_check_prints_what_each_profile_sees() {
    let work = tempfile::tempdir().unwrap();
    let cache = shared_cache();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/profiles.example.toml");
    let (ok, out) = run_aerie(
        work.path(),
        &[
            "config",
            "check",
            "--config",
            example,
            "--allow-writes",
            "--cache-dir",
            &cache,
        ],
    );
    assert!(ok, "{out}");
    let triage = out
        .lines()
        .find(|l| l.starts_with("profile triage"))
        .unwrap_or_else(|| panic!("no triage line in:\n{out}"));
    assert!(triage.contains("budget 6 calls per session"), "{triage}");
    assert!(triage.contains("detections_search"), "{triage}");
    assert!(
        !triage.contains("rtr_"),
        "triage sees no RTR tool: {triage}"
    );
    let rtr = out
        .lines()
        .find(|l| l.starts_with("profile rtr"))
        .unwrap_or_else(|| panic!("no rtr line in:\n{out}"));
    assert!(
        rtr.contains("hosts_contain") && rtr.contains("rtr_init_session"),
        "{rtr}"
    );
}
