//! The `cases` tool group: Falcon case management (reference falcon-api-2 §5) — search and read
//! cases, open them from alerts, update them under optimistic versioning, attach alert and event
//! evidence, tags and files (uploads from the files directory, files an RTR session pulled), and
//! read the case configuration (custom fields, access tags).

mod casemgmt;
mod changes;
mod files;

use aerie_sdk::{
    Fql, Get, Hydrate, Page, Plugin, Resource, Search, SearchArgs, ToolError, ToolSpec, ids,
    project,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

const GUIDE: &str = "falcon://fql/cases";

/// Cases by id; reading is a POST. No documented batch maximum; 100 is what the simulator takes.
const CASES: Hydrate = Hydrate::body("entities_cases_post_v2", "ids", 100).ordered_by("id");

/// Alerts by composite id, to check evidence exists before it is attached.
const ALERTS: Hydrate =
    Hydrate::body("PostEntitiesAlertsV2", "composite_ids", 1000).ordered_by("composite_id");

/// Case fields kept in search and write results; `cases_get` returns everything.
const SUMMARY: &[&str] = &[
    "id",
    "reference_id",
    "name",
    "status",
    "severity",
    "severity_info.level",
    "assigned_to.full_name",
    "assigned_to.uuid",
    "tags",
    "version",
    "created_timestamp",
    "updated_timestamp",
];

/// Project a case to [`SUMMARY`].
fn summary(case: &Value) -> Value {
    project(case, SUMMARY)
}

// Case workflow status (no doc comment: it would repeat in every schema using it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Status {
    New,
    InProgress,
    Closed,
    Reopened,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::InProgress => "in_progress",
            Status::Closed => "closed",
            Status::Reopened => "reopened",
        }
    }
}

/// An opaque Falcon id (cases, access tags): 1–200 characters of the base64, hex and URL-safe
/// alphabets.
fn opaque(value: &str, what: &str) -> Result<String, ToolError> {
    let v = value.trim();
    let ok = !v.is_empty()
        && v.len() <= 200
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'_' | b'-'));
    if ok {
        Ok(v.to_string())
    } else {
        Err(ToolError::invalid(format!(
            "`{value}` is not a valid {what}"
        )))
    }
}

/// A case id. The human `CAS-1234` reference is not accepted by the API; say how to find the id.
fn case_id(value: &str) -> Result<String, ToolError> {
    let v = value.trim();
    if v.len() > 4
        && v[..4].eq_ignore_ascii_case("CAS-")
        && v[4..].bytes().all(|b| b.is_ascii_digit())
    {
        return Err(ToolError::invalid(format!(
            "`{v}` is a case reference, not its id: find the id with cases_search filter reference_id:'{v}'"
        )));
    }
    opaque(v, "case id (the `id` cases_search returns)")
}

/// A user UUID (assignee).
fn user_uuid(value: &str) -> Result<String, ToolError> {
    ids::uuid(value, "user UUID (assigned_to.uuid of a case)")
}

fn d20() -> u32 {
    20
}

/// Arguments of `cases_search`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SearchCases {
    status: Option<Status>,
    #[schemars(range(min = 1, max = 100))]
    min_severity: Option<u8>,
    /// User UUID
    assignee: Option<String>,
    tag: Option<String>,
    /// In evidence
    hostname: Option<String>,
    /// In evidence
    alert_id: Option<String>,
    /// Free text
    q: Option<String>,
    /// FQL, ANDed
    filter: Option<String>,
    /// field|desc
    sort: Option<String>,
    #[schemars(range(min = 1, max = 200))]
    #[serde(default = "d20")]
    limit: u32,
    #[serde(default)]
    offset: u32,
}

impl SearchArgs for SearchCases {
    fn fql(&self) -> Result<Fql, ToolError> {
        let assignee = self.assignee.as_deref().map(user_uuid).transpose()?;
        let alert = self
            .alert_id
            .as_deref()
            .map(ids::composite_alert_id)
            .transpose()?;
        Ok(Fql::new()
            .opt(self.status, |f, s| f.eq("status", s.as_str()))
            .opt(self.min_severity, |f, s| f.gte("severity", s))
            .opt(assignee, |f, u| f.eq("assigned_to_uuid", u))
            .opt(self.tag.as_deref(), |f, t| f.eq("tags", t))
            .opt(self.hostname.as_deref(), |f, h| f.eq("hostnames", h))
            .opt(alert, |f, a| f.eq("alerts", a)))
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
        self.q.as_deref()
    }
}

