//! The `hosts` tool group: host inventory and details, containment, host groups, login and
//! network-address history (Falcon devices and host-groups APIs, reference §4.4–4.5).

mod mcp;

use aerie_sdk::fql::{self, Fql};
use aerie_sdk::{
    Ctx, Hydrate, Output, Plugin, Resource, Shape, ToolError, ToolSpec, check_window, ids, project,
    prune,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

const GUIDE: &str = "falcon://fql/hosts";

/// Host details by AID; the POST form takes up to 5000 ids per request (reference §4.4).
const DEVICES: Hydrate = Hydrate::body("PostDeviceDetailsV2", "ids", 5000).ordered_by("device_id");

/// Fields kept in search results; `hosts_get` returns everything.
const SUMMARY: &[&str] = &[
    "device_id",
    "hostname",
    "platform_name",
    "os_version",
    "status",
    "last_seen",
    "local_ip",
    "external_ip",
    "agent_version",
    "product_type_desc",
    "groups",
    "tags",
];

const SORTABLE: &[&str] = &[
    "hostname",
    "last_seen",
    "first_seen",
    "platform_name",
    "os_version",
    "agent_version",
    "status",
    "local_ip",
    "external_ip",
];

fn d20() -> u32 {
    20
}
fn d10() -> u32 {
    10
}

// Operating system family (no doc comment: it would be repeated in every schema using it).
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
enum Platform {
    Windows,
    Mac,
    Linux,
}

// Containment state.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum HostStatus {
    Normal,
    ContainmentPending,
    Contained,
    LiftContainmentPending,
}

impl HostStatus {
    fn as_str(self) -> &'static str {
        match self {
            HostStatus::Normal => "normal",
            HostStatus::ContainmentPending => "containment_pending",
            HostStatus::Contained => "contained",
            HostStatus::LiftContainmentPending => "lift_containment_pending",
        }
    }
}

/// Arguments of `hosts_search`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SearchArgs {
    /// WEB* ok
    hostname: Option<String>,
    platform: Option<Platform>,
    status: Option<HostStatus>,
    group_id: Option<String>,
    /// 30m, 24h, 7d
    seen_within: Option<String>,
    /// FQL, ANDed
    filter: Option<String>,
    /// field.desc
    sort: Option<String>,
    #[schemars(range(min = 1, max = 500))]
    #[serde(default = "d20")]
    limit: u32,
    #[serde(default)]
    offset: u32,
}

fn search_filter(a: &SearchArgs) -> Result<Option<String>, ToolError> {
    if let Some(f) = &a.filter {
        fql::lint(f).map_err(ToolError::invalid)?;
    }
    let group = a
        .group_id
        .as_deref()
        .map(|g| ids::hex32(g, "host group id"))
        .transpose()?;
    let seen = a
        .seen_within
        .as_deref()
        .map(fql::since)
        .transpose()
        .map_err(ToolError::invalid)?;
    Ok(Fql::new()
        .opt(a.hostname.as_deref(), |f, h| f.eq("hostname", h))
        .opt(a.platform, |f, p| f.eq("platform_name", format!("{p:?}")))
        .opt(a.status, |f, s| f.eq("status", s.as_str()))
        .opt(group, |f, g| f.eq("groups", g))
        .opt(seen, |f, s| f.gte("last_seen", s))
        .raw(a.filter.as_deref())
        .build())
}

fn search(ctx: &Ctx<'_>, a: SearchArgs) -> Result<Output, ToolError> {
    check_window(a.offset, a.limit)?;
    let filter = search_filter(&a)?;
    let sort = fql::sort_param(a.sort.as_deref(), SORTABLE, false).map_err(ToolError::invalid)?;
    let query = ctx
        .op("QueryDevicesByFilter")
        .query_opt("filter", filter)
        .query("sort", sort.unwrap_or_else(|| "last_seen.desc".into()))
        .query("limit", a.limit)
        .query("offset", a.offset);
    Ok(ctx
        .search(query, u64::from(a.offset), &DEVICES)?
        .map(|h| project(h, SUMMARY))
        .into_output("hosts"))
}

