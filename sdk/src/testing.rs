//! A scripted host for native unit tests of tool logic: canned Falcon replies per operation id,
//! a virtual clock, an in-memory files directory, and a record of every request.
//!
//! ```
//! use aerie_sdk::testing::MockEnv;
//! use serde_json::json;
//! let env = MockEnv::new().reply("QueryDevicesByFilter", 200, json!({"resources": []}));
//! # let _ = env;
//! ```

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, VecDeque};

use serde_json::Value;

use crate::context::Ctx;
use crate::env::{Env, FalconError, FalconRequest, FalconResponse, FileError, Level};

type Scripted = Result<FalconResponse, FalconError>;

/// A host whose answers are scripted; see the module docs.
#[derive(Default)]
pub struct MockEnv {
    replies: RefCell<HashMap<String, VecDeque<Scripted>>>,
    calls: RefCell<Vec<FalconRequest>>,
    clock: Cell<u64>,
    progress: RefCell<Vec<(u64, Option<u64>, String)>>,
    logs: RefCell<Vec<(Level, String)>>,
    files: RefCell<BTreeMap<String, Vec<u8>>>,
    config: HashMap<String, String>,
}

impl MockEnv {
    /// An empty script.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queue a JSON reply for `operation`. Replies for one operation are served in order; the
    /// last one repeats.
    pub fn reply(self, operation: &str, status: u16, body: Value) -> Self {
        self.reply_bytes(operation, status, body.to_string().into_bytes())
    }

    /// Queue a raw-body reply for `operation`.
    pub fn reply_bytes(self, operation: &str, status: u16, body: Vec<u8>) -> Self {
        self.push(
            operation,
            Ok(FalconResponse {
                status,
                headers: Vec::new(),
                body,
            }),
        )
    }

    /// Queue a whole response (status, headers, body) for `operation`.
    pub fn reply_response(self, operation: &str, response: FalconResponse) -> Self {
        self.push(operation, Ok(response))
    }

    /// Queue a host-side failure for `operation`.
    pub fn fail(self, operation: &str, error: FalconError) -> Self {
        self.push(operation, Err(error))
    }

    fn push(self, operation: &str, r: Scripted) -> Self {
        self.replies
            .borrow_mut()
            .entry(operation.to_string())
            .or_default()
            .push_back(r);
        self
    }

    /// Put a file into the virtual files directory.
    pub fn file(self, name: &str, contents: &[u8]) -> Self {
        self.files
            .borrow_mut()
            .insert(name.to_string(), contents.to_vec());
        self
    }

    /// Set an operator configuration value.
    pub fn config(mut self, key: &str, value: &str) -> Self {
        self.config.insert(key.to_string(), value.to_string());
        self
    }

    /// A context for calling a handler directly.
    pub fn ctx<'a>(&'a self, tool: &'a str) -> Ctx<'a> {
        Ctx::new(self, tool, None)
    }

    /// Every request made so far.
    pub fn calls(&self) -> Vec<FalconRequest> {
        self.calls.borrow().clone()
    }

    /// Requests made to `operation`.
    pub fn calls_to(&self, operation: &str) -> Vec<FalconRequest> {
        self.calls
            .borrow()
            .iter()
            .filter(|c| c.operation == operation)
            .cloned()
            .collect()
    }

    /// Operation ids called, in order.
    pub fn operations(&self) -> Vec<String> {
        self.calls
            .borrow()
            .iter()
            .map(|c| c.operation.clone())
            .collect()
    }

    /// Progress reports so far.
    pub fn progress_log(&self) -> Vec<(u64, Option<u64>, String)> {
        self.progress.borrow().clone()
    }

    /// Contents of a file written to (or put into) the files directory.
    pub fn file_contents(&self, name: &str) -> Option<Vec<u8>> {
        self.files.borrow().get(name).cloned()
    }

    /// Virtual milliseconds elapsed (advanced only by `sleep`).
    pub fn elapsed_ms(&self) -> u64 {
        self.clock.get()
    }
}

impl Env for MockEnv {
    fn falcon(&self, req: &FalconRequest) -> Result<FalconResponse, FalconError> {
        self.calls.borrow_mut().push(req.clone());
        let mut replies = self.replies.borrow_mut();
        let Some(queue) = replies.get_mut(&req.operation) else {
            return Err(FalconError::Denied(format!(
                "MockEnv has no reply scripted for {}",
                req.operation
            )));
        };
        if queue.len() > 1
            && let Some(r) = queue.pop_front()
        {
            return r;
        }
        queue.front().cloned().unwrap_or_else(|| {
            Err(FalconError::Denied(format!(
                "MockEnv has no reply scripted for {}",
                req.operation
            )))
        })
    }

    fn log(&self, level: Level, message: &str) {
        self.logs.borrow_mut().push((level, message.to_string()));
    }

    fn now_ms(&self) -> u64 {
        self.clock.get()
    }

    fn sleep(&self, ms: u32) {
        self.clock.set(self.clock.get() + u64::from(ms));
    }

    fn progress(&self, done: u64, total: Option<u64>, message: &str) {
        self.progress
            .borrow_mut()
            .push((done, total, message.to_string()));
    }

    fn config(&self, key: &str) -> Option<String> {
        self.config.get(key).cloned()
    }

    fn read_file(&self, name: &str) -> Result<Vec<u8>, FileError> {
        self.files
            .borrow()
            .get(name)
            .cloned()
            .ok_or_else(|| FileError::NotFound(name.to_string()))
    }

    /// Stores the file; the returned "hash" is a placeholder (length in hex, zero-padded to 64),
    /// not a real SHA-256: the SDK carries no hash implementation of its own.
    fn write_file(&self, name: &str, contents: &[u8]) -> Result<String, FileError> {
        self.files
            .borrow_mut()
            .insert(name.to_string(), contents.to_vec());
        Ok(format!("{:064x}", contents.len()))
    }
}
