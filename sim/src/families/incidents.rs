//! Incidents, behaviors and CrowdScore (legacy incident API, still served by Falcon), declared on
//! the engine over the tenant's own collections; incident actions, which also move the
//! incidents' alerts, stay hand-written.

use serde_json::{Value, json};

use crate::engine::{Endpoint, Family, Ids, Kind, Paging, Store};
use crate::envelope::{ApiError, ApiResult, Envelope, Req};
use crate::timeutil::rfc3339_s;
use crate::world::{Ctx, action_parameters, body_ids};

const PB: &str = "incident-api";
const READ: &str = "incidents:read";
/// The incident API ignores free text.
const QUERY: Paging = Paging::offset(100, 500).no_text();

/// The incident API's collections and their endpoints.
pub(crate) static FAMILIES: &[Family] = &[
    Family {
        name: "incidents",
        id_field: "incident_id",
        noun: "Incident",
        powered_by: PB,
        default_sort: "start.desc",
        extra_fields: &[],
        text_fields: &[],
        store: Store::Tenant(|w| &w.incidents, |w| &mut w.incidents),
        endpoints: &[
            Endpoint {
                op: "QueryIncidents",
                method: "GET",
                path: "/incidents/queries/incidents/v1",
                scope: READ,
                kind: Kind::Query(QUERY),
            },
            Endpoint {
                op: "GetIncidents",
                method: "POST",
                path: "/incidents/entities/incidents/GET/v1",
                scope: READ,
                kind: Kind::Entities {
                    ids: Ids::Body("ids"),
                    max: 500,
                },
            },
            Endpoint {
                op: "PerformIncidentAction",
                method: "POST",
                path: "/incidents/entities/incident-actions/v1",
                scope: "incidents:write",
                kind: Kind::Custom(perform_action),
            },
        ],
    },
    Family {
        name: "behaviors",
        id_field: "behavior_id",
        noun: "Behavior",
        powered_by: PB,
        default_sort: "timestamp.desc",
        extra_fields: &[],
        text_fields: &[],
        store: Store::Tenant(|w| &w.behaviors, |w| &mut w.behaviors),
        endpoints: &[
            Endpoint {
                op: "QueryBehaviors",
                method: "GET",
                path: "/incidents/queries/behaviors/v1",
                scope: READ,
                kind: Kind::Query(QUERY),
            },
            Endpoint {
                op: "GetBehaviors",
                method: "POST",
                path: "/incidents/entities/behaviors/GET/v1",
                scope: READ,
                kind: Kind::Entities {
                    ids: Ids::Body("ids"),
                    max: 500,
                },
            },
        ],
    },
    Family {
        name: "crowdscores",
        id_field: "id",
        noun: "CrowdScore",
        powered_by: PB,
        default_sort: "timestamp.desc",
        extra_fields: &[],
        text_fields: &[],
        store: Store::Tenant(|w| &w.crowdscores, |w| &mut w.crowdscores),
        endpoints: &[Endpoint {
            op: "CrowdScore",
            method: "GET",
            path: "/incidents/combined/crowdscores/v1",
            scope: READ,
            kind: Kind::Combined(Paging::offset(100, 2500).no_text()),
        }],
    },
];

/// `PerformIncidentAction`.
fn perform_action(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
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
