//! aerie's MCP features beyond tools, end to end with the official Python SDK
//! (`clients/features.py`) in its default mode (2026-07-28) and in legacy mode (2025-11-25),
//! against the real binary over stdio and the simulator: prompts (list, get, arguments, hidden
//! when their tools are not there, list_changed after a hot swap), logging (setLevel or the
//! per-request opt-in, then a plugin's lines, bounded and escaped), completion, resource
//! templates (read through the plugin, profile-checked), resource subscriptions after a write,
//! and output schemas (listed, validated by the SDK, a violating result is a tool error).

mod support;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};

use falcon_sim::KNOWN_HOSTNAME;
use serde_json::{Value, json};
use support::*;

const MODES: [&str; 2] = ["auto", "legacy"];

/// Run `clients/features.py` in `mode` with `steps` against `aerie <args>` (stdio), with `envs`;
/// `on_ready` runs when the script prints `ready`. Returns its JSON report.
fn features(
    mode: &str,
    steps: &Value,
    args: &[&str],
    envs: &[(&str, &str)],
    on_ready: impl FnOnce(),
) -> Value {
    let mut server = vec!["--", aerie()];
    server.extend_from_slice(args);
    run_script(mode, steps, &server, envs, on_ready)
}

/// `clients/features.py` in `mode` with `steps` against the server `server` names (`--url
/// URL`, or `-- AERIE ARGS…` for stdio).
fn run_script(
    mode: &str,
    steps: &Value,
    server: &[&str],
    envs: &[(&str, &str)],
    on_ready: impl FnOnce(),
) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/features.py");
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new("python3")
        .arg(&script)
        .args([mode, &steps.to_string()])
        .args(server)
        .env_remove("FALCON_CLIENT_ID")
        .env_remove("FALCON_CLIENT_SECRET")
        .env("AERIE_APPROVALS", "off")
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(log.reopen().unwrap())
        .spawn()
        .expect("python3 runs (the README's test command installs the `mcp` package)");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut on_ready = Some(on_ready);
    let mut last = String::new();
    let mut line = String::new();
    while out.read_line(&mut line).unwrap() > 0 {
        if line.trim() == "ready" {
            if let Some(f) = on_ready.take() {
                f();
            }
        } else if !line.trim().is_empty() {
            last = line.trim().to_string();
        }
        line.clear();
    }
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::fs::File::open(log.path())
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "features.py failed: {err}");
    serde_json::from_str(&last).unwrap_or_else(|e| panic!("no JSON ({e}): {last}\n{err}"))
}

/// Server arguments and credentials for `aerie serve` against `sim`.
fn against(sim: &falcon_sim::Simulator, extra: &[&str]) -> (Vec<String>, Vec<(String, String)>) {
    let mut args = vec!["serve".to_string(), "--cache-dir".into(), shared_cache()];
    args.extend(extra.iter().map(|s| s.to_string()));
    let envs = vec![
        ("FALCON_CLIENT_ID".into(), falcon_sim::DEMO_CLIENT_ID.into()),
        (
            "FALCON_CLIENT_SECRET".into(),
            falcon_sim::DEMO_CLIENT_SECRET.into(),
        ),
        ("FALCON_BASE_URL".into(), sim.base_url()),
    ];
    (args, envs)
}

