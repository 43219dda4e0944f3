//! CAO hunting: CrowdStrike's intelligence (hunting) queries and hunting guides (reference part 2
//! §6), declared on the engine.
//!
//! Queries are CQL hunts for the techniques the tenant's alerts show, several naming the tenant's
//! well-known hash, domain and IP; their adversaries are the Intel actors when that family is
//! generated (else a fixed list). Guides group queries by tactic and list them; each query names
//! its guide. Translated content (SPL) is returned only when `include_translated_content` asks.

use rand::Rng;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::engine::{self, Endpoint, Family, Ids, Kind, Paging, Seed, Store};
use crate::envelope::{ApiError, ApiResult, Req};
use crate::tenant::{KNOWN_BAD_DOMAIN, KNOWN_BAD_IP, KNOWN_BAD_SHA256};
use crate::timeutil::rfc3339_s;
use crate::world::Ctx;

const POWERED_BY: &str = "cao-hunting";
const READ: &str = "cao-hunting:read";
const DAY: i64 = 86_400_000;

/// Adversaries used when the Intel family has no actors.
const ADVERSARIES: &[&str] = &[
    "SCATTERED SPIDER",
    "FANCY BEAR",
    "WICKED PANDA",
    "COZY BEAR",
    "INDRIK SPIDER",
];

/// One hunt: name, description, (technique id, technique name, tactic id, tactic name), CQL
/// (with `{sha256}`, `{domain}`, `{ip}` placeholders), an SPL translation, environment, malware.
struct Hunt {
    name: &'static str,
    description: &'static str,
    mitre: (&'static str, &'static str, &'static str, &'static str),
    cql: &'static str,
    spl: &'static str,
    environment: &'static str,
    malware: &'static str,
}

const fn hunt(
    name: &'static str,
    description: &'static str,
    mitre: (&'static str, &'static str, &'static str, &'static str),
    (cql, spl): (&'static str, &'static str),
    environment: &'static str,
    malware: &'static str,
) -> Hunt {
    Hunt {
        name,
        description,
        mitre,
        cql,
        spl,
        environment,
        malware,
    }
}

const CRED: (&str, &str) = ("TA0006", "Credential Access");
const EXEC: (&str, &str) = ("TA0002", "Execution");
const C2: (&str, &str) = ("TA0011", "Command and Control");
const PERSIST: (&str, &str) = ("TA0003", "Persistence");
const IMPACT: (&str, &str) = ("TA0040", "Impact");

const fn m(
    technique: (&'static str, &'static str),
    tactic: (&'static str, &'static str),
) -> (&'static str, &'static str, &'static str, &'static str) {
    (technique.0, technique.1, tactic.0, tactic.1)
}

