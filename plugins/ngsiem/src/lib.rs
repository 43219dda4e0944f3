//! The `ngsiem` tool group: CQL queries over NG-SIEM (LogScale) as asynchronous search jobs —
//! start, poll with progress until done or a bound, stop, return events (reference §4.9) — and
//! the tenant's NG-SIEM content and data connections (`content`, reference part 2 §10).

mod content;
mod mcp;

use aerie_sdk::{
    Ctx, Next, Output, Plugin, PollSpec, Polled, Resource, Shape, Step, ToolError, ToolSpec,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

const CQL_GUIDE: &str = "falcon://cql/syntax";

/// Default wait for a job; the operator may change it with config `max_wait_s`.
const DEFAULT_MAX_WAIT_MS: u64 = 120_000;
const POLL_MS: u32 = 2_000;
/// Largest `max_results` (the schema's maximum).
const MAX_RESULTS: u32 = 1000;
/// Most events LogScale returns from `tail(N)` / `head(N)`.
const LOGSCALE_MAX_TAIL: u32 = 10_000;

fn d24h() -> String {
    "24h".into()
}
fn d100() -> u32 {
    100
}
fn d_repo() -> String {
    "search-all".into()
}

/// Arguments of `ngsiem_query`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct QueryArgs {
    query: String,
    /// 15m, 24h, 7d, 30d or RFC 3339
    #[serde(default = "d24h")]
    start: String,
    /// Default now
    end: Option<String>,
    #[serde(default = "d_repo")]
    repository: String,
    #[schemars(range(min = 1, max = MAX_RESULTS))]
    #[serde(default = "d100")]
    max_results: u32,
}

/// Rewrite what models write but CQL lacks, and tidy layout:
/// `Field IN ["a", "b"]` → `Field=/^(a|b)$/` (values regex-escaped); over-escaped regex
/// metacharacters (`/a\\.exe/` → `/a\.exe/`, see [`fix_regex_escapes`]); blank lines and trailing
/// spaces removed.
fn normalise(q: &str) -> Result<String, ToolError> {
    let lines: Vec<&str> = q
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect();
    let mut s = fix_regex_escapes(&lines.join("\n"));
    while let Some((start, end, replacement)) = find_in_clause(&s)? {
        s.replace_range(start..end, &replacement);
    }
    if s.trim().is_empty() {
        return Err(ToolError::invalid("query is empty"));
    }
    Ok(s)
}

/// Regex metacharacters a model means literally when it writes them after a doubled backslash.
const REGEX_META: &[char] = &[
    '.', '*', '+', '?', '(', ')', '[', ']', '{', '}', '|', '^', '$',
];

