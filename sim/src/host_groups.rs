//! Host groups: query, create/update/delete, add/remove hosts, members. Dynamic groups derive
//! membership from their FQL `assignment_rule`; static groups from `performGroupAction`.

use serde_json::{Value, json};

use crate::envelope::{ApiError, ApiResult, Envelope, Req, error_item_id};
use crate::fql;
use crate::tenant::{apply_dynamic_group, assign_policies, set_membership};
use crate::timeutil::rfc3339_s;
use crate::world::{
    Ctx, Window, World, action_parameters, body_ids, entities_response, ids_of, offset_pagination,
    page_from_query, query_ids, take_page,
};

const PB: &str = "device-api";
const TYPES: &[&str] = &["static", "dynamic", "staticByID"];

/// `queryHostGroups`.
pub(crate) fn query(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let page = page_from_query(req, 100, 5000, 1, Window::None)?;
    let all =
        cx.w.host_groups
            .select(req.q("filter"), req.q("sort"), "", cx.now, |_| true)?;
    Ok(Envelope::new(200, PB)
        .resources(ids_of(&take_page(&all, page), "id"))
        .pagination(offset_pagination(page, all.len()))
        .into_resp())
}

/// `queryCombinedHostGroups`.
pub(crate) fn combined(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let page = page_from_query(req, 100, 5000, 1, Window::None)?;
    let all =
        cx.w.host_groups
            .select(req.q("filter"), req.q("sort"), "", cx.now, |_| true)?;
    let items: Vec<Value> = take_page(&all, page).into_iter().cloned().collect();
    Ok(Envelope::new(200, PB)
        .resources(items)
        .pagination(offset_pagination(page, all.len()))
        .into_resp())
}

/// `getHostGroups`.
pub(crate) fn get(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let ids = query_ids(req, "ids", 500)?;
    let (found, missing) = cx.w.host_groups.lookup(&ids);
    Ok(entities_response(found, missing, PB, "Host group"))
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
    crate::prevention::refresh_group_refs(w);
    assign_policies(&mut w.hosts.items, &w.policies.items, &w.precedence, now);
}

/// `createHostGroups` → 201.
pub(crate) fn create(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
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
pub(crate) fn update(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
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
    let status = if updated.is_empty() && !errors.is_empty() {
        404
    } else {
        200
    };
    Ok(Envelope::new(status, PB)
        .resources(updated)
        .errors(errors)
        .into_resp())
}

/// `deleteHostGroups`.
pub(crate) fn delete(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let ids = query_ids(req, "ids", 500)?;
    let mut deleted = Vec::new();
    let mut errors = Vec::new();
    for id in ids {
        if cx.w.host_groups.remove(&id).is_none() {
            errors.push(error_item_id(
                404,
                &format!("Host group {id} not found"),
                &id,
            ));
            continue;
        }
        for h in cx.w.hosts.items.iter_mut() {
            set_membership(h, &id, false);
        }
        for p in cx.w.policies.items.iter_mut() {
            if let Some(gs) = p.get_mut("groups").and_then(Value::as_array_mut) {
                gs.retain(|g| g["id"] != id.as_str());
            }
        }
        deleted.push(json!(id));
    }
    assign_policies(
        &mut cx.w.hosts.items,
        &cx.w.policies.items,
        &cx.w.precedence,
        cx.now,
    );
    let status = if deleted.is_empty() { 404 } else { 200 };
    Ok(Envelope::new(status, PB)
        .resources(deleted)
        .errors(errors)
        .into_resp())
}

/// `performGroupAction`: add-hosts / remove-hosts with an FQL `filter` parameter.
pub(crate) fn action(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
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

fn member_list<'a>(cx: &'a Ctx<'_>, req: &Req) -> Result<Vec<&'a Value>, ApiError> {
    let gid = req
        .q("id")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("id is required"))?;
    if !cx.w.host_groups.contains(gid) {
        return Err(ApiError::not_found(format!("Host group {gid} not found")));
    }
    cx.w.hosts
        .select(req.q("filter"), req.q("sort"), "", cx.now, |h| {
            h["groups"]
                .as_array()
                .is_some_and(|a| a.iter().any(|g| g == gid))
        })
}

/// `queryGroupMembers`.
pub(crate) fn members(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let page = page_from_query(req, 100, 5000, 1, Window::None)?;
    let all = member_list(cx, req)?;
    Ok(Envelope::new(200, PB)
        .resources(ids_of(&take_page(&all, page), "device_id"))
        .pagination(offset_pagination(page, all.len()))
        .into_resp())
}

/// `queryCombinedGroupMembers`.
pub(crate) fn combined_members(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let page = page_from_query(req, 100, 5000, 1, Window::None)?;
    let all = member_list(cx, req)?;
    let items: Vec<Value> = take_page(&all, page).into_iter().cloned().collect();
    Ok(Envelope::new(200, PB)
        .resources(items)
        .pagination(offset_pagination(page, all.len()))
        .into_resp())
}
