//! Builds the first-party plugins (`plugins/*`, embedded in the binary) and the test fixtures
//! (`tests/fixtures/*`, used by the end-to-end tests) for wasm32-wasip2.

fn main() {
    let manifest = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest.parent().unwrap().to_path_buf();
    write_catalogue(&manifest);
    let dirs = [
        workspace.join("plugins"),
        workspace.join("tests").join("fixtures"),
    ];
    let mut built = build_wasm_crates(&workspace, &dirs).into_iter();
    let plugins = built.next().unwrap_or_default();
    let fixtures = built.next().unwrap_or_default();
    let mut descriptions = if plugins.is_empty() {
        Default::default()
    } else {
        let packages: Vec<String> = plugins.iter().map(|(n, _)| n.clone()).collect();
        describe_plugins(&workspace, &packages)
    };
    let mut code = String::from(
        "/// (package name, component bytes, their SHA-256, what its `describe()` returns) of every\n\
         /// embedded plugin. The digest and the description are taken here so that start-up\n\
         /// need neither read the bytes nor compile the component.\n\
         pub static PLUGINS: &[(&str, &[u8], &str, &str)] = &[\n",
    );
    for (name, path) in plugins {
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
        let description = descriptions.remove(&name).unwrap_or_default();
        code.push_str(&format!(
            "    ({name:?}, include_bytes!({:?}), {digest:?}, {description:?}),\n",
            path.display().to_string()
        ));
    }
    code.push_str("];\n");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("embedded.rs");
    std::fs::write(out, code).unwrap();
    // The end-to-end tests find fixture components here.
    let fixtures_dir = fixtures
        .first()
        .and_then(|(_, p)| p.parent().map(|d| d.display().to_string()))
        .unwrap_or_default();
    println!("cargo:rustc-env=AERIE_FIXTURES_DIR={fixtures_dir}");
}

/// Embed every `catalogue/*.toml` (one file per API family) as `CATALOGUE: &[(file, text)]`.
fn write_catalogue(manifest: &std::path::Path) {
    let dir = manifest.join("catalogue");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("host/catalogue exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut code = String::from(
        "/// (file name, text) of every catalogue file.\npub static CATALOGUE: &[(&str, &str)] = &[\n",
    );
    for f in files {
        println!("cargo:rerun-if-changed={}", f.display());
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        code.push_str(&format!(
            "    ({name:?}, include_str!({:?})),\n",
            f.display().to_string()
        ));
    }
    code.push_str("];\n");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("catalogue.rs");
    std::fs::write(out, code).unwrap();
}

/// Build the crates under `crates_dirs` (each a directory with a Cargo.toml) for wasm32-wasip2
/// with a nested cargo in its own target directory (so the outer build's lock is never
/// contended), and return (package name, path of its .wasm) pairs per directory.
fn build_wasm_crates(
    workspace: &std::path::Path,
    crates_dirs: &[std::path::PathBuf],
) -> Vec<Vec<(String, std::path::PathBuf)>> {
    let mut groups: Vec<Vec<String>> = Vec::new();
    for crates_dir in crates_dirs {
        groups.push(crate_names(crates_dir));
    }
    let names: Vec<String> = groups.iter().flatten().cloned().collect();
    println!("cargo:rerun-if-changed={}", workspace.join("wit").display());
    println!(
        "cargo:rerun-if-changed={}",
        workspace.join("Cargo.lock").display()
    );
    println!("cargo:rerun-if-changed={}", workspace.join("sdk").display());
    println!(
        "cargo:rerun-if-changed={}",
        workspace.join("host").join("describe").display()
    );
    println!("cargo:rerun-if-env-changed=AERIE_SKIP_WASM");
    if names.is_empty() || std::env::var_os("AERIE_SKIP_WASM").is_some() {
        return groups.iter().map(|_| Vec::new()).collect();
    }
    let out = run_cargo(workspace, &names);
    groups
        .into_iter()
        .map(|g| {
            g.into_iter()
                .map(|n| {
                    let f = out.join(format!("{}.wasm", n.replace('-', "_")));
                    (n, f)
                })
                .collect()
        })
        .collect()
}

