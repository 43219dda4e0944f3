//! Egress under faults, against the simulator over real HTTP: writes whose answer was lost are
//! reported as possibly applied (and never repeated), token-endpoint blips are retried, error
//! messages name the real cause, abandoned requests are audited, and one plugin flooding Falcon
//! leaves room for the others.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aerie::audit::Audit;
use aerie::auth::Session;
use aerie::catalogue::Catalogue;
use aerie::egress::{Egress, EgressConfig, http_client};
use aerie::runtime::falcon;
use falcon_sim::{Faults, Simulator};
use serde_json::{Value, json};
use support::*;

async fn sim() -> Simulator {
    sim_with_limited_client(&[], |_| {}).await
}

/// `aerie serve --allow-writes` against `sim` with `toml` as its config file.
async fn serve_with(
    sim: &Simulator,
    toml: &str,
    extra: &[&str],
    work: &std::path::Path,
) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
    let config = work.join("aerie.toml");
    std::fs::write(&config, toml).unwrap();
    let mut args = vec!["--config", config.to_str().unwrap()];
    args.extend_from_slice(extra);
    serve_against(sim, &args, work).await
}

fn egress(sim: &Simulator) -> Egress {
    let creds = aerie::demo::simulator_credentials(&sim.base_url()).unwrap();
    let http = http_client();
    Egress::new(
        Session::new(creds, http.clone()),
        http,
        EgressConfig::default(),
        Arc::new(Audit::default()),
    )
}

async fn query_hosts(e: &Egress) -> Result<falcon::Response, falcon::Error> {
    let req = falcon::Request {
        operation: "QueryDevicesByFilter".into(),
        path_params: vec![],
        query: vec![("limit".into(), "1".into())],
        body: None,
    };
    let op = Catalogue::builtin().get(&req.operation).unwrap();
    let path = op.render_path(&req.path_params).unwrap();
    e.perform("test", op, &path, &req).await
}

