//! End-to-end tests over real HTTP: each test starts its own simulator on an ephemeral port.

use std::time::{Duration, SystemTime};

use falcon_sim::*;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

struct T {
    sim: Simulator,
    http: Client,
    token: String,
}

fn config() -> SimConfig {
    SimConfig {
        hosts: 520,
        alerts: 1000,
        ..SimConfig::default()
    }
}

async fn token_for(
    sim: &Simulator,
    http: &Client,
    id: &str,
    secret: &str,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let r = http
        .post(format!("{}/oauth2/token", sim.base_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("client_id={id}&client_secret={secret}"))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    (status, headers, r.json().await.unwrap())
}

impl T {
    async fn new(cfg: SimConfig) -> T {
        let sim = Simulator::start(cfg).await.unwrap();
        let http = Client::new();
        let (_, _, body) = token_for(&sim, &http, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET).await;
        let token = body["access_token"].as_str().unwrap().to_string();
        T { sim, http, token }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut rb = self
            .http
            .request(method, format!("{}{}", self.sim.base_url(), path))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        let bytes = r.bytes().await.unwrap();
        let v = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        (status, headers, v)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (s, _, v) = self.call(Method::GET, path, None).await;
        (s, v)
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (s, _, v) = self.call(Method::POST, path, Some(body)).await;
        (s, v)
    }

    async fn host_id(&self, hostname: &str) -> String {
        let (s, v) = self
            .get(&format!(
                "/devices/queries/devices/v1?filter=hostname:'{hostname}'"
            ))
            .await;
        assert_eq!(s, 200, "{v}");
        v["resources"][0].as_str().unwrap().to_string()
    }
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn oauth_token_scopes_expiry_and_revoke() {
    let mut cfg = config();
    cfg.token_ttl = Duration::from_secs(1);
    cfg.clients
        .push(ApiClient::new("readonlyhosts", "s3cret", &["hosts:read"]));
    let sim = Simulator::start(cfg).await.unwrap();
    let http = Client::new();
    let (s, h, body) = token_for(&sim, &http, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET).await;
    assert_eq!(s, 201);
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 1);
    assert_eq!(h["x-cs-region"], "us-1");
    assert!(body.get("meta").is_none(), "token body has no envelope");
    let (s, _, body) = token_for(&sim, &http, DEMO_CLIENT_ID, "wrong").await;
    assert_eq!(s, 403);
    assert_eq!(
        body["errors"][0]["message"],
        "Failed to issue access token - Client authentication failed."
    );
    assert_eq!(body["meta"]["powered_by"], "csam");
    let (s, _, body) = token_for(&sim, &http, "nosuchclient", "x").await;
    assert_eq!(s, 400);
    assert_eq!(
        body["errors"][0]["message"],
        "Failed to generate access token for clientID=nosuchclient."
    );
    assert_eq!(sim.token_requests(), 3);

    let url = format!("{}/devices/queries/devices/v1?limit=1", sim.base_url());
    let r = http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["x-ratelimit-limit"], "15");
    let b: Value = r.json().await.unwrap();
    assert_eq!(
        b["errors"][0]["message"],
        "access denied, invalid bearer token"
    );
    assert_eq!(b["meta"]["powered_by"], "crowdstrike-api-gateway");

    // Scope check: a hosts:read client cannot read alerts.
    let (_, _, tb) = token_for(&sim, &http, "readonlyhosts", "s3cret").await;
    let ro = tb["access_token"].as_str().unwrap().to_string();
    let r = http.get(&url).bearer_auth(&ro).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .get(format!("{}/alerts/queries/alerts/v2", sim.base_url()))
        .bearer_auth(&ro)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let b: Value = r.json().await.unwrap();
    assert_eq!(
        b["errors"][0]["message"],
        "access denied, authorization failed"
    );

    // Expiry after the configured ttl.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = http.get(&url).bearer_auth(&ro).send().await.unwrap();
    assert_eq!(r.status(), 401);

    // Revoke.
    let (_, _, tb) = token_for(&sim, &http, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET).await;
    let tok = tb["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        http.get(&url)
            .bearer_auth(&tok)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = http
        .post(format!("{}/oauth2/revoke", sim.base_url()))
        .basic_auth(DEMO_CLIENT_ID, Some(DEMO_CLIENT_SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={tok}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        http.get(&url)
            .bearer_auth(&tok)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let log = sim.requests();
    assert!(log.iter().any(|r| r.status == 403
        && r.operation.as_deref() == Some("GetQueriesAlertsV2")
        && r.client_id.as_deref() == Some("readonlyhosts")));
    assert!(
        log.iter().all(|r| !r.body.contains(DEMO_CLIENT_SECRET)),
        "secrets are not logged"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn envelope_fql_sort_and_pagination() {
    let t = T::new(config()).await;
    let (s, h, v) = t
        .call(
            Method::GET,
            &format!(
                "/devices/queries/devices/v1?filter={}&limit=5",
                enc("platform_name:'Linux'+status:'normal'")
            ),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["meta"]["powered_by"], "device-api");
    assert_eq!(v["meta"]["trace_id"], h["x-cs-traceid"].to_str().unwrap());
    assert!(v["meta"]["query_time"].as_f64().unwrap() > 0.0);
    assert_eq!(v["meta"]["pagination"]["limit"], 5);
    assert!(v["meta"]["pagination"]["total"].as_u64().unwrap() > 50);
    assert_eq!(v["resources"].as_array().unwrap().len(), 5);
    assert_eq!(v["errors"], json!([]));
    assert_eq!(h["content-type"], "application/json");
    assert!(h.contains_key("x-ratelimit-remaining"));

    // Details, including the partial 404.
    let ids = v["resources"].clone();
    let mut asked = ids.as_array().unwrap().clone();
    asked.push(json!("0000000000000000000000000000dead"));
    let (s, d) = t
        .post("/devices/entities/devices/v2", json!({"ids": asked}))
        .await;
    assert_eq!(s, 200);
    assert_eq!(d["resources"].as_array().unwrap().len(), 5);
    assert!(
        d["resources"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["platform_name"] == "Linux")
    );
    assert_eq!(d["errors"][0]["code"], 404);
    assert_eq!(d["errors"][0]["id"], "0000000000000000000000000000dead");
    let (s, _) = t
        .get("/devices/entities/devices/v2?ids=0000000000000000000000000000dead")
        .await;
    assert_eq!(s, 404);

    // Text match, wildcards, dotted paths, relative time.
    let (_, v) = t
        .get(&format!(
            "/devices/queries/devices/v1?filter={}",
            enc("hostname:'WS-FIN-*'+last_seen:>'now-1h'")
        ))
        .await;
    assert!(!v["resources"].as_array().unwrap().is_empty());
    let (_, v) = t
        .get(&format!(
            "/alerts/queries/alerts/v2?filter={}&limit=1000",
            enc(&format!(
                "device.hostname:'{KNOWN_HOSTNAME}'+sha256:'{KNOWN_BAD_SHA256}'"
            ))
        ))
        .await;
    assert!(!v["resources"].as_array().unwrap().is_empty());

    // Sorts in both forms agree; an unknown sort field is refused.
    let (_, a) = t
        .get("/devices/queries/devices/v1?sort=hostname.desc&limit=20")
        .await;
    let (_, b) = t
        .get(&format!(
            "/devices/queries/devices/v1?sort={}&limit=20",
            enc("hostname|desc")
        ))
        .await;
    assert_eq!(a["resources"], b["resources"]);
    let (_, d) = t
        .post(
            "/devices/entities/devices/v2",
            json!({"ids": a["resources"]}),
        )
        .await;
    let names: Vec<String> = d["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["hostname"].as_str().unwrap().to_lowercase())
        .collect();
    let mut sorted = names.clone();
    sorted.sort_by(|x, y| y.cmp(x));
    assert_eq!(names, sorted);
    let (s, v) = t.get("/devices/queries/devices/v1?sort=bogus.asc").await;
    assert_eq!(s, 400);
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("bogus")
    );

    // Invalid FQL and unknown fields.
    let (s, v) = t
        .get(&format!(
            "/devices/queries/devices/v1?filter={}",
            enc("hostname:'abc")
        ))
        .await;
    assert_eq!(s, 400);
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("position 9"),
        "{v}"
    );
    let (s, v) = t
        .get(&format!(
            "/devices/queries/devices/v1?filter={}",
            enc("nosuchfield:'x'")
        ))
        .await;
    assert_eq!(s, 400);
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("nosuchfield")
    );
    // An unencoded '+' arrives as a space and is refused with a hint.
    let (s, v) = t
        .get("/devices/queries/devices/v1?filter=platform_name:'Linux'+status:'normal'")
        .await;
    assert_eq!(s, 400);
    assert!(v["errors"][0]["message"].as_str().unwrap().contains("%2B"));

    // Offset window and limits.
    let (s, v) = t
        .get("/devices/queries/devices/v1?offset=9950&limit=100")
        .await;
    assert_eq!(s, 400);
    assert_eq!(
        v["errors"][0]["message"],
        "limit + offset must be less than 10000"
    );
    let (s, v) = t
        .get("/alerts/queries/alerts/v2?offset=9901&limit=100")
        .await;
    assert_eq!(s, 400);
    assert_eq!(
        v["errors"][0]["message"],
        "offset 9901 and limit 100 are invalid; offset + limit must be less than or equal to 10000"
    );
    let (s, _) = t.get("/devices/queries/devices/v1?limit=5001").await;
    assert_eq!(s, 400);
    let (s, v) = t
        .get("/devices/queries/devices/v1?offset=515&limit=10")
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        v["resources"].as_array().unwrap().len(),
        2,
        "517 visible hosts (3 hidden)"
    );

    // Scroll covers every host exactly once.
    let mut seen = std::collections::BTreeSet::new();
    let mut token = String::new();
    loop {
        let q = if token.is_empty() {
            "/devices/queries/devices-scroll/v1?limit=200".to_string()
        } else {
            format!(
                "/devices/queries/devices-scroll/v1?limit=200&offset={}",
                enc(&token)
            )
        };
        let (s, v) = t.get(&q).await;
        assert_eq!(s, 200, "{v}");
        let page = v["resources"].as_array().unwrap();
        if page.is_empty() {
            break;
        }
        for id in page {
            assert!(seen.insert(id.as_str().unwrap().to_string()));
        }
        token = v["meta"]["pagination"]["offset"]
            .as_str()
            .unwrap()
            .to_string();
    }
    assert_eq!(seen.len(), 517);
    let (s, _) = t
        .get("/devices/queries/devices-scroll/v1?offset=FQLv1:bogus")
        .await;
    assert_eq!(s, 400);

    // Alerts combined with `after` covers all alerts once.
    let mut after: Option<String> = None;
    let mut count = 0;
    let mut ids = std::collections::BTreeSet::new();
    loop {
        let mut body = json!({"limit": 400, "sort": "timestamp|desc"});
        if let Some(a) = &after {
            body["after"] = json!(a);
        }
        let (s, v) = t.post("/alerts/combined/alerts/v1", body).await;
        assert_eq!(s, 200);
        for a in v["resources"].as_array().unwrap() {
            ids.insert(a["composite_id"].as_str().unwrap().to_string());
            count += 1;
        }
        match v["meta"]["pagination"]["after"].as_str() {
            Some(a) => after = Some(a.to_string()),
            None => break,
        }
    }
    // The configured 1,000 endpoint alerts and those of the other detecting products.
    let all = t.get("/_sim/info").await.1["alerts"].as_u64().unwrap() as usize;
    assert!(all > 1000, "{all}");
    assert_eq!(count, all);
    assert_eq!(ids.len(), all);
    let (s, _) = t.get("/nope/v1").await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn containment_transitions_after_the_delay() {
    let t = T::new(SimConfig {
        containment_delay: Duration::from_millis(300),
        ..config()
    })
    .await;
    let aid = t.host_id(KNOWN_HOSTNAME).await;
    let (s, v) = t
        .post(
            "/devices/entities/devices-actions/v2?action_name=contain",
            json!({"ids": [aid]}),
        )
        .await;
    assert_eq!(s, 202);
    assert_eq!(v["resources"][0], json!({"id": aid, "path": ""}));
    let status = |v: &Value| v["resources"][0]["status"].as_str().unwrap().to_string();
    let (_, v) = t
        .get(&format!("/devices/entities/devices/v2?ids={aid}"))
        .await;
    assert_eq!(status(&v), "containment_pending");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (_, v) = t
        .get(&format!("/devices/entities/devices/v2?ids={aid}"))
        .await;
    assert_eq!(status(&v), "contained");
    let (s, _) = t
        .post(
            "/devices/entities/devices-actions/v2?action_name=lift_containment",
            json!({"ids": [aid]}),
        )
        .await;
    assert_eq!(s, 202);
    let (_, v) = t
        .get(&format!("/devices/entities/devices/v2?ids={aid}"))
        .await;
    assert_eq!(status(&v), "lift_containment_pending");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (_, v) = t
        .get(&format!("/devices/entities/devices/v2?ids={aid}"))
        .await;
    assert_eq!(status(&v), "normal");
    let (s, _) = t
        .post(
            "/devices/entities/devices-actions/v2?action_name=explode",
            json!({"ids": [aid]}),
        )
        .await;
    assert_eq!(s, 400);
    // Tags persist.
    let (s, _, _) = t.call(Method::PATCH, "/devices/entities/devices/tags/v1", Some(json!({"action": "add", "device_ids": [aid], "tags": ["FalconGroupingTags/IR-Case-9"]}))).await;
    assert_eq!(s, 202);
    let (_, v) = t
        .get(&format!(
            "/devices/queries/devices/v1?filter={}",
            enc("tags:'FalconGroupingTags/IR-Case-9'")
        ))
        .await;
    assert_eq!(v["resources"], json!([aid]));
}

#[tokio::test]
async fn alert_updates_persist_and_aggregate() {
    let t = T::new(config()).await;
    let (_, v) = t
        .get(&format!(
            "/alerts/queries/alerts/v2?filter={}&limit=3",
            enc("created_timestamp:>'now-24h'+status:'new'")
        ))
        .await;
    let ids = v["resources"].clone();
    assert_eq!(ids.as_array().unwrap().len(), 3);
    let body = json!({"composite_ids": ids, "action_parameters": [
        {"name": "update_status", "value": "closed"}, {"name": "add_tag", "value": "false_positive"},
        {"name": "append_comment", "value": "benign admin script"}, {"name": "assign_to_name", "value": "Alex Rivera"}]});
    let (s, _, v) = t
        .call(Method::PATCH, "/alerts/entities/alerts/v3", Some(body))
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(v.get("resources").is_none());
    let (_, d) = t
        .post("/alerts/entities/alerts/v2", json!({"composite_ids": ids}))
        .await;
    for a in d["resources"].as_array().unwrap() {
        assert_eq!(a["status"], "closed");
        assert!(
            a["tags"]
                .as_array()
                .unwrap()
                .contains(&json!("false_positive"))
        );
        assert_eq!(a["resolution"], "false_positive");
        assert_eq!(
            a["comments"].as_array().unwrap().last().unwrap()["value"],
            "benign admin script"
        );
        assert_eq!(a["assigned_to_name"], "Alex Rivera");
    }
    let bad = json!({"composite_ids": ids, "action_parameters": [{"name": "show_in_ui", "value": false}]});
    let (s, _, _) = t
        .call(Method::PATCH, "/alerts/entities/alerts/v3", Some(bad))
        .await;
    assert_eq!(s, 400, "JSON booleans are rejected");
    let bad = json!({"composite_ids": ids, "action_parameters": [{"name": "update_status", "value": "done"}]});
    assert_eq!(
        t.call(Method::PATCH, "/alerts/entities/alerts/v3", Some(bad))
            .await
            .0,
        400
    );

    let (s, v) = t.post("/alerts/aggregates/alerts/v2", json!([{"name": "by_sev", "type": "terms", "field": "severity_name", "size": 10, "sort": "_count|desc"}])).await;
    assert_eq!(s, 200);
    let buckets = v["resources"][0]["buckets"].as_array().unwrap();
    let total: u64 = buckets.iter().map(|b| b["count"].as_u64().unwrap()).sum();
    assert_eq!(
        total,
        t.get("/_sim/info").await.1["alerts"].as_u64().unwrap()
    );
    assert!(
        buckets
            .windows(2)
            .all(|w| w[0]["count"].as_u64() >= w[1]["count"].as_u64())
    );
    let (s, _) = t
        .post(
            "/alerts/aggregates/alerts/v2",
            json!([{"name": "x", "type": "terms", "field": "status", "sort": "_count.desc"}]),
        )
        .await;
    assert_eq!(s, 400, "aggregation sort is pipe-only");
    let (s, v) = t
        .post(
            "/alerts/aggregates/alerts/v2",
            json!([{"name": "x", "type": "terms", "field": "nosuch"}]),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["resources"][0]["buckets"], json!([]));
}

#[tokio::test]
async fn ioc_validation_duplicates_and_sightings() {
    let t = T::new(config()).await;
    let good = json!({"indicators": [{"type": "sha256", "value": "a".repeat(64), "action": "prevent", "severity": "high", "platforms": ["windows"], "applied_globally": true, "source": "test"}]});
    let (s, v) = t.post("/iocs/entities/indicators/v1", good.clone()).await;
    assert_eq!(s, 201, "{v}");
    let id = v["resources"][0]["id"].as_str().unwrap().to_string();
    let (s, v) = t.post("/iocs/entities/indicators/v1", good).await;
    assert_eq!(s, 400);
    assert_eq!(
        v["errors"][0]["message"],
        format!(
            "Duplicate type: 'sha256' and value: '{}' combination.",
            "a".repeat(64)
        )
    );
    let (s, v) = t.post("/iocs/entities/indicators/v1", json!({"indicators": [{"type": "md5", "value": "xyz", "action": "detect", "severity": "low", "platforms": ["mac"], "applied_globally": true}]})).await;
    assert_eq!(s, 400);
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Invalid value")
    );
    let (s, _) = t.post("/iocs/entities/indicators/v1", json!({"indicators": [{"type": "ipv4", "value": "10.0.0.1", "action": "detect", "severity": "loud", "platforms": ["linux"], "applied_globally": true}]})).await;
    assert_eq!(s, 400);
    let (s, v) = t
        .get(&format!("/iocs/entities/indicators/v1?ids={id}"))
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["resources"][0]["action"], "prevent");
    let (s, v) = t
        .get(&format!(
            "/iocs/queries/indicators/v1?filter={}",
            enc(&format!("value:'{KNOWN_BAD_IP}'"))
        ))
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["resources"].as_array().unwrap().len(), 1);
    let (_, _, v) = t
        .call(
            Method::DELETE,
            &format!("/iocs/entities/indicators/v1?ids={id}"),
            None,
        )
        .await;
    assert_eq!(v["resources"], json!([id]));

    let (s, v) = t
        .get(&format!(
            "/iocs/aggregates/indicators/device-count/v1?type=sha256&value={KNOWN_BAD_SHA256}"
        ))
        .await;
    assert_eq!(s, 200);
    assert!(v["resources"][0]["device_count"].as_u64().unwrap() >= 1);
    let (_, v) = t
        .get(&format!(
            "/iocs/queries/indicators/devices/v1?type=ipv4&value={KNOWN_BAD_IP}"
        ))
        .await;
    assert!(!v["resources"].as_array().unwrap().is_empty());
    let aid = t.host_id(KNOWN_HOSTNAME).await;
    let (_, v) = t
        .get(&format!(
            "/iocs/queries/indicators/devices/v1?type=sha256&value={KNOWN_BAD_SHA256}"
        ))
        .await;
    assert!(v["resources"].as_array().unwrap().contains(&json!(aid)));
    let (_, v) = t.get(&format!("/iocs/queries/indicators/processes/v1?type=sha256&value={KNOWN_BAD_SHA256}&device_id={aid}")).await;
    assert!(
        v["resources"][0]
            .as_str()
            .unwrap()
            .starts_with(&format!("pid:{aid}:"))
    );
    let (_, v) = t
        .get("/iocs/aggregates/indicators/device-count/v1?type=domain&value=never-seen.example")
        .await;
    assert_eq!(v["resources"][0]["device_count"], 0);
}

