//! Falcon Intelligence (declared on the engine; see `crate::engine`): actors, reports and
//! indicators (reference part 2 §3), plus the two hand-written answers that are not envelopes —
//! an actor's MITRE ATT&CK report (bare JSON array or CSV) and a report's PDF.
//!
//! The data is built from the small tables below, so it is the same for every seed except
//! for indicators drawn from the tenant: the known-bad hash, IP and domain belong to
//! GILDED SPIDER and its invoice-loader report, and the tenant's feed IOCs are attributed to the
//! other actors. Dates are epoch seconds, as the API returns them.

use rand::Rng;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::engine::{self, Endpoint, Family, Ids, Kind, Paging, Seed, Store};
use crate::envelope::{ApiError, ApiResult, Body, Req, Resp};
use crate::tenant::{
    KNOWN_ACTOR, KNOWN_BAD_DOMAIN, KNOWN_BAD_IP, KNOWN_BAD_MD5, KNOWN_BAD_SHA256, KNOWN_REPORT,
};
use crate::world::{Ctx, Window};

const PB: &str = "msa-api";
const DAY: i64 = 86_400;

/// An adversary profile.
pub(crate) struct Actor {
    pub id: i64,
    pub name: &'static str,
    pub known_as: &'static str,
    pub animal: &'static str,
    pub kind: &'static str,
    pub origin: &'static str,
    pub motivation: &'static str,
    pub industries: &'static [&'static str],
    pub countries: &'static [&'static str],
    /// CVE ids the actor exploits (Spotlight lists them under `cve.actors`).
    pub exploits: &'static [&'static str],
    pub malware: &'static [&'static str],
    pub summary: &'static str,
    /// Years since first activity.
    pub years: i64,
}

pub(crate) static ACTORS: &[Actor] = &[
    Actor {
        id: 158_201,
        name: KNOWN_ACTOR,
        known_as: "GildLoader Group, TA-Gild",
        animal: "SPIDER",
        kind: "criminal",
        origin: "Eastern Europe",
        motivation: "Criminal",
        industries: &["Financial Services", "Retail", "Professional Services"],
        countries: &["United States", "United Kingdom", "Germany"],
        exploits: &["CVE-2024-21412", "CVE-2023-4863"],
        malware: &["GildLoader", "Cobalt Strike"],
        summary: "GILDED SPIDER is an eCrime adversary that delivers the GildLoader downloader through invoice-themed phishing and hands access to Cobalt Strike operators.",
        years: 4,
    },
    Actor {
        id: 158_202,
        name: "SABLE BEAR",
        known_as: "Graphite Team",
        animal: "BEAR",
        kind: "targeted",
        origin: "Russian Federation",
        motivation: "State-Sponsored",
        industries: &["Government", "Defense", "Energy"],
        countries: &["Ukraine", "Poland", "Germany"],
        exploits: &["CVE-2023-36884", "CVE-2024-38063"],
        malware: &["SableShell"],
        summary: "SABLE BEAR is a Russia-nexus adversary conducting espionage against governments and defense contractors in Europe.",
        years: 11,
    },
    Actor {
        id: 158_203,
        name: "JADE PANDA",
        known_as: "Bamboo Typhoon",
        animal: "PANDA",
        kind: "targeted",
        origin: "China",
        motivation: "State-Sponsored",
        industries: &["Technology", "Telecommunications", "Manufacturing"],
        countries: &["United States", "Japan", "Taiwan"],
        exploits: &["CVE-2024-27198", "CVE-2024-3094"],
        malware: &["JadeRAT"],
        summary: "JADE PANDA is a China-nexus adversary that exploits internet-facing build and CI servers to steal source code.",
        years: 9,
    },
    Actor {
        id: 158_204,
        name: "QUARTZ KITTEN",
        known_as: "Mineral Sandstorm",
        animal: "KITTEN",
        kind: "targeted",
        origin: "Iran",
        motivation: "State-Sponsored",
        industries: &["Energy", "Aerospace"],
        countries: &["Saudi Arabia", "Israel", "United States"],
        exploits: &["CVE-2023-44487"],
        malware: &["QuartzWiper"],
        summary: "QUARTZ KITTEN is an Iran-nexus adversary that pairs credential phishing with destructive wiper attacks on energy firms.",
        years: 7,
    },
    Actor {
        id: 158_205,
        name: "HOLLOW CHOLLIMA",
        known_as: "Silent Ledger",
        animal: "CHOLLIMA",
        kind: "targeted",
        origin: "North Korea",
        motivation: "Financial",
        industries: &["Financial Services", "Cryptocurrency"],
        countries: &["South Korea", "United States", "Singapore"],
        exploits: &["CVE-2023-41990", "CVE-2024-4671"],
        malware: &["HollowDrop"],
        summary: "HOLLOW CHOLLIMA is a DPRK-nexus adversary stealing cryptocurrency through trojanised macOS trading applications.",
        years: 6,
    },
    Actor {
        id: 158_206,
        name: "TIDAL SPIDER",
        known_as: "RipTide Ransomware",
        animal: "SPIDER",
        kind: "criminal",
        origin: "Eastern Europe",
        motivation: "Criminal",
        industries: &["Healthcare", "Education", "Manufacturing"],
        countries: &["United States", "Canada", "France"],
        exploits: &["CVE-2024-6387", "CVE-2023-4911"],
        malware: &["RipTide"],
        summary: "TIDAL SPIDER runs the RipTide ransomware-as-a-service operation and exploits Linux servers for double extortion.",
        years: 3,
    },
    Actor {
        id: 158_207,
        name: "ASHEN JACKAL",
        known_as: "Cinder Collective",
        animal: "JACKAL",
        kind: "hacktivist",
        origin: "Unknown",
        motivation: "Hacktivist",
        industries: &["Government", "Media"],
        countries: &["United States", "India"],
        exploits: &[],
        malware: &[],
        summary: "ASHEN JACKAL is a hacktivist collective running DDoS and defacement campaigns against government and media sites.",
        years: 2,
    },
];

