//! Spotlight (declared on the engine; see `crate::engine`): vulnerability findings per host,
//! their remediations and the evaluations Falcon supports (reference part 2 §2). Every query
//! needs `filter` and pages with `after` cursors; facets shape the combined answer.

use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::catalog::{CVES, Cve};
use crate::engine::{self, Endpoint, Family, Ids, Kind, Paging, Seed, Store};
use crate::envelope::{ApiError, ApiResult, Envelope, Req};
use crate::tenant::KNOWN_HOSTNAME;
use crate::timeutil::rfc3339_s;
use crate::world::{Ctx, World};

const PB: &str = "spotlight-api";
const SCOPE: &str = "spotlight-vulnerabilities:read";
const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;

/// `facet` values of `combinedQueryVulnerabilities`.
const FACETS: &[&str] = &["host_info", "remediation", "cve", "evaluation_logic"];

/// The CVE found on many hosts (a browser every workstation runs), so a "which hosts have X"
/// question has a real answer.
pub(crate) const SHARED_CVE: &str = crate::tenant::KNOWN_CVE;

/// Findings on [`KNOWN_HOSTNAME`], whatever the seed: the shared CVE, the shortcut bypass the
/// Intel actor behind the tenant's known-bad loader exploits, and one already closed.
const KNOWN_FINDINGS: &[(&str, &str)] = &[
    (SHARED_CVE, "open"),
    ("CVE-2024-21412", "open"),
    ("CVE-2024-38063", "open"),
    ("CVE-2024-30088", "closed"),
];

const COMBINED: Paging = Paging::after(100, 5000).filter_required();
const QUERY: Paging = Paging::after(100, 400).filter_required();

/// Filter names that differ from the objects' fields: `host_info.groups` takes group ids, the
/// objects list `{id, name}`.
const ALIASES: &[(&str, &str)] = &[("host_info.groups", "host_info.groups.id")];
const SUPPORTED: Paging = Paging::after(100, 400).filter_required();

/// The Spotlight collections and their endpoints.
pub(crate) static FAMILIES: &[Family] = &[
    Family {
        name: "spotlight_vulnerabilities",
        id_field: "id",
        noun: "Vulnerability",
        powered_by: PB,
        default_sort: "",
        extra_fields: &[],
        text_fields: &[],
        store: Store::Seeded(seed_vulnerabilities),
        endpoints: &[
            Endpoint {
                op: "combinedQueryVulnerabilities",
                method: "GET",
                path: "/spotlight/combined/vulnerabilities/v1",
                scope: SCOPE,
                kind: Kind::Custom(combined_vulnerabilities),
            },
            Endpoint {
                op: "queryVulnerabilities",
                method: "GET",
                path: "/spotlight/queries/vulnerabilities/v1",
                scope: SCOPE,
                kind: Kind::Custom(query_vulnerabilities),
            },
            Endpoint {
                op: "getVulnerabilities",
                method: "GET",
                path: "/spotlight/entities/vulnerabilities/v2",
                scope: SCOPE,
                kind: Kind::Entities {
                    ids: Ids::Query("ids"),
                    max: 400,
                },
            },
        ],
    },
    Family {
        name: "spotlight_remediations",
        id_field: "id",
        noun: "Remediation",
        powered_by: PB,
        default_sort: "",
        extra_fields: &[],
        text_fields: &[],
        store: Store::Seeded(seed_remediations),
        endpoints: &[Endpoint {
            op: "getRemediationsV2",
            method: "GET",
            path: "/spotlight/entities/remediations/v2",
            scope: SCOPE,
            kind: Kind::Entities {
                ids: Ids::Query("ids"),
                max: 400,
            },
        }],
    },
    Family {
        name: "spotlight_supported_evaluations",
        id_field: "id",
        noun: "Supported evaluation",
        powered_by: PB,
        default_sort: "risk_id.asc",
        extra_fields: &[],
        text_fields: &[],
        store: Store::Seeded(seed_supported),
        endpoints: &[Endpoint {
            op: "combinedSupportedEvaluationExt",
            method: "GET",
            path: "/spotlight/combined/supported-evaluation-external/v1",
            scope: SCOPE,
            kind: Kind::Custom(combined_supported),
        }],
    },
];

