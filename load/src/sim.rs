//! The simulator the servers talk to: started here on a loopback port (or given by URL), with
//! its upstream latency set and its request log read over the `/_sim/` admin endpoints.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The demo API client every simulator accepts (see `falcon_sim::DEMO_CLIENT_ID`).
pub const CLIENT_ID: &str = "falconsimdemo0000000000000000000";
/// Its secret.
pub const CLIENT_SECRET: &str = "falcon-sim-demo-secret-not-a-real-secret0";

/// A simulator in use; a started one is killed when the last clone is dropped.
#[derive(Clone)]
pub struct Sim {
    _child: Option<Arc<Child>>,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    http: reqwest::Client,
}

impl Sim {
    /// Start `falcon-sim` on a free loopback port with its rate limit lifted, and without
    /// `X-CS-Region` so no FalconPy-based server is sent to the real cloud.
    pub async fn start(bin: &Path, log: &Path, cap: Duration) -> anyhow::Result<Sim> {
        let mut child = Command::new(bin)
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(["--rate-limit", "1000000000", "--no-region-header"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).context("creating the simulator log")?)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!(
                    "starting {} (build it: cargo build --release -p falcon-sim, or pass --sim)",
                    bin.display()
                )
            })?;
        let stdout = child.stdout.take().context("simulator stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let base_url = tokio::time::timeout(cap, async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = line.strip_prefix("FALCON_BASE_URL=") {
                    return Ok(url.to_string());
                }
            }
            bail!(
                "falcon-sim exited before printing its URL; see {}",
                log.display()
            )
        })
        .await
        .with_context(|| format!("falcon-sim did not start within {cap:?}"))??;
        // Keep reading its stdout so a chatty simulator can never block on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Sim::connect(Some(child), base_url).await
    }

    /// A simulator that is already running at `url` (checked to be loopback by `cli`).
    pub async fn external(url: &str) -> anyhow::Result<Sim> {
        Sim::connect(None, url.trim_end_matches('/').to_string()).await
    }

    async fn connect(child: Option<Child>, base_url: String) -> anyhow::Result<Sim> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let sim = Sim {
            _child: child.map(Arc::new),
            base_url,
            http,
        };
        sim.set_latency(0).await?;
        Ok(sim)
    }

    /// Delay every API response (tokens included) by `ms`.
    pub async fn set_latency(&self, ms: u64) -> anyhow::Result<()> {
        let r = self
            .http
            .post(format!("{}/_sim/faults", self.base_url))
            .json(&json!({ "latency_ms": ms }))
            .send()
            .await
            .with_context(|| format!("setting latency on the simulator at {}", self.base_url))?;
        if !r.status().is_success() {
            bail!("the simulator refused /_sim/faults: {}", r.status());
        }
        Ok(())
    }

    /// Forget the request log.
    pub async fn clear_requests(&self) -> anyhow::Result<()> {
        self.http
            .delete(format!("{}/_sim/requests", self.base_url))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    /// API requests (token requests excluded) since the last [`Sim::clear_requests`].
    pub async fn api_requests(&self) -> anyhow::Result<usize> {
        let log: Value = self
            .http
            .get(format!("{}/_sim/requests", self.base_url))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let all = log.as_array().context("/_sim/requests is not a list")?;
        Ok(all
            .iter()
            .filter(|r| !r["path"].as_str().unwrap_or("").starts_with("/oauth2/"))
            .count())
    }

    /// A bearer token for the demo client, and the response's `X-CS-Region` header if any.
    pub async fn token(&self) -> anyhow::Result<(String, Option<String>)> {
        let r = self
            .http
            .post(format!("{}/oauth2/token", self.base_url))
            .form(&[("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)])
            .send()
            .await
            .context("asking the simulator for a token")?
            .error_for_status()?;
        let region = r
            .headers()
            .get("x-cs-region")
            .map(|v| v.to_str().unwrap_or("?").to_string());
        let body: Value = r.json().await?;
        let token = body["access_token"]
            .as_str()
            .context("no access_token in the simulator's token response")?;
        Ok((token.to_string(), region))
    }

    /// The search every server makes, straight from here with no MCP server in between:
    /// `QueryDevicesByFilter` for `limit` ids, then `PostDeviceDetailsV2` for them.
    pub async fn search_direct(&self, token: &str, limit: u64) -> anyhow::Result<()> {
        let ids: Value = self
            .http
            .get(format!("{}/devices/queries/devices/v1", self.base_url))
            .query(&[("limit", limit)])
            .bearer_auth(token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        self.http
            .post(format!("{}/devices/entities/devices/v2", self.base_url))
            .bearer_auth(token)
            .json(&json!({ "ids": ids["resources"] }))
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        Ok(())
    }
}
