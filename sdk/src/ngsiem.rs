//! Running an NG-SIEM (LogScale) search from a tool: start the job, poll it to completion within a
//! bound, and stop it either way (falcon-api.md §4.9). A tool that looks events up as one step
//! of its work (an alert's related events, a process's telemetry) uses [`search`]; a plugin must
//! declare `StartSearchV1`, `GetSearchStatusV1` and `StopSearchV1` for the tool.
//!
//! If the call ends without stopping its job (a trap, a deadline), the host stops it: the
//! catalogue declares `StopSearchV1` as `StartSearchV1`'s clean-up.

use serde_json::{Value, json};

use crate::context::{Ctx, PollSpec, Polled, Step};
use crate::error::ToolError;

/// One search: where, what and over which time range.
#[derive(Debug, Clone)]
pub struct Query<'a> {
    /// Repository or view (`search-all`, `base_sensor`, …).
    pub repository: &'a str,
    /// The CQL query string.
    pub cql: &'a str,
    /// Start: epoch milliseconds, or a relative time such as `"24h"`.
    pub start: Value,
    /// End: epoch milliseconds, or `"now"`.
    pub end: Value,
    /// Longest wait for the job, in milliseconds.
    pub max_wait_ms: u64,
}

impl<'a> Query<'a> {
    /// `cql` over `search-all` between two epoch-millisecond instants, waiting at most 30 s.
    pub fn between(cql: &'a str, start_ms: i64, end_ms: i64) -> Self {
        Self {
            repository: "search-all",
            cql,
            start: json!(start_ms),
            end: json!(end_ms),
            max_wait_ms: 30_000,
        }
    }
}

/// What a search returned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Events {
    /// The events (LogScale returns at most 200 for a query without an aggregate).
    pub events: Vec<Value>,
    /// How many events matched, as LogScale counts them.
    pub matched: u64,
    /// The job finished within the wait (otherwise the events are partial).
    pub complete: bool,
    /// LogScale's result buffer left matching events out.
    pub capped: bool,
}

const POLL_MS: u32 = 1_000;

/// Run `q` to completion (or `q.max_wait_ms`) and stop its job.
pub fn search(ctx: &Ctx<'_>, q: &Query<'_>) -> Result<Events, ToolError> {
    let started: Value = ctx
        .op("StartSearchV1")
        .path("repository", q.repository)
        .body_json(&json!({"queryString": q.cql, "start": q.start, "end": q.end, "isLive": false}))?
        .send()?
        .json()?;
    let id = started
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ToolError::internal("NG-SIEM started no job (no id in the answer)"))?
        .to_string();
    let spec = PollSpec {
        interval_ms: POLL_MS,
        max_wait_ms: q.max_wait_ms,
        what: "NG-SIEM search".into(),
    };
    let polled = ctx.poll(&spec, |_| {
        let v: Value = ctx
            .op("GetSearchStatusV1")
            .path("repository", q.repository)
            .path("id", &id)
            .subject(format!("NG-SIEM job {id}"))
            .send()?
            .json()?;
        if v.get("cancelled").and_then(Value::as_bool) == Some(true) {
            return Err(ToolError::Upstream {
                status: 409,
                message: "NG-SIEM cancelled the search job".into(),
            });
        }
        Ok(if v.get("done").and_then(Value::as_bool) == Some(true) {
            Step::Done(v)
        } else {
            Step::Pending(v)
        })
    });
    // Free the job whatever happened: a finished job holds its results until it expires.
    let _ = ctx
        .op("StopSearchV1")
        .path("repository", q.repository)
        .path("id", &id)
        .send_allowing(&[404]);
    let (complete, v) = match polled? {
        Polled::Done(v) => (true, v),
        Polled::TimedOut(v) => (false, v),
    };
    let events = v
        .get("events")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let matched = v
        .pointer("/metaData/eventCount")
        .and_then(Value::as_u64)
        .unwrap_or(0)
        .max(events.len() as u64);
    // A string in LogScale's answers ("true"/"false"); a boolean is accepted too.
    let capped = match v.pointer("/metaData/extraData/hasMoreEvents") {
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        Some(Value::Bool(b)) => *b,
        _ => false,
    };
    Ok(Events {
        events,
        matched,
        complete,
        capped,
    })
}

