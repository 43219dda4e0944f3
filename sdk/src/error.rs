//! Tool errors: what a handler returns when it cannot produce a result, and how Falcon's answers
//! and the host's refusals become those errors.
//!
//! Every message is written for the model that called the tool: it says what went wrong and what
//! to change (an argument, a scope, a filter).

use serde_json::Value;

/// Why a tool call failed; maps one-to-one onto the WIT `call-error` variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ToolError {
    /// The arguments are wrong; the text says what to fix.
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
    /// An id or name does not exist; the text names it.
    #[error("not found: {0}")]
    NotFound(String),
    /// Falcon answered with an error status (or the host synthesised one for a timeout or a
    /// rate limit, see [`crate::FalconError`]).
    #[error("Falcon error {status}: {message}")]
    Upstream {
        /// HTTP status.
        status: u16,
        /// Falcon's message plus any hint.
        message: String,
    },
    /// The host refused an operation (grant, policy or guard); the text carries the reason.
    #[error("denied: {0}")]
    Denied(String),
    /// Anything else; the text is safe to show.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Phrase the host puts in a `transport` error when a write's request was sent but its answer
/// never arrived (timeout, dropped connection). The WIT has no variant for it, so the text is
/// the contract; [`ToolError::outcome_unknown`] looks for it.
pub const OUTCOME_UNKNOWN: &str = "outcome unknown";

impl ToolError {
    /// Whether this error says a write may or may not have been applied (see [`OUTCOME_UNKNOWN`]):
    /// the caller should check the current state instead of retrying.
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, Self::Upstream { message, .. } if message.contains(OUTCOME_UNKNOWN))
    }

    /// An [`ToolError::InvalidArguments`] with the given message.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidArguments(message.into())
    }

    /// A [`ToolError::NotFound`] with the given message.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(message.into())
    }

    /// A [`ToolError::Internal`] with the given message.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal(message.into())
    }
}

/// What the SDK knows about a request when Falcon answers it with an error status; used to write a
/// message the model can act on.
#[derive(Debug, Clone, Default)]
pub struct ErrorContext<'a> {
    /// Operation id.
    pub operation: &'a str,
    /// What the request was about (ids), named in a 404.
    pub subject: Option<&'a str>,
    /// The request carried an FQL filter.
    pub has_filter: bool,
    /// The FQL guide resource to point at when a filter was rejected.
    pub fql_guide: Option<&'a str>,
    /// The API client scope the operation needs, named in a 403.
    pub scope: Option<&'a str>,
}

/// Longest slice of a non-JSON error body quoted back to the model.
const MAX_QUOTED_BODY: usize = 300;

