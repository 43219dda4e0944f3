//! The `spotlight` tool group: vulnerability findings per host, their remediations and the
//! evaluations Falcon supports (Falcon Spotlight, reference part 2 §2). Spotlight needs a filter
//! on every query and pages with `after` cursors; hostnames are resolved to AIDs through the
//! hosts API, since Spotlight filters hosts by AID only.

use aerie_sdk::fql::Fql;
use aerie_sdk::{
    Ctx, Get, Hydrate, Output, Page, Plugin, Resource, Search, SearchArgs, Shape, ToolError,
    ToolSpec, ids, prune,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

const GUIDE: &str = "falcon://fql/spotlight-vulnerabilities";

const VULNS: Hydrate = Hydrate::query("getVulnerabilities", "ids", 400).ordered_by("id");
const REMEDIATIONS: Hydrate = Hydrate::query("getRemediationsV2", "ids", 400).ordered_by("id");

const SORTABLE: &[&str] = &["created_timestamp", "updated_timestamp", "closed_timestamp"];
const NEEDS_FILTER: &str = "give hostname, aid, cve, severity, status, exploit_status or filter";

/// Findings with the blocks a summary needs (`host_info`, `cve` and `remediation` facets).
const COMBINED: Search = Search::new("combinedQueryVulnerabilities", "vulnerabilities")
    .cursor_paged()
    .pipe_sort()
    .sortable(SORTABLE)
    .default_sort("updated_timestamp|desc")
    .with_query(&[
        ("facet", "cve"),
        ("facet", "host_info"),
        ("facet", "remediation"),
    ])
    .filter_required(NEEDS_FILTER);

/// Finding ids only.
const IDS: Search = Search::new("queryVulnerabilities", "ids")
    .cursor_paged()
    .pipe_sort()
    .sortable(SORTABLE)
    .default_sort("updated_timestamp|desc")
    .filter_required(NEEDS_FILTER);

const SUPPORTED: Search = Search::new("combinedSupportedEvaluationExt", "evaluations")
    .cursor_paged()
    .pipe_sort()
    .sortable(&["created_timestamp", "updated_timestamp"])
    .summary(&[
        "risk_id",
        "platform",
        "risk_provider",
        "finding_provider_full_name",
        "updated_timestamp",
    ])
    .filter_required("give cve, platform or filter");

const GET: Get =
    Get::new(VULNS, "vulnerability id", "vulnerabilities", vuln_id).ids_doc("<aid>_<hash>");
const GET_REMEDIATIONS: Get = Get::new(REMEDIATIONS, "remediation id", "remediations", |s| {
    ids::hex32(s, "remediation id")
})
.ids_doc("32 hex");

fn d100() -> u32 {
    100
}

/// A finding id: `<aid>_<hash>` as Spotlight returns them; checked loosely (unmanaged assets
/// have other asset ids) but never passed through with characters an id cannot have.
fn vuln_id(s: &str) -> Result<String, ToolError> {
    let v = s.trim();
    if !v.is_empty()
        && v.len() <= 128
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        Ok(v.to_string())
    } else {
        Err(ToolError::invalid(format!(
            "`{s}` is not a vulnerability id: expected letters, digits, `_` and `-` as in <aid>_<hash>"
        )))
    }
}

/// `CVE-YYYY-NNNN…`, upper-cased (Spotlight matches CVE ids exactly).
fn cve_id(s: &str) -> Result<String, ToolError> {
    let v = s.trim().to_ascii_uppercase();
    let ok = v
        .strip_prefix("CVE-")
        .and_then(|r| r.split_once('-'))
        .is_some_and(|(y, n)| {
            y.len() == 4
                && n.len() >= 4
                && y.bytes().all(|b| b.is_ascii_digit())
                && n.bytes().all(|b| b.is_ascii_digit())
        });
    if ok {
        Ok(v)
    } else {
        Err(ToolError::invalid(format!(
            "`{s}` is not a CVE id: expected CVE-YYYY-NNNN"
        )))
    }
}