/// 32 hex characters derived from `s` (stable ids for catalogue entries).
fn hex_id(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))[..32].to_string()
}

/// A day count in `0..span` derived from `s`: stable dates without drawing from an RNG.
fn days_from(s: &str, span: i64) -> i64 {
    let h = Sha256::digest(s.as_bytes());
    i64::from(u16::from_be_bytes([h[0], h[1]])) % span.max(1)
}

fn cve(id: &str) -> Option<&'static Cve> {
    CVES.iter().find(|c| c.id == id)
}

/// Product name without its version, and its vendor, as Spotlight normalises them.
fn product(c: &Cve) -> (String, &'static str) {
    let name: Vec<&str> = c
        .product
        .split(' ')
        .take_while(|w| !w.starts_with(|ch: char| ch.is_ascii_digit()))
        .collect();
    let name = name.join(" ");
    let first = c.product.split(' ').next().unwrap_or_default();
    let vendor = match first {
        "Windows" | "Microsoft" => "Microsoft",
        "Google" => "Google",
        "macOS" | "Safari" => "Apple",
        "nginx" => "F5",
        "OpenSSH" => "OpenBSD",
        "JetBrains" => "JetBrains",
        "glibc" => "GNU",
        "xz-utils" => "Tukaani",
        "Linux" => "Linux",
        other => other,
    };
    (name, vendor)
}

/// The remediation Spotlight recommends for `c` (`domain.APIRemediationV2`).
fn remediation(c: &Cve, now: i64) -> Value {
    let id = hex_id(c.remediation);
    let (name, vendor) = product(c);
    let kb = c.remediation.starts_with("KB");
    let patched = now - (20 + days_from(c.id, 400)) * DAY;
    let (title, link) = if kb {
        (
            format!("Install {} for {name}", c.remediation),
            format!(
                "https://support.microsoft.com/help/{}",
                c.remediation.trim_start_matches("KB")
            ),
        )
    } else {
        (
            c.remediation.to_string(),
            format!("https://nvd.nist.gov/vuln/detail/{}", c.id),
        )
    };
    json!({
        "id": id, "title": title, "action": c.remediation,
        "reference": if kb { c.remediation.to_string() } else { format!("cpe:/a:{}:{}", vendor.to_lowercase(), name.to_lowercase().replace(' ', "_")) },
        "link": link, "vendor_url": link, "type": "vendor", "provider": "S",
        "recommendation_type": "recommended",
        "patch_publication_date": rfc3339_s(patched),
        "created_timestamp": rfc3339_s(patched + DAY), "updated_timestamp": rfc3339_s(patched + 2 * DAY),
    })
}

/// Names of the Intel actors known to exploit `cve_id` (the `cve.actors` block).
fn actors_of(cve_id: &str) -> Vec<&'static str> {
    super::intel::ACTORS
        .iter()
        .filter(|a| a.exploits.contains(&cve_id))
        .map(|a| a.name)
        .collect()
}

fn random_status(rng: &mut StdRng) -> &'static str {
    let r: f64 = rng.r#gen();
    if r < 0.7 {
        "open"
    } else if r < 0.9 {
        "closed"
    } else {
        "reopen"
    }
}

/// Which CVEs are found on host `h`, with their status.
fn findings(rng: &mut StdRng, h: &Value) -> Vec<(&'static Cve, &'static str)> {
    if h["hostname"] == KNOWN_HOSTNAME {
        return KNOWN_FINDINGS
            .iter()
            .filter_map(|(id, status)| Some((cve(id)?, *status)))
            .collect();
    }
    let platform = h["platform_name"].as_str().unwrap_or_default();
    let workstation = h["product_type_desc"] == "Workstation";
    let others: Vec<&Cve> = CVES
        .iter()
        .filter(|c| (c.platform == "*" || c.platform == platform) && c.id != SHARED_CVE)
        .collect();
    let n = rng.gen_range(0..5.min(others.len() + 1));
    let mut picked: Vec<&Cve> = others.choose_multiple(rng, n).copied().collect();
    if rng.gen_bool(if workstation { 0.6 } else { 0.2 })
        && let Some(c) = cve(SHARED_CVE)
    {
        picked.push(c);
    }
    picked.sort_by_key(|c| c.id);
    picked
        .into_iter()
        .map(|c| (c, random_status(rng)))
        .collect()
}

