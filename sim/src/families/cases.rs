//! Falcon case management (reference falcon-api-2 §5): cases built from the tenant's alerts and
//! NG-SIEM events (their hosts, users and files in `analysis_results`), versioned for optimistic
//! concurrency; case files (multipart uploads, files pulled in RTR sessions); the `/casemgmt/`
//! configuration the tools read (custom fields, access tags).
//!
//! Quirks kept from the live API: cases are read by POST; a PATCH without the `fields` wrapper
//! answers 200 and changes nothing; a stale `expected_version` is a 409; evidence ids must be
//! objects (`[{"id": …}]`); tag removal is a DELETE with one `tag=` per value; a case holds at
//! most 100 evidence items; a file upload whose `case_id` travels in the query instead of the
//! form is stored detached (`case_id: ""`); access-tag queries page with `after`.
//!
//! The case query's FQL names flattened fields (`assigned_to_uuid`, `hostnames`, `sha256s`, …)
//! that live deeper in the case object; they are renamed before the engine serves it.

use base64::Engine as _;
use rand::Rng;
use rand::seq::SliceRandom;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::catalog::ANALYSTS;
use crate::engine::{self, Endpoint, Family, Ids, Kind, Paging, Seed, Store};
use crate::envelope::{ApiError, ApiResult, Envelope, Req};
use crate::tenant::{KNOWN_BAD_SHA256, KNOWN_HOSTNAME};
use crate::timeutil::{parse_timestamp, rfc3339_s};
use crate::world::{Collection, Ctx};

const CASES: &str = "cases";
const FILES: &str = "case_files";
const PB: &str = "casemgmt";
const DAY: i64 = 86_400_000;

/// Case statuses the API accepts.
const STATUSES: &[&str] = &["new", "in_progress", "closed", "reopened"];

/// Most evidence items (alerts + events + leads) one case holds.
const MAX_EVIDENCE: usize = 100;

/// FQL names of the case query → where the value lives in the case object.
const ALIASES: &[(&str, &str)] = &[
    ("assigned_to_uuid", "assigned_to.uuid"),
    ("assigned_to_name", "assigned_to.full_name"),
    ("assigned_to_userid", "assigned_to.email"),
    ("alerts", "evidence.alerts.records.selector.id"),
    ("events", "evidence.events.records.selector.id"),
    ("aids", "analysis_results.hosts.records.aid"),
    ("hostnames", "analysis_results.hosts.records.hostname"),
    ("ips", "analysis_results.hosts.records.local_ip"),
    ("usernames", "analysis_results.users.records.username"),
    ("sha256s", "analysis_results.files.records.sha256"),
    ("md5s", "analysis_results.files.records.md5"),
    ("file_names", "analysis_results.files.records.file_name"),
    ("data_domains", "analysis_results.data_domains"),
    ("tactic_ids", "analysis_results.alerts.records.tactic_id"),
    (
        "technique_ids",
        "analysis_results.alerts.records.technique_id",
    ),
    ("tactics", "analysis_results.alerts.records.tactic"),
    ("techniques", "analysis_results.alerts.records.technique"),
    ("access_tags", "access_tags.key"),
];

/// Case templates the tenant's access tags and cases refer to.
const TEMPLATES: &[(&str, &str)] = &[
    ("5d7c2a1e9b3f4c6d8e0a1b2c3d4e5f60", "IR Standard"),
    ("8e1f3b5d7a9c4e2f6b8d0a2c4e6f8a1b", "Phishing"),
    ("2b4d6f8a0c1e3a5c7e9b1d3f5a7c9e0d", "Insider threat"),
];

/// The tenant's analysts as case users, with stable UUIDs.
fn analysts() -> Vec<Value> {
    ANALYSTS
        .iter()
        .map(|(email, name)| {
            let h = hex::encode(Sha256::digest(email.as_bytes()));
            let uuid = format!(
                "{}-{}-4{}-8{}-{}",
                &h[0..8],
                &h[8..12],
                &h[13..16],
                &h[17..20],
                &h[20..32]
            );
            json!({"uuid": uuid, "email": email, "full_name": name})
        })
        .collect()
}

fn analyst(uuid: &str) -> Option<Value> {
    analysts().into_iter().find(|a| a["uuid"] == uuid)
}

/// `severity_info.level` for a 1–100 severity (the alerts' bands).
fn level(severity: i64) -> &'static str {
    match severity {
        ..=19 => "informational",
        20..=39 => "low",
        40..=59 => "medium",
        60..=79 => "high",
        _ => "critical",
    }
}

/// An opaque case id in the live API's shape (base64 of `case:<cid prefix>:<16 hex>`).
fn case_id(cid: &str, hex: &str) -> String {
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(format!(
        "case:{}:{}",
        &cid[..8],
        &hex[..16]
    ))
}

/// Evidence record id: stable for a (case, evidence) pair.
fn record_id(case: &str, evidence: &str) -> String {
    hex::encode(&Sha256::digest(format!("{case}:{evidence}").as_bytes())[..12])
}

fn records(v: &Value, path: &[&str]) -> Vec<Value> {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur["records"].as_array().cloned().unwrap_or_default()
}

fn set_records(v: &mut Value, path: &[&str], recs: Vec<Value>) {
    let mut cur = v;
    for p in path {
        cur = &mut cur[*p];
    }
    cur["records"] = Value::Array(recs);
}

/// Push `item` unless a record already has the same `key`.
fn push_unique(v: &mut Value, path: &[&str], key: &str, item: Value) {
    let mut recs = records(v, path);
    if !recs.iter().any(|r| r[key] == item[key]) {
        recs.push(item);
        set_records(v, path, recs);
    }
}

fn evidence_count(case: &Value) -> usize {
    ["alerts", "events", "leads"]
        .iter()
        .map(|k| records(case, &["evidence", k]).len())
        .sum()
}

/// A new case with no evidence.
#[allow(clippy::too_many_arguments)]
fn new_case(
    id: &str,
    reference: u64,
    cid: &str,
    name: &str,
    description: &str,
    status: &str,
    severity: i64,
    created: i64,
) -> Value {
    let stamp = rfc3339_s(created);
    let empty = json!({"records": []});
    json!({
        "id": id, "reference_id": format!("CAS-{reference}"), "cid": cid,
        "name": name, "description": description, "description_format": "markdown",
        "status": status, "severity": severity, "severity_info": {"level": level(severity)},
        "tags": [], "version": 1, "consistency": {"consistent": true, "version": 1},
        "created_timestamp": stamp, "updated_timestamp": stamp,
        "start_timestamp": stamp, "end_timestamp": stamp,
        "assigned_to": null,
        "evidence": {"alerts": empty, "events": empty, "leads": empty, "users": empty, "custom_evidence": empty},
        "analysis_results": {"data_domains": [], "alerts": empty, "events": empty, "hosts": empty,
                             "users": empty, "files": empty, "leads": empty, "cloud_assets": empty},
        "fields": [], "template": null, "sla": null, "workflows": [], "access_tags": [],
        "read_only": {"is_read_only": false},
    })
}

/// Widen the case's start/end window to cover `ts` (RFC 3339).
fn cover(case: &mut Value, ts: &str) {
    let Some(t) = parse_timestamp(ts) else { return };
    for (key, earlier) in [("start_timestamp", true), ("end_timestamp", false)] {
        let cur = case[key].as_str().and_then(parse_timestamp);
        if cur.is_none_or(|c| if earlier { t < c } else { t > c }) {
            case[key] = json!(rfc3339_s(t));
        }
    }
}

