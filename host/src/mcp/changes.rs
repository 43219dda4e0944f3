//! Telling clients what changed: after a hot swap, a client must learn that the tools (and the
//! resources and prompts) it listed are stale.
//!
//! Two protocol generations hear it differently. A session of 2025-06-18 / 2025-11-25 gets
//! `notifications/*/list_changed` on its session ([`Changes::add_session`], from
//! `notifications/initialized`). A 2026-07-28 client has no session: it holds a
//! `subscriptions/listen` request open, and [`Changes::listen`] forwards on it the changes its
//! accepted filter asked for (rmcp's [`SubscriptionSink`] applies the filter and stamps the
//! subscription id). One [`Changes::publish`] reaches both.
//!
//! Listen streams end with the final `subscriptions/listen` result when the server starts to
//! shut down ([`Changes::close`]): an HTTP response that never ends would hold the drain, and the
//! spec's graceful teardown tells the client to re-listen elsewhere.

use std::sync::Mutex;

use rmcp::model::{ServerCapabilities, SubscriptionFilter};
use rmcp::service::{SubscriptionContext, SubscriptionSendError, SubscriptionSink};
use rmcp::{Peer, RoleServer};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::registry::Snapshot;

/// Changes queued per listen stream before a slow one falls behind; a stream that falls behind
/// is told every list changed (the client re-lists, which is always correct).
const BACKLOG: usize = 64;

/// Something a client may have cached that is no longer current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `tools/list` changed.
    Tools,
    /// `prompts/list` changed.
    Prompts,
    /// `resources/list` (or the templates) changed.
    Resources,
    /// The resource at this URI changed (delivered only to listeners that subscribed to it).
    ResourceUpdated(String),
}

/// Who hears about changes: legacy sessions and 2026-07-28 listen streams.
pub struct Changes {
    sessions: Mutex<Vec<Peer<RoleServer>>>,
    tx: broadcast::Sender<Change>,
    closed: CancellationToken,
}

impl Default for Changes {
    fn default() -> Self {
        Changes {
            sessions: Mutex::new(Vec::new()),
            tx: broadcast::channel(BACKLOG).0,
            closed: CancellationToken::new(),
        }
    }
}

impl Changes {
    /// Remember a legacy session after it initialized.
    pub fn add_session(&self, peer: Peer<RoleServer>) {
        if let Ok(mut p) = self.sessions.lock() {
            p.retain(|peer| !peer.is_transport_closed());
            p.push(peer);
        }
    }

    /// Tell every session and listen stream about `changes`; forget sessions that are gone.
    /// Legacy sessions hear the list changes only: `resources/updated` there follows
    /// `resources/subscribe`, which whoever serves subscriptions tracks per session.
    pub async fn publish(&self, changes: &[Change]) {
        for c in changes {
            // No receiver is not an error: nobody is listening.
            let _ = self.tx.send(c.clone());
        }
        let sessions: Vec<Peer<RoleServer>> =
            self.sessions.lock().map(|p| p.clone()).unwrap_or_default();
        for peer in sessions.iter().filter(|p| !p.is_transport_closed()) {
            for c in changes {
                // A client that went away mid-send is dropped below; the others still hear.
                let _ = match c {
                    Change::Tools => peer.notify_tool_list_changed().await,
                    Change::Prompts => peer.notify_prompt_list_changed().await,
                    Change::Resources => peer.notify_resource_list_changed().await,
                    Change::ResourceUpdated(_) => Ok(()),
                };
            }
        }
        if let Ok(mut p) = self.sessions.lock() {
            p.retain(|peer| !peer.is_transport_closed());
        }
    }

    /// End every listen stream gracefully (shutdown).
    pub fn close(&self) {
        self.closed.cancel();
    }

    /// Serve one `subscriptions/listen` stream until the client cancels it or the server
    /// closes: forward each change its filter accepted.
    pub async fn listen(&self, ctx: SubscriptionContext) {
        let mut rx = self.tx.subscribe();
        let sink = ctx.sink().clone();
        loop {
            let change = tokio::select! {
                c = rx.recv() => c,
                _ = ctx.cancelled() => return,
                _ = self.closed.cancelled() => return,
            };
            let sent = match change {
                Ok(c) => send(&sink, &c).await,
                // Fell behind: some changes were lost, so say every list changed.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let mut r = Ok(());
                    for c in [Change::Tools, Change::Prompts, Change::Resources] {
                        r = r.and(send(&sink, &c).await);
                    }
                    r
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            if sent.is_err() {
                // The client went away; rmcp ends the request.
                return;
            }
        }
    }
}

/// Send `c` if the stream's filter accepted it; a change it did not ask for is skipped.
async fn send(sink: &SubscriptionSink, c: &Change) -> Result<(), SubscriptionSendError> {
    let r = match c {
        Change::Tools => sink.notify_tool_list_changed().await,
        Change::Prompts => sink.notify_prompt_list_changed().await,
        Change::Resources => sink.notify_resource_list_changed().await,
        Change::ResourceUpdated(uri) => sink.notify_resource_updated(uri.clone()).await,
    };
    match r {
        Err(SubscriptionSendError::NotificationNotAccepted(_)) => Ok(()),
        other => other,
    }
}

/// The part of a listen request's filter aerie serves: every kind it asked for (rmcp narrows
/// it further to what the capabilities advertise).
pub fn accepted_filter(requested: &SubscriptionFilter) -> SubscriptionFilter {
    requested.clone()
}

/// What changed between two snapshots, for [`Changes::publish`]. Tools and prompts are reported
/// whenever the plugins changed (a new version may change a schema or a prompt's text without
/// changing a name), resources only when their list differs; `caps` limits it to the kinds the
/// server advertises as changing.
pub fn between(old: &Snapshot, new: &Snapshot, caps: &ServerCapabilities) -> Vec<Change> {
    let mut out = Vec::new();
    if old.same_plugins(new) {
        return out;
    }
    out.push(Change::Tools);
    if caps.prompts.as_ref().and_then(|p| p.list_changed) == Some(true) {
        out.push(Change::Prompts);
    }
    // Static resources and resource templates: both are what resources/list* shows.
    let listed = |s: &Snapshot| -> Vec<(String, String)> {
        s.resources
            .iter()
            .chain(&s.templates)
            .map(|(uri, (p, _))| (uri.clone(), p.digest.clone()))
            .collect()
    };
    if caps.resources.as_ref().and_then(|r| r.list_changed) == Some(true)
        && listed(old) != listed(new)
    {
        out.push(Change::Resources);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn publish_reaches_subscribers_in_order() {
        let changes = Changes::default();
        let mut rx = changes.tx.subscribe();
        changes
            .publish(&[Change::Tools, Change::ResourceUpdated("falcon://x".into())])
            .await;
        assert_eq!(rx.recv().await.unwrap(), Change::Tools);
        assert_eq!(
            rx.recv().await.unwrap(),
            Change::ResourceUpdated("falcon://x".into())
        );
    }

    #[test]
    fn an_unchanged_snapshot_reports_nothing() {
        let caps = ServerCapabilities::builder()
            .enable_tools()
            .enable_resources()
            .enable_resources_list_changed()
            .build();
        assert!(between(&Snapshot::default(), &Snapshot::default(), &caps).is_empty());
    }
}
