//! The `intel` tool group: Falcon Intelligence actors, indicators and reports (FQL and free
//! text), each by id, an actor's MITRE ATT&CK techniques and a report's PDF saved into the
//! operator's files directory (reference part 2 §3). Intel dates are epoch seconds; actor and
//! report ids are integers.

use aerie_sdk::fql::Fql;
use aerie_sdk::{
    Ctx, Get, Hydrate, Output, Page, Plugin, Resource, Search, SearchArgs, Shape, ToolError,
    ToolSpec, project, prune,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

const ACTOR_GUIDE: &str = "falcon://fql/intel-actors";
const INDICATOR_GUIDE: &str = "falcon://fql/intel-indicators";
const REPORT_GUIDE: &str = "falcon://fql/intel-reports";

/// Full documents: the default `__basic__` field set leaves out targets and descriptions.
const FULL: &[(&str, &str)] = &[("fields", "__full__")];

const ACTORS: Hydrate = Hydrate::query("GetIntelActorEntities", "ids", 100)
    .ordered_by("id")
    .with_query(FULL);
const REPORTS: Hydrate = Hydrate::query("GetIntelReportEntities", "ids", 100)
    .ordered_by("id")
    .with_query(FULL);
const INDICATORS: Hydrate =
    Hydrate::body("GetIntelIndicatorEntities", "ids", 1000).ordered_by("id");

const SEARCH_ACTORS: Search = Search::new("QueryIntelActorEntities", "actors")
    .with_query(FULL)
    .pipe_sort()
    .sortable(&[
        "name",
        "created_date",
        "last_activity_date",
        "last_modified_date",
    ])
    .default_sort("last_activity_date|desc")
    .summary(&[
        "id",
        "name",
        "slug",
        "known_as",
        "animal_classifier",
        "actor_type",
        "short_description",
        "origins",
        "motivations",
        "target_industries",
        "target_countries",
        "last_activity_date",
    ]);

const SEARCH_INDICATORS: Search = Search::new("QueryIntelIndicatorEntities", "indicators")
    .with_query(&[("include_relations", "false")])
    .pipe_sort()
    .sortable(&["published_date", "last_updated", "_marker"])
    .default_sort("published_date|desc")
    .summary(&[
        "id",
        "indicator",
        "type",
        "malicious_confidence",
        "published_date",
        "last_updated",
        "actors",
        "malware_families",
        "kill_chains",
        "threat_types",
        "reports",
        "vulnerabilities",
    ]);

const SEARCH_REPORTS: Search = Search::new("QueryIntelReportEntities", "reports")
    .with_query(FULL)
    .pipe_sort()
    .sortable(&["name", "created_date", "last_modified_date"])
    .default_sort("created_date|desc")
    .summary(&[
        "id",
        "name",
        "slug",
        "type.name",
        "created_date",
        "short_description",
        "actors",
        "target_industries",
        "malware",
        "url",
    ]);

const GET_ACTOR: Get =
    Get::new(ACTORS, "actor id", "actors", |s| numeric(s, "actor id")).ids_doc("Numeric");
const GET_REPORT: Get =
    Get::new(REPORTS, "report id", "reports", |s| numeric(s, "report id")).ids_doc("Numeric");
const GET_INDICATOR: Get =
    Get::new(INDICATORS, "indicator id", "indicators", indicator_id).ids_doc("<type>_<value>");

fn d10() -> u32 {
    10
}

/// A numeric Intel id (actors, reports).
fn numeric(s: &str, what: &str) -> Result<String, ToolError> {
    let v = s.trim();
    if !v.is_empty() && v.len() <= 19 && v.bytes().all(|b| b.is_ascii_digit()) {
        Ok(v.to_string())
    } else {
        Err(ToolError::invalid(format!(
            "`{s}` is not a {what}: expected digits (search first to find ids)"
        )))
    }
}

/// An indicator id `<type>_<value>` (`hash_sha256_…`, `domain_example.org`).
fn indicator_id(s: &str) -> Result<String, ToolError> {
    let v = s.trim();
    let ok = v.contains('_')
        && v.len() <= 2048
        && !v.chars().any(|c| c.is_control() || c.is_whitespace());
    if ok {
        Ok(v.to_string())
    } else {
        Err(ToolError::invalid(format!(
            "`{s}` is not an indicator id: expected <type>_<value>, e.g. domain_example.org"
        )))
    }
}

/// Intel's slug spelling of a name (`GILDED SPIDER` → `gilded-spider`).
fn slug(name: &str) -> String {
    let s = name.trim().to_lowercase().replace([' ', '.', '/'], "-");
    // Indicators name actors without the space ("GILDEDSPIDER"); CrowdStrike's names end in the
    // animal of their nexus, so the slug is recovered by splitting it off.
    if !s.contains('-')
        && let Some(animal) = ANIMALS
            .iter()
            .find(|a| s.len() > a.len() && s.ends_with(*a))
    {
        return format!("{}-{animal}", &s[..s.len() - animal.len()]);
    }
    s
}

/// The animals of CrowdStrike's adversary naming (one per nexus or motivation).
const ANIMALS: &[&str] = &[
    "bear", "buffalo", "chollima", "crane", "hawk", "jackal", "kitten", "leopard", "lynx",
    "ocelot", "panda", "sphinx", "spider", "tiger", "wolf",
];

/// `[{id, slug, value}]` taxonomy lists (and `[{name, …}]` actor lists) as plain strings, so a
/// summary reads `"target_industries": ["Government"]`.
fn flatten_lists(v: Value) -> Value {
    let Value::Object(mut m) = v else { return v };
    for (_, field) in m.iter_mut() {
        if let Value::Array(items) = field {
            for it in items.iter_mut() {
                let name = ["value", "name", "family_name"]
                    .iter()
                    .find_map(|k| it.get(*k).and_then(Value::as_str).map(str::to_string));
                if let Some(n) = name {
                    *it = Value::String(n);
                }
            }
        }
    }
    Value::Object(m)
}

/// Page arguments shared by the three searches.
fn offset_page<'a>(
    filter: &'a Option<String>,
    sort: &'a Option<String>,
    limit: u32,
    offset: u32,
) -> Page<'a> {
    Page::offset(filter.as_deref(), sort.as_deref(), limit, offset)
}

