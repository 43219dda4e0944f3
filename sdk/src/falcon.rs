//! Calling Falcon: the request builder ([`Call`]), the response ([`Reply`]) and the standard
//! envelope ([`Envelope`]) with its pagination block.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::env::{Env, FalconError, FalconRequest, FalconResponse};
use crate::error::{ErrorContext, OUTCOME_UNKNOWN, ToolError, map_status};

/// The header the host adds to a 403 with the scope its catalogue says the operation needs.
pub const REQUIRED_SCOPE: &str = "x-aerie-required-scope";

/// A Falcon request being built; send it with [`Call::send`].
///
/// Made by [`crate::Ctx::op`]. The host resolves the operation id to method and path and enforces the
/// plugin's grant; the builder only collects parameters and remembers enough about the request
/// (filter, subject, scope) to turn an error status into a useful message.
#[must_use = "a Call does nothing until sent"]
pub struct Call<'c> {
    env: &'c dyn Env,
    req: FalconRequest,
    subject: Option<String>,
    has_filter: bool,
    fql_guide: Option<&'static str>,
    scope: Option<&'static str>,
    verify: Option<&'static str>,
}

impl<'c> Call<'c> {
    pub(crate) fn new(env: &'c dyn Env, fql_guide: Option<&'static str>, operation: &str) -> Self {
        Self {
            env,
            req: FalconRequest {
                operation: operation.to_string(),
                ..Default::default()
            },
            subject: None,
            has_filter: false,
            fql_guide,
            scope: None,
            verify: None,
        }
    }

    /// Set a `{name}` path parameter.
    pub fn path(mut self, name: &str, value: impl Into<String>) -> Self {
        self.req.path_params.push((name.to_string(), value.into()));
        self
    }

    /// Add a query pair. A `filter` parameter marks the request as filtered (for 400 hints).
    pub fn query(mut self, name: &str, value: impl ToString) -> Self {
        if name == "filter" {
            self.has_filter = true;
        }
        self.req.query.push((name.to_string(), value.to_string()));
        self
    }

    /// Add a query pair when the value is present.
    pub fn query_opt<V: ToString>(self, name: &str, value: Option<V>) -> Self {
        match value {
            Some(v) => self.query(name, v),
            None => self,
        }
    }