/// Add an alert as evidence: the record, and the alert's host, user, file and MITRE data in
/// `analysis_results`. Returns false if the alert was evidence already.
fn add_alert(case: &mut Value, alert: &Value) -> bool {
    let cid = alert["composite_id"].as_str().unwrap_or_default();
    let case_id = case["id"].as_str().unwrap_or_default().to_string();
    if records(case, &["evidence", "alerts"])
        .iter()
        .any(|r| r["selector"]["id"] == cid)
    {
        return false;
    }
    push_unique(
        case,
        &["evidence", "alerts"],
        "id",
        json!({"id": record_id(&case_id, cid), "selector": {"id": cid}}),
    );
    let ar = &["analysis_results"];
    push_unique(
        case,
        &[ar[0], "alerts"],
        "composite_id",
        json!({"composite_id": cid, "display_name": alert["display_name"], "severity": alert["severity"],
               "tactic": alert["tactic"], "tactic_id": alert["tactic_id"],
               "technique": alert["technique"], "technique_id": alert["technique_id"]}),
    );
    let d = &alert["device"];
    push_unique(
        case,
        &[ar[0], "hosts"],
        "aid",
        json!({"aid": d["device_id"], "hostname": d["hostname"], "local_ip": d["local_ip"],
               "agent_ip": d["external_ip"], "cloud_instance_id": ""}),
    );
    if alert["user_name"].as_str().is_some_and(|u| !u.is_empty()) {
        push_unique(
            case,
            &[ar[0], "users"],
            "username",
            json!({"username": alert["user_name"], "user_id": alert["user_id"], "sid": alert["user_id"],
                   "user_full_name": "", "user_principal_id": "", "idp_user_id": "",
                   "user_token_key_id": "", "email_addresses": []}),
        );
    }
    if alert["sha256"].as_str().is_some_and(|s| !s.is_empty()) {
        push_unique(
            case,
            &[ar[0], "files"],
            "sha256",
            json!({"sha256": alert["sha256"], "md5": alert["md5"], "file_name": alert["filename"],
                   "file_path": alert["filepath"]}),
        );
    }
    add_domains(case, &alert["data_domains"]);
    cover(case, alert["timestamp"].as_str().unwrap_or_default());
    true
}

/// Add an NG-SIEM event (by `@id`) as evidence, with its host.
fn add_event(case: &mut Value, event: &Value) -> bool {
    let id = event["@id"].as_str().unwrap_or_default();
    let case_id = case["id"].as_str().unwrap_or_default().to_string();
    if records(case, &["evidence", "events"])
        .iter()
        .any(|r| r["selector"]["id"] == id)
    {
        return false;
    }
    push_unique(
        case,
        &["evidence", "events"],
        "id",
        json!({"id": record_id(&case_id, id), "selector": {"id": id}}),
    );
    let ts = event["@timestamp"].as_i64().unwrap_or_default();
    push_unique(
        case,
        &["analysis_results", "events"],
        "id",
        json!({"id": id, "event_simple_name": event["#event_simpleName"], "aid": event["aid"],
               "timestamp": rfc3339_s(ts)}),
    );
    if let Some(aid) = event["aid"].as_str() {
        push_unique(
            case,
            &["analysis_results", "hosts"],
            "aid",
            json!({"aid": aid, "hostname": event["ComputerName"], "local_ip": event["LocalAddressIP4"],
                   "agent_ip": event["aip"], "cloud_instance_id": ""}),
        );
    }
    add_domains(case, &json!(["Endpoint"]));
    cover(case, &rfc3339_s(ts));
    true
}

fn add_domains(case: &mut Value, domains: &Value) {
    let mut all: Vec<Value> = case["analysis_results"]["data_domains"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for d in domains.as_array().into_iter().flatten() {
        if !all.contains(d) {
            all.push(d.clone());
        }
    }
    case["analysis_results"]["data_domains"] = Value::Array(all);
}

/// A successful change: version and timestamp move on.
fn bump(case: &mut Value, now: i64) {
    let v = case["version"].as_i64().unwrap_or(0) + 1;
    case["version"] = json!(v);
    case["consistency"] = json!({"consistent": true, "version": v});
    case["updated_timestamp"] = json!(rfc3339_s(now));
}

fn assign(case: &mut Value, uuid: &str) -> Result<(), ApiError> {
    let a = analyst(uuid).ok_or_else(|| {
        ApiError::bad_request(format!(
            "assigned_to_user_uuid '{uuid}' is not a user of this CID"
        ))
    })?;
    case["assigned_to"] = a;
    Ok(())
}

fn severity_of(v: &Value) -> Result<i64, ApiError> {
    match v.as_i64() {
        Some(s @ 1..=100) => Ok(s),
        _ => Err(ApiError::bad_request(format!(
            "severity must be an integer from 1 to 100, got {v}"
        ))),
    }
}

fn status_of(v: &Value) -> Result<&str, ApiError> {
    v.as_str().filter(|s| STATUSES.contains(s)).ok_or_else(|| {
        ApiError::bad_request(format!(
            "status must be one of {}, got {v}",
            STATUSES.join(", ")
        ))
    })
}

/// Evidence ids of a body list: objects `{"id": "…"}`, as the API requires.
fn evidence_ids(body: &Value, key: &str) -> Result<Vec<String>, ApiError> {
    let Some(list) = body.get(key) else {
        return Ok(Vec::new());
    };
    let list = list
        .as_array()
        .ok_or_else(|| ApiError::bad_request(format!("{key} must be a list")))?;
    list.iter()
        .map(|e| {
            e.get("id")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "{key} items must be objects of the form {{\"id\": \"...\"}}, got {e}"
                    ))
                })
        })
        .collect()
}

fn find_alert<'a>(cx: &'a Ctx<'_>, id: &str) -> Result<&'a Value, ApiError> {
    cx.w.alerts
        .get(id)
        .ok_or_else(|| ApiError::bad_request(format!("alert '{id}' does not exist in this CID")))
}

fn find_event<'a>(cx: &'a Ctx<'_>, id: &str) -> Result<&'a Value, ApiError> {
    cx.w.events
        .iter()
        .find(|e| e["@id"] == id)
        .ok_or_else(|| ApiError::bad_request(format!("event '{id}' does not exist in this CID")))
}

/// Apply alert and event evidence to `case`, refusing the whole request on any bad id or when
/// the case would exceed [`MAX_EVIDENCE`]. Returns how many items were new.
fn apply_evidence(
    cx: &mut Ctx<'_>,
    case: &mut Value,
    alert_ids: &[String],
    event_ids: &[String],
) -> Result<usize, ApiError> {
    let alerts: Vec<Value> = alert_ids
        .iter()
        .map(|id| find_alert(cx, id).cloned())
        .collect::<Result<_, _>>()?;
    let events: Vec<Value> = event_ids
        .iter()
        .map(|id| find_event(cx, id).cloned())
        .collect::<Result<_, _>>()?;
    let mut added = 0;
    for a in &alerts {
        added += usize::from(add_alert(case, a));
    }
    for e in &events {
        added += usize::from(add_event(case, e));
    }
    if evidence_count(case) > MAX_EVIDENCE {
        return Err(ApiError::bad_request(format!(
            "a case holds at most {MAX_EVIDENCE} evidence items"
        )));
    }
    // The alerts name the cases they are evidence in.
    let case_id = case["id"].clone();
    for id in alert_ids {
        if let Some(a) = cx.w.alerts.get_mut(id)
            && let Some(linked) = a["linked_case_ids"].as_array_mut()
            && !linked.contains(&case_id)
        {
            linked.push(case_id.clone());
        }
    }
    Ok(added)
}

