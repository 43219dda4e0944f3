//! The response store end to end: the real `aerie` binary over stdio and HTTP, the real hosts
//! plugin, the simulator over real HTTP. A large result is answered with a summary, its first
//! items, the total and a handle; `aerie_result_page` pages the rest back exactly (with field
//! projection), `aerie_results` lists it, another session cannot read it, and the count bound
//! and the time to live drop what they must.

mod support;

use std::time::Duration;

use rmcp::model::CallToolResult;
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};
use support::*;

/// `aerie serve` over stdio against `sim` with `[store]` set to `store_toml`.
async fn serve_with_store(
    sim: &falcon_sim::Simulator,
    work: &tempfile::TempDir,
    name: &str,
    store_toml: &str,
) -> RunningService<RoleClient, ()> {
    let dir = work.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("aerie.toml");
    std::fs::write(&cfg, format!("[store]\n{store_toml}\n")).unwrap();
    serve_against(sim, &["--config", cfg.to_str().unwrap()], &dir).await
}

/// Bytes of the result as the client received it (content, structured content and `_meta`).
fn wire_bytes(r: &CallToolResult) -> usize {
    serde_json::to_string(r).unwrap().len()
}

/// Every host, sorted by hostname so two calls see one order.
fn all_hosts() -> Value {
    json!({"limit": 500, "sort": "hostname.asc"})
}

/// The `aerie/stored` `_meta` of a result.
fn stored_meta(r: &CallToolResult) -> Value {
    let meta = r.meta.as_ref().expect("a stored result has _meta");
    meta.0
        .get("aerie/stored")
        .cloned()
        .unwrap_or_else(|| panic!("no aerie/stored in {meta:?}"))
}

