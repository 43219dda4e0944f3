//! Command-line flags: what to run, how much load, and the time caps that keep a run bounded.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Parser, ValueEnum};
use serde_json::{Map, Value};

/// Drive the real `aerie` binary against `falcon-sim` and print server CPU per search call,
/// latency, throughput, idle RSS, start-up time and `tools/list` size; with `--compare`, run
/// the same workload against other stdio MCP servers and print the ratio.
#[derive(Parser, Debug, Clone)]
#[command(name = "aerie-load", version, about)]
pub struct Args {
    /// The aerie binary under test.
    #[arg(long, default_value = "target/release/aerie")]
    pub aerie: PathBuf,
    /// Extra argument for `aerie serve` (repeatable), e.g. `--aerie-arg=--modules=hosts`.
    #[arg(long = "aerie-arg", allow_hyphen_values = true)]
    pub aerie_args: Vec<String>,
    /// Transports to drive aerie over, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "stdio")]
    pub transport: Vec<Transport>,
    /// Search tool called on aerie.
    #[arg(long, default_value = "hosts_search")]
    pub tool: String,
    /// Its arguments (a JSON object).
    #[arg(long, default_value = r#"{"limit": 10}"#)]
    pub args: String,
    /// Another stdio MCP server to run side by side, as `PROGRAM ARG…` split on whitespace
    /// (repeatable). It gets FALCON_CLIENT_ID/SECRET/BASE_URL for the same simulator.
    #[arg(long)]
    pub compare: Vec<String>,
    /// Its equivalent search tool: once for all `--compare`, or once per `--compare` in order.
    #[arg(long = "compare-tool", default_value = "falcon_search_hosts")]
    pub compare_tool: Vec<String>,
    /// That tool's arguments (a JSON object): once for all, or once per `--compare`.
    #[arg(long = "compare-args", default_value = r#"{"limit": 10}"#)]
    pub compare_args: Vec<String>,
    /// Run everything (simulator, servers, this tool) in a new network namespace holding only
    /// loopback, so nothing can leave the machine. The default with `--compare`.
    #[arg(long, conflicts_with = "no_isolate")]
    pub isolate: bool,
    /// Do not isolate, even with `--compare`.
    #[arg(long)]
    pub no_isolate: bool,
    /// The falcon-sim binary started on a loopback port (unless `--sim-url`).
    #[arg(long, default_value = "target/release/falcon-sim")]
    pub sim: PathBuf,
    /// Use a running simulator instead of starting one (loopback only; not with isolation).
    #[arg(long)]
    pub sim_url: Option<String>,
    /// Upstream latency for the latency and throughput phases, in milliseconds.
    #[arg(long, default_value_t = 20)]
    pub latency_ms: u64,
    /// Start-ups timed to the first `tools/list` (after one untimed warm-up start).
    #[arg(long, default_value_t = 5)]
    pub starts: usize,
    /// Untimed calls before measuring (token, connections, caches of the server's own).
    #[arg(long, default_value_t = 5)]
    pub warmup_calls: usize,
    /// Sequential calls at 0 ms upstream for server CPU per call.
    #[arg(long, default_value_t = 200)]
    pub cpu_calls: usize,
    /// Sequential calls at `--latency-ms` for p50/p99.
    #[arg(long, default_value_t = 100)]
    pub latency_calls: usize,
    /// Calls at `--latency-ms` with `--in-flight` at once, for throughput.
    #[arg(long, default_value_t = 400)]
    pub throughput_calls: usize,
    /// Calls in flight in the throughput phase.
    #[arg(long, default_value_t = 8)]
    pub in_flight: usize,
    /// Wait after the first `tools/list` before reading idle RSS, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub settle_ms: u64,
    /// Cap on one start-up (spawn to the first `tools/list`), in seconds.
    #[arg(long, default_value_t = 60)]
    pub start_timeout: u64,
    /// Cap on one tool call, in seconds.
    #[arg(long, default_value_t = 30)]
    pub call_timeout: u64,
    /// Cap on each measuring phase as a whole, in seconds.
    #[arg(long, default_value_t = 300)]
    pub phase_timeout: u64,
    /// Also time the search's two upstream requests sent straight from this tool, with no MCP
    /// server: the floor the simulator and this machine allow.
    #[arg(long)]
    pub baseline: bool,
    /// Print the figures as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// How aerie is reached.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Transport {
    /// `aerie serve` over stdin/stdout.
    Stdio,
    /// `aerie serve --transport http` on a loopback port.
    Http,
}

