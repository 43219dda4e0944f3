//! `detections_analyze_alert`: one alert with its MITRE context, its host and related alerts,
//! enriched by the kind of alert it is, as crowdstrike-mcp routes it:
//!
//! - NG-SIEM alerts: the events behind them, by the two-step lookup (the indicator event names
//!   the detection; the detection's events are the matches).
//! - Endpoint alerts: the EDR behaviors of the attack and the process tree — the lineage the
//!   alert records, with the triggering process's children, DNS requests and connections from
//!   the sensor's telemetry.
//! - Cloud, identity and third-party alerts: the metadata their payload carries.
//!
//! An enrichment step that fails (a missing scope, NG-SIEM busy) is noted, not fatal: the alert
//! itself is the answer.

use aerie_sdk::fql::Fql;
use aerie_sdk::ngsiem::{self, Query};
use aerie_sdk::{Ctx, Output, ToolError, ids, project, prune};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::process_tree;
use crate::{ALERTS, DEVICES};

/// Arguments of `detections_analyze_alert`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AnalyzeArgs {
    /// Composite id
    id: String,
    /// Related alerts
    #[schemars(range(max = 50))]
    #[serde(default = "d10")]
    related: u32,
    /// NG-SIEM events
    #[schemars(range(min = 1, max = 50))]
    #[serde(default = "d10")]
    events: u32,
}

fn d10() -> u32 {
    10
}

const ANALYSIS_FIELDS: &[&str] = &[
    "composite_id",
    "display_name",
    "description",
    "status",
    "severity",
    "severity_name",
    "confidence",
    "product",
    "type",
    "created_timestamp",
    "timestamp",
    "tactic",
    "tactic_id",
    "technique",
    "technique_id",
    "objective",
    "scenario",
    "mitre_attack",
    "filename",
    "filepath",
    "cmdline",
    "sha256",
    "md5",
    "user_name",
    "logon_domain",
    "parent_details.filename",
    "parent_details.cmdline",
    "grandparent_details.filename",
    "grandparent_details.cmdline",
    "pattern_disposition_description",
    "quarantined_files",
    "global_prevalence",
    "local_prevalence",
    "incident",
    "tags",
    "falcon_host_link",
];

const HOST_FIELDS: &[&str] = &[
    "device_id",
    "hostname",
    "platform_name",
    "os_version",
    "product_type_desc",
    "status",
    "last_seen",
    "local_ip",
    "external_ip",
    "machine_domain",
    "agent_version",
    "groups",
    "tags",
    "device_policies.prevention.policy_id",
];

/// The detecting products, as analysis routes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Endpoint,
    NgSiem,
    Cloud,
    Identity,
    ThirdParty,
    Other,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Endpoint => "endpoint",
            Kind::NgSiem => "ngsiem",
            Kind::Cloud => "cloud",
            Kind::Identity => "identity",
            Kind::ThirdParty => "thirdparty",
            Kind::Other => "other",
        }
    }
}

/// The alert's kind: by its `product`, else by the composite id's type segment
/// (`<cid>:ind:…`, `ngsiem`, `fcs`, `ldt`, `thirdparty`).
pub(crate) fn kind_of(alert: &Value, composite: &str) -> Kind {
    let product = alert.get("product").and_then(Value::as_str).unwrap_or("");
    match product {
        "epp" => return Kind::Endpoint,
        "ngsiem" => return Kind::NgSiem,
        "idp" => return Kind::Identity,
        "thirdparty" => return Kind::ThirdParty,
        "cwpp" | "cspm" | "fcs" => return Kind::Cloud,
        _ => {}
    }
    match composite.split(':').nth(1).unwrap_or("") {
        "ind" => Kind::Endpoint,
        "ngsiem" => Kind::NgSiem,
        "fcs" => Kind::Cloud,
        "ldt" => Kind::Identity,
        "thirdparty" => Kind::ThirdParty,
        _ => Kind::Other,
    }
}

