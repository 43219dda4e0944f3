//! NG-SIEM content and data (reference part 2 §10): saved queries, dashboards and parsers (list,
//! and their LogScale YAML templates), lookup files (list, and one file's content into the
//! operator's files directory), data connections with their provisioning status, connectors and
//! their configurations. All reads.
//!
//! The content endpoints answer 400 without their selector parameter (`search_domain`, or
//! `repository=parsers-repository` for parsers), so every call sends one (§10.1); their `limit`
//! and `offset` are strings and their `ids` comma-separated. One [`Kind`] declaration per
//! content type drives the shared list and get handlers.

use aerie_sdk::fql::Fql;
use aerie_sdk::{
    Ctx, Envelope, Output, Plugin, SearchResult, Shape, ToolError, ToolSpec, fql, next_offset,
    project, prune,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

/// `search_domain` values of saved queries and dashboards (lookup files add one).
const DOMAINS: &[&str] = &["all", "falcon", "third-party", "dashboards", "query-audit"];
const LOOKUP_DOMAINS: &[&str] = &[
    "all",
    "falcon",
    "third-party",
    "dashboards",
    "parsers-repository",
    "query-audit",
];

/// One content type: its operations, selector, the field that names an item and the fields a
/// list keeps.
struct Kind {
    list_op: &'static str,
    get_op: &'static str,
    /// `search_domain`, or `repository` (parsers).
    selector: &'static str,
    /// Values the selector takes; the first is sent when the caller gives none.
    domains: &'static [&'static str],
    /// Field holding an item's id in list answers (parsers say `ID`).
    id_field: &'static str,
    /// Plural noun and result key.
    noun: &'static str,
    /// Fields a list keeps.
    summary: &'static [&'static str],
}

const SAVED: Kind = Kind {
    list_op: "ListSavedQueries",
    get_op: "GetSavedQueryTemplate",
    selector: "search_domain",
    domains: DOMAINS,
    id_field: "id",
    noun: "saved_queries",
    summary: &["id", "name", "description", "last_modified"],
};

const DASHBOARDS: Kind = Kind {
    list_op: "ListDashboards",
    get_op: "GetDashboardTemplate",
    selector: "search_domain",
    domains: DOMAINS,
    id_field: "id",
    noun: "dashboards",
    summary: &["id", "name", "labels", "last_modified"],
};

const PARSERS: Kind = Kind {
    list_op: "ListParsers",
    get_op: "GetParserTemplate",
    selector: "repository",
    domains: &["parsers-repository"],
    id_field: "ID",
    noun: "parsers",
    summary: &[
        "ID",
        "Name",
        "vendor",
        "product",
        "parser_type",
        "version",
        "latest_version",
        "update_available",
    ],
};

const LOOKUPS: Kind = Kind {
    list_op: "ListLookupFiles",
    get_op: "GetLookupFile",
    selector: "search_domain",
    domains: LOOKUP_DOMAINS,
    id_field: "filename",
    noun: "lookup_files",
    summary: &["filename"],
};

impl Kind {
    /// The selector value: the caller's, checked, or the default.
    fn domain(&self, given: Option<&str>) -> Result<&'static str, ToolError> {
        match given.map(str::trim) {
            None | Some("") => Ok(self.domains[0]),
            Some(d) => self
                .domains
                .iter()
                .copied()
                .find(|x| *x == d)
                .ok_or_else(|| {
                    ToolError::invalid(format!(
                        "search_domain `{d}` must be one of {}",
                        self.domains.join(", ")
                    ))
                }),
        }
    }
}

fn d20() -> u32 {
    20
}

/// Arguments of the content lists.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ListArgs {
    /// Name contains
    name: Option<String>,
    /// all (default), falcon, third-party…
    search_domain: Option<String>,
    #[schemars(range(min = 1, max = 1000))]
    #[serde(default = "d20")]
    limit: u32,
    #[serde(default)]
    offset: u32,
}

/// Arguments of `ngsiem_list_parsers`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ParserListArgs {
    /// Name contains
    name: Option<String>,
    /// ootb, custom, extension
    parser_type: Option<String>,
    update_available: Option<bool>,
    #[schemars(range(min = 1, max = 1000))]
    #[serde(default = "d20")]
    limit: u32,
    #[serde(default)]
    offset: u32,
}

