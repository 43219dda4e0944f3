//! Start-up: turn options into a running [`App`] (runtime, plugins, policy, egress, audit) and
//! serve it over a transport until shutdown.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

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
    /// `--profile`: the profile of callers that name none (stdio, keys without a profile).
    pub profile: Option<String>,
    /// `--tool-mode`.
    pub tool_mode: crate::controls::ToolMode,
}

/// The default compile cache directory.
pub fn default_cache_dir() -> Option<PathBuf> {
    dirs::cache_dir().map(|d| d.join("aerie").join("compiled"))
}

/// Embedded plugins, then every `*.wasm` in the plugins directory, and the directory entries
/// refused before loading (not regular files, too large, unreadable).
pub fn sources(opts: &SourceConfig) -> anyhow::Result<(Vec<Source>, Vec<registry::Refusal>)> {
    let mut out: Vec<Source> = Vec::new();
    if opts.embedded {
        for (package, bytes, digest, description) in crate::embedded::PLUGINS {
            out.push(Source {
                origin: Origin::Embedded,
                bytes: bytes::Bytes::from_static(bytes),
                digest: digest.to_string(),
                signature: None,
                // First-party packages are named aerie-plugin-<plugin name>.
                name_hint: package.strip_prefix("aerie-plugin-").map(str::to_string),
                description: Some(description),
            });
        }
    }
    let mut refused = Vec::new();
    if let Some(dir) = &opts.plugins_dir {
        let (found, bad) = registry::read_dir(dir, opts.max_component_bytes)
            .with_context(|| format!("cannot read --plugins-dir {}", dir.display()))?;
        out.extend(found);
        refused = bad;
    }
    Ok((out, refused))
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
    // Before anything else that keeps state: a shared backend that cannot be reached stops
    // start-up with the reason.
    let state = crate::state::Backend::open(&opts.file.state)
        .await
        .map_err(anyhow::Error::msg)?;
    if state.shared() {
        tracing::info!(state = %state.describe(), "controls keep their state in the shared backend");
    }
    // One egress per API client: its own token, its own rate budget per CID.
    let connect = async |creds, what: &str| -> anyhow::Result<Arc<Egress>> {
        let http = http_client();
        let session = Session::new(creds, http.clone());
        if opts.auth_at_start {
            session
                .token()
                .await
                .with_context(|| format!("Falcon authentication failed at start{what}"))?;
        }
        let shared = state.egress_rate(&session.tenant());
        Ok(Arc::new(
            Egress::new(session, http, opts.file.egress(), audit.clone()).sharing(shared),
        ))
    };
    let mut tenants = std::collections::BTreeMap::new();
    for (name, t) in &opts.file.tenants {
        let creds = t.resolve(name).map_err(anyhow::Error::msg)?;
        let egress = connect(creds, &format!(" for tenant `{name}`")).await?;
        tenants.insert(name.clone(), egress);
    }
    let tenants = crate::tenants::Tenants::new(tenants);
    // Per-client credentials: an egress per API client that requests bring, made on first use.
    let clients = match opts
        .file
        .http
        .client_credentials
        .build()
        .map_err(anyhow::Error::msg)?
    {
        None => None,
        Some(allowed) => {
            let (http, config, audit, state) = (
                http_client(),
                opts.file.egress(),
                audit.clone(),
                state.clone(),
            );
            let make = move |creds| {
                let session = Session::new(creds, http.clone());
                let shared = state.egress_rate(&session.tenant());
                Arc::new(
                    Egress::new(session, http.clone(), config.clone(), audit.clone())
                        .sharing(shared),
                )
            };
            Some(crate::client_credentials::ClientTenants::new(
                &allowed,
                Box::new(make),
            ))
        }
    };
    let egress = match opts.credentials.clone() {
        Some(creds) => Some(connect(creds, "").await?),
        None if tenants.any() => None,
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
        tenants,
        clients,
        files,
        audit,
        registry: registry.clone(),
    });
    let source_config = SourceConfig {
        embedded: opts.embedded,
        plugins_dir: opts.plugins_dir.clone(),
        max_component_bytes: opts.file.max_component_bytes(),
    };
    let (sources, unreadable) = sources(&source_config)?;
    let started = std::time::Instant::now();
    let (snapshot, mut refusals) =
        registry::load_all(&runtime, &services.policy, services.clone(), &sources, None).await;
    refusals.splice(0..0, unreadable);
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
    let controls =
        crate::controls::Controls::new(&opts.file, opts.profile.as_deref(), opts.tool_mode, &state)
            .map_err(anyhow::Error::msg)?;
    // A profile pattern that matches nothing is a typo that hides or shows the wrong tools.
    controls
        .check_at_start(&registry.snapshot(), &sources, &refusals)
        .map_err(anyhow::Error::msg)?;
    let app = App {
        runtime,
        registry,
        services,
        sources: source_config,
        changes: Default::default(),
        subscriptions: Default::default(),
        reload_lock: Default::default(),
        inflight: Default::default(),
        shutdown_grace: opts.file.shutdown_grace(),
        controls,
    };
    Ok((Arc::new(app), refusals))
}

/// How long rmcp gets to write the answers of drained calls once its sessions are told to close.
const FLUSH: Duration = Duration::from_secs(3);

/// Shutdown requests: the first Ctrl-C or SIGTERM starts a drain of in-flight calls (bounded by
/// the grace period); a second one ends the grace period at once.
#[derive(Clone, Default)]
pub struct Shutdown {
    /// Cancelled by the first signal.
    pub requested: CancellationToken,
    /// Cancelled by the second signal.
    pub now: CancellationToken,
}