fn cases_mut<'w>(cx: &'w mut Ctx<'_>) -> &'w mut Collection {
    cx.w.families
        .get_mut(CASES)
        .expect("cases are seeded at generation")
}

fn case_of(cx: &Ctx<'_>, id: &str) -> Result<Value, ApiError> {
    cx.w.families
        .get(CASES)
        .and_then(|c| c.get(id))
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("Case {id} not found")))
}

/// Store a changed case and answer with it.
fn save(cx: &mut Ctx<'_>, case: Value) -> ApiResult {
    let id = case["id"].as_str().unwrap_or_default().to_string();
    let c = cases_mut(cx);
    if let Some(slot) = c.get_mut(&id) {
        *slot = case.clone();
    }
    c.refresh_fields();
    Ok(Envelope::new(200, PB).resources(vec![case]).into_resp())
}

fn tags_of(v: &Value) -> Result<Vec<String>, ApiError> {
    let list = v
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| ApiError::bad_request("tags must be a non-empty list of strings"))?;
    list.iter()
        .map(|t| {
            t.as_str()
                .map(str::trim)
                .filter(|t| !t.is_empty() && t.len() <= 100)
                .map(str::to_string)
                .ok_or_else(|| {
                    ApiError::bad_request(format!("invalid tag {t}: tags are 1-100 characters"))
                })
        })
        .collect()
}

// ---- cases ------------------------------------------------------------------------------

/// `entities_cases_put_v2`: `name` and `severity` are required; the rest defaults.
fn create_case(cx: &mut Ctx<'_>, input: &Value) -> Result<Value, ApiError> {
    let name = input["name"]
        .as_str()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request("name is required"))?;
    let severity = severity_of(&input["severity"])?;
    let status = match &input["status"] {
        Value::Null => "new",
        s => status_of(s)?,
    };
    let cid = cx.w.cid.clone();
    let next =
        cx.w.families
            .get(CASES)
            .map(|c| {
                c.items
                    .iter()
                    .filter_map(|v| {
                        v["reference_id"]
                            .as_str()?
                            .strip_prefix("CAS-")?
                            .parse()
                            .ok()
                    })
                    .max()
                    .unwrap_or(1000u64)
            })
            .unwrap_or(1000)
            + 1;
    let hex = cx.w.new_hex32();
    let id = case_id(&cid, &hex);
    let mut case = new_case(
        &id,
        next,
        &cid,
        name,
        input["description"].as_str().unwrap_or_default(),
        status,
        severity,
        cx.now,
    );
    if let Some(f) = input["description_format"].as_str() {
        if !["markdown", "plaintext"].contains(&f) {
            return Err(ApiError::bad_request(
                "description_format must be markdown or plaintext",
            ));
        }
        case["description_format"] = json!(f);
    }
    if let Some(u) = input["assigned_to_user_uuid"]
        .as_str()
        .filter(|u| !u.is_empty())
    {
        assign(&mut case, u)?;
    }
    if !input["tags"].is_null() {
        case["tags"] = json!(tags_of(&input["tags"])?);
    }
    if let Some(t) = input["template"]["id"].as_str() {
        let (tid, tname) = TEMPLATES
            .iter()
            .find(|(i, _)| *i == t)
            .ok_or_else(|| ApiError::bad_request(format!("template '{t}' does not exist")))?;
        case["template"] =
            json!({"id": tid, "name": tname, "snapshot_id": format!("{tid}-1"), "version": 1});
    }
    case["creation_actor"] = json!({"type": "api_client", "client_id": cx.client_id});
    let ev = &input["evidence"];
    let alerts = evidence_ids(ev, "alerts")?;
    let events = evidence_ids(ev, "events")?;
    apply_evidence(cx, &mut case, &alerts, &events)?;
    Ok(case)
}

/// `entities_cases_patch_v2`: `{id, fields{…}, expected_version}`.
fn update_case(case: &mut Value, input: &Value, now: i64) -> Result<(), ApiError> {
    let Some(fields) = input.get("fields").and_then(Value::as_object) else {
        // The live API answers 200 to a flat body and changes nothing.
        return Ok(());
    };
    if let Some(expected) = input.get("expected_version").filter(|v| !v.is_null()) {
        let current = case["version"].as_i64().unwrap_or(0);
        if expected.as_i64() != Some(current) {
            return Err(ApiError::new(
                409,
                format!(
                    "version conflict: expected_version {expected} but case {} is at version {current}",
                    case["id"].as_str().unwrap_or_default()
                ),
            ));
        }
    }
    for (k, v) in fields {
        match k.as_str() {
            "name" => {
                let n = v.as_str().map(str::trim).filter(|n| !n.is_empty());
                case["name"] =
                    json!(n.ok_or_else(|| ApiError::bad_request("name must not be empty"))?);
            }
            "description" => {
                case["description"] = json!(
                    v.as_str()
                        .ok_or_else(|| ApiError::bad_request("description must be a string"))?
                )
            }
            "description_format" => match v.as_str() {
                Some(f @ ("markdown" | "plaintext")) => case["description_format"] = json!(f),
                _ => {
                    return Err(ApiError::bad_request(
                        "description_format must be markdown or plaintext",
                    ));
                }
            },
            "status" => case["status"] = json!(status_of(v)?),
            "severity" => {
                let s = severity_of(v)?;
                case["severity"] = json!(s);
                case["severity_info"] = json!({"level": level(s)});
            }
            "assigned_to_user_uuid" => {
                let u = v.as_str().ok_or_else(|| {
                    ApiError::bad_request("assigned_to_user_uuid must be a string")
                })?;
                assign(case, u)?;
            }
            "remove_user_assignment" => {
                if v.as_bool() == Some(true) {
                    case["assigned_to"] = Value::Null;
                }
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "'{other}' is not a field a case update can change"
                )));
            }
        }
    }
    if !fields.is_empty() {
        bump(case, now);
    }
    Ok(())
}

fn path_of(field: &str) -> &str {
    ALIASES
        .iter()
        .find(|(a, _)| *a == field)
        .map_or(field, |(_, p)| p)
}

/// Index of the cases family in [`FAMILIES`].
const CASES_FAMILY: usize = 2;

/// What the engine serves behind [`query_cases`].
static CASE_IDS: Endpoint = Endpoint {
    op: "queries_cases_get_v1",
    method: "GET",
    path: "/cases/queries/cases/v1",
    scope: "cases:read",
    kind: Kind::Query(Paging::offset(100, 10_000)),
};

/// `queries_cases_get_v1`: the flattened FQL fields renamed to their paths; a sort field the
/// collection does not know falls back to the default order (documented), instead of a 400.
fn query_cases(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let mut req = engine::alias_filter(req, ALIASES);
    let known = &engine::collection(cx.w, &FAMILIES[CASES_FAMILY]).known;
    req.query.retain_mut(|(k, v)| {
        if k != "sort" {
            return true;
        }
        let (field, dir) = v.split_once('|').unwrap_or((v.as_str(), "asc"));
        let field = path_of(field.trim()).to_string();
        *v = format!("{field}|{}", dir.trim());
        known.contains(&field)
    });
    engine::serve(&FAMILIES[CASES_FAMILY], &CASE_IDS, cx, &req)
}

/// `entities_alert_evidence_post_v1`: `{id, alerts: [{id}]}`.
fn post_alert_evidence(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    post_evidence(cx, req, "alerts")
}

/// `entities_event_evidence_post_v1`: `{id, events: [{id}]}`.
fn post_event_evidence(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    post_evidence(cx, req, "events")
}

