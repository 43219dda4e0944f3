//! The detections group's MCP features: the alert triage playbook, alerts and incidents as
//! resources (`falcon://alerts/{composite_id}`, `falcon://incidents/{id}`), and completion of
//! alert and incident ids (newest first).

use aerie_sdk::{Arg, Ctx, Fql, Message, Plugin, Prompt, Template, ToolError, Vars};

use super::{GetArgs, IncidentArgs, d25, get, get_incident};

const TRIAGE: Prompt = Prompt::new(
    "triage_alert",
    "Triage an alert",
    "Decide whether an alert is a true or false positive, with its host, related activity and a recorded outcome.",
)
.args(&[
    Arg::required("composite_id", "Composite alert id (cid:ind:…)").complete("alert_id"),
])
.messages(&[Message::user(
    "Triage the alert {composite_id} and decide: true positive, false positive, or needs escalation.\n\
     \n\
     1. Read it: detections_analyze_alert with id {composite_id} gives the alert, MITRE tactic and technique, what the sensor already did (killed, quarantined, blocked), the host and related alerts on the same host or file hash. detections_get has every field if you need more.\n\
     2. The host: hosts_get on the alert's device id: who uses it, what it is, whether it is online or already contained.\n\
     3. The file: hunting_query_hash on its SHA-256: how many hosts ran it and which other alerts fired on it. intel_search_indicators says whether Falcon Intelligence knows it.\n\
     4. Context: ngsiem_query on the host around the alert time for the parent process, network connections and logins.\n\
     5. Decide, with the evidence for it. A true positive spreading to other hosts, or on a server, needs escalation (the contain_host prompt contains a host with approval).\n\
     6. Record it: detections_update_status with status closed and resolution true_positive or false_positive and a one-line comment, or in_progress while escalated; cases_create or cases_add_alert_evidence attach it to a case.\n\
     7. Report the verdict, the evidence and what was recorded.",
)])
.tools(&["detections_analyze_alert", "detections_get"])
.optional(&[
    "hosts_get",
    "hunting_query_hash",
    "intel_search_indicators",
    "ngsiem_query",
    "detections_update_status",
    "cases_create",
    "cases_add_alert_evidence",
]);

const ALERT: Template = Template::json(
    "falcon://alerts/{composite_id}",
    "alert",
    "An alert's full record (as detections_get) by composite id.",
    "detections_get",
)
.complete(&[("composite_id", "alert_id")]);

const INCIDENT: Template = Template::json(
    "falcon://incidents/{id}",
    "incident",
    "An incident with its behavior timeline (as detections_get_incident) by incident id.",
    "detections_get_incident",
)
.complete(&[("id", "incident_id")]);

/// Ids from `operation` (a query returning ids, newest by `sort` first) matching `typed`.
fn newest(
    ctx: &Ctx<'_>,
    operation: &str,
    field: &'static str,
    sort: &str,
    typed: &str,
) -> Result<Vec<String>, ToolError> {
    let typed = typed.trim();
    let filter = (!typed.is_empty())
        .then(|| {
            Fql::new()
                .eq(field, aerie_sdk::prefix_pattern(typed))
                .build()
        })
        .flatten();
    let ids = ctx
        .op(operation)
        .query_opt("filter", filter)
        .query("sort", sort)
        .query("limit", 100)
        .envelope()?
        .ids();
    Ok(aerie_sdk::suggest(ids, typed))
}

/// Add the group's prompts, templates and completers to `p`.
pub(crate) fn add(p: Plugin) -> Plugin {
    p.prompt(&TRIAGE)
        .template(&ALERT, |ctx, vars| {
            let id = vars.get("composite_id")?.to_string();
            get(
                ctx,
                GetArgs {
                    ids: vec![id.clone()],
                },
            )?
            .single("alerts", &format!("alert {id}"))
        })
        .template(&INCIDENT, |ctx, vars| {
            let id = vars.get("id")?.to_string();
            get_incident(
                ctx,
                IncidentArgs {
                    id,
                    behaviors: d25(),
                },
            )
        })
        .completer("alert_id", "detections_search", |ctx, typed, _: &Vars| {
            newest(
                ctx,
                "GetQueriesAlertsV2",
                "composite_id",
                "created_timestamp.desc",
                typed,
            )
        })
        .completer(
            "incident_id",
            "detections_list_incidents",
            |ctx, typed, _: &Vars| {
                newest(ctx, "QueryIncidents", "incident_id", "start.desc", typed)
            },
        )
}

#[cfg(test)]
mod tests {
    use aerie_sdk::Vars;
    use aerie_sdk::testing::MockEnv;
    use serde_json::json;

    #[test]
    fn alert_ids_complete_newest_first_by_prefix() {
        let env = MockEnv::new().reply(
            "GetQueriesAlertsV2",
            200,
            json!({"resources": ["c:ind:b", "c:ind:a", "x:ind:c"]}),
        );
        let got = crate::plugin()
            .complete(&env, "alert_id", "c:", &Vars::default())
            .unwrap();
        assert_eq!(got, ["c:ind:b", "c:ind:a"]);
        let q = &env.calls_to("GetQueriesAlertsV2")[0].query;
        assert!(
            q.contains(&("sort".into(), "created_timestamp.desc".into())),
            "{q:?}"
        );
        assert!(
            q.contains(&("filter".into(), "composite_id:'c:*'".into())),
            "{q:?}"
        );
    }
}
