//! `aerie plugin new`: a plugin project that builds and passes its own test against the
//! simulator out of the box, in Rust (a crate on `aerie-sdk`), Python (componentize-py and the
//! kit in `kits/python`) or JavaScript (componentize-js and the kit in `kits/js`).

use std::path::{Path, PathBuf};

/// The language of a scaffolded plugin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    #[value(alias = "javascript")]
    Js,
}

macro_rules! templates {
    ($dir:literal: $($file:literal => $template:literal),* $(,)?) => {
        &[$(($file, include_str!(concat!("../templates/", $dir, "/", $template)))),*]
    };
}

impl Lang {
    /// (path in the project, template) pairs. Templates use `{{name}}`, `{{sdk}}` (the kit's
    /// absolute path) and `{{wit}}` (the WIT directory's absolute path).
    fn files(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Lang::Rust => templates!("plugin":
                "Cargo.toml" => "Cargo.toml.tmpl",
                "src/lib.rs" => "lib.rs.tmpl",
                "src/tests.rs" => "tests.rs.tmpl",
                "README.md" => "README.md.tmpl",
                ".gitignore" => "gitignore.tmpl",
            ),
            Lang::Python => templates!("plugin-python":
                "app.py" => "app.py.tmpl",
                "test_plugin.py" => "test_plugin.py.tmpl",
                "README.md" => "README.md.tmpl",
                ".gitignore" => "gitignore.tmpl",
            ),
            Lang::Js => templates!("plugin-js":
                "app.js" => "app.js.tmpl",
                "package.json" => "package.json.tmpl",
                "test.mjs" => "test.mjs.tmpl",
                "README.md" => "README.md.tmpl",
                ".gitignore" => "gitignore.tmpl",
            ),
        }
    }

    /// The kit in the source tree this binary was built from, if it is still there.
    pub fn default_kit(self) -> Option<PathBuf> {
        let (dir, marker) = match self {
            Lang::Rust => ("sdk", "Cargo.toml"),
            Lang::Python => ("kits/python", "aerie_plugin/__init__.py"),
            Lang::Js => ("kits/js", "package.json"),
        };
        let p = source_tree().join(dir);
        p.join(marker)
            .exists()
            .then(|| p.canonicalize().unwrap_or(p))
    }

    /// What `--sdk-path` must point at, for error messages.
    fn kit_hint(self) -> &'static str {
        match self {
            Lang::Rust => "the sdk/ directory of an aerie checkout",
            Lang::Python => "the kits/python directory of an aerie checkout",
            Lang::Js => "the kits/js directory of an aerie checkout",
        }
    }

    /// How to run the new project's test, for the message after creating it.
    pub fn test_command(self) -> &'static str {
        match self {
            Lang::Rust => "cargo test",
            Lang::Python => "python3 -m unittest",
            Lang::Js => "npm install && npm test",
        }
    }
}

fn source_tree() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Create `<parent>/<name>/` for `lang` on the kit at `kit`. Returns the project directory.
pub fn create(name: &str, parent: &Path, lang: Lang, kit: &Path) -> anyhow::Result<PathBuf> {
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
    if !kit.is_dir() {
        anyhow::bail!(
            "no {lang:?} kit at {}; pass --sdk-path to {}",
            kit.display(),
            lang.kit_hint()
        );
    }
    let kit = kit.canonicalize()?;
    // The WIT sits beside the kits in a checkout; Rust plugins get it through aerie-sdk.
    let wit = kit
        .ancestors()
        .map(|a| a.join("wit"))
        .find(|w| w.join("aerie.wit").exists());
    if lang != Lang::Rust && wit.is_none() {
        anyhow::bail!(
            "no wit/aerie.wit above {}; the kit must be inside an aerie checkout",
            kit.display()
        );
    }
    let dir = parent.join(name);
    if dir.exists() {
        anyhow::bail!("{} already exists", dir.display());
    }
    let wit = wit.map(|w| w.display().to_string()).unwrap_or_default();
    for (file, template) in lang.files() {
        let path = dir.join(file);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p)?;
        }
        let text = template
            .replace("{{name}}", name)
            .replace("{{sdk}}", &kit.display().to_string())
            .replace("{{wit}}", &wit);
        std::fs::write(&path, text)?;
    }
    Ok(dir)
}
