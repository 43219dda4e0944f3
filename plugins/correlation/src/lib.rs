//! The `correlation` tool group: NG-SIEM correlation rules (reference part 2 §4) — search and get
//! rules with their CQL, severity and MITRE mapping; enable or disable one with an audit comment
//! (previewed unless confirmed); export a rule as a re-creatable definition or as YAML templates
//! for a detections repository (into the files directory); search and get the template library.

mod iac;

use aerie_sdk::fql::Fql;
use aerie_sdk::{
    Ctx, Get, Hydrate, Output, Page, Plugin, Resource, Search, SearchArgs, Shape, ToolError,
    ToolSpec, fql, ids, project,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

const GUIDE: &str = "falcon://fql/correlation-rules";

const RULES: Hydrate = Hydrate::query("entities_rules_get_v1", "ids", 100).ordered_by("id");
const TEMPLATES: Hydrate =
    Hydrate::query("entities_templates_get_v1Mixin0", "ids", 100).ordered_by("id");

/// Rule fields kept in search results.
const RULE_SUMMARY: &[&str] = &[
    "id",
    "name",
    "status",
    "severity",
    "mitre_attack",
    "search.outcome",
    "operation.schedule.definition",
    "version",
    "last_updated_on",
    "last_execution.result_metadata.result_count",
];

const TEMPLATE_SUMMARY: &[&str] = &[
    "id",
    "name",
    "description",
    "vendors",
    "severity",
    "mitre_attack",
];

/// Both APIs sort on these two only (`created_on` is their default).
const SORTABLE: &[&str] = &["created_on", "last_updated_on"];

const SEARCH_RULES: Search = Search::new("queries_rules_get_v1", "rules")
    .hydrate(RULES)
    .summary(RULE_SUMMARY)
    .sortable(SORTABLE)
    .pipe_sort()
    .default_sort("last_updated_on|desc");

const SEARCH_TEMPLATES: Search = Search::new("queries_templates_get_v1Mixin0", "templates")
    .hydrate(TEMPLATES)
    .summary(TEMPLATE_SUMMARY)
    .sortable(SORTABLE)
    .pipe_sort();

const GET_RULES: Get = Get::new(RULES, "rule id", "rules", rule_id)
    .max(50)
    .ids_doc("32 hex");
const GET_TEMPLATES: Get = Get::new(TEMPLATES, "template id", "templates", template_id)
    .max(50)
    .ids_doc("32 hex");

fn rule_id(s: &str) -> Result<String, ToolError> {
    ids::hex32(s, "rule id")
}

fn template_id(s: &str) -> Result<String, ToolError> {
    ids::hex32(s, "template id")
}

fn d20() -> u32 {
    20
}

/// `T1234` or `T1234.001`, upper-cased.
fn technique(s: &str) -> Result<String, ToolError> {
    let t = s.trim().to_ascii_uppercase();
    let ok = t.strip_prefix('T').is_some_and(|rest| {
        let (base, sub) = rest.split_once('.').unwrap_or((rest, ""));
        base.len() == 4
            && base.bytes().all(|b| b.is_ascii_digit())
            && (sub.is_empty() || (sub.len() == 3 && sub.bytes().all(|b| b.is_ascii_digit())))
    });
    if ok {
        Ok(t)
    } else {
        Err(ToolError::invalid(format!(
            "`{s}` is not a MITRE technique id: expected T1234 or T1234.001"
        )))
    }
}

// Rule status: active runs the rule, inactive switches it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Status {
    Active,
    Inactive,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Inactive => "inactive",
        }
    }
}

/// Arguments of `correlation_search_rules`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RuleArgs {
    status: Option<Status>,
    /// 10,30,50,70,90
    #[schemars(range(min = 10, max = 90))]
    min_severity: Option<u8>,
    /// T1059 or T1059.001
    technique: Option<String>,
    /// In name or description
    text: Option<String>,
    /// FQL, ANDed
    filter: Option<String>,
    /// field.desc
    sort: Option<String>,
    #[schemars(range(min = 1, max = 500))]
    #[serde(default = "d20")]
    limit: u32,
    #[serde(default)]
    offset: u32,
}