/// One ATT&CK technique a report documents, with what was observed.
struct Technique {
    tactic_id: &'static str,
    tactic: &'static str,
    id: &'static str,
    name: &'static str,
    observed: &'static str,
}

const fn t(
    tactic_id: &'static str,
    tactic: &'static str,
    id: &'static str,
    name: &'static str,
    observed: &'static str,
) -> Technique {
    Technique {
        tactic_id,
        tactic,
        id,
        name,
        observed,
    }
}

/// A finished intelligence report.
struct Report {
    /// `CSIT-25042`: the report's serial (indicators cite it; the slug is its lower case).
    serial: &'static str,
    title: &'static str,
    actor: &'static str,
    /// (type name, sub-type name).
    kind: (&'static str, &'static str),
    days_ago: i64,
    summary: &'static str,
    techniques: &'static [Technique],
}

static REPORTS: &[Report] = &[
    Report {
        serial: KNOWN_REPORT,
        title: "GILDED SPIDER Delivers GildLoader Through Invoice-Themed Lures",
        actor: KNOWN_ACTOR,
        kind: ("Intelligence Report", "Threat Report"),
        days_ago: 12,
        summary: "GILDED SPIDER emails invoice-themed macro documents that drop invoice.exe (GildLoader) into the user's Downloads folder; GildLoader fetches a Cobalt Strike beacon from update-check.badcdn.example and beacons to 203.0.113.66.",
        techniques: &[
            t(
                "TA0001",
                "Initial Access",
                "T1566",
                "Phishing",
                "Invoice-themed emails carrying macro-enabled workbooks",
            ),
            t(
                "TA0002",
                "Execution",
                "T1204",
                "User Execution",
                "User opens invoice.exe from the Downloads folder",
            ),
            t(
                "TA0005",
                "Defense Evasion",
                "T1553",
                "Subvert Trust Controls",
                "Internet Shortcut files bypass SmartScreen (CVE-2024-21412)",
            ),
            t(
                "TA0011",
                "Command and Control",
                "T1071",
                "Application Layer Protocol",
                "Cobalt Strike beacon over HTTPS to 203.0.113.66",
            ),
            t(
                "TA0011",
                "Command and Control",
                "T1105",
                "Ingress Tool Transfer",
                "Second stage fetched from update-check.badcdn.example",
            ),
        ],
    },
    Report {
        serial: "CSA-250917",
        title: "GILDED SPIDER Rotates Staging Infrastructure",
        actor: KNOWN_ACTOR,
        kind: ("Alert", "Daily"),
        days_ago: 3,
        summary: "New GILDED SPIDER staging domains and a reused Cobalt Strike team server.",
        techniques: &[t(
            "TA0011",
            "Command and Control",
            "T1071",
            "Application Layer Protocol",
            "Team server reused across campaigns",
        )],
    },
    Report {
        serial: "CSIT-24988",
        title: "SABLE BEAR Targets European Ministries with Office Zero-Day",
        actor: "SABLE BEAR",
        kind: ("Intelligence Report", "Threat Report"),
        days_ago: 40,
        summary: "SABLE BEAR exploited CVE-2023-36884 in lures about a NATO summit to install SableShell.",
        techniques: &[
            t(
                "TA0001",
                "Initial Access",
                "T1566",
                "Phishing",
                "Summit-themed RTF documents",
            ),
            t(
                "TA0002",
                "Execution",
                "T1203",
                "Exploitation for Client Execution",
                "CVE-2023-36884 in Office",
            ),
            t(
                "TA0006",
                "Credential Access",
                "T1003",
                "OS Credential Dumping",
                "LSASS dumped with comsvcs.dll",
            ),
        ],
    },
    Report {
        serial: "CSA-250611",
        title: "SABLE BEAR Scans for Vulnerable IPv6 Stacks",
        actor: "SABLE BEAR",
        kind: ("Alert", "Daily"),
        days_ago: 25,
        summary: "Scanning consistent with CVE-2024-38063 exploitation attempts against government networks.",
        techniques: &[t(
            "TA0043",
            "Reconnaissance",
            "T1595",
            "Active Scanning",
            "IPv6 sweeps of ministry address space",
        )],
    },
    Report {
        serial: "CSIT-24870",
        title: "JADE PANDA Compromises CI Servers to Steal Source Code",
        actor: "JADE PANDA",
        kind: ("Intelligence Report", "Threat Report"),
        days_ago: 60,
        summary: "JADE PANDA exploited CVE-2024-27198 in TeamCity and planted JadeRAT on build agents.",
        techniques: &[
            t(
                "TA0001",
                "Initial Access",
                "T1190",
                "Exploit Public-Facing Application",
                "TeamCity authentication bypass",
            ),
            t(
                "TA0010",
                "Exfiltration",
                "T1567",
                "Exfiltration Over Web Service",
                "Repositories uploaded to cloud storage",
            ),
        ],
    },
    Report {
        serial: "CSIT-24901",
        title: "QUARTZ KITTEN Wiper Campaign Against Energy Producers",
        actor: "QUARTZ KITTEN",
        kind: ("Intelligence Report", "Threat Report"),
        days_ago: 48,
        summary: "QUARTZ KITTEN deployed QuartzWiper after months of credential phishing.",
        techniques: &[
            t(
                "TA0040",
                "Impact",
                "T1485",
                "Data Destruction",
                "QuartzWiper overwrites the MBR",
            ),
            t(
                "TA0006",
                "Credential Access",
                "T1555",
                "Credentials from Password Stores",
                "Browser credential theft",
            ),
        ],
    },
    Report {
        serial: "CSIT-24955",
        title: "HOLLOW CHOLLIMA Trojanises macOS Trading Apps",
        actor: "HOLLOW CHOLLIMA",
        kind: ("Intelligence Report", "Threat Report"),
        days_ago: 33,
        summary: "HollowDrop is distributed as a signed macOS trading application and steals wallet keys.",
        techniques: &[
            t(
                "TA0001",
                "Initial Access",
                "T1195",
                "Supply Chain Compromise",
                "Trojanised trading application",
            ),
            t(
                "TA0009",
                "Collection",
                "T1005",
                "Data from Local System",
                "Wallet files collected",
            ),
        ],
    },
    Report {
        serial: "CSIT-25011",
        title: "TIDAL SPIDER RipTide Affiliates Exploit regreSSHion",
        actor: "TIDAL SPIDER",
        kind: ("Intelligence Report", "Threat Report"),
        days_ago: 18,
        summary: "RipTide affiliates gain root on Linux servers through CVE-2024-6387 before encrypting VMware datastores.",
        techniques: &[
            t(
                "TA0001",
                "Initial Access",
                "T1190",
                "Exploit Public-Facing Application",
                "sshd signal-handler race (CVE-2024-6387)",
            ),
            t(
                "TA0040",
                "Impact",
                "T1486",
                "Data Encrypted for Impact",
                "RipTide encrypts datastores",
            ),
            t(
                "TA0040",
                "Impact",
                "T1490",
                "Inhibit System Recovery",
                "Snapshots deleted before encryption",
            ),
        ],
    },
    Report {
        serial: "CSA-250702",
        title: "ASHEN JACKAL Announces DDoS Campaign",
        actor: "ASHEN JACKAL",
        kind: ("Alert", "Daily"),
        days_ago: 7,
        summary: "ASHEN JACKAL announced DDoS attacks on government portals on its Telegram channel.",
        techniques: &[t(
            "TA0040",
            "Impact",
            "T1498",
            "Network Denial of Service",
            "HTTP floods against portals",
        )],
    },
];

