//! Per-plugin resource limits and the memory limiter that enforces them.

use std::time::Duration;

use serde::Deserialize;

/// Limits applied to every call into one plugin. All are configurable per plugin in `aerie.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Linear memory cap, in MiB.
    pub memory_mib: u32,
    /// CPU time a call may spend executing guest code, in milliseconds (epoch-based).
    pub cpu_ms: u64,
    /// Wall-clock deadline of one call, in seconds, including time waiting on Falcon.
    pub deadline_secs: u64,
    /// Calls into this plugin that may run at once; more wait for a slot within their deadline.
    pub concurrency: u32,
    /// Calls of this plugin that may execute guest code at the same moment (a call waiting on
    /// Falcon, a sleep or file I/O does not hold one); `0` = half the CPU cores, at least one.
    /// Keeps one plugin's CPU-bound calls from taking every async worker from the others.
    pub cpu_lanes: u32,
    /// Log lines (`host.log`, stdout, stderr) one call may write; the rest are counted and
    /// reported in one line at the end of the call.
    pub log_lines: u32,
    /// Audit records of each kind (refused requests, files operations) one call may write; the
    /// rest are counted in one summary record at the end of the call.
    pub audit_records: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_mib: 64,
            cpu_ms: 10_000,
            deadline_secs: 60,
            concurrency: 16,
            cpu_lanes: 0,
            log_lines: 1000,
            audit_records: 1000,
        }
    }
}

impl Limits {
    /// Largest memory cap any plugin may be given; the instance pool is sized for it.
    pub const MAX_MEMORY_MIB: u32 = 1024;

    /// The wall-clock deadline.
    pub fn deadline(&self) -> Duration {
        Duration::from_secs(self.deadline_secs)
    }

    /// Check the values are usable, naming the field to fix.
    pub fn validate(&self) -> Result<(), String> {
        if self.memory_mib == 0 || self.memory_mib > Self::MAX_MEMORY_MIB {
            return Err(format!("memory_mib must be 1..={}", Self::MAX_MEMORY_MIB));
        }
        if self.cpu_ms == 0 {
            return Err("cpu_ms must be at least 1".into());
        }
        if self.deadline_secs == 0 || self.deadline_secs > 3600 {
            return Err("deadline_secs must be 1..=3600".into());
        }
        if self.concurrency == 0 || self.concurrency > 256 {
            return Err("concurrency must be 1..=256".into());
        }
        if self.cpu_lanes > 256 {
            return Err("cpu_lanes must be 0 (automatic) or 1..=256".into());
        }
        if self.log_lines > 1_000_000 {
            return Err("log_lines must be 0..=1000000".into());
        }
        if self.audit_records == 0 || self.audit_records > 1_000_000 {
            return Err("audit_records must be 1..=1000000".into());
        }
        Ok(())
    }

    /// The number of CPU lanes: `cpu_lanes`, or half the available cores (at least one).
    pub fn lanes(&self) -> usize {
        match self.cpu_lanes {
            0 => std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
            n => n as usize,
        }
    }
}

/// Enforces the memory cap and remembers whether the guest ran into it, so the tool error can
/// say "memory limit" rather than a bare trap.
pub struct MemoryLimiter {
    max_bytes: usize,
    /// Set when a grow request was refused.
    pub hit: bool,
    /// The largest size a memory grew to (for the metrics).
    pub peak: usize,
}

impl MemoryLimiter {
    /// A limiter allowing `max_bytes` of linear memory per memory.
    pub fn new(max_bytes: usize) -> Self {
        MemoryLimiter {
            max_bytes,
            hit: false,
            peak: 0,
        }
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.hit = true;
            // An error traps the guest at once; a plain `false` would let a Rust guest abort
            // with a less helpful message after its allocator notices.
            wasmtime::bail!("memory limit of {} MiB reached", self.max_bytes >> 20);
        }
        self.peak = self.peak.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}