/// One page of a content list. `name` is the API's only filter (`name:~'…'`); records come
/// back as objects, or as bare ids/file names (the swagger's `[string]`), made `{id_field: …}`.
fn list(
    ctx: &Ctx<'_>,
    kind: &Kind,
    domain: &str,
    name: Option<&str>,
    page: (u32, u32),
    extra: &[(&str, String)],
) -> Result<Output, ToolError> {
    let (limit, offset) = page;
    aerie_sdk::check_window(offset, limit)?;
    let filter = Fql::new().opt(name, |f, n| f.matches("name", n)).build();
    let call = ctx
        .op(kind.list_op)
        .query(kind.selector, domain)
        .query_opt("filter", filter)
        .query("limit", limit)
        .query("offset", offset);
    let env = extra
        .iter()
        .fold(call, |c, (k, v)| c.query(k, v))
        .envelope()?;
    let total = env.total();
    let results: Vec<Value> = env
        .resources
        .into_iter()
        .map(|r| match r {
            Value::String(s) => json!({ kind.id_field: s }),
            other => project(&other, kind.summary),
        })
        .collect();
    let next = next_offset(u64::from(offset), results.len(), total);
    Ok(SearchResult {
        results,
        total,
        next,
    }
    .into_output(&kind.noun.replace('_', " ")))
}

/// Items by id from an operation taking comma-separated `ids`; unknown ids are not-found.
fn by_ids(
    ctx: &Ctx<'_>,
    op: &str,
    ids: &[String],
    selector: Option<(&str, &str)>,
    what: &str,
) -> Result<Vec<Value>, ToolError> {
    let ids = aerie_sdk::ids::list(ids, 20, what, content_id)?;
    let mut call = ctx.op(op).query("ids", ids.join(","));
    if let Some((k, v)) = selector {
        call = call.query(k, v);
    }
    let env: Envelope = call.send_allowing(&[404])?.envelope()?;
    let missing: Vec<&str> = ids
        .iter()
        .filter(|id| {
            !env.resources
                .iter()
                .any(|r| r.get("id").and_then(Value::as_str) == Some(id.as_str()))
        })
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(ToolError::not_found(format!(
            "{what} {}",
            missing.join(", ")
        )));
    }
    Ok(env.resources.into_iter().map(prune).collect())
}

/// Content and connection ids: hex, with `:` and `.` in parser ids (`<hex>:2.0.1`), `-` in
/// connector ids.
fn content_id(s: &str) -> Result<String, ToolError> {
    let v = s.trim();
    if !v.is_empty()
        && v.len() <= 128
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_:.".contains(&b))
    {
        Ok(v.to_string())
    } else {
        Err(ToolError::invalid(format!(
            "`{s}` is not an NG-SIEM id: letters, digits, `-`, `_`, `:` and `.` only"
        )))
    }
}

/// Arguments of the template lookups.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct GetArgs {
    /// Ids from the list
    #[schemars(length(min = 1, max = 20))]
    ids: Vec<String>,
    /// Default all
    search_domain: Option<String>,
}

fn get(ctx: &Ctx<'_>, kind: &Kind, a: GetArgs) -> Result<Output, ToolError> {
    let domain = kind.domain(a.search_domain.as_deref())?;
    let what = kind.noun.trim_end_matches('s').replace('_', " ");
    let items = by_ids(
        ctx,
        kind.get_op,
        &a.ids,
        Some((kind.selector, domain)),
        &what,
    )?;
    Ok(Output::json(
        format!(
            "{} {} as LogScale YAML.",
            items.len(),
            kind.noun.replace('_', " ")
        ),
        &json!({ kind.noun: items }),
    ))
}

/// Arguments of `ngsiem_get_lookup_file`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct LookupArgs {
    /// File name from the list
    filename: String,
    /// Default all
    search_domain: Option<String>,
    /// Default filename
    save_as: Option<String>,
}

/// Lines shown from a lookup file.
const PREVIEW_LINES: usize = 10;

/// A file name that is also a plain name in the files directory.
fn plain_name(name: &str, what: &str) -> Result<String, ToolError> {
    let n = name.trim();
    if !n.is_empty()
        && n.len() <= 255
        && !n.starts_with('.')
        && !n.contains(['/', '\\'])
        && !n.chars().any(char::is_control)
    {
        Ok(n.to_string())
    } else {
        Err(ToolError::invalid(format!(
            "{what} `{name}` must be a plain file name (no path, no leading dot)"
        )))
    }
}

