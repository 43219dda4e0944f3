//! Writes to cases: create, versioned update, alert and event evidence, tags.
//!
//! Evidence alerts are looked up before they are attached, so a case built from an
//! investigation names only alerts that exist; an update is sent with `expected_version` (the
//! caller's, else the version just read), so a change made by someone else in between is
//! refused rather than overwritten.

use aerie_sdk::{Ctx, Output, Plugin, Shape, ToolError, ToolSpec, ids, project};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::{ALERTS, CASES, Status, case_id, summary, user_uuid};

/// Alert fields shown for attached evidence.
const ALERT_BRIEF: &[&str] = &[
    "composite_id",
    "display_name",
    "severity_name",
    "device.hostname",
    "sha256",
];

/// Most evidence items of one call (a case holds at most 100).
const MAX_EVIDENCE: usize = 100;

/// Read one case (not-found names it).
pub(crate) fn read_case(ctx: &Ctx<'_>, id: &str) -> Result<Value, ToolError> {
    ctx.hydrate_all(&CASES, &[id.to_string()], "case")?
        .into_iter()
        .next()
        .ok_or_else(|| ToolError::not_found(format!("case {id}")))
}

/// The case an evidence or tag write answered with.
fn answered_case(env: &aerie_sdk::Envelope) -> Value {
    env.resources.first().cloned().unwrap_or(Value::Null)
}

fn reference(case: &Value) -> String {
    case["reference_id"]
        .as_str()
        .or(case["id"].as_str())
        .unwrap_or("the case")
        .to_string()
}

fn tag_list(tags: &[String]) -> Result<Vec<String>, ToolError> {
    ids::list(tags, 20, "tag", |t| {
        let t = t.trim();
        if t.is_empty() || t.len() > 100 || t.chars().any(char::is_control) {
            Err(ToolError::invalid(format!(
                "tag `{t}` must be 1-100 characters on one line"
            )))
        } else {
            Ok(t.to_string())
        }
    })
}

/// An NG-SIEM event id (`@id`).
fn event_id(value: &str) -> Result<String, ToolError> {
    let v = value.trim();
    let ok = !v.is_empty()
        && v.len() <= 128
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'.' | b'-'));
    if ok {
        Ok(v.to_string())
    } else {
        Err(ToolError::invalid(format!(
            "`{value}` is not an NG-SIEM event id (the event's @id)"
        )))
    }
}

/// Validated composite alert ids that exist; a missing one is a not-found naming it.
fn existing_alerts(ctx: &Ctx<'_>, alert_ids: &[String]) -> Result<Vec<Value>, ToolError> {
    let ids = ids::list(
        alert_ids,
        MAX_EVIDENCE,
        "composite alert id",
        ids::composite_alert_id,
    )?;
    let alerts = ctx.hydrate_all(&ALERTS, &ids, "alert")?;
    Ok(alerts.iter().map(|a| project(a, ALERT_BRIEF)).collect())
}

fn as_records(ids: &[String]) -> Vec<Value> {
    ids.iter().map(|id| json!({"id": id})).collect()
}

fn alert_records(alerts: &[Value]) -> Vec<Value> {
    alerts
        .iter()
        .map(|a| json!({"id": a["composite_id"]}))
        .collect()
}

/// Arguments of `cases_create`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CreateArgs {
    name: String,
    /// 60+ high
    #[schemars(range(min = 1, max = 100))]
    severity: u8,
    description: Option<String>,
    status: Option<Status>,
    /// User UUID
    assignee: Option<String>,
    tags: Option<Vec<String>>,
    /// Composite ids
    alert_ids: Option<Vec<String>>,
    /// NG-SIEM @ids
    event_ids: Option<Vec<String>>,
}

