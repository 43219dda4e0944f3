//! Infrastructure-as-code export: a correlation rule as a YAML template for a detections
//! repository (`resources/detections/<vendor>/<resource_id>.yaml`), holding what it takes to
//! create the rule again — name, description, severity, status, MITRE mapping, the CQL search
//! and its schedule — and nothing the tenant assigns (ids, versions, authors, run history).

use aerie_sdk::ToolError;
use serde::Serialize;
use serde_json::Value;

/// Longest `resource_id` (and so file name stem) written.
const MAX_RESOURCE_ID: usize = 64;

/// One exported rule: its template and where it goes.
#[derive(Debug)]
pub(crate) struct Exported {
    /// Stable name of the resource, derived from the rule's name.
    pub resource_id: String,
    /// Directory under `resources/detections/`.
    pub vendor: String,
    /// The YAML document, with a comment naming the rule it came from.
    pub yaml: String,
}

#[derive(Serialize)]
struct Template<'a> {
    resource_id: &'a str,
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    description: &'a str,
    severity: i64,
    status: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    mitre_attack: Vec<Mitre<'a>>,
    search: Search<'a>,
    operation: Operation<'a>,
}

#[derive(Serialize)]
struct Mitre<'a> {
    tactic_id: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    technique_id: &'a str,
}

#[derive(Serialize)]
struct Search<'a> {
    filter: String,
    lookback: &'a str,
    outcome: &'a str,
    trigger_mode: &'a str,
    use_ingest_time: bool,
}

#[derive(Serialize)]
struct Operation<'a> {
    schedule: Schedule<'a>,
}

#[derive(Serialize)]
struct Schedule<'a> {
    definition: &'a str,
}

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn text_or<'a>(v: &'a Value, pointer: &str, default: &'a str) -> &'a str {
    match text(v, pointer) {
        "" => default,
        s => s,
    }
}

/// `name` as a resource id: lower case, runs of anything but letters and digits as one `_`.
pub(crate) fn resource_id(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    out.truncate(MAX_RESOURCE_ID);
    out.trim_end_matches('_').to_string()
}

/// A vendor directory name: 1-32 lower-case letters, digits or `-`.
pub(crate) fn vendor(v: &str) -> Result<String, ToolError> {
    let v = v.trim().to_ascii_lowercase();
    if !v.is_empty()
        && v.len() <= 32
        && v.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        Ok(v)
    } else {
        Err(ToolError::invalid(format!(
            "vendor `{v}` must be 1-32 letters, digits or `-` (e.g. aws, microsoft, crowdstrike)"
        )))
    }
}

/// The vendor a rule's CQL names with `#Vendor=…` (third-party data), else `crowdstrike`.
fn vendor_of(cql: &str) -> String {
    cql.split("#Vendor=")
        .nth(1)
        .map(|rest| {
            rest.trim_start_matches('"')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect::<String>()
                .to_ascii_lowercase()
        })
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "crowdstrike".to_string())
}

