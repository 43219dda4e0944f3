//! The response store: a result over a size threshold is not sent whole. The model gets the
//! tool's summary, the first items of the result's main array, the total and a handle; the
//! built-in tools `aerie_result_page` and `aerie_results` page through what was kept and list it.
//!
//! Stored results are bounded per session (count, bytes, time to live; oldest out) and in total
//! (bytes), and only the session that made one can read it: any other handle, expired, evicted
//! or foreign, is the same "no such stored result". Storage sits behind [`StoreBackend`] so a
//! shared backend (several replicas) can replace the in-memory one without touching the rest.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value, json};

mod backend;

pub use backend::{Listing, MemoryBackend, Slice, StoreBackend, Stored};

use super::Caller;
use super::builtins::Builtin;
use crate::app::{App, ToolOutcome};

/// Name of the built-in that pages through a stored result.
pub const PAGE_TOOL: &str = "aerie_result_page";
/// Name of the built-in that lists this session's stored results.
pub const LIST_TOOL: &str = "aerie_results";
/// `_meta` key of a stored result's handle, total and size.
pub const META_KEY: &str = "aerie/stored";

/// `[store]` in `aerie.toml`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreFile {
    /// Keep large results for paging (default true); false sends every result whole.
    pub enabled: Option<bool>,
    /// Results larger than this many KiB (text + structured JSON) are stored (default 20).
    pub threshold_kb: Option<u64>,
    /// Size the answer to a stored result aims for, in KiB (default 4).
    pub preview_kb: Option<u64>,
    /// Stored results one session keeps (default 20); the oldest go first.
    pub max_results: Option<usize>,
    /// Bytes one session's stored results may hold, in MiB (default 16).
    pub max_session_mib: Option<u64>,
    /// Seconds a stored result is kept (default 1800).
    pub ttl_secs: Option<u64>,
    /// Bytes every session's stored results together may hold, in MiB (default 256).
    pub max_total_mib: Option<u64>,
}

/// Accepted `threshold_kb`: under 1 KiB every answer would be a handle; past 16 MiB nothing is.
pub const THRESHOLD_KB_RANGE: std::ops::RangeInclusive<u64> = 1..=16 * 1024;
/// Accepted `preview_kb`.
pub const PREVIEW_KB_RANGE: std::ops::RangeInclusive<u64> = 1..=1024;
/// Accepted `max_results`.
pub const MAX_RESULTS_RANGE: std::ops::RangeInclusive<usize> = 1..=1000;
/// Accepted `max_session_mib`.
pub const SESSION_MIB_RANGE: std::ops::RangeInclusive<u64> = 1..=4096;
/// Accepted `ttl_secs` (at most a day: a stored result is working memory, not an archive).
pub const TTL_SECS_RANGE: std::ops::RangeInclusive<u64> = 1..=86_400;
/// Accepted `max_total_mib`.
pub const TOTAL_MIB_RANGE: std::ops::RangeInclusive<u64> = 1..=65_536;

/// The store's effective settings.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// Whether large results are stored at all.
    pub enabled: bool,
    /// Results larger than this (bytes of text + structured JSON) are stored.
    pub threshold: usize,
    /// Size the answer to a stored result aims for, in bytes.
    pub preview: usize,
    /// Bounds of what is kept.
    pub bounds: Bounds,
}

/// How much the store keeps.
#[derive(Debug, Clone)]
pub struct Bounds {
    /// Stored results per session.
    pub per_session: usize,
    /// Bytes per session.
    pub session_bytes: usize,
    /// How long a stored result lives.
    pub ttl: Duration,
    /// Bytes over every session.
    pub total_bytes: usize,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            enabled: true,
            threshold: 20 << 10,
            preview: 4 << 10,
            bounds: Bounds {
                per_session: 20,
                session_bytes: 16 << 20,
                ttl: Duration::from_secs(30 * 60),
                total_bytes: 256 << 20,
            },
        }
    }
}

