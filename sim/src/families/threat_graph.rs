//! Threat Graph (reference §9): vertices, their edges, indicator ran-on and vertex summaries.
//!
//! The graph is a view of the tenant, derived per request from its alerts and NG-SIEM events
//! rather than stored beside them: a process vertex is an alert's process, its parent, or a
//! `ProcessRollup2` / DNS / network event's process; its module is the image hash it ran; an
//! alert is an `indicator` vertex; domains and IPv4 addresses it reached are customer-scoped
//! vertices. So the graph always agrees with alerts, events and the IOC `ran-on` endpoints
//! (the same (type, value) → host → process observations), and costs no memory or generation
//! time. The well-known hash ran on the well-known host because its first alerts did.
//!
//! Vertex ids: `pid:<aid>:<process id>`, `module:<aid>:<sha256>`, the alert's `ind:<aid>:…` id,
//! `domain:<cid>:<name>`, `ipv4:<cid>:<address>`. Each edge is directed (source → target) and
//! seen from both ends: `primary` from its source, `secondary` from its target.

use base64::Engine as _;
use serde_json::{Value, json};

use crate::engine::{Endpoint, Family, Kind, Seed, Store};
use crate::envelope::{ApiError, ApiResult, Envelope, Req};
use crate::timeutil::{parse_timestamp, rfc3339_s};
use crate::world::{Ctx, World, entities_response};

const PB: &str = "threatgraph";
const SCOPE: &str = "threatgraph:read";

/// The Threat Graph endpoints (no stored collection: see the module docs).
pub(crate) static FAMILIES: &[Family] = &[Family {
    name: "threat_graph",
    id_field: "id",
    noun: "Vertex",
    powered_by: PB,
    default_sort: "",
    extra_fields: &[],
    text_fields: &[],
    store: Store::Seeded(no_objects),
    endpoints: &[
        Endpoint {
            op: "queries_edgetypes_get",
            method: "GET",
            path: "/threatgraph/queries/edge-types/v1",
            scope: SCOPE,
            kind: Kind::Custom(edge_types),
        },
        Endpoint {
            op: "combined_edges_get",
            method: "GET",
            path: "/threatgraph/combined/edges/v1",
            scope: SCOPE,
            kind: Kind::Custom(edges),
        },
        Endpoint {
            op: "combined_ran_on_get",
            method: "GET",
            path: "/threatgraph/combined/ran-on/v1",
            scope: SCOPE,
            kind: Kind::Custom(ran_on),
        },
        Endpoint {
            op: "combined_summary_get",
            method: "GET",
            path: "/threatgraph/combined/{vertex_type}/summary/v1",
            scope: SCOPE,
            kind: Kind::Custom(summary),
        },
        Endpoint {
            op: "entities_vertices_getv2",
            method: "GET",
            path: "/threatgraph/entities/{vertex_type}/v2",
            scope: SCOPE,
            kind: Kind::Custom(vertices),
        },
    ],
}];

fn no_objects(_: &mut Seed<'_>) -> Vec<Value> {
    Vec::new()
}

/// Edge types the API lists (a subset of the real 292); the first five occur in the tenant.
const EDGE_TYPES: &[&str] = &[
    "child_process",
    "primary_module",
    "triggered_indicator",
    "dns",
    "ipv4",
    "parent_process",
    "module_written",
    "written_by_process",
    "dns_request",
    "ipv6",
    "network_connect_ip4",
    "connected_ip4",
    "loaded_module",
    "executed_script",
    "triggered_detection",
    "associated_incident",
    "user",
    "user_session",
    "quarantined_file",
    "extracted_file",
    "witnessed_by_sensor",
    "mcp_tool_call",
];

