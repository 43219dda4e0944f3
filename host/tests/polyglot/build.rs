//! Building Python and JavaScript components once per test run.
//!
//! A build takes 10–25 s and its component about 10 s to compile in a debug host, so both
//! are shared: the component lands in `target/polyglot/<name>-<hash of its inputs>.wasm` (built
//! only when an input changed), and tests use the shared compile cache.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use sha2::{Digest, Sha256};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// SHA-256 over the files under `dirs` (names and contents), in a stable order.
fn inputs_hash(dirs: &[PathBuf]) -> String {
    let mut files = Vec::new();
    for d in dirs {
        collect(d, &mut files);
    }
    files.sort();
    let mut h = Sha256::new();
    for f in files {
        h.update(f.to_string_lossy().as_bytes());
        h.update(std::fs::read(&f).unwrap());
    }
    hex::encode(&h.finalize()[..8])
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    if dir.is_file() {
        out.push(dir.to_path_buf());
        return;
    }
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        // Build outputs and caches are not inputs.
        if name.starts_with('.')
            || name == "__pycache__"
            || name == "node_modules"
            || name.ends_with(".wasm")
        {
            continue;
        }
        collect(&p, out);
    }
}

/// Run `build(out)` to make component `name` from the files under `inputs`, unless a component
/// of the same inputs is there already. Serialised: tests of one binary share each build.
pub fn component(name: &str, inputs: &[PathBuf], build: impl FnOnce(&Path) -> Command) -> PathBuf {
    static LOCK: OnceLock<Mutex<()>> = OnceLock::new();
    let _held = LOCK
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let dir = repo().join("target").join("polyglot");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join(format!("{name}-{}.wasm", inputs_hash(inputs)));
    if out.exists() {
        return out;
    }
    let partial = out.with_extension("partial.wasm");
    let mut cmd = build(&partial);
    let shown = format!("{cmd:?}");
    let result = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run the build of {name} ({shown}): {e}"));
    assert!(
        result.status.success() && partial.exists(),
        "building {name} failed ({shown}):\n{}{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
    std::fs::rename(&partial, &out).unwrap();
    out
}

/// A program the README's test command installs, with what to run when it is missing.
pub fn tool(name: &str, env: &str, install: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env) {
        return PathBuf::from(p);
    }
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    found
        .unwrap_or_else(|| panic!("`{name}` is not installed (set {env} to it, or run: {install})"))
}
