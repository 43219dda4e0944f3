//! What a plugin's `Store` holds during one call, and the host side of its imports.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::{falcon, files, host};
use super::limits::MemoryLimiter;
use super::sanitize::log_safe;
use super::throttle::{ProgressGate, Record, RecordBudget};

/// Reports progress of the running call: (done, total, message).
pub type ProgressSink = Arc<dyn Fn(u64, Option<u64>, String) + Send + Sync>;

/// Who is calling, for grants and audit.
#[derive(Clone, Debug)]
pub struct CallInfo {
    /// Plugin name.
    pub plugin: Arc<str>,
    /// Tool name; empty while the host calls `describe`.
    pub tool: Arc<str>,
}

/// What a plugin's imports reach outside the sandbox. The host application implements it with
/// its policy, egress and files directory; the runtime only moves calls across the boundary.
///
/// `records` is the call's allowance of log lines and audit records: a service writes a
/// refusal's or a files operation's record only when `records.admit(..)` says so, and the
/// runtime reports what was dropped once at the end of the call (through [`Services::dropped`]).
pub trait Services: Send + Sync + 'static {
    /// Perform a Falcon operation on behalf of `who`, subject to its grant.
    fn falcon(
        &self,
        who: &CallInfo,
        records: &RecordBudget,
        req: falcon::Request,
    ) -> futures::future::BoxFuture<'static, Result<falcon::Response, falcon::Error>>;

    /// Run a files operation on behalf of `who`. The I/O must not block the async worker that
    /// polls the future (run it with `spawn_blocking`).
    fn files(
        &self,
        who: &CallInfo,
        records: &RecordBudget,
        op: FilesOp,
    ) -> futures::future::BoxFuture<'static, Result<FilesReply, files::Error>>;

    /// An operator-set configuration value for the plugin.
    fn config(&self, who: &CallInfo, key: &str) -> Option<String>;

    /// At the end of a call: `count` records of `kind` were not written individually. The
    /// runtime has already logged that; a service that audits `kind` records the count.
    fn dropped(&self, who: &CallInfo, kind: Record, count: u64) {
        let _ = (who, kind, count);
    }
}

/// A request to the files interface.
#[derive(Debug)]
pub enum FilesOp {
    /// Read a file.
    Read(String),
    /// Write a file.
    Write(String, Vec<u8>),
    /// List files.
    List,
    /// Stat a file.
    Stat(String),
}

/// The answer to a [`FilesOp`].
#[derive(Debug)]
pub enum FilesReply {
    /// File contents.
    Contents(Vec<u8>),
    /// SHA-256 of what was written.
    Written(String),
    /// Directory listing.
    Listing(Vec<files::FileInfo>),
    /// One file's metadata.
    Info(files::FileInfo),
}

/// Store data for one call.
pub struct CallState {
    pub(super) wasi: WasiCtx,
    pub(super) table: ResourceTable,
    pub(super) limiter: MemoryLimiter,
    pub(super) who: CallInfo,
    pub(super) services: Arc<dyn Services>,
    pub(super) progress: Option<ProgressSink>,
    /// Coalesces and rate-limits this call's progress reports.
    pub(super) progress_gate: ProgressGate,
    /// This call's allowance of log lines and audit records.
    pub(super) records: Arc<RecordBudget>,
    pub(super) deadline: Instant,
    /// CPU budget left, in epoch ticks.
    pub(super) cpu_ticks_left: u64,
    /// Set when the CPU budget ran out.
    pub(super) cpu_exhausted: bool,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl CallState {
    /// Send the progress report held back by the rate limit, if any. Called whenever the guest
    /// starts to wait (so a report is never stale for long) and at the end of the call.
    pub(super) fn flush_progress(&mut self) {
        if let (Some(sink), Some((done, total, message))) =
            (&self.progress, self.progress_gate.flush())
        {
            sink(done, total, message);
        }
    }
}

impl falcon::Host for CallState {
    async fn call(&mut self, req: falcon::Request) -> Result<falcon::Response, falcon::Error> {
        if self.who.tool.is_empty() {
            return Err(falcon::Error::Denied(
                "Falcon calls are not allowed during describe()".into(),
            ));
        }
        self.flush_progress();
        self.services.falcon(&self.who, &self.records, req).await
    }
}

impl host::Host for CallState {
    fn log(&mut self, level: host::Level, message: String) -> wasmtime::Result<()> {
        if !self.records.admit(Record::Log) {
            return Ok(());
        }
        // Plugin names match ^[a-z0-9_]{1,64}$ (checked at load), so they print as they are.
        let plugin = &*self.who.plugin;
        let message = log_safe(&message, 4096);
        match level {
            host::Level::Trace => tracing::trace!(%plugin, "{message}"),
            host::Level::Debug => tracing::debug!(%plugin, "{message}"),
            host::Level::Info => tracing::info!(%plugin, "{message}"),
            host::Level::Warn => tracing::warn!(%plugin, "{message}"),
            host::Level::Error => tracing::error!(%plugin, "{message}"),
        }
        Ok(())
    }

