//! The `detections` tool group: unified alerts (search, details, status updates, analysis) and
//! incidents with their behavior timeline (reference §4.1, §4.3).

mod mcp;

use aerie_sdk::fql::{self, Fql};
use aerie_sdk::{
    Ctx, Hydrate, Output, Plugin, Resource, Shape, ToolError, ToolSpec, check_window, ids, project,
    prune,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

mod analysis;
mod process_tree;

const GUIDE: &str = "falcon://fql/alerts";

/// Alerts by composite id. The API documents no batch maximum for reads (reference §5, U);
/// 1000 matches the documented update limit and is above any page size we request.
const ALERTS: Hydrate =
    Hydrate::body("PostEntitiesAlertsV2", "composite_ids", 1000).ordered_by("composite_id");
const INCIDENTS: Hydrate = Hydrate::body("GetIncidents", "ids", 500).ordered_by("incident_id");
const BEHAVIORS: Hydrate = Hydrate::body("GetBehaviors", "ids", 500);
const DEVICES: Hydrate = Hydrate::body("PostDeviceDetailsV2", "ids", 5000);

/// Alert fields kept in search results.
const ALERT_SUMMARY: &[&str] = &[
    "composite_id",
    "display_name",
    "severity",
    "severity_name",
    "status",
    "product",
    "tactic",
    "technique",
    "technique_id",
    "created_timestamp",
    "device.hostname",
    "device.device_id",
    "filename",
    "sha256",
    "user_name",
    "tags",
    "assigned_to_name",
];

const INCIDENT_SUMMARY: &[&str] = &[
    "incident_id",
    "name",
    "state",
    "status",
    "fine_score",
    "start",
    "end",
    "host_ids",
    "users",
    "tactics",
    "techniques",
    "tags",
    "assigned_to_name",
];

const ALERT_SORT: &[&str] = &[
    "created_timestamp",
    "updated_timestamp",
    "timestamp",
    "severity",
    "status",
];
const INCIDENT_SORT: &[&str] = &[
    "start",
    "end",
    "modified_timestamp",
    "name",
    "sort_score",
    "state",
    "status",
];

fn d20() -> u32 {
    20
}
fn d25() -> u32 {
    25
}

// Alert workflow status (no doc comment: it would repeat in every schema using it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum AlertStatus {
    New,
    InProgress,
    Closed,
    Reopened,
}

impl AlertStatus {
    fn as_str(self) -> &'static str {
        match self {
            AlertStatus::New => "new",
            AlertStatus::InProgress => "in_progress",
            AlertStatus::Closed => "closed",
            AlertStatus::Reopened => "reopened",
        }
    }
}

/// Detecting products (reference §4.1); validated here rather than as a schema enum to keep the
/// schema small — the FQL guide lists them.
const PRODUCTS: &[&str] = &[
    "epp",
    "idp",
    "mobile",
    "xdr",
    "overwatch",
    "cwpp",
    "ngsiem",
    "thirdparty",
    "data-protection",
];

/// Arguments of `detections_search`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SearchArgs {
    /// high 60, critical 80
    #[schemars(range(min = 1, max = 100))]
    min_severity: Option<u8>,
    status: Option<AlertStatus>,
    /// epp, idp, ngsiem, xdr, thirdparty…
    product: Option<String>,
    /// 24h, 7d or RFC 3339
    since: Option<String>,
    /// As since
    until: Option<String>,
    hostname: Option<String>,
    /// FQL, ANDed
    filter: Option<String>,
    /// field.desc
    sort: Option<String>,
    #[schemars(range(min = 1, max = 200))]
    #[serde(default = "d20")]
    limit: u32,
    #[serde(default)]
    offset: u32,
}

fn time_arg(v: Option<&str>) -> Result<Option<String>, ToolError> {
    v.map(fql::since).transpose().map_err(ToolError::invalid)
}

