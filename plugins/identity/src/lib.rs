//! The `identity` tool group: Falcon Identity Protection over its GraphQL API (reference part 2
//! §7) — investigate a user, endpoint or address in one call (who it is, its risk and why, the
//! accounts and endpoints it is tied to, open incidents, recent timeline), and list entities
//! ranked by risk.
//!
//! The GraphQL documents are constants of this plugin; arguments reach them only as GraphQL
//! variables, validated first, so a model can never write or extend a query.

use aerie_sdk::{Ctx, Next, Output, Plugin, SearchResult, Shape, ToolError, ToolSpec, ids, prune};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

const OP: &str = "api_preempt_proxy_post_graphql";

/// Scopes named when Falcon refuses a document (the GraphQL write scope is needed even to read,
/// plus the read scope of each part the document touches).
const ENTITY_SCOPES: &str =
    "Identity Protection GraphQL:write` and `Identity Protection Entities:read";
const TIMELINE_SCOPES: &str =
    "Identity Protection GraphQL:write` and `Identity Protection Timeline:read";

/// What an investigation shows of an entity.
const ENTITY_FIELDS: &str = r"
fragment Entity on Entity {
  entityId type primaryDisplayName secondaryDisplayName riskScore riskScoreSeverity
  riskFactors { type severity score }
  mostRecentActivity watched roles { type }
  ... on UserEntity { emailAddresses }
  ... on EndpointEntity { lastIpAddress unmanaged }
  accounts { ... on ActiveDirectoryAccountDescriptor { domain samAccountName ou enabled passwordAttributes { lastChange strength } } }
  associations { bindingType ... on EntityAssociation { entity { entityId type primaryDisplayName riskScoreSeverity } } }
  openIncidents(first: 5) { nodes { incidentId type severity lifeCycleStage startTime endTime compromisedEntities { primaryDisplayName type } } }
}";

/// Resolve by name (display name pattern, or account name), email, address, domain or id; all
/// given criteria are ANDed, the name matching either its display name or its account.
const RESOLVE: &str = r"
query Resolve($pattern: String, $accounts: [String], $emails: [String], $ips: [String], $domains: [String], $ids: [String], $types: [EntityType], $first: Int, $byAccount: Boolean!) {
  byName: entities(primaryDisplayNamePattern: $pattern, emailAddresses: $emails, primaryDisplayNames: $ips, domains: $domains, entityIds: $ids, types: $types, first: $first, sortKey: RISK_SCORE, sortOrder: DESCENDING) { nodes { ...Entity } pageInfo { hasNextPage } }
  byAccount: entities(samAccountNames: $accounts, emailAddresses: $emails, primaryDisplayNames: $ips, domains: $domains, entityIds: $ids, types: $types, first: $first, sortKey: RISK_SCORE, sortOrder: DESCENDING) @include(if: $byAccount) { nodes { ...Entity } pageInfo { hasNextPage } }
}";

/// The recent events an entity took part in, on either end.
const TIMELINE: &str = r"
query Timeline($ids: [String], $start: String, $first: Int) {
  asSource: timeline(sourceEntityQuery: {entityIds: $ids}, startTime: $start, first: $first) { ...Events }
  asTarget: timeline(targetEntityQuery: {entityIds: $ids}, startTime: $start, first: $first) { ...Events }
}
fragment Events on TimelineEventConnection {
  nodes {
    eventId eventType eventSeverity timestamp category
    ... on TimelineAuthenticationEvent { sourceEntity { primaryDisplayName } targetEntity { primaryDisplayName } ipAddress }
    ... on TimelineAlertEvent { sourceEntity { primaryDisplayName } targetEntity { primaryDisplayName } ipAddress }
    ... on TimelineUserOnEndpointActivityEvent { sourceEntity { primaryDisplayName } targetEntity { primaryDisplayName } ipAddress }
  }
  pageInfo { hasNextPage }
}";

/// Entities ranked by risk, with their count.
const RANKED: &str = r"
query Ranked($pattern: String, $types: [EntityType], $domains: [String], $min: RiskScoreSeverity, $first: Int, $after: String) {
  countEntities(primaryDisplayNamePattern: $pattern, types: $types, domains: $domains, minRiskScoreSeverity: $min)
  entities(primaryDisplayNamePattern: $pattern, types: $types, domains: $domains, minRiskScoreSeverity: $min, first: $first, after: $after, sortKey: RISK_SCORE, sortOrder: DESCENDING) {
    nodes { entityId type primaryDisplayName secondaryDisplayName riskScore riskScoreSeverity riskFactors { type } mostRecentActivity ... on EndpointEntity { unmanaged } }
    pageInfo { hasNextPage endCursor }
  }
}";

