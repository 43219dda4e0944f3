//! The `cao_hunting` tool group: CrowdStrike's intelligence (hunting) queries and hunting guides
//! (reference part 2 §6) — search them with FQL and free text, get them by id (queries with their
//! SPL translation on request), and count them by any field.

use aerie_sdk::fql::Fql;
use aerie_sdk::{
    Ctx, Get, Hydrate, Output, Page, Plugin, Resource, Search, SearchArgs, Shape, ToolError,
    ToolSpec, fql,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

const GUIDE: &str = "falcon://fql/cao-hunting";

const QUERIES: Hydrate = Hydrate::query("GetIntelligenceQueries", "ids", 100).ordered_by("id");
const QUERIES_SPL: Hydrate = QUERIES.with_query(&[("include_translated_content", "SPL")]);
const GUIDES: Hydrate = Hydrate::query("GetHuntingGuides", "ids", 100).ordered_by("id");

const SORTABLE: &[&str] = &["created_at", "last_updated_at", "name"];

const SEARCH_QUERIES: Search = Search::new("SearchIntelligenceQueries", "queries")
    .hydrate(QUERIES)
    .summary(&[
        "id",
        "name",
        "language",
        "content",
        "adversaries",
        "malware_families",
        "mitre_technique_ids",
        "hunting_guides",
        "last_updated_at",
    ])
    .sortable(SORTABLE)
    .default_sort("last_updated_at.desc");

const SEARCH_GUIDES: Search = Search::new("SearchHuntingGuides", "guides")
    .hydrate(GUIDES)
    .summary(&[
        "id",
        "name",
        "description",
        "category.name",
        "adversaries",
        "environments",
        "cql_query_count",
        "queries",
    ])
    .sortable(&["last_updated_at", "name"]);

const GET_QUERIES: Get = Get::new(QUERIES, "hunting query id", "queries", hunting_id).max(50);
const GET_QUERIES_SPL: Get =
    Get::new(QUERIES_SPL, "hunting query id", "queries", hunting_id).max(50);
const GET_GUIDES: Get = Get::new(GUIDES, "hunting guide id", "guides", hunting_id).max(50);

/// CAO hunting ids: letters, digits, `-` and `_` (the API documents no format).
fn hunting_id(s: &str) -> Result<String, ToolError> {
    let v = s.trim();
    if !v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Ok(v.to_string())
    } else {
        Err(ToolError::invalid(format!(
            "`{s}` is not a CAO hunting id: expected letters, digits, `-` or `_`"
        )))
    }
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

/// Query languages the library holds.
const LANGUAGES: &[&str] = &["cql", "snort", "suricata", "yara"];

fn language(s: &str) -> Result<String, ToolError> {
    let l = s.trim().to_ascii_lowercase();
    if LANGUAGES.contains(&l.as_str()) {
        Ok(l)
    } else {
        Err(ToolError::invalid(format!(
            "language `{s}` must be one of {}",
            LANGUAGES.join(", ")
        )))
    }
}

fn d20() -> u32 {
    20
}

/// Arguments of `cao_hunting_search_queries`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct QueryArgs {
    /// cql, yara, snort…
    language: Option<String>,
    /// Actor name
    adversary: Option<String>,
    /// T1003 or T1003.001
    technique: Option<String>,
    text: Option<String>,
    /// FQL, ANDed
    filter: Option<String>,
    /// field.desc
    sort: Option<String>,
    #[schemars(range(min = 1, max = 100))]
    #[serde(default = "d20")]
    limit: u32,
    #[serde(default)]
    offset: u32,
}

