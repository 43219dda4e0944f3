//! The example deployment on real parts, for the `deploy_*` tests: a `redis-server`, three
//! `aerie serve --transport http` replicas against the simulator, and `haproxy` with
//! `deploy/haproxy.cfg` in front, all on loopback at free ports, each killed by its pid when
//! dropped. Clients speak the stateless 2026-07-28 protocol, one POST per call, so any replica
//! may answer any call.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{aerie, free_port, shared_cache};

/// Kill `child` (SIGKILL) and reap it.
fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Whether something accepts connections on 127.0.0.1:`port`.
fn listening(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// A `redis-server` on loopback, without persistence; stopped and started on the same port.
pub struct Redis {
    pub port: u16,
    child: Option<Child>,
    log: PathBuf,
}

impl Redis {
    /// Start one, logging to `work/redis.log`.
    pub fn start(work: &Path) -> Redis {
        let mut r = Redis {
            port: free_port(),
            child: None,
            log: work.join("redis.log"),
        };
        r.restart();
        r
    }

    /// `redis://127.0.0.1:<port>/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Start it again (after [`Redis::stop`]); returns once it answers PING.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ])
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("redis-server runs (apt-get install redis-server; .ci/run installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.ping() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "redis-server did not come up: {}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    /// Kill it (state is gone: no persistence).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            kill(&mut c);
        }
    }

    fn ping(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        let mut buf = [0u8; 16];
        s.write_all(b"PING\r\n").is_ok()
            && s.read(&mut buf)
                .is_ok_and(|n| buf[..n].starts_with(b"+PONG"))
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One `aerie serve --transport http` replica.
pub struct Replica {
    pub port: u16,
    pub child: Option<Child>,
    /// Its stderr log.
    pub log: PathBuf,
    /// Its admin socket (`aerie approvals … --socket`).
    pub socket: PathBuf,
    /// Its audit log.
    pub audit: PathBuf,
}

impl Replica {
    /// `http://127.0.0.1:<port>/mcp`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.port)
    }

    /// Kill it at once (SIGKILL): calls in flight get no answer.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            kill(&mut c);
        }
    }

    /// Its `/healthz` body.
    pub async fn health(&self) -> String {
        reqwest::get(format!("http://127.0.0.1:{}/healthz", self.port))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Its log so far.
    pub fn logged(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// One replica serving the hosts plugin with writes on, with `toml` as its config plus
    /// `[state] backend = <backend>` and `extra` flags, ready to call.
    pub async fn start(
        sim: &falcon_sim::Simulator,
        work: &Path,
        backend: &str,
        toml: &str,
        extra: &[&str],
    ) -> Replica {
        Replica::spawn_healthy(sim, work, 0, backend, toml, extra).await
    }

    /// [`Replica::spawn`] and wait until it serves; on another port when the free one it was
    /// given was taken before it could bind (a race with the other tests' connections).
    async fn spawn_healthy(
        sim: &falcon_sim::Simulator,
        work: &Path,
        i: usize,
        backend: &str,
        toml: &str,
        extra: &[&str],
    ) -> Replica {
        for _ in 0..5 {
            let mut r = Replica::spawn(sim, work, i, backend, toml, extra);
            if r.wait_healthy().await {
                return r;
            }
        }
        panic!("replica {i}: no free port after 5 tries");
    }

    fn spawn(
        sim: &falcon_sim::Simulator,
        work: &Path,
        i: usize,
        backend: &str,
        toml: &str,
        extra: &[&str],
    ) -> Replica {
        let dir = work.join(format!("replica{}", i + 1));
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("admin").join("admin.sock");
        let config = dir.join("aerie.toml");
        let socket_line = format!("socket = {:?}\n", socket.display().to_string());
        let toml = if toml.contains("[approvals]\n") {
            toml.replacen("[approvals]\n", &format!("[approvals]\n{socket_line}"), 1)
        } else {
            format!("{toml}\n\n[approvals]\n{socket_line}")
        };
        std::fs::write(
            &config,
            format!("[state]\nbackend = {backend:?}\n\n{toml}\n"),
        )
        .unwrap();
        let port = free_port();
        let log = dir.join("stderr.log");
        let audit = dir.join("audit.jsonl");
        let child = Command::new(aerie())
            .args(["serve", "--transport", "http", "--port", &port.to_string()])
            .args([
                "--cache-dir",
                &shared_cache(),
                "--modules",
                "hosts",
                "--allow-writes",
            ])
            .arg("--config")
            .arg(&config)
            .arg("--audit-log")
            .arg(&audit)
            .args(extra)
            .env("HOME", "/nonexistent")
            .env_remove("AERIE_API_KEYS")
            .env_remove("AERIE_APPROVALS")
            .env("FALCON_CLIENT_ID", falcon_sim::DEMO_CLIENT_ID)
            .env("FALCON_CLIENT_SECRET", falcon_sim::DEMO_CLIENT_SECRET)
            .env("FALCON_BASE_URL", sim.base_url())
            .env("RUST_LOG", "aerie=info")
            .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
            .spawn()
            .unwrap();
        Replica {
            port,
            child: Some(child),
            log,
            socket,
            audit,
        }
    }

    /// Wait until it serves: `false` when its port was taken before it could bind.
    async fn wait_healthy(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                let logged = self.logged();
                if logged.contains("Address already in use") {
                    self.child = None;
                    return false;
                }
                panic!("replica exited ({status}): {logged}");
            }
            let up = reqwest::get(format!("http://127.0.0.1:{}/healthz", self.port))
                .await
                .is_ok_and(|r| r.status().is_success());
            if up {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("replica did not come up: {}", self.logged());
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `haproxy -f deploy/haproxy.cfg` in front of three replicas.
pub struct Haproxy {
    pub port: u16,
    child: Child,
}

impl Haproxy {
    /// `http://127.0.0.1:<port>/mcp`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.port)
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}

/// The deployment: Redis, three replicas, haproxy, against `sim`.
pub struct Deployment {
    pub redis: Redis,
    pub replicas: Vec<Replica>,
    pub lb: Haproxy,
    pub work: tempfile::TempDir,
}

/// `deploy/haproxy.cfg` in the repository.
fn haproxy_cfg() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/haproxy.cfg")
}

impl Deployment {
    /// Start everything: each replica runs the hosts plugin with writes on, `toml` as its
    /// config plus `[state] backend` on the Redis, and `extra` flags.
    pub async fn start(sim: &falcon_sim::Simulator, toml: &str, extra: &[&str]) -> Deployment {
        let work = tempfile::tempdir().unwrap();
        let redis = Redis::start(work.path());
        let mut replicas = Vec::new();
        for i in 0..3 {
            replicas
                .push(Replica::spawn_healthy(sim, work.path(), i, &redis.url(), toml, extra).await);
        }
        let port = free_port();
        let child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(haproxy_cfg())
            .env("AERIE_LB_BIND", format!("127.0.0.1:{port}"))
            .env("AERIE_1", format!("127.0.0.1:{}", replicas[0].port))
            .env("AERIE_2", format!("127.0.0.1:{}", replicas[1].port))
            .env("AERIE_3", format!("127.0.0.1:{}", replicas[2].port))
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(work.path().join("haproxy.log")).unwrap(),
            ))
            .spawn()
            .expect("haproxy runs (apt-get install haproxy; .ci/run installs it)");
        let lb = Haproxy { port, child };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !listening(port) {
            assert!(Instant::now() < deadline, "haproxy did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Health checks pass (rise 2 × 300 ms) before the first request is balanced.
        tokio::time::sleep(Duration::from_millis(900)).await;
        Deployment {
            redis,
            replicas,
            lb,
            work,
        }
    }
}

/// The `_meta` a 2026-07-28 client sends with every request.
fn meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "deploy-test", "version": "1"}
    })
}

