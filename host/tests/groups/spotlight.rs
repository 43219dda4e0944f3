//! `spotlight` end to end (see main.rs): every tool of the group through the real binary and
//! the simulator — the known host's open findings (worst first, with the Intel actor that
//! exploits one of them), a CVE found across many hosts paged with `after` cursors, ids that
//! hydrate into full findings and remediations, supported evaluations, the FQL guide, and each
//! tool's error paths (bad argument, not found, missing scope). The group has no write tools.

use std::collections::BTreeSet;

use falcon_sim::{KNOWN_ACTOR, KNOWN_CVE, KNOWN_HOSTNAME};
use rmcp::model::ReadResourceRequestParams;
use serde_json::{Value, json};

use crate::support::*;

const GUIDE: &str = "falcon://fql/spotlight-vulnerabilities";

type Client = rmcp::service::RunningService<rmcp::RoleClient, ()>;

fn results(s: &Value) -> &Vec<Value> {
    s["results"].as_array().unwrap_or_else(|| panic!("{s}"))
}

/// `spotlight_host_vulns` on the known host, by name and by AID.
async fn host_vulns(client: &Client) -> Value {
    let by_name = ok_json(
        &call(
            client,
            "spotlight_host_vulns",
            json!({"host": KNOWN_HOSTNAME}),
        )
        .await,
    );
    let aid = by_name["aid"].as_str().unwrap().to_string();
    assert_eq!(aid, aid_of(client, KNOWN_HOSTNAME).await);
    let by_aid = ok_json(&call(client, "spotlight_host_vulns", json!({"host": aid})).await);
    assert_eq!(by_name, by_aid);
    by_name
}