fn host_info(w: &World, h: &Value) -> Value {
    let groups: Vec<Value> = h["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| {
            let id = g.as_str()?;
            let name = w.host_groups.get(id)?["name"].clone();
            Some(json!({"id": id, "name": name}))
        })
        .collect();
    let server = h["product_type_desc"] != "Workstation";
    let platform = &h["platform_name"];
    let mut info = json!({
        "hostname": h["hostname"], "local_ip": h["local_ip"], "machine_domain": h["machine_domain"],
        "os_version": h["os_version"], "os_build": h["os_build"], "ou": "", "site_name": h["site_name"],
        "system_manufacturer": h["system_manufacturer"], "platform": platform, "platform_name": platform,
        "product_type_desc": h["product_type_desc"],
        "asset_criticality": if server { "High" } else { "Unassigned" },
        "internet_exposure": if server && platform == "Linux" { "Yes" } else { "No" },
        "managed_by": "Falcon sensor", "groups": groups, "tags": h["tags"],
        "host_last_seen_timestamp": h["last_seen"],
    });
    for k in ["instance_id", "service_provider_account_id"] {
        if let Some(v) = h.get(k) {
            info[k] = v.clone();
        }
    }
    if h.get("service_provider").is_some() {
        info["service_provider"] = json!("AWS");
    }
    info
}

fn finding(s: &mut Seed<'_>, h: &Value, c: &Cve, status: &str) -> Value {
    let w = s.w;
    let aid = h["device_id"].as_str().unwrap_or_default();
    let created = s.now - s.rng.gen_range(DAY..120 * DAY);
    let updated = (created + s.rng.gen_range(HOUR..30 * DAY)).min(s.now);
    let published = s.now - (150 + days_from(c.id, 700)) * DAY;
    let rem = remediation(c, s.now);
    let rem_id = rem["id"].clone();
    let (name, vendor) = product(c);
    let kev = c.exploit_status >= 90;
    let eval_id = hex_id(&format!("{aid}:{}:eval", c.id));
    json!({
        "id": format!("{aid}_{}", hex_id(c.id)), "cid": w.cid, "aid": aid,
        "vulnerability_id": c.id, "vulnerability_metadata_id": hex_id(&format!("{}:meta", c.id)),
        "status": status, "confidence": "confirmed",
        "created_timestamp": rfc3339_s(created), "updated_timestamp": rfc3339_s(updated),
        "closed_timestamp": if status == "closed" { rfc3339_s(updated) } else { String::new() },
        "apps": [{
            "product_name_version": c.product, "product_name_normalized": name, "vendor_normalized": vendor,
            "sub_status": status, "remediation": {"ids": [rem_id]},
            "remediation_info": {"recommended_id": rem_id, "minimum_id": rem_id, "patch_publication_date": rem["patch_publication_date"]},
            "evaluation_logic": {"id": eval_id},
        }],
        "cve": {
            "id": c.id, "name": c.id, "description": c.description, "base_score": c.base_score,
            "severity": c.severity, "exprt_rating": c.exprt, "exploit_status": c.exploit_status,
            "exploitability_score": 3.9, "impact_score": 5.9,
            "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H", "remediation_level": "O",
            "types": ["Vulnerability"], "cwes": ["CWE-787"], "actors": actors_of(c.id),
            // Filters name `cve.is_cisa_kev`; objects carry it under `cisa_info`. Both here.
            "is_cisa_kev": kev,
            "cisa_info": if kev { json!({"is_cisa_kev": true, "due_date": rfc3339_s(published + 21 * DAY)}) } else { json!({"is_cisa_kev": false}) },
            "published_date": rfc3339_s(published), "spotlight_published_date": rfc3339_s(published + HOUR),
            "references": [format!("https://nvd.nist.gov/vuln/detail/{}", c.id)],
            "vendor_advisory": [rem["link"].clone()],
        },
        "host_info": host_info(w, h),
        "remediation": {"ids": [rem_id], "entities": [rem]},
        "suppression_info": {"is_suppressed": false},
        "data_providers": [{"provider": "Falcon sensor"}],
    })
}

