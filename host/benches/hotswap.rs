//! Hot swap latency: from a new component being renamed into `--plugins-dir` to its tools being
//! served, measured by a client that polls the tool until the new version answers.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};

fn fixture(name: &str) -> String {
    format!("{}/fixture_{name}.wasm", env!("AERIE_FIXTURES_DIR"))
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let install = |name: &str| {
        let tmp = dir.path().join("swapper.wasm.tmp");
        std::fs::copy(fixture(name), &tmp).unwrap();
        std::fs::rename(&tmp, dir.path().join("swapper.wasm")).unwrap();
    };
    install("swap_a");
    let client = rt.block_on(async {
        let transport = TokioChildProcess::new(
            tokio::process::Command::new(env!("CARGO_BIN_EXE_aerie")).configure(|c| {
                c.args([
                    "serve",
                    "--no-embedded",
                    "--log-level",
                    "error",
                    "--plugins-dir",
                ])
                .arg(dir.path())
                .arg("--cache-dir")
                .arg(cache.path())
                .env("HOME", "/nonexistent");
            }),
        )
        .unwrap();
        ().serve(transport).await.unwrap()
    });
    let which = || async {
        let r = client
            .call_tool(CallToolRequestParams::new("which"))
            .await
            .unwrap();
        r.content[0].as_text().unwrap().text.clone()
    };
    // Both versions compiled once, so the figure is the warm path operators see on redeploys.
    let mut next = "b";
    let mut swap_once = || {
        let (name, want) = if next == "b" {
            ("swap_b", "b")
        } else {
            ("swap_a", "a")
        };
        next = if next == "b" { "a" } else { "b" };
        let started = Instant::now();
        install(name);
        rt.block_on(async {
            while which().await != want {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        });
        started.elapsed()
    };
    swap_once();
    swap_once();
    let mut g = c.benchmark_group("hot swap");
    g.sample_size(20);
    g.bench_function("component landed → served", |b| {
        b.iter_custom(|n| (0..n).map(|_| swap_once()).sum())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