const HUNTS: &[Hunt] = &[
    hunt(
        "Rundll32 comsvcs MiniDump of LSASS",
        "Finds rundll32 invoking the comsvcs MiniDump export, a common LSASS dumping technique.",
        m(("T1003.001", "LSASS Memory"), CRED),
        (
            "#event_simpleName=ProcessRollup2 FileName=rundll32.exe CommandLine=/comsvcs\\.dll.*MiniDump/i",
            "index=edr process_name=rundll32.exe cmdline=\"*comsvcs.dll*MiniDump*\"",
        ),
        "Windows",
        "",
    ),
    hunt(
        "Executions of the invoice dropper hash",
        "Every process started from the hash of the invoice-themed dropper.",
        m(("T1204.002", "Malicious File"), EXEC),
        (
            "#event_simpleName=ProcessRollup2 SHA256HashData=\"{sha256}\"\n| groupBy([ComputerName, UserName])",
            "index=edr sha256=\"{sha256}\" | stats count by host, user",
        ),
        "Windows",
        "InvoiceDropper",
    ),
    hunt(
        "DNS lookups of the bad CDN",
        "Hosts resolving the CDN domain used for second-stage payloads.",
        m(("T1071.004", "DNS"), C2),
        (
            "#event_simpleName=DnsRequest DomainName=\"{domain}\"\n| groupBy([ComputerName])",
            "index=dns query=\"{domain}\" | stats count by host",
        ),
        "Windows",
        "InvoiceDropper",
    ),
    hunt(
        "Beaconing to the known C2 address",
        "Regular outbound connections to the command-and-control IP.",
        m(("T1071.001", "Web Protocols"), C2),
        (
            "#event_simpleName=NetworkConnectIP4 RemoteAddressIP4=\"{ip}\"\n| bucket(span=1h, field=ComputerName)",
            "index=network dest_ip=\"{ip}\" | timechart span=1h count by host",
        ),
        "Windows",
        "",
    ),
    hunt(
        "Encoded PowerShell command lines",
        "PowerShell started with -EncodedCommand.",
        m(("T1059.001", "PowerShell"), EXEC),
        (
            "#event_simpleName=ProcessRollup2 FileName=/powershell\\.exe/i CommandLine=/-e(nc|ncodedcommand)?\\s/i",
            "index=edr process_name=powershell.exe cmdline=\"* -enc *\"",
        ),
        "Windows",
        "",
    ),
    hunt(
        "Scheduled tasks created from script hosts",
        "schtasks /create launched by wscript, cscript or mshta.",
        m(("T1053.005", "Scheduled Task"), PERSIST),
        (
            "#event_simpleName=ProcessRollup2 FileName=schtasks.exe CommandLine=/\\/create/i",
            "index=edr process_name=schtasks.exe cmdline=\"*/create*\"",
        ),
        "Windows",
        "",
    ),
    hunt(
        "Shadow copy deletion",
        "Inhibit system recovery before encryption.",
        m(("T1490", "Inhibit System Recovery"), IMPACT),
        (
            "#event_simpleName=ProcessRollup2 CommandLine=/delete.*shadows/i",
            "index=edr cmdline=\"*delete*shadows*\"",
        ),
        "Windows",
        "LockBit",
    ),
    hunt(
        "Linux reverse shells over /dev/tcp",
        "bash redirecting a shell to a remote socket.",
        m(("T1059.004", "Unix Shell"), EXEC),
        (
            "#event_simpleName=ProcessRollup2 event_platform=Lin CommandLine=/\\/dev\\/tcp\\//",
            "index=edr os=linux cmdline=\"*/dev/tcp/*\"",
        ),
        "Linux",
        "",
    ),
    hunt(
        "Web shell spawning a shell",
        "Web server processes starting sh or bash.",
        m(("T1505.003", "Web Shell"), PERSIST),
        (
            "#event_simpleName=ProcessRollup2 ParentBaseFileName=/^(httpd|nginx|php-fpm)$/ FileName=/^(sh|bash)$/",
            "index=edr parent_process=httpd OR parent_process=nginx process_name=sh",
        ),
        "Linux",
        "",
    ),
    hunt(
        "Mimikatz command-line arguments",
        "sekurlsa and lsadump arguments on any process.",
        m(("T1003", "OS Credential Dumping"), CRED),
        (
            "#event_simpleName=ProcessRollup2 CommandLine=/(sekurlsa::|lsadump::)/i",
            "index=edr cmdline=\"*sekurlsa::*\" OR cmdline=\"*lsadump::*\"",
        ),
        "Windows",
        "Mimikatz",
    ),
];

/// Hunting guides: name, description, tactic (queries with this tactic belong to the guide).
const GUIDES: &[(&str, &str, (&str, &str))] = &[
    (
        "Credential Access",
        "Hunting for credential theft: LSASS access, dumping tools and their artefacts.",
        CRED,
    ),
    (
        "Execution",
        "Hunting for malicious execution: droppers, script interpreters and shells.",
        EXEC,
    ),
    (
        "Command and Control",
        "Hunting for C2 channels: DNS, beaconing and payload downloads.",
        C2,
    ),
    (
        "Persistence",
        "Hunting for footholds: scheduled tasks, services and web shells.",
        PERSIST,
    ),
    (
        "Ransomware Precursors",
        "Hunting for what comes before encryption: recovery inhibition and mass changes.",
        IMPACT,
    ),
];