/// Arguments of `intel_search_actors`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ActorArgs {
    /// Free text
    q: Option<String>,
    name: Option<String>,
    /// BEAR, SPIDER…
    animal: Option<String>,
    /// e.g. Government
    industry: Option<String>,
    /// FQL, ANDed
    filter: Option<String>,
    /// field.desc
    sort: Option<String>,
    #[schemars(range(min = 1, max = 100))]
    #[serde(default = "d10")]
    limit: u32,
    #[serde(default)]
    offset: u32,
}

impl SearchArgs for ActorArgs {
    fn fql(&self) -> Result<Fql, ToolError> {
        Ok(Fql::new()
            .opt(self.name.as_deref(), |f, n| f.eq("slug", slug(n)))
            .opt(self.animal.as_deref(), |f, a| {
                f.eq("animal_classifier", a.trim().to_uppercase())
            })
            .opt(self.industry.as_deref(), |f, i| {
                f.eq("target_industries.slug", slug(i))
            }))
    }
    fn page(&self) -> Page<'_> {
        offset_page(&self.filter, &self.sort, self.limit, self.offset)
    }
    fn text(&self) -> Option<&str> {
        self.q.as_deref()
    }
}

// Malicious confidence.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Confidence {
    High,
    Medium,
    Low,
    Unverified,
}

