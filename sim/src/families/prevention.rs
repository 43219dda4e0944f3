//! Prevention policies (declared on the engine over the tenant's own collection): settings per
//! platform, CRUD, enable/disable, host-group assignment, precedence and members. Hosts'
//! `device_policies.prevention` follows assignments; the writes, which re-assign hosts, stay
//! hand-written.

use serde_json::{Value, json};

use crate::engine::{Endpoint, Family, Ids, Kind, Paging, Store};
use crate::envelope::{ApiError, ApiResult, Envelope, Req, error_item_id};
use crate::tenant::assign_policies;
use crate::timeutil::rfc3339_ms;
use crate::world::{Ctx, Window, World, action_parameters, body_ids};

const PB: &str = "policy-api";
const READ: &str = "prevention-policies:read";
const WRITE: &str = "prevention-policies:write";

/// The prevention policies and their endpoints.
pub(crate) static FAMILIES: &[Family] = &[Family {
    name: "prevention_policies",
    id_field: "id",
    noun: "Policy",
    powered_by: PB,
    default_sort: "",
    extra_fields: &[],
    text_fields: &[],
    store: Store::Tenant(|w| &w.policies, |w| &mut w.policies),
    endpoints: &[
        Endpoint {
            op: "queryPreventionPolicies",
            method: "GET",
            path: "/policy/queries/prevention/v1",
            scope: READ,
            kind: Kind::Query(QUERY),
        },
        Endpoint {
            op: "queryCombinedPreventionPolicies",
            method: "GET",
            path: "/policy/combined/prevention/v1",
            scope: READ,
            kind: Kind::Combined(QUERY),
        },
        Endpoint {
            op: "getPreventionPolicies",
            method: "GET",
            path: "/policy/entities/prevention/v1",
            scope: READ,
            kind: Kind::Entities {
                ids: Ids::Query("ids"),
                max: 500,
            },
        },
        Endpoint {
            op: "createPreventionPolicies",
            method: "POST",
            path: "/policy/entities/prevention/v1",
            scope: WRITE,
            kind: Kind::Custom(create),
        },
        Endpoint {
            op: "updatePreventionPolicies",
            method: "PATCH",
            path: "/policy/entities/prevention/v1",
            scope: WRITE,
            kind: Kind::Custom(update),
        },
        Endpoint {
            op: "deletePreventionPolicies",
            method: "DELETE",
            path: "/policy/entities/prevention/v1",
            scope: WRITE,
            kind: Kind::Delete {
                ids: Ids::Query("ids"),
                max: 500,
                check: deletable,
                after: forget_policies,
            },
        },
        Endpoint {
            op: "performPreventionPoliciesAction",
            method: "POST",
            path: "/policy/entities/prevention-actions/v1",
            scope: WRITE,
            kind: Kind::Custom(action),
        },
        Endpoint {
            op: "setPreventionPoliciesPrecedence",
            method: "POST",
            path: "/policy/entities/prevention-precedence/v1",
            scope: WRITE,
            kind: Kind::Custom(precedence),
        },
        Endpoint {
            op: "queryPreventionPolicyMembers",
            method: "GET",
            path: "/policy/queries/prevention-members/v1",
            scope: READ,
            kind: Kind::Members {
                of: |w| &w.hosts,
                belongs: applies_to,
                paging: MEMBERS,
                combined: false,
            },
        },
        Endpoint {
            op: "queryCombinedPreventionPolicyMembers",
            method: "GET",
            path: "/policy/combined/prevention-members/v1",
            scope: READ,
            kind: Kind::Members {
                of: |w| &w.hosts,
                belongs: applies_to,
                paging: MEMBERS,
                combined: true,
            },
        },
    ],
}];

const MEMBERS: Paging = Paging::offset(100, 5000).window(Window::None).no_text();
/// `precedence` is sortable but not part of the returned object (reference §4.8).
const QUERY: Paging = MEMBERS.derived("precedence", precedence_of);

fn applies_to(host: &Value, pid: &str) -> bool {
    host["device_policies"]["prevention"]["policy_id"] == pid
}

