//! NG-SIEM content (reference part 2 §10): saved queries, dashboards and parsers as LogScale YAML
//! templates, lookup files (raw bytes), data connections with their provisioning status, and
//! the connectors they are made from, declared on the engine.
//!
//! The content endpoints refuse a call without their selector parameter — `search_domain`, or
//! `repository=parsers-repository` for parsers — with 400, as the live service does (§10.1);
//! their `limit`/`offset` are strings of up to four digits. The selector is checked, not used to
//! partition the content (every domain sees all of it). Lists answer with records (`id`, `name`,
//! …, no YAML), except lookup files, which answer with file names. The content links to the
//! tenant: lookup files hold the bad domain, IP and hash, the finance workstation and its user;
//! saved queries and dashboards query them; connections use the parsers listed.

use rand::Rng;
use serde_json::{Value, json};

use crate::engine::{self, Endpoint, Family, Ids, Kind, Paging, Seed, Store};
use crate::envelope::{ApiError, ApiResult, Body, Req, Resp};
use crate::tenant::{KNOWN_BAD_DOMAIN, KNOWN_BAD_IP, KNOWN_BAD_SHA256, KNOWN_HOSTNAME, KNOWN_USER};
use crate::timeutil::rfc3339_s;
use crate::world::{Ctx, hex32};

const POWERED_BY: &str = "ngsiem-content";
const READ: &str = "ngsiem:read";
const MIN: i64 = 60_000;
const DAY: i64 = 86_400_000;

/// `search_domain` values of saved queries and dashboards.
const QUERY_DOMAINS: &[&str] = &["all", "falcon", "third-party", "dashboards", "query-audit"];
/// `search_domain` values of lookup files.
const LOOKUP_DOMAINS: &[&str] = &[
    "all",
    "falcon",
    "third-party",
    "dashboards",
    "parsers-repository",
    "query-audit",
];
/// `repository` values of parsers.
const PARSER_REPOSITORIES: &[&str] = &["parsers-repository"];

/// The selector parameter `key` must be present and one of `allowed`.
fn selector(req: &Req, key: &str, allowed: &[&str]) -> Result<(), ApiError> {
    match req.q(key) {
        None | Some("") => Err(ApiError::bad_request(format!(
            "{key} is required: one of {}",
            allowed.join(", ")
        ))),
        Some(v) if allowed.contains(&v) => Ok(()),
        Some(v) => Err(ApiError::bad_request(format!(
            "invalid {key} '{v}': must be one of {}",
            allowed.join(", ")
        ))),
    }
}

/// `limit` and `offset` are strings of one to four digits.
fn digits(req: &Req) -> Result<(), ApiError> {
    for key in ["limit", "offset"] {
        if let Some(v) = req.q(key)
            && (!(1..=4).contains(&v.len()) || !v.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(ApiError::bad_request(format!(
                "invalid {key} '{v}': must match ^\\d{{1,4}}$"
            )));
        }
    }
    Ok(())
}

/// Drop `fields` from every resource of an engine answer (lists carry no YAML).
fn without(mut resp: Resp, fields: &[&str]) -> Resp {
    if let Body::Json(v) = &mut resp.body
        && let Some(items) = v["resources"].as_array_mut()
    {
        for it in items.iter_mut().filter_map(Value::as_object_mut) {
            for f in fields {
                it.remove(*f);
            }
        }
    }
    resp
}

/// Keep only `fields` of every resource of an engine answer, renaming `(from, to)`.
fn reshape(mut resp: Resp, fields: &[(&str, &str)]) -> Resp {
    if let Body::Json(v) = &mut resp.body
        && let Some(items) = v["resources"].as_array_mut()
    {
        for it in items.iter_mut() {
            let mut out = serde_json::Map::new();
            for (from, to) in fields {
                if let Some(x) = it.get(*from) {
                    out.insert(to.to_string(), x.clone());
                }
            }
            *it = Value::Object(out);
        }
    }
    resp
}

/// The engine endpoints the hand-written ones delegate to once the selector is checked.
const LIST: Kind = Kind::Combined(Paging::offset(50, 9999));
const IDS: Kind = Kind::Query(Paging::offset(50, 9999));
const BY_ID: Kind = Kind::Entities {
    ids: Ids::Query("ids"),
    max: 100,
};