/// Inside `/.../` regex literals (outside string literals), turn `\\` followed by a regex
/// metacharacter into a single `\`: models escape for JSON and then again for the regex, so
/// `/comsvcs\\.dll/` (a literal backslash, then any character) was meant as `/comsvcs\.dll/`.
/// A doubled backslash before anything else (`C:\\Windows`) is a literal backslash and stays.
fn fix_regex_escapes(q: &str) -> String {
    let chars: Vec<char> = q.chars().collect();
    let mut out = String::with_capacity(q.len());
    let mut i = 0;
    let mut in_quote = false;
    while i < chars.len() {
        let c = chars[i];
        if in_quote {
            out.push(c);
            if c == '\\' && i + 1 < chars.len() {
                out.push(chars[i + 1]);
                i += 1;
            } else if c == '"' {
                in_quote = false;
            }
            i += 1;
            continue;
        }
        if c == '"' {
            in_quote = true;
            out.push(c);
            i += 1;
            continue;
        }
        // A regex literal starts where a value or function argument is expected.
        let prev = out.trim_end().chars().last();
        if c == '/' && matches!(prev, None | Some('=' | '(' | ',' | '~' | '|')) {
            out.push('/');
            i += 1;
            while i < chars.len() && chars[i] != '/' {
                if chars[i] == '\\' {
                    let next = chars.get(i + 1).copied();
                    let after = chars.get(i + 2).copied();
                    if next == Some('\\') && after.is_some_and(|a| REGEX_META.contains(&a)) {
                        // `\\.` → `\.`
                        out.push('\\');
                        i += 2;
                        continue;
                    }
                    // Keep any escape pair (including `\/`) intact.
                    out.push('\\');
                    if let Some(n) = next {
                        out.push(n);
                    }
                    i += 2;
                    continue;
                }
                out.push(chars[i]);
                i += 1;
            }
            if i < chars.len() {
                out.push('/');
                i += 1;
            }
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Locate the first `Field IN [..]` outside quotes; returns its byte range and the rewrite.
fn find_in_clause(s: &str) -> Result<Option<(usize, usize, String)>, ToolError> {
    let bytes = s.as_bytes();
    let mut in_quote = false;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'"' && (i == 0 || bytes[i - 1] != b'\\') {
            in_quote = !in_quote;
        }
        let is_in = !in_quote
            && i > 0
            && bytes[i - 1].is_ascii_whitespace()
            && s[i..].len() >= 3
            && s[i..i + 2].eq_ignore_ascii_case("in")
            && bytes[i + 2].is_ascii_whitespace();
        if is_in {
            let rest = &s[i + 2..];
            let open = rest.len() - rest.trim_start().len();
            if rest.trim_start().starts_with('[') {
                // The field is the token before ` IN`.
                let before = s[..i].trim_end();
                let fstart = before
                    .rfind(|ch: char| {
                        !(ch.is_ascii_alphanumeric() || matches!(ch, '_' | '.' | '#' | '@'))
                    })
                    .map_or(0, |p| p + 1);
                let field = &before[fstart..];
                if field.is_empty() {
                    return Err(ToolError::invalid("`IN` needs a field name before it"));
                }
                let list_start = i + 2 + open + 1;
                let Some(close) = s[list_start..].find(']') else {
                    return Err(ToolError::invalid("unclosed [ after IN"));
                };
                let values = parse_values(&s[list_start..list_start + close])?;
                let alts: Vec<String> = values.iter().map(|v| regex_escape(v)).collect();
                let rewrite = format!("{field}=/^({})$/", alts.join("|"));
                return Ok(Some((fstart, list_start + close + 1, rewrite)));
            }
        }
        i += 1;
    }
    Ok(None)
}

/// `"a", "b"` or `a, b` → values.
fn parse_values(list: &str) -> Result<Vec<String>, ToolError> {
    let vals: Vec<String> = list
        .split(',')
        .map(|v| v.trim().trim_matches('"').trim_matches('\'').to_string())
        .filter(|v| !v.is_empty())
        .collect();
    if vals.is_empty() {
        return Err(ToolError::invalid("IN [...] needs at least one value"));
    }
    Ok(vals)
}

fn regex_escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if "\\.+*?()|[]{}^$/".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// LogScale time: relative spans pass through (`24h`, `7d`); RFC 3339 becomes epoch ms.
fn time_arg(v: &str) -> Result<Value, ToolError> {
    let v = v.trim();
    if v == "now" {
        return Ok(json!("now"));
    }
    if let Some(unit) = v
        .chars()
        .last()
        .filter(|c| matches!(c, 's' | 'm' | 'h' | 'd' | 'w' | 'y'))
    {
        let n = &v[..v.len() - 1];
        if !n.is_empty() && n.len() <= 6 && n.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(json!(format!("{n}{unit}")));
        }
    }
    rfc3339_ms(v).map(|ms| json!(ms)).ok_or_else(|| {
        ToolError::invalid(format!(
            "time `{v}` must be like 15m, 24h, 7d or 2025-06-13T00:00:00Z"
        ))
    })
}

/// Epoch milliseconds of `YYYY-MM-DD[THH:MM[:SS[.fff]]][Z]` (UTC only; offsets are rejected).
fn rfc3339_ms(v: &str) -> Option<i64> {
    let v = v.strip_suffix('Z').unwrap_or(v);
    let (date, time) = v.split_once('T').unwrap_or((v, "00:00:00"));
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, mo, da) = (d.next()??, d.next()??, d.next()??);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&da) || date.len() != 10 {
        return None;
    }
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':').map(|p| p.parse::<i64>().ok());
    let h = t.next()??;
    let mi = t.next().unwrap_or(Some(0))?;
    let s = t.next().unwrap_or(Some(0))?;
    if h > 23 || mi > 59 || s > 60 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let ms: i64 = format!("{:0<3}", &frac[..frac.len().min(3)]).parse().ok()?;
    // Days from civil (Howard Hinnant's algorithm), proleptic Gregorian.
    let yy = if mo <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + da - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + h) * 60 + mi) * 60_000 + s * 1000 + ms)
}