// What an entity is (no doc comment: it would be repeated in every schema using it).
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum EntityType {
    User,
    Endpoint,
}

impl EntityType {
    fn graphql(self) -> &'static str {
        match self {
            EntityType::User => "USER",
            EntityType::Endpoint => "ENDPOINT",
        }
    }
}

fn d7() -> u32 {
    7
}
fn d10() -> u32 {
    10
}
fn d20() -> u32 {
    20
}

/// Arguments of `identity_investigate`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct InvestigateArgs {
    /// Name, account, email, IP or UUID (Jane*, CORP\jdoe)
    entity: String,
    /// AD domain
    domain: Option<String>,
    #[serde(rename = "type")]
    kind: Option<EntityType>,
    /// Timeline days
    #[schemars(range(min = 1, max = 90))]
    #[serde(default = "d7")]
    days: u32,
    #[schemars(range(max = 100))]
    #[serde(default = "d20")]
    timeline: u32,
}

/// Entities an investigation shows at most (the riskiest first).
const MAX_ENTITIES: u32 = 3;

/// What `entity` names, as GraphQL variables: a UUID is an entity id, an address the name of
/// an (unmanaged) endpoint, `user@domain` an email, anything else a display-name pattern that
/// also matches the directory account of that name (`CORP\jdoe` → `jdoe`).
fn resolve_variables(a: &InvestigateArgs) -> Result<Map<String, Value>, ToolError> {
    let mut v = Map::new();
    let entity = a.entity.trim();
    check_text(entity, "entity")?;
    let ip = ids::ioc_value(ids::IocType::Ipv4, entity)
        .or_else(|_| ids::ioc_value(ids::IocType::Ipv6, entity))
        .ok();
    let mut by_account = false;
    if entity.is_empty() || entity.chars().all(|c| c == '*') {
        return Err(ToolError::invalid(
            "entity must name something (Jane*, WS-FIN-042, jdoe@corp.example, 10.3.0.4); `*` would match every entity — use identity_search_entities to list by risk",
        ));
    } else if let Ok(id) = ids::uuid(entity, "entity id") {
        v.insert("ids".into(), json!([id]));
    } else if let Some(ip) = ip {
        v.insert("ips".into(), json!([ip]));
    } else if entity.contains('@') {
        let ok = entity
            .split_once('@')
            .is_some_and(|(u, d)| !u.is_empty() && d.contains('.') && !entity.contains(' '));
        if !ok {
            return Err(ToolError::invalid(format!(
                "`{entity}` looks like an email but is not one (expected user@domain.example)"
            )));
        }
        v.insert("emails".into(), json!([entity]));
    } else {
        v.insert("pattern".into(), json!(entity));
        let account = entity.rsplit('\\').next().unwrap_or(entity);
        by_account = !account.is_empty() && !account.contains([' ', '*']);
        if by_account {
            v.insert("accounts".into(), json!([account]));
        }
    }
    v.insert("byAccount".into(), json!(by_account));
    if let Some(domain) = a.domain.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        ids::ioc_value(ids::IocType::Domain, domain).map_err(|_| {
            ToolError::invalid(format!(
                "`{domain}` is not a domain name (expected e.g. CORP.EXAMPLE)"
            ))
        })?;
        v.insert("domains".into(), json!([domain]));
    }
    if let Some(t) = a.kind {
        v.insert("types".into(), json!([t.graphql()]));
    }
    v.insert("first".into(), json!(MAX_ENTITIES));
    Ok(v)
}

/// Free text sent as a GraphQL variable: bounded, no control characters.
fn check_text(s: &str, what: &str) -> Result<(), ToolError> {
    if s.len() > 200 || s.chars().any(char::is_control) {
        return Err(ToolError::invalid(format!(
            "{what} must be at most 200 characters without control characters"
        )));
    }
    Ok(())
}