fn post_evidence(cx: &mut Ctx<'_>, req: &Req, key: &str) -> ApiResult {
    let body = req.json_value()?;
    let id = body["id"]
        .as_str()
        .ok_or_else(|| ApiError::bad_request("id is required"))?;
    let ids = evidence_ids(&body, key)?;
    if ids.is_empty() {
        return Err(ApiError::bad_request(format!("{key} is required")));
    }
    let mut case = case_of(cx, id)?;
    let added = if key == "alerts" {
        apply_evidence(cx, &mut case, &ids, &[])?
    } else {
        apply_evidence(cx, &mut case, &[], &ids)?
    };
    if added > 0 {
        bump(&mut case, cx.now);
    }
    save(cx, case)
}

/// `entities_case_tags_post_v1`: `{id, tags: [...]}`.
fn post_tags(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let body = req.json_value()?;
    let id = body["id"]
        .as_str()
        .ok_or_else(|| ApiError::bad_request("id is required"))?;
    let new = tags_of(&body["tags"])?;
    let mut case = case_of(cx, id)?;
    let mut tags: Vec<String> = serde_json::from_value(case["tags"].clone()).unwrap_or_default();
    let before = tags.len();
    for t in new {
        if !tags.contains(&t) {
            tags.push(t);
        }
    }
    if tags.len() != before {
        case["tags"] = json!(tags);
        bump(&mut case, cx.now);
    }
    save(cx, case)
}

/// `entities_case_tags_delete_v1`: query `id` and one `tag=` per tag.
fn delete_tags(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let id = req
        .q("id")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("id is required"))?;
    let gone: Vec<String> = req
        .query
        .iter()
        .filter(|(k, _)| k == "tag")
        .map(|(_, v)| v.clone())
        .collect();
    if gone.is_empty() {
        return Err(ApiError::bad_request("tag is required"));
    }
    let mut case = case_of(cx, id)?;
    let mut tags: Vec<String> = serde_json::from_value(case["tags"].clone()).unwrap_or_default();
    let before = tags.len();
    tags.retain(|t| !gone.contains(t));
    if tags.len() != before {
        case["tags"] = json!(tags);
        bump(&mut case, cx.now);
    }
    save(cx, case)
}

// ---- case files ---------------------------------------------------------------------------

fn human_size(n: usize) -> String {
    match n {
        0..1024 => format!("{n} B"),
        1024..1_048_576 => format!("{:.1} KB", n as f64 / 1024.0),
        _ => format!("{:.1} MB", n as f64 / 1_048_576.0),
    }
}

fn file_type(name: &str) -> &'static str {
    match name
        .rsplit('.')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
        .as_str()
    {
        "txt" | "log" | "md" | "csv" => "text/plain",
        "json" => "application/json",
        "pdf" => "application/pdf",
        "png" => "image/png",
        "zip" => "application/zip",
        "exe" | "dll" => "application/x-msdownload",
        _ => "application/octet-stream",
    }
}

/// A `FileDetails` record.
#[allow(clippy::too_many_arguments)]
fn file_details(
    id: String,
    case_id: &str,
    cid: &str,
    name: &str,
    description: &str,
    content: &[u8],
    source: &str,
    by: &str,
    at: i64,
) -> Value {
    json!({
        "id": id, "case_id": case_id, "cid": cid, "name": name, "description": description,
        "file_type": file_type(name), "file_size": human_size(content.len()),
        "file_size_bytes": content.len(), "hash_value": hex::encode(Sha256::digest(content)),
        "source": source, "uploaded_by": by, "uploaded_on": rfc3339_s(at),
    })
}

fn store_file(cx: &mut Ctx<'_>, v: Value) -> ApiResult {
    cx.w.families
        .get_mut(FILES)
        .expect("case files are seeded at generation")
        .insert(v.clone());
    Ok(Envelope::new(200, PB).resources(vec![v]).into_resp())
}

/// `entities_files_upload_post_v1`: multipart `file`, `case_id`, `description`.
fn upload_file(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let parts = crate::rtr::multipart(req)?;
    let text = |k: &str| {
        parts
            .iter()
            .find(|p| p.0 == k)
            .map(|p| String::from_utf8_lossy(&p.2).trim().to_string())
    };
    let (_, filename, content) = parts
        .iter()
        .find(|p| p.0 == "file")
        .cloned()
        .ok_or_else(|| ApiError::bad_request("file is required"))?;
    let name = filename
        .filter(|f| !f.is_empty())
        .ok_or_else(|| ApiError::bad_request("file must have a file name"))?;
    // Live quirk: `case_id` as a query parameter instead of a form field stores the file
    // detached from any case, without its description.
    let (case_id, description) = match text("case_id").filter(|c| !c.is_empty()) {
        Some(c) => (c, text("description").unwrap_or_default()),
        None if req.q("case_id").is_some() => (String::new(), String::new()),
        None => return Err(ApiError::bad_request("case_id is required")),
    };
    if !case_id.is_empty() {
        case_of(cx, &case_id)?;
    }
    let id = cx.w.new_hex32();
    let v = file_details(
        id,
        &case_id,
        &cx.w.cid.clone(),
        &name,
        &description,
        &content,
        "upload",
        &cx.client_id.clone(),
        cx.now,
    );
    store_file(cx, v)
}

/// Whether RTR can reach the host now (the sessions' rule: seen in the last 15 minutes).
fn online(cx: &Ctx<'_>, host: &Value) -> bool {
    parse_timestamp(host["last_seen"].as_str().unwrap_or_default())
        .is_some_and(|t| cx.now - t < 15 * 60_000)
}

/// `entities_get_rtr_file_metadata_post_v1`: `{aid, file_path}` → name and size, via RTR.
fn rtr_file_metadata(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let body = req.json_value()?;
    let (Some(aid), Some(path)) = (body["aid"].as_str(), body["file_path"].as_str()) else {
        return Err(ApiError::bad_request("aid and file_path are required"));
    };
    let host =
        cx.w.hosts
            .get(aid)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("Could not find device {aid}")))?;
    if !online(cx, &host) {
        return Err(ApiError::not_found("Sensor appears to be offline"));
    }
    let cwd = crate::rtr_output::default_pwd(&host);
    let out = crate::rtr_output::run(&host, &cwd, "get", &format!("get \"{path}\""));
    let (full, content) = out
        .file
        .ok_or_else(|| ApiError::not_found(format!("{path}: {}", out.stderr.trim())))?;
    let name = full.rsplit(['\\', '/']).next().unwrap_or(&full).to_string();
    Ok(Envelope::new(200, PB)
        .resources(vec![json!({"file_name": name, "file_size": content.len()})])
        .into_resp())
}

/// `entities_retrieve_rtr_recent_file_post_v1`: attach a file an RTR session already pulled
/// (`get`), found by session and SHA-256.
fn retrieve_recent_file(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let body = req.json_value()?;
    let field = |k: &str| {
        body[k]
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ApiError::bad_request(format!("{k} is required")))
    };
    let (case_id, session, sha) = (field("case_id")?, field("session_id")?, field("sha256")?);
    case_of(cx, case_id)?;
    let s =
        cx.w.sessions
            .get(session)
            .ok_or_else(|| ApiError::not_found(format!("session {session} not found")))?;
    if let Some(aid) = body["aid"].as_str().filter(|a| !a.is_empty())
        && aid != s.device_id
    {
        return Err(ApiError::bad_request(format!(
            "session {session} is not on host {aid}"
        )));
    }
    let f =
        cx.w.files
            .values()
            .find(|f| f.session_id == session && f.sha256.eq_ignore_ascii_case(sha))
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "no file with sha256 {sha} was retrieved in session {session}"
                ))
            })?;
    let name = f
        .name
        .rsplit(['\\', '/'])
        .next()
        .unwrap_or(&f.name)
        .to_string();
    let content = f.content.clone();
    let id = cx.w.new_hex32();
    let v = file_details(
        id,
        case_id,
        &cx.w.cid.clone(),
        &name,
        body["description"].as_str().unwrap_or_default(),
        &content,
        "rtr",
        &cx.client_id.clone(),
        cx.now,
    );
    store_file(cx, v)
}