// CVSS severity.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Severity {
    Critical,
    High,
    Medium,
    Low,
}

// Finding status.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Status {
    Open,
    Closed,
    Reopen,
    Expired,
}

// Exploit maturity (available 30, easily_accessible 60, actively_used 90; unproven is 0).
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Exploit {
    Available,
    EasilyAccessible,
    ActivelyUsed,
}

impl Exploit {
    /// The `cve.exploit_status` values at or above this one (the field is a string enum).
    fn at_least(self) -> &'static [&'static str] {
        match self {
            Exploit::Available => &["30", "60", "90"],
            Exploit::EasilyAccessible => &["60", "90"],
            Exploit::ActivelyUsed => &["90"],
        }
    }
}

/// Arguments of `spotlight_search` and `spotlight_query`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct VulnArgs {
    hostname: Option<String>,
    aid: Option<String>,
    cve: Option<String>,
    severity: Option<Severity>,
    status: Option<Status>,
    /// At least
    exploit_status: Option<Exploit>,
    /// FQL, ANDed
    filter: Option<String>,
    /// field.desc
    sort: Option<String>,
    #[schemars(range(min = 1, max = 400))]
    limit: Option<u32>,
    /// Cursor from next
    after: Option<String>,
}

/// [`VulnArgs`] with the hostname resolved to AIDs: what the declared searches see.
struct Resolved<'a> {
    args: &'a VulnArgs,
    aids: Vec<String>,
    limit: u32,
}

impl SearchArgs for Resolved<'_> {
    fn fql(&self) -> Result<Fql, ToolError> {
        let a = self.args;
        let cve = a.cve.as_deref().map(cve_id).transpose()?;
        Ok(Fql::new()
            .any_of("aid", self.aids.iter())
            .opt(cve, |f, c| f.any_of("cve.id", [c]))
            .opt(a.severity, |f, s| {
                f.eq("cve.severity", format!("{s:?}").to_uppercase())
            })
            .opt(a.status, |f, s| {
                f.eq("status", format!("{s:?}").to_lowercase())
            })
            .opt(a.exploit_status, |f, e| {
                f.any_of("cve.exploit_status", e.at_least().iter().copied())
            }))
    }

    fn page(&self) -> Page<'_> {
        Page::after(
            self.args.filter.as_deref(),
            self.args.sort.as_deref(),
            self.limit,
            self.args.after.as_deref(),
        )
    }
}

/// The AIDs of hosts named `hostname` (exact, or `*` wildcards), at most 100.
fn resolve_host(ctx: &Ctx<'_>, hostname: &str) -> Result<Vec<String>, ToolError> {
    let name = hostname.trim();
    if name.is_empty() {
        return Err(ToolError::invalid("hostname must not be empty"));
    }
    let filter = Fql::new().eq("hostname", name).build();
    let aids = ctx
        .op("QueryDevicesByFilter")
        .query_opt("filter", filter)
        .query("limit", 100)
        .envelope()?
        .ids();
    if aids.is_empty() {
        return Err(ToolError::not_found(format!("host named `{name}`")));
    }
    Ok(aids)
}

fn resolve<'a>(ctx: &Ctx<'_>, a: &'a VulnArgs, limit: u32) -> Result<Resolved<'a>, ToolError> {
    let mut aids = Vec::new();
    if let Some(aid) = &a.aid {
        aids.push(ids::aid(aid)?);
    }
    if let Some(h) = &a.hostname {
        if !aids.is_empty() {
            return Err(ToolError::invalid("give hostname or aid, not both"));
        }
        aids = resolve_host(ctx, h)?;
    }
    Ok(Resolved {
        args: a,
        aids,
        limit,
    })
}

