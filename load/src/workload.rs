//! The workload, the same for every server: timed start-ups, idle memory, then search calls in
//! three phases (CPU at 0 ms upstream, latency and throughput at `--latency-ms`). Every phase is
//! bounded by a count and a time cap.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use rmcp::RoleClient;
use rmcp::model::CallToolRequestParams;
use rmcp::service::Peer;
use serde_json::{Value, json};

use crate::cli::{Args, Caps};
use crate::procfs;
use crate::sim::Sim;
use crate::target::{Running, Target};

/// Everything measured for one server, as JSON (the table is printed from it).
pub async fn measure(t: &Target, sim: &Sim, a: &Args, work: &Path) -> anyhow::Result<Value> {
    let caps = a.caps();
    sim.set_latency(0).await?;
    let log = work.join(format!("{}.stderr.log", slug(&t.name)));
    let (startup, tools) = startups(t, sim, a, caps, &log).await?;

    let server = within(caps.start, "start-up", start_listed(t, sim, &log)).await?;
    let r = phases(t, sim, a, caps, &server).await;
    server.stop().await;
    let (idle_rss_kib, cpu, latency, throughput) =
        r.with_context(|| format!("{} (server log: {})", t.name, log.display()))?;
    Ok(json!({
        "name": t.name,
        "command": t.command_line(),
        "transport": format!("{:?}", t.transport).to_lowercase(),
        "tool": t.tool,
        "tool_args": t.tool_args,
        "compared": t.compared,
        "startup": startup,
        "tools": tools,
        "idle_rss_mib": idle_rss_kib as f64 / 1024.0,
        "cpu": cpu,
        "latency": latency,
        "throughput": throughput,
    }))
}

/// Phases on one running server: idle RSS, warm-up, CPU, latency, throughput.
async fn phases(
    t: &Target,
    sim: &Sim,
    a: &Args,
    caps: Caps,
    server: &Running,
) -> anyhow::Result<(u64, Value, Value, Value)> {
    tokio::time::sleep(Duration::from_millis(a.settle_ms)).await;
    let idle = procfs::tree(server.pid)?;
    let peer = server.client.peer().clone();
    let caller = Caller {
        peer,
        tool: t.tool.clone(),
        args: t.tool_args.clone(),
        cap: caps.call,
    };
    within(caps.phase, "warm-up", async {
        for _ in 0..a.warmup_calls {
            caller.call().await?;
        }
        Ok(())
    })
    .await?;

    // CPU at 0 ms upstream: the server's own cost per call, upstream waiting excluded.
    sim.clear_requests().await?;
    let before = procfs::tree(server.pid)?;
    let start = Instant::now();
    within(caps.phase, "CPU", async {
        for _ in 0..a.cpu_calls {
            caller.call().await?;
        }
        Ok(())
    })
    .await?;
    let wall = start.elapsed();
    let after = procfs::tree(server.pid)?;
    let upstream = sim.api_requests().await?;
    let n = a.cpu_calls as f64;
    let cpu = json!({
        "calls": a.cpu_calls,
        "cpu_ms_per_call": (after.cpu_ms - before.cpu_ms) / n,
        "wall_ms_per_call": ms(wall) / n,
        "upstream_requests_per_call": upstream as f64 / n,
        "processes": after.processes,
    });

    let (latency, throughput) = latency_and_throughput(&caller, sim, a, caps).await?;
    Ok((idle.rss_kib, cpu, latency, throughput))
}

/// The latency phase (sequential calls) and the throughput phase (`--in-flight` at once), both
/// at `--latency-ms` upstream.
async fn latency_and_throughput(
    search: &impl Search,
    sim: &Sim,
    a: &Args,
    caps: Caps,
) -> anyhow::Result<(Value, Value)> {
    sim.set_latency(a.latency_ms).await?;
    let mut samples = within(caps.phase, "latency", async {
        let mut s = Vec::with_capacity(a.latency_calls);
        for _ in 0..a.latency_calls {
            s.push(search.call().await?);
        }
        Ok(s)
    })
    .await?;
    samples.sort_by(f64::total_cmp);
    let latency = json!({
        "upstream_ms": a.latency_ms,
        "calls": a.latency_calls,
        "p50_ms": percentile(&samples, 50.0),
        "p99_ms": percentile(&samples, 99.0),
    });

    sim.clear_requests().await?;
    let start = Instant::now();
    let run = in_flight(search, a.in_flight, a.throughput_calls);
    within(caps.phase, "throughput", run).await?;
    let wall = start.elapsed().as_secs_f64();
    let upstream = sim.api_requests().await? as f64 / a.throughput_calls as f64;
    sim.set_latency(0).await?;
    // Ideal: every call's upstream round trips back to back, nothing else.
    let ideal = a.in_flight as f64 / (upstream.max(1.0) * a.latency_ms as f64 / 1000.0);
    let rate = a.throughput_calls as f64 / wall;
    let throughput = json!({
        "upstream_ms": a.latency_ms,
        "in_flight": a.in_flight,
        "calls": a.throughput_calls,
        "calls_per_s": rate,
        "ideal_calls_per_s": ideal,
        "percent_of_ideal": 100.0 * rate / ideal,
        "upstream_requests_per_call": upstream,
    });
    Ok((latency, throughput))
}