/// `value` if it is in `range`, else an error naming `[store] key` and the range.
fn ranged<T: PartialOrd + std::fmt::Display + Copy>(
    value: Option<T>,
    default: T,
    range: std::ops::RangeInclusive<T>,
    key: &str,
) -> Result<T, String> {
    match value {
        None => Ok(default),
        Some(v) if range.contains(&v) => Ok(v),
        Some(v) => Err(format!(
            "[store] {key} = {v} is out of range; use {}..={}",
            range.start(),
            range.end()
        )),
    }
}

impl StoreFile {
    /// The effective settings, or an error naming the `[store]` key that is out of range.
    pub fn settings(&self) -> Result<StoreSettings, String> {
        let d = StoreSettings::default();
        let kib = |v: u64| usize::try_from(v << 10).unwrap_or(usize::MAX);
        let mib = |v: u64| usize::try_from(v << 20).unwrap_or(usize::MAX);
        let threshold = ranged(self.threshold_kb, 20, THRESHOLD_KB_RANGE, "threshold_kb")?;
        // Unset, the preview shrinks with a small threshold; set, it must fit under it.
        let preview = ranged(
            self.preview_kb,
            4.min(threshold),
            PREVIEW_KB_RANGE,
            "preview_kb",
        )?;
        if preview > threshold {
            return Err(format!(
                "[store] preview_kb = {preview} is larger than threshold_kb = {threshold}; the answer to a stored result must be smaller than what gets stored"
            ));
        }
        let session_mib = ranged(
            self.max_session_mib,
            16,
            SESSION_MIB_RANGE,
            "max_session_mib",
        )?;
        let total_mib = ranged(self.max_total_mib, 256, TOTAL_MIB_RANGE, "max_total_mib")?;
        if session_mib > total_mib {
            return Err(format!(
                "[store] max_session_mib = {session_mib} is larger than max_total_mib = {total_mib}"
            ));
        }
        Ok(StoreSettings {
            enabled: self.enabled.unwrap_or(d.enabled),
            threshold: kib(threshold),
            preview: kib(preview),
            bounds: Bounds {
                per_session: ranged(self.max_results, 20, MAX_RESULTS_RANGE, "max_results")?,
                session_bytes: mib(session_mib),
                ttl: Duration::from_secs(ranged(self.ttl_secs, 1800, TTL_SECS_RANGE, "ttl_secs")?),
                total_bytes: mib(total_mib),
            },
        })
    }
}

/// Stored results of every session.
pub struct ResponseStore {
    settings: StoreSettings,
    backend: Box<dyn StoreBackend>,
}

impl Default for ResponseStore {
    fn default() -> Self {
        ResponseStore::new(StoreSettings::default())
    }
}

/// Longest summary line taken from the plugin's text.
const SUMMARY_MAX: usize = 1024;
/// How deep into the structured result the main array is looked for.
const ARRAY_DEPTH: usize = 3;
/// Default and largest `limit` of `aerie_result_page`.
const PAGE_DEFAULT: usize = 20;
const PAGE_MAX: usize = 1000;

/// What the answer of a stored result is built from.
enum Main {
    /// The largest array of the structured result, at this JSON pointer.
    Array(String),
    /// A text-only result: its lines.
    Lines,
}

impl ResponseStore {
    /// A store with `settings` and the in-memory backend.
    pub fn new(settings: StoreSettings) -> ResponseStore {
        let backend = Box::new(MemoryBackend::new(settings.bounds.clone()));
        ResponseStore::with_backend(settings, backend)
    }

    /// A store with `settings` over `backend` (a shared one, for several replicas).
    pub fn with_backend(settings: StoreSettings, backend: Box<dyn StoreBackend>) -> ResponseStore {
        ResponseStore { settings, backend }
    }

