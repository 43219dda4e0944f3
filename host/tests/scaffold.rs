//! `aerie plugin new` scaffolds a crate that builds, passes its own test against the simulator,
//! and loads in `aerie demo`.

mod support;

use std::process::Command;

use serde_json::json;
use support::*;

#[tokio::test(flavor = "multi_thread")]
async fn scaffolded_plugin_builds_tests_and_serves() {
    let work = tempfile::tempdir().unwrap();
    let out = Command::new(aerie())
        .args(["plugin", "new", "probe", "--dir"])
        .arg(work.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let krate = work.path().join("probe");
    // Pin the scaffold to this workspace's dependency versions so its build reuses them.
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock"),
        krate.join("Cargo.lock"),
    )
    .unwrap();
    let target = format!("{}/scaffold", env!("CARGO_TARGET_TMPDIR"));

    // Its own test, exactly as an author runs it.
    let test = Command::new(env!("CARGO"))
        .arg("test")
        .current_dir(&krate)
        .env("AERIE", aerie())
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&test.stdout),
        String::from_utf8_lossy(&test.stderr)
    );
    assert!(
        test.status.success(),
        "scaffold's cargo test failed:\n{log}"
    );
    assert!(log.contains("test result: ok. 2 passed"), "{log}");

    // The component its test built loads in `aerie demo`.
    let wasm = format!("{target}/component/wasm32-wasip2/release/probe.wasm");
    let plugins = tempfile::tempdir().unwrap();
    std::fs::copy(&wasm, plugins.path().join("probe.wasm")).unwrap();
    let cache = shared_cache();
    let args = [
        "demo",
        "--cache-dir",
        &cache,
        "--plugins-dir",
        plugins.path().to_str().unwrap(),
    ];
    let client = stdio_client(&args, &[], &work.path().join("demo.log")).await;
    let r = call(
        &client,
        "probe_hosts_search",
        json!({"hostname": "WS-FIN-042"}),
    )
    .await;
    assert!(!is_error(&r), "{}", text(&r));
    assert!(
        serde_json::to_string(&r.structured_content)
            .unwrap()
            .contains("WS-FIN-042")
    );
    client.cancel().await.unwrap();
}
