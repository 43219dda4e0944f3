//! Loopback-only runs: the whole run (this tool, the simulator, every server) re-executes inside
//! a new network namespace, which holds only its own `lo`. Nothing started there can reach
//! another machine, whatever it is told (FalconPy follows `X-CS-Region` to the real cloud).

use std::process::Command;

use anyhow::{Context as _, bail};

/// Set in the re-executed process, so it knows it is already inside.
const INSIDE: &str = "AERIE_LOAD_INSIDE_NETNS";

/// Whether this process is the one re-executed in the namespace.
pub fn inside() -> bool {
    std::env::var_os(INSIDE).is_some()
}

/// Run this same command line under `unshare --net` and return its exit code.
pub fn reexec() -> anyhow::Result<i32> {
    let exe = std::env::current_exe().context("finding this executable")?;
    let status = Command::new("unshare")
        .args(["--net", "--"])
        .arg(exe)
        .args(std::env::args_os().skip(1))
        .env(INSIDE, "1")
        .status()
        .context("running `unshare --net` (util-linux); pass --no-isolate to run without it")?;
    // A signal-killed child has no code: report it as a failure.
    Ok(status.code().unwrap_or(1))
}

/// Inside the namespace: bring `lo` up, then prove there is nothing but loopback. Returns the
/// proof as a sentence for the report.
pub fn prepare() -> anyhow::Result<String> {
    let out = Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .output()
        .context("running `ip link set lo up` (iproute2)")?;
    if !out.status.success() {
        bail!(
            "`ip link set lo up` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    // /proc/net is the namespace's own view (/sys/class/net would show the mount's).
    let dev = std::fs::read_to_string("/proc/net/dev").context("reading /proc/net/dev")?;
    let mut interfaces: Vec<&str> = dev
        .lines()
        .skip(2)
        .filter_map(|l| Some(l.split(':').next()?.trim()))
        .collect();
    interfaces.sort();
    if interfaces != ["lo"] {
        bail!("the network namespace is not loopback-only: interfaces {interfaces:?}");
    }
    // The main IPv4 table of a fresh namespace is empty (loopback routes live in `local`), and
    // every IPv6 route must go through `lo`.
    let v4 = std::fs::read_to_string("/proc/net/route").context("reading /proc/net/route")?;
    let v4_routes = v4.lines().skip(1).filter(|l| !l.trim().is_empty()).count();
    let v6 = std::fs::read_to_string("/proc/net/ipv6_route").unwrap_or_default();
    let v6_off_lo = v6
        .lines()
        .filter(|l| l.split_whitespace().last().is_some_and(|dev| dev != "lo"))
        .count();
    if v4_routes > 0 || v6_off_lo > 0 {
        bail!("the network namespace has routes off loopback ({v4_routes} IPv4, {v6_off_lo} IPv6)");
    }
    Ok(
        "isolated: own network namespace (unshare --net), interfaces [lo], no route off loopback"
            .to_string(),
    )
}
