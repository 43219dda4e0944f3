//! Declarative read tools: the two shapes most Falcon tools have — "query with FQL, hydrate the
//! ids, keep the summary fields" ([`Search`]) and "get entities by id" ([`Get`]) — as a constant
//! declaration plus, for searches, an arguments struct that says how its typed fields become FQL.
//!
//! ```no_run
//! use aerie_sdk::{Fql, Hydrate, Page, Plugin, Search, SearchArgs, ToolError, ToolSpec};
//! use schemars::JsonSchema;
//! use serde::Deserialize;
//!
//! /// Arguments of `demo_search`.
//! #[derive(Deserialize, JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! struct Args {
//!     /// CVE id
//!     cve: Option<String>,
//!     /// FQL, ANDed
//!     filter: Option<String>,
//!     sort: Option<String>,
//!     #[serde(default = "ten")]
//!     limit: u32,
//!     #[serde(default)]
//!     offset: u32,
//! }
//! fn ten() -> u32 { 10 }
//!
//! impl SearchArgs for Args {
//!     fn fql(&self) -> Result<Fql, ToolError> {
//!         Ok(Fql::new().opt(self.cve.as_deref(), |f, c| f.eq("cve.id", c)))
//!     }
//!     fn page(&self) -> Page<'_> {
//!         Page::offset(self.filter.as_deref(), self.sort.as_deref(), self.limit, self.offset)
//!     }
//! }
//!
//! const SEARCH: Search = Search::new("queryVulnerabilities", "vulnerabilities")
//!     .hydrate(Hydrate::query("getVulnerabilities", "ids", 400))
//!     .summary(&["id", "cve.id", "status"])
//!     .sortable(&["created_timestamp"]);
//!
//! fn plugin() -> Plugin {
//!     Plugin::new("demo", "0.1.0", "Demo").search::<Args>(
//!         ToolSpec::read("demo_search", "Search", "Vulnerabilities by CVE.")
//!             .ops(&["queryVulnerabilities", "getVulnerabilities"]),
//!         &SEARCH,
//!     )
//! }
//! ```

use serde_json::{Value, json};

use crate::context::{Ctx, Hydrate};
use crate::error::ToolError;
use crate::fql::{self, Fql};
use crate::result::{Next, Output, SearchResult, check_window, project, prune};

/// The common search arguments of one call: free FQL, sort and the page position.
#[derive(Debug, Clone, Copy, Default)]
pub struct Page<'a> {
    /// Free FQL from the caller, ANDed with the typed filters (linted before sending).
    pub filter: Option<&'a str>,
    /// `field.asc|desc`, checked against [`Search::sortable`].
    pub sort: Option<&'a str>,
    /// Page size.
    pub limit: u32,
    /// Offset of the first record (offset-paged APIs).
    pub offset: u32,
    /// Cursor from a previous page's `next` (cursor-paged APIs).
    pub after: Option<&'a str>,
}

impl<'a> Page<'a> {
    /// An offset-paged request.
    pub fn offset(filter: Option<&'a str>, sort: Option<&'a str>, limit: u32, offset: u32) -> Self {
        Self {
            filter,
            sort,
            limit,
            offset,
            after: None,
        }
    }

    /// A cursor-paged request.
    pub fn after(
        filter: Option<&'a str>,
        sort: Option<&'a str>,
        limit: u32,
        after: Option<&'a str>,
    ) -> Self {
        Self {
            filter,
            sort,
            limit,
            offset: 0,
            after,
        }
    }
}

/// What a search tool's arguments struct provides to [`Search`].
pub trait SearchArgs {
    /// The typed fields as FQL (every value quoted and escaped by [`Fql`]); validate ids here.
    fn fql(&self) -> Result<Fql, ToolError>;
    /// Free FQL, sort and page position.
    fn page(&self) -> Page<'_>;
    /// Free text for APIs that take it beside the filter (sent as `q`); none by default.
    fn text(&self) -> Option<&str> {
        None
    }
}

/// How a family pages its query results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// `offset`/`limit`, inside the 10,000-record window.
    Offset,
    /// `after`/`limit`; the next cursor is `meta.pagination.after`.
    After,
}

