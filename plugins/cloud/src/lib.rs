//! The `cloud` tool group: Falcon cloud security (reference part 2 §8) — the registered AWS,
//! Azure and GCP accounts and their health, CSPM policy settings, cloud risks ranked by score,
//! IOMs (failed configuration checks) with their remediation, the cloud asset inventory, and
//! compliance rolled up by account and region.

use aerie_sdk::{
    Ctx, Fql, Get, Hydrate, Output, Page, Plugin, Resource, Search, SearchArgs, Shape, ToolError,
    ToolSpec, fql, project,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

const GUIDE: &str = "falcon://fql/cloud";

fn d10() -> u32 {
    10
}
fn d20() -> u32 {
    20
}

// Cloud provider (no doc comment: it would be repeated in every schema using it).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Provider {
    Aws,
    Azure,
    Gcp,
}

impl Provider {
    fn as_str(self) -> &'static str {
        match self {
            Provider::Aws => "aws",
            Provider::Azure => "azure",
            Provider::Gcp => "gcp",
        }
    }
}

// Finding severity (see Provider).
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Severity {
    Critical,
    High,
    Medium,
    Low,
}

impl Severity {
    fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "Critical",
            Severity::High => "High",
            Severity::Medium => "Medium",
            Severity::Low => "Low",
        }
    }
}

/// A cloud account id: AWS account, Azure subscription or GCP project (letters, digits, `-_.:`).
fn account_id(s: &str) -> Result<String, ToolError> {
    let v = s.trim();
    if !v.is_empty()
        && v.len() <= 128
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
    {
        Ok(v.to_string())
    } else {
        Err(ToolError::invalid(format!(
            "`{s}` is not a cloud account id (an AWS account number, Azure subscription id or GCP project id)"
        )))
    }
}

/// A free-text value for a typed filter (region, resource type, service): bounded, printable.
fn word(s: &str, what: &str) -> Result<String, ToolError> {
    let v = s.trim();
    if !v.is_empty() && v.len() <= 200 && !v.chars().any(char::is_control) {
        Ok(v.to_string())
    } else {
        Err(ToolError::invalid(format!(
            "{what} must be 1-200 characters without control characters"
        )))
    }
}

fn opt_word(s: Option<&str>, what: &str) -> Result<Option<String>, ToolError> {
    s.map(|v| word(v, what)).transpose()
}

// ---------------------------------------------------------------------------------------------
// Registered accounts.

/// Arguments of `cloud_list_accounts`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct AccountsArgs {
    provider: Option<Provider>,
    status: Option<AccountStatus>,
}

// Registration state (see Provider).
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum AccountStatus {
    Operational,
    Provisioned,
}

/// Accounts per registration request (the API's default) and the most pages read per cloud.
const ACCOUNT_PAGE: u32 = 100;
const ACCOUNT_PAGES: u32 = 20;

/// Per provider: operation, and the fields naming an account's id and name.
const REGISTRATIONS: &[(Provider, &str, &str, &str)] = &[
    (
        Provider::Aws,
        "GetCSPMAwsAccount",
        "account_id",
        "account_name",
    ),
    (
        Provider::Azure,
        "GetCSPMAzureAccount",
        "subscription_id",
        "subscription_name",
    ),
    (
        Provider::Gcp,
        "GetCSPMGCPAccount",
        "parent_id",
        "display_name",
    ),
];

