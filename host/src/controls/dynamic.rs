//! The dynamic tool mode (`--tool-mode dynamic`): instead of every tool with its schema,
//! `tools/list` holds three built-in tools — search the catalogue by words, describe tools by
//! name (their full schemas), and call a tool by name. The whole catalogue stays reachable
//! while the agent's context holds only what it asked for.
//!
//! Search and describe see exactly what `tools/list` would show in full mode: the tools the
//! caller's profile allows, with disabled write tools left out. A call goes through
//! [`App::call_plugin_tool_as`], so profiles, budgets, approvals and the cache hold exactly as
//! for a direct call.
//!
//! Ranking is BM25 over a small weighted bag of words per tool (name, title, description,
//! argument names, plugin name and description), with light suffix stemming (`containment`
//! finds `hosts_contain`) and a few security synonyms; ties are broken by name. The index is
//! built per search from the current snapshot: the catalogue is bounded by the registry's
//! descriptor limits, and a fresh index can never serve a stale or foreign tool.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::Caller;
use super::builtins::Builtin;
use crate::app::{App, ToolOutcome};
use crate::registry::{self, Snapshot};
use crate::runtime::ProgressSink;
use crate::runtime::tools::Tier;

/// Search the catalogue by words.
pub const SEARCH: &str = "aerie_search_tools";
/// Full definitions of tools by name.
pub const DESCRIBE: &str = "aerie_describe_tools";
/// Call a tool by name.
pub const CALL: &str = "aerie_call_tool";

/// Results of a search when the agent names no limit.
const DEFAULT_LIMIT: usize = 10;
/// Most results one search returns.
const MAX_LIMIT: usize = 50;
/// Most tools one describe call names.
const MAX_NAMES: usize = 20;
/// Longest query read, in characters (a query is a few words; the rest is ignored).
const MAX_QUERY_CHARS: usize = 500;
/// Longest one-line description in search results, in characters.
const LINE_CHARS: usize = 160;
/// Names suggested for an unknown one.
const SUGGESTIONS: usize = 3;

/// Built-in tools of this control: the three dynamic tools in dynamic mode, none in full mode
/// (there `tools/list` already holds every tool with its schema).
pub fn builtins(app: &App, _caller: &Caller) -> Vec<Builtin> {
    if app.controls.tool_mode != super::ToolMode::Dynamic {
        return Vec::new();
    }
    vec![
        Builtin {
            name: SEARCH,
            title: "Search tools",
            description: "Find Falcon tools by words (e.g. \"contain host\"), best first: name, title, one line. Then aerie_describe_tools for schemas.",
            schema: json!({
                "type": "object",
                "properties": {
                    "query": {"type": "string"},
                    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
                },
                "required": ["query"],
            }),
            read_only: true,
        },
        Builtin {
            name: DESCRIBE,
            title: "Describe tools",
            description: "Full definitions of the named tools, with input schemas.",
            schema: json!({
                "type": "object",
                "properties": {
                    "names": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": MAX_NAMES},
                },
                "required": ["names"],
            }),
            read_only: true,
        },
        Builtin {
            name: CALL,
            title: "Call tool",
            description: "Call a tool by name; arguments as in its input schema.",
            schema: json!({
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "arguments": {"type": "object"},
                },
                "required": ["name"],
            }),
            read_only: false,
        },
    ]
}

/// Run a built-in tool of this control, or `None` (also in full mode, where they are not
/// listed and so do not exist for the agent).
pub async fn call_builtin(
    app: &App,
    caller: &Caller,
    name: &str,
    args: &Value,
    progress: Option<ProgressSink>,
    cancel: &CancellationToken,
) -> Option<ToolOutcome> {
    if app.controls.tool_mode != super::ToolMode::Dynamic {
        return None;
    }
    Some(match name {
        SEARCH => search_tool(app, caller, args),
        DESCRIBE => describe_tool(app, caller, args),
        CALL => call_tool(app, caller, args, progress, cancel).await,
        _ => return None,
    })
}