/// The human text of a Falcon error body: the envelope's `errors[].message` values joined, or the
/// start of a non-envelope body (LogScale answers in plain text or its own JSON).
pub fn falcon_message(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        let messages: Vec<&str> = v
            .get("errors")
            .and_then(Value::as_array)
            .map(|errs| {
                errs.iter()
                    .filter_map(|e| e.get("message").and_then(Value::as_str))
                    .collect()
            })
            .unwrap_or_default();
        if !messages.is_empty() {
            return messages.join("; ");
        }
        for key in ["message", "error", "detail"] {
            if let Some(s) = v.get(key).and_then(Value::as_str) {
                return s.to_string();
            }
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "no error message in the response".to_string();
    }
    let mut end = text.len().min(MAX_QUOTED_BODY);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

/// Turn an error status from Falcon into the tool error the model sees.
///
/// 404 → not-found naming the subject; 400 → upstream with Falcon's message (and the FQL guide when a
/// filter was sent); 401 → upstream saying the token was rejected (revoked or rotated credentials,
/// clock skew — not a scope); 403 → upstream naming the scope to add; 409 → upstream explaining the
/// state conflict; 429 and 5xx → upstream saying to retry later.
pub fn map_status(status: u16, body: &[u8], cx: &ErrorContext<'_>) -> ToolError {
    let msg = falcon_message(body);
    let op = cx.operation;
    match status {
        404 => ToolError::NotFound(match cx.subject {
            Some(s) => format!("{s} ({op}: {msg})"),
            None => format!("{op}: {msg}"),
        }),
        400 if cx.has_filter => {
            let guide = cx
                .fql_guide
                .map(|g| format!("; see {g}"))
                .unwrap_or_default();
            ToolError::Upstream {
                status,
                message: format!(
                    "{op} rejected the request: {msg}. Check the filter: FQL is field:'value', + is AND, \
                     , is OR, strings single-quoted{guide}"
                ),
            }
        }
        // The host already refreshed the token once, so a 401 here means Falcon rejects the
        // API client itself; naming a scope would send the operator the wrong way.
        401 => ToolError::Upstream {
            status,
            message: format!(
                "Falcon rejected the API token for {op}: {msg}; the API client's credentials may \
                 have been revoked or rotated, or the host's clock is skewed — the operator must \
                 check them (this is not a missing scope)"
            ),
        },
        403 => {
            let scope = cx
                .scope
                .map(|s| {
                    format!("; the API client needs scope `{s}` (add it in the Falcon console)")
                })
                .unwrap_or_default();
            ToolError::Upstream {
                status,
                message: format!("Falcon refused {op}: {msg}{scope}"),
            }
        }
        409 => ToolError::Upstream {
            status,
            message: format!(
                "{op} conflicts with the current state: {msg}; fetch the current state and retry"
            ),
        },
        429 => ToolError::Upstream {
            status,
            message: format!("{op} was rate limited: {msg}; retry in a minute"),
        },
        s if s >= 500 => ToolError::Upstream {
            status,
            message: format!("Falcon failed {op}: {msg}; retry later"),
        },
        _ => ToolError::Upstream {
            status,
            message: format!("{op}: {msg}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx(op: &str) -> ErrorContext<'_> {
        ErrorContext {
            operation: op,
            ..Default::default()
        }
    }

    #[test]
    fn message_from_envelope_errors() {
        let body = br#"{"meta":{},"errors":[{"code":400,"message":"bad filter"},{"code":400,"message":"x"}]}"#;
        assert_eq!(falcon_message(body), "bad filter; x");
    }

    #[test]
    fn message_from_plain_text_is_truncated() {
        let long = "é".repeat(400);
        let m = falcon_message(long.as_bytes());
        assert!(m.len() <= MAX_QUOTED_BODY);
        assert!(falcon_message(b"").contains("no error message"));
    }

    #[test]
    fn not_found_names_subject() {
        let c = ErrorContext {
            subject: Some("host abc"),
            ..cx("PostDeviceDetailsV2")
        };
        let e = map_status(404, b"{}", &c);
        assert!(matches!(e, ToolError::NotFound(ref m) if m.starts_with("host abc")));
    }

    #[test]
    fn bad_filter_points_at_guide() {
        let c = ErrorContext {
            has_filter: true,
            fql_guide: Some("falcon://fql/hosts"),
            ..cx("QueryDevicesByFilter")
        };
        let e = map_status(
            400,
            br#"{"errors":[{"code":400,"message":"Invalid filter"}]}"#,
            &c,
        );
        let ToolError::Upstream { status, message } = e else {
            panic!("wrong variant")
        };
        assert_eq!(status, 400);
        assert!(message.contains("Invalid filter"));
        assert!(message.contains("falcon://fql/hosts"));
    }

    #[test]
    fn forbidden_names_scope() {
        let c = ErrorContext {
            scope: Some("Hosts:write"),
            ..cx("PerformActionV2")
        };
        let e = map_status(
            403,
            br#"{"errors":[{"code":403,"message":"access denied, authorization failed"}]}"#,
            &c,
        );
        assert!(e.to_string().contains("`Hosts:write`"));
    }

    #[test]
    fn unauthorized_blames_the_token_not_a_scope() {
        let c = ErrorContext {
            scope: Some("Hosts:read"),
            ..cx("QueryDevicesByFilter")
        };
        let e = map_status(
            401,
            br#"{"errors":[{"code":401,"message":"access denied, invalid bearer token"}]}"#,
            &c,
        )
        .to_string();
        assert!(
            e.contains("rejected the API token") && e.contains("revoked"),
            "{e}"
        );
        assert!(!e.contains("Hosts:read"), "{e}");
    }

    #[test]
    fn server_errors_say_retry() {
        assert!(
            map_status(503, b"", &cx("X"))
                .to_string()
                .contains("retry later")
        );
        assert!(
            map_status(429, b"", &cx("X"))
                .to_string()
                .contains("rate limited")
        );
    }
}