    /// Keep `out` if it is large and answer with its summary, first items and handle; small
    /// results, and large ones without an array or lines to page through, pass unchanged.
    pub async fn keep_if_large(
        &self,
        caller: &Caller,
        tool: &str,
        out: ToolOutcome,
    ) -> ToolOutcome {
        let size = outcome_bytes(&out);
        if !self.settings.enabled || out.is_error || size <= self.settings.threshold {
            return out;
        }
        let Some((main, items)) = main_items(&out) else {
            return out;
        };
        let handle = new_handle();
        // The text of each item plus its box: what the items really hold in memory.
        let bytes = items
            .iter()
            .map(|i| i.len() + std::mem::size_of::<Box<str>>())
            .sum::<usize>();
        let total = items.len();
        let summary = summary_of(&out.text);
        let (shown, body, structured) = self.preview(&main, &out, &items, &handle, &summary);
        let entry = Stored {
            handle: handle.clone(),
            session: caller.session.clone(),
            tool: tool.to_string(),
            created: crate::audit::now_rfc3339(),
            items,
            bytes,
            result_bytes: size,
        };
        let kept = self.backend.put(entry).await;
        let ttl = human_secs(self.settings.bounds.ttl.as_secs());
        let hint = fields_hint(structured.as_ref(), &main);
        let note = match &kept {
            Ok(()) => {
                let next = if shown < total {
                    format!(
                        "call {PAGE_TOOL} with handle {handle} offset {shown} limit {PAGE_DEFAULT} for more"
                    )
                } else {
                    format!("call {PAGE_TOOL} with handle {handle} to read them again")
                };
                format!(
                    "[aerie] This result is large ({}, {total} items), so it was stored and only the first {shown} items are shown; {next}{hint}. {LIST_TOOL} lists stored results; they expire after {ttl}.",
                    human_bytes(size)
                )
            }
            Err(why) => format!(
                "[aerie] This result is large ({}, {total} items) and only the first {shown} items are shown; it could not be stored for paging ({why}). Narrow the query (a filter, a smaller limit) for the rest.",
                human_bytes(size)
            ),
        };
        let mut meta = out.meta;
        if kept.is_ok() {
            meta.insert(
                META_KEY.into(),
                json!({"handle": handle, "total": total, "shown": shown, "bytes": size}),
            );
        }
        ToolOutcome {
            text: format!("{summary}\n{note}\n{body}"),
            structured,
            content: out.content,
            is_error: false,
            meta,
        }
    }

    /// The first items that keep the answer near the preview size: how many, the text that
    /// shows them, and the structured result with the main array cut to them.
    fn preview(
        &self,
        main: &Main,
        out: &ToolOutcome,
        items: &[Box<str>],
        handle: &str,
        summary: &str,
    ) -> (usize, String, Option<Value>) {
        // What the note and summary take, with room for the numbers and the handle.
        let overhead = summary.len() + handle.len() * 2 + 600;
        let budget = self.settings.preview.saturating_sub(overhead);
        match main {
            Main::Lines => {
                let mut used = 0;
                let mut shown = 0;
                for line in items {
                    // Items of a text-only result are JSON strings; the answer has the line.
                    let len = line.len() + 1;
                    if used + len > budget {
                        break;
                    }
                    used += len;
                    shown += 1;
                }
                let body = items[..shown]
                    .iter()
                    .filter_map(|i| serde_json::from_str::<String>(i).ok())
                    .collect::<Vec<_>>()
                    .join("\n");
                (shown, body, None)
            }
            Main::Array(pointer) => {
                let mut base = out.structured.clone().unwrap_or(Value::Null);
                if let Some(a) = base.pointer_mut(pointer) {
                    *a = Value::Array(Vec::new());
                }
                // The items appear twice: in the text and in the structured content.
                let per_copy = budget / 2;
                let mut used = base.to_string().len();
                let mut shown = 0;
                for item in items {
                    if used + item.len() + 1 > per_copy {
                        break;
                    }
                    used += item.len() + 1;
                    shown += 1;
                }
                if let Some(Value::Array(a)) = base.pointer_mut(pointer) {
                    a.extend(
                        items[..shown]
                            .iter()
                            .filter_map(|i| serde_json::from_str::<Value>(i).ok()),
                    );
                }
                (shown, base.to_string(), Some(base))
            }
        }
    }

