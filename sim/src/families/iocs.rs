//! IOC management (declared on the engine over the tenant's own collection): validated custom
//! indicators (duplicates refused), search/get/update/delete, expiry, the values each field
//! takes, and the "has this been seen" device-count / devices-ran-on / processes-ran-on lookups.
//! Writes validate whole indicators and the lookups read observations, not the collection: those
//! stay hand-written.

use std::net::{Ipv4Addr, Ipv6Addr};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::engine::{Endpoint, Family, Ids, Kind, Paging, Store};
use crate::envelope::{ApiError, ApiResult, Envelope, Req, error_item, error_item_id};
use crate::fql;
use crate::timeutil::{parse_timestamp, rfc3339_ms};
use crate::world::{Ctx, Window, World, page_from_query, query_ids, take_page};

const PB: &str = "ioc-manager";
const READ: &str = "ioc:read";
const WRITE: &str = "ioc:write";

/// Search pages by offset or by a numeric `after`, over the indicators not deleted.
const SEARCH: Paging = Paging::offset_or_after(100, 2000)
    .no_text()
    .only(|_, _, i| Ok(i["deleted"] != true));

/// A read endpoint.
const fn read(op: &'static str, path: &'static str, kind: Kind) -> Endpoint {
    Endpoint {
        op,
        method: "GET",
        path,
        scope: READ,
        kind,
    }
}

/// The IOCs and their endpoints (the legacy `/indicators/` lookups included).
pub(crate) static FAMILIES: &[Family] = &[Family {
    name: "iocs",
    id_field: "id",
    noun: "Indicator",
    powered_by: PB,
    default_sort: "",
    extra_fields: &[],
    text_fields: &[],
    store: Store::Tenant(|w| &w.iocs, |w| &mut w.iocs),
    endpoints: &[
        read(
            "indicator_search_v1",
            "/iocs/queries/indicators/v1",
            Kind::Query(SEARCH),
        ),
        read(
            "indicator_combined_v1",
            "/iocs/combined/indicator/v1",
            Kind::Combined(SEARCH),
        ),
        read(
            "indicator_get_v1",
            "/iocs/entities/indicators/v1",
            Kind::Entities {
                ids: Ids::Query("ids"),
                max: 500,
            },
        ),
        Endpoint {
            op: "indicator_create_v1",
            method: "POST",
            path: "/iocs/entities/indicators/v1",
            scope: WRITE,
            kind: Kind::Custom(create),
        },
        Endpoint {
            op: "indicator_update_v1",
            method: "PATCH",
            path: "/iocs/entities/indicators/v1",
            scope: WRITE,
            kind: Kind::Custom(update),
        },
        Endpoint {
            op: "indicator_delete_v1",
            method: "DELETE",
            path: "/iocs/entities/indicators/v1",
            scope: WRITE,
            kind: Kind::Custom(delete),
        },
        read(
            "indicator_get_device_count_v1",
            "/iocs/aggregates/indicators/device-count/v1",
            Kind::Custom(device_count),
        ),
        read(
            "indicator_get_devices_ran_on_v1",
            "/iocs/queries/indicators/devices/v1",
            Kind::Custom(devices_ran_on),
        ),
        read(
            "indicator_get_processes_ran_on_v1",
            "/iocs/queries/indicators/processes/v1",
            Kind::Custom(processes_ran_on),
        ),
        read(
            "DevicesCount",
            "/indicators/aggregates/devices-count/v1",
            Kind::Custom(device_count),
        ),
        read(
            "DevicesRanOn",
            "/indicators/queries/devices/v1",
            Kind::Custom(devices_ran_on),
        ),
        read(
            "ProcessesRanOn",
            "/indicators/queries/processes/v1",
            Kind::Custom(processes_ran_on),
        ),
        read(
            "ioc_type_query_v1",
            "/iocs/queries/ioc-types/v1",
            Kind::Values(TYPES),
        ),
        read(
            "platform_query_v1",
            "/iocs/queries/platforms/v1",
            Kind::Values(PLATFORMS),
        ),
        read(
            "severity_query_v1",
            "/iocs/queries/severities/v1",
            Kind::Values(SEVERITIES),
        ),
        read(
            "action_query_v1",
            "/iocs/queries/actions/v1",
            Kind::Values(ACTIONS),
        ),
    ],
}];