/// Vertex types the `{vertex_type}` path accepts (singular and plural), beyond `any-vertex`;
/// those without data in the tenant simply find nothing.
const VERTEX_TYPES: &[(&str, &str)] = &[
    ("process", "process"),
    ("processes", "process"),
    ("module", "module"),
    ("modules", "module"),
    ("indicator", "indicator"),
    ("indicators", "indicator"),
    ("domain", "domain"),
    ("domains", "domain"),
    ("ipv4", "ipv4"),
    ("ipv6", "ipv6"),
    ("detection", "detection"),
    ("detections", "detection"),
    ("incident", "incident"),
    ("incidents", "incident"),
    ("sensor", "sensor"),
    ("devices", "sensor"),
    ("user_id", "user"),
    ("users", "user"),
    ("user_session", "user_session"),
    ("command_line", "command_line"),
    ("extracted_file", "extracted_file"),
    ("quarantined_file", "quarantined_file"),
    ("script", "script"),
    ("certificate", "certificate"),
];

/// Largest `limit` of the paged endpoints (the swagger's bound; larger is a 400).
const MAX_LIMIT: usize = 100;

/// Which end of an edge a vertex is.
#[derive(Clone, Copy, PartialEq)]
enum Dir {
    /// The source (outgoing).
    Primary,
    /// The target (incoming).
    Secondary,
}

impl Dir {
    fn as_str(self) -> &'static str {
        match self {
            Dir::Primary => "primary",
            Dir::Secondary => "secondary",
        }
    }
}

/// One edge as seen from a vertex.
struct Edge {
    edge_type: &'static str,
    other: String,
    dir: Dir,
    ts: i64,
    properties: Value,
}

impl Edge {
    /// The record `combined_edges_get` returns.
    fn record(&self, from: &str) -> Value {
        let (source, target) = match self.dir {
            Dir::Primary => (from, self.other.as_str()),
            Dir::Secondary => (self.other.as_str(), from),
        };
        json!({
            "id": self.other, "edge_type": self.edge_type, "source_vertex_id": source,
            "target_vertex_id": target, "direction": self.dir.as_str(),
            "timestamp": rfc3339_s(self.ts), "properties": self.properties,
        })
    }
}

/// A parsed vertex id.
enum Vid<'a> {
    Process { aid: &'a str, pid: &'a str },
    Module { aid: &'a str, sha: &'a str },
    Indicator(&'a str),
    Domain(&'a str),
    Ipv4(&'a str),
}

impl<'a> Vid<'a> {
    fn parse(id: &'a str, cid: &str) -> Option<Vid<'a>> {
        let (kind, rest) = id.split_once(':')?;
        let (scope, value) = rest.split_once(':')?;
        if value.is_empty() {
            return None;
        }
        let customer = scope == cid;
        match kind {
            "pid" => Some(Vid::Process {
                aid: scope,
                pid: value,
            }),
            "module" => Some(Vid::Module {
                aid: scope,
                sha: value,
            }),
            "ind" => Some(Vid::Indicator(id)),
            "domain" if customer => Some(Vid::Domain(value)),
            "ipv4" if customer => Some(Vid::Ipv4(value)),
            _ => None,
        }
    }

    fn vertex_type(&self) -> &'static str {
        match self {
            Vid::Process { .. } => "process",
            Vid::Module { .. } => "module",
            Vid::Indicator(_) => "indicator",
            Vid::Domain(_) => "domain",
            Vid::Ipv4(_) => "ipv4",
        }
    }
}

fn alert_ts(a: &Value) -> i64 {
    a["timestamp"]
        .as_str()
        .and_then(parse_timestamp)
        .unwrap_or_default()
}

fn event_ts(e: &Value) -> i64 {
    e["@timestamp"].as_i64().unwrap_or_default()
}

fn s<'v>(v: &'v Value, key: &str) -> &'v str {
    v[key].as_str().unwrap_or_default()
}

/// The event's process id (its own for `ProcessRollup2`, the acting one otherwise).
fn event_pid(e: &Value) -> &str {
    e.get("TargetProcessId")
        .or_else(|| e.get("ContextProcessId"))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn is_process_event(e: &Value) -> bool {
    e["#event_simpleName"] == "ProcessRollup2"
}

/// The graph view of one tenant.
struct Graph<'w> {
    w: &'w World,
}

