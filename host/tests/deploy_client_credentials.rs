//! Per-client Falcon credentials over HTTP (`X-Falcon-Client-Id`/`-Secret`/`-Base-Url`),
//! through the real binary against the simulator: a request runs against the API client it
//! brings (the simulator's log shows whose token came) and reuses its token; a wrong secret
//! never reads what the right one cached; the secret reaches no log or audit record; and
//! without the operator's consent, or with a base URL it did not allow, the request is refused
//! before anything is sent.

mod deploy_support;
mod support;

use deploy_support::{Replica, is_error, text, try_call_with};
use falcon_sim::KNOWN_HOSTNAME;
use serde_json::json;

const ACME_ID: &str = "acmeclient0000000000000000000000";
const ACME_SECRET: &str = "acme-client-secret-for-tests-only-000000";

async fn sim() -> falcon_sim::Simulator {
    falcon_sim::Simulator::start(falcon_sim::SimConfig {
        clients: vec![
            falcon_sim::ApiClient::demo(),
            falcon_sim::ApiClient::new(ACME_ID, ACME_SECRET, &["*"]),
        ],
        unauthenticated_limit_per_minute: 10_000,
        ..Default::default()
    })
    .await
    .unwrap()
}

/// A replica that accepts per-client credentials for the simulator's base URL only.
async fn accepting(sim: &falcon_sim::Simulator, work: &std::path::Path) -> Replica {
    let toml = format!(
        "[http.client_credentials]\nenabled = true\nbase_urls = [{:?}]\n\n[cache]\nttl_secs = 300\n",
        sim.base_url()
    );
    Replica::start(sim, work, "memory", &toml, &[]).await
}

/// API clients whose tokens reached `sim` from request `from` on (token requests left out).
fn tokens_seen(sim: &falcon_sim::Simulator, from: usize) -> Vec<String> {
    sim.requests()
        .into_iter()
        .skip(from)
        .filter(|r| !r.path.starts_with("/oauth2/"))
        .map(|r| r.client_id.unwrap_or_default())
        .collect()
}

fn token_requests(sim: &falcon_sim::Simulator) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.path == "/oauth2/token")
        .count()
}