fn get_lookup(ctx: &Ctx<'_>, a: LookupArgs) -> Result<Output, ToolError> {
    let filename = plain_name(&a.filename, "filename")?;
    let save_as = match a.save_as.as_deref() {
        Some(s) => plain_name(s, "save_as")?,
        None => filename.clone(),
    };
    let domain = LOOKUPS.domain(a.search_domain.as_deref())?;
    let bytes = ctx
        .op(LOOKUPS.get_op)
        .query("filename", &filename)
        .query("search_domain", domain)
        .subject(format!("lookup file {filename}"))
        .send()?
        .body;
    let text = String::from_utf8_lossy(&bytes);
    let lines = text.lines().count();
    let preview: Vec<&str> = text.lines().take(PREVIEW_LINES).collect();
    // Without the files directory the preview still answers the question.
    let (saved, note) = match ctx.write_file(&save_as, &bytes) {
        Ok(sha256) => (
            json!({"saved_as": save_as, "sha256": sha256}),
            String::new(),
        ),
        Err(ToolError::Denied(reason)) => (
            json!({"saved_as": null, "not_saved": reason}),
            format!("; not saved: {reason}"),
        ),
        Err(e) => return Err(e),
    };
    let mut out = json!({
        "filename": filename, "bytes": bytes.len(), "lines": lines, "preview": preview,
    });
    if let (Value::Object(o), Value::Object(s)) = (&mut out, saved) {
        o.extend(s);
    }
    Ok(Output::json(
        format!(
            "{filename}: {} bytes, {lines} lines{}{note}.",
            bytes.len(),
            if note.is_empty() {
                format!(", saved as {save_as}")
            } else {
                String::new()
            }
        ),
        &out,
    ))
}

/// Arguments of `ngsiem_list_data_connections` and `ngsiem_list_connectors`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct DataListArgs {
    /// Name contains
    name: Option<String>,
    /// FQL, ANDed
    filter: Option<String>,
    #[schemars(range(min = 1, max = 500))]
    #[serde(default = "d20")]
    limit: u32,
    #[serde(default)]
    offset: u32,
}

const CONNECTION_SUMMARY: &[&str] = &[
    "id",
    "name",
    "status",
    "source_type",
    "vendor_name",
    "vendor_product_name",
    "parser_name",
    "last_ingested",
    "last_ingested_volume_one_day",
];

const CONNECTOR_SUMMARY: &[&str] = &[
    "id",
    "name",
    "type",
    "vendor_name",
    "vendor_product_name",
    "parsers",
];

fn data_list(
    ctx: &Ctx<'_>,
    op: &str,
    noun: &str,
    summary: &[&str],
    a: DataListArgs,
) -> Result<Output, ToolError> {
    aerie_sdk::check_window(a.offset, a.limit)?;
    if let Some(f) = &a.filter {
        fql::lint(f).map_err(ToolError::invalid)?;
    }
    let filter = Fql::new()
        .opt(a.name.as_deref(), |f, n| f.matches("name", n))
        .raw(a.filter.as_deref())
        .build();
    let call = ctx
        .op(op)
        .query_opt("filter", filter)
        .query("limit", a.limit)
        .query("offset", a.offset);
    Ok(ctx
        .search_combined(call, u64::from(a.offset))?
        .map(|v| project(v, summary))
        .into_output(noun))
}

/// Arguments of `ngsiem_get_data_connections`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ConnectionArgs {
    #[schemars(length(min = 1, max = 20))]
    ids: Vec<String>,
}

