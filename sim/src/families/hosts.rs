//! Hosts (devices; declared on the engine over the tenant's own collection, which much of the
//! simulator reads): queries, details, online state, login and network address history,
//! scroll/combined cursors, containment and tags. Cursors are server-side state and actions run
//! containment's state machine: those stay hand-written.

use serde_json::{Value, json};

use crate::engine::{Endpoint, Family, Ids, Kind, Paging, Store};
use crate::envelope::{ApiError, ApiResult, Envelope, Req, error_item_id};
use crate::timeutil::{parse_timestamp, rfc3339_s};
use crate::world::{Ctx, Cursor, Transition, Window, World, body_ids};

const PB: &str = "device-api";
const READ: &str = "hosts:read";
const WRITE: &str = "hosts:write";
const ONLINE_MS: i64 = 15 * 60_000;
const SCROLL_TTL_MS: i64 = 120_000;
const QUERY: Paging = Paging::offset(100, 5000).window(Window::Hosts).no_text();

/// The hosts and their endpoints.
pub(crate) static FAMILIES: &[Family] = &[
    Family {
        name: "hosts",
        id_field: "device_id",
        noun: "Device",
        powered_by: PB,
        default_sort: "",
        extra_fields: &[],
        text_fields: &[],
        store: Store::Tenant(|w| &w.hosts, |w| &mut w.hosts),
        endpoints: &[
            Endpoint {
                op: "QueryDevicesByFilter",
                method: "GET",
                path: "/devices/queries/devices/v1",
                scope: READ,
                kind: Kind::Query(QUERY.only(|w, _, h| Ok(!is_hidden(w, h)))),
            },
            Endpoint {
                op: "QueryDevicesByFilterScroll",
                method: "GET",
                path: "/devices/queries/devices-scroll/v1",
                scope: READ,
                kind: Kind::Custom(query_scroll),
            },
            Endpoint {
                op: "QueryHiddenDevices",
                method: "GET",
                path: "/devices/queries/devices-hidden/v1",
                scope: READ,
                kind: Kind::Query(QUERY.only(|w, _, h| Ok(is_hidden(w, h)))),
            },
            Endpoint {
                op: "CombinedDevicesByFilter",
                method: "GET",
                path: "/devices/combined/devices/v1",
                scope: READ,
                kind: Kind::Custom(combined),
            },
            Endpoint {
                op: "PostDeviceDetailsV2",
                method: "POST",
                path: "/devices/entities/devices/v2",
                scope: READ,
                kind: Kind::Entities {
                    ids: Ids::Body("ids"),
                    max: 5000,
                },
            },
            Endpoint {
                op: "GetDeviceDetailsV2",
                method: "GET",
                path: "/devices/entities/devices/v2",
                scope: READ,
                kind: Kind::Entities {
                    ids: Ids::Query("ids"),
                    max: 100,
                },
            },
            Endpoint {
                op: "PerformActionV2",
                method: "POST",
                path: "/devices/entities/devices-actions/v2",
                scope: WRITE,
                kind: Kind::Custom(perform_action),
            },
            Endpoint {
                op: "UpdateDeviceTags",
                method: "PATCH",
                path: "/devices/entities/devices/tags/v1",
                scope: WRITE,
                kind: Kind::Custom(update_tags),
            },
            Endpoint {
                op: "QueryDeviceLoginHistory",
                method: "POST",
                path: "/devices/combined/devices/login-history/v1",
                scope: READ,
                kind: Kind::Lookup {
                    ids: Ids::Body("ids"),
                    max: 500,
                    derive: |w, _, id| {
                        let l = w.logins.get(id)?;
                        Some(json!({"device_id": id, "cid": w.cid, "recent_logins": l}))
                    },
                },
            },
            Endpoint {
                op: "QueryGetNetworkAddressHistoryV1",
                method: "POST",
                path: "/devices/combined/devices/network-address-history/v1",
                scope: READ,
                kind: Kind::Lookup {
                    ids: Ids::Body("ids"),
                    max: 500,
                    derive: |w, _, id| {
                        let l = w.addresses.get(id)?;
                        Some(json!({"device_id": id, "cid": w.cid, "history": l}))
                    },
                },
            },
        ],
    },
    // Online state is another service over the same hosts.
    Family {
        name: "online_state",
        id_field: "device_id",
        noun: "Device",
        powered_by: "cs.agentonline",
        default_sort: "",
        extra_fields: &[],
        text_fields: &[],
        store: Store::Tenant(|w| &w.hosts, |w| &mut w.hosts),
        endpoints: &[Endpoint {
            op: "GetOnlineState_V1",
            method: "GET",
            path: "/devices/entities/online-state/v1",
            scope: READ,
            kind: Kind::Lookup {
                ids: Ids::Query("ids"),
                max: 100,
                derive: online_state,
            },
        }],
    },
];