/// One finding in a few fields: what a triage list needs.
fn brief(v: &Value) -> Value {
    let cve = &v["cve"];
    let mut b = json!({
        "id": v["id"], "aid": v["aid"], "hostname": v["host_info"]["hostname"],
        "status": v["status"], "cve": cve["id"], "severity": cve["severity"],
        "base_score": cve["base_score"], "exprt_rating": cve["exprt_rating"],
        "exploit_status": cve["exploit_status"], "actors": cve["actors"],
        "product": v["apps"][0]["product_name_version"],
        "remediation": v["remediation"]["entities"][0]["action"],
        "updated": v["updated_timestamp"],
    });
    if cve["cisa_info"]["is_cisa_kev"] == true {
        b["cisa_kev"] = json!(true);
    }
    prune(b)
}

fn search(ctx: &Ctx<'_>, a: VulnArgs) -> Result<Output, ToolError> {
    let r = resolve(ctx, &a, a.limit.unwrap_or(20))?;
    Ok(COMBINED
        .results(ctx, &r)?
        .map(brief)
        .into_output("vulnerabilities"))
}

fn query(ctx: &Ctx<'_>, a: VulnArgs) -> Result<Output, ToolError> {
    let r = resolve(ctx, &a, a.limit.unwrap_or(100))?;
    IDS.run(ctx, &r)
}

// Operating system platform.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
enum Platform {
    Windows,
    Mac,
    Linux,
}

/// Arguments of `spotlight_supported_evaluations`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SupportedArgs {
    cve: Option<String>,
    platform: Option<Platform>,
    /// FQL, ANDed
    filter: Option<String>,
    #[schemars(range(min = 1, max = 400))]
    #[serde(default = "d100")]
    limit: u32,
    /// Cursor from next
    after: Option<String>,
}

impl SearchArgs for SupportedArgs {
    fn fql(&self) -> Result<Fql, ToolError> {
        let cve = self.cve.as_deref().map(cve_id).transpose()?;
        Ok(Fql::new()
            .opt(cve, |f, c| f.eq("risk_id", c))
            .opt(self.platform, |f, p| f.eq("platform", format!("{p:?}"))))
    }

    fn page(&self) -> Page<'_> {
        Page::after(
            self.filter.as_deref(),
            None,
            self.limit,
            self.after.as_deref(),
        )
    }
}

/// Arguments of `spotlight_host_vulns`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct HostArgs {
    /// Hostname or AID
    host: String,
}

/// Most findings `spotlight_host_vulns` collects (two full pages).
const HOST_MAX: usize = 1000;
const HOST_PAGE: u32 = 500;

