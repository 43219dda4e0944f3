//! Hot swap: when a component in `--plugins-dir` is added, changed or removed (or on SIGHUP),
//! rebuild the snapshot — verifying, compiling, linking, describing and checking every new
//! component against policy first — and publish it in one atomic step. Calls in flight finish
//! on the version they started with; every connected client is told the tool list changed
//! ([`crate::mcp::changes`]).
//!
//! Writers should copy a component to a temporary name (not ending in `.wasm`, e.g.
//! `name.wasm.tmp`) and `rename` it into place. A file written in place is read only once it is
//! a complete, valid component; until then the previous version keeps serving.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

use crate::app::App;
use crate::registry;
use crate::server;

/// Quiet period after the last file event before reloading, so a burst of writes is one reload.
const DEBOUNCE: Duration = Duration::from_millis(40);

/// Where plugins come from, kept so a reload can read them again.
#[derive(Clone, Debug)]
pub struct SourceConfig {
    /// Load the embedded first-party plugins.
    pub embedded: bool,
    /// The watched directory.
    pub plugins_dir: Option<PathBuf>,
    /// Larger directory components are refused without being read (`max_component_mib`).
    pub max_component_bytes: u64,
}

impl Default for SourceConfig {
    fn default() -> Self {
        SourceConfig {
            embedded: false,
            plugins_dir: None,
            max_component_bytes: registry::DEFAULT_MAX_COMPONENT_MIB << 20,
        }
    }
}

/// What a reload did.
#[derive(Debug)]
pub struct ReloadReport {
    /// Whether a new snapshot was published.
    pub changed: bool,
    /// Components refused (the previous version of each, if any, kept serving).
    pub refusals: Vec<registry::Refusal>,
}

/// Reload the plugins and publish if anything changed. Reloads are serialised.
pub async fn reload(app: &App) -> anyhow::Result<ReloadReport> {
    let _one_at_a_time = app.reload_lock.lock().await;
    let (sources, unreadable) = server::sources(&app.sources)?;
    let current = app.registry.snapshot();
    let (snap, mut refusals) = registry::load_all(
        &app.runtime,
        &app.services.policy,
        app.services.clone(),
        &sources,
        Some(&current),
    )
    .await;
    refusals.splice(0..0, unreadable);
    for r in &refusals {
        tracing::error!("{r}");
    }
    for e in crate::policy::check::vanished(&app.services.policy, &current, &snap) {
        tracing::error!("{e}");
    }
    let changed = !snap.same_plugins(&current);
    if !changed && !snap.same_memory(&current) {
        // Same plugins, but what to remember (refused or parked components) changed: keep it
        // for the next reload without telling clients anything changed.
        app.registry.publish(snap);
    } else if changed {
        let changes = crate::mcp::changes::between(&current, &snap, &crate::mcp::capabilities());
        let names: Vec<String> = snap
            .plugins
            .values()
            .map(|p| format!("{} {}", p.name, p.version))
            .collect();
        app.registry.publish(snap);
        tracing::info!(plugins = ?names, "plugins reloaded");
        app.changes.publish(&changes).await;
    }
    Ok(ReloadReport { changed, refusals })
}

/// Watch the plugins directory and reload on changes and on SIGHUP, until the app is dropped.
pub fn spawn(app: Arc<App>) -> anyhow::Result<()> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut watcher = None;
    if let Some(dir) = app.sources.plugins_dir.clone() {
        let events = tx.clone();
        let mut w = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
            let relevant = ev.is_ok_and(|e| {
                e.paths
                    .iter()
                    .any(|p| p.extension().is_some_and(|x| x == "wasm" || x == "sig"))
                    && !matches!(e.kind, notify::EventKind::Access(_))
            });
            if relevant {
                let _ = events.send(());
            }
        })?;
        w.watch(&dir, RecursiveMode::NonRecursive)?;
        tracing::info!(dir = %dir.display(), "watching for plugin changes");
        watcher = Some(w);
    }
    #[cfg(unix)]
    {
        let hup = tx.clone();
        let mut sig = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        tokio::spawn(async move {
            while sig.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading plugins");
                if hup.send(()).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let weak = Arc::downgrade(&app);
    drop(app);
    tokio::spawn(async move {
        let _watcher = watcher;
        while rx.recv().await.is_some() {
            // Debounce: wait until events stop for a moment.
            while let Ok(Some(())) = tokio::time::timeout(DEBOUNCE, rx.recv()).await {}
            let Some(app) = weak.upgrade() else { break };
            if let Err(e) = reload(&app).await {
                tracing::error!("plugin reload failed: {e:#}");
            }
        }
    });
    Ok(())
}