fn create(ctx: &Ctx<'_>, a: CreateArgs) -> Result<Output, ToolError> {
    let name = a.name.trim();
    if name.is_empty() || name.len() > 300 {
        return Err(ToolError::invalid("name must be 1-300 characters"));
    }
    if !(1..=100).contains(&a.severity) {
        return Err(ToolError::invalid("severity must be from 1 to 100"));
    }
    let assignee = a.assignee.as_deref().map(user_uuid).transpose()?;
    let tags = a.tags.as_deref().map(tag_list).transpose()?;
    let events = a
        .event_ids
        .as_deref()
        .map(|e| ids::list(e, MAX_EVIDENCE, "event id", event_id))
        .transpose()?
        .unwrap_or_default();
    let alerts = match a.alert_ids.as_deref() {
        Some(list) => existing_alerts(ctx, list)?,
        None => Vec::new(),
    };
    let mut body = json!({
        "name": name,
        "description": a.description.as_deref().unwrap_or_default(),
        "severity": a.severity,
        "status": a.status.unwrap_or(Status::New).as_str(),
        "evidence": {"alerts": alert_records(&alerts), "events": as_records(&events), "leads": []},
    });
    if let Some(u) = assignee {
        body["assigned_to_user_uuid"] = json!(u);
    }
    if let Some(t) = tags {
        body["tags"] = json!(t);
    }
    let env = ctx
        .op("entities_cases_put_v2")
        .verified_by("cases_search")
        .body_json(&body)?
        .envelope()?;
    let case = answered_case(&env);
    Ok(Output::json(
        format!(
            "Created case {} with {} alert(s) and {} event(s) as evidence.",
            reference(&case),
            alerts.len(),
            events.len()
        ),
        &json!({"case": summary(&case), "alerts": alerts}),
    ))
}

/// Arguments of `cases_update`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct UpdateArgs {
    id: String,
    status: Option<Status>,
    #[schemars(range(min = 1, max = 100))]
    severity: Option<u8>,
    /// User UUID
    assignee: Option<String>,
    #[serde(default)]
    unassign: bool,
    description: Option<String>,
    name: Option<String>,
    /// Version you read
    expected_version: Option<i64>,
}

fn update_fields(a: &UpdateArgs) -> Result<Map<String, Value>, ToolError> {
    let mut f = Map::new();
    if let Some(s) = a.status {
        f.insert("status".into(), json!(s.as_str()));
    }
    if let Some(s) = a.severity {
        if !(1..=100).contains(&s) {
            return Err(ToolError::invalid("severity must be from 1 to 100"));
        }
        f.insert("severity".into(), json!(s));
    }
    match (&a.assignee, a.unassign) {
        (Some(_), true) => {
            return Err(ToolError::invalid("give assignee or unassign, not both"));
        }
        (Some(u), false) => {
            f.insert("assigned_to_user_uuid".into(), json!(user_uuid(u)?));
        }
        (None, true) => {
            f.insert("remove_user_assignment".into(), json!(true));
        }
        (None, false) => {}
    }
    if let Some(d) = &a.description {
        f.insert("description".into(), json!(d));
    }
    if let Some(n) = &a.name {
        let n = n.trim();
        if n.is_empty() || n.len() > 300 {
            return Err(ToolError::invalid("name must be 1-300 characters"));
        }
        f.insert("name".into(), json!(n));
    }
    if f.is_empty() {
        return Err(ToolError::invalid(
            "nothing to change: give status, severity, assignee, unassign, description or name",
        ));
    }
    Ok(f)
}

/// Where a field the update sends shows up in the case.
fn current_value(case: &Value, field: &str) -> Value {
    match field {
        "assigned_to_user_uuid" | "remove_user_assignment" => case["assigned_to"]["uuid"].clone(),
        f => case[f].clone(),
    }
}

fn stale(reference: &str, expected: i64, now: i64) -> ToolError {
    ToolError::invalid(format!(
        "case {reference} changed since version {expected}: it is now at version {now}. \
         Re-read it with cases_get, check what changed, and retry with expected_version {now}"
    ))
}

fn update(ctx: &Ctx<'_>, a: UpdateArgs) -> Result<Output, ToolError> {
    let id = case_id(&a.id)?;
    let fields = update_fields(&a)?;
    let before = read_case(ctx, &id)?;
    let current = before["version"].as_i64().unwrap_or_default();
    let expected = a.expected_version.unwrap_or(current);
    // The API has the last word (someone may change the case between our read and the write).
    let reply = ctx
        .op("entities_cases_patch_v2")
        .verified_by("cases_get")
        .subject(format!("case {id}"))
        .body_json(&json!({"id": id, "fields": fields, "expected_version": expected}))?
        .send_allowing(&[409])?;
    if reply.status == 409 {
        let now = read_case(ctx, &id)
            .ok()
            .and_then(|c| c["version"].as_i64())
            .unwrap_or(current);
        return Err(stale(&reference(&before), expected, now));
    }
    let after = answered_case(&reply.envelope()?);
    let changed: Map<String, Value> = fields
        .keys()
        .map(|k| {
            let from = current_value(&before, k);
            let to = current_value(&after, k);
            (k.clone(), json!({"from": from, "to": to}))
        })
        .collect();
    Ok(Output::json(
        format!(
            "Updated case {} to version {}.",
            reference(&after),
            after["version"]
        ),
        &json!({"case": summary(&after), "changed": changed}),
    ))
}