// ---- seeds --------------------------------------------------------------------------------

fn seed_fields(s: &mut Seed<'_>) -> Vec<Value> {
    let opts = |vals: &[&str]| -> Value {
        vals.iter()
            .enumerate()
            .map(|(i, v)| json!({"id": format!("opt-{i}"), "value": v}))
            .collect()
    };
    let defs: [(&str, &str, &str, bool, bool, Value); 7] = [
        (
            "Business unit",
            "string",
            "dropdown",
            true,
            false,
            opts(&["Finance", "HR", "Engineering", "Sales"]),
        ),
        ("Root cause", "string", "textarea", false, false, json!([])),
        (
            "Data exfiltrated",
            "boolean",
            "checkbox",
            false,
            false,
            json!([]),
        ),
        (
            "Customer impact",
            "string",
            "dropdown",
            false,
            false,
            opts(&["None", "Limited", "Major"]),
        ),
        ("Ticket number", "string", "text", false, false, json!([])),
        (
            "Affected systems",
            "string",
            "multiselect",
            false,
            true,
            opts(&["Email", "VPN", "ERP", "File shares"]),
        ),
        ("Contained at", "date", "date", false, false, json!([])),
    ];
    let created = s.now - 120 * DAY;
    defs.into_iter()
        .enumerate()
        .map(|(i, (name, dt, input, required, multi, options))| {
            let id = crate::world::hex32(s.rng);
            let options: Value = options
                .as_array()
                .into_iter()
                .flatten()
                .map(|o| json!({"id": format!("{id}-{}", o["id"].as_str().unwrap_or("")), "value": o["value"]}))
                .collect();
            json!({"id": id, "name": name, "data_type": dt, "input_type": input, "required": required,
                   "multivalued": multi, "default_value": "", "display_order": i, "options": options,
                   "created_timestamp": rfc3339_s(created + i as i64 * DAY),
                   "updated_timestamp": rfc3339_s(created + i as i64 * DAY)})
        })
        .collect()
}

fn seed_access_tags(s: &mut Seed<'_>) -> Vec<Value> {
    let cid = s.w.cid.clone();
    let defs: [(&str, &[usize]); 5] = [
        ("soc-tier1", &[0, 1]),
        ("soc-tier2", &[0, 1, 2]),
        ("finance", &[0]),
        ("legal-hold", &[2]),
        ("executive", &[]),
    ];
    defs.iter()
        .map(|(key, tpls)| {
            let templates: Vec<Value> = tpls
                .iter()
                .map(|&i| json!({"id": TEMPLATES[i].0, "name": TEMPLATES[i].1}))
                .collect();
            json!({"id": crate::world::hex32(s.rng), "key": key, "cid": cid,
                   "has_access": *key != "executive", "templates": templates})
        })
        .collect()
}

fn seed_cases(s: &mut Seed<'_>) -> Vec<Value> {
    let w = s.w;
    let cid = w.cid.clone();
    let alerts = &w.alerts.items;
    let tags = s.family("case_access_tags").to_vec();
    let fields = s.family("case_fields").to_vec();
    let people = analysts();
    let mut out = Vec::new();
    // The investigation thread: the known host's alerts with the known-bad hash, in one case.
    let known: Vec<&Value> = alerts
        .iter()
        .filter(|a| a["device"]["hostname"] == KNOWN_HOSTNAME && a["sha256"] == KNOWN_BAD_SHA256)
        .take(2)
        .collect();
    let mut pool: Vec<&Value> = alerts
        .iter()
        .filter(|a| !known.iter().any(|k| k["composite_id"] == a["composite_id"]))
        .collect();
    pool.shuffle(s.rng);
    let mut groups: Vec<Vec<&Value>> = vec![known];
    for chunk in pool.chunks(3).take(13) {
        let n = s.rng.gen_range(1..=chunk.len());
        groups.push(chunk[..n].to_vec());
    }
    for (i, group) in groups.into_iter().enumerate() {
        let Some(first) = group.first() else { continue };
        let hex = crate::world::hex32(s.rng);
        let id = case_id(&cid, &hex);
        let created = s.now - s.rng.gen_range(DAY / 4..25 * DAY);
        let status = if i == 0 {
            "in_progress"
        } else {
            STATUSES[s.rng.gen_range(0..STATUSES.len())]
        };
        let severity = group
            .iter()
            .filter_map(|a| a["severity"].as_i64())
            .max()
            .unwrap_or(50);
        let host = first["device"]["hostname"].as_str().unwrap_or("host");
        let name = format!(
            "{} on {host}",
            first["display_name"].as_str().unwrap_or("Alert")
        );
        let description = format!(
            "{} ({} {}). Opened from {} alert(s).",
            first["description"].as_str().unwrap_or_default(),
            first["technique_id"].as_str().unwrap_or_default(),
            first["technique"].as_str().unwrap_or_default(),
            group.len()
        );
        let mut case = new_case(
            &id,
            1001 + i as u64,
            &cid,
            &name,
            &description,
            status,
            severity,
            created,
        );
        for a in &group {
            add_alert(&mut case, a);
        }
        if i == 0 || status != "new" {
            case["assigned_to"] = people[s.rng.gen_range(0..people.len())].clone();
        }
        let mut t = Vec::new();
        if i == 0 {
            t.push("credential_theft");
        }
        if status == "closed" {
            t.push(["true_positive", "false_positive"][s.rng.gen_range(0..2)]);
        }
        case["tags"] = json!(t);
        let (tid, tname) = TEMPLATES[i % TEMPLATES.len()];
        case["template"] =
            json!({"id": tid, "name": tname, "snapshot_id": format!("{tid}-1"), "version": 1});
        if let Some(tag) = tags.get(i % 3) {
            case["access_tags"] = json!([{"id": tag["id"], "key": tag["key"], "cid": cid}]);
        }
        if let Some(f) = fields.first() {
            let opts = f["options"].as_array().cloned().unwrap_or_default();
            if let Some(o) = opts.get(i % opts.len().max(1)) {
                case["fields"] = json!([{"id": f["id"], "name": f["name"], "required": f["required"],
                                        "values": [o["value"]], "option_ids": [o["id"]], "display_order": 0,
                                        "snapshot_id": format!("{}-1", f["id"].as_str().unwrap_or(""))}]);
            }
        }
        // A few changes since creation.
        let edits = s.rng.gen_range(0..4);
        case["version"] = json!(1 + edits);
        case["consistency"] = json!({"consistent": true, "version": 1 + edits});
        let updated = (created + s.rng.gen_range(0..DAY)).min(s.now);
        case["updated_timestamp"] = json!(rfc3339_s(updated));
        out.push(case);
    }
    // One case carries NG-SIEM event evidence from the known host.
    if let Some(case) = out.first_mut() {
        let evs: Vec<&Value> = w
            .events
            .iter()
            .filter(|e| {
                e["ComputerName"] == KNOWN_HOSTNAME && e["SHA256HashData"] == KNOWN_BAD_SHA256
            })
            .take(2)
            .collect();
        for e in evs {
            add_event(case, e);
        }
    }
    out
}