/// One registration made compact: who it is, whether it works, and what is wrong if not.
fn account(provider: Provider, id_key: &str, name_key: &str, a: &Value) -> Value {
    let problems: Vec<Value> = a["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["status"] == "False")
        .map(|c| {
            json!(
                c["message"]
                    .as_str()
                    .or(c["reason"].as_str())
                    .unwrap_or("condition failed")
            )
        })
        .collect();
    let operational = problems.is_empty() && a["valid"] != false;
    aerie_sdk::prune(json!({
        "provider": provider.as_str(), "account_id": a[id_key], "name": a[name_key],
        "status": a["status"], "operational": operational, "environment": a["environment"],
        "cspm_enabled": a["cspm_enabled"], "cspm_lite": a["is_cspm_lite"], "tenant_id": a["tenant_id"],
        "organization_id": a["organization_id"], "parent_type": a["parent_type"],
        "regions": a["active_regions"], "registered": a["CreatedAt"], "problems": problems,
    }))
}

fn list_accounts(ctx: &Ctx<'_>, a: AccountsArgs) -> Result<Output, ToolError> {
    let mut accounts = Vec::new();
    for (provider, op, id_key, name_key) in REGISTRATIONS {
        if a.provider.is_some_and(|p| p != *provider) {
            continue;
        }
        let status = a.status.map(|s| match s {
            AccountStatus::Operational => "operational",
            AccountStatus::Provisioned => "provisioned",
        });
        // Pages of the API's default size; 207 (some ids failed) is a success with errors
        // beside the resources.
        for page in 0..ACCOUNT_PAGES {
            let env = ctx
                .op(op)
                .query_opt("status", status)
                .query("limit", ACCOUNT_PAGE)
                .query("offset", page * ACCOUNT_PAGE)
                .envelope()?;
            let n = env.resources.len() as u32;
            accounts.extend(
                env.resources
                    .iter()
                    .map(|r| account(*provider, id_key, name_key, r)),
            );
            if n < ACCOUNT_PAGE || u64::from((page + 1) * ACCOUNT_PAGE) >= env.total() {
                break;
            }
        }
    }
    let broken = accounts
        .iter()
        .filter(|x| x["operational"] == false)
        .count();
    Ok(Output::json(
        format!(
            "{} registered cloud account(s), {broken} with problems.",
            accounts.len()
        ),
        &json!({ "accounts": accounts }),
    ))
}

// ---------------------------------------------------------------------------------------------
// Policy settings.

/// Arguments of `cloud_policy_settings`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct PolicyArgs {
    provider: Option<Provider>,
    /// e.g. S3, EC2, IAM, KeyVault
    service: Option<String>,
    policy_id: Option<u32>,
}

fn policy_settings(ctx: &Ctx<'_>, a: PolicyArgs) -> Result<Output, ToolError> {
    let service = opt_word(a.service.as_deref(), "service")?;
    let env = ctx
        .op("GetCSPMPolicySettings")
        .query_opt("cloud-platform", a.provider.map(Provider::as_str))
        .query_opt("service", service)
        .query_opt("policy-id", a.policy_id)
        .subject(
            a.policy_id
                .map_or("policies".into(), |p| format!("policy {p}")),
        )
        .envelope()?;
    let policies: Vec<Value> = env
        .resources
        .iter()
        .map(|p| {
            let off: Vec<&Value> = p["policy_settings"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|s| s["enabled"] == false)
                .map(|s| &s["account_id"])
                .collect();
            let benchmarks: Vec<String> = p["cis_benchmark"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|b| {
                    format!(
                        "{} {}",
                        b["benchmark_short"].as_str().unwrap_or_default(),
                        b["recommendation_number"].as_str().unwrap_or_default()
                    )
                })
                .collect();
            aerie_sdk::prune(json!({
                "policy_id": p["policy_id"], "name": p["name"], "provider": p["cloud_provider"],
                "service": p["cloud_service"], "asset_type": p["cloud_asset_type"],
                "severity": p["default_severity"], "attack_types": p["attack_types"],
                "remediable": p["is_remediable"], "benchmarks": benchmarks,
                "accounts": p["policy_settings"].as_array().map_or(0, Vec::len), "disabled_in": off,
            }))
        })
        .collect();
    let disabled = policies
        .iter()
        .filter(|p| p.get("disabled_in").is_some())
        .count();
    Ok(Output::json(
        format!(
            "{} CSPM polic(ies), {disabled} disabled for some account.",
            policies.len()
        ),
        &json!({ "policies": policies }),
    ))
}

// ---------------------------------------------------------------------------------------------
// Risks.

/// Risks fetched to rank (the API's default page; it cannot sort by score).
const RISK_WINDOW: u32 = 500;

// Risk state (see Provider).
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum RiskStatus {
    #[default]
    Open,
    Resolved,
    All,
}

/// Arguments of `cloud_search_risks`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RiskArgs {
    provider: Option<Provider>,
    account_id: Option<String>,
    severity: Option<Severity>,
    #[serde(default)]
    status: RiskStatus,
    /// FQL, ANDed
    filter: Option<String>,
    #[schemars(range(min = 1, max = 100))]
    #[serde(default = "d10")]
    limit: u32,
}