    /// `aerie_result_page`: items of a stored result, cut at the threshold so a page never
    /// floods the context the store protects.
    async fn page(&self, caller: &Caller, args: &Value) -> ToolOutcome {
        let a: PageArgs = match serde_json::from_value(args.clone()) {
            Ok(a) => a,
            Err(e) => {
                return ToolOutcome::error(format!(
                    "{PAGE_TOOL}: bad arguments ({e}); pass {{\"handle\": \"r-…\", \"offset\": 0, \"limit\": {PAGE_DEFAULT}, \"fields\": [\"key\", \"a.b\"]}} (fields optional)"
                ));
            }
        };
        let limit = a.limit.unwrap_or(PAGE_DEFAULT);
        if !(1..=PAGE_MAX).contains(&limit) {
            return ToolOutcome::error(format!(
                "{PAGE_TOOL}: limit must be 1..={PAGE_MAX}, got {limit}"
            ));
        }
        if let Some(f) = &a.fields
            && let Err(e) = check_fields(f)
        {
            return ToolOutcome::error(format!("{PAGE_TOOL}: {e}"));
        }
        let Some(slice) = self
            .backend
            .slice(&caller.session, &a.handle, a.offset, limit)
            .await
        else {
            return ToolOutcome::error(no_such(&a.handle, &self.settings));
        };
        let mut items = Vec::with_capacity(slice.items.len());
        let mut used = 0;
        for raw in &slice.items {
            let Ok(mut v) = serde_json::from_str::<Value>(raw) else {
                continue;
            };
            if let Some(fields) = &a.fields {
                match &v {
                    Value::Object(_) => v = project(&v, fields),
                    _ => {
                        return ToolOutcome::error(format!(
                            "{PAGE_TOOL}: fields keep keys of object items, and the items of {} are not objects (lines of text or plain values); call it without fields",
                            a.handle
                        ));
                    }
                }
            }
            // Twice: text and structured content. One item always goes, so paging advances.
            let len = (v.to_string().len() + 1) * 2;
            if !items.is_empty() && used + len > self.settings.threshold {
                break;
            }
            used += len;
            items.push(v);
        }
        let end = a.offset + items.len();
        let next = (end < slice.total).then_some(end);
        let head = if items.is_empty() {
            format!(
                "No items at offset {} of {} ({} item(s), from {}).",
                a.offset, a.handle, slice.total, slice.tool
            )
        } else {
            let more = match next {
                Some(n) => format!("; next: offset {n}"),
                None => "; that is the last of them".into(),
            };
            format!(
                "Items {}..{end} of {} from {} ({} item(s)){more}.",
                a.offset, a.handle, slice.tool, slice.total
            )
        };
        let structured = json!({
            "handle": a.handle,
            "offset": a.offset,
            "total": slice.total,
            "next": next,
            "items": items,
        });
        ToolOutcome {
            text: format!("{head}\n{structured}"),
            structured: Some(structured),
            content: Vec::new(),
            is_error: false,
            meta: Map::new(),
        }
    }

    /// `aerie_results`: what this session has stored.
    async fn list(&self, caller: &Caller) -> ToolOutcome {
        let rows = self.backend.list(&caller.session).await;
        let results: Vec<Value> = rows
            .iter()
            .map(|l| {
                json!({"handle": l.handle, "tool": l.tool, "created": l.created,
                       "expires_in_secs": l.expires_in_secs, "items": l.items, "bytes": l.bytes})
            })
            .collect();
        let head = if results.is_empty() {
            "No stored results in this session.".to_string()
        } else {
            format!(
                "{} stored result(s) in this session; page one with {PAGE_TOOL}.",
                results.len()
            )
        };
        let structured = json!({ "results": results });
        ToolOutcome {
            text: format!("{head}\n{structured}"),
            structured: Some(structured),
            content: Vec::new(),
            is_error: false,
            meta: Map::new(),
        }
    }
}

/// Arguments of `aerie_result_page`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageArgs {
    handle: String,
    #[serde(default)]
    offset: usize,
    limit: Option<usize>,
    fields: Option<Vec<String>>,
}