impl<'w> Graph<'w> {
    fn alerts(&self) -> impl Iterator<Item = &'w Value> {
        self.w.alerts.items.iter()
    }

    fn events_on(&self, aid: &'w str) -> impl Iterator<Item = &'w Value> + 'w {
        self.w.events.iter().filter(move |e| e["aid"] == aid)
    }

    /// The vertex with this id, without its edges.
    fn vertex(&self, id: &str) -> Option<Value> {
        let cid = self.w.cid.as_str();
        let vid = Vid::parse(id, cid)?;
        let (device, object, ts, props) = match &vid {
            Vid::Process { aid, pid } => {
                let (ts, props) = self.process(aid, pid)?;
                (*aid, *pid, ts, props)
            }
            Vid::Module { aid, sha } => {
                let runs = self.module_runs(aid, sha);
                let (ts, props) = runs.iter().map(|(_, ts, p)| (*ts, p)).min_by_key(|x| x.0)?;
                let props = json!({"SHA256HashData": sha, "MD5HashData": props["MD5HashData"], "ImageFileName": props["ImageFileName"]});
                (*aid, *sha, ts, props)
            }
            Vid::Indicator(id) => {
                let a = self.w.alerts.get(&format!("{cid}:{id}"))?;
                let props = json!({
                    "Name": a["name"], "Description": a["description"], "Severity": a["severity"],
                    "Tactic": a["tactic"], "Technique": a["technique"], "TechniqueId": a["technique_id"],
                    "PatternId": a["pattern_id"], "CompositeId": a["composite_id"],
                });
                (s(a, "agent_id"), *id, alert_ts(a), props)
            }
            Vid::Domain(d) => {
                let ts = self
                    .reached("DnsRequest", "DomainName", d)
                    .map(|(_, ts)| ts)
                    .min()?;
                ("", *d, ts, json!({"DomainName": d}))
            }
            Vid::Ipv4(ip) => {
                let ts = self
                    .reached("NetworkConnectIP4", "RemoteAddressIP4", ip)
                    .map(|(_, ts)| ts)
                    .min()?;
                ("", *ip, ts, json!({"RemoteAddressIP4": ip}))
            }
        };
        let scope = if device.is_empty() {
            "customer"
        } else {
            "device"
        };
        Some(json!({
            "id": id, "customer_id": cid, "device_id": device, "object_id": object,
            "vertex_type": vid.vertex_type(), "scope": scope, "timestamp": rfc3339_s(ts),
            "properties": props,
        }))
    }

    /// What is known of a process: from its alert, an alert it is the parent of, or its events.
    fn process(&self, aid: &str, pid: &str) -> Option<(i64, Value)> {
        for a in self.alerts().filter(|a| a["agent_id"] == aid) {
            if a["process_id"] == pid {
                return Some((
                    alert_ts(a),
                    json!({
                        "ImageFileName": a["filepath"], "FileName": a["filename"], "CommandLine": a["cmdline"],
                        "SHA256HashData": a["sha256"], "MD5HashData": a["md5"], "UserName": a["user_name"],
                        "UserSid": a["user_id"], "RawProcessId": a["local_process_id"],
                        "ParentProcessId": a["parent_process_id"], "ProcessStartTime": a["process_start_time"],
                    }),
                ));
            }
        }
        for a in self.alerts().filter(|a| a["agent_id"] == aid) {
            if a["parent_process_id"] == pid {
                let p = &a["parent_details"];
                let ts = p["timestamp"]
                    .as_str()
                    .and_then(parse_timestamp)
                    .unwrap_or_else(|| alert_ts(a));
                return Some((
                    ts,
                    json!({
                        "ImageFileName": p["filepath"], "FileName": p["filename"], "CommandLine": p["cmdline"],
                        "SHA256HashData": p["sha256"], "MD5HashData": p["md5"], "UserName": p["user_name"],
                        "RawProcessId": p["local_process_id"],
                    }),
                ));
            }
        }
        let mut acting = None;
        for e in self
            .w
            .events
            .iter()
            .filter(|e| e["aid"] == aid && event_pid(e) == pid)
        {
            if is_process_event(e) {
                return Some((
                    event_ts(e),
                    json!({
                        "ImageFileName": e["ImageFileName"], "FileName": e["FileName"], "CommandLine": e["CommandLine"],
                        "SHA256HashData": e["SHA256HashData"], "MD5HashData": e["MD5HashData"], "UserName": e["UserName"],
                    }),
                ));
            }
            acting.get_or_insert((event_ts(e), json!({})));
        }
        acting
    }

    /// Processes on `aid` that ran the image `sha`: (process id, time, their properties).
    fn module_runs(&self, aid: &'w str, sha: &str) -> Vec<(String, i64, Value)> {
        let mut out: Vec<(String, i64, Value)> = Vec::new();
        let mut push = |pid: &str, ts: i64, props: Value| {
            if !out.iter().any(|(p, _, _)| p == pid) {
                out.push((pid.to_string(), ts, props));
            }
        };
        for a in self
            .alerts()
            .filter(|a| a["agent_id"] == aid && a["sha256"] == sha)
        {
            push(
                s(a, "process_id"),
                alert_ts(a),
                json!({"MD5HashData": a["md5"], "ImageFileName": a["filepath"]}),
            );
        }
        for e in self
            .events_on(aid)
            .filter(|e| is_process_event(e) && e["SHA256HashData"] == sha)
        {
            push(
                event_pid(e),
                event_ts(e),
                json!({"MD5HashData": e["MD5HashData"], "ImageFileName": e["ImageFileName"]}),
            );
        }
        out
    }

    /// Processes that reached `value` in `field` of `event` events: (vertex id, time).
    fn reached<'a>(
        &'a self,
        event: &'a str,
        field: &'a str,
        value: &'a str,
    ) -> impl Iterator<Item = (String, i64)> + 'a {
        self.w
            .events
            .iter()
            .filter(move |e| {
                e["#event_simpleName"] == event && s(e, field).eq_ignore_ascii_case(value)
            })
            .map(|e| (format!("pid:{}:{}", s(e, "aid"), event_pid(e)), event_ts(e)))
    }

    /// Every edge of the vertex `id` (which must exist).
    fn edges(&self, id: &str) -> Vec<Edge> {
        let cid = self.w.cid.as_str();
        let Some(vid) = Vid::parse(id, cid) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let edge = |edge_type, other: String, dir, ts, properties| Edge {
            edge_type,
            other,
            dir,
            ts,
            properties,
        };
        match vid {
            Vid::Process { aid, pid } => {
                for a in self.alerts().filter(|a| a["agent_id"] == aid) {
                    let ts = alert_ts(a);
                    if a["parent_process_id"] == pid {
                        let child = format!("pid:{aid}:{}", s(a, "process_id"));
                        out.push(edge("child_process", child, Dir::Primary, ts, json!({})));
                    }
                    if a["process_id"] == pid {
                        let parent = format!("pid:{aid}:{}", s(a, "parent_process_id"));
                        out.push(edge("child_process", parent, Dir::Secondary, ts, json!({})));
                        let module = format!("module:{aid}:{}", s(a, "sha256"));
                        out.push(edge("primary_module", module, Dir::Primary, ts, json!({})));
                        let ind = s(a, "id").to_string();
                        let props = json!({"Severity": a["severity"], "Name": a["name"]});
                        out.push(edge("triggered_indicator", ind, Dir::Primary, ts, props));
                    }
                }
                for e in self.events_on(aid).filter(|e| event_pid(e) == pid) {
                    let ts = event_ts(e);
                    match s(e, "#event_simpleName") {
                        "ProcessRollup2" => {
                            let module = format!("module:{aid}:{}", s(e, "SHA256HashData"));
                            out.push(edge("primary_module", module, Dir::Primary, ts, json!({})));
                        }
                        "DnsRequest" => {
                            let d = format!("domain:{cid}:{}", s(e, "DomainName").to_lowercase());
                            let props = json!({"RequestType": e["RequestType"]});
                            out.push(edge("dns", d, Dir::Primary, ts, props));
                        }
                        "NetworkConnectIP4" => {
                            let ip = format!("ipv4:{cid}:{}", s(e, "RemoteAddressIP4"));
                            let props =
                                json!({"RemotePort": e["RemotePort"], "Protocol": e["Protocol"]});
                            out.push(edge("ipv4", ip, Dir::Primary, ts, props));
                        }
                        _ => {}
                    }
                }
            }
            Vid::Module { aid, sha } => {
                for (pid, ts, _) in self.module_runs(aid, sha) {
                    let p = format!("pid:{aid}:{pid}");
                    out.push(edge("primary_module", p, Dir::Secondary, ts, json!({})));
                }
            }
            Vid::Indicator(id) => {
                if let Some(a) = self.w.alerts.get(&format!("{cid}:{id}")) {
                    let p = format!("pid:{}:{}", s(a, "agent_id"), s(a, "process_id"));
                    out.push(edge(
                        "triggered_indicator",
                        p,
                        Dir::Secondary,
                        alert_ts(a),
                        json!({}),
                    ));
                }
            }
            Vid::Domain(d) => {
                for (p, ts) in self.reached("DnsRequest", "DomainName", d) {
                    out.push(edge("dns", p, Dir::Secondary, ts, json!({})));
                }
            }
            Vid::Ipv4(ip) => {
                for (p, ts) in self.reached("NetworkConnectIP4", "RemoteAddressIP4", ip) {
                    out.push(edge("ipv4", p, Dir::Secondary, ts, json!({})));
                }
            }
        }
        // One edge per (type, other end, direction): an alert's process is also an event's.
        let mut seen = std::collections::HashSet::new();
        out.retain(|e| seen.insert((e.edge_type, e.other.clone(), e.dir.as_str())));
        out
    }
}