fn alert_filter(a: &SearchArgs) -> Result<Option<String>, ToolError> {
    if let Some(f) = &a.filter {
        fql::lint(f).map_err(ToolError::invalid)?;
    }
    let since = time_arg(a.since.as_deref())?;
    let until = time_arg(a.until.as_deref())?;
    let product = match a
        .product
        .as_deref()
        .map(str::trim)
        .map(str::to_ascii_lowercase)
    {
        Some(p) if PRODUCTS.contains(&p.as_str()) => Some(p),
        Some(p) => {
            return Err(ToolError::invalid(format!(
                "unknown product `{p}`; use one of {}",
                PRODUCTS.join(", ")
            )));
        }
        None => None,
    };
    Ok(Fql::new()
        .opt(a.min_severity, |f, s| f.gte("severity", s))
        .opt(a.status, |f, s| f.eq("status", s.as_str()))
        .opt(product, |f, p| f.eq("product", p))
        .opt(since, |f, t| f.gte("created_timestamp", t))
        .opt(until, |f, t| f.lte("created_timestamp", t))
        .opt(a.hostname.as_deref(), |f, h| f.eq("device.hostname", h))
        .raw(a.filter.as_deref())
        .build())
}

/// Run an alert query (filter and/or free text) and hydrate the page.
fn alert_search(
    ctx: &Ctx<'_>,
    filter: Option<String>,
    q: Option<&str>,
    sort: Option<&str>,
    limit: u32,
    offset: u32,
) -> Result<Output, ToolError> {
    let sort = fql::sort_param(sort, ALERT_SORT, false).map_err(ToolError::invalid)?;
    let query = ctx
        .op("GetQueriesAlertsV2")
        .query_opt("filter", filter)
        .query_opt("q", q)
        .query(
            "sort",
            sort.unwrap_or_else(|| "created_timestamp.desc".into()),
        )
        .query("limit", limit)
        .query("offset", offset);
    Ok(ctx
        .search(query, u64::from(offset), &ALERTS)?
        .map(|v| project(v, ALERT_SUMMARY))
        .into_output("alerts"))
}

fn search(ctx: &Ctx<'_>, a: SearchArgs) -> Result<Output, ToolError> {
    check_window(a.offset, a.limit)?;
    let filter = alert_filter(&a)?;
    alert_search(ctx, filter, None, a.sort.as_deref(), a.limit, a.offset)
}

/// Arguments naming alerts.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct GetArgs {
    /// Composite ids
    #[schemars(length(min = 1, max = 50))]
    ids: Vec<String>,
}

fn get(ctx: &Ctx<'_>, a: GetArgs) -> Result<Output, ToolError> {
    let cids = ids::list(&a.ids, 50, "composite alert id", ids::composite_alert_id)?;
    let alerts: Vec<Value> = ctx
        .hydrate_all(&ALERTS, &cids, "alert")?
        .into_iter()
        .map(prune)
        .collect();
    Ok(Output::json(
        format!("{} alert(s).", alerts.len()),
        &json!({ "alerts": alerts }),
    ))
}

// Resolution recorded as the tag the console's Resolution column reads.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Resolution {
    TruePositive,
    FalsePositive,
    Ignored,
}

/// Arguments of `detections_update_status`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct UpdateArgs {
    /// Composite ids
    #[schemars(length(min = 1, max = 1000))]
    ids: Vec<String>,
    status: Option<AlertStatus>,
    resolution: Option<Resolution>,
    comment: Option<String>,
    add_tags: Option<Vec<String>>,
    remove_tags: Option<Vec<String>>,
}

