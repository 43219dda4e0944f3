//! The `threat_graph` tool group: Falcon Threat Graph (reference part 2 §9) — where a hash,
//! domain or IP was seen (ran-on), vertex details and summaries with their edges, and one
//! vertex's edges of a type, with direction. Edge types are documented in a resource.

use aerie_sdk::{
    Ctx, Next, Output, Plugin, Resource, Shape, Template, ToolError, ToolSpec, ids, project, prune,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

const EDGE_TYPES: &str = "falcon://threat-graph/edge-types";

/// Fields of a process vertex worth showing in a list (its hash is the one asked about, or on
/// the vertex with threat_graph_get_vertices).
const VERTEX_SUMMARY: &[&str] = &[
    "id",
    "device_id",
    "timestamp",
    "properties.FileName",
    "properties.CommandLine",
    "properties.UserName",
];

fn d5() -> u32 {
    5
}
fn d20() -> u32 {
    20
}

// Indicator kinds ran-on takes (no doc comment: see VertexType).
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Indicator {
    Sha256,
    Sha1,
    Md5,
    Domain,
    Ipv4,
    Ipv6,
}

impl Indicator {
    fn as_str(self) -> &'static str {
        match self {
            Indicator::Sha256 => "sha256",
            Indicator::Sha1 => "sha1",
            Indicator::Md5 => "md5",
            Indicator::Domain => "domain",
            Indicator::Ipv4 => "ipv4",
            Indicator::Ipv6 => "ipv6",
        }
    }
}

/// The indicator type and normalised value: as given, or detected from its form.
fn indicator(value: &str, kind: Option<Indicator>) -> Result<(Indicator, String), ToolError> {
    let v = value.trim();
    let sha1 = |v: &str| v.len() == 40 && v.bytes().all(|b| b.is_ascii_hexdigit());
    let ioc = |k: Indicator| match k {
        Indicator::Sha256 => Some(ids::IocType::Sha256),
        Indicator::Md5 => Some(ids::IocType::Md5),
        Indicator::Domain => Some(ids::IocType::Domain),
        Indicator::Ipv4 => Some(ids::IocType::Ipv4),
        Indicator::Ipv6 => Some(ids::IocType::Ipv6),
        Indicator::Sha1 => None,
    };
    let check = |k: Indicator| -> Result<String, ToolError> {
        match ioc(k) {
            Some(t) => ids::ioc_value(t, v),
            None if sha1(v) => Ok(v.to_ascii_lowercase()),
            None => Err(ToolError::invalid(format!(
                "`{value}` is not a valid sha1 value: expected 40 hexadecimal characters"
            ))),
        }
    };
    match kind {
        Some(k) => Ok((k, check(k)?)),
        None if sha1(v) => Ok((Indicator::Sha1, v.to_ascii_lowercase())),
        None => {
            let t = ids::IocType::detect(v).ok_or_else(|| {
                ToolError::invalid(format!(
                    "`{value}` is not a hash (SHA-256, SHA-1, MD5), domain or IP address"
                ))
            })?;
            let k = match t {
                ids::IocType::Sha256 => Indicator::Sha256,
                ids::IocType::Md5 => Indicator::Md5,
                ids::IocType::Domain => Indicator::Domain,
                ids::IocType::Ipv4 => Indicator::Ipv4,
                ids::IocType::Ipv6 => Indicator::Ipv6,
            };
            Ok((k, check(k)?))
        }
    }
}

/// A page position: Threat Graph pages with opaque string offsets.
fn cursor(c: Option<&str>) -> Result<Option<&str>, ToolError> {
    match c.map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) if c.len() > 512 || !c.bytes().all(|b| b.is_ascii_graphic()) => Err(
            ToolError::invalid("cursor must be the `next` value of a previous page"),
        ),
        other => Ok(other),
    }
}

/// The next page's offset token from `meta.pagination`, when there is one.
fn next_page(env: &aerie_sdk::Envelope, returned: usize, limit: u32) -> Next {
    let token = env
        .meta
        .pagination
        .as_ref()
        .and_then(|p| p.offset.as_ref())
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty());
    match token {
        Some(t) if returned as u32 >= limit => Next::Cursor(t.to_string()),
        _ => Next::None,
    }
}