/// Post a fixed document; GraphQL errors (HTTP 200 with `errors`) are failures.
fn graphql(
    ctx: &Ctx<'_>,
    document: &str,
    variables: Map<String, Value>,
    scopes: &'static str,
) -> Result<Value, ToolError> {
    let body = json!({"query": document, "variables": variables});
    let reply: Value = ctx.op(OP).scope(scopes).body_json(&body)?.send()?.json()?;
    if let Some(errors) = reply
        .get("errors")
        .and_then(Value::as_array)
        .filter(|e| !e.is_empty())
    {
        let messages: Vec<&str> = errors
            .iter()
            .filter_map(|e| e["message"].as_str())
            .collect();
        return Err(ToolError::Upstream {
            status: 400,
            message: format!(
                "Identity Protection refused the query: {}",
                messages.join("; ")
            ),
        });
    }
    Ok(reply.get("data").cloned().unwrap_or(Value::Null))
}

const DAY_MS: i64 = 86_400_000;

/// `YYYY-MM-DDTHH:MM:SSZ` of epoch milliseconds (UTC).
fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01, counting years from March so leap days fall last.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// An entity node made compact: no `__typename`, empty values dropped, associations and
/// incidents flattened to what a reader needs.
fn compact_entity(mut e: Value) -> Value {
    if let Some(o) = e.as_object_mut() {
        if let Some(assoc) = o.remove("associations") {
            let related: Vec<Value> = assoc
                .as_array()
                .into_iter()
                .flatten()
                .filter(|a| a["entity"].is_object())
                .map(|a| {
                    json!({"binding": a["bindingType"], "entity_id": a["entity"]["entityId"],
                           "name": a["entity"]["primaryDisplayName"], "type": a["entity"]["type"],
                           "risk": a["entity"]["riskScoreSeverity"]})
                })
                .collect();
            o.insert("related".into(), Value::Array(related));
        }
        if let Some(inc) = o.remove("openIncidents") {
            o.insert("openIncidents".into(), inc["nodes"].clone());
        }
    }
    prune(e)
}

fn compact_event(e: &Value) -> Value {
    prune(json!({
        "time": e["timestamp"], "type": e["eventType"], "category": e["category"],
        "severity": e["eventSeverity"], "source": e["sourceEntity"]["primaryDisplayName"],
        "target": e["targetEntity"]["primaryDisplayName"], "ip": e["ipAddress"],
    }))
}