fn repository(r: &str) -> Result<String, ToolError> {
    let ok = !r.is_empty()
        && r.len() <= 64
        && r.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(r.to_string())
    } else {
        Err(ToolError::invalid(format!(
            "repository `{r}` is not a repository name (e.g. search-all, investigate_view)"
        )))
    }
}

/// A poll answer reduced to what the loop needs.
#[derive(Debug, Default)]
struct JobState {
    events: Vec<Value>,
    event_count: u64,
    warnings: Vec<Value>,
    /// LogScale's `metaData.extraData.hasMoreEvents`: its result buffer (200 events for a
    /// query without an aggregate, unless the query sets `tail`/`head`) left matches out.
    has_more: bool,
}

fn job_state(v: &Value) -> JobState {
    JobState {
        events: v
            .get("events")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        event_count: v
            .pointer("/metaData/eventCount")
            .and_then(Value::as_u64)
            .unwrap_or(0),
        warnings: v
            .get("warnings")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        // A string in LogScale's answers ("true"/"false"); a boolean is accepted too.
        has_more: match v.pointer("/metaData/extraData/hasMoreEvents") {
            Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
            Some(Value::Bool(b)) => *b,
            _ => false,
        },
    }
}

fn cql_hint(e: ToolError) -> ToolError {
    match e {
        ToolError::Upstream {
            status: 400,
            message,
        } => ToolError::Upstream {
            status: 400,
            message: format!("{message}; check the CQL against {CQL_GUIDE}"),
        },
        other => other,
    }
}

fn query(ctx: &Ctx<'_>, a: QueryArgs) -> Result<Output, ToolError> {
    let cql = normalise(&a.query)?;
    let repo = repository(&a.repository)?;
    let mut body = json!({"queryString": cql, "start": time_arg(&a.start)?, "isLive": false});
    body["end"] = match a.end.as_deref() {
        Some(e) => time_arg(e)?,
        None => json!("now"),
    };
    let started = ctx
        .op("StartSearchV1")
        .path("repository", &repo)
        .body_json(&body)?
        .send()
        .map_err(cql_hint)?
        .json::<Value>()?;
    let id = started
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ToolError::internal("NG-SIEM started no job (no id in the answer)"))?
        .to_string();
    let max_wait_ms = ctx
        .config("max_wait_s")
        .and_then(|s| s.parse::<u64>().ok())
        .map_or(DEFAULT_MAX_WAIT_MS, |s| s.saturating_mul(1000));
    let spec = PollSpec {
        interval_ms: POLL_MS,
        max_wait_ms,
        what: "NG-SIEM query".into(),
    };
    let outcome = ctx.poll(&spec, |_| {
        let v: Value = ctx
            .op("GetSearchStatusV1")
            .path("repository", &repo)
            .path("id", &id)
            .subject(format!("NG-SIEM job {id}"))
            .send()?
            .json()?;
        if v.get("cancelled").and_then(Value::as_bool) == Some(true) {
            return Err(ToolError::Upstream {
                status: 409,
                message: "NG-SIEM cancelled the query job; retry with a narrower time range".into(),
            });
        }
        let state = job_state(&v);
        if v.get("done").and_then(Value::as_bool) == Some(true) {
            return Ok(Step::Done(state));
        }
        let done = v.pointer("/metaData/workDone").and_then(Value::as_u64);
        let total = v.pointer("/metaData/totalWork").and_then(Value::as_u64);
        Ok(match (done, total) {
            (Some(done), Some(total)) if total > 0 => Step::Working {
                value: state,
                done,
                total,
            },
            _ => Step::Pending(state),
        })
    })?;
    // Free the job either way: a finished job holds results server-side until it expires.
    let stopped = ctx
        .op("StopSearchV1")
        .path("repository", &repo)
        .path("id", &id)
        .send_allowing(&[404])
        .is_ok();
    let (complete, state) = match outcome {
        Polled::Done(s) => (true, s),
        Polled::TimedOut(s) => (false, s),
    };
    Ok(render(
        &cql,
        complete,
        stopped,
        state,
        a.max_results as usize,
        max_wait_ms,
    ))
}