/// Page through `handle` with `limit` per page (following `next`) and return every item.
async fn page_all(
    client: &RunningService<RoleClient, ()>,
    handle: &str,
    limit: usize,
    fields: Option<&[&str]>,
) -> Vec<Value> {
    let mut items = Vec::new();
    let mut offset = Some(0u64);
    // Bounded: 500 items at one or more per page.
    for _ in 0..600 {
        let Some(o) = offset else { break };
        let mut args = json!({"handle": handle, "offset": o, "limit": limit});
        if let Some(f) = fields {
            args["fields"] = json!(f);
        }
        let page = ok_json(&call(client, "aerie_result_page", args).await);
        let got = page["items"].as_array().unwrap();
        assert!(!got.is_empty() || page["next"].is_null(), "{page}");
        items.extend(got.iter().cloned());
        offset = page["next"].as_u64();
    }
    assert!(offset.is_none(), "paging did not end");
    items
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_search_is_stored_and_paged_back_completely() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();

    // The same search with the store out of the way: what the model would otherwise receive.
    let whole = serve_with_store(&sim, &work, "whole", "threshold_kb = 16384").await;
    let r = call(&whole, "hosts_search", all_hosts()).await;
    let before = wire_bytes(&r);
    let text_before = text(&r).len();
    let expected = ok_json(&r)["results"].as_array().unwrap().clone();
    assert_eq!(expected.len(), 500);
    assert!(
        r.meta
            .as_ref()
            .is_none_or(|m| !m.0.contains_key("aerie/stored"))
    );
    whole.cancel().await.unwrap();

    // Default settings (20 KiB threshold, 4 KiB preview).
    let client = serve_with_store(&sim, &work, "stored", "").await;
    let r = call(&client, "hosts_search", all_hosts()).await;
    let after = wire_bytes(&r);
    eprintln!(
        "hosts_search limit 500: result {before} bytes whole (text {text_before}), {after} bytes stored (text {})",
        text(&r).len()
    );
    assert!(before > 100_000, "{before}");
    assert!(after < 8 * 1024, "the stored answer is {after} bytes");

    let meta = stored_meta(&r);
    let handle = meta["handle"].as_str().unwrap().to_string();
    assert!(handle.starts_with("r-") && handle.len() == 26, "{handle}");
    assert_eq!(meta["total"], 500, "{meta}");
    let shown = meta["shown"].as_u64().unwrap() as usize;
    assert!((1..500).contains(&shown), "{meta}");
    // The handle and how to page are in the text too (many clients hide _meta).
    let t = text(&r);
    assert!(t.starts_with("500 of "), "{t}");
    assert!(
        t.contains(&format!(
            "call aerie_result_page with handle {handle} offset {shown} limit 20"
        )),
        "{t}"
    );
    // The first items, exactly as the un-stored call had them; the upstream total is kept.
    let s = ok_json(&r);
    assert!(s["total"].as_u64().unwrap() >= 500, "{s}");
    assert_eq!(s["results"].as_array().unwrap()[..], expected[..shown]);

    // Paged back completely: the pages together are exactly the un-stored call's items.
    assert_eq!(page_all(&client, &handle, 100, None).await, expected);
    assert_eq!(page_all(&client, &handle, 7, None).await, expected);

    // Field projection keeps only the named keys of each item.
    let projected = page_all(&client, &handle, 200, Some(&["hostname", "device_id"])).await;
    let want: Vec<Value> = expected
        .iter()
        .map(|h| json!({"hostname": h["hostname"], "device_id": h["device_id"]}))
        .collect();
    assert_eq!(projected, want);

    // Listed for this session.
    let list = ok_json(&call(&client, "aerie_results", json!({})).await);
    let rows = list["results"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{list}");
    assert_eq!(rows[0]["handle"], handle.as_str());
    assert_eq!(rows[0]["tool"], "hosts_search");
    assert_eq!(rows[0]["items"], 500);
    assert!(rows[0]["bytes"].as_u64().unwrap() > 100_000, "{list}");

    // Paging is served by the host: no request reaches Falcon.
    sim.clear_requests();
    call(&client, "aerie_result_page", json!({"handle": handle})).await;
    assert!(sim.requests().is_empty(), "{:?}", operations(&sim));

    // Bad paging arguments are clear tool errors.
    let e = call_err(
        &client,
        "aerie_result_page",
        json!({"handle": handle, "limit": 0}),
    )
    .await;
    assert!(e.contains("limit must be 1..=1000"), "{e}");
    let e = call_err(
        &client,
        "aerie_result_page",
        json!({"handle": handle, "fields": ["a..b"]}),
    )
    .await;
    assert!(e.contains("not a key or a dotted path"), "{e}");
    let e = call_err(&client, "aerie_result_page", json!({"offset": 3})).await;
    assert!(e.contains("bad arguments") && e.contains("handle"), "{e}");

    // Small results pass untouched.
    let r = call(&client, "hosts_search", json!({"limit": 2})).await;
    assert!(
        r.meta
            .as_ref()
            .is_none_or(|m| !m.0.contains_key("aerie/stored"))
    );
    assert_eq!(ok_json(&r)["results"].as_array().unwrap().len(), 2);
    client.cancel().await.unwrap();
}

/// `aerie serve --transport http` with the embedded plugins against `sim`.
fn http_server(sim: &falcon_sim::Simulator, work: &std::path::Path) -> HttpServer {
    let port = free_port();
    let child = std::process::Command::new(aerie())
        .args(["serve", "--transport", "http", "--port", &port.to_string()])
        .args(["--cache-dir", &shared_cache()])
        .env("HOME", "/nonexistent")
        .env_remove("AERIE_API_KEYS")
        .env("FALCON_CLIENT_ID", falcon_sim::DEMO_CLIENT_ID)
        .env("FALCON_CLIENT_SECRET", falcon_sim::DEMO_CLIENT_SECRET)
        .env("FALCON_BASE_URL", sim.base_url())
        .stderr(std::fs::File::create(work.join("stderr.log")).unwrap())
        .spawn()
        .unwrap();
    HttpServer { child, port }
}

/// A new MCP session on `url` (retried while the server starts).
async fn http_session(url: &str) -> RunningService<RoleClient, ()> {
    for _ in 0..150 {
        if let Ok(c) = ().serve(StreamableHttpClientTransport::from_uri(url.to_string())).await {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no MCP session on {url}");
}

#[tokio::test(flavor = "multi_thread")]
async fn another_session_cannot_read_a_stored_result() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let srv = http_server(&sim, work.path());
    let a = http_session(&srv.url()).await;
    let b = http_session(&srv.url()).await;

    let r = call(&a, "hosts_search", all_hosts()).await;
    let handle = stored_meta(&r)["handle"].as_str().unwrap().to_string();

    // Session B gets exactly what a handle that never existed gets: no sign it exists.
    let foreign = call_err(&b, "aerie_result_page", json!({"handle": handle})).await;
    let unknown = call_err(
        &b,
        "aerie_result_page",
        json!({"handle": "r-000000000000000000000000"}),
    )
    .await;
    assert_eq!(
        foreign.replace(&handle, "H"),
        unknown.replace("r-000000000000000000000000", "H")
    );
    assert!(foreign.contains("No such stored result"), "{foreign}");
    let listed = ok_json(&call(&b, "aerie_results", json!({})).await);
    assert_eq!(listed["results"], json!([]), "{listed}");

    // Session A still reads it.
    let page = ok_json(
        &call(
            &a,
            "aerie_result_page",
            json!({"handle": handle, "limit": 3}),
        )
        .await,
    );
    assert_eq!(page["total"], 500);
    assert_eq!(page["items"].as_array().unwrap().len(), 3);
    let listed = ok_json(&call(&a, "aerie_results", json!({})).await);
    assert_eq!(listed["results"].as_array().unwrap().len(), 1, "{listed}");
    a.cancel().await.unwrap();
    b.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_oldest_go_past_the_count_bound_and_results_expire() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();

    // A 1 KiB threshold stores a 20-host page; two kept per session.
    let client = serve_with_store(&sim, &work, "count", "threshold_kb = 1\nmax_results = 2").await;
    let mut handles = Vec::new();
    for offset in [0, 20, 40] {
        let r = call(
            &client,
            "hosts_search",
            json!({"offset": offset, "sort": "hostname.asc"}),
        )
        .await;
        let meta = stored_meta(&r);
        assert_eq!(meta["total"], 20, "{meta}");
        handles.push(meta["handle"].as_str().unwrap().to_string());
    }
    let listed = ok_json(&call(&client, "aerie_results", json!({})).await);
    let kept: Vec<&str> = listed["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["handle"].as_str().unwrap())
        .collect();
    assert_eq!(kept, [handles[1].as_str(), handles[2].as_str()], "{listed}");
    let e = call_err(&client, "aerie_result_page", json!({"handle": handles[0]})).await;
    assert!(e.contains("No such stored result"), "{e}");
    let page = ok_json(&call(&client, "aerie_result_page", json!({"handle": handles[2]})).await);
    assert_eq!(page["total"], 20);
    client.cancel().await.unwrap();

    // A 1 s time to live.
    let client = serve_with_store(&sim, &work, "ttl", "threshold_kb = 1\nttl_secs = 1").await;
    let r = call(&client, "hosts_search", json!({})).await;
    let handle = stored_meta(&r)["handle"].as_str().unwrap().to_string();
    assert!(text(&r).contains("expire after 1 s"), "{}", text(&r));
    ok_json(&call(&client, "aerie_result_page", json!({"handle": handle})).await);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let e = call_err(&client, "aerie_result_page", json!({"handle": handle})).await;
    assert!(e.contains("No such stored result"), "{e}");
    let listed = ok_json(&call(&client, "aerie_results", json!({})).await);
    assert_eq!(listed["results"], json!([]), "{listed}");
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn store_settings_out_of_range_are_refused_naming_the_key() {
    let work = tempfile::tempdir().unwrap();
    for (toml, key) in [
        ("ttl_secs = 0", "[store] ttl_secs = 0 is out of range"),
        (
            "threshold_kb = 0",
            "[store] threshold_kb = 0 is out of range",
        ),
        ("max_results = 0", "[store] max_results = 0 is out of range"),
        (
            "threshold_kb = 2\npreview_kb = 4",
            "[store] preview_kb = 4 is larger than threshold_kb = 2",
        ),
        ("treshold_kb = 2", "unknown field `treshold_kb`"),
    ] {
        let cfg = work.path().join("aerie.toml");
        std::fs::write(&cfg, format!("[store]\n{toml}\n")).unwrap();
        let out = std::process::Command::new(aerie())
            .args(["config", "check", "--no-embedded", "--no-cache", "--config"])
            .arg(&cfg)
            .env("HOME", "/nonexistent")
            .env_remove("FALCON_CLIENT_ID")
            .env_remove("FALCON_CLIENT_SECRET")
            .current_dir(work.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{toml}: accepted");
        assert!(stderr.contains(key), "{toml}: {stderr}");
    }
}