/// Arguments of `cases_add_alert_evidence`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct AlertEvidenceArgs {
    case_id: String,
    /// Composite ids
    #[schemars(length(min = 1, max = 100))]
    alert_ids: Vec<String>,
}

fn evidence_total(case: &Value, kind: &str) -> usize {
    case["evidence"][kind]["records"]
        .as_array()
        .map_or(0, Vec::len)
}

fn add_alert_evidence(ctx: &Ctx<'_>, a: AlertEvidenceArgs) -> Result<Output, ToolError> {
    let id = case_id(&a.case_id)?;
    let alerts = existing_alerts(ctx, &a.alert_ids)?;
    let env = ctx
        .op("entities_alert_evidence_post_v1")
        .verified_by("cases_get")
        .subject(format!("case {id}"))
        .body_json(&json!({"id": id, "alerts": alert_records(&alerts)}))?
        .envelope()?;
    let case = answered_case(&env);
    Ok(Output::json(
        format!(
            "Case {} now holds {} alert(s) as evidence.",
            reference(&case),
            evidence_total(&case, "alerts")
        ),
        &json!({"case": summary(&case), "alerts": alerts}),
    ))
}

/// Arguments of `cases_add_event_evidence`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct EventEvidenceArgs {
    case_id: String,
    /// NG-SIEM @ids
    #[schemars(length(min = 1, max = 100))]
    event_ids: Vec<String>,
}

fn add_event_evidence(ctx: &Ctx<'_>, a: EventEvidenceArgs) -> Result<Output, ToolError> {
    let id = case_id(&a.case_id)?;
    let events = ids::list(&a.event_ids, MAX_EVIDENCE, "event id", event_id)?;
    let env = ctx
        .op("entities_event_evidence_post_v1")
        .verified_by("cases_get")
        .subject(format!("case {id}"))
        .body_json(&json!({"id": id, "events": as_records(&events)}))?
        .envelope()?;
    let case = answered_case(&env);
    Ok(Output::json(
        format!(
            "Case {} now holds {} event(s) as evidence.",
            reference(&case),
            evidence_total(&case, "events")
        ),
        &json!({"case": summary(&case), "events": events}),
    ))
}

/// Arguments of `cases_add_tags`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct TagsArgs {
    case_id: String,
    #[schemars(length(min = 1, max = 20))]
    tags: Vec<String>,
}

/// Arguments of `cases_remove_tags`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RemoveTagsArgs {
    case_id: String,
    #[schemars(length(min = 1, max = 20))]
    tags: Vec<String>,
    #[serde(default)]
    confirm: bool,
}