/// `limit` (1..=100, default 100) and the position an opaque `offset` token names.
fn paging(req: &Req) -> Result<(usize, usize), ApiError> {
    let limit = match req.q("limit") {
        None | Some("") => MAX_LIMIT,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "limit {l} is invalid; limit must be between 1 and {MAX_LIMIT}"
                ))
            })?,
    };
    let start = match req.q("offset").filter(|o| !o.is_empty()) {
        None => 0,
        Some(t) => base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(t)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.strip_prefix("tg:")?.parse().ok())
            .ok_or_else(|| ApiError::bad_request(format!("invalid offset '{t}'")))?,
    };
    req.q_bool("nano", false)?;
    Ok((limit, start))
}

/// One page of `items` with Threat Graph's `meta.pagination` (string offset of the next page).
fn page(items: Vec<Value>, limit: usize, start: usize) -> ApiResult {
    let total = items.len();
    let page: Vec<Value> = items.into_iter().skip(start).take(limit).collect();
    let next = start + page.len();
    let token = if next < total {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("tg:{next}"))
    } else {
        String::new()
    };
    Ok(Envelope::new(200, PB)
        .resources(page)
        .pagination(json!({"limit": limit, "offset": token, "next_page": token}))
        .into_resp())
}

fn check_scope(req: &Req) -> Result<(), ApiError> {
    match req.q("scope") {
        None | Some("" | "device" | "customer" | "cspm" | "cwpp" | "global") => Ok(()),
        Some(other) => Err(ApiError::bad_request(format!(
            "invalid scope '{other}'; use device, customer, cspm, cwpp or global"
        ))),
    }
}

