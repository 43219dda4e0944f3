//! Plugins written in Python with the kit in `kits/python`, built with componentize-py: the
//! `verdict` example served beside the embedded Rust groups against the simulator (listed with
//! its schemas, real verdicts on seeded data, arguments checked by the host), a hostile fixture
//! whose undeclared operation the host denies and audits, hot swap in and out of a watched
//! plugins directory, signing under `require_signed`, the scaffold passing its own test, and
//! the kit's unit tests. Each component compiles for minutes in a debug host, so there are three
//! (verdict, hostile, scaffold) and every server shares the compile cache.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use falcon_sim::{KNOWN_BAD_SHA256, KNOWN_HOSTNAME};
use rmcp::service::NotificationContext;
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};

use crate::build;
use crate::cli::{dir_with, ok, run};
use crate::support::*;

const INSTALL: &str = "python3 -m pip install componentize-py==0.25.1";

fn kit() -> PathBuf {
    build::repo().join("kits").join("python")
}

fn python() -> PathBuf {
    build::tool("python3", "PYTHON3", "apt-get install python3")
}

/// Build the app in `app_dir` with the kit's build helper, once per content of app and kit, and
/// compile it into the shared cache once: tests starting servers at the same time would each
/// compile it otherwise (minutes apiece in a debug host).
fn component(name: &str, app_dir: &Path) -> PathBuf {
    static WARM: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    let componentize = build::tool("componentize-py", "COMPONENTIZE_PY", INSTALL);
    let wasm = build::component(
        name,
        // The app module and the kit: the app's own tests and docs are not inputs.
        &[app_dir.join("app.py"), kit().join("aerie_plugin")],
        |out| {
            let mut c = Command::new(python());
            c.args(["-m", "aerie_plugin", "build"])
                .arg(app_dir)
                .arg("-o")
                .arg(out)
                .env("PYTHONPATH", kit())
                .env("COMPONENTIZE_PY", componentize);
            c
        },
    );
    let mut warm = WARM.lock().unwrap_or_else(|e| e.into_inner());
    if !warm.contains(&wasm) {
        let cache = shared_cache();
        ok(&run(
            &[
                "plugin",
                "check",
                wasm.to_str().unwrap(),
                "--cache-dir",
                &cache,
            ],
            &[],
        ));
        warm.push(wasm.clone());
    }
    wasm
}

fn verdict() -> PathBuf {
    component("verdict", &build::repo().join("examples/python/verdict"))
}

fn hostile() -> PathBuf {
    component(
        "hostile-py",
        &build::repo().join("tests/fixtures-py/hostile"),
    )
}

/// Native unit tests of Python code (no wasm), run with stdlib unittest in `dir`.
fn unittest(dir: &Path) {
    let out = Command::new(python())
        .args(["-m", "unittest", "discover", "-v"])
        .current_dir(dir)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}: {report}", dir.display());
    assert!(report.contains("\nOK"), "{}: {report}", dir.display());
}