fn slug(name: &str) -> String {
    name.to_lowercase().replace([' ', '.', '/'], "-")
}

/// `{id, slug, value}`, the shape of every Intel taxonomy entry (ids stable per value).
fn entity(value: &str) -> Value {
    let h = Sha256::digest(value.as_bytes());
    let id = 1_000 + u32::from_be_bytes([0, h[0], h[1], h[2]]) % 1_000_000;
    json!({"id": id, "slug": slug(value), "value": value})
}

/// A country or origin entry: its slug is the ISO 3166 code where there is one (`ua`).
fn country(name: &str) -> Value {
    let code = match name {
        "United States" => "us",
        "United Kingdom" => "gb",
        "Germany" => "de",
        "Ukraine" => "ua",
        "Poland" => "pl",
        "Japan" => "jp",
        "Taiwan" => "tw",
        "Saudi Arabia" => "sa",
        "Israel" => "il",
        "South Korea" => "kr",
        "Singapore" => "sg",
        "Canada" => "ca",
        "France" => "fr",
        "India" => "in",
        "Russian Federation" => "ru",
        "China" => "cn",
        "Iran" => "ir",
        "North Korea" => "kp",
        _ => "",
    };
    let mut e = entity(name);
    if !code.is_empty() {
        e["slug"] = json!(code);
    }
    e
}

/// Indicator spelling of an actor name (`GILDEDSPIDER`).
fn actor_label(name: &str) -> String {
    name.replace(' ', "")
}

fn actor(name: &str) -> Option<&'static Actor> {
    ACTORS.iter().find(|a| a.name == name)
}

fn report_id(r: &Report) -> i64 {
    let (prefix, digits) = r.serial.split_once('-').unwrap_or(("", r.serial));
    let base = if prefix == "CSIT" {
        1_000_000
    } else {
        2_000_000
    };
    base + digits.parse::<i64>().unwrap_or(0)
}

fn actor_url(a: &Actor) -> String {
    format!(
        "https://falcon.crowdstrike.com/intelligence/actors/{}/",
        slug(a.name)
    )
}

