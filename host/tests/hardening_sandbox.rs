//! The plugin→host channels hold against a hostile plugin: floods of progress, log lines and
//! refusals stay bounded, plugin text cannot forge host log lines, every refusal is audited,
//! the files directory keeps its quota and the operator's files, one plugin's CPU-bound calls
//! leave room for another's, and the clocks a plugin sees are coarse.

mod support;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmcp::model::{
    CallToolRequestParams, CallToolResult, NumberOrString, ProgressNotificationParam,
    ProgressToken, RequestMetaObject,
};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};
use support::*;

/// Counts the progress notifications it receives.
#[derive(Clone, Default)]
struct Progress {
    seen: Arc<AtomicUsize>,
    last: Arc<Mutex<Option<ProgressNotificationParam>>>,
}

impl ClientHandler for Progress {
    async fn on_progress(&self, p: ProgressNotificationParam, _: NotificationContext<RoleClient>) {
        self.seen.fetch_add(1, Ordering::Relaxed);
        *self.last.lock().unwrap() = Some(p);
    }
}

/// A server under test: the client, the server's pid, and where its stderr log goes.
struct Server {
    client: RunningService<RoleClient, Progress>,
    pid: u32,
    log: PathBuf,
}

/// `aerie serve` with only the fixtures `plugins`, `config` as aerie.toml and `extra` flags, in
/// `work`. With `fsize_limit_kib`, the server runs under that file-size limit (`ulimit -f`),
/// SIGXFSZ ignored, so a large write fails with an I/O error mid-way.
async fn serve(
    work: &Path,
    plugins: &[&str],
    config: &str,
    extra: &[&str],
    fsize_limit_kib: Option<u64>,
) -> Server {
    let dir = work.join("plugins");
    std::fs::create_dir_all(&dir).unwrap();
    for p in plugins {
        std::fs::copy(fixture(p), dir.join(format!("{p}.wasm"))).unwrap();
    }
    let config_path = work.join("aerie.toml");
    std::fs::write(&config_path, config).unwrap();
    let log = work.join("stderr.log");
    let cache = shared_cache();
    let mut args: Vec<String> = [
        "serve",
        "--no-embedded",
        "--plugins-dir",
        dir.to_str().unwrap(),
        "--config",
        config_path.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // The compile cache writes files larger than a tight file-size limit.
    if fsize_limit_kib.is_some() {
        args.push("--no-cache".into());
    } else {
        args.extend(["--cache-dir".to_string(), cache]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let cmd = match fsize_limit_kib {
        None => tokio::process::Command::new(aerie()),
        Some(kib) => {
            // An ignored signal stays ignored across exec; bash counts -f in KiB.
            let mut c = tokio::process::Command::new("bash");
            c.arg("-c")
                .arg(format!("trap '' XFSZ; ulimit -f {kib}; exec \"$0\" \"$@\""))
                .arg(aerie());
            c
        }
    };
    let cmd = cmd.configure(|c| {
        c.args(&args)
            .env_remove("FALCON_CLIENT_ID")
            .env_remove("FALCON_CLIENT_SECRET")
            .env("HOME", "/nonexistent");
    });
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(std::process::Stdio::from(
            std::fs::File::create(&log).unwrap(),
        ))
        .spawn()
        .unwrap();
    let pid = transport.id().expect("server pid");
    let client = Progress::default().serve(transport).await.unwrap();
    Server { client, pid, log }
}

impl Server {
    async fn call(&self, tool: &str, args: Value) -> CallToolResult {
        let Value::Object(map) = args else {
            panic!("args must be an object")
        };
        self.client
            .call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(map))
            .await
            .unwrap_or_else(|e| panic!("{tool}: protocol error {e}"))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }

    /// Resident memory of the server, in KiB.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/<pid>/status")
    }

    /// Run `tool` with a progress token while sampling the server's RSS; returns the result
    /// and the largest RSS growth seen over the RSS before the call, in MiB.
    async fn call_measuring_rss(&self, tool: &str) -> (CallToolResult, u64) {
        let before = self.rss_kib();
        let mut params = CallToolRequestParams::new(tool.to_string());
        params.meta = Some(RequestMetaObject::with_progress_token(ProgressToken(
            NumberOrString::String(format!("{tool}-1").into()),
        )));
        let call = self.client.call_tool(params);
        tokio::pin!(call);
        let mut peak = before;
        let result = loop {
            tokio::select! {
                r = &mut call => break r.unwrap(),
                _ = tokio::time::sleep(Duration::from_millis(20)) => {
                    peak = peak.max(self.rss_kib());
                }
            }
        };
        peak = peak.max(self.rss_kib());
        (result, (peak.saturating_sub(before)) >> 10)
    }
}

/// Memory growth allowed while a plugin floods a channel.
const RSS_BOUND_MIB: u64 = 64;

#[tokio::test(flavor = "multi_thread")]
async fn floods_of_progress_logs_and_refusals_stay_bounded() {
    let work = tempfile::tempdir().unwrap();
    let audit = work.path().join("audit.jsonl");
    let s = serve(
        work.path(),
        &["adversary"],
        "[plugins.adversary.limits]\ncpu_ms = 30000\n",
        &["--audit-log", audit.to_str().unwrap()],
        None,
    )
    .await;
    // Warm up, so the measurement sees the flood and not first-call allocations.
    assert_eq!(text(&s.call("echo", json!({"text": "hi"})).await), "hi");

    let (r, growth) = s.call_measuring_rss("progress_flood").await;
    assert_eq!(text(&r), "flooded", "the call still answers");
    assert!(
        growth < RSS_BOUND_MIB,
        "RSS grew {growth} MiB during a progress flood"
    );
    // The client got a bounded number of reports, the latest among them.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let last = s.client.service().last.lock().unwrap().clone();
        if last.is_some_and(|p| p.progress == 999_999.0) || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seen = s.client.service().seen.load(Ordering::Relaxed);
    assert!((1..10_000).contains(&seen), "{seen} progress notifications");
    let last = s.client.service().last.lock().unwrap().clone().unwrap();
    assert_eq!(last.progress, 999_999.0, "the final value arrives");

    let (r, growth) = s.call_measuring_rss("log_flood").await;
    assert_eq!(text(&r), "flooded");
    assert!(
        growth < RSS_BOUND_MIB,
        "RSS grew {growth} MiB during a log flood"
    );
    let log = s.log();
    let flood_lines = log.lines().filter(|l| l.contains("flood line")).count();
    assert_eq!(
        flood_lines, 1000,
        "the default allowance is 1000 lines per call"
    );
    let dropped: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("further log lines dropped this call"))
        .collect();
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert!(
        dropped[0].contains("plugin adversary: 999000 further log lines dropped this call"),
        "{}",
        dropped[0]
    );

    let r = s.call("deny_flood", json!({})).await;
    assert_eq!(text(&r), "flooded");
    let records: Vec<Value> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|r: &Value| r["kind"] == "denied" && r["tool"] == "deny_flood")
        .collect();
    assert_eq!(records.len(), 1001, "1000 records and one summary");
    assert_eq!(records[1000]["suppressed"], 99_000, "{}", records[1000]);
    let log = s.log();
    assert_eq!(
        log.matches("plugin adversary: 99000 further refused requests dropped this call")
            .count(),
        1,
        "{log}"
    );
    s.client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn plugin_text_cannot_forge_host_log_lines() {
    let work = tempfile::tempdir().unwrap();
    let s = serve(work.path(), &["adversary"], "", &[], None).await;
    let r = s.call("forge_log", json!({})).await;
    assert_eq!(text(&r), "forged");
    // A panic message is plugin text too.
    s.call("panic", json!({})).await;
    let log_path = s.log.clone();
    s.client.cancel().await.unwrap();
    let log = std::fs::read_to_string(log_path).unwrap();
    assert!(
        !log.lines().any(|l| l.starts_with("2026-01-01")),
        "a plugin forged a host log line:\n{log}"
    );
    let forged: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("2026-01-01T00:00:00Z"))
        .collect();
    // host.log, stdout, stderr and the refused operation's name.
    assert!(forged.len() >= 4, "{log}");
    for l in &forged {
        assert!(l.contains("plugin=adversary"), "{l}");
        assert!(!l.contains('\u{1b}') && !l.contains('\r'), "{l:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_refused_path_parameter_is_audited() {
    let work = tempfile::tempdir().unwrap();
    let audit = work.path().join("audit.jsonl");
    let s = serve(
        work.path(),
        &["adversary"],
        "",
        &["--audit-log", audit.to_str().unwrap()],
        None,
    )
    .await;
    for bad in ["..", ".", ""] {
        let r = s.call("bad_path", json!({"repository": bad})).await;
        let e = err_text(&r);
        assert!(
            e.contains("Denied") && e.contains("repository"),
            "{bad:?}: {e}"
        );
    }
    s.client.cancel().await.unwrap();
    let denied: Vec<Value> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|r: &Value| r["kind"] == "denied")
        .collect();
    assert_eq!(denied.len(), 3, "{denied:?}");
    for d in &denied {
        assert_eq!(d["operation"], "GetSearchStatusV1", "{d}");
        assert_eq!(d["plugin"], "adversary", "{d}");
    }
}

