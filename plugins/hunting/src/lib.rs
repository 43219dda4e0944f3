//! The `hunting` tool group: free-text detection search, "has this hash / IP been seen", and
//! custom IOC management (reference §4.1, §4.4, §4.6).

mod mcp;

use aerie_sdk::fql::{self, Fql};
use aerie_sdk::ids::{self, IocType};
use aerie_sdk::{
    Ctx, Hydrate, Output, Plugin, Resource, SearchResult, Shape, ToolError, ToolSpec, check_window,
    project,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

const ALERTS_GUIDE: &str = "falcon://fql/alerts";
const IOC_GUIDE: &str = "falcon://fql/iocs";

const ALERTS: Hydrate =
    Hydrate::body("PostEntitiesAlertsV2", "composite_ids", 1000).ordered_by("composite_id");
const DEVICES: Hydrate = Hydrate::body("PostDeviceDetailsV2", "ids", 5000).ordered_by("device_id");

const ALERT_BRIEF: &[&str] = &[
    "composite_id",
    "display_name",
    "severity_name",
    "status",
    "created_timestamp",
    "device.hostname",
    "device.device_id",
    "technique_id",
    "filename",
    "cmdline",
    "sha256",
    "user_name",
];

const HOST_BRIEF: &[&str] = &[
    "device_id",
    "hostname",
    "platform_name",
    "status",
    "last_seen",
    "local_ip",
    "external_ip",
];

const IOC_FIELDS: &[&str] = &[
    "id",
    "type",
    "value",
    "action",
    "severity",
    "platforms",
    "applied_globally",
    "host_groups",
    "expiration",
    "expired",
    "source",
    "description",
    "tags",
    "created_on",
    "modified_on",
];

fn d10() -> u32 {
    10
}
fn d20() -> u32 {
    20
}
fn d50() -> u32 {
    50
}

/// One page of alerts matching `filter` / free-text `q`, newest first.
fn alerts(
    ctx: &Ctx<'_>,
    filter: Option<String>,
    q: Option<&str>,
    limit: u32,
    offset: u32,
) -> Result<SearchResult, ToolError> {
    let query = ctx
        .op("GetQueriesAlertsV2")
        .query_opt("filter", filter)
        .query_opt("q", q)
        .query("sort", "created_timestamp.desc")
        .query("limit", limit)
        .query("offset", offset);
    Ok(ctx
        .search(query, u64::from(offset), &ALERTS)?
        .map(|v| project(v, ALERT_BRIEF)))
}

/// Arguments of `hunting_search_detections`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SearchArgs {
    /// Free text
    query: Option<String>,
    /// FQL
    filter: Option<String>,
    #[schemars(range(min = 1, max = 200))]
    #[serde(default = "d20")]
    limit: u32,
    #[serde(default)]
    offset: u32,
}

fn search_detections(ctx: &Ctx<'_>, a: SearchArgs) -> Result<Output, ToolError> {
    check_window(a.offset, a.limit)?;
    let q = a.query.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let filter = a.filter.as_deref().map(str::trim).filter(|f| !f.is_empty());
    if q.is_none() && filter.is_none() {
        return Err(ToolError::invalid(
            "give query (free text) or filter (FQL), or both",
        ));
    }
    if let Some(f) = filter {
        fql::lint(f).map_err(ToolError::invalid)?;
    }
    Ok(alerts(ctx, filter.map(str::to_string), q, a.limit, a.offset)?.into_output("alerts"))
}

/// Arguments of `hunting_query_hash`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct HashArgs {
    hash: String,
    /// Hosts/alerts shown
    #[schemars(range(min = 1, max = 100))]
    #[serde(default = "d10")]
    limit: u32,
}

