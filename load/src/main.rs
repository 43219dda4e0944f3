//! `aerie-load`: drives the real `aerie` binary (and, side by side, any other stdio MCP server)
//! against `falcon-sim` and prints server CPU per search call, latency, throughput, idle RSS,
//! start-up time and `tools/list` size. See BENCHMARKS.md, "Load tool and side by side".

mod cli;
mod isolate;
mod procfs;
mod report;
mod sim;
mod target;
mod workload;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Parser as _;
use serde_json::json;

use cli::{Args, Transport};
use sim::Sim;
use target::Target;

/// How long the simulator may take to generate its tenant and bind (a debug build under load
/// takes seconds).
const SIM_START_CAP: std::time::Duration = std::time::Duration::from_secs(60);

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(e) = args.validate() {
        eprintln!("aerie-load: {e:#}");
        return ExitCode::from(2);
    }
    if args.isolated() && !isolate::inside() {
        return match isolate::reexec() {
            Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
            Err(e) => {
                eprintln!("aerie-load: {e:#}");
                ExitCode::from(2)
            }
        };
    }
    // Logs and aerie's config live here; removed after a successful run, kept after a failure.
    let work = std::env::temp_dir().join(format!("aerie-load-{}", std::process::id()));
    let result = tokio::runtime::Runtime::new()
        .context("starting the tokio runtime")
        .and_then(|rt| rt.block_on(run(&args, &work)));
    match result {
        Ok(()) => {
            let _ = std::fs::remove_dir_all(&work);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("aerie-load: {e:#}");
            if work.exists() {
                eprintln!("aerie-load: logs kept in {}", work.display());
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args, work: &Path) -> anyhow::Result<()> {
    let network = if args.isolated() {
        isolate::prepare()?
    } else {
        "not isolated: the servers share this machine's network".to_string()
    };
    std::fs::create_dir_all(work).with_context(|| format!("creating {}", work.display()))?;
    let sim = match &args.sim_url {
        Some(url) => Sim::external(url).await?,
        None => Sim::start(&args.sim, &work.join("falcon-sim.log"), SIM_START_CAP).await?,
    };
    let (_, region) = sim.token().await?;
    if let (Some(r), false) = (&region, args.compare.is_empty()) {
        bail!(
            "the simulator sends X-CS-Region: {r}; FalconPy-based servers follow it to the real \
             cloud. Start it with `falcon-sim --no-region-header`, or drop --sim-url"
        );
    }
    let targets = targets(args, work)?;
    warm_compile_cache(args, work).await?;
    let mut results = Vec::with_capacity(targets.len());
    for (i, t) in targets.iter().enumerate() {
        eprintln!(
            "aerie-load: measuring {} ({}/{})",
            t.name,
            i + 1,
            targets.len()
        );
        results.push(workload::measure(t, &sim, args, work).await?);
    }
    if args.baseline {
        eprintln!("aerie-load: measuring the same requests with no MCP server");
        results.push(workload::direct(&sim, args).await?);
    }
    let report = json!({
        "network": network,
        "isolated": args.isolated(),
        "simulator": sim.base_url,
        "config": {
            "region_header": region.is_some(),
            "latency_ms": args.latency_ms,
            "in_flight": args.in_flight,
            "starts": args.starts,
            "warmup_calls": args.warmup_calls,
        },
        "targets": results,
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report::table(&report));
    }
    Ok(())
}

/// Fill aerie's compile cache before measuring (`aerie plugins compile`, same config and
/// arguments): the figures are for a warm cache, and a server started on a cold one would
/// compile in a background child process during the measurement (its CPU and memory counted
/// in the server's process tree). Bounded by the start-up cap.
async fn warm_compile_cache(args: &Args, work: &Path) -> anyhow::Result<()> {
    let config = path_str(&work.join("aerie.toml"));
    let cap = args.caps().start;
    let compile = tokio::process::Command::new(&args.aerie)
        .args(["plugins", "compile", "--config", &config])
        .args(&args.aerie_args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(cap, compile)
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "filling aerie's compile cache (`plugins compile`) did not finish within {cap:?}                  (--start-timeout); the server may be hung"
            )
        })?
        .with_context(|| format!("running {} plugins compile", args.aerie.display()))?;
    if !out.status.success() {
        bail!(
            "`{} plugins compile` failed (is every --aerie-arg a plugin-loading option?): {}",
            args.aerie.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    eprintln!(
        "aerie-load: compile cache: {}",
        String::from_utf8_lossy(&out.stdout).trim()
    );
    Ok(())
}

/// aerie once per transport, then every `--compare` (stdio).
fn targets(args: &Args, work: &Path) -> anyhow::Result<Vec<Target>> {
    let config = work.join("aerie.toml");
    // The client-side limits lifted (to the most aerie accepts), the result cache off so every
    // call reaches the simulator, no approval socket.
    std::fs::write(
        &config,
        "[egress]\nrequests_per_minute = 100000\nplugin_requests_per_minute = 100000\n\n\
         [cache]\nttl_secs = 0\n\n[approvals]\nmode = \"off\"\n",
    )
    .with_context(|| format!("writing {}", config.display()))?;
    let tool_args = cli::json_object("--args", &args.args)?;
    let mut out = Vec::new();
    for &transport in &args.transport {
        let mut a: Vec<String> = vec!["serve".into(), "--config".into(), path_str(&config)];
        if transport == Transport::Http {
            a.extend(["--transport", "http", "--host", "127.0.0.1"].map(String::from));
        }
        a.extend(args.aerie_args.iter().cloned());
        out.push(Target {
            name: format!("aerie ({})", format!("{transport:?}").to_lowercase()),
            program: args.aerie.clone(),
            args: a,
            transport,
            tool: args.tool.clone(),
            tool_args: tool_args.clone(),
            compared: false,
        });
    }
    for (i, cmd) in args.compare.iter().enumerate() {
        let mut words = cmd.split_whitespace().map(String::from);
        let program = PathBuf::from(words.next().unwrap_or_default());
        let base = program
            .file_name()
            .map_or("server".into(), |n| n.to_string_lossy().into_owned());
        let (tool, tool_args) = args.compare_call(i)?;
        out.push(Target {
            name: if args.compare.len() > 1 {
                format!("{base} #{}", i + 1)
            } else {
                base
            },
            program,
            args: words.collect(),
            transport: Transport::Stdio,
            tool,
            tool_args,
            compared: true,
        });
    }
    Ok(out)
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}