    fn monotonic_ms(&mut self) -> wasmtime::Result<u64> {
        static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        Ok(START.get_or_init(Instant::now).elapsed().as_millis() as u64)
    }

    async fn sleep(&mut self, ms: u32) {
        self.flush_progress();
        // Never sleep past the deadline: the call would be cancelled there anyway.
        let left = self.deadline.saturating_duration_since(Instant::now());
        tokio::time::sleep(Duration::from_millis(ms.into()).min(left)).await;
    }

    fn progress(&mut self, done: u64, total: Option<u64>, message: String) -> wasmtime::Result<()> {
        let Some(sink) = &self.progress else {
            return Ok(());
        };
        if let Some((done, total, message)) =
            self.progress_gate
                .offer((done, total, truncate(&message, 512).to_string()))
        {
            sink(done, total, message);
        }
        Ok(())
    }

    fn config(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.services.config(&self.who, &key))
    }

    async fn ask(
        &mut self,
        questions: Vec<(String, host::InputRequest)>,
    ) -> wasmtime::Result<Vec<Result<String, host::InputError>>> {
        use crate::client_input::{Kind, MAX_QUESTIONS, Question, Unanswered};
        let refuse = |why: &str| {
            Ok(vec![
                Err(host::InputError::Failed(why.into()));
                questions.len()
            ])
        };
        if self.who.tool.is_empty() {
            return refuse("the client cannot be asked during describe()");
        }
        if questions.len() > MAX_QUESTIONS {
            return refuse(&format!("at most {MAX_QUESTIONS} questions per ask"));
        }
        // Without an MCP request (the test harness, benchmarks) there is nobody to ask.
        let Some(asker) = crate::client_input::current() else {
            return Ok(vec![Err(host::InputError::Unsupported); questions.len()]);
        };
        self.flush_progress();
        let questions: Vec<Question> = questions
            .into_iter()
            .map(|(key, r)| {
                let (kind, params) = match r {
                    host::InputRequest::Elicit(p) => (Kind::Elicit, p),
                    host::InputRequest::Sample(p) => (Kind::Sample, p),
                    host::InputRequest::ListRoots => (Kind::Roots, "{}".into()),
                };
                // Params that are not JSON fail the question's check, naming it.
                let params = serde_json::from_str(&params).unwrap_or(serde_json::Value::Null);
                Question { key, kind, params }
            })
            .collect();
        // Pending traps: the call ends here and the request answers with input-required.
        let answers = asker.ask(&questions, None).await?;
        Ok(answers
            .into_iter()
            .map(|a| match a {
                Ok(v) => Ok(v.to_string()),
                Err(Unanswered::Unsupported) => Err(host::InputError::Unsupported),
                Err(Unanswered::TimedOut) => Err(host::InputError::TimedOut),
                Err(Unanswered::Failed(m)) => {
                    Err(host::InputError::Failed(truncate(&m, 512).to_string()))
                }
            })
            .collect())
    }
}

impl CallState {
    /// Run one files operation through the host's services.
    async fn files_op(&mut self, op: FilesOp) -> Result<FilesReply, files::Error> {
        self.flush_progress();
        self.services.files(&self.who, &self.records, op).await
    }
}

impl files::Host for CallState {
    async fn read(&mut self, name: String) -> Result<Vec<u8>, files::Error> {
        match self.files_op(FilesOp::Read(name)).await? {
            FilesReply::Contents(c) => Ok(c),
            other => Err(unexpected(other)),
        }
    }

    async fn write(&mut self, name: String, contents: Vec<u8>) -> Result<String, files::Error> {
        match self.files_op(FilesOp::Write(name, contents)).await? {
            FilesReply::Written(d) => Ok(d),
            other => Err(unexpected(other)),
        }
    }

    async fn list(&mut self) -> Result<Vec<files::FileInfo>, files::Error> {
        match self.files_op(FilesOp::List).await? {
            FilesReply::Listing(l) => Ok(l),
            other => Err(unexpected(other)),
        }
    }

    async fn stat(&mut self, name: String) -> Result<files::FileInfo, files::Error> {
        match self.files_op(FilesOp::Stat(name)).await? {
            FilesReply::Info(i) => Ok(i),
            other => Err(unexpected(other)),
        }
    }
}

fn unexpected(reply: FilesReply) -> files::Error {
    files::Error::Io(format!("internal: unexpected files reply {reply:?}"))
}

/// Cut `s` to at most `max` bytes on a character boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
