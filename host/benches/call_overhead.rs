//! Host cost of one tool call: argument validation, a fresh store from the instance pool,
//! instantiation, the guest call and result handling — for a tool that does no egress. And, for
//! comparison, a query→hydrate search against the in-process simulator (upstream included).

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;

fn fixture(name: &str) -> String {
    format!("{}/fixture_{name}.wasm", env!("AERIE_FIXTURES_DIR"))
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let h = rt.block_on(async {
        aerie::testing::Harness::builder()
            .plugin_file(fixture("adversary"))
            .embedded(true)
            .cache_dir(cache.path())
            // The client-side limiter (5,000/min by default) would otherwise be what is measured.
            .config("[egress]\nrequests_per_minute = 10000000\n")
            .start()
            .await
            .unwrap()
    });
    let out = rt.block_on(h.call("echo", json!({"text": "hi"})));
    assert!(!out.is_error, "{}", out.text);
    c.bench_function("call/echo (no egress)", |b| {
        b.to_async(&rt)
            .iter(|| h.call("echo", json!({"text": "hi"})));
    });
    let out = rt.block_on(h.call("hosts_search", json!({"limit": 20})));
    assert!(!out.is_error, "{}", out.text);
    c.bench_function("call/hosts_search (20 hosts, simulator upstream)", |b| {
        b.to_async(&rt)
            .iter(|| h.call("hosts_search", json!({"limit": 20})));
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
