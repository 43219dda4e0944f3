//! NG-SIEM correlation rules and their templates (reference part 2 §4), declared on the engine.
//!
//! v1 rules are one record per rule (`id` = `rule_id`); the CQL of the tenant's own rules names
//! its well-known values (the bad domain, IP and hash, the finance workstation and its user), so a
//! rule can be followed to the alerts and events it would match. Rules enable and disable with
//! `status` (`active`/`inactive`; the model has no `enabled`), and every PATCH bumps `version` and
//! republishes. Templates are CrowdStrike's pre-built detections; some rules were created from one.

use rand::Rng;
use serde_json::{Value, json};

use crate::catalog::ANALYSTS;
use crate::engine::{self, Endpoint, Family, Ids, Kind, Paging, Seed, Store};
use crate::envelope::{ApiError, ApiResult, Req};
use crate::tenant::{KNOWN_BAD_DOMAIN, KNOWN_BAD_IP, KNOWN_BAD_SHA256, KNOWN_HOSTNAME, KNOWN_USER};
use crate::timeutil::rfc3339_s;
use crate::world::{Ctx, hex32, uuid};

const POWERED_BY: &str = "correlation-rules";
const READ: &str = "correlation-rules:read";
const WRITE: &str = "correlation-rules:write";
const DAY: i64 = 86_400_000;

/// The severities the API accepts (Informational, Low, Medium, High, Critical).
const SEVERITIES: &[i64] = &[10, 30, 50, 70, 90];

/// One detection: name, description, MITRE (tactic, technique), severity, CQL (with `{domain}`,
/// `{ip}`, `{sha256}`, `{host}`, `{user}` placeholders), lookback, schedule, vendor.
struct Detection {
    name: &'static str,
    description: &'static str,
    tactic: &'static str,
    technique: &'static str,
    severity: i64,
    cql: &'static str,
    lookback: &'static str,
    schedule: &'static str,
    vendor: &'static str,
}

const fn det(
    name: &'static str,
    description: &'static str,
    (tactic, technique): (&'static str, &'static str),
    severity: i64,
    cql: &'static str,
    (lookback, schedule): (&'static str, &'static str),
    vendor: &'static str,
) -> Detection {
    Detection {
        name,
        description,
        tactic,
        technique,
        severity,
        cql,
        lookback,
        schedule,
        vendor,
    }
}

const HOURLY: (&str, &str) = ("1h0m", "@every 1h0m");
const QUARTER: (&str, &str) = ("15m", "@every 0h15m");
const DAILY: (&str, &str) = ("24h0m", "@every 24h0m");