/// Devices an observable ran on (or contacted): count, then the first `limit` AIDs.
///
/// A value never seen answers 404 on some tenants and `device_count: 0` on others (reference
/// §4.6, U); both mean "not seen".
fn devices_seen(
    ctx: &Ctx<'_>,
    kind: IocType,
    value: &str,
    limit: u32,
) -> Result<(u64, Vec<String>), ToolError> {
    let reply = ctx
        .op("indicator_get_device_count_v1")
        .query("type", kind.as_str())
        .query("value", value)
        .send_allowing(&[404])?;
    let count = if reply.status == 404 {
        0
    } else {
        reply
            .envelope()?
            .resources
            .first()
            .and_then(|r| r.get("device_count"))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    if count == 0 {
        return Ok((0, Vec::new()));
    }
    let ran_on = ctx
        .op("indicator_get_devices_ran_on_v1")
        .query("type", kind.as_str())
        .query("value", value)
        .query("limit", limit)
        .send_allowing(&[404])?;
    let aids = if ran_on.status == 404 {
        Vec::new()
    } else {
        ran_on.envelope()?.ids()
    };
    Ok((count, aids))
}

fn query_hash(ctx: &Ctx<'_>, a: HashArgs) -> Result<Output, ToolError> {
    let kind = match a.hash.trim().len() {
        64 => IocType::Sha256,
        32 => IocType::Md5,
        _ => {
            return Err(ToolError::invalid(
                "hash must be a SHA-256 (64 hex) or MD5 (32 hex)",
            ));
        }
    };
    let hash = ids::ioc_value(kind, &a.hash)?;
    let (device_count, aids) = devices_seen(ctx, kind, &hash, a.limit)?;
    let hosts: Vec<Value> = ctx
        .hydrate(&DEVICES, &aids)?
        .iter()
        .map(|h| project(h, HOST_BRIEF))
        .collect();
    let field = if kind == IocType::Sha256 {
        "sha256"
    } else {
        "md5"
    };
    let filter = Fql::new()
        .eq(
            if kind == IocType::Sha256 {
                "sha256"
            } else {
                "md5"
            },
            hash.as_str(),
        )
        .build();
    let found = alerts(ctx, filter, None, a.limit, 0)?;
    let seen = device_count > 0 || found.total > 0;
    let summary = if seen {
        format!(
            "{field} {hash} seen: ran on {device_count} host(s); {} matching alert(s).",
            found.total
        )
    } else {
        format!("{field} {hash} has not been seen in this environment (no hosts, no alerts).")
    };
    Ok(Output::json(
        summary,
        &json!({
            "hash": hash, "type": kind.as_str(), "seen": seen,
            "device_count": device_count, "hosts": hosts,
            "alerts": {"total": found.total, "results": found.results},
        }),
    ))
}

/// Arguments of `hunting_query_ip`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct IpArgs {
    /// IPv4 or IPv6
    ip: String,
    /// Hosts/alerts shown
    #[schemars(range(min = 1, max = 100))]
    #[serde(default = "d10")]
    limit: u32,
}