/// Connections with their provisioning status (`status`, last ingest) merged in.
fn get_connections(ctx: &Ctx<'_>, a: ConnectionArgs) -> Result<Output, ToolError> {
    let mut conns = by_ids(
        ctx,
        "ExternalGetDataConnectionByID",
        &a.ids,
        None,
        "data connection",
    )?;
    let ids: Vec<String> = conns
        .iter()
        .filter_map(|c| c["id"].as_str().map(str::to_string))
        .collect();
    let statuses = by_ids(
        ctx,
        "ExternalGetDataConnectionStatus",
        &ids,
        None,
        "data connection status",
    )?;
    for c in &mut conns {
        let status = statuses.iter().find(|s| s["id"] == c["id"]).cloned();
        if let (Some(Value::Object(mut s)), Value::Object(o)) = (status, &mut *c) {
            s.remove("id");
            o.insert("provisioning".into(), Value::Object(s));
        }
    }
    let states: Vec<String> = conns
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c["name"].as_str().unwrap_or("?"),
                c["provisioning"]["status"]
                    .as_str()
                    .or(c["status"].as_str())
                    .unwrap_or("unknown")
            )
        })
        .collect();
    Ok(Output::json(
        format!("{} data connection(s): {}.", conns.len(), states.join(", ")),
        &json!({ "connections": conns }),
    ))
}

/// Arguments of `ngsiem_get_connector_configs`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ConnectorArgs {
    id: String,
}

fn connector_configs(ctx: &Ctx<'_>, a: ConnectorArgs) -> Result<Output, ToolError> {
    let id = content_id(&a.id)?;
    let env = ctx
        .op("ExternalListConnectorConfigs")
        .query("ids", &id)
        .subject(format!("connector {id}"))
        .envelope()?;
    let configs: Vec<Value> = env.resources.into_iter().map(prune).collect();
    Ok(Output::json(
        format!("{} configuration(s) of connector {id}.", configs.len()),
        &json!({"connector": id, "configs": configs}),
    ))
}

const PARSER_TYPES: &[&str] = &["ootb", "custom", "extension"];

fn list_parsers(ctx: &Ctx<'_>, a: ParserListArgs) -> Result<Output, ToolError> {
    let mut extra = Vec::new();
    if let Some(t) = a.parser_type.as_deref().map(str::trim) {
        if !PARSER_TYPES.contains(&t) {
            return Err(ToolError::invalid(format!(
                "parser_type `{t}` must be one of {}",
                PARSER_TYPES.join(", ")
            )));
        }
        extra.push(("parser_type", t.to_string()));
    }
    if let Some(u) = a.update_available {
        extra.push(("update_available", u.to_string()));
    }
    let domain = PARSERS.domains[0];
    list(
        ctx,
        &PARSERS,
        domain,
        a.name.as_deref(),
        (a.limit, a.offset),
        &extra,
    )
}

fn list_content(ctx: &Ctx<'_>, kind: &Kind, a: ListArgs) -> Result<Output, ToolError> {
    let domain = kind.domain(a.search_domain.as_deref())?;
    list(
        ctx,
        kind,
        domain,
        a.name.as_deref(),
        (a.limit, a.offset),
        &[],
    )
}

/// Parser templates take `repository`, not `search_domain`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ParserGetArgs {
    /// Ids from the list
    #[schemars(length(min = 1, max = 20))]
    ids: Vec<String>,
}