fn tags_of(case: &Value) -> Vec<String> {
    case["tags"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn add_tags(ctx: &Ctx<'_>, a: TagsArgs) -> Result<Output, ToolError> {
    let id = case_id(&a.case_id)?;
    let tags = tag_list(&a.tags)?;
    let env = ctx
        .op("entities_case_tags_post_v1")
        .verified_by("cases_get")
        .subject(format!("case {id}"))
        .body_json(&json!({"id": id, "tags": tags}))?
        .envelope()?;
    let case = answered_case(&env);
    Ok(Output::json(
        format!(
            "Case {} tags: {}.",
            reference(&case),
            tags_of(&case).join(", ")
        ),
        &json!({"case": summary(&case)}),
    ))
}

fn remove_tags(ctx: &Ctx<'_>, a: RemoveTagsArgs) -> Result<Output, ToolError> {
    let id = case_id(&a.case_id)?;
    let tags = tag_list(&a.tags)?;
    let case = read_case(ctx, &id)?;
    let have = tags_of(&case);
    let (remove, absent): (Vec<String>, Vec<String>) =
        tags.into_iter().partition(|t| have.contains(t));
    if !a.confirm {
        let what = if remove.is_empty() {
            "No tag would be removed.".to_string()
        } else {
            format!(
                "Would remove {} from case {}.",
                remove.join(", "),
                reference(&case)
            )
        };
        return Ok(Output::preview(
            what,
            json!({"case": summary(&case), "would_remove": remove, "not_on_case": absent}),
        ));
    }
    if remove.is_empty() {
        return Ok(Output::json(
            "No tag needed removing.",
            &json!({"applied": false, "case": summary(&case), "not_on_case": absent}),
        ));
    }
    let env = ctx
        .op("entities_case_tags_delete_v1")
        .verified_by("cases_get")
        .subject(format!("case {id}"))
        .query("id", &id)
        .query_all("tag", &remove)
        .envelope()?;
    let after = answered_case(&env);
    Ok(Output::json(
        format!(
            "Removed {} from case {}.",
            remove.join(", "),
            reference(&after)
        ),
        &json!({"applied": true, "removed": remove, "not_on_case": absent, "case": summary(&after)}),
    ))
}

/// Add the write tools on cases.
pub(crate) fn register(p: Plugin) -> Plugin {
    p.tool(
        ToolSpec::write(
            "cases_create",
            "Create case",
            "Open a case, with alerts and events as evidence",
        )
        .ops(&["entities_cases_put_v2", "PostEntitiesAlertsV2"])
        .output(Shape::Fields("case:object alerts:array")),
        create,
    )
    .tool(
        ToolSpec::write(
            "cases_update",
            "Update case",
            "Change status, severity, assignee, name or description; a stale version is refused",
        )
        .ops(&["entities_cases_post_v2", "entities_cases_patch_v2"])
        .output(Shape::Fields("case:object changed:object")),
        update,
    )
    .tool(
        ToolSpec::write(
            "cases_add_alert_evidence",
            "Add alert evidence",
            "Attach alerts to a case as evidence",
        )
        .ops(&["entities_alert_evidence_post_v1", "PostEntitiesAlertsV2"])
        .output(Shape::Fields("case:object alerts:array"))
        .idempotent(),
        add_alert_evidence,
    )
    .tool(
        ToolSpec::write(
            "cases_add_event_evidence",
            "Add event evidence",
            "Attach NG-SIEM events to a case as evidence",
        )
        .ops(&["entities_event_evidence_post_v1"])
        .output(Shape::Fields("case:object events:array"))
        .idempotent(),
        add_event_evidence,
    )
    .tool(
        ToolSpec::write("cases_add_tags", "Add case tags", "Add tags to a case")
            .ops(&["entities_case_tags_post_v1"])
            .output(Shape::Fields("case:object"))
            .idempotent(),
        add_tags,
    )
    .tool(
        ToolSpec::write(
            "cases_remove_tags",
            "Remove case tags",
            "Remove tags from a case; previews unless confirm",
        )
        .ops(&["entities_cases_post_v2", "entities_case_tags_delete_v1"])
        .output(Shape::Fields("applied:boolean case:object"))
        .destructive()
        .idempotent(),
        remove_tags,
    )
}

#[cfg(test)]
mod tests {
    use aerie_sdk::testing::MockEnv;
    use serde_json::json;

    use crate::plugin;

    const CASE: &str = "Y2FzZTo4NjkzZGViNDpjMmQ5ZWZhOTcyYjE0ZTk3";
    const ALERT: &str =
        "8693deb4bf134cfb8855ee118d9a0243:ind:5388c592189444ad9e84df071c8f3954:1-2-3";

    fn case(version: i64, status: &str) -> serde_json::Value {
        json!({"id": CASE, "reference_id": "CAS-1001", "status": status, "version": version, "tags": ["a"]})
    }

    #[test]
    fn update_nests_fields_and_sends_the_version_read() {
        let env = MockEnv::new()
            .reply(
                "entities_cases_post_v2",
                200,
                json!({"resources": [case(4, "new")]}),
            )
            .reply(
                "entities_cases_patch_v2",
                200,
                json!({"resources": [case(5, "closed")]}),
            );
        let out = plugin()
            .call(
                &env,
                "cases_update",
                &json!({"id": CASE, "status": "closed"}).to_string(),
            )
            .unwrap();
        let body = env.calls_to("entities_cases_patch_v2")[0]
            .body_json()
            .unwrap();
        assert_eq!(
            body,
            json!({"id": CASE, "fields": {"status": "closed"}, "expected_version": 4})
        );
        let s = out.structured.unwrap();
        assert_eq!(
            s["changed"]["status"],
            json!({"from": "new", "to": "closed"})
        );
    }

    #[test]
    fn a_stale_version_is_refused_with_the_current_one() {
        let env = MockEnv::new()
            .reply(
                "entities_cases_post_v2",
                200,
                json!({"resources": [case(6, "new")]}),
            )
            .reply(
                "entities_cases_patch_v2",
                409,
                json!({"errors": [{"code": 409, "message": "version conflict"}]}),
            )
            .reply(
                "entities_cases_post_v2",
                200,
                json!({"resources": [case(6, "new")]}),
            );
        let e = plugin()
            .call(
                &env,
                "cases_update",
                &json!({"id": CASE, "severity": 90, "expected_version": 3}).to_string(),
            )
            .unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains("changed since version 3") && m.contains("now at version 6"),
            "{m}"
        );
    }

    #[test]
    fn update_needs_a_change_and_one_assignment_form() {
        let env = MockEnv::new();
        for (args, needle) in [
            (json!({"id": CASE}), "nothing to change"),
            (
                json!({"id": CASE, "assignee": "1f0e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b", "unassign": true}),
                "not both",
            ),
            (json!({"id": CASE, "severity": 0}), "1 to 100"),
        ] {
            let e = plugin()
                .call(&env, "cases_update", &args.to_string())
                .unwrap_err();
            assert!(e.to_string().contains(needle), "{needle}: {e}");
        }
        assert!(env.calls().is_empty());
    }

    #[test]
    fn alert_evidence_is_checked_then_sent_as_objects() {
        let env = MockEnv::new().reply("PostEntitiesAlertsV2", 200, json!({"resources": []}));
        let e = plugin()
            .call(
                &env,
                "cases_add_alert_evidence",
                &json!({"case_id": CASE, "alert_ids": [ALERT]}).to_string(),
            )
            .unwrap_err();
        assert!(e.to_string().contains(ALERT), "{e}");
        assert!(env.calls_to("entities_alert_evidence_post_v1").is_empty());
        let env = MockEnv::new()
            .reply(
                "PostEntitiesAlertsV2",
                200,
                json!({"resources": [{"composite_id": ALERT, "display_name": "x"}]}),
            )
            .reply(
                "entities_alert_evidence_post_v1",
                200,
                json!({"resources": [case(2, "new")]}),
            );
        plugin()
            .call(
                &env,
                "cases_add_alert_evidence",
                &json!({"case_id": CASE, "alert_ids": [ALERT]}).to_string(),
            )
            .unwrap();
        assert_eq!(
            env.calls_to("entities_alert_evidence_post_v1")[0]
                .body_json()
                .unwrap(),
            json!({"id": CASE, "alerts": [{"id": ALERT}]})
        );
    }

    #[test]
    fn remove_tags_previews_then_deletes_with_repeated_keys() {
        let env = MockEnv::new().reply(
            "entities_cases_post_v2",
            200,
            json!({"resources": [case(1, "new")]}),
        );
        let out = plugin()
            .call(
                &env,
                "cases_remove_tags",
                &json!({"case_id": CASE, "tags": ["a", "zz"]}).to_string(),
            )
            .unwrap();
        let s = out.structured.unwrap();
        assert_eq!(
            (s["preview"].clone(), s["would_remove"].clone()),
            (json!(true), json!(["a"]))
        );
        assert_eq!(s["not_on_case"], json!(["zz"]));
        assert!(env.calls_to("entities_case_tags_delete_v1").is_empty());
        let env = MockEnv::new()
            .reply(
                "entities_cases_post_v2",
                200,
                json!({"resources": [case(1, "new")]}),
            )
            .reply(
                "entities_case_tags_delete_v1",
                200,
                json!({"resources": [case(2, "new")]}),
            );
        plugin()
            .call(
                &env,
                "cases_remove_tags",
                &json!({"case_id": CASE, "tags": ["a"], "confirm": true}).to_string(),
            )
            .unwrap();
        let q = &env.calls_to("entities_case_tags_delete_v1")[0].query;
        assert_eq!(
            q,
            &vec![
                ("id".to_string(), CASE.to_string()),
                ("tag".to_string(), "a".to_string())
            ]
        );
    }
}