/// A stable 32-hex id for `label`, so queries and guides can name each other.
fn stable_id(kind: &str, label: &str) -> String {
    hex::encode(&Sha256::digest(format!("falcon-sim:cao:{kind}:{label}"))[..16])
}

fn guide_of(tactic_id: &str) -> Option<(String, &'static str)> {
    GUIDES
        .iter()
        .find(|(_, _, (t, _))| *t == tactic_id)
        .map(|(name, _, _)| (stable_id("guide", name), *name))
}

fn fill(s: &str) -> String {
    s.replace("{sha256}", KNOWN_BAD_SHA256)
        .replace("{domain}", KNOWN_BAD_DOMAIN)
        .replace("{ip}", KNOWN_BAD_IP)
}

fn mitre(h: &Hunt) -> Value {
    let (technique_id, technique_name, tactic_id, tactic_name) = h.mitre;
    json!([{"technique_id": technique_id, "technique_name": technique_name,
            "tactic_id": tactic_id, "tactic_name": tactic_name}])
}

fn seed_queries(s: &mut Seed<'_>) -> Vec<Value> {
    let actors: Vec<String> = {
        let names: Vec<String> = s
            .family("intel_actors")
            .iter()
            .filter_map(|a| a["name"].as_str().map(str::to_string))
            .collect();
        if names.is_empty() {
            ADVERSARIES.iter().map(|a| a.to_string()).collect()
        } else {
            names
        }
    };
    HUNTS
        .iter()
        .map(|h| {
            let adversaries: Vec<&String> = (0..s.rng.gen_range(1..3))
                .map(|_| &actors[s.rng.gen_range(0..actors.len())])
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let guides: Vec<Value> = guide_of(h.mitre.2)
                .map(|(id, name)| json!({"id": id, "name": name}))
                .into_iter()
                .collect();
            let created = s.now - s.rng.gen_range(60..300) * DAY;
            let updated = created + s.rng.gen_range(1..60) * DAY;
            let report = format!("CSIT-{}", s.rng.gen_range(24_000..26_000));
            json!({
                "id": stable_id("query", h.name),
                "name": h.name,
                "type": "hunting",
                "language": "cql",
                "provider": "CrowdStrike",
                "version": format!("1.{}", s.rng.gen_range(0..5)),
                "content": fill(h.cql),
                "description": h.description,
                "adversaries": adversaries,
                "malware_families": if h.malware.is_empty() { json!([]) } else { json!([h.malware]) },
                "kill_chain": [if h.mitre.2 == "TA0040" { "Actions on Objectives" } else { "Exploitation" }],
                "mitre": mitre(h),
                "mitre_technique_ids": [h.mitre.0],
                "environment": [h.environment],
                "reports": [report],
                "reports_count": 1,
                "hunting_guides": guides,
                "depends_on": [],
                "relates_to_community_alias": [],
                "subscriptions": ["Falcon Adversary OverWatch"],
                "translated_languages": ["SPL"],
                "translations": [{"language": "SPL", "content": fill(h.spl)}],
                "has_elite_analyst_notes": false,
                "has_elite_query_explainer": false,
                "created_at": rfc3339_s(created),
                "last_updated_at": rfc3339_s(updated),
            })
        })
        .collect()
}