/// A declared search: a query operation, how to hydrate its ids (none for combined endpoints that
/// return whole objects), the fields kept per result and the sorts allowed.
#[derive(Debug, Clone, Copy)]
pub struct Search {
    /// The query (ids) or combined (objects) operation.
    pub query: &'static str,
    /// Entity lookup for the ids; `None` when `query` returns whole objects.
    pub hydrate: Option<Hydrate>,
    /// Fields kept per result (dotted paths); empty keeps everything (pruned of empty values).
    pub summary: &'static [&'static str],
    /// Fields `sort` may name.
    pub sortable: &'static [&'static str],
    /// Sort sent when the caller gives none.
    pub default_sort: Option<&'static str>,
    /// Sorts are written `field|dir` rather than `field.dir`.
    pub pipe_sort: bool,
    /// Offset or cursor paging.
    pub paging: Paging,
    /// Extra query pairs sent with the query (e.g. facets).
    pub extra_query: &'static [(&'static str, &'static str)],
    /// When set, the API needs a filter: the message to give when none was built.
    pub filter_required: Option<&'static str>,
    /// Plural noun for the summary line and result key ("vulnerabilities").
    pub noun: &'static str,
}

impl Search {
    /// A search over `query`, results called `noun`; offset paged, no hydration, no projection.
    pub const fn new(query: &'static str, noun: &'static str) -> Self {
        Self {
            query,
            hydrate: None,
            summary: &[],
            sortable: &[],
            default_sort: None,
            pipe_sort: false,
            paging: Paging::Offset,
            extra_query: &[],
            filter_required: None,
            noun,
        }
    }

    /// Hydrate the query's ids with `h`.
    pub const fn hydrate(mut self, h: Hydrate) -> Self {
        self.hydrate = Some(h);
        self
    }

    /// Keep only these fields per result.
    pub const fn summary(mut self, fields: &'static [&'static str]) -> Self {
        self.summary = fields;
        self
    }

    /// Fields `sort` may name.
    pub const fn sortable(mut self, fields: &'static [&'static str]) -> Self {
        self.sortable = fields;
        self
    }

    /// Sort used when the caller gives none (sent as written).
    pub const fn default_sort(mut self, sort: &'static str) -> Self {
        self.default_sort = Some(sort);
        self
    }

    /// Write sorts as `field|dir`.
    pub const fn pipe_sort(mut self) -> Self {
        self.pipe_sort = true;
        self
    }

    /// Page with `after` cursors instead of offsets.
    pub const fn cursor_paged(mut self) -> Self {
        self.paging = Paging::After;
        self
    }

    /// Send these query pairs with the query.
    pub const fn with_query(mut self, pairs: &'static [(&'static str, &'static str)]) -> Self {
        self.extra_query = pairs;
        self
    }

    /// The API refuses a query without a filter; `hint` says which arguments give one.
    pub const fn filter_required(mut self, hint: &'static str) -> Self {
        self.filter_required = Some(hint);
        self
    }

    /// Run the search for `args`.
    pub fn run(&self, ctx: &Ctx<'_>, args: &impl SearchArgs) -> Result<Output, ToolError> {
        Ok(self.results(ctx, args)?.into_output(self.noun))
    }

    /// Run the search and return the projected results (for tools that add to them).
    pub fn results(
        &self,
        ctx: &Ctx<'_>,
        args: &impl SearchArgs,
    ) -> Result<SearchResult, ToolError> {
        let page = args.page();
        if let Some(f) = page.filter {
            fql::lint(f).map_err(ToolError::invalid)?;
        }
        let filter = args.fql()?.raw(page.filter).build();
        if filter.is_none()
            && let Some(hint) = self.filter_required
        {
            return Err(ToolError::invalid(format!(
                "this search needs a filter: {hint}"
            )));
        }
        let sort = fql::sort_param(page.sort, self.sortable, self.pipe_sort)
            .map_err(ToolError::invalid)?
            .or(self.default_sort.map(str::to_string));
        let mut call = ctx
            .op(self.query)
            .query_opt("filter", filter)
            .query_opt("sort", sort)
            .query_opt("q", args.text().map(str::trim).filter(|q| !q.is_empty()))
            .query("limit", page.limit);
        call = self
            .extra_query
            .iter()
            .fold(call, |c, (k, v)| c.query(k, v));
        let offset = u64::from(page.offset);
        call = match self.paging {
            Paging::Offset => {
                check_window(page.offset, page.limit)?;
                call.query("offset", page.offset)
            }
            Paging::After => call.query_opt("after", page.after.filter(|a| !a.is_empty())),
        };
        let mut result = match &self.hydrate {
            Some(h) if self.paging == Paging::Offset => ctx.search(call, offset, h)?,
            Some(h) => {
                let env = call.envelope()?;
                let ids = env.ids();
                SearchResult {
                    results: ctx.hydrate(h, &ids)?,
                    total: env.total(),
                    next: env.cursor().map_or(Next::None, Next::Cursor),
                }
            }
            None => ctx.search_combined(call, offset)?,
        };
        if self.paging == Paging::After && result.results.len() < page.limit as usize {
            // A short page is the last one, whatever cursor the API still hands out.
            result.next = Next::None;
        }
        Ok(self.project(result))
    }

    fn project(&self, result: SearchResult) -> SearchResult {
        if self.summary.is_empty() {
            let mut result = result;
            result.results = result.results.into_iter().map(prune).collect();
            result
        } else {
            result.map(|v| project(v, self.summary))
        }
    }
}