fn seed_files(s: &mut Seed<'_>) -> Vec<Value> {
    let cid = s.w.cid.clone();
    let cases = s.family(CASES).to_vec();
    let people = analysts();
    cases
        .iter()
        .take(3)
        .enumerate()
        .map(|(i, c)| {
            let by = &people[i % people.len()];
            let notes = format!(
                "# Triage notes for {}\n\n{}\n",
                c["reference_id"].as_str().unwrap_or_default(),
                c["description"].as_str().unwrap_or_default()
            );
            let at = parse_timestamp(c["updated_timestamp"].as_str().unwrap_or_default())
                .unwrap_or(s.now);
            file_details(
                crate::world::hex32(s.rng),
                c["id"].as_str().unwrap_or_default(),
                &cid,
                "triage-notes.md",
                "Analyst triage notes",
                notes.as_bytes(),
                "upload",
                by["email"].as_str().unwrap_or_default(),
                at,
            )
        })
        .collect()
}

// ---- declarations -------------------------------------------------------------------------

/// Paths the case query may name before any case holds such a value.
const CASE_FIELDS: &[&str] = &[
    "assigned_to.uuid",
    "assigned_to.full_name",
    "assigned_to.email",
    "evidence.events.records.selector.id",
    "analysis_results.events.records.id",
    "analysis_results.files.records.sha256",
    "analysis_results.files.records.md5",
    "analysis_results.files.records.file_name",
    "access_tags.key",
];

