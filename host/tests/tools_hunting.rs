//! Every `hunting` tool end to end: the real `aerie` binary, the embedded plugin and the
//! simulator, through rmcp's client — happy paths with the tenant's well-known indicators, and
//! each tool's error paths (bad argument, not seen / not found, missing scope, writes disabled).

mod support;

use falcon_sim::{KNOWN_BAD_DOMAIN, KNOWN_BAD_IP, KNOWN_BAD_MD5, KNOWN_BAD_SHA256};
use serde_json::json;
use support::*;

/// A SHA-256 nothing in the tenant has.
const UNSEEN_SHA256: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/// The read tools with the demo client and writes disabled.
#[tokio::test(flavor = "multi_thread")]
async fn read_tools_and_their_errors() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_against(&sim, &["--modules", "hunting"], work.path()).await;

    // hunting_search_detections: free text finds alerts mentioning the bad domain.
    let s = ok_json(
        &call(
            &client,
            "hunting_search_detections",
            json!({"query": KNOWN_BAD_DOMAIN, "limit": 5}),
        )
        .await,
    );
    let results = s["results"].as_array().unwrap();
    assert!(!results.is_empty(), "{s}");
    assert!(
        results
            .iter()
            .all(|a| a.to_string().contains(KNOWN_BAD_DOMAIN)),
        "{s}"
    );
    // FQL alone.
    let s = ok_json(
        &call(
            &client,
            "hunting_search_detections",
            json!({"filter": format!("sha256:'{KNOWN_BAD_SHA256}'"), "limit": 5}),
        )
        .await,
    );
    assert!(s["total"].as_u64().unwrap() > 0, "{s}");
    assert!(
        s["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["sha256"] == KNOWN_BAD_SHA256)
    );
    let e = call_err(&client, "hunting_search_detections", json!({})).await;
    assert!(e.contains("give query"), "{e}");
    let e = call_err(
        &client,
        "hunting_search_detections",
        json!({"filter": "no_such_field:'x'"}),
    )
    .await;
    assert!(e.contains("falcon://fql/alerts"), "{e}");
    let e = call_err(
        &client,
        "hunting_search_detections",
        json!({"query": "x", "limit": 201}),
    )
    .await;
    assert!(e.contains("limit"), "{e}");

    // hunting_query_hash: the known-bad SHA-256 ran on the known host and has alerts.
    let r = call(
        &client,
        "hunting_query_hash",
        json!({"hash": KNOWN_BAD_SHA256}),
    )
    .await;
    let s = ok_json(&r);
    assert_eq!(s["seen"], true, "{s}");
    assert_eq!(s["type"], "sha256");
    // The hosts it ran on, up to the limit, hydrated with their names.
    assert!(s["device_count"].as_u64().unwrap() > 10, "{s}");
    let hosts = s["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 10, "{s}");
    assert!(
        hosts
            .iter()
            .all(|h| h["hostname"].is_string() && h["local_ip"].is_string())
    );
    let seen_host = hosts[0].clone();
    assert!(s["alerts"]["total"].as_u64().unwrap() > 0);
    assert!(
        s["alerts"]["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["sha256"] == KNOWN_BAD_SHA256)
    );
    // Its MD5 is recognised as MD5 and seen too.
    let s = ok_json(
        &call(
            &client,
            "hunting_query_hash",
            json!({"hash": KNOWN_BAD_MD5}),
        )
        .await,
    );
    assert_eq!(s["type"], "md5");
    assert_eq!(s["seen"], true, "{s}");
    // Never seen: a clear "not seen", not an error.
    let r = call(
        &client,
        "hunting_query_hash",
        json!({"hash": UNSEEN_SHA256}),
    )
    .await;
    let s = ok_json(&r);
    assert_eq!(s["seen"], false);
    assert_eq!(s["device_count"], 0);
    assert!(text(&r).contains("has not been seen"), "{}", text(&r));
    let e = call_err(&client, "hunting_query_hash", json!({"hash": "abc"})).await;
    assert!(e.contains("SHA-256") && e.contains("MD5"), "{e}");
    let e = call_err(
        &client,
        "hunting_query_hash",
        json!({"hash": "z".repeat(64)}),
    )
    .await;
    assert!(e.contains("64 hexadecimal"), "{e}");

    // hunting_query_ip: the known C2 address has alerts and a ready-made CQL.
    let r = call(&client, "hunting_query_ip", json!({"ip": KNOWN_BAD_IP})).await;
    let s = ok_json(&r);
    assert_eq!(s["ip"], KNOWN_BAD_IP);
    assert!(s["alerts"]["total"].as_u64().unwrap() > 0, "{s}");
    assert!(
        s["cql"]
            .as_str()
            .unwrap()
            .contains(&format!("RemoteAddressIP4=\"{KNOWN_BAD_IP}\""))
    );
    // A host's own address finds that host.
    let local_ip = seen_host["local_ip"].as_str().unwrap();
    let s = ok_json(&call(&client, "hunting_query_ip", json!({"ip": local_ip})).await);
    assert!(
        s["hosts_with_ip"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["hostname"] == seen_host["hostname"]),
        "{s}"
    );
    // An address nobody used: empty, not an error.
    let s = ok_json(&call(&client, "hunting_query_ip", json!({"ip": "192.0.2.254"})).await);
    assert_eq!(s["alerts"]["total"], 0, "{s}");
    assert!(s["hosts_with_ip"].as_array().unwrap().is_empty());
    let e = call_err(&client, "hunting_query_ip", json!({"ip": "999.1.1.1"})).await;
    assert!(e.contains("999.1.1.1"), "{e}");

    // hunting_list_iocs: the tenant's 40, and the known-bad hash as a prevent IOC.
    let s = ok_json(&call(&client, "hunting_list_iocs", json!({"limit": 10})).await);
    assert_eq!(s["total"], 40, "{s}");
    assert_eq!(s["results"].as_array().unwrap().len(), 10);
    let s = ok_json(
        &call(
            &client,
            "hunting_list_iocs",
            json!({"type": "sha256", "value": KNOWN_BAD_SHA256}),
        )
        .await,
    );
    assert_eq!(s["total"], 1, "{s}");
    assert_eq!(s["results"][0]["value"], KNOWN_BAD_SHA256);
    assert_eq!(s["results"][0]["action"], "prevent");
    let s = ok_json(&call(&client, "hunting_list_iocs", json!({"type": "domain"})).await);
    assert!(
        s["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["type"] == "domain")
    );
    assert!(
        s["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["value"] == KNOWN_BAD_DOMAIN),
        "{s}"
    );
    let s = ok_json(
        &call(
            &client,
            "hunting_list_iocs",
            json!({"type": "sha256", "value": UNSEEN_SHA256}),
        )
        .await,
    );
    assert_eq!(s["total"], 0, "{s}");
    let e = call_err(
        &client,
        "hunting_list_iocs",
        json!({"type": "sha256", "value": "abc"}),
    )
    .await;
    assert!(e.contains("`abc`"), "{e}");
    let e = call_err(&client, "hunting_list_iocs", json!({"type": "url"})).await;
    assert!(e.contains("type") || e.contains("url"), "{e}");

    // Writes disabled.
    assert!(
        !tool_names(&client)
            .await
            .iter()
            .any(|n| n == "hunting_create_ioc")
    );
    sim.clear_requests();
    let e = call_err(
        &client,
        "hunting_create_ioc",
        json!({"type": "domain", "value": "evil.example.org"}),
    )
    .await;
    assert!(e.contains("writes are disabled"), "{e}");
    assert!(sim.requests().is_empty());
    client.cancel().await.unwrap();
    sim.shutdown().await;
}

/// `hunting_create_ioc` with writes enabled: the IOC is created and listed; duplicates and
/// invalid indicators are refused with the reason.
#[tokio::test(flavor = "multi_thread")]
async fn create_ioc_and_list_it() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_against(
        &sim,
        &["--modules", "hunting", "--allow-writes"],
        work.path(),
    )
    .await;
    let r = call(
        &client,
        "hunting_create_ioc",
        json!({"type": "domain", "value": "evil.example.org", "severity": "high",
               "description": "phishing kit", "tags": ["case-42"], "expiration": "2099-01-31"}),
    )
    .await;
    let s = ok_json(&r);
    assert_eq!(s["ioc"]["value"], "evil.example.org", "{s}");
    assert_eq!(s["ioc"]["action"], "detect");
    assert_eq!(s["ioc"]["severity"], "high");
    assert!(s["ioc"]["id"].is_string());
    assert!(text(&r).contains("Created domain IOC evil.example.org"));
    let s = ok_json(
        &call(
            &client,
            "hunting_list_iocs",
            json!({"type": "domain", "value": "evil.example.org"}),
        )
        .await,
    );
    assert_eq!(s["total"], 1, "{s}");
    assert_eq!(s["results"][0]["description"], "phishing kit");
    let s = ok_json(&call(&client, "hunting_list_iocs", json!({"limit": 1})).await);
    assert_eq!(s["total"], 41);

    // A duplicate is refused by Falcon with its message.
    let e = call_err(
        &client,
        "hunting_create_ioc",
        json!({"type": "domain", "value": "evil.example.org"}),
    )
    .await;
    assert!(e.contains("Duplicate"), "{e}");
    // Bad arguments never reach Falcon.
    sim.clear_requests();
    for (args, needle) in [
        (
            json!({"type": "domain", "value": "evil.example.org", "action": "prevent"}),
            "only for hashes",
        ),
        (json!({"type": "ipv4", "value": "1.2.3"}), "`1.2.3`"),
        (
            json!({"type": "md5", "value": KNOWN_BAD_MD5, "platforms": ["beos"]}),
            "beos",
        ),
        (
            json!({"type": "md5", "value": KNOWN_BAD_MD5, "expiration": "soon"}),
            "soon",
        ),
    ] {
        let e = call_err(&client, "hunting_create_ioc", args).await;
        assert!(e.contains(needle), "{needle}: {e}");
    }
    assert_eq!(count_op(&sim, "indicator_create_v1"), 0);
    client.cancel().await.unwrap();
    sim.shutdown().await;
}

/// A client without the alerts and IOC scopes: each tool names the console scope to add.
#[tokio::test(flavor = "multi_thread")]
async fn missing_scopes_are_named() {
    let sim = sim_with_limited_client(&["hosts:read"], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_as(
        &sim,
        &["--modules", "hunting", "--allow-writes"],
        work.path(),
        LIMITED_CLIENT_ID,
        LIMITED_CLIENT_SECRET,
    )
    .await;
    for (tool, args, scope) in [
        (
            "hunting_search_detections",
            json!({"query": "x"}),
            "`Alerts:read`",
        ),
        (
            "hunting_query_hash",
            json!({"hash": KNOWN_BAD_SHA256}),
            "`IOC Management:read`",
        ),
        (
            "hunting_query_ip",
            json!({"ip": KNOWN_BAD_IP}),
            "`IOC Management:read`",
        ),
        ("hunting_list_iocs", json!({}), "`IOC Management:read`"),
        (
            "hunting_create_ioc",
            json!({"type": "domain", "value": "evil.example.org"}),
            "`IOC Management:write`",
        ),
    ] {
        let e = call_err(&client, tool, args).await;
        assert!(e.contains(scope), "{tool}: {e}");
    }
    client.cancel().await.unwrap();
    sim.shutdown().await;
}