impl SearchArgs for RuleArgs {
    fn fql(&self) -> Result<Fql, ToolError> {
        let t = self.technique.as_deref().map(technique).transpose()?;
        Ok(Fql::new()
            .opt(self.status, |f, s| f.eq("status", s.as_str()))
            .opt(self.min_severity, |f, s| f.gte("severity", s))
            .opt(t, |f, t| f.eq("mitre_attack.technique_id", t)))
    }

    fn page(&self) -> Page<'_> {
        Page::offset(
            self.filter.as_deref(),
            self.sort.as_deref(),
            self.limit,
            self.offset,
        )
    }

    fn text(&self) -> Option<&str> {
        self.text.as_deref()
    }
}

/// Arguments of `correlation_search_templates`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct TemplateArgs {
    /// Name contains
    name: Option<String>,
    /// aws, microsoft, okta, crowdstrike…
    vendor: Option<String>,
    /// T1059 or T1059.001
    technique: Option<String>,
    /// FQL, ANDed
    filter: Option<String>,
    #[schemars(range(min = 1, max = 500))]
    #[serde(default = "d20")]
    limit: u32,
    #[serde(default)]
    offset: u32,
}

impl SearchArgs for TemplateArgs {
    fn fql(&self) -> Result<Fql, ToolError> {
        let t = self.technique.as_deref().map(technique).transpose()?;
        let vendor = self.vendor.as_deref().map(iac::vendor).transpose()?;
        Ok(Fql::new()
            .opt(self.name.as_deref(), |f, n| f.matches("name", n))
            .opt(vendor, |f, v| f.eq("vendor", v))
            .opt(t, |f, t| f.eq("mitre_attack.technique_id", t)))
    }

    fn page(&self) -> Page<'_> {
        Page::offset(self.filter.as_deref(), None, self.limit, self.offset)
    }
}

/// One rule by id, or not-found naming it.
fn fetch_rule(ctx: &Ctx<'_>, id: &str) -> Result<Value, ToolError> {
    let id = rule_id(id)?;
    Ok(ctx
        .hydrate_all(&RULES, std::slice::from_ref(&id), "correlation rule")?
        .remove(0))
}

/// Arguments of `correlation_set_rule_status`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct StatusArgs {
    id: String,
    enabled: bool,
    /// Audit comment: why
    #[schemars(length(min = 1, max = 1000))]
    comment: String,
    #[serde(default)]
    confirm: bool,
}

fn set_status(ctx: &Ctx<'_>, a: StatusArgs) -> Result<Output, ToolError> {
    let comment = a.comment.trim();
    if comment.is_empty() {
        return Err(ToolError::invalid(
            "comment must say why the rule is changed (it is kept on the rule for audit)",
        ));
    }
    let rule = fetch_rule(ctx, &a.id)?;
    let to = if a.enabled {
        Status::Active
    } else {
        Status::Inactive
    };
    let from = rule["status"].as_str().unwrap_or("unknown").to_string();
    let brief = |r: &Value| project(r, &["id", "name", "status", "severity", "version"]);
    let name = rule["name"].as_str().unwrap_or("").to_string();
    if from == to.as_str() {
        return Ok(Output::json(
            format!("Rule `{name}` is already {from}; nothing changed."),
            &json!({"applied": false, "rule": brief(&rule)}),
        ));
    }
    if !a.confirm {
        let verb = if a.enabled { "enable" } else { "disable" };
        return Ok(Output::preview(
            format!("Would {verb} rule `{name}` ({from} → {}).", to.as_str()),
            json!({"rule": brief(&rule), "status": to.as_str(), "comment": comment}),
        ));
    }
    let id = rule["id"].as_str().unwrap_or_default();
    // The API takes a list of patches; `status` is the switch (rules have no `enabled`).
    let env = ctx
        .op("entities_rules_patch_v1")
        .verified_by("correlation_get_rules")
        .body_json(&json!([{"id": id, "status": to.as_str(), "comment": comment}]))?
        .envelope()?;
    let updated = env.resources.first().map(brief).unwrap_or(Value::Null);
    Ok(Output::json(
        format!(
            "Rule `{name}` is now {} (version {}).",
            to.as_str(),
            updated["version"]
        ),
        &json!({"applied": true, "rule": updated, "comment": comment}),
    ))
}