/// Blocking actions Falcon took, from `pattern_disposition_details` (only the true flags).
fn actions_taken(alert: &Value) -> Vec<String> {
    alert
        .get("pattern_disposition_details")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter(|(_, v)| v.as_bool() == Some(true))
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default()
}

fn non_empty<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// The related-alerts filter: same host, same SHA-256 or (cloud) same account, excluding the
/// alert itself.
fn related_filter(alert: &Value, id: &str) -> Option<String> {
    let aid = non_empty(alert, "/agent_id").or_else(|| non_empty(alert, "/device/device_id"));
    let sha = non_empty(alert, "/sha256");
    let account = non_empty(alert, "/cloud_account_id");
    if aid.is_none() && sha.is_none() && account.is_none() {
        return None;
    }
    Fql::new()
        .or([
            Fql::new().opt(aid, |f, a| f.eq("agent_id", a)),
            Fql::new().opt(sha, |f, s| f.eq("sha256", s)),
            Fql::new().opt(account, |f, a| f.eq("cloud_account_id", a)),
        ])
        .ne("composite_id", id)
        .build()
}

/// Bookkeeping fields a payload view leaves out: ids, workflow state, timestamps the analysis
/// shows elsewhere, console flags.
const NOT_PAYLOAD: &[&str] = &[
    "composite_id",
    "id",
    "aggregate_id",
    "cid",
    "agent_id",
    "name",
    "display_name",
    "description",
    "status",
    "severity",
    "severity_name",
    "confidence",
    "product",
    "type",
    "tactic",
    "tactic_id",
    "technique",
    "technique_id",
    "objective",
    "mitre_attack",
    "timestamp",
    "created_timestamp",
    "updated_timestamp",
    "crawled_timestamp",
    "context_timestamp",
    "tags",
    "show_in_ui",
    "email_sent",
    "assigned_to_name",
    "assigned_to_uid",
    "assigned_to_uuid",
    "seconds_to_triaged",
    "seconds_to_resolved",
    "resolution",
    "is_aggregated",
    "linked_case_ids",
    "comments",
    "falcon_host_link",
    "priority_value",
    "device",
];

/// The payload of a cloud, identity or third-party alert: what the detecting product recorded,
/// without the fields every alert has.
fn payload(alert: &Value) -> Value {
    let kept: Map<String, Value> = alert
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| !NOT_PAYLOAD.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    prune(Value::Object(kept))
}

/// Where a kind's tuning happens, for metadata-only kinds.
fn payload_note(kind: Kind) -> Option<&'static str> {
    match kind {
        Kind::ThirdParty => Some(
            "raised by a third-party connector: tune it in the originating platform, not in Falcon",
        ),
        Kind::Cloud => Some(
            "Falcon Cloud Security alert: the cloud account, resource and policy are in payload",
        ),
        Kind::Identity => Some(
            "Identity Protection alert: the accounts, endpoints and service involved are in payload",
        ),
        _ => None,
    }
}

/// Longest wait for one NG-SIEM search of an enrichment: two of them, and the rest of the
/// analysis, fit the host's 60 s call deadline.
pub(crate) const SEARCH_WAIT_MS: u64 = 20_000;

/// A search of `cql` between two instants, bounded by [`SEARCH_WAIT_MS`].
pub(crate) fn enrichment_search(
    ctx: &Ctx<'_>,
    cql: &str,
    start: i64,
    end: i64,
) -> Result<ngsiem::Events, ToolError> {
    let r = ngsiem::search(
        ctx,
        &Query {
            max_wait_ms: SEARCH_WAIT_MS,
            ..Query::between(cql, start, end)
        },
    )?;
    if !r.complete && r.events.is_empty() {
        return Err(ToolError::Upstream {
            status: 504,
            message: format!(
                "NG-SIEM did not finish `{cql}` within {} s; retry, or run it with ngsiem_query",
                SEARCH_WAIT_MS / 1000
            ),
        });
    }
    Ok(r)
}