/// Arguments naming hosts by AID.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct IdsArgs {
    /// AIDs (32 hex)
    #[schemars(length(min = 1, max = 100))]
    ids: Vec<String>,
}

fn get(ctx: &Ctx<'_>, a: IdsArgs) -> Result<Output, ToolError> {
    let aids = ids::list(&a.ids, 100, "host id", ids::aid)?;
    let mut hosts = ctx.hydrate_all(&DEVICES, &aids, "host")?;
    // Online state is a separate service; a failure there should not hide the details.
    let online = ctx
        .op("GetOnlineState_V1")
        .query_all("ids", &aids)
        .envelope()
        .map(|e| e.resources)
        .unwrap_or_default();
    for h in &mut hosts {
        let id = h
            .get("device_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if let Some(state) = online
            .iter()
            .find(|o| o.get("id").and_then(Value::as_str) == Some(id.as_str()))
            .and_then(|o| o.get("state").cloned())
            && let Value::Object(m) = h
        {
            m.insert("online_state".into(), state);
        }
    }
    let hosts: Vec<Value> = hosts.into_iter().map(prune).collect();
    Ok(Output::json(
        format!("{} host(s).", hosts.len()),
        &json!({ "hosts": hosts }),
    ))
}

/// Arguments of `hosts_contain` and `hosts_lift_containment`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ContainArgs {
    /// AIDs
    #[schemars(length(min = 1, max = 100))]
    ids: Vec<String>,
    /// Audit note
    note: Option<String>,
    #[serde(default)]
    confirm: bool,
}

/// The two containment actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Contain,
    Lift,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Contain => "contain",
            Action::Lift => "lift_containment",
        }
    }

    /// Statuses from which the action changes nothing (already there or on the way).
    fn done_states(self) -> &'static [&'static str] {
        match self {
            Action::Contain => &["contained", "containment_pending"],
            Action::Lift => &["normal", "lift_containment_pending"],
        }
    }
}

/// Split hosts into those the action would change and those already in the target state.
fn plan(action: Action, hosts: &[Value]) -> (Vec<Value>, Vec<Value>) {
    let brief = |h: &Value| project(h, &["device_id", "hostname", "platform_name", "status"]);
    hosts.iter().map(brief).partition(|h| {
        let s = h.get("status").and_then(Value::as_str).unwrap_or("normal");
        !action.done_states().contains(&s)
    })
}

fn containment(ctx: &Ctx<'_>, a: ContainArgs, action: Action) -> Result<Output, ToolError> {
    let aids = ids::list(&a.ids, 100, "host id", ids::aid)?;
    let hosts = ctx.hydrate_all(&DEVICES, &aids, "host")?;
    let (change, unchanged) = plan(action, &hosts);
    let verb = match action {
        Action::Contain => "network-contain",
        Action::Lift => "lift network containment on",
    };
    if !a.confirm {
        let names: Vec<&str> = change
            .iter()
            .filter_map(|h| h.get("hostname").and_then(Value::as_str))
            .collect();
        let what = if change.is_empty() {
            "No host would change state.".to_string()
        } else {
            format!(
                "Would {verb} {} host(s): {}.",
                change.len(),
                names.join(", ")
            )
        };
        return Ok(Output::preview(
            what,
            json!({"action": action.name(), "would_change": change, "unchanged": unchanged}),
        ));
    }
    if change.is_empty() {
        return Ok(Output::json(
            "No host needed a change.",
            &json!({"applied": false, "action": action.name(), "unchanged": unchanged}),
        ));
    }
    let ids_to_change: Vec<&str> = change
        .iter()
        .filter_map(|h| h.get("device_id").and_then(Value::as_str))
        .collect();
    let mut body = json!({ "ids": ids_to_change });
    if let Some(note) = a.note.as_deref().filter(|n| !n.trim().is_empty()) {
        body["action_parameters"] = json!([{"name": "note", "value": note}]);
    }
    let env = ctx
        .op("PerformActionV2")
        .verified_by("hosts_get")
        .query("action_name", action.name())
        .body_json(&body)?
        .envelope()?;
    let pending = match action {
        Action::Contain => "containment_pending",
        Action::Lift => "lift_containment_pending",
    };
    Ok(Output::json(
        format!(
            "Requested {} on {} host(s); status is {pending} until the sensor acknowledges.",
            action.name(),
            ids_to_change.len()
        ),
        &json!({
            "applied": true,
            "action": action.name(),
            "hosts": env.resources,
            "unchanged": unchanged,
            "errors": env.errors,
        }),
    ))
}