fn risks(ctx: &Ctx<'_>, a: RiskArgs) -> Result<Output, ToolError> {
    if let Some(f) = &a.filter {
        fql::lint(f).map_err(ToolError::invalid)?;
    }
    let account = a.account_id.as_deref().map(account_id).transpose()?;
    let status = match a.status {
        RiskStatus::Open => Some("open"),
        RiskStatus::Resolved => Some("resolved"),
        RiskStatus::All => None,
    };
    let filter = Fql::new()
        .opt(a.provider, |f, p| f.eq("cloud_provider", p.as_str()))
        .opt(account, |f, x| f.eq("account_id", x))
        .opt(a.severity, |f, s| f.eq("severity", s.as_str()))
        .opt(status, |f, s| f.eq("status", s))
        .raw(a.filter.as_deref())
        .build();
    let env = ctx
        .op("combined_cloud_risks")
        .query_opt("filter", filter)
        .query("limit", RISK_WINDOW)
        .envelope()?;
    let total = env.total();
    let mut all = env.resources;
    all.sort_by_key(|r| std::cmp::Reverse(r["score"].as_u64().unwrap_or(0)));
    let ranked = all.len();
    let results: Vec<Value> = all
        .iter()
        .take(a.limit as usize)
        .map(|r| {
            let mut v = project(
                r,
                &[
                    "id",
                    "score",
                    "severity",
                    "status",
                    "rule_name",
                    "provider",
                    "account_id",
                    "account_name",
                    "asset_id",
                    "asset_name",
                    "asset_type",
                    "asset_region",
                    "first_seen",
                ],
            );
            let factors: Vec<&Value> = r["risk_factors"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| &f["type"])
                .collect();
            v["risk_factors"] = json!(factors);
            v
        })
        .collect();
    let beyond = if (ranked as u64) < total {
        format!(" (ranked among the first {ranked}; narrow the filter to rank the rest)")
    } else {
        String::new()
    };
    Ok(Output::json(
        format!(
            "{} of {total} cloud risk(s), highest score first{beyond}.",
            results.len()
        ),
        &json!({"results": results, "total": total, "ranked": ranked}),
    ))
}

// ---------------------------------------------------------------------------------------------
// IOMs and assets: declared searches.

const IOMS: Hydrate = Hydrate::query("cspm_evaluations_iom_entities", "ids", 100).ordered_by("id");
const ASSETS: Hydrate =
    Hydrate::query("cloud_security_assets_entities_get", "ids", 100).ordered_by("id");

const SEARCH_IOMS: Search = Search::new("cspm_evaluations_iom_queries", "IOMs")
    .hydrate(IOMS)
    .summary(&[
        "id",
        "cloud.provider",
        "cloud.account_id",
        "cloud.region",
        "evaluation.severity",
        "evaluation.status",
        "evaluation.last_detected",
        "evaluation.rule.name",
        "evaluation.rule.remediation",
        "resource.id",
        "resource.resource_id",
        "resource.resource_name",
        "resource.resource_type",
    ])
    .sortable(&[
        "last_detected",
        "first_detected",
        "severity",
        "account_id",
        "region",
        "resource_type",
        "rule_name",
    ])
    .default_sort("last_detected|desc")
    .pipe_sort();

const SEARCH_ASSETS: Search = Search::new("cloud_security_assets_queries", "cloud assets")
    .hydrate(ASSETS)
    .summary(&[
        "id",
        "resource_id",
        "resource_name",
        "resource_type",
        "cloud_provider",
        "account_id",
        "region",
        "service",
        "publicly_exposed",
        "cloud_context.has_falcon_sensor",
        "cloud_context.host.aid",
        "cloud_context.detections.iom_counts",
        "cloud_context.detections.highest_severity",
        "cloud_context.cloud_risks.openRiskCount",
    ])
    .sortable(&[
        "resource_name",
        "resource_type",
        "account_id",
        "region",
        "first_seen",
        "updated_at",
    ])
    .default_sort("resource_name|asc")
    .pipe_sort();

/// Arguments of `cloud_search_ioms`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct IomArgs {
    provider: Option<Provider>,
    account_id: Option<String>,
    region: Option<String>,
    severity: Option<Severity>,
    /// e.g. AWS::S3::Bucket
    resource_type: Option<String>,
    /// FQL, ANDed
    filter: Option<String>,
    /// field|desc
    sort: Option<String>,
    #[schemars(range(min = 1, max = 100))]
    #[serde(default = "d20")]
    limit: u32,
    #[serde(default)]
    offset: u32,
}

/// The filters every cloud search shares.
fn common(
    provider: Option<Provider>,
    account: Option<&str>,
    region: Option<&str>,
    resource_type: Option<&str>,
) -> Result<Fql, ToolError> {
    let account = account.map(account_id).transpose()?;
    let region = opt_word(region, "region")?;
    let resource_type = opt_word(resource_type, "resource_type")?;
    Ok(Fql::new()
        .opt(provider, |f, p| f.eq("cloud_provider", p.as_str()))
        .opt(account, |f, a| f.eq("account_id", a))
        .opt(region, |f, r| f.eq("region", r))
        .opt(resource_type, |f, t| f.eq("resource_type", t)))
}