/// Time caps for every phase.
#[derive(Copy, Clone, Debug)]
pub struct Caps {
    /// One start-up.
    pub start: Duration,
    /// One call.
    pub call: Duration,
    /// One measuring phase.
    pub phase: Duration,
}

impl Args {
    /// Whether the run goes into its own network namespace.
    pub fn isolated(&self) -> bool {
        self.isolate || (!self.compare.is_empty() && !self.no_isolate)
    }

    /// The time caps.
    pub fn caps(&self) -> Caps {
        Caps {
            start: Duration::from_secs(self.start_timeout),
            call: Duration::from_secs(self.call_timeout),
            phase: Duration::from_secs(self.phase_timeout),
        }
    }

    /// Checks that need no I/O: counts, JSON arguments, `--compare-*` arity.
    pub fn validate(&self) -> anyhow::Result<()> {
        for (flag, n) in [
            ("--cpu-calls", self.cpu_calls),
            ("--latency-calls", self.latency_calls),
            ("--throughput-calls", self.throughput_calls),
            ("--in-flight", self.in_flight),
            ("--starts", self.starts),
        ] {
            if n == 0 {
                bail!("{flag} must be at least 1");
            }
        }
        if self.latency_ms == 0 {
            bail!("--latency-ms must be at least 1 (the CPU phase already runs at 0 ms)");
        }
        json_object("--args", &self.args)?;
        for (flag, list) in [
            ("--compare-tool", &self.compare_tool),
            ("--compare-args", &self.compare_args),
        ] {
            if list.len() != 1 && list.len() != self.compare.len() {
                bail!(
                    "{flag} given {} times for {} --compare: give it once, or once per --compare",
                    list.len(),
                    self.compare.len()
                );
            }
        }
        for a in &self.compare_args {
            json_object("--compare-args", a)?;
        }
        if self
            .compare
            .iter()
            .any(|c| c.split_whitespace().next().is_none())
        {
            bail!("--compare needs a command, e.g. --compare 'falcon-mcp --modules hosts'");
        }
        if let Some(url) = &self.sim_url {
            let host = url
                .strip_prefix("http://")
                .and_then(|r| r.split(['/', ':']).next())
                .unwrap_or_default();
            let loopback = host == "localhost"
                || host
                    .parse::<std::net::Ipv4Addr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if !loopback {
                bail!("--sim-url must be http:// on a loopback address, got {url}");
            }
        }
        if self.sim_url.is_some() && self.isolated() {
            bail!(
                "--sim-url cannot be reached from an isolated run (its network namespace holds \
                 only its own loopback): drop --sim-url, or pass --no-isolate"
            );
        }
        Ok(())
    }

    /// Tool name and arguments for the `i`-th `--compare`.
    pub fn compare_call(&self, i: usize) -> anyhow::Result<(String, Map<String, Value>)> {
        let pick = |list: &[String]| list.get(i).or(list.first()).cloned().unwrap_or_default();
        let args = json_object("--compare-args", &pick(&self.compare_args))?;
        Ok((pick(&self.compare_tool), args))
    }
}

/// Parse a flag's value as a JSON object.
pub fn json_object(flag: &str, text: &str) -> anyhow::Result<Map<String, Value>> {
    match serde_json::from_str(text).with_context(|| format!("{flag} is not JSON: {text}"))? {
        Value::Object(m) => Ok(m),
        other => bail!("{flag} must be a JSON object, got {other}"),
    }
}
