//! Case configuration under `/casemgmt/`: the tenant's custom case fields and the access tags
//! that restrict who sees a case (query pages with `after` cursors, get, aggregate).

use aerie_sdk::{
    Ctx, Fql, Get, Hydrate, Output, Page, Plugin, Search, SearchArgs, Shape, ToolError, ToolSpec,
    fql,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::opaque;

const FIELDS: Hydrate = Hydrate::query("entities_fields_get_v1", "ids", 200).ordered_by("id");
const TAGS: Hydrate = Hydrate::query("entities_access_tags_get_v1", "ids", 200).ordered_by("id");

fn d50() -> u32 {
    50
}
fn d10() -> u32 {
    10
}

/// Arguments of `cases_list_fields`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct FieldsArgs {
    /// FQL, e.g. required:true
    filter: Option<String>,
    #[schemars(range(min = 1, max = 200))]
    #[serde(default = "d50")]
    limit: u32,
    #[serde(default)]
    offset: u32,
}

impl SearchArgs for FieldsArgs {
    fn fql(&self) -> Result<Fql, ToolError> {
        Ok(Fql::new())
    }
    fn page(&self) -> Page<'_> {
        Page::offset(self.filter.as_deref(), None, self.limit, self.offset)
    }
}

const LIST_FIELDS: Search = Search::new("queries_fields_get_v1", "fields")
    .hydrate(FIELDS)
    .summary(&[
        "id",
        "name",
        "data_type",
        "input_type",
        "required",
        "multivalued",
        "options",
    ]);

/// Arguments of `cases_search_access_tags`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct TagsArgs {
    key: Option<String>,
    /// FQL, ANDed
    filter: Option<String>,
    #[schemars(range(min = 1, max = 200))]
    #[serde(default = "d50")]
    limit: u32,
    /// Cursor from next
    after: Option<String>,
}

impl SearchArgs for TagsArgs {
    fn fql(&self) -> Result<Fql, ToolError> {
        Ok(Fql::new().opt(self.key.as_deref(), |f, k| f.eq("key", k)))
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

const SEARCH_TAGS: Search = Search::new("queries_access_tags_get_v1", "access tags")
    .hydrate(TAGS)
    .summary(&["id", "key", "has_access", "templates"])
    .cursor_paged();

const GET_TAGS: Get = Get::new(TAGS, "access tag id", "access_tags", |s| {
    opaque(s, "access tag id")
});

// Fields access tags can be counted by.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
enum TagField {
    #[serde(rename = "key")]
    Key,
    #[serde(rename = "has_access")]
    HasAccess,
    #[serde(rename = "templates.name")]
    Template,
}

impl TagField {
    fn as_str(self) -> &'static str {
        match self {
            TagField::Key => "key",
            TagField::HasAccess => "has_access",
            TagField::Template => "templates.name",
        }
    }
}

/// Arguments of `cases_aggregate_access_tags`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct AggregateArgs {
    field: TagField,
    /// FQL
    filter: Option<String>,
    #[schemars(range(min = 1, max = 100))]
    #[serde(default = "d10")]
    size: u32,
}

fn aggregate(ctx: &Ctx<'_>, a: AggregateArgs) -> Result<Output, ToolError> {
    if let Some(f) = &a.filter {
        fql::lint(f).map_err(ToolError::invalid)?;
    }
    let field = a.field.as_str();
    let mut spec = json!({"name": field, "type": "terms", "field": field, "size": a.size});
    if let Some(f) = a.filter.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
        spec["filter"] = json!(f);
    }
    let env = ctx
        .op("aggregates_access_tags_post_v1")
        .filtered()
        .body_json(&json!([spec]))?
        .envelope()?;
    let agg = env.resources.first().cloned().unwrap_or(Value::Null);
    let buckets = agg["buckets"].as_array().cloned().unwrap_or_default();
    Ok(Output::json(
        format!("{} bucket(s) of access tags by {field}.", buckets.len()),
        &json!({"field": field, "buckets": buckets, "other": agg["sum_other_doc_count"]}),
    ))
}

/// Add the case-configuration tools.
pub(crate) fn register(p: Plugin) -> Plugin {
    p.search::<FieldsArgs>(
        ToolSpec::read(
            "cases_list_fields",
            "List case fields",
            "Custom case fields with types and options",
        )
        .ops(&["queries_fields_get_v1", "entities_fields_get_v1"]),
        &LIST_FIELDS,
    )
    .search::<TagsArgs>(
        ToolSpec::read(
            "cases_search_access_tags",
            "Search access tags",
            "Access tags by key or FQL, with their templates",
        )
        .ops(&["queries_access_tags_get_v1", "entities_access_tags_get_v1"]),
        &SEARCH_TAGS,
    )
    .get(
        ToolSpec::read(
            "cases_get_access_tags",
            "Get access tags",
            "Access tags by id",
        )
        .ops(&["entities_access_tags_get_v1"]),
        &GET_TAGS,
    )
    .tool(
        ToolSpec::read(
            "cases_aggregate_access_tags",
            "Count access tags",
            "Access tag counts by key, access or template",
        )
        .ops(&["aggregates_access_tags_post_v1"])
        .output(Shape::Fields("buckets:array")),
        aggregate,
    )
}

#[cfg(test)]
mod tests {
    use aerie_sdk::testing::MockEnv;
    use serde_json::json;

    use crate::plugin;

    #[test]
    fn access_tags_page_by_cursor_and_aggregate_one_terms_request() {
        let env = MockEnv::new()
            .reply(
                "queries_access_tags_get_v1",
                200,
                json!({"meta": {"pagination": {"limit": 1, "total": 3, "after": "c2"}}, "resources": ["t1"]}),
            )
            .reply(
                "entities_access_tags_get_v1",
                200,
                json!({"resources": [{"id": "t1", "key": "finance", "cid": "x"}]}),
            );
        let s = plugin()
            .call(
                &env,
                "cases_search_access_tags",
                r#"{"limit": 1, "after": "c1"}"#,
            )
            .unwrap()
            .structured
            .unwrap();
        assert_eq!(
            (s["next"].clone(), s["results"][0]["key"].clone()),
            (json!("c2"), json!("finance"))
        );
        let q = &env.calls()[0].query;
        assert!(q.contains(&("after".into(), "c1".into())), "{q:?}");
        let env = MockEnv::new().reply(
            "aggregates_access_tags_post_v1",
            200,
            json!({"resources": [{"name": "key", "buckets": [{"label": "a", "count": 2}], "sum_other_doc_count": 0}]}),
        );
        let s = plugin()
            .call(
                &env,
                "cases_aggregate_access_tags",
                r#"{"field": "templates.name", "size": 5}"#,
            )
            .unwrap()
            .structured
            .unwrap();
        assert_eq!(s["buckets"][0]["count"], 2);
        assert_eq!(
            env.calls()[0].body_json().unwrap(),
            json!([{"name": "templates.name", "type": "terms", "field": "templates.name", "size": 5}])
        );
    }
}