/// The `action_parameters` of an alerts v3 PATCH; all values are strings (reference §4.1).
fn action_parameters(a: &UpdateArgs) -> Result<Vec<Value>, ToolError> {
    let mut p = Vec::new();
    let param = |name: &str, value: &str| json!({"name": name, "value": value});
    let tag_ok = |t: &str| !t.trim().is_empty() && t.len() <= 100;
    // Falcon applies removes before adds within one request.
    for t in a.remove_tags.iter().flatten() {
        if !tag_ok(t) {
            return Err(ToolError::invalid(format!(
                "tag `{t}` must be 1-100 characters"
            )));
        }
        p.push(param("remove_tag", t.trim()));
    }
    for t in a.add_tags.iter().flatten() {
        if !tag_ok(t) {
            return Err(ToolError::invalid(format!(
                "tag `{t}` must be 1-100 characters"
            )));
        }
        p.push(param("add_tag", t.trim()));
    }
    if let Some(r) = a.resolution {
        let tag = match r {
            Resolution::TruePositive => "true_positive",
            Resolution::FalsePositive => "false_positive",
            Resolution::Ignored => "ignored",
        };
        p.push(param("add_tag", tag));
    }
    if let Some(s) = a.status {
        p.push(param("update_status", s.as_str()));
    }
    if let Some(c) = a
        .comment
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        p.push(param("append_comment", c));
    }
    if p.is_empty() {
        return Err(ToolError::invalid(
            "nothing to change: give status, resolution, comment, add_tags or remove_tags",
        ));
    }
    Ok(p)
}

fn update(ctx: &Ctx<'_>, a: UpdateArgs) -> Result<Output, ToolError> {
    let cids = ids::list(&a.ids, 1000, "composite alert id", ids::composite_alert_id)?;
    let params = action_parameters(&a)?;
    let env = ctx
        .op("PatchEntitiesAlertsV3")
        .verified_by("detections_get")
        .body_json(&json!({"composite_ids": cids, "action_parameters": params}))?
        .envelope()?;
    let changes: Vec<String> = params
        .iter()
        .map(|p| {
            format!(
                "{}={}",
                p["name"].as_str().unwrap_or(""),
                p["value"].as_str().unwrap_or("")
            )
        })
        .collect();
    Ok(Output::json(
        format!("Updated {} alert(s): {}.", cids.len(), changes.join(", ")),
        &json!({"updated": cids, "changes": params, "errors": env.errors}),
    ))
}

// Incident state.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum IncidentState {
    Open,
    Closed,
}

/// Arguments of `detections_list_incidents`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct IncidentsArgs {
    state: Option<IncidentState>,
    #[schemars(range(max = 100))]
    min_score: Option<u8>,
    /// 24h, 7d or RFC 3339
    since: Option<String>,
    /// FQL, ANDed
    filter: Option<String>,
    /// field.desc
    sort: Option<String>,
    #[schemars(range(min = 1, max = 100))]
    #[serde(default = "d20")]
    limit: u32,
    #[serde(default)]
    offset: u32,
}

/// The console's name for an incident's numeric status.
fn incident_status_name(status: &Value) -> Option<&'static str> {
    match status.as_i64()? {
        20 => Some("new"),
        25 => Some("reopened"),
        30 => Some("in_progress"),
        40 => Some("closed"),
        _ => None,
    }
}

fn incident_summary(v: &Value) -> Value {
    let mut out = project(v, INCIDENT_SUMMARY);
    if let (Some(name), Value::Object(m)) =
        (v.get("status").and_then(incident_status_name), &mut out)
    {
        m.insert("status_name".into(), json!(name));
    }
    out
}

fn list_incidents(ctx: &Ctx<'_>, a: IncidentsArgs) -> Result<Output, ToolError> {
    check_window(a.offset, a.limit)?;
    if let Some(f) = &a.filter {
        fql::lint(f).map_err(ToolError::invalid)?;
    }
    let since = time_arg(a.since.as_deref())?;
    let filter = Fql::new()
        .opt(a.state, |f, s| {
            f.eq("state", format!("{s:?}").to_lowercase())
        })
        .opt(a.min_score, |f, s| f.gte("fine_score", s))
        .opt(since, |f, t| f.gte("start", t))
        .raw(a.filter.as_deref())
        .build();
    let sort =
        fql::sort_param(a.sort.as_deref(), INCIDENT_SORT, false).map_err(ToolError::invalid)?;
    let query = ctx
        .op("QueryIncidents")
        .query_opt("filter", filter)
        .query("sort", sort.unwrap_or_else(|| "start.desc".into()))
        .query("limit", a.limit)
        .query("offset", a.offset);
    Ok(ctx
        .search(query, u64::from(a.offset), &INCIDENTS)?
        .map(incident_summary)
        .into_output("incidents"))
}