// Kind of host group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum GroupType {
    Static,
    Dynamic,
}

/// Arguments of `hosts_create_group`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CreateGroupArgs {
    name: String,
    group_type: GroupType,
    /// FQL (dynamic only)
    assignment_rule: Option<String>,
    description: Option<String>,
    /// AIDs (static only)
    #[schemars(length(max = 500))]
    host_ids: Option<Vec<String>>,
}

fn create_group(ctx: &Ctx<'_>, a: CreateGroupArgs) -> Result<Output, ToolError> {
    let name = a.name.trim();
    if name.is_empty() {
        return Err(ToolError::invalid("name must not be blank"));
    }
    let hosts = match &a.host_ids {
        Some(h) if !h.is_empty() => ids::list(h, 500, "host id", ids::aid)?,
        _ => Vec::new(),
    };
    let rule = a
        .assignment_rule
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    match (a.group_type, rule) {
        (GroupType::Dynamic, None) => {
            return Err(ToolError::invalid(
                "a dynamic group needs assignment_rule (FQL, e.g. platform_name:'Windows'+hostname:'FIN-*')",
            ));
        }
        (GroupType::Dynamic, Some(r)) => {
            fql::lint(r).map_err(ToolError::invalid)?;
            if !hosts.is_empty() {
                return Err(ToolError::invalid(
                    "host_ids only apply to static groups; a dynamic group's members come from assignment_rule",
                ));
            }
        }
        (GroupType::Static, Some(_)) => {
            return Err(ToolError::invalid(
                "assignment_rule only applies to dynamic groups; use host_ids for a static group",
            ));
        }
        (GroupType::Static, None) => {}
    }
    let mut group = json!({
        "name": name,
        "group_type": if a.group_type == GroupType::Static { "static" } else { "dynamic" },
    });
    if let Some(d) = a.description.as_deref() {
        group["description"] = json!(d);
    }
    if let Some(r) = rule {
        group["assignment_rule"] = json!(r);
    }
    let created = ctx
        .op("createHostGroups")
        .verified_by("hosts_list_groups")
        .body_json(&json!({ "resources": [group] }))?
        .envelope()?;
    let Some(mut g) = created.resources.into_iter().next() else {
        return Err(ToolError::internal(
            "Falcon created no group and gave no error",
        ));
    };
    if !hosts.is_empty() {
        let gid = g
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let filter = Fql::new().any_of("device_id", &hosts).build();
        let updated = ctx
            .op("performGroupAction")
            .verified_by("hosts_list_groups")
            .query("action_name", "add-hosts")
            .body_json(&json!({
                "ids": [gid],
                "action_parameters": [{"name": "filter", "value": filter}],
            }))?
            .envelope()?;
        if let Some(u) = updated.resources.into_iter().next() {
            g = u;
        }
    }
    Ok(Output::json(
        format!("Created host group {}.", name),
        &json!({"group": prune(g), "hosts_added": hosts.len()}),
    ))
}

/// Arguments of `hosts_list_groups`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ListGroupsArgs {
    /// Name contains
    name: Option<String>,
    #[schemars(range(min = 1, max = 500))]
    #[serde(default = "d20")]
    limit: u32,
    #[serde(default)]
    offset: u32,
}

