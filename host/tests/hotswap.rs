//! Hot swap under load: a plugin is replaced 50 times while a client calls it continuously. No
//! call fails, every answer comes from exactly one version, and the client is told each time.

mod support;

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rmcp::model::CallToolRequestParams;
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::json;
use support::*;

#[derive(Clone, Default)]
struct Counter(Arc<AtomicUsize>);

impl ClientHandler for Counter {
    async fn on_tool_list_changed(&self, _ctx: NotificationContext<RoleClient>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Install `fixture` as `dir/swapper.wasm` the way operators should: write elsewhere, rename.
fn install(dir: &std::path::Path, fixture_name: &str) {
    let tmp = dir.join("swapper.wasm.tmp");
    std::fs::copy(fixture(fixture_name), &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("swapper.wasm")).unwrap();
}

async fn which(client: &RunningService<RoleClient, Counter>) -> Result<String, String> {
    let r = client
        .call_tool(
            CallToolRequestParams::new("which")
                .with_arguments(json!({}).as_object().unwrap().clone()),
        )
        .await
        .map_err(|e| format!("protocol error: {e}"))?;
    if r.is_error == Some(true) {
        return Err(text(&r));
    }
    Ok(text(&r))
}

async fn connect(
    args: &[&str],
    log: &std::path::Path,
) -> (RunningService<RoleClient, Counter>, Counter) {
    let counter = Counter::default();
    let (transport, _) =
        TokioChildProcess::builder(tokio::process::Command::new(aerie()).configure(|c| {
            c.args(args).env("HOME", "/nonexistent");
        }))
        .stderr(Stdio::from(std::fs::File::create(log).unwrap()))
        .spawn()
        .unwrap();
    (counter.clone().serve(transport).await.unwrap(), counter)
}

#[tokio::test(flavor = "multi_thread")]
async fn swap_fifty_times_under_load() {
    let dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    install(dir.path(), "swap_a");
    let cache = shared_cache();
    let args = [
        "serve",
        "--no-embedded",
        "--cache-dir",
        &cache,
        "--plugins-dir",
        dir.path().to_str().unwrap(),
    ];
    let (client, notified) = connect(&args, &work.path().join("stderr.log")).await;
    let client = Arc::new(client);
    assert_eq!(which(&client).await.unwrap(), "a");

    // Callers hammer the tool for the whole run.
    let stop = Arc::new(AtomicBool::new(false));
    let mut callers = Vec::new();
    for _ in 0..4 {
        let (client, stop) = (client.clone(), stop.clone());
        callers.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                answers.push(which(&client).await);
            }
            answers
        }));
    }

    for i in 0..50 {
        let (fixture_name, expect) = if i % 2 == 0 {
            ("swap_b", "b")
        } else {
            ("swap_a", "a")
        };
        install(dir.path(), fixture_name);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if which(&client).await.unwrap() == expect {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "swap {i} to {expect} was not served within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    stop.store(true, Ordering::SeqCst);
    let mut total = 0;
    for c in callers {
        for answer in c.await.unwrap() {
            let answer = answer.expect("no call fails during a swap");
            assert!(
                answer == "a" || answer == "b",
                "answered by exactly one version: {answer:?}"
            );
            total += 1;
        }
    }
    assert!(total > 50, "callers made only {total} calls");
    // Notifications are sent after each publish; allow them a moment to arrive.
    let deadline = Instant::now() + Duration::from_secs(5);
    while notified.0.load(Ordering::SeqCst) < 50 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        notified.0.load(Ordering::SeqCst),
        50,
        "one tools/list_changed per swap"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_new_versions_are_refused_and_the_good_one_stays() {
    let dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    install(dir.path(), "swap_a");
    let cache = shared_cache();
    let log = work.path().join("stderr.log");
    let args = [
        "serve",
        "--no-embedded",
        "--cache-dir",
        &cache,
        "--plugins-dir",
        dir.path().to_str().unwrap(),
    ];
    let (client, notified) = connect(&args, &log).await;
    assert_eq!(which(&client).await.unwrap(), "a");

    let good = std::fs::read(fixture("swap_b")).unwrap();
    let bad_versions: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", good[..good.len() / 3].to_vec()),
        ("not a component", b"\0asm\x01\0\0\0".to_vec()),
        (
            "wrong world",
            std::fs::read(fixture("wrong_world")).unwrap(),
        ),
        (
            "invalid descriptor",
            std::fs::read(fixture("bad_name")).unwrap(),
        ),
    ];
    let mut seen = 0;
    for (what, bytes) in bad_versions {
        std::fs::write(dir.path().join("swapper.wasm"), &bytes).unwrap();
        // Give the watcher time to see it and refuse it.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log_text = std::fs::read_to_string(&log).unwrap();
            if log_text.matches("keeping the previous version").count() > seen {
                seen = log_text.matches("keeping the previous version").count();
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: no refusal logged:\n{log_text}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            which(&client).await.unwrap(),
            "a",
            "{what}: the good version keeps serving"
        );
    }
    assert_eq!(
        notified.0.load(Ordering::SeqCst),
        0,
        "nothing changed, so no notification"
    );

    // A clash with another plugin's tool is refused too.
    std::fs::copy(fixture("adversary"), dir.path().join("adversary.wasm")).unwrap();
    std::fs::copy(fixture("clash"), dir.path().join("zz_clash.wasm")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let log_text = std::fs::read_to_string(&log).unwrap();
        if log_text.contains("tool `echo` is already provided by plugin") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no clash refusal logged:\n{log_text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(which(&client).await.unwrap(), "a");
}
