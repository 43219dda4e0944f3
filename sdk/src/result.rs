//! Results: the one search shape (`{results, total, next}`), tool output (text for the model plus
//! structured JSON), field projection, and previews of destructive changes.

use std::fmt::Display;

use serde::Serialize;
use serde_json::{Map, Value, json};

/// Offset-paged query endpoints refuse `offset + limit` beyond this window (reference §2.5).
pub const OFFSET_WINDOW: u64 = 10_000;

/// Where the next page starts: an offset, an opaque cursor, or nowhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Next {
    /// Pass as `offset` to get the next page.
    Offset(u64),
    /// Pass as `after`/`cursor` to get the next page.
    Cursor(String),
    /// No more pages (serialises as `null`).
    None,
}

impl Next {
    /// As it serialises: a number, a string or `null`.
    fn into_value(self) -> Value {
        match self {
            Next::Offset(o) => o.into(),
            Next::Cursor(c) => c.into(),
            Next::None => Value::Null,
        }
    }
}

/// Next offset after a page: `offset + returned` while that is below `total` and inside the
/// 10,000-record offset window; otherwise no next page.
pub fn next_offset(offset: u64, returned: usize, total: u64) -> Next {
    let next = offset.saturating_add(returned as u64);
    if returned > 0 && next < total && next < OFFSET_WINDOW {
        Next::Offset(next)
    } else {
        Next::None
    }
}

/// Check a page request against the 10,000-record offset window before sending it.
pub fn check_window(offset: u32, limit: u32) -> Result<(), crate::ToolError> {
    if u64::from(offset) + u64::from(limit) > OFFSET_WINDOW {
        return Err(crate::ToolError::invalid(format!(
            "offset + limit must be at most {OFFSET_WINDOW}; narrow the filter instead of paging this deep"
        )));
    }
    Ok(())
}

/// The result of every search tool: `{"results": [...], "total": N, "next": offset|cursor|null}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchResult {
    /// The page of results.
    pub results: Vec<Value>,
    /// Total matches upstream.
    pub total: u64,
    /// Where the next page starts.
    pub next: Next,
}

impl SearchResult {
    /// Apply `f` to every result (e.g. a projection).
    pub fn map(mut self, f: impl Fn(&Value) -> Value) -> Self {
        self.results = self.results.iter().map(f).collect();
        self
    }

    /// Output with a one-line summary naming `noun` ("hosts") and the compact JSON.
    pub fn into_output(self, noun: &str) -> Output {
        let shown = self.results.len();
        let summary = if shown == 0 {
            format!("No {noun} matched (total {}).", self.total)
        } else {
            let more = match &self.next {
                Next::Offset(o) => format!("; next page: offset={o}"),
                Next::Cursor(c) => format!("; next page: cursor={c}"),
                Next::None => String::new(),
            };
            format!("{shown} of {} {noun}{more}.", self.total)
        };
        // Moved into the structured value, not copied through `serde_json::to_value`.
        let mut value = Map::with_capacity(3);
        value.insert("results".into(), Value::Array(self.results));
        value.insert("total".into(), self.total.into());
        value.insert("next".into(), self.next.into_value());
        Output::json_value(summary, Value::Object(value))
    }
}

/// A successful tool result.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Output {
    /// Text for the model.
    pub text: String,
    /// Structured content (a JSON object).
    pub structured: Option<Value>,
    /// Content blocks after the text (images, audio, embedded resources); the host checks
    /// their MIME types and bounds their count and size.
    pub content: Vec<Block>,
}

/// A content block of a result after its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// An image.
    Image {
        /// The bytes.
        data: Vec<u8>,
        /// MIME type, e.g. `image/png`.
        mime_type: String,
    },
    /// An audio clip.
    Audio {
        /// The bytes.
        data: Vec<u8>,
        /// MIME type, e.g. `audio/wav`.
        mime_type: String,
    },
    /// An embedded resource: text or bytes under a URI.
    Resource {
        /// URI of the resource.
        uri: String,
        /// MIME type.
        mime_type: String,
        /// What it holds.
        contents: Embedded,
    },
}

/// What an embedded resource holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Embedded {
    /// Text.
    Text(String),
    /// Bytes, sent as base64.
    Blob(Vec<u8>),
}

