//! The real `aerie-load` against the debug `aerie` and `falcon-sim` binaries with tiny counts:
//! the figures are there and sane, a compared server runs through the same workload, and a
//! server that never answers ends the run with a clear error instead of a hang.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A binary built next to `aerie-load` (`cargo test --workspace` builds them all).
fn sibling(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_BIN_EXE_aerie-load")).with_file_name(name);
    assert!(
        p.exists(),
        "{} is missing: cargo build -p aerie -p falcon-sim",
        p.display()
    );
    p
}

/// A compile cache shared by these tests' servers, so only the first run compiles `hosts`.
fn cache_dir() -> String {
    format!("{}/compile-cache", env!("CARGO_TARGET_TMPDIR"))
}

/// `aerie-load`, its work directories (kept when a run fails) under the target's temporary
/// directory.
fn load() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_aerie-load"));
    c.env("TMPDIR", env!("CARGO_TARGET_TMPDIR"));
    c
}

/// `aerie-load` with tiny counts plus `extra`.
fn run(extra: &[&str]) -> Output {
    let cache = format!("--aerie-arg=--cache-dir={}", cache_dir());
    load()
        .arg("--aerie")
        .arg(sibling("aerie"))
        .arg("--sim")
        .arg(sibling("falcon-sim"))
        .args(["--aerie-arg=--modules=hosts", &cache])
        .args(["--starts", "1", "--warmup-calls", "1", "--cpu-calls", "10"])
        .args([
            "--latency-calls",
            "5",
            "--throughput-calls",
            "8",
            "--in-flight",
            "2",
        ])
        .args([
            "--latency-ms",
            "5",
            "--settle-ms",
            "100",
            "--start-timeout",
            "120",
        ])
        .args(extra)
        .output()
        .unwrap()
}

fn report(out: &Output) -> Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "aerie-load failed: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Every figure is present and physically possible for 5 ms upstream and 2 calls in flight.
fn assert_sane(t: &Value) {
    let f = |p: &str| {
        t.pointer(p)
            .and_then(Value::as_f64)
            .unwrap_or_else(|| panic!("no {p} in {t}"))
    };
    assert_eq!(f("/cpu/calls"), 10.0, "{t}");
    // Every call made reached the server and the simulator: query + hydrate each.
    assert_eq!(f("/cpu/upstream_requests_per_call"), 2.0, "{t}");
    assert_eq!(f("/throughput/upstream_requests_per_call"), 2.0, "{t}");
    assert!(f("/cpu/cpu_ms_per_call") > 0.0, "{t}");
    assert!(
        f("/tools/count") >= 1.0 && f("/tools/bytes_per_tool") > 100.0,
        "{t}"
    );
    assert!(
        f("/idle_rss_mib") > 1.0 && f("/startup/median_ms") > 0.0,
        "{t}"
    );
    // Two sequential 5 ms round trips per call: nothing can be faster than 10 ms, or than the
    // ideal 2 / (2 × 5 ms) = 200 calls/s.
    assert!(f("/latency/p50_ms") >= 10.0, "{t}");
    assert!(f("/latency/p99_ms") >= f("/latency/p50_ms"), "{t}");
    assert_eq!(f("/throughput/ideal_calls_per_s"), 200.0, "{t}");
    let rate = f("/throughput/calls_per_s");
    assert!(rate > 0.0 && rate <= 200.0, "{t}");
}

#[test]
fn figures_over_stdio_and_http() {
    let r = report(&run(&["--transport", "stdio,http", "--baseline", "--json"]));
    let targets = r["targets"].as_array().unwrap();
    let names: Vec<&str> = targets
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["aerie (stdio)", "aerie (http)", "no server"]);
    targets[..2].iter().for_each(assert_sane);
    // The baseline sends the same two requests itself: the same physical bounds hold.
    let floor = &targets[2];
    assert!(
        floor["latency"]["p50_ms"].as_f64().unwrap() >= 10.0,
        "{floor}"
    );
    let rate = floor["throughput"]["calls_per_s"].as_f64().unwrap();
    assert!(rate > 0.0 && rate <= 200.0, "{floor}");
    assert_eq!(
        floor["throughput"]["upstream_requests_per_call"], 2.0,
        "{floor}"
    );
    assert_eq!(r["isolated"], false);
    assert_eq!(r["config"]["region_header"], false, "{r}");
}

#[test]
fn a_compared_server_gets_the_same_workload_and_a_ratio() {
    let work = tempfile_dir("compare");
    let config = work.join("aerie.toml");
    std::fs::write(
        &config,
        "[cache]\nttl_secs = 0\n[approvals]\nmode = \"off\"\n",
    )
    .unwrap();
    let other = format!(
        "{} serve --modules hosts --cache-dir {} --config {}",
        sibling("aerie").display(),
        cache_dir(),
        config.display()
    );
    // Isolated by default with --compare; where namespaces are not allowed, run without.
    let can_isolate = Command::new("unshare")
        .args(["--net", "true"])
        .status()
        .is_ok_and(|s| s.success());
    let mut args = vec![
        "--compare",
        other.as_str(),
        "--compare-tool",
        "hosts_search",
    ];
    if !can_isolate {
        eprintln!("unshare --net is not allowed here: the compare run is not isolated");
        args.push("--no-isolate");
    }
    let out = run(&args);
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The row's cells: aerie, the compared server, their ratio.
    let row = |label: &str| -> Vec<String> {
        let line = table
            .lines()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("no row {label:?} in\n{table}"));
        line[label.len()..]
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    assert_eq!(
        row("upstream requests per call"),
        ["2.00", "2.00", "1.0×"],
        "{table}"
    );
    let cpu = row("server CPU per search call, 0 ms upstream (ms)");
    assert!(
        cpu[..2].iter().all(|c| c.parse::<f64>().unwrap() > 0.0),
        "{table}"
    );
    let tools = row("tools listed");
    assert!(
        tools[0] == tools[1] && tools[0].parse::<u32>().unwrap() > 0,
        "{table}"
    );
    assert!(table.contains("aerie ÷ aerie"), "{table}");
    assert_eq!(table.contains("network: isolated"), can_isolate, "{table}");
    if can_isolate {
        assert!(table.contains("interfaces [lo]"), "{table}");
    }
}

#[test]
fn a_server_that_never_answers_ends_the_run_with_an_error() {
    let work = tempfile_dir("hung");
    let script = work.join("hung-server");
    std::fs::write(&script, "#!/bin/sh\nexec sleep 600\n").unwrap();
    Command::new("chmod")
        .arg("+x")
        .arg(&script)
        .status()
        .unwrap();
    let start = Instant::now();
    let out = load()
        .arg("--aerie")
        .arg(&script)
        .arg("--sim")
        .arg(sibling("falcon-sim"))
        .args(["--start-timeout", "2"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("did not finish within 2s"), "{stderr}");
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn bad_input_is_a_clear_error() {
    let out = load().args(["--args", "[1]"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--args must be a JSON object"), "{stderr}");
}

/// A fresh directory for one test under the target's temporary directory.
fn tempfile_dir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("load-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}
