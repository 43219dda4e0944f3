//! `aerie plugin new`: a plugin crate on `aerie-sdk` that builds and passes its own test
//! against the simulator out of the box.

use std::path::{Path, PathBuf};

const FILES: &[(&str, &str)] = &[
    (
        "Cargo.toml",
        include_str!("../templates/plugin/Cargo.toml.tmpl"),
    ),
    (
        "src/lib.rs",
        include_str!("../templates/plugin/lib.rs.tmpl"),
    ),
    (
        "src/tests.rs",
        include_str!("../templates/plugin/tests.rs.tmpl"),
    ),
    (
        "README.md",
        include_str!("../templates/plugin/README.md.tmpl"),
    ),
    (
        ".gitignore",
        include_str!("../templates/plugin/gitignore.tmpl"),
    ),
];

/// The SDK in the source tree this binary was built from, if it is still there.
pub fn default_sdk_path() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("sdk");
    p.join("Cargo.toml")
        .exists()
        .then(|| p.canonicalize().unwrap_or(p))
}

/// Create `<parent>/<name>/`. Returns the crate directory.
pub fn create(name: &str, parent: &Path, sdk: &Path) -> anyhow::Result<PathBuf> {
    let valid = (1..=48).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && name.as_bytes()[0].is_ascii_lowercase();
    if !valid {
        anyhow::bail!(
            "plugin name `{name}` must start with a letter and use only a-z, 0-9 and _ (at most 48 characters)"
        );
    }
    if !sdk.join("Cargo.toml").exists() {
        anyhow::bail!(
            "no aerie-sdk at {}; pass --sdk-path to the sdk/ directory of an aerie checkout",
            sdk.display()
        );
    }
    let dir = parent.join(name);
    if dir.exists() {
        anyhow::bail!("{} already exists", dir.display());
    }
    let sdk = sdk.canonicalize()?;
    for (file, template) in FILES {
        let path = dir.join(file);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p)?;
        }
        let text = template
            .replace("{{name}}", name)
            .replace("{{sdk}}", &sdk.display().to_string());
        std::fs::write(path, text)?;
    }
    Ok(dir)
}