/// The tenant's own rules.
const RULES: &[Detection] = &[
    det(
        "Known bad domain resolved",
        "DNS lookups of the domain in the tenant's IOC list.",
        ("TA0011", "T1071.004"),
        90,
        "#event_simpleName=DnsRequest DomainName=\"{domain}\"\n| groupBy([ComputerName, ContextBaseFileName])",
        QUARTER,
        "crowdstrike",
    ),
    det(
        "Outbound connection to known C2 address",
        "Network connections to the command-and-control IP seen in alerts.",
        ("TA0011", "T1071.001"),
        90,
        "#event_simpleName=NetworkConnectIP4 RemoteAddressIP4=\"{ip}\"\n| groupBy([ComputerName, RemotePort])",
        QUARTER,
        "crowdstrike",
    ),
    det(
        "Known malicious hash executed",
        "Process executions of the hash blocked on the finance workstation.",
        ("TA0002", "T1204.002"),
        90,
        "#event_simpleName=ProcessRollup2 SHA256HashData=\"{sha256}\"\n| table([@timestamp, ComputerName, UserName, CommandLine])",
        QUARTER,
        "crowdstrike",
    ),
    det(
        "Encoded PowerShell from Office parent",
        "Office applications spawning powershell -enc.",
        ("TA0002", "T1059.001"),
        70,
        "#event_simpleName=ProcessRollup2 ParentBaseFileName=/^(winword|excel|outlook)\\.exe$/i FileName=/powershell\\.exe/i CommandLine=/-enc/i",
        HOURLY,
        "crowdstrike",
    ),
    det(
        "Download from known bad domain",
        "curl, wget or certutil fetching from the bad CDN.",
        ("TA0011", "T1105"),
        70,
        "#event_simpleName=ProcessRollup2 FileName=/^(curl|wget|certutil)(\\.exe)?$/i CommandLine=/{domain_re}/i",
        HOURLY,
        "crowdstrike",
    ),
    det(
        "Finance workstation logon outside hours",
        "Interactive logons on the finance workstation between 20:00 and 06:00 UTC.",
        ("TA0001", "T1078"),
        50,
        "#event_simpleName=UserLogon ComputerName=\"{host}\"\n| hour := time:hour(field=@timestamp)\n| test(hour >= 20 or hour < 6)",
        DAILY,
        "crowdstrike",
    ),
    det(
        "LSASS dump with comsvcs MiniDump",
        "rundll32 invoking comsvcs.dll MiniDump against LSASS.",
        ("TA0006", "T1003.001"),
        90,
        "#event_simpleName=ProcessRollup2 FileName=rundll32.exe CommandLine=/comsvcs\\.dll.*MiniDump/i",
        QUARTER,
        "crowdstrike",
    ),
    det(
        "Password spraying against one user",
        "More than 20 failed logons for the same account within the lookback.",
        ("TA0006", "T1110.003"),
        70,
        "#event_simpleName=UserLogonFailed2 UserName=\"{user}\"\n| groupBy([UserName, ComputerName], function=count())\n| _count > 20",
        HOURLY,
        "crowdstrike",
    ),
    det(
        "Scheduled task created by script host",
        "schtasks /create launched by wscript, cscript or mshta.",
        ("TA0003", "T1053.005"),
        50,
        "#event_simpleName=ProcessRollup2 FileName=schtasks.exe CommandLine=/\\/create/i ParentBaseFileName=/^(wscript|cscript|mshta)\\.exe$/i",
        HOURLY,
        "crowdstrike",
    ),
    det(
        "Linux reverse shell",
        "bash redirecting to /dev/tcp, a common reverse shell.",
        ("TA0002", "T1059.004"),
        90,
        "#event_simpleName=ProcessRollup2 event_platform=Lin CommandLine=/\\/dev\\/tcp\\//",
        QUARTER,
        "crowdstrike",
    ),
    det(
        "Shadow copies deleted",
        "vssadmin or wmic deleting volume shadow copies before encryption.",
        ("TA0040", "T1490"),
        90,
        "#event_simpleName=ProcessRollup2 CommandLine=/(vssadmin|wmic).*shadow.*delete|delete.*shadows/i",
        QUARTER,
        "crowdstrike",
    ),
    det(
        "New service installed",
        "Services created outside change windows.",
        ("TA0003", "T1543.003"),
        30,
        "#event_simpleName=ServiceInstalled\n| groupBy([ComputerName, ServiceDisplayName])",
        DAILY,
        "crowdstrike",
    ),
    det(
        "AWS root account console login",
        "Console sign-ins with the root identity.",
        ("TA0004", "T1078.004"),
        90,
        "#Vendor=aws #event.module=cloudtrail eventName=ConsoleLogin userIdentity.type=Root",
        QUARTER,
        "aws",
    ),
    det(
        "Okta MFA push fatigue",
        "Five or more denied MFA pushes for one user.",
        ("TA0006", "T1621"),
        70,
        "#Vendor=okta eventType=\"user.mfa.okta_verify.deny_push\"\n| groupBy([actor.alternateId], function=count())\n| _count >= 5",
        HOURLY,
        "okta",
    ),
    det(
        "Entra ID sign-in from known bad address",
        "Azure AD sign-ins from the C2 address.",
        ("TA0001", "T1078.004"),
        90,
        "#Vendor=microsoft #event.module=azure properties.ipAddress=\"{ip}\"",
        QUARTER,
        "microsoft",
    ),
    det(
        "GitHub repository made public",
        "A private repository's visibility changed to public.",
        ("TA0010", "T1567.001"),
        50,
        "#Vendor=github action=\"repo.access\" visibility=public",
        DAILY,
        "github",
    ),
];