impl SearchArgs for QueryArgs {
    fn fql(&self) -> Result<Fql, ToolError> {
        let t = self.technique.as_deref().map(technique).transpose()?;
        let l = self.language.as_deref().map(language).transpose()?;
        Ok(Fql::new()
            .opt(l, |f, l| f.eq("language", l))
            .opt(self.adversary.as_deref(), |f, a| f.eq("adversaries", a))
            .opt(t, |f, t| f.eq("mitre_technique_ids", t)))
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

/// Arguments of `cao_hunting_search_guides`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct GuideArgs {
    /// Tactic name
    category: Option<String>,
    /// Actor name
    adversary: Option<String>,
    /// T1003 or T1003.001
    technique: Option<String>,
    text: Option<String>,
    /// FQL, ANDed
    filter: Option<String>,
    #[schemars(range(min = 1, max = 100))]
    #[serde(default = "d20")]
    limit: u32,
    #[serde(default)]
    offset: u32,
}

impl SearchArgs for GuideArgs {
    fn fql(&self) -> Result<Fql, ToolError> {
        let t = self.technique.as_deref().map(technique).transpose()?;
        Ok(Fql::new()
            .opt(self.category.as_deref(), |f, c| f.eq("category.name", c))
            .opt(self.adversary.as_deref(), |f, a| f.eq("adversaries", a))
            .opt(t, |f, t| f.eq("mitre.technique_id", t)))
    }

    fn page(&self) -> Page<'_> {
        Page::offset(self.filter.as_deref(), None, self.limit, self.offset)
    }

    fn text(&self) -> Option<&str> {
        self.text.as_deref()
    }
}

/// Arguments of `cao_hunting_get_queries`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct GetQueryArgs {
    #[schemars(length(min = 1, max = 50))]
    ids: Vec<String>,
    /// Add the SPL translation
    #[serde(default)]
    spl: bool,
}

fn get_queries(ctx: &Ctx<'_>, a: GetQueryArgs) -> Result<Output, ToolError> {
    let get = if a.spl {
        &GET_QUERIES_SPL
    } else {
        &GET_QUERIES
    };
    get.run(ctx, &a.ids)
}

// What to aggregate.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Collection {
    Queries,
    Guides,
}

// Aggregation kind.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Kind {
    #[default]
    Terms,
    Cardinality,
    DateHistogram,
}

fn d10() -> u32 {
    10
}

/// Arguments of `cao_hunting_aggregate`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct AggregateArgs {
    of: Collection,
    /// adversaries, language…
    field: String,
    #[serde(default, rename = "type")]
    kind: Kind,
    /// date_histogram: day…year
    interval: Option<String>,
    filter: Option<String>,
    #[schemars(range(min = 1, max = 100))]
    #[serde(default = "d10")]
    size: u32,
}

fn aggregate(ctx: &Ctx<'_>, a: AggregateArgs) -> Result<Output, ToolError> {
    let field = a.field.trim();
    let field_ok = !field.is_empty()
        && field.len() <= 64
        && field
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
    if !field_ok {
        return Err(ToolError::invalid(format!(
            "field `{}` must be a field name such as adversaries or mitre.technique_id",
            a.field
        )));
    }
    if let Some(f) = &a.filter {
        fql::lint(f).map_err(ToolError::invalid)?;
    }
    let (kind, interval) = match (a.kind, a.interval.as_deref()) {
        (Kind::DateHistogram, i) => {
            let i = i.unwrap_or("month");
            if !["day", "week", "month", "quarter", "year"].contains(&i) {
                return Err(ToolError::invalid(format!(
                    "interval `{i}` must be day, week, month, quarter or year"
                )));
            }
            ("date_histogram", Some(i))
        }
        (_, Some(_)) => {
            return Err(ToolError::invalid(
                "interval applies to type date_histogram only",
            ));
        }
        (Kind::Terms, None) => ("terms", None),
        (Kind::Cardinality, None) => ("cardinality", None),
    };
    let mut spec = json!({"name": field, "type": kind, "field": field, "size": a.size});
    if let Some(f) = a.filter.as_deref().filter(|f| !f.trim().is_empty()) {
        spec["filter"] = json!(f);
    }
    if let Some(i) = interval {
        spec["interval"] = json!(i);
    }
    let op = match a.of {
        Collection::Queries => "AggregateIntelligenceQueries",
        Collection::Guides => "AggregateHuntingGuides",
    };
    let env = ctx.op(op).body_json(&json!([spec]))?.envelope()?;
    let agg = env.resources.into_iter().next().unwrap_or(Value::Null);
    if kind == "cardinality" {
        // The count is the one bucket's `value` (a float), as on the alerts API.
        let value = agg
            .get("value")
            .filter(|v| !v.is_null())
            .or_else(|| agg["buckets"].get(0).and_then(|b| b.get("value")))
            .and_then(Value::as_f64)
            .unwrap_or(0.0);
        let value = json!(value.round() as u64);
        return Ok(Output::json(
            format!("{value} distinct values of {field}."),
            &json!({"field": field, "buckets": [], "value": value}),
        ));
    }
    let buckets: Vec<Value> = agg["buckets"]
        .as_array()
        .map(|b| {
            b.iter()
                .map(|x| {
                    json!({"label": x.get("key_as_string").unwrap_or(&x["label"]), "count": x["count"]})
                })
                .collect()
        })
        .unwrap_or_default();
    let summary = if buckets.is_empty() {
        format!("No values of {field} (an unknown field aggregates to nothing; see {GUIDE}).")
    } else {
        format!("{} bucket(s) of {field}.", buckets.len())
    };
    Ok(Output::json(
        summary,
        &json!({"field": field, "buckets": buckets, "other": agg.get("sum_other_doc_count")}),
    ))
}

