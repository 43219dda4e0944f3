//! The plugin's view of the host: the WIT imports behind a trait, so tool logic runs the same
//! against the real host (on wasm) and against [`crate::testing::MockEnv`] in native unit tests.

use crate::bindings::aerie::plugin::{falcon, files, host};

/// One Falcon API operation to perform (mirrors the WIT `falcon.request`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FalconRequest {
    /// Operation id, e.g. `QueryDevicesByFilter`.
    pub operation: String,
    /// Values for the path template's `{name}` placeholders.
    pub path_params: Vec<(String, String)>,
    /// Query string pairs, in order.
    pub query: Vec<(String, String)>,
    /// JSON (or, for uploads, multipart) body.
    pub body: Option<Vec<u8>>,
}

impl FalconRequest {
    /// The body parsed as JSON, if it is JSON (handy in tests).
    pub fn body_json(&self) -> Option<serde_json::Value> {
        self.body
            .as_deref()
            .and_then(|b| serde_json::from_slice(b).ok())
    }

    /// The first value of query parameter `name`.
    pub fn query_value(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// All values of query parameter `name`.
    pub fn query_values(&self, name: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The value of path parameter `name`.
    pub fn path_value(&self, name: &str) -> Option<&str> {
        self.path_params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What Falcon answered (mirrors the WIT `falcon.response`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FalconResponse {
    /// HTTP status.
    pub status: u16,
    /// Safe subset of headers, lower-case names.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

/// Why the host produced no response (mirrors the WIT `falcon.error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FalconError {
    /// Outside the grant, or a guard refused it.
    #[error("{0}")]
    Denied(String),
    /// No answer within the host's timeout.
    #[error("the request timed out")]
    Timeout,
    /// Falcon kept answering 429.
    #[error("{0}")]
    RateLimited(String),
    /// Connection-level failure.
    #[error("{0}")]
    Transport(String),
    /// The response exceeded the host's cap (bytes).
    #[error("the response exceeded the host's cap of {0} bytes")]
    TooLarge(u64),
    /// The host could not authenticate to Falcon.
    #[error("{0}")]
    Auth(String),
}

/// Why a file operation failed (mirrors the WIT `files.error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// No file access for this plugin, or the name is not allowed.
    #[error("{0}")]
    Denied(String),
    /// No such file.
    #[error("no such file: {0}")]
    NotFound(String),
    /// Larger than the host's cap (bytes).
    #[error("the file exceeds the host's cap of {0} bytes")]
    TooLarge(u64),
    /// Other I/O failure.
    #[error("{0}")]
    Io(String),
}

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Very detailed.
    Trace,
    /// Debugging.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected but handled.
    Warn,
    /// A failure.
    Error,
}

/// Everything a tool handler may ask of the host.
pub trait Env {
    /// Perform a Falcon operation.
    fn falcon(&self, req: &FalconRequest) -> Result<FalconResponse, FalconError>;
    /// Write a log line.
    fn log(&self, level: Level, message: &str);
    /// Monotonic milliseconds.
    fn now_ms(&self) -> u64;
    /// Sleep without burning CPU (capped by the call's deadline).
    fn sleep(&self, ms: u32);
    /// Report progress of the current call.
    fn progress(&self, done: u64, total: Option<u64>, message: &str);
    /// Operator-set configuration value.
    fn config(&self, key: &str) -> Option<String>;
    /// Read a file from the operator's files directory.
    fn read_file(&self, name: &str) -> Result<Vec<u8>, FileError>;
    /// Create or replace a file in the files directory; returns its SHA-256 (lower-case hex).
    fn write_file(&self, name: &str, contents: &[u8]) -> Result<String, FileError>;
}

/// The real host, through the WIT imports. Only meaningful inside a wasm component: on a native
/// target the generated import stubs are unreachable, so native tests use
/// [`crate::testing::MockEnv`].
#[derive(Debug, Clone, Copy, Default)]
pub struct HostEnv;

impl Env for HostEnv {
    fn falcon(&self, req: &FalconRequest) -> Result<FalconResponse, FalconError> {
        let wire = falcon::Request {
            operation: req.operation.clone(),
            path_params: req.path_params.clone(),
            query: req.query.clone(),
            body: req.body.clone(),
        };
        match falcon::call(&wire) {
            Ok(r) => Ok(FalconResponse {
                status: r.status,
                headers: r.headers,
                body: r.body,
            }),
            Err(e) => Err(match e {
                falcon::Error::Denied(s) => FalconError::Denied(s),
                falcon::Error::Timeout => FalconError::Timeout,
                falcon::Error::RateLimited(s) => FalconError::RateLimited(s),
                falcon::Error::Transport(s) => FalconError::Transport(s),
                falcon::Error::TooLarge(n) => FalconError::TooLarge(n),
                falcon::Error::Auth(s) => FalconError::Auth(s),
            }),
        }
    }

    fn log(&self, level: Level, message: &str) {
        let level = match level {
            Level::Trace => host::Level::Trace,
            Level::Debug => host::Level::Debug,
            Level::Info => host::Level::Info,
            Level::Warn => host::Level::Warn,
            Level::Error => host::Level::Error,
        };
        host::log(level, message);
    }

    fn now_ms(&self) -> u64 {
        host::monotonic_ms()
    }

    fn sleep(&self, ms: u32) {
        host::sleep(ms);
    }

    fn progress(&self, done: u64, total: Option<u64>, message: &str) {
        host::progress(done, total, message);
    }

    fn config(&self, key: &str) -> Option<String> {
        host::config(key)
    }

    fn read_file(&self, name: &str) -> Result<Vec<u8>, FileError> {
        files::read(name).map_err(file_error)
    }

    fn write_file(&self, name: &str, contents: &[u8]) -> Result<String, FileError> {
        files::write(name, contents).map_err(file_error)
    }
}

fn file_error(e: files::Error) -> FileError {
    match e {
        files::Error::Denied(s) => FileError::Denied(s),
        files::Error::NotFound(s) => FileError::NotFound(s),
        files::Error::TooLarge(n) => FileError::TooLarge(n),
        files::Error::Io(s) => FileError::Io(s),
    }
}