impl SearchArgs for IomArgs {
    fn fql(&self) -> Result<Fql, ToolError> {
        Ok(common(
            self.provider,
            self.account_id.as_deref(),
            self.region.as_deref(),
            self.resource_type.as_deref(),
        )?
        .opt(self.severity, |f, s| f.eq("severity", s.as_str())))
    }

    fn page(&self) -> Page<'_> {
        Page::offset(
            self.filter.as_deref(),
            self.sort.as_deref(),
            self.limit,
            self.offset,
        )
    }
}

/// Arguments of `cloud_search_assets`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct AssetArgs {
    provider: Option<Provider>,
    account_id: Option<String>,
    region: Option<String>,
    /// e.g. AWS::EC2::Instance
    resource_type: Option<String>,
    exposed: Option<bool>,
    /// FQL, ANDed
    filter: Option<String>,
    /// field|desc
    sort: Option<String>,
    #[schemars(range(min = 1, max = 100))]
    #[serde(default = "d20")]
    limit: u32,
    #[serde(default)]
    offset: u32,
}

impl SearchArgs for AssetArgs {
    fn fql(&self) -> Result<Fql, ToolError> {
        Ok(common(
            self.provider,
            self.account_id.as_deref(),
            self.region.as_deref(),
            self.resource_type.as_deref(),
        )?
        .opt(self.exposed, |f, e| f.eq("publicly_exposed", e)))
    }

    fn page(&self) -> Page<'_> {
        Page::offset(
            self.filter.as_deref(),
            self.sort.as_deref(),
            self.limit,
            self.offset,
        )
    }
}

/// Cloud asset ids: printable, no spaces.
fn asset_id(s: &str) -> Result<String, ToolError> {
    let v = s.trim();
    if !v.is_empty() && v.len() <= 512 && v.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(v.to_string())
    } else {
        Err(ToolError::invalid(format!(
            "`{s}` is not a cloud asset id (the `id` of a cloud_search_assets result)"
        )))
    }
}

const GET_ASSETS: Get = Get::new(ASSETS, "cloud asset id", "assets", asset_id);

// ---------------------------------------------------------------------------------------------
// Compliance.

/// Compliance rows fetched per call (one row per account, region, resource type and control).
const COMPLIANCE_ROWS: u32 = 1000;

/// Failing controls listed per account and region (the worst; all are counted).
const FAILING_SHOWN: usize = 3;

/// Arguments of `cloud_compliance_by_account`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ComplianceArgs {
    provider: Option<Provider>,
    account_id: Option<String>,
    region: Option<String>,
    /// e.g. CIS AWS Foundations
    framework: Option<String>,
}

