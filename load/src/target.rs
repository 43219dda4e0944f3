//! The servers under load: how each is started, connected to with rmcp's client, and stopped.
//! Every server runs in its own process group so a wrapper's children are measured and killed
//! with it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use rmcp::service::RunningService;
use rmcp::transport::{ConfigureCommandExt, StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Map, Value};
use tokio::process::Command;

use crate::cli::Transport;
use crate::sim::{CLIENT_ID, CLIENT_SECRET};

/// One server to measure and the search call that stands for its workload.
#[derive(Clone, Debug)]
pub struct Target {
    /// Label in the report.
    pub name: String,
    /// Program and arguments.
    pub program: PathBuf,
    /// Arguments (for HTTP, `--port N` is appended at each start).
    pub args: Vec<String>,
    /// How the client reaches it.
    pub transport: Transport,
    /// The search tool.
    pub tool: String,
    /// Its arguments.
    pub tool_args: Map<String, Value>,
    /// A `--compare` server (not aerie).
    pub compared: bool,
}

/// A started server with a connected client.
pub struct Running {
    /// The MCP client session.
    pub client: RunningService<RoleClient, ()>,
    /// The server's pid (the root of its process tree).
    pub pid: u32,
    /// Held for HTTP servers (stdio ones are owned by the client's transport).
    _http_child: Option<tokio::process::Child>,
}

impl Target {
    /// The command line as the report shows it.
    pub fn command_line(&self) -> String {
        std::iter::once(self.program.display().to_string())
            .chain(self.args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Spawn the server pointed at `sim_url` and connect; its stderr goes to `log`.
    pub async fn start(&self, sim_url: &str, log: &Path) -> anyhow::Result<Running> {
        let stderr =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let configure = |c: &mut Command| {
            c.env("FALCON_CLIENT_ID", CLIENT_ID)
                .env("FALCON_CLIENT_SECRET", CLIENT_SECRET)
                .env("FALCON_BASE_URL", sim_url)
                .env_remove("FALCON_MEMBER_CID")
                .env_remove("AERIE_API_KEYS")
                .process_group(0)
                .kill_on_drop(true);
        };
        let not_found = || {
            format!(
                "starting {} (build it, or point --aerie / --compare at it)",
                self.program.display()
            )
        };
        match self.transport {
            Transport::Stdio => {
                let cmd = Command::new(&self.program).configure(|c| {
                    c.args(&self.args);
                    configure(c);
                });
                let (transport, _) = TokioChildProcess::builder(cmd)
                    .stderr(Stdio::from(stderr))
                    .spawn()
                    .with_context(not_found)?;
                let pid = transport.id().context("the server exited at once")?;
                let client = ().serve(transport).await.with_context(|| {
                    format!(
                        "MCP initialize with {} failed; see {}",
                        self.name,
                        log.display()
                    )
                })?;
                Ok(Running {
                    client,
                    pid,
                    _http_child: None,
                })
            }
            Transport::Http => {
                let port = free_port()?;
                let mut cmd = Command::new(&self.program);
                cmd.args(&self.args)
                    .args(["--port", &port.to_string()])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(stderr);
                configure(&mut cmd);
                let mut child = cmd.spawn().with_context(not_found)?;
                let pid = child.id().context("the server exited at once")?;
                wait_healthy(port, &mut child, log).await?;
                let url = format!("http://127.0.0.1:{port}/mcp");
                let client = ()
                    .serve(StreamableHttpClientTransport::from_uri(url.as_str()))
                    .await
                    .with_context(|| format!("MCP initialize at {url} failed"))?;
                Ok(Running {
                    client,
                    pid,
                    _http_child: Some(child),
                })
            }
        }
    }
}

impl Running {
    /// End the session and kill the server's process group.
    pub async fn stop(self) {
        // The group is killed while its leader is still ours (not yet reaped), so the id
        // cannot name anyone else's processes.
        // SAFETY: kill(2) with a negative pid signals that process group only.
        unsafe { libc::kill(-(self.pid as i32), libc::SIGKILL) };
        let _ = self.client.cancel().await;
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Poll `/healthz` until it answers; the caller's start-up cap bounds the wait.
async fn wait_healthy(
    port: u16,
    child: &mut tokio::process::Child,
    log: &Path,
) -> anyhow::Result<()> {
    let url = format!("http://127.0.0.1:{port}/healthz");
    let probe = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(2))
        .build()?;
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            bail!(
                "the server exited ({status}) before serving; see {}",
                log.display()
            );
        }
        if probe
            .get(&url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(600) {
            bail!("{url} never answered");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