fn query_ip(ctx: &Ctx<'_>, a: IpArgs) -> Result<Output, ToolError> {
    let kind = if a.ip.contains(':') {
        IocType::Ipv6
    } else {
        IocType::Ipv4
    };
    let ip = ids::ioc_value(kind, &a.ip)?;
    // Hosts that have (or had as their last report) this address.
    let own = ctx
        .op("QueryDevicesByFilter")
        .query(
            "filter",
            Fql::new()
                .eq_any_field(&["local_ip", "external_ip"], ip.as_str())
                .build()
                .unwrap_or_default(),
        )
        .query("limit", a.limit)
        .envelope()?;
    let own_ids = own.ids();
    // Hosts that communicated with it, per Falcon's IOC observation index.
    let (_, contacted_ids) = devices_seen(ctx, kind, &ip, a.limit)?;
    let mut all: Vec<String> = own_ids.clone();
    all.extend(
        contacted_ids
            .iter()
            .filter(|c| !own_ids.contains(c))
            .cloned(),
    );
    let details = ctx.hydrate(&DEVICES, &all)?;
    let pick = |set: &[String]| -> Vec<Value> {
        details
            .iter()
            .filter(|d| {
                d.get("device_id")
                    .and_then(Value::as_str)
                    .is_some_and(|id| set.iter().any(|s| s == id))
            })
            .map(|d| project(d, HOST_BRIEF))
            .collect()
    };
    let filter = Fql::new()
        .eq_any_field(
            // An alert names the address as its host's, as the IOC that fired, or as a
            // connection the process made (C2 beacons carry it only there).
            &[
                "device.local_ip",
                "device.external_ip",
                "ioc_value",
                "network_accesses.remote_address",
            ],
            ip.as_str(),
        )
        .build();
    let found = alerts(ctx, filter, None, a.limit, 0)?;
    let cql = if kind == IocType::Ipv4 {
        format!(
            "#event_simpleName=NetworkConnectIP4 RemoteAddressIP4=\"{ip}\" | table([@timestamp, ComputerName, RemotePort, LocalAddressIP4])"
        )
    } else {
        format!(
            "#event_simpleName=NetworkConnectIP6 RemoteAddressIP6=\"{ip}\" | table([@timestamp, ComputerName, RemotePort])"
        )
    };
    Ok(Output::json(
        format!(
            "{ip}: {} host(s) with this address, {} host(s) that contacted it, {} alert(s). Network events: run the cql with ngsiem_query.",
            own.total(),
            contacted_ids.len(),
            found.total
        ),
        &json!({
            "ip": ip,
            "hosts_with_ip": pick(&own_ids),
            "hosts_contacted": pick(&contacted_ids),
            "alerts": {"total": found.total, "results": found.results},
            "cql": cql,
        }),
    ))
}

// IOC action (no doc comment: repeated in each schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum IocAction {
    Detect,
    Prevent,
    PreventNoUi,
    Allow,
    NoAction,
}

impl IocAction {
    fn as_str(self) -> &'static str {
        match self {
            IocAction::Detect => "detect",
            IocAction::Prevent => "prevent",
            IocAction::PreventNoUi => "prevent_no_ui",
            IocAction::Allow => "allow",
            IocAction::NoAction => "no_action",
        }
    }
}

/// Arguments of `hunting_list_iocs`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ListIocsArgs {
    #[serde(rename = "type")]
    kind: Option<IocType>,
    value: Option<String>,
    /// FQL, ANDed
    filter: Option<String>,
    #[schemars(range(min = 1, max = 500))]
    #[serde(default = "d50")]
    limit: u32,
    #[serde(default)]
    offset: u32,
    /// A previous next
    cursor: Option<String>,
}

fn list_iocs(ctx: &Ctx<'_>, a: ListIocsArgs) -> Result<Output, ToolError> {
    if a.cursor.is_none() {
        check_window(a.offset, a.limit)?;
    }
    if let Some(f) = &a.filter {
        fql::lint(f).map_err(ToolError::invalid)?;
    }
    let value = match (a.kind, a.value.as_deref()) {
        (Some(k), Some(v)) => Some(ids::ioc_value(k, v)?),
        (None, Some(v)) => Some(v.trim().to_string()),
        _ => None,
    };
    let filter = Fql::new()
        .opt(a.kind, |f, k| f.eq("type", k.as_str()))
        .opt(value, |f, v| f.eq("value", v))
        .raw(a.filter.as_deref())
        .build();
    let mut query = ctx
        .op("indicator_combined_v1")
        .query_opt("filter", filter)
        .query("sort", "modified_on.desc")
        .query("limit", a.limit);
    // The API takes offset XOR after (reference §4.6).
    query = match a.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => query.query("after", c),
        None => query.query("offset", a.offset),
    };
    Ok(ctx
        .search_combined(query, u64::from(a.offset))?
        .map(|v| project(v, IOC_FIELDS))
        .into_output("IOCs"))
}

// IOC severity.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Severity {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

/// IOC platforms (reference §4.6); validated in the handler to keep the schema small.
const PLATFORMS: &[&str] = &["windows", "mac", "linux", "ios", "android"];

/// Platforms when none are given: the desktop sensors.
fn default_platforms() -> Vec<String> {
    ["windows", "mac", "linux"].map(String::from).to_vec()
}