/// [`Shutdown`] wired to Ctrl-C and SIGTERM.
pub fn shutdown_signal() -> Shutdown {
    let shutdown = Shutdown::default();
    let s = shutdown.clone();
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(_) => return,
                };
            for token in [&s.requested, &s.now] {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
                token.cancel();
            }
        }
        #[cfg(not(unix))]
        for token in [&s.requested, &s.now] {
            let _ = tokio::signal::ctrl_c().await;
            token.cancel();
        }
    });
    shutdown
}

/// [`build`], unless a signal arrives first: `None` then. Compiling plugins the first time can
/// take a while, and a signal must stop the server then too. The build runs as its own task
/// (compiling holds its thread), so the signal is seen while it runs.
pub async fn build_or_stop(opts: Options, shutdown: &Shutdown) -> anyhow::Result<Option<Arc<App>>> {
    let building = tokio::spawn(build(opts));
    tokio::select! {
        app = building => {
            let app = app.map_err(|e| anyhow::anyhow!("start-up failed: {e}"))??;
            // Descriptions came from the build or the cache; compile the code off the start-up
            // path, so first calls load it instead of compiling it.
            app.precompile_in_background();
            Ok(Some(app))
        }
        _ = shutdown.requested.cancelled() => {
            tracing::info!("stopped while starting");
            Ok(None)
        }
    }
}

/// Serve over stdio until the client disconnects or a signal arrives; then drain in-flight
/// calls, let rmcp write their answers, and finish.
pub async fn serve_stdio(app: Arc<App>, shutdown: Shutdown) -> anyhow::Result<()> {
    hotswap::spawn(app.clone())?;
    // Held for the life of the server: dropping it removes the operator's socket.
    let _admin = crate::admin::start(app.clone())?;
    tracing::info!("serving MCP over stdio");
    // A signal must end the server even before a client has initialized.
    let service = tokio::select! {
        s = Handler::new(app.clone()).serve(crate::mcp::stdio::transport()) => s?,
        _ = shutdown.requested.cancelled() => {
            finish(&app).await;
            return Ok(());
        }
    };
    let ct = service.cancellation_token();
    let mut waiting = Box::pin(service.waiting());
    let ended = tokio::select! {
        r = &mut waiting => Some(r),
        _ = shutdown.requested.cancelled() => None,
    };
    // The session stays open during the drain: answers go out as calls finish, and new calls
    // get a "shutting down" error rather than silence.
    drain(&app, &shutdown).await;
    let result = match ended {
        // The client closed stdin; rmcp already wrote what it could and cancelled the rest.
        Some(r) => r.map(|_| ()).map_err(anyhow::Error::from),
        None => {
            ct.cancel();
            if tokio::time::timeout(FLUSH, waiting).await.is_err() {
                tracing::warn!("stdio session did not close in time");
            }
            Ok(())
        }
    };
    finish(&app).await;
    result
}

/// Serve over streamable HTTP until a signal arrives; then drain in-flight calls while their
/// sessions stay open to carry the answers (a call arriving meanwhile is refused with a
/// "shutting down" tool error), then close the sessions and connections, and finish.
pub async fn serve_http(
    app: Arc<App>,
    opts: http::HttpOptions,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    hotswap::spawn(app.clone())?;
    // Held for the life of the server: dropping it removes the operator's socket.
    let _admin = crate::admin::start(app.clone())?;
    // Connections and sessions close only after the drain: closing either earlier would drop
    // the answers of the calls being drained.
    let (connections, sessions) = (CancellationToken::new(), CancellationToken::new());
    let mut server = tokio::spawn(http::serve(
        Handler::new(app.clone()),
        opts,
        connections.clone(),
        sessions.clone(),
    ));
    let early = tokio::select! {
        r = &mut server => Some(r),
        _ = shutdown.requested.cancelled() => None,
    };
    let result = match early {
        Some(r) => r.map_err(anyhow::Error::from).and_then(|r| r),
        None => {
            drain(&app, &shutdown).await;
            // A call that ended has handed its answer to rmcp; let the answer reach the client.
            if !app.inflight.answers_written(FLUSH).await {
                tracing::warn!("some HTTP answers were not written before shutdown");
            }
            sessions.cancel();
            connections.cancel();
            // The connection layer gives open connections a few seconds to finish.
            match tokio::time::timeout(FLUSH + Duration::from_secs(5), &mut server).await {
                Ok(r) => r.map_err(anyhow::Error::from).and_then(|r| r),
                Err(_) => {
                    tracing::warn!("HTTP connections did not close in time");
                    server.abort();
                    Ok(())
                }
            }
        }
    };
    finish(&app).await;
    result
}

/// Wait for in-flight calls (bounded by the grace period, or cut short by a second signal).
async fn drain(app: &App, shutdown: &Shutdown) {
    // Listen streams end now, with their final result: they would hold the drain forever.
    app.changes.close();
    let d = app.inflight.drain(app.shutdown_grace, &shutdown.now).await;
    if d.cut > 0 {
        tracing::warn!(
            calls = d.cut,
            "stopped calls still running at the end of the grace period"
        );
    }
}

/// Clean shutdown: revoke the Falcon token.
async fn finish(app: &App) {
    if let Some(e) = &app.services.egress {
        e.session().revoke().await;
    }
    for e in app.services.tenants.egresses() {
        e.session().revoke().await;
    }
    for e in app.services.clients.iter().flat_map(|c| c.egresses()) {
        e.session().revoke().await;
    }
}
