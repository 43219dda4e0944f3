//! Every `prevention` tool end to end: the real `aerie` binary, the embedded plugin and the
//! simulator, through rmcp's client — happy paths with the tenant's 8 policies, and each tool's
//! error paths (bad argument, not found, missing scope, writes disabled, preview without confirm).

mod support;

use serde_json::{Value, json};
use support::*;

const UNKNOWN_ID: &str = "0123456789abcdef0123456789abcdef";

const WRITE_TOOLS: &[&str] = &[
    "prevention_create_policy",
    "prevention_update_policy",
    "prevention_assign_policy",
];

/// The value of setting `id` in a full policy from `prevention_get_policy`.
fn setting(policy: &Value, id: &str) -> Value {
    policy["prevention_settings"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["settings"].as_array().unwrap().iter())
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no setting {id} in {policy}"))["value"]
        .clone()
}

/// Read tools with writes disabled: the tenant's policies, bad arguments, unknown ids, and the
/// write tools neither listed nor callable.
#[tokio::test(flavor = "multi_thread")]
async fn read_tools_and_their_errors() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_against(&sim, &["--modules", "prevention"], work.path()).await;

    let s = ok_json(&call(&client, "prevention_list_policies", json!({})).await);
    assert_eq!(s["total"], 8, "{s}");
    let all = s["results"].as_array().unwrap();
    assert!(all.iter().all(|p| p["id"].as_str().unwrap().len() == 32));
    assert!(all.iter().all(|p| p.get("prevention_settings").is_none()));
    let s = ok_json(
        &call(
            &client,
            "prevention_list_policies",
            json!({"platform": "Windows"}),
        )
        .await,
    );
    let win = s["results"].as_array().unwrap();
    assert!(!win.is_empty() && win.len() < 8, "{s}");
    assert!(win.iter().all(|p| p["platform_name"] == "Windows"));
    let default = win
        .iter()
        .find(|p| p["name"] == "platform_default")
        .expect("a Windows platform_default");
    let default_id = default["id"].as_str().unwrap().to_string();
    let s = ok_json(
        &call(
            &client,
            "prevention_list_policies",
            json!({"name": "platform_default"}),
        )
        .await,
    );
    assert!(
        s["total"].as_u64().unwrap() >= 3,
        "one default per platform: {s}"
    );
    let e = call_err(
        &client,
        "prevention_list_policies",
        json!({"platform": "BeOS"}),
    )
    .await;
    assert!(e.contains("BeOS") || e.contains("platform"), "{e}");
    let e = call_err(
        &client,
        "prevention_list_policies",
        json!({"filter": "no_such_field:'x'"}),
    )
    .await;
    assert!(e.contains("falcon://fql/policies"), "{e}");

    // prevention_get_policy: every setting, by category.
    let s = ok_json(
        &call(
            &client,
            "prevention_get_policy",
            json!({"ids": [default_id]}),
        )
        .await,
    );
    let p = &s["policies"][0];
    assert_eq!(p["id"], default_id.as_str());
    assert_eq!(p["platform_name"], "Windows");
    assert!(
        setting(p, "CloudAntiMalware")["detection"].is_string(),
        "{p}"
    );
    let e = call_err(&client, "prevention_get_policy", json!({"ids": ["p1"]})).await;
    assert!(e.contains("`p1`") && e.contains("policy id"), "{e}");
    let e = call_err(
        &client,
        "prevention_get_policy",
        json!({"ids": [UNKNOWN_ID]}),
    )
    .await;
    assert!(
        e.to_lowercase().contains("not found") && e.contains(UNKNOWN_ID),
        "{e}"
    );

    // Writes disabled.
    assert_writes_refused(
        &client,
        &sim,
        WRITE_TOOLS,
        vec![
            (
                "prevention_create_policy",
                json!({"name": "x", "platform": "Linux"}),
            ),
            (
                "prevention_update_policy",
                json!({"id": default_id, "description": "x", "confirm": true}),
            ),
            (
                "prevention_assign_policy",
                json!({"policy_id": default_id, "group_id": UNKNOWN_ID, "confirm": true}),
            ),
        ],
    )
    .await;
    client.cancel().await.unwrap();
    sim.shutdown().await;
}