fn seed_guides(s: &mut Seed<'_>) -> Vec<Value> {
    let queries = s.family("cao_intelligence_queries").to_vec();
    GUIDES
        .iter()
        .map(|(name, description, (tactic_id, tactic_name))| {
            let members: Vec<&Value> = queries
                .iter()
                .filter(|q| q["mitre"][0]["tactic_id"] == *tactic_id)
                .collect();
            let pick = |field: &str| -> Vec<Value> {
                let set: std::collections::BTreeSet<String> = members
                    .iter()
                    .flat_map(|q| q[field].as_array().cloned().unwrap_or_default())
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect();
                set.into_iter().map(Value::String).collect()
            };
            let technique_ids = pick("mitre_technique_ids");
            json!({
                "id": stable_id("guide", name),
                "name": name,
                "description": description,
                "ai_short_description": format!("Hunts for {}.", tactic_name.to_lowercase()),
                "category": {"name": tactic_name, "type": "tactic"},
                "languages": ["cql"],
                "adversaries": pick("adversaries"),
                "malware_families": pick("malware_families"),
                "mitre": members.iter().map(|q| q["mitre"][0].clone()).collect::<Vec<_>>(),
                "environments": pick("environment"),
                "queries": members.iter().map(|q| json!({"id": q["id"], "name": q["name"]})).collect::<Vec<_>>(),
                "cql_query_count": members.len(),
                "hunt_count": members.len() + s.rng.gen_range(0..4),
                "hunt_filter": format!("mitre.technique_id:{}", serde_json::to_string(&technique_ids).unwrap_or_default()),
                "last_updated_at": rfc3339_s(s.now - s.rng.gen_range(1..90) * DAY),
            })
        })
        .collect()
}

/// Plain entity lookup of the queries, translations included; [`get_queries`] drops them unless
/// asked.
static QUERY_ENTITIES: Endpoint = Endpoint {
    op: "GetIntelligenceQueries",
    method: "GET",
    path: "/hunting/entities/intelligence-queries/v1",
    scope: READ,
    kind: Kind::Entities {
        ids: Ids::Query("ids"),
        max: 500,
    },
};

/// `GetIntelligenceQueries`: `translations` only with `include_translated_content` (`SPL` or
/// `__all__`).
fn get_queries(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let wanted = req.q_list("include_translated_content");
    if let Some(bad) = wanted
        .iter()
        .find(|l| !["SPL", "__all__"].contains(&l.as_str()))
    {
        return Err(ApiError::bad_request(format!(
            "invalid include_translated_content '{bad}': must be SPL or __all__"
        )));
    }
    let mut resp = engine::serve(&FAMILIES[0], &QUERY_ENTITIES, cx, req)?;
    if wanted.is_empty()
        && let crate::envelope::Body::Json(v) = &mut resp.body
        && let Some(items) = v["resources"].as_array_mut()
    {
        for q in items {
            if let Some(o) = q.as_object_mut() {
                o.remove("translations");
            }
        }
    }
    Ok(resp)
}