fn list_groups(ctx: &Ctx<'_>, a: ListGroupsArgs) -> Result<Output, ToolError> {
    check_window(a.offset, a.limit)?;
    let filter = Fql::new()
        .opt(a.name.as_deref(), |f, n| f.matches("name", n))
        .build();
    let query = ctx
        .op("queryCombinedHostGroups")
        .query_opt("filter", filter)
        .query("sort", "name.asc")
        .query("limit", a.limit)
        .query("offset", a.offset);
    Ok(ctx
        .search_combined(query, u64::from(a.offset))?
        .map(|g| {
            project(
                g,
                &["id", "name", "group_type", "description", "assignment_rule"],
            )
        })
        .into_output("host groups"))
}

/// Arguments of the history tools.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct HistoryArgs {
    /// AIDs
    #[schemars(length(min = 1, max = 20))]
    ids: Vec<String>,
    /// Per host
    #[schemars(range(min = 1, max = 100))]
    #[serde(default = "d10")]
    limit: u32,
}

/// Trim each host's history list to `limit` entries (newest first as Falcon returns them).
fn trim_history(resources: Vec<Value>, list_key: &str, limit: usize) -> Vec<Value> {
    resources
        .into_iter()
        .map(|mut r| {
            if let Some(Value::Array(items)) = r.get_mut(list_key) {
                items.truncate(limit);
            }
            if let Value::Object(m) = &mut r {
                m.remove("cid");
            }
            r
        })
        .collect()
}

fn history(
    ctx: &Ctx<'_>,
    a: HistoryArgs,
    op: &str,
    key: &str,
    noun: &str,
) -> Result<Output, ToolError> {
    let aids = ids::list(&a.ids, 20, "host id", ids::aid)?;
    let env = ctx.op(op).body_json(&json!({ "ids": aids }))?.envelope()?;
    let rows = trim_history(env.resources, key, a.limit as usize);
    Ok(Output::json(
        format!("{noun} for {} host(s).", rows.len()),
        &json!({ "hosts": rows }),
    ))
}

/// The `hosts` plugin.
pub fn plugin() -> Plugin {
    let p = Plugin::new(
        "hosts",
        env!("CARGO_PKG_VERSION"),
        "Falcon hosts: inventory, details, containment, groups, history",
    )
    .tool(
        ToolSpec::read(
            "hosts_search",
            "Search hosts",
            "Hosts by name, OS, status, group, last seen or FQL (falcon://fql/hosts)",
        )
        .ops(&["QueryDevicesByFilter", "PostDeviceDetailsV2"])
        .output(Shape::Search)
        .guide(GUIDE),
        search,
    )
    .tool(
        ToolSpec::read(
            "hosts_get",
            "Get host details",
            "Full host records: OS, sensor, policies, containment, online state",
        )
        .ops(&["PostDeviceDetailsV2", "GetOnlineState_V1"])
        .output(Shape::List("hosts")),
        get,
    )
    .tool(
        ToolSpec::write(
            "hosts_contain",
            "Contain hosts",
            "Network-isolate hosts. Previews unless confirm",
        )
        .ops(&["PostDeviceDetailsV2", "PerformActionV2"])
        .output(Shape::Fields("applied:boolean action:string"))
        .destructive()
        .idempotent(),
        |ctx, a| containment(ctx, a, Action::Contain),
    )
    .tool(
        ToolSpec::write(
            "hosts_lift_containment",
            "Lift containment",
            "Restore network access. Previews unless confirm",
        )
        .ops(&["PostDeviceDetailsV2", "PerformActionV2"])
        .output(Shape::Fields("applied:boolean action:string"))
        .destructive()
        .idempotent(),
        |ctx, a| containment(ctx, a, Action::Lift),
    )
    .tool(
        ToolSpec::write(
            "hosts_create_group",
            "Create host group",
            "Static or dynamic (FQL rule) host group",
        )
        .ops(&["createHostGroups", "performGroupAction"])
        .output(Shape::Fields("group:object hosts_added:integer"))
        .guide(GUIDE),
        create_group,
    )
    .tool(
        ToolSpec::read(
            "hosts_list_groups",
            "List host groups",
            "Host groups: id, name, type, rule",
        )
        .ops(&["queryCombinedHostGroups"])
        .output(Shape::Search),
        list_groups,
    )
    .tool(
        ToolSpec::read(
            "hosts_get_login_history",
            "Host login history",
            "Recent logins (time, user) per host",
        )
        .ops(&["QueryDeviceLoginHistory"])
        .output(Shape::List("hosts")),
        |ctx, a| {
            history(
                ctx,
                a,
                "QueryDeviceLoginHistory",
                "recent_logins",
                "Login history",
            )
        },
    )
    .tool(
        ToolSpec::read(
            "hosts_get_network_history",
            "Host network history",
            "IP/MAC address history per host",
        )
        .ops(&["QueryGetNetworkAddressHistoryV1"])
        .output(Shape::List("hosts")),
        |ctx, a| {
            history(
                ctx,
                a,
                "QueryGetNetworkAddressHistoryV1",
                "history",
                "Network address history",
            )
        },
    )
    .resource(Resource::markdown(
        GUIDE,
        "Host FQL guide",
        "FQL syntax and fields for filtering hosts",
        include_str!("fql_hosts.md"),
    ));
    mcp::add(p)
}