fn seed_vulnerabilities(s: &mut Seed<'_>) -> Vec<Value> {
    let w = s.w;
    let mut out = Vec::new();
    for h in &w.hosts.items {
        for (c, status) in findings(s.rng, h) {
            out.push(finding(s, h, c, status));
        }
    }
    out
}

fn seed_remediations(s: &mut Seed<'_>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for c in CVES {
        let r = remediation(c, s.now);
        if !out.iter().any(|x| x["id"] == r["id"]) {
            out.push(r);
        }
    }
    out
}

/// Evaluations Falcon's sensor supports: every catalogue CVE on its platforms, plus CVEs with
/// no finding in the tenant and a third-party provider's evaluation.
fn seed_supported(s: &mut Seed<'_>) -> Vec<Value> {
    let extra = [
        ("CVE-2021-34527", "Windows"),
        ("CVE-2023-23397", "Windows"),
        ("CVE-2023-34362", "Windows"),
    ];
    let mut rows: Vec<(&str, &str, &str)> = Vec::new();
    for c in CVES {
        let platforms: &[&str] = if c.platform == "*" {
            &["Windows", "Mac", "Linux"]
        } else {
            std::slice::from_ref(&c.platform)
        };
        rows.extend(platforms.iter().map(|p| (c.id, *p, "S")));
    }
    rows.extend(extra.iter().map(|(id, p)| (*id, *p, "S")));
    rows.push(("CVE-2023-44487", "Linux", "T"));
    let mut seen = std::collections::BTreeSet::new();
    rows.retain(|r| seen.insert(*r));
    rows.into_iter()
        .map(|(risk, platform, provider)| {
            let created = s.now - s.rng.gen_range(30 * DAY..400 * DAY);
            let (full, finding) = match provider {
                "S" => ("CrowdStrike", "CrowdStrike Falcon sensor"),
                _ => ("Tenable", "Tenable Vulnerability Management"),
            };
            json!({
                "id": hex_id(&format!("{risk}:{platform}:{provider}")), "cid": s.w.cid,
                "risk_id": risk, "risk_provider": provider, "risk_provider_full_name": full,
                "finding_provider": provider, "finding_provider_full_name": finding,
                "platform": platform,
                "created_timestamp": rfc3339_s(created),
                "updated_timestamp": rfc3339_s(created + s.rng.gen_range(DAY..20 * DAY)),
            })
        })
        .collect()
}

/// `combinedQueryVulnerabilities`: without `facet=cve` only `cve.id` is kept; `host_info`,
/// `remediation` and the apps' `evaluation_logic` appear only when asked for.
fn combined_vulnerabilities(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let facets = req.q_list("facet");
    if let Some(f) = facets.iter().find(|f| !FACETS.contains(&f.as_str())) {
        return Err(ApiError::bad_request(format!(
            "invalid facet '{f}'; must be one of {}",
            FACETS.join(", ")
        )));
    }
    let has = |f: &str| facets.iter().any(|x| x == f);
    let req = engine::alias_filter(req, ALIASES);
    let (items, pagination) = engine::page_where(&FAMILIES[0], &COMBINED, cx, &req, None)?;
    let items = items
        .into_iter()
        .map(|mut v| {
            if let Some(o) = v.as_object_mut() {
                if !has("cve") {
                    let id = o["cve"]["id"].clone();
                    o.insert("cve".into(), json!({"id": id}));
                }
                for f in ["host_info", "remediation"] {
                    if !has(f) {
                        o.remove(f);
                    }
                }
                if !has("evaluation_logic")
                    && let Some(apps) = o.get_mut("apps").and_then(Value::as_array_mut)
                {
                    for app in apps.iter_mut().filter_map(Value::as_object_mut) {
                        app.remove("evaluation_logic");
                    }
                }
            }
            v
        })
        .collect();
    Ok(Envelope::new(200, PB)
        .resources(items)
        .pagination(pagination)
        .into_resp())
}

