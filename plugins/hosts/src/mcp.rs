//! The hosts group's MCP features: the playbooks to investigate and to contain a host, host
//! records as resources (`falcon://hosts/{device_id}`), and completion of host names and ids.

use aerie_sdk::{Arg, Ctx, Fql, Message, Plugin, Prompt, Template, ToolError, Vars};
use serde_json::Value;

use super::{DEVICES, IdsArgs, get};

const INVESTIGATE: Prompt = Prompt::new(
    "investigate_host",
    "Investigate a host",
    "Everything about one host: identity, sensor, logins, network, alerts, vulnerabilities, live state.",
)
.args(&[
    Arg::required("hostname", "Host name (wildcards: WS-FIN*)").complete("hostname"),
    Arg::optional("window", "How far back, e.g. 24h or 30d (default 7d)").default("7d"),
])
.messages(&[Message::user(
    "Investigate the host {hostname} over the last {window} and report what you find.\n\
     \n\
     1. Identify it: call hosts_search with hostname {hostname}; if several match, list them and pick the one the question is about. Then hosts_get on its device_id for OS, sensor version, policies, containment status and whether it is online.\n\
     2. Who used it: hosts_get_login_history (recent users; flag service accounts, admins and logins at odd hours).\n\
     3. Where it has been: hosts_get_network_history (IP and MAC changes, e.g. a laptop moving networks).\n\
     4. Alerts: detections_search with hostname {hostname} since {window}; for the most severe, detections_analyze_alert gives the MITRE context and related alerts.\n\
     5. Exposure: spotlight_host_vulns lists its open vulnerabilities; note critical ones with known exploits.\n\
     6. Live state, only if the evidence calls for it: rtr_init_session on the device_id, then rtr_run_command with read-only commands (ps, netstat, ls of suspicious paths); close the session with rtr_close_session.\n\
     7. Events: ngsiem_query with a CQL filter on the host name for process and network events in the window.\n\
     8. Report: a short verdict (clean, suspicious, compromised), the evidence with timestamps, and next steps (contain it with the contain_host prompt, open a case, reimage).",
)])
.tools(&["hosts_search", "hosts_get"])
.optional(&[
    "hosts_get_login_history",
    "hosts_get_network_history",
    "detections_search",
    "detections_analyze_alert",
    "spotlight_host_vulns",
    "rtr_init_session",
    "rtr_run_command",
    "rtr_close_session",
    "ngsiem_query",
]);

const CONTAIN: Prompt = Prompt::new(
    "contain_host",
    "Contain a host (with approval)",
    "Network-isolate one host after checking it is the right one, with a person approving the change.",
)
.args(&[
    Arg::required("hostname", "Host name").complete("hostname"),
    Arg::required("reason", "Why it must be contained (alert id, case, observed activity)"),
])
.messages(&[Message::user(
    "Contain the host {hostname}. Reason: {reason}.\n\
     \n\
     1. Find exactly one host: call hosts_search with hostname {hostname}. If none or several match, stop and ask which one is meant; never contain a guess.\n\
     2. Check it: hosts_get on its device_id. If it is already contained (status contained or containment_pending), say so and stop. Note its platform, last seen time and whether it is a server or domain controller: containing a server disrupts everyone who depends on it, so say so plainly.\n\
     3. Evidence: detections_search with hostname {hostname} for the alerts behind the reason; summarise them in two or three lines.\n\
     4. Preview: call hosts_contain with ids [device_id] and confirm false. Show the preview to the person.\n\
     5. Contain: call hosts_contain with the same ids, note \"{reason}\" and confirm true. aerie asks a person to approve it: the call waits for the answer, or returns an approval id that the operator decides on (aerie approvals); once approved, run it with aerie_run_approved. If it is declined, stop and report that.\n\
     6. Confirm: hosts_get again; containment is requested, and the status moves from containment_pending to contained when the sensor acknowledges.\n\
     7. Record it: if a case exists or is wanted, cases_create (or cases_add_alert_evidence with the alerts from step 3) naming the host, the reason and the time.\n\
     8. Report what was done, the approval, and how to lift it (hosts_lift_containment, also with approval).",
)])
.tools(&["hosts_search", "hosts_get", "hosts_contain"])
.optional(&["detections_search", "cases_create", "cases_add_alert_evidence"]);