/// Package names of the crates directly under `crates_dir`.
fn crate_names(crates_dir: &std::path::Path) -> Vec<String> {
    println!("cargo:rerun-if-changed={}", crates_dir.display());
    let mut names = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(crates_dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    dirs.sort();
    for dir in dirs {
        let manifest = dir.join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        println!("cargo:rerun-if-changed={}", dir.join("src").display());
        println!("cargo:rerun-if-changed={}", manifest.display());
        let name = text.lines().find_map(|l| {
            l.trim().strip_prefix("name").map(|r| {
                r.trim_start_matches([' ', '='])
                    .trim()
                    .trim_matches('"')
                    .to_string()
            })
        });
        if let Some(n) = name {
            names.push(n);
        }
    }
    names
}

fn run_cargo(workspace: &std::path::Path, names: &[String]) -> std::path::PathBuf {
    let target_dir = workspace.join("target").join("wasm");
    let mut cmd = nested_cargo(workspace, &target_dir, "wasm32-wasip2");
    for n in names {
        cmd.args(["-p", n]);
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo for the wasm plugins: {e}"));
    if !status.success() {
        panic!(
            "building the WebAssembly plugins failed (see above). If the target is missing: `rustup target add wasm32-wasip2`"
        );
    }
    target_dir.join("wasm32-wasip2").join("plugin")
}

/// What each first-party plugin's `describe()` returns, by package name: `host/describe` built
/// for and run on the build machine, in the wasm build's target directory so the proc macros
/// it shares with the plugins are built once. Unoptimised: it runs once, for milliseconds.
fn describe_plugins(
    workspace: &std::path::Path,
    packages: &[String],
) -> std::collections::BTreeMap<String, String> {
    let target_dir = workspace.join("target").join("wasm");
    let host = std::env::var("HOST").expect("cargo sets HOST for build scripts");
    let mut cmd = nested_cargo(workspace, &target_dir, &host);
    cmd.args(["-p", "aerie-describe"])
        .env("CARGO_PROFILE_PLUGIN_OPT_LEVEL", "0")
        .env("CARGO_PROFILE_PLUGIN_LTO", "false")
        .env("CARGO_PROFILE_PLUGIN_CODEGEN_UNITS", "256");
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo for host/describe: {e}"));
    if !status.success() {
        panic!("building host/describe (the plugins' descriptions) failed (see above)");
    }
    let exe = target_dir.join(&host).join("plugin").join("aerie-describe");
    let out = std::process::Command::new(&exe)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()));
    if !out.status.success() {
        panic!(
            "{} failed: {}",
            exe.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8(out.stdout).expect("descriptions are UTF-8 JSON");
    let mut by_ident: std::collections::BTreeMap<String, String> = text
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    packages
        .iter()
        .map(|p| {
            let description = by_ident.remove(&p.replace('-', "_")).unwrap_or_else(|| {
                panic!(
                    "host/describe does not describe {p}: add it to host/describe/Cargo.toml and \
                     to the list in host/describe/src/main.rs"
                )
            });
            (p.clone(), description)
        })
        .collect()
}

/// `cargo build --quiet --profile plugin --target <target> --target-dir <target_dir>` in the
/// workspace, without the outer build's environment.
fn nested_cargo(
    workspace: &std::path::Path,
    target_dir: &std::path::Path,
    target: &str,
) -> std::process::Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.current_dir(workspace)
        .args([
            "build",
            "--quiet",
            "--target",
            target,
            "--profile",
            "plugin",
        ])
        .arg("--target-dir")
        .arg(target_dir);
    // The outer build's settings are for the host target; don't leak them into the guest build.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().to_string();
        if k.starts_with("CARGO_") && k != "CARGO_HOME" && k != "CARGO_NET_OFFLINE"
            || k == "RUSTFLAGS"
            || k == "RUSTC_WRAPPER"
            || k == "RUSTC_WORKSPACE_WRAPPER"
        {
            cmd.env_remove(&k);
        }
    }
    cmd
}