#[tokio::test(flavor = "multi_thread")]
async fn verdict_is_served_beside_the_rust_groups_and_judges_seeded_alerts() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let dir = dir_with(&[("verdict", &verdict())]);
    let work = tempfile::tempdir().unwrap();
    let audit = work.path().join("audit.jsonl");
    let args = [
        "--plugins-dir",
        dir.path().to_str().unwrap(),
        "--audit-log",
        audit.to_str().unwrap(),
    ];
    let client = serve_against(&sim, &args, work.path()).await;

    // Listed with the schema generated from the handler's typed parameters.
    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert!(
        names.contains(&"verdict_host") && names.contains(&"detections_search"),
        "{names:?}"
    );
    let tool = tools.iter().find(|t| t.name == "verdict_alert").unwrap();
    let schema = Value::Object((*tool.input_schema).clone());
    assert_eq!(schema["required"], json!(["alert_id"]), "{schema}");
    // Listed without `additionalProperties: false`; the host still refuses unknown arguments
    // (checked with the bad arguments below).
    assert!(schema.get("additionalProperties").is_none(), "{schema}");
    assert_eq!(schema["properties"]["window"]["default"], "7d", "{schema}");
    assert_eq!(
        tool.annotations.as_ref().unwrap().read_only_hint,
        Some(true)
    );

    // The seeded alert with the known-bad hash on the known host.
    let aid = aid_of(&client, KNOWN_HOSTNAME).await;
    let s = ok_json(
        &call(
            &client,
            "detections_search",
            json!({"hostname": KNOWN_HOSTNAME, "limit": 50}),
        )
        .await,
    );
    let alert = s["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["sha256"] == KNOWN_BAD_SHA256)
        .expect("the known host has an alert with the known-bad hash");
    let alert_id = alert["composite_id"].as_str().unwrap().to_string();

    sim.clear_requests();
    let r = call(&client, "verdict_alert", json!({"alert_id": alert_id})).await;
    let v = ok_json(&r);
    assert!(text(&r).starts_with("likely_true_positive"), "{}", text(&r));
    assert_eq!(v["verdict"], "likely_true_positive", "{v}");
    let evidence = &v["evidence"];
    assert_eq!(evidence["alert"], alert_id.as_str(), "{v}");
    assert_eq!(evidence["host"], aid.as_str(), "{v}");
    assert_eq!(evidence["hostname"], KNOWN_HOSTNAME, "{v}");
    assert!(!evidence["iocs"].as_array().unwrap().is_empty(), "{v}");
    let hash = evidence["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["value"] == KNOWN_BAD_SHA256)
        .expect("the hash is among the indicators");
    assert!(hash["other_hosts"].as_u64().unwrap() > 0, "{v}");
    let related = evidence["related_alerts"].as_array().unwrap();
    assert!(
        !related.is_empty() && !related.contains(&json!(alert_id)),
        "{v}"
    );
    let reasons = v["reasons"].to_string();
    assert!(reasons.contains("is a custom IOC (prevent, high)"), "{v}");
    // Every operation it declared was really asked of the simulator, through the host.
    for op in [
        "PostEntitiesAlertsV2",
        "GetDeviceDetailsV2",
        "GetQueriesAlertsV2",
        "indicator_combined_v1",
        "indicator_get_devices_ran_on_v1",
    ] {
        assert!(count_op(&sim, op) > 0, "{op}: {:?}", operations(&sim));
    }

    let h = ok_json(&call(&client, "verdict_host", json!({"aid": aid})).await);
    assert_eq!(h["hostname"], KNOWN_HOSTNAME, "{h}");
    assert_eq!(h["worst"], "likely_true_positive", "{h}");
    assert_eq!(h["alerts"][0]["verdict"], "likely_true_positive", "{h}");

    // Arguments the schema refuses never reach the plugin, let alone Falcon.
    sim.clear_requests();
    for bad in [
        json!({}),
        json!({"alert_id": alert_id, "window": "last week"}),
        json!({"alert_id": alert_id, "verbose": true}),
        json!({"alert_id": 42}),
    ] {
        let e = call_err(&client, "verdict_alert", bad.clone()).await;
        assert!(e.contains("Invalid arguments"), "{bad}: {e}");
    }
    // The kit's id validator answers before any request; an unknown id is not found.
    let e = call_err(&client, "verdict_alert", json!({"alert_id": "x' OR 1"})).await;
    assert!(e.contains("is not a composite alert id"), "{e}");
    assert!(sim.requests().is_empty(), "{:?}", operations(&sim));
    let unknown = format!("{}:ind:{aid}:1-2-3", sim.cid());
    let e = call_err(&client, "verdict_alert", json!({"alert_id": unknown})).await;
    assert!(e.to_lowercase().contains("not found"), "{e}");

    client.cancel().await.unwrap();
    let log = std::fs::read_to_string(&audit).unwrap();
    assert!(
        log.lines().any(|l| l.contains("\"kind\":\"egress\"")
            && l.contains("verdict")
            && l.contains("indicator_combined_v1")),
        "the plugin's requests are audited like a Rust group's:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_undeclared_operation_is_denied_and_audited_and_a_bug_is_a_tool_error() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let dir = dir_with(&[("hostile_py", &hostile())]);
    let work = tempfile::tempdir().unwrap();
    let audit = work.path().join("audit.jsonl");
    let args = [
        "--no-embedded",
        "--plugins-dir",
        dir.path().to_str().unwrap(),
        "--audit-log",
        audit.to_str().unwrap(),
    ];
    let client = serve_against(&sim, &args, work.path()).await;

    let e = call_err(&client, "hostile_contain", json!({})).await;
    assert!(
        e.contains("PerformActionV2") && e.contains("not granted"),
        "{e}"
    );
    // The declared query went out; the containment never left the host.
    assert_eq!(
        count_op(&sim, "QueryDevicesByFilter"),
        1,
        "{:?}",
        operations(&sim)
    );
    assert_eq!(
        count_op(&sim, "PerformActionV2"),
        0,
        "{:?}",
        operations(&sim)
    );

    let e = call_err(&client, "hostile_bug", json!({})).await;
    assert!(e.contains("ZeroDivisionError"), "{e}");
    // The plugin keeps serving after both.
    let e = call_err(&client, "hostile_contain", json!({})).await;
    assert!(e.contains("not granted"), "{e}");

    client.cancel().await.unwrap();
    let log = std::fs::read_to_string(&audit).unwrap();
    assert!(
        log.lines().any(|l| l.contains("\"kind\":\"denied\"")
            && l.contains("PerformActionV2")
            && l.contains("hostile_py")),
        "{log}"
    );
}

#[derive(Clone, Default)]
struct ListChanged(Arc<AtomicUsize>);

impl ClientHandler for ListChanged {
    async fn on_tool_list_changed(&self, _ctx: NotificationContext<RoleClient>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_python_plugin_hot_swaps_in_and_out() {
    let component = verdict();
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let cache = shared_cache();
    let base = sim.base_url();
    let notified = ListChanged::default();
    let (transport, _) =
        TokioChildProcess::builder(tokio::process::Command::new(aerie()).configure(|c| {
            c.args([
                "serve",
                "--no-embedded",
                "--cache-dir",
                &cache,
                "--plugins-dir",
            ])
            .arg(dir.path())
            .env("HOME", "/nonexistent")
            .env("FALCON_CLIENT_ID", falcon_sim::DEMO_CLIENT_ID)
            .env("FALCON_CLIENT_SECRET", falcon_sim::DEMO_CLIENT_SECRET)
            .env("FALCON_BASE_URL", &base);
        }))
        .stderr(std::fs::File::create(work.path().join("stderr.log")).unwrap())
        .spawn()
        .unwrap();
    let client = notified.clone().serve(transport).await.unwrap();
    assert!(
        !tool_names(&client)
            .await
            .iter()
            .any(|n| n.starts_with("verdict"))
    );

    // In: written elsewhere, renamed into place, as operators should.
    let tmp = dir.path().join("verdict.wasm.tmp");
    std::fs::copy(&component, &tmp).unwrap();
    std::fs::rename(&tmp, dir.path().join("verdict.wasm")).unwrap();
    let listed = |present: bool, count: usize| {
        let notified = notified.clone();
        move |names: &[String]| {
            notified.0.load(Ordering::SeqCst) >= count
                && names.iter().any(|n| n == "verdict_alert") == present
        }
    };
    until_tools(&client, "swapped in, after a list_changed", listed(true, 1)).await;
    let r = call(&client, "verdict_host", json!({"aid": "0".repeat(32)})).await;
    assert!(
        text(&r).to_lowercase().contains("not found"),
        "the swapped-in plugin runs: {}",
        text(&r)
    );

    // Out.
    std::fs::remove_file(dir.path().join("verdict.wasm")).unwrap();
    until_tools(
        &client,
        "swapped out, after a second list_changed",
        listed(false, 2),
    )
    .await;
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_python_plugin_is_served_under_require_signed_and_others_are_refused() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("plugins");
    std::fs::create_dir(&dir).unwrap();
    let signed = dir.join("verdict.wasm");
    std::fs::copy(verdict(), &signed).unwrap();
    std::fs::copy(hostile(), dir.join("hostile_py.wasm")).unwrap();
    let key = work.path().join("team.key");
    ok(&run(
        &["plugin", "keygen", "--out", key.to_str().unwrap()],
        &[],
    ));
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    ok(&run(
        &[
            "plugin",
            "sign",
            signed.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
        &[],
    ));
    let config = work.path().join("aerie.toml");
    std::fs::write(
        &config,
        format!(
            "[signing]\nrequire_signed = true\ntrusted_keys = [\"{}\"]\n",
            public.trim()
        ),
    )
    .unwrap();
    let cache = shared_cache();

    // Unsigned: refused.
    let list = |dir: &Path| {
        let out = run(
            &[
                "plugins",
                "list",
                "--no-embedded",
                "--plugins-dir",
                dir.to_str().unwrap(),
                "--config",
                config.to_str().unwrap(),
                "--cache-dir",
                &cache,
            ],
            &[],
        );
        (ok(&out), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (stdout, stderr) = list(&dir);
    assert!(stdout.contains("verdict 0.1.0"), "{stdout}");
    assert!(!stdout.contains("hostile_py"), "{stdout}");
    let line = |name: &str| {
        stderr
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_default()
            .to_string()
    };
    assert!(line("hostile_py.wasm").contains("unsigned"), "{stderr}");

    // A signature of another component does not verify.
    std::fs::copy(
        signed.with_extension("wasm.sig"),
        dir.join("hostile_py.wasm.sig"),
    )
    .unwrap();
    let (stdout, stderr) = list(&dir);
    assert!(!stdout.contains("hostile_py"), "{stdout}");
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("hostile_py.wasm") && l.contains("bad signature")),
        "{stderr}"
    );

    // And served: the signed plugin's tools answer over MCP under the same policy.
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let args = [
        "--no-embedded",
        "--plugins-dir",
        dir.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ];
    let client = serve_against(&sim, &args, work.path()).await;
    let names = tool_names(&client).await;
    assert!(names.contains(&"verdict_alert".to_string()), "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with("hostile")), "{names:?}");
    let e = call_err(&client, "verdict_host", json!({"aid": "0".repeat(32)})).await;
    assert!(e.to_lowercase().contains("not found"), "{e}");
    client.cancel().await.unwrap();
}

#[test]
fn the_scaffold_builds_and_passes_its_own_test() {
    // A fixed place, so the scaffold's paths (and a rerun's inputs) stay the same; the compile
    // cache under it keeps a rerun of an unchanged scaffold fast.
    let base = build::repo()
        .join("target")
        .join("polyglot")
        .join("scaffold-python");
    let project = base.join("probe");
    if project.exists() {
        std::fs::remove_dir_all(&project).unwrap();
    }
    std::fs::create_dir_all(&base).unwrap();
    let kit = kit();
    ok(&run(
        &[
            "plugin",
            "new",
            "probe",
            "--lang",
            "python",
            "--dir",
            base.to_str().unwrap(),
            "--sdk-path",
            kit.to_str().unwrap(),
        ],
        &[],
    ));
    let componentize = build::tool("componentize-py", "COMPONENTIZE_PY", INSTALL);
    let cache_home = base.join("xdg-cache");
    let out = Command::new(python())
        .args(["-m", "unittest", "-v"])
        .current_dir(&project)
        .env("AERIE", aerie())
        .env("COMPONENTIZE_PY", &componentize)
        .env("XDG_CACHE_HOME", &cache_home)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the scaffold's own test failed:\n{report}"
    );
    assert!(
        report.contains("Ran 4 tests") && report.contains("OK"),
        "{report}"
    );

    // `aerie plugin check` takes the result unchanged.
    // Same compile cache as the scaffold's test used, so the check does not compile again.
    let component = project.join("probe.wasm");
    let check = ok(&run(
        &["plugin", "check", component.to_str().unwrap()],
        &[("XDG_CACHE_HOME", &cache_home)],
    ));
    assert!(check.contains("ok — plugin probe 0.1.0"), "{check}");
    assert!(check.contains("+ QueryDevicesByFilter"), "{check}");
}

#[test]
fn the_kit_and_example_unit_tests_pass() {
    unittest(&kit());
    unittest(&build::repo().join("examples/python/verdict"));
}

#[test]
fn the_build_helper_says_what_to_install_without_componentize_py() {
    let app = tempfile::tempdir().unwrap();
    std::fs::write(app.path().join("app.py"), "").unwrap();
    // The interpreter itself, not a shim (pyenv's needs bash from PATH).
    let real = Command::new(python())
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .unwrap();
    let real = String::from_utf8(real.stdout).unwrap();
    let out = Command::new(real.trim())
        .args(["-m", "aerie_plugin", "build"])
        .arg(app.path())
        .env("PYTHONPATH", kit())
        .env("PATH", "/nonexistent")
        .env_remove("COMPONENTIZE_PY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(INSTALL), "{stderr}");
}

/// Numbers for BENCHMARKS.md (not a check): per-call latency of a warm Python tool through
/// stdio, and the smallest plugin memory limit its calls work under.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "measurement; run with --ignored --nocapture"]
async fn measure_python_calls() {
    let component = verdict();
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let dir = dir_with(&[("verdict", &component)]);
    let work = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let client = serve_against(
        &sim,
        &[
            "--no-embedded",
            "--plugins-dir",
            dir.path().to_str().unwrap(),
        ],
        work.path(),
    )
    .await;
    let _ = tool_names(&client).await;
    println!(
        "server ready with the verdict component (cached): {:?}",
        started.elapsed()
    );
    let aid = {
        let r = call(&client, "verdict_host", json!({"aid": "0".repeat(32)})).await;
        assert!(is_error(&r));
        ok_json(
            &call(
                &client,
                "verdict_host",
                json!({"aid": known_aid(&sim).await}),
            )
            .await,
        )["host"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // Distinct arguments each time: the host's result cache would answer repeats.
    let n = 20u32;
    let t = Instant::now();
    for i in 0..n {
        let r = call(&client, "verdict_host", json!({"aid": format!("{i:032x}")})).await;
        assert!(is_error(&r));
    }
    println!(
        "verdict_host, unknown host (1 Falcon request): {:?} per call",
        t.elapsed() / n
    );
    let t = Instant::now();
    for i in 0..n {
        let r = call(&client, "verdict_host", json!({"aid": aid, "limit": i + 1})).await;
        assert!(!is_error(&r), "{}", text(&r));
    }
    println!(
        "verdict_host, known host (host, alerts query + hydrate, IOCs, one devices-ran-on per indicator): {:?} per call",
        t.elapsed() / n
    );
    client.cancel().await.unwrap();

    for mib in [64, 32, 16, 12, 8, 4] {
        let config = work.path().join(format!("mem-{mib}.toml"));
        std::fs::write(
            &config,
            format!("[plugins.verdict.limits]\nmemory_mib = {mib}\n"),
        )
        .unwrap();
        let client = serve_against(
            &sim,
            &[
                "--no-embedded",
                "--plugins-dir",
                dir.path().to_str().unwrap(),
                "--config",
                config.to_str().unwrap(),
            ],
            work.path(),
        )
        .await;
        let names = tool_names(&client).await;
        let r = call(&client, "verdict_host", json!({"aid": aid})).await;
        println!(
            "memory_mib = {mib}: listed={} call={}",
            names.contains(&"verdict_host".to_string()),
            if is_error(&r) { text(&r) } else { "ok".into() }
        );
        client.cancel().await.unwrap();
    }
}

/// The device id of the known host, straight from the simulator.
async fn known_aid(sim: &falcon_sim::Simulator) -> String {
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{}/oauth2/token", sim.base_url()))
        .form(&[
            ("client_id", falcon_sim::DEMO_CLIENT_ID),
            ("client_secret", falcon_sim::DEMO_CLIENT_SECRET),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Value = http
        .get(format!("{}/devices/queries/devices/v1", sim.base_url()))
        .query(&[("filter", format!("hostname:'{KNOWN_HOSTNAME}'"))])
        .bearer_auth(token["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    ids["resources"][0].as_str().unwrap().to_string()
}