const HOST: Template = Template::json(
    "falcon://hosts/{device_id}",
    "host",
    "A host's full record (as hosts_get) by device id (AID).",
    "hosts_get",
)
.complete(&[("device_id", "device_id")]);

/// Host names matching `typed` (a prefix; Falcon matches the wildcard), newest seen first.
fn hostnames(ctx: &Ctx<'_>, typed: &str, _: &Vars) -> Result<Vec<String>, ToolError> {
    let filter = Fql::new()
        .eq("hostname", aerie_sdk::prefix_pattern(typed))
        .build();
    let ids = ctx
        .op("QueryDevicesByFilter")
        .query_opt("filter", filter)
        .query("sort", "last_seen.desc")
        .query("limit", 20)
        .envelope()?
        .ids();
    let hosts = ctx.hydrate(&DEVICES, &ids)?;
    let names = hosts
        .iter()
        .filter_map(|h| h.get("hostname").and_then(Value::as_str))
        .map(str::to_string);
    Ok(aerie_sdk::suggest(names, typed.trim()))
}

/// Device ids starting with `typed`, newest seen first.
fn device_ids(ctx: &Ctx<'_>, typed: &str, _: &Vars) -> Result<Vec<String>, ToolError> {
    let typed = typed.trim();
    let filter = (!typed.is_empty()).then(|| {
        Fql::new()
            .eq("device_id", aerie_sdk::prefix_pattern(typed))
            .build()
    });
    let ids = ctx
        .op("QueryDevicesByFilter")
        .query_opt("filter", filter.flatten())
        .query("sort", "last_seen.desc")
        .query("limit", 100)
        .envelope()?
        .ids();
    Ok(aerie_sdk::suggest(ids, typed))
}

/// Add the group's prompts, templates and completers to `p`.
pub(crate) fn add(p: Plugin) -> Plugin {
    p.prompt(&INVESTIGATE)
        .prompt(&CONTAIN)
        .template(&HOST, |ctx, vars| {
            let id = vars.get("device_id")?.to_string();
            get(
                ctx,
                IdsArgs {
                    ids: vec![id.clone()],
                },
            )?
            .single("hosts", &format!("host {id}"))
        })
        .completer("hostname", "hosts_search", hostnames)
        .completer("device_id", "hosts_search", device_ids)
}

#[cfg(test)]
mod tests {
    use aerie_sdk::Vars;
    use aerie_sdk::testing::MockEnv;
    use serde_json::json;

    const A1: &str = "5388c592189444ad9e84df071c8f3954";

    #[test]
    fn host_names_complete_by_prefix_and_a_host_reads_as_its_record() {
        let p = crate::plugin();
        let env = MockEnv::new()
            .reply("QueryDevicesByFilter", 200, json!({"resources": [A1]}))
            .reply(
                "PostDeviceDetailsV2",
                200,
                json!({"resources": [{"device_id": A1, "hostname": "WS-FIN-042"}]}),
            );
        let got = p
            .complete(&env, "hostname", "ws-f", &Vars::default())
            .unwrap();
        assert_eq!(got, ["WS-FIN-042"]);
        let q = &env.calls_to("QueryDevicesByFilter")[0];
        assert!(
            q.query
                .contains(&("filter".into(), "hostname:'ws-f*'".into())),
            "{:?}",
            q.query
        );
        let env = MockEnv::new()
            .reply(
                "PostDeviceDetailsV2",
                200,
                json!({"resources": [{"device_id": A1, "hostname": "WS-FIN-042"}]}),
            )
            .reply("GetOnlineState_V1", 200, json!({"resources": []}));
        let vars = Vars(vec![("device_id".into(), A1.into())]);
        let out = p
            .read_resource(&env, "falcon://hosts/{device_id}", &vars)
            .unwrap();
        assert_eq!(out.structured.unwrap()["hostname"], "WS-FIN-042");
    }
}
