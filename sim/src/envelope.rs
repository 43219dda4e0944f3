//! The Falcon response envelope (`meta`, `resources`, `errors`), error bodies and the request
//! view handlers work with.

use serde_json::{Map, Value, json};

/// A parsed API request as handlers see it.
#[derive(Debug, Default)]
pub(crate) struct Req {
    /// HTTP method in upper case.
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// Decoded query pairs, in order (repeated keys kept).
    pub query: Vec<(String, String)>,
    /// Raw request body.
    pub body: Vec<u8>,
    /// `Content-Type` header, if any.
    pub content_type: String,
    /// Path parameters captured by `{name}` segments of the route.
    pub params: Vec<String>,
}

impl Req {
    /// First value of query parameter `key`.
    pub fn q(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// All values of `key`, accepting both `ids=a&ids=b` and `ids=a,b`.
    pub fn q_list(&self, key: &str) -> Vec<String> {
        let alt = format!("{key}[]");
        self.query
            .iter()
            .filter(|(k, _)| k == key || *k == alt)
            .flat_map(|(_, v)| v.split(',').map(|s| s.trim().to_string()))
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// A boolean query parameter (`true`/`false`), with a default.
    pub fn q_bool(&self, key: &str, default: bool) -> Result<bool, ApiError> {
        match self.q(key) {
            None => Ok(default),
            Some("true") | Some("True") | Some("1") => Ok(true),
            Some("false") | Some("False") | Some("0") => Ok(false),
            Some(other) => Err(ApiError::bad_request(format!(
                "invalid value for {key}: '{other}' is not a boolean"
            ))),
        }
    }

    /// The JSON body as a loose value (an empty body is `{}`).
    pub fn json_value(&self) -> Result<Value, ApiError> {
        if self.body.is_empty() {
            return Ok(Value::Object(Map::new()));
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| ApiError::bad_request(format!("invalid request body: {e}")))
    }
}

/// A response body.
#[derive(Debug)]
pub(crate) enum Body {
    /// JSON; if it has a `meta` object the server fills in `trace_id` and `query_time`.
    Json(Value),
    /// Raw bytes with their content type.
    Bytes(Vec<u8>, &'static str),
    /// No body (204).
    Empty,
}

/// A handler's answer.
#[derive(Debug)]
pub(crate) struct Resp {
    /// HTTP status.
    pub status: u16,
    /// Body.
    pub body: Body,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
}

impl Resp {
    /// A JSON response.
    pub fn json(status: u16, body: Value) -> Resp {
        Resp {
            status,
            body: Body::Json(body),
            headers: Vec::new(),
        }
    }

    /// A 204 without body.
    pub fn no_content() -> Resp {
        Resp {
            status: 204,
            body: Body::Empty,
            headers: Vec::new(),
        }
    }
}

/// Builds the standard envelope `{meta, resources, errors}`.
pub(crate) struct Envelope {
    status: u16,
    powered_by: &'static str,
    resources: Option<Value>,
    pagination: Option<Value>,
    errors: Vec<Value>,
    writes: Option<usize>,
}

impl Envelope {
    /// A new envelope answering with `status`.
    pub fn new(status: u16, powered_by: &'static str) -> Envelope {
        Envelope {
            status,
            powered_by,
            resources: None,
            pagination: None,
            errors: Vec::new(),
            writes: None,
        }
    }

    /// Sets `resources`.
    pub fn resources(mut self, r: Vec<Value>) -> Envelope {
        self.resources = Some(Value::Array(r));
        self
    }

    /// Sets `meta.pagination`.
    pub fn pagination(mut self, p: Value) -> Envelope {
        self.pagination = Some(p);
        self
    }

    /// Appends errors.
    pub fn errors(mut self, e: Vec<Value>) -> Envelope {
        self.errors.extend(e);
        self
    }

    /// Sets `meta.writes.resources_affected`.
    pub fn writes(mut self, n: usize) -> Envelope {
        self.writes = Some(n);
        self
    }

    /// The answer to a write over several items: 200 with what was done and an error item per
    /// failure; when nothing was done, the status of the first failure (404 for unknown ids).
    pub fn partial(powered_by: &'static str, done: Vec<Value>, errors: Vec<Value>) -> Resp {
        let status = match errors.first() {
            Some(e) if done.is_empty() => e["code"].as_u64().map_or(400, |c| c as u16),
            _ => 200,
        };
        Envelope::new(status, powered_by)
            .resources(done)
            .errors(errors)
            .into_resp()
    }

    /// Finishes into a response.
    pub fn into_resp(self) -> Resp {
        let mut meta = Map::new();
        meta.insert("query_time".into(), json!(0.0));
        meta.insert("powered_by".into(), json!(self.powered_by));
        meta.insert("trace_id".into(), json!(""));
        if let Some(p) = self.pagination {
            meta.insert("pagination".into(), p);
        }
        if let Some(w) = self.writes {
            meta.insert("writes".into(), json!({ "resources_affected": w }));
        }
        let mut body = Map::new();
        body.insert("meta".into(), Value::Object(meta));
        if let Some(r) = self.resources {
            body.insert("resources".into(), r);
        }
        body.insert("errors".into(), Value::Array(self.errors));
        Resp::json(self.status, Value::Object(body))
    }
}

/// One `errors[]` item.
pub(crate) fn error_item(code: u16, message: &str) -> Value {
    json!({ "code": code, "message": message })
}

/// One `errors[]` item naming an id (partial 404s).
pub(crate) fn error_item_id(code: u16, message: &str, id: &str) -> Value {
    json!({ "code": code, "message": message, "id": id })
}

/// An error answered with the error envelope (`meta` + `errors`, `resources` only if set).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status}: {message}")]
pub(crate) struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// `errors[0].message`.
    pub message: String,
    /// `meta.powered_by` override (gateway vs service).
    pub powered_by: Option<&'static str>,
    /// Whether to include `"resources": null` as some services do on 400.
    pub null_resources: bool,
}

impl ApiError {
    /// An error with status and message.
    pub fn new(status: u16, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            powered_by: None,
            null_resources: false,
        }
    }

    /// A 400.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, message)
    }

    /// A 404.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(404, message)
    }

    /// Renders the error envelope.
    pub fn into_resp(self, default_powered_by: &'static str) -> Resp {
        let mut body = json!({
            "meta": {
                "query_time": 0.0,
                "powered_by": self.powered_by.unwrap_or(default_powered_by),
                "trace_id": "",
            },
            "errors": [error_item(self.status, &self.message)],
        });
        if self.null_resources
            && let Some(obj) = body.as_object_mut()
        {
            obj.insert("resources".into(), Value::Null);
        }
        Resp::json(self.status, body)
    }
}

/// Shorthand for handler results.
pub(crate) type ApiResult = Result<Resp, ApiError>;
