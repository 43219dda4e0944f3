//! JavaScript plugins: the kit's unit tests, the exposure group of `examples/js/exposure` served
//! by the real `aerie` binary beside the embedded Rust groups against the simulator, a hostile
//! plugin refused and audited, hot swap, signing, and the `--lang js` scaffold passing its own
//! test. Components are built with componentize-js from `target/js-toolchain`.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{Value, json};

use crate::build;
use crate::cli::{dir_with, ok, run};
use crate::support::*;

const INSTALL: &str = "npm install --prefix target/js-toolchain --no-audit --no-fund --silent \
                       @bytecodealliance/componentize-js@0.23.0 @bytecodealliance/jco@1.35.0";

fn node() -> PathBuf {
    build::tool("node", "AERIE_NODE", "install Node.js 20 or later")
}

/// The directory whose `node_modules` holds componentize-js.
fn toolchain() -> PathBuf {
    let dir = build::repo().join("target").join("js-toolchain");
    assert!(
        dir.join("node_modules/@bytecodealliance/componentize-js/package.json")
            .exists(),
        "componentize-js is not installed; run: {INSTALL}"
    );
    dir
}

/// Build the app of `dir` (its `app.js`) with the kit's build script.
fn js_component(name: &str, dir: &str) -> PathBuf {
    let repo = build::repo();
    let app = repo.join(dir);
    let kit = repo.join("kits/js");
    let inputs = [
        app.clone(),
        kit.join("index.js"),
        kit.join("src"),
        kit.join("build.mjs"),
        repo.join("wit"),
    ];
    build::component(name, &inputs, |out| {
        let mut c = Command::new(node());
        c.arg(kit.join("build.mjs"))
            .arg(app.join("app.js"))
            .arg("-o")
            .arg(out)
            .env("AERIE_JS_TOOLCHAIN", toolchain());
        c
    })
}

struct Components {
    exposure: PathBuf,
    hostile: PathBuf,
}

/// Both components, built once and compiled once into the shared cache (a JavaScript component
/// takes minutes to compile in a debug host; tests running at once would each compile it).
fn components() -> &'static Components {
    static C: OnceLock<Components> = OnceLock::new();
    C.get_or_init(|| {
        let c = Components {
            exposure: js_component("js-exposure", "examples/js/exposure"),
            hostile: js_component("js-hostile", "tests/fixtures-js/hostile"),
        };
        let dir = dir_with(&[("exposure", &c.exposure), ("js_hostile", &c.hostile)]);
        let out = Command::new(aerie())
            .args([
                "plugins",
                "list",
                "--no-embedded",
                "--cache-dir",
                &shared_cache(),
            ])
            .arg("--plugins-dir")
            .arg(dir.path())
            .env("HOME", "/nonexistent")
            .output()
            .unwrap();
        let listed = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && listed.contains("exposure") && listed.contains("js_hostile"),
            "{listed}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        c
    })
}

async fn sim() -> falcon_sim::Simulator {
    falcon_sim::Simulator::start(falcon_sim::SimConfig::default())
        .await
        .unwrap()
}

