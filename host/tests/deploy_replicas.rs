//! Three replicas behind haproxy on one Redis (`[state] backend = "redis://…"`), end to end on
//! real parts: `redis-server`, `haproxy` with `deploy/haproxy.cfg`, the real `aerie` binary,
//! the simulator over real HTTP (its request log shows what reached "Falcon").

mod deploy_support;
mod support;

use std::time::{Duration, Instant};

use deploy_support::*;
use falcon_sim::{KNOWN_HOSTNAME, KNOWN_LINUX_HOSTNAME};
use serde_json::{Value, json};

/// The Falcon operation a containment sends.
const CONTAIN_OP: &str = "PerformActionV2";

async fn sim() -> falcon_sim::Simulator {
    support::sim_with_limited_client(&[], |_| {}).await
}

fn device_id(r: &Value) -> String {
    assert!(!is_error(r), "{}", text(r));
    r["structuredContent"]["results"][0]["device_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no device id: {r}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cache_miss_on_one_replica_is_a_hit_on_another_and_a_write_invalidates_all() {
    let sim = sim().await;
    let d = Deployment::start(&sim, "", &["--approvals", "off"]).await;
    let http = reqwest::Client::new();
    let args = json!({"hostname": KNOWN_HOSTNAME});
    sim.clear_requests();
    let first = call(&http, &d.replicas[0].url(), "hosts_search", args.clone()).await;
    assert!(first["_meta"]["aerie/cache"].is_null(), "a miss: {first}");
    let upstream = sim.requests().len();
    assert!(upstream > 0, "the miss reached the simulator");
    for r in &d.replicas[1..] {
        let hit = call(&http, &r.url(), "hosts_search", args.clone()).await;
        assert_eq!(hit["_meta"]["aerie/cache"]["hit"], true, "{hit}");
        assert_eq!(hit["structuredContent"], first["structuredContent"]);
    }
    for _ in 0..3 {
        let hit = call(&http, &d.lb.url(), "hosts_search", args.clone()).await;
        assert_eq!(hit["_meta"]["aerie/cache"]["hit"], true, "{hit}");
    }
    assert_eq!(sim.requests().len(), upstream, "hits never reach Falcon");
    // A containment through one replica drops what every replica would answer from.
    let aid = device_id(&first);
    let contained = call(
        &http,
        &d.replicas[1].url(),
        "hosts_contain",
        json!({"ids": [aid], "confirm": true}),
    )
    .await;
    assert!(!is_error(&contained), "{}", text(&contained));
    let after = call(&http, &d.replicas[2].url(), "hosts_search", args).await;
    assert!(
        after["_meta"]["aerie/cache"].is_null(),
        "invalidated on every replica: {after}"
    );
    // A replica that answered from the cache counts its hits; the one that called Falcon
    // counts its requests by operation and status.
    let m = metrics(&d.replicas[2], None).await;
    let hits = m
        .lines()
        .find_map(|l| l.strip_prefix(r#"aerie_cache_lookups_total{result="hit"} "#))
        .and_then(|n| n.parse::<u64>().ok());
    assert!(hits >= Some(1), "{m}");
    assert!(m.contains("aerie_state_backend_up 1"), "{m}");
    let m = metrics(&d.replicas[0], None).await;
    assert!(
        m.contains(r#"aerie_egress_requests_total{operation="QueryDevicesByFilter",status="200"}"#),
        "{m}"
    );
    assert!(
        m.contains(r#"aerie_tool_calls_total{outcome="ok",tool="hosts_search"} 1"#),
        "{m}"
    );
}

/// `/metrics` of `r`, with `key` as a bearer token if given.
async fn metrics(r: &Replica, key: Option<&str>) -> String {
    let mut req = reqwest::Client::new().get(format!("http://127.0.0.1:{}/metrics", r.port));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_take_the_api_key_when_keys_are_set() {
    let dir = support::plugins_dir(&["hello"]);
    let work = tempfile::tempdir().unwrap();
    let server = support::start_http_server(
        dir.path(),
        &["--api-key", "metrics-test-key-0123456789"],
        &work.path().join("server.log"),
    )
    .await;
    let url = format!("http://127.0.0.1:{}/metrics", server.port);
    let bare = reqwest::get(&url).await.unwrap();
    assert_eq!(bare.status(), 401, "no key, no metrics");
    let keyed = reqwest::Client::new()
        .get(&url)
        .bearer_auth("metrics-test-key-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(keyed.status(), 200);
    let text = keyed.text().await.unwrap();
    assert!(text.contains("aerie_state_backend_up 1"), "{text}");
    // /healthz stays open for the load balancer.
    let health = reqwest::get(format!("http://127.0.0.1:{}/healthz", server.port))
        .await
        .unwrap();
    assert_eq!(health.text().await.unwrap(), "ok");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_budget_is_spent_across_replicas() {
    let sim = sim().await;
    let toml = "[profiles.capped]\ntools = [\"hosts_*\"]\nbudget = 4\n\n[cache]\nttl_secs = 0";
    let d = Deployment::start(&sim, toml, &["--approvals", "off", "--profile", "capped"]).await;
    let http = reqwest::Client::new();
    sim.clear_requests();
    // Keyless loopback callers without a session are one caller: one budget on every replica.
    let mut used = Vec::new();
    for (i, r) in d.replicas.iter().cycle().take(4).enumerate() {
        let out = call(&http, &r.url(), "hosts_search", json!({"limit": i + 1})).await;
        assert!(!is_error(&out), "call {i}: {}", text(&out));
        used.push(out["_meta"]["aerie/budget"]["used"].as_u64().unwrap());
    }
    assert_eq!(used, [1, 2, 3, 4], "one count across replicas");
    let sent = sim.requests().len();
    for r in &d.replicas {
        let out = call(&http, &r.url(), "hosts_search", json!({"limit": 9})).await;
        assert!(text(&out).contains("The call budget is spent"), "{out}");
    }
    assert_eq!(sim.requests().len(), sent, "refused calls send nothing");
    let left = call(&http, &d.lb.url(), "aerie_budget", json!({})).await;
    assert_eq!(left["structuredContent"]["total"]["remaining"], 0, "{left}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_approval_decided_through_one_replica_releases_a_call_waiting_on_another() {
    let sim = sim().await;
    let d = Deployment::start(&sim, "[approvals]\nmode = \"queue\"", &[]).await;
    let http = reqwest::Client::new();
    let found = call(
        &http,
        &d.replicas[0].url(),
        "hosts_search",
        json!({"hostname": KNOWN_LINUX_HOSTNAME}),
    )
    .await;
    let aid = device_id(&found);
    sim.clear_requests();
    let asked = call(
        &http,
        &d.replicas[0].url(),
        "hosts_contain",
        json!({"ids": [aid], "confirm": true}),
    )
    .await;
    let id = asked["_meta"]["aerie/approval"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("queued: {asked}"))
        .to_string();
    assert_eq!(count(&sim, CONTAIN_OP), 0, "nothing sent before approval");
    // Replica 2 lists it; a call on replica 2 waits for the decision.
    let (ok, listed) = approvals_cli(&d.replicas[1].socket, &["list"]);
    assert!(ok && listed.contains(&id), "{listed}");
    let waiter = {
        let (http, url, id) = (http.clone(), d.replicas[1].url(), id.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let out = call(
                &http,
                &url,
                "aerie_run_approved",
                json!({"approval_id": id, "wait_secs": 60}),
            )
            .await;
            (out, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!waiter.is_finished(), "it waits while pending");
    assert_eq!(count(&sim, CONTAIN_OP), 0);
    // The operator approves through replica 3.
    let (ok, said) = approvals_cli(&d.replicas[2].socket, &["approve", &id]);
    assert!(ok, "{said}");
    let (out, waited) = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("released within seconds")
        .unwrap();
    assert!(!is_error(&out), "{}", text(&out));
    assert!(waited >= Duration::from_millis(1500), "{waited:?}");
    assert_eq!(count(&sim, CONTAIN_OP), 1, "ran once");
    // Recorded once, run once, on every replica.
    let (ok, again) = approvals_cli(&d.replicas[0].socket, &["approve", &id]);
    assert!(!ok && again.contains("already"), "{again}");
    let rerun = call(
        &http,
        &d.replicas[2].url(),
        "aerie_run_approved",
        json!({"approval_id": id}),
    )
    .await;
    assert!(text(&rerun).contains("already used"), "{rerun}");
    assert_eq!(count(&sim, CONTAIN_OP), 1);
}

/// Most requests at the simulator in any window of `w` (request arrival times).
fn busiest(times: &[Instant], w: Duration) -> usize {
    let mut best = 0;
    let mut j = 0;
    for i in 0..times.len() {
        while times[i] - times[j] > w {
            j += 1;
        }
        best = best.max(i - j + 1);
    }
    best
}

#[tokio::test(flavor = "multi_thread")]
async fn the_aggregate_upstream_rate_stays_within_the_cid_limit() {
    let sim = sim().await;
    // 600/min: 10 per second, a burst of 50. Each replica alone would also allow that, so
    // without the shared budget three would send three times as much.
    let toml = "[egress]\nrequests_per_minute = 600\n\n[cache]\nttl_secs = 0";
    let d = Deployment::start(&sim, toml, &["--approvals", "off"]).await;
    let http = reqwest::Client::new();
    sim.clear_requests();
    let started = Instant::now();
    // Bounded load: 8 workers, 10 calls each, through the balancer and straight at replicas.
    let mut tasks = Vec::new();
    for w in 0..8usize {
        let http = http.clone();
        let url = if w % 2 == 0 {
            d.lb.url()
        } else {
            d.replicas[w % 3].url()
        };
        tasks.push(tokio::spawn(async move {
            let mut ok = 0;
            for i in 0..10usize {
                let r = call(
                    &http,
                    &url,
                    "hosts_search",
                    json!({"limit": 1 + (w * 10 + i) % 90}),
                )
                .await;
                if !is_error(&r) {
                    ok += 1;
                }
            }
            ok
        }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += t.await.unwrap();
    }
    let elapsed = started.elapsed();
    assert_eq!(ok, 80, "every call answered");
    let reqs = sim.requests();
    let first = reqs
        .iter()
        .map(|r| r.timestamp)
        .min()
        .expect("requests were made");
    let mut times: Vec<Instant> = reqs
        .iter()
        .filter(|r| !r.path.starts_with("/oauth2/"))
        .map(|r| started + r.timestamp.duration_since(first).unwrap_or_default())
        .collect();
    times.sort();
    let n = times.len();
    assert!(n >= 80, "{n} requests");
    // GCRA: at most burst + rate × window in any window (+1 for the edge).
    for secs in [1u64, 2, 4] {
        let most = busiest(&times, Duration::from_secs(secs));
        let bound = 50 + 10 * secs as usize + 1;
        assert!(most <= bound, "{most} requests in {secs} s (bound {bound})");
    }
    let span = times[n - 1] - times[0];
    let steady = (n - 50) as f64 / span.as_secs_f64();
    assert!(steady <= 10.5, "{steady:.1}/s past the burst over {span:?}");
    eprintln!(
        "{n} upstream requests from 3 replicas in {elapsed:?}: {steady:.2}/s past the burst (limit 10/s)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_stopped_mid_load_loses_only_its_in_flight_calls() {
    let sim = sim().await;
    sim.set_faults(falcon_sim::Faults {
        latency_ms: 50,
        ..Default::default()
    });
    let mut d = Deployment::start(&sim, "[cache]\nttl_secs = 0", &["--approvals", "off"]).await;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let stop_at = Instant::now() + Duration::from_millis(1500);
    let workers = 6;
    let mut tasks = Vec::new();
    for w in 0..workers {
        let (http, url) = (http.clone(), d.lb.url());
        tasks.push(tokio::spawn(async move {
            // (started, finished, failure) of each call; bounded: 40 calls.
            let mut calls = Vec::new();
            for i in 0..40usize {
                let t0 = Instant::now();
                let r = try_call(
                    &http,
                    &url,
                    "hosts_search",
                    json!({"limit": 1 + (w * 40 + i) % 90}),
                )
                .await;
                let failure = match r {
                    Ok(r) if is_error(&r) => Some(format!("tool error: {r}")),
                    Ok(_) => None,
                    Err(e) => Some(e),
                };
                calls.push((t0, Instant::now(), failure));
            }
            calls
        }));
    }
    tokio::time::sleep_until(stop_at.into()).await;
    // SIGKILL, then reaped: until its sockets are closed, the kernel still completes
    // handshakes on its listening port, so a call may reach it in that window too.
    let killed = Instant::now();
    d.replicas[1].kill();
    let gone = Instant::now();
    let mut calls = Vec::new();
    for t in tasks {
        calls.extend(t.await.unwrap());
    }
    let failed: Vec<_> = calls.iter().filter(|c| c.2.is_some()).collect();
    // Only calls that were running on it while it died: started before it was gone, ended
    // after the kill.
    for (t0, t1, why) in &failed {
        assert!(
            *t0 <= gone && *t1 >= killed,
            "a call lost outside the stop (which took {:?}): started {:?} and ended {:?} \
             after the kill: {}",
            gone - killed,
            t0.checked_duration_since(killed),
            t1.checked_duration_since(killed),
            why.as_deref().unwrap_or_default()
        );
    }
    assert!(
        failed.len() <= workers,
        "{} lost, more than were in flight",
        failed.len()
    );
    let after = calls.iter().filter(|c| c.0 > gone).count();
    assert!(
        after > 20,
        "the load went on after the stop ({after} calls)"
    );
    eprintln!(
        "{} calls, {} lost when one of three replicas was killed (gone in {:?}), {after} after it",
        calls.len(),
        failed.len(),
        gone - killed
    );
}

/// The scaling figure of BENCHMARKS.md (run by hand: `cargo test -p aerie --test
/// deploy_replicas scaling -- --ignored --nocapture`): calls per second with 1, 2 and 3
/// replicas against a 20 ms upstream, 12 clients, the same per-CID limit.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement, not a check"]
async fn scaling() {
    for per_minute in [6000u32, 1200] {
        let sim = sim().await;
        sim.set_faults(falcon_sim::Faults {
            latency_ms: 20,
            ..Default::default()
        });
        let toml = format!("[egress]\nrequests_per_minute = {per_minute}\n\n[cache]\nttl_secs = 0");
        let d = Deployment::start(&sim, &toml, &["--approvals", "off"]).await;
        let http = reqwest::Client::new();
        for n in 1..=3usize {
            sim.clear_requests();
            let started = Instant::now();
            let mut tasks = Vec::new();
            for w in 0..12usize {
                let (http, url) = (http.clone(), d.replicas[w % n].url());
                tasks.push(tokio::spawn(async move {
                    for i in 0..20usize {
                        let args = json!({"limit": 1 + (w * 20 + i) % 400, "offset": n});
                        assert!(!is_error(&call(&http, &url, "hosts_search", args).await));
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            let secs = started.elapsed().as_secs_f64();
            let upstream = sim
                .requests()
                .iter()
                .filter(|r| !r.path.starts_with("/oauth2/"))
                .count();
            eprintln!(
                "limit {per_minute}/min, {n} replica(s): {:.1} calls/s, {:.1} upstream requests/s ({upstream} in {secs:.1} s)",
                240.0 / secs,
                upstream as f64 / secs
            );
        }
    }
}

/// A legacy (2025) MCP session through the balancer: `deploy/haproxy.cfg` sticks it to the
/// replica that opened it, so every call of the session lands there and works.
#[tokio::test(flavor = "multi_thread")]
async fn a_legacy_session_sticks_to_its_replica_behind_the_balancer() {
    use rmcp::ServiceExt;
    use rmcp::transport::StreamableHttpClientTransport;
    let sim = sim().await;
    let d = Deployment::start(&sim, "[cache]\nttl_secs = 0", &["--approvals", "off"]).await;
    let client =
        ().serve(StreamableHttpClientTransport::from_uri(d.lb.url()))
            .await
            .expect("a session opens through haproxy");
    for i in 0..6u32 {
        let r = support::call(&client, "hosts_search", json!({"limit": 1 + i})).await;
        assert!(!support::is_error(&r), "call {i}: {}", support::text(&r));
    }
    client.cancel().await.ok();
    let served: Vec<usize> = d
        .replicas
        .iter()
        .map(|r| {
            std::fs::read_to_string(&r.audit)
                .unwrap_or_default()
                .lines()
                .filter(|l| l.contains("\"tool_call\"") && l.contains("hosts_search"))
                .count()
        })
        .collect();
    assert!(
        served.contains(&6) && served.iter().sum::<usize>() == 6,
        "{served:?}"
    );
}
