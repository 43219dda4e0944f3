//! Start-up of the real binary to the first `tools/list` answer over stdio, with every
//! first-party plugin: cold (empty compile cache) and warm (cache filled by an earlier start).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
const LIST: &str = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;

/// Spawn `aerie serve`, send initialize and tools/list, and time until the list arrives.
fn start_to_list(cache: &std::path::Path) -> Duration {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_aerie"))
        .args(["serve", "--log-level", "error", "--cache-dir"])
        .arg(cache)
        .env("HOME", "/nonexistent")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{INIT}\n{INITIALIZED}\n{LIST}").unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let elapsed = loop {
        let line = lines.next().expect("server answered").unwrap();
        if line.contains("\"id\":2") {
            assert!(
                line.contains("detections_search"),
                "tools/list is missing plugins"
            );
            break started.elapsed();
        }
    };
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
    elapsed
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("startup to first tools/list");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    let warm = tempfile::tempdir().unwrap();
    start_to_list(warm.path());
    g.bench_function("warm compile cache", |b| {
        b.iter_custom(|n| (0..n).map(|_| start_to_list(warm.path())).sum());
    });
    g.bench_function("cold (no cache)", |b| {
        b.iter_custom(|n| {
            (0..n)
                .map(|_| {
                    let cold = tempfile::tempdir().unwrap();
                    start_to_list(cold.path())
                })
                .sum()
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
