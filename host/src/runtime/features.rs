//! Calls into the optional `mcp` export: reading a templated resource and completing a value.
//! Each runs like a tool call (a fresh store, the plugin's limits and call slots) under the
//! grant of the read tool the template or completer names, which the caller puts in `who`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{CallFailure, CallInfo, Caller, Instance, Runtime, Services, tools};

/// The `mcp` export of a plugin that declared no features cannot be reached: the host only
/// routes templates and completers a plugin declared, and declaring needs the export.
fn missing(who: &CallInfo) -> CallFailure {
    CallFailure::Internal(format!(
        "plugin `{}` does not export the mcp interface",
        who.plugin
    ))
}

impl Runtime {
    /// Read a resource of `template` with `variables`, by the plugin's own deadline.
    pub async fn read_resource(
        &self,
        instance: &Instance,
        who: CallInfo,
        services: Arc<dyn Services>,
        template: &str,
        variables: Vec<(String, String)>,
    ) -> Result<tools::Output, CallFailure> {
        let deadline = Instant::now() + instance.limits.deadline();
        let template = template.to_string();
        let err = missing(&who);
        let caller = Caller {
            who,
            services,
            progress: None,
        };
        self.invoke(instance, deadline, caller, move |g, store| {
            Box::pin(async move {
                match &g.mcp {
                    Some(m) => Ok(m.call_read_resource(store, &template, &variables).await?),
                    None => Ok(Err(tools::CallError::Internal(err.to_string()))),
                }
            })
        })
        .await?
        .map_err(CallFailure::Tool)
    }

    /// Values of `completer` for `value`, within `deadline` (shorter than a tool's: a person is
    /// waiting on every keystroke).
    #[allow(clippy::too_many_arguments, reason = "one call's inputs, passed once")]
    pub async fn complete(
        &self,
        instance: &Instance,
        who: CallInfo,
        services: Arc<dyn Services>,
        completer: &str,
        value: &str,
        context: Vec<(String, String)>,
        deadline: Duration,
    ) -> Result<Vec<String>, CallFailure> {
        let deadline = Instant::now() + deadline.min(instance.limits.deadline());
        let (completer, value) = (completer.to_string(), value.to_string());
        let err = missing(&who);
        let caller = Caller {
            who,
            services,
            progress: None,
        };
        self.invoke(instance, deadline, caller, move |g, store| {
            Box::pin(async move {
                match &g.mcp {
                    Some(m) => Ok(m.call_complete(store, &completer, &value, &context).await?),
                    None => Ok(Err(tools::CallError::Internal(err.to_string()))),
                }
            })
        })
        .await?
        .map_err(CallFailure::Tool)
    }
}