/// [`features`] against `sim` with `extra` server arguments.
fn run_against(sim: &falcon_sim::Simulator, mode: &str, extra: &[&str], steps: &Value) -> Value {
    let (args, envs) = against(sim, extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    features(mode, steps, &args, &envs, || {})
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

fn error_of(result: &Value) -> String {
    result["error"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error: {result}"))
        .to_string()
}

fn all_text(result: &Value) -> String {
    result["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("no messages: {result}"))
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn prompts_are_listed_rendered_and_checked_in_both_generations() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let steps = json!([
        {"op": "list_prompts"},
        {"op": "get_prompt", "name": "investigate_host", "args": {"hostname": KNOWN_HOSTNAME}},
        {"op": "get_prompt", "name": "investigate_host", "args": {}},
        {"op": "get_prompt", "name": "investigate_host", "args": {"hostname": "x", "hostnme": "y"}},
        {"op": "get_prompt", "name": "contain_host", "args": {"hostname": KNOWN_HOSTNAME, "reason": "r"}},
        {"op": "get_prompt", "name": "no_such_prompt"},
    ]);
    // Only some groups: the playbooks' optional tools of the others are named as missing.
    let modules = ["--modules", "hosts,detections,hunting"];
    for mode in MODES {
        let r = run_against(&sim, mode, &modules, &steps);
        let protocol = if mode == "auto" {
            "2026-07-28"
        } else {
            "2025-11-25"
        };
        assert_eq!(r["protocol"], protocol, "{r}");
        let res = &r["results"];
        let listed = names(&res[0]);
        for p in [
            "triage_alert",
            "hunt_indicator",
            "investigate_host",
            "enrich_indicator",
        ] {
            assert!(
                listed.contains(&p.to_string()),
                "{mode}: {p} not in {listed:?}"
            );
        }
        // Writes are off, so the playbook that needs hosts_contain is hidden and refused.
        assert!(!listed.contains(&"contain_host".to_string()), "{listed:?}");
        assert!(
            error_of(&res[4]).contains("needs tools this session cannot run: hosts_contain"),
            "{}",
            res[4]
        );
        let investigate = res[0]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "investigate_host")
            .unwrap();
        assert_eq!(
            investigate["arguments"],
            json!([{"name": "hostname", "required": true}, {"name": "window", "required": false}])
        );
        assert_eq!(
            investigate["meta"]["aerie/tools"]["required"],
            json!(["hosts_search", "hosts_get"])
        );
        // Rendered: the argument and the default filled in, the missing groups' tools noted.
        let text = all_text(&res[1]);
        assert!(
            text.contains(&format!(
                "Investigate the host {KNOWN_HOSTNAME} over the last 7d"
            )),
            "{text}"
        );
        assert!(text.contains("call hosts_search with hostname"), "{text}");
        assert!(
            text.contains("not available in this session; skip the steps that use them: spotlight_host_vulns, rtr_init_session, rtr_run_command, rtr_close_session, ngsiem_query."),
            "{text}"
        );
        assert!(!text.contains('{'), "no placeholder left: {text}");
        assert!(
            error_of(&res[2]).contains("needs argument `hostname`"),
            "{}",
            res[2]
        );
        assert!(
            error_of(&res[3]).contains("has no argument `hostnme` (arguments: hostname, window)"),
            "{}",
            res[3]
        );
        assert!(
            error_of(&res[5]).contains("no prompt `no_such_prompt`"),
            "{}",
            res[5]
        );
    }
    // With writes on, the containment playbook is there and explains the approval.
    let r = run_against(
        &sim,
        "auto",
        &["--allow-writes", "--modules", "hosts"],
        &steps,
    );
    assert!(
        names(&r["results"][0]).contains(&"contain_host".to_string()),
        "{r}"
    );
    let text = all_text(&r["results"][4]);
    assert!(text.contains("Reason: r."), "{text}");
    assert!(text.contains("aerie_run_approved"), "{text}");
    // Playbooks whose required group is not loaded are not listed at all.
    assert!(
        !names(&r["results"][0]).contains(&"triage_alert".to_string()),
        "{r}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hot_swap_tells_both_generations_the_prompts_changed() {
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let install = |name: &str| {
            let tmp = dir.path().join("swapper.wasm.tmp");
            std::fs::copy(fixture(name), &tmp).unwrap();
            std::fs::rename(&tmp, dir.path().join("swapper.wasm")).unwrap();
        };
        install("swap_a");
        let cache = shared_cache();
        let plugins = dir.path().to_str().unwrap().to_string();
        let args = [
            "serve",
            "--no-embedded",
            "--cache-dir",
            &cache,
            "--plugins-dir",
            &plugins,
        ];
        // A 2025 session that set a level also hears the server's own line about the reload.
        let steps = if mode == "legacy" {
            json!([
                {"op": "set_level", "level": "info"},
                {"op": "expect", "event": "prompts_list_changed", "ready": true},
                {"op": "wait_log", "contains": "plugins reloaded"},
            ])
        } else {
            json!([{"op": "expect", "event": "prompts_list_changed", "ready": true}])
        };
        let r = features(mode, &steps, &args, &[], || install("swap_b"));
        let res = r["results"].as_array().unwrap();
        let heard = res.iter().find(|x| x.get("heard").is_some()).unwrap();
        assert_eq!(heard["heard"], true, "{mode}: {r}");
        if mode == "legacy" {
            assert_eq!(res[2], true, "the reload line: {r}");
            let line = r["logs"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["data"]["message"] == "plugins reloaded")
                .unwrap();
            assert_eq!(line["logger"], "aerie", "{line}");
        }
    }
}

/// Over streamable HTTP a 2026-07-28 request's log lines ride its own response stream, and a
/// 2025 session's its session; both arrive before the answer.
#[tokio::test(flavor = "multi_thread")]
async fn log_lines_reach_http_clients_of_both_generations() {
    let dir = plugins_dir(&["adversary"]);
    let work = tempfile::tempdir().unwrap();
    let server = start_http_server(dir.path(), &[], &work.path().join("server.log")).await;
    let url = server.url();
    for mode in MODES {
        let steps = json!([
            {"op": "set_level", "level": "info"},
            {"op": "call", "tool": "forge_log", "log_level": "info"},
        ]);
        let r = tokio::task::spawn_blocking({
            let url = url.clone();
            move || run_script(mode, &steps, &["--url", &url], &[], || {})
        })
        .await
        .unwrap();
        let lines: Vec<Value> = r["logs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["logger"] == "plugin:adversary")
            .cloned()
            .collect();
        check_forged(&lines, &r);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clients_level_brings_it_the_plugins_log_lines_bounded_and_escaped() {
    let dir = plugins_dir(&["adversary"]);
    let cache = shared_cache();
    let plugins = dir.path().to_str().unwrap().to_string();
    let args = [
        "serve",
        "--no-embedded",
        "--cache-dir",
        &cache,
        "--plugins-dir",
        &plugins,
    ];
    let plugin_lines = |logs: &Value| -> Vec<Value> {
        logs.as_array()
            .unwrap()
            .iter()
            .filter(|l| l["logger"] == "plugin:adversary")
            .cloned()
            .collect()
    };
    // 2026-07-28: nothing without the per-request opt-in; with it, the lines of that call.
    let quiet = json!([{"op": "call", "tool": "forge_log"}]);
    let r = features("auto", &quiet, &args, &[], || {});
    assert!(plugin_lines(&r["logs"]).is_empty(), "{r}");
    let opted = json!([{"op": "call", "tool": "forge_log", "log_level": "info"}]);
    let r = features("auto", &opted, &args, &[], || {});
    check_forged(&plugin_lines(&r["logs"]), &r);
    // 2025: the session's level (warning until it sets one), then setLevel info.
    let legacy = json!([
        {"op": "call", "tool": "forge_log"},
        {"op": "set_level", "level": "info"},
        {"op": "call", "tool": "forge_log"},
    ]);
    let r = features("legacy", &legacy, &args, &[], || {});
    assert_eq!(r["results"][1], "ok", "{r}");
    // The first call (before setLevel) sent nothing at info; the second sent its lines.
    check_forged(&plugin_lines(&r["logs"]), &r);
    // A flood of lines: the call's allowance, then one message with the count.
    let flood = json!([{"op": "call", "tool": "log_flood", "log_level": "info"}]);
    let r = features("auto", &flood, &args, &[], || {});
    let all = r["logs"].as_array().unwrap();
    assert_eq!(
        all.len(),
        201,
        "200 per call, then the count: {}",
        all.len()
    );
    assert!(plugin_lines(&r["logs"]).len() >= 190, "{}", all.len());
    let last = all.last().unwrap();
    assert!(
        last["data"]["message"]
            .as_str()
            .unwrap()
            .ends_with("further log messages of this call were not sent"),
        "{last}"
    );
}

/// The forged lines of `forge_log` arrive from every channel, each naming the plugin, nothing
/// unescaped: its `host.log` line with the line break escaped, and its stdout and stderr split
/// into lines (two each) as the host log has them.
fn check_forged(lines: &[Value], r: &Value) {
    assert_eq!(lines.len(), 5, "host.log 1, stdout 2, stderr 2: {r}");
    for l in lines {
        assert_eq!(l["data"]["plugin"], "adversary", "{l}");
        assert_eq!(l["level"], "info", "{l}");
        let m = l["data"]["message"].as_str().unwrap();
        assert!(!m.contains(['\n', '\r', '\u{1b}']), "escaped: {m}");
    }
    let host_log: Vec<&Value> = lines
        .iter()
        .filter(|l| l["data"]["stream"].is_null())
        .collect();
    assert_eq!(host_log.len(), 1, "{r}");
    assert!(
        host_log[0]["data"]["message"]
            .as_str()
            .unwrap()
            .starts_with("ok\\n2026-01-01T00:00:00Z"),
        "{r}"
    );
    let streams: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["data"]["stream"].as_str())
        .collect();
    assert_eq!(streams, ["stdout", "stdout", "stderr", "stderr"], "{r}");
    assert!(
        lines.iter().any(|l| l["data"]["message"]
            .as_str()
            .unwrap()
            .ends_with("\\r\\u{1b}[2K")),
        "the terminal escape is escaped: {r}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn completion_asks_the_plugin_that_owns_the_values() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let steps = json!([
        // At debug level: the token is fetched during this call, and its lines come back.
        {"op": "call", "tool": "hosts_search", "args": {"hostname": KNOWN_HOSTNAME},
         "log_level": "debug", "save": {"aid": "structured.results.0.device_id"}},
        {"op": "complete", "prompt": "investigate_host", "arg": "hostname", "value": "WS-FIN"},
        {"op": "complete", "template": "falcon://hosts/{device_id}", "arg": "device_id", "value": "${aid}"},
        {"op": "complete", "prompt": "hunt_indicator", "arg": "repository", "value": "inv"},
        {"op": "complete", "prompt": "investigate_host", "arg": "window", "value": "7"},
        {"op": "complete", "prompt": "no_such_prompt", "arg": "x", "value": ""},
        {"op": "complete", "prompt": "investigate_host", "arg": "nope", "value": ""},
        {"op": "complete", "prompt": "triage_alert", "arg": "composite_id", "value": ""},
    ]);
    for mode in MODES {
        let r = run_against(&sim, mode, &[], &steps);
        let res = &r["results"];
        // What reaches the client holds no secret: not the API secret, not the token.
        let logs = r["logs"].to_string();
        assert!(logs.contains("Falcon token issued"), "{mode}: {logs}");
        assert!(!logs.contains(falcon_sim::DEMO_CLIENT_SECRET), "{logs}");
        assert!(!logs.to_lowercase().contains("bearer"), "{logs}");
        let aid = res[0]["structured"]["results"][0]["device_id"]
            .as_str()
            .unwrap();
        let hosts = res[1]["values"].as_array().unwrap();
        assert!(hosts.contains(&json!(KNOWN_HOSTNAME)), "{mode}: {}", res[1]);
        assert!(
            hosts
                .iter()
                .all(|h| h.as_str().unwrap().starts_with("WS-FIN")),
            "{}",
            res[1]
        );
        assert_eq!(res[2]["values"], json!([aid]), "{mode}: {}", res[2]);
        assert_eq!(res[3]["values"], json!(["investigate_view"]), "{}", res[3]);
        assert_eq!(res[4]["values"], json!([]), "no completer: {}", res[4]);
        assert!(
            error_of(&res[5]).contains("no prompt `no_such_prompt`"),
            "{}",
            res[5]
        );
        assert!(
            error_of(&res[6]).contains("has no argument `nope`"),
            "{}",
            res[6]
        );
        let alerts = res[7]["values"].as_array().unwrap();
        assert!(!alerts.is_empty() && alerts.len() <= 100, "{}", res[7]);
        // Composite ids: the tenant CID, the kind (ind, ldt, thirdparty...), the alert.
        assert!(
            alerts
                .iter()
                .all(|a| a.as_str().unwrap().split(':').count() >= 3),
            "{}",
            res[7]
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn templates_read_entities_through_the_plugin_for_callers_who_may() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let steps = json!([
        {"op": "list_templates"},
        {"op": "call", "tool": "hosts_search", "args": {"hostname": KNOWN_HOSTNAME},
         "save": {"aid": "structured.results.0.device_id"}},
        {"op": "read", "uri": "falcon://hosts/${aid}"},
        {"op": "read", "uri": "falcon://hosts/0123456789abcdef0123456789abcdef"},
        {"op": "read", "uri": "falcon://hosts/not-an-aid"},
        {"op": "call", "tool": "detections_search", "args": {"limit": 1},
         "save": {"alert": "structured.results.0.composite_id"}},
        {"op": "read", "uri": "falcon://alerts/${alert}"},
    ]);
    for mode in MODES {
        let r = run_against(&sim, mode, &[], &steps);
        let res = &r["results"];
        for t in [
            "falcon://hosts/{device_id}",
            "falcon://alerts/{composite_id}",
            "falcon://incidents/{id}",
            "falcon://prevention/policies/{id}",
        ] {
            assert!(
                res[0].as_array().unwrap().contains(&json!(t)),
                "{mode}: {t} in {}",
                res[0]
            );
        }
        assert_eq!(res[2]["mime"], "application/json", "{}", res[2]);
        let host: Value = serde_json::from_str(res[2]["text"].as_str().unwrap()).unwrap();
        assert_eq!(host["hostname"], KNOWN_HOSTNAME, "{host}");
        assert!(
            host.get("online_state").is_some(),
            "the full record, as hosts_get: {host}"
        );
        assert!(error_of(&res[3]).contains("no resource"), "{}", res[3]);
        assert!(
            error_of(&res[4]).contains("not a valid host id"),
            "{}",
            res[4]
        );
        let alert: Value = serde_json::from_str(res[6]["text"].as_str().unwrap()).unwrap();
        assert_eq!(
            alert["composite_id"],
            res[5]["structured"]["results"][0]["composite_id"]
        );
    }
    // A profile without hosts_get neither sees the host template nor reads through it.
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("aerie.toml");
    std::fs::write(
        &config,
        "[profiles.alerts_only]\ntools = [\"detections_*\"]\n",
    )
    .unwrap();
    let config = config.to_str().unwrap().to_string();
    let steps = json!([
        {"op": "list_templates"},
        {"op": "read", "uri": "falcon://hosts/0123456789abcdef0123456789abcdef"},
    ]);
    let r = run_against(
        &sim,
        "auto",
        &["--config", &config, "--profile", "alerts_only"],
        &steps,
    );
    let listed = r["results"][0].as_array().unwrap();
    assert!(
        !listed.contains(&json!("falcon://hosts/{device_id}")),
        "{r}"
    );
    assert!(
        listed.contains(&json!("falcon://alerts/{composite_id}")),
        "{r}"
    );
    assert!(error_of(&r["results"][1]).contains("no resource"), "{r}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subscriber_hears_when_a_write_changes_its_resource() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    for mode in MODES {
        let steps = json!([
            {"op": "call", "tool": "hosts_search", "args": {"hostname": KNOWN_HOSTNAME},
             "save": {"aid": "structured.results.0.device_id"}},
            // A preview changes nothing: no update; the confirmed call does.
            {"op": "expect", "event": "resource_updated", "uri": "falcon://hosts/${aid}", "then": [
                {"op": "call", "tool": "hosts_contain", "args": {"ids": ["${aid}"]}},
            ]},
            {"op": "expect", "event": "resource_updated", "uri": "falcon://hosts/${aid}", "then": [
                {"op": "call", "tool": "hosts_contain", "args": {"ids": ["${aid}"], "confirm": true}},
            ]},
            {"op": "call", "tool": "hosts_lift_containment", "args": {"ids": ["${aid}"], "confirm": true}},
        ]);
        let r = run_against(
            &sim,
            mode,
            &["--allow-writes", "--modules", "hosts"],
            &steps,
        );
        let res = &r["results"];
        assert_eq!(
            res[1]["heard"], false,
            "{mode}: a preview is no change: {r}"
        );
        assert_eq!(res[1]["then"][0]["structured"]["preview"], true, "{r}");
        assert_eq!(res[2]["then"][0]["structured"]["applied"], true, "{r}");
        assert_eq!(res[2]["heard"], true, "{mode}: {r}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn results_are_checked_against_their_output_schemas() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let dir = plugins_dir(&["bad_output"]);
    let work = tempfile::tempdir().unwrap();
    let audit = work.path().join("audit.jsonl");
    let plugins = dir.path().to_str().unwrap().to_string();
    let audit_arg = audit.to_str().unwrap().to_string();
    let steps = json!([
        {"op": "list_tools"},
        {"op": "call", "tool": "bad_output_right"},
        {"op": "call", "tool": "bad_output_wrong_type"},
        {"op": "call", "tool": "bad_output_missing"},
        // The SDK validates every result of a tool with an output schema: a real tool passes.
        {"op": "call", "tool": "hosts_search", "args": {"limit": 2}},
        // Built-ins too: a large result is stored, then paged and listed.
        {"op": "call", "tool": "hosts_search", "args": {"limit": 500},
         "save": {"handle": "meta.aerie/stored.handle"}},
        {"op": "call", "tool": "aerie_result_page", "args": {"handle": "${handle}", "offset": 4, "limit": 5}},
        {"op": "call", "tool": "aerie_results"},
    ]);
    for mode in MODES {
        let extra = ["--plugins-dir", &plugins, "--audit-log", &audit_arg];
        let r = run_against(&sim, mode, &extra, &steps);
        let res = &r["results"];
        let tools = res[0].as_array().unwrap();
        let schema_of = |name: &str| {
            tools
                .iter()
                .find(|t| t["name"] == name)
                .unwrap_or_else(|| panic!("{name} listed"))["output_schema"]
                .clone()
        };
        assert_eq!(schema_of("bad_output_right")["required"], json!(["count"]));
        assert_eq!(
            schema_of("hosts_search")["required"],
            json!(["results", "total", "next"])
        );
        assert_eq!(res[1]["is_error"], false, "{mode}: {}", res[1]);
        assert_eq!(res[1]["structured"], json!({"count": 3}));
        for bad in [&res[2], &res[3]] {
            assert_eq!(
                bad["is_error"], true,
                "{mode}: a tool error, not a protocol error: {bad}"
            );
            let text = bad["text"].as_str().unwrap();
            assert!(
                text.contains("does not match the tool's declared output schema")
                    && text.contains("fault in the plugin"),
                "{text}"
            );
        }
        assert!(
            res[2]["text"].as_str().unwrap().contains("/count"),
            "{}",
            res[2]
        );
        for (i, tool) in [
            (4, "hosts_search"),
            (5, "hosts_search"),
            (6, "aerie_result_page"),
            (7, "aerie_results"),
        ] {
            assert_eq!(res[i]["is_error"], false, "{mode}: {}", res[i]);
            assert!(
                schema_of(tool).is_object(),
                "{tool} declares its output schema"
            );
        }
        assert_eq!(
            res[6]["structured"]["items"].as_array().unwrap().len(),
            5,
            "{}",
            res[6]
        );
    }
    let audit = std::fs::read_to_string(&audit).unwrap();
    assert_eq!(
        audit.matches(r#""outcome":"bad_output""#).count(),
        4,
        "two violations per mode: {audit}"
    );
}