/// `queryVulnerabilities`: the ids of what the combined query would return.
fn query_vulnerabilities(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let req = engine::alias_filter(req, ALIASES);
    let (items, pagination) = engine::page_where(&FAMILIES[0], &QUERY, cx, &req, None)?;
    let ids = items.iter().map(|v| v["id"].clone()).collect();
    Ok(Envelope::new(200, PB)
        .resources(ids)
        .pagination(pagination)
        .into_resp())
}

/// `combinedSupportedEvaluationExt`: `risk_provider` (repeated) narrows the filter.
fn combined_supported(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let providers = req.q_list("risk_provider");
    let also = (!providers.is_empty()).then(|| {
        let quoted: Vec<String> = providers
            .iter()
            .map(|p| format!("'{}'", p.replace(['\\', '\''], "")))
            .collect();
        format!("risk_provider:[{}]", quoted.join(","))
    });
    let (items, pagination) =
        engine::page_where(&FAMILIES[2], &SUPPORTED, cx, req, also.as_deref())?;
    Ok(Envelope::new(200, PB)
        .resources(items)
        .pagination(pagination)
        .into_resp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world() -> World {
        crate::tenant::generate(42, 1_700_000_000_000, 60, 50)
    }

    fn vulns(w: &World) -> &[Value] {
        &engine::collection(w, &FAMILIES[0]).items
    }

    #[test]
    fn the_known_host_has_open_exploitable_findings() {
        let w = world();
        let known: Vec<&Value> = vulns(&w)
            .iter()
            .filter(|v| v["host_info"]["hostname"] == KNOWN_HOSTNAME)
            .collect();
        assert_eq!(known.len(), KNOWN_FINDINGS.len());
        assert!(known.iter().any(|v| v["status"] == "open"
            && v["cve"]["exploit_status"].as_u64().unwrap() >= 60
            && !v["cve"]["actors"].as_array().unwrap().is_empty()));
        let aid = &known[0]["aid"];
        assert_eq!(
            w.hosts
                .items
                .iter()
                .find(|h| h["hostname"] == KNOWN_HOSTNAME)
                .unwrap()["device_id"],
            *aid
        );
    }

    #[test]
    fn one_cve_is_on_many_hosts_and_remediations_resolve() {
        let w = world();
        let shared: std::collections::BTreeSet<&str> = vulns(&w)
            .iter()
            .filter(|v| v["cve"]["id"] == SHARED_CVE)
            .map(|v| v["aid"].as_str().unwrap())
            .collect();
        assert!(shared.len() >= 10, "{}", shared.len());
        let rem = engine::collection(&w, &FAMILIES[1]);
        for v in vulns(&w) {
            let id = v["apps"][0]["remediation"]["ids"][0].as_str().unwrap();
            assert_eq!(rem.get(id).unwrap(), &v["remediation"]["entities"][0]);
        }
    }

    #[test]
    fn combined_needs_a_filter_pages_with_after_and_shapes_by_facet() {
        use crate::families::testkit::{call, req, world};
        let mut w = world();
        let (s, e) = call(
            &mut w,
            "combinedQueryVulnerabilities",
            req("GET", &[], Value::Null),
        );
        assert_eq!(
            (s, e["message"].as_str()),
            (400, Some("filter is required"))
        );
        let q = [("filter", "status:['open','reopen']"), ("limit", "5")];
        let (s, v) = call(
            &mut w,
            "combinedQueryVulnerabilities",
            req("GET", &q, Value::Null),
        );
        assert_eq!(s, 200, "{v}");
        let first = &v["resources"][0];
        assert_eq!(
            first["cve"].as_object().unwrap().len(),
            1,
            "only cve.id: {first}"
        );
        assert!(first.get("host_info").is_none() && first.get("remediation").is_none());
        assert!(first["apps"][0].get("evaluation_logic").is_none());
        let after = v["meta"]["pagination"]["after"]
            .as_str()
            .unwrap()
            .to_string();
        let q = [
            ("filter", "status:['open','reopen']"),
            ("limit", "5"),
            ("after", after.as_str()),
            ("facet", "cve"),
            ("facet", "host_info"),
        ];
        let (_, v2) = call(
            &mut w,
            "combinedQueryVulnerabilities",
            req("GET", &q, Value::Null),
        );
        let second = &v2["resources"][0];
        assert_ne!(second["id"], first["id"]);
        assert!(
            second["cve"]["severity"].is_string() && second["host_info"]["hostname"].is_string()
        );
        let (s, e) = call(
            &mut w,
            "combinedQueryVulnerabilities",
            req(
                "GET",
                &[("filter", "status:'open'"), ("facet", "nope")],
                Value::Null,
            ),
        );
        assert!(
            s == 400 && e["message"].as_str().unwrap().contains("host_info"),
            "{e}"
        );
        // Ids and entities agree; entities carry every block.
        let (_, ids) = call(
            &mut w,
            "queryVulnerabilities",
            req(
                "GET",
                &[("filter", "cve.id:['CVE-2023-4863']"), ("limit", "3")],
                Value::Null,
            ),
        );
        let id = ids["resources"][0].as_str().unwrap().to_string();
        let (s, e) = call(
            &mut w,
            "getVulnerabilities",
            req("GET", &[("ids", id.as_str())], Value::Null),
        );
        assert_eq!(s, 200);
        assert_eq!(e["resources"][0]["cve"]["id"], SHARED_CVE);
        assert!(e["resources"][0]["remediation"]["entities"][0]["action"].is_string());
    }

    #[test]
    fn host_groups_filter_by_id() {
        use crate::families::testkit::{call, req, world};
        let mut w = world();
        let v = vulns(&w)
            .iter()
            .find(|v| !v["host_info"]["groups"].as_array().unwrap().is_empty())
            .expect("a finding on a grouped host")
            .clone();
        let gid = v["host_info"]["groups"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let f = format!("host_info.groups:['{gid}']");
        for op in ["queryVulnerabilities", "combinedQueryVulnerabilities"] {
            let (s, r) = call(
                &mut w,
                op,
                req(
                    "GET",
                    &[("filter", f.as_str()), ("limit", "400")],
                    Value::Null,
                ),
            );
            assert_eq!(s, 200, "{r}");
            let n = r["resources"].as_array().unwrap().len();
            assert!(n >= 1, "{op}: {r}");
        }
    }

    #[test]
    fn supported_evaluations_filter_by_risk_provider() {
        use crate::families::testkit::{call, req, world};
        let mut w = world();
        let items = &engine::collection(&w, &FAMILIES[2]).items;
        let ids: std::collections::BTreeSet<&str> =
            items.iter().filter_map(|e| e["id"].as_str()).collect();
        assert_eq!(ids.len(), items.len(), "ids are unique");
        let q = [("filter", "risk_id:'CVE-2023-44487'")];
        let (_, all) = call(
            &mut w,
            "combinedSupportedEvaluationExt",
            req("GET", &q, Value::Null),
        );
        let q = [
            ("filter", "risk_id:'CVE-2023-44487'"),
            ("risk_provider", "T"),
        ];
        let (_, t) = call(
            &mut w,
            "combinedSupportedEvaluationExt",
            req("GET", &q, Value::Null),
        );
        let n = |v: &Value| v["resources"].as_array().unwrap().len();
        assert!(n(&all) > n(&t) && n(&t) == 1, "{all} {t}");
        assert_eq!(
            t["resources"][0]["finding_provider_full_name"],
            "Tenable Vulnerability Management"
        );
        let (s, _) = call(
            &mut w,
            "combinedSupportedEvaluationExt",
            req("GET", &[], Value::Null),
        );
        assert_eq!(s, 400);
        let (s, r) = call(
            &mut w,
            "getRemediationsV2",
            req("GET", &[("ids", hex_id("KB5034763").as_str())], Value::Null),
        );
        assert_eq!(
            (s, &r["resources"][0]["action"]),
            (200, &json!("KB5034763"))
        );
    }

    #[test]
    fn deterministic_per_seed() {
        assert_eq!(vulns(&world()), vulns(&world()));
        let other = crate::tenant::generate(7, 1_700_000_000_000, 60, 50);
        assert_ne!(vulns(&world()), vulns(&other));
    }
}
