//! NG-SIEM (LogScale) query jobs: start → poll (`done:false` first, then results) → stop.
//! Bodies are raw LogScale JSON, not the Falcon envelope; errors use the gateway's error envelope.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::cql;
use crate::envelope::{ApiError, ApiResult, Req, Resp};
use crate::timeutil::duration_ms;
use crate::world::{Ctx, SearchJob};

/// Repositories (views) the simulated tenant has.
pub const REPOSITORIES: &[&str] = &[
    "search-all",
    "investigate_view",
    "base_sensor",
    "xdr",
    "third-party",
    "falcon_for_it_view",
    "forensics_view",
];

fn parse_time(v: &Value, now: i64, default: i64) -> Result<i64, ApiError> {
    match v {
        Value::Null => Ok(default),
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| ApiError::bad_request("start/end must be epoch milliseconds")),
        Value::String(s) => {
            let s = s.trim();
            if s == "now" {
                return Ok(now);
            }
            if let Ok(ms) = s.parse::<i64>() {
                return Ok(ms);
            }
            duration_ms(s).map(|d| now - d).ok_or_else(|| ApiError::bad_request(format!("invalid time '{s}': use epoch milliseconds or a relative time such as 24hours, 7d, now")))
        }
        _ => Err(ApiError::bad_request(
            "start/end must be epoch milliseconds or a relative time string",
        )),
    }
}

fn repo(req: &Req) -> Result<String, ApiError> {
    let r = req.params.first().cloned().unwrap_or_default();
    if !REPOSITORIES.contains(&r.as_str()) {
        return Err(ApiError::not_found(format!(
            "Repository or view '{r}' was not found"
        )));
    }
    Ok(r)
}

/// `StartSearchV1` → 200 `{id, hashedQueryOnView}`.
pub(crate) fn start(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let repository = repo(req)?;
    let body = req.json_value()?;
    let qs = body["queryString"]
        .as_str()
        .ok_or_else(|| ApiError::bad_request("queryString is required"))?
        .to_string();
    let query = cql::parse(&qs).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let now = cx.now;
    let start = parse_time(&body["start"], now, now - 86_400_000)?;
    let end = parse_time(&body["end"], now, now)?;
    if start > end {
        return Err(ApiError::bad_request("start must be before end"));
    }
    let in_range: Vec<&Value> =
        cx.w.events
            .iter()
            .filter(|e| {
                e["@timestamp"]
                    .as_i64()
                    .is_some_and(|t| t >= start && t <= end)
            })
            .collect();
    let out = cql::run(&query, &in_range);
    let processed = in_range.len();
    let id = format!("P{}-{}", &cx.w.new_hex32()[..10], cx.w.new_hex32());
    let result = json!({
        "done": true, "cancelled": false, "events": out.rows,
        "metaData": {"eventCount": out.rows.len(), "isAggregate": out.aggregate, "pollAfter": 0,
                     "processedEvents": processed, "processedBytes": processed * 640, "queryStart": start, "queryEnd": end,
                     "timeMillis": 12 + processed / 100, "queuedMillis": 0, "workDone": 1, "totalWork": 1, "resultBufferSize": out.rows.len(),
                     "responderVHost": 1, "fieldOrder": out.field_order,
                     // LogScale's flag (a string) that the result buffer left matching events out.
                     "extraData": {"hasMoreEvents": out.has_more.to_string()}, "filterQuery": {"queryString": qs, "start": start, "end": end, "isLive": false},
                     "costs": {}, "digestFlow": {}, "querySpent": 0, "quotaTotalSpent": 0, "warnings": []},
        "warnings": [], "filesUsed": [], "filterMatches": [], "queryEventDistribution": {},
    });
    cx.w.jobs
        .retain(|_, j| now - j.last_poll < cx.cfg.ngsiem_job_idle.as_millis() as i64);
    cx.w.jobs.insert(
        id.clone(),
        SearchJob {
            repository: repository.clone(),
            polls_left: cx.cfg.ngsiem_polls_until_done,
            last_poll: now,
            result,
            cancelled: false,
        },
    );
    let hashed = hex::encode(Sha256::digest(format!("{repository}:{qs}").as_bytes()));
    Ok(Resp::json(
        200,
        json!({"id": id, "hashedQueryOnView": hashed}),
    ))
}

fn job<'a>(cx: &'a mut Ctx<'_>, req: &Req) -> Result<(&'a mut SearchJob, String), ApiError> {
    let repository = repo(req)?;
    let id = req.params.get(1).cloned().unwrap_or_default();
    let idle = cx.cfg.ngsiem_job_idle.as_millis() as i64;
    let now = cx.now;
    if cx
        .w
        .jobs
        .get(&id)
        .is_some_and(|j| now - j.last_poll >= idle)
    {
        // Jobs nobody polls are deleted, as LogScale does after about 90 s.
        cx.w.jobs.remove(&id);
    }
    match cx.w.jobs.get_mut(&id) {
        Some(j) if j.repository == repository => Ok((j, id)),
        _ => Err(ApiError::not_found(format!(
            "No query job with id {id} exists in {repository}"
        ))),
    }
}

/// `GetSearchStatusV1`: `done:false` for the configured number of polls, then the results.
pub(crate) fn status(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let now = cx.now;
    let (j, _) = job(cx, req)?;
    j.last_poll = now;
    if j.cancelled {
        let mut r = j.result.clone();
        r["cancelled"] = json!(true);
        r["events"] = json!([]);
        return Ok(Resp::json(200, r));
    }
    if j.polls_left > 0 {
        j.polls_left -= 1;
        let mut r = j.result.clone();
        r["done"] = json!(false);
        r["events"] = json!([]);
        r["metaData"]["eventCount"] = json!(0);
        r["metaData"]["workDone"] = json!(0);
        r["metaData"]["pollAfter"] = json!(250);
        return Ok(Resp::json(200, r));
    }
    Ok(Resp::json(200, j.result.clone()))
}

/// `StopSearchV1` → 204.
pub(crate) fn stop(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let (_, id) = job(cx, req)?;
    cx.w.jobs.remove(&id);
    Ok(Resp::no_content())
}
