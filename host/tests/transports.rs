//! The real binary over stdio and streamable HTTP with rmcp's client: initialize, list tools,
//! call a tool, read a resource; and the HTTP guards (API keys, Host check, healthz).

mod support;

use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::model::ReadResourceRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::json;
use support::*;

async fn exercise(client: &rmcp::service::RunningService<rmcp::RoleClient, ()>) {
    let info = client.peer_info().expect("initialized");
    assert_eq!(
        info.server_info.as_ref().map(|s| s.name.as_str()),
        Some("aerie")
    );
    let tools = client.list_all_tools().await.unwrap();
    let greet = tools
        .iter()
        .find(|t| t.name == "hello_greet")
        .expect("hello_greet listed");
    let ann = greet.annotations.as_ref().expect("annotations");
    assert_eq!(ann.read_only_hint, Some(true));
    assert!(greet.title.is_some());
    let r = call(client, "hello_greet", json!({"name": "analyst"})).await;
    assert!(!is_error(&r), "{}", text(&r));
    assert_eq!(text(&r), "Hello, analyst!");
    let res = client.list_all_resources().await.unwrap();
    assert!(res.iter().any(|r| r.uri == "falcon://hello/guide"));
    let read = client
        .read_resource(ReadResourceRequestParams::new("falcon://hello/guide"))
        .await
        .unwrap();
    let body = serde_json::to_string(&read).unwrap();
    assert!(body.contains("Hello guide"), "{body}");
    assert!(
        client
            .read_resource(ReadResourceRequestParams::new("falcon://nope"))
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn stdio_end_to_end() {
    let dir = plugins_dir(&["hello"]);
    let work = tempfile::tempdir().unwrap();
    let args = [
        "serve",
        "--no-embedded",
        "--no-cache",
        "--plugins-dir",
        dir.path().to_str().unwrap(),
    ];
    let client = stdio_client(&args, &[], &work.path().join("stderr.log")).await;
    exercise(&client).await;
    client.cancel().await.unwrap();
}

struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_http(dir: &std::path::Path, extra: &[&str]) -> (Server, u16) {
    let port = free_port();
    let child = std::process::Command::new(aerie())
        .args([
            "serve",
            "--transport",
            "http",
            "--port",
            &port.to_string(),
            "--no-embedded",
            "--no-cache",
            "--plugins-dir",
        ])
        .arg(dir)
        .args(extra)
        .env("HOME", "/nonexistent")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let server = Server(child);
    let health = format!("http://127.0.0.1:{port}/healthz");
    for _ in 0..100 {
        if reqwest::get(&health)
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return (server, port);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("HTTP server did not come up");
}

#[tokio::test(flavor = "multi_thread")]
async fn http_end_to_end_with_api_key() {
    let dir = plugins_dir(&["hello"]);
    let work = tempfile::tempdir().unwrap();
    let audit = work.path().join("audit.jsonl");
    let (_server, port) = start_http(
        dir.path(),
        &[
            "--api-key",
            "s3cret-key",
            "--audit-log",
            audit.to_str().unwrap(),
        ],
    )
    .await;
    let url = format!("http://127.0.0.1:{port}/mcp");

    // No key, wrong key: 401 without detail.
    let http = reqwest::Client::new();
    let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}});
    for auth in [None, Some("Bearer wrong")] {
        let mut rb = http
            .post(&url)
            .header("accept", "application/json, text/event-stream")
            .json(&init);
        if let Some(a) = auth {
            rb = rb.header("authorization", a);
        }
        let r = rb.send().await.unwrap();
        assert_eq!(r.status(), 401);
        assert!(r.text().await.unwrap().is_empty());
    }
    // A foreign Host header is refused even with the key (DNS rebinding).
    let r = http
        .post(&url)
        .header("host", "evil.example")
        .header("authorization", "Bearer s3cret-key")
        .header("accept", "application/json, text/event-stream")
        .json(&init)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());

    let config =
        StreamableHttpClientTransportConfig::with_uri(url.clone()).auth_header("s3cret-key");
    let client =
        ().serve(StreamableHttpClientTransport::from_config(config))
            .await
            .expect("client connects");
    exercise(&client).await;
    client.cancel().await.unwrap();
    // The audit log names which key called, without revealing it.
    let log = std::fs::read_to_string(&audit).unwrap();
    let call = log
        .lines()
        .find(|l| l.contains("\"tool\":\"hello_greet\""))
        .expect("tool call audited");
    assert!(call.contains("\"client\":\"key:"), "{call}");
    assert!(!log.contains("s3cret-key"));
}

#[test]
fn http_refuses_a_public_bind_without_keys() {
    let out = std::process::Command::new(aerie())
        .args([
            "serve",
            "--transport",
            "http",
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--no-embedded",
            "--no-cache",
        ])
        .env("HOME", "/nonexistent")
        .env_remove("AERIE_API_KEYS")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("without API keys") && err.contains("--api-key"),
        "{err}"
    );
}