/// Arguments of `threat_graph_ran_on`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RanOnArgs {
    value: String,
    /// Detected if omitted
    #[serde(rename = "type")]
    kind: Option<Indicator>,
    #[schemars(range(min = 1, max = 100))]
    #[serde(default = "d20")]
    limit: u32,
    cursor: Option<String>,
}

fn ran_on(ctx: &Ctx<'_>, a: RanOnArgs) -> Result<Output, ToolError> {
    let (kind, value) = indicator(&a.value, a.kind)?;
    let env = ctx
        .op("combined_ran_on_get")
        .query("type", kind.as_str())
        .query("value", &value)
        .query("limit", a.limit)
        .query_opt("offset", cursor(a.cursor.as_deref())?)
        .envelope()?;
    let next = next_page(&env, env.resources.len(), a.limit);
    // Hosts first: how many processes on each, first and last seen.
    let mut devices: Vec<Value> = Vec::new();
    for v in &env.resources {
        let aid = v["device_id"].as_str().unwrap_or_default();
        let ts = v["timestamp"].as_str().unwrap_or_default();
        match devices.iter_mut().find(|d| d["device_id"] == aid) {
            Some(d) => {
                d["processes"] = json!(d["processes"].as_u64().unwrap_or(0) + 1);
                if d["first_seen"].as_str().is_some_and(|f| ts < f) {
                    d["first_seen"] = json!(ts);
                }
                if d["last_seen"].as_str().is_some_and(|l| ts > l) {
                    d["last_seen"] = json!(ts);
                }
            }
            None => devices
                .push(json!({"device_id": aid, "processes": 1, "first_seen": ts, "last_seen": ts})),
        }
    }
    let processes: Vec<Value> = env
        .resources
        .iter()
        .map(|v| project(v, VERTEX_SUMMARY))
        .collect();
    let more = match &next {
        Next::Cursor(c) => format!("; next page: cursor={c}"),
        _ => String::new(),
    };
    Ok(Output::json(
        format!(
            "{} {value}: {} process(es) on {} host(s) in this page{more}.",
            kind.as_str(),
            processes.len(),
            devices.len()
        ),
        &json!({"indicator": {"type": kind.as_str(), "value": value}, "devices": devices,
                "processes": processes, "next": next}),
    ))
}

// Vertex type of the ids (no doc comment: it would be repeated in every schema using it).
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum VertexType {
    #[default]
    Any,
    Process,
    Module,
    Indicator,
    Domain,
    Ipv4,
    Ipv6,
}

impl VertexType {
    /// The `{vertex_type}` path segment.
    fn path(self) -> &'static str {
        match self {
            VertexType::Any => "any-vertex",
            VertexType::Process => "processes",
            VertexType::Module => "modules",
            VertexType::Indicator => "indicators",
            VertexType::Domain => "domains",
            VertexType::Ipv4 => "ipv4",
            VertexType::Ipv6 => "ipv6",
        }
    }
}

/// A vertex id (`pid:<aid>:<n>`, `module:<aid>:<sha256>`, `domain:<cid>:<name>`, …).
fn vertex_id(s: &str) -> Result<String, ToolError> {
    let v = s.trim();
    let ok = v.len() <= 300
        && v.split(':').count() >= 2
        && v.split(':').all(|p| !p.is_empty())
        && v.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(v.to_string())
    } else {
        Err(ToolError::invalid(format!(
            "`{s}` is not a Threat Graph vertex id (expected e.g. pid:<aid>:<process id> or module:<aid>:<sha256>; threat_graph_ran_on finds them)"
        )))
    }
}

/// Arguments of `threat_graph_get_vertices`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct VerticesArgs {
    #[schemars(length(min = 1, max = 100))]
    ids: Vec<String>,
    #[serde(default)]
    vertex_type: VertexType,
}