/// The canonical vertex type of the `{vertex_type}` path segment (`None` for `any-vertex`).
fn path_type(req: &Req) -> Result<Option<&'static str>, ApiError> {
    let t = req.params.first().map(String::as_str).unwrap_or_default();
    if t == "any-vertex" {
        return Ok(None);
    }
    VERTEX_TYPES
        .iter()
        .find(|(name, _)| *name == t)
        .map(|(_, canonical)| Some(*canonical))
        .ok_or_else(|| ApiError::bad_request(format!("invalid vertex_type '{t}'")))
}

/// Vertices found, by id, and the ids not found.
type Lookup = (Vec<(String, Value)>, Vec<String>);

/// The vertices `ids` names that exist and are of the path's type, plus the ids that are not.
fn lookup(cx: &Ctx<'_>, req: &Req) -> Result<Lookup, ApiError> {
    let wanted = path_type(req)?;
    check_scope(req)?;
    req.q_bool("nano", false)?;
    let ids = crate::world::query_ids(req, "ids", 100)?;
    let g = Graph { w: cx.w };
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for id in ids {
        match g.vertex(&id) {
            Some(v) if wanted.is_none_or(|t| v["vertex_type"] == t) => found.push((id, v)),
            _ => missing.push(id),
        }
    }
    Ok((found, missing))
}