fn seed_actors(s: &mut Seed<'_>) -> Vec<Value> {
    let now = s.now / 1000;
    ACTORS
        .iter()
        .map(|a| {
            let reports: Vec<Value> = REPORTS
                .iter()
                .filter(|r| r.actor == a.name)
                .map(|r| json!({"id": report_id(r), "name": format!("{} {}", r.serial, r.title), "slug": slug(r.serial), "created_date": now - r.days_ago * DAY}))
                .collect();
            let last_activity = now - s.rng.gen_range(2..30) * DAY;
            json!({
                "id": a.id, "name": a.name, "slug": slug(a.name), "known_as": a.known_as,
                "animal_classifier": a.animal, "actor_type": a.kind, "status": "active", "active": true,
                "short_description": a.summary,
                "description": format!("{} It has been active for about {} years.", a.summary, a.years),
                "url": actor_url(a),
                "created_date": now - (a.years * 365 - 60) * DAY,
                "first_activity_date": now - a.years * 365 * DAY,
                "last_activity_date": last_activity,
                "last_modified_date": last_activity + DAY / 2,
                "origins": [country(a.origin)], "motivations": [entity(a.motivation)],
                "objectives": [], "capabilities": [],
                "target_countries": a.countries.iter().map(|c| country(c)).collect::<Vec<_>>(),
                "target_industries": a.industries.iter().map(|c| entity(c)).collect::<Vec<_>>(),
                "target_regions": [],
                "capability": entity(if a.kind == "targeted" { "Above Average" } else { "Average" }),
                "kill_chain": {
                    "delivery": if a.kind == "hacktivist" { "Botnet traffic" } else { "Spearphishing and exploitation of public-facing services" },
                    "command_and_control": if a.malware.is_empty() { "" } else { "HTTPS beacons" },
                },
                "uses_threats": a.malware.iter().map(|m| json!({"family_name": m})).collect::<Vec<_>>(),
                "uses_vulnerabilities": a.exploits,
                "in_reports": reports, "in_reports_count": reports.len(),
                "notify_users": false,
            })
        })
        .collect()
}

fn seed_reports(s: &mut Seed<'_>) -> Vec<Value> {
    let now = s.now / 1000;
    REPORTS
        .iter()
        .filter_map(|r| {
            let a = actor(r.actor)?;
            let created = now - r.days_ago * DAY;
            let sl = slug(r.serial);
            Some(json!({
                "id": report_id(r), "name": format!("{} {}", r.serial, r.title), "slug": sl,
                "url": format!("https://falcon.crowdstrike.com/intelligence/reports/{sl}"),
                "short_description": format!("Adversary: {} || Target Industry: {}", a.name, a.industries.join(", ")),
                "description": r.summary, "summary": r.summary,
                "created_date": created, "last_modified_date": created + s.rng.gen_range(1..48) * 3600,
                "type": {"id": if r.kind.0 == "Alert" { 2 } else { 1 }, "name": r.kind.0, "slug": slug(r.kind.0)},
                "sub_type": {"id": if r.kind.1 == "Daily" { 4 } else { 3 }, "name": r.kind.1, "slug": slug(r.kind.1)},
                "actors": [{"id": a.id, "name": a.name, "slug": slug(a.name), "animal_classifier": a.animal, "url": actor_url(a)}],
                "tags": [entity(match a.kind { "criminal" => "eCrime", "hacktivist" => "Hacktivism", _ => "Espionage" })],
                "motivations": [entity(a.motivation)],
                "target_countries": a.countries.iter().map(|c| country(c)).collect::<Vec<_>>(),
                "target_industries": a.industries.iter().map(|c| entity(c)).collect::<Vec<_>>(),
                "malware": a.malware.iter().map(|m| json!({"family_name": m, "slug": slug(m), "community_identifiers": [m]})).collect::<Vec<_>>(),
                "mitre_attacks": r.techniques.iter().map(|t| json!({
                    "id": format!("{}_{}_{}", slug(a.name), t.tactic_id, t.id),
                    "tactic_id": t.tactic_id, "tactic_name": t.tactic, "technique_id": t.id, "technique_name": t.name,
                })).collect::<Vec<_>>(),
                "attachments": [{"id": report_id(r), "url": format!("https://falcon.crowdstrike.com/intelligence/reports/{sl}/pdf")}],
                "read_time_in_minutes": 2 + r.summary.len() / 60,
                "active": true, "notify_users": false,
            }))
        })
        .collect()
}

/// What an indicator says about its value.
struct Ind<'a> {
    kind: &'a str,
    value: String,
    actor: &'a Actor,
    report: &'a str,
    malware: &'a str,
    kill_chain: &'a str,
    confidence: &'a str,
    age_days: i64,
}

