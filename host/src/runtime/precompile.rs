//! Compiling plugins' code ahead of its first call. A server starts from descriptions (built into
//! the binary, or cached) and compiles nothing; once it serves, it fills the compile cache with
//! the embedded plugins' code in a child process at low priority (the hidden `aerie plugins
//! precompile-embedded`), so the compiler's memory (its heap, and the pages of the binary that
//! hold Cranelift) is never the server's, and a first call maps an artefact instead of waiting
//! for Cranelift. `aerie plugins compile` does it in-process, at once.

use std::process::Stdio;
use std::time::Instant;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::{Code, Runtime};

/// What a precompile did.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Precompiled {
    /// Compiled now.
    pub compiled: usize,
    /// Already in the cache (or compiled when loaded: directory plugins described at load).
    pub present: usize,
    /// (digest, error) of those that failed to compile; they compile at their first call,
    /// which reports the error.
    pub failed: Vec<(String, String)>,
}

impl Precompiled {
    fn add(&mut self, digest: &str, outcome: anyhow::Result<bool>) {
        match outcome {
            Ok(true) => self.compiled += 1,
            Ok(false) => self.present += 1,
            Err(e) => self.failed.push((digest.to_string(), format!("{e:#}"))),
        }
    }
}

impl Runtime {
    /// Compile into the compile cache every one of `codes` that is neither loaded nor cached,
    /// without loading it. `None` without a cache.
    pub fn precompile(&self, codes: &[&Code]) -> Option<Precompiled> {
        let cache = self.cache.as_ref()?;
        let mut done = Precompiled::default();
        for code in codes {
            if code.compiled.initialized() {
                done.present += 1;
            } else {
                let outcome = cache.precompile(&self.engine, &code.digest, &code.bytes);
                done.add(&code.digest, outcome);
            }
        }
        Some(done)
    }

    /// Compile the embedded plugins with these SHA-256 digests into the cache: the child
    /// process's side of [`Runtime::precompile_in_background`].
    pub fn precompile_embedded(&self, digests: &[String]) -> anyhow::Result<Precompiled> {
        let cache = self
            .cache
            .as_ref()
            .context("the compile cache could not be opened")?;
        let mut done = Precompiled::default();
        for digest in digests {
            let (_, bytes, ..) = crate::embedded::PLUGINS
                .iter()
                .find(|(_, _, d, _)| d == digest)
                .with_context(|| format!("no embedded plugin has the digest {digest}"))?;
            done.add(digest, cache.precompile(&self.engine, digest, bytes));
        }
        Ok(done)
    }

    /// Start compiling, in a child process at low priority, the code of those of `codes` that
    /// are embedded, not loaded and not in the cache. Directory plugins are left to their first
    /// call (they are compiled at load unless the cache described them). Nothing without a
    /// cache. Must run inside the tokio runtime.
    pub fn precompile_in_background(&self, codes: &[&Code]) {
        let Some(cache) = &self.cache else {
            return;
        };
        let digests: Vec<String> = codes
            .iter()
            .filter(|c| !c.compiled.initialized() && !cache.has(&c.digest))
            .filter(|c| {
                crate::embedded::PLUGINS
                    .iter()
                    .any(|(_, _, d, _)| *d == c.digest)
            })
            .map(|c| c.digest.clone())
            .collect();
        if digests.is_empty() {
            return;
        }
        let exe = match std::env::current_exe() {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "no background compilation; plugins compile at their first call");
                return;
            }
        };
        let mut cmd = tokio::process::Command::new(exe);
        cmd.args(["plugins", "precompile-embedded", "--cache-dir"])
            .arg(cache.dir())
            .args(&digests)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        // SAFETY: `child_setup` makes only async-signal-safe system calls.
        unsafe {
            cmd.pre_exec(child_setup);
        }
        let started = Instant::now();
        let child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "no background compilation; plugins compile at their first call");
                return;
            }
        };
        tokio::spawn(async move {
            let out = child.wait_with_output().await;
            let done = out.as_ref().ok().and_then(|o| {
                o.status
                    .success()
                    .then(|| serde_json::from_slice::<Precompiled>(&o.stdout).ok())
                    .flatten()
            });
            let ms = started.elapsed().as_millis() as u64;
            match done {
                Some(d) => {
                    tracing::info!(
                        compiled = d.compiled,
                        present = d.present,
                        ms,
                        "embedded plugins compiled into the cache in the background"
                    );
                    for (digest, error) in d.failed {
                        tracing::warn!(digest = %&digest[..16], %error, "plugin not precompiled; it compiles at its first call");
                    }
                }
                None => tracing::warn!(
                    outcome = ?out.map(|o| o.status),
                    "background compilation failed; plugins compile at their first call"
                ),
            }
        });
    }
}

/// In the child before `exec`: die with the server (a killed server leaves no compiler behind)
/// and run niced, so compiling yields the cores to calls.
fn child_setup() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    // SAFETY: `prctl(PR_SET_PDEATHSIG)` and `setpriority` are plain system calls, safe between
    // fork and exec; a failure only leaves the default.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
    Ok(())
}
