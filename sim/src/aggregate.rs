//! Aggregations shared by every family that has an `aggregates` endpoint: terms,
//! date_histogram, cardinality and min/max/avg/sum over a selection of objects.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::envelope::ApiError;
use crate::fql::{self, SortForms};
use crate::timeutil::{parse_timestamp, rfc3339_ms};

/// The aggregation requests of a body: a list, or one object.
pub(crate) fn requests(body: &Value) -> Result<Vec<Value>, ApiError> {
    match body {
        Value::Array(a) => Ok(a.clone()),
        Value::Object(_) => Ok(vec![body.clone()]),
        _ => Err(ApiError::bad_request(
            "body must be a list of aggregation requests",
        )),
    }
}

fn bucket_key(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn interval_ms(s: &str) -> Option<i64> {
    Some(match s {
        "minute" | "1m" => 60_000,
        "hour" | "1h" => 3_600_000,
        "day" | "1d" => 86_400_000,
        "week" | "1w" => 7 * 86_400_000,
        "month" => 30 * 86_400_000,
        "quarter" => 91 * 86_400_000,
        "year" => 365 * 86_400_000,
        other => crate::timeutil::duration_ms(other)?,
    })
}

/// One aggregation request (`{name, type, field, size, sort, interval}`) over `items`, whose
/// queryable fields are `known`; the caller has applied the request's own `filter`/`q`.
pub(crate) fn aggregate(
    items: &[&Value],
    known: &BTreeSet<String>,
    spec: &Value,
) -> Result<Value, ApiError> {
    let name = spec["name"].as_str().unwrap_or("").to_string();
    let kind = spec["type"].as_str().unwrap_or("");
    let field = spec["field"].as_str().unwrap_or("");
    let known = known.contains(field);
    let size = spec["size"].as_u64().unwrap_or(10) as usize;
    let mut out = json!({"name": name, "sum_other_doc_count": 0, "buckets": []});
    if !known {
        // The real service answers an empty result for fields it cannot aggregate on.
        return Ok(out);
    }
    match kind {
        "terms" => {
            let mut counts: BTreeMap<String, u64> = BTreeMap::new();
            for a in items {
                let mut seen = BTreeSet::new();
                for leaf in fql::resolve(a, field) {
                    if let Some(k) = bucket_key(leaf)
                        && seen.insert(k.clone())
                    {
                        *counts.entry(k).or_default() += 1;
                    }
                }
            }
            let mut buckets: Vec<(String, u64)> = counts.into_iter().collect();
            let sort = spec["sort"].as_str().unwrap_or("_count|desc");
            let mut known_sort = BTreeSet::new();
            known_sort.insert("_count".to_string());
            known_sort.insert("_key".to_string());
            let keys = fql::parse_sort(sort, &known_sort, SortForms::PipeOnly)
                .map_err(ApiError::bad_request)?;
            let k = keys.first().cloned().unwrap_or(fql::SortKey {
                field: "_count".into(),
                desc: true,
            });
            buckets.sort_by(|a, b| {
                let o = if k.field == "_key" {
                    a.0.cmp(&b.0)
                } else {
                    a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0))
                };
                if k.desc { o.reverse() } else { o }
            });
            let other: u64 = buckets.iter().skip(size).map(|b| b.1).sum();
            let b: Vec<Value> = buckets
                .into_iter()
                .take(size)
                .map(|(label, count)| json!({"label": label, "count": count}))
                .collect();
            out["buckets"] = json!(b);
            out["sum_other_doc_count"] = json!(other);
        }
        "date_histogram" => {
            let step = interval_ms(spec["interval"].as_str().unwrap_or("day"))
                .ok_or_else(|| ApiError::bad_request("invalid interval"))?;
            let mut counts: BTreeMap<i64, u64> = BTreeMap::new();
            for a in items {
                if let Some(t) = fql::resolve(a, field)
                    .first()
                    .and_then(|v| v.as_str())
                    .and_then(parse_timestamp)
                {
                    *counts.entry(t - t.rem_euclid(step)).or_default() += 1;
                }
            }
            let b: Vec<Value> = counts
                .into_iter()
                .map(|(t, c)| json!({"label": t, "key_as_string": rfc3339_ms(t), "count": c}))
                .collect();
            out["buckets"] = json!(b);
        }
        "cardinality" | "max" | "min" | "avg" | "sum" => {
            let leaves: Vec<&Value> = items.iter().flat_map(|a| fql::resolve(a, field)).collect();
            let value = if kind == "cardinality" {
                let set: BTreeSet<String> = leaves.iter().filter_map(|v| bucket_key(v)).collect();
                set.len() as f64
            } else {
                let nums: Vec<f64> = leaves.iter().filter_map(|v| v.as_f64()).collect();
                match kind {
                    "max" => nums.iter().cloned().fold(f64::MIN, f64::max),
                    "min" => nums.iter().cloned().fold(f64::MAX, f64::min),
                    "sum" => nums.iter().sum(),
                    _ => {
                        if nums.is_empty() {
                            0.0
                        } else {
                            nums.iter().sum::<f64>() / nums.len() as f64
                        }
                    }
                }
            };
            out["buckets"] = json!([{"label": kind, "count": items.len(), "value": value, "value_as_string": value.to_string()}]);
        }
        "date_range" | "range" | "percentiles" => {}
        other => {
            return Err(ApiError::bad_request(format!(
                "invalid aggregation type '{other}'"
            )));
        }
    }
    Ok(out)
}