/// Most keys one projection may name.
const FIELDS_MAX: usize = 100;

fn check_fields(fields: &[String]) -> Result<(), String> {
    if fields.is_empty() || fields.len() > FIELDS_MAX {
        return Err(format!(
            "fields must name 1..={FIELDS_MAX} keys (e.g. [\"hostname\", \"device_id\"]), got {}",
            fields.len()
        ));
    }
    if let Some(bad) = fields
        .iter()
        .find(|f| f.is_empty() || f.len() > 200 || f.split('.').any(str::is_empty))
    {
        return Err(format!(
            "field {bad:?} is not a key or a dotted path such as \"device.hostname\""
        ));
    }
    Ok(())
}

/// Keep only `fields` of object `v`; a dotted path keeps its nesting, a missing key is left out.
fn project(v: &Value, fields: &[String]) -> Value {
    let mut out = Value::Object(Map::new());
    for f in fields {
        let parts: Vec<&str> = f.split('.').collect();
        let mut cur = v;
        let mut found = true;
        for p in &parts {
            match cur.get(p) {
                Some(next) => cur = next,
                None => {
                    found = false;
                    break;
                }
            }
        }
        if !found {
            continue;
        }
        let mut slot = &mut out;
        for (i, p) in parts.iter().enumerate() {
            let Value::Object(m) = slot else { break };
            if i + 1 == parts.len() {
                m.insert((*p).to_string(), cur.clone());
                break;
            }
            slot = m
                .entry((*p).to_string())
                .or_insert_with(|| Value::Object(Map::new()));
        }
    }
    out
}

/// How to project, named with keys of the first item shown: ` (add fields: ["a","b"] to keep
/// only those keys of each item)`, or nothing when the items are not objects.
fn fields_hint(preview: Option<&Value>, main: &Main) -> String {
    let Main::Array(pointer) = main else {
        return String::new();
    };
    let first = preview
        .and_then(|p| p.pointer(pointer))
        .and_then(|a| a.get(0))
        .and_then(Value::as_object);
    let keys: Vec<&String> = first
        .map(|m| m.keys().filter(|k| k.len() <= 40).take(2).collect())
        .unwrap_or_default();
    if keys.is_empty() {
        return " (add fields: [\"key\", ...] to keep only some keys of each item)".into();
    }
    format!(
        " (add fields: {} to keep only those keys of each item)",
        json!(keys)
    )
}

/// What any handle this session cannot read is told: expired, evicted, mistyped and another
/// session's handle all look the same.
fn no_such(handle: &str, s: &StoreSettings) -> String {
    format!(
        "No such stored result `{handle}` in this session (stored results expire after {} and only the newest {} are kept); call {LIST_TOOL} for what is stored, or call the tool again.",
        human_secs(s.bounds.ttl.as_secs()),
        s.bounds.per_session
    )
}

/// Bytes the model would receive: the text and the structured JSON.
fn outcome_bytes(out: &ToolOutcome) -> usize {
    out.text.len() + out.structured.as_ref().map_or(0, |s| s.to_string().len())
}

/// The main array of a result and its items as compact JSON: the largest array of the
/// structured result, or the lines of a text-only one.
fn main_items(out: &ToolOutcome) -> Option<(Main, Vec<Box<str>>)> {
    match &out.structured {
        Some(s) => {
            let mut best: Option<(String, usize)> = None;
            largest_array(s, String::new(), ARRAY_DEPTH, &mut best);
            let (pointer, _) = best?;
            let items = s
                .pointer(&pointer)?
                .as_array()?
                .iter()
                .map(|v| v.to_string().into_boxed_str())
                .collect();
            Some((Main::Array(pointer), items))
        }
        None => {
            let lines: Vec<Box<str>> = out
                .text
                .lines()
                .map(|l| Value::String(l.to_string()).to_string().into_boxed_str())
                .collect();
            (lines.len() > 1).then_some((Main::Lines, lines))
        }
    }
}

