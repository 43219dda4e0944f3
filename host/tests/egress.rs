//! Egress against the simulator over real HTTP: token single flight, 401 refresh, 429 waits,
//! read-only retries, and nothing leaving the host that the policy refuses.

mod support;

use std::sync::Arc;

use aerie::audit::Audit;
use aerie::auth::Session;
use aerie::catalogue::Catalogue;
use aerie::egress::{Egress, EgressConfig, http_client};
use aerie::runtime::falcon;
use falcon_sim::{Faults, SimConfig, Simulator};
use serde_json::json;
use support::*;

async fn sim() -> Simulator {
    let config = SimConfig {
        unauthenticated_limit_per_minute: 10_000,
        ..Default::default()
    };
    Simulator::start(config).await.unwrap()
}

fn egress(sim: &Simulator) -> Arc<Egress> {
    let creds = aerie::demo::simulator_credentials(&sim.base_url()).unwrap();
    let http = http_client();
    let config = EgressConfig {
        max_rate_limit_wait: std::time::Duration::from_secs(10),
        ..Default::default()
    };
    Arc::new(Egress::new(
        Session::new(creds, http.clone()),
        http,
        config,
        Arc::new(Audit::default()),
    ))
}

fn query_hosts() -> falcon::Request {
    falcon::Request {
        operation: "QueryDevicesByFilter".into(),
        path_params: vec![],
        query: vec![("limit".into(), "5".into())],
        body: None,
    }
}

async fn perform(e: &Egress, req: &falcon::Request) -> Result<falcon::Response, falcon::Error> {
    let op = Catalogue::builtin().get(&req.operation).unwrap();
    let path = op.render_path(&req.path_params).unwrap();
    e.perform("test", op, &path, req).await
}