#[tokio::test]
async fn rtr_session_command_get_and_archive() {
    let t = T::new(SimConfig {
        rtr_chunk_size: 64,
        ..config()
    })
    .await;
    let aid = t.host_id(KNOWN_HOSTNAME).await;
    let (s, v) = t
        .post(
            "/real-time-response/entities/sessions/v1",
            json!({"device_id": aid, "origin": "test"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["meta"]["powered_by"], "empower-api");
    let sid = v["resources"][0]["session_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(v["resources"][0]["platform"], "windows");
    let (s, v) = t.post("/real-time-response/entities/command/v1", json!({"base_command": "ls", "command_string": "ls C:\\Users\\jdoe\\Downloads", "session_id": sid})).await;
    assert_eq!(s, 201);
    let req_id = v["resources"][0]["cloud_request_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, v) = t
        .get(&format!(
            "/real-time-response/entities/command/v1?cloud_request_id={req_id}&sequence_id=0"
        ))
        .await;
    assert_eq!(
        v["resources"][0]["complete"], false,
        "first poll is still running"
    );
    let mut out = String::new();
    let mut seq = 0;
    loop {
        let (s, v) = t.get(&format!("/real-time-response/entities/command/v1?cloud_request_id={req_id}&sequence_id={seq}")).await;
        assert_eq!(s, 200);
        out.push_str(v["resources"][0]["stdout"].as_str().unwrap());
        if v["resources"][0]["complete"] == true {
            break;
        }
        seq += 1;
        assert!(seq < 50);
    }
    assert!(seq >= 1, "64-byte chunks split the listing");
    assert!(out.contains("invoice.exe"), "{out}");
    // Tiers: `get` is an active-responder command.
    let (s, _) = t.post("/real-time-response/entities/command/v1", json!({"base_command": "get", "command_string": "get C:\\Users\\jdoe\\Downloads\\invoice.exe", "session_id": sid})).await;
    assert_eq!(s, 400);
    let (s, _) = t
        .post(
            "/real-time-response/entities/command/v1",
            json!({"base_command": "ls", "command_string": "ps", "session_id": sid}),
        )
        .await;
    assert_eq!(s, 400);
    let (s, v) = t.post("/real-time-response/entities/active-responder-command/v1", json!({"base_command": "get", "command_string": "get C:\\Users\\jdoe\\Downloads\\invoice.exe", "session_id": sid})).await;
    assert_eq!(s, 201);
    let get_id = v["resources"][0]["cloud_request_id"]
        .as_str()
        .unwrap()
        .to_string();
    for _ in 0..3 {
        t.get(&format!(
            "/real-time-response/entities/active-responder-command/v1?cloud_request_id={get_id}"
        ))
        .await;
    }
    let (s, v) = t
        .get(&format!(
            "/real-time-response/entities/file/v2?session_id={sid}"
        ))
        .await;
    assert_eq!(s, 200);
    let f = &v["resources"][0];
    assert_eq!(f["name"], "C:\\Users\\jdoe\\Downloads\\invoice.exe");
    let sha = f["sha256"].as_str().unwrap().to_string();
    let r = t.http.get(format!("{}/real-time-response/entities/extracted-file-contents/v1?session_id={sid}&sha256={sha}&filename=invoice.exe", t.sim.base_url())).bearer_auth(&t.token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-7z-compressed");
    let bytes = r.bytes().await.unwrap().to_vec();
    assert_eq!(&bytes[..6], b"7z\xbc\xaf\x27\x1c");
    let mut ar =
        sevenz_rust2::ArchiveReader::new(std::io::Cursor::new(bytes), ARCHIVE_PASSWORD.into())
            .unwrap();
    let content = ar.read_file("invoice.exe").unwrap();
    assert!(content.starts_with(b"MZ"));
    use sha2::Digest;
    assert_eq!(hex::encode(sha2::Sha256::digest(&content)), sha);
    // Session listing and delete.
    let (_, v) = t
        .get(&format!(
            "/real-time-response/queries/sessions/v1?filter={}",
            enc("user_id:'@me'")
        ))
        .await;
    assert_eq!(v["resources"], json!([sid]));
    let (s, _, body) = t
        .call(
            Method::DELETE,
            &format!("/real-time-response/entities/sessions/v1?session_id={sid}"),
            None,
        )
        .await;
    assert_eq!(s, 204);
    assert_eq!(body, Value::Null);
    let (s, _) = t
        .post(
            "/real-time-response/entities/command/v1",
            json!({"base_command": "ls", "command_string": "ls", "session_id": sid}),
        )
        .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn rate_limit_headers_and_429() {
    let t = T::new(SimConfig {
        rate_limit_per_minute: 3,
        ..config()
    })
    .await;
    for expect in [2, 1, 0] {
        let (s, h, _) = t
            .call(Method::GET, "/devices/queries/devices/v1?limit=1", None)
            .await;
        assert_eq!(s, 200);
        assert_eq!(h["x-ratelimit-limit"], "3");
        assert_eq!(h["x-ratelimit-remaining"], expect.to_string().as_str());
    }
    let (s, h, v) = t
        .call(Method::GET, "/devices/queries/devices/v1?limit=1", None)
        .await;
    assert_eq!(s, 429);
    assert_eq!(v["errors"][0]["code"], 429);
    let retry: u64 = h["x-ratelimit-retryafter"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(retry >= now && retry <= now + 61, "{retry} vs {now}");
    assert_eq!(h["x-ratelimit-remaining"], "0");
}

#[tokio::test]
async fn faults_inject_and_are_logged() {
    let t = T::new(config()).await;
    let admin = |p: &str| format!("{}{}", t.sim.base_url(), p);
    let r = t
        .http
        .post(admin("/_sim/faults"))
        .json(&json!({"status_429_burst": 1, "status_5xx_burst": 1, "drop_connection_burst": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    t.sim.clear_requests();
    let url = format!("{}/devices/queries/devices/v1?limit=1", t.sim.base_url());
    let dropped = t.http.get(&url).bearer_auth(&t.token).send().await;
    assert!(dropped.is_err(), "connection closed without a response");
    let (s, _) = t.get("/devices/queries/devices/v1?limit=1").await;
    assert_eq!(s, 429);
    let (s, _) = t.get("/devices/queries/devices/v1?limit=1").await;
    assert_eq!(s, 500);
    let (s, _) = t.get("/devices/queries/devices/v1?limit=1").await;
    assert_eq!(s, 200);
    let statuses: Vec<u16> = t.sim.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![0, 429, 500, 200]);
    let log: Value = t
        .http
        .get(admin("/_sim/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(log.as_array().unwrap().len(), 4);
    assert_eq!(log[3]["operation"], "QueryDevicesByFilter");

    t.sim.set_faults(Faults {
        latency_ms: 150,
        ..Faults::default()
    });
    let started = std::time::Instant::now();
    t.get("/devices/queries/devices/v1?limit=1").await;
    assert!(started.elapsed() >= Duration::from_millis(150));
    t.sim.set_faults(Faults::default());

    let r = t
        .http
        .post(admin("/_sim/expire-tokens"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (s, _) = t.get("/devices/queries/devices/v1?limit=1").await;
    assert_eq!(s, 401);
    let c: Value = t
        .http
        .get(admin("/_sim/token-requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(c["count"], 1);
}

#[tokio::test]
async fn ngsiem_jobs_and_cql() {
    let t = T::new(config()).await;
    let base = "/humio/api/v1/repositories/search-all/queryjobs";
    let q = format!(
        "#event_simpleName=ProcessRollup2 SHA256HashData={KNOWN_BAD_SHA256} | groupBy([ComputerName])"
    );
    let (s, v) = t
        .post(base, json!({"queryString": q, "start": "7d", "end": "now"}))
        .await;
    assert_eq!(s, 200, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    assert!(v["hashedQueryOnView"].is_string());
    let (_, v) = t.get(&format!("{base}/{id}")).await;
    assert_eq!(v["done"], false);
    let (_, v) = t.get(&format!("{base}/{id}")).await;
    assert_eq!(v["done"], true);
    assert_eq!(v["metaData"]["isAggregate"], true);
    let rows = v["events"].as_array().unwrap();
    assert!(rows.iter().any(|r| r["ComputerName"] == KNOWN_HOSTNAME
        && r["_count"].as_str().unwrap().parse::<u64>().unwrap() >= 1));
    let (s, _, _) = t.call(Method::DELETE, &format!("{base}/{id}"), None).await;
    assert_eq!(s, 204);
    let (s, _) = t.get(&format!("{base}/{id}")).await;
    assert_eq!(s, 404);

    let now_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let (_, v) = t.post(base, json!({"queryString": format!("RemoteAddressIP4={KNOWN_BAD_IP} | select([ComputerName, RemotePort]) | head(5)"), "start": now_ms - 30 * 86_400_000, "end": now_ms})).await;
    let id = v["id"].as_str().unwrap().to_string();
    t.get(&format!("{base}/{id}")).await;
    let (_, v) = t.get(&format!("{base}/{id}")).await;
    let ev = v["events"].as_array().unwrap();
    assert!(!ev.is_empty() && ev.len() <= 5);
    assert!(ev.iter().all(|e| {
        e.as_object()
            .unwrap()
            .keys()
            .all(|k| k == "ComputerName" || k == "RemotePort")
    }));

    let (s, v) = t
        .post(
            base,
            json!({"queryString": "ComputerName=WS-* | sort(@timestamp, order=sideways)"}),
        )
        .await;
    assert_eq!(s, 400);
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("Syntax error at line 1, column")
    );
    let (s, _) = t
        .post(
            "/humio/api/v1/repositories/nope/queryjobs",
            json!({"queryString": "*"}),
        )
        .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn groups_and_policies_follow_assignments() {
    let t = T::new(config()).await;
    let aid = t.host_id(KNOWN_LINUX_HOSTNAME).await;
    let (s, v) = t.post("/devices/entities/host-groups/v1", json!({"resources": [{"name": "IR Scope", "group_type": "static", "description": "hosts in scope"}]})).await;
    assert_eq!(s, 201);
    let gid = v["resources"][0]["id"].as_str().unwrap().to_string();
    let (s, _) = t
        .post(
            "/devices/entities/host-groups/v1",
            json!({"resources": [{"name": "IR Scope", "group_type": "static"}]}),
        )
        .await;
    assert_eq!(s, 409);
    let (s, _) = t.post("/devices/entities/host-groups/v1", json!({"resources": [{"name": "Bad", "group_type": "dynamic", "assignment_rule": "hostname:'x"}]})).await;
    assert_eq!(s, 400);
    let (s, v) = t.post("/devices/entities/host-group-actions/v1?action_name=add-hosts", json!({"ids": [gid], "action_parameters": [{"name": "filter", "value": format!("device_id:['{aid}']")}]})).await;
    assert_eq!(s, 200, "{v}");
    let (_, v) = t
        .get(&format!("/devices/queries/host-group-members/v1?id={gid}"))
        .await;
    assert_eq!(v["resources"], json!([aid]));
    let (_, v) = t
        .get(&format!("/devices/entities/devices/v2?ids={aid}"))
        .await;
    assert!(
        v["resources"][0]["groups"]
            .as_array()
            .unwrap()
            .contains(&json!(gid))
    );

    let (s, v) = t.post("/policy/entities/prevention/v1", json!({"resources": [{"name": "IR Lockdown", "platform_name": "Linux", "settings": [{"id": "CloudAntiMalware", "value": {"detection": "AGGRESSIVE", "prevention": "AGGRESSIVE"}}]}]})).await;
    assert_eq!(s, 201, "{v}");
    let pid = v["resources"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(v["resources"][0]["enabled"], false);
    let (s, v) = t
        .post(
            "/policy/entities/prevention-actions/v1?action_name=add-host-group",
            json!({"ids": [pid], "action_parameters": [{"name": "group_id", "value": gid}]}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["resources"][0]["groups"][0]["id"], gid.as_str());
    let (_, v) = t
        .post(
            "/policy/entities/prevention-actions/v1?action_name=enable",
            json!({"ids": [pid]}),
        )
        .await;
    assert_eq!(v["resources"][0]["enabled"], true);
    // Highest precedence so the host picks it up.
    let (_, ids) = t
        .get(&format!(
            "/policy/queries/prevention/v1?filter={}",
            enc("platform_name:'Linux'+name:!'platform_default'")
        ))
        .await;
    let mut order = vec![json!(pid)];
    order.extend(
        ids["resources"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| **x != json!(pid))
            .cloned(),
    );
    let (s, _) = t
        .post(
            "/policy/entities/prevention-precedence/v1",
            json!({"platform_name": "Linux", "ids": order}),
        )
        .await;
    assert_eq!(s, 200);
    let (_, v) = t
        .get(&format!("/policy/queries/prevention-members/v1?id={pid}"))
        .await;
    assert_eq!(v["resources"], json!([aid]));
    let (s, _) = t
        .post(
            "/policy/entities/prevention-precedence/v1",
            json!({"platform_name": "Linux", "ids": [pid]}),
        )
        .await;
    assert_eq!(s, 400, "partial precedence lists are refused");
    let (s, v) = {
        let (s, _, v) = t
            .call(
                Method::DELETE,
                &format!("/policy/entities/prevention/v1?ids={pid}"),
                None,
            )
            .await;
        (s, v)
    };
    assert_eq!(s, 400, "enabled policies cannot be deleted: {v}");
    let (s, _, _) = t
        .call(
            Method::DELETE,
            &format!("/devices/entities/host-groups/v1?ids={gid}"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let (_, v) = t
        .get(&format!("/policy/entities/prevention/v1?ids={pid}"))
        .await;
    assert_eq!(v["resources"][0]["groups"], json!([]));
}

#[tokio::test]
async fn spotlight_incidents_and_determinism() {
    let at = SystemTime::now();
    let a = T::new(SimConfig {
        generated_at: Some(at),
        ..config()
    })
    .await;
    let b = T::new(SimConfig {
        generated_at: Some(at),
        ..config()
    })
    .await;
    let (_, x) = a.get("/devices/combined/devices/v1?limit=600").await;
    let (_, y) = b.get("/devices/combined/devices/v1?limit=600").await;
    assert_eq!(x["resources"], y["resources"]);
    assert_eq!(x["resources"].as_array().unwrap().len(), 517);
    let (_, x) = a
        .post("/alerts/combined/alerts/v1", json!({"limit": 1000}))
        .await;
    let (_, y) = b
        .post("/alerts/combined/alerts/v1", json!({"limit": 1000}))
        .await;
    assert_eq!(x["resources"], y["resources"]);
    let c = T::new(SimConfig {
        seed: 7,
        generated_at: Some(at),
        ..config()
    })
    .await;
    let (_, z) = c
        .post("/alerts/combined/alerts/v1", json!({"limit": 10}))
        .await;
    assert_ne!(x["resources"][0], z["resources"][0]);

    let (s, _) = a.get("/spotlight/combined/vulnerabilities/v1").await;
    assert_eq!(s, 400, "filter is required");
    let (s, v) = a
        .get(&format!(
            "/spotlight/combined/vulnerabilities/v1?filter={}&limit=50&facet=cve",
            enc("status:'open'+cve.severity:'CRITICAL'")
        ))
        .await;
    assert_eq!(s, 200);
    assert!(
        v["resources"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["cve"]["severity"] == "CRITICAL")
    );
    assert!(v["meta"]["pagination"]["after"].is_string());

    let (s, v) = a
        .get(&format!(
            "/incidents/queries/incidents/v1?filter={}&sort=fine_score.desc",
            enc("state:'open'")
        ))
        .await;
    assert_eq!(s, 200);
    let id = v["resources"][0].as_str().unwrap().to_string();
    let (_, d) = a
        .post("/incidents/entities/incidents/GET/v1", json!({"ids": [id]}))
        .await;
    assert!(!d["resources"][0]["tactics"].as_array().unwrap().is_empty());
    let (s, _) = a
        .post(
            "/incidents/entities/incident-actions/v1",
            json!({"ids": [id], "action_parameters": [{"name": "update_status", "value": "40"}]}),
        )
        .await;
    assert_eq!(s, 200);
    let (_, d) = a
        .post("/incidents/entities/incidents/GET/v1", json!({"ids": [id]}))
        .await;
    assert_eq!(d["resources"][0]["state"], "closed");
}
