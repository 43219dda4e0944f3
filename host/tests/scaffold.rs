//! `aerie plugin new` scaffolds a crate that builds, passes its own tests against the simulator,
//! and loads in `aerie demo`; the plugin guide's step 3, applied to it as written, passes too.

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
    apply_guide_step_3(&krate);

    // Its own tests and the guide's, exactly as an author runs them.
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
    assert!(log.contains("test result: ok. 4 passed"), "{log}");

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
    let r = call(
        &client,
        "probe_hash_hosts",
        json!({"sha256": falcon_sim::KNOWN_BAD_SHA256}),
    )
    .await;
    assert!(!is_error(&r), "{}", text(&r));
    client.cancel().await.unwrap();
}

/// Add what step 3 of docs/plugin-guide.md tells an author to add, as the guide writes it
/// (its three Rust blocks: the tool, its registration, its test), with `ioc_watch` renamed.
fn apply_guide_step_3(krate: &std::path::Path) {
    let guide = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/plugin-guide.md"
    ))
    .unwrap();
    let step = guide
        .split("## 3. Declaring tools")
        .nth(1)
        .and_then(|s| s.split("Rules the host enforces").next())
        .expect("the guide has step 3");
    let blocks: Vec<String> = step
        .split("```rust\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap().replace("ioc_watch", "probe"))
        .collect();
    let [tool, registration, test] = blocks.as_slice() else {
        panic!("step 3 should have three Rust blocks, has {}", blocks.len());
    };
    let lib = krate.join("src/lib.rs");
    let code = std::fs::read_to_string(&lib).unwrap();
    let end_of_plugin = "        search,\n    )\n}\n";
    assert!(
        code.contains(end_of_plugin),
        "the scaffold's plugin() changed shape"
    );
    let code = code
        .replace(
            "fn plugin() -> Plugin {",
            &format!("{tool}\nfn plugin() -> Plugin {{"),
        )
        .replace(
            end_of_plugin,
            &format!("        search,\n    )\n{registration}}}\n"),
        );
    std::fs::write(&lib, code).unwrap();
    let tests = krate.join("src/tests.rs");
    let mut code = std::fs::read_to_string(&tests).unwrap();
    code.push('\n');
    code.push_str(test);
    std::fs::write(&tests, code).unwrap();
}
