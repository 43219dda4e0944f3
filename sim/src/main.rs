//! `falcon-sim`: serve the simulated Falcon API until Ctrl-C.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use falcon_sim::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, SimConfig, Simulator};

/// A local simulator of the CrowdStrike Falcon REST API.
#[derive(Parser, Debug)]
#[command(name = "falcon-sim", version, about)]
struct Args {
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Address to bind; keep it on loopback.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Tenant seed: the same seed gives the same tenant.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Lifetime of issued tokens in seconds.
    #[arg(long, default_value_t = 1799)]
    token_ttl: u64,
    /// Requests per minute per API client.
    #[arg(long, default_value_t = 6000)]
    rate_limit: u32,
    /// Leave `X-CS-Region` out of responses: FalconPy follows it to the real cloud.
    #[arg(long)]
    no_region_header: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let args = Args::parse();
    let config = SimConfig {
        seed: args.seed,
        token_ttl: Duration::from_secs(args.token_ttl),
        rate_limit_per_minute: args.rate_limit,
        region_header: !args.no_region_header,
        ..SimConfig::default()
    };
    let addr = SocketAddr::new(args.host, args.port);
    let sim = Simulator::start_on(config, addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    println!("falcon-sim listening on {}", sim.base_url());
    println!("FALCON_BASE_URL={}", sim.base_url());
    println!("FALCON_CLIENT_ID={DEMO_CLIENT_ID}");
    println!("FALCON_CLIENT_SECRET={DEMO_CLIENT_SECRET}");
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    sim.shutdown().await;
    Ok(())
}