/// `entities_vertices_getv2`: vertex details.
fn vertices(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let (found, missing) = lookup(cx, req)?;
    let found = found.into_iter().map(|(_, v)| v).collect();
    Ok(entities_response(found, missing, PB, "Vertex"))
}

/// `combined_summary_get`: vertex details plus their edges grouped by type.
fn summary(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let (found, missing) = lookup(cx, req)?;
    let g = Graph { w: cx.w };
    let found = found
        .into_iter()
        .map(|(id, mut v)| {
            let mut by_type = serde_json::Map::new();
            for e in g.edges(&id) {
                let entry = json!({"id": e.other, "direction": e.dir.as_str(), "timestamp": rfc3339_s(e.ts), "properties": e.properties});
                if let Some(list) = by_type
                    .entry(e.edge_type)
                    .or_insert_with(|| json!([]))
                    .as_array_mut()
                {
                    list.push(entry);
                }
            }
            v["edges"] = Value::Object(by_type);
            v
        })
        .collect();
    Ok(entities_response(found, missing, PB, "Vertex"))
}

/// `combined_edges_get`: one vertex's edges of one type, optionally one direction.
fn edges(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let ids = req.q_list("ids");
    let [id] = ids.as_slice() else {
        return Err(ApiError::bad_request(
            "exactly one vertex id is required in ids",
        ));
    };
    let edge_type = req
        .q("edge_type")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::bad_request("edge_type is required"))?;
    if !EDGE_TYPES.contains(&edge_type) {
        return Err(ApiError::bad_request(format!(
            "invalid edge_type '{edge_type}'"
        )));
    }
    let dir = match req.q("direction") {
        None | Some("") => None,
        Some("primary") => Some(Dir::Primary),
        Some("secondary") => Some(Dir::Secondary),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "invalid direction '{other}'; use primary or secondary"
            )));
        }
    };
    check_scope(req)?;
    let (limit, start) = paging(req)?;
    let g = Graph { w: cx.w };
    if g.vertex(id).is_none() {
        return Err(ApiError::not_found(format!("Vertex {id} not found")));
    }
    let items = g
        .edges(id)
        .into_iter()
        .filter(|e| e.edge_type == edge_type && dir.is_none_or(|d| d == e.dir))
        .map(|e| e.record(id))
        .collect();
    page(items, limit, start)
}