fn acme_headers(secret: &str) -> [(&'static str, &str); 2] {
    [
        ("x-falcon-client-id", ACME_ID),
        ("x-falcon-client-secret", secret),
    ]
}

/// A successful `hosts_search` of `limit` hosts through `r` with `headers`, and the API clients
/// whose tokens reached `sim` for it.
async fn search(
    sim: &falcon_sim::Simulator,
    r: &Replica,
    limit: u32,
    headers: &[(&str, &str)],
) -> (serde_json::Value, Vec<String>) {
    let from = sim.requests().len();
    let http = reqwest::Client::new();
    let out = try_call_with(
        &http,
        &r.url(),
        "hosts_search",
        json!({"limit": limit}),
        headers,
    )
    .await
    .unwrap();
    assert!(!is_error(&out), "{}", text(&out));
    (out, tokens_seen(sim, from))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_runs_against_the_api_client_it_brings_and_reuses_its_token() {
    let sim = sim().await;
    let work = tempfile::tempdir().unwrap();
    let r = accepting(&sim, work.path()).await;

    let (out, seen) = search(&sim, &r, 2, &acme_headers(ACME_SECRET)).await;
    assert_eq!(out["_meta"]["aerie/tenant"], format!("client:{ACME_ID}"));
    assert!(
        !seen.is_empty() && seen.iter().all(|c| c == ACME_ID),
        "{seen:?}"
    );

    // Without the headers: the server's own API client.
    let (out, seen) = search(&sim, &r, 3, &[]).await;
    assert!(out["_meta"]["aerie/tenant"].is_null(), "{out}");
    let demo = falcon_sim::DEMO_CLIENT_ID;
    assert!(
        !seen.is_empty() && seen.iter().all(|c| c == demo),
        "{seen:?}"
    );

    // The same credentials again: the token is reused, not fetched again.
    let before = token_requests(&sim);
    let (_, seen) = search(&sim, &r, 4, &acme_headers(ACME_SECRET)).await;
    assert_eq!(
        token_requests(&sim),
        before,
        "a second token for the same client"
    );
    assert!(
        !seen.is_empty() && seen.iter().all(|c| c == ACME_ID),
        "{seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_secret_never_reads_what_the_right_one_cached_nor_leaks() {
    let sim = sim().await;
    let work = tempfile::tempdir().unwrap();
    let r = accepting(&sim, work.path()).await;
    let http = reqwest::Client::new();
    // `hosts_search` for the known host with `secret`.
    let lookup = async |secret: &str| {
        let args = json!({"hostname": KNOWN_HOSTNAME});
        try_call_with(&http, &r.url(), "hosts_search", args, &acme_headers(secret))
            .await
            .unwrap()
    };

    let right = lookup(ACME_SECRET).await;
    assert!(text(&right).contains(KNOWN_HOSTNAME), "{}", text(&right));
    // Served from the cache for the right secret...
    let from = sim.requests().len();
    let again = lookup(ACME_SECRET).await;
    assert_eq!(text(&again), text(&right));
    assert_eq!(sim.requests().len(), from, "the second call was not cached");

    // ...but never for a wrong one: it must authenticate, and fails.
    let wrong_secret = "not-the-acme-secret-but-close-0000000000";
    let wrong = lookup(wrong_secret).await;
    assert!(is_error(&wrong), "a wrong secret got: {}", text(&wrong));
    assert!(!text(&wrong).contains(KNOWN_HOSTNAME), "{}", text(&wrong));
    assert!(!text(&wrong).contains(wrong_secret), "{}", text(&wrong));

    // Neither secret is in the log or the audit records.
    drop(r);
    let logged = std::fs::read_to_string(work.path().join("replica1/stderr.log")).unwrap();
    let audit = std::fs::read_to_string(work.path().join("replica1/audit.jsonl")).unwrap();
    assert!(
        audit.contains(&format!("client:{ACME_ID}")),
        "the audit names the client"
    );
    for secret in [ACME_SECRET, wrong_secret] {
        assert!(!logged.contains(secret), "secret in the log");
        assert!(!audit.contains(secret), "secret in the audit log");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_consent_or_outside_the_allowed_bases_nothing_is_sent() {
    let sim = sim().await;
    let http = reqwest::Client::new();

    // Not enabled: refused, not served with the server's own client.
    let work = tempfile::tempdir().unwrap();
    let plain = Replica::start(&sim, work.path(), "memory", "", &[]).await;
    let from = sim.requests().len();
    let e = try_call_with(
        &http,
        &plain.url(),
        "hosts_search",
        json!({}),
        &acme_headers(ACME_SECRET),
    )
    .await
    .unwrap_err();
    assert!(
        e.contains("400") && e.contains("[http.client_credentials]"),
        "{e}"
    );
    assert!(!e.contains(ACME_SECRET), "{e}");

    // Enabled, but a base URL the operator did not allow.
    let work2 = tempfile::tempdir().unwrap();
    let r = accepting(&sim, work2.path()).await;
    let mut headers = acme_headers(ACME_SECRET).to_vec();
    headers.push(("x-falcon-base-url", "https://api.eu-1.crowdstrike.com"));
    let e = try_call_with(&http, &r.url(), "hosts_search", json!({}), &headers)
        .await
        .unwrap_err();
    assert!(
        e.contains("400") && e.contains("not one this server allows"),
        "{e}"
    );
    // An id without its secret.
    let e = try_call_with(
        &http,
        &r.url(),
        "hosts_search",
        json!({}),
        &[("x-falcon-client-id", ACME_ID)],
    )
    .await
    .unwrap_err();
    assert!(
        e.contains("both X-Falcon-Client-Id and X-Falcon-Client-Secret"),
        "{e}"
    );
    assert_eq!(
        sim.requests().len(),
        from,
        "a refused request reached Falcon"
    );
}