const FILES_CONFIG: &str = "[plugins.adversary]\nfiles = true\nfiles_quota_mib = 1\n";

#[tokio::test(flavor = "multi_thread")]
async fn files_keep_a_quota_and_the_operators_files() {
    let work = tempfile::tempdir().unwrap();
    let files = work.path().join("files");
    std::fs::create_dir(&files).unwrap();
    std::fs::write(files.join("operator.txt"), "operator's").unwrap();
    std::os::unix::fs::symlink("operator.txt", files.join("link")).unwrap();
    let fifo = std::process::Command::new("mkfifo")
        .arg(files.join("pipe"))
        .status()
        .unwrap();
    assert!(fifo.success());
    let s = serve(
        work.path(),
        &["adversary"],
        FILES_CONFIG,
        &["--allow-writes", "--files-dir", files.to_str().unwrap()],
        None,
    )
    .await;
    let kib600 = 600 * 1024;

    // Quota: 1 MiB of files this plugin wrote.
    let r = s
        .call("write_bytes", json!({"name": "one", "size": kib600}))
        .await;
    assert!(!is_error(&r), "{}", text(&r));
    let e = err_text(
        &s.call("write_bytes", json!({"name": "two", "size": kib600}))
            .await,
    );
    assert!(
        e.contains("quota of 1 MiB") && e.contains("[plugins.adversary] files_quota_mib"),
        "{e}"
    );
    assert!(!files.join("two").exists());
    // Its own file it may replace.
    let r = s
        .call("write_bytes", json!({"name": "one", "size": kib600}))
        .await;
    assert!(!is_error(&r), "{}", text(&r));

    // Nothing it did not write: not the operator's symlink, nor the operator's file.
    for name in ["link", "operator.txt", "pipe"] {
        let e = err_text(
            &s.call("write_files", json!({"name": name, "text": "plugin's"}))
                .await,
        );
        assert!(e.contains("never replaces"), "{name}: {e}");
    }
    assert!(
        std::fs::symlink_metadata(files.join("link"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        std::fs::read_to_string(files.join("operator.txt")).unwrap(),
        "operator's"
    );

    // Reading a FIFO is refused at once instead of blocking the call (and a thread) forever.
    let r = tokio::time::timeout(
        Duration::from_secs(20),
        s.call("read_files", json!({"name": "pipe"})),
    )
    .await
    .expect("reading a FIFO must not block");
    assert!(err_text(&r).contains("not a regular file"), "{}", text(&r));
    // The operator's symlink still reads.
    assert_eq!(
        text(&s.call("read_files", json!({"name": "link"})).await),
        "operator's"
    );
    s.client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_write_leaves_no_partial_file() {
    let work = tempfile::tempdir().unwrap();
    let files = work.path().join("files");
    std::fs::create_dir(&files).unwrap();
    // Files over 1 MiB cannot be written by the server: the write fails after the temporary
    // file was created.
    let s = serve(
        work.path(),
        &["adversary"],
        "[plugins.adversary]\nfiles = true\n",
        &["--allow-writes", "--files-dir", files.to_str().unwrap()],
        Some(1024),
    )
    .await;
    let e = err_text(
        &s.call("write_bytes", json!({"name": "big", "size": 2 << 20}))
            .await,
    );
    assert!(e.contains("big"), "{e}");
    let left: Vec<String> = std::fs::read_dir(&files)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".aerie-owners.json")
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    // A small write still works.
    let r = s
        .call("write_bytes", json!({"name": "small", "size": 10}))
        .await;
    assert!(!is_error(&r), "{}", text(&r));
    s.client.cancel().await.unwrap();
}

/// CPU time (user + system) the process `pid` has used so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<u64> = rest
        .split(' ')
        .skip(11)
        .take(2)
        .map(|v| v.parse().unwrap())
        .collect();
    let ticks = String::from_utf8(
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let per_sec: u64 = ticks.trim().parse().unwrap();
    Duration::from_secs_f64((f[0] + f[1]) as f64 / per_sec as f64)
}

#[tokio::test(flavor = "multi_thread")]
async fn cpu_bound_calls_of_one_plugin_leave_room_for_another() {
    let work = tempfile::tempdir().unwrap();
    // One CPU lane for the spinning plugin: however many of its calls spin, they execute
    // guest code one at a time, so at least one of the machine's workers stays free for
    // other plugins and the transport. Eight calls with a 1 s CPU budget each need 8 s of
    // guest time; one lane gives them at most 6 s before their 6 s deadline (two workers
    // without lanes would give them 12 s).
    let s = Arc::new(
        serve(
            work.path(),
            &["adversary", "hello"],
            "[plugins.adversary.limits]\ncpu_ms = 1000\ndeadline_secs = 6\ncpu_lanes = 1\n",
            &[],
            None,
        )
        .await,
    );
    assert_eq!(
        text(&s.call("hello_greet", json!({"name": "warm"})).await),
        "Hello, warm!"
    );
    let finished = Arc::new(AtomicUsize::new(0));
    let spins: Vec<_> = (0..8)
        .map(|_| {
            let (s, finished) = (s.clone(), finished.clone());
            tokio::spawn(async move {
                let r = s.call("spin", json!({})).await;
                finished.fetch_add(1, Ordering::SeqCst);
                r
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (cpu0, wall0) = (cpu_time(s.pid), Instant::now());
    let r = s.call("hello_greet", json!({"name": "B"})).await;
    assert_eq!(text(&r), "Hello, B!");
    // The other plugin's call answered while the spinning ones were still at it.
    assert_eq!(
        finished.load(Ordering::SeqCst),
        0,
        "hello_greet waited for spinning calls to finish"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Eight spinning calls used no more than their one lane (one core, plus slack for the
    // rest of the server); without lanes they take every core the machine has.
    let cores = (cpu_time(s.pid) - cpu0).as_secs_f64() / wall0.elapsed().as_secs_f64();
    assert!(cores < 1.4, "the spinning plugin used {cores:.2} cores");
    let mut out_of_cpu = 0;
    for spin in spins {
        let e = err_text(&spin.await.unwrap());
        assert!(e.contains("CPU budget") || e.contains("deadline"), "{e}");
        out_of_cpu += usize::from(e.contains("CPU budget"));
    }
    // Guest time is counted while a call is polled, so this holds however loaded the machine.
    assert!(
        out_of_cpu <= 6,
        "{out_of_cpu} of 8 calls used up 1 s of CPU within 6 s: more than one lane ran them"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn plugins_see_coarse_clocks_and_fresh_randomness() {
    let work = tempfile::tempdir().unwrap();
    let s = serve(work.path(), &["adversary"], "", &[], None).await;
    let mut seeds = Vec::new();
    for _ in 0..2 {
        let v = ok_json(&s.call("clock", json!({})).await);
        let wall: u128 = v["wall_ns"].as_str().unwrap().parse().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        assert!(
            now.abs_diff(wall) < 60_000_000_000,
            "the wall clock is real: {v}"
        );
        assert!(
            wall.is_multiple_of(1_000_000),
            "whole milliseconds only: {v}"
        );
        let mono: u128 = v["monotonic_ns"].as_str().unwrap().parse().unwrap();
        assert!(mono >= 3_000_000 && mono.is_multiple_of(1_000_000), "{v}");
        seeds.push(v["hash_seed"].as_str().unwrap().to_string());
    }
    assert_ne!(seeds[0], seeds[1], "each call gets fresh random seeds");
    s.client.cancel().await.unwrap();
}
