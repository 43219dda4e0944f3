//! Resource subscriptions: a client hears `notifications/resources/updated` when a resource it
//! subscribed to may have changed.
//!
//! aerie notices the changes it makes itself: when a write tool succeeds (not a preview), the
//! resources of every template whose read tool shares the write's plugin or Falcon API area
//! (the same rule that invalidates the result cache) are updated for each id the write's
//! arguments name (`hosts_contain {"ids": [A]}` updates `falcon://hosts/A`). Changes made
//! elsewhere (the Falcon console, another integration) are not seen: aerie does not poll
//! Falcon for them, which would spend the tenant's rate budget per subscriber. Static
//! resources (the syntax guides) change only with their plugin, which `list_changed` covers.
//!
//! A 2025 session subscribes with `resources/subscribe` ([`Subscriptions`], bounded per
//! session and in all); a 2026-07-28 client names the URIs in its `subscriptions/listen`
//! filter, and the change hub ([`super::changes`]) delivers to it.

use std::sync::Mutex;

use rmcp::model::ResourceUpdatedNotificationParam;
use rmcp::{Peer, RoleServer};
use serde_json::Value;

use super::changes::Change;
use crate::app::{App, ToolOutcome};
use crate::registry::{Plugin, Snapshot, Tool};

/// URIs one session may subscribe to.
pub const MAX_PER_SESSION: usize = 100;
/// Subscriptions in all.
pub const MAX_TOTAL: usize = 10_000;
/// Resources one write may report as updated.
const MAX_UPDATED: usize = 100;

struct Sub {
    session: String,
    peer: Peer<RoleServer>,
    uri: String,
}

/// The 2025 sessions' subscriptions.
#[derive(Default)]
pub struct Subscriptions {
    subs: Mutex<Vec<Sub>>,
}

impl Subscriptions {
    /// Subscribe `session` to `uri`; `Err` names the bound it would pass.
    pub fn subscribe(
        &self,
        session: &str,
        peer: Peer<RoleServer>,
        uri: &str,
    ) -> Result<(), String> {
        let mut subs = self.subs.lock().unwrap_or_else(|p| p.into_inner());
        subs.retain(|s| !s.peer.is_transport_closed());
        if subs.iter().any(|s| s.session == session && s.uri == uri) {
            return Ok(());
        }
        if subs.iter().filter(|s| s.session == session).count() >= MAX_PER_SESSION {
            return Err(format!(
                "this session already has {MAX_PER_SESSION} subscriptions; unsubscribe from some first"
            ));
        }
        if subs.len() >= MAX_TOTAL {
            return Err(format!(
                "the server holds {MAX_TOTAL} subscriptions; retry later"
            ));
        }
        subs.push(Sub {
            session: session.to_string(),
            peer,
            uri: uri.to_string(),
        });
        Ok(())
    }

    /// Forget `session`'s subscription to `uri`.
    pub fn unsubscribe(&self, session: &str, uri: &str) {
        let mut subs = self.subs.lock().unwrap_or_else(|p| p.into_inner());
        subs.retain(|s| !(s.session == session && s.uri == uri));
    }

    /// Tell every session subscribed to one of `uris`.
    async fn notify(&self, uris: &[String]) {
        let peers: Vec<(Peer<RoleServer>, String)> = {
            let subs = self.subs.lock().unwrap_or_else(|p| p.into_inner());
            subs.iter()
                .filter(|s| uris.contains(&s.uri) && !s.peer.is_transport_closed())
                .map(|s| (s.peer.clone(), s.uri.clone()))
                .collect()
        };
        for (peer, uri) in peers {
            let _ = peer
                .notify_resource_updated(ResourceUpdatedNotificationParam::new(uri))
                .await;
        }
    }
}

/// Whether `uri` names something aerie serves: a static resource or an instance of a template.
pub fn exists(snap: &Snapshot, uri: &str) -> bool {
    snap.resources.contains_key(uri) || super::templates::resolve(snap, uri).is_some()
}

/// The resources a successful write of `tool` (of `plugin`) with `args` may have changed.
fn changed_by(
    snap: &Snapshot,
    plugin: &Plugin,
    tool: &Tool,
    args: &Value,
    out: &ToolOutcome,
) -> Vec<String> {
    let s = out.structured.as_ref();
    let nothing_applied = s.and_then(|v| v.get("preview")) == Some(&Value::Bool(true))
        || s.and_then(|v| v.get("applied")) == Some(&Value::Bool(false));
    if out.is_error || nothing_applied {
        return Vec::new();
    }
    // Ids the write names: its string arguments and lists of strings.
    let values: Vec<&str> = match args {
        Value::Object(m) => m
            .values()
            .flat_map(|v| match v {
                Value::String(s) => vec![s.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            })
            .filter(|v| !v.is_empty() && v.len() <= crate::registry::uri_template::MAX_VALUE_BYTES)
            .collect(),
        _ => Vec::new(),
    };
    let written = crate::controls::cache::tags(&plugin.name, tool);
    let mut uris = Vec::new();
    for (p, i) in snap.templates.values() {
        let t = &p.features.templates[*i];
        let Some(reader) = p.tools.iter().find(|x| x.desc.name == t.desc.tool) else {
            continue;
        };
        let read = crate::controls::cache::tags(&p.name, reader);
        if !read.iter().any(|tag| written.contains(tag)) {
            continue;
        }
        let vars: Vec<&str> = t.uri.variables().collect();
        let [var] = vars.as_slice() else { continue };
        for v in &values {
            let uri = t
                .desc
                .uri_template
                .replace(&format!("{{{var}}}"), &encode(v));
            // Only what a read of that URI would accept.
            if t.uri.matches(&uri).is_some() && !uris.contains(&uri) {
                uris.push(uri);
            }
        }
    }
    uris.truncate(MAX_UPDATED);
    uris
}

/// `v` as one URI segment: the characters a template variable cannot hold, percent-encoded.
fn encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '%' | '/' | '?' | '#' | '{' | '}' | ' ' => out.push_str(&format!("%{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// After a write tool ran: tell subscribers (2025 sessions and 2026 listen streams) about the
/// resources it may have changed.
pub async fn after_write(app: &App, plugin: &Plugin, tool: &Tool, args: &Value, out: &ToolOutcome) {
    let snap = app.registry.snapshot();
    let uris = changed_by(&snap, plugin, tool, args, out);
    if uris.is_empty() {
        return;
    }
    app.subscriptions.notify(&uris).await;
    let changes: Vec<Change> = uris.into_iter().map(Change::ResourceUpdated).collect();
    app.changes.publish(&changes).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_become_one_uri_segment() {
        assert_eq!(encode("cid:ind:1"), "cid:ind:1");
        assert_eq!(encode("a/b c%"), "a%2Fb%20c%25");
    }
}
