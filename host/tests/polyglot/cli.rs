//! The `aerie` CLI as the polyglot tests run it, and plugins directories for its servers.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::aerie;

/// `aerie ARGS` with `envs`, away from the user's home (its config and caches).
pub fn run(args: &[&str], envs: &[(&str, &Path)]) -> Output {
    let mut c = Command::new(aerie());
    c.args(args).env("HOME", "/nonexistent");
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// The stdout of a run that must have succeeded (panics with both streams otherwise).
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into()
}

/// A plugins directory holding `name.wasm` copies of the components.
pub fn dir_with(files: &[(&str, &Path)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, path) in files {
        std::fs::copy(path, dir.path().join(format!("{name}.wasm"))).unwrap();
    }
    dir
}