fn indicator(now: i64, i: &Ind<'_>, related: &[(String, &str)]) -> Value {
    let published = now - i.age_days * DAY;
    let updated = published + DAY / 3;
    let id = format!("{}_{}", i.kind, i.value);
    let suffix = &hex::encode(Sha256::digest(id.as_bytes()))[..10];
    let threat = match i.actor.kind {
        "criminal" => "Criminal",
        "hacktivist" => "Hacktivism",
        _ => "Targeted",
    };
    let confidence_label = format!(
        "MaliciousConfidence/{}{}",
        &i.confidence[..1].to_uppercase(),
        &i.confidence[1..]
    );
    let label =
        |name: String| json!({"name": name, "created_on": published, "last_valid_on": updated});
    let mut labels = vec![
        label(confidence_label),
        label(format!("ThreatType/{threat}")),
    ];
    if !i.malware.is_empty() {
        labels.push(label(format!("Malware/{}", i.malware)));
    }
    labels.push(label(format!("CSD/{}", i.report)));
    json!({
        "id": id, "indicator": i.value, "type": i.kind,
        "malicious_confidence": i.confidence, "published_date": published, "last_updated": updated,
        "deleted": false, "_marker": format!("{updated}{suffix}"),
        "actors": [actor_label(i.actor.name)],
        "malware_families": if i.malware.is_empty() { vec![] } else { vec![i.malware] },
        "kill_chains": [i.kill_chain], "threat_types": [threat],
        "domain_types": if i.kind == "domain" { vec!["ActorControlled"] } else { vec![] },
        "ip_address_types": if i.kind == "ip_address" { vec!["C2"] } else { vec![] },
        "targets": i.actor.industries, "reports": [i.report],
        "vulnerabilities": i.actor.exploits,
        "labels": labels,
        "relations": related.iter().filter(|(v, _)| *v != i.value).map(|(v, k)| json!({
            "id": format!("{k}_{v}"), "indicator": v, "type": k, "created_date": published, "last_valid_date": updated,
        })).collect::<Vec<_>>(),
    })
}

fn seed_indicators(s: &mut Seed<'_>) -> Vec<Value> {
    let now = s.now / 1000;
    let Some(known) = actor(KNOWN_ACTOR) else {
        return Vec::new();
    };
    let known_set: Vec<(String, &str)> = vec![
        (KNOWN_BAD_SHA256.to_string(), "hash_sha256"),
        (KNOWN_BAD_MD5.to_string(), "hash_md5"),
        (KNOWN_BAD_IP.to_string(), "ip_address"),
        (KNOWN_BAD_DOMAIN.to_string(), "domain"),
    ];
    let mut out: Vec<Value> = known_set
        .iter()
        .map(|(value, kind)| {
            let (malware, kill_chain) = match *kind {
                "ip_address" => ("Cobalt Strike", "C2"),
                "domain" => ("GildLoader", "Delivery"),
                _ => ("GildLoader", "Installation"),
            };
            let i = Ind {
                kind,
                value: value.clone(),
                actor: known,
                report: KNOWN_REPORT,
                malware,
                kill_chain,
                confidence: "high",
                age_days: 12,
            };
            indicator(now, &i, &known_set)
        })
        .collect();
    // The tenant's feed IOCs, attributed to the other actors.
    let others: Vec<&Actor> = ACTORS.iter().filter(|a| a.name != KNOWN_ACTOR).collect();
    let feed: Vec<(String, &str)> =
        s.w.iocs
            .items
            .iter()
            .filter_map(|v| {
                let value = v["value"].as_str()?;
                if known_set.iter().any(|(k, _)| k == value) {
                    return None;
                }
                let kind = match v["type"].as_str()? {
                    "sha256" => "hash_sha256",
                    "md5" => "hash_md5",
                    "domain" => "domain",
                    "ipv4" => "ip_address",
                    _ => return None,
                };
                Some((value.to_string(), kind))
            })
            .collect();
    for (n, (value, kind)) in feed.iter().enumerate() {
        let a = others[n % others.len()];
        let report = REPORTS
            .iter()
            .find(|r| r.actor == a.name)
            .map_or(KNOWN_REPORT, |r| r.serial);
        let confidence = ["high", "medium", "low", "unverified"][s.rng.gen_range(0..4)];
        let kill_chain = if *kind == "domain" || *kind == "ip_address" {
            "C2"
        } else {
            "Installation"
        };
        let i = Ind {
            kind,
            value: value.clone(),
            actor: a,
            report,
            malware: a.malware.first().copied().unwrap_or(""),
            kill_chain,
            confidence,
            age_days: s.rng.gen_range(1..150),
        };
        out.push(indicator(now, &i, &[]));
    }
    // A few more per actor that the tenant has not seen: staging URLs and payload hashes.
    for a in ACTORS {
        let report = REPORTS
            .iter()
            .find(|r| r.actor == a.name)
            .map_or(KNOWN_REPORT, |r| r.serial);
        for k in 0..3 {
            let tag: String = hex::encode(Sha256::digest(format!("{}:{k}", a.name).as_bytes()));
            let (kind, value) = if k == 2 {
                (
                    "url",
                    format!("https://{}-{}.example/gate.php", slug(a.name), &tag[..6]),
                )
            } else {
                ("hash_sha256", tag.clone())
            };
            let i = Ind {
                kind,
                value,
                actor: a,
                report,
                malware: a.malware.first().copied().unwrap_or(""),
                kill_chain: "Installation",
                confidence: "medium",
                age_days: s.rng.gen_range(1..200),
            };
            out.push(indicator(now, &i, &[]));
        }
    }
    out
}

const ACTOR_SCOPE: &str = "falconx-actors:read";
const INDICATOR_SCOPE: &str = "falconx-indicators:read";
const REPORT_SCOPE: &str = "falconx-reports:read";

/// Indicators page by offset with a 50,000 window and pages of up to 10,000.
const INDICATOR_PAGING: Paging = Paging::offset(10, 10_000).window(Window::Indicators);

