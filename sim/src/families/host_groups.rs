//! Host groups (declared on the engine over the tenant's own collection): queries, entities,
//! deletion and members. Dynamic groups derive membership from their FQL `assignment_rule`,
//! static groups from `performGroupAction`; the writes that change memberships are hand-written.

use serde_json::{Value, json};

use crate::engine::{Endpoint, Family, Ids, Kind, Paging, Store};
use crate::envelope::{ApiError, ApiResult, Envelope, Req, error_item_id};
use crate::fql;
use crate::tenant::{apply_dynamic_group, assign_policies, set_membership};
use crate::timeutil::rfc3339_s;
use crate::world::{Ctx, Window, World, action_parameters, body_ids};

const PB: &str = "device-api";
const READ: &str = "host-group:read";
const WRITE: &str = "host-group:write";
const TYPES: &[&str] = &["static", "dynamic", "staticByID"];
const PAGING: Paging = Paging::offset(100, 5000).window(Window::None).no_text();

/// The host groups and their endpoints.
pub(crate) static FAMILIES: &[Family] = &[Family {
    name: "host_groups",
    id_field: "id",
    noun: "Host group",
    powered_by: PB,
    default_sort: "",
    extra_fields: &[],
    text_fields: &[],
    store: Store::Tenant(|w| &w.host_groups, |w| &mut w.host_groups),
    endpoints: &[
        Endpoint {
            op: "queryHostGroups",
            method: "GET",
            path: "/devices/queries/host-groups/v1",
            scope: READ,
            kind: Kind::Query(PAGING),
        },
        Endpoint {
            op: "queryCombinedHostGroups",
            method: "GET",
            path: "/devices/combined/host-groups/v1",
            scope: READ,
            kind: Kind::Combined(PAGING),
        },
        Endpoint {
            op: "getHostGroups",
            method: "GET",
            path: "/devices/entities/host-groups/v1",
            scope: READ,
            kind: Kind::Entities {
                ids: Ids::Query("ids"),
                max: 500,
            },
        },
        Endpoint {
            op: "createHostGroups",
            method: "POST",
            path: "/devices/entities/host-groups/v1",
            scope: WRITE,
            kind: Kind::Custom(create),
        },
        Endpoint {
            op: "updateHostGroups",
            method: "PATCH",
            path: "/devices/entities/host-groups/v1",
            scope: WRITE,
            kind: Kind::Custom(update),
        },
        Endpoint {
            op: "deleteHostGroups",
            method: "DELETE",
            path: "/devices/entities/host-groups/v1",
            scope: WRITE,
            kind: Kind::Delete {
                ids: Ids::Query("ids"),
                max: 500,
                check: |_| Ok(()),
                after: forget_groups,
            },
        },
        Endpoint {
            op: "performGroupAction",
            method: "POST",
            path: "/devices/entities/host-group-actions/v1",
            scope: WRITE,
            kind: Kind::Custom(action),
        },
        Endpoint {
            op: "queryGroupMembers",
            method: "GET",
            path: "/devices/queries/host-group-members/v1",
            scope: READ,
            kind: Kind::Members {
                of: |w| &w.hosts,
                belongs: in_group,
                paging: PAGING,
                combined: false,
            },
        },
        Endpoint {
            op: "queryCombinedGroupMembers",
            method: "GET",
            path: "/devices/combined/host-group-members/v1",
            scope: READ,
            kind: Kind::Members {
                of: |w| &w.hosts,
                belongs: in_group,
                paging: PAGING,
                combined: true,
            },
        },
    ],
}];

fn in_group(host: &Value, gid: &str) -> bool {
    host["groups"]
        .as_array()
        .is_some_and(|a| a.iter().any(|g| g == gid))
}

/// After `deleteHostGroups`: no host or policy refers to the deleted groups any more.
fn forget_groups(cx: &mut Ctx<'_>, deleted: &[String]) {
    for id in deleted {
        for h in cx.w.hosts.items.iter_mut() {
            set_membership(h, id, false);
        }
        for p in cx.w.policies.items.iter_mut() {
            if let Some(gs) = p.get_mut("groups").and_then(Value::as_array_mut) {
                gs.retain(|g| g["id"] != id.as_str());
            }
        }
    }
    assign_policies(
        &mut cx.w.hosts.items,
        &cx.w.policies.items,
        &cx.w.precedence,
        cx.now,
    );
}

fn check_rule(w: &World, rule: &str) -> Result<(), ApiError> {
    fql::parse_checked(rule, &w.hosts.known)
        .map(|_| ())
        .map_err(|e| ApiError::bad_request(format!("Invalid assignment_rule: {e}")))
}

/// Re-derives memberships of one group and every host's prevention policy.
pub(crate) fn refresh_membership(w: &mut World, gid: &str, now: i64) {
    if let Some(g) = w.host_groups.get(gid).cloned()
        && g["group_type"] == "dynamic"
    {
        apply_dynamic_group(&g, &mut w.hosts.items, now);
    }
    crate::families::prevention::refresh_group_refs(w);
    assign_policies(&mut w.hosts.items, &w.policies.items, &w.precedence, now);
}