/// Arguments of [`SEARCH`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchArgs {
    query: String,
    limit: Option<usize>,
}

/// Arguments of [`DESCRIBE`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DescribeArgs {
    names: Vec<String>,
}

/// Arguments of [`CALL`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallArgs {
    name: String,
    #[serde(default)]
    arguments: Option<Value>,
}

/// `args` as `T`, or a tool error naming the tool and the expected shape.
fn parse<T: serde::de::DeserializeOwned>(
    tool: &str,
    shape: &str,
    args: &Value,
) -> Result<T, ToolOutcome> {
    serde_json::from_value(args.clone())
        .map_err(|e| ToolOutcome::error(format!("{tool}: {e}; expected arguments {shape}.")))
}

/// A successful result: a one-line summary, then the value as compact JSON, which is also the
/// structured content (the shape plugin results have).
fn json_outcome(summary: &str, value: Value) -> ToolOutcome {
    ToolOutcome {
        text: format!("{summary}\n{value}"),
        structured: Some(value),
        content: Vec::new(),
        is_error: false,
        meta: serde_json::Map::new(),
    }
}

fn search_tool(app: &App, caller: &Caller, args: &Value) -> ToolOutcome {
    let a: SearchArgs = match parse(SEARCH, "{\"query\": string, \"limit\"?: 1-50}", args) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let limit = a.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return ToolOutcome::error(format!(
            "{SEARCH}: limit {limit} is out of range; use 1 to {MAX_LIMIT}."
        ));
    }
    let snap = app.registry.snapshot();
    let visible = visible_tools(&snap, caller);
    let ranked = rank(&visible, &a.query);
    let total = ranked.len();
    let results: Vec<Value> = ranked
        .iter()
        .take(limit)
        .map(|&(i, _)| summary_of(visible[i].1))
        .collect();
    let summary = if total == 0 {
        format!(
            "No tool matches {:?} among {} tools; try other words (an empty query lists them all).",
            a.query,
            visible.len()
        )
    } else {
        format!(
            "{} of {total} matching tools, best first; aerie_describe_tools gives their schemas, aerie_call_tool runs one.",
            results.len()
        )
    };
    json_outcome(&summary, json!({"total": total, "results": results}))
}

/// The compact search entry of a tool: name, title, one line, tier, and the destructive flag
/// when set.
fn summary_of(t: &registry::Tool) -> Value {
    let d = &t.desc;
    let mut v = json!({
        "name": d.name,
        "title": d.title,
        "description": one_line(&d.description),
        "tier": if d.tier == Tier::Write { "write" } else { "read" },
    });
    if d.destructive {
        v["destructive"] = Value::Bool(true);
    }
    v
}

/// The first line of `s`, cut to [`LINE_CHARS`] characters.
fn one_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or_default().trim();
    if line.chars().count() <= LINE_CHARS {
        return line.to_string();
    }
    let mut cut: String = line.chars().take(LINE_CHARS - 1).collect();
    cut.push('…');
    cut
}