fn host_vulns(ctx: &Ctx<'_>, a: HostArgs) -> Result<Output, ToolError> {
    let h = a.host.trim();
    let aid = match ids::aid(h) {
        Ok(aid) => aid,
        Err(_) => {
            let aids = resolve_host(ctx, h)?;
            if aids.len() > 1 {
                return Err(ToolError::invalid(format!(
                    "`{h}` names {} hosts; give one AID: {}",
                    aids.len(),
                    aids.join(", ")
                )));
            }
            aids.into_iter().next().unwrap_or_default()
        }
    };
    let filter = Fql::new()
        .eq("aid", aid.as_str())
        .any_of("status", ["open", "reopen"])
        .build();
    let mut found: Vec<Value> = Vec::new();
    let mut after: Option<String> = None;
    let mut total;
    loop {
        let env = ctx
            .op("combinedQueryVulnerabilities")
            .query_opt("filter", filter.clone())
            .query("limit", HOST_PAGE)
            .query_all("facet", ["cve", "host_info", "remediation"])
            .query_opt("after", after.take())
            .envelope()?;
        total = env.total();
        let cursor = env.cursor();
        let n = env.resources.len();
        found.extend(env.resources);
        match cursor {
            Some(c) if n == HOST_PAGE as usize && found.len() < HOST_MAX => after = Some(c),
            _ => break,
        }
    }
    let hostname = found
        .first()
        .map(|v| v["host_info"]["hostname"].clone())
        .unwrap_or(Value::Null);
    let mut list: Vec<Value> = found
        .iter()
        .map(|v| {
            let mut b = brief(v);
            if let Value::Object(m) = &mut b {
                m.remove("aid");
                m.remove("hostname");
            }
            b
        })
        .collect();
    // Worst first: exploitation, then score.
    list.sort_by(|x, y| {
        let key = |v: &Value| {
            (
                v["exploit_status"].as_u64().unwrap_or(0),
                v["base_score"].as_f64().unwrap_or(0.0),
            )
        };
        key(y)
            .partial_cmp(&key(x))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut by_severity = serde_json::Map::new();
    for v in &list {
        let s = v["severity"].as_str().unwrap_or("UNKNOWN").to_string();
        let n = by_severity.get(&s).and_then(Value::as_u64).unwrap_or(0);
        by_severity.insert(s, json!(n + 1));
    }
    let mut out = json!({
        "aid": aid, "hostname": hostname, "total": total,
        "by_severity": by_severity, "vulnerabilities": list,
    });
    if (total as usize) > list.len() {
        out["truncated"] = json!(true);
    }
    let summary = if list.is_empty() {
        format!("No open vulnerabilities on {h}.")
    } else {
        format!("{} open vulnerabilities on {h}, worst first.", list.len())
    };
    Ok(Output::json(summary, &out))
}

/// The `spotlight` plugin.
pub fn plugin() -> Plugin {
    Plugin::new(
        "spotlight",
        env!("CARGO_PKG_VERSION"),
        "Falcon Spotlight: vulnerability findings, remediations, supported evaluations",
    )
    .tool(
        ToolSpec::read(
            "spotlight_search",
            "Search vulnerabilities",
            "Findings by host, CVE, severity, status or exploit status, summarised",
        )
        .ops(&["combinedQueryVulnerabilities", "QueryDevicesByFilter"])
        .guide(GUIDE)
        .output(Shape::Search),
        search,
    )
    .tool(
        ToolSpec::read(
            "spotlight_query",
            "Query vulnerability ids",
            "Finding ids (filters as spotlight_search), for bulk work",
        )
        .ops(&["queryVulnerabilities", "QueryDevicesByFilter"])
        .guide(GUIDE)
        .output(Shape::Search),
        query,
    )
    .get(
        ToolSpec::read(
            "spotlight_get",
            "Get vulnerabilities",
            "Full findings by id: CVE details, host, apps, remediation",
        )
        .ops(&["getVulnerabilities"]),
        &GET,
    )
    .get(
        ToolSpec::read(
            "spotlight_get_remediations",
            "Get remediations",
            "Remediations by id: title, action, vendor link",
        )
        .ops(&["getRemediationsV2"]),
        &GET_REMEDIATIONS,
    )
    .tool(
        ToolSpec::read(
            "spotlight_host_vulns",
            "Host vulnerabilities",
            "Open findings of one host, worst first, with counts by severity",
        )
        .ops(&["combinedQueryVulnerabilities", "QueryDevicesByFilter"])
        .output(Shape::Fields(
            "aid:string hostname:string|null total:integer by_severity:object vulnerabilities:array truncated?:boolean",
        )),
        host_vulns,
    )
    .search::<SupportedArgs>(
        ToolSpec::read(
            "spotlight_supported_evaluations",
            "Supported evaluations",
            "Which CVEs can be evaluated, per platform and provider",
        )
        .ops(&["combinedSupportedEvaluationExt"])
        .guide(GUIDE),
        &SUPPORTED,
    )
    .resource(Resource::markdown(
        GUIDE,
        "Spotlight FQL guide",
        "FQL fields and rules for Spotlight vulnerability filters",
        include_str!("fql_spotlight.md"),
    ))
}

aerie_sdk::export_plugin!(plugin);

#[cfg(test)]
mod tests;