/// `GetOnlineState_V1`'s record of a host.
fn online_state(w: &World, now: i64, id: &str) -> Option<Value> {
    let h = w.hosts.get(id)?;
    let state = if is_online(h, now) {
        "online"
    } else {
        "offline"
    };
    Some(json!({"id": id, "cid": w.cid, "last_seen": h["last_seen"], "state": state}))
}

fn is_hidden(w: &World, h: &Value) -> bool {
    w.hidden.contains(h["device_id"].as_str().unwrap_or(""))
}

fn visible<'a>(cx: &'a Ctx<'_>, req: &Req) -> Result<Vec<&'a Value>, ApiError> {
    let w = &*cx.w;
    w.hosts
        .select(req.q("filter"), req.q("sort"), "", cx.now, |h| {
            !is_hidden(w, h)
        })
}

/// Runs a cursor query: a new one without `offset`, the next page with a token.
fn cursor_page(
    cx: &mut Ctx<'_>,
    req: &Req,
) -> Result<(Vec<String>, String, usize, usize, i64), ApiError> {
    let limit = match req.q("limit") {
        None | Some("") => 100,
        Some(s) => s.parse::<usize>().map_err(|_| {
            ApiError::bad_request(format!("invalid limit '{s}': must be an integer"))
        })?,
    };
    crate::world::page_check(0, limit, 10_000, 1, Window::None)?;
    let token = req.q("offset").filter(|s| !s.is_empty());
    let (ids, start) = match token {
        None => {
            let all = visible(cx, req)?;
            (
                all.iter()
                    .filter_map(|h| h["device_id"].as_str().map(String::from))
                    .collect::<Vec<_>>(),
                0,
            )
        }
        Some(t) => {
            let c = cx.w.cursors.get(t).filter(|c| c.expires > cx.now).ok_or_else(|| {
                ApiError::bad_request("The provided offset token is invalid or has expired; start a new query without offset")
            })?;
            (c.ids.clone(), c.next)
        }
    };
    let total = ids.len();
    let page: Vec<String> = ids.iter().skip(start).take(limit).cloned().collect();
    let next = start + page.len();
    let expires = cx.now + SCROLL_TTL_MS;
    let next_token = if page.is_empty() {
        String::new()
    } else {
        let t = format!("FQLv1:{}", cx.w.new_hex32());
        cx.w.cursors
            .insert(t.clone(), Cursor { ids, next, expires });
        t
    };
    cx.w.cursors.retain(|_, c| c.expires > cx.now);
    Ok((page, next_token, limit, total, expires))
}

/// `QueryDevicesByFilterScroll`.
fn query_scroll(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let (page, token, limit, total, expires) = cursor_page(cx, req)?;
    Ok(Envelope::new(200, PB)
        .resources(page.into_iter().map(Value::String).collect())
        .pagination(json!({"offset": token, "expires_at": expires * 1_000_000, "limit": limit, "total": total}))
        .into_resp())
}

/// `CombinedDevicesByFilter`: full records with an optional `fields` projection.
fn combined(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let fields = req.q_list("fields");
    let (page, token, limit, total, expires) = cursor_page(cx, req)?;
    let items: Vec<Value> = page
        .iter()
        .filter_map(|id| cx.w.hosts.get(id).cloned())
        .map(|h| project(h, &fields))
        .collect();
    Ok(Envelope::new(200, PB)
        .resources(items)
        .pagination(json!({"offset": token, "next": token, "expires_at": expires * 1_000_000, "limit": limit, "total": total}))
        .into_resp())
}

fn project(h: Value, fields: &[String]) -> Value {
    if fields.is_empty() {
        return h;
    }
    let mut out = serde_json::Map::new();
    for f in fields
        .iter()
        .chain(std::iter::once(&"device_id".to_string()))
    {
        if let Some(v) = h.get(f.as_str()) {
            out.insert(f.clone(), v.clone());
        }
    }
    Value::Object(out)
}

