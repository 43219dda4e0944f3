//! Start-up: turn options into a running [`App`] (runtime, plugins, policy, egress, audit) and
//! serve it over a transport until shutdown.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use rmcp::ServiceExt;
use tokio_util::sync::CancellationToken;

use crate::app::{App, HostServices};
use crate::audit::Audit;
use crate::auth::{Credentials, Session};
use crate::config::FileConfig;
use crate::egress::{Egress, http_client};
use crate::files::FilesDir;
use crate::hotswap::{self, SourceConfig};
use crate::mcp::{Handler, http};
use crate::registry::{self, Origin, Registry, Snapshot, Source};
use crate::runtime::Runtime;

/// Everything start-up needs, already merged from flags, environment and config.
pub struct Options {
    /// The parsed config file.
    pub file: FileConfig,
    /// Writes allowed by flag.
    pub allow_writes: bool,
    /// `--modules`.
    pub modules: Option<Vec<String>>,
    /// `--plugins-dir`.
    pub plugins_dir: Option<PathBuf>,
    /// `--files-dir`.
    pub files_dir: Option<PathBuf>,
    /// Compile cache directory; `None` disables it.
    pub cache_dir: Option<PathBuf>,
    /// `--audit-log`.
    pub audit_log: Option<PathBuf>,
    /// Resolved credentials, if any.
    pub credentials: Option<Credentials>,
    /// Fetch a token before serving, failing fast on bad credentials.
    pub auth_at_start: bool,
    /// Load the embedded first-party plugins.
    pub embedded: bool,
}

/// The default compile cache directory.
pub fn default_cache_dir() -> Option<PathBuf> {
    dirs::cache_dir().map(|d| d.join("aerie").join("compiled"))
}

/// Embedded plugins, then every `*.wasm` in the plugins directory.
pub fn sources(opts: &SourceConfig) -> anyhow::Result<Vec<Source>> {
    let mut out: Vec<Source> = Vec::new();
    if opts.embedded {
        for (package, bytes) in crate::embedded::PLUGINS {
            out.push(Source {
                origin: Origin::Embedded,
                bytes: Arc::from(*bytes),
                signature: None,
                // First-party packages are named aerie-plugin-<plugin name>.
                name_hint: package.strip_prefix("aerie-plugin-").map(str::to_string),
            });
        }
    }
    if let Some(dir) = &opts.plugins_dir {
        let found = registry::read_dir(dir)
            .with_context(|| format!("cannot read --plugins-dir {}", dir.display()))?;
        out.extend(found);
    }
    Ok(out)
}

/// Build the application and load its plugins. Refused plugins are logged; the rest serve.
pub async fn build(opts: Options) -> anyhow::Result<Arc<App>> {
    Ok(build_checked(opts).await?.0)
}

/// [`build`], also returning the refused plugins.
pub async fn build_checked(opts: Options) -> anyhow::Result<(Arc<App>, Vec<registry::Refusal>)> {
    let policy = opts.file.policy(opts.allow_writes, opts.modules.as_deref());
    let audit = Arc::new(match &opts.audit_log {
        Some(p) => {
            Audit::open(p).with_context(|| format!("cannot open audit log {}", p.display()))?
        }
        None => Audit::default(),
    });
    let egress = match opts.credentials.clone() {
        Some(creds) => {
            let http = http_client();
            let session = Session::new(creds, http.clone());
            if opts.auth_at_start {
                session
                    .token()
                    .await
                    .context("Falcon authentication failed at start")?;
            }
            Some(Arc::new(Egress::new(
                session,
                http,
                opts.file.egress(),
                audit.clone(),
            )))
        }
        None => {
            tracing::warn!(
                "no Falcon credentials: tools will answer with an error until FALCON_CLIENT_ID and FALCON_CLIENT_SECRET are set (try `aerie demo`)"
            );
            None
        }
    };
    let files = match &opts.files_dir {
        Some(d) => Some(
            FilesDir::open(d)
                .with_context(|| format!("cannot open --files-dir {}", d.display()))?,
        ),
        None => None,
    };
    let runtime = Runtime::new(opts.cache_dir.as_deref())?;
    let registry = Arc::new(Registry::new(Snapshot::default()));
    let services = Arc::new(HostServices {
        policy,
        egress,
        files,
        audit,
        registry: registry.clone(),
    });
    let source_config = SourceConfig {
        embedded: opts.embedded,
        plugins_dir: opts.plugins_dir.clone(),
    };
    let sources = sources(&source_config)?;
    let started = std::time::Instant::now();
    let (snapshot, refusals) =
        registry::load_all(&runtime, &services.policy, services.clone(), &sources, None).await;
    for r in &refusals {
        tracing::error!("{r}");
    }
    // A name in the policy that matches nothing would leave served what the operator removed.
    crate::policy::check::at_start(&services.policy, &snapshot, &sources, &refusals)
        .map_err(anyhow::Error::msg)?;
    let tools = snapshot
        .tools
        .values()
        .filter(|(p, i)| p.tools[*i].grant.enabled)
        .count();
    tracing::info!(
        plugins = snapshot.plugins.len(),
        tools,
        ms = started.elapsed().as_millis() as u64,
        "plugins loaded"
    );
    registry.publish(snapshot);
    let app = App {
        runtime,
        registry,
        services,
        sources: source_config,
        peers: Default::default(),
        reload_lock: Default::default(),
    };
    Ok((Arc::new(app), refusals))
}

/// A token cancelled on Ctrl-C or SIGTERM.
pub fn shutdown_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(_) => return,
                };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        t.cancel();
    });
    token
}

/// Serve over stdio until the client disconnects or a signal arrives.
pub async fn serve_stdio(app: Arc<App>, shutdown: CancellationToken) -> anyhow::Result<()> {
    hotswap::spawn(app.clone())?;
    tracing::info!("serving MCP over stdio");
    // A signal must end the server even before a client has initialized.
    let service = tokio::select! {
        s = Handler::new(app.clone()).serve(rmcp::transport::stdio()) => s?,
        _ = shutdown.cancelled() => {
            finish(&app).await;
            return Ok(());
        }
    };
    let ct = service.cancellation_token();
    tokio::select! {
        r = service.waiting() => { r?; }
        _ = shutdown.cancelled() => { ct.cancel(); }
    }
    finish(&app).await;
    Ok(())
}

/// Serve over streamable HTTP until a signal arrives.
pub async fn serve_http(
    app: Arc<App>,
    opts: http::HttpOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    hotswap::spawn(app.clone())?;
    let r = http::serve(Handler::new(app.clone()), opts, shutdown).await;
    finish(&app).await;
    r
}

/// Clean shutdown: revoke the Falcon token.
async fn finish(app: &App) {
    if let Some(e) = &app.services.egress {
        e.session().revoke().await;
    }
}
