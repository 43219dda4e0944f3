//! Incidents, behaviors and CrowdScore (legacy incident API, still served by Falcon).

use serde_json::{Value, json};

use crate::envelope::{ApiError, ApiResult, Envelope, Req};
use crate::timeutil::rfc3339_s;
use crate::world::{
    Ctx, Window, action_parameters, body_ids, entities_response, ids_of, offset_pagination,
    page_from_query, take_page,
};

const PB: &str = "incident-api";

/// `QueryIncidents`.
pub(crate) fn query_incidents(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let page = page_from_query(req, 100, 500, 1, Window::Standard)?;
    let all =
        cx.w.incidents
            .select(req.q("filter"), req.q("sort"), "start.desc", cx.now, |_| {
                true
            })?;
    Ok(Envelope::new(200, PB)
        .resources(ids_of(&take_page(&all, page), "incident_id"))
        .pagination(offset_pagination(page, all.len()))
        .into_resp())
}

/// `GetIncidents`.
pub(crate) fn get_incidents(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let ids = body_ids(req, "ids", 500)?;
    let (found, missing) = cx.w.incidents.lookup(&ids);
    Ok(entities_response(found, missing, PB, "Incident"))
}

/// `QueryBehaviors`.
pub(crate) fn query_behaviors(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let page = page_from_query(req, 100, 500, 1, Window::Standard)?;
    let all = cx.w.behaviors.select(
        req.q("filter"),
        req.q("sort"),
        "timestamp.desc",
        cx.now,
        |_| true,
    )?;
    Ok(Envelope::new(200, PB)
        .resources(ids_of(&take_page(&all, page), "behavior_id"))
        .pagination(offset_pagination(page, all.len()))
        .into_resp())
}

/// `GetBehaviors`.
pub(crate) fn get_behaviors(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let ids = body_ids(req, "ids", 500)?;
    let (found, missing) = cx.w.behaviors.lookup(&ids);
    Ok(entities_response(found, missing, PB, "Behavior"))
}

/// `PerformIncidentAction`.
pub(crate) fn perform_action(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let body = req.json_value()?;
    let ids = body_ids(req, "ids", 5000)?;
    let params = action_parameters(&body);
    if params.is_empty() {
        return Err(ApiError::bad_request("action_parameters is required"));
    }
    for (n, v) in &params {
        match n.as_str() {
            "add_tag"
            | "delete_tag"
            | "add_comment"
            | "unassign"
            | "update_name"
            | "update_description"
            | "update_assigned_to_v2" => {}
            "update_status" => {
                if !["20", "25", "30", "40"].contains(&v.as_str()) {
                    return Err(ApiError::bad_request(format!(
                        "invalid status '{v}'; must be one of 20, 25, 30, 40"
                    )));
                }
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "invalid action parameter name '{other}'"
                )));
            }
        }
    }
    let update_detects = req.q_bool("update_detects", false)?;
    let mut missing = Vec::new();
    let mut updated_alerts = Vec::new();
    for id in &ids {
        let Some(inc) = cx.w.incidents.get_mut(id) else {
            missing.push(id.clone());
            continue;
        };
        for (n, v) in &params {
            match n.as_str() {
                "add_tag" => {
                    if let Some(t) = inc["tags"].as_array_mut()
                        && !t.iter().any(|x| x == v.as_str())
                    {
                        t.push(json!(v));
                    }
                }
                "delete_tag" => {
                    if let Some(t) = inc["tags"].as_array_mut() {
                        t.retain(|x| x != v.as_str());
                    }
                }
                "add_comment" => {
                    let c = json!({"comment": v, "created_by": cx.client_id, "created_on": rfc3339_s(cx.now)});
                    match inc.get_mut("comments").and_then(Value::as_array_mut) {
                        Some(a) => a.push(c),
                        None => inc["comments"] = json!([c]),
                    }
                }
                "unassign" => {
                    inc["assigned_to"] = json!("");
                    inc["assigned_to_name"] = json!("");
                }
                "update_name" => inc["name"] = json!(v),
                "update_description" => inc["description"] = json!(v),
                "update_assigned_to_v2" => inc["assigned_to"] = json!(v),
                "update_status" => {
                    let s: i64 = v.parse().unwrap_or(20);
                    inc["status"] = json!(s);
                    inc["state"] = json!(if s == 40 { "closed" } else { "open" });
                }
                _ => {}
            }
        }
        inc["modified_timestamp"] = json!(rfc3339_s(cx.now));
        if update_detects {
            updated_alerts.push(id.clone());
        }
    }
    let mut detections_updated = Vec::new();
    if let Some(status) = params
        .iter()
        .find(|(n, _)| n == "update_status")
        .map(|(_, v)| v.clone())
        && update_detects
    {
        let alert_status = match status.as_str() {
            "40" => "closed",
            "30" => "in_progress",
            "25" => "reopened",
            _ => "new",
        };
        for a in cx.w.alerts.items.iter_mut() {
            if a["incident"]["id"]
                .as_str()
                .is_some_and(|i| updated_alerts.iter().any(|x| x == i))
            {
                a["status"] = json!(alert_status);
                detections_updated.push(a["id"].clone());
            }
        }
    }
    if missing.len() == ids.len() {
        return Err(ApiError::not_found(format!(
            "Incident {} not found",
            missing[0]
        )));
    }
    let errors = missing
        .iter()
        .map(|id| crate::envelope::error_item_id(404, &format!("Incident {id} not found"), id))
        .collect();
    Ok(Envelope::new(200, PB)
        .resources(vec![
            json!({"detections_updated": detections_updated, "detections_unchanged": []}),
        ])
        .errors(errors)
        .into_resp())
}

/// `CrowdScore`.
pub(crate) fn crowdscore(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let page = page_from_query(req, 100, 2500, 1, Window::Standard)?;
    let all = cx.w.crowdscores.select(
        req.q("filter"),
        req.q("sort"),
        "timestamp.desc",
        cx.now,
        |_| true,
    )?;
    let items: Vec<Value> = take_page(&all, page).into_iter().cloned().collect();
    Ok(Envelope::new(200, PB)
        .resources(items)
        .pagination(offset_pagination(page, all.len()))
        .into_resp())
}