/// The JSON pointer and size of the largest non-empty array in `v`, `depth` levels down.
fn largest_array(v: &Value, at: String, depth: usize, best: &mut Option<(String, usize)>) {
    match v {
        Value::Array(a) if !a.is_empty() => {
            let size = v.to_string().len();
            if best.as_ref().is_none_or(|(_, b)| size > *b) {
                *best = Some((at, size));
            }
        }
        Value::Object(m) if depth > 0 => {
            for (k, child) in m {
                let key = k.replace('~', "~0").replace('/', "~1");
                largest_array(child, format!("{at}/{key}"), depth - 1, best);
            }
        }
        _ => {}
    }
}

/// The plugin's summary: its first line, at most [`SUMMARY_MAX`] bytes.
fn summary_of(text: &str) -> String {
    let first = text.lines().next().unwrap_or_default();
    if first.len() <= SUMMARY_MAX {
        return first.to_string();
    }
    let mut end = SUMMARY_MAX;
    while !first.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &first[..end])
}

/// `r-` and 96 random bits in hex, from the OS generator: a handle cannot be guessed.
fn new_handle() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("r-{}", hex::encode(bytes))
}

fn human_bytes(n: usize) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / f64::from(1 << 20))
    } else {
        format!("{:.1} KiB", n as f64 / 1024.0)
    }
}

fn human_secs(s: u64) -> String {
    if s >= 60 && s.is_multiple_of(60) {
        format!("{} min", s / 60)
    } else {
        format!("{s} s")
    }
}

/// Built-in tools of this control.
pub fn builtins(_app: &App, _caller: &Caller) -> Vec<Builtin> {
    vec![
        Builtin {
            name: PAGE_TOOL,
            title: "Page through a stored result",
            description: "Items offset..offset+limit of a large result stored instead of sent whole (its text gives the handle, r-…), optionally only some keys of each item (dotted paths ok).",
            schema: json!({
                "type": "object",
                "properties": {
                    "handle": {"type": "string", "description": "r-… from the stored result"},
                    "offset": {"type": "integer", "minimum": 0, "default": 0},
                    "limit": {"type": "integer", "minimum": 1, "maximum": PAGE_MAX, "default": PAGE_DEFAULT},
                    "fields": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": FIELDS_MAX,
                               "description": "keys to keep, e.g. [\"hostname\", \"device_id\"]"}
                },
                "required": ["handle"],
                "additionalProperties": false
            }),
            read_only: true,
        },
        Builtin {
            name: LIST_TOOL,
            title: "List stored results",
            description: "List the large results this session has stored: handle, tool, when, items, bytes.",
            schema: json!({"type": "object", "properties": {}, "additionalProperties": false}),
            read_only: true,
        },
    ]
}