/// NG-SIEM enrichment: the indicator event names the detection; the detection's events follow.
fn ngsiem_events(ctx: &Ctx<'_>, alert: &Value, id: &str, max: u32) -> Result<Value, ToolError> {
    let indicator = id.rsplit(':').next().unwrap_or(id);
    let at = non_empty(alert, "/timestamp")
        .and_then(ngsiem::epoch_ms)
        .ok_or_else(|| ToolError::internal("the alert has no timestamp to search around"))?;
    // The matches precede the alert; a day before it and an hour after cover a rule's window.
    let (start, end) = (at - 86_400_000, at + 3_600_000);
    let q1 = format!("Ngsiem.indicator.id={}", ngsiem::quote(indicator));
    let found = enrichment_search(ctx, &q1, start, end)?;
    let Some(event) = found.events.into_iter().next() else {
        return Ok(
            json!({"indicator_id": indicator, "queries": [q1], "events_matched": 0, "events": [],
                         "note": "no indicator event in NG-SIEM for this alert (retention, or the alert predates it)"}),
        );
    };
    let Some(detection) = event
        .get("Ngsiem.detection.id")
        .and_then(Value::as_str)
        .map(String::from)
    else {
        return Ok(
            json!({"indicator_id": indicator, "queries": [q1], "events_matched": 1, "events": [compact_event(event)],
                         "note": "the indicator event names no detection; only it is shown"}),
        );
    };
    let q2 = format!(
        "Ngsiem.detection.id={} | tail({max})",
        ngsiem::quote(&detection)
    );
    let r = enrichment_search(ctx, &q2, start, end)?;
    let mut events: Vec<Value> = r.events.into_iter().map(compact_event).collect();
    events.sort_by_key(timestamp);
    Ok(
        json!({"indicator_id": indicator, "detection_id": detection, "queries": [q1, q2],
              "events_matched": r.matched, "complete": r.complete, "events": events}),
    )
}

fn timestamp(e: &Value) -> i64 {
    e.get("@timestamp").and_then(Value::as_i64).unwrap_or(0)
}

/// An event without the fields every event repeats.
pub(crate) fn compact_event(e: Value) -> Value {
    match e {
        Value::Object(mut m) => {
            for k in ["cid", "@id", "@rawstring", "#repo", "aip"] {
                m.remove(k);
            }
            prune(Value::Object(m))
        }
        other => other,
    }
}

/// One enrichment step's outcome: its value, or a note saying why it is missing.
fn step(notes: &mut Vec<String>, what: &str, r: Result<Value, ToolError>) -> Value {
    r.unwrap_or_else(|e| {
        notes.push(format!("{what} unavailable: {e}"));
        Value::Null
    })
}