/// With writes enabled: create a policy, preview then apply a settings change, preview then
/// apply a group assignment — previews send no write, confirmed changes are visible through
/// `prevention_get_policy`; unknown ids and bad settings are named.
#[tokio::test(flavor = "multi_thread")]
async fn create_update_assign() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_against(
        &sim,
        &["--modules", "prevention,hosts", "--allow-writes"],
        work.path(),
    )
    .await;

    // Create.
    let r = call(
        &client,
        "prevention_create_policy",
        json!({"name": "IR lockdown", "platform": "Windows", "description": "case 42",
               "settings": [{"id": "CustomBlacklisting", "value": {"enabled": true}}]}),
    )
    .await;
    let s = ok_json(&r);
    let id = s["policy"]["id"].as_str().unwrap().to_string();
    assert_eq!(s["policy"]["name"], "IR lockdown");
    assert_eq!(s["policy"]["enabled"], false);
    let p =
        ok_json(&call(&client, "prevention_get_policy", json!({"ids": [id]})).await)["policies"][0]
            .clone();
    assert_eq!(p["description"], "case 42");
    assert_eq!(setting(&p, "CustomBlacklisting")["enabled"], true);
    let s = ok_json(
        &call(
            &client,
            "prevention_list_policies",
            json!({"name": "IR lockdown"}),
        )
        .await,
    );
    assert_eq!(s["results"][0]["id"], id.as_str(), "{s}");
    sim.clear_requests();
    for (args, needle) in [
        (json!({"name": " ", "platform": "Mac"}), "blank"),
        (json!({"name": "x", "platform": "Amiga"}), "platform"),
        (
            json!({"name": "x", "platform": "Mac", "clone_id": "nope"}),
            "`nope`",
        ),
        (
            json!({"name": "x", "platform": "Mac", "settings": [{"id": "AdwarePUP", "value": {"detection": "LOUD", "prevention": "MODERATE"}}]}),
            "AdwarePUP",
        ),
    ] {
        let e = call_err(&client, "prevention_create_policy", args).await;
        assert!(e.contains(needle), "{needle}: {e}");
    }
    assert_eq!(count_op(&sim, "createPreventionPolicies"), 0);

    // Update: the preview lists each change and writes nothing.
    let change = json!({"id": id, "description": "case 43",
                        "settings": [{"id": "CloudAntiMalware", "value": {"detection": "AGGRESSIVE", "prevention": "AGGRESSIVE"}}]});
    let r = call(&client, "prevention_update_policy", change.clone()).await;
    let s = ok_json(&r);
    assert!(text(&r).starts_with("PREVIEW") && text(&r).contains("IR lockdown: 2 change(s)"));
    assert_eq!(s["applied"], false);
    let changes = s["changes"].as_array().unwrap();
    assert_eq!(changes[0]["field"], "description");
    assert_eq!(changes[0]["from"], "case 42");
    assert_eq!(changes[1]["setting"], "CloudAntiMalware");
    assert_eq!(changes[1]["to"]["detection"], "AGGRESSIVE");
    assert_eq!(
        count_op(&sim, "updatePreventionPolicies"),
        0,
        "{:?}",
        operations(&sim)
    );
    let mut confirmed = change.clone();
    confirmed["confirm"] = json!(true);
    let s = ok_json(&call(&client, "prevention_update_policy", confirmed.clone()).await);
    assert_eq!(s["applied"], true, "{s}");
    assert_eq!(count_op(&sim, "updatePreventionPolicies"), 1);
    let p =
        ok_json(&call(&client, "prevention_get_policy", json!({"ids": [id]})).await)["policies"][0]
            .clone();
    assert_eq!(p["description"], "case 43");
    assert_eq!(setting(&p, "CloudAntiMalware")["detection"], "AGGRESSIVE");
    assert_eq!(setting(&p, "CloudAntiMalware")["prevention"], "AGGRESSIVE");
    // The same change again is a no-op and sends nothing.
    let s = ok_json(&call(&client, "prevention_update_policy", confirmed).await);
    assert_eq!(s["applied"], false, "{s}");
    assert_eq!(count_op(&sim, "updatePreventionPolicies"), 1);
    for (args, needle) in [
        (json!({"id": id}), "nothing to change"),
        (
            json!({"id": id, "settings": [{"id": "NoSuchSetting", "value": {"enabled": true}}]}),
            "NoSuchSetting",
        ),
        (
            json!({"id": id, "settings": [{"id": "CustomBlacklisting", "value": {"enabled": "yes"}}]}),
            "CustomBlacklisting",
        ),
        (json!({"id": "short", "name": "x"}), "`short`"),
        (
            json!({"id": UNKNOWN_ID, "name": "x", "confirm": true}),
            UNKNOWN_ID,
        ),
    ] {
        let e = call_err(&client, "prevention_update_policy", args).await;
        assert!(e.contains(needle), "{needle}: {e}");
    }
    assert_eq!(count_op(&sim, "updatePreventionPolicies"), 1);

    // Assign: a host group from the hosts plugin.
    let g = ok_json(&call(&client, "hosts_list_groups", json!({"limit": 1})).await)["results"][0]
        .clone();
    let gid = g["id"].as_str().unwrap().to_string();
    let gname = g["name"].as_str().unwrap();
    sim.clear_requests();
    let r = call(
        &client,
        "prevention_assign_policy",
        json!({"policy_id": id, "group_id": gid}),
    )
    .await;
    let s = ok_json(&r);
    assert!(text(&r).starts_with("PREVIEW"), "{}", text(&r));
    assert!(text(&r).contains(&format!(
        "Would assign policy IR lockdown to host group {gname}"
    )));
    assert_eq!(s["already"], false);
    assert_eq!(count_op(&sim, "performPreventionPoliciesAction"), 0);
    let s = ok_json(
        &call(
            &client,
            "prevention_assign_policy",
            json!({"policy_id": id, "group_id": gid, "confirm": true}),
        )
        .await,
    );
    assert_eq!(s["applied"], true, "{s}");
    let act = sim
        .requests()
        .into_iter()
        .find(|r| r.operation.as_deref() == Some("performPreventionPoliciesAction"))
        .unwrap();
    assert!(act.query.contains("action_name=add-host-group") && act.body.contains(&gid));
    let p =
        ok_json(&call(&client, "prevention_get_policy", json!({"ids": [id]})).await)["policies"][0]
            .clone();
    assert!(
        p["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["id"] == gid.as_str()),
        "{p}"
    );
    // Assigning again is a no-op; removing previews, then applies.
    let r = call(
        &client,
        "prevention_assign_policy",
        json!({"policy_id": id, "group_id": gid}),
    )
    .await;
    assert_eq!(ok_json(&r)["already"], true, "{}", text(&r));
    let r = call(
        &client,
        "prevention_assign_policy",
        json!({"policy_id": id, "group_id": gid, "action": "remove"}),
    )
    .await;
    assert!(text(&r).contains("Would unassign"), "{}", text(&r));
    assert_eq!(count_op(&sim, "performPreventionPoliciesAction"), 1);
    ok_json(
        &call(
            &client,
            "prevention_assign_policy",
            json!({"policy_id": id, "group_id": gid, "action": "remove", "confirm": true}),
        )
        .await,
    );
    let p =
        ok_json(&call(&client, "prevention_get_policy", json!({"ids": [id]})).await)["policies"][0]
            .clone();
    assert!(
        !p["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|g| g["id"] == gid.as_str()),
        "{p}"
    );
    // Unknown policy or group: named; malformed ids refused; nothing sent.
    sim.clear_requests();
    let e = call_err(
        &client,
        "prevention_assign_policy",
        json!({"policy_id": id, "group_id": UNKNOWN_ID, "confirm": true}),
    )
    .await;
    assert!(
        e.to_lowercase().contains("host group") && e.contains(UNKNOWN_ID),
        "{e}"
    );
    let e = call_err(
        &client,
        "prevention_assign_policy",
        json!({"policy_id": UNKNOWN_ID, "group_id": gid, "confirm": true}),
    )
    .await;
    assert!(
        e.to_lowercase().contains("policy") && e.contains(UNKNOWN_ID),
        "{e}"
    );
    let e = call_err(
        &client,
        "prevention_assign_policy",
        json!({"policy_id": id, "group_id": gid, "action": "toggle"}),
    )
    .await;
    assert!(e.contains("action") || e.contains("toggle"), "{e}");
    assert_eq!(count_op(&sim, "performPreventionPoliciesAction"), 0);
    client.cancel().await.unwrap();
    sim.shutdown().await;
}

/// Missing scopes: reads name `Prevention Policies:read`; with read but not write, the writes
/// name `Prevention Policies:write` (and a preview still works, since it only reads).
#[tokio::test(flavor = "multi_thread")]
async fn missing_scopes_are_named() {
    let sim = sim_with_limited_client(&["hosts:read"], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_as(
        &sim,
        &["--modules", "prevention", "--allow-writes"],
        work.path(),
        LIMITED_CLIENT_ID,
        LIMITED_CLIENT_SECRET,
    )
    .await;
    for (tool, args) in [
        ("prevention_list_policies", json!({})),
        ("prevention_get_policy", json!({"ids": [UNKNOWN_ID]})),
        (
            "prevention_update_policy",
            json!({"id": UNKNOWN_ID, "name": "x"}),
        ),
    ] {
        let e = call_err(&client, tool, args).await;
        assert!(e.contains("`Prevention Policies:read`"), "{tool}: {e}");
    }
    let e = call_err(
        &client,
        "prevention_create_policy",
        json!({"name": "x", "platform": "Linux"}),
    )
    .await;
    assert!(e.contains("`Prevention Policies:write`"), "{e}");
    client.cancel().await.unwrap();
    sim.shutdown().await;

    let sim =
        sim_with_limited_client(&["prevention-policies:read", "host-group:read"], |_| {}).await;
    let client = serve_as(
        &sim,
        &["--modules", "prevention,hosts", "--allow-writes"],
        work.path(),
        LIMITED_CLIENT_ID,
        LIMITED_CLIENT_SECRET,
    )
    .await;
    let pid =
        ok_json(&call(&client, "prevention_list_policies", json!({"limit": 1})).await)["results"]
            [0]["id"]
            .as_str()
            .unwrap()
            .to_string();
    let gid = ok_json(&call(&client, "hosts_list_groups", json!({"limit": 1})).await)["results"][0]
        ["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = call(
        &client,
        "prevention_update_policy",
        json!({"id": pid, "description": "changed"}),
    )
    .await;
    assert!(text(&r).starts_with("PREVIEW"), "{}", text(&r));
    for (tool, args) in [
        (
            "prevention_update_policy",
            json!({"id": pid, "description": "changed", "confirm": true}),
        ),
        (
            "prevention_assign_policy",
            json!({"policy_id": pid, "group_id": gid, "confirm": true}),
        ),
    ] {
        let e = call_err(&client, tool, args).await;
        assert!(e.contains("`Prevention Policies:write`"), "{tool}: {e}");
    }
    client.cancel().await.unwrap();
    sim.shutdown().await;
}