fn investigate(ctx: &Ctx<'_>, a: InvestigateArgs) -> Result<Output, ToolError> {
    let vars = resolve_variables(&a)?;
    let data = graphql(
        ctx,
        &format!("{RESOLVE}\n{ENTITY_FIELDS}"),
        vars,
        ENTITY_SCOPES,
    )?;
    let mut entities: Vec<Value> = Vec::new();
    let mut more = false;
    for key in ["byName", "byAccount"] {
        let conn = &data[key];
        more |= conn["pageInfo"]["hasNextPage"] == true;
        for n in conn["nodes"].as_array().into_iter().flatten() {
            if !entities.iter().any(|e| e["entityId"] == n["entityId"]) {
                entities.push(n.clone());
            }
        }
    }
    entities.sort_by(|x, y| {
        y["riskScore"]
            .as_f64()
            .partial_cmp(&x["riskScore"].as_f64())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    more |= entities.len() > MAX_ENTITIES as usize;
    entities.truncate(MAX_ENTITIES as usize);
    if entities.is_empty() {
        return Err(ToolError::not_found(
            "no Identity Protection entity matches; check the spelling, try a wildcard (Jane*) or drop `type`",
        ));
    }
    let ids: Vec<&Value> = entities.iter().map(|e| &e["entityId"]).collect();
    let timeline = if a.timeline == 0 {
        Vec::new()
    } else {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let mut v = Map::new();
        v.insert("ids".into(), json!(ids));
        v.insert("first".into(), json!(a.timeline));
        v.insert(
            "start".into(),
            json!(rfc3339(now - i64::from(a.days) * DAY_MS)),
        );
        let data = graphql(ctx, TIMELINE, v, TIMELINE_SCOPES)?;
        let mut events: Vec<&Value> = Vec::new();
        for key in ["asSource", "asTarget"] {
            for n in data[key]["nodes"].as_array().into_iter().flatten() {
                if !events.iter().any(|e| e["eventId"] == n["eventId"]) {
                    events.push(n);
                }
            }
        }
        events.sort_by(|x, y| y["timestamp"].as_str().cmp(&x["timestamp"].as_str()));
        events.truncate(a.timeline as usize);
        events.into_iter().map(compact_event).collect()
    };
    let entities: Vec<Value> = entities.into_iter().map(compact_entity).collect();
    let first = &entities[0];
    let summary = format!(
        "{} ({}, {} risk {}): {} risk factor(s), {} related, {} open incident(s); {} timeline event(s) in {} day(s){}.",
        first["primaryDisplayName"].as_str().unwrap_or("?"),
        first["type"].as_str().unwrap_or("?"),
        first["riskScoreSeverity"].as_str().unwrap_or("?"),
        first["riskScore"],
        first["riskFactors"].as_array().map_or(0, Vec::len),
        first["related"].as_array().map_or(0, Vec::len),
        first["openIncidents"].as_array().map_or(0, Vec::len),
        timeline.len(),
        a.days,
        if entities.len() > 1 {
            format!("; {} entities matched, riskiest first", entities.len())
        } else {
            String::new()
        },
    );
    Ok(Output::json(
        summary,
        &json!({"entities": entities, "more": more, "timeline": timeline}),
    ))
}

// How risky at least (no doc comment: see EntityType).
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Risk {
    Normal,
    Medium,
    High,
}

/// Arguments of `identity_search_entities`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SearchArgs {
    #[serde(rename = "type")]
    kind: Option<EntityType>,
    min_risk: Option<Risk>,
    /// SRV-* ok
    name: Option<String>,
    domain: Option<String>,
    #[schemars(range(min = 1, max = 100))]
    #[serde(default = "d10")]
    limit: u32,
    cursor: Option<String>,
}

fn search(ctx: &Ctx<'_>, a: SearchArgs) -> Result<Output, ToolError> {
    let mut v = Map::new();
    if let Some(name) = a.name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        check_text(name, "name")?;
        v.insert("pattern".into(), json!(name));
    }
    if let Some(d) = a.domain.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        ids::ioc_value(ids::IocType::Domain, d)
            .map_err(|_| ToolError::invalid(format!("`{d}` is not a domain name")))?;
        v.insert("domains".into(), json!([d]));
    }
    if let Some(t) = a.kind {
        v.insert("types".into(), json!([t.graphql()]));
    }
    if let Some(r) = a.min_risk {
        v.insert("min".into(), json!(format!("{r:?}").to_uppercase()));
    }
    if let Some(c) = a.cursor.as_deref().filter(|c| !c.is_empty()) {
        check_text(c, "cursor")?;
        v.insert("after".into(), json!(c));
    }
    v.insert("first".into(), json!(a.limit));
    let data = graphql(ctx, RANKED, v, ENTITY_SCOPES)?;
    let conn = &data["entities"];
    let results: Vec<Value> = conn["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| {
            let mut n = n.clone();
            if let Some(f) = n.get_mut("riskFactors").and_then(Value::as_array_mut) {
                *f = f.iter().map(|x| x["type"].clone()).collect();
            }
            prune(n)
        })
        .collect();
    let next = match conn["pageInfo"]["endCursor"].as_str() {
        Some(c) if conn["pageInfo"]["hasNextPage"] == true => Next::Cursor(c.to_string()),
        _ => Next::None,
    };
    let total = data["countEntities"]
        .as_u64()
        .unwrap_or(results.len() as u64);
    Ok(SearchResult {
        results,
        total,
        next,
    }
    .into_output("entities (riskiest first)"))
}

/// The `identity` plugin.
pub fn plugin() -> Plugin {
    Plugin::new(
        env!("CARGO_PKG_NAME").trim_start_matches("aerie-plugin-"),
        env!("CARGO_PKG_VERSION"),
        "Falcon Identity Protection: entity investigation and risk",
    )
    .tool(
        ToolSpec::read(
            "identity_investigate",
            "Investigate an identity",
            "Risk and why, accounts, related entities, incidents and timeline of a user, host or IP",
        )
        .ops(&[OP])
        .output(Shape::Fields("entities:array more:boolean timeline:array")),
        investigate,
    )
    .tool(
        ToolSpec::read(
            "identity_search_entities",
            "Search identities by risk",
            "Users and endpoints ranked by risk, by type, risk, name or domain",
        )
        .ops(&[OP])
        .output(Shape::Search),
        search,
    )
}

aerie_sdk::export_plugin!(plugin);

#[cfg(test)]
mod tests;