/// The template of `rule`; `vendor` overrides the one read from its CQL.
pub(crate) fn export(rule: &Value, vendor: Option<&str>) -> Result<Exported, ToolError> {
    let id = text(rule, "/id");
    let name = text(rule, "/name");
    let filter = text(rule, "/search/filter");
    if filter.trim().is_empty() {
        return Err(ToolError::internal(format!(
            "rule {id} has no CQL (search.filter) to export"
        )));
    }
    let mut rid = resource_id(name);
    if rid.is_empty() {
        rid = format!("rule_{}", &id[..id.len().min(8)]);
    }
    let vendor = match vendor {
        Some(v) => v.to_string(),
        None => vendor_of(filter),
    };
    let mitre = rule["mitre_attack"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| Mitre {
                    tactic_id: text(m, "/tactic_id"),
                    technique_id: text(m, "/technique_id"),
                })
                .filter(|m| !m.tactic_id.is_empty())
                .collect()
        })
        .unwrap_or_default();
    // A block scalar keeps the query readable; YAML's `|` needs the final line break.
    let mut filter = filter.trim_end().to_string();
    if filter.contains('\n') {
        filter.push('\n');
    }
    let template = Template {
        resource_id: &rid,
        name,
        description: text(rule, "/description"),
        severity: rule["severity"].as_i64().unwrap_or(50),
        status: text_or(rule, "/status", "inactive"),
        mitre_attack: mitre,
        search: Search {
            filter,
            lookback: text_or(rule, "/search/lookback", "1h0m"),
            outcome: text_or(rule, "/search/outcome", "detection"),
            trigger_mode: text_or(rule, "/search/trigger_mode", "summary"),
            use_ingest_time: rule
                .pointer("/search/use_ingest_time")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        },
        operation: Operation {
            schedule: Schedule {
                definition: text_or(rule, "/operation/schedule/definition", "@every 1h0m"),
            },
        },
    };
    let body = serde_yaml_ng::to_string(&template)
        .map_err(|e| ToolError::internal(format!("YAML of rule {id}: {e}")))?;
    let header = format!(
        "# Correlation rule {id} (version {}, updated {}), exported by aerie.\n",
        rule["version"],
        text_or(rule, "/last_updated_on", "unknown"),
    );
    Ok(Exported {
        resource_id: rid,
        vendor,
        yaml: header + &body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule() -> Value {
        json!({
            "id": "c3f1a2b4d5e64f7a8b9c0d1e2f3a4b5c", "name": "Encoded PowerShell: Office parent!",
            "description": "Office spawning powershell -enc", "status": "active", "version": 3,
            "severity": 70, "mitre_attack": [{"tactic_id": "TA0002", "technique_id": "T1059.001"}],
            "search": {"filter": "#event_simpleName=ProcessRollup2 ParentBaseFileName=/^(winword|excel)\\.exe$/i\n| CommandLine=/-enc/i",
                       "lookback": "1h0m", "outcome": "detection", "trigger_mode": "summary", "use_ingest_time": false},
            "operation": {"schedule": {"definition": "@every 1h0m"}},
            "last_updated_on": "2025-06-12T09:30:00Z", "user_id": "analyst@example.com",
        })
    }

    #[test]
    fn the_yaml_parses_back_to_the_rules_definition() {
        let e = export(&rule(), None).unwrap();
        assert_eq!(e.resource_id, "encoded_powershell_office_parent");
        assert_eq!(e.vendor, "crowdstrike");
        assert!(
            e.yaml
                .starts_with("# Correlation rule c3f1a2b4d5e64f7a8b9c0d1e2f3a4b5c (version 3,")
        );
        // The multi-line CQL is a literal block, the `@every` schedule a quoted scalar.
        assert!(
            e.yaml.contains("  filter: |\n    #event_simpleName"),
            "{}",
            e.yaml
        );
        let back: Value = serde_yaml_ng::from_str(&e.yaml).unwrap();
        let r = rule();
        assert_eq!(
            back["search"]["filter"].as_str().unwrap().trim_end(),
            r["search"]["filter"]
        );
        assert_eq!(back["operation"]["schedule"]["definition"], "@every 1h0m");
        assert_eq!(back["mitre_attack"], r["mitre_attack"]);
        assert_eq!(back["severity"], 70);
        assert_eq!(back["status"], "active");
        // Nothing the tenant assigns is exported.
        for k in ["id", "version", "user_id", "last_updated_on"] {
            assert!(back.get(k).is_none(), "{k}");
        }
    }

    #[test]
    fn vendor_comes_from_the_cql_or_the_caller() {
        let mut r = rule();
        r["search"]["filter"] =
            json!("#Vendor=aws #event.module=cloudtrail eventName=ConsoleLogin");
        let e = export(&r, None).unwrap();
        assert_eq!(e.vendor, "aws");
        assert!(
            e.yaml.contains("filter: '#Vendor=aws") || e.yaml.contains("filter: \"#Vendor=aws"),
            "{}",
            e.yaml
        );
        assert_eq!(export(&r, Some("cloud")).unwrap().vendor, "cloud");
        assert!(vendor("../etc").is_err());
        assert_eq!(vendor("AWS").unwrap(), "aws");
    }

    #[test]
    fn resource_ids_are_plain_and_bounded() {
        assert_eq!(
            resource_id("AWS - CloudTrail - Root login"),
            "aws_cloudtrail_root_login"
        );
        assert_eq!(resource_id("  ../../x  "), "x");
        assert_eq!(resource_id(&"a".repeat(100)).len(), MAX_RESOURCE_ID);
        let mut r = rule();
        r["name"] = json!("???");
        assert_eq!(export(&r, None).unwrap().resource_id, "rule_c3f1a2b4");
        r["search"]["filter"] = json!(" ");
        assert!(export(&r, None).is_err());
    }
}