/// CrowdStrike's template library.
const TEMPLATES: &[Detection] = &[
    det(
        "Suspicious PowerShell download cradle",
        "PowerShell invoking Net.WebClient or Invoke-WebRequest to fetch and run code.",
        ("TA0002", "T1059.001"),
        70,
        "#event_simpleName=ProcessRollup2 FileName=/powershell\\.exe/i CommandLine=/(DownloadString|Invoke-WebRequest|iwr ).*(iex|Invoke-Expression)/i",
        HOURLY,
        "crowdstrike",
    ),
    det(
        "Credential dumping via LSASS access",
        "Processes opening LSASS with read access.",
        ("TA0006", "T1003.001"),
        90,
        "#event_simpleName=ProcessRollup2 CommandLine=/lsass/i CommandLine=/(procdump|MiniDump|sekurlsa)/i",
        QUARTER,
        "crowdstrike",
    ),
    det(
        "Ransomware shadow copy deletion",
        "Inhibiting recovery by deleting shadow copies.",
        ("TA0040", "T1490"),
        90,
        "#event_simpleName=ProcessRollup2 CommandLine=/delete.*shadows/i",
        QUARTER,
        "crowdstrike",
    ),
    det(
        "AWS root account usage",
        "Any API call or console login with the root identity.",
        ("TA0004", "T1078.004"),
        90,
        "#Vendor=aws #event.module=cloudtrail userIdentity.type=Root",
        QUARTER,
        "aws",
    ),
    det(
        "AWS CloudTrail logging stopped",
        "StopLogging or DeleteTrail calls.",
        ("TA0005", "T1562.008"),
        90,
        "#Vendor=aws #event.module=cloudtrail eventName=/^(StopLogging|DeleteTrail)$/",
        QUARTER,
        "aws",
    ),
    det(
        "Okta MFA fatigue",
        "Repeated denied MFA pushes.",
        ("TA0006", "T1621"),
        70,
        "#Vendor=okta eventType=\"user.mfa.okta_verify.deny_push\"\n| groupBy([actor.alternateId], function=count())\n| _count >= 5",
        HOURLY,
        "okta",
    ),
    det(
        "Entra ID impossible travel",
        "Sign-ins from two countries within an hour.",
        ("TA0001", "T1078.004"),
        50,
        "#Vendor=microsoft #event.module=azure category=SignInLogs\n| groupBy([userPrincipalName], function=count(location.countryOrRegion, distinct=true))\n| _count > 1",
        HOURLY,
        "microsoft",
    ),
    det(
        "Google Workspace admin role granted",
        "A user was made a super administrator.",
        ("TA0004", "T1098.003"),
        70,
        "#Vendor=google event.name=ASSIGN_ROLE role_name=\"Super Admin\"",
        DAILY,
        "google",
    ),
    det(
        "GitHub repository visibility changed to public",
        "Private repositories made public.",
        ("TA0010", "T1567.001"),
        50,
        "#Vendor=github action=\"repo.access\" visibility=public",
        DAILY,
        "github",
    ),
    det(
        "Cato Networks blocked connection burst",
        "Many blocked connections from one host.",
        ("TA0011", "T1071"),
        30,
        "#Vendor=cato action=Block\n| groupBy([src_ip], function=count())\n| _count > 100",
        HOURLY,
        "cato",
    ),
];