fn describe_tool(app: &App, caller: &Caller, args: &Value) -> ToolOutcome {
    let a: DescribeArgs = match parse(DESCRIBE, "{\"names\": [string, …]}", args) {
        Ok(a) => a,
        Err(e) => return e,
    };
    if a.names.is_empty() || a.names.len() > MAX_NAMES {
        return ToolOutcome::error(format!(
            "{DESCRIBE}: name 1 to {MAX_NAMES} tools per call ({} given).",
            a.names.len()
        ));
    }
    let snap = app.registry.snapshot();
    let visible = visible_tools(&snap, caller);
    let builtins = super::builtins::list(app, caller);
    let mut seen = BTreeSet::new();
    let mut tools = Vec::new();
    let mut missing = Vec::new();
    for name in &a.names {
        if !seen.insert(name.as_str()) {
            continue;
        }
        if let Some((plugin, t)) = visible.iter().find(|(_, t)| t.desc.name == *name) {
            let tool = app.with_tenant_arg(caller, crate::mcp::mcp_tool(t));
            let mut v = serde_json::to_value(tool).unwrap_or(Value::Null);
            v["plugin"] = json!(plugin.name);
            tools.push(v);
        } else if let Some(b) = builtins.iter().find(|b| b.name.as_ref() == name.as_str()) {
            tools.push(serde_json::to_value(b).unwrap_or(Value::Null));
        } else {
            missing.push(not_available(&snap, caller, &visible, name));
        }
    }
    if tools.is_empty() {
        return ToolOutcome::error(missing.join(" "));
    }
    let mut summary = format!("{} tool definitions.", tools.len());
    for m in &missing {
        summary.push(' ');
        summary.push_str(m);
    }
    json_outcome(&summary, json!({"tools": tools}))
}

async fn call_tool(
    app: &App,
    caller: &Caller,
    args: &Value,
    progress: Option<ProgressSink>,
    cancel: &CancellationToken,
) -> ToolOutcome {
    let a: CallArgs = match parse(CALL, "{\"name\": string, \"arguments\"?: object}", args) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let arguments = match a.arguments {
        None | Some(Value::Null) => Value::Object(Default::default()),
        Some(v @ Value::Object(_)) => v,
        Some(_) => {
            return ToolOutcome::error(format!(
                "{CALL}: `arguments` must be an object of the tool's arguments (see aerie_describe_tools)."
            ));
        }
    };
    if a.name.starts_with(super::builtins::PREFIX) {
        return ToolOutcome::error(format!(
            "{CALL}: `{}` is a built-in tool; call it directly, not through {CALL}.",
            a.name
        ));
    }
    let snap = app.registry.snapshot();
    // A name no plugin serves gets suggestions here; every other refusal (a disabled write, a
    // tool outside the profile) comes from the one call path, worded as for a direct call.
    if !snap.tools.contains_key(&a.name) {
        let visible = visible_tools(&snap, caller);
        return ToolOutcome::error(not_available(&snap, caller, &visible, &a.name));
    }
    drop(snap);
    app.call_plugin_tool_as(caller, &a.name, arguments, progress, cancel)
        .await
}

/// Every tool `caller` may see now: enabled (a write tool is disabled unless writes are on) and
/// allowed by its profile, in name order.
fn visible_tools<'s>(
    snap: &'s Snapshot,
    caller: &Caller,
) -> Vec<(&'s std::sync::Arc<registry::Plugin>, &'s registry::Tool)> {
    snap.tools
        .keys()
        .filter_map(|name| snap.tool(name))
        .filter(|(_, t)| caller.profile.allows_tool(t))
        .collect()
}

/// Why `name` cannot be described or called, and what to use instead.
fn not_available(
    snap: &Snapshot,
    caller: &Caller,
    visible: &[(&std::sync::Arc<registry::Plugin>, &registry::Tool)],
    name: &str,
) -> String {
    if let Some((_, t)) = snap.tool(name)
        && !caller.profile.allows_tool(t)
    {
        return format!(
            "Tool `{name}` is not available to profile `{}`.",
            caller.profile.name
        );
    }
    if snap.tools.contains_key(name) {
        return format!(
            "Tool `{name}` is a write tool and writes are disabled (the operator can start aerie with --allow-writes)."
        );
    }
    let hints = suggestions(visible, name);
    if hints.is_empty() {
        format!("Unknown tool `{name}`; find tools with {SEARCH}.")
    } else {
        let list: Vec<String> = hints.iter().map(|h| format!("`{h}`")).collect();
        format!(
            "Unknown tool `{name}`; did you mean {}? ({SEARCH} finds more.)",
            list.join(", ")
        )
    }
}

