//! The running application: what plugins reach through their imports (policy-checked Falcon
//! egress, the files directory, operator config), plus the registry and runtime it serves.

use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::json;

use crate::audit::Audit;
use crate::catalogue::{Catalogue, Guard};
use crate::egress::Egress;
use crate::files::FilesDir;
use crate::policy::Policy;
use crate::registry::Registry;
use crate::runtime::{CallInfo, FilesOp, FilesReply, Runtime, Services, falcon, files};

/// Shared state of a running server.
pub struct App {
    /// The wasm runtime.
    pub runtime: Runtime,
    /// What is being served.
    pub registry: Arc<Registry>,
    /// Host-side services plugins call into.
    pub services: Arc<HostServices>,
}

/// The [`Services`] implementation: every plugin request passes through here.
pub struct HostServices {
    /// The operator's policy.
    pub policy: Policy,
    /// Falcon egress; `None` when no credentials are configured.
    pub egress: Option<Arc<Egress>>,
    /// Files directory, if the operator named one.
    pub files: Option<FilesDir>,
    /// Audit log.
    pub audit: Arc<Audit>,
    /// Registry, to find the calling tool's grant.
    pub registry: Arc<Registry>,
}

impl HostServices {
    fn deny(&self, who: &CallInfo, operation: &str, reason: String) -> falcon::Error {
        tracing::warn!(plugin = %who.plugin, tool = %who.tool, operation, %reason, "operation denied");
        self.audit.record(
            "denied",
            json!({"plugin": &*who.plugin, "tool": &*who.tool, "operation": operation, "reason": reason}),
        );
        falcon::Error::Denied(reason)
    }
}

impl Services for HostServices {
    fn falcon(
        &self,
        who: &CallInfo,
        req: falcon::Request,
    ) -> BoxFuture<'static, Result<falcon::Response, falcon::Error>> {
        let op_id = req.operation.clone();
        let Some(op) = Catalogue::builtin().get(&op_id) else {
            return futures::future::ready(Err(self.deny(
                who,
                &op_id,
                format!("unknown operation `{op_id}`"),
            )))
            .boxed();
        };
        // The grant is looked up in the current snapshot: a plugin replaced mid-call is held
        // to the policy of what is being served now, never to something wider.
        let snap = self.registry.snapshot();
        let granted = snap
            .plugins
            .get(&*who.plugin)
            .and_then(|p| p.tools.iter().find(|t| *t.desc.name == *who.tool))
            .map(|t| t.grant.granted.contains(&op_id));
        if granted != Some(true) {
            let reason = format!(
                "operation `{op_id}` is not granted to tool `{}` of plugin `{}` (not declared by the tool, or withheld by policy)",
                who.tool, who.plugin
            );
            return futures::future::ready(Err(self.deny(who, &op_id, reason))).boxed();
        }
        if op.guard == Some(Guard::RtrCommand) {
            if let Err(reason) = self.policy.rtr.check(&op_id, req.body.as_deref()) {
                return futures::future::ready(Err(self.deny(who, &op_id, reason))).boxed();
            }
        }
        let Some(egress) = self.egress.clone() else {
            return futures::future::ready(Err(falcon::Error::Auth(
                "Falcon credentials are not configured: set FALCON_CLIENT_ID and FALCON_CLIENT_SECRET (and FALCON_BASE_URL), or try `aerie demo`".into(),
            )))
            .boxed();
        };
        let plugin = who.plugin.clone();
        let op = op.clone();
        async move { egress.perform(&plugin, &op, &req).await }.boxed()
    }

    fn files(&self, who: &CallInfo, op: FilesOp) -> Result<FilesReply, files::Error> {
        if !self.policy.plugin(&who.plugin).files {
            return Err(files::Error::Denied(format!(
                "plugin `{}` has no file access (set [plugins.{}] files = true)",
                who.plugin, who.plugin
            )));
        }
        let Some(dir) = &self.files else {
            return Err(files::Error::Denied(
                "no files directory configured (start with --files-dir DIR)".into(),
            ));
        };
        let reply = match op {
            FilesOp::Read(n) => dir.read(&n).map(FilesReply::Contents),
            FilesOp::Write(n, c) => dir.write(&n, &c).map(FilesReply::Written),
            FilesOp::List => dir.list().map(FilesReply::Listing),
            FilesOp::Stat(n) => dir.stat(&n).map(FilesReply::Info),
        };
        self.audit.record(
            "files",
            json!({"plugin": &*who.plugin, "tool": &*who.tool, "ok": reply.is_ok()}),
        );
        reply
    }

    fn config(&self, who: &CallInfo, key: &str) -> Option<String> {
        self.policy
            .plugins
            .get(&*who.plugin)?
            .config
            .get(key)
            .cloned()
    }
}