const fn inner(op: &'static str, path: &'static str, kind: Kind) -> Endpoint {
    Endpoint {
        op,
        method: "GET",
        path,
        scope: READ,
        kind,
    }
}

static SAVED_LIST: Endpoint = inner("ListSavedQueries", "", LIST);
static SAVED_GET: Endpoint = inner("GetSavedQueryTemplate", "", BY_ID);
static DASH_LIST: Endpoint = inner("ListDashboards", "", LIST);
static DASH_GET: Endpoint = inner("GetDashboardTemplate", "", BY_ID);
static LOOKUP_LIST: Endpoint = inner("ListLookupFiles", "", IDS);
static PARSER_LIST: Endpoint = inner("ListParsers", "", LIST);
static PARSER_GET: Endpoint = inner("GetParserTemplate", "", BY_ID);
static CONNECTION_GET: Endpoint = inner("ExternalGetDataConnectionByID", "", BY_ID);

fn family(name: &str) -> &'static Family {
    FAMILIES
        .iter()
        .find(|f| f.name == name)
        .expect("declared below")
}

fn list_saved(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    selector(req, "search_domain", QUERY_DOMAINS)?;
    digits(req)?;
    let resp = engine::serve(family("ngsiem_saved_queries"), &SAVED_LIST, cx, req)?;
    Ok(without(resp, &["yaml_template"]))
}

fn get_saved(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    selector(req, "search_domain", QUERY_DOMAINS)?;
    let resp = engine::serve(family("ngsiem_saved_queries"), &SAVED_GET, cx, req)?;
    Ok(reshape(
        resp,
        &[
            ("id", "id"),
            ("name", "name"),
            ("yaml_template", "yaml_template"),
        ],
    ))
}

fn list_dashboards(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    selector(req, "search_domain", QUERY_DOMAINS)?;
    digits(req)?;
    let resp = engine::serve(family("ngsiem_dashboards"), &DASH_LIST, cx, req)?;
    Ok(without(resp, &["yaml_template"]))
}

fn get_dashboards(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    selector(req, "search_domain", QUERY_DOMAINS)?;
    let resp = engine::serve(family("ngsiem_dashboards"), &DASH_GET, cx, req)?;
    Ok(reshape(
        resp,
        &[
            ("id", "id"),
            ("name", "name"),
            ("labels", "labels"),
            ("yaml_template", "yaml_template"),
        ],
    ))
}

fn list_lookups(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    selector(req, "search_domain", LOOKUP_DOMAINS)?;
    digits(req)?;
    let aliased = engine::alias_filter(req, &[("name", "filename")]);
    engine::serve(family("ngsiem_lookup_files"), &LOOKUP_LIST, cx, &aliased)
}

/// `GetLookupFile`: the file's bytes, `application/octet-stream`.
fn get_lookup(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    selector(req, "search_domain", LOOKUP_DOMAINS)?;
    let name = req
        .q("filename")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request("filename is required"))?;
    let file = engine::collection(cx.w, family("ngsiem_lookup_files"))
        .get(name)
        .ok_or_else(|| ApiError::not_found(format!("lookup file {name} not found")))?;
    let bytes = file["content"].as_str().unwrap_or("").as_bytes().to_vec();
    Ok(Resp {
        status: 200,
        body: Body::Bytes(bytes, "application/octet-stream"),
        headers: Vec::new(),
    })
}

fn list_parsers(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    selector(req, "repository", PARSER_REPOSITORIES)?;
    digits(req)?;
    let update = match req.q("update_available") {
        None | Some("") => None,
        Some(v @ ("true" | "false")) => Some(v == "true"),
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "invalid update_available '{v}': must be true or false"
            )));
        }
    };
    let kind = match req.q("parser_type") {
        None | Some("") => None,
        Some(v @ ("ootb" | "custom" | "extension")) => Some(v),
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "invalid parser_type '{v}': must be ootb, custom or extension"
            )));
        }
    };
    // The typed parameters become FQL on the object's fields; `name` filters `Name`.
    let mut aliased = engine::alias_filter(req, &[("name", "Name")]);
    let mut clauses: Vec<String> = aliased
        .query
        .iter()
        .filter(|(k, v)| k == "filter" && !v.trim().is_empty())
        .map(|(_, v)| format!("({v})"))
        .collect();
    clauses.extend(update.map(|u| format!("update_available:{u}")));
    clauses.extend(kind.map(|k| format!("parser_type:'{k}'")));
    aliased.query.retain(|(k, _)| k != "filter");
    if !clauses.is_empty() {
        aliased.query.push(("filter".into(), clauses.join("+")));
    }
    let resp = engine::serve(family("ngsiem_parsers"), &PARSER_LIST, cx, &aliased)?;
    Ok(without(resp, &["yaml_template"]))
}