/// Arguments of `hunting_create_ioc`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CreateIocArgs {
    #[serde(rename = "type")]
    kind: IocType,
    value: String,
    /// prevent/allow: hashes only
    action: Option<IocAction>,
    severity: Option<Severity>,
    /// windows,mac,linux (default),ios,android
    platforms: Option<Vec<String>>,
    /// YYYY-MM-DD or RFC 3339
    expiration: Option<String>,
    description: Option<String>,
    tags: Option<Vec<String>>,
    comment: Option<String>,
}

/// An expiration date as RFC 3339 UTC: `YYYY-MM-DD` becomes midnight UTC.
fn expiration(v: &str) -> Result<String, ToolError> {
    let v = v.trim();
    let b = v.as_bytes();
    let date_ok = b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit);
    let bad = || {
        ToolError::invalid(format!(
            "expiration `{v}` must be YYYY-MM-DD or RFC 3339 (2026-12-31T23:59:59Z)"
        ))
    };
    if !date_ok {
        return Err(bad());
    }
    if b.len() == 10 {
        return Ok(format!("{v}T00:00:00Z"));
    }
    let rest_ok = b[10] == b'T'
        && v[11..]
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b':' | b'.' | b'Z' | b'+' | b'-'));
    if rest_ok {
        Ok(v.to_string())
    } else {
        Err(bad())
    }
}

/// The indicator object for `indicator_create_v1`, validated before any request.
fn indicator(a: &CreateIocArgs) -> Result<Value, ToolError> {
    let value = ids::ioc_value(a.kind, &a.value)?;
    let action = a.action.unwrap_or(IocAction::Detect);
    let is_hash = matches!(a.kind, IocType::Sha256 | IocType::Md5);
    if !is_hash && !matches!(action, IocAction::Detect | IocAction::NoAction) {
        return Err(ToolError::invalid(format!(
            "action {} is only for hashes; a {} IOC can detect or no_action",
            action.as_str(),
            a.kind.as_str()
        )));
    }
    let platforms = a.platforms.clone().unwrap_or_else(default_platforms);
    if platforms.is_empty() {
        return Err(ToolError::invalid("platforms must not be empty"));
    }
    let platforms: Vec<String> = platforms
        .iter()
        .map(|p| p.trim().to_ascii_lowercase())
        .collect();
    if let Some(bad) = platforms.iter().find(|p| !PLATFORMS.contains(&p.as_str())) {
        return Err(ToolError::invalid(format!(
            "unknown platform `{bad}`; use {}",
            PLATFORMS.join(", ")
        )));
    }
    let mut ioc = json!({
        "type": a.kind.as_str(),
        "value": value,
        "action": action.as_str(),
        "severity": format!("{:?}", a.severity.unwrap_or(Severity::Medium)).to_lowercase(),
        "platforms": platforms,
        "applied_globally": true,
        "source": "aerie",
    });
    if let Some(e) = a.expiration.as_deref() {
        ioc["expiration"] = json!(expiration(e)?);
    }
    if let Some(d) = a.description.as_deref().filter(|d| !d.trim().is_empty()) {
        ioc["description"] = json!(d.trim());
    }
    if let Some(t) = &a.tags {
        if t.iter().any(|t| t.trim().is_empty() || t.len() > 100) {
            return Err(ToolError::invalid("tags must be 1-100 characters each"));
        }
        ioc["tags"] = json!(t);
    }
    Ok(ioc)
}

fn create_ioc(ctx: &Ctx<'_>, a: CreateIocArgs) -> Result<Output, ToolError> {
    let ioc = indicator(&a)?;
    let mut body = json!({ "indicators": [ioc] });
    if let Some(c) = a.comment.as_deref().filter(|c| !c.trim().is_empty()) {
        body["comment"] = json!(c.trim());
    }
    let sent = ctx
        .op("indicator_create_v1")
        .verified_by("hunting_list_iocs")
        .query("ignore_warnings", "false")
        .body_json(&body)?
        .envelope();
    let env = match sent {
        Err(e) if e.outcome_unknown() => return verify_created(ctx, &ioc, e),
        other => other?,
    };
    let errors = env.error_text();
    let created = env
        .resources
        .into_iter()
        .next()
        .ok_or_else(|| ToolError::Upstream {
            status: 400,
            message: errors.unwrap_or_else(|| "Falcon created no IOC".into()),
        })?;
    Ok(Output::json(
        format!(
            "Created {} IOC {} (action {}).",
            ioc_str(&created, "type"),
            ioc_str(&created, "value"),
            ioc_str(&created, "action")
        ),
        &json!({"ioc": project(&created, IOC_FIELDS)}),
    ))
}

