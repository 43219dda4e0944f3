//! Alerts (unified alerts v2; declared on the engine over the tenant's own collection, which
//! much of the simulator reads): query, aggregates, get by composite id, updates via action
//! parameters and the `after`-paginated combined search. Entities come back in storage order,
//! updates follow action-parameter rules and the combined search pages by a body cursor tied to
//! its sort: those stay hand-written.

use base64::Engine as _;
use serde_json::{Value, json};

use crate::engine::{Endpoint, Family, Kind, Only, Paging, Store};
use crate::envelope::{ApiError, ApiResult, Envelope, Req, error_item_id};
use crate::timeutil::{parse_timestamp, rfc3339_ms, rfc3339_ns};
use crate::world::{Ctx, Window, body_ids, page_check};

const PB: &str = "detectsapi";
const READ: &str = "alerts:read";
const DEFAULT_SORT: &str = "created_timestamp|desc";

/// Alerts hidden from the UI are seen unless `include_hidden=false`.
const SHOWN: Only = |_, req, a| Ok(req.q_bool("include_hidden", true)? || a["show_in_ui"] != false);

/// The alerts and their endpoints.
pub(crate) static FAMILIES: &[Family] = &[Family {
    name: "alerts",
    id_field: "composite_id",
    noun: "Alert",
    powered_by: PB,
    default_sort: DEFAULT_SORT,
    extra_fields: &[],
    text_fields: &[],
    store: Store::Tenant(|w| &w.alerts, |w| &mut w.alerts),
    endpoints: &[
        Endpoint {
            op: "GetQueriesAlertsV2",
            method: "GET",
            path: "/alerts/queries/alerts/v2",
            scope: READ,
            kind: Kind::Query(Paging::offset(100, 10_000).min_limit(0).only(SHOWN)),
        },
        Endpoint {
            op: "PostEntitiesAlertsV2",
            method: "POST",
            path: "/alerts/entities/alerts/v2",
            scope: READ,
            kind: Kind::Custom(get_entities),
        },
        Endpoint {
            op: "PatchEntitiesAlertsV3",
            method: "PATCH",
            path: "/alerts/entities/alerts/v3",
            scope: "alerts:write",
            kind: Kind::Custom(patch),
        },
        Endpoint {
            op: "PostAggregatesAlertsV2",
            method: "POST",
            path: "/alerts/aggregates/alerts/v2",
            scope: READ,
            kind: Kind::Aggregate(Some(SHOWN)),
        },
        Endpoint {
            op: "PostCombinedAlertsV1",
            method: "POST",
            path: "/alerts/combined/alerts/v1",
            scope: READ,
            kind: Kind::Custom(combined),
        },
    ],
}];

fn select<'a>(
    cx: &'a Ctx<'_>,
    filter: Option<&str>,
    q: Option<&str>,
    sort: Option<&str>,
    include_hidden: bool,
) -> Result<Vec<&'a Value>, ApiError> {
    let q = q.map(str::to_lowercase).filter(|s| !s.trim().is_empty());
    cx.w.alerts.select(filter, sort, DEFAULT_SORT, cx.now, |a| {
        (include_hidden || a["show_in_ui"] != false)
            && q.as_deref().is_none_or(|q| crate::engine::free_text(a, q))
    })
}

/// `PostEntitiesAlertsV2`: full alerts, in storage order (not request order, as the real API).
fn get_entities(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let ids = body_ids(req, "composite_ids", 10_000)?;
    let include_hidden = req.q_bool("include_hidden", true)?;
    let wanted: std::collections::HashSet<&str> = ids.iter().map(String::as_str).collect();
    let found: Vec<Value> =
        cx.w.alerts
            .items
            .iter()
            .filter(|a| {
                a["composite_id"]
                    .as_str()
                    .is_some_and(|id| wanted.contains(id))
                    && (include_hidden || a["show_in_ui"] != false)
            })
            .cloned()
            .collect();
    let missing: Vec<String> = ids
        .iter()
        .filter(|id| !found.iter().any(|a| a["composite_id"] == id.as_str()))
        .cloned()
        .collect();
    Ok(crate::world::entities_response(found, missing, PB, "Alert"))
}