/// Arguments naming one rule.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RuleIdArgs {
    id: String,
}

/// The parts of a rule a create request takes (`RuleCreateRequest` without the tenant's
/// `customer_id`): enough to create the same rule again.
const DEFINITION: &[&str] = &[
    "name",
    "description",
    "severity",
    "status",
    "template_id",
    "mitre_attack",
    "search.filter",
    "search.lookback",
    "search.outcome",
    "search.trigger_mode",
    "search.use_ingest_time",
    "search.case_template_id",
    "operation.schedule.definition",
    "operation.start_on",
    "operation.stop_on",
    "notifications",
];

const PROVENANCE: &[&str] = &[
    "id",
    "version",
    "state",
    "type",
    "author",
    "user_id",
    "updated_by_user_id",
    "created_on",
    "last_updated_on",
    "last_execution.status_display",
    "last_execution.result_metadata.result_count",
];

fn export_rule(ctx: &Ctx<'_>, a: RuleIdArgs) -> Result<Output, ToolError> {
    let rule = fetch_rule(ctx, &a.id)?;
    let mut definition = project(&rule, DEFINITION);
    // `use_ingest_time: false` is a setting, not an empty value.
    if let Some(b) = rule.pointer("/search/use_ingest_time") {
        definition["search"]["use_ingest_time"] = b.clone();
    }
    Ok(Output::json(
        format!(
            "Rule `{}`: `definition` is a create request for the same rule.",
            rule["name"].as_str().unwrap_or("")
        ),
        &json!({"rule": project(&rule, PROVENANCE), "definition": definition}),
    ))
}

fn d50() -> u32 {
    50
}

/// Arguments of `correlation_export_iac`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct IacArgs {
    #[schemars(length(min = 1, max = 100))]
    ids: Option<Vec<String>>,
    /// Or FQL selecting rules
    filter: Option<String>,
    /// Repo directory (default: CQL #Vendor)
    vendor: Option<String>,
    /// Most rules (with filter)
    #[schemars(range(min = 1, max = 100))]
    #[serde(default = "d50")]
    limit: u32,
}

fn export_iac(ctx: &Ctx<'_>, a: IacArgs) -> Result<Output, ToolError> {
    let vendor = a.vendor.as_deref().map(iac::vendor).transpose()?;
    let (rules, total) = match (&a.ids, &a.filter) {
        (Some(list), None) => {
            let ids = ids::list(list, 100, "rule id", rule_id)?;
            let rules = ctx.hydrate_all(&RULES, &ids, "correlation rule")?;
            let n = rules.len() as u64;
            (rules, n)
        }
        (None, Some(filter)) => {
            fql::lint(filter).map_err(ToolError::invalid)?;
            let env = ctx
                .op("combined_rules_get_v1")
                .query("filter", filter)
                .query("sort", "created_on")
                .query("limit", a.limit)
                .envelope()?;
            let total = env.total();
            (env.resources, total)
        }
        _ => {
            return Err(ToolError::invalid(
                "give either ids or filter (e.g. status:'active') to choose the rules",
            ));
        }
    };
    let mut files = Vec::new();
    let mut taken: Vec<String> = Vec::new();
    for rule in &rules {
        let mut e = iac::export(rule, vendor.as_deref())?;
        // Two rules with the same name must not overwrite each other's file.
        let base = e.resource_id.clone();
        let mut n = 1;
        while taken.contains(&e.resource_id) {
            n += 1;
            e.resource_id = format!("{base}_{n}");
            e.yaml = e.yaml.replacen(
                &format!("resource_id: {base}\n"),
                &format!("resource_id: {}\n", e.resource_id),
                1,
            );
        }
        taken.push(e.resource_id.clone());
        let file = format!("{}.yaml", e.resource_id);
        let sha256 = ctx.write_file(&file, e.yaml.as_bytes())?;
        files.push(json!({
            "rule_id": rule["id"], "name": rule["name"], "file": file, "bytes": e.yaml.len(),
            "sha256": sha256,
            "repo_path": format!("resources/detections/{}/{file}", e.vendor),
        }));
    }
    let more = if total > files.len() as u64 {
        format!(
            " {total} rules matched; raise limit (up to 100) or narrow the filter for the rest."
        )
    } else {
        String::new()
    };
    Ok(Output::json(
        format!(
            "Wrote {} YAML template(s) into the files directory; move each to its repo_path.{more}",
            files.len()
        ),
        &json!({"files": files, "total": total}),
    ))
}