/// Arguments of `intel_search_indicators`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct IndicatorArgs {
    /// Exact value
    indicator: Option<String>,
    actor: Option<String>,
    malware: Option<String>,
    /// e.g. CSIT-25042
    report: Option<String>,
    cve: Option<String>,
    confidence: Option<Confidence>,
    /// Free text
    q: Option<String>,
    /// FQL, ANDed
    filter: Option<String>,
    /// field.desc
    sort: Option<String>,
    #[schemars(range(min = 1, max = 100))]
    #[serde(default = "d10")]
    limit: u32,
    #[serde(default)]
    offset: u32,
}

/// An indicator value as Intel stores it: hex hashes in lower case, the rest trimmed.
fn indicator_value(v: &str) -> String {
    let v = v.trim();
    let hex = v.bytes().all(|b| b.is_ascii_hexdigit());
    if hex && matches!(v.len(), 32 | 40 | 64) {
        v.to_ascii_lowercase()
    } else {
        v.to_string()
    }
}

impl SearchArgs for IndicatorArgs {
    fn fql(&self) -> Result<Fql, ToolError> {
        Ok(Fql::new()
            .opt(self.indicator.as_deref(), |f, v| {
                f.eq("indicator", indicator_value(v))
            })
            .opt(self.actor.as_deref(), |f, a| {
                f.eq("actors", a.trim().to_uppercase().replace(' ', ""))
            })
            .opt(self.malware.as_deref(), |f, m| {
                f.eq("malware_families", m.trim())
            })
            .opt(self.report.as_deref(), |f, r| {
                f.eq("reports", r.trim().to_uppercase())
            })
            .opt(self.cve.as_deref(), |f, c| {
                f.eq("vulnerabilities", c.trim().to_uppercase())
            })
            .opt(self.confidence, |f, c| {
                f.eq("malicious_confidence", format!("{c:?}").to_lowercase())
            }))
    }
    fn page(&self) -> Page<'_> {
        offset_page(&self.filter, &self.sort, self.limit, self.offset)
    }
    fn text(&self) -> Option<&str> {
        self.q.as_deref()
    }
}

/// Arguments of `intel_search_reports`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ReportArgs {
    /// Free text
    q: Option<String>,
    actor: Option<String>,
    /// FQL, ANDed
    filter: Option<String>,
    /// field.desc
    sort: Option<String>,
    #[schemars(range(min = 1, max = 100))]
    #[serde(default = "d10")]
    limit: u32,
    #[serde(default)]
    offset: u32,
}

impl SearchArgs for ReportArgs {
    fn fql(&self) -> Result<Fql, ToolError> {
        Ok(Fql::new().opt(self.actor.as_deref(), |f, a| f.eq("actors.slug", slug(a))))
    }
    fn page(&self) -> Page<'_> {
        offset_page(&self.filter, &self.sort, self.limit, self.offset)
    }
    fn text(&self) -> Option<&str> {
        self.q.as_deref()
    }
}

fn search_actors(ctx: &Ctx<'_>, a: ActorArgs) -> Result<Output, ToolError> {
    Ok(SEARCH_ACTORS
        .results(ctx, &a)?
        .map(|v| flatten_lists(v.clone()))
        .into_output("actors"))
}

fn search_reports(ctx: &Ctx<'_>, a: ReportArgs) -> Result<Output, ToolError> {
    Ok(SEARCH_REPORTS
        .results(ctx, &a)?
        .map(|v| flatten_lists(v.clone()))
        .into_output("reports"))
}

/// Arguments naming one actor.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ActorRef {
    /// Actor id, slug or name
    actor: String,
}