fn render(
    cql: &str,
    complete: bool,
    stopped: bool,
    mut state: JobState,
    max: usize,
    waited_ms: u64,
) -> Output {
    let total = state.event_count.max(state.events.len() as u64);
    let returned = state.events.len();
    let truncated = returned > max;
    state.events.truncate(max);
    // Who capped the result, if anyone: NG-SIEM's result buffer, or this tool's max_results.
    let capped_by = if state.has_more {
        Some("ngsiem_result_limit")
    } else if truncated {
        Some("max_results")
    } else {
        None
    };
    let mut summary = if state.has_more {
        format!(
            "{} event(s); more matched than NG-SIEM returned",
            state.events.len()
        )
    } else {
        format!("{} of {total} event(s)", state.events.len())
    };
    if !complete {
        summary.push_str(&format!(
            "; the job did not finish within {}s, results are partial — narrow the time range or query",
            waited_ms / 1000
        ));
    }
    if state.has_more {
        summary.push_str(&format!(
            "; the result is capped by NG-SIEM, which returns at most {returned} events for a query without an aggregate — to see the rest, narrow the time range or filter, aggregate (groupBy/count/top), or end the query with `| tail(N)` (N up to {LOGSCALE_MAX_TAIL})"
        ));
        if max < MAX_RESULTS as usize {
            summary.push_str(&format!(" and raise max_results (up to {MAX_RESULTS})"));
        }
    } else if truncated {
        if max < MAX_RESULTS as usize {
            summary.push_str(&format!(
                "; capped by max_results={max} — raise max_results (up to {MAX_RESULTS}), narrow the time range, or aggregate (groupBy/head) to see more"
            ));
        } else {
            summary.push_str(&format!(
                "; capped by max_results={max}, its maximum — narrow the time range or aggregate (groupBy/head) to see the rest"
            ));
        }
    }
    if !stopped {
        summary.push_str("; the job could not be stopped and will expire on its own");
    }
    summary.push('.');
    Output::json(
        summary,
        &json!({
            "results": state.events,
            // With `capped_by` = ngsiem_result_limit, a lower bound: NG-SIEM does not say how
            // many more matched.
            "total": total,
            "next": Next::None,
            // Every matching event is in `results`: the job finished and nothing was capped.
            "complete": complete && capped_by.is_none(),
            "capped_by": capped_by,
            "query": cql,
            "warnings": state.warnings,
        }),
    )
}