/// After a create whose answer was lost, look the IOC up by type and value and say what is
/// true now, so the model neither repeats a create that happened (a duplicate error) nor
/// believes one that did not.
fn verify_created(ctx: &Ctx<'_>, ioc: &Value, lost: ToolError) -> Result<Output, ToolError> {
    let (kind, value) = (ioc_str(ioc, "type"), ioc_str(ioc, "value"));
    let filter = Fql::new().eq("type", kind).eq("value", value).build();
    let found = ctx
        .op("indicator_combined_v1")
        .query_opt("filter", filter)
        .query("limit", 1)
        .envelope();
    match found {
        Ok(env) => match env.resources.into_iter().next() {
            Some(existing) => Ok(Output::json(
                format!(
                    "The create request's answer was lost, but a check found {kind} IOC {value} \
                     exists now (action {}): it was applied. Do not create it again.",
                    ioc_str(&existing, "action")
                ),
                &json!({"ioc": project(&existing, IOC_FIELDS), "verified": true}),
            )),
            None => Err(ToolError::Upstream {
                status: 502,
                message: format!(
                    "the create request's answer was lost, and a check just now found no {kind} \
                     IOC {value}: it was most likely not applied; retrying is reasonable, or check \
                     again with `hunting_list_iocs` first"
                ),
            }),
        },
        // The check failed too: the outcome stays unknown, say so as the host did.
        Err(_) => Err(lost),
    }
}

fn ioc_str<'v>(v: &'v Value, k: &str) -> &'v str {
    v.get(k).and_then(Value::as_str).unwrap_or("?")
}

/// The `hunting` plugin.
pub fn plugin() -> Plugin {
    let p = Plugin::new(
        "hunting",
        env!("CARGO_PKG_VERSION"),
        "Falcon threat hunting: detections, hashes, IPs, custom IOCs",
    )
    .tool(
        ToolSpec::read(
            "hunting_search_detections",
            "Search detections by query",
            "Alerts by free text and/or FQL (falcon://fql/alerts)",
        )
        .ops(&["GetQueriesAlertsV2", "PostEntitiesAlertsV2"])
        .output(Shape::Search)
        .guide(ALERTS_GUIDE),
        search_detections,
    )
    .tool(
        ToolSpec::read(
            "hunting_query_hash",
            "Query file hash",
            "Was a SHA-256/MD5 seen: hosts it ran on, matching alerts",
        )
        .ops(&[
            "indicator_get_device_count_v1",
            "indicator_get_devices_ran_on_v1",
            "PostDeviceDetailsV2",
            "GetQueriesAlertsV2",
            "PostEntitiesAlertsV2",
        ])
        .output(Shape::Fields(
            "hash:string type:string seen:boolean device_count:integer hosts:array alerts:object",
        )),
        query_hash,
    )
    .tool(
        ToolSpec::read(
            "hunting_query_ip",
            "Query IP address",
            "Hosts with or contacting an IP, its alerts, a CQL for network events",
        )
        .ops(&[
            "QueryDevicesByFilter",
            "indicator_get_device_count_v1",
            "indicator_get_devices_ran_on_v1",
            "PostDeviceDetailsV2",
            "GetQueriesAlertsV2",
            "PostEntitiesAlertsV2",
        ])
        .output(Shape::Fields(
            "ip:string hosts_with_ip:array hosts_contacted:array alerts:object cql:string",
        )),
        query_ip,
    )
    .tool(
        ToolSpec::read(
            "hunting_list_iocs",
            "List IOCs",
            "Custom IOCs by type, value, action or FQL (falcon://fql/iocs)",
        )
        .ops(&["indicator_combined_v1"])
        .output(Shape::Search)
        .guide(IOC_GUIDE),
        list_iocs,
    )
    .tool(
        ToolSpec::write(
            "hunting_create_ioc",
            "Create custom IOC",
            "Add a hash, domain or IP IOC",
        )
        // The combined query checks an IOC create whose answer was lost.
        .ops(&["indicator_create_v1", "indicator_combined_v1"])
        .output(Shape::Fields("ioc:object verified?:boolean")),
        create_ioc,
    )
    .resource(Resource::markdown(
        IOC_GUIDE,
        "IOC FQL guide",
        "FQL syntax, fields and value rules for custom IOCs",
        include_str!("fql_iocs.md"),
    ));
    mcp::add(p)
}