/// A declared lookup by id: the entity operation, what an id is (for messages and validation) and
/// how many one call may ask for. Unknown ids are a not-found error naming them.
#[derive(Debug, Clone, Copy)]
pub struct Get {
    /// How to fetch the entities.
    pub hydrate: Hydrate,
    /// Singular noun for messages ("vulnerability id").
    pub what: &'static str,
    /// Result key ("vulnerabilities").
    pub noun: &'static str,
    /// Validates and normalises one id.
    pub validate: fn(&str) -> Result<String, ToolError>,
    /// Most ids per call.
    pub max: usize,
    /// Description of the `ids` argument in the schema.
    pub ids_doc: &'static str,
}

impl Get {
    /// A lookup through `hydrate`; ids are checked by `validate`, at most 100 per call.
    pub const fn new(
        hydrate: Hydrate,
        what: &'static str,
        noun: &'static str,
        validate: fn(&str) -> Result<String, ToolError>,
    ) -> Self {
        Self {
            hydrate,
            what,
            noun,
            validate,
            max: 100,
            ids_doc: "",
        }
    }

    /// At most `max` ids per call.
    pub const fn max(mut self, max: usize) -> Self {
        self.max = max;
        self
    }

    /// Describe the `ids` argument (e.g. "CVE ids, CVE-2024-1234").
    pub const fn ids_doc(mut self, doc: &'static str) -> Self {
        self.ids_doc = doc;
        self
    }

    /// The arguments schema: `{"ids": [string, 1..max]}`, nothing else.
    pub fn schema(&self) -> Value {
        let mut ids = json!({"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": self.max});
        if !self.ids_doc.is_empty() {
            ids["description"] = json!(self.ids_doc);
        }
        json!({
            "type": "object",
            "properties": {"ids": ids},
            "required": ["ids"],
            "additionalProperties": false,
        })
    }

    /// Fetch `ids` (validated, deduplicated) and return them whole, pruned of empty values.
    pub fn run(&self, ctx: &Ctx<'_>, ids: &[String]) -> Result<Output, ToolError> {
        let ids = crate::ids::list(ids, self.max, self.what, self.validate)?;
        let found = ctx.hydrate_all(&self.hydrate, &ids, self.what)?;
        let found: Vec<Value> = found.into_iter().map(prune).collect();
        Ok(Output::json(
            format!("{} {}.", found.len(), self.noun),
            &json!({ self.noun: found }),
        ))
    }
}