#[tokio::test(flavor = "multi_thread")]
async fn read_tools_and_their_errors() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_against(&sim, &["--modules", "spotlight,hosts"], work.path()).await;

    // spotlight_host_vulns: only open findings, worst first, counted by severity; one of them is
    // exploited by the actor behind the tenant's known-bad loader.
    let h = host_vulns(&client).await;
    assert_eq!(h["hostname"], KNOWN_HOSTNAME);
    let vulns = h["vulnerabilities"].as_array().unwrap();
    assert_eq!(h["total"], vulns.len(), "{h}");
    assert!(vulns.len() >= 3, "{h}");
    assert!(vulns.iter().all(|v| v["status"] == "open"), "{h}");
    assert!(vulns.iter().any(|v| v["cve"] == KNOWN_CVE), "{h}");
    let exploit: Vec<u64> = vulns
        .iter()
        .map(|v| v["exploit_status"].as_u64().unwrap_or(0))
        .collect();
    assert!(exploit.windows(2).all(|w| w[0] >= w[1]), "worst first: {h}");
    assert_eq!(exploit[0], 90);
    assert!(
        vulns.iter().any(|v| v["actors"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == KNOWN_ACTOR))),
        "{h}"
    );
    let counted: u64 = h["by_severity"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(counted, vulns.len() as u64);
    assert!(vulns.iter().all(|v| v["remediation"].is_string()), "{h}");
    let e = call_err(
        &client,
        "spotlight_host_vulns",
        json!({"host": "NO-SUCH-HOST"}),
    )
    .await;
    assert!(
        e.contains("NO-SUCH-HOST") && e.to_lowercase().contains("not found"),
        "{e}"
    );
    let e = call_err(&client, "spotlight_host_vulns", json!({"host": "WS-*"})).await;
    assert!(e.contains("give one AID"), "{e}");

    // spotlight_search: the shared CVE across many hosts, paged with cursors without overlap.
    let s = ok_json(
        &call(
            &client,
            "spotlight_search",
            json!({"cve": KNOWN_CVE.to_lowercase(), "status": "open", "limit": 5}),
        )
        .await,
    );
    let total = s["total"].as_u64().unwrap();
    assert!(total >= 10, "{s}");
    let first = results(&s);
    assert_eq!(first.len(), 5);
    assert!(
        first
            .iter()
            .all(|v| v["cve"] == KNOWN_CVE && v["status"] == "open"),
        "{s}"
    );
    assert!(
        first
            .iter()
            .all(|v| v["hostname"].is_string() && v.get("cid").is_none())
    );
    let after = s["next"].as_str().expect("a cursor").to_string();
    let s2 = ok_json(
        &call(
            &client,
            "spotlight_search",
            json!({"cve": KNOWN_CVE, "status": "open", "limit": 5, "after": after}),
        )
        .await,
    );
    let ids = |v: &Vec<Value>| -> BTreeSet<String> {
        v.iter()
            .map(|x| x["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(ids(first).is_disjoint(&ids(results(&s2))), "{s2}");
    // By hostname (every status) and narrowed by exploit status and severity.
    let s = ok_json(
        &call(
            &client,
            "spotlight_search",
            json!({"hostname": KNOWN_HOSTNAME}),
        )
        .await,
    );
    assert!(
        s["total"].as_u64().unwrap() > vulns.len() as u64,
        "a closed one too: {s}"
    );
    assert!(results(&s).iter().any(|v| v["status"] == "closed"), "{s}");
    let s = ok_json(
        &call(
            &client,
            "spotlight_search",
            json!({"hostname": KNOWN_HOSTNAME, "exploit_status": "actively_used"}),
        )
        .await,
    );
    assert!(!results(&s).is_empty());
    assert!(results(&s).iter().all(|v| v["exploit_status"] == 90), "{s}");
    let s = ok_json(
        &call(
            &client,
            "spotlight_search",
            json!({"severity": "critical", "limit": 10}),
        )
        .await,
    );
    assert!(
        results(&s).iter().all(|v| v["severity"] == "CRITICAL"),
        "{s}"
    );
    let s = ok_json(
        &call(
            &client,
            "spotlight_search",
            json!({"filter": "cve.is_cisa_kev:true+host_info.platform_name:'Linux'", "limit": 10}),
        )
        .await,
    );
    assert!(results(&s).iter().all(|v| v["cisa_kev"] == true), "{s}");
    // Errors: no filter, a malformed CVE or AID, an unknown FQL field (cites the guide), an
    // unknown hostname, a bad sort.
    let e = call_err(&client, "spotlight_search", json!({})).await;
    assert!(e.contains("needs a filter"), "{e}");
    let e = call_err(&client, "spotlight_search", json!({"cve": "2023-4863"})).await;
    assert!(e.contains("CVE-YYYY-NNNN"), "{e}");
    let e = call_err(&client, "spotlight_search", json!({"aid": "nope"})).await;
    assert!(e.contains("`nope`"), "{e}");
    let e = call_err(
        &client,
        "spotlight_search",
        json!({"filter": "no_such_field:'x'"}),
    )
    .await;
    assert!(e.contains(GUIDE), "{e}");
    let e = call_err(
        &client,
        "spotlight_search",
        json!({"hostname": "NO-SUCH-HOST"}),
    )
    .await;
    assert!(e.contains("NO-SUCH-HOST"), "{e}");
    let e = call_err(
        &client,
        "spotlight_search",
        json!({"cve": KNOWN_CVE, "sort": "cve.id.asc"}),
    )
    .await;
    assert!(e.contains("updated_timestamp"), "{e}");
    let e = call_err(
        &client,
        "spotlight_search",
        json!({"cve": KNOWN_CVE, "limit": 0}),
    )
    .await;
    assert!(e.contains("limit"), "{e}");

    // spotlight_query: the same selection as ids, every status.
    let all = ok_json(
        &call(
            &client,
            "spotlight_search",
            json!({"cve": KNOWN_CVE, "limit": 1}),
        )
        .await,
    )["total"]
        .clone();
    let q = ok_json(
        &call(
            &client,
            "spotlight_query",
            json!({"cve": KNOWN_CVE, "limit": 50}),
        )
        .await,
    );
    assert_eq!(q["total"], all);
    assert!(all.as_u64().unwrap() > 50, "{all}");
    assert_eq!(results(&q).len(), 50);
    assert!(results(&q).iter().all(Value::is_string), "{q}");
    let q2 = ok_json(
        &call(
            &client,
            "spotlight_query",
            json!({"cve": KNOWN_CVE, "limit": 50, "after": q["next"]}),
        )
        .await,
    );
    assert!(
        results(&q2).iter().all(|id| !results(&q).contains(id)),
        "{q2}"
    );
    let e = call_err(&client, "spotlight_query", json!({})).await;
    assert!(e.contains("needs a filter"), "{e}");

    // spotlight_get: full findings, with the remediation they point to.
    let id = results(&q)[0].as_str().unwrap().to_string();
    let g = ok_json(&call(&client, "spotlight_get", json!({"ids": [id]})).await);
    let v = &g["vulnerabilities"][0];
    assert_eq!(v["id"], id.as_str());
    assert_eq!(v["cve"]["id"], KNOWN_CVE);
    assert!(
        v["cve"]["description"].is_string() && v["host_info"]["hostname"].is_string(),
        "{v}"
    );
    let rem_id = v["apps"][0]["remediation"]["ids"][0]
        .as_str()
        .unwrap()
        .to_string();
    let unknown = format!("{}_00000000000000000000000000000000", "0".repeat(32));
    let e = call_err(&client, "spotlight_get", json!({"ids": [id, unknown]})).await;
    assert!(e.contains(&unknown) && !e.contains(&id), "{e}");
    let e = call_err(&client, "spotlight_get", json!({"ids": ["bad id"]})).await;
    assert!(e.contains("not a vulnerability id"), "{e}");
    let e = call_err(&client, "spotlight_get", json!({"ids": []})).await;
    assert!(e.contains("ids") || e.contains("at least one"), "{e}");

    // spotlight_get_remediations.
    let r = ok_json(
        &call(
            &client,
            "spotlight_get_remediations",
            json!({"ids": [rem_id]}),
        )
        .await,
    );
    let rem = &r["remediations"][0];
    assert_eq!(rem["id"], rem_id.as_str());
    assert_eq!(rem["action"], v["remediation"]["entities"][0]["action"]);
    assert!(rem["title"].is_string() && rem["link"].is_string(), "{rem}");
    let e = call_err(
        &client,
        "spotlight_get_remediations",
        json!({"ids": ["0123456789abcdef0123456789abcdef"]}),
    )
    .await;
    assert!(e.contains("0123456789abcdef0123456789abcdef"), "{e}");
    let e = call_err(
        &client,
        "spotlight_get_remediations",
        json!({"ids": ["KB1"]}),
    )
    .await;
    assert!(e.contains("32 hexadecimal"), "{e}");

    // spotlight_supported_evaluations: the shared CVE on every platform; a CVE with no finding
    // in the tenant is still supported.
    let s = ok_json(
        &call(
            &client,
            "spotlight_supported_evaluations",
            json!({"cve": KNOWN_CVE}),
        )
        .await,
    );
    let platforms: BTreeSet<&str> = results(&s)
        .iter()
        .map(|e| e["platform"].as_str().unwrap())
        .collect();
    assert_eq!(
        platforms,
        BTreeSet::from(["Linux", "Mac", "Windows"]),
        "{s}"
    );
    assert!(
        results(&s)
            .iter()
            .all(|e| e["risk_id"] == KNOWN_CVE && e.get("cid").is_none())
    );
    let s = ok_json(
        &call(
            &client,
            "spotlight_supported_evaluations",
            json!({"cve": "CVE-2021-34527", "platform": "Windows"}),
        )
        .await,
    );
    assert_eq!(s["total"], 1, "{s}");
    let e = call_err(&client, "spotlight_supported_evaluations", json!({})).await;
    assert!(e.contains("needs a filter"), "{e}");
    let e = call_err(
        &client,
        "spotlight_supported_evaluations",
        json!({"platform": "Solaris"}),
    )
    .await;
    assert!(e.contains("Solaris") || e.contains("platform"), "{e}");

    // The FQL guide is served as a resource.
    let read = client
        .read_resource(ReadResourceRequestParams::new(GUIDE))
        .await
        .unwrap();
    let body = serde_json::to_string(&read).unwrap();
    assert!(
        body.contains("cve.exploit_status") && body.contains("after"),
        "{body}"
    );

    client.cancel().await.unwrap();
    sim.shutdown().await;
}

/// Every tool names the console scope it lacks; host resolution names the hosts scope.
#[tokio::test(flavor = "multi_thread")]
async fn missing_scopes_are_named() {
    let sim = sim_with_limited_client(&["hosts:read"], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_as(
        &sim,
        &["--modules", "spotlight"],
        work.path(),
        LIMITED_CLIENT_ID,
        LIMITED_CLIENT_SECRET,
    )
    .await;
    for (tool, args) in [
        ("spotlight_search", json!({"cve": KNOWN_CVE})),
        ("spotlight_search", json!({"hostname": KNOWN_HOSTNAME})),
        ("spotlight_query", json!({"status": "open"})),
        ("spotlight_get", json!({"ids": ["a_b"]})),
        (
            "spotlight_get_remediations",
            json!({"ids": ["0123456789abcdef0123456789abcdef"]}),
        ),
        ("spotlight_host_vulns", json!({"host": KNOWN_HOSTNAME})),
        ("spotlight_supported_evaluations", json!({"cve": KNOWN_CVE})),
    ] {
        let e = call_err(&client, tool, args).await;
        assert!(e.contains("`Vulnerabilities:read`"), "{tool}: {e}");
    }
    client.cancel().await.unwrap();
    let e = missing_scope_error(
        &["spotlight-vulnerabilities:read"],
        &["--modules", "spotlight"],
        "spotlight_host_vulns",
        json!({"host": KNOWN_HOSTNAME}),
    )
    .await;
    assert!(e.contains("`Hosts:read`"), "{e}");
    sim.shutdown().await;
}
