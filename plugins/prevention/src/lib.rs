//! The `prevention` tool group: prevention policies — list, details, create, change settings,
//! assign to host groups (reference §4.8). Changes to existing policies preview unless confirmed.

mod mcp;

use aerie_sdk::fql::{self, Fql};
use aerie_sdk::{
    Ctx, Hydrate, Output, Plugin, Resource, Shape, ToolError, ToolSpec, check_window, ids, project,
    prune,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

const GUIDE: &str = "falcon://fql/policies";

/// Policies by id (GET with repeated `ids`); 100 keeps the query string short.
const POLICIES: Hydrate = Hydrate::query("getPreventionPolicies", "ids", 100).ordered_by("id");
const GROUPS: Hydrate = Hydrate::query("getHostGroups", "ids", 100).ordered_by("id");

const ML_LEVELS: &[&str] = &[
    "DISABLED",
    "CAUTIOUS",
    "MODERATE",
    "AGGRESSIVE",
    "EXTRA_AGGRESSIVE",
];

fn d50() -> u32 {
    50
}

// Policy platform (no doc comment: it would repeat in every schema).
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
enum Platform {
    Windows,
    Mac,
    Linux,
}

/// Arguments of `prevention_list_policies`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ListArgs {
    platform: Option<Platform>,
    enabled: Option<bool>,
    /// Name contains
    name: Option<String>,
    /// FQL, ANDed
    filter: Option<String>,
    #[schemars(range(min = 1, max = 500))]
    #[serde(default = "d50")]
    limit: u32,
    #[serde(default)]
    offset: u32,
}

/// A policy with its groups reduced to names and its settings left out (see `prevention_get_policy`).
fn policy_summary(p: &Value) -> Value {
    let mut out = project(
        p,
        &[
            "id",
            "name",
            "platform_name",
            "enabled",
            "description",
            "modified_timestamp",
        ],
    );
    let groups: Vec<Value> = p
        .get("groups")
        .and_then(Value::as_array)
        .map(|gs| gs.iter().map(|g| project(g, &["id", "name"])).collect())
        .unwrap_or_default();
    if let Value::Object(m) = &mut out {
        m.insert("groups".into(), Value::Array(groups));
    }
    out
}

fn list(ctx: &Ctx<'_>, a: ListArgs) -> Result<Output, ToolError> {
    check_window(a.offset, a.limit)?;
    if let Some(f) = &a.filter {
        fql::lint(f).map_err(ToolError::invalid)?;
    }
    let filter = Fql::new()
        .opt(a.platform, |f, p| f.eq("platform_name", format!("{p:?}")))
        .opt(a.enabled, |f, e| f.eq("enabled", e))
        .opt(a.name.as_deref(), |f, n| f.matches("name", n))
        .raw(a.filter.as_deref())
        .build();
    let query = ctx
        .op("queryCombinedPreventionPolicies")
        .query_opt("filter", filter)
        .query("sort", "name.asc")
        .query("limit", a.limit)
        .query("offset", a.offset);
    Ok(ctx
        .search_combined(query, u64::from(a.offset))?
        .map(policy_summary)
        .into_output("prevention policies"))
}

/// Arguments of `prevention_get_policy`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct GetArgs {
    /// 32 hex
    #[schemars(length(min = 1, max = 20))]
    ids: Vec<String>,
}

fn get(ctx: &Ctx<'_>, a: GetArgs) -> Result<Output, ToolError> {
    let pids = ids::list(&a.ids, 20, "policy id", |v| ids::hex32(v, "policy id"))?;
    let policies: Vec<Value> = ctx
        .hydrate_all(&POLICIES, &pids, "prevention policy")?
        .into_iter()
        .map(prune)
        .collect();
    Ok(Output::json(
        format!("{} policy(ies).", policies.len()),
        &json!({ "policies": policies }),
    ))
}

// One setting to change. No doc comment: schemars would repeat it in every tools/list.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Setting {
    id: String,
    /// See falcon://fql/policies
    value: Value,
}