/// The actor `r` names (numeric id, slug or name), with its id, name and slug.
fn find_actor(ctx: &Ctx<'_>, r: &str) -> Result<Value, ToolError> {
    let r = r.trim();
    if r.is_empty() {
        return Err(ToolError::invalid("actor must not be empty"));
    }
    let found = if r.bytes().all(|b| b.is_ascii_digit()) {
        ctx.hydrate(&ACTORS, &[r.to_string()])?
    } else {
        ctx.op("QueryIntelActorEntities")
            .query_opt("filter", Fql::new().eq("slug", slug(r)).build())
            .query("limit", 1)
            .envelope()?
            .resources
    };
    found
        .into_iter()
        .next()
        .map(|a| project(&a, &["id", "name", "slug"]))
        .ok_or_else(|| {
            ToolError::not_found(format!(
                "actor `{r}` (intel_search_actors lists actors and their ids)"
            ))
        })
}

fn techniques(ctx: &Ctx<'_>, a: ActorRef) -> Result<Output, ToolError> {
    let actor = find_actor(ctx, &a.actor)?;
    let id = match &actor["id"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let reply = ctx
        .op("GetMitreReport")
        .query("actor_id", &id)
        .query("format", "json")
        .send()?;
    // An actor without mapped techniques answers an empty body or `null`.
    let rows: Option<Vec<Value>> = if reply.body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        reply.json()?
    };
    let mut rows: Vec<Value> = rows
        .unwrap_or_default()
        .into_iter()
        .map(|r| {
            prune(project(
                &r,
                &[
                    "tactic_id",
                    "tactic_name",
                    "technique_id",
                    "technique_name",
                    "reports",
                    "observables",
                ],
            ))
        })
        .collect();
    rows.sort_by(|x, y| {
        let k = |v: &Value| {
            (
                v["tactic_id"].as_str().unwrap_or("").to_string(),
                v["technique_id"].as_str().unwrap_or("").to_string(),
            )
        };
        k(x).cmp(&k(y))
    });
    let name = actor["name"].as_str().unwrap_or(&id).to_string();
    Ok(Output::json(
        format!("{} ATT&CK techniques of {name}.", rows.len()),
        &json!({"actor": actor, "techniques": rows}),
    ))
}

/// Arguments of `intel_download_report`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct DownloadArgs {
    /// Id or serial (CSIT-25042)
    report: String,
    /// Default <slug>.pdf
    save_as: Option<String>,
}

fn plain_name(name: &str) -> Result<String, ToolError> {
    let n = name.trim();
    let ok = !n.is_empty()
        && n.len() <= 255
        && !n.starts_with('.')
        && !n.contains(['/', '\\', '"', '\''])
        && !n.chars().any(char::is_control);
    if ok {
        Ok(n.to_string())
    } else {
        Err(ToolError::invalid(format!(
            "save_as `{name}` must be a plain file name (no path separators, quotes or leading dot)"
        )))
    }
}