impl Output {
    /// Plain text only.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ..Self::default()
        }
    }

    /// This output with `block` appended after its text.
    pub fn with(mut self, block: Block) -> Self {
        self.content.push(block);
        self
    }

    /// A one-line summary followed by the value as compact JSON; the value is also the structured
    /// content. Non-object values are wrapped as `{"result": value}` (MCP wants an object).
    pub fn json(summary: impl Display, value: &impl Serialize) -> Self {
        Self::json_value(summary, serde_json::to_value(value).unwrap_or(Value::Null))
    }

    /// [`Output::json`] of a value already built.
    pub fn json_value(summary: impl Display, value: Value) -> Self {
        let value = if value.is_object() {
            value
        } else {
            json!({ "result": value })
        };
        Self {
            text: format!("{summary}\n{value}"),
            structured: Some(value),
            content: Vec::new(),
        }
    }

    /// A preview of a destructive change that was *not* applied: what would change, and how to
    /// apply it. Structured content is `{"preview": true, "applied": false, ...details}`.
    pub fn preview(what_would_change: impl Display, details: Value) -> Self {
        let mut obj = Map::new();
        obj.insert("preview".into(), Value::Bool(true));
        obj.insert("applied".into(), Value::Bool(false));
        if let Value::Object(d) = details {
            obj.extend(d);
        }
        let value = Value::Object(obj);
        Self {
            text: format!(
                "PREVIEW — nothing was changed. {what_would_change} Call again with \"confirm\": true to apply.\n{value}"
            ),
            structured: Some(value),
            content: Vec::new(),
        }
    }
}

/// Keep only `fields` of an object (dotted paths such as `device.hostname` keep the nesting) and
/// drop nulls, empty strings and empty arrays/objects: search results cost the model tokens.
pub fn project(v: &Value, fields: &[&str]) -> Value {
    let mut out = Map::new();
    for f in fields {
        let mut parts = f.split('.');
        let Some(first) = parts.next() else { continue };
        let rest: Vec<&str> = parts.collect();
        let mut cur = v.get(first);
        for p in &rest {
            cur = cur.and_then(|c| c.get(*p));
        }
        let Some(val) = cur.filter(|x| !is_empty(x)) else {
            continue;
        };
        insert_path(&mut out, first, &rest, val.clone());
    }
    Value::Object(out)
}

fn insert_path(obj: &mut Map<String, Value>, first: &str, rest: &[&str], val: Value) {
    match rest.split_first() {
        None => {
            obj.insert(first.to_string(), val);
        }
        Some((next, tail)) => {
            let child = obj
                .entry(first.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(m) = child {
                insert_path(m, next, tail, val);
            }
        }
    }
}

/// Null, `""`, `[]` or `{}`.
pub fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Remove null/empty members recursively (full entity details still carry many empty fields).
pub fn prune(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (k, prune(v)))
                .filter(|(_, v)| !is_empty(v))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(prune).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_offset_rules() {
        assert_eq!(next_offset(0, 10, 25), Next::Offset(10));
        assert_eq!(next_offset(20, 5, 25), Next::None);
        assert_eq!(next_offset(0, 0, 25), Next::None);
        assert_eq!(next_offset(9_990, 10, 50_000), Next::None);
    }

    #[test]
    fn search_shape_and_text() {
        let r = SearchResult {
            results: vec![json!({"id": "a"})],
            total: 3,
            next: Next::Offset(1),
        };
        let out = r.into_output("hosts");
        assert_eq!(
            out.structured.unwrap(),
            json!({"results": [{"id": "a"}], "total": 3, "next": 1})
        );
        assert!(out.text.starts_with("1 of 3 hosts; next page: offset=1."));
        let empty = SearchResult {
            results: vec![],
            total: 0,
            next: Next::None,
        }
        .into_output("alerts");
        assert_eq!(empty.structured.unwrap()["next"], Value::Null);
    }

    #[test]
    fn project_keeps_paths_and_drops_empty() {
        let v = json!({"a": 1, "b": "", "device": {"hostname": "h", "x": 2}, "tags": []});
        assert_eq!(
            project(&v, &["a", "b", "device.hostname", "tags", "missing"]),
            json!({"a": 1, "device": {"hostname": "h"}})
        );
    }

    #[test]
    fn prune_recurses() {
        let v = json!({"a": {"b": null, "c": [ {"d": ""} ]}, "e": 0});
        assert_eq!(prune(v), json!({"a": {"c": [{}]}, "e": 0}));
    }

    #[test]
    fn preview_is_marked() {
        let p = Output::preview("Would contain host X.", json!({"hosts": ["x"]}));
        let s = p.structured.unwrap();
        assert_eq!(s["preview"], true);
        assert_eq!(s["applied"], false);
        assert!(p.text.contains("confirm"));
    }
}