fn get_parsers(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    selector(req, "repository", PARSER_REPOSITORIES)?;
    let resp = engine::serve(family("ngsiem_parsers"), &PARSER_GET, cx, req)?;
    Ok(reshape(
        resp,
        &[
            ("ID", "id"),
            ("Name", "name"),
            ("yaml_template", "yaml_template"),
        ],
    ))
}

/// `ExternalGetDataConnectionStatus`: the provisioning state of each connection.
fn connection_status(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let resp = engine::serve(family("ngsiem_data_connections"), &CONNECTION_GET, cx, req)?;
    Ok(reshape(
        resp,
        &[
            ("id", "id"),
            ("status", "status"),
            ("last_ingested", "last_ingested_ts"),
            (
                "last_ingested_volume_one_day",
                "last_ingested_volume_one_day",
            ),
        ],
    ))
}

/// `ExternalListConnectorConfigs`: the configurations of one connector (`ids` = connector id).
fn connector_configs(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let ids = crate::world::query_ids(req, "ids", 1)?;
    if !engine::collection(cx.w, family("ngsiem_connectors")).contains(&ids[0]) {
        return Err(ApiError::not_found(format!(
            "connector {} not found",
            ids[0]
        )));
    }
    let configs = family("ngsiem_connector_configs");
    let mine: Vec<Value> = engine::collection(cx.w, configs)
        .items
        .iter()
        .filter(|c| c["connector_id"] == ids[0].as_str())
        .map(|c| json!({"id": c["id"], "name": c["name"], "params": c["params"]}))
        .collect();
    Ok(engine::resources(configs, 200, mine))
}

/// A connector: id, name, type, vendor, product, parser, log sources.
struct Connector {
    id: &'static str,
    name: &'static str,
    kind: &'static str,
    vendor: &'static str,
    product: &'static str,
    parser: &'static str,
    sources: &'static [&'static str],
}

const CONNECTORS: &[Connector] = &[
    Connector {
        id: "okta-sso-pull",
        name: "Okta SSO",
        kind: "pull",
        vendor: "Okta",
        product: "Okta SSO",
        parser: "okta-sso",
        sources: &["System Log"],
    },
    Connector {
        id: "aws-cloudtrail-s3",
        name: "AWS CloudTrail (S3)",
        kind: "pull",
        vendor: "Amazon Web Services",
        product: "AWS CloudTrail",
        parser: "aws-cloudtrail",
        sources: &["CloudTrail management events", "CloudTrail data events"],
    },
    Connector {
        id: "microsoft-entra-id",
        name: "Microsoft Entra ID",
        kind: "pull",
        vendor: "Microsoft",
        product: "Entra ID",
        parser: "microsoft-entra-id",
        sources: &["SignInLogs", "AuditLogs"],
    },
    Connector {
        id: "zscaler-nss-push",
        name: "Zscaler Internet Access",
        kind: "push",
        vendor: "Zscaler",
        product: "Zscaler Internet Access",
        parser: "zscaler-internet-access",
        sources: &["Web logs", "Firewall logs"],
    },
    Connector {
        id: "github-audit-pull",
        name: "GitHub audit log",
        kind: "pull",
        vendor: "GitHub",
        product: "GitHub Enterprise",
        parser: "github-audit",
        sources: &["Audit log"],
    },
    Connector {
        id: "generic-hec-push",
        name: "HTTP Event Collector",
        kind: "push",
        vendor: "Generic",
        product: "HEC",
        parser: "acme-firewall",
        sources: &["Any JSON or raw events"],
    },
];

