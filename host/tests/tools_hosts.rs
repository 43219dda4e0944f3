//! Every `hosts` tool end to end: the real `aerie` binary, the embedded plugin and the simulator,
//! through rmcp's client — happy paths with the tenant's real data, and each tool's error paths
//! (bad argument, not found, missing scope, writes disabled, preview without confirm).

mod support;

use std::time::{Duration, Instant};

use falcon_sim::{KNOWN_CONTAINED_HOSTNAME, KNOWN_HOSTNAME, KNOWN_LINUX_HOSTNAME, KNOWN_USER};
use serde_json::{Value, json};
use support::*;

/// A well-formed AID no host in the tenant has.
const UNKNOWN_AID: &str = "0123456789abcdef0123456789abcdef";

const WRITE_TOOLS: &[&str] = &[
    "hosts_contain",
    "hosts_lift_containment",
    "hosts_create_group",
];

/// Read tools with the demo client, writes disabled: real content, bad arguments, unknown ids,
/// and write tools neither listed nor callable.
#[tokio::test(flavor = "multi_thread")]
async fn read_tools_and_their_errors() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_against(&sim, &["--modules", "hosts"], work.path()).await;

    // hosts_search: the well-known host by name, with its summary fields.
    let r = call(&client, "hosts_search", json!({"hostname": KNOWN_HOSTNAME})).await;
    let s = ok_json(&r);
    assert_eq!(s["total"], 1, "{s}");
    let host = &s["results"][0];
    assert_eq!(host["hostname"], KNOWN_HOSTNAME);
    assert_eq!(host["platform_name"], "Windows");
    let aid = host["device_id"].as_str().unwrap().to_string();
    assert_eq!(aid.len(), 32);
    assert!(host.get("cid").is_none(), "summary drops cid: {host}");
    // By platform: every result is Linux, and paging reports the next offset.
    let s = ok_json(
        &call(
            &client,
            "hosts_search",
            json!({"platform": "Linux", "limit": 5}),
        )
        .await,
    );
    let results = s["results"].as_array().unwrap();
    assert_eq!(results.len(), 5, "{s}");
    assert!(results.iter().all(|h| h["platform_name"] == "Linux"), "{s}");
    assert!(s["total"].as_u64().unwrap() > 5);
    assert_eq!(s["next"], 5);
    // Wildcards reach FQL: the Linux well-known host is found by prefix.
    let s = ok_json(&call(&client, "hosts_search", json!({"hostname": "lnx-web-0*"})).await);
    assert!(
        s["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["hostname"] == KNOWN_LINUX_HOSTNAME),
        "{s}"
    );
    // Bad arguments: schema violation, unknown enum value, bad time span, bad sort, bad FQL field.
    let e = call_err(&client, "hosts_search", json!({"limit": 0})).await;
    assert!(e.contains("limit"), "{e}");
    let e = call_err(&client, "hosts_search", json!({"platform": "Solaris"})).await;
    assert!(e.contains("Solaris") || e.contains("platform"), "{e}");
    let e = call_err(&client, "hosts_search", json!({"seen_within": "yesterday"})).await;
    assert!(e.contains("yesterday"), "{e}");
    let e = call_err(&client, "hosts_search", json!({"group_id": "nope"})).await;
    assert!(e.contains("`nope`") && e.contains("host group id"), "{e}");
    let e = call_err(
        &client,
        "hosts_search",
        json!({"filter": "no_such_field:'x'"}),
    )
    .await;
    assert!(e.contains("falcon://fql/hosts"), "{e}");

    // hosts_get: full record plus online state.
    let s = ok_json(&call(&client, "hosts_get", json!({"ids": [aid]})).await);
    let h = &s["hosts"][0];
    assert_eq!(h["device_id"], aid.as_str());
    assert_eq!(h["hostname"], KNOWN_HOSTNAME);
    assert_eq!(h["status"], "normal");
    assert_eq!(h["online_state"], "online", "{h}");
    assert!(
        h["os_version"].is_string() && h["agent_version"].is_string(),
        "{h}"
    );
    let e = call_err(&client, "hosts_get", json!({"ids": ["not-an-aid"]})).await;
    assert!(
        e.contains("not-an-aid") && e.contains("32 hexadecimal"),
        "{e}"
    );
    let e = call_err(&client, "hosts_get", json!({"ids": []})).await;
    assert!(e.contains("at least one host id"), "{e}");
    let e = call_err(&client, "hosts_get", json!({"ids": [UNKNOWN_AID]})).await;
    assert!(
        e.to_lowercase().contains("not found") && e.contains(UNKNOWN_AID),
        "{e}"
    );
    // One known and one unknown: the unknown one is named.
    let e = call_err(&client, "hosts_get", json!({"ids": [aid, UNKNOWN_AID]})).await;
    assert!(e.contains(UNKNOWN_AID) && !e.contains(&aid), "{e}");

    // hosts_list_groups: the tenant's 8 groups, sorted by name; a name filter narrows.
    let s = ok_json(&call(&client, "hosts_list_groups", json!({})).await);
    assert_eq!(s["total"], 8, "{s}");
    let groups = s["results"].as_array().unwrap();
    let names: Vec<&str> = groups.iter().map(|g| g["name"].as_str().unwrap()).collect();
    let mut sorted = names.clone();
    sorted.sort_by_key(|n| n.to_lowercase());
    assert_eq!(names, sorted);
    assert!(groups.iter().all(|g| g["id"].as_str().unwrap().len() == 32));
    assert!(
        groups.iter().all(|g| ["static", "dynamic", "staticByID"]
            .contains(&g["group_type"].as_str().unwrap_or(""))),
        "{s}"
    );
    let pick = names[0];
    let s = ok_json(&call(&client, "hosts_list_groups", json!({"name": pick})).await);
    assert!(
        s["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["name"] == pick),
        "{s}"
    );
    let s = ok_json(
        &call(
            &client,
            "hosts_list_groups",
            json!({"name": "no group has this name"}),
        )
        .await,
    );
    assert_eq!(s["total"], 0, "{s}");
    let e = call_err(&client, "hosts_list_groups", json!({"limit": 501})).await;
    assert!(e.contains("limit"), "{e}");

    // hosts_get_login_history: the known user logs on to the known host; the limit trims.
    let s = ok_json(
        &call(
            &client,
            "hosts_get_login_history",
            json!({"ids": [aid], "limit": 3}),
        )
        .await,
    );
    let logins = s["hosts"][0]["recent_logins"].as_array().unwrap();
    assert_eq!(s["hosts"][0]["device_id"], aid.as_str());
    assert!(!logins.is_empty() && logins.len() <= 3, "{s}");
    assert!(
        logins
            .iter()
            .any(|l| l["user_name"].as_str().unwrap_or("").contains(KNOWN_USER)),
        "{s}"
    );
    let e = call_err(&client, "hosts_get_login_history", json!({"ids": ["x"]})).await;
    assert!(e.contains("`x`"), "{e}");
    let e = call_err(
        &client,
        "hosts_get_login_history",
        json!({"ids": [UNKNOWN_AID]}),
    )
    .await;
    assert!(e.contains(UNKNOWN_AID), "{e}");

    // hosts_get_network_history: address history carries the host's current local IP.
    let s = ok_json(&call(&client, "hosts_get_network_history", json!({"ids": [aid]})).await);
    assert_eq!(s["hosts"][0]["device_id"], aid.as_str());
    let history = s["hosts"][0]["history"].as_array().unwrap();
    assert!(!history.is_empty(), "{s}");
    assert!(history.iter().all(|h| h["ip_address"].is_string()), "{s}");
    let e = call_err(
        &client,
        "hosts_get_network_history",
        json!({"ids": [aid], "limit": 0}),
    )
    .await;
    assert!(e.contains("limit"), "{e}");
    let e = call_err(
        &client,
        "hosts_get_network_history",
        json!({"ids": [UNKNOWN_AID]}),
    )
    .await;
    assert!(e.contains(UNKNOWN_AID), "{e}");

    // Writes disabled: the write tools are not listed, and calling one changes nothing.
    assert_writes_refused(
        &client,
        &sim,
        WRITE_TOOLS,
        vec![
            ("hosts_contain", json!({"ids": [aid], "confirm": true})),
            (
                "hosts_lift_containment",
                json!({"ids": [aid], "confirm": true}),
            ),
            (
                "hosts_create_group",
                json!({"name": "x", "group_type": "static"}),
            ),
        ],
    )
    .await;
    client.cancel().await.unwrap();
    sim.shutdown().await;
}

/// The status of a host through `hosts_get`.
async fn status(client: &rmcp::service::RunningService<rmcp::RoleClient, ()>, aid: &str) -> String {
    let s = ok_json(&call(client, "hosts_get", json!({"ids": [aid]})).await);
    s["hosts"][0]["status"].as_str().unwrap().to_string()
}

/// Poll `hosts_get` until the host reaches `want` (the simulator's sensor acknowledges after
/// its containment delay).
async fn wait_status(
    client: &rmcp::service::RunningService<rmcp::RoleClient, ()>,
    aid: &str,
    want: &str,
) {
    let start = Instant::now();
    loop {
        let s = status(client, aid).await;
        if s == want {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "host stuck at {s}, wanted {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Containment with writes enabled: a preview sends no write; confirm contains, the read tool sees
/// containment_pending then contained; lifting goes back to normal; unknown and malformed ids fail
/// before any write.
#[tokio::test(flavor = "multi_thread")]
async fn contain_and_lift_preview_then_confirm() {
    let sim =
        sim_with_limited_client(&[], |c| c.containment_delay = Duration::from_millis(300)).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_against(&sim, &["--modules", "hosts", "--allow-writes"], work.path()).await;
    let names = tool_names(&client).await;
    for t in WRITE_TOOLS {
        assert!(names.iter().any(|n| n == t), "{t} missing: {names:?}");
    }
    let aid = aid_of(&client, KNOWN_HOSTNAME).await;
    let contained = aid_of(&client, KNOWN_CONTAINED_HOSTNAME).await;

    // Preview: names the host that would change and the one already contained; no write.
    sim.clear_requests();
    let r = call(&client, "hosts_contain", json!({"ids": [aid, contained]})).await;
    let s = ok_json(&r);
    assert!(text(&r).starts_with("PREVIEW"), "{}", text(&r));
    assert!(text(&r).contains(&format!(
        "Would network-contain 1 host(s): {KNOWN_HOSTNAME}"
    )));
    assert_eq!(s["applied"], false);
    assert_eq!(s["would_change"][0]["hostname"], KNOWN_HOSTNAME);
    assert_eq!(s["unchanged"][0]["hostname"], KNOWN_CONTAINED_HOSTNAME);
    assert_eq!(
        count_op(&sim, "PerformActionV2"),
        0,
        "{:?}",
        operations(&sim)
    );
    assert_eq!(status(&client, &aid).await, "normal");

    // Confirm: one contain request for the one host that changes, with the note.
    sim.clear_requests();
    let r = call(
        &client,
        "hosts_contain",
        json!({"ids": [aid, contained], "confirm": true, "note": "IR-42"}),
    )
    .await;
    let s = ok_json(&r);
    assert_eq!(s["applied"], true, "{s}");
    let writes: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.operation.as_deref() == Some("PerformActionV2"))
        .collect();
    assert_eq!(writes.len(), 1);
    assert!(
        writes[0].query.contains("action_name=contain"),
        "{:?}",
        writes[0]
    );
    assert!(writes[0].body.contains(&aid) && !writes[0].body.contains(&contained));
    assert!(writes[0].body.contains("IR-42"));
    assert_eq!(status(&client, &aid).await, "containment_pending");
    wait_status(&client, &aid, "contained").await;

    // Containing again is a no-op: the preview says so and confirm sends nothing.
    sim.clear_requests();
    let r = call(
        &client,
        "hosts_contain",
        json!({"ids": [aid], "confirm": true}),
    )
    .await;
    assert_eq!(ok_json(&r)["applied"], false, "{}", text(&r));
    assert_eq!(count_op(&sim, "PerformActionV2"), 0);

    // Lift: preview sends nothing, confirm restores network access.
    let r = call(&client, "hosts_lift_containment", json!({"ids": [aid]})).await;
    assert!(text(&r).starts_with("PREVIEW") && text(&r).contains(KNOWN_HOSTNAME));
    assert_eq!(count_op(&sim, "PerformActionV2"), 0);
    assert_eq!(status(&client, &aid).await, "contained");
    let r = call(
        &client,
        "hosts_lift_containment",
        json!({"ids": [aid], "confirm": true}),
    )
    .await;
    assert_eq!(ok_json(&r)["applied"], true);
    let lift = sim
        .requests()
        .into_iter()
        .find(|r| r.operation.as_deref() == Some("PerformActionV2"))
        .unwrap();
    assert!(lift.query.contains("action_name=lift_containment"));
    assert_eq!(status(&client, &aid).await, "lift_containment_pending");
    wait_status(&client, &aid, "normal").await;

    // Not found and bad arguments: named, and no write reaches Falcon.
    sim.clear_requests();
    for tool in ["hosts_contain", "hosts_lift_containment"] {
        let e = call_err(
            &client,
            tool,
            json!({"ids": [UNKNOWN_AID], "confirm": true}),
        )
        .await;
        assert!(
            e.to_lowercase().contains("not found") && e.contains(UNKNOWN_AID),
            "{e}"
        );
        let e = call_err(&client, tool, json!({"ids": ["zz"], "confirm": true})).await;
        assert!(e.contains("`zz`"), "{e}");
        let e = call_err(&client, tool, json!({"ids": [], "confirm": true})).await;
        assert!(e.contains("at least one host id"), "{e}");
    }
    assert_eq!(count_op(&sim, "PerformActionV2"), 0);
    client.cancel().await.unwrap();
    sim.shutdown().await;
}

/// `hosts_create_group`: a static group with a member and a dynamic group with a rule are created
/// and listed; inconsistent arguments are refused before any request.
#[tokio::test(flavor = "multi_thread")]
async fn create_group_static_and_dynamic() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_against(&sim, &["--modules", "hosts", "--allow-writes"], work.path()).await;
    let aid = aid_of(&client, KNOWN_HOSTNAME).await;

    let r = call(
        &client,
        "hosts_create_group",
        json!({"name": "IR quarantine", "group_type": "static", "host_ids": [aid], "description": "case 42"}),
    )
    .await;
    let s = ok_json(&r);
    assert_eq!(s["group"]["name"], "IR quarantine", "{s}");
    assert_eq!(s["group"]["group_type"], "static");
    assert_eq!(s["hosts_added"], 1);
    let gid = s["group"]["id"].as_str().unwrap().to_string();
    let add = sim
        .requests()
        .into_iter()
        .find(|r| r.operation.as_deref() == Some("performGroupAction"))
        .expect("hosts were added");
    assert!(add.query.contains("action_name=add-hosts") && add.body.contains(&aid));
    // The new group is listed, and the host now reports it.
    let s = ok_json(
        &call(
            &client,
            "hosts_list_groups",
            json!({"name": "IR quarantine"}),
        )
        .await,
    );
    assert_eq!(s["results"][0]["id"], gid.as_str(), "{s}");
    let s = ok_json(&call(&client, "hosts_get", json!({"ids": [aid]})).await);
    assert!(
        s["hosts"][0]["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g == gid.as_str()),
        "{s}"
    );
    let s = ok_json(&call(&client, "hosts_search", json!({"group_id": gid})).await);
    assert_eq!(s["total"], 1, "{s}");
    assert_eq!(s["results"][0]["device_id"], aid.as_str());

    let s = ok_json(
        &call(
            &client,
            "hosts_create_group",
            json!({"name": "Linux fleet", "group_type": "dynamic", "assignment_rule": "platform_name:'Linux'"}),
        )
        .await,
    );
    assert_eq!(s["group"]["group_type"], "dynamic");
    assert_eq!(s["group"]["assignment_rule"], "platform_name:'Linux'");

    // Bad arguments: refused with the reason, nothing created.
    sim.clear_requests();
    let e = call_err(
        &client,
        "hosts_create_group",
        json!({"name": "D", "group_type": "dynamic"}),
    )
    .await;
    assert!(e.contains("assignment_rule"), "{e}");
    let e = call_err(
        &client,
        "hosts_create_group",
        json!({"name": "S", "group_type": "static", "assignment_rule": "platform_name:'Mac'"}),
    )
    .await;
    assert!(e.contains("assignment_rule only applies"), "{e}");
    let e = call_err(
        &client,
        "hosts_create_group",
        json!({"name": "  ", "group_type": "static"}),
    )
    .await;
    assert!(e.contains("blank"), "{e}");
    let e = call_err(
        &client,
        "hosts_create_group",
        json!({"name": "x", "group_type": "weird"}),
    )
    .await;
    assert!(e.contains("group_type") || e.contains("weird"), "{e}");
    let e = call_err(
        &client,
        "hosts_create_group",
        json!({"name": "x", "group_type": "static", "host_ids": ["bad"]}),
    )
    .await;
    assert!(e.contains("`bad`"), "{e}");
    assert_eq!(count_op(&sim, "createHostGroups"), 0);
    client.cancel().await.unwrap();
    sim.shutdown().await;
}

/// A client without the hosts scopes: each tool's error names the console scope to add, and
/// write tools name the write scope.
#[tokio::test(flavor = "multi_thread")]
async fn missing_scopes_are_named() {
    // Hosts can be read but not written; host groups not at all.
    let sim = sim_with_limited_client(&["hosts:read"], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_as(
        &sim,
        &["--modules", "hosts", "--allow-writes"],
        work.path(),
        LIMITED_CLIENT_ID,
        LIMITED_CLIENT_SECRET,
    )
    .await;
    let aid = aid_of(&client, KNOWN_HOSTNAME).await;
    let e = call_err(&client, "hosts_list_groups", json!({})).await;
    assert!(
        e.contains("`Host groups:read`") || e.contains("Host Group"),
        "{e}"
    );
    let e = call_err(
        &client,
        "hosts_contain",
        json!({"ids": [aid], "confirm": true}),
    )
    .await;
    assert!(e.contains("`Hosts:write`"), "{e}");
    let e = call_err(
        &client,
        "hosts_create_group",
        json!({"name": "x", "group_type": "static"}),
    )
    .await;
    assert!(
        e.contains(":write`") && e.to_lowercase().contains("group"),
        "{e}"
    );
    client.cancel().await.unwrap();

    // No hosts scope at all: the read tools name `Hosts:read`.
    let sim2 = sim_with_limited_client(&["host-group:read"], |_| {}).await;
    let client = serve_as(
        &sim2,
        &["--modules", "hosts", "--allow-writes"],
        work.path(),
        LIMITED_CLIENT_ID,
        LIMITED_CLIENT_SECRET,
    )
    .await;
    for (tool, args) in [
        ("hosts_search", json!({})),
        ("hosts_get", json!({"ids": [aid]})),
        ("hosts_get_login_history", json!({"ids": [aid]})),
        ("hosts_get_network_history", json!({"ids": [aid]})),
        ("hosts_lift_containment", json!({"ids": [aid]})),
    ] {
        let e = call_err(&client, tool, args).await;
        assert!(e.contains("`Hosts:read`"), "{tool}: {e}");
    }
    // Host groups are readable with this client.
    let s: Value = ok_json(&call(&client, "hosts_list_groups", json!({})).await);
    assert_eq!(s["total"], 8);
    client.cancel().await.unwrap();
    sim.shutdown().await;
    sim2.shutdown().await;
}
