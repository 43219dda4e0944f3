//! Builds the first-party plugins (`plugins/*`) for wasm32-wasip2 and embeds them.

include!("build_wasm.rs");

fn main() {
    let manifest = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest.parent().unwrap().to_path_buf();
    println!("cargo:rerun-if-changed=catalogue/operations.toml");
    let built = build_wasm_crates(&workspace, &workspace.join("plugins"));
    let mut code = String::from("/// (package name, component bytes) of every embedded plugin.\npub static PLUGINS: &[(&str, &[u8])] = &[\n");
    for (name, path) in built {
        code.push_str(&format!("    ({name:?}, include_bytes!({:?})),\n", path.display().to_string()));
    }
    code.push_str("];\n");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("embedded.rs");
    std::fs::write(out, code).unwrap();
}
