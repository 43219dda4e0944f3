//! What one tool call started on Falcon, kept by the host because a plugin can run no code once
//! its call is cut: whether a write request left (so a call stopped midway can say its change
//! may have been applied), and the resources the catalogue says to release if the call ends
//! without releasing them itself (an NG-SIEM search job: `on_abandon` on `StartSearchV1`).
//!
//! [`CallServices`] wraps the host's [`Services`] for one call and watches each request and
//! response; [`CallServices::release`] runs the leftover releases through the same services,
//! so they are policy-checked and audited like any other request.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::{Value, json};

use crate::audit::Audit;
use crate::catalogue::{Access, Catalogue};
use crate::runtime::{
    CallInfo, FilesOp, FilesReply, Record, RecordBudget, Services, falcon, files,
};

/// Longest the host waits for one release request when a call ends.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

/// A resource a call created and has not released: the operation that releases it, with its
/// path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pending {
    operation: String,
    path_params: Vec<(String, String)>,
}

/// The host's services for one call, with that call's bookkeeping.
pub struct CallServices {
    inner: Arc<dyn Services>,
    audit: Arc<Audit>,
    ledger: Arc<Ledger>,
}

/// What the call's requests left behind; shared with the requests' futures.
#[derive(Default)]
struct Ledger {
    /// Write requests sent or on their way.
    writes: AtomicUsize,
    /// Resources to release.
    pending: Mutex<Vec<Pending>>,
}

impl Ledger {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Pending>> {
        // A poisoned list is still a list: the panic happened elsewhere, mid-push at worst.
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl CallServices {
    /// Bookkeeping for a new call over `inner`; releases are audited to `audit`.
    pub fn new(inner: Arc<dyn Services>, audit: Arc<Audit>) -> CallServices {
        CallServices {
            inner,
            audit,
            ledger: Arc::default(),
        }
    }

    /// Whether a write request of this call may have reached Falcon (it was sent, or was on
    /// its way when the call was cut).
    pub fn write_sent(&self) -> bool {
        self.ledger.writes.load(Ordering::SeqCst) > 0
    }

    /// Whether something is waiting to be released.
    pub fn has_pending(&self) -> bool {
        !self.ledger.lock().is_empty()
    }

    /// Release what the call left behind; `reason` (completed, deadline, cancelled, shutdown…)
    /// goes to the audit log. Each release is bounded by a short timeout.
    pub async fn release(&self, who: &CallInfo, reason: &str) {
        let pending = std::mem::take(&mut *self.ledger.lock());
        for p in pending {
            let req = falcon::Request {
                operation: p.operation.clone(),
                path_params: p.path_params.clone(),
                query: Vec::new(),
                body: None,
            };
            // The host's own request: it has its own small allowance of refusal records.
            let records = RecordBudget::new(4, 4);
            let outcome =
                tokio::time::timeout(RELEASE_TIMEOUT, self.inner.falcon(who, &records, req)).await;
            let (status, error) = match &outcome {
                Ok(Ok(r)) => (Some(r.status), None),
                Ok(Err(e)) => (None, Some(format!("{e:?}"))),
                Err(_) => (None, Some("timeout".to_string())),
            };
            tracing::info!(plugin = %who.plugin, tool = %who.tool, operation = %p.operation, reason, ?status, "released what the call left running");
            self.audit.record(
                "cleanup",
                json!({
                    "plugin": &*who.plugin, "tool": &*who.tool, "operation": p.operation,
                    "path_params": p.path_params.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
                    "reason": reason, "status": status, "error": error,
                }),
            );
        }
    }
}

/// The id a created resource's release needs, from the creating response's body.
fn created_id(body: &[u8], field: &str) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let id = v.get(field)?.as_str()?;
    (!id.is_empty()).then(|| id.to_string())
}

fn same_params(a: &[(String, String)], b: &[(String, String)]) -> bool {
    a.len() == b.len() && a.iter().all(|p| b.contains(p))
}

impl Services for CallServices {
    fn falcon(
        &self,
        who: &CallInfo,
        records: &RecordBudget,
        req: falcon::Request,
    ) -> BoxFuture<'static, Result<falcon::Response, falcon::Error>> {
        let op = Catalogue::builtin().get(&req.operation);
        let is_write = op.is_some_and(|o| o.access == Access::Write);
        // What releasing a resource this request creates would take, prepared before the
        // request moves on.
        let release = op.and_then(|o| {
            let rule = o.on_abandon.as_ref()?;
            let target = Catalogue::builtin().get(&rule.operation)?;
            let names = target.path_params();
            let params: Vec<(String, String)> = req
                .path_params
                .iter()
                .filter(|(k, _)| names.contains(&k.as_str()) && *k != rule.id_param)
                .cloned()
                .collect();
            Some((rule.clone(), params))
        });
        let key = Pending {
            operation: req.operation.clone(),
            path_params: req.path_params.clone(),
        };
        if is_write {
            // Counted before the request leaves: a call cut while it is in flight must say
            // the write may have been applied.
            self.ledger.writes.fetch_add(1, Ordering::SeqCst);
        }
        let fut = self.inner.falcon(who, records, req);
        let ledger = self.ledger.clone();
        async move {
            let r = fut.await;
            // Refused by policy or without credentials: it never left.
            if is_write && matches!(r, Err(falcon::Error::Denied(_) | falcon::Error::Auth(_))) {
                ledger.writes.fetch_sub(1, Ordering::SeqCst);
            }
            if let Ok(resp) = &r {
                let ok = (200..300).contains(&resp.status);
                if ok
                    && let Some((rule, mut params)) = release
                    && let Some(id) = created_id(&resp.body, &rule.id_field)
                {
                    params.push((rule.id_param.clone(), id));
                    ledger.lock().push(Pending {
                        operation: rule.operation.clone(),
                        path_params: params,
                    });
                }
                // The plugin released it itself (or it is already gone).
                if ok || resp.status == 404 {
                    ledger.lock().retain(|p| {
                        !(p.operation == key.operation
                            && same_params(&p.path_params, &key.path_params))
                    });
                }
            }
            r
        }
        .boxed()
    }

    fn files(
        &self,
        who: &CallInfo,
        records: &RecordBudget,
        op: FilesOp,
    ) -> BoxFuture<'static, Result<FilesReply, files::Error>> {
        self.inner.files(who, records, op)
    }

    fn config(&self, who: &CallInfo, key: &str) -> Option<String> {
        self.inner.config(who, key)
    }

    fn dropped(&self, who: &CallInfo, kind: Record, count: u64) {
        self.inner.dropped(who, kind, count)
    }
}