/// `combined_ran_on_get`: the process vertices where an indicator was seen.
fn ran_on(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let value = req.q("value").map(str::trim).filter(|v| !v.is_empty());
    let kind = req.q("type").filter(|t| !t.is_empty());
    let (Some(value), Some(kind)) = (value, kind) else {
        return Err(ApiError::bad_request("value and type are required"));
    };
    if !["domain", "ipv4", "ipv6", "md5", "sha1", "sha256"].contains(&kind) {
        return Err(ApiError::bad_request(format!(
            "invalid type '{kind}'; use domain, ipv4, ipv6, md5, sha1 or sha256"
        )));
    }
    if kind == "sha1" {
        if value.len() != 40 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ApiError::bad_request(format!(
                "Invalid value for type sha1: '{value}'"
            )));
        }
    } else {
        crate::families::iocs::validate_value(kind, value).map_err(ApiError::bad_request)?;
    }
    let (limit, start) = paging(req)?;
    let g = Graph { w: cx.w };
    let items: Vec<Value> =
        cx.w.observed
            .get(&(kind.to_string(), value.to_lowercase()))
            .into_iter()
            .flat_map(|by_host| {
                by_host
                    .iter()
                    .flat_map(|(aid, pids)| pids.iter().map(move |p| format!("pid:{aid}:{p}")))
            })
            .filter_map(|id| g.vertex(&id))
            .collect();
    page(items, limit, start)
}

