//! Policy hardening end to end: the RTR guard holds against forged request bodies from a
//! hostile plugin (the `rtr_forger` fixture, served from a plugins directory next to the
//! simulator), and operator mistakes in configuration and on the command line are errors that
//! name what to fix, never a silently weaker policy.

mod support;

use std::path::Path;

use serde_json::{Value, json};
use support::*;

type Client = rmcp::service::RunningService<rmcp::RoleClient, ()>;

/// `aerie serve --allow-writes` with the forger plugin, the given `[rtr]` section and an audit
/// log, against `sim`.
async fn forger_server(sim: &falcon_sim::Simulator, work: &Path, rtr: &str) -> Client {
    let plugins = work.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(fixture("rtr_forger"), plugins.join("rtr_forger.wasm")).unwrap();
    let config = work.join("aerie.toml");
    std::fs::write(&config, format!("[rtr]\n{rtr}\n")).unwrap();
    let audit = work.join("audit.jsonl");
    serve_against(
        sim,
        &[
            "--allow-writes",
            "--no-embedded",
            "--plugins-dir",
            plugins.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
            "--audit-log",
            audit.to_str().unwrap(),
        ],
        work,
    )
    .await
}

/// The audit log's `denied` records.
fn denials(work: &Path) -> Vec<Value> {
    std::fs::read_to_string(work.join("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["kind"] == "denied")
        .collect()
}

/// Requests for RTR paths that reached the simulator.
fn rtr_requests(sim: &falcon_sim::Simulator) -> Vec<String> {
    sim.requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/real-time-response/"))
        .map(|r| format!("{} {} {}", r.method, r.path, r.body))
        .collect()
}

/// Calls `tool` with a raw body and expects a denial containing `reason`, audited, with
/// nothing sent upstream.
async fn assert_denied(
    client: &Client,
    sim: &falcon_sim::Simulator,
    work: &Path,
    tool: &str,
    body: &str,
    reason: &str,
) {
    sim.clear_requests();
    let before = denials(work).len();
    let e = call_err(client, tool, json!({ "body": body })).await;
    assert!(e.contains("Denied by aerie's policy"), "{tool} {body}: {e}");
    assert!(e.contains(reason), "{tool} {body}: {e}");
    let d = denials(work);
    assert_eq!(d.len(), before + 1, "one denied record: {d:?}");
    let last = &d[d.len() - 1];
    assert_eq!(last["plugin"], "rtr_forger");
    assert_eq!(last["tool"], tool);
    assert!(
        last["reason"].as_str().unwrap_or_default().contains(reason),
        "{last}"
    );
    assert!(rtr_requests(sim).is_empty(), "{:?}", rtr_requests(sim));
}

/// `BatchGetCmd` fetches files (an implicit `get`): a write-tier tool declaring it is held to
/// `blocked = ["get"]` and to the default `max_tier = "read-only"`.
#[tokio::test(flavor = "multi_thread")]
async fn batch_get_is_guarded_as_get() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let body = r#"{"batch_id":"b-1","file_path":"C:\\Windows\\System32\\config\\SAM"}"#;

    let work = tempfile::tempdir().unwrap();
    let client = forger_server(
        &sim,
        work.path(),
        "max_tier = \"admin\"\nblocked = [\"get\"]",
    )
    .await;
    assert_denied(
        &client,
        &sim,
        work.path(),
        "forge_batch_get",
        body,
        "RTR command `get` is blocked",
    )
    .await;
    client.cancel().await.unwrap();

    let work = tempfile::tempdir().unwrap();
    let client = forger_server(&sim, work.path(), "").await;
    assert_denied(
        &client,
        &sim,
        work.path(),
        "forge_batch_get",
        body,
        "`get` needs the ActiveResponder tier; the operator allows up to ReadOnly",
    )
    .await;
    // A command smuggled next to the path is not an accepted key.
    assert_denied(
        &client,
        &sim,
        work.path(),
        "forge_batch_get",
        r#"{"batch_id":"b-1","file_path":"C:\\x","base_command":"ls"}"#,
        "unexpected key `base_command`",
    )
    .await;
    client.cancel().await.unwrap();

    // With active-responder allowed, the same body leaves (the guard, not the fixture, refused).
    let work = tempfile::tempdir().unwrap();
    let client = forger_server(&sim, work.path(), "max_tier = \"active-responder\"").await;
    sim.clear_requests();
    let _ = call(&client, "forge_batch_get", json!({ "body": body })).await;
    let sent = rtr_requests(&sim);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].contains("batch-get-command"), "{sent:?}");
    client.cancel().await.unwrap();
}