/// The intel collections and their endpoints.
pub(crate) static FAMILIES: &[Family] = &[
    Family {
        name: "intel_actors",
        id_field: "id",
        noun: "Actor",
        powered_by: PB,
        default_sort: "last_activity_date.desc",
        extra_fields: &[],
        text_fields: &[],
        store: Store::Seeded(seed_actors),
        endpoints: &[
            Endpoint {
                op: "QueryIntelActorEntities",
                method: "GET",
                path: "/intel/combined/actors/v1",
                scope: ACTOR_SCOPE,
                kind: Kind::Combined(Paging::offset(10, 5000)),
            },
            Endpoint {
                op: "QueryIntelActorIds",
                method: "GET",
                path: "/intel/queries/actors/v1",
                scope: ACTOR_SCOPE,
                kind: Kind::Query(Paging::offset(10, 5000)),
            },
            Endpoint {
                op: "GetIntelActorEntities",
                method: "GET",
                path: "/intel/entities/actors/v1",
                scope: ACTOR_SCOPE,
                kind: Kind::Entities {
                    ids: Ids::Query("ids"),
                    max: 5000,
                },
            },
            Endpoint {
                op: "GetMitreReport",
                method: "GET",
                path: "/intel/entities/mitre-reports/v1",
                scope: ACTOR_SCOPE,
                kind: Kind::Custom(mitre_report),
            },
        ],
    },
    Family {
        name: "intel_reports",
        id_field: "id",
        noun: "Report",
        powered_by: PB,
        default_sort: "created_date.desc",
        extra_fields: &[],
        text_fields: &[],
        store: Store::Seeded(seed_reports),
        endpoints: &[
            Endpoint {
                op: "QueryIntelReportEntities",
                method: "GET",
                path: "/intel/combined/reports/v1",
                scope: REPORT_SCOPE,
                kind: Kind::Combined(Paging::offset(10, 5000)),
            },
            Endpoint {
                op: "QueryIntelReportIds",
                method: "GET",
                path: "/intel/queries/reports/v1",
                scope: REPORT_SCOPE,
                kind: Kind::Query(Paging::offset(10, 5000)),
            },
            Endpoint {
                op: "GetIntelReportEntities",
                method: "GET",
                path: "/intel/entities/reports/v1",
                scope: REPORT_SCOPE,
                kind: Kind::Entities {
                    ids: Ids::Query("ids"),
                    max: 5000,
                },
            },
            Endpoint {
                op: "GetIntelReportPDF",
                method: "GET",
                path: "/intel/entities/report-files/v1",
                scope: REPORT_SCOPE,
                kind: Kind::Custom(report_pdf),
            },
        ],
    },
    Family {
        name: "intel_indicators",
        id_field: "id",
        noun: "Indicator",
        powered_by: PB,
        default_sort: "published_date.desc",
        extra_fields: &[],
        text_fields: &[],
        store: Store::Seeded(seed_indicators),
        endpoints: &[
            Endpoint {
                op: "QueryIntelIndicatorEntities",
                method: "GET",
                path: "/intel/combined/indicators/v1",
                scope: INDICATOR_SCOPE,
                kind: Kind::Combined(INDICATOR_PAGING),
            },
            Endpoint {
                op: "QueryIntelIndicatorIds",
                method: "GET",
                path: "/intel/queries/indicators/v1",
                scope: INDICATOR_SCOPE,
                kind: Kind::Query(INDICATOR_PAGING),
            },
            Endpoint {
                op: "GetIntelIndicatorEntities",
                method: "POST",
                path: "/intel/entities/indicators/GET/v1",
                scope: INDICATOR_SCOPE,
                kind: Kind::Entities {
                    ids: Ids::Body("ids"),
                    max: 1000,
                },
            },
        ],
    },
];