    /// Add one query pair per value (`ids=a&ids=b`); the subject defaults to the values.
    pub fn query_all<I, V>(mut self, name: &str, values: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: ToString,
    {
        let values: Vec<String> = values.into_iter().map(|v| v.to_string()).collect();
        if self.subject.is_none() && !values.is_empty() {
            self.subject = Some(values.join(", "));
        }
        for v in values {
            self = self.query(name, v);
        }
        self
    }

    /// Set a JSON body. A top-level `filter` string marks the request as filtered, and `ids` /
    /// `composite_ids` arrays become the subject named in a 404.
    pub fn body_json<T: Serialize + ?Sized>(mut self, body: &T) -> Result<Self, ToolError> {
        let value = serde_json::to_value(body)
            .map_err(|e| ToolError::internal(format!("could not encode the request body: {e}")))?;
        if value.get("filter").is_some_and(Value::is_string) {
            self.has_filter = true;
        }
        if self.subject.is_none() {
            for key in ["ids", "composite_ids", "device_ids"] {
                if let Some(ids) = value.get(key).and_then(Value::as_array) {
                    let ids: Vec<&str> = ids.iter().filter_map(Value::as_str).collect();
                    if !ids.is_empty() {
                        self.subject = Some(ids.join(", "));
                        break;
                    }
                }
            }
        }
        let bytes = serde_json::to_vec(&value)
            .map_err(|e| ToolError::internal(format!("could not encode the request body: {e}")))?;
        self.req.body = Some(bytes);
        Ok(self)
    }

    /// Set a raw body (e.g. multipart, see [`crate::multipart`]).
    pub fn body_bytes(mut self, body: Vec<u8>) -> Self {
        self.req.body = Some(body);
        self
    }

    /// Name what this request is about, for a 404 (`host 5388…`).
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Mark the request as filtered even when the filter travels in the body.
    pub fn filtered(mut self) -> Self {
        self.has_filter = true;
        self
    }

    /// The FQL guide to cite when Falcon rejects the filter (defaults to the tool's guide).
    pub fn fql_guide(mut self, uri: &'static str) -> Self {
        self.fql_guide = Some(uri);
        self
    }

    /// The API scope to name on a 403 (by default the one the host's catalogue names, which the
    /// host sends in `x-aerie-required-scope`).
    pub fn scope(mut self, scope: &'static str) -> Self {
        self.scope = Some(scope);
        self
    }

    /// The read tool that shows whether this write took effect, named when its outcome is
    /// unknown (the request was sent but no answer came back), e.g. `hosts_get`.
    pub fn verified_by(mut self, read_tool: &'static str) -> Self {
        self.verify = Some(read_tool);
        self
    }

    /// The request as it will be handed to the host.
    pub fn request(&self) -> &FalconRequest {
        &self.req
    }

    /// Send and return the response whatever its status; only host-side failures are errors.
    pub fn send_raw(self) -> Result<Reply, ToolError> {
        let op = self.req.operation.clone();
        self.env
            .falcon(&self.req)
            .map(Reply::from)
            .map_err(|e| host_error_verified(&op, e, self.verify))
    }

    /// Send; a status outside 2xx becomes the matching [`ToolError`] (see [`map_status`]).
    pub fn send(self) -> Result<Reply, ToolError> {
        self.send_allowing(&[])
    }

    /// Send; 2xx and the listed statuses (e.g. 404 meaning "none") come back as a [`Reply`],
    /// anything else becomes the matching [`ToolError`].
    pub fn send_allowing(self, allowed: &[u16]) -> Result<Reply, ToolError> {
        let cx_subject = self.subject.clone();
        let has_filter = self.has_filter;
        let fql_guide = self.fql_guide;
        let scope = self.scope;
        let op = self.req.operation.clone();
        let reply = self.send_raw()?;
        if (200..300).contains(&reply.status) || allowed.contains(&reply.status) {
            return Ok(reply);
        }
        let cx = ErrorContext {
            operation: &op,
            subject: cx_subject.as_deref(),
            has_filter,
            fql_guide,
            scope: scope.or_else(|| reply.header(REQUIRED_SCOPE)),
        };
        Err(map_status(reply.status, &reply.body, &cx))
    }

    /// Send and parse the standard envelope.
    pub fn envelope(self) -> Result<Envelope, ToolError> {
        self.send()?.envelope()
    }
}

/// Map a host-level refusal or failure to a tool error.
///
/// Timeouts, rate limits and transport failures have no HTTP status of their own; they are reported
/// as upstream 504, 429 and 502 so the model sees the same "retry later" family as Falcon's own.
pub fn host_error(op: &str, e: FalconError) -> ToolError {
    host_error_verified(op, e, None)
}

/// How a host's unknown-outcome text ends (the host's `CHECK_BEFORE_RETRY`).
const CHECK_BEFORE_RETRY: &str = "check the current state before retrying";

/// [`host_error`] for a request whose effect `verify` (a read tool) shows: an unknown outcome
/// names that tool as the way to check before retrying.
pub fn host_error_verified(op: &str, e: FalconError, verify: Option<&str>) -> ToolError {
    match e {
        FalconError::Transport(s) if s.contains(OUTCOME_UNKNOWN) => {
            let check = match verify {
                Some(tool) => format!("check with `{tool}` before retrying"),
                None => "check the current state with the matching read tool before retrying"
                    .to_string(),
            };
            let text = if s.contains(CHECK_BEFORE_RETRY) {
                s.replace(CHECK_BEFORE_RETRY, &check)
            } else {
                format!("{s}; {check}")
            };
            ToolError::Upstream {
                status: 502,
                message: format!("{op} may have been applied: {text}"),
            }
        }
        FalconError::Denied(reason) => ToolError::Denied(format!("{op}: {reason}")),
        FalconError::Timeout => ToolError::Upstream {
            status: 504,
            message: format!(
                "{op} timed out; retry, or narrow the query (smaller limit, tighter filter)"
            ),
        },
        FalconError::RateLimited(s) => ToolError::Upstream {
            status: 429,
            message: format!("{op} was rate limited: {s}"),
        },
        FalconError::Transport(s) => {
            let retry = if s.contains("retry") {
                ""
            } else {
                "; retry later"
            };
            ToolError::Upstream {
                status: 502,
                message: format!("could not reach Falcon for {op}: {s}{retry}"),
            }
        }
        FalconError::TooLarge(cap) => ToolError::Internal(format!(
            "{op} answered more than the host's {cap}-byte cap; lower `limit` or narrow the filter"
        )),
        FalconError::Auth(s) => ToolError::Internal(format!(
            "the aerie host could not authenticate to Falcon ({s}); the operator must fix the credentials"
        )),
    }
}

/// A response from Falcon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Safe subset of headers, lower-case names.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl From<FalconResponse> for Reply {
    fn from(r: FalconResponse) -> Self {
        Self {
            status: r.status,
            headers: r.headers,
            body: r.body,
        }
    }
}