/// Check a setting value's shape: a toggle or an ML slider with known levels.
fn check_setting(s: &Setting) -> Result<(), ToolError> {
    let id_ok = !s.id.is_empty()
        && s.id.len() <= 100
        && s.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !id_ok {
        return Err(ToolError::invalid(format!(
            "setting id `{}` is not a setting id",
            s.id
        )));
    }
    let obj = s.value.as_object();
    let toggle =
        obj.is_some_and(|m| m.len() == 1 && m.get("enabled").is_some_and(Value::is_boolean));
    let level = |k: &str| {
        obj.and_then(|m| m.get(k))
            .and_then(Value::as_str)
            .is_some_and(|l| ML_LEVELS.contains(&l))
    };
    let slider = obj.is_some_and(|m| m.len() == 2) && level("detection") && level("prevention");
    if toggle || slider {
        Ok(())
    } else {
        Err(ToolError::invalid(format!(
            "setting {}: value must be {{\"enabled\": true|false}} or {{\"detection\": L, \"prevention\": L}} with L in {}",
            s.id,
            ML_LEVELS.join(", ")
        )))
    }
}

/// Arguments of `prevention_create_policy`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CreateArgs {
    name: String,
    platform: Platform,
    description: Option<String>,
    /// Copy from policy id
    clone_id: Option<String>,
    settings: Option<Vec<Setting>>,
}

fn create(ctx: &Ctx<'_>, a: CreateArgs) -> Result<Output, ToolError> {
    let name = a.name.trim();
    if name.is_empty() {
        return Err(ToolError::invalid("name must not be blank"));
    }
    let mut policy = json!({"name": name, "platform_name": format!("{:?}", a.platform)});
    if let Some(d) = a.description.as_deref() {
        policy["description"] = json!(d);
    }
    if let Some(c) = a.clone_id.as_deref() {
        policy["clone_id"] = json!(ids::hex32(c, "policy id")?);
    }
    if let Some(settings) = &a.settings {
        settings.iter().try_for_each(check_setting)?;
        policy["settings"] = json!(
            settings
                .iter()
                .map(|s| json!({"id": s.id, "value": s.value}))
                .collect::<Vec<_>>()
        );
    }
    let env = ctx
        .op("createPreventionPolicies")
        .verified_by("prevention_list_policies")
        .body_json(&json!({ "resources": [policy] }))?
        .envelope()?;
    let created = env
        .resources
        .into_iter()
        .next()
        .ok_or_else(|| ToolError::internal("Falcon created no policy and gave no error"))?;
    Ok(Output::json(
        format!(
            "Created prevention policy {name} ({}); it is disabled until enabled and has no host groups.",
            created.get("id").and_then(Value::as_str).unwrap_or("?")
        ),
        &json!({"policy": policy_summary(&created)}),
    ))
}

/// Arguments of `prevention_update_policy`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct UpdateArgs {
    id: String,
    name: Option<String>,
    description: Option<String>,
    settings: Option<Vec<Setting>>,
    #[serde(default)]
    confirm: bool,
}

/// Current value of each setting in a policy, by id.
fn current_settings(policy: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    for cat in policy
        .get("prevention_settings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for s in cat
            .get("settings")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(id) = s.get("id").and_then(Value::as_str) {
                out.insert(id.to_string(), s.clone());
            }
        }
    }
    out
}

/// The changes an update would make: one entry per field or setting whose value differs.
fn diff(policy: &Value, a: &UpdateArgs) -> Result<Vec<Value>, ToolError> {
    let mut changes = Vec::new();
    for (field, new) in [("name", &a.name), ("description", &a.description)] {
        if let Some(new) = new {
            let old = policy.get(field).and_then(Value::as_str).unwrap_or("");
            if old != new {
                changes.push(json!({"field": field, "from": old, "to": new}));
            }
        }
    }
    let current = current_settings(policy);
    for s in a.settings.iter().flatten() {
        let Some(cur) = current.get(&s.id) else {
            return Err(ToolError::invalid(format!(
                "policy has no setting `{}`; prevention_get_policy lists its settings",
                s.id
            )));
        };
        let old = cur.get("value").cloned().unwrap_or(Value::Null);
        // Responses may carry extra keys (e.g. `configured`); compare only what was asked.
        let same = s
            .value
            .as_object()
            .is_some_and(|m| m.iter().all(|(k, v)| old.get(k) == Some(v)));
        if !same {
            changes.push(json!({
                "setting": s.id,
                "name": cur.get("name").cloned().unwrap_or(Value::Null),
                "from": old,
                "to": s.value,
            }));
        }
    }
    Ok(changes)
}