/// The answer of one `tools/call` of `tool` with `args` at `url` (a replica or the balancer):
/// `Ok(result)`, or `Err` with what went wrong at the HTTP level (a lost call).
pub async fn try_call(
    http: &reqwest::Client,
    url: &str,
    tool: &str,
    args: Value,
) -> Result<Value, String> {
    try_call_with(http, url, tool, args, &[]).await
}

/// [`try_call`] with extra request `headers`.
pub async fn try_call_with(
    http: &reqwest::Client,
    url: &str,
    tool: &str,
    args: Value,
    headers: &[(&str, &str)],
) -> Result<Value, String> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": tool, "arguments": args, "_meta": meta()}});
    let mut req = http.post(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| format!("answer cut: {e}"))?;
    if !status.is_success() {
        return Err(format!("HTTP {status}: {text}"));
    }
    // An SSE answer: the last `data:` line is the response.
    let line = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or(text.trim());
    let v: Value = serde_json::from_str(line).map_err(|e| format!("{e}: {text}"))?;
    v.get("result")
        .cloned()
        .ok_or_else(|| format!("no result: {v}"))
}

/// [`try_call`], panicking on an HTTP-level failure.
pub async fn call(http: &reqwest::Client, url: &str, tool: &str, args: Value) -> Value {
    try_call(http, url, tool, args)
        .await
        .unwrap_or_else(|e| panic!("{tool} at {url}: {e}"))
}

/// The text of a result's first content block.
pub fn text(r: &Value) -> String {
    r["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Whether a result is a tool error.
pub fn is_error(r: &Value) -> bool {
    r["isError"] == true
}

/// `aerie approvals <args> --socket <socket>`: (success, stdout + stderr).
pub fn approvals_cli(socket: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(aerie())
        .arg("approvals")
        .args(args)
        .arg("--socket")
        .arg(socket)
        .env("HOME", "/nonexistent")
        .output()
        .unwrap();
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), s)
}

/// Requests for `operation` the simulator received.
pub fn count(sim: &falcon_sim::Simulator, operation: &str) -> usize {
    crate::support::count_op(sim, operation)
}