impl Reply {
    /// Parse the body as JSON into `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ToolError> {
        if self.body.is_empty() {
            // 204s and meta-less answers: treat as JSON null so `Option<T>`/`Value` still parse.
            return serde_json::from_slice(b"null").map_err(bad_json);
        }
        serde_json::from_slice(&self.body).map_err(bad_json)
    }

    /// Parse the standard `{meta, resources, errors}` envelope.
    pub fn envelope(&self) -> Result<Envelope, ToolError> {
        if self.body.is_empty() {
            return Ok(Envelope::default());
        }
        self.json()
    }

    /// A header value by lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn bad_json(e: serde_json::Error) -> ToolError {
    ToolError::internal(format!(
        "Falcon returned a body that is not the expected JSON: {e}"
    ))
}

/// The standard Falcon response envelope.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
pub struct Envelope {
    /// `meta` block.
    #[serde(default)]
    pub meta: Meta,
    /// `resources`: ids for queries, objects for entities; `null` reads as empty.
    #[serde(default, deserialize_with = "null_as_default")]
    pub resources: Vec<Value>,
    /// `errors`; `null` reads as empty.
    #[serde(default, deserialize_with = "null_as_default")]
    pub errors: Vec<ApiError>,
}

/// One entry of `errors`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, Serialize)]
pub struct ApiError {
    /// Status-like code.
    #[serde(default)]
    pub code: i64,
    /// Message.
    #[serde(default)]
    pub message: String,
    /// Id the error is about, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// The `meta` block.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
pub struct Meta {
    /// Pagination, on query and combined endpoints.
    #[serde(default)]
    pub pagination: Option<Pagination>,
    /// Trace id, useful in support tickets.
    #[serde(default)]
    pub trace_id: Option<String>,
    /// `writes.resources_affected` and friends.
    #[serde(default)]
    pub writes: Option<Value>,
}

/// `meta.pagination`: offset style `{offset, limit, total}`, cursor style `{after, limit, total}`,
/// or scroll style with a string `offset` token.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
pub struct Pagination {
    /// Number (offset paging) or string (scroll token).
    #[serde(default)]
    pub offset: Option<Value>,
    /// Page size.
    #[serde(default)]
    pub limit: Option<u64>,
    /// Total matches.
    #[serde(default)]
    pub total: Option<u64>,
    /// Cursor for the next page (`after` paging).
    #[serde(default)]
    pub after: Option<String>,
    /// Cursor for the next page (combined endpoints).
    #[serde(default)]
    pub next: Option<String>,
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + serde::Deserialize<'de>,
{
    let v: Option<T> = serde::Deserialize::deserialize(d)?;
    Ok(v.unwrap_or_default())
}

impl Envelope {
    /// `resources` as strings (query endpoints return ids).
    pub fn ids(&self) -> Vec<String> {
        self.resources
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    }