pub(crate) fn analyze(ctx: &Ctx<'_>, a: AnalyzeArgs) -> Result<Output, ToolError> {
    let id = ids::composite_alert_id(&a.id)?;
    let alert = ctx
        .hydrate_all(&ALERTS, std::slice::from_ref(&id), "alert")?
        .into_iter()
        .next()
        .unwrap_or(Value::Null);
    let kind = kind_of(&alert, &id);
    let aid = non_empty(&alert, "/agent_id")
        .or_else(|| non_empty(&alert, "/device/device_id"))
        .and_then(|s| ids::aid(s).ok());
    let host = match &aid {
        Some(aid) => ctx
            .hydrate(&DEVICES, std::slice::from_ref(aid))?
            .first()
            .map(|h| project(h, HOST_FIELDS))
            .unwrap_or(Value::Null),
        None => Value::Null,
    };
    let (related, related_total) = match related_filter(&alert, &id) {
        Some(filter) if a.related > 0 => {
            let query = ctx
                .op("GetQueriesAlertsV2")
                .query("filter", filter)
                .query("sort", "created_timestamp.desc")
                .query("limit", a.related);
            let r = ctx.search(query, 0, &ALERTS)?;
            let brief = &[
                "composite_id",
                "display_name",
                "severity_name",
                "status",
                "created_timestamp",
                "device.hostname",
                "technique_id",
                "sha256",
            ];
            (
                r.results.iter().map(|v| project(v, brief)).collect(),
                r.total,
            )
        }
        _ => (Vec::new(), 0),
    };
    let mut notes = Vec::new();
    let mut enrichment = json!({"kind": kind.name()});
    let detail = match kind {
        Kind::NgSiem => {
            let r = ngsiem_events(ctx, &alert, &id, a.events);
            json!({"related_events": step(&mut notes, "NG-SIEM events", r)})
        }
        Kind::Endpoint => {
            let b = process_tree::behaviors(ctx, &alert, &id);
            let behaviors = step(&mut notes, "EDR behaviors", b);
            let (tree, note) = process_tree::tree(ctx, &alert);
            notes.extend(note);
            json!({"behaviors": behaviors, "process_tree": tree})
        }
        Kind::Cloud | Kind::Identity | Kind::ThirdParty | Kind::Other => {
            json!({"payload": payload(&alert), "note": payload_note(kind)})
        }
    };
    if let (Value::Object(e), Value::Object(d)) = (&mut enrichment, detail) {
        e.extend(d.into_iter().filter(|(_, v)| !v.is_null()));
        if !notes.is_empty() {
            e.insert("notes".into(), json!(notes));
        }
    }
    let where_ = host
        .get("hostname")
        .and_then(Value::as_str)
        .map(String::from)
        .or_else(|| non_empty(&alert, "/cloud_account_id").map(|a| format!("cloud account {a}")))
        .unwrap_or_else(|| "no host".to_string());
    let summary = format!(
        "{} ({} {}, {}, {}) on {where_}; {related_total} related alert(s); {}.",
        alert
            .get("display_name")
            .and_then(Value::as_str)
            .unwrap_or("alert"),
        kind.name(),
        alert
            .get("severity_name")
            .and_then(Value::as_str)
            .unwrap_or("?"),
        alert
            .get("technique_id")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .unwrap_or("no technique"),
        alert.get("status").and_then(Value::as_str).unwrap_or("?"),
        enrichment_line(&enrichment),
    );
    Ok(Output::json(
        summary,
        &json!({
            "alert": project(&alert, ANALYSIS_FIELDS),
            "actions_taken": actions_taken(&alert),
            "host": host,
            "related": {"total": related_total, "results": related},
            "enrichment": enrichment,
        }),
    ))
}

