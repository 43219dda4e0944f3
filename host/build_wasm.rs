// Shared by host/build.rs and tests/build.rs (included with `include!`): build guest crates for
// wasm32-wasip2 with a nested cargo in its own target directory, so the outer build's lock is
// never contended.

/// Build the crates under `crates_dir` (each a directory with a Cargo.toml) and return
/// (package name, path of its .wasm) pairs, sorted by name.
#[allow(dead_code)]
fn build_wasm_crates(workspace: &std::path::Path, crates_dir: &std::path::Path) -> Vec<(String, std::path::PathBuf)> {
    println!("cargo:rerun-if-changed={}", crates_dir.display());
    println!("cargo:rerun-if-changed={}", workspace.join("wit").display());
    println!("cargo:rerun-if-changed={}", workspace.join("sdk").display());
    println!("cargo:rerun-if-env-changed=AERIE_SKIP_WASM");
    let mut names = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(crates_dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    dirs.sort();
    for dir in dirs {
        let manifest = dir.join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else { continue };
        println!("cargo:rerun-if-changed={}", dir.join("src").display());
        println!("cargo:rerun-if-changed={}", manifest.display());
        let name = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("name").map(|r| r.trim_start_matches([' ', '=']).trim().trim_matches('"').to_string()));
        if let Some(n) = name {
            names.push(n);
        }
    }
    if names.is_empty() || std::env::var_os("AERIE_SKIP_WASM").is_some() {
        return Vec::new();
    }
    let target_dir = workspace.join("target").join("wasm");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.current_dir(workspace)
        .args(["build", "--quiet", "--target", "wasm32-wasip2", "--profile", "plugin", "--target-dir"])
        .arg(&target_dir);
    for n in &names {
        cmd.args(["-p", n]);
    }
    // The outer build's settings are for the host target; don't leak them into the guest build.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().to_string();
        if k.starts_with("CARGO_") && k != "CARGO_HOME" && k != "CARGO_NET_OFFLINE" || k == "RUSTFLAGS" || k == "RUSTC_WRAPPER" || k == "RUSTC_WORKSPACE_WRAPPER" {
            cmd.env_remove(&k);
        }
    }
    let status = cmd.status().unwrap_or_else(|e| panic!("cannot run cargo for the wasm plugins: {e}"));
    if !status.success() {
        panic!(
            "building the WebAssembly plugins failed (see above). If the target is missing: `rustup target add wasm32-wasip2`"
        );
    }
    names
        .into_iter()
        .map(|n| {
            let file = target_dir.join("wasm32-wasip2").join("plugin").join(format!("{}.wasm", n.replace('-', "_")));
            (n, file)
        })
        .collect()
}