fn download(ctx: &Ctx<'_>, a: DownloadArgs) -> Result<Output, ToolError> {
    let save_as = a.save_as.as_deref().map(plain_name).transpose()?;
    let r = a.report.trim();
    if r.is_empty() {
        return Err(ToolError::invalid("report must not be empty"));
    }
    let found = if r.bytes().all(|b| b.is_ascii_digit()) {
        ctx.hydrate(&REPORTS, &[r.to_string()])?
    } else {
        ctx.op("QueryIntelReportEntities")
            .query_opt("filter", Fql::new().eq("slug", slug(r)).build())
            .query("limit", 1)
            .envelope()?
            .resources
    };
    let report = found.into_iter().next().ok_or_else(|| {
        ToolError::not_found(format!(
            "report `{r}` (intel_search_reports lists reports and their ids)"
        ))
    })?;
    let id = match &report["id"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let slug_name = report["slug"].as_str().map_or_else(|| id.clone(), slug);
    let save_as = match save_as {
        Some(n) => n,
        None => plain_name(&format!("{slug_name}.pdf"))?,
    };
    let pdf = ctx.op("GetIntelReportPDF").query("id", &id).send()?.body;
    if !pdf.starts_with(b"%PDF") {
        return Err(ToolError::Upstream {
            status: 502,
            message: format!("report {id}: Falcon did not return a PDF"),
        });
    }
    let sha = ctx.write_file(&save_as, &pdf)?;
    Ok(Output::json(
        format!("Saved report {id} as {save_as} ({} bytes).", pdf.len()),
        &json!({
            "saved_as": save_as, "size": pdf.len(), "sha256": sha,
            "report": project(&report, &["id", "name", "slug"]),
        }),
    ))
}

/// The `intel` plugin.
pub fn plugin() -> Plugin {
    Plugin::new(
        "intel",
        env!("CARGO_PKG_VERSION"),
        "Falcon Intelligence: actors, indicators, reports, ATT&CK techniques",
    )
    .tool(
        ToolSpec::read(
            "intel_search_actors",
            "Search actors",
            "Adversaries by name, animal, targeted industry, FQL or free text",
        )
        .ops(&["QueryIntelActorEntities"])
        .guide(ACTOR_GUIDE)
        .output(Shape::Search),
        search_actors,
    )
    .search::<IndicatorArgs>(
        ToolSpec::read(
            "intel_search_indicators",
            "Search indicators",
            "Indicators (hash, IP, domain, URL) with actors, malware, reports",
        )
        .ops(&["QueryIntelIndicatorEntities"])
        .guide(INDICATOR_GUIDE),
        &SEARCH_INDICATORS,
    )
    .tool(
        ToolSpec::read(
            "intel_search_reports",
            "Search reports",
            "Finished intelligence reports by actor, FQL or free text",
        )
        .ops(&["QueryIntelReportEntities"])
        .guide(REPORT_GUIDE)
        .output(Shape::Search),
        search_reports,
    )
    .get(
        ToolSpec::read(
            "intel_get_actor",
            "Get actors",
            "Full actor profiles by id: aliases, origins, targets, kill chain",
        )
        .ops(&["GetIntelActorEntities"]),
        &GET_ACTOR,
    )
    .get(
        ToolSpec::read(
            "intel_get_indicator",
            "Get indicators",
            "Full indicators by id, with labels and related indicators",
        )
        .ops(&["GetIntelIndicatorEntities"]),
        &GET_INDICATOR,
    )
    .get(
        ToolSpec::read(
            "intel_get_report",
            "Get reports",
            "Full reports by id: description, actors, ATT&CK mapping",
        )
        .ops(&["GetIntelReportEntities"]),
        &GET_REPORT,
    )
    .tool(
        ToolSpec::read(
            "intel_get_techniques",
            "Actor ATT&CK techniques",
            "ATT&CK tactics and techniques of an actor, with reports and observables",
        )
        .ops(&[
            "GetIntelActorEntities",
            "QueryIntelActorEntities",
            "GetMitreReport",
        ])
        .output(Shape::Fields("actor:object techniques:array")),
        techniques,
    )
    .tool(
        ToolSpec::read(
            "intel_download_report",
            "Download report PDF",
            "Save a report's PDF into the files dir",
        )
        .ops(&[
            "GetIntelReportEntities",
            "QueryIntelReportEntities",
            "GetIntelReportPDF",
        ])
        .not_cacheable()
        .output(Shape::Fields(
            "saved_as:string size:integer sha256:string report:object",
        )),
        download,
    )
    .resource(Resource::markdown(
        ACTOR_GUIDE,
        "Intel actors FQL guide",
        "FQL fields for Falcon Intelligence actors",
        include_str!("fql_actors.md"),
    ))
    .resource(Resource::markdown(
        INDICATOR_GUIDE,
        "Intel indicators FQL guide",
        "FQL fields for Falcon Intelligence indicators",
        include_str!("fql_indicators.md"),
    ))
    .resource(Resource::markdown(
        REPORT_GUIDE,
        "Intel reports FQL guide",
        "FQL fields for Falcon Intelligence reports",
        include_str!("fql_reports.md"),
    ))
}

aerie_sdk::export_plugin!(plugin);

#[cfg(test)]
mod tests;