/// The enrichment in a few words, for the summary line.
fn enrichment_line(e: &Value) -> String {
    let count = |p: &str| e.pointer(p).and_then(Value::as_array).map_or(0, Vec::len);
    let mut s = match e["kind"].as_str().unwrap_or("") {
        "ngsiem" => format!(
            "{} related NG-SIEM event(s)",
            count("/related_events/events")
        ),
        "endpoint" => format!(
            "{} behavior(s), process tree with {} child process(es)",
            count("/behaviors"),
            e.pointer("/process_tree/triggering/children")
                .and_then(Value::as_array)
                .map_or(0, Vec::len)
        ),
        _ => "payload metadata".to_string(),
    };
    if let Some(n) = e.get("notes").and_then(Value::as_array) {
        s.push_str(&format!(
            " ({} enrichment step(s) unavailable, see notes)",
            n.len()
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use aerie_sdk::testing::MockEnv;

    const AID: &str = "5388c592189444ad9e84df071c8f3954";
    const CID: &str = "8693deb4bf134cfb8855ee118d9a0243";
    const IND: &str = "0123456789abcdef0123456789abcdef";
    const DET: &str = "fedcba9876543210fedcba9876543210";

    fn call(env: &MockEnv, id: &str) -> Value {
        crate::plugin()
            .call(
                env,
                "detections_analyze_alert",
                &json!({"id": id}).to_string(),
            )
            .unwrap()
            .structured
            .unwrap()
    }

    fn job(env: MockEnv, events: Value) -> MockEnv {
        env.reply("StartSearchV1", 200, json!({"id": "j"}))
            .reply(
                "GetSearchStatusV1",
                200,
                json!({"done": true, "events": events, "metaData": {"eventCount": events.as_array().map_or(0, Vec::len)}}),
            )
            .reply_bytes("StopSearchV1", 204, Vec::new())
    }

    #[test]
    fn kinds_route_by_product_then_composite_type() {
        let k = |p: &str, id: &str| kind_of(&json!({ "product": p }), id);
        assert_eq!(k("epp", "c:ind:a:1"), Kind::Endpoint);
        assert_eq!(k("ngsiem", "c:x:a:1"), Kind::NgSiem);
        assert_eq!(k("idp", "c:ldt:a:1"), Kind::Identity);
        assert_eq!(k("cwpp", "c:fcs:ioa-1:u"), Kind::Cloud);
        assert_eq!(k("", "c:fcs:ioa-1:u"), Kind::Cloud);
        assert_eq!(k("", "c:thirdparty:c:1"), Kind::ThirdParty);
        assert_eq!(k("mobile", "c:mob:a:1"), Kind::Other);
    }

    #[test]
    fn ngsiem_alert_fetches_the_detections_events_in_two_steps() {
        let id = format!("{CID}:ngsiem:{CID}:{IND}");
        let alert = json!({"composite_id": id, "product": "ngsiem", "display_name": "Brute force", "timestamp": "2025-06-13T02:01:54.602Z"});
        let env =
            MockEnv::new().reply("PostEntitiesAlertsV2", 200, json!({ "resources": [alert] }));
        let env = job(
            env,
            json!([{"Ngsiem.indicator.id": IND, "Ngsiem.detection.id": DET}]),
        );
        let env = job(
            env,
            json!([{"@timestamp": 2, "#event_simpleName": "UserLogon", "cid": CID}, {"@timestamp": 1, "#event_simpleName": "UserLogonFailed2"}]),
        );
        let s = call(&env, &id);
        let e = &s["enrichment"];
        assert_eq!(e["kind"], "ngsiem");
        assert_eq!(e["related_events"]["detection_id"], DET);
        let events = e["related_events"]["events"].as_array().unwrap();
        assert_eq!(
            events[0]["#event_simpleName"], "UserLogonFailed2",
            "oldest first"
        );
        assert!(events[1].get("cid").is_none());
        let starts = env.calls_to("StartSearchV1");
        let q = |i: usize| {
            starts[i].body_json().unwrap()["queryString"]
                .as_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(q(0), format!("Ngsiem.indicator.id=\"{IND}\""));
        assert_eq!(q(1), format!("Ngsiem.detection.id=\"{DET}\" | tail(10)"));
        // The window ends an hour after the alert.
        assert_eq!(
            starts[0].body_json().unwrap()["end"],
            1_749_780_114_602i64 + 3_600_000
        );
        assert_eq!(env.calls_to("StopSearchV1").len(), 2);
    }

    #[test]
    fn endpoint_alert_builds_the_process_tree_and_degrades_without_ngsiem() {
        let id = format!("{CID}:ind:{AID}:1-2-3");
        let alert = json!({"composite_id": id, "product": "epp", "agent_id": AID, "process_id": "100", "process_start_time": "1749780114",
                           "filename": "rundll32.exe", "parent_details": {"filename": "cmd.exe", "process_id": "90"},
                           "grandparent_details": {"filename": "explorer.exe"}, "incident": {"id": "inc:x:y"}});
        let base = || {
            MockEnv::new()
                .reply("PostEntitiesAlertsV2", 200, json!({ "resources": [alert.clone()] }))
                .reply("PostDeviceDetailsV2", 200, json!({"resources": [{"device_id": AID, "hostname": "WS1"}]}))
                .reply("GetQueriesAlertsV2", 200, json!({"resources": []}))
                .reply("QueryBehaviors", 200, json!({"resources": ["b1"]}))
                .reply("GetBehaviors", 200, json!({"resources": [{"behavior_id": "b1", "alert_ids": [id], "timestamp": "t"}]}))
        };
        let env = job(
            base(),
            json!([
                {"#event_simpleName": "ProcessRollup2", "TargetProcessId": "100", "SHA256HashData": "ab", "@timestamp": 1},
                {"#event_simpleName": "ProcessRollup2", "ParentProcessId": "100", "TargetProcessId": "101", "FileName": "whoami.exe", "@timestamp": 2},
                {"#event_simpleName": "DnsRequest", "ContextProcessId": "100", "DomainName": "bad.example", "@timestamp": 3}
            ]),
        );
        let s = call(&env, &id);
        let e = &s["enrichment"];
        assert_eq!(e["behaviors"][0]["this_alert"], true);
        let t = &e["process_tree"];
        assert_eq!(t["lineage"][0]["filename"], "explorer.exe");
        assert_eq!(t["lineage"][1]["role"], "parent");
        assert_eq!(t["triggering"]["sha256"], "ab");
        assert_eq!(t["triggering"]["children"][0]["filename"], "whoami.exe");
        assert_eq!(t["triggering"]["dns_requests"][0]["domain"], "bad.example");
        assert_eq!(
            env.calls_to("QueryBehaviors")[0].query_value("filter"),
            Some("incident_id:'inc:x:y'")
        );
        let q = env.calls_to("StartSearchV1")[0].body_json().unwrap();
        assert_eq!(q["start"], 1_749_780_114_000i64 - 300_000);
        assert!(
            q["queryString"]
                .as_str()
                .unwrap()
                .starts_with(&format!("aid=\"{AID}\" (TargetProcessId=\"100\""))
        );
        // NG-SIEM refused: the lineage stands alone, a note says why, the analysis answers.
        let env = base().reply(
            "StartSearchV1",
            403,
            json!({"errors": [{"message": "access denied"}]}),
        );
        let s = call(&env, &id);
        assert_eq!(
            s["enrichment"]["process_tree"]["lineage"][1]["filename"],
            "cmd.exe"
        );
        assert!(
            s["enrichment"]["process_tree"]["triggering"]
                .get("children")
                .is_none()
        );
        let note = s["enrichment"]["notes"][0].as_str().unwrap();
        assert!(
            note.contains("process telemetry unavailable") && note.contains("403"),
            "{s}"
        );
        assert_eq!(s["enrichment"]["behaviors"][0]["behavior_id"], "b1");
    }

    #[test]
    fn cloud_alert_shows_its_payload_without_bookkeeping() {
        let id = format!("{CID}:fcs:ioa-212:7a6b5c4d-3e2f-1a0b-9c8d-7e6f5a4b3c2d");
        let alert = json!({"composite_id": id, "product": "cwpp", "agent_id": "", "cloud_account_id": "123456789012",
                           "resource_id": "arn:aws:s3:::b", "show_in_ui": true, "seconds_to_triaged": 0, "tags": []});
        let env = MockEnv::new()
            .reply("PostEntitiesAlertsV2", 200, json!({ "resources": [alert] }))
            .reply("GetQueriesAlertsV2", 200, json!({"resources": []}));
        let s = call(&env, &id);
        let p = &s["enrichment"]["payload"];
        assert_eq!(p["resource_id"], "arn:aws:s3:::b");
        assert!(
            p.get("show_in_ui").is_none() && p.get("composite_id").is_none(),
            "{p}"
        );
        assert!(
            env.calls_to("PostDeviceDetailsV2").is_empty(),
            "no host to look up"
        );
        assert!(env.calls_to("StartSearchV1").is_empty());
        let f = env.calls_to("GetQueriesAlertsV2")[0]
            .query_value("filter")
            .unwrap()
            .to_string();
        assert_eq!(
            f,
            format!("cloud_account_id:'123456789012'+composite_id:!'{id}'")
        );
    }
}