/// The cases collections and their endpoints.
pub(crate) static FAMILIES: &[Family] = &[
    Family {
        name: "case_fields",
        id_field: "id",
        noun: "Field",
        powered_by: PB,
        default_sort: "display_order|asc",
        extra_fields: &[],
        text_fields: &["name"],
        store: Store::Seeded(seed_fields),
        endpoints: &[
            Endpoint {
                op: "queries_fields_get_v1",
                method: "GET",
                path: "/casemgmt/queries/fields/v1",
                scope: "cases:read",
                kind: Kind::Query(Paging::offset(100, 200)),
            },
            Endpoint {
                op: "entities_fields_get_v1",
                method: "GET",
                path: "/casemgmt/entities/fields/v1",
                scope: "cases:read",
                kind: Kind::Entities {
                    ids: Ids::Query("ids"),
                    max: 200,
                },
            },
        ],
    },
    Family {
        name: "case_access_tags",
        id_field: "id",
        noun: "Access tag",
        powered_by: PB,
        default_sort: "key|asc",
        extra_fields: &[],
        text_fields: &["key"],
        store: Store::Seeded(seed_access_tags),
        endpoints: &[
            Endpoint {
                op: "queries_access_tags_get_v1",
                method: "GET",
                path: "/casemgmt/queries/access-tags/v1",
                scope: "cases:read",
                kind: Kind::Query(Paging::after(100, 200)),
            },
            Endpoint {
                op: "entities_access_tags_get_v1",
                method: "GET",
                path: "/casemgmt/entities/access-tags/v1",
                scope: "cases:read",
                kind: Kind::Entities {
                    ids: Ids::Query("ids"),
                    max: 200,
                },
            },
            Endpoint {
                op: "aggregates_access_tags_post_v1",
                method: "POST",
                path: "/casemgmt/aggregates/access-tags/v1",
                scope: "cases:read",
                kind: Kind::Aggregate(None),
            },
        ],
    },
    Family {
        name: CASES,
        id_field: "id",
        noun: "Case",
        powered_by: PB,
        default_sort: "created_timestamp|desc",
        extra_fields: CASE_FIELDS,
        text_fields: &[],
        store: Store::Seeded(seed_cases),
        endpoints: &[
            Endpoint {
                op: "queries_cases_get_v1",
                method: "GET",
                path: "/cases/queries/cases/v1",
                scope: "cases:read",
                kind: Kind::Custom(query_cases),
            },
            Endpoint {
                op: "entities_cases_post_v2",
                method: "POST",
                path: "/cases/entities/cases/v2",
                scope: "cases:read",
                kind: Kind::Entities {
                    ids: Ids::Body("ids"),
                    max: 100,
                },
            },
            Endpoint {
                op: "entities_cases_put_v2",
                method: "PUT",
                path: "/cases/entities/cases/v2",
                scope: "cases:write",
                kind: Kind::Create {
                    build: create_case,
                    status: 201,
                },
            },
            Endpoint {
                op: "entities_cases_patch_v2",
                method: "PATCH",
                path: "/cases/entities/cases/v2",
                scope: "cases:write",
                kind: Kind::Update {
                    id_key: "id",
                    apply: update_case,
                },
            },
            Endpoint {
                op: "entities_alert_evidence_post_v1",
                method: "POST",
                path: "/cases/entities/alert-evidence/v1",
                scope: "cases:write",
                kind: Kind::Custom(post_alert_evidence),
            },
            Endpoint {
                op: "entities_event_evidence_post_v1",
                method: "POST",
                path: "/cases/entities/event-evidence/v1",
                scope: "cases:write",
                kind: Kind::Custom(post_event_evidence),
            },
            Endpoint {
                op: "entities_case_tags_post_v1",
                method: "POST",
                path: "/cases/entities/case-tags/v1",
                scope: "cases:write",
                kind: Kind::Custom(post_tags),
            },
            Endpoint {
                op: "entities_case_tags_delete_v1",
                method: "DELETE",
                path: "/cases/entities/case-tags/v1",
                scope: "cases:write",
                kind: Kind::Custom(delete_tags),
            },
        ],
    },
    Family {
        name: FILES,
        id_field: "id",
        noun: "File",
        powered_by: PB,
        default_sort: "uploaded_on|desc",
        extra_fields: &[],
        text_fields: &["name", "description"],
        store: Store::Seeded(seed_files),
        endpoints: &[
            Endpoint {
                op: "queries_file_details_get_v1",
                method: "GET",
                path: "/case-files/queries/file-details/v1",
                scope: "cases:read",
                kind: Kind::Query(Paging::offset(10, 10)),
            },
            Endpoint {
                op: "entities_file_details_get_v1",
                method: "GET",
                path: "/case-files/entities/file-details/v1",
                scope: "cases:read",
                kind: Kind::Entities {
                    ids: Ids::Query("ids"),
                    max: 100,
                },
            },
            Endpoint {
                op: "entities_files_upload_post_v1",
                method: "POST",
                path: "/case-files/entities/files/upload/v1",
                scope: "cases:write",
                kind: Kind::Custom(upload_file),
            },
            Endpoint {
                op: "entities_get_rtr_file_metadata_post_v1",
                method: "POST",
                path: "/case-files/entities/get-rtr-file-metadata/v1",
                scope: "cases:read",
                kind: Kind::Custom(rtr_file_metadata),
            },
            Endpoint {
                op: "entities_retrieve_rtr_recent_file_post_v1",
                method: "POST",
                path: "/case-files/entities/retrieve-rtr-recent-file/v1",
                scope: "cases:write",
                kind: Kind::Custom(retrieve_recent_file),
            },
        ],
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SimConfig;
    use crate::world::World;

    fn world() -> World {
        crate::tenant::generate(42, 1_700_000_000_000, 60, 300)
    }

    fn json_req(method: &str, query: &[(&str, &str)], body: Value) -> Req {
        Req {
            method: method.into(),
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: if body.is_null() {
                Vec::new()
            } else {
                body.to_string().into_bytes()
            },
            ..Req::default()
        }
    }

    /// Serve `op` as the engine would; the answer as `{status, body}`.
    fn call(w: &mut World, op: &str, req: Req) -> Result<Value, ApiError> {
        let cfg = SimConfig::default();
        let (f, ep) = FAMILIES
            .iter()
            .find_map(|f| f.endpoints.iter().find(|e| e.op == op).map(|e| (f, e)))
            .unwrap();
        let mut cx = Ctx {
            w,
            cfg: &cfg,
            now: 1_700_000_000_000,
            client_id: "tester".into(),
        };
        let resp = crate::engine::serve(f, ep, &mut cx, &req)?;
        match resp.body {
            crate::envelope::Body::Json(v) => Ok(json!({"status": resp.status, "body": v})),
            _ => panic!("json"),
        }
    }

    fn case(w: &World, id: &str) -> Value {
        w.families[CASES].get(id).unwrap().clone()
    }

    fn known_case(w: &World) -> Value {
        w.families[CASES].items[0].clone()
    }

    #[test]
    fn seeded_cases_follow_the_known_thread() {
        let w = world();
        let c = known_case(&w);
        assert!(c["name"].as_str().unwrap().contains(KNOWN_HOSTNAME), "{c}");
        let files = &c["analysis_results"]["files"]["records"];
        assert!(
            files
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["sha256"] == KNOWN_BAD_SHA256),
            "{c}"
        );
        let alert = c["evidence"]["alerts"]["records"][0]["selector"]["id"]
            .as_str()
            .unwrap();
        assert!(w.alerts.contains(alert));
        assert!(
            !c["evidence"]["events"]["records"]
                .as_array()
                .unwrap()
                .is_empty()
        );
        // Deterministic per seed.
        assert_eq!(world().families[CASES].items, w.families[CASES].items);
    }

    #[test]
    fn query_uses_flattened_fields_text_and_sorts() {
        let mut w = world();
        let known = known_case(&w);
        let id = known["id"].as_str().unwrap();
        let r = call(
            &mut w,
            "queries_cases_get_v1",
            json_req(
                "GET",
                &[(
                    "filter",
                    &format!("hostnames:'{KNOWN_HOSTNAME}'+sha256s:'{KNOWN_BAD_SHA256}'"),
                )],
                Value::Null,
            ),
        )
        .unwrap();
        assert!(
            r["body"]["resources"]
                .as_array()
                .unwrap()
                .contains(&json!(id)),
            "{r}"
        );
        let uuid = known["assigned_to"]["uuid"].as_str().unwrap();
        let r = call(
            &mut w,
            "queries_cases_get_v1",
            json_req(
                "GET",
                &[
                    ("filter", &format!("assigned_to_uuid:'{uuid}'")),
                    ("sort", "severity|desc"),
                ],
                Value::Null,
            ),
        )
        .unwrap();
        assert!(
            r["body"]["resources"]
                .as_array()
                .unwrap()
                .contains(&json!(id)),
            "{r}"
        );
        let r = call(
            &mut w,
            "queries_cases_get_v1",
            json_req("GET", &[("q", "credential_theft")], Value::Null),
        )
        .unwrap();
        assert_eq!(r["body"]["resources"], json!([id]), "{r}");
        // Every flattened field resolves in the tenant.
        assert_eq!(FAMILIES[CASES_FAMILY].name, CASES);
        for (alias, path) in ALIASES {
            assert!(w.families[CASES].known.contains(*path), "{alias} → {path}");
        }
        // An unknown sort keeps the default order; an unknown filter field is a 400 naming it.
        let r = call(
            &mut w,
            "queries_cases_get_v1",
            json_req("GET", &[("sort", "nope|asc")], Value::Null),
        )
        .unwrap();
        assert_eq!(
            r["body"]["meta"]["pagination"]["total"],
            w.families[CASES].items.len()
        );
        let e = call(
            &mut w,
            "queries_cases_get_v1",
            json_req("GET", &[("filter", "nope:'x'")], Value::Null),
        )
        .unwrap_err();
        assert!(e.message.contains("'nope'"), "{}", e.message);
    }

    #[test]
    fn create_patch_versions_and_the_flat_body_quirk() {
        let mut w = world();
        let alert = w.alerts.items[5]["composite_id"]
            .as_str()
            .unwrap()
            .to_string();
        let r = call(
            &mut w,
            "entities_cases_put_v2",
            json_req("PUT", &[], json!({"name": "New case", "severity": 70, "evidence": {"alerts": [{"id": alert}]}})),
        )
        .unwrap();
        assert_eq!(r["status"], 201);
        let c = &r["body"]["resources"][0];
        let id = c["id"].as_str().unwrap().to_string();
        assert_eq!(
            (c["status"].clone(), c["version"].clone()),
            (json!("new"), json!(1))
        );
        assert_eq!(c["severity_info"]["level"], "high");
        assert!(
            w.alerts.get(&alert).unwrap()["linked_case_ids"]
                .as_array()
                .unwrap()
                .contains(&json!(id))
        );
        // Evidence ids as plain strings are refused.
        let e = call(
            &mut w,
            "entities_cases_put_v2",
            json_req(
                "PUT",
                &[],
                json!({"name": "x", "severity": 5, "evidence": {"alerts": [alert]}}),
            ),
        )
        .unwrap_err();
        assert!(e.message.contains("objects"), "{}", e.message);
        // A flat body: 200, nothing changes.
        call(
            &mut w,
            "entities_cases_patch_v2",
            json_req("PATCH", &[], json!({"id": id, "status": "closed"})),
        )
        .unwrap();
        assert_eq!(case(&w, &id)["status"], "new");
        assert_eq!(case(&w, &id)["version"], 1);
        let uuid = analysts()[1]["uuid"].as_str().unwrap().to_string();
        call(
            &mut w,
            "entities_cases_patch_v2",
            json_req("PATCH", &[], json!({"id": id, "expected_version": 1, "fields": {"status": "in_progress", "assigned_to_user_uuid": uuid}})),
        )
        .unwrap();
        let c = case(&w, &id);
        assert_eq!(
            (c["status"].clone(), c["version"].clone()),
            (json!("in_progress"), json!(2))
        );
        assert_eq!(c["assigned_to"]["uuid"], uuid.as_str());
        // A stale version is a 409 and changes nothing.
        let e = call(
            &mut w,
            "entities_cases_patch_v2",
            json_req(
                "PATCH",
                &[],
                json!({"id": id, "expected_version": 1, "fields": {"status": "closed"}}),
            ),
        )
        .unwrap_err();
        assert_eq!(e.status, 409);
        assert!(e.message.contains("version 2"), "{}", e.message);
        assert_eq!(case(&w, &id)["status"], "in_progress");
    }

    #[test]
    fn evidence_tags_and_limits() {
        let mut w = world();
        let id = known_case(&w)["id"].as_str().unwrap().to_string();
        let v0 = known_case(&w)["version"].as_i64().unwrap();
        let alert = w.alerts.items[9]["composite_id"]
            .as_str()
            .unwrap()
            .to_string();
        let r = call(
            &mut w,
            "entities_alert_evidence_post_v1",
            json_req("POST", &[], json!({"id": id, "alerts": [{"id": alert}]})),
        )
        .unwrap();
        let c = &r["body"]["resources"][0];
        assert!(
            c["evidence"]["alerts"]["records"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["selector"]["id"] == alert.as_str())
        );
        assert_eq!(c["version"], v0 + 1);
        // Again: nothing new, no new version.
        let r = call(
            &mut w,
            "entities_alert_evidence_post_v1",
            json_req("POST", &[], json!({"id": id, "alerts": [{"id": alert}]})),
        )
        .unwrap();
        assert_eq!(r["body"]["resources"][0]["version"], v0 + 1);
        let e = call(
            &mut w,
            "entities_alert_evidence_post_v1",
            json_req("POST", &[], json!({"id": id, "alerts": [{"id": "nope"}]})),
        )
        .unwrap_err();
        assert!(e.message.contains("nope"), "{}", e.message);
        let e = call(
            &mut w,
            "entities_alert_evidence_post_v1",
            json_req("POST", &[], json!({"id": "zz", "alerts": [{"id": alert}]})),
        )
        .unwrap_err();
        assert_eq!(e.status, 404);
        // More than 100 evidence items are refused whole.
        let many: Vec<Value> = w
            .alerts
            .items
            .iter()
            .take(120)
            .map(|a| json!({"id": a["composite_id"]}))
            .collect();
        let e = call(
            &mut w,
            "entities_alert_evidence_post_v1",
            json_req("POST", &[], json!({"id": id, "alerts": many})),
        )
        .unwrap_err();
        assert!(e.message.contains("100"), "{}", e.message);
        let event = w.events[3]["@id"].as_str().unwrap().to_string();
        call(
            &mut w,
            "entities_event_evidence_post_v1",
            json_req("POST", &[], json!({"id": id, "events": [{"id": event}]})),
        )
        .unwrap();
        assert!(
            case(&w, &id)["evidence"]["events"]["records"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["selector"]["id"] == event.as_str())
        );
        call(
            &mut w,
            "entities_case_tags_post_v1",
            json_req("POST", &[], json!({"id": id, "tags": ["a", "b"]})),
        )
        .unwrap();
        call(
            &mut w,
            "entities_case_tags_delete_v1",
            json_req(
                "DELETE",
                &[("id", &id), ("tag", "a"), ("tag", "credential_theft")],
                Value::Null,
            ),
        )
        .unwrap();
        assert_eq!(case(&w, &id)["tags"], json!(["b"]));
    }

    #[test]
    fn uploads_need_the_case_in_the_form() {
        let mut w = world();
        let id = known_case(&w)["id"].as_str().unwrap().to_string();
        let b = "test-boundary-1";
        let form = |case: Option<&str>| {
            let mut s = String::new();
            if let Some(c) = case {
                s += &format!(
                    "--{b}\r\nContent-Disposition: form-data; name=\"case_id\"\r\n\r\n{c}\r\n"
                );
            }
            s += &format!(
                "--{b}\r\nContent-Disposition: form-data; name=\"description\"\r\n\r\nmemory notes\r\n"
            );
            s += &format!(
                "--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"notes.txt\"\r\n\r\nhello\r\n--{b}--\r\n"
            );
            s.into_bytes()
        };
        let mk = |body: Vec<u8>, query: &[(&str, &str)]| Req {
            method: "POST".into(),
            content_type: format!("multipart/form-data; boundary={b}"),
            body,
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Req::default()
        };
        let r = call(
            &mut w,
            "entities_files_upload_post_v1",
            mk(form(Some(&id)), &[]),
        )
        .unwrap();
        let f = &r["body"]["resources"][0];
        assert_eq!(
            (f["case_id"].as_str(), f["description"].as_str()),
            (Some(id.as_str()), Some("memory notes"))
        );
        assert_eq!(f["hash_value"], hex::encode(Sha256::digest(b"hello")));
        assert_eq!(f["file_size_bytes"], 5);
        let r = call(
            &mut w,
            "entities_files_upload_post_v1",
            mk(form(None), &[("case_id", &id)]),
        )
        .unwrap();
        assert_eq!(r["body"]["resources"][0]["case_id"], "");
        assert!(call(&mut w, "entities_files_upload_post_v1", mk(form(None), &[])).is_err());
        assert_eq!(
            call(
                &mut w,
                "entities_files_upload_post_v1",
                mk(form(Some("zz")), &[])
            )
            .unwrap_err()
            .status,
            404
        );
    }

    /// Run a hand-written handler with the test clock.
    fn run(w: &mut World, h: crate::routes::Handler, req: Req) -> Value {
        let cfg = SimConfig::default();
        let mut cx = Ctx {
            w,
            cfg: &cfg,
            now: 1_700_000_000_000,
            client_id: "tester".into(),
        };
        match h(&mut cx, &req).unwrap().body {
            crate::envelope::Body::Json(v) => v,
            _ => panic!("json"),
        }
    }

    #[test]
    fn rtr_file_metadata_and_files_an_rtr_session_pulled() {
        let mut w = world();
        let id = known_case(&w)["id"].as_str().unwrap().to_string();
        let aid = w
            .hosts
            .items
            .iter()
            .find(|h| h["hostname"] == KNOWN_HOSTNAME)
            .unwrap()["device_id"]
            .as_str()
            .unwrap()
            .to_string();
        let path = "C:\\Users\\jdoe\\Downloads\\invoice.exe";
        let r = call(
            &mut w,
            "entities_get_rtr_file_metadata_post_v1",
            json_req("POST", &[], json!({"aid": aid, "file_path": path})),
        )
        .unwrap();
        let meta = &r["body"]["resources"][0];
        assert_eq!(meta["file_name"], "invoice.exe");
        let size = meta["file_size"].as_u64().unwrap();
        assert!(size > 0);
        let e = call(
            &mut w,
            "entities_get_rtr_file_metadata_post_v1",
            json_req(
                "POST",
                &[],
                json!({"aid": aid, "file_path": "C:\\nope.exe"}),
            ),
        )
        .unwrap_err();
        assert_eq!(e.status, 404);
        // Pull the file in a session, then attach it by its hash.
        let s = run(
            &mut w,
            crate::rtr::init_session,
            json_req("POST", &[], json!({"device_id": aid})),
        );
        let session = s["resources"][0]["session_id"]
            .as_str()
            .unwrap()
            .to_string();
        run(
            &mut w,
            crate::rtr::execute_active_responder,
            json_req(
                "POST",
                &[],
                json!({"session_id": session, "base_command": "get", "command_string": format!("get {path}")}),
            ),
        );
        let sha = w
            .files
            .values()
            .find(|f| f.session_id == session)
            .unwrap()
            .sha256
            .clone();
        let r = call(
            &mut w,
            "entities_retrieve_rtr_recent_file_post_v1",
            json_req(
                "POST",
                &[],
                json!({"case_id": id, "session_id": session, "sha256": sha, "aid": aid}),
            ),
        )
        .unwrap();
        let f = &r["body"]["resources"][0];
        assert_eq!(
            (f["name"].as_str(), f["source"].as_str()),
            (Some("invoice.exe"), Some("rtr"))
        );
        assert_eq!(
            (f["case_id"].as_str(), f["file_size_bytes"].as_u64()),
            (Some(id.as_str()), Some(size))
        );
        let e = call(
            &mut w,
            "entities_retrieve_rtr_recent_file_post_v1",
            json_req(
                "POST",
                &[],
                json!({"case_id": id, "session_id": session, "sha256": KNOWN_BAD_SHA256}),
            ),
        )
        .unwrap_err();
        assert_eq!(e.status, 404);
        let e = call(
            &mut w,
            "entities_retrieve_rtr_recent_file_post_v1",
            json_req(
                "POST",
                &[],
                json!({"case_id": id, "session_id": session, "sha256": sha, "aid": "0".repeat(32)}),
            ),
        )
        .unwrap_err();
        assert!(e.message.contains("not on host"), "{}", e.message);
    }
}