const TYPES: &[&str] = &["sha256", "md5", "domain", "ipv4", "ipv6"];
const ACTIONS: &[&str] = &["no_action", "allow", "prevent_no_ui", "detect", "prevent"];
const SEVERITIES: &[&str] = &["informational", "low", "medium", "high", "critical"];
const PLATFORMS: &[&str] = &["windows", "mac", "linux", "ios", "android"];

fn is_hex(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn valid_domain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 200
        && s.contains('.')
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !l.starts_with('-')
        })
}

/// Checks a type/value pair (reference §4.6 value rules).
pub(crate) fn validate_value(kind: &str, value: &str) -> Result<(), String> {
    let ok = match kind {
        "sha256" => is_hex(value, 64),
        "md5" => is_hex(value, 32),
        "domain" => valid_domain(value),
        "ipv4" => value.parse::<Ipv4Addr>().is_ok(),
        "ipv6" => value.parse::<Ipv6Addr>().is_ok(),
        other => {
            return Err(format!(
                "Invalid type: '{other}'. Valid types are {}",
                TYPES.join(", ")
            ));
        }
    };
    if ok {
        Ok(())
    } else {
        Err(format!("Invalid value for type {kind}: '{value}'"))
    }
}

fn severity_number(s: &str) -> i64 {
    match s {
        "informational" => 10,
        "low" => 20,
        "medium" => 50,
        "high" => 70,
        "critical" => 90,
        _ => 0,
    }
}

/// Normalizes values the way the service stores them (hashes and domains lower-case).
fn normalize(kind: &str, value: &str) -> String {
    match kind {
        "sha256" | "md5" | "domain" => value.trim().to_lowercase(),
        _ => value.trim().to_string(),
    }
}

