//! CPU time and resident memory of a server's process tree, read from `/proc`, so the client's
//! own work (this process) never counts.

use std::collections::HashMap;
use std::fs;

use anyhow::Context as _;

/// What a process tree has used so far.
#[derive(Copy, Clone, Debug, Default)]
pub struct Usage {
    /// utime + stime of every live process in the tree, plus cutime + cstime (the children it
    /// has already reaped), in milliseconds.
    pub cpu_ms: f64,
    /// Sum of VmRSS over the tree, in KiB.
    pub rss_kib: u64,
    /// Processes in the tree.
    pub processes: usize,
}

/// One line of `/proc/PID/stat`: parent and CPU ticks.
struct Stat {
    ppid: u32,
    ticks: u64,
}

fn stat(pid: u32) -> Option<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(3) ppid(4) … utime(14) stime(15) cutime(16) cstime(17).
    let field = |n: usize| f.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    Some(Stat {
        ppid: field(4)? as u32,
        ticks: field(14)? + field(15)? + field(16)? + field(17)?,
    })
}

fn rss_kib(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Usage of `root` and all its descendants now.
pub fn tree(root: u32) -> anyhow::Result<Usage> {
    let root_stat = stat(root).with_context(|| format!("server process {root} is gone"))?;
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for entry in fs::read_dir("/proc").context("reading /proc")? {
        let Some(pid) = entry
            .ok()
            .and_then(|e| e.file_name().to_str()?.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(s) = stat(pid) {
            children.entry(s.ppid).or_default().push(pid);
        }
    }
    let tick_ms = 1000.0 / clock_ticks_per_sec();
    let mut usage = Usage {
        cpu_ms: root_stat.ticks as f64 * tick_ms,
        rss_kib: rss_kib(root),
        processes: 1,
    };
    let mut stack = children.remove(&root).unwrap_or_default();
    while let Some(pid) = stack.pop() {
        if let Some(s) = stat(pid) {
            usage.cpu_ms += s.ticks as f64 * tick_ms;
            usage.rss_kib += rss_kib(pid);
            usage.processes += 1;
        }
        stack.extend(children.remove(&pid).unwrap_or_default());
    }
    Ok(usage)
}

fn clock_ticks_per_sec() -> f64 {
    // SAFETY: sysconf only reads a system constant.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_has_cpu_and_memory() {
        let mut x = 0u64;
        for i in 0..30_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert_ne!(x, 1);
        let u = tree(std::process::id()).unwrap();
        assert!(u.cpu_ms > 0.0 && u.rss_kib > 0 && u.processes >= 1, "{u:?}");
    }

    #[test]
    fn a_gone_process_is_an_error() {
        assert!(tree(u32::MAX - 1).is_err());
    }
}