fn update(ctx: &Ctx<'_>, a: UpdateArgs) -> Result<Output, ToolError> {
    let id = ids::hex32(&a.id, "policy id")?;
    if a.name.is_none() && a.description.is_none() && a.settings.as_ref().is_none_or(Vec::is_empty)
    {
        return Err(ToolError::invalid(
            "nothing to change: give name, description or settings",
        ));
    }
    if let Some(n) = &a.name
        && n.trim().is_empty()
    {
        return Err(ToolError::invalid("name must not be blank"));
    }
    a.settings.iter().flatten().try_for_each(check_setting)?;
    let policy = ctx
        .hydrate_all(&POLICIES, std::slice::from_ref(&id), "prevention policy")?
        .into_iter()
        .next()
        .unwrap_or(Value::Null);
    let pname = policy
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_string();
    let changes = diff(&policy, &a)?;
    let hosts_note = format!(
        "Applies to every host in {} assigned group(s).",
        policy
            .get("groups")
            .and_then(Value::as_array)
            .map_or(0, Vec::len)
    );
    if !a.confirm {
        let what = if changes.is_empty() {
            format!("Policy {pname}: no change (values already set).")
        } else {
            format!("Policy {pname}: {} change(s). {hosts_note}", changes.len())
        };
        return Ok(Output::preview(
            what,
            json!({"policy_id": id, "changes": changes}),
        ));
    }
    if changes.is_empty() {
        return Ok(Output::json(
            format!("Policy {pname} already has these values; nothing sent."),
            &json!({"applied": false, "policy_id": id, "changes": []}),
        ));
    }
    let mut res = json!({"id": id});
    if let Some(n) = &a.name {
        res["name"] = json!(n.trim());
    }
    if let Some(d) = &a.description {
        res["description"] = json!(d);
    }
    // The update body requires `settings`; an empty list leaves them as they are.
    res["settings"] = json!(
        a.settings
            .iter()
            .flatten()
            .map(|s| json!({"id": s.id, "value": s.value}))
            .collect::<Vec<_>>()
    );
    let env = ctx
        .op("updatePreventionPolicies")
        .verified_by("prevention_get_policy")
        .body_json(&json!({ "resources": [res] }))?
        .envelope()?;
    Ok(Output::json(
        format!("Updated policy {pname}: {} change(s).", changes.len()),
        &json!({
            "applied": true,
            "changes": changes,
            "policy": env.resources.first().map(policy_summary).unwrap_or(Value::Null),
        }),
    ))
}

// Assignment direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Assign {
    #[default]
    Add,
    Remove,
}

/// Arguments of `prevention_assign_policy`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct AssignArgs {
    policy_id: String,
    group_id: String,
    /// Default add
    #[serde(default)]
    action: Assign,
    #[serde(default)]
    confirm: bool,
}

fn assign(ctx: &Ctx<'_>, a: AssignArgs) -> Result<Output, ToolError> {
    let pid = ids::hex32(&a.policy_id, "policy id")?;
    let gid = ids::hex32(&a.group_id, "host group id")?;
    let policy = ctx
        .hydrate_all(&POLICIES, std::slice::from_ref(&pid), "prevention policy")?
        .into_iter()
        .next()
        .unwrap_or(Value::Null);
    let group = ctx
        .hydrate_all(&GROUPS, std::slice::from_ref(&gid), "host group")?
        .into_iter()
        .next()
        .unwrap_or(Value::Null);
    let pname = policy.get("name").and_then(Value::as_str).unwrap_or("?");
    let gname = group.get("name").and_then(Value::as_str).unwrap_or("?");
    let assigned = policy
        .get("groups")
        .and_then(Value::as_array)
        .is_some_and(|gs| {
            gs.iter()
                .any(|g| g.get("id").and_then(Value::as_str) == Some(gid.as_str()))
        });
    let no_op = (a.action == Assign::Add) == assigned;
    let (verb, action_name) = match a.action {
        Assign::Add => ("assign", "add-host-group"),
        Assign::Remove => ("unassign", "remove-host-group"),
    };
    let details = json!({
        "policy": {"id": pid, "name": pname, "platform_name": policy.get("platform_name"), "enabled": policy.get("enabled")},
        "group": project(&group, &["id", "name", "group_type", "assignment_rule"]),
        "action": action_name,
        "already": no_op,
    });
    if !a.confirm {
        let what = if no_op {
            format!(
                "No change: group {gname} is {} policy {pname}.",
                if assigned { "already on" } else { "not on" }
            )
        } else {
            format!(
                "Would {verb} policy {pname} to host group {gname}; its hosts' prevention settings change."
            )
        };
        return Ok(Output::preview(what, details));
    }
    if no_op {
        return Ok(Output::json(
            format!("Nothing to do for {gname} and {pname}."),
            &details,
        ));
    }
    let env = ctx
        .op("performPreventionPoliciesAction")
        .verified_by("prevention_get_policy")
        .query("action_name", action_name)
        .body_json(
            &json!({"ids": [pid], "action_parameters": [{"name": "group_id", "value": gid}]}),
        )?
        .envelope()?;
    Ok(Output::json(
        format!("Did {action_name}: policy {pname}, host group {gname}."),
        &json!({"applied": true, "policy": env.resources.first().map(policy_summary).unwrap_or(Value::Null)}),
    ))
}