/// The `ngsiem` plugin.
pub fn plugin() -> Plugin {
    let p = Plugin::new(
        "ngsiem",
        env!("CARGO_PKG_VERSION"),
        "Falcon NG-SIEM: CQL search over all logs",
    )
    .tool(
        ToolSpec::read(
            "ngsiem_query",
            "Run NG-SIEM query",
            "Run a CQL query (falcon://cql/syntax) and return its events",
        )
        .ops(&["StartSearchV1", "GetSearchStatusV1", "StopSearchV1"])
        .output(Shape::Search),
        query,
    )
    .resource(Resource::markdown(
        CQL_GUIDE,
        "CQL guide",
        "CQL syntax, common event types and examples for NG-SIEM",
        include_str!("cql.md"),
    ));
    mcp::add(content::add(p))
}

aerie_sdk::export_plugin!(plugin);

#[cfg(test)]
mod tests {
    use super::*;
    use aerie_sdk::testing::MockEnv;

    fn call(env: &MockEnv, args: Value) -> Result<Output, ToolError> {
        plugin().call(env, "ngsiem_query", &args.to_string())
    }

    #[test]
    fn declarations_are_valid_and_compact() {
        let p = plugin();
        p.validate().unwrap();
        // One tool carrying the whole query surface; the 450-byte budget is an average across
        // all groups, so this group's own bound is 560.
        let d = p.describe();
        let avg = d.average_tool_bytes();
        assert!(avg < 560, "average tool size {avg} bytes");
    }

    #[test]
    fn rewrites_in_lists() {
        assert_eq!(
            normalise("#event_simpleName=ProcessRollup2\n\n  ComputerName IN [\"a.b\", \"c\"]  \n| head(5)").unwrap(),
            "#event_simpleName=ProcessRollup2\n  ComputerName=/^(a\\.b|c)$/\n| head(5)"
        );
        assert_eq!(normalise("x=\"in [not me]\"").unwrap(), "x=\"in [not me]\"");
        assert!(normalise("  \n ").is_err());
        assert!(normalise("a IN [").is_err());
    }

    #[test]
    fn times() {
        assert_eq!(time_arg("24h").unwrap(), json!("24h"));
        assert_eq!(time_arg("1970-01-02T00:00:00Z").unwrap(), json!(86_400_000));
        assert_eq!(
            time_arg("2025-06-13T02:01:54.602Z").unwrap(),
            json!(1_749_780_114_602_i64)
        );
        assert!(time_arg("yesterday").is_err());
        assert!(time_arg("2025-13-01").is_err());
    }

    #[test]
    fn job_polls_until_done_then_stops() {
        let env = MockEnv::new()
            .reply("StartSearchV1", 200, json!({"id": "job-1", "hashedQueryOnView": "h"}))
            .reply("GetSearchStatusV1", 200, json!({"done": false, "events": [], "metaData": {"workDone": 1, "totalWork": 4}}))
            .reply(
                "GetSearchStatusV1",
                200,
                json!({"done": true, "events": [{"ComputerName": "WS1"}, {"ComputerName": "WS2"}], "metaData": {"eventCount": 2}}),
            )
            .reply_bytes("StopSearchV1", 204, Vec::new());
        let out = call(
            &env,
            json!({"query": "ComputerName IN [\"WS1\",\"WS2\"]", "start": "7d", "max_results": 1}),
        )
        .unwrap();
        let s = out.structured.unwrap();
        assert_eq!(s["complete"], false, "max_results left one out");
        assert_eq!(s["capped_by"], "max_results");
        assert!(
            out.text.contains("raise max_results (up to 1000)"),
            "{}",
            out.text
        );
        assert_eq!(s["total"], 2);
        assert_eq!(s["results"].as_array().unwrap().len(), 1);
        assert_eq!(s["next"], Value::Null);
        let start = &env.calls_to("StartSearchV1")[0];
        assert_eq!(start.path_value("repository"), Some("search-all"));
        assert_eq!(
            start.body_json().unwrap()["queryString"],
            "ComputerName=/^(WS1|WS2)$/"
        );
        assert_eq!(start.body_json().unwrap()["start"], "7d");
        assert_eq!(
            env.calls_to("GetSearchStatusV1")[0].path_value("id"),
            Some("job-1")
        );
        assert_eq!(
            env.operations().last().map(String::as_str),
            Some("StopSearchV1")
        );
        assert!(
            env.progress_log()
                .iter()
                .any(|(d, t, _)| *d == 1 && *t == Some(4))
        );
    }