fn str_list(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Builds a validated IOC object from request fields.
pub(crate) fn ioc_object(
    kind: &str,
    value: &str,
    f: &Value,
    by: &str,
    now: i64,
) -> Result<Value, String> {
    if kind.is_empty() {
        return Err("type is required".into());
    }
    if value.is_empty() {
        return Err("value is required".into());
    }
    validate_value(kind, value)?;
    let value = normalize(kind, value);
    let action = f["action"].as_str().unwrap_or("detect");
    if !ACTIONS.contains(&action) {
        return Err(format!(
            "Invalid action: '{action}'. Valid actions are {}",
            ACTIONS.join(", ")
        ));
    }
    if matches!(action, "prevent" | "allow" | "prevent_no_ui") && !matches!(kind, "sha256" | "md5")
    {
        return Err(format!(
            "Action '{action}' is not supported for type {kind}; use detect or no_action"
        ));
    }
    let severity = f["severity"].as_str().unwrap_or("");
    if severity.is_empty() && matches!(action, "detect" | "prevent") {
        return Err(format!("severity is required for action '{action}'"));
    }
    if !severity.is_empty() && !SEVERITIES.contains(&severity) {
        return Err(format!(
            "Invalid severity: '{severity}'. Valid severities are {}",
            SEVERITIES.join(", ")
        ));
    }
    let platforms = str_list(&f["platforms"]);
    if platforms.is_empty() {
        return Err("platforms is required".into());
    }
    if let Some(p) = platforms.iter().find(|p| !PLATFORMS.contains(&p.as_str())) {
        return Err(format!(
            "Invalid platform: '{p}'. Valid platforms are {}",
            PLATFORMS.join(", ")
        ));
    }
    let applied_globally = f["applied_globally"].as_bool().unwrap_or(false);
    let host_groups = str_list(&f["host_groups"]);
    if !applied_globally && host_groups.is_empty() {
        return Err("Either applied_globally must be true or host_groups must be set".into());
    }
    let expiration = f["expiration"].as_str().unwrap_or("");
    let exp_ms = if expiration.is_empty() {
        None
    } else {
        let t = parse_timestamp(expiration).ok_or_else(|| {
            format!("Invalid expiration '{expiration}': use RFC3339, e.g. 2026-12-31T23:59:59Z")
        })?;
        if t <= now {
            return Err("expiration must be in the future".into());
        }
        Some(t)
    };
    let source = f["source"].as_str().unwrap_or("");
    if source.len() > 256 {
        return Err("source must be between 1 and 256 characters".into());
    }
    let id = hex::encode(Sha256::digest(format!("{kind}:{value}").as_bytes()));
    let stamp = rfc3339_ms(now);
    Ok(json!({
        "id": id, "type": kind, "value": value, "action": action, "mobile_action": f["mobile_action"].as_str().unwrap_or("no_action"),
        "severity": severity, "severity_number": severity_number(severity), "platforms": platforms,
        "applied_globally": applied_globally, "host_groups": host_groups, "tags": str_list(&f["tags"]),
        "source": source, "description": f["description"].as_str().unwrap_or(""),
        "metadata": if f["metadata"].is_object() { f["metadata"].clone() } else { json!({}) },
        "expiration": exp_ms.map(rfc3339_ms).unwrap_or_default(), "expired": false, "deleted": false, "from_parent": false,
        "created_on": stamp, "created_by": by, "modified_on": stamp, "modified_by": by,
    }))
}

/// Expired IOCs keep existing but their action becomes `no_action` (run by
/// [`World::tick`] before every request).
pub(crate) fn expire(w: &mut World, now: i64) {
    for i in w.iocs.items.iter_mut() {
        if i["expired"] == false
            && let Some(t) = i["expiration"].as_str().and_then(parse_timestamp)
            && t <= now
        {
            i["expired"] = json!(true);
            i["action"] = json!("no_action");
        }
    }
}

/// `indicator_create_v1` → 201; any invalid or duplicate indicator refuses the whole request.
fn create(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let body = req.json_value()?;
    let list = body["indicators"]
        .as_array()
        .cloned()
        .ok_or_else(|| ApiError::bad_request("indicators is required"))?;
    if list.is_empty() {
        return Err(ApiError::bad_request("indicators must not be empty"));
    }
    let mut created = Vec::new();
    let mut errors = Vec::new();
    for f in &list {
        let kind = f["type"].as_str().unwrap_or("");
        let value = f["value"].as_str().unwrap_or("");
        match ioc_object(kind, value, f, &cx.client_id, cx.now) {
            Ok(v) => {
                let id = v["id"].as_str().unwrap_or("").to_string();
                let dup_existing = cx.w.iocs.get(&id).is_some_and(|x| x["deleted"] != true);
                let dup_batch = created.iter().any(|c: &Value| c["id"] == id.as_str());
                if dup_existing || dup_batch {
                    errors.push(error_item(
                        400,
                        &format!(
                            "Duplicate type: '{kind}' and value: '{}' combination.",
                            v["value"].as_str().unwrap_or(value)
                        ),
                    ));
                } else {
                    created.push(v);
                }
            }
            Err(msg) => errors.push(error_item(400, &msg)),
        }
    }
    if !errors.is_empty() {
        let mut e = Envelope::new(400, PB).errors(errors).into_resp();
        if let crate::envelope::Body::Json(b) = &mut e.body {
            b["resources"] = Value::Null;
        }
        return Ok(e);
    }
    for c in &created {
        let id = c["id"].as_str().unwrap_or("").to_string();
        cx.w.iocs.remove(&id);
        cx.w.iocs.insert(c.clone());
    }
    Ok(Envelope::new(201, PB).resources(created).into_resp())
}

fn apply_update(cur: &Value, f: &Value, by: &str, now: i64) -> Result<Value, String> {
    let mut merged = cur.clone();
    for k in [
        "action",
        "severity",
        "platforms",
        "applied_globally",
        "host_groups",
        "tags",
        "source",
        "description",
        "metadata",
        "expiration",
        "mobile_action",
    ] {
        if !f[k].is_null() {
            merged[k] = f[k].clone();
        }
    }
    if merged["expiration"] == "" {
        merged["expiration"] = Value::Null;
    }
    let mut v = ioc_object(
        cur["type"].as_str().unwrap_or(""),
        cur["value"].as_str().unwrap_or(""),
        &merged,
        by,
        now,
    )?;
    v["created_on"] = cur["created_on"].clone();
    v["created_by"] = cur["created_by"].clone();
    Ok(v)
}

/// `indicator_update_v1`: by `indicators[].id` or `bulk_update.filter`.
fn update(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let body = req.json_value()?;
    let mut targets: Vec<(String, Value)> = Vec::new();
    if let Some(bulk) = body.get("bulk_update").filter(|b| b.is_object()) {
        let filter = bulk["filter"].as_str().unwrap_or("");
        if filter.trim().is_empty() {
            return Err(ApiError::bad_request("bulk_update.filter is required"));
        }
        let e = fql::parse_checked(filter, &cx.w.iocs.known)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        for i in &cx.w.iocs.items {
            if i["deleted"] != true && e.as_ref().is_some_and(|e| fql::eval(e, i, cx.now)) {
                targets.push((i["id"].as_str().unwrap_or("").to_string(), bulk.clone()));
            }
        }
    } else {
        let list = body["indicators"]
            .as_array()
            .cloned()
            .ok_or_else(|| ApiError::bad_request("indicators or bulk_update is required"))?;
        for f in list {
            targets.push((f["id"].as_str().unwrap_or("").to_string(), f));
        }
    }
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (id, f) in targets {
        let Some(cur) = cx.w.iocs.get(&id).filter(|x| x["deleted"] != true).cloned() else {
            errors.push(error_item_id(
                404,
                &format!("Indicator {id} not found"),
                &id,
            ));
            continue;
        };
        match apply_update(&cur, &f, &cx.client_id, cx.now) {
            Ok(v) => {
                if let Some(slot) = cx.w.iocs.get_mut(&id) {
                    *slot = v.clone();
                }
                out.push(v);
            }
            Err(m) => errors.push(error_item_id(400, &m, &id)),
        }
    }
    Ok(Envelope::partial(PB, out, errors))
}

/// `indicator_delete_v1`: by `filter` (wins) or `ids`.
fn delete(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let ids: Vec<String> = if let Some(filter) = req.q("filter").filter(|s| !s.trim().is_empty()) {
        let e = fql::parse_checked(filter, &cx.w.iocs.known)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        cx.w.iocs
            .items
            .iter()
            .filter(|i| e.as_ref().is_some_and(|e| fql::eval(e, i, cx.now)))
            .filter_map(|i| i["id"].as_str().map(String::from))
            .collect()
    } else {
        query_ids(req, "ids", 500)?
    };
    let mut deleted = Vec::new();
    let mut errors = Vec::new();
    for id in ids {
        if cx.w.iocs.remove(&id).is_some() {
            deleted.push(json!(id));
        } else {
            errors.push(error_item_id(
                404,
                &format!("Indicator {id} not found"),
                &id,
            ));
        }
    }
    Ok(Envelope::partial(PB, deleted, errors))
}

fn observed_type(req: &Req) -> Result<(String, String), ApiError> {
    let kind = req.q("type").unwrap_or("").to_string();
    let value = req.q("value").unwrap_or("").to_string();
    if kind.is_empty() || value.is_empty() {
        return Err(ApiError::bad_request("type and value are required"));
    }
    let kind = match kind.as_str() {
        "hash_sha256" => "sha256".to_string(),
        "hash_md5" => "md5".to_string(),
        "ip_address" => "ipv4".to_string(),
        _ => kind,
    };
    validate_value(&kind, &value).map_err(ApiError::bad_request)?;
    Ok((kind.clone(), normalize(&kind, &value).to_lowercase()))
}

/// `indicator_get_device_count_v1` (also legacy `DevicesCount`).
fn device_count(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let (kind, value) = observed_type(req)?;
    let n =
        cx.w.observed
            .get(&(kind.clone(), value.clone()))
            .map(|m| m.len())
            .unwrap_or(0);
    Ok(Envelope::new(200, PB).resources(vec![json!({"id": format!("{kind}:{value}"), "type": kind, "value": value, "device_count": n, "limit_exceeded": false})]).into_resp())
}

/// `indicator_get_devices_ran_on_v1` (also legacy `DevicesRanOn`).
fn devices_ran_on(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let (kind, value) = observed_type(req)?;
    let page = page_from_query(req, 100, 10_000, 1, Window::None)?;
    let aids: Vec<Value> =
        cx.w.observed
            .get(&(kind, value))
            .map(|m| m.keys().map(|k| json!(k)).collect())
            .unwrap_or_default();
    let total = aids.len();
    let items = take_page(&aids, page);
    let next = page.offset + items.len();
    let mut p = json!({"limit": page.limit, "offset": next.to_string(), "total": total});
    if next < total {
        p["after"] = json!(next.to_string());
    }
    Ok(Envelope::new(200, PB)
        .resources(items)
        .pagination(p)
        .into_resp())
}

/// `indicator_get_processes_ran_on_v1` (also legacy `ProcessesRanOn`).
fn processes_ran_on(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let (kind, value) = observed_type(req)?;
    let aid = req
        .q("device_id")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("device_id is required"))?;
    let page = page_from_query(req, 100, 10_000, 1, Window::None)?;
    let pids: Vec<Value> =
        cx.w.observed
            .get(&(kind, value))
            .and_then(|m| m.get(aid))
            .map(|p| {
                p.iter()
                    .map(|pid| json!(format!("pid:{aid}:{pid}")))
                    .collect()
            })
            .unwrap_or_default();
    let total = pids.len();
    let items = take_page(&pids, page);
    Ok(Envelope::new(200, PB)
        .resources(items)
        .pagination(json!({"limit": page.limit, "offset": page.offset.to_string(), "total": total}))
        .into_resp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_validated_per_type() {
        assert!(validate_value("sha256", &"a".repeat(64)).is_ok());
        assert!(validate_value("sha256", &"g".repeat(64)).is_err());
        assert!(validate_value("md5", &"0".repeat(32)).is_ok());
        assert!(validate_value("md5", "abc").is_err());
        assert!(validate_value("domain", "evil.example").is_ok());
        assert!(validate_value("domain", "no spaces.example").is_err());
        assert!(validate_value("ipv4", "10.0.0.1").is_ok());
        assert!(validate_value("ipv4", "10.0.0.256").is_err());
        assert!(validate_value("ipv6", "2001:db8::1").is_ok());
        assert!(
            validate_value("url", "x")
                .unwrap_err()
                .contains("Invalid type")
        );
    }

    #[test]
    fn object_rules() {
        let f = json!({"action": "prevent", "severity": "high", "platforms": ["windows"], "applied_globally": true});
        assert!(
            ioc_object("sha256", &"A".repeat(64), &f, "me", 0).unwrap()["value"] == "a".repeat(64)
        );
        assert!(
            ioc_object("domain", "x.example", &f, "me", 0)
                .unwrap_err()
                .contains("not supported")
        );
        let nogroups = json!({"action": "detect", "severity": "high", "platforms": ["windows"]});
        assert!(ioc_object("ipv4", "1.2.3.4", &nogroups, "me", 0).is_err());
        let nosev = json!({"action": "detect", "platforms": ["windows"], "applied_globally": true});
        assert!(
            ioc_object("ipv4", "1.2.3.4", &nosev, "me", 0)
                .unwrap_err()
                .contains("severity")
        );
        let past = json!({"action": "detect", "severity": "low", "platforms": ["linux"], "applied_globally": true, "expiration": "2000-01-01T00:00:00Z"});
        assert!(ioc_object("ipv4", "1.2.3.4", &past, "me", 1_000_000_000_000).is_err());
    }
}