/// The `correlation` plugin.
pub fn plugin() -> Plugin {
    Plugin::new(
        "correlation",
        env!("CARGO_PKG_VERSION"),
        "Falcon NG-SIEM correlation rules and templates",
    )
    .search::<RuleArgs>(
        ToolSpec::read(
            "correlation_search_rules",
            "Search correlation rules",
            "Rules by status, severity, technique, text or FQL (falcon://fql/correlation-rules)",
        )
        .ops(&["queries_rules_get_v1", "entities_rules_get_v1"])
        .guide(GUIDE),
        &SEARCH_RULES,
    )
    .get(
        ToolSpec::read(
            "correlation_get_rules",
            "Get correlation rules",
            "Full rules: CQL, schedule, severity, MITRE, last run",
        )
        .ops(&["entities_rules_get_v1"]),
        &GET_RULES,
    )
    .tool(
        ToolSpec::write(
            "correlation_set_rule_status",
            "Enable or disable rule",
            "Switch a rule on or off with an audit comment. Previews unless confirm",
        )
        .ops(&["entities_rules_get_v1", "entities_rules_patch_v1"])
        .output(Shape::Fields(
            "applied:boolean preview?:boolean rule:object",
        ))
        .destructive()
        .idempotent(),
        set_status,
    )
    .tool(
        ToolSpec::read(
            "correlation_export_rule",
            "Export correlation rule",
            "A rule as provenance plus a create-request definition",
        )
        .ops(&["entities_rules_get_v1"])
        .output(Shape::Fields("rule:object definition:object")),
        export_rule,
    )
    .tool(
        ToolSpec::read(
            "correlation_export_iac",
            "Export rules as IaC YAML",
            "Write rules as detections-repo YAML templates into the files dir",
        )
        .ops(&["entities_rules_get_v1", "combined_rules_get_v1"])
        .output(Shape::Fields("files:array total:integer"))
        .not_cacheable()
        .guide(GUIDE),
        export_iac,
    )
    .search::<TemplateArgs>(
        ToolSpec::read(
            "correlation_search_templates",
            "Search rule templates",
            "Rule templates by name, vendor, technique or FQL",
        )
        .ops(&[
            "queries_templates_get_v1Mixin0",
            "entities_templates_get_v1Mixin0",
        ])
        .guide(GUIDE),
        &SEARCH_TEMPLATES,
    )
    .get(
        ToolSpec::read(
            "correlation_get_templates",
            "Get rule templates",
            "Full templates: CQL, schedule, vendors, MITRE",
        )
        .ops(&["entities_templates_get_v1Mixin0"]),
        &GET_TEMPLATES,
    )
    .resource(Resource::markdown(
        GUIDE,
        "Correlation rule FQL",
        "FQL fields and sorts for correlation rules and templates",
        include_str!("fql_correlation.md"),
    ))
}

aerie_sdk::export_plugin!(plugin);

#[cfg(test)]
mod tests;