/// Case-variant and duplicate keys, which Falcon's decoder could read as a different command
/// than the guard checked, are refused before anything leaves; a clean body goes through.
#[tokio::test(flavor = "multi_thread")]
async fn forged_command_bodies_are_refused() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let client = forger_server(&sim, work.path(), "").await;
    for (body, reason) in [
        (
            r#"{"base_command":"ls","command_string":"ls","Command_String":"rm -rf C:\\x","session_id":"s"}"#,
            "`Command_String` differs from `command_string` only by case",
        ),
        (
            r#"{"base_command":"ls","command_string":"ls","command_string":"rm -rf C:\\x","session_id":"s"}"#,
            "has the key `command_string` more than once",
        ),
        (
            r#"{"base_command":"rm","Base_Command":"ls","command_string":"ls","session_id":"s"}"#,
            "only by case",
        ),
        (
            r#"{"base_command":"ls","command_string":"ls","session_id":"s","persist_all":true}"#,
            "unexpected key `persist_all`",
        ),
    ] {
        assert_denied(&client, &sim, work.path(), "forge_execute", body, reason).await;
    }
    sim.clear_requests();
    let _ = call(
        &client,
        "forge_execute",
        json!({"body": r#"{"base_command":"ls","command_string":"ls","session_id":"s","persist":false}"#}),
    )
    .await;
    assert_eq!(rtr_requests(&sim).len(), 1, "{:?}", rtr_requests(&sim));
    client.cancel().await.unwrap();
}

/// Runs `aerie <args>` in `dir` with no credentials and no stdin; returns (success, stdout,
/// stderr).
fn run_aerie(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(aerie())
        .args(args)
        .current_dir(dir)
        .env_remove("FALCON_CLIENT_ID")
        .env_remove("FALCON_CLIENT_SECRET")
        .env_remove("AERIE_CONFIG")
        .env("HOME", "/nonexistent")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Typos in plugin, tool, module and operation names were accepted and left tools served that
/// the operator meant to remove: each is now an error at start and in `config check`, naming
/// the nearest valid name. A real plugin that is configured but left out by `--modules` is not.
#[test]
fn policy_typos_are_errors_naming_the_nearest_name() {
    let work = tempfile::tempdir().unwrap();
    let cache = shared_cache();
    let cases: &[(&str, &str, &str)] = &[
        (
            "[plugins.hostz]\n",
            "hosts",
            "[plugins.hostz] names no plugin; did you mean `hosts`?",
        ),
        (
            "[plugins.rtr]\ndisabled_tools = [\"rtr_upload_fille\"]\n",
            "rtr",
            "disabled_tools names `rtr_upload_fille`, which is not a tool of plugin `rtr`; did you mean `rtr_upload_file`?",
        ),
        (
            "",
            "detections,hostz",
            "`hostz`, which is not a plugin; did you mean `hosts`?",
        ),
        (
            "[plugins.hosts]\noperations = [\"QueryDevicesByFiltr\"]\n",
            "hosts",
            "`QueryDevicesByFiltr`, which is not a Falcon operation aerie knows; did you mean `QueryDevicesByFilter`?",
        ),
    ];
    for (i, (toml, modules, expected)) in cases.iter().enumerate() {
        let config = work.path().join(format!("typo{i}.toml"));
        std::fs::write(&config, toml).unwrap();
        let config = config.to_str().unwrap();
        let common = [
            "--config",
            config,
            "--modules",
            modules,
            "--cache-dir",
            &cache,
        ];
        for cmd in [&["config", "check"][..], &["serve"], &["demo"]] {
            let args: Vec<&str> = cmd.iter().chain(common.iter()).copied().collect();
            let (ok, _, stderr) = run_aerie(work.path(), &args);
            assert!(!ok, "{args:?} succeeded");
            assert!(stderr.contains(expected), "{args:?}: {stderr}");
        }
    }
    // `[plugins.rtr]` while `--modules hosts` leaves rtr out: a warning, not an error.
    let config = work.path().join("excluded.toml");
    std::fs::write(&config, "[plugins.rtr]\nfiles = true\n").unwrap();
    let (ok, _, stderr) = run_aerie(
        work.path(),
        &[
            "config",
            "check",
            "--config",
            config.to_str().unwrap(),
            "--modules",
            "hosts",
            "--cache-dir",
            &cache,
        ],
    );
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("[plugins.rtr] is configured but plugin `rtr` is not loaded"),
        "{stderr}"
    );
}

/// `aerie config check` checks everything `serve` would: `[http]` digests (which passed
/// before), limits, signing keys, and that the files, plugins and audit paths can be used.
#[test]
fn config_check_validates_what_serve_would() {
    let work = tempfile::tempdir().unwrap();
    let cache = shared_cache();
    let missing = work.path().join("missing");
    let m = missing.display();
    let cases = [
        (
            "[http]\napi_keys = [\"sha256:nothex\"]\n".to_string(),
            "[http] api key digest `sha256:nothex` is not sha256:<64 hex digits>".to_string(),
        ),
        ("[limits]\nmemory_mib = 0\n".into(), "[limits]".into()),
        (
            "[signing]\ntrusted_keys = [\"ed25519:00\"]\n".into(),
            "[signing]".into(),
        ),
        (format!("files_dir = \"{m}/files\"\n"), format!("{m}/files")),
        (
            format!("plugins_dir = \"{m}/plugins\"\n"),
            format!("{m}/plugins"),
        ),
        (
            format!("audit_log = \"{m}/audit.jsonl\"\n"),
            format!("{m}/audit.jsonl"),
        ),
    ];
    for (i, (toml, expected)) in cases.iter().enumerate() {
        let config = work.path().join(format!("c{i}.toml"));
        std::fs::write(&config, toml).unwrap();
        let (ok, _, stderr) = run_aerie(
            work.path(),
            &[
                "config",
                "check",
                "--config",
                config.to_str().unwrap(),
                "--modules",
                "hosts",
                "--cache-dir",
                &cache,
            ],
        );
        assert!(!ok, "{toml} passed");
        assert!(stderr.contains(expected.as_str()), "{toml}: {stderr}");
    }
}

/// Every command's file error names the file, not just "No such file or directory".
#[test]
fn cli_file_errors_name_the_path() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let cache = shared_cache();
    let missing = dir.join("no-such-dir");
    let path = |name: &str| missing.join(name).to_str().unwrap().to_string();
    let key = dir.join("k.key");
    let (ok, _, stderr) = run_aerie(dir, &["plugin", "keygen", "--out", key.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let component = dir.join("hello.wasm");
    std::fs::copy(fixture("hello"), &component).unwrap();
    let component = component.to_str().unwrap();
    let key = key.to_str().unwrap();
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec!["plugin".into(), "keygen".into(), "--out".into(), path("k")],
            path("k"),
        ),
        (
            vec![
                "plugin".into(),
                "sign".into(),
                path("p.wasm"),
                "--key".into(),
                key.into(),
            ],
            path("p.wasm"),
        ),
        (
            vec![
                "plugin".into(),
                "sign".into(),
                component.into(),
                "--key".into(),
                path("k"),
            ],
            path("k"),
        ),
        (
            vec![
                "plugin".into(),
                "check".into(),
                path("p.wasm"),
                "--cache-dir".into(),
                cache.clone(),
            ],
            path("p.wasm"),
        ),
        (
            vec!["serve".into(), "--config".into(), path("aerie.toml")],
            path("aerie.toml"),
        ),
        (
            vec![
                "config".into(),
                "check".into(),
                "--config".into(),
                path("aerie.toml"),
            ],
            path("aerie.toml"),
        ),
        (
            vec![
                "serve".into(),
                "--credentials-file".into(),
                path("creds.json"),
                "--cache-dir".into(),
                cache.clone(),
            ],
            path("creds.json"),
        ),
        (
            vec![
                "serve".into(),
                "--audit-log".into(),
                path("audit.jsonl"),
                "--cache-dir".into(),
                cache.clone(),
            ],
            path("audit.jsonl"),
        ),
        (
            vec![
                "plugin".into(),
                "run".into(),
                component.into(),
                "hello_greet".into(),
                "--config".into(),
                path("aerie.toml"),
            ],
            path("aerie.toml"),
        ),
        (
            vec![
                "plugin".into(),
                "run".into(),
                path("p.wasm"),
                "hello_greet".into(),
            ],
            path("p.wasm"),
        ),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ok, _, stderr) = run_aerie(dir, &args);
        assert!(!ok, "{args:?} succeeded");
        assert!(stderr.contains(&expected), "{args:?}: {stderr}");
    }
}