fn compliance(ctx: &Ctx<'_>, a: ComplianceArgs) -> Result<Output, ToolError> {
    let framework = opt_word(a.framework.as_deref(), "framework")?;
    let filter = common(
        a.provider,
        a.account_id.as_deref(),
        a.region.as_deref(),
        None,
    )?
    .opt(framework, |f, x| f.eq("control.framework", x))
    .build();
    let env = ctx
        .op("cloud_security_assets_combined_compliance_by_account")
        .query_opt("filter", filter)
        .query("limit", COMPLIANCE_ROWS)
        .envelope()?;
    let total_rows = env.total();
    // Roll the rows up per account and region; list the failing controls, worst first.
    let mut groups: Vec<Value> = Vec::new();
    for r in &env.resources {
        let counts = &r["resource_counts"];
        let (ok, bad) = (
            counts["compliant"].as_u64().unwrap_or(0),
            counts["non_compliant"].as_u64().unwrap_or(0),
        );
        let key = (&r["account_id"], &r["region"]);
        let g = match groups
            .iter_mut()
            .position(|g| (&g["account_id"], &g["region"]) == key)
        {
            Some(i) => &mut groups[i],
            None => {
                groups.push(
                    json!({"account_id": r["account_id"], "account_name": r["account_name"],
                                   "provider": r["cloud_provider"], "region": r["region"],
                                   "compliant": 0, "non_compliant": 0, "failing": []}),
                );
                groups.last_mut().expect("just pushed")
            }
        };
        g["compliant"] = json!(g["compliant"].as_u64().unwrap_or(0) + ok);
        g["non_compliant"] = json!(g["non_compliant"].as_u64().unwrap_or(0) + bad);
        if bad > 0
            && let Some(f) = g["failing"].as_array_mut()
        {
            let control = format!(
                "{} {}",
                r["control"]["framework"].as_str().unwrap_or_default(),
                r["control"]["name"].as_str().unwrap_or_default()
            );
            f.push(json!({"control": control, "rule": r["rules"][0]["name"],
                          "non_compliant": bad, "severity": r["severities"][0]}));
        }
    }
    for g in &mut groups {
        let (ok, bad) = (
            g["compliant"].as_u64().unwrap_or(0),
            g["non_compliant"].as_u64().unwrap_or(0),
        );
        let rate = if ok + bad == 0 {
            100.0
        } else {
            (ok as f64 * 1000.0 / (ok + bad) as f64).round() / 10.0
        };
        g["pass_rate"] = json!(rate);
        let mut failing = g["failing"].as_array().cloned().unwrap_or_default();
        failing.sort_by_key(|x| std::cmp::Reverse(x["non_compliant"].as_u64().unwrap_or(0)));
        g["failing_controls"] = json!(failing.len());
        failing.truncate(FAILING_SHOWN);
        g["failing"] = Value::Array(failing);
    }
    groups.sort_by(|x, y| {
        x["pass_rate"]
            .as_f64()
            .partial_cmp(&y["pass_rate"].as_f64())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let partial = if (env.resources.len() as u64) < total_rows {
        format!(
            " (from the first {} of {total_rows} rows; narrow by provider, account or region)",
            env.resources.len()
        )
    } else {
        String::new()
    };
    Ok(Output::json(
        format!(
            "Compliance of {} account/region pair(s), lowest pass rate first{partial}.",
            groups.len()
        ),
        &json!({"accounts": groups, "rows": env.resources.len(), "total_rows": total_rows}),
    ))
}

/// The `cloud` plugin.
pub fn plugin() -> Plugin {
    Plugin::new(
        "cloud",
        env!("CARGO_PKG_VERSION"),
        "Falcon cloud security: accounts, policies, risks, IOMs, assets, compliance",
    )
    .tool(
        ToolSpec::read(
            "cloud_list_accounts",
            "List cloud accounts",
            "Registered accounts: status, regions, problems",
        )
        .ops(&[
            "GetCSPMAwsAccount",
            "GetCSPMAzureAccount",
            "GetCSPMGCPAccount",
        ])
        .output(Shape::List("accounts")),
        list_accounts,
    )
    .tool(
        ToolSpec::read(
            "cloud_policy_settings",
            "CSPM policy settings",
            "CSPM policies: severity, benchmarks, accounts where disabled",
        )
        .ops(&["GetCSPMPolicySettings"])
        .output(Shape::List("policies")),
        policy_settings,
    )
    .tool(
        ToolSpec::read(
            "cloud_search_risks",
            "Search cloud risks",
            "Risks ranked by score, by provider, account, severity, status or FQL",
        )
        .ops(&["combined_cloud_risks"])
        .output(Shape::Fields("results:array total:integer ranked:integer"))
        .guide(GUIDE),
        risks,
    )
    .search::<IomArgs>(
        ToolSpec::read(
            "cloud_search_ioms",
            "Search IOMs",
            "Misconfigurations (IOMs) with remediation, by account, region, severity or FQL",
        )
        .ops(&[
            "cspm_evaluations_iom_queries",
            "cspm_evaluations_iom_entities",
        ])
        .guide(GUIDE),
        &SEARCH_IOMS,
    )
    .search::<AssetArgs>(
        ToolSpec::read(
            "cloud_search_assets",
            "Search cloud assets",
            "Cloud resources by account, region, type, exposure or FQL (falcon://fql/cloud)",
        )
        .ops(&[
            "cloud_security_assets_queries",
            "cloud_security_assets_entities_get",
        ])
        .guide(GUIDE),
        &SEARCH_ASSETS,
    )
    .get(
        ToolSpec::read(
            "cloud_get_assets",
            "Get cloud assets",
            "Full resource records: configuration, detections, risks, host",
        )
        .ops(&["cloud_security_assets_entities_get"]),
        &GET_ASSETS,
    )
    .tool(
        ToolSpec::read(
            "cloud_compliance_by_account",
            "Cloud compliance",
            "Pass rate and failing controls per account and region",
        )
        .ops(&["cloud_security_assets_combined_compliance_by_account"])
        .output(Shape::Fields(
            "accounts:array rows:integer total_rows:integer",
        ))
        .guide(GUIDE),
        compliance,
    )
    .resource(Resource::markdown(
        GUIDE,
        "Cloud security FQL",
        "FQL fields for cloud IOMs, assets, risks and compliance",
        include_str!("fql_cloud.md"),
    ))
}

aerie_sdk::export_plugin!(plugin);

#[cfg(test)]
mod tests;