/// Fill a detection's CQL placeholders with the tenant's well-known values.
fn cql(d: &Detection) -> String {
    d.cql
        .replace("{domain_re}", &KNOWN_BAD_DOMAIN.replace('.', "\\."))
        .replace("{domain}", KNOWN_BAD_DOMAIN)
        .replace("{ip}", KNOWN_BAD_IP)
        .replace("{sha256}", KNOWN_BAD_SHA256)
        .replace("{host}", KNOWN_HOSTNAME)
        .replace("{user}", KNOWN_USER)
}

fn mitre(d: &Detection) -> Value {
    json!([{"tactic_id": d.tactic, "technique_id": d.technique}])
}

fn seed_templates(s: &mut Seed<'_>) -> Vec<Value> {
    TEMPLATES
        .iter()
        .map(|d| {
            let created = s.now - s.rng.gen_range(200..400) * DAY;
            let updated = created + s.rng.gen_range(1..150) * DAY;
            json!({
                "id": hex32(&mut *s.rng),
                "name": d.name,
                "description": d.description,
                "author": "CrowdStrike",
                "type": "correlation",
                "vendors": [d.vendor],
                "severity": d.severity,
                "mitre_attack": mitre(d),
                "search": {"filter": cql(d), "lookback": d.lookback, "outcome": "detection",
                           "trigger_mode": "summary", "execution_mode": "scheduled", "use_ingest_time": false},
                "operation": {"schedule": {"definition": d.schedule}},
                "license_details": {"name": "CrowdStrike Falcon Next-Gen SIEM",
                                    "url": "https://www.crowdstrike.com/terms-conditions/"},
                "created_on": rfc3339_s(created),
                "last_updated_on": rfc3339_s(updated),
            })
        })
        .collect()
}

fn seed_rules(s: &mut Seed<'_>) -> Vec<Value> {
    let templates: Vec<(String, String)> = s
        .family("correlation_templates")
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap_or("").to_string(),
                t["id"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let cid = s.w.cid.clone();
    RULES
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let id = hex32(&mut *s.rng);
            let (author, _) = ANALYSTS[i % ANALYSTS.len()];
            let (editor, _) = ANALYSTS[s.rng.gen_range(0..ANALYSTS.len())];
            let author_uuid = uuid(&mut *s.rng);
            let created = s.now - s.rng.gen_range(20..120) * DAY;
            let updated = created + s.rng.gen_range(0..19) * DAY;
            // Every fourth rule is switched off; rules sharing a detection with a template
            // were created from it.
            let status = if i % 4 == 3 { "inactive" } else { "active" };
            let template_id = templates
                .iter()
                .find(|(n, _)| {
                    n.split_whitespace().take(2).collect::<Vec<_>>()
                        == d.name.split_whitespace().take(2).collect::<Vec<_>>()
                })
                .map(|(_, id)| id.clone())
                .unwrap_or_default();
            let last_run = s.now - s.rng.gen_range(1..15) * 60_000;
            // Rules on the tenant's well-known values have matched recently.
            let hits = if d.cql.contains('{') && status == "active" {
                s.rng.gen_range(1..12)
            } else {
                0
            };
            let tactic = d.tactic;
            let technique = d.technique.split('.').next().unwrap_or(d.technique);
            json!({
                "id": id, "rule_id": id, "executor_rule_id": hex32(&mut *s.rng), "customer_id": cid,
                "name": d.name, "description": d.description, "comment": "",
                "author": author, "type": "correlation",
                "status": status, "status_msg": "", "state": "published",
                "version": s.rng.gen_range(1..6),
                "severity": d.severity, "tactic": tactic, "technique": technique,
                "mitre_attack": mitre(d), "template_id": template_id,
                "search": {"filter": cql(d), "lookback": d.lookback, "outcome": "detection",
                           "trigger_mode": "summary", "execution_mode": "scheduled",
                           "use_ingest_time": false, "case_template_id": ""},
                "operation": {"schedule": {"definition": d.schedule}, "start_on": rfc3339_s(created)},
                "next_execution_on": rfc3339_s(last_run + 15 * 60_000),
                "last_execution": {"status_display": "Completed", "errors": [], "warnings": [],
                    "result_metadata": {"execution_start": rfc3339_s(last_run),
                        "execution_finish": rfc3339_s(last_run + 4_000), "execution_duration": 4_000,
                        "result_count": hits, "search_window_end": rfc3339_s(last_run),
                        "use_ingest_time": false}},
                "notifications": [], "guardrail_notifications": [],
                "created_on": rfc3339_s(created), "last_updated_on": rfc3339_s(updated),
                "user_id": author, "user_uuid": author_uuid, "api_client_id": "",
                "updated_by_user_id": editor, "updated_by_user_uuid": uuid(&mut *s.rng),
                "updated_by_api_client_id": "",
            })
        })
        .collect()
}