/// Enabled and default policies are not deleted.
fn deletable(p: &Value) -> Result<(), ApiError> {
    if p["name"] == "platform_default" {
        return Err(ApiError::bad_request(
            "The platform default policy cannot be deleted",
        ));
    }
    if p["enabled"] == true {
        return Err(ApiError::bad_request(format!(
            "Policy {} is enabled; disable it before deleting",
            p["id"].as_str().unwrap_or_default()
        )));
    }
    Ok(())
}

/// After `deletePreventionPolicies`: out of the precedence lists, hosts re-assigned.
fn forget_policies(cx: &mut Ctx<'_>, deleted: &[String]) {
    for l in cx.w.precedence.values_mut() {
        l.retain(|x| !deleted.contains(x));
    }
    assign(cx);
}

/// Every host's prevention policy, after a change of policies or precedence.
fn assign(cx: &mut Ctx<'_>) {
    assign_policies(
        &mut cx.w.hosts.items,
        &cx.w.policies.items,
        &cx.w.precedence,
        cx.now,
    );
}

const LEVELS: &[&str] = &[
    "DISABLED",
    "CAUTIOUS",
    "MODERATE",
    "AGGRESSIVE",
    "EXTRA_AGGRESSIVE",
];

/// A setting: (id, name, type).
type Setting = (&'static str, &'static str, &'static str);

/// (category, settings) per platform.
fn catalogue(platform: &str) -> Vec<(&'static str, Vec<Setting>)> {
    let ml = vec![
        ("CloudAntiMalware", "Cloud Anti-malware", "mlslider"),
        ("AdwarePUP", "Adware & PUP", "mlslider"),
    ];
    let sensor_ml = vec![("OnSensorMLSlider", "Sensor Anti-malware", "mlslider")];
    match platform {
        "Windows" => vec![
            ("Cloud Machine Learning", ml),
            ("Sensor Machine Learning", sensor_ml),
            (
                "Execution Blocking",
                vec![
                    ("CustomBlacklisting", "Custom Blocking", "toggle"),
                    (
                        "PreventSuspiciousProcesses",
                        "Suspicious Processes",
                        "toggle",
                    ),
                    (
                        "SuspiciousRegistryOperations",
                        "Suspicious Registry Operations",
                        "toggle",
                    ),
                    (
                        "MaliciousPowershell",
                        "Suspicious Scripts and Commands",
                        "toggle",
                    ),
                    ("IntelPrevention", "Intelligence-Sourced Threats", "toggle"),
                ],
            ),
            (
                "Exploit Mitigation",
                vec![
                    ("ForceASLR", "Force ASLR", "toggle"),
                    ("ForceDEP", "Force DEP", "toggle"),
                    (
                        "HeapSprayPreallocation",
                        "Heap Spray Preallocation",
                        "toggle",
                    ),
                ],
            ),
            (
                "Ransomware",
                vec![
                    ("BackupDeletion", "Backup Deletion", "toggle"),
                    ("Cryptowall", "Cryptowall", "toggle"),
                    ("FileEncryption", "File Encryption", "toggle"),
                    (
                        "VolumeShadowCopyProtect",
                        "Volume Shadow Copy - Protect",
                        "toggle",
                    ),
                ],
            ),
            (
                "Enhanced Visibility",
                vec![
                    (
                        "ScriptBasedExecutionMonitoring",
                        "Script-Based Execution Monitoring",
                        "toggle",
                    ),
                    (
                        "AdditionalUserModeData",
                        "Additional User Mode Data",
                        "toggle",
                    ),
                    ("InterpreterProtection", "Interpreter-Only", "toggle"),
                ],
            ),
            (
                "Remediation",
                vec![
                    (
                        "Quarantine",
                        "Quarantine & Security Center Registration",
                        "toggle",
                    ),
                    (
                        "QuarantineOnRemovableMedia",
                        "Quarantine on Removable Media",
                        "toggle",
                    ),
                ],
            ),
        ],
        "Mac" => vec![
            ("Cloud Machine Learning", ml),
            ("Sensor Machine Learning", sensor_ml),
            (
                "Execution Blocking",
                vec![
                    ("CustomBlacklisting", "Custom Blocking", "toggle"),
                    (
                        "PreventSuspiciousProcesses",
                        "Suspicious Processes",
                        "toggle",
                    ),
                    ("IntelPrevention", "Intelligence-Sourced Threats", "toggle"),
                ],
            ),
            ("Quarantine", vec![("Quarantine", "Quarantine", "toggle")]),
        ],
        _ => vec![
            ("Cloud Machine Learning", ml),
            ("Sensor Machine Learning", sensor_ml),
            (
                "Execution Blocking",
                vec![
                    ("CustomBlacklisting", "Custom Blocking", "toggle"),
                    (
                        "PreventSuspiciousProcesses",
                        "Suspicious Processes",
                        "toggle",
                    ),
                ],
            ),
            (
                "Enhanced Visibility",
                vec![
                    (
                        "ScriptBasedExecutionMonitoring",
                        "Script-Based Execution Monitoring",
                        "toggle",
                    ),
                    ("EnhancedDNSVisibility", "Enhanced DNS Visibility", "toggle"),
                ],
            ),
            ("Quarantine", vec![("Quarantine", "Quarantine", "toggle")]),
        ],
    }
}

/// The `prevention_settings` of a policy; `level` 1 (lenient) to 3 (strict).
pub(crate) fn default_settings(platform: &str, level: u8) -> Value {
    let (det, prev) = match level {
        1 => ("MODERATE", "DISABLED"),
        2 => ("MODERATE", "CAUTIOUS"),
        _ => ("AGGRESSIVE", "MODERATE"),
    };
    let cats: Vec<Value> = catalogue(platform)
        .into_iter()
        .map(|(cat, settings)| {
            let s: Vec<Value> = settings
                .into_iter()
                .enumerate()
                .map(|(i, (id, name, kind))| {
                    let value = if kind == "mlslider" {
                        json!({"detection": det, "prevention": prev})
                    } else {
                        json!({"enabled": level >= 3 || (level == 2 && i % 2 == 0)})
                    };
                    json!({"id": id, "name": name, "description": format!("{name} prevention setting"), "type": kind, "value": value})
                })
                .collect();
            json!({"name": cat, "settings": s})
        })
        .collect();
    Value::Array(cats)
}

fn apply_settings(policy: &mut Value, settings: &[Value]) -> Result<(), ApiError> {
    for s in settings {
        let id = s["id"].as_str().unwrap_or("");
        let value = &s["value"];
        let mut found = false;
        if let Some(cats) = policy
            .get_mut("prevention_settings")
            .and_then(Value::as_array_mut)
        {
            for cat in cats {
                for item in cat
                    .get_mut("settings")
                    .and_then(Value::as_array_mut)
                    .into_iter()
                    .flatten()
                {
                    if item["id"] != id {
                        continue;
                    }
                    found = true;
                    let ok = match item["type"].as_str() {
                        Some("toggle") => value.get("enabled").is_some_and(Value::is_boolean),
                        _ => ["detection", "prevention"].iter().all(|k| {
                            value
                                .get(*k)
                                .and_then(Value::as_str)
                                .is_some_and(|l| LEVELS.contains(&l))
                        }),
                    };
                    if !ok {
                        return Err(ApiError::bad_request(format!(
                            "Invalid value for setting '{id}': {value}"
                        )));
                    }
                    if let Some(o) = item.as_object_mut() {
                        o.insert("value".into(), value.clone());
                    }
                }
            }
        }
        if !found {
            return Err(ApiError::bad_request(format!(
                "Invalid setting id '{id}' for this platform"
            )));
        }
    }
    Ok(())
}

/// Refreshes the host-group copies embedded in policies after a group changed.
pub(crate) fn refresh_group_refs(w: &mut World) {
    let groups = w.host_groups.clone();
    for p in w.policies.items.iter_mut() {
        if let Some(gs) = p.get_mut("groups").and_then(Value::as_array_mut) {
            gs.retain(|g| g["id"].as_str().is_some_and(|id| groups.contains(id)));
            for g in gs.iter_mut() {
                if let Some(fresh) = g["id"].as_str().and_then(|id| groups.get(id)) {
                    *g = fresh.clone();
                }
            }
        }
    }
}

/// A policy's rank in its platform's precedence (1 is highest; 0 if unranked).
fn precedence_of(w: &World, p: &Value) -> Value {
    let plat = p["platform_name"].as_str().unwrap_or("");
    let pos = w
        .precedence
        .get(plat)
        .and_then(|l| l.iter().position(|x| p["id"] == x.as_str()))
        .map_or(0, |i| i + 1);
    json!(pos)
}

/// `createPreventionPolicies` → 201 (new policies start disabled, lowest precedence above default).
fn create(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let body = req.json_value()?;
    let items = body["resources"]
        .as_array()
        .cloned()
        .ok_or_else(|| ApiError::bad_request("resources is required"))?;
    let mut created = Vec::new();
    for it in items {
        let name = it["name"].as_str().unwrap_or("").trim().to_string();
        if name.is_empty() {
            return Err(ApiError::bad_request("name is required"));
        }
        let platform = it["platform_name"].as_str().unwrap_or("");
        if !["Windows", "Mac", "Linux"].contains(&platform) {
            return Err(ApiError::bad_request(format!(
                "platform_name '{platform}' is invalid; must be Windows, Mac or Linux"
            )));
        }
        if cx.w.policies.items.iter().any(|p| {
            p["platform_name"] == platform
                && p["name"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(&name))
        }) {
            return Err(ApiError::new(
                409,
                format!("A {platform} prevention policy named '{name}' already exists"),
            ));
        }
        let mut settings = default_settings(platform, 2);
        if let Some(clone_id) = it["clone_id"].as_str().filter(|s| !s.is_empty()) {
            let src = cx.w.policies.get(clone_id).ok_or_else(|| {
                ApiError::bad_request(format!("clone_id {clone_id} does not exist"))
            })?;
            if src["platform_name"] != platform {
                return Err(ApiError::bad_request(
                    "clone_id must name a policy of the same platform",
                ));
            }
            settings = src["prevention_settings"].clone();
        }
        let id = cx.w.new_hex32();
        let stamp = rfc3339_ms(cx.now);
        let mut p = json!({"id": id, "cid": cx.w.cid, "name": name, "description": it["description"].as_str().unwrap_or(""),
                           "platform_name": platform, "enabled": false, "groups": [], "ioa_rule_groups": [],
                           "prevention_settings": settings, "created_by": cx.client_id, "created_timestamp": stamp,
                           "modified_by": cx.client_id, "modified_timestamp": stamp});
        if let Some(s) = it["settings"].as_array() {
            apply_settings(&mut p, s)?;
        }
        cx.w.policies.insert(p.clone());
        let list = cx.w.precedence.entry(platform.to_string()).or_default();
        let at = list.len().saturating_sub(1);
        list.insert(at, id);
        created.push(p);
    }
    Ok(Envelope::new(201, PB).resources(created).into_resp())
}

/// `updatePreventionPolicies`.
fn update(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let body = req.json_value()?;
    let items = body["resources"]
        .as_array()
        .cloned()
        .ok_or_else(|| ApiError::bad_request("resources is required"))?;
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for it in items {
        let id = it["id"].as_str().unwrap_or("").to_string();
        let Some(mut p) = cx.w.policies.get(&id).cloned() else {
            errors.push(error_item_id(404, &format!("Policy {id} not found"), &id));
            continue;
        };
        if let Some(o) = p.as_object_mut() {
            for k in ["name", "description"] {
                if let Some(v) = it[k].as_str() {
                    o.insert(k.into(), json!(v));
                }
            }
        }
        if let Some(s) = it["settings"].as_array() {
            apply_settings(&mut p, s)?;
        }
        if let Some(o) = p.as_object_mut() {
            o.insert("modified_by".into(), json!(cx.client_id));
            o.insert("modified_timestamp".into(), json!(rfc3339_ms(cx.now)));
        }
        if let Some(slot) = cx.w.policies.get_mut(&id) {
            *slot = p.clone();
        }
        out.push(p);
    }
    Ok(Envelope::partial(PB, out, errors))
}

/// `performPreventionPoliciesAction`.
fn action(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    const ACTIONS: &[&str] = &[
        "enable",
        "disable",
        "add-host-group",
        "remove-host-group",
        "add-rule-group",
        "remove-rule-group",
    ];
    let action = req.q("action_name").unwrap_or("");
    if !ACTIONS.contains(&action) {
        return Err(ApiError::bad_request(format!(
            "Invalid action_name '{action}'; must be one of {}",
            ACTIONS.join(", ")
        )));
    }
    let body = req.json_value()?;
    let ids = body_ids(req, "ids", 500)?;
    let group_id = action_parameters(&body)
        .into_iter()
        .find(|(n, _)| n == "group_id")
        .map(|(_, v)| v);
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for id in ids {
        let Some(p) = cx.w.policies.get(&id).cloned() else {
            errors.push(error_item_id(404, &format!("Policy {id} not found"), &id));
            continue;
        };
        let is_default = p["name"] == "platform_default";
        let mut p = p;
        match action {
            "enable" | "disable" => {
                if is_default && action == "disable" {
                    return Err(ApiError::bad_request(
                        "The platform default policy cannot be disabled",
                    ));
                }
                p["enabled"] = json!(action == "enable");
            }
            "add-host-group" | "remove-host-group" => {
                if is_default {
                    return Err(ApiError::bad_request(
                        "Host groups cannot be assigned to the platform default policy",
                    ));
                }
                let gid = group_id.clone().filter(|g| !g.is_empty()).ok_or_else(|| {
                    ApiError::bad_request("action_parameters must include group_id")
                })?;
                let g = cx.w.host_groups.get(&gid).cloned().ok_or_else(|| {
                    ApiError::bad_request(format!("Host group {gid} does not exist"))
                })?;
                if let Some(gs) = p.get_mut("groups").and_then(Value::as_array_mut) {
                    let has = gs.iter().any(|x| x["id"] == gid.as_str());
                    if action == "add-host-group" && !has {
                        gs.push(g);
                    } else if action == "remove-host-group" {
                        gs.retain(|x| x["id"] != gid.as_str());
                    }
                }
            }
            _ => {
                let gid = group_id.clone().filter(|g| !g.is_empty()).ok_or_else(|| {
                    ApiError::bad_request("action_parameters must include group_id")
                })?;
                if let Some(gs) = p.get_mut("ioa_rule_groups").and_then(Value::as_array_mut) {
                    gs.retain(|x| x["id"] != gid.as_str());
                    if action == "add-rule-group" {
                        gs.push(json!({"id": gid}));
                    }
                }
            }
        }
        p["modified_by"] = json!(cx.client_id);
        p["modified_timestamp"] = json!(rfc3339_ms(cx.now));
        if let Some(slot) = cx.w.policies.get_mut(&id) {
            *slot = p.clone();
        }
        out.push(p);
    }
    assign(cx);
    Ok(Envelope::partial(PB, out, errors))
}

/// `setPreventionPoliciesPrecedence`: the full list of non-default policies, highest first.
fn precedence(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let body = req.json_value()?;
    let platform = body["platform_name"].as_str().unwrap_or("").to_string();
    if !["Windows", "Mac", "Linux"].contains(&platform.as_str()) {
        return Err(ApiError::bad_request(
            "platform_name must be Windows, Mac or Linux",
        ));
    }
    let ids = body_ids(req, "ids", 500)?;
    let current = cx.w.precedence.get(&platform).cloned().unwrap_or_default();
    let default_id: Vec<String> = current
        .iter()
        .filter(|id| {
            cx.w.policies
                .get(id)
                .is_some_and(|p| p["name"] == "platform_default")
        })
        .cloned()
        .collect();
    let mut expect: Vec<String> = current
        .iter()
        .filter(|id| !default_id.contains(id))
        .cloned()
        .collect();
    let mut given = ids.clone();
    expect.sort();
    given.sort();
    if expect != given {
        return Err(ApiError::bad_request(format!(
            "ids must list every non-default {platform} prevention policy exactly once ({} expected, {} given)",
            expect.len(),
            ids.len()
        )));
    }
    let mut order = ids;
    order.extend(default_id);
    cx.w.precedence.insert(platform, order);
    assign(cx);
    Ok(Envelope::new(200, PB).into_resp())
}