/// The `prevention` plugin.
pub fn plugin() -> Plugin {
    let p = Plugin::new(
        "prevention",
        env!("CARGO_PKG_VERSION"),
        "Falcon prevention policies: list, inspect, create, change, assign",
    )
    .tool(
        ToolSpec::read(
            "prevention_list_policies",
            "List prevention policies",
            "Policies with platform, state, groups (FQL: falcon://fql/policies)",
        )
        .ops(&["queryCombinedPreventionPolicies"])
        .output(Shape::Search)
        .guide(GUIDE),
        list,
    )
    .tool(
        ToolSpec::read(
            "prevention_get_policy",
            "Get policy details",
            "Policies by id with all settings and groups",
        )
        .ops(&["getPreventionPolicies"])
        .output(Shape::List("policies")),
        get,
    )
    .tool(
        ToolSpec::write(
            "prevention_create_policy",
            "Create prevention policy",
            "New policy (disabled, no groups)",
        )
        .ops(&["createPreventionPolicies"])
        .output(Shape::Fields("policy:object")),
        create,
    )
    .tool(
        ToolSpec::write(
            "prevention_update_policy",
            "Update policy settings",
            "Change name, description or settings. Previews unless confirm",
        )
        .ops(&["getPreventionPolicies", "updatePreventionPolicies"])
        .output(Shape::Fields("applied:boolean"))
        .destructive()
        .idempotent(),
        update,
    )
    .tool(
        ToolSpec::write(
            "prevention_assign_policy",
            "Assign policy to group",
            "Add or remove a host group on a policy. Previews unless confirm",
        )
        .ops(&[
            "getPreventionPolicies",
            "getHostGroups",
            "performPreventionPoliciesAction",
        ])
        .output(Shape::Fields("applied?:boolean policy:object|null"))
        .destructive()
        .idempotent(),
        assign,
    )
    .resource(Resource::markdown(
        GUIDE,
        "Prevention policy FQL guide",
        "FQL fields and setting value shapes for prevention policies",
        include_str!("fql_policies.md"),
    ));
    mcp::add(p)
}

aerie_sdk::export_plugin!(plugin);

#[cfg(test)]
mod tests {
    use super::*;
    use aerie_sdk::testing::MockEnv;

    const PID: &str = "b1f2c3d4e5f60718293a4b5c6d7e8f90";
    const GID: &str = "2a8b900d486e4e9eaa024723d6f3742a";

    fn policy(groups: Value) -> Value {
        json!({
            "id": PID, "name": "Workstations - Strict", "platform_name": "Windows", "enabled": true,
            "groups": groups,
            "prevention_settings": [{"name": "Cloud Machine Learning", "settings": [
                {"id": "CloudAntiMalware", "name": "Cloud Anti-malware", "type": "mlslider",
                 "value": {"detection": "AGGRESSIVE", "prevention": "MODERATE"}}]},
                {"name": "Execution Blocking", "settings": [
                {"id": "ScriptBasedExecutionMonitoring", "name": "Script-Based Execution Monitoring",
                 "type": "toggle", "value": {"enabled": true, "configured": true}}]}]
        })
    }

    fn call(env: &MockEnv, tool: &str, args: Value) -> Result<Output, ToolError> {
        plugin().call(env, tool, &args.to_string())
    }

    #[test]
    fn declarations_are_valid_and_compact() {
        let p = plugin();
        p.validate().unwrap();
        // The tools/list budget is 450 bytes per tool on average across all groups; the settings
        // shape appears in two schemas here, so this group's own bound is 520.
        let d = p.describe();
        let avg = d.average_tool_bytes();
        assert!(avg < 520, "average tool size {avg} bytes");
    }

