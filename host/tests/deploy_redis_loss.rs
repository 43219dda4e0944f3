//! Redis stopped and restarted under three replicas behind haproxy: reads go on from each
//! replica's local state, `/healthz` and the log say so, writes and approval decisions are
//! refused with an error saying why (nothing reaches the simulator), and all of it works again
//! once Redis is back.

mod deploy_support;
mod support;

use std::time::{Duration, Instant};

use deploy_support::*;
use falcon_sim::KNOWN_HOSTNAME;
use serde_json::json;

/// Wait until every replica's `/healthz` starts with `prefix`.
async fn health_all(d: &Deployment, prefix: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    for r in &d.replicas {
        loop {
            let h = r.health().await;
            if h.starts_with(prefix) {
                break;
            }
            assert!(Instant::now() < deadline, "healthz still says {h:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_stopped_and_restarted() {
    let sim = support::sim_with_limited_client(&[], |_| {}).await;
    let mut d = Deployment::start(&sim, "[approvals]\nmode = \"queue\"", &[]).await;
    let http = reqwest::Client::new();
    let found = call(
        &http,
        &d.lb.url(),
        "hosts_search",
        json!({"hostname": KNOWN_HOSTNAME}),
    )
    .await;
    assert!(!is_error(&found), "{}", text(&found));
    let aid = found["structuredContent"]["results"][0]["device_id"]
        .as_str()
        .unwrap()
        .to_string();
    let contain = json!({"ids": [aid], "confirm": true});
    let queued = call(
        &http,
        &d.replicas[0].url(),
        "hosts_contain",
        contain.clone(),
    )
    .await;
    let id = queued["_meta"]["aerie/approval"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{queued}"))
        .to_string();
    health_all(&d, "ok").await;

    d.redis.stop();
    health_all(&d, "degraded: the shared state").await;
    for r in &d.replicas {
        assert!(
            r.logged().contains("lost the shared state"),
            "{}",
            r.logged()
        );
    }
    sim.clear_requests();
    // Reads are served, by every replica, from local state.
    for (i, r) in d.replicas.iter().enumerate() {
        let out = call(&http, &r.url(), "hosts_search", json!({"limit": 3 + i})).await;
        assert!(!is_error(&out), "replica {i}: {}", text(&out));
    }
    let reads = sim.requests().len();
    assert!(reads > 0);
    // A write is refused, saying why; nothing reaches Falcon.
    for r in &d.replicas {
        let out = call(&http, &r.url(), "hosts_contain", contain.clone()).await;
        assert!(is_error(&out), "{out}");
        assert!(
            text(&out).contains("lost its shared state"),
            "{}",
            text(&out)
        );
    }
    let run = call(
        &http,
        &d.lb.url(),
        "aerie_run_approved",
        json!({"approval_id": id}),
    )
    .await;
    assert!(text(&run).contains("cannot be reached"), "{}", text(&run));
    assert_eq!(sim.requests().len(), reads, "no write left");
    let m = reqwest::get(format!("http://127.0.0.1:{}/metrics", d.replicas[0].port))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("aerie_state_backend_up 0"), "{m}");
    assert!(m.contains(r#"outcome="refused_state""#), "{m}");
    // An operator's decision is refused, not recorded where the others cannot see it.
    let (ok, said) = approvals_cli(&d.replicas[1].socket, &["approve", &id]);
    assert!(!ok && said.contains("cannot be reached"), "{said}");

    d.redis.restart();
    health_all(&d, "ok").await;
    for r in &d.replicas {
        assert!(r.logged().contains("reachable again"), "{}", r.logged());
    }
    // Redis came back empty (no persistence): the approval is gone and says so; a new one
    // works through any replica.
    let (ok, said) = approvals_cli(&d.replicas[1].socket, &["approve", &id]);
    assert!(!ok && said.contains("no approval"), "{said}");
    let queued = call(
        &http,
        &d.replicas[2].url(),
        "hosts_contain",
        contain.clone(),
    )
    .await;
    let id = queued["_meta"]["aerie/approval"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{queued}"))
        .to_string();
    let (ok, said) = approvals_cli(&d.replicas[0].socket, &["approve", &id]);
    assert!(ok, "{said}");
    let run = call(
        &http,
        &d.replicas[1].url(),
        "aerie_run_approved",
        json!({"approval_id": id}),
    )
    .await;
    assert!(!is_error(&run), "{}", text(&run));
    assert_eq!(count(&sim, "PerformActionV2"), 1);
}