/// `queries_edgetypes_get`.
fn edge_types(_: &mut Ctx<'_>, _: &Req) -> ApiResult {
    Ok(Envelope::new(200, PB)
        .resources(EDGE_TYPES.iter().map(|t| json!(t)).collect())
        .into_resp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SimConfig;
    use crate::envelope::Body;
    use crate::tenant::{KNOWN_BAD_DOMAIN, KNOWN_BAD_SHA256, KNOWN_HOSTNAME};

    fn world() -> World {
        crate::tenant::generate(42, 1_750_000_000_000, 60, 200)
    }

    fn get(
        w: &mut World,
        h: crate::routes::Handler,
        params: &[&str],
        q: &[(&str, &str)],
    ) -> (u16, Value) {
        let cfg = SimConfig::default();
        let req = Req {
            method: "GET".into(),
            query: q
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            params: params.iter().map(|p| p.to_string()).collect(),
            ..Req::default()
        };
        let mut cx = Ctx {
            w,
            cfg: &cfg,
            now: 0,
            client_id: "c".into(),
        };
        match h(&mut cx, &req) {
            Ok(r) => match r.body {
                Body::Json(v) => (r.status, v),
                _ => panic!("json"),
            },
            Err(e) => (e.status, json!({"error": e.message})),
        }
    }

    fn known_aid(w: &World) -> String {
        w.hosts
            .items
            .iter()
            .find(|h| h["hostname"] == KNOWN_HOSTNAME)
            .unwrap()["device_id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    #[test]
    fn known_hash_ran_on_the_known_host_and_the_graph_links_back() {
        let mut w = world();
        let aid = known_aid(&w);
        let (st, r) = get(
            &mut w,
            ran_on,
            &[],
            &[
                ("type", "sha256"),
                ("value", &KNOWN_BAD_SHA256.to_uppercase()),
            ],
        );
        assert_eq!(st, 200, "{r}");
        let procs = r["resources"].as_array().unwrap();
        let on_known: Vec<&Value> = procs
            .iter()
            .filter(|p| p["device_id"] == aid.as_str())
            .collect();
        assert!(!on_known.is_empty(), "{r}");
        let p = on_known[0];
        assert_eq!(p["vertex_type"], "process");
        assert_eq!(p["properties"]["SHA256HashData"], KNOWN_BAD_SHA256);
        // The process's summary: its module is the hash, and it triggered an alert on the host.
        let pid = p["id"].as_str().unwrap().to_string();
        let (_, s) = get(&mut w, summary, &["any-vertex"], &[("ids", &pid)]);
        let es = &s["resources"][0]["edges"];
        assert_eq!(
            es["primary_module"][0]["id"],
            format!("module:{aid}:{KNOWN_BAD_SHA256}"),
            "{s}"
        );
        let ind = es["triggered_indicator"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let alert = w.alerts.get(&format!("{}:{ind}", w.cid)).unwrap();
        assert_eq!(alert["device"]["hostname"], KNOWN_HOSTNAME);
        // From the module back to the process, incoming only.
        let module = format!("module:{aid}:{KNOWN_BAD_SHA256}");
        let (_, e) = get(
            &mut w,
            edges,
            &[],
            &[
                ("ids", &module),
                ("edge_type", "primary_module"),
                ("direction", "secondary"),
            ],
        );
        assert!(
            e["resources"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["source_vertex_id"] == pid.as_str()
                    && x["target_vertex_id"] == module.as_str()),
            "{e}"
        );
        let (_, e) = get(
            &mut w,
            edges,
            &[],
            &[
                ("ids", &module),
                ("edge_type", "primary_module"),
                ("direction", "primary"),
            ],
        );
        assert_eq!(e["resources"], json!([]));
    }

    #[test]
    fn domains_page_with_string_offsets_and_bad_input_is_400() {
        let mut w = world();
        let (_, r) = get(
            &mut w,
            ran_on,
            &[],
            &[("type", "domain"), ("value", KNOWN_BAD_DOMAIN)],
        );
        assert!(!r["resources"].as_array().unwrap().is_empty(), "{r}");
        let d = format!("domain:{}:{KNOWN_BAD_DOMAIN}", w.cid);
        let (st, v) = get(&mut w, vertices, &["domains"], &[("ids", &d)]);
        assert_eq!(
            (st, v["resources"][0]["scope"].clone()),
            (200, json!("customer")),
            "{v}"
        );
        let (_, all) = get(&mut w, edges, &[], &[("ids", &d), ("edge_type", "dns")]);
        let n = all["resources"].as_array().unwrap().len();
        let (_, p1) = get(
            &mut w,
            edges,
            &[],
            &[("ids", &d), ("edge_type", "dns"), ("limit", "1")],
        );
        let tok = p1["meta"]["pagination"]["offset"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(tok.is_empty(), n <= 1);
        if n > 1 {
            let (_, p2) = get(
                &mut w,
                edges,
                &[],
                &[
                    ("ids", &d),
                    ("edge_type", "dns"),
                    ("limit", "100"),
                    ("offset", &tok),
                ],
            );
            assert_eq!(p2["resources"].as_array().unwrap().len(), n - 1);
        }
        for (q, want) in [
            (
                vec![("ids", d.as_str()), ("edge_type", "nope")],
                "edge_type",
            ),
            (
                vec![("ids", d.as_str()), ("edge_type", "dns"), ("limit", "101")],
                "between 1 and 100",
            ),
            (
                vec![
                    ("ids", d.as_str()),
                    ("edge_type", "dns"),
                    ("direction", "up"),
                ],
                "direction",
            ),
            (
                vec![
                    ("ids", d.as_str()),
                    ("edge_type", "dns"),
                    ("offset", "junk"),
                ],
                "offset",
            ),
        ] {
            let (st, e) = get(&mut w, edges, &[], &q);
            assert_eq!(st, 400, "{e}");
            assert!(e["error"].as_str().unwrap().contains(want), "{e}");
        }
        assert_eq!(get(&mut w, vertices, &["nope"], &[("ids", &d)]).0, 400);
        // Of another type than the path asks, or unknown: not found, named.
        let (st, v) = get(&mut w, vertices, &["process"], &[("ids", &d)]);
        assert_eq!(st, 404);
        assert_eq!(v["errors"][0]["id"], d.as_str());
        assert_eq!(
            get(
                &mut w,
                edges,
                &[],
                &[("ids", "pid:x:y"), ("edge_type", "dns")]
            )
            .0,
            404
        );
        assert_eq!(
            get(&mut w, ran_on, &[], &[("type", "sha256"), ("value", "xyz")]).0,
            400
        );
    }
}