/// Fetch vertices through `op`; every id must come back.
fn fetch(
    ctx: &Ctx<'_>,
    op: &str,
    ids_in: &[String],
    max: usize,
    t: VertexType,
) -> Result<Vec<Value>, ToolError> {
    let wanted = ids::list(ids_in, max, "vertex id", vertex_id)?;
    let reply = ctx
        .op(op)
        .path("vertex_type", t.path())
        .query_all("ids", &wanted)
        .send_allowing(&[404])?;
    let env = reply.envelope()?;
    let missing: Vec<&str> = wanted
        .iter()
        .map(String::as_str)
        .filter(|id| !env.resources.iter().any(|v| v["id"] == *id))
        .collect();
    if !missing.is_empty() {
        let of = match t {
            VertexType::Any => String::new(),
            t => format!(" of type {t:?}"),
        };
        return Err(ToolError::not_found(format!(
            "vertex {}{of} not found",
            missing.join(", ")
        )));
    }
    Ok(env.resources)
}

fn vertices(ctx: &Ctx<'_>, a: VerticesArgs) -> Result<Output, ToolError> {
    let found = fetch(ctx, "entities_vertices_getv2", &a.ids, 100, a.vertex_type)?;
    let found: Vec<Value> = found.into_iter().map(prune).collect();
    Ok(Output::json(
        format!("{} vertex(es).", found.len()),
        &json!({ "vertices": found }),
    ))
}

/// Arguments of `threat_graph_get_summary`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SummaryArgs {
    #[schemars(length(min = 1, max = 20))]
    ids: Vec<String>,
    #[serde(default)]
    vertex_type: VertexType,
    /// Listed per type
    #[schemars(range(max = 50))]
    #[serde(default = "d5")]
    edges: u32,
}

/// A vertex with its edges counted per type and the first `keep` of each listed.
fn summarise(mut v: Value, keep: usize) -> Value {
    let edges = v
        .as_object_mut()
        .and_then(|o| o.remove("edges"))
        .unwrap_or(Value::Null);
    let mut by_type = serde_json::Map::new();
    for (t, list) in edges.as_object().into_iter().flatten() {
        let list = list.as_array().cloned().unwrap_or_default();
        let (out, inc) = list.iter().fold((0, 0), |(o, i), e| {
            if e["direction"] == "secondary" {
                (o, i + 1)
            } else {
                (o + 1, i)
            }
        });
        let first: Vec<Value> = list
            .iter()
            .take(keep)
            .map(|e| prune(json!({"id": e["id"], "direction": e["direction"], "timestamp": e["timestamp"], "properties": e["properties"]})))
            .collect();
        by_type.insert(
            t.clone(),
            json!({"count": list.len(), "primary": out, "secondary": inc, "first": first}),
        );
    }
    let mut v = prune(v);
    v["edges"] = Value::Object(by_type);
    v
}