/// Up to [`SUGGESTIONS`] visible names for a mistyped or half-remembered `name`: the nearest by
/// edit distance first (a typo), then the best search hits for its words (`contain_hosts`).
fn suggestions<'s>(
    visible: &[(&std::sync::Arc<registry::Plugin>, &'s registry::Tool)],
    name: &str,
) -> Vec<&'s str> {
    let names = || visible.iter().map(|(_, t)| t.desc.name.as_str());
    let mut out: Vec<&str> = crate::policy::check::nearest(name, names())
        .into_iter()
        .collect();
    for (i, _) in rank(visible, name) {
        let n = visible[i].1.desc.name.as_str();
        if out.len() >= SUGGESTIONS {
            break;
        }
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Ranking

/// Weight of a word in each field of a tool: the name says most, the group's blurb least.
const W_NAME: f64 = 3.0;
const W_TITLE: f64 = 2.0;
const W_DESCRIPTION: f64 = 1.0;
const W_PLUGIN: f64 = 1.0;
const W_ARGUMENT: f64 = 0.75;
const W_PLUGIN_DESCRIPTION: f64 = 0.5;
const W_ARGUMENT_TEXT: f64 = 0.25;
/// Weight of a synonym's stem next to the word the agent typed.
const W_SYNONYM: f64 = 0.5;
/// Bonus for naming a tool exactly.
const EXACT_NAME: f64 = 10.0;
/// BM25 parameters (the usual values).
const K1: f64 = 1.2;
const B: f64 = 0.75;
/// How deep a schema is walked for argument names (schemas nest little; this bounds a hostile one).
const SCHEMA_DEPTH: usize = 6;

/// Words that say nothing about which tool is meant.
const STOPWORDS: &[&str] = &[
    "a", "all", "an", "and", "any", "are", "as", "at", "be", "by", "do", "for", "from", "how", "i",
    "in", "into", "is", "it", "me", "my", "of", "on", "or", "please", "that", "the", "this", "to",
    "unless", "what", "which", "with",
];

/// Words an agent types for what the catalogue says otherwise (both sides are stemmed).
const SYNONYMS: &[(&str, &[&str])] = &[
    ("find", &["search", "query"]),
    ("lookup", &["search", "query", "get"]),
    ("look", &["search"]),
    ("show", &["list", "get"]),
    ("isolate", &["contain"]),
    ("quarantine", &["contain"]),
    ("unisolate", &["lift", "contain"]),
    ("release", &["lift"]),
    ("machine", &["host"]),
    ("device", &["host"]),
    ("endpoint", &["host"]),
    ("computer", &["host"]),
    ("alert", &["detection"]),
    ("detection", &["alert"]),
    ("indicator", &["ioc"]),
    ("ioc", &["indicator"]),
    ("log", &["ngsiem", "siem"]),
    ("siem", &["ngsiem"]),
    ("shell", &["rtr", "command"]),
    ("policy", &["prevention"]),
];

/// Indices into `tools` of those matching `query`, best first, ties by name. An empty query
/// (no words that count) matches every tool, in name order, so the catalogue can be browsed.
fn rank(
    tools: &[(&std::sync::Arc<registry::Plugin>, &registry::Tool)],
    query: &str,
) -> Vec<(usize, f64)> {
    let query: String = query.chars().take(MAX_QUERY_CHARS).collect();
    let terms = query_terms(&query);
    if terms.is_empty() {
        let mut all: Vec<(usize, f64)> = (0..tools.len()).map(|i| (i, 0.0)).collect();
        all.sort_by(|a, b| tools[a.0].1.desc.name.cmp(&tools[b.0].1.desc.name));
        return all;
    }
    let docs: Vec<BTreeMap<String, f64>> = tools.iter().map(|(p, t)| bag_of(p, t)).collect();
    let lengths: Vec<f64> = docs.iter().map(|d| d.values().sum()).collect();
    let avg = (lengths.iter().sum::<f64>() / docs.len().max(1) as f64).max(1.0);
    let n = docs.len() as f64;
    let exact: BTreeSet<String> = query
        .split(|c: char| c.is_whitespace() || c == ',')
        .map(|w| w.trim_matches('`').to_ascii_lowercase())
        .collect();
    let mut scored: Vec<(usize, f64)> = docs
        .iter()
        .enumerate()
        .map(|(i, doc)| {
            let mut s = 0.0;
            for (term, weight) in &terms {
                let tf = doc.get(term).copied().unwrap_or(0.0);
                if tf == 0.0 {
                    continue;
                }
                let df = docs.iter().filter(|d| d.contains_key(term)).count() as f64;
                let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
                s += weight * idf * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * lengths[i] / avg));
            }
            if exact.contains(&tools[i].1.desc.name) {
                s += EXACT_NAME;
            }
            (i, s)
        })
        .filter(|(_, s)| *s > 0.0)
        .collect();
    scored.sort_by(|a, b| {
        b.1.total_cmp(&a.1)
            .then_with(|| tools[a.0].1.desc.name.cmp(&tools[b.0].1.desc.name))
    });
    scored
}