/// Run a built-in tool of this control, or `None`.
pub async fn call_builtin(
    app: &App,
    caller: &Caller,
    name: &str,
    args: &Value,
) -> Option<ToolOutcome> {
    let store = &app.controls.store;
    match name {
        PAGE_TOOL => Some(store.page(caller, args).await),
        LIST_TOOL => Some(store.list(caller).await),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(session: &str, handle: &str, bytes: usize) -> Stored {
        Stored {
            handle: handle.into(),
            session: session.into(),
            tool: "t".into(),
            created: String::new(),
            items: vec!["x".repeat(bytes).into_boxed_str()],
            bytes,
            result_bytes: bytes,
        }
    }

    fn bounds(per_session: usize, session_bytes: usize, total_bytes: usize) -> Bounds {
        Bounds {
            per_session,
            session_bytes,
            ttl: Duration::from_secs(60),
            total_bytes,
        }
    }

    fn handles(b: &MemoryBackend, session: &str) -> Vec<String> {
        futures::executor::block_on(b.list(session))
            .into_iter()
            .map(|l| l.handle)
            .collect()
    }

    #[test]
    fn oldest_go_first_per_session_by_count_and_bytes_and_globally() {
        let b = MemoryBackend::new(bounds(2, 100, 150));
        for h in ["a1", "a2", "a3"] {
            b.put_now(entry("a", h, 10)).unwrap();
        }
        assert_eq!(handles(&b, "a"), ["a2", "a3"]);
        b.put_now(entry("a", "a4", 95)).unwrap();
        assert_eq!(handles(&b, "a"), ["a4"]);
        b.put_now(entry("b", "b1", 90)).unwrap();
        // 95 + 90 > 150: the oldest over every session goes.
        assert_eq!(handles(&b, "a"), Vec::<String>::new());
        assert_eq!(handles(&b, "b"), ["b1"]);
        assert_eq!(b.total_bytes(), 90);
        assert!(b.put_now(entry("b", "big", 101)).is_err());
    }

    #[test]
    fn another_session_cannot_read_a_handle() {
        let b = MemoryBackend::new(bounds(2, 100, 150));
        b.put_now(entry("a", "h", 10)).unwrap();
        assert!(futures::executor::block_on(b.slice("a", "h", 0, 5)).is_some());
        assert!(futures::executor::block_on(b.slice("b", "h", 0, 5)).is_none());
    }

    #[test]
    fn projection_keeps_named_keys_and_nesting() {
        let v = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": 4});
        let f = vec!["a".to_string(), "b.c".to_string(), "zz".to_string()];
        assert_eq!(project(&v, &f), json!({"a": 1, "b": {"c": 2}}));
    }

    #[test]
    fn settings_out_of_range_name_the_key() {
        let f = StoreFile {
            ttl_secs: Some(0),
            ..Default::default()
        };
        assert!(f.settings().unwrap_err().contains("ttl_secs"));
        let f = StoreFile {
            preview_kb: Some(30),
            ..Default::default()
        };
        assert!(f.settings().unwrap_err().contains("preview_kb"));
        assert_eq!(StoreFile::default().settings().unwrap().threshold, 20 << 10);
    }

    fn outcome(text: &str, structured: Option<Value>) -> ToolOutcome {
        ToolOutcome {
            text: text.into(),
            structured,
            content: Vec::new(),
            is_error: false,
            meta: Map::new(),
        }
    }

    #[test]
    fn the_main_array_is_the_largest_and_text_only_results_page_by_line() {
        let s = json!({"small": [1], "data": {"rows": [{"a": 1}, {"a": 2}, {"a": 3}]}});
        let (main, items) = main_items(&outcome("x", Some(s))).unwrap();
        assert!(matches!(&main, Main::Array(p) if p == "/data/rows"));
        assert_eq!(items.len(), 3);
        let (main, items) = main_items(&outcome("one\ntwo\n\"three\"", None)).unwrap();
        assert!(matches!(main, Main::Lines));
        assert_eq!(&*items[2], r#""\"three\"""#);
        // Nothing to page through: passed whole.
        assert!(main_items(&outcome("x", Some(json!({"a": "b"})))).is_none());
        assert!(main_items(&outcome("one line", None)).is_none());
    }

    #[test]
    fn the_preview_stays_near_its_size() {
        let store = ResponseStore::default();
        let rows: Vec<Value> = (0..500)
            .map(|i| json!({"id": i, "pad": "x".repeat(200)}))
            .collect();
        let out = outcome("500 rows.", Some(json!({"rows": rows, "total": 500})));
        let (main, items) = main_items(&out).unwrap();
        let (shown, body, structured) = store.preview(&main, &out, &items, "r-x", "500 rows.");
        assert!(shown > 3 && shown < 20, "{shown}");
        assert!(body.len() + structured.unwrap().to_string().len() < 4096);
        let lines = outcome(&"a line of text\n".repeat(2000), None);
        let (main, items) = main_items(&lines).unwrap();
        let (shown, body, structured) = store.preview(&main, &lines, &items, "r-x", "a line");
        assert!(structured.is_none());
        assert_eq!(body.lines().count(), shown);
        assert!(body.len() < 4096 && shown > 100, "{shown}");
    }

    #[test]
    fn handles_are_96_random_bits() {
        let (a, b) = (new_handle(), new_handle());
        assert_eq!(a.len(), 2 + 24);
        assert_ne!(a, b);
    }
}