/// A reload that drops a configured plugin (its file removed) is logged as an error: the
/// operator's `[plugins.<name>]` now applies to nothing, which must not pass silently.
#[tokio::test(flavor = "multi_thread")]
async fn reload_that_drops_a_configured_plugin_is_an_error() {
    let work = tempfile::tempdir().unwrap();
    let plugins = plugins_dir(&["hello"]);
    let config = work.path().join("aerie.toml");
    std::fs::write(&config, "[plugins.hello]\ndisabled_tools = []\n").unwrap();
    let log = work.path().join("stderr.log");
    let client = stdio_client(
        &[
            "serve",
            "--no-embedded",
            "--cache-dir",
            &shared_cache(),
            "--plugins-dir",
            plugins.path().to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
        ],
        &[],
        &log,
    )
    .await;
    assert!(
        tool_names(&client)
            .await
            .contains(&"hello_greet".to_string())
    );
    std::fs::remove_file(plugins.path().join("hello.wasm")).unwrap();
    let expected = "configured plugin `hello` is no longer loaded after a reload";
    let mut logged = String::new();
    // Bounded wait for the watcher's reload; not a timing assertion.
    for _ in 0..300 {
        logged = std::fs::read_to_string(&log).unwrap_or_default();
        if logged.contains(expected) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        logged
            .lines()
            .any(|l| l.contains("ERROR") && l.contains(expected)),
        "{logged}"
    );
    client.cancel().await.unwrap();
}