aerie_sdk::export_plugin!(plugin);

#[cfg(test)]
mod tests {
    use super::*;
    use aerie_sdk::testing::MockEnv;

    const A1: &str = "5388c592189444ad9e84df071c8f3954";
    const A2: &str = "0123456789abcdef0123456789abcdef";

    fn host(id: &str, name: &str, status: &str) -> Value {
        json!({"device_id": id, "hostname": name, "platform_name": "Windows", "status": status, "cid": "c", "tags": []})
    }

    fn call(env: &MockEnv, tool: &str, args: Value) -> Result<Output, ToolError> {
        plugin().call(env, tool, &args.to_string())
    }

    #[test]
    fn declarations_are_valid_and_compact() {
        let p = plugin();
        p.validate().unwrap();
        // The tools/list budget is 450 bytes per tool on average across all groups.
        let d = p.describe();
        let avg = d.average_tool_bytes();
        assert!(avg < 450, "average tool size {avg} bytes");
    }

    #[test]
    fn search_builds_escaped_filter_and_hydrates() {
        let env = MockEnv::new()
            .reply(
                "QueryDevicesByFilter",
                200,
                json!({"meta": {"pagination": {"offset": 0, "limit": 1, "total": 2}}, "resources": [A1]}),
            )
            .reply("PostDeviceDetailsV2", 200, json!({"resources": [host(A1, "WEB'01", "normal")]}));
        let out = call(
            &env,
            "hosts_search",
            json!({"hostname": "WEB'01", "platform": "Windows", "seen_within": "7d", "limit": 1}),
        )
        .unwrap();
        let q = &env.calls_to("QueryDevicesByFilter")[0];
        assert_eq!(
            q.query_value("filter"),
            Some(r"hostname:'WEB\'01'+platform_name:'Windows'+last_seen:>='now-7d'")
        );
        assert_eq!(q.query_value("sort"), Some("last_seen.desc"));
        let s = out.structured.unwrap();
        assert_eq!(s["total"], 2);
        assert_eq!(s["next"], 1);
        assert!(s["results"][0].get("cid").is_none(), "projection drops cid");
    }

    #[test]
    fn search_rejects_bad_input_before_any_request() {
        let env = MockEnv::new();
        for args in [
            json!({"filter": "a:'1' AND b:'2'"}),
            json!({"seen_within": "yesterday"}),
            json!({"group_id": "nope"}),
            json!({"sort": "secret_field.asc"}),
        ] {
            assert!(matches!(
                call(&env, "hosts_search", args),
                Err(ToolError::InvalidArguments(_))
            ));
        }
        assert!(env.calls().is_empty());
    }