/// Queries first: guides list the queries of their tactic.
pub(crate) static FAMILIES: &[Family] = &[
    Family {
        name: "cao_intelligence_queries",
        id_field: "id",
        noun: "Intelligence query",
        powered_by: POWERED_BY,
        default_sort: "created_at.desc",
        extra_fields: &[],
        text_fields: &[],
        store: Store::Seeded(seed_queries),
        endpoints: &[
            Endpoint {
                op: "SearchIntelligenceQueries",
                method: "GET",
                path: "/hunting/queries/intelligence-queries/v1",
                scope: READ,
                kind: Kind::Query(Paging::offset(100, 500)),
            },
            Endpoint {
                op: "GetIntelligenceQueries",
                method: "GET",
                path: "/hunting/entities/intelligence-queries/v1",
                scope: READ,
                kind: Kind::Custom(get_queries),
            },
            Endpoint {
                op: "AggregateIntelligenceQueries",
                method: "POST",
                path: "/hunting/aggregates/intelligence-queries/v1",
                scope: READ,
                kind: Kind::Aggregate(None),
            },
        ],
    },
    Family {
        name: "cao_hunting_guides",
        id_field: "id",
        noun: "Hunting guide",
        powered_by: POWERED_BY,
        default_sort: "name.asc",
        extra_fields: &[],
        text_fields: &[],
        store: Store::Seeded(seed_guides),
        endpoints: &[
            Endpoint {
                op: "SearchHuntingGuides",
                method: "GET",
                path: "/hunting/queries/hunting-guides/v1",
                scope: READ,
                kind: Kind::Query(Paging::offset(100, 500)),
            },
            Endpoint {
                op: "GetHuntingGuides",
                method: "GET",
                path: "/hunting/entities/hunting-guides/v1",
                scope: READ,
                kind: Kind::Entities {
                    ids: Ids::Query("ids"),
                    max: 500,
                },
            },
            Endpoint {
                op: "AggregateHuntingGuides",
                method: "POST",
                path: "/hunting/aggregates/hunting-guides/v1",
                scope: READ,
                kind: Kind::Aggregate(None),
            },
        ],
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::testkit::{call, req, world};

    #[test]
    fn queries_hunt_the_tenants_values_and_name_their_guides() {
        let mut w = world();
        let (status, body) = call(
            &mut w,
            "SearchIntelligenceQueries",
            req(
                "GET",
                &[("q", KNOWN_BAD_SHA256), ("offset", "0")],
                Value::Null,
            ),
        );
        assert_eq!(status, 200, "{body}");
        let ids = body["resources"].as_array().unwrap().clone();
        assert_eq!(ids.len(), 1, "{body}");
        let id = ids[0].as_str().unwrap();
        let (_, body) = call(
            &mut w,
            "GetIntelligenceQueries",
            req("GET", &[("ids", id)], Value::Null),
        );
        let q = &body["resources"][0];
        assert!(q["content"].as_str().unwrap().contains(KNOWN_BAD_SHA256));
        assert!(
            q.get("translations").is_none(),
            "no translations unless asked"
        );
        let guide = q["hunting_guides"][0]["id"].as_str().unwrap().to_string();
        let (_, body) = call(
            &mut w,
            "GetIntelligenceQueries",
            req(
                "GET",
                &[("ids", id), ("include_translated_content", "SPL")],
                Value::Null,
            ),
        );
        assert!(
            body["resources"][0]["translations"][0]["content"]
                .as_str()
                .unwrap()
                .contains(KNOWN_BAD_SHA256)
        );
        let (status, _) = call(
            &mut w,
            "GetIntelligenceQueries",
            req(
                "GET",
                &[("ids", id), ("include_translated_content", "KQL")],
                Value::Null,
            ),
        );
        assert_eq!(status, 400);
        // The guide lists the query back.
        let (status, body) = call(
            &mut w,
            "GetHuntingGuides",
            req("GET", &[("ids", &guide)], Value::Null),
        );
        assert_eq!(status, 200, "{body}");
        assert!(
            body["resources"][0]["queries"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["id"] == id)
        );
    }

    #[test]
    fn filters_and_aggregates() {
        let mut w = world();
        let (status, body) = call(
            &mut w,
            "SearchIntelligenceQueries",
            req(
                "GET",
                &[("filter", "mitre_technique_ids:'T1003.001'")],
                Value::Null,
            ),
        );
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["resources"].as_array().unwrap().len(), 1);
        let (status, body) = call(
            &mut w,
            "AggregateIntelligenceQueries",
            req(
                "POST",
                &[],
                json!([{"name": "env", "type": "terms", "field": "environment", "size": 5}]),
            ),
        );
        assert_eq!(status, 200, "{body}");
        let buckets = body["resources"][0]["buckets"].as_array().unwrap();
        assert_eq!(buckets[0]["label"], "Windows", "{body}");
        let (_, body) = call(
            &mut w,
            "SearchHuntingGuides",
            req(
                "GET",
                &[("filter", "category.name:'Execution'")],
                Value::Null,
            ),
        );
        assert_eq!(body["resources"].as_array().unwrap().len(), 1, "{body}");
    }
}
