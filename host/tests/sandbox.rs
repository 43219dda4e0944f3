//! The sandbox holds: each adversarial plugin yields a tool error within its limit, and a
//! normal tool called right after still works.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::*;

const CONFIG: &str = r#"
[plugins.adversary.limits]
memory_mib = 64
cpu_ms = 1000
deadline_secs = 4
concurrency = 4
"#;

#[tokio::test(flavor = "multi_thread")]
async fn adversarial_plugins_are_contained() {
    let dir = plugins_dir(&["adversary"]);
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("aerie.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let audit = work.path().join("audit.jsonl");
    let args = [
        "serve",
        "--no-embedded",
        "--no-cache",
        "--plugins-dir",
        dir.path().to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--audit-log",
        audit.to_str().unwrap(),
    ];
    let client = stdio_client(&args, &[], &work.path().join("stderr.log")).await;

    let cases: &[(&str, serde_json::Value, &str)] = &[
        ("spin", json!({}), "CPU budget"),
        ("alloc_bomb", json!({}), "memory limit of 64 MiB"),
        ("recurse", json!({}), "stack"),
        ("panic", json!({}), "fixture panic"),
        ("oversleep", json!({}), "deadline"),
        ("huge_output", json!({}), "too large"),
        ("undeclared_op", json!({}), "not granted"),
    ];
    for (tool, args, expect) in cases {
        let started = Instant::now();
        let r = call(&client, tool, args.clone()).await;
        assert!(is_error(&r), "{tool} should fail, got {:?}", text(&r));
        assert!(
            text(&r).contains(expect),
            "{tool}: expected {expect:?} in {:?}",
            text(&r)
        );
        // Every limit here is at most the 4 s deadline; leave room for a slow CI machine.
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{tool} took {:?}",
            started.elapsed()
        );
        let ok = call(&client, "echo", json!({"text": "still here"})).await;
        assert!(!is_error(&ok), "echo after {tool} failed: {}", text(&ok));
        assert_eq!(text(&ok), "still here");
    }

    // The denied operation never left the host, and the refusal is audited.
    let log = std::fs::read_to_string(&audit).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("\"kind\":\"denied\"") && l.contains("PerformActionV2")),
        "{log}"
    );
    assert!(
        !log.contains("\"kind\":\"egress\""),
        "no request should have been made: {log}"
    );
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn arguments_are_validated_before_the_plugin_runs() {
    let dir = plugins_dir(&["adversary"]);
    let work = tempfile::tempdir().unwrap();
    let args = [
        "serve",
        "--no-embedded",
        "--no-cache",
        "--plugins-dir",
        dir.path().to_str().unwrap(),
    ];
    let client = stdio_client(&args, &[], &work.path().join("stderr.log")).await;
    let r = call(&client, "echo", json!({"text": 5})).await;
    assert!(is_error(&r));
    assert!(
        text(&r).contains("Invalid arguments") && text(&r).contains("/text"),
        "{}",
        text(&r)
    );
    let r = call(&client, "no_such_tool", json!({})).await;
    assert!(
        is_error(&r) && text(&r).contains("Unknown tool"),
        "{}",
        text(&r)
    );
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_concurrency_cap_holds_calls_back() {
    let dir = plugins_dir(&["adversary"]);
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("aerie.toml");
    // One slot, a 2 s deadline that includes waiting for the slot.
    std::fs::write(
        &config,
        "[plugins.adversary.limits]\nconcurrency = 1\ndeadline_secs = 2\n",
    )
    .unwrap();
    let cache = shared_cache();
    let args = [
        "serve",
        "--no-embedded",
        "--cache-dir",
        &cache,
        "--plugins-dir",
        dir.path().to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ];
    let client =
        std::sync::Arc::new(stdio_client(&args, &[], &work.path().join("stderr.log")).await);
    let started = Instant::now();
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { call(&c, "slow", json!({"ms": 1500})).await })
        })
        .collect();
    let mut ok = 0;
    for c in calls {
        let r = c.await.unwrap();
        if is_error(&r) {
            let t = text(&r);
            assert!(t.contains("busy") || t.contains("deadline"), "{t}");
        } else {
            assert_eq!(text(&r), "slept 1500");
            ok += 1;
        }
    }
    // With one slot, three 1.5 s calls cannot all finish inside a 2 s deadline.
    assert_eq!(ok, 1, "exactly one call held the only slot in time");
    assert!(started.elapsed() < Duration::from_secs(10));
    let r = call(&client, "echo", json!({"text": "after"})).await;
    assert_eq!(text(&r), "after");
}