    /// NG-SIEM's own result cap (`hasMoreEvents`) is reported as such, never as complete.
    #[test]
    fn a_result_capped_by_ngsiem_says_so() {
        let events: Vec<Value> = (0..200).map(|i| json!({"n": i})).collect();
        let env = MockEnv::new()
            .reply("StartSearchV1", 200, json!({"id": "job-3"}))
            .reply(
                "GetSearchStatusV1",
                200,
                json!({"done": true, "events": events, "metaData": {"eventCount": 200, "extraData": {"hasMoreEvents": "true"}}}),
            )
            .reply_bytes("StopSearchV1", 204, Vec::new());
        let out = call(
            &env,
            json!({"query": "#event_simpleName=ProcessRollup2", "max_results": 1000}),
        )
        .unwrap();
        let s = out.structured.unwrap();
        assert_eq!(s["complete"], false);
        assert_eq!(s["capped_by"], "ngsiem_result_limit");
        assert_eq!(s["results"].as_array().unwrap().len(), 200);
        assert!(out.text.contains("capped by NG-SIEM"), "{}", out.text);
        assert!(out.text.contains("| tail(N)"), "{}", out.text);
        assert!(
            !out.text.contains("raise max_results"),
            "max_results is already at its maximum: {}",
            out.text
        );
        assert!(!out.text.contains("200 of 200"), "{}", out.text);
    }

    #[test]
    fn job_is_bounded() {
        let env = MockEnv::new()
            .config("max_wait_s", "6")
            .reply("StartSearchV1", 200, json!({"id": "job-2"}))
            .reply(
                "GetSearchStatusV1",
                200,
                json!({"done": false, "events": [{"a": 1}]}),
            )
            .reply_bytes("StopSearchV1", 204, Vec::new());
        let out = call(&env, json!({"query": "#repo=x"})).unwrap();
        let s = out.structured.unwrap();
        assert_eq!(s["complete"], false);
        assert!(out.text.contains("partial"));
        assert!(env.elapsed_ms() <= 6_000);
        assert_eq!(env.calls_to("StopSearchV1").len(), 1);
    }

    #[test]
    fn bad_repository_is_rejected() {
        let env = MockEnv::new();
        assert!(matches!(
            call(&env, json!({"query": "x", "repository": "../etc"})),
            Err(ToolError::InvalidArguments(_))
        ));
        assert!(env.calls().is_empty());
    }

    #[test]
    fn over_escaped_regex_metacharacters_are_fixed() {
        assert_eq!(
            normalise(r"CommandLine=/comsvcs\\.dll.*MiniDump/i | head(5)").unwrap(),
            r"CommandLine=/comsvcs\.dll.*MiniDump/i | head(5)"
        );
        // A literal backslash before a letter (a Windows path) is kept.
        assert_eq!(
            normalise(r"ImageFileName=/C:\\Windows\\System32\\cmd\.exe/").unwrap(),
            r"ImageFileName=/C:\\Windows\\System32\\cmd\.exe/"
        );
        // Strings and escaped slashes are untouched; two regexes are both fixed.
        assert_eq!(
            normalise(r#"a="x\\.y" b=/p\\.q/ c=/r\/s\\(t/"#).unwrap(),
            r#"a="x\\.y" b=/p\.q/ c=/r\/s\(t/"#
        );
        // Division-like slashes outside a value position are not regexes.
        assert_eq!(normalise(r"x := a / b").unwrap(), r"x := a / b");
    }
}