#[test]
fn kit_unit_tests_pass() {
    let out = Command::new(node())
        .arg("--test")
        .current_dir(build::repo().join("kits/js"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("# fail 0") && !stdout.contains("# pass 0"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn exposure_group_serves_real_results_beside_the_rust_groups() {
    let c = components();
    let sim = sim().await;
    let work = tempfile::tempdir().unwrap();
    let dir = dir_with(&[("exposure", &c.exposure)]);
    let client = serve_against(
        &sim,
        &["--plugins-dir", dir.path().to_str().unwrap()],
        work.path(),
    )
    .await;

    let tools = client.list_all_tools().await.unwrap();
    let tool = |name: &str| {
        tools
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("{name} not listed"))
    };
    tool("hosts_search");
    let schema = Value::Object((*tool("exposure_host").input_schema).clone());
    assert_eq!(schema["required"], json!(["host"]), "{schema}");
    // Listed without `additionalProperties: false`; the host still refuses unknown arguments
    // (checked with the bad arguments below).
    assert!(schema.get("additionalProperties").is_none(), "{schema}");
    assert_eq!(schema["properties"]["days"]["maximum"], 90, "{schema}");
    tool("exposure_top");

    // The known host: three open CVEs, two of them exploited, one closed finding left out.
    let r = ok_json(&call(&client, "exposure_host", json!({"host": "WS-FIN-042"})).await);
    assert_eq!(r["host"]["hostname"], "WS-FIN-042", "{r}");
    let cves: Vec<&str> = r["vulnerabilities"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    for open in ["CVE-2023-4863", "CVE-2024-21412", "CVE-2024-38063"] {
        assert!(cves.contains(&open), "{open} missing: {r}");
    }
    assert!(
        !cves.contains(&"CVE-2024-30088"),
        "a closed finding counted: {r}"
    );
    let reasons = r["reasons"].to_string();
    assert!(reasons.contains("known exploits"), "{r}");
    let score = r["score"].as_u64().unwrap();
    assert!((1..=100).contains(&score), "{r}");
    let points: u64 = r["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["points"].as_u64().unwrap())
        .sum();
    assert_eq!(
        score,
        points.min(100),
        "the score is the sum of its reasons: {r}"
    );
    for item in r["alerts"]["items"].as_array().unwrap() {
        assert_ne!(item["status"], "closed", "{r}");
    }

    // By agent id: the same host and score.
    let aid = aid_of(&client, "WS-FIN-042").await;
    let by_id = ok_json(&call(&client, "exposure_host", json!({"host": aid})).await);
    assert_eq!(by_id["host"]["device_id"], aid.as_str());
    assert_eq!(by_id["score"], r["score"]);

    // Ranking: sorted by score, every host from the filter.
    let top = ok_json(
        &call(
            &client,
            "exposure_top",
            json!({"filter": "platform_name:'Windows'", "hosts": 5}),
        )
        .await,
    );
    let scores: Vec<u64> = top["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["score"].as_u64().unwrap())
        .collect();
    assert_eq!(scores.len(), 5, "{top}");
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{top}");
    assert!(count_op(&sim, "combinedQueryVulnerabilities") >= 3);
    assert!(count_op(&sim, "PostEntitiesAlertsV2") >= 1);

    // Bad arguments are refused by the host before the plugin runs; a missing host is named.
    let before = operations(&sim).len();
    for bad in [
        json!({}),
        json!({"host": 5}),
        json!({"host": "x", "days": 0}),
        json!({"host": "x", "extra": 1}),
    ] {
        let e = call_err(&client, "exposure_host", bad.clone()).await;
        assert!(e.contains("Invalid arguments"), "{bad}: {e}");
    }
    assert_eq!(
        operations(&sim).len(),
        before,
        "refused calls reached Falcon"
    );
    let e = call_err(&client, "exposure_host", json!({"host": "NO-SUCH-HOST"})).await;
    assert!(e.contains("no host named NO-SUCH-HOST"), "{e}");
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn undeclared_operation_is_denied_by_the_host_and_audited() {
    let c = components();
    let sim = sim().await;
    let work = tempfile::tempdir().unwrap();
    let dir = dir_with(&[("js_hostile", &c.hostile)]);
    let audit = work.path().join("audit.jsonl");
    let client = serve_against(
        &sim,
        &[
            "--plugins-dir",
            dir.path().to_str().unwrap(),
            "--audit-log",
            audit.to_str().unwrap(),
        ],
        work.path(),
    )
    .await;

    let e = call_err(&client, "js_hostile_contain", json!({})).await;
    assert!(
        e.contains("PerformActionV2") && e.contains("not granted"),
        "{e}"
    );
    assert_eq!(
        count_op(&sim, "PerformActionV2"),
        0,
        "the denied call reached Falcon"
    );
    let log = std::fs::read_to_string(&audit).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("\"kind\":\"denied\"") && l.contains("PerformActionV2")),
        "{log}"
    );

    // A bug in the plugin is an internal error naming it, not a trap; the plugin keeps working.
    let e = call_err(&client, "js_hostile_bug", json!({})).await;
    assert!(e.contains("TypeError"), "{e}");
    let r = call(&client, "js_hostile_count", json!({})).await;
    assert!(
        !is_error(&r) && text(&r).ends_with(" hosts"),
        "{}",
        text(&r)
    );
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn hot_swapped_in_and_out_of_a_watched_directory() {
    let c = components();
    let sim = sim().await;
    let work = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let client = serve_against(
        &sim,
        &["--plugins-dir", dir.path().to_str().unwrap()],
        work.path(),
    )
    .await;
    assert!(
        !tool_names(&client)
            .await
            .contains(&"exposure_host".to_string())
    );

    // In: written elsewhere, renamed into place.
    let tmp = work.path().join("exposure.wasm");
    std::fs::copy(&c.exposure, &tmp).unwrap();
    std::fs::rename(&tmp, dir.path().join("exposure.wasm")).unwrap();
    until_tools(&client, "swapped in", |t| {
        t.iter().any(|n| n == "exposure_host")
    })
    .await;
    let r = ok_json(&call(&client, "exposure_host", json!({"host": "WS-FIN-042"})).await);
    assert_eq!(r["host"]["hostname"], "WS-FIN-042");

    // Out: the tools go, the Rust groups stay.
    std::fs::remove_file(dir.path().join("exposure.wasm")).unwrap();
    until_tools(&client, "swapped out", |t| {
        !t.iter().any(|n| n.starts_with("exposure_")) && t.iter().any(|n| n == "hosts_search")
    })
    .await;
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_component_is_served_under_require_signed() {
    let c = components();
    let work = tempfile::tempdir().unwrap();
    let dir = dir_with(&[("exposure", &c.exposure), ("js_hostile", &c.hostile)]);
    let key = work.path().join("team.key");
    ok(&run(
        &["plugin", "keygen", "--out", key.to_str().unwrap()],
        &[],
    ));
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let exposure = dir.path().join("exposure.wasm");
    ok(&run(
        &[
            "plugin",
            "sign",
            exposure.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
        &[],
    ));
    let cache = shared_cache();
    let check = ok(&run(
        &[
            "plugin",
            "check",
            exposure.to_str().unwrap(),
            "--cache-dir",
            &cache,
        ],
        &[],
    ));
    assert!(
        check.contains("exposure_host") && check.contains("combinedQueryVulnerabilities"),
        "{check}"
    );

    let strict = work.path().join("strict.toml");
    std::fs::write(
        &strict,
        format!(
            "[signing]\nrequire_signed = true\ntrusted_keys = [\"{}\"]\n",
            public.trim()
        ),
    )
    .unwrap();
    let list = |what: &str| {
        let out = run(
            &[
                "plugins",
                "list",
                "--no-embedded",
                "--cache-dir",
                &shared_cache(),
                "--plugins-dir",
                dir.path().to_str().unwrap(),
                "--config",
                strict.to_str().unwrap(),
            ],
            &[],
        );
        let (stdout, stderr) = (ok(&out), String::from_utf8_lossy(&out.stderr).to_string());
        assert!(stdout.contains("exposure 0.1.0"), "{what}: {stdout}");
        assert!(!stdout.contains("js_hostile"), "{what}: {stdout}");
        stderr
            .lines()
            .find(|l| l.contains("js_hostile.wasm"))
            .unwrap_or_default()
            .to_string()
    };
    assert!(list("unsigned").contains("unsigned"));
    std::fs::copy(
        exposure.with_extension("wasm.sig"),
        dir.path().join("js_hostile.wasm.sig"),
    )
    .unwrap();
    assert!(list("bad signature").contains("bad signature"));

    // Served over MCP under the same policy: the signed group answers.
    let sim = sim().await;
    let client = serve_against(
        &sim,
        &[
            "--no-embedded",
            "--plugins-dir",
            dir.path().to_str().unwrap(),
            "--config",
            strict.to_str().unwrap(),
        ],
        work.path(),
    )
    .await;
    let names = tool_names(&client).await;
    assert!(names.contains(&"exposure_host".to_string()), "{names:?}");
    assert!(
        !names.iter().any(|n| n.starts_with("js_hostile")),
        "{names:?}"
    );
    let r = ok_json(&call(&client, "exposure_host", json!({"host": "WS-FIN-042"})).await);
    assert_eq!(r["host"]["hostname"], "WS-FIN-042");
    client.cancel().await.unwrap();
}

#[test]
fn scaffold_builds_and_passes_its_own_test() {
    let work = tempfile::tempdir().unwrap();
    ok(&Command::new(aerie())
        .args(["plugin", "new", "probe", "--lang", "js", "--dir"])
        .arg(work.path())
        .output()
        .unwrap());
    let project = work.path().join("probe");
    // What `npm install` provides, without a download: the kit and the installed toolchain.
    std::fs::create_dir(project.join("node_modules")).unwrap();
    std::os::unix::fs::symlink(
        build::repo().join("kits/js").canonicalize().unwrap(),
        project.join("node_modules/aerie-plugin"),
    )
    .unwrap();
    let out = Command::new(node())
        .arg("--test")
        .current_dir(&project)
        .env("AERIE", aerie())
        .env("AERIE_JS_TOOLCHAIN", toolchain())
        .env("XDG_CACHE_HOME", work.path().join("cache"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("# pass 4") && stdout.contains("# fail 0"),
        "{stdout}"
    );

    // The compile cache its test's `aerie plugin run` filled.
    let cache = work.path().join("cache/aerie/compiled");
    let wasm = project.join("probe.wasm");
    let check = ok(&run(
        &[
            "plugin",
            "check",
            wasm.to_str().unwrap(),
            "--cache-dir",
            cache.to_str().unwrap(),
        ],
        &[],
    ));
    assert!(check.contains("probe_hosts_search"), "{check}");
}