/// Query verbs that stand only for their synonyms: "find hosts" must not match "findings".
const ONLY_SYNONYMS: &[&str] = &["find"];

/// The query's stems with their weights: each word once at 1, its synonyms at [`W_SYNONYM`].
fn query_terms(query: &str) -> BTreeMap<String, f64> {
    let mut terms = BTreeMap::new();
    for word in words(query) {
        for (from, to) in SYNONYMS {
            if stem(from) == word {
                for s in *to {
                    let e = terms.entry(stem(s)).or_insert(0.0);
                    *e = f64::max(*e, W_SYNONYM);
                }
            }
        }
        if !ONLY_SYNONYMS.iter().any(|v| stem(v) == word) {
            terms.insert(word, 1.0);
        }
    }
    terms
}

/// A tool's stems, each weighted by the fields it appears in.
fn bag_of(plugin: &registry::Plugin, t: &registry::Tool) -> BTreeMap<String, f64> {
    let mut bag = BTreeMap::new();
    let mut add = |text: &str, w: f64| {
        for word in words(text) {
            *bag.entry(word).or_insert(0.0) += w;
        }
    };
    add(&t.desc.name, W_NAME);
    add(&t.desc.title, W_TITLE);
    add(&t.desc.description, W_DESCRIPTION);
    add(&plugin.name, W_PLUGIN);
    add(&plugin.description, W_PLUGIN_DESCRIPTION);
    schema_words(&Value::Object((*t.schema).clone()), 0, &mut add);
    bag
}

/// Argument names, their descriptions and enum values from a JSON schema.
fn schema_words(schema: &Value, depth: usize, add: &mut impl FnMut(&str, f64)) {
    if depth > SCHEMA_DEPTH {
        return;
    }
    match schema {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("properties", Value::Object(props)) => {
                        for (name, sub) in props {
                            add(name, W_ARGUMENT);
                            schema_words(sub, depth + 1, add);
                        }
                    }
                    ("description", Value::String(s)) => add(s, W_ARGUMENT_TEXT),
                    ("enum", Value::Array(items)) => {
                        for s in items.iter().filter_map(Value::as_str) {
                            add(s, W_ARGUMENT_TEXT);
                        }
                    }
                    (_, Value::Object(_) | Value::Array(_)) => schema_words(v, depth + 1, add),
                    _ => {}
                }
            }
        }
        Value::Array(items) => {
            for v in items {
                schema_words(v, depth + 1, add);
            }
        }
        _ => {}
    }
}

/// The stems of the words of `text`: split at anything not a letter or digit (so `hosts_contain`
/// is two words), lower-cased, stopwords dropped.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .filter(|w| !STOPWORDS.contains(&w.as_str()))
        .map(|w| stem(&w))
}