/// Parsers: (name, vendor, product, type, version, latest).
const PARSERS: &[(&str, &str, &str, &str, &str, &str)] = &[
    ("okta-sso", "Okta", "Okta SSO", "ootb", "2.0.1", "2.1.0"),
    (
        "aws-cloudtrail",
        "Amazon Web Services",
        "AWS CloudTrail",
        "ootb",
        "3.2.0",
        "3.2.0",
    ),
    (
        "microsoft-entra-id",
        "Microsoft",
        "Entra ID",
        "ootb",
        "1.4.2",
        "1.5.0",
    ),
    (
        "zscaler-internet-access",
        "Zscaler",
        "Zscaler Internet Access",
        "ootb",
        "1.1.0",
        "1.1.0",
    ),
    (
        "github-audit",
        "GitHub",
        "GitHub Enterprise",
        "ootb",
        "1.0.3",
        "1.0.3",
    ),
    (
        "acme-firewall",
        "Acme",
        "Acme NGFW",
        "custom",
        "0.3.0",
        "0.3.0",
    ),
    (
        "okta-sso-enrichment",
        "Okta",
        "Okta SSO",
        "extension",
        "0.1.0",
        "0.1.0",
    ),
];

fn seed_parsers(s: &mut Seed<'_>) -> Vec<Value> {
    PARSERS
        .iter()
        .map(|(name, vendor, product, kind, version, latest)| {
            let id = format!("{}:{version}", &hex32(&mut *s.rng)[..16]);
            let yaml = format!(
                "name: {name}\n$schema: https://schemas.humio.com/parser/v0.3.0\nscript: |\n  parseJson()\n  | Vendor := \"{}\"\n  | #event.module := \"{name}\"\ntagFields:\n  - Vendor\n  - event.module\n",
                vendor.to_lowercase()
            );
            json!({
                "ID": id, "Name": name, "vendor": vendor, "product": [product],
                "version": version, "current_version": version, "latest_version": latest,
                "update_available": version != latest, "parser_type": kind,
                "built_by": if *kind == "ootb" { "CrowdStrike" } else { "Customer" },
                "changelog": if version == latest { "" } else { "Adds new fields and fixes timestamp parsing" },
                "impacted_connections": *name == "okta-sso",
                "pass_through_alerts": false,
                "yaml_template": yaml,
            })
        })
        .collect()
}

fn seed_connectors(_: &mut Seed<'_>) -> Vec<Value> {
    CONNECTORS
        .iter()
        .map(|c| {
            json!({
                "id": c.id, "name": c.name, "type": c.kind, "vendor_name": c.vendor,
                "vendor_product_name": c.product,
                "description": format!("Collects {} logs into NG-SIEM.", c.product),
                "parsers": [c.parser], "log_sources": c.sources, "subscription": "Falcon Next-Gen SIEM",
            })
        })
        .collect()
}

/// One or two configurations per connector (kept apart: the connector record has none).
fn seed_connector_configs(s: &mut Seed<'_>) -> Vec<Value> {
    let mut out = Vec::new();
    for c in CONNECTORS {
        for i in 0..s.rng.gen_range(1..3usize) {
            let region = ["us-east-1", "eu-west-1"][i % 2];
            out.push(json!({
                "id": hex32(&mut *s.rng), "connector_id": c.id,
                "name": format!("{} config {}", c.name, i + 1),
                "params": {"region": region, "poll_interval_s": 300},
            }));
        }
    }
    out
}

/// Data connections: (name, connector index, status, hours since last ingest, volume).
const CONNECTIONS: &[(&str, usize, &str, Option<i64>, &str)] = &[
    ("Okta prod", 0, "active", Some(0), "1.2 GB"),
    ("AWS org CloudTrail", 1, "active", Some(0), "8.4 GB"),
    ("Entra ID tenant", 2, "active", Some(1), "640 MB"),
    ("Zscaler proxy", 3, "error", Some(30), "0 B"),
    ("GitHub enterprise audit", 4, "provisioning", None, ""),
    ("Branch firewalls", 5, "paused", Some(200), "0 B"),
];

fn seed_connections(s: &mut Seed<'_>) -> Vec<Value> {
    CONNECTIONS
        .iter()
        .map(|(name, ci, status, hours, volume)| {
            let c = &CONNECTORS[*ci];
            let id = hex32(&mut *s.rng);
            let last = hours.map(|h| rfc3339_s(s.now - h * 3_600_000 - s.rng.gen_range(1..50) * MIN));
            let ingest = if c.kind == "push" {
                format!("https://ingest.ngsiem.example/services/collector/{id}")
            } else {
                String::new()
            };
            let sub_status = if *status == "active" { "healthy" } else { *status };
            json!({
                "id": id, "name": name, "status": status, "source_type": c.kind,
                "vendor_name": c.vendor, "vendor_product_name": c.product, "parser_name": c.parser,
                "ingest_url": ingest, "last_ingested": last.clone().unwrap_or_default(),
                "last_ingested_volume_one_day": volume,
                "sub_connections": c.sources.iter().map(|src| json!({
                    "id": hex32(&mut *s.rng), "fqn": format!("{name}/{src}"), "status": sub_status,
                    "display_status": sub_status, "ingest_source_name": src,
                    "last_ingested_time": last.clone().unwrap_or_default(),
                    "last_ingested_volume_one_day": volume,
                    "errors_count": if *status == "error" { 42 } else { 0 },
                    "events_search_query": format!("#Vendor=\"{}\" #repo=\"3pi_{}\"", c.vendor.to_lowercase(), c.parser),
                })).collect::<Vec<_>>(),
            })
        })
        .collect()
}