/// `PatchEntitiesAlertsV3`: applies action parameters (removes before adds); meta + errors only.
fn patch(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let body = req.json_value()?;
    let n = body["composite_ids"].as_array().map(Vec::len).unwrap_or(0);
    if n > 1000 {
        return Err(ApiError::new(
            413,
            format!("too many composite_ids: {n} given, at most 1000 allowed per request"),
        ));
    }
    let ids = body_ids(req, "composite_ids", 1000)?;
    let raw = body["action_parameters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if raw.is_empty() {
        return Err(ApiError::bad_request("action_parameters is required"));
    }
    let mut params = Vec::new();
    for p in &raw {
        let name = p["name"].as_str().unwrap_or("").to_string();
        let value = match &p["value"] {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => {
                return Err(ApiError::bad_request(format!(
                    "action parameter '{name}' value must be a string, got {other}"
                )));
            }
        };
        const NAMES: &[&str] = &[
            "update_status",
            "assign_to_uuid",
            "assign_to_user_id",
            "assign_to_name",
            "unassign",
            "add_tag",
            "remove_tag",
            "remove_tags_by_prefix",
            "append_comment",
            "show_in_ui",
            "new_behavior_processed",
            "skip_side_effects",
        ];
        if !NAMES.contains(&name.as_str()) {
            return Err(ApiError::bad_request(format!(
                "invalid action parameter name '{name}'"
            )));
        }
        if name == "update_status"
            && !["new", "in_progress", "reopened", "closed"].contains(&value.as_str())
        {
            return Err(ApiError::bad_request(format!(
                "invalid status '{value}'; must be one of new, in_progress, reopened, closed"
            )));
        }
        if name == "show_in_ui" && value != "true" && value != "false" {
            return Err(ApiError::bad_request(
                "show_in_ui value must be \"true\" or \"false\"",
            ));
        }
        params.push((name, value));
    }
    // Removes are applied before adds within one request.
    params.sort_by_key(|(n, _)| !n.starts_with("remove"));
    let mut errors = Vec::new();
    let now = cx.now;
    let client = cx.client_id.clone();
    let mut affected = 0;
    for id in &ids {
        let Some(a) = cx.w.alerts.get_mut(id) else {
            errors.push(error_item_id(404, &format!("Alert {id} not found"), id));
            continue;
        };
        affected += 1;
        let created = parse_timestamp(a["created_timestamp"].as_str().unwrap_or("")).unwrap_or(now);
        for (name, value) in &params {
            let o = match a.as_object_mut() {
                Some(o) => o,
                None => continue,
            };
            match name.as_str() {
                "update_status" => {
                    o.insert("status".into(), json!(value));
                    if value == "closed" {
                        o.insert(
                            "seconds_to_resolved".into(),
                            json!((now - created).max(0) / 1000),
                        );
                    }
                    if value != "new"
                        && o.get("seconds_to_triaged").and_then(Value::as_i64) == Some(0)
                    {
                        o.insert(
                            "seconds_to_triaged".into(),
                            json!((now - created).max(0) / 1000),
                        );
                    }
                }
                "assign_to_uuid" => {
                    o.insert("assigned_to_uuid".into(), json!(value));
                }
                "assign_to_user_id" => {
                    o.insert("assigned_to_uid".into(), json!(value));
                }
                "assign_to_name" => {
                    o.insert("assigned_to_name".into(), json!(value));
                }
                "unassign" => {
                    for k in ["assigned_to_uuid", "assigned_to_uid", "assigned_to_name"] {
                        o.insert(k.into(), json!(""));
                    }
                }
                "add_tag" | "remove_tag" | "remove_tags_by_prefix" => {
                    let mut tags: Vec<String> = o
                        .get("tags")
                        .and_then(Value::as_array)
                        .map(|t| {
                            t.iter()
                                .filter_map(|x| x.as_str().map(String::from))
                                .collect()
                        })
                        .unwrap_or_default();
                    match name.as_str() {
                        "add_tag" => {
                            for t in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                                if !tags.iter().any(|x| x == t) {
                                    tags.push(t.to_string());
                                }
                            }
                        }
                        "remove_tag" => {
                            tags.retain(|x| !value.split(',').map(str::trim).any(|t| t == x))
                        }
                        _ => tags.retain(|x| !x.starts_with(value.as_str())),
                    }
                    if let Some(r) = ["true_positive", "false_positive", "ignored"]
                        .iter()
                        .find(|r| tags.iter().any(|t| t == *r))
                    {
                        o.insert("resolution".into(), json!(r));
                    } else {
                        o.insert("resolution".into(), json!(""));
                    }
                    o.insert("tags".into(), json!(tags));
                }
                "append_comment" => {
                    let entry = json!({"value": value, "created_by": client, "created_timestamp": rfc3339_ms(now)});
                    match o.get_mut("comments").and_then(Value::as_array_mut) {
                        Some(c) => c.push(entry),
                        None => {
                            o.insert("comments".into(), json!([entry]));
                        }
                    }
                }
                "show_in_ui" => {
                    o.insert("show_in_ui".into(), json!(value == "true"));
                }
                _ => {}
            }
            o.insert("updated_timestamp".into(), json!(rfc3339_ns(now, 0)));
        }
    }
    let status = if affected == 0 { 404 } else { 200 };
    Ok(Envelope::new(status, PB)
        .errors(errors)
        .writes(affected)
        .into_resp())
}

fn encode_after(offset: usize, sort: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(json!({"o": offset, "s": sort}).to_string())
}

fn decode_after(token: &str) -> Option<(usize, String)> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    let v: Value = serde_json::from_slice(&raw).ok()?;
    Some((v["o"].as_u64()? as usize, v["s"].as_str()?.to_string()))
}

/// `PostCombinedAlertsV1`: full alerts with an `after` cursor (no 10,000 window).
fn combined(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let body = req.json_value()?;
    let limit = body["limit"].as_u64().unwrap_or(100) as usize;
    page_check(0, limit, 1000, 1, Window::None)?;
    let sort = body["sort"]
        .as_str()
        .filter(|s| !s.is_empty())
        .unwrap_or(DEFAULT_SORT)
        .to_string();
    let offset = match body["after"].as_str().filter(|s| !s.is_empty()) {
        None => 0,
        Some(t) => {
            let (o, s) =
                decode_after(t).ok_or_else(|| ApiError::bad_request("invalid after token"))?;
            if s != sort {
                return Err(ApiError::bad_request(
                    "the after token was issued for a different sort; restart paging without after",
                ));
            }
            o
        }
    };
    let all = select(
        cx,
        body["filter"].as_str(),
        None,
        Some(&sort),
        req.q_bool("include_hidden", true)?,
    )?;
    let page: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(limit)
        .map(|v| (*v).clone())
        .collect();
    let next = offset + page.len();
    let mut pagination = json!({"limit": limit, "total": all.len()});
    if next < all.len() {
        pagination["after"] = json!(encode_after(next, &sort));
    }
    Ok(Envelope::new(200, PB)
        .resources(page)
        .pagination(pagination)
        .into_resp())
}