fn count(sim: &Simulator, path_part: &str, status: u16) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.path.contains(path_part) && r.status == status)
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_token_with_50_concurrent_calls_refreshes_once() {
    let sim = sim().await;
    let e = egress(&sim);
    assert_eq!(perform(&e, &query_hosts()).await.unwrap().status, 200);
    assert_eq!(sim.token_requests(), 1);
    sim.expire_all_tokens();
    let calls: Vec<_> = (0..50)
        .map(|_| {
            let e = e.clone();
            tokio::spawn(async move { perform(&e, &query_hosts()).await })
        })
        .collect();
    for c in calls {
        assert_eq!(c.await.unwrap().unwrap().status, 200);
    }
    assert_eq!(
        sim.token_requests(),
        2,
        "exactly one refresh for 50 concurrent calls"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_401_is_refreshed_and_retried_once() {
    let sim = sim().await;
    let e = egress(&sim);
    perform(&e, &query_hosts()).await.unwrap();
    sim.expire_all_tokens();
    sim.clear_requests();
    let r = perform(&e, &query_hosts()).await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(count(&sim, "/devices/queries/devices/v1", 401), 1);
    assert_eq!(count(&sim, "/devices/queries/devices/v1", 200), 1);
    assert_eq!(count(&sim, "/oauth2/token", 201), 1);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limit_bursts_are_waited_out() {
    let sim = sim().await;
    let e = egress(&sim);
    perform(&e, &query_hosts()).await.unwrap();
    sim.set_faults(Faults {
        status_429_burst: 2,
        ..Default::default()
    });
    let r = perform(&e, &query_hosts()).await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(count(&sim, "/devices/queries/devices/v1", 429), 2);
    sim.shutdown().await;
}

/// After a 429 whose retry time is further off than a call may wait, no request is sent until
/// then, by any plugin: the window is the CID's, and each request would only earn another 429.
#[tokio::test(flavor = "multi_thread")]
async fn a_429_holds_every_plugin_until_its_retry_time() {
    let sim = Simulator::start(SimConfig {
        unauthenticated_limit_per_minute: 10_000,
        rate_limit_per_minute: 4,
        ..Default::default()
    })
    .await
    .unwrap();
    let creds = aerie::demo::simulator_credentials(&sim.base_url()).unwrap();
    let http = http_client();
    let config = EgressConfig {
        max_rate_limit_wait: std::time::Duration::ZERO,
        ..Default::default()
    };
    let e = Egress::new(
        Session::new(creds, http.clone()),
        http,
        config,
        Arc::new(Audit::default()),
    );
    let req = query_hosts();
    let op = Catalogue::builtin().get(&req.operation).unwrap();
    let path = op.render_path(&req.path_params).unwrap();
    for _ in 0..4 {
        assert_eq!(e.perform("a", op, &path, &req).await.unwrap().status, 200);
    }
    let first = e.perform("a", op, &path, &req).await.unwrap_err();
    assert!(first.to_string().contains("retry in"), "{first}");
    assert_eq!(count(&sim, "/devices/queries/devices/v1", 429), 1);
    let sent = sim.requests().len();
    for plugin in ["a", "b", "c"] {
        let e = e.perform(plugin, op, &path, &req).await.unwrap_err();
        assert!(
            matches!(e, falcon::Error::RateLimited(ref m) if m.contains("retry in")),
            "{e}"
        );
    }
    assert_eq!(
        sim.requests().len(),
        sent,
        "nothing sent while Falcon said wait"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_are_retried_for_reads_only() {
    let sim = sim().await;
    let e = egress(&sim);
    perform(&e, &query_hosts()).await.unwrap();
    sim.set_faults(Faults {
        status_5xx_burst: 1,
        ..Default::default()
    });
    assert_eq!(perform(&e, &query_hosts()).await.unwrap().status, 200);
    assert_eq!(count(&sim, "/devices/queries/devices/v1", 200), 2);

    sim.clear_requests();
    sim.set_faults(Faults {
        status_5xx_burst: 1,
        ..Default::default()
    });
    let write = falcon::Request {
        operation: "PerformActionV2".into(),
        path_params: vec![],
        query: vec![("action_name".into(), "contain".into())],
        body: Some(
            json!({"ids": ["0123456789abcdef0123456789abcdef"]})
                .to_string()
                .into_bytes(),
        ),
    };
    let r = perform(&e, &write).await.unwrap();
    assert!(r.status >= 500, "the write's 5xx is returned, not retried");
    let writes = sim
        .requests()
        .iter()
        .filter(|r| r.path.contains("devices-actions"))
        .count();
    assert_eq!(writes, 1, "a write is never repeated");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_commands_and_writes_never_reach_falcon() {
    let sim = sim().await;
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("aerie.toml");
    std::fs::write(&config, "[rtr]\nblocked = [\"ls\"]\n").unwrap();
    let audit = work.path().join("audit.jsonl");
    let client = serve_against(
        &sim,
        &[
            "--config",
            config.to_str().unwrap(),
            "--audit-log",
            audit.to_str().unwrap(),
            "--log-level",
            "debug",
        ],
        work.path(),
    )
    .await;

    // A host to open a session on.
    let r = call(&client, "hosts_search", json!({"limit": 1})).await;
    assert!(!is_error(&r), "{}", text(&r));
    let aid = r.structured_content.as_ref().unwrap()["results"][0]["device_id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = call(&client, "rtr_init_session", json!({"host_id": aid})).await;
    assert!(!is_error(&r), "{}", text(&r));
    let session = r.structured_content.as_ref().unwrap()["session_id"]
        .as_str()
        .unwrap()
        .to_string();

    // `ls` is blocked by the operator: the host refuses it before any request.
    let r = call(
        &client,
        "rtr_run_command",
        json!({"session_id": session, "command": "ls C:\\"}),
    )
    .await;
    assert!(is_error(&r) && text(&r).contains("blocked"), "{}", text(&r));
    // `ps` is allowed and runs.
    let r = call(
        &client,
        "rtr_run_command",
        json!({"session_id": session, "command": "ps"}),
    )
    .await;
    assert!(!is_error(&r), "{}", text(&r));
    let commands: Vec<String> = sim
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/entities/command/v1") && r.method == "POST")
        .map(|r| r.body.clone())
        .collect();
    assert_eq!(commands.len(), 1, "{commands:?}");
    assert!(commands[0].contains("\"ps\""), "{commands:?}");

    // Writes are disabled: the contain tool is not served and nothing reaches Falcon.
    let r = call(
        &client,
        "hosts_contain",
        json!({"ids": [aid], "confirm": true}),
    )
    .await;
    assert!(
        is_error(&r) && text(&r).contains("writes are disabled"),
        "{}",
        text(&r)
    );
    assert!(
        !sim.requests()
            .iter()
            .any(|r| r.path.contains("devices-actions"))
    );
    client.cancel().await.unwrap();

    // Neither the secret nor any token appears in the logs or the audit file.
    let log = std::fs::read_to_string(work.path().join("stderr.log")).unwrap();
    let audit = std::fs::read_to_string(&audit).unwrap();
    assert!(
        audit.contains("\"kind\":\"denied\"") && audit.contains("blocked"),
        "{audit}"
    );
    assert!(audit.contains("\"kind\":\"egress\"") && audit.contains("\"kind\":\"tool_call\""));
    for text in [&log, &audit] {
        assert!(!text.contains(falcon_sim::DEMO_CLIENT_SECRET));
        assert!(
            !text.contains("eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9."),
            "a token leaked"
        );
        assert!(
            !text.to_ascii_lowercase().contains("bearer "),
            "an authorization header leaked"
        );
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_shuts_down_cleanly_and_revokes_the_token() {
    let sim = sim().await;
    let base = sim.base_url();
    let cache = shared_cache();
    let mut child = tokio::process::Command::new(aerie())
        .args(["serve", "--cache-dir", &cache, "--modules", "hosts"])
        .env("FALCON_CLIENT_ID", falcon_sim::DEMO_CLIENT_ID)
        .env("FALCON_CLIENT_SECRET", falcon_sim::DEMO_CLIENT_SECRET)
        .env("FALCON_BASE_URL", &base)
        .env("HOME", "/nonexistent")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let msgs = [
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"hosts_search","arguments":{"limit":1}}}"#,
    ];
    for m in msgs {
        stdin.write_all(format!("{m}\n").as_bytes()).await.unwrap();
    }
    loop {
        let line = lines.next_line().await.unwrap().expect("server answers");
        if line.contains("\"id\":2") {
            assert!(line.contains("device_id"), "{line}");
            break;
        }
    }
    // SIGTERM with the client still connected (stdin open).
    let pid = child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::time::timeout(std::time::Duration::from_secs(10), child.wait())
        .await
        .expect("exits on SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert!(
        sim.requests()
            .iter()
            .any(|r| r.path == "/oauth2/revoke" && r.status == 200),
        "token revoked at shutdown"
    );
    drop(stdin);
    sim.shutdown().await;
}

#[test]
fn sigterm_ends_a_server_no_client_has_initialized() {
    let mut child = std::process::Command::new(aerie())
        .args(["serve", "--no-embedded", "--no-cache"])
        .env("HOME", "/nonexistent")
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running 10 s after SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_credentials_are_reported_with_what_to_set() {
    let sim = sim().await;
    let base = sim.base_url();
    // Lazy start: the first tool call says which settings to check, never the secret.
    let work = tempfile::tempdir().unwrap();
    let cache = shared_cache();
    let envs = [
        ("FALCON_CLIENT_ID", falcon_sim::DEMO_CLIENT_ID),
        ("FALCON_CLIENT_SECRET", "not-the-secret-xyz"),
        ("FALCON_BASE_URL", base.as_str()),
    ];
    let client = stdio_client(
        &["serve", "--modules", "hosts", "--cache-dir", &cache],
        &envs,
        &work.path().join("stderr.log"),
    )
    .await;
    let r = call(&client, "hosts_search", json!({"limit": 1})).await;
    assert!(is_error(&r));
    assert!(
        text(&r).contains("FALCON_CLIENT_SECRET") && text(&r).contains("403"),
        "{}",
        text(&r)
    );
    assert!(!text(&r).contains("not-the-secret-xyz"));
    client.cancel().await.unwrap();

    // --auth-at-start fails fast with the same guidance.
    let out = std::process::Command::new(aerie())
        .args(["serve", "--auth-at-start", "--no-embedded", "--no-cache"])
        .envs(envs)
        .env("HOME", "/nonexistent")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Falcon refused the API client credentials")
            && err.contains("FALCON_CLIENT_ID"),
        "{err}"
    );
    assert!(!err.contains("not-the-secret-xyz"));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_come_from_the_falcon_credentials_file() {
    let sim = sim().await;
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join(".config/falcon");
    std::fs::create_dir_all(&dir).unwrap();
    let file = json!({
        "falcon_client_id": falcon_sim::DEMO_CLIENT_ID,
        "falcon_client_secret": falcon_sim::DEMO_CLIENT_SECRET,
        "base_url": sim.base_url(),
    });
    std::fs::write(dir.join("credentials.json"), file.to_string()).unwrap();
    let run = |home: &std::path::Path| {
        std::process::Command::new(aerie())
            .args(["config", "check", "--login", "--no-embedded", "--no-cache"])
            .env("HOME", home)
            .env_remove("FALCON_CLIENT_ID")
            .env_remove("FALCON_CLIENT_SECRET")
            .env_remove("FALCON_BASE_URL")
            .output()
            .unwrap()
    };
    let out = tokio::task::spawn_blocking({
        let h = home.path().to_path_buf();
        move || run(&h)
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("client id {}", falcon_sim::DEMO_CLIENT_ID))
            && stdout.contains("login: ok"),
        "{stdout}"
    );
    assert!(!stdout.contains(falcon_sim::DEMO_CLIENT_SECRET));
    assert_eq!(sim.token_requests(), 1);

    // A malformed file is an error that names the file and the expected keys.
    std::fs::write(dir.join("credentials.json"), "{not json").unwrap();
    let out = tokio::task::spawn_blocking({
        let h = home.path().to_path_buf();
        move || run(&h)
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("credentials.json") && err.contains("falcon_client_id"),
        "{err}"
    );
    sim.shutdown().await;
}