/// Requests for `operation` the simulator received, with the status it produced (0 = dropped
/// before handling).
fn statuses(sim: &Simulator, operation: &str) -> Vec<u16> {
    sim.requests()
        .into_iter()
        .filter(|r| r.operation.as_deref() == Some(operation))
        .map(|r| r.status)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_whose_connection_drops_after_it_applied_is_possibly_applied_and_not_repeated() {
    let sim = sim().await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_with(
        &sim,
        "",
        &["--allow-writes", "--modules", "hosts"],
        work.path(),
    )
    .await;
    let aid = aid_of(&client, falcon_sim::KNOWN_HOSTNAME).await;
    sim.set_faults(Faults {
        drop_after_apply_burst: 1,
        ..Default::default()
    });
    let e = call_err(
        &client,
        "hosts_contain",
        json!({"ids": [aid], "confirm": true}),
    )
    .await;
    assert!(
        e.contains("may have been applied") && e.contains("check with `hosts_get` before retrying"),
        "{e}"
    );
    assert!(!e.contains("retry later"), "{e}");
    let sent = statuses(&sim, "PerformActionV2");
    assert_eq!(sent.len(), 1, "the write is sent exactly once: {sent:?}");
    assert!(
        (200..300).contains(&sent[0]),
        "the simulator applied it: {sent:?}"
    );
    // It really was applied: the host is now pending containment.
    let r = ok_json(&call(&client, "hosts_get", json!({"ids": [aid]})).await);
    assert!(r.to_string().contains("containment_pending"), "{r}");
    client.cancel().await.unwrap();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ioc_create_answered_after_the_timeout_is_verified_not_repeated() {
    let sim = sim().await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_with(
        &sim,
        "[egress]\ntimeout_secs = 1\n",
        &["--allow-writes", "--modules", "hunting"],
        work.path(),
    )
    .await;
    // The create is carried out, but its answer comes after aerie's 1 s timeout.
    sim.set_faults(Faults {
        latency_after_apply_ms: 2_500,
        ..Default::default()
    });
    let r = call(
        &client,
        "hunting_create_ioc",
        json!({"type": "domain", "value": "lost-answer.example"}),
    )
    .await;
    let s = ok_json(&r);
    assert_eq!(s["verified"], true, "{s}");
    assert!(
        text(&r).contains("answer was lost") && text(&r).contains("exists now"),
        "{}",
        text(&r)
    );
    assert_eq!(
        statuses(&sim, "indicator_create_v1").len(),
        1,
        "never retried"
    );
    assert_eq!(
        statuses(&sim, "indicator_combined_v1").len(),
        1,
        "one check"
    );

    // Dropped before Falcon handled it: the check finds nothing and says so.
    sim.clear_requests();
    sim.set_faults(Faults {
        drop_connection_burst: 1,
        ..Default::default()
    });
    let e = call_err(
        &client,
        "hunting_create_ioc",
        json!({"type": "domain", "value": "never-applied.example"}),
    )
    .await;
    assert!(
        e.contains("answer was lost") && e.contains("most likely not applied"),
        "{e}"
    );
    // A request dropped before routing has no operation in the log: match its method and path.
    let creates: Vec<u16> = sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == "/iocs/entities/indicators/v1")
        .map(|r| r.status)
        .collect();
    assert_eq!(creates, vec![0], "sent once, never retried");
    client.cancel().await.unwrap();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn token_endpoint_blips_are_retried() {
    let sim = sim().await;
    let blips = [
        Faults {
            token_error_burst: 1,
            ..Default::default()
        },
        Faults {
            token_429_burst: 1,
            ..Default::default()
        },
        Faults {
            token_drop_burst: 1,
            ..Default::default()
        },
    ];
    for (i, f) in blips.into_iter().enumerate() {
        let e = egress(&sim);
        sim.set_faults(f.clone());
        let tokens = |sim: &Simulator| {
            sim.requests()
                .iter()
                .filter(|r| r.path == "/oauth2/token")
                .count()
        };
        let before = tokens(&sim);
        let r = query_hosts(&e).await;
        assert_eq!(r.map(|r| r.status).ok(), Some(200), "blip {i}: {f:?}");
        assert_eq!(tokens(&sim) - before, 2, "blip {i}: one retry");
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_endpoint_outage_says_retry_later_not_check_the_credentials() {
    let sim = sim().await;
    let e = egress(&sim);
    sim.set_faults(Faults {
        token_error_burst: 10,
        ..Default::default()
    });
    let err = query_hosts(&e).await.unwrap_err();
    let falcon::Error::Transport(text) = &err else {
        panic!("expected a transport error, got {err:?}")
    };
    assert!(
        text.contains("token endpoint answered HTTP 500") && text.contains("retry later"),
        "{text}"
    );
    assert!(!text.contains("FALCON_CLIENT_SECRET"), "{text}");
    assert_eq!(sim.token_requests(), 3, "bounded attempts");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_persistent_401_says_the_token_was_rejected_not_a_scope() {
    let sim = sim().await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_with(&sim, "", &["--modules", "hosts"], work.path()).await;
    sim.set_faults(Faults {
        status_401_burst: 2,
        ..Default::default()
    });
    let e = call_err(&client, "hosts_search", json!({"limit": 1})).await;
    assert!(
        e.contains("rejected the API token") && e.contains("revoked"),
        "{e}"
    );
    assert!(!e.contains("scope `"), "{e}");
    assert_eq!(
        statuses(&sim, "QueryDevicesByFilter"),
        vec![401, 401],
        "one refresh"
    );
    client.cancel().await.unwrap();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_cut_at_the_deadline_is_still_audited() {
    let sim = sim().await;
    let work = tempfile::tempdir().unwrap();
    let audit = work.path().join("audit.jsonl");
    let client = serve_with(
        &sim,
        "[limits]\ndeadline_secs = 1\n",
        &["--modules", "hosts", "--audit-log", audit.to_str().unwrap()],
        work.path(),
    )
    .await;
    // Fetch the token first, so the slow request below is the API call itself.
    ok_json(&call(&client, "hosts_search", json!({"limit": 1})).await);
    sim.set_faults(Faults {
        latency_ms: 3_000,
        ..Default::default()
    });
    let e = call_err(&client, "hosts_search", json!({"limit": 2})).await;
    assert!(e.contains("deadline"), "{e}");
    // The record is written when the cut call is dropped; allow the drop a moment.
    let mut abandoned = None;
    for _ in 0..50 {
        let records: Vec<Value> = std::fs::read_to_string(&audit)
            .unwrap()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        abandoned = records
            .into_iter()
            .find(|r| r["kind"] == "egress" && r["outcome"] == "abandoned");
        if abandoned.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = abandoned.expect("an egress record for the abandoned request");
    assert_eq!(r["operation"], "QueryDevicesByFilter", "{r}");
    assert_eq!(r["sent"], true, "{r}");
    assert!(r["status"].is_null(), "status unknown: {r}");
    assert_eq!(r["plugin"], "hosts", "{r}");
    client.cancel().await.unwrap();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_port_says_connection_refused_and_names_host_and_port() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let work = tempfile::tempdir().unwrap();
    let cache = shared_cache();
    let base = format!("http://127.0.0.1:{port}");
    let client = stdio_client(
        &["serve", "--modules", "hosts", "--cache-dir", &cache],
        &[
            ("FALCON_CLIENT_ID", falcon_sim::DEMO_CLIENT_ID),
            ("FALCON_CLIENT_SECRET", falcon_sim::DEMO_CLIENT_SECRET),
            ("FALCON_BASE_URL", base.as_str()),
        ],
        &work.path().join("stderr.log"),
    )
    .await;
    let e = call_err(&client, "hosts_search", json!({"limit": 1})).await;
    assert!(
        e.contains("connection refused") && e.contains(&format!("127.0.0.1:{port}")),
        "{e}"
    );
    assert!(!e.contains("error sending request"), "{e}");
    assert!(!e.contains("credentials"), "not a credentials problem: {e}");
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn one_plugin_flooding_egress_leaves_room_for_another() {
    let sim = sim().await;
    let work = tempfile::tempdir().unwrap();
    let plugins = plugins_dir(&["flood"]);
    // 600/min is 10 requests a second with a burst of 50: the flood below needs ~10 s of it.
    let client = Arc::new(
        serve_with(
            &sim,
            "[egress]\nrequests_per_minute = 600\n",
            &[
                "--modules",
                "hosts,flood",
                "--plugins-dir",
                plugins.path().to_str().unwrap(),
            ],
            work.path(),
        )
        .await,
    );
    const FLOODERS: usize = 16;
    let done = Arc::new(AtomicUsize::new(0));
    let flood: Vec<_> = (0..FLOODERS)
        .map(|_| {
            let (client, done) = (client.clone(), done.clone());
            tokio::spawn(async move {
                let r = call(&client, "flood_hosts", json!({"requests": 8})).await;
                done.fetch_add(1, Ordering::SeqCst);
                r
            })
        })
        .collect();
    // Let the flood use up the bursts and queue on the limiter.
    for _ in 0..100 {
        if statuses(&sim, "QueryDevicesByFilter").len() >= 40 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Plugin B: a few sequential searches (distinct arguments, so the result cache stays out).
    for limit in 1..=4 {
        ok_json(&call(&client, "hosts_search", json!({"limit": limit})).await);
    }
    let finished = done.load(Ordering::SeqCst);
    assert!(
        finished < FLOODERS,
        "the other plugin finished only after the whole flood ({finished}/{FLOODERS} done)"
    );
    for f in flood {
        let r = f.await.unwrap();
        assert!(!is_error(&r), "{}", text(&r));
    }
    Arc::try_unwrap(client)
        .ok()
        .unwrap()
        .cancel()
        .await
        .unwrap();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fair_share_keys_parse_and_stay_within_the_global_budget() {
    let work = tempfile::tempdir().unwrap();
    let path = work.path().join("aerie.toml");
    std::fs::write(
        &path,
        "[egress]\nrequests_per_minute = 1000\nmax_concurrency = 10\nplugin_concurrency = 4\n\
         [plugins.hosts]\negress_concurrency = 9\negress_requests_per_minute = 900\n",
    )
    .unwrap();
    let config = aerie::config::FileConfig::load(Some(&path))
        .unwrap()
        .egress();
    let sim = sim().await;
    let creds = aerie::demo::simulator_credentials(&sim.base_url()).unwrap();
    let e = Egress::new(
        Session::new(creds, http_client()),
        http_client(),
        config,
        Arc::new(Audit::default()),
    );
    assert_eq!(e.plugin_budget("hosts"), (900, 9), "the plugin's own share");
    assert_eq!(
        e.plugin_budget("other"),
        (750, 4),
        "3/4 of the rate by default"
    );
    // A share above the global budget is refused, never clamped in silence.
    std::fs::write(
        &path,
        "[egress]\nrequests_per_minute = 1000\n[plugins.hosts]\negress_requests_per_minute = 5000\n",
    )
    .unwrap();
    let err = aerie::config::FileConfig::load(Some(&path)).unwrap_err();
    assert!(err.contains("egress_requests_per_minute"), "{err}");
    std::fs::write(&path, "[plugins.hosts]\negress_concurency = 2\n").unwrap();
    let err = aerie::config::FileConfig::load(Some(&path)).unwrap_err();
    assert!(err.contains("egress_concurency"), "{err}");
    sim.shutdown().await;
}