/// A light English stemmer: plurals, then one of -ment/-ation/-ion/-ing/-ed, then a final -e.
/// It only has to map a query's word and the catalogue's to the same stem (`containment`,
/// `contained`, `contain` → `contain`; `isolation`, `isolate` → `isolat`), not to a real root.
fn stem(word: &str) -> String {
    let mut w = word.to_string();
    // Only ASCII words are stemmed: suffix slicing below is by bytes. `-sses`, `-xes`, `-ches`
    // … lose `es` (`processes`, `hashes`); any other `-s` but `-ss`/`-us`/`-is` loses `s`.
    if !w.is_ascii() || w.len() <= 3 {
        return w;
    }
    if let Some(s) = w.strip_suffix("ies") {
        w = format!("{s}y");
    } else if ["ses", "xes", "zes", "ches", "shes"]
        .iter()
        .any(|s| w.ends_with(s))
    {
        w.truncate(w.len() - 2);
    } else if w.ends_with('s') && !["ss", "us", "is"].iter().any(|s| w.ends_with(s)) {
        w.truncate(w.len() - 1);
    }
    for (suffix, replacement, undouble) in [
        ("ment", "", false),
        ("ation", "at", false),
        ("ion", "", false),
        ("ing", "", true),
        ("ed", "", true),
    ] {
        if let Some(s) = w.strip_suffix(suffix)
            && s.len() >= 3
        {
            let mut s = format!("{s}{replacement}");
            let b = s.as_bytes();
            if undouble
                && b.len() >= 2
                && b[b.len() - 1] == b[b.len() - 2]
                && !b"aeiouls".contains(&b[b.len() - 1])
            {
                s.pop();
            }
            w = s;
            break;
        }
    }
    if w.len() > 3 && w.ends_with('e') {
        w.pop();
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_meet_across_word_forms() {
        for (a, b) in [
            ("containment", "contain"),
            ("contained", "contain"),
            ("containing", "contains"),
            ("isolation", "isolate"),
            ("isolated", "isolate"),
            ("hosts", "host"),
            ("policies", "policy"),
            ("hashes", "hash"),
            ("detections", "detection"),
            ("processes", "process"),
            ("running", "run"),
        ] {
            assert_eq!(stem(a), stem(b), "{a} / {b}");
        }
        // Words that only look plural keep their ending.
        assert_eq!(stem("status"), "status");
        assert_eq!(stem("analysis"), "analysis");
        assert_eq!(stem("address"), "address");
        // Short and non-ASCII words are left alone.
        assert_eq!(stem("ip"), "ip");
        assert_eq!(stem("hôtes"), "hôtes");
    }

    #[test]
    fn words_split_names_and_drop_stopwords() {
        let w: Vec<String> = words("Find hosts_contain by the Network-isolate").collect();
        assert_eq!(w, ["find", "host", "contain", "network", "isolat"]);
    }

    #[test]
    fn synonyms_join_the_query_at_lower_weight() {
        let t = query_terms("isolate machine");
        assert_eq!(t[&stem("isolate")], 1.0);
        assert_eq!(t[&stem("contain")], W_SYNONYM);
        assert_eq!(t[&stem("host")], W_SYNONYM);
        // "find" stands only for its synonyms (it would match "findings").
        let t = query_terms("find hosts");
        assert!(!t.contains_key(&stem("find")), "{t:?}");
        assert_eq!(t[&stem("search")], W_SYNONYM);
    }

    #[test]
    fn one_line_keeps_the_first_line_and_cuts_long_ones() {
        assert_eq!(one_line("First.\nSecond."), "First.");
        let long = "x".repeat(500);
        let cut = one_line(&long);
        assert_eq!(cut.chars().count(), LINE_CHARS);
        assert!(cut.ends_with('…'));
    }
}