/// Add the content and data-connection tools to `p`.
pub(crate) fn add(p: Plugin) -> Plugin {
    p.tool(
        ToolSpec::read(
            "ngsiem_list_saved_queries",
            "List saved queries",
            "Saved queries by name",
        )
        .ops(&["ListSavedQueries"])
        .output(Shape::Search),
        |ctx, a| list_content(ctx, &SAVED, a),
    )
    .tool(
        ToolSpec::read(
            "ngsiem_get_saved_queries",
            "Get saved queries",
            "Saved queries as LogScale YAML (CQL, time range)",
        )
        .ops(&["GetSavedQueryTemplate"])
        .output(Shape::List("saved_queries")),
        |ctx, a| get(ctx, &SAVED, a),
    )
    .tool(
        ToolSpec::read(
            "ngsiem_list_dashboards",
            "List dashboards",
            "Dashboards by name",
        )
        .ops(&["ListDashboards"])
        .output(Shape::Search),
        |ctx, a| list_content(ctx, &DASHBOARDS, a),
    )
    .tool(
        ToolSpec::read(
            "ngsiem_get_dashboards",
            "Get dashboards",
            "Dashboards as LogScale YAML (widgets and their queries)",
        )
        .ops(&["GetDashboardTemplate"])
        .output(Shape::List("dashboards")),
        |ctx, a| get(ctx, &DASHBOARDS, a),
    )
    .tool(
        ToolSpec::read(
            "ngsiem_list_lookup_files",
            "List lookup files",
            "Lookup file names (CSV/JSON for match())",
        )
        .ops(&["ListLookupFiles"])
        .output(Shape::Search),
        |ctx, a| list_content(ctx, &LOOKUPS, a),
    )
    .tool(
        ToolSpec::read(
            "ngsiem_get_lookup_file",
            "Get lookup file",
            "A lookup file's first lines; its content goes to the files dir",
        )
        .ops(&["GetLookupFile"])
        .output(Shape::Fields(
            "filename:string bytes:integer saved_as:string|null",
        ))
        .not_cacheable(),
        get_lookup,
    )
    .tool(
        ToolSpec::read(
            "ngsiem_list_parsers",
            "List parsers",
            "Parsers by name, type or available update",
        )
        .ops(&["ListParsers"])
        .output(Shape::Search),
        list_parsers,
    )
    .tool(
        ToolSpec::read(
            "ngsiem_get_parsers",
            "Get parsers",
            "Parsers as LogScale YAML (script, tagged fields)",
        )
        .ops(&["GetParserTemplate"])
        .output(Shape::List("parsers")),
        |ctx, a: ParserGetArgs| {
            get(
                ctx,
                &PARSERS,
                GetArgs {
                    ids: a.ids,
                    search_domain: None,
                },
            )
        },
    )
    .tool(
        ToolSpec::read(
            "ngsiem_list_data_connections",
            "List data connections",
            "Third-party data connections: status, vendor, parser, last ingest",
        )
        .ops(&["ExternalListDataConnections"])
        .output(Shape::Search),
        |ctx, a| {
            data_list(
                ctx,
                "ExternalListDataConnections",
                "data connections",
                CONNECTION_SUMMARY,
                a,
            )
        },
    )
    .tool(
        ToolSpec::read(
            "ngsiem_get_data_connections",
            "Get data connections",
            "Full data connections with their provisioning status",
        )
        .ops(&[
            "ExternalGetDataConnectionByID",
            "ExternalGetDataConnectionStatus",
        ])
        .output(Shape::List("connections"))
        .not_cacheable(),
        get_connections,
    )
    .tool(
        ToolSpec::read(
            "ngsiem_list_connectors",
            "List data connectors",
            "Connectors a data connection can be made from",
        )
        .ops(&["ExternalListDataConnectors"])
        .output(Shape::Search),
        |ctx, a| {
            data_list(
                ctx,
                "ExternalListDataConnectors",
                "connectors",
                CONNECTOR_SUMMARY,
                a,
            )
        },
    )
    .tool(
        ToolSpec::read(
            "ngsiem_get_connector_configs",
            "Get connector configs",
            "Configurations of one data connector",
        )
        .ops(&["ExternalListConnectorConfigs"])
        .output(Shape::Fields("connector:string configs:array")),
        connector_configs,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use aerie_sdk::testing::MockEnv;

    fn call(env: &MockEnv, tool: &str, args: Value) -> Result<Output, ToolError> {
        crate::plugin().call(env, tool, &args.to_string())
    }

    fn query_of(env: &MockEnv, op: &str) -> Vec<(String, String)> {
        env.calls_to(op)[0].query.clone()
    }

    #[test]
    fn lists_always_send_their_selector_and_normalise_ids() {
        let env = MockEnv::new()
            .reply(
                "ListSavedQueries",
                200,
                json!({"meta": {"pagination": {"offset": 0, "limit": 1, "total": 3}},
                       "resources": [{"id": "a1", "name": "Q", "yaml_template": "big"}]}),
            )
            .reply("ListLookupFiles", 200, json!({"resources": ["bad.csv"]}))
            .reply("ListParsers", 200, json!({"resources": []}));
        let out = call(
            &env,
            "ngsiem_list_saved_queries",
            json!({"name": "dropper", "limit": 1}),
        )
        .unwrap();
        let q = query_of(&env, "ListSavedQueries");
        for pair in [
            ("search_domain", "all"),
            ("filter", "name:~'dropper'"),
            ("limit", "1"),
            ("offset", "0"),
        ] {
            assert!(q.contains(&(pair.0.into(), pair.1.into())), "{q:?}");
        }
        let s = out.structured.unwrap();
        assert_eq!(s["results"], json!([{"id": "a1", "name": "Q"}]));
        assert_eq!(s["next"], 1);
        let s = call(
            &env,
            "ngsiem_list_lookup_files",
            json!({"search_domain": "parsers-repository"}),
        )
        .unwrap()
        .structured
        .unwrap();
        assert_eq!(s["results"], json!([{"filename": "bad.csv"}]));
        call(
            &env,
            "ngsiem_list_parsers",
            json!({"parser_type": "custom", "update_available": true}),
        )
        .unwrap();
        let q = query_of(&env, "ListParsers");
        for pair in [
            ("repository", "parsers-repository"),
            ("parser_type", "custom"),
            ("update_available", "true"),
        ] {
            assert!(q.contains(&(pair.0.into(), pair.1.into())), "{q:?}");
        }
        // Bad selector or type: refused before any call.
        let env = MockEnv::new();
        let e = call(
            &env,
            "ngsiem_list_dashboards",
            json!({"search_domain": "parsers-repository"}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("query-audit"), "{e}");
        assert!(call(&env, "ngsiem_list_parsers", json!({"parser_type": "x"})).is_err());
        assert!(env.calls().is_empty());
    }

    #[test]
    fn gets_send_csv_ids_and_name_the_missing() {
        let env = MockEnv::new().reply(
            "GetParserTemplate",
            200,
            json!({"resources": [{"id": "ab:1.0.0", "name": "p", "yaml_template": "script: x"}],
                   "errors": [{"code": 404, "message": "not found", "id": "cd:2.0.0"}]}),
        );
        let e = call(
            &env,
            "ngsiem_get_parsers",
            json!({"ids": ["ab:1.0.0", "cd:2.0.0"]}),
        )
        .unwrap_err();
        assert!(
            matches!(e, ToolError::NotFound(ref m) if m.contains("cd:2.0.0") && !m.contains("ab:")),
            "{e}"
        );
        let q = query_of(&env, "GetParserTemplate");
        assert!(
            q.contains(&("ids".into(), "ab:1.0.0,cd:2.0.0".into())),
            "{q:?}"
        );
        assert!(q.contains(&("repository".into(), "parsers-repository".into())));
        let env = MockEnv::new();
        assert!(call(&env, "ngsiem_get_saved_queries", json!({"ids": ["a b"]})).is_err());
        assert!(env.calls().is_empty());
    }

    #[test]
    fn lookup_file_is_saved_and_previewed() {
        let content: String = (0..15).map(|i| format!("row{i}\n")).collect();
        let env = MockEnv::new().reply_bytes("GetLookupFile", 200, content.clone().into_bytes());
        let out = call(
            &env,
            "ngsiem_get_lookup_file",
            json!({"filename": "bad.csv", "save_as": "copy.csv"}),
        )
        .unwrap();
        let s = out.structured.unwrap();
        assert_eq!(s["lines"], 15);
        assert_eq!(s["preview"].as_array().unwrap().len(), PREVIEW_LINES);
        assert_eq!(s["saved_as"], "copy.csv");
        assert_eq!(env.file_contents("copy.csv").unwrap(), content.as_bytes());
        let q = query_of(&env, "GetLookupFile");
        assert!(q.contains(&("search_domain".into(), "all".into())));
        let env = MockEnv::new();
        for bad in ["../x.csv", ".hidden", ""] {
            assert!(
                call(&env, "ngsiem_get_lookup_file", json!({"filename": bad})).is_err(),
                "{bad}"
            );
        }
        assert!(env.calls().is_empty());
    }

    #[test]
    fn connections_carry_their_provisioning_status() {
        let env = MockEnv::new()
            .reply(
                "ExternalGetDataConnectionByID",
                200,
                json!({"resources": [{"id": "c1", "name": "GitHub audit", "status": "provisioning"}]}),
            )
            .reply(
                "ExternalGetDataConnectionStatus",
                200,
                json!({"resources": [{"id": "c1", "status": "provisioning", "last_ingested_ts": ""}]}),
            );
        let out = call(&env, "ngsiem_get_data_connections", json!({"ids": ["c1"]})).unwrap();
        let s = out.structured.unwrap();
        assert_eq!(
            s["connections"][0]["provisioning"],
            json!({"status": "provisioning"})
        );
        assert!(
            out.text.contains("GitHub audit provisioning"),
            "{}",
            out.text
        );
    }
}