/// Arguments of `detections_get_incident`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct IncidentArgs {
    /// inc:…
    id: String,
    /// Timeline size
    #[schemars(range(max = 200))]
    #[serde(default = "d25")]
    behaviors: u32,
}

const BEHAVIOR_FIELDS: &[&str] = &[
    "timestamp",
    "behavior_id",
    "aid",
    "display_name",
    "tactic",
    "technique",
    "technique_id",
    "objective",
    "filepath",
    "cmdline",
    "sha256",
    "user_name",
    "alert_ids",
];

/// Behaviors as a timeline: oldest first, trimmed to the fields an analyst reads.
fn timeline(mut behaviors: Vec<Value>) -> Vec<Value> {
    behaviors.sort_by(|a, b| {
        let t = |v: &Value| {
            v.get("timestamp")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        t(a).cmp(&t(b))
    });
    behaviors
        .iter()
        .map(|b| project(b, BEHAVIOR_FIELDS))
        .collect()
}

fn get_incident(ctx: &Ctx<'_>, a: IncidentArgs) -> Result<Output, ToolError> {
    let id = ids::incident_id(&a.id)?;
    let incident = ctx
        .hydrate_all(&INCIDENTS, std::slice::from_ref(&id), "incident")?
        .into_iter()
        .next()
        .map(|i| {
            let mut i = prune(i);
            if let (Some(name), Value::Object(m)) =
                (i.get("status").and_then(incident_status_name), &mut i)
            {
                m.insert("status_name".into(), json!(name));
            }
            i
        })
        .unwrap_or(Value::Null);
    let (events, total) = if a.behaviors == 0 {
        (Vec::new(), 0)
    } else {
        let q = ctx
            .op("QueryBehaviors")
            .query(
                "filter",
                Fql::new()
                    .eq("incident_id", id.as_str())
                    .build()
                    .unwrap_or_default(),
            )
            .query("sort", "timestamp.asc")
            .query("limit", a.behaviors);
        let env = q.envelope()?;
        let total = env.total();
        (timeline(ctx.hydrate(&BEHAVIORS, &env.ids())?), total)
    };
    Ok(Output::json(
        format!(
            "Incident {id}: {} of {total} behaviors in the timeline.",
            events.len()
        ),
        &json!({"incident": incident, "timeline": events, "behaviors_total": total}),
    ))
}

/// The `detections` plugin.
pub fn plugin() -> Plugin {
    let p = Plugin::new(
        "detections",
        env!("CARGO_PKG_VERSION"),
        "Falcon alerts and incidents: triage, analysis, status",
    )
    .tool(
        ToolSpec::read(
            "detections_search",
            "Search detections",
            "Alerts by severity, status, product, time, host or FQL (falcon://fql/alerts)",
        )
        .ops(&["GetQueriesAlertsV2", "PostEntitiesAlertsV2"])
        .output(Shape::Search)
        .guide(GUIDE),
        search,
    )
    .tool(
        ToolSpec::read(
            "detections_get",
            "Get detection details",
            "Full alerts by composite id",
        )
        .ops(&["PostEntitiesAlertsV2"])
        .output(Shape::List("alerts")),
        get,
    )
    .tool(
        ToolSpec::write(
            "detections_update_status",
            "Update detection status",
            "Set alert status, resolution tag, comment and tags",
        )
        .ops(&["PatchEntitiesAlertsV3"])
        .output(Shape::Fields("updated:array changes:array errors:array")),
        update,
    )
    .tool(
        ToolSpec::read(
            "detections_list_incidents",
            "List incidents",
            "Incidents by state, score, start or FQL (falcon://fql/alerts)",
        )
        .ops(&["QueryIncidents", "GetIncidents"])
        .output(Shape::Search)
        .guide(GUIDE),
        list_incidents,
    )
    .tool(
        ToolSpec::read(
            "detections_get_incident",
            "Get incident details",
            "Incident with its behavior timeline (oldest first)",
        )
        .ops(&["GetIncidents", "QueryBehaviors", "GetBehaviors"])
        .output(Shape::Fields(
            "incident:object timeline:array behaviors_total:integer",
        )),
        get_incident,
    )
    .tool(
        ToolSpec::read(
            "detections_analyze_alert",
            "Analyze alert",
            "Alert with host, related alerts and enrichment by type: NG-SIEM events, endpoint behaviors and process tree, cloud/identity/third-party payload",
        )
        .ops(&[
            "PostEntitiesAlertsV2",
            "PostDeviceDetailsV2",
            "GetQueriesAlertsV2",
            "QueryBehaviors",
            "GetBehaviors",
            "StartSearchV1",
            "GetSearchStatusV1",
            "StopSearchV1",
        ])
        .not_cacheable()
        .output(Shape::Fields(
            "alert:object actions_taken:array host:object|null related:object enrichment:object",
        ))
        .guide(GUIDE),
        analysis::analyze,
    )
    .resource(Resource::markdown(
        GUIDE,
        "Alert and incident FQL guide",
        "FQL syntax and fields for alerts and incidents",
        include_str!("fql_alerts.md"),
    ));
    mcp::add(p)
}

aerie_sdk::export_plugin!(plugin);

#[cfg(test)]
mod tests {
    use super::*;
    use aerie_sdk::testing::MockEnv;

    const AID: &str = "5388c592189444ad9e84df071c8f3954";
    const CID: &str = "8693deb4bf134cfb8855ee118d9a0243";

    fn comp(n: u32) -> String {
        format!("{CID}:ind:{AID}:1211991289{n}-10304-117513744")
    }

    fn alert(n: u32) -> Value {
        json!({
            "composite_id": comp(n), "display_name": "CredentialDumpingViaLsass", "severity": 85,
            "severity_name": "Critical", "status": "new", "agent_id": AID, "sha256": "a".repeat(64),
            "technique_id": "T1003", "cid": CID, "tags": [],
            "mitre_attack": [{"tactic_id": "TA0006", "technique_id": "T1003"}],
            "pattern_disposition_details": {"detect": false, "kill_process": true},
            "device": {"device_id": AID, "hostname": "WS-FIN-042"}
        })
    }

    fn call(env: &MockEnv, tool: &str, args: Value) -> Result<Output, ToolError> {
        plugin().call(env, tool, &args.to_string())
    }

    #[test]
    fn declarations_are_valid_and_compact() {
        let p = plugin();
        p.validate().unwrap();
        // The tools/list budget is 450 bytes per tool on average across all groups; this group's
        // search tools are the densest, so its own bound is 480.
        let d = p.describe();
        let avg = d.average_tool_bytes();
        assert!(avg < 480, "average tool size {avg} bytes");
    }

    #[test]
    fn search_filter_and_paging() {
        let env = MockEnv::new()
            .reply(
                "GetQueriesAlertsV2",
                200,
                json!({"meta": {"pagination": {"offset": 0, "limit": 1, "total": 5}}, "resources": [comp(1)]}),
            )
            .reply("PostEntitiesAlertsV2", 200, json!({"resources": [alert(1)]}));
        let out = call(
            &env,
            "detections_search",
            json!({"min_severity": 60, "status": "new", "product": "epp", "since": "24h", "hostname": "WS'1", "limit": 1}),
        )
        .unwrap();
        let q = &env.calls_to("GetQueriesAlertsV2")[0];
        assert_eq!(
            q.query_value("filter"),
            Some(
                r"severity:>=60+status:'new'+product:'epp'+created_timestamp:>='now-24h'+device.hostname:'WS\'1'"
            )
        );
        assert_eq!(
            env.calls_to("PostEntitiesAlertsV2")[0].body_json().unwrap(),
            json!({"composite_ids": [comp(1)]})
        );
        let s = out.structured.unwrap();
        assert_eq!(s["next"], 1);
        assert_eq!(s["results"][0]["device"]["hostname"], "WS-FIN-042");
        assert!(s["results"][0].get("mitre_attack").is_none());
    }

    #[test]
    fn get_validates_ids_first() {
        let env = MockEnv::new();
        let e = call(&env, "detections_get", json!({"ids": ["ind:123"]})).unwrap_err();
        assert!(matches!(e, ToolError::InvalidArguments(_)));
        assert!(env.calls().is_empty());
    }

    #[test]
    fn update_sends_string_action_parameters() {
        let env = MockEnv::new().reply(
            "PatchEntitiesAlertsV3",
            200,
            json!({"meta": {}, "errors": []}),
        );
        call(
            &env,
            "detections_update_status",
            json!({"ids": [comp(1)], "status": "closed", "resolution": "false_positive", "comment": "benign admin tool", "remove_tags": ["x"]}),
        )
        .unwrap();
        let body = env.calls_to("PatchEntitiesAlertsV3")[0]
            .body_json()
            .unwrap();
        assert_eq!(
            body["action_parameters"],
            json!([
                {"name": "remove_tag", "value": "x"},
                {"name": "add_tag", "value": "false_positive"},
                {"name": "update_status", "value": "closed"},
                {"name": "append_comment", "value": "benign admin tool"}
            ])
        );
        let e = call(&env, "detections_update_status", json!({"ids": [comp(1)]})).unwrap_err();
        assert!(matches!(e, ToolError::InvalidArguments(_)));
    }

    #[test]
    fn incident_timeline_is_sorted_and_named() {
        let inc = format!("inc:{AID}:2343cc087cce4683a3c96b49a1e8c864");
        let env = MockEnv::new()
            .reply(
                "GetIncidents",
                200,
                json!({"resources": [{"incident_id": inc, "status": 30, "state": "open"}]}),
            )
            .reply(
                "QueryBehaviors",
                200,
                json!({"meta": {"pagination": {"total": 2}}, "resources": ["b1", "b2"]}),
            )
            .reply(
                "GetBehaviors",
                200,
                json!({"resources": [
                    {"behavior_id": "b2", "timestamp": "2025-06-13T02:10:00Z"},
                    {"behavior_id": "b1", "timestamp": "2025-06-13T02:01:54Z"}
                ]}),
            );
        let out = call(&env, "detections_get_incident", json!({"id": inc})).unwrap();
        let s = out.structured.unwrap();
        assert_eq!(s["incident"]["status_name"], "in_progress");
        assert_eq!(s["timeline"][0]["behavior_id"], "b1");
        assert_eq!(
            env.calls_to("QueryBehaviors")[0].query_value("filter"),
            Some(format!("incident_id:'{inc}'").as_str())
        );
    }

    #[test]
    fn analyze_collects_host_and_related() {
        let env = MockEnv::new()
            .reply("PostEntitiesAlertsV2", 200, json!({"resources": [alert(1)]}))
            .reply("PostDeviceDetailsV2", 200, json!({"resources": [{"device_id": AID, "hostname": "WS-FIN-042", "status": "normal"}]}))
            .reply(
                "GetQueriesAlertsV2",
                200,
                json!({"meta": {"pagination": {"total": 1}}, "resources": [comp(2)]}),
            )
            .reply("PostEntitiesAlertsV2", 200, json!({"resources": [alert(2)]}));
        let out = call(&env, "detections_analyze_alert", json!({"id": comp(1)})).unwrap();
        let s = out.structured.unwrap();
        assert_eq!(s["host"]["status"], "normal");
        assert_eq!(s["actions_taken"], json!(["kill_process"]));
        assert_eq!(s["related"]["total"], 1);
        let f = env.calls_to("GetQueriesAlertsV2")[0]
            .query_value("filter")
            .unwrap()
            .to_string();
        assert_eq!(
            f,
            format!(
                "(agent_id:'{AID}',sha256:'{}')+composite_id:!'{}'",
                "a".repeat(64),
                comp(1)
            )
        );
        assert!(out.text.contains("WS-FIN-042"));
    }
}