/// Epoch milliseconds of a UTC RFC 3339 time as Falcon writes them
/// (`2025-06-13T02:01:54.602Z`, any number of fraction digits, `Z` or `+00:00`).
pub fn epoch_ms(rfc3339: &str) -> Option<i64> {
    let v = rfc3339.trim();
    let v = v.strip_suffix('Z').or_else(|| v.strip_suffix("+00:00"))?;
    let (date, time) = v.split_once('T')?;
    let num = |s: &str, len: usize| -> Option<i64> {
        (s.len() == len && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
    };
    let mut d = date.split('-');
    let (y, mo, da) = (num(d.next()?, 4)?, num(d.next()?, 2)?, num(d.next()?, 2)?);
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.split(':');
    let (h, mi, s) = (num(t.next()?, 2)?, num(t.next()?, 2)?, num(t.next()?, 2)?);
    if d.next().is_some() || t.next().is_some() || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !(1..=12).contains(&mo) || !(1..=31).contains(&da) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let ms = frac
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0, |acc, b| acc * 10 + i64::from(b - b'0'));
    // Days since 1970-01-01 with the year starting in March, so the leap day falls last.
    let (yy, mm) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let days = 365 * yy + yy / 4 - yy / 100 + yy / 400 + (153 * mm + 2) / 5 + da - 1 - 719_468;
    Some(((days * 24 + h) * 60 + mi) * 60_000 + s * 1000 + ms)
}

/// A string value quoted for CQL (`"…"`, with `\` and `"` escaped).
pub fn quote(v: &str) -> String {
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MockEnv;

    #[test]
    fn polls_until_done_and_stops_the_job() {
        let env = MockEnv::new()
            .reply("StartSearchV1", 200, json!({"id": "j1"}))
            .reply(
                "GetSearchStatusV1",
                200,
                json!({"done": false, "events": []}),
            )
            .reply(
                "GetSearchStatusV1",
                200,
                json!({"done": true, "events": [{"a": 1}], "metaData": {"eventCount": 1}}),
            )
            .reply_bytes("StopSearchV1", 204, Vec::new());
        let ctx = env.ctx("t");
        let r = search(&ctx, &Query::between("x=1", 0, 10)).unwrap();
        assert_eq!(r.events, vec![json!({"a": 1})]);
        assert!(r.complete && !r.capped);
        assert_eq!(
            env.operations(),
            [
                "StartSearchV1",
                "GetSearchStatusV1",
                "GetSearchStatusV1",
                "StopSearchV1"
            ]
        );
        let body = env.calls_to("StartSearchV1")[0].body_json().unwrap();
        assert_eq!(body["start"], 0);
        assert_eq!(body["queryString"], "x=1");
    }

    #[test]
    fn a_failed_poll_still_stops_the_job() {
        let env = MockEnv::new()
            .reply("StartSearchV1", 200, json!({"id": "j1"}))
            .reply("GetSearchStatusV1", 200, json!({"cancelled": true}))
            .reply_bytes("StopSearchV1", 204, Vec::new());
        let ctx = env.ctx("t");
        assert!(search(&ctx, &Query::between("x=1", 0, 10)).is_err());
        assert_eq!(env.calls_to("StopSearchV1").len(), 1);
    }

    #[test]
    fn falcon_times() {
        assert_eq!(epoch_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            epoch_ms("2025-06-13T02:01:54.602Z"),
            Some(1_749_780_114_602)
        );
        assert_eq!(
            epoch_ms("2025-06-13T02:02:57.209949732Z"),
            Some(1_749_780_177_209)
        );
        assert_eq!(
            epoch_ms("2024-02-29T00:00:00+00:00"),
            Some(1_709_164_800_000)
        );
        for bad in [
            "2025-06-13",
            "2025-06-13T02:01:54",
            "2025-13-01T00:00:00Z",
            "x",
        ] {
            assert_eq!(epoch_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn quoting() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }
}