/// The `cao_hunting` plugin.
pub fn plugin() -> Plugin {
    Plugin::new(
        "cao_hunting",
        env!("CARGO_PKG_VERSION"),
        "Falcon CAO hunting: CrowdStrike hunting queries and guides",
    )
    .search::<QueryArgs>(
        ToolSpec::read(
            "cao_hunting_search_queries",
            "Search hunting queries",
            "Hunting queries by actor, technique, text or FQL (falcon://fql/cao-hunting)",
        )
        .ops(&["SearchIntelligenceQueries", "GetIntelligenceQueries"])
        .guide(GUIDE),
        &SEARCH_QUERIES,
    )
    .tool(
        ToolSpec::read(
            "cao_hunting_get_queries",
            "Get hunting queries",
            "Full queries: CQL, MITRE, actors, reports",
        )
        .ops(&["GetIntelligenceQueries"])
        .output(Shape::List("queries")),
        get_queries,
    )
    .search::<GuideArgs>(
        ToolSpec::read(
            "cao_hunting_search_guides",
            "Search hunting guides",
            "Guides by tactic, actor, technique, text or FQL",
        )
        .ops(&["SearchHuntingGuides", "GetHuntingGuides"])
        .guide(GUIDE),
        &SEARCH_GUIDES,
    )
    .get(
        ToolSpec::read(
            "cao_hunting_get_guides",
            "Get hunting guides",
            "Full guides with their queries",
        )
        .ops(&["GetHuntingGuides"]),
        &GET_GUIDES,
    )
    .tool(
        ToolSpec::read(
            "cao_hunting_aggregate",
            "Count hunting content",
            "Count queries or guides by a field",
        )
        .ops(&["AggregateIntelligenceQueries", "AggregateHuntingGuides"])
        .output(Shape::Fields("field:string buckets:array"))
        .guide(GUIDE),
        aggregate,
    )
    .resource(Resource::markdown(
        GUIDE,
        "CAO hunting FQL",
        "FQL fields for hunting queries and guides, and aggregations",
        include_str!("fql_cao_hunting.md"),
    ))
}

aerie_sdk::export_plugin!(plugin);

#[cfg(test)]
mod tests {
    use super::*;
    use aerie_sdk::testing::MockEnv;

    fn call(env: &MockEnv, tool: &str, args: Value) -> Result<Output, ToolError> {
        plugin().call(env, tool, &args.to_string())
    }

    #[test]
    fn declarations_are_valid_and_compact() {
        let p = plugin();
        p.validate().unwrap();
        // Searches carry the group's filters; the 520-byte budget is an average over all groups.
        let avg = p.describe().average_tool_bytes();
        assert!(avg < 470, "average tool size {avg} bytes");
    }