    #[test]
    fn contain_previews_without_confirm() {
        let env = MockEnv::new().reply(
            "PostDeviceDetailsV2",
            200,
            json!({"resources": [host(A1, "WS1", "normal"), host(A2, "WS2", "contained")]}),
        );
        let out = call(&env, "hosts_contain", json!({"ids": [A1, A2]})).unwrap();
        assert!(out.text.starts_with("PREVIEW"));
        assert!(out.text.contains("WS1") && !out.text.contains("Would network-contain 2"));
        assert_eq!(env.operations(), ["PostDeviceDetailsV2"]);
    }

    #[test]
    fn contain_with_confirm_acts_only_on_changing_hosts() {
        let env = MockEnv::new()
            .reply(
                "PostDeviceDetailsV2",
                200,
                json!({"resources": [host(A1, "WS1", "normal"), host(A2, "WS2", "contained")]}),
            )
            .reply(
                "PerformActionV2",
                202,
                json!({"resources": [{"id": A1, "path": ""}]}),
            );
        let out = call(
            &env,
            "hosts_contain",
            json!({"ids": [A1, A2], "confirm": true, "note": "IR-42"}),
        )
        .unwrap();
        let act = &env.calls_to("PerformActionV2")[0];
        assert_eq!(act.query_value("action_name"), Some("contain"));
        assert_eq!(
            act.body_json().unwrap(),
            json!({"ids": [A1], "action_parameters": [{"name": "note", "value": "IR-42"}]})
        );
        assert_eq!(out.structured.unwrap()["applied"], true);
    }

    #[test]
    fn lift_on_unknown_host_is_not_found() {
        let env = MockEnv::new().reply("PostDeviceDetailsV2", 200, json!({"resources": []}));
        let e = call(
            &env,
            "hosts_lift_containment",
            json!({"ids": [A1], "confirm": true}),
        )
        .unwrap_err();
        assert!(matches!(e, ToolError::NotFound(ref m) if m.contains(A1)));
    }

    #[test]
    fn create_static_group_with_hosts() {
        let env = MockEnv::new()
            .reply(
                "createHostGroups",
                201,
                json!({"resources": [{"id": A2, "name": "IR", "group_type": "static"}]}),
            )
            .reply(
                "performGroupAction",
                200,
                json!({"resources": [{"id": A2, "name": "IR", "group_type": "static"}]}),
            );
        call(
            &env,
            "hosts_create_group",
            json!({"name": "IR", "group_type": "static", "host_ids": [A1]}),
        )
        .unwrap();
        let act = &env.calls_to("performGroupAction")[0];
        assert_eq!(act.query_value("action_name"), Some("add-hosts"));
        assert_eq!(
            act.body_json().unwrap()["action_parameters"][0]["value"],
            format!("device_id:['{A1}']")
        );
        let e = call(
            &env,
            "hosts_create_group",
            json!({"name": "D", "group_type": "dynamic"}),
        )
        .unwrap_err();
        assert!(matches!(e, ToolError::InvalidArguments(_)));
    }

    #[test]
    fn history_trims_per_host() {
        let logins: Vec<Value> = (0..30)
            .map(|i| json!({"user_name": format!("u{i}")}))
            .collect();
        let env = MockEnv::new().reply(
            "QueryDeviceLoginHistory",
            200,
            json!({"resources": [{"device_id": A1, "cid": "c", "recent_logins": logins}]}),
        );
        let out = call(
            &env,
            "hosts_get_login_history",
            json!({"ids": [A1], "limit": 3}),
        )
        .unwrap();
        let s = out.structured.unwrap();
        assert_eq!(s["hosts"][0]["recent_logins"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn get_merges_online_state() {
        let env = MockEnv::new()
            .reply(
                "PostDeviceDetailsV2",
                200,
                json!({"resources": [host(A1, "WS1", "normal")]}),
            )
            .reply(
                "GetOnlineState_V1",
                200,
                json!({"resources": [{"id": A1, "state": "online"}]}),
            );
        let out = call(&env, "hosts_get", json!({"ids": [A1]})).unwrap();
        assert_eq!(
            out.structured.unwrap()["hosts"][0]["online_state"],
            "online"
        );
    }
}