const SEARCH: Search = Search::new("queries_cases_get_v1", "cases")
    .hydrate(CASES)
    .summary(SUMMARY)
    .sortable(&[
        "created_timestamp",
        "updated_timestamp",
        "severity",
        "status",
        "name",
        "reference_id",
    ])
    .default_sort("created_timestamp|desc")
    .pipe_sort();

const GET: Get = Get::new(CASES, "case id", "cases", case_id).max(20);

/// The plugin.
pub fn plugin() -> Plugin {
    let p = Plugin::new(
        "cases",
        env!("CARGO_PKG_VERSION"),
        "Falcon cases: search, evidence, tags, files, versioned updates",
    )
    .search::<SearchCases>(
        ToolSpec::read(
            "cases_search",
            "Search cases",
            "Cases by status, severity, assignee, host, alert, text or FQL (falcon://fql/cases)",
        )
        .ops(&["queries_cases_get_v1", "entities_cases_post_v2"])
        .guide(GUIDE),
        &SEARCH,
    )
    .get(
        ToolSpec::read(
            "cases_get",
            "Get cases",
            "Full cases by id: evidence, hosts, users, files, version",
        )
        .ops(&["entities_cases_post_v2"]),
        &GET,
    );
    let p = changes::register(p);
    let p = files::register(p);
    casemgmt::register(p).resource(Resource::markdown(
        GUIDE,
        "Case FQL guide",
        "FQL fields, sorts and examples for cases_search",
        include_str!("fql_cases.md"),
    ))
}

aerie_sdk::export_plugin!(plugin);

#[cfg(test)]
mod tests {
    use super::*;
    use aerie_sdk::testing::MockEnv;
    use serde_json::json;

    #[test]
    fn declarations_are_valid_and_compact() {
        let p = plugin();
        p.validate().unwrap();
        let d = p.describe();
        for (name, bytes) in d.tool_bytes() {
            assert!(bytes < 1000, "{name}: {bytes} bytes");
        }
        assert!(d.average_tool_bytes() < 450, "{}", d.average_tool_bytes());
    }

    #[test]
    fn search_sends_flattened_fields_text_and_pipe_sort() {
        let env = MockEnv::new()
            .reply(
                "queries_cases_get_v1",
                200,
                json!({"meta": {"pagination": {"offset": 0, "limit": 5, "total": 1}}, "resources": ["c1"]}),
            )
            .reply(
                "entities_cases_post_v2",
                200,
                json!({"resources": [{"id": "c1", "name": "n", "status": "new", "evidence": {"alerts": {}}}]}),
            );
        let out = plugin()
            .call(
                &env,
                "cases_search",
                r#"{"status": "in_progress", "hostname": "WS-FIN-042", "q": " lsass ", "sort": "severity.asc", "limit": 5}"#,
            )
            .unwrap();
        let s = out.structured.unwrap();
        assert_eq!(
            s["results"],
            json!([{"id": "c1", "name": "n", "status": "new"}])
        );
        let q = &env.calls()[0].query;
        for pair in [
            ("filter", "status:'in_progress'+hostnames:'WS-FIN-042'"),
            ("q", "lsass"),
            ("sort", "severity|asc"),
        ] {
            assert!(
                q.contains(&(pair.0.into(), pair.1.into())),
                "{pair:?} in {q:?}"
            );
        }
        assert_eq!(env.calls()[1].body_json().unwrap(), json!({"ids": ["c1"]}));
    }

    #[test]
    fn ids_are_checked_before_any_request() {
        let env = MockEnv::new();
        let e = plugin()
            .call(&env, "cases_get", r#"{"ids": ["CAS-1001"]}"#)
            .unwrap_err();
        assert!(e.to_string().contains("reference_id:'CAS-1001'"), "{e}");
        let e = plugin()
            .call(&env, "cases_get", r#"{"ids": ["a b"]}"#)
            .unwrap_err();
        assert!(e.to_string().contains("`a b`"), "{e}");
        let e = plugin()
            .call(&env, "cases_search", r#"{"assignee": "bob"}"#)
            .unwrap_err();
        assert!(e.to_string().contains("user UUID"), "{e}");
        assert!(env.calls().is_empty());
    }
}