/// Arguments of a [`Get`] tool.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GetArgs {
    pub ids: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MockEnv;
    use crate::{Plugin, ToolSpec};
    use schemars::JsonSchema;
    use serde::Deserialize;

    #[derive(Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Args {
        cve: Option<String>,
        filter: Option<String>,
        sort: Option<String>,
        #[serde(default)]
        limit: u32,
        #[serde(default)]
        offset: u32,
        after: Option<String>,
    }

    impl SearchArgs for Args {
        fn fql(&self) -> Result<Fql, ToolError> {
            Ok(Fql::new().opt(self.cve.as_deref(), |f, c| f.eq("cve.id", c)))
        }
        fn page(&self) -> Page<'_> {
            Page {
                filter: self.filter.as_deref(),
                sort: self.sort.as_deref(),
                limit: self.limit,
                offset: self.offset,
                after: self.after.as_deref(),
            }
        }
    }

    const VULNS: Hydrate = Hydrate::query("getVulns", "ids", 400).ordered_by("id");
    const SEARCH: Search = Search::new("queryVulns", "vulnerabilities")
        .hydrate(VULNS)
        .summary(&["id", "cve.id"])
        .sortable(&["created_timestamp"])
        .default_sort("created_timestamp.desc");
    const GET: Get = Get::new(VULNS, "vulnerability id", "vulnerabilities", |s| {
        Ok(s.to_string())
    })
    .max(2);

    fn plugin() -> Plugin {
        Plugin::new("demo", "0.1.0", "Demo")
            .search::<Args>(
                ToolSpec::read("demo_search", "Search", "d").ops(&["queryVulns", "getVulns"]),
                &SEARCH,
            )
            .get(
                ToolSpec::read("demo_get", "Get", "d").ops(&["getVulns"]),
                &GET,
            )
    }

    fn vuln(id: &str) -> Value {
        json!({"id": id, "cve": {"id": "CVE-1", "score": 9}, "host_info": {"hostname": "h"}})
    }

    #[test]
    fn search_builds_the_query_hydrates_and_projects() {
        let env = MockEnv::new()
            .reply(
                "queryVulns",
                200,
                json!({"meta": {"pagination": {"offset": 0, "limit": 1, "total": 3}}, "resources": ["b"]}),
            )
            .reply("getVulns", 200, json!({"resources": [vuln("b")]}));
        let out = plugin()
            .call(&env, "demo_search", r#"{"cve": "CVE-1'", "limit": 1}"#)
            .unwrap();
        let s = out.structured.unwrap();
        assert_eq!(s["results"], json!([{"id": "b", "cve": {"id": "CVE-1"}}]));
        assert_eq!(
            (s["total"].clone(), s["next"].clone()),
            (json!(3), json!(1))
        );
        let calls = env.calls();
        let q = &calls[0].query;
        assert!(
            q.contains(&("filter".into(), r"cve.id:'CVE-1\''".into())),
            "{q:?}"
        );
        assert!(
            q.contains(&("sort".into(), "created_timestamp.desc".into())),
            "{q:?}"
        );
        assert_eq!(calls[1].operation, "getVulns");
        // Bad sort and bad free FQL are refused before any request.
        let env = MockEnv::new();
        let e = plugin()
            .call(&env, "demo_search", r#"{"sort": "nope.asc"}"#)
            .unwrap_err();
        assert!(e.to_string().contains("created_timestamp"), "{e}");
        assert!(env.calls().is_empty());
    }

    #[test]
    fn cursor_paging_and_required_filter() {
        const CURSOR: Search = Search::new("queryVulns", "vulnerabilities")
            .hydrate(VULNS)
            .cursor_paged()
            .filter_required("give cve or filter");
        let env = MockEnv::new()
            .reply(
                "queryVulns",
                200,
                json!({"meta": {"pagination": {"limit": 1, "total": 5, "after": "tok2"}}, "resources": ["a"]}),
            )
            .reply("getVulns", 200, json!({"resources": [vuln("a")]}));
        let ctx = Ctx::new(&env, "t", None);
        let args = Args {
            cve: Some("CVE-1".into()),
            filter: None,
            sort: None,
            limit: 1,
            offset: 0,
            after: Some("tok1".into()),
        };
        let r = CURSOR.results(&ctx, &args).unwrap();
        assert_eq!(r.next, Next::Cursor("tok2".into()));
        assert!(
            env.calls()[0]
                .query
                .contains(&("after".into(), "tok1".into()))
        );
        let none = Args { cve: None, ..args };
        let e = CURSOR.results(&ctx, &none).unwrap_err();
        assert!(e.to_string().contains("give cve or filter"), "{e}");
    }

    #[test]
    fn get_validates_bounds_and_names_missing_ids() {
        let p = plugin();
        let d = p.describe();
        let schema: Value = serde_json::from_str(&d.tools[1].input_schema).unwrap();
        assert_eq!(schema["properties"]["ids"]["maxItems"], 2);
        let env = MockEnv::new().reply("getVulns", 200, json!({"resources": [vuln("a")]}));
        let out = p.call(&env, "demo_get", r#"{"ids": ["a"]}"#).unwrap();
        assert_eq!(out.structured.unwrap()["vulnerabilities"][0]["id"], "a");
        let e = p
            .call(&env, "demo_get", r#"{"ids": ["a", "zz"]}"#)
            .unwrap_err();
        assert!(
            matches!(e, ToolError::NotFound(ref m) if m.contains("zz")),
            "{e}"
        );
        let e = p
            .call(&env, "demo_get", r#"{"ids": ["a", "b", "c"]}"#)
            .unwrap_err();
        assert!(
            e.to_string().contains("at most 2") || e.to_string().contains('2'),
            "{e}"
        );
        let e = p.call(&env, "demo_get", r#"{"id": "a"}"#).unwrap_err();
        assert!(matches!(e, ToolError::InvalidArguments(_)), "{e}");
    }
}
