//! `aerie demo`: the built-in Falcon simulator on an ephemeral loopback port, aerie pointed at
//! it with demo credentials, served over stdio or HTTP. Anyone can try the whole product
//! without a tenant.

use crate::auth::{CredentialSource, Credentials, Secret};
use crate::mcp::http::HttpOptions;
use crate::server::{self, Options};

/// The simulator's demo API client at `base_url`.
pub fn simulator_credentials(base_url: &str) -> anyhow::Result<Credentials> {
    CredentialSource {
        client_id: Some(falcon_sim::DEMO_CLIENT_ID.into()),
        client_secret: Some(Secret::new(falcon_sim::DEMO_CLIENT_SECRET)),
        base_url: Some(base_url.to_string()),
        member_cid: None,
    }
    .resolve()
    .map_err(anyhow::Error::msg)?
    .ok_or_else(|| anyhow::anyhow!("demo credentials are incomplete"))
}

/// Run the demo until shutdown.
pub async fn run(seed: u64, mut opts: Options, http: Option<HttpOptions>) -> anyhow::Result<()> {
    let config = falcon_sim::SimConfig {
        seed,
        ..Default::default()
    };
    let sim = falcon_sim::Simulator::start(config).await?;
    let base = sim.base_url();
    opts.credentials = Some(simulator_credentials(&base)?);
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "aerie".into());
    eprintln!(
        "aerie demo: simulated Falcon tenant (seed {seed}) at {base}; nothing leaves this machine."
    );
    match &http {
        Some(h) => eprintln!(
            "aerie demo: MCP over HTTP at http://{}/mcp\n  Claude Code:     claude mcp add --transport http aerie http://{}/mcp\n  MCP Inspector:   npx @modelcontextprotocol/inspector  (Transport: Streamable HTTP, URL above)",
            h.addr, h.addr
        ),
        None => eprintln!(
            "aerie demo: MCP over stdio. Connect a client by running this command:\n  Claude Code:     claude mcp add aerie -- {exe} demo\n  Claude Desktop:  add {{\"mcpServers\": {{\"aerie\": {{\"command\": \"{exe}\", \"args\": [\"demo\"]}}}}}} to claude_desktop_config.json\n  MCP Inspector:   npx @modelcontextprotocol/inspector {exe} demo"
        ),
    }
    if opts.allow_writes {
        eprintln!("aerie demo: writes are enabled (they change only the simulated tenant).");
    } else {
        eprintln!(
            "aerie demo: read-only; add --allow-writes to try containment, status changes and IOCs."
        );
    }
    let shutdown = server::shutdown_signal();
    let Some(app) = server::build_or_stop(opts, &shutdown).await? else {
        sim.shutdown().await;
        return Ok(());
    };
    let result = match http {
        Some(h) => server::serve_http(app, h, shutdown).await,
        None => server::serve_stdio(app, shutdown).await,
    };
    sim.shutdown().await;
    result
}