fn one_of(v: &Value, key: &str, allowed: &[&str]) -> Result<Option<String>, ApiError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if allowed.contains(&s.as_str()) => Ok(Some(s.clone())),
        Some(other) => Err(ApiError::bad_request(format!(
            "invalid {key} {other}: must be one of {}",
            allowed.join(", ")
        ))),
    }
}

/// One `RulePatchRequest`: the fields it names change, `version` goes up, the rule republishes.
fn patch_rule(rule: &mut Value, input: &Value, now: i64) -> Result<(), ApiError> {
    let status = one_of(input, "status", &["active", "inactive"])?;
    let severity = match input.get("severity") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_i64().filter(|s| SEVERITIES.contains(s)) {
            Some(s) => Some(s),
            None => {
                return Err(ApiError::bad_request(format!(
                    "invalid severity {v}: must be one of 10, 30, 50, 70, 90"
                )));
            }
        },
    };
    let search = input.get("search").cloned().unwrap_or(Value::Null);
    let trigger = one_of(&search, "trigger_mode", &["summary", "verbose"])?;
    let outcome = one_of(
        &search,
        "outcome",
        &["detection", "case", "event", "incident"],
    )?;
    if let Some(f) = search.get("filter")
        && f.as_str().is_none_or(|f| f.trim().is_empty())
    {
        return Err(ApiError::new(
            422,
            "search.filter must be a non-empty CQL query",
        ));
    }
    if let Some(s) = status {
        rule["status"] = json!(s);
    }
    if let Some(s) = severity {
        rule["severity"] = json!(s);
    }
    for key in ["name", "description", "comment"] {
        if let Some(v) = input.get(key).and_then(Value::as_str) {
            rule[key] = json!(v);
        }
    }
    if let Some(f) = search.get("filter").and_then(Value::as_str) {
        rule["search"]["filter"] = json!(f);
    }
    if let Some(l) = search.get("lookback").and_then(Value::as_str) {
        rule["search"]["lookback"] = json!(l);
    }
    if let Some(t) = trigger {
        rule["search"]["trigger_mode"] = json!(t);
    }
    if let Some(o) = outcome {
        rule["search"]["outcome"] = json!(o);
    }
    rule["version"] = json!(rule["version"].as_i64().unwrap_or(0) + 1);
    rule["state"] = json!("published");
    rule["last_updated_on"] = json!(rfc3339_s(now));
    Ok(())
}

/// `entities_rules_patch_v1`: the body must be a JSON list of patches (an object is 400).
fn patch_rules(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let Value::Array(inputs) = req.json_value()? else {
        return Err(ApiError::bad_request(
            "request body must be a list of rule patches",
        ));
    };
    if inputs.is_empty() {
        return Err(ApiError::bad_request("request body must not be empty"));
    }
    engine::update(&FAMILIES[1], cx, &inputs, "id", patch_rule)?;
    // The caller is recorded as the rule's last editor.
    let ids: Vec<String> = inputs
        .iter()
        .filter_map(|i| i["id"].as_str().map(str::to_string))
        .collect();
    let c = engine::collection_mut(cx.w, &FAMILIES[1]);
    for id in &ids {
        if let Some(r) = c.get_mut(id) {
            r["updated_by_api_client_id"] = json!(cx.client_id);
            r["updated_by_user_id"] = json!("");
        }
    }
    let updated: Vec<Value> = ids.iter().filter_map(|id| c.get(id).cloned()).collect();
    Ok(engine::resources(&FAMILIES[1], 200, updated))
}