/// `GetMitreReport`: the ATT&CK techniques of an actor (numeric id or slug) across the reports
/// about it, as a bare JSON array or CSV; an unknown actor answers `null`, as the service does.
fn mitre_report(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let actor_id = req
        .q("actor_id")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("actor_id is required"))?;
    let csv = match req.q("format").map(str::to_ascii_lowercase).as_deref() {
        Some("json") => false,
        Some("csv") => true,
        None | Some("") => return Err(ApiError::bad_request("format is required")),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "invalid format '{other}'; must be one of CSV, JSON"
            )));
        }
    };
    let actors = engine::collection(cx.w, &FAMILIES[0]);
    let Some(a) = actors
        .get(actor_id)
        .or_else(|| actors.items.iter().find(|a| a["slug"] == actor_id))
    else {
        return Ok(Resp::json(200, Value::Null));
    };
    let mut rows: Vec<Value> = Vec::new();
    for r in REPORTS.iter().filter(|r| a["name"] == r.actor) {
        for t in r.techniques {
            let id = format!(
                "{}_{}_{}",
                a["slug"].as_str().unwrap_or(""),
                t.tactic_id,
                t.id
            );
            if let Some(row) = rows.iter_mut().find(|x| x["id"] == id.as_str()) {
                push_unique(&mut row["reports"], r.serial);
                push_unique(&mut row["observables"], t.observed);
            } else {
                rows.push(json!({
                    "id": id, "tactic_id": t.tactic_id, "tactic_name": t.tactic,
                    "technique_id": t.id, "technique_name": t.name,
                    "reports": [r.serial], "observables": [t.observed],
                }));
            }
        }
    }
    if !csv {
        return Ok(Resp::json(200, Value::Array(rows)));
    }
    let cols = [
        "id",
        "tactic_id",
        "tactic_name",
        "technique_id",
        "technique_name",
        "reports",
        "observables",
    ];
    let mut out = cols.join(",") + "\n";
    for row in &rows {
        let cells: Vec<String> = cols
            .iter()
            .map(|c| match &row[*c] {
                Value::Array(a) => csv_cell(
                    &a.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
                v => csv_cell(v.as_str().unwrap_or_default()),
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    Ok(Resp {
        status: 200,
        body: Body::Bytes(out.into_bytes(), "text/csv"),
        headers: Vec::new(),
    })
}

fn push_unique(list: &mut Value, s: &str) {
    if let Some(a) = list.as_array_mut()
        && !a.iter().any(|x| x == s)
    {
        a.push(json!(s));
    }
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `GetIntelReportPDF`: the report (`id`, or the first `ids` when `id` is absent) as a PDF.
fn report_pdf(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let id = match req.q("id").filter(|s| !s.is_empty()) {
        Some(id) => id.to_string(),
        None => req
            .q_list("ids")
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::bad_request("id is required"))?,
    };
    let r = engine::collection(cx.w, &FAMILIES[1])
        .get(&id)
        .ok_or_else(|| ApiError::not_found(format!("Report {id} not found")))?;
    let mut lines = vec![
        r["name"].as_str().unwrap_or_default().to_string(),
        String::new(),
        r["short_description"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        String::new(),
    ];
    lines.extend(wrap(r["description"].as_str().unwrap_or_default(), 90));
    lines.push(String::new());
    for m in r["mitre_attacks"].as_array().into_iter().flatten() {
        lines.push(format!(
            "{} {} ({} {})",
            m["technique_id"].as_str().unwrap_or_default(),
            m["technique_name"].as_str().unwrap_or_default(),
            m["tactic_id"].as_str().unwrap_or_default(),
            m["tactic_name"].as_str().unwrap_or_default()
        ));
    }
    Ok(Resp {
        status: 200,
        body: Body::Bytes(pdf(&lines), "application/pdf"),
        headers: Vec::new(),
    })
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut out = vec![String::new()];
    for word in text.split_whitespace() {
        let line = out.last_mut().expect("never empty");
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            out.push(word.to_string());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    out
}

/// A one-page PDF 1.4 of `lines` in Helvetica: catalog, pages, page, font, content stream and
/// a byte-exact cross-reference table, so any reader opens it.
fn pdf(lines: &[String]) -> Vec<u8> {
    let escape = |s: &str| {
        s.chars()
            .filter(char::is_ascii)
            .flat_map(|c| match c {
                '(' | ')' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect::<String>()
    };
    let mut content = String::from("BT /F1 11 Tf 14 TL 56 760 Td\n");
    for l in lines {
        content.push_str(&format!("({}) Tj T*\n", escape(l)));
    }
    content.push_str("ET\n");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>".to_string(),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
        format!("<< /Length {} >>\nstream\n{content}endstream", content.len()),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    let mut tail = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for off in offsets {
        tail.push_str(&format!("{off:010} 00000 n \n"));
    }
    tail.push_str(&format!(
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    ));
    out.extend_from_slice(tail.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::World;

    fn world() -> World {
        crate::tenant::generate(42, 1_700_000_000_000, 20, 30)
    }

    #[test]
    fn known_values_are_linked_to_an_actor_and_a_report() {
        let w = world();
        let inds = engine::collection(&w, &FAMILIES[2]);
        let reports = engine::collection(&w, &FAMILIES[1]);
        for (kind, v) in [
            ("hash_sha256", KNOWN_BAD_SHA256),
            ("hash_md5", KNOWN_BAD_MD5),
            ("ip_address", KNOWN_BAD_IP),
            ("domain", KNOWN_BAD_DOMAIN),
        ] {
            let i = inds.get(&format!("{kind}_{v}")).unwrap();
            assert_eq!(i["actors"][0], "GILDEDSPIDER");
            assert_eq!(i["reports"][0], KNOWN_REPORT);
            assert_eq!(i["relations"].as_array().unwrap().len(), 3);
        }
        let r = reports
            .items
            .iter()
            .find(|r| r["slug"] == "csit-25042")
            .unwrap();
        assert_eq!(r["actors"][0]["name"], KNOWN_ACTOR);
        // Every feed IOC of the tenant is an indicator too.
        assert!(inds.items.len() >= 4 + 36, "{}", inds.items.len());
    }

    #[test]
    fn mitre_rows_merge_reports_and_csv_quotes() {
        let mut w = world();
        let cfg = crate::config::SimConfig::default();
        let mut cx = Ctx {
            w: &mut w,
            cfg: &cfg,
            now: 0,
            client_id: "c".into(),
        };
        let req = |q: &[(&str, &str)]| Req {
            query: q
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Req::default()
        };
        let r = mitre_report(
            &mut cx,
            &req(&[("actor_id", "gilded-spider"), ("format", "JSON")]),
        )
        .unwrap();
        let Body::Json(rows) = r.body else { panic!() };
        let t1071 = rows
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["technique_id"] == "T1071")
            .unwrap();
        assert_eq!(t1071["reports"], json!([KNOWN_REPORT, "CSA-250917"]));
        let r = mitre_report(&mut cx, &req(&[("actor_id", "158201"), ("format", "csv")])).unwrap();
        let Body::Bytes(csv, "text/csv") = r.body else {
            panic!()
        };
        let csv = String::from_utf8(csv).unwrap();
        assert!(csv.starts_with("id,tactic_id,"), "{csv}");
        assert!(csv.contains("gilded-spider_TA0011_T1071,"), "{csv}");
        let r = mitre_report(&mut cx, &req(&[("actor_id", "1"), ("format", "json")])).unwrap();
        assert!(matches!(r.body, Body::Json(Value::Null)));
        assert!(mitre_report(&mut cx, &req(&[("actor_id", "1"), ("format", "xml")])).is_err());
    }

    #[test]
    fn searches_take_fql_and_free_text_and_get_by_integer_id() {
        use crate::families::testkit::{call, req, world};
        let mut w = world();
        let (s, v) = call(
            &mut w,
            "QueryIntelActorEntities",
            req("GET", &[("q", "gildloader")], Value::Null),
        );
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["resources"][0]["name"], KNOWN_ACTOR);
        let (_, v) = call(
            &mut w,
            "QueryIntelActorIds",
            req(
                "GET",
                &[("filter", "animal_classifier:'SPIDER'")],
                Value::Null,
            ),
        );
        assert_eq!(v["resources"].as_array().unwrap().len(), 2);
        assert!(v["resources"][0].is_string(), "ids as strings: {v}");
        let (s, v) = call(
            &mut w,
            "GetIntelActorEntities",
            req("GET", &[("ids", "158201,1")], Value::Null),
        );
        assert_eq!((s, &v["resources"][0]["id"]), (200, &json!(158_201)));
        assert_eq!(v["errors"][0]["id"], "1");
        let q = format!("indicator:'{KNOWN_BAD_IP}'");
        let (_, v) = call(
            &mut w,
            "QueryIntelIndicatorEntities",
            req("GET", &[("filter", q.as_str())], Value::Null),
        );
        assert_eq!(v["resources"][0]["malware_families"][0], "Cobalt Strike");
        let (s, e) = call(
            &mut w,
            "QueryIntelIndicatorEntities",
            req("GET", &[("offset", "49995"), ("limit", "10")], Value::Null),
        );
        assert_eq!(s, 400);
        assert_eq!(
            e["message"],
            "the sum of limit and offset params must be less than 50000"
        );
        let (s, v) = call(
            &mut w,
            "GetIntelIndicatorEntities",
            req(
                "POST",
                &[],
                json!({"ids": [format!("domain_{KNOWN_BAD_DOMAIN}")]}),
            ),
        );
        assert_eq!(
            (s, &v["resources"][0]["actors"][0]),
            (200, &json!("GILDEDSPIDER"))
        );
        let (_, v) = call(
            &mut w,
            "QueryIntelReportEntities",
            req(
                "GET",
                &[
                    ("filter", "actors.slug:'gilded-spider'"),
                    ("sort", "created_date|asc"),
                ],
                Value::Null,
            ),
        );
        let names: Vec<&str> = v["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["slug"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["csit-25042", "csa-250917"]);
    }

    #[test]
    fn report_pdf_is_bytes_and_unknown_reports_are_404() {
        use crate::families::testkit::{call, req, world};
        let mut w = world();
        let (s, v) = call(
            &mut w,
            "GetIntelReportPDF",
            req("GET", &[("id", "1025042")], Value::Null),
        );
        assert_eq!((s, &v["content_type"]), (200, &json!("application/pdf")));
        let text = v["bytes"].as_str().unwrap();
        assert!(
            text.starts_with("%PDF-") && text.contains("GildLoader"),
            "{text}"
        );
        let (s, _) = call(
            &mut w,
            "GetIntelReportPDF",
            req("GET", &[("ids", "1025042")], Value::Null),
        );
        assert_eq!(s, 200);
        let (s, e) = call(
            &mut w,
            "GetIntelReportPDF",
            req("GET", &[("id", "42")], Value::Null),
        );
        assert_eq!(
            (s, e["message"].as_str()),
            (404, Some("Report 42 not found"))
        );
        let (s, _) = call(&mut w, "GetIntelReportPDF", req("GET", &[], Value::Null));
        assert_eq!(s, 400);
    }

    #[test]
    fn pdf_cross_reference_offsets_point_at_objects() {
        let bytes = pdf(&["Title (draft)".into(), "body".into()]);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with("%PDF-1.4") && text.ends_with("%%EOF\n"));
        assert!(text.contains(r"(Title \(draft\)) Tj"));
        let start: usize = text
            .rsplit("startxref\n")
            .next()
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(text[start..].starts_with("xref"));
        for (n, line) in text[start..].lines().skip(3).take(5).enumerate() {
            let off: usize = line[..10].parse().unwrap();
            assert!(
                text[off..].starts_with(&format!("{} 0 obj", n + 1)),
                "{line}"
            );
        }
    }
}