    #[test]
    fn update_previews_a_diff_and_changes_nothing() {
        let env = MockEnv::new().reply(
            "getPreventionPolicies",
            200,
            json!({"resources": [policy(json!([]))]}),
        );
        let out = call(
            &env,
            "prevention_update_policy",
            json!({"id": PID, "settings": [
                {"id": "CloudAntiMalware", "value": {"detection": "EXTRA_AGGRESSIVE", "prevention": "MODERATE"}},
                {"id": "ScriptBasedExecutionMonitoring", "value": {"enabled": true}}
            ]}),
        )
        .unwrap();
        let s = out.structured.unwrap();
        assert_eq!(s["preview"], true);
        let changes = s["changes"].as_array().unwrap();
        assert_eq!(changes.len(), 1, "unchanged toggle is not a change");
        assert_eq!(changes[0]["setting"], "CloudAntiMalware");
        assert_eq!(env.operations(), ["getPreventionPolicies"]);
    }

    #[test]
    fn update_confirmed_sends_settings() {
        let env = MockEnv::new()
            .reply(
                "getPreventionPolicies",
                200,
                json!({"resources": [policy(json!([]))]}),
            )
            .reply(
                "updatePreventionPolicies",
                200,
                json!({"resources": [policy(json!([]))]}),
            );
        call(
            &env,
            "prevention_update_policy",
            json!({"id": PID, "confirm": true, "settings": [{"id": "ScriptBasedExecutionMonitoring", "value": {"enabled": false}}]}),
        )
        .unwrap();
        let body = env.calls_to("updatePreventionPolicies")[0]
            .body_json()
            .unwrap();
        assert_eq!(
            body,
            json!({"resources": [{"id": PID, "settings": [{"id": "ScriptBasedExecutionMonitoring", "value": {"enabled": false}}]}]})
        );
    }

    #[test]
    fn bad_settings_are_rejected_before_requests() {
        let env = MockEnv::new();
        for v in [
            json!({"enabled": "yes"}),
            json!({"detection": "MAX", "prevention": "MODERATE"}),
            json!(true),
        ] {
            let e = call(
                &env,
                "prevention_update_policy",
                json!({"id": PID, "settings": [{"id": "X", "value": v}]}),
            );
            assert!(matches!(e, Err(ToolError::InvalidArguments(_))));
        }
        assert!(env.calls().is_empty());
    }

    #[test]
    fn assign_preview_and_apply() {
        let env = MockEnv::new()
            .reply(
                "getPreventionPolicies",
                200,
                json!({"resources": [policy(json!([]))]}),
            )
            .reply(
                "getHostGroups",
                200,
                json!({"resources": [{"id": GID, "name": "Finance"}]}),
            )
            .reply(
                "performPreventionPoliciesAction",
                200,
                json!({"resources": [policy(json!([{"id": GID, "name": "Finance"}]))]}),
            );
        let out = call(
            &env,
            "prevention_assign_policy",
            json!({"policy_id": PID, "group_id": GID}),
        )
        .unwrap();
        assert!(
            out.text
                .contains("Would assign policy Workstations - Strict to host group Finance")
        );
        assert!(env.calls_to("performPreventionPoliciesAction").is_empty());
        call(
            &env,
            "prevention_assign_policy",
            json!({"policy_id": PID, "group_id": GID, "confirm": true}),
        )
        .unwrap();
        let act = &env.calls_to("performPreventionPoliciesAction")[0];
        assert_eq!(act.query_value("action_name"), Some("add-host-group"));
        assert_eq!(
            act.body_json().unwrap(),
            json!({"ids": [PID], "action_parameters": [{"name": "group_id", "value": GID}]})
        );
    }

    #[test]
    fn list_summarises_groups() {
        let env = MockEnv::new().reply(
            "queryCombinedPreventionPolicies",
            200,
            json!({"meta": {"pagination": {"offset": 0, "limit": 50, "total": 1}}, "resources": [policy(json!([{"id": GID, "name": "Finance", "created_by": "x"}]))]}),
        );
        let out = call(
            &env,
            "prevention_list_policies",
            json!({"platform": "Windows", "enabled": true}),
        )
        .unwrap();
        let s = out.structured.unwrap();
        assert_eq!(
            s["results"][0]["groups"],
            json!([{"id": GID, "name": "Finance"}])
        );
        assert!(s["results"][0].get("prevention_settings").is_none());
        assert_eq!(
            env.calls()[0].query_value("filter"),
            Some("platform_name:'Windows'+enabled:true")
        );
    }
}