fn is_online(h: &Value, now: i64) -> bool {
    parse_timestamp(h["last_seen"].as_str().unwrap_or("")).is_some_and(|t| now - t < ONLINE_MS)
}

fn set(h: &mut Value, key: &str, v: Value) {
    if let Some(o) = h.as_object_mut() {
        o.insert(key.into(), v);
    }
}

/// `PerformActionV2`: contain, lift_containment, hide_host, unhide_host, detection_(un)suppress.
fn perform_action(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    const ACTIONS: &[&str] = &[
        "contain",
        "lift_containment",
        "hide_host",
        "unhide_host",
        "detection_suppress",
        "detection_unsuppress",
    ];
    let action = req.q("action_name").unwrap_or("");
    if !ACTIONS.contains(&action) {
        return Err(ApiError::bad_request(format!(
            "Invalid action_name '{action}'; must be one of {}",
            ACTIONS.join(", ")
        )));
    }
    let ids = body_ids(req, "ids", 500)?;
    let now = cx.now;
    let delay = cx.cfg.containment_delay.as_millis() as i64;
    let mut resources = Vec::new();
    let mut errors = Vec::new();
    for id in &ids {
        let Some(h) = cx.w.hosts.get_mut(id) else {
            errors.push(error_item_id(404, &format!("Device {id} not found"), id));
            continue;
        };
        let online = is_online(h, now);
        let status = h["status"].as_str().unwrap_or("normal").to_string();
        match action {
            "contain" | "lift_containment" => {
                let (from, pending, to): (&[&str], _, _) = if action == "contain" {
                    (
                        &["normal", "lift_containment_pending"],
                        "containment_pending",
                        "contained",
                    )
                } else {
                    (
                        &["contained", "containment_pending"],
                        "lift_containment_pending",
                        "normal",
                    )
                };
                if from.contains(&status.as_str()) {
                    set(h, "status", json!(pending));
                    set(h, "modified_timestamp", json!(rfc3339_s(now)));
                    // An offline sensor cannot acknowledge: the host stays pending.
                    if online {
                        cx.w.transitions.insert(
                            id.clone(),
                            Transition {
                                to,
                                due: now + delay,
                            },
                        );
                    } else {
                        cx.w.transitions.remove(id);
                    }
                }
            }
            "hide_host" => {
                cx.w.hidden.insert(id.clone());
            }
            "unhide_host" => {
                cx.w.hidden.remove(id);
            }
            "detection_suppress" => set(h, "detection_suppression_status", json!("suppressed")),
            _ => set(h, "detection_suppression_status", json!("")),
        }
        resources.push(json!({"id": id, "path": ""}));
    }
    let status = if resources.is_empty() { 404 } else { 202 };
    Ok(Envelope::new(status, PB)
        .resources(resources)
        .errors(errors)
        .into_resp())
}

/// `UpdateDeviceTags`.
fn update_tags(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let body = req.json_value()?;
    let action = body["action"].as_str().unwrap_or("");
    if action != "add" && action != "remove" {
        return Err(ApiError::bad_request("action must be 'add' or 'remove'"));
    }
    let ids = body_ids(req, "device_ids", 5000)?;
    let tags: Vec<String> = body["tags"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if tags.is_empty() {
        return Err(ApiError::bad_request("tags is required"));
    }
    if let Some(bad) = tags.iter().find(|t| t.trim().is_empty() || t.len() > 256) {
        return Err(ApiError::bad_request(format!("invalid tag '{bad}'")));
    }
    let now = cx.now;
    let mut out = Vec::new();
    for id in ids {
        let Some(h) = cx.w.hosts.get_mut(&id) else {
            out.push(json!({"device_id": id, "updated": false, "code": 404, "error": "Device not found"}));
            continue;
        };
        let mut cur: Vec<String> = h["tags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let before = cur.clone();
        for t in &tags {
            if action == "add" {
                if !cur.contains(t) {
                    cur.push(t.clone());
                }
            } else {
                cur.retain(|x| x != t);
            }
        }
        let updated = cur != before;
        set(h, "tags", json!(cur));
        if updated {
            set(h, "modified_timestamp", json!(rfc3339_s(now)));
        }
        out.push(json!({"device_id": id, "updated": updated, "code": 200, "error": ""}));
    }
    Ok(Envelope::new(202, PB).resources(out).into_resp())
}