    #[test]
    fn search_queries_sends_fql_text_and_sort() {
        let env = MockEnv::new()
            .reply(
                "SearchIntelligenceQueries",
                200,
                json!({"meta": {"pagination": {"offset": 0, "limit": 20, "total": 1}}, "resources": ["q1"]}),
            )
            .reply(
                "GetIntelligenceQueries",
                200,
                json!({"resources": [{"id": "q1", "name": "n", "content": "x", "translations": []}]}),
            );
        let out = call(
            &env,
            "cao_hunting_search_queries",
            json!({"language": "CQL", "adversary": "FANCY BEAR", "technique": "t1003.001", "text": "lsass"}),
        )
        .unwrap();
        let q = &env.calls_to("SearchIntelligenceQueries")[0].query;
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(
            get("filter"),
            Some("language:'cql'+adversaries:'FANCY BEAR'+mitre_technique_ids:'T1003.001'")
        );
        assert_eq!(get("q"), Some("lsass"));
        assert_eq!(get("sort"), Some("last_updated_at.desc"));
        assert_eq!(
            out.structured.unwrap()["results"][0],
            json!({"id": "q1", "name": "n", "content": "x"})
        );
        let env = MockEnv::new();
        assert!(
            call(
                &env,
                "cao_hunting_search_queries",
                json!({"language": "kql"})
            )
            .is_err()
        );
        assert!(call(&env, "cao_hunting_search_guides", json!({"technique": "x"})).is_err());
        assert!(env.calls().is_empty());
    }

    #[test]
    fn get_queries_asks_for_spl_only_when_told() {
        let reply = json!({"resources": [{"id": "q1", "name": "n"}]});
        let env = MockEnv::new()
            .reply("GetIntelligenceQueries", 200, reply.clone())
            .reply("GetIntelligenceQueries", 200, reply);
        call(&env, "cao_hunting_get_queries", json!({"ids": ["q1"]})).unwrap();
        call(
            &env,
            "cao_hunting_get_queries",
            json!({"ids": ["q1"], "spl": true}),
        )
        .unwrap();
        let calls = env.calls_to("GetIntelligenceQueries");
        let spl = ("include_translated_content".to_string(), "SPL".to_string());
        assert!(!calls[0].query.contains(&spl));
        assert!(calls[1].query.contains(&spl));
        let e = call(&env, "cao_hunting_get_queries", json!({"ids": ["a b"]})).unwrap_err();
        assert!(e.to_string().contains("a b"), "{e}");
    }

    #[test]
    fn aggregate_sends_one_spec_and_reads_buckets() {
        let env = MockEnv::new().reply(
            "AggregateHuntingGuides",
            200,
            json!({"resources": [{"name": "adversaries", "buckets": [{"label": "FANCY BEAR", "count": 2}], "sum_other_doc_count": 0}]}),
        );
        let out = call(
            &env,
            "cao_hunting_aggregate",
            json!({"of": "guides", "field": "adversaries", "filter": "languages:'cql'", "size": 5}),
        )
        .unwrap();
        let body = env.calls()[0].body_json().unwrap();
        assert_eq!(
            body,
            json!([{"name": "adversaries", "type": "terms", "field": "adversaries", "size": 5, "filter": "languages:'cql'"}])
        );
        assert_eq!(
            out.structured.unwrap()["buckets"],
            json!([{"label": "FANCY BEAR", "count": 2}])
        );
        let env = MockEnv::new().reply(
            "AggregateIntelligenceQueries",
            200,
            json!({"resources": [{"name": "adversaries", "buckets": [{"label": "cardinality", "count": 9, "value": 4.0}]}]}),
        );
        let s = call(
            &env,
            "cao_hunting_aggregate",
            json!({"of": "queries", "field": "adversaries", "type": "cardinality"}),
        )
        .unwrap()
        .structured
        .unwrap();
        assert_eq!(
            (s["value"].clone(), s["buckets"].clone()),
            (json!(4), json!([]))
        );
        let env = MockEnv::new();
        for bad in [
            json!({"of": "queries", "field": "a b"}),
            json!({"of": "queries", "field": "created_at", "interval": "month"}),
            json!({"of": "queries", "field": "created_at", "type": "date_histogram", "interval": "hour"}),
        ] {
            assert!(call(&env, "cao_hunting_aggregate", bad).is_err());
        }
        assert!(env.calls().is_empty());
    }
}