aerie_sdk::export_plugin!(plugin);

#[cfg(test)]
mod tests {
    use super::*;
    use aerie_sdk::testing::MockEnv;

    const AID: &str = "5388c592189444ad9e84df071c8f3954";
    const AID2: &str = "0123456789abcdef0123456789abcdef";

    fn call(env: &MockEnv, tool: &str, args: Value) -> Result<Output, ToolError> {
        plugin().call(env, tool, &args.to_string())
    }

    #[test]
    fn declarations_are_valid_and_compact() {
        let p = plugin();
        p.validate().unwrap();
        // The tools/list budget is 450 bytes per tool on average across all groups; IOC creation
        // carries the most enums, so this group's own bound is 520.
        let d = p.describe();
        let avg = d.average_tool_bytes();
        assert!(avg < 520, "average tool size {avg} bytes");
    }

    #[test]
    fn search_needs_query_or_filter() {
        let env = MockEnv::new();
        assert!(matches!(
            call(&env, "hunting_search_detections", json!({})),
            Err(ToolError::InvalidArguments(_))
        ));
        let env = MockEnv::new().reply("GetQueriesAlertsV2", 200, json!({"resources": []}));
        call(
            &env,
            "hunting_search_detections",
            json!({"query": "mimikatz"}),
        )
        .unwrap();
        assert_eq!(
            env.calls_to("GetQueriesAlertsV2")[0].query_value("q"),
            Some("mimikatz")
        );
        assert_eq!(
            env.operations(),
            ["GetQueriesAlertsV2"],
            "no hydrate when nothing matched"
        );
    }

    #[test]
    fn unseen_hash_makes_few_calls() {
        let h = "A".repeat(64);
        let env = MockEnv::new()
            .reply(
                "indicator_get_device_count_v1",
                404,
                json!({"errors": [{"code": 404, "message": "not found"}]}),
            )
            .reply("GetQueriesAlertsV2", 200, json!({"resources": []}));
        let out = call(&env, "hunting_query_hash", json!({"hash": h})).unwrap();
        assert_eq!(out.structured.unwrap()["seen"], false);
        assert_eq!(
            env.operations(),
            ["indicator_get_device_count_v1", "GetQueriesAlertsV2"]
        );
        assert_eq!(
            env.calls_to("GetQueriesAlertsV2")[0].query_value("filter"),
            Some(format!("sha256:'{}'", "a".repeat(64)).as_str())
        );
    }

    #[test]
    fn seen_hash_lists_hosts() {
        let env = MockEnv::new()
            .reply(
                "indicator_get_device_count_v1",
                200,
                json!({"resources": [{"device_count": 2}]}),
            )
            .reply(
                "indicator_get_devices_ran_on_v1",
                200,
                json!({"resources": [AID]}),
            )
            .reply(
                "PostDeviceDetailsV2",
                200,
                json!({"resources": [{"device_id": AID, "hostname": "WS1"}]}),
            )
            .reply("GetQueriesAlertsV2", 200, json!({"resources": []}));
        let out = call(&env, "hunting_query_hash", json!({"hash": "0".repeat(32)})).unwrap();
        let s = out.structured.unwrap();
        assert_eq!(s["type"], "md5");
        assert_eq!(s["device_count"], 2);
        assert_eq!(s["hosts"][0]["hostname"], "WS1");
        assert!(call(&env, "hunting_query_hash", json!({"hash": "xyz"})).is_err());
    }