/// The search's upstream requests sent from here, with no MCP server: latency and throughput
/// only (there is no server process to measure).
pub async fn direct(sim: &Sim, a: &Args) -> anyhow::Result<Value> {
    let (token, _) = sim.token().await?;
    let args = crate::cli::json_object("--args", &a.args)?;
    let limit = args.get("limit").and_then(Value::as_u64).unwrap_or(10);
    let direct = Direct {
        sim: sim.clone(),
        token: Arc::from(token),
        limit,
        cap: a.caps().call,
    };
    for _ in 0..a.warmup_calls {
        direct.call().await?;
    }
    let (latency, throughput) = latency_and_throughput(&direct, sim, a, a.caps()).await?;
    Ok(json!({
        "name": "no server",
        "command": "this tool: QueryDevicesByFilter + PostDeviceDetailsV2 over one reqwest client",
        "transport": "http",
        "tool": "-",
        "tool_args": {"limit": limit},
        "compared": false,
        "latency": latency,
        "throughput": throughput,
    }))
}

/// Timed start-ups (spawn → first `tools/list` answered) after one untimed warm-up start, and
/// the size of that `tools/list`.
async fn startups(
    t: &Target,
    sim: &Sim,
    a: &Args,
    caps: Caps,
    log: &Path,
) -> anyhow::Result<(Value, Value)> {
    let mut times = Vec::with_capacity(a.starts);
    let mut tools = Value::Null;
    for i in 0..=a.starts {
        let start = Instant::now();
        let server = within(caps.start, "start-up", start_listed(t, sim, log)).await?;
        let elapsed = ms(start.elapsed());
        let listed = within(caps.call, "tools/list", list_tools(&server, &t.tool)).await;
        server.stop().await;
        tools = listed?;
        if i > 0 {
            times.push(elapsed);
        }
    }
    times.sort_by(f64::total_cmp);
    let startup = json!({
        "runs": times.len(),
        "median_ms": percentile(&times, 50.0),
        "min_ms": times[0],
        "max_ms": times[times.len() - 1],
    });
    Ok((startup, tools))
}

/// Start the server and wait for its first `tools/list`.
async fn start_listed(t: &Target, sim: &Sim, log: &Path) -> anyhow::Result<Running> {
    let server = t.start(&sim.base_url, log).await?;
    if let Err(e) = server.client.list_all_tools().await {
        server.stop().await;
        bail!("tools/list failed: {e}; see {}", log.display());
    }
    Ok(server)
}

/// `tools/list` size, and a check that the search tool is there.
async fn list_tools(server: &Running, tool: &str) -> anyhow::Result<Value> {
    let tools = server.client.list_all_tools().await?;
    if !tools.iter().any(|x| x.name == tool) {
        let mut names: Vec<&str> = tools.iter().map(|x| x.name.as_ref()).collect();
        names.sort();
        bail!(
            "the server lists no tool `{tool}`; it lists: {}",
            names.join(", ")
        );
    }
    let bytes = serde_json::to_vec(&tools)?.len();
    let without: usize = tools
        .iter()
        .map(|x| {
            let mut x = x.clone();
            x.output_schema = None;
            serde_json::to_vec(&x).map(|v| v.len())
        })
        .sum::<Result<_, _>>()?;
    let n = tools.len().max(1) as f64;
    Ok(json!({
        "count": tools.len(),
        "list_bytes": bytes,
        "bytes_per_tool": bytes as f64 / n,
        "bytes_per_tool_without_output_schema": without as f64 / n,
    }))
}

/// Calls the search tool, each within the per-call cap; a tool error ends the run.
#[derive(Clone)]
struct Caller {
    peer: Peer<RoleClient>,
    tool: String,
    args: serde_json::Map<String, Value>,
    cap: Duration,
}

/// One search call, however it is made; its latency in milliseconds.
trait Search: Clone + Send + Sync + 'static {
    fn call(&self) -> impl Future<Output = anyhow::Result<f64>> + Send;
}

impl Search for Caller {
    async fn call(&self) -> anyhow::Result<f64> {
        let start = Instant::now();
        let params =
            CallToolRequestParams::new(self.tool.clone()).with_arguments(self.args.clone());
        let r = tokio::time::timeout(self.cap, self.peer.call_tool(params))
            .await
            .with_context(|| format!("a {} call got no answer within {:?}", self.tool, self.cap))?
            .with_context(|| format!("{} failed at the protocol level", self.tool))?;
        if r.is_error == Some(true) {
            let text = r
                .content
                .first()
                .and_then(|c| c.as_text())
                .map(|t| t.text.clone())
                .unwrap_or_default();
            bail!("{} answered a tool error: {text}", self.tool);
        }
        Ok(ms(start.elapsed()))
    }
}

/// The search's requests sent straight to the simulator.
#[derive(Clone)]
struct Direct {
    sim: Sim,
    token: Arc<str>,
    limit: u64,
    cap: Duration,
}

impl Search for Direct {
    async fn call(&self) -> anyhow::Result<f64> {
        let start = Instant::now();
        tokio::time::timeout(self.cap, self.sim.search_direct(&self.token, self.limit))
            .await
            .with_context(|| format!("the simulator did not answer within {:?}", self.cap))??;
        Ok(ms(start.elapsed()))
    }
}

/// `total` calls, `width` at a time.
async fn in_flight(search: &impl Search, width: usize, total: usize) -> anyhow::Result<()> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..width {
        let (me, next) = (search.clone(), next.clone());
        tasks.spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < total {
                me.call().await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.context("a load task panicked")??;
    }
    Ok(())
}

/// `fut` within `cap`, or an error naming the phase.
async fn within<T>(
    cap: Duration,
    phase: &str,
    fut: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    tokio::time::timeout(cap, fut)
        .await
        .with_context(|| format!("{phase} did not finish within {cap:?}; the server may be hung"))?
        .with_context(|| format!("{phase} phase"))
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A name safe in a file name.
fn slug(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let s: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&s, 50.0), 50.0);
        assert_eq!(percentile(&s, 99.0), 99.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        assert_eq!(percentile(&[1.0, 2.0, 3.0], 50.0), 2.0);
    }
}
