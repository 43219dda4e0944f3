//! A harness that runs plugins in-process against the built-in simulator: the same runtime,
//! policy, egress and call path as the server, without a transport. For plugin authors' tests
//! and for benchmarks.
//!
//! ```no_run
//! # async fn t() -> anyhow::Result<()> {
//! let h = aerie::testing::Harness::builder().plugin_file("target/wasm32-wasip2/release/my_plugin.wasm").start().await?;
//! let out = h.call("my_tool", serde_json::json!({"limit": 5})).await;
//! assert!(!out.is_error, "{}", out.text);
//! # Ok(()) }
//! ```

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

use crate::app::{App, ToolOutcome};
use crate::config::FileConfig;
use crate::server::{self, Options};

/// A running simulator plus an aerie app pointed at it.
pub struct Harness {
    /// The simulator; its request log shows what reached "Falcon".
    pub sim: falcon_sim::Simulator,
    /// The app.
    pub app: Arc<App>,
}

/// Configures a [`Harness`].
#[derive(Default)]
pub struct Builder {
    files: Vec<PathBuf>,
    embedded: bool,
    allow_writes: bool,
    config: String,
    sim: falcon_sim::SimConfig,
    cache_dir: Option<PathBuf>,
}

impl Harness {
    /// Start configuring a harness.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Call a tool as an MCP client would.
    pub async fn call(&self, tool: &str, args: Value) -> ToolOutcome {
        self.app.call_tool("harness", tool, args, None).await
    }
}

impl Builder {
    /// Load this component (a `.wasm` file).
    pub fn plugin_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.files.push(path.into());
        self
    }
    /// Also load the embedded first-party plugins.
    pub fn embedded(mut self, yes: bool) -> Self {
        self.embedded = yes;
        self
    }
    /// Enable write tools.
    pub fn allow_writes(mut self, yes: bool) -> Self {
        self.allow_writes = yes;
        self
    }
    /// `aerie.toml` contents.
    pub fn config(mut self, toml: impl Into<String>) -> Self {
        self.config = toml.into();
        self
    }
    /// Simulator settings.
    pub fn sim(mut self, config: falcon_sim::SimConfig) -> Self {
        self.sim = config;
        self
    }
    /// Compile cache directory (default: none).
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// Start the simulator and load the plugins. Refused plugins are an error here, so a test
    /// fails with the reason.
    pub async fn start(self) -> anyhow::Result<Harness> {
        let file: FileConfig = toml::from_str(&self.config)?;
        let sim = falcon_sim::Simulator::start(self.sim).await?;
        let credentials = Some(crate::demo::simulator_credentials(&sim.base_url())?);
        let dir = tempfile_dir(&self.files)?;
        let opts = Options {
            file,
            allow_writes: self.allow_writes,
            modules: None,
            plugins_dir: dir.as_ref().map(|d| d.0.clone()),
            files_dir: None,
            cache_dir: self.cache_dir,
            audit_log: None,
            credentials,
            auth_at_start: false,
            embedded: self.embedded,
            profile: None,
            tool_mode: Default::default(),
        };
        let (app, refusals) = server::build_checked(opts).await?;
        if let Some(d) = dir {
            let _ = std::fs::remove_dir_all(d.0);
        }
        if let Some(r) = refusals.first() {
            anyhow::bail!("{r}");
        }
        Ok(Harness { sim, app })
    }
}

/// A private directory holding copies of `files`, so a plugin is loaded exactly as from
/// `--plugins-dir`.
struct Dir(PathBuf);

fn tempfile_dir(files: &[PathBuf]) -> anyhow::Result<Option<Dir>> {
    if files.is_empty() {
        return Ok(None);
    }
    let dir = std::env::temp_dir().join(format!(
        "aerie-harness-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&dir)?;
    for (i, f) in files.iter().enumerate() {
        std::fs::copy(f, dir.join(format!("{i:03}.wasm")))
            .map_err(|e| anyhow::anyhow!("cannot read plugin {}: {e}", f.display()))?;
    }
    Ok(Some(Dir(dir)))
}