/// `[egress]` values and per-plugin egress shares out of range (a zero budget, an absurd
/// concurrency, a share above the global budget) were accepted and silently clamped or left
/// every call failing: `config check` and `serve` now refuse them, naming the key and range.
#[test]
fn egress_values_out_of_range_are_refused_naming_the_key() {
    let work = tempfile::tempdir().unwrap();
    let cache = shared_cache();
    let cases = [
        (
            "[egress]\nrequests_per_minute = 0\n",
            "[egress] requests_per_minute must be 1..=100000, not 0",
        ),
        (
            "[egress]\nmax_concurrency = 10_000_000\n",
            "[egress] max_concurrency must be 1..=1024, not 10000000",
        ),
        (
            "[egress]\ntimeout_secs = 0\n",
            "[egress] timeout_secs must be 1..=600, not 0",
        ),
        (
            "[egress]\nmax_concurrency = 4\n[plugins.hosts]\negress_concurrency = 8\n",
            "[plugins.hosts] egress_concurrency must be 1..=4 (at most [egress] max_concurrency), not 8",
        ),
    ];
    for (i, (toml, expected)) in cases.iter().enumerate() {
        let config = work.path().join(format!("egress{i}.toml"));
        std::fs::write(&config, toml).unwrap();
        let config = config.to_str().unwrap();
        let common = [
            "--config",
            config,
            "--modules",
            "hosts",
            "--cache-dir",
            &cache,
        ];
        for cmd in [&["config", "check"][..], &["serve"]] {
            let args: Vec<&str> = cmd.iter().chain(common.iter()).copied().collect();
            let (ok, _, stderr) = run_aerie(work.path(), &args);
            assert!(!ok, "{args:?} with {toml:?} succeeded");
            assert!(stderr.contains(expected), "{args:?}: {stderr}");
        }
    }
    // In range: accepted.
    let config = work.path().join("ok.toml");
    std::fs::write(
        &config,
        "[egress]\nrequests_per_minute = 600\nmax_concurrency = 4\n[plugins.hosts]\negress_concurrency = 4\n",
    )
    .unwrap();
    let (ok, _, stderr) = run_aerie(
        work.path(),
        &[
            "config",
            "check",
            "--config",
            config.to_str().unwrap(),
            "--modules",
            "hosts",
            "--cache-dir",
            &cache,
        ],
    );
    assert!(ok, "{stderr}");
}