    /// `meta.pagination.total`, or the number of resources when absent.
    pub fn total(&self) -> u64 {
        self.meta
            .pagination
            .as_ref()
            .and_then(|p| p.total)
            .unwrap_or(self.resources.len() as u64)
    }

    /// The `after` (or `next`) cursor, when non-empty.
    pub fn cursor(&self) -> Option<String> {
        let p = self.meta.pagination.as_ref()?;
        p.after
            .as_deref()
            .or(p.next.as_deref())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    /// Error messages joined, for partial failures reported alongside resources.
    pub fn error_text(&self) -> Option<String> {
        if self.errors.is_empty() {
            return None;
        }
        Some(
            self.errors
                .iter()
                .map(|e| e.message.as_str())
                .collect::<Vec<_>>()
                .join("; "),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn envelope_tolerates_nulls_and_missing() {
        let e: Envelope =
            serde_json::from_value(json!({"meta": {}, "resources": null, "errors": null})).unwrap();
        assert!(e.resources.is_empty() && e.errors.is_empty());
        let e: Envelope =
            serde_json::from_value(json!({"errors": [{"code": 403, "message": "no"}]})).unwrap();
        assert_eq!(e.error_text().as_deref(), Some("no"));
    }

    #[test]
    fn envelope_pagination_and_cursor() {
        let e: Envelope = serde_json::from_value(json!({
            "meta": {"pagination": {"offset": 0, "limit": 2, "total": 9, "after": "abc"}},
            "resources": ["a", "b"]
        }))
        .unwrap();
        assert_eq!(e.ids(), vec!["a", "b"]);
        assert_eq!(e.total(), 9);
        assert_eq!(e.cursor().as_deref(), Some("abc"));
        let e: Envelope =
            serde_json::from_value(json!({"meta": {"pagination": {"after": ""}}, "resources": []}))
                .unwrap();
        assert_eq!(e.cursor(), None);
        assert_eq!(e.total(), 0);
    }

    #[test]
    fn a_403_names_the_scope_the_host_sends() {
        use crate::testing::MockEnv;
        let body = br#"{"errors":[{"code":403,"message":"access denied, authorization failed"}]}"#;
        let reply = |headers: Vec<(String, String)>| FalconResponse {
            status: 403,
            headers,
            body: body.to_vec(),
        };
        let env = MockEnv::new().reply_response(
            "queryVulnerabilities",
            reply(vec![(REQUIRED_SCOPE.into(), "Vulnerabilities:read".into())]),
        );
        let e = Call::new(&env, None, "queryVulnerabilities")
            .send()
            .unwrap_err();
        assert!(e.to_string().contains("`Vulnerabilities:read`"), "{e}");
        // An explicit scope wins; without either, no scope is named.
        let env = MockEnv::new().reply_response("X", reply(vec![]));
        let e = Call::new(&env, None, "X").send().unwrap_err();
        assert!(!e.to_string().contains("needs scope"), "{e}");
        let e = Call::new(&env, None, "X")
            .scope("Custom:read")
            .send()
            .unwrap_err();
        assert!(e.to_string().contains("`Custom:read`"), "{e}");
    }

    #[test]
    fn host_errors_map() {
        assert!(matches!(
            host_error("X", FalconError::Denied("no".into())),
            ToolError::Denied(_)
        ));
        assert!(matches!(
            host_error("X", FalconError::Timeout),
            ToolError::Upstream { status: 504, .. }
        ));
        let unknown = FalconError::Transport(format!(
            "{OUTCOME_UNKNOWN}: the X request was sent and may have been applied (timed out); it was not repeated — {CHECK_BEFORE_RETRY}"
        ));
        let e = host_error_verified("X", unknown, Some("hosts_get"));
        assert!(e.outcome_unknown(), "{e}");
        assert!(
            e.to_string().contains("may have been applied")
                && e.to_string()
                    .contains("check with `hosts_get` before retrying"),
            "{e}"
        );
        let e = host_error("X", FalconError::Transport("could not connect to h:1: connection refused; the request was not sent, so it is safe to retry".into()));
        assert!(
            !e.outcome_unknown() && !e.to_string().contains("retry later"),
            "{e}"
        );
    }
}