fn seed_lookups(s: &mut Seed<'_>) -> Vec<Value> {
    let hosts: Vec<(String, String)> =
        s.w.hosts
            .items
            .iter()
            .take(8)
            .map(|h| {
                (
                    h["hostname"].as_str().unwrap_or("").to_string(),
                    h["platform_name"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
    let mut assets = String::from("hostname,platform,criticality,owner\n");
    for (name, platform) in &hosts {
        let (crit, owner) = if name == KNOWN_HOSTNAME {
            ("high", KNOWN_USER)
        } else {
            ("medium", "it-ops")
        };
        assets.push_str(&format!("{name},{platform},{crit},{owner}\n"));
    }
    let files = [
        (
            "known_bad_domains.csv",
            format!(
                "domain,threat,first_seen\n{KNOWN_BAD_DOMAIN},InvoiceDropper C2,{}\nlogin-verify.example,phishing,{}\n",
                rfc3339_s(s.now - 20 * DAY),
                rfc3339_s(s.now - 60 * DAY)
            ),
        ),
        (
            "c2_addresses.csv",
            format!(
                "ip,threat,confidence\n{KNOWN_BAD_IP},InvoiceDropper C2,high\n198.51.100.23,scanner,low\n"
            ),
        ),
        (
            "blocked_hashes.json",
            format!(
                "[{{\"sha256\": \"{KNOWN_BAD_SHA256}\", \"name\": \"invoice.exe\", \"action\": \"block\"}}]\n"
            ),
        ),
        (
            "vip_users.csv",
            format!(
                "user_name,title,department\n{KNOWN_USER},Finance Manager,Finance\ncfo,Chief Financial Officer,Finance\n"
            ),
        ),
        ("critical_assets.csv", assets),
    ];
    files
        .into_iter()
        .map(|(name, content)| {
            json!({"filename": name, "content": content,
                   "last_modified": rfc3339_s(s.now - s.rng.gen_range(1..30) * DAY)})
        })
        .collect()
}

/// Saved queries: (name, description, CQL, start).
const SAVED: &[(&str, &str, &str, &str)] = &[
    (
        "Encoded PowerShell last 24h",
        "PowerShell -enc executions by host.",
        "#event_simpleName=ProcessRollup2 CommandLine=/-enc/i\n| groupBy([ComputerName])",
        "24h",
    ),
    (
        "Bad CDN lookups",
        "Hosts resolving the domain in known_bad_domains.csv.",
        "#event_simpleName=DnsRequest\n| match(file=\"known_bad_domains.csv\", field=DomainName, column=domain)\n| groupBy([ComputerName, DomainName])",
        "7d",
    ),
    (
        "C2 connections",
        "Connections to addresses in c2_addresses.csv.",
        "#event_simpleName=NetworkConnectIP4\n| match(file=\"c2_addresses.csv\", field=RemoteAddressIP4, column=ip)",
        "7d",
    ),
    (
        "Finance workstation activity",
        "Processes on the finance workstation.",
        "#event_simpleName=ProcessRollup2 ComputerName=\"{host}\"\n| table([@timestamp, UserName, FileName, CommandLine])",
        "24h",
    ),
    (
        "Logons of VIP users",
        "Logons of the users in vip_users.csv.",
        "#event_simpleName=UserLogon\n| match(file=\"vip_users.csv\", field=UserName, column=user_name)",
        "7d",
    ),
    (
        "Dropper hash sightings",
        "Where the invoice dropper ran.",
        "#event_simpleName=ProcessRollup2 SHA256HashData=\"{sha256}\"\n| groupBy([ComputerName, UserName])",
        "30d",
    ),
];

fn fill(q: &str) -> String {
    q.replace("{host}", KNOWN_HOSTNAME)
        .replace("{sha256}", KNOWN_BAD_SHA256)
}

/// `queryString: |` followed by the query indented, as LogScale templates write it.
fn block(q: &str, indent: &str) -> String {
    q.lines()
        .map(|l| format!("{indent}{l}\n"))
        .collect::<String>()
}

fn seed_saved(s: &mut Seed<'_>) -> Vec<Value> {
    SAVED
        .iter()
        .map(|(name, description, cql, start)| {
            let q = fill(cql);
            json!({
                "id": hex32(&mut *s.rng), "name": name, "description": description,
                "last_modified": rfc3339_s(s.now - s.rng.gen_range(1..90) * DAY),
                "yaml_template": format!(
                    "$schema: https://schemas.humio.com/query/v0.5.0\nname: {name}\ndescription: {description}\nqueryString: |\n{}start: {start}\n",
                    block(&q, "  ")
                ),
            })
        })
        .collect()
}

fn seed_dashboards(s: &mut Seed<'_>) -> Vec<Value> {
    let saved = s.family("ngsiem_saved_queries").to_vec();
    [
        (
            "Threat hunting overview",
            &["hunting", "soc"][..],
            &[1usize, 2, 5][..],
        ),
        ("Finance workstation", &["finance"][..], &[3, 4][..]),
        ("PowerShell activity", &["soc"][..], &[0][..]),
    ]
    .into_iter()
    .map(|(name, labels, widgets)| {
        let mut yaml = format!(
            "$schema: https://schemas.humio.com/dashboard/v0.17.0\nname: {name}\nlabels:\n{}widgets:\n",
            labels.iter().map(|l| format!("  - {l}\n")).collect::<String>()
        );
        for &w in widgets {
            let q = &saved[w];
            let cql = q["yaml_template"]
                .as_str()
                .and_then(|y| y.split("queryString: |\n").nth(1))
                .and_then(|y| y.split("start:").next())
                .unwrap_or("");
            yaml.push_str(&format!(
                "  {}:\n    title: {}\n    type: query\n    queryString: |\n{}",
                q["id"].as_str().unwrap_or(""),
                q["name"].as_str().unwrap_or(""),
                block(&cql.lines().map(str::trim).collect::<Vec<_>>().join("\n"), "      ")
            ));
        }
        json!({"id": hex32(&mut *s.rng), "name": name, "labels": labels,
               "last_modified": rfc3339_s(s.now - s.rng.gen_range(1..60) * DAY), "yaml_template": yaml})
    })
    .collect()
}

const fn get(op: &'static str, path: &'static str, h: crate::routes::Handler) -> Endpoint {
    Endpoint {
        op,
        method: "GET",
        path,
        scope: READ,
        kind: Kind::Custom(h),
    }
}

const fn family_of(
    name: &'static str,
    id_field: &'static str,
    noun: &'static str,
    default_sort: &'static str,
    seed: fn(&mut Seed<'_>) -> Vec<Value>,
    endpoints: &'static [Endpoint],
) -> Family {
    Family {
        name,
        id_field,
        noun,
        powered_by: POWERED_BY,
        default_sort,
        extra_fields: &[],
        text_fields: &[],
        store: Store::Seeded(seed),
        endpoints,
    }
}

/// Saved queries before dashboards (dashboards show saved queries), parsers and connectors
/// before connections.
pub(crate) static FAMILIES: &[Family] = &[
    family_of(
        "ngsiem_saved_queries",
        "id",
        "Saved query",
        "name.asc",
        seed_saved,
        &[
            get(
                "ListSavedQueries",
                "/ngsiem-content/queries/savedqueries/v1",
                list_saved,
            ),
            get(
                "GetSavedQueryTemplate",
                "/ngsiem-content/entities/savedqueries-template/v1",
                get_saved,
            ),
        ],
    ),
    family_of(
        "ngsiem_dashboards",
        "id",
        "Dashboard",
        "name.asc",
        seed_dashboards,
        &[
            get(
                "ListDashboards",
                "/ngsiem-content/queries/dashboards/v1",
                list_dashboards,
            ),
            get(
                "GetDashboardTemplate",
                "/ngsiem-content/entities/dashboards-template/v1",
                get_dashboards,
            ),
        ],
    ),
    family_of(
        "ngsiem_lookup_files",
        "filename",
        "Lookup file",
        "filename.asc",
        seed_lookups,
        &[
            get(
                "ListLookupFiles",
                "/ngsiem-content/queries/lookupfiles/v1",
                list_lookups,
            ),
            get(
                "GetLookupFile",
                "/ngsiem-content/entities/lookupfiles/v1",
                get_lookup,
            ),
        ],
    ),
    family_of(
        "ngsiem_parsers",
        "ID",
        "Parser",
        "Name.asc",
        seed_parsers,
        &[
            get(
                "ListParsers",
                "/ngsiem-content/queries/parsers/v1",
                list_parsers,
            ),
            get(
                "GetParserTemplate",
                "/ngsiem-content/entities/parsers-template/v1",
                get_parsers,
            ),
        ],
    ),
    family_of(
        "ngsiem_connectors",
        "id",
        "Connector",
        "name.asc",
        seed_connectors,
        &[Endpoint {
            op: "ExternalListDataConnectors",
            method: "GET",
            path: "/ngsiem/combined/connectors/v1",
            scope: READ,
            kind: LIST,
        }],
    ),
    family_of(
        "ngsiem_connector_configs",
        "id",
        "Connector configuration",
        "",
        seed_connector_configs,
        &[get(
            "ExternalListConnectorConfigs",
            "/ngsiem/entities/connectors/configs/v1",
            connector_configs,
        )],
    ),
    family_of(
        "ngsiem_data_connections",
        "id",
        "Data connection",
        "name.asc",
        seed_connections,
        &[
            Endpoint {
                op: "ExternalListDataConnections",
                method: "GET",
                path: "/ngsiem/combined/connections/v1",
                scope: READ,
                kind: LIST,
            },
            Endpoint {
                op: "ExternalGetDataConnectionByID",
                method: "GET",
                path: "/ngsiem/entities/connections/v1",
                scope: READ,
                kind: BY_ID,
            },
            get(
                "ExternalGetDataConnectionStatus",
                "/ngsiem/entities/connections/status/v1",
                connection_status,
            ),
        ],
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::testkit::{call, req, world};

    #[test]
    fn content_needs_its_selector_and_string_pages() {
        let mut w = world();
        for (op, key) in [
            ("ListSavedQueries", "search_domain"),
            ("GetSavedQueryTemplate", "search_domain"),
            ("ListDashboards", "search_domain"),
            ("ListLookupFiles", "search_domain"),
            ("GetLookupFile", "search_domain"),
            ("ListParsers", "repository"),
            ("GetParserTemplate", "repository"),
        ] {
            let (status, body) = call(&mut w, op, req("GET", &[], Value::Null));
            assert_eq!(status, 400, "{op}: {body}");
            assert!(
                body["message"].as_str().unwrap().contains(key),
                "{op}: {body}"
            );
        }
        let (status, _) = call(
            &mut w,
            "ListSavedQueries",
            req("GET", &[("search_domain", "nope")], Value::Null),
        );
        assert_eq!(status, 400);
        let (status, _) = call(
            &mut w,
            "ListSavedQueries",
            req(
                "GET",
                &[("search_domain", "all"), ("limit", "12345")],
                Value::Null,
            ),
        );
        assert_eq!(status, 400);
    }

    #[test]
    fn saved_queries_list_records_and_get_yaml() {
        let mut w = world();
        let (status, body) = call(
            &mut w,
            "ListSavedQueries",
            req(
                "GET",
                &[("search_domain", "falcon"), ("filter", "name:~'dropper'")],
                Value::Null,
            ),
        );
        assert_eq!(status, 200, "{body}");
        let list = body["resources"].as_array().unwrap();
        assert_eq!(list.len(), 1, "{body}");
        assert!(list[0].get("yaml_template").is_none());
        let id = list[0]["id"].as_str().unwrap();
        let (_, body) = call(
            &mut w,
            "GetSavedQueryTemplate",
            req("GET", &[("ids", id), ("search_domain", "all")], Value::Null),
        );
        let yaml = body["resources"][0]["yaml_template"].as_str().unwrap();
        assert!(
            yaml.contains(KNOWN_BAD_SHA256) && yaml.contains("queryString: |"),
            "{yaml}"
        );
        let (_, body) = call(
            &mut w,
            "ListDashboards",
            req("GET", &[("search_domain", "all")], Value::Null),
        );
        let id = body["resources"][0]["id"].as_str().unwrap().to_string();
        let (_, body) = call(
            &mut w,
            "GetDashboardTemplate",
            req(
                "GET",
                &[("ids", &id), ("search_domain", "all")],
                Value::Null,
            ),
        );
        assert!(
            body["resources"][0]["yaml_template"]
                .as_str()
                .unwrap()
                .contains("widgets:")
        );
    }

    #[test]
    fn lookup_files_are_names_then_bytes() {
        let mut w = world();
        let (_, body) = call(
            &mut w,
            "ListLookupFiles",
            req(
                "GET",
                &[("search_domain", "all"), ("filter", "name:~'domains'")],
                Value::Null,
            ),
        );
        assert_eq!(body["resources"], json!(["known_bad_domains.csv"]));
        let (status, body) = call(
            &mut w,
            "GetLookupFile",
            req(
                "GET",
                &[
                    ("filename", "known_bad_domains.csv"),
                    ("search_domain", "all"),
                ],
                Value::Null,
            ),
        );
        assert_eq!(status, 200);
        assert_eq!(body["content_type"], "application/octet-stream");
        assert!(body["bytes"].as_str().unwrap().contains(KNOWN_BAD_DOMAIN));
        let (status, _) = call(
            &mut w,
            "GetLookupFile",
            req(
                "GET",
                &[("filename", "nope.csv"), ("search_domain", "all")],
                Value::Null,
            ),
        );
        assert_eq!(status, 404);
        let (_, body) = call(
            &mut w,
            "GetLookupFile",
            req(
                "GET",
                &[
                    ("filename", "critical_assets.csv"),
                    ("search_domain", "falcon"),
                ],
                Value::Null,
            ),
        );
        assert!(body["bytes"].as_str().unwrap().contains(KNOWN_HOSTNAME));
    }

    #[test]
    fn parsers_filter_by_type_and_update_and_connections_report_status() {
        let mut w = world();
        let repo = ("repository", "parsers-repository");
        let (_, body) = call(
            &mut w,
            "ListParsers",
            req("GET", &[repo, ("update_available", "true")], Value::Null),
        );
        let names: Vec<&str> = body["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["Name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["microsoft-entra-id", "okta-sso"], "{body}");
        let (_, body) = call(
            &mut w,
            "ListParsers",
            req(
                "GET",
                &[repo, ("parser_type", "custom"), ("filter", "name:~'acme'")],
                Value::Null,
            ),
        );
        assert_eq!(body["resources"].as_array().unwrap().len(), 1, "{body}");
        let pid = body["resources"][0]["ID"].as_str().unwrap().to_string();
        let (_, body) = call(
            &mut w,
            "GetParserTemplate",
            req("GET", &[repo, ("ids", &pid)], Value::Null),
        );
        assert_eq!(body["resources"][0]["id"], pid.as_str());
        assert!(
            body["resources"][0]["yaml_template"]
                .as_str()
                .unwrap()
                .contains("script:")
        );
        let (status, _) = call(
            &mut w,
            "ListParsers",
            req("GET", &[repo, ("parser_type", "x")], Value::Null),
        );
        assert_eq!(status, 400);

        let (_, body) = call(
            &mut w,
            "ExternalListDataConnections",
            req("GET", &[("filter", "status:'provisioning'")], Value::Null),
        );
        let conn = &body["resources"][0];
        assert_eq!(conn["name"], "GitHub enterprise audit", "{body}");
        let id = conn["id"].as_str().unwrap();
        let (_, body) = call(
            &mut w,
            "ExternalGetDataConnectionStatus",
            req("GET", &[("ids", id)], Value::Null),
        );
        assert_eq!(
            body["resources"],
            json!([{"id": id, "status": "provisioning", "last_ingested_ts": "", "last_ingested_volume_one_day": ""}])
        );
        let (_, body) = call(
            &mut w,
            "ExternalListConnectorConfigs",
            req("GET", &[("ids", "okta-sso-pull")], Value::Null),
        );
        let configs = body["resources"].as_array().unwrap();
        assert!(!configs.is_empty() && configs.iter().all(|c| c.get("connector_id").is_none()));
        let (status, _) = call(
            &mut w,
            "ExternalListConnectorConfigs",
            req("GET", &[("ids", "nope")], Value::Null),
        );
        assert_eq!(status, 404);
    }
}