/// The template query filters on `vendor` and `outcome`, which live in `vendors[]` and
/// `search.outcome` of the template object.
static TEMPLATE_IDS: Endpoint = Endpoint {
    op: "queries_templates_get_v1Mixin0",
    method: "GET",
    path: "/correlation-rules/queries/templates/v1",
    scope: READ,
    kind: Kind::Query(Paging::offset(100, 1000)),
};

fn query_templates(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let aliased =
        engine::alias_filter(req, &[("vendor", "vendors"), ("outcome", "search.outcome")]);
    engine::serve(&FAMILIES[0], &TEMPLATE_IDS, cx, &aliased)
}

/// Templates first: rules link to the template they were created from.
pub(crate) static FAMILIES: &[Family] = &[
    Family {
        name: "correlation_templates",
        id_field: "id",
        noun: "Template",
        powered_by: POWERED_BY,
        default_sort: "created_on",
        extra_fields: &[],
        text_fields: &["name", "description"],
        store: Store::Seeded(seed_templates),
        endpoints: &[
            Endpoint {
                op: "queries_templates_get_v1Mixin0",
                method: "GET",
                path: "/correlation-rules/queries/templates/v1",
                scope: READ,
                kind: Kind::Custom(query_templates),
            },
            Endpoint {
                op: "entities_templates_get_v1Mixin0",
                method: "GET",
                path: "/correlation-rules/entities/templates/v1",
                scope: READ,
                kind: Kind::Entities {
                    ids: Ids::Query("ids"),
                    max: 100,
                },
            },
        ],
    },
    Family {
        name: "correlation_rules",
        id_field: "id",
        noun: "Rule",
        powered_by: POWERED_BY,
        default_sort: "created_on",
        extra_fields: &[],
        text_fields: &["name", "description"],
        store: Store::Seeded(seed_rules),
        endpoints: &[
            Endpoint {
                op: "queries_rules_get_v1",
                method: "GET",
                path: "/correlation-rules/queries/rules/v1",
                scope: READ,
                kind: Kind::Query(Paging::offset(100, 1000)),
            },
            Endpoint {
                op: "combined_rules_get_v1",
                method: "GET",
                path: "/correlation-rules/combined/rules/v1",
                scope: READ,
                kind: Kind::Combined(Paging::offset(100, 1000)),
            },
            Endpoint {
                op: "entities_rules_get_v1",
                method: "GET",
                path: "/correlation-rules/entities/rules/v1",
                scope: READ,
                kind: Kind::Entities {
                    ids: Ids::Query("ids"),
                    max: 500,
                },
            },
            Endpoint {
                op: "entities_rules_patch_v1",
                method: "PATCH",
                path: "/correlation-rules/entities/rules/v1",
                scope: WRITE,
                kind: Kind::Custom(patch_rules),
            },
        ],
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::testkit::{call, req, world};

    fn rule_ids(w: &mut crate::world::World, filter: &str) -> Vec<String> {
        let (status, body) = call(
            w,
            "queries_rules_get_v1",
            req("GET", &[("filter", filter), ("limit", "500")], Value::Null),
        );
        assert_eq!(status, 200, "{body}");
        body["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn rules_name_the_tenants_well_known_values_and_link_templates() {
        let mut w = world();
        let ids = rule_ids(&mut w, "");
        assert_eq!(ids.len(), RULES.len());
        let (_, body) = call(
            &mut w,
            "entities_rules_get_v1",
            req("GET", &[("ids", &ids.join(","))], Value::Null),
        );
        let rules = body["resources"].as_array().unwrap();
        let cql: Vec<&str> = rules
            .iter()
            .map(|r| r["search"]["filter"].as_str().unwrap())
            .collect();
        for known in [
            KNOWN_BAD_DOMAIN,
            KNOWN_BAD_IP,
            KNOWN_BAD_SHA256,
            KNOWN_HOSTNAME,
            KNOWN_USER,
        ] {
            assert!(cql.iter().any(|q| q.contains(known)), "{known}");
        }
        assert!(rules.iter().all(|r| r["id"] == r["rule_id"]));
        assert!(
            rules
                .iter()
                .all(|r| SEVERITIES.contains(&r["severity"].as_i64().unwrap()))
        );
        // Some rules were created from a template, and that template exists.
        let linked: Vec<&str> = rules
            .iter()
            .filter_map(|r| r["template_id"].as_str().filter(|t| !t.is_empty()))
            .collect();
        assert!(!linked.is_empty());
        let (status, body) = call(
            &mut w,
            "entities_templates_get_v1Mixin0",
            req("GET", &[("ids", linked[0])], Value::Null),
        );
        assert_eq!(status, 200, "{body}");
        // FQL over nested MITRE fields and status.
        let inactive = rule_ids(&mut w, "status:'inactive'");
        assert!(!inactive.is_empty() && inactive.len() < ids.len());
        let lsass = rule_ids(&mut w, "mitre_attack.technique_id:'T1003.001'");
        assert_eq!(lsass.len(), 1);
    }

    #[test]
    fn patch_needs_a_list_and_valid_values_and_bumps_the_version() {
        let mut w = world();
        let id = rule_ids(&mut w, "status:'active'")[0].clone();
        let before = engine::collection(&w, &FAMILIES[1])
            .get(&id)
            .unwrap()
            .clone();
        let (status, body) = call(
            &mut w,
            "entities_rules_patch_v1",
            req("PATCH", &[], json!({"id": id, "status": "inactive"})),
        );
        assert_eq!(status, 400, "an object body is refused: {body}");
        let (status, body) = call(
            &mut w,
            "entities_rules_patch_v1",
            req("PATCH", &[], json!([{"id": id, "status": "disabled"}])),
        );
        assert_eq!(status, 400);
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("active, inactive")
        );
        let (status, _) = call(
            &mut w,
            "entities_rules_patch_v1",
            req(
                "PATCH",
                &[],
                json!([{"id": id, "search": {"trigger_mode": "per_event"}}]),
            ),
        );
        assert_eq!(status, 400);
        let (status, _) = call(
            &mut w,
            "entities_rules_patch_v1",
            req(
                "PATCH",
                &[],
                json!([{"id": "0".repeat(32), "status": "inactive"}]),
            ),
        );
        assert_eq!(status, 404);
        assert_eq!(
            engine::collection(&w, &FAMILIES[1]).get(&id).unwrap(),
            &before
        );
        let (status, body) = call(
            &mut w,
            "entities_rules_patch_v1",
            req(
                "PATCH",
                &[],
                json!([{"id": id, "status": "inactive", "comment": "noisy during migration"}]),
            ),
        );
        assert_eq!(status, 200, "{body}");
        let r = &body["resources"][0];
        assert_eq!(r["status"], "inactive");
        assert_eq!(r["comment"], "noisy during migration");
        assert_eq!(r["version"], before["version"].as_i64().unwrap() + 1);
        assert_eq!(r["updated_by_api_client_id"], "testclient");
        assert!(rule_ids(&mut w, "status:'inactive'").contains(&id));
    }

    #[test]
    fn templates_filter_on_vendor_and_outcome() {
        let mut w = world();
        let (status, body) = call(
            &mut w,
            "queries_templates_get_v1Mixin0",
            req(
                "GET",
                &[("filter", "vendor:'aws'+outcome:'detection'")],
                Value::Null,
            ),
        );
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["resources"].as_array().unwrap().len(), 2, "{body}");
    }
}