/// `createHostGroups` → 201.
fn create(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let body = req.json_value()?;
    let items = body["resources"]
        .as_array()
        .cloned()
        .ok_or_else(|| ApiError::bad_request("resources is required"))?;
    if items.is_empty() {
        return Err(ApiError::bad_request("resources must not be empty"));
    }
    let mut created = Vec::new();
    for it in items {
        let name = it["name"].as_str().unwrap_or("").trim().to_string();
        if name.is_empty() {
            return Err(ApiError::bad_request("name is required"));
        }
        let kind = it["group_type"].as_str().unwrap_or("");
        if !TYPES.contains(&kind) {
            return Err(ApiError::bad_request(format!(
                "group_type '{kind}' is invalid; must be one of static, dynamic, staticByID"
            )));
        }
        if cx.w.host_groups.items.iter().any(|g| {
            g["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(&name))
        }) {
            return Err(ApiError::new(
                409,
                format!("A host group named '{name}' already exists"),
            ));
        }
        let rule = it["assignment_rule"].as_str().unwrap_or("").to_string();
        if kind == "dynamic" {
            check_rule(cx.w, &rule)?;
        }
        let id = cx.w.new_hex32();
        let stamp = rfc3339_s(cx.now);
        let g = json!({"id": id, "name": name, "group_type": kind, "description": it["description"].as_str().unwrap_or(""),
                       "assignment_rule": if kind == "dynamic" { rule } else { String::new() },
                       "created_by": cx.client_id, "created_timestamp": stamp, "modified_by": cx.client_id, "modified_timestamp": stamp});
        cx.w.host_groups.insert(g.clone());
        refresh_membership(cx.w, &id, cx.now);
        created.push(g);
    }
    Ok(Envelope::new(201, PB).resources(created).into_resp())
}

/// `updateHostGroups`.
fn update(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let body = req.json_value()?;
    let items = body["resources"]
        .as_array()
        .cloned()
        .ok_or_else(|| ApiError::bad_request("resources is required"))?;
    let mut updated = Vec::new();
    let mut errors = Vec::new();
    for it in items {
        let id = it["id"].as_str().unwrap_or("").to_string();
        let Some(g) = cx.w.host_groups.get(&id).cloned() else {
            errors.push(error_item_id(
                404,
                &format!("Host group {id} not found"),
                &id,
            ));
            continue;
        };
        if let Some(rule) = it["assignment_rule"].as_str()
            && g["group_type"] == "dynamic"
        {
            check_rule(cx.w, rule)?;
        }
        let now = cx.now;
        let client = cx.client_id.clone();
        if let Some(o) = cx.w.host_groups.get_mut(&id).and_then(Value::as_object_mut) {
            for key in ["name", "description", "assignment_rule"] {
                if let Some(v) = it[key].as_str() {
                    if key == "assignment_rule" && g["group_type"] != "dynamic" {
                        continue;
                    }
                    o.insert(key.into(), json!(v));
                }
            }
            o.insert("modified_by".into(), json!(client));
            o.insert("modified_timestamp".into(), json!(rfc3339_s(now)));
        }
        refresh_membership(cx.w, &id, now);
        if let Some(v) = cx.w.host_groups.get(&id) {
            updated.push(v.clone());
        }
    }
    Ok(Envelope::partial(PB, updated, errors))
}

/// `performGroupAction`: add-hosts / remove-hosts with an FQL `filter` parameter.
fn action(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let action = req.q("action_name").unwrap_or("");
    if action != "add-hosts" && action != "remove-hosts" {
        return Err(ApiError::bad_request(format!(
            "Invalid action_name '{action}'; must be add-hosts or remove-hosts"
        )));
    }
    let body = req.json_value()?;
    let ids = body_ids(req, "ids", 1)?;
    let params = action_parameters(&body);
    let filter = params
        .iter()
        .find(|(n, _)| n == "filter")
        .map(|(_, v)| v.clone())
        .ok_or_else(|| ApiError::bad_request("action_parameters must include a 'filter'"))?;
    let expr = fql::parse_checked(&filter, &cx.w.hosts.known)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let gid = &ids[0];
    let Some(g) = cx.w.host_groups.get(gid).cloned() else {
        return Err(ApiError::not_found(format!("Host group {gid} not found")));
    };
    if g["group_type"] == "dynamic" {
        return Err(ApiError::bad_request(format!(
            "Host group {gid} is dynamic; its members come from its assignment_rule"
        )));
    }
    let now = cx.now;
    for h in cx.w.hosts.items.iter_mut() {
        if expr.as_ref().is_some_and(|e| fql::eval(e, h, now)) {
            set_membership(h, gid, action == "add-hosts");
        }
    }
    if let Some(o) = cx.w.host_groups.get_mut(gid).and_then(Value::as_object_mut) {
        o.insert("modified_timestamp".into(), json!(rfc3339_s(now)));
        o.insert("modified_by".into(), json!(cx.client_id));
    }
    refresh_membership(cx.w, gid, now);
    let g = cx.w.host_groups.get(gid).cloned().unwrap_or(Value::Null);
    Ok(Envelope::new(200, PB).resources(vec![g]).into_resp())
}