    #[test]
    fn ip_merges_hosts_into_one_hydrate() {
        let env = MockEnv::new()
            .reply("QueryDevicesByFilter", 200, json!({"resources": [AID]}))
            .reply("indicator_get_device_count_v1", 200, json!({"resources": [{"device_count": 1}]}))
            .reply("indicator_get_devices_ran_on_v1", 200, json!({"resources": [AID2, AID]}))
            .reply(
                "PostDeviceDetailsV2",
                200,
                json!({"resources": [{"device_id": AID, "hostname": "A"}, {"device_id": AID2, "hostname": "B"}]}),
            )
            .reply("GetQueriesAlertsV2", 200, json!({"resources": []}));
        let out = call(&env, "hunting_query_ip", json!({"ip": "10.0.0.5"})).unwrap();
        let s = out.structured.unwrap();
        assert_eq!(s["hosts_with_ip"][0]["hostname"], "A");
        assert_eq!(s["hosts_contacted"].as_array().unwrap().len(), 2);
        assert_eq!(env.calls_to("PostDeviceDetailsV2").len(), 1);
        assert_eq!(
            env.calls_to("QueryDevicesByFilter")[0].query_value("filter"),
            Some("(local_ip:'10.0.0.5',external_ip:'10.0.0.5')")
        );
        assert!(call(&env, "hunting_query_ip", json!({"ip": "10.0.0.500"})).is_err());
    }

    #[test]
    fn list_iocs_uses_cursor_or_offset() {
        let env = MockEnv::new().reply(
            "indicator_combined_v1",
            200,
            json!({"meta": {"pagination": {"offset": 0, "limit": 1, "total": 5, "after": "tok"}}, "resources": [{"id": "i", "type": "domain", "value": "x.com"}]}),
        );
        let out = call(
            &env,
            "hunting_list_iocs",
            json!({"type": "domain", "limit": 1}),
        )
        .unwrap();
        assert_eq!(out.structured.unwrap()["next"], "tok");
        call(&env, "hunting_list_iocs", json!({"cursor": "tok"})).unwrap();
        let second = &env.calls_to("indicator_combined_v1")[1];
        assert_eq!(second.query_value("after"), Some("tok"));
        assert_eq!(second.query_value("offset"), None);
    }

    #[test]
    fn create_ioc_validates_before_request() {
        let env = MockEnv::new();
        for args in [
            json!({"type": "sha256", "value": "abc"}),
            json!({"type": "domain", "value": "evil.example", "action": "prevent"}),
            json!({"type": "ipv4", "value": "1.2.3.4", "expiration": "next week"}),
            json!({"type": "md5", "value": "0".repeat(32), "platforms": []}),
        ] {
            assert!(matches!(
                call(&env, "hunting_create_ioc", args),
                Err(ToolError::InvalidArguments(_))
            ));
        }
        assert!(env.calls().is_empty());
    }

    #[test]
    fn create_ioc_body() {
        let env = MockEnv::new().reply(
            "indicator_create_v1",
            201,
            json!({"resources": [{"id": "x", "type": "domain", "value": "evil.example", "action": "detect"}]}),
        );
        call(
            &env,
            "hunting_create_ioc",
            json!({"type": "domain", "value": "Evil.Example.", "severity": "high", "expiration": "2026-12-31", "comment": "case 7"}),
        )
        .unwrap();
        let body = env.calls_to("indicator_create_v1")[0].body_json().unwrap();
        assert_eq!(body["comment"], "case 7");
        let ioc = &body["indicators"][0];
        assert_eq!(ioc["value"], "evil.example");
        assert_eq!(ioc["action"], "detect");
        assert_eq!(ioc["severity"], "high");
        assert_eq!(ioc["expiration"], "2026-12-31T00:00:00Z");
        assert_eq!(ioc["platforms"], json!(["windows", "mac", "linux"]));
    }
}