fn summary(ctx: &Ctx<'_>, a: SummaryArgs) -> Result<Output, ToolError> {
    let found = fetch(ctx, "combined_summary_get", &a.ids, 20, a.vertex_type)?;
    let found: Vec<Value> = found
        .into_iter()
        .map(|v| summarise(v, a.edges as usize))
        .collect();
    let line = found
        .iter()
        .map(|v| {
            let kinds: Vec<String> = v["edges"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(t, e)| format!("{t} {}", e["count"]))
                .collect();
            format!(
                "{} ({}): {}",
                v["id"].as_str().unwrap_or("?"),
                v["vertex_type"].as_str().unwrap_or("?"),
                if kinds.is_empty() {
                    "no edges".into()
                } else {
                    kinds.join(", ")
                }
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    Ok(Output::json(line, &json!({ "vertices": found })))
}

// Which end of an edge (no doc comment: see VertexType).
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Direction {
    Primary,
    Secondary,
}

/// Arguments of `threat_graph_get_edges`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct EdgesArgs {
    id: String,
    /// See falcon://threat-graph/edge-types
    edge_type: String,
    /// primary=out, secondary=in; both if omitted
    direction: Option<Direction>,
    #[schemars(range(min = 1, max = 100))]
    #[serde(default = "d20")]
    limit: u32,
    cursor: Option<String>,
}

fn edges(ctx: &Ctx<'_>, a: EdgesArgs) -> Result<Output, ToolError> {
    let id = vertex_id(&a.id)?;
    let t = a.edge_type.trim();
    if t.is_empty()
        || t.len() > 64
        || !t
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(ToolError::invalid(format!(
            "`{}` is not an edge type; see {EDGE_TYPES}",
            a.edge_type
        )));
    }
    let direction = a.direction.map(|d| match d {
        Direction::Primary => "primary",
        Direction::Secondary => "secondary",
    });
    let env = ctx
        .op("combined_edges_get")
        .subject(format!("vertex {id}"))
        .query("ids", &id)
        .query("edge_type", t)
        .query_opt("direction", direction)
        .query("limit", a.limit)
        .query_opt("offset", cursor(a.cursor.as_deref())?)
        .envelope()
        .map_err(|e| match e {
            ToolError::Upstream {
                status: 400,
                message,
            } => ToolError::Upstream {
                status: 400,
                message: format!("{message}; edge types are listed in {EDGE_TYPES}"),
            },
            other => other,
        })?;
    let next = next_page(&env, env.resources.len(), a.limit);
    let results: Vec<Value> = env
        .resources
        .iter()
        .map(|e| {
            prune(json!({"id": e["id"], "direction": e["direction"], "source": e["source_vertex_id"],
                         "target": e["target_vertex_id"], "timestamp": e["timestamp"], "properties": e["properties"]}))
        })
        .collect();
    let more = match &next {
        Next::Cursor(c) => format!("; next page: cursor={c}"),
        _ => String::new(),
    };
    Ok(Output::json(
        format!("{} {t} edge(s) of {id}{more}.", results.len()),
        &json!({"edge_type": t, "results": results, "next": next}),
    ))
}

const VERTEX: Template = Template::json(
    "falcon://threat-graph/vertices/{vertex_id}",
    "Threat Graph vertex",
    "A vertex with its edges by type.",
    "threat_graph_get_summary",
);

/// The `threat_graph` plugin.
pub fn plugin() -> Plugin {
    Plugin::new(
        "threat_graph",
        env!("CARGO_PKG_VERSION"),
        "Falcon Threat Graph: where indicators ran, vertices and their edges",
    )
    .tool(
        ToolSpec::read(
            "threat_graph_ran_on",
            "Where an indicator ran",
            "Hosts and processes where a hash, domain or IP was seen",
        )
        .ops(&["combined_ran_on_get"])
        .output(Shape::Fields(
            "indicator:object devices:array processes:array next:string|null",
        )),
        ran_on,
    )
    .tool(
        ToolSpec::read(
            "threat_graph_get_vertices",
            "Get graph vertices",
            "Vertex details (process, module, domain, alert…) by id",
        )
        .ops(&["entities_vertices_getv2"])
        .output(Shape::List("vertices")),
        vertices,
    )
    .tool(
        ToolSpec::read(
            "threat_graph_get_summary",
            "Summarise graph vertices",
            "Vertices with their edges counted by type and direction",
        )
        .ops(&["combined_summary_get"])
        .output(Shape::List("vertices")),
        summary,
    )
    .tool(
        ToolSpec::read(
            "threat_graph_get_edges",
            "Get graph edges",
            "One vertex's edges of a type, outgoing, incoming or both",
        )
        .ops(&["combined_edges_get"])
        .output(Shape::Fields(
            "edge_type:string results:array next:string|null",
        )),
        edges,
    )
    .resource(Resource::markdown(
        EDGE_TYPES,
        "Threat Graph edge types",
        "Edge types, their direction and the vertex ids they join",
        include_str!("edge_types.md"),
    ))
    .template(&VERTEX, |ctx, vars| {
        summary(
            ctx,
            SummaryArgs {
                ids: vec![vars.get("vertex_id")?.to_string()],
                vertex_type: VertexType::Any,
                edges: 20,
            },
        )
    })
}

aerie_sdk::export_plugin!(plugin);

#[cfg(test)]
mod tests;
