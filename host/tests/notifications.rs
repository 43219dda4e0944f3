//! Notifications reach clients: progress from a plugin becomes MCP progress notifications, and
//! a hot swap reaches HTTP sessions as `notifications/tools/list_changed`.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmcp::model::{
    CallToolRequestParams, NumberOrString, ProgressNotificationParam, ProgressToken,
    RequestMetaObject,
};
use rmcp::service::NotificationContext;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use support::*;

#[derive(Clone, Default)]
struct Recorder {
    progress: Arc<Mutex<Vec<ProgressNotificationParam>>>,
    list_changed: Arc<Mutex<usize>>,
}

impl ClientHandler for Recorder {
    async fn on_progress(
        &self,
        p: ProgressNotificationParam,
        _ctx: NotificationContext<RoleClient>,
    ) {
        self.progress.lock().unwrap().push(p);
    }
    async fn on_tool_list_changed(&self, _ctx: NotificationContext<RoleClient>) {
        *self.list_changed.lock().unwrap() += 1;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn plugin_progress_becomes_mcp_progress() {
    let dir = plugins_dir(&["adversary"]);
    let cache = shared_cache();
    let rec = Recorder::default();
    let (transport, _) =
        TokioChildProcess::builder(tokio::process::Command::new(aerie()).configure(|c| {
            c.args([
                "serve",
                "--no-embedded",
                "--cache-dir",
                &cache,
                "--plugins-dir",
                dir.path().to_str().unwrap(),
            ])
            .env("HOME", "/nonexistent");
        }))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let client = rec.clone().serve(transport).await.unwrap();
    let token = ProgressToken(NumberOrString::String("job-7".into()));
    let mut params = CallToolRequestParams::new("progress");
    params.meta = Some(RequestMetaObject::with_progress_token(token));
    let r = client.call_tool(params).await.unwrap();
    assert_eq!(text(&r), "done");
    let deadline = Instant::now() + Duration::from_secs(5);
    while rec.progress.lock().unwrap().len() < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut got = rec.progress.lock().unwrap().clone();
    assert_eq!(got.len(), 3, "{got:?}");
    // The client may hand notifications to its handler concurrently; order them to compare.
    got.sort_by(|a, b| a.progress.total_cmp(&b.progress));
    // rmcp's client assigns its own token to the request; every notification must carry it.
    for (i, p) in got.iter().enumerate() {
        assert_eq!(p.progress_token, got[0].progress_token);
        assert_eq!(p.progress, (i + 1) as f64);
        assert_eq!(p.total, Some(3.0));
        assert_eq!(
            p.message.as_deref(),
            Some(format!("step {}", i + 1).as_str())
        );
    }
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn http_sessions_hear_about_hot_swaps() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture("swap_a"), dir.path().join("swapper.wasm")).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cache = shared_cache();
    let mut server = std::process::Command::new(aerie())
        .args([
            "serve",
            "--transport",
            "http",
            "--port",
            &port.to_string(),
            "--no-embedded",
            "--cache-dir",
            &cache,
            "--plugins-dir",
        ])
        .arg(dir.path())
        .env("HOME", "/nonexistent")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/mcp");
    let mut clients = Vec::new();
    let mut recorders = Vec::new();
    for _ in 0..2 {
        let rec = Recorder::default();
        let mut client = None;
        for _ in 0..100 {
            if let Ok(c) = rec
                .clone()
                .serve(StreamableHttpClientTransport::from_uri(url.clone()))
                .await
            {
                client = Some(c);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        clients.push(client.expect("connected over HTTP"));
        recorders.push(rec);
    }
    let tmp = dir.path().join("swapper.wasm.tmp");
    std::fs::copy(fixture("swap_b"), &tmp).unwrap();
    std::fs::rename(&tmp, dir.path().join("swapper.wasm")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while recorders
        .iter()
        .any(|r| *r.list_changed.lock().unwrap() == 0)
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for r in &recorders {
        assert_eq!(
            *r.list_changed.lock().unwrap(),
            1,
            "each HTTP session is told once"
        );
    }
    let r = clients[0]
        .call_tool(CallToolRequestParams::new("which"))
        .await
        .unwrap();
    assert_eq!(text(&r), "b");
    for c in clients {
        let _ = c.cancel().await;
    }
    let _ = server.kill();
    let _ = server.wait();
}

#[test]
fn config_check_prints_the_effective_policy() {
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("aerie.toml");
    std::fs::write(
        &config,
        "[plugins.hosts]\noperations = [\"QueryDevicesByFilter\"]\n[rtr]\nblocked = [\"ps\"]\n",
    )
    .unwrap();
    let out = std::process::Command::new(aerie())
        .args([
            "config",
            "check",
            "--config",
            config.to_str().unwrap(),
            "--cache-dir",
            &shared_cache(),
        ])
        .env("HOME", "/nonexistent")
        .env_remove("FALCON_CLIENT_ID")
        .env_remove("FALCON_CLIENT_SECRET")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("credentials: none configured (set FALCON_CLIENT_ID"),
        "{stdout}"
    );
    assert!(stdout.contains("writes: disabled"), "{stdout}");
    assert!(stdout.contains("blocked [\"ps\"]"), "{stdout}");
    // Narrowed: hosts_search keeps QueryDevicesByFilter, loses PostDeviceDetailsV2, and says why.
    assert!(stdout.contains("    + QueryDevicesByFilter"), "{stdout}");
    assert!(
        stdout.contains("    - PostDeviceDetailsV2: not in [plugins.hosts] operations"),
        "{stdout}"
    );
    assert!(
        stdout.contains("hosts_contain — not served: write tool; writes are disabled"),
        "{stdout}"
    );

    std::fs::write(&config, "allow_writes = yes\n").unwrap();
    let out = std::process::Command::new(aerie())
        .args(["config", "check", "--config", config.to_str().unwrap()])
        .env("HOME", "/nonexistent")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("allow_writes"),
        "a bad config names the key"
    );
}
