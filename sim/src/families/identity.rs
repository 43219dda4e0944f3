//! Identity Protection (reference §7): the GraphQL endpoint over entities generated from the
//! tenant — its directory users (the primary users of its Windows and Mac hosts plus service
//! accounts), its domain-joined Windows hosts as managed endpoints, and addresses seen
//! authenticating (Mac hosts' addresses, and the well-known bad IP password-spraying the
//! well-known user) as unmanaged endpoints named by IP. Risk follows the tenant: a host's risk
//! grows with its high-severity alerts, and the well-known user and host are high risk with an
//! open incident built from the alerts on that host. Timelines hold the hosts' logins, their
//! alerts and the spray's failed authentications.
//!
//! The answer is raw GraphQL (`{data, errors, extensions}`, HTTP 200 also for query errors),
//! and the document is parsed and validated for real (see [`graphql`]): an unknown field,
//! argument, type or fragment is an error, never silently ignored. Scopes: the route needs
//! `identity-protection-graphql:write`; `entities`/`countEntities` also need
//! `identity-protection-entities:read`, `timeline` `identity-protection-timeline:read` (403
//! otherwise). `extensions` reports cost points per API client.

mod graphql;

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde_json::{Map, Value, json};

use crate::engine::{Endpoint, Family, Kind, Seed, Store};
use crate::envelope::{ApiError, ApiResult, Req, Resp};
use crate::tenant::{KNOWN_BAD_IP, KNOWN_HOSTNAME, KNOWN_USER};
use crate::timeutil::{parse_timestamp, rfc3339_s};
use crate::world::{Ctx, World, uuid};
use graphql::{ArgDef, ArgType, FieldDef, Resolver, Schema, TypeDef, TypeKind};

const PB: &str = "identity-protection";
/// Scope of the route (needed even for read-only queries).
const GRAPHQL_SCOPE: &str = "identity-protection-graphql:write";
/// Scopes the root fields need on top.
const ROOT_SCOPES: &[(&str, &str)] = &[
    ("entities", "identity-protection-entities:read"),
    ("countEntities", "identity-protection-entities:read"),
    ("timeline", "identity-protection-timeline:read"),
];
/// Cost points an API client may spend (reported in `extensions`).
const POINTS: i64 = 500_000;
const DOMAIN: &str = "CORP.EXAMPLE";
const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;

const ENTITIES: &str = "identity_entities";
const INCIDENTS: &str = "identity_incidents";
const TIMELINE: &str = "identity_timeline";
const QUOTA: &str = "identity_quota";

/// The Identity Protection collections; the entities family carries the GraphQL endpoint.
pub(crate) static FAMILIES: &[Family] = &[
    Family {
        name: ENTITIES,
        id_field: "entityId",
        noun: "Entity",
        powered_by: PB,
        default_sort: "",
        extra_fields: &[],
        text_fields: &[],
        store: Store::Seeded(seed_entities),
        endpoints: &[Endpoint {
            op: "api_preempt_proxy_post_graphql",
            method: "POST",
            path: "/identity-protection/combined/graphql/v1",
            scope: GRAPHQL_SCOPE,
            kind: Kind::Custom(post_graphql),
        }],
    },
    data_family(INCIDENTS, "incidentId", seed_incidents),
    data_family(TIMELINE, "eventId", seed_timeline),
    data_family(QUOTA, "id", no_objects),
];

/// A collection the GraphQL endpoint reads (no endpoints of its own).
const fn data_family(
    name: &'static str,
    id_field: &'static str,
    seed: fn(&mut Seed<'_>) -> Vec<Value>,
) -> Family {
    Family {
        name,
        id_field,
        noun: "Object",
        powered_by: PB,
        default_sort: "",
        extra_fields: &[],
        text_fields: &[],
        store: Store::Seeded(seed),
        endpoints: &[],
    }
}

fn no_objects(_: &mut Seed<'_>) -> Vec<Value> {
    Vec::new()
}

// ---------------------------------------------------------------------------------------------
// The schema the endpoint answers.

const ENTITY_TYPE: ArgType = ArgType::Enum("EntityType", &["USER", "ENDPOINT"]);
const SEVERITY: ArgType = ArgType::Enum("RiskScoreSeverity", &["NORMAL", "MEDIUM", "HIGH"]);
const ROLE: ArgType = ArgType::Enum(
    "EntityRoleType",
    &[
        "HumanUserAccountRole",
        "ProgrammaticUserAccountRole",
        "AdminAccountRole",
        "BuiltinAdministratorRole",
        "DomainAdminsRole",
        "DomainControllerRole",
    ],
);
const CATEGORY: ArgType = ArgType::Enum(
    "TimelineEventCategory",
    &[
        "ACTIVITY",
        "NOTIFICATION",
        "THREAT",
        "ENTITY",
        "AUDIT",
        "POLICY",
        "SYSTEM",
    ],
);
const ORDER: ArgType = ArgType::Enum("SortOrder", &["ASCENDING", "DESCENDING"]);
const ENTITY_QUERY: ArgType = ArgType::Input(
    "EntityQueryInput",
    &[ArgDef {
        name: "entityIds",
        ty: ArgType::List(&ArgType::String),
    }],
);

/// The `entities` filter arguments, followed by `$extra`.
macro_rules! entity_args {
    ($($extra:expr),*) => {
        &[
            ArgDef { name: "entityIds", ty: ArgType::List(&ArgType::String) },
            ArgDef { name: "types", ty: ArgType::List(&ENTITY_TYPE) },
            ArgDef { name: "primaryDisplayNames", ty: ArgType::List(&ArgType::String) },
            ArgDef { name: "secondaryDisplayNames", ty: ArgType::List(&ArgType::String) },
            ArgDef { name: "primaryDisplayNamePattern", ty: ArgType::String },
            ArgDef { name: "secondaryDisplayNamePattern", ty: ArgType::String },
            ArgDef { name: "emailAddresses", ty: ArgType::List(&ArgType::String) },
            ArgDef { name: "samAccountNames", ty: ArgType::List(&ArgType::String) },
            ArgDef { name: "domains", ty: ArgType::List(&ArgType::String) },
            ArgDef { name: "minRiskScoreSeverity", ty: SEVERITY },
            ArgDef { name: "maxRiskScoreSeverity", ty: SEVERITY },
            ArgDef { name: "watched", ty: ArgType::Boolean },
            ArgDef { name: "archived", ty: ArgType::Boolean },
            ArgDef { name: "unmanaged", ty: ArgType::Boolean },
            $($extra),*
        ]
    };
}

const fn f(name: &'static str, ty: &'static str) -> FieldDef {
    FieldDef {
        name,
        ty,
        list: false,
        args: &[],
    }
}

const fn list(name: &'static str, ty: &'static str) -> FieldDef {
    FieldDef {
        name,
        ty,
        list: true,
        args: &[],
    }
}

const fn object(
    name: &'static str,
    interfaces: &'static [&'static str],
    fields: &'static [FieldDef],
) -> TypeDef {
    TypeDef {
        name,
        kind: TypeKind::Object,
        interfaces,
        fields,
    }
}

const fn interface(
    name: &'static str,
    interfaces: &'static [&'static str],
    fields: &'static [FieldDef],
) -> TypeDef {
    TypeDef {
        name,
        kind: TypeKind::Interface,
        interfaces,
        fields,
    }
}

const FIRST: ArgDef = ArgDef {
    name: "first",
    ty: ArgType::Int,
};
const AFTER: ArgDef = ArgDef {
    name: "after",
    ty: ArgType::String,
};

static SCHEMA: Schema = Schema {
    query: "Query",
    types: &[
        object(
            "Query",
            &[],
            &[
                FieldDef {
                    name: "entities",
                    ty: "EntityConnection",
                    list: false,
                    args: entity_args!(
                        ArgDef {
                            name: "sortKey",
                            ty: ArgType::Enum(
                                "EntitySortKey",
                                &["PRIMARY_DISPLAY_NAME", "RISK_SCORE"]
                            )
                        },
                        ArgDef {
                            name: "sortOrder",
                            ty: ORDER
                        },
                        FIRST,
                        AFTER
                    ),
                },
                FieldDef {
                    name: "countEntities",
                    ty: "Int",
                    list: false,
                    args: entity_args!(),
                },
                FieldDef {
                    name: "timeline",
                    ty: "TimelineEventConnection",
                    list: false,
                    args: &[
                        ArgDef {
                            name: "sourceEntityQuery",
                            ty: ENTITY_QUERY,
                        },
                        ArgDef {
                            name: "targetEntityQuery",
                            ty: ENTITY_QUERY,
                        },
                        ArgDef {
                            name: "startTime",
                            ty: ArgType::String,
                        },
                        ArgDef {
                            name: "endTime",
                            ty: ArgType::String,
                        },
                        ArgDef {
                            name: "categories",
                            ty: ArgType::List(&CATEGORY),
                        },
                        ArgDef {
                            name: "sortOrder",
                            ty: ORDER,
                        },
                        FIRST,
                        AFTER,
                    ],
                },
            ],
        ),
        object(
            "EntityConnection",
            &[],
            &[list("nodes", "Entity"), f("pageInfo", "PageInfo")],
        ),
        object(
            "PageInfo",
            &[],
            &[f("hasNextPage", "Boolean"), f("endCursor", "String")],
        ),
        interface(
            "Entity",
            &[],
            &[
                f("entityId", "UUID"),
                f("type", "EntityType"),
                f("primaryDisplayName", "String"),
                f("secondaryDisplayName", "String"),
                f("riskScore", "Float"),
                f("riskScoreSeverity", "RiskScoreSeverity"),
                f("riskScoreWithoutLinkedAccounts", "Float"),
                f("impactScore", "Float"),
                list("riskFactors", "RiskFactor"),
                f("creationTime", "DateTime"),
                f("mostRecentActivity", "DateTime"),
                f("archived", "Boolean"),
                f("learned", "Boolean"),
                f("inactive", "Boolean"),
                f("stale", "Boolean"),
                f("watched", "Boolean"),
                f("shared", "Boolean"),
                list("roles", "Role"),
                FieldDef {
                    name: "hasRole",
                    ty: "Boolean",
                    list: false,
                    args: &[ArgDef {
                        name: "type",
                        ty: ROLE,
                    }],
                },
                f("hasADDomainAdminRole", "Boolean"),
                list("accounts", "AccountDescriptor"),
                list("associations", "Association"),
                FieldDef {
                    name: "openIncidents",
                    ty: "IncidentConnection",
                    list: false,
                    args: &[FIRST],
                },
            ],
        ),
        object(
            "UserEntity",
            &["Entity"],
            &[list("emailAddresses", "String")],
        ),
        object(
            "EndpointEntity",
            &["Entity"],
            &[
                f("lastIpAddress", "String"),
                list("staticIpAddresses", "String"),
                f("unmanaged", "Boolean"),
            ],
        ),
        object(
            "RiskFactor",
            &[],
            &[
                f("type", "String"),
                f("severity", "RiskScoreSeverity"),
                f("score", "Float"),
            ],
        ),
        object("Role", &[], &[f("type", "EntityRoleType")]),
        interface(
            "AccountDescriptor",
            &[],
            &[
                f("dataSource", "String"),
                f("creationTime", "DateTime"),
                f("mostRecentActivity", "DateTime"),
            ],
        ),
        object(
            "ActiveDirectoryAccountDescriptor",
            &["AccountDescriptor"],
            &[
                f("domain", "String"),
                f("samAccountName", "String"),
                f("upn", "String"),
                f("dn", "String"),
                f("cn", "String"),
                f("ou", "String"),
                f("objectSid", "String"),
                f("objectGuid", "String"),
                f("enabled", "Boolean"),
                f("department", "String"),
                f("title", "String"),
                f("description", "String"),
                f("expirationTime", "DateTime"),
                f("lockoutTime", "DateTime"),
                f("passwordAttributes", "PasswordAttributes"),
            ],
        ),
        object(
            "PasswordAttributes",
            &[],
            &[f("lastChange", "DateTime"), f("strength", "String")],
        ),
        interface("Association", &[], &[f("bindingType", "String")]),
        object(
            "EntityAssociation",
            &["Association"],
            &[f("entity", "Entity")],
        ),
        object(
            "GeoLocationAssociation",
            &["Association"],
            &[f("geoLocation", "GeoLocation")],
        ),
        object(
            "GeoLocation",
            &[],
            &[
                f("country", "String"),
                f("countryCode", "String"),
                f("city", "String"),
                f("cityCode", "String"),
                f("latitude", "Float"),
                f("longitude", "Float"),
            ],
        ),
        object(
            "IncidentConnection",
            &[],
            &[list("nodes", "Incident"), f("pageInfo", "PageInfo")],
        ),
        object(
            "Incident",
            &[],
            &[
                f("incidentId", "String"),
                f("type", "String"),
                f("severity", "String"),
                f("lifeCycleStage", "String"),
                f("startTime", "DateTime"),
                f("endTime", "DateTime"),
                list("compromisedEntities", "Entity"),
            ],
        ),
        object(
            "TimelineEventConnection",
            &[],
            &[list("nodes", "TimelineEvent"), f("pageInfo", "PageInfo")],
        ),
        interface(
            "TimelineEvent",
            &[],
            &[
                f("eventId", "String"),
                f("eventType", "String"),
                f("eventSeverity", "String"),
                f("timestamp", "DateTime"),
                f("category", "TimelineEventCategory"),
            ],
        ),
        interface(
            "TimelineAuthenticationEvent",
            &["TimelineEvent"],
            TIMELINE_ENDS,
        ),
        object(
            "TimelineSuccessfulAuthenticationEvent",
            &["TimelineEvent", "TimelineAuthenticationEvent"],
            TIMELINE_ENDS,
        ),
        object(
            "TimelineFailedAuthenticationEvent",
            &["TimelineEvent", "TimelineAuthenticationEvent"],
            TIMELINE_ENDS,
        ),
        object(
            "TimelineUserOnEndpointActivityEvent",
            &["TimelineEvent"],
            TIMELINE_ENDS,
        ),
        object("TimelineAlertEvent", &["TimelineEvent"], TIMELINE_ENDS),
    ],
};

/// The two ends of a timeline event and where it came from.
const TIMELINE_ENDS: &[FieldDef] = &[
    f("sourceEntity", "Entity"),
    f("targetEntity", "Entity"),
    f("ipAddress", "String"),
    f("userDisplayName", "String"),
    f("endpointDisplayName", "String"),
];

// ---------------------------------------------------------------------------------------------
// Seeds.

fn severity_of(score: f64) -> &'static str {
    if score >= 0.7 {
        "HIGH"
    } else if score >= 0.4 {
        "MEDIUM"
    } else {
        "NORMAL"
    }
}

fn severity_rank(s: &str) -> u8 {
    match s {
        "HIGH" => 2,
        "MEDIUM" => 1,
        _ => 0,
    }
}

/// Round to two decimals, as the API reports scores.
fn score(x: f64) -> f64 {
    (x.clamp(0.0, 1.0) * 100.0).round() / 100.0
}

fn factors(rng: &mut StdRng, risk: f64, pool: &[&'static str]) -> Vec<Value> {
    let n = match severity_of(risk) {
        "HIGH" => 3,
        "MEDIUM" => 2,
        _ => usize::from(risk > 0.2),
    };
    let mut picked: Vec<&str> = pool
        .choose_multiple(rng, n.min(pool.len()))
        .copied()
        .collect();
    picked.sort_unstable();
    picked
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            let s = score(risk - 0.1 * i as f64);
            json!({"type": t, "severity": severity_of(s), "score": s})
        })
        .collect()
}

/// `jdoe` → `Jane Doe`; others get a first name with their initial.
fn display_name(rng: &mut StdRng, sam: &str) -> String {
    if sam == KNOWN_USER {
        return "Jane Doe".to_string();
    }
    let cap = |s: &str| {
        let mut c = s.chars();
        c.next()
            .map(|f| f.to_uppercase().chain(c).collect::<String>())
            .unwrap_or_default()
    };
    if let Some(rest) = sam.strip_prefix("svc_") {
        return format!("{} service", cap(rest));
    }
    let mut chars = sam.chars();
    let initial = chars.next().unwrap_or('x');
    let names: Vec<&str> = crate::catalog::FIRST
        .iter()
        .copied()
        .filter(|n| n.starts_with(initial))
        .collect();
    let first = names
        .choose(rng)
        .copied()
        .map(cap)
        .unwrap_or_else(|| initial.to_uppercase().collect());
    format!("{first} {}", cap(chars.as_str()))
}

/// `CN=x,OU=Users,OU=Company,DC=corp,DC=example` for an `ou` path `corp.example/Company/Users`.
fn dn(cn: &str, ou: &str) -> String {
    let mut parts: Vec<String> = ou.split('/').skip(1).map(|p| format!("OU={p}")).collect();
    parts.reverse();
    format!("CN={cn},{},DC=corp,DC=example", parts.join(","))
}

fn ad_account(rng: &mut StdRng, sam: &str, cn: &str, ou: &str, now: i64, strength: &str) -> Value {
    let created = now - rng.gen_range(200..1500) * DAY;
    json!({
        "__typename": "ActiveDirectoryAccountDescriptor", "dataSource": "ACTIVE_DIRECTORY",
        "domain": DOMAIN, "samAccountName": sam, "upn": format!("{}@corp.example", sam.trim_end_matches('$').to_lowercase()),
        "cn": cn, "ou": ou, "dn": dn(cn, ou),
        "objectSid": format!("S-1-5-21-3623811015-3361044348-30300820-{}", rng.gen_range(1100..9999)),
        "objectGuid": uuid(rng), "enabled": true, "creationTime": rfc3339_s(created),
        "mostRecentActivity": rfc3339_s(now - rng.gen_range(1..72) * HOUR),
        "passwordAttributes": {"lastChange": rfc3339_s(now - rng.gen_range(10..400) * DAY), "strength": strength},
    })
}

/// The directory's users: (sam account name, department) of hosts' primary users, plus the
/// service account the Windows logins show.
fn directory_users(w: &World) -> Vec<(String, String)> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for h in &w.hosts.items {
        let platform = h["platform_name"].as_str().unwrap_or_default();
        if platform == "Linux" {
            continue;
        }
        let user = h["last_login_user"].as_str().unwrap_or_default();
        let sam = user.rsplit('\\').next().unwrap_or_default().to_string();
        let dept = h["ou"]
            .as_array()
            .and_then(|o| o.get(1))
            .and_then(Value::as_str)
            .unwrap_or("Users");
        if !sam.is_empty() && seen.insert(sam.clone()) {
            out.push((sam, dept.to_string()));
        }
    }
    out.push(("svc_backup".to_string(), "Service Accounts".to_string()));
    out
}

fn is_server(h: &Value) -> bool {
    h["product_type_desc"] != "Workstation"
}

fn seed_entities(s: &mut Seed<'_>) -> Vec<Value> {
    let now = s.now;
    let w = s.w;
    let rng = &mut *s.rng;
    let mut high_alerts: BTreeMap<&str, usize> = BTreeMap::new();
    for a in &w.alerts.items {
        if a["severity"].as_u64().unwrap_or(0) >= 70 {
            *high_alerts
                .entry(a["agent_id"].as_str().unwrap_or_default())
                .or_default() += 1;
        }
    }
    let mut out = Vec::new();
    let mut user_ids: BTreeMap<String, String> = BTreeMap::new();
    for (sam, dept) in directory_users(w) {
        let id = uuid(rng);
        let program = sam.starts_with("svc_");
        let risk = if sam == KNOWN_USER {
            0.91
        } else {
            let r: f64 = rng.r#gen();
            score(if r < 0.7 {
                rng.gen_range(0.05..0.39)
            } else if r < 0.95 {
                rng.gen_range(0.4..0.69)
            } else {
                rng.gen_range(0.7..0.85)
            })
        };
        let risk_factors = if sam == KNOWN_USER {
            json!([{"type": "HAS_ATTACK_PATH", "severity": "HIGH", "score": 0.91}, {"type": "LDAP_RECONNAISSANCE", "severity": "HIGH", "score": 0.8}, {"type": "WEAK_PASSWORD_POLICY", "severity": "MEDIUM", "score": 0.5}])
        } else {
            Value::Array(factors(
                rng,
                risk,
                &[
                    "WEAK_PASSWORD_POLICY",
                    "DUPLICATE_PASSWORD",
                    "STALE_ACCOUNT",
                    "INACTIVE_ACCOUNT",
                    "STALE_ACCOUNT_USAGE",
                ],
            ))
        };
        let name = display_name(rng, &sam);
        let strength = if sam == KNOWN_USER {
            "WEAK"
        } else {
            ["WEAK", "MEDIUM", "STRONG", "STRONG"][rng.gen_range(0..4)]
        };
        let mut account = ad_account(
            rng,
            &sam,
            &name,
            &format!("corp.example/Company/{dept}"),
            now,
            strength,
        );
        account["department"] = json!(dept);
        account["title"] = json!(if program {
            "Service account"
        } else {
            "Employee"
        });
        let roles = if program {
            json!([{"type": "ProgrammaticUserAccountRole"}, {"type": "AdminAccountRole"}])
        } else {
            json!([{"type": "HumanUserAccountRole"}])
        };
        out.push(json!({
            "entityId": id, "__typename": "UserEntity", "type": "USER",
            "primaryDisplayName": name, "secondaryDisplayName": format!("CORP\\{sam}"),
            "emailAddresses": if program { json!([]) } else { json!([format!("{sam}@corp.example")]) },
            "riskScore": risk, "riskScoreSeverity": severity_of(risk), "riskScoreWithoutLinkedAccounts": risk,
            "impactScore": score(if program { 0.8 } else { rng.gen_range(0.1..0.6) }),
            "riskFactors": risk_factors, "creationTime": account["creationTime"], "mostRecentActivity": account["mostRecentActivity"],
            "archived": false, "learned": false, "inactive": false, "stale": false, "watched": sam == KNOWN_USER, "shared": false,
            "roles": roles, "accounts": [account], "associations": [],
        }));
        user_ids.insert(sam, id);
    }
    let mut host_ids: Vec<(usize, String)> = Vec::new();
    for (i, h) in w.hosts.items.iter().enumerate() {
        let hostname = h["hostname"].as_str().unwrap_or_default();
        let aid = h["device_id"].as_str().unwrap_or_default();
        let managed = h["platform_name"] == "Windows";
        let ip = h["local_ip"].as_str().unwrap_or_default();
        if !managed && h["platform_name"] != "Mac" {
            continue;
        }
        let id = uuid(rng);
        let n = high_alerts.get(aid).copied().unwrap_or(0);
        let risk = if hostname == KNOWN_HOSTNAME {
            0.88
        } else {
            score(0.05 + 0.12 * n as f64 + rng.gen_range(0.0..0.2)).min(0.85)
        };
        let risk_factors = if hostname == KNOWN_HOSTNAME {
            json!([{"type": "HAS_ATTACK_PATH", "severity": "HIGH", "score": 0.88}, {"type": "LDAP_RECONNAISSANCE", "severity": "HIGH", "score": 0.75}])
        } else {
            Value::Array(factors(
                rng,
                risk,
                &["HAS_ATTACK_PATH", "STALE_ACCOUNT", "LDAP_RECONNAISSANCE"],
            ))
        };
        let last_seen = h["last_seen"]
            .as_str()
            .and_then(parse_timestamp)
            .unwrap_or(now);
        let roles = if h["product_type_desc"] == "Domain Controller" {
            json!([{"type": "DomainControllerRole"}])
        } else {
            json!([])
        };
        let (primary, secondary, accounts) = if managed {
            let ou = h["ou"]
                .as_array()
                .map(|o| {
                    o.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join("/")
                })
                .unwrap_or_default();
            let account = ad_account(
                rng,
                &format!("{hostname}$"),
                hostname,
                &format!("corp.example/{ou}"),
                now,
                "STRONG",
            );
            (
                hostname.to_string(),
                format!("{}.corp.example", hostname.to_lowercase()),
                json!([account]),
            )
        } else {
            (ip.to_string(), String::new(), json!([]))
        };
        out.push(json!({
            "entityId": id, "__typename": "EndpointEntity", "type": "ENDPOINT",
            "primaryDisplayName": primary, "secondaryDisplayName": secondary,
            "lastIpAddress": ip, "staticIpAddresses": if is_server(h) { json!([ip]) } else { json!([]) }, "unmanaged": !managed,
            "riskScore": risk, "riskScoreSeverity": severity_of(risk), "riskScoreWithoutLinkedAccounts": risk,
            "impactScore": score(if is_server(h) { 0.7 } else { 0.3 }),
            "riskFactors": risk_factors, "creationTime": h["first_seen"], "mostRecentActivity": rfc3339_s(last_seen),
            "archived": false, "learned": false, "inactive": false, "stale": false,
            "watched": hostname == KNOWN_HOSTNAME, "shared": false, "roles": roles, "accounts": accounts, "associations": [],
        }));
        host_ids.push((i, id));
    }
    // The password spray's source: an unmanaged endpoint known only by its address.
    out.push(json!({
        "entityId": uuid(rng), "__typename": "EndpointEntity", "type": "ENDPOINT",
        "primaryDisplayName": KNOWN_BAD_IP, "secondaryDisplayName": "", "lastIpAddress": KNOWN_BAD_IP,
        "staticIpAddresses": [], "unmanaged": true, "riskScore": 0.82, "riskScoreSeverity": "HIGH",
        "riskScoreWithoutLinkedAccounts": 0.82, "impactScore": 0.2,
        "riskFactors": [{"type": "SUSPICIOUS_AUTHENTICATION_SOURCE", "severity": "HIGH", "score": 0.82}],
        "creationTime": rfc3339_s(now - 2 * DAY), "mostRecentActivity": rfc3339_s(now - 3 * HOUR),
        "archived": false, "learned": false, "inactive": false, "stale": false, "watched": true, "shared": false,
        "roles": [], "accounts": [], "associations": [],
    }));
    // Who uses which endpoint: the primary user owns it, other logins are LOGIN bindings.
    let index: BTreeMap<String, usize> = out
        .iter()
        .enumerate()
        .map(|(i, e)| (e["entityId"].as_str().unwrap_or_default().to_string(), i))
        .collect();
    let mut links: Vec<(String, String, &str)> = Vec::new();
    for (i, endpoint) in &host_ids {
        let h = &w.hosts.items[*i];
        let primary = h["last_login_user"]
            .as_str()
            .unwrap_or_default()
            .rsplit('\\')
            .next()
            .unwrap_or_default();
        if let Some(u) = user_ids.get(primary) {
            links.push((u.clone(), endpoint.clone(), "OWNERSHIP"));
        }
        let aid = h["device_id"].as_str().unwrap_or_default();
        let mut others: BTreeSet<&str> = BTreeSet::new();
        for l in w.logins.get(aid).into_iter().flatten() {
            let sam = l["user_name"]
                .as_str()
                .unwrap_or_default()
                .rsplit('\\')
                .next()
                .unwrap_or_default();
            if sam != primary {
                others.insert(sam);
            }
        }
        for sam in others {
            if let Some(u) = user_ids.get(sam) {
                links.push((u.clone(), endpoint.clone(), "LOGIN"));
            }
        }
    }
    for (user, endpoint, binding) in links {
        for (from, to) in [(&user, &endpoint), (&endpoint, &user)] {
            if let Some(&i) = index.get(from.as_str())
                && let Some(a) = out[i]["associations"].as_array_mut()
            {
                a.push(json!({"__typename": "EntityAssociation", "bindingType": binding, "entity": to}));
            }
        }
    }
    out
}

/// The entity with this display name (first match).
fn entity_named<'a>(entities: &'a [Value], name: &str) -> Option<&'a Value> {
    entities.iter().find(|e| {
        e["primaryDisplayName"] == name || e["secondaryDisplayName"] == format!("CORP\\{name}")
    })
}

fn id_of(e: Option<&Value>) -> Value {
    e.map_or(Value::Null, |e| e["entityId"].clone())
}

fn seed_incidents(s: &mut Seed<'_>) -> Vec<Value> {
    let now = s.now;
    let w: &World = s.w;
    let entities = w
        .families
        .get(ENTITIES)
        .map(|c| c.items.as_slice())
        .unwrap_or_default();
    let user = entity_named(entities, KNOWN_USER);
    let host = entity_named(entities, KNOWN_HOSTNAME);
    let spray = entity_named(entities, KNOWN_BAD_IP);
    let known_aid =
        s.w.hosts
            .items
            .iter()
            .find(|h| h["hostname"] == KNOWN_HOSTNAME)
            .and_then(|h| h["device_id"].as_str())
            .unwrap_or_default();
    let times: Vec<i64> =
        s.w.alerts
            .items
            .iter()
            .filter(|a| a["agent_id"] == known_aid)
            .filter_map(|a| a["timestamp"].as_str().and_then(parse_timestamp))
            .filter(|t| now - t < DAY)
            .collect();
    let (start, end) = (
        times.iter().min().copied().unwrap_or(now - 6 * HOUR),
        times.iter().max().copied().unwrap_or(now - HOUR),
    );
    let mut out = vec![
        json!({"incidentId": uuid(s.rng), "type": "CREDENTIAL_THEFT", "severity": "HIGH", "lifeCycleStage": "NEW",
               "startTime": rfc3339_s(start), "endTime": rfc3339_s(end), "compromisedEntities": [id_of(user), id_of(host)]}),
        json!({"incidentId": uuid(s.rng), "type": "PASSWORD_SPRAY", "severity": "MEDIUM", "lifeCycleStage": "IN_PROGRESS",
               "startTime": rfc3339_s(now - 26 * HOUR), "endTime": rfc3339_s(now - 3 * HOUR), "compromisedEntities": [id_of(user), id_of(spray)]}),
    ];
    let risky: Vec<&Value> = entities
        .iter()
        .filter(|e| {
            e["type"] == "USER" && e["riskScoreSeverity"] == "HIGH" && e["entityId"] != id_of(user)
        })
        .take(4)
        .collect();
    for (i, e) in risky.into_iter().enumerate() {
        let start = now - s.rng.gen_range(2..20) * DAY;
        out.push(json!({"incidentId": uuid(s.rng), "type": "SUSPICIOUS_LOGIN", "severity": "MEDIUM",
                        "lifeCycleStage": if i % 2 == 0 { "NEW" } else { "RESOLVED" },
                        "startTime": rfc3339_s(start), "endTime": rfc3339_s(start + 2 * HOUR), "compromisedEntities": [e["entityId"]]}));
    }
    out
}

fn seed_timeline(s: &mut Seed<'_>) -> Vec<Value> {
    let now = s.now;
    let w: &World = s.w;
    let rng = &mut *s.rng;
    let entities = w
        .families
        .get(ENTITIES)
        .map(|c| c.items.as_slice())
        .unwrap_or_default();
    let by_host: BTreeMap<&str, &Value> = entities
        .iter()
        .filter(|e| e["type"] == "ENDPOINT")
        .filter_map(|e| Some((e["primaryDisplayName"].as_str()?, e)))
        .collect();
    let by_sam: BTreeMap<String, &Value> = entities
        .iter()
        .filter(|e| e["type"] == "USER")
        .filter_map(|e| {
            Some((
                e["secondaryDisplayName"]
                    .as_str()?
                    .trim_start_matches("CORP\\")
                    .to_string(),
                e,
            ))
        })
        .collect();
    let mut out = Vec::new();
    let mut event = |rng: &mut StdRng,
                     typename: &str,
                     event_type: &str,
                     category: &str,
                     severity: &str,
                     ts: i64,
                     user: &Value,
                     endpoint: &Value,
                     ip: &str| {
        out.push(json!({
            "eventId": uuid(rng), "__typename": typename, "eventType": event_type, "category": category,
            "eventSeverity": severity, "timestamp": rfc3339_s(ts),
            "sourceEntity": user["entityId"], "targetEntity": endpoint["entityId"], "ipAddress": ip,
            "userDisplayName": user["primaryDisplayName"], "endpointDisplayName": endpoint["primaryDisplayName"],
        }));
    };
    let mut alerts_by_host: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for a in &w.alerts.items {
        alerts_by_host
            .entry(a["agent_id"].as_str().unwrap_or_default())
            .or_default()
            .push(a);
    }
    for h in &w.hosts.items {
        let (Some(hostname), Some(aid)) = (h["hostname"].as_str(), h["device_id"].as_str()) else {
            continue;
        };
        let Some(endpoint) = by_host.get(hostname) else {
            continue;
        };
        let ip = h["local_ip"].as_str().unwrap_or_default();
        for l in w.logins.get(aid).into_iter().flatten() {
            let sam = l["user_name"]
                .as_str()
                .unwrap_or_default()
                .rsplit('\\')
                .next()
                .unwrap_or_default();
            let (Some(user), Some(ts)) = (
                by_sam.get(sam),
                l["login_time"].as_str().and_then(parse_timestamp),
            ) else {
                continue;
            };
            event(
                rng,
                "TimelineSuccessfulAuthenticationEvent",
                "SUCCESSFUL_AUTHENTICATION",
                "ACTIVITY",
                "INFO",
                ts,
                user,
                endpoint,
                ip,
            );
        }
        for a in alerts_by_host.get(aid).into_iter().flatten() {
            let sam = a["user_name"].as_str().unwrap_or_default();
            let (Some(user), Some(ts)) = (
                by_sam.get(sam),
                a["timestamp"].as_str().and_then(parse_timestamp),
            ) else {
                continue;
            };
            let sev = match a["severity"].as_u64().unwrap_or(0) {
                70.. => "HIGH",
                40..=69 => "MEDIUM",
                _ => "LOW",
            };
            let kind = a["name"].as_str().unwrap_or("Alert");
            event(
                rng,
                "TimelineAlertEvent",
                &format!("ALERT_{}", screaming(kind)),
                "THREAT",
                sev,
                ts,
                user,
                endpoint,
                ip,
            );
        }
    }
    if let (Some(user), Some(spray)) = (by_sam.get(KNOWN_USER), by_host.get(KNOWN_BAD_IP)) {
        for k in 0..8 {
            let ts = now - 26 * HOUR + k * 3 * HOUR;
            event(
                rng,
                "TimelineFailedAuthenticationEvent",
                "FAILED_AUTHENTICATION",
                "ACTIVITY",
                "MEDIUM",
                ts,
                user,
                spray,
                KNOWN_BAD_IP,
            );
        }
    }
    out
}

/// `CredentialDumpingViaLsass` → `CREDENTIAL_DUMPING_VIA_LSASS`.
fn screaming(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.extend(c.to_uppercase());
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Resolving the fields that compute.

/// Largest `first` of a connection.
const MAX_FIRST: i64 = 1000;

struct Identity<'w> {
    w: &'w World,
    now: i64,
}

impl Identity<'_> {
    fn collection(&self, name: &str) -> &crate::world::Collection {
        self.w
            .families
            .get(name)
            .expect("identity families are seeded")
    }

    fn entity(&self, id: &Value) -> Value {
        id.as_str()
            .and_then(|i| self.collection(ENTITIES).get(i))
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// Whether `e` passes the `entities` filters in `args`.
    fn matches(e: &Value, args: &Map<String, Value>) -> bool {
        let strs = |k: &str| -> Option<Vec<String>> {
            args.get(k).and_then(Value::as_array).map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_lowercase))
                    .collect()
            })
        };
        let lower = |v: &Value| v.as_str().unwrap_or_default().to_lowercase();
        let in_list = |k: &str, values: Vec<String>| {
            strs(k).is_none_or(|want| values.iter().any(|v| want.contains(v)))
        };
        let accounts = |field: &str| -> Vec<String> {
            e["accounts"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| lower(&a[field]))
                .collect()
        };
        let glob = |k: &str, field: &str| {
            args.get(k)
                .and_then(Value::as_str)
                .is_none_or(|p| crate::fql::glob(p, e[field].as_str().unwrap_or_default()))
        };
        let flag = |k: &str| {
            args.get(k)
                .and_then(Value::as_bool)
                .is_none_or(|b| e[k].as_bool().unwrap_or(false) == b)
        };
        let rank = severity_rank(e["riskScoreSeverity"].as_str().unwrap_or_default());
        in_list("entityIds", vec![lower(&e["entityId"])])
            && in_list("types", vec![lower(&e["type"])])
            && in_list("primaryDisplayNames", vec![lower(&e["primaryDisplayName"])])
            && in_list(
                "secondaryDisplayNames",
                vec![lower(&e["secondaryDisplayName"])],
            )
            && in_list(
                "emailAddresses",
                e["emailAddresses"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(lower)
                    .collect(),
            )
            && in_list("samAccountNames", accounts("samAccountName"))
            && in_list("domains", accounts("domain"))
            && glob("primaryDisplayNamePattern", "primaryDisplayName")
            && glob("secondaryDisplayNamePattern", "secondaryDisplayName")
            && args
                .get("minRiskScoreSeverity")
                .and_then(Value::as_str)
                .is_none_or(|m| rank >= severity_rank(m))
            && args
                .get("maxRiskScoreSeverity")
                .and_then(Value::as_str)
                .is_none_or(|m| rank <= severity_rank(m))
            && flag("watched")
            && flag("archived")
            && flag("unmanaged")
    }

    fn entities(&self, args: &Map<String, Value>) -> Result<Value, String> {
        let mut found: Vec<&Value> = self
            .collection(ENTITIES)
            .items
            .iter()
            .filter(|e| Self::matches(e, args))
            .collect();
        let desc = args.get("sortOrder").is_some_and(|o| o == "DESCENDING");
        match args.get("sortKey").and_then(Value::as_str) {
            Some("RISK_SCORE") => found.sort_by(|a, b| {
                a["riskScore"]
                    .as_f64()
                    .partial_cmp(&b["riskScore"].as_f64())
                    .unwrap_or(std::cmp::Ordering::Equal)
            }),
            _ => found.sort_by_key(|e| {
                e["primaryDisplayName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_lowercase()
            }),
        }
        if desc {
            found.reverse();
        }
        connection(found, args, "entities")
    }

    fn timeline(&self, args: &Map<String, Value>) -> Result<Value, String> {
        let ids = |k: &str| -> Option<Vec<&str>> {
            args.get(k)?
                .get("entityIds")?
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
        };
        let (sources, targets) = (ids("sourceEntityQuery"), ids("targetEntityQuery"));
        let time = |k: &str| -> Result<Option<i64>, String> {
            args.get(k)
                .and_then(Value::as_str)
                .map(|t| {
                    parse_timestamp(t)
                        .ok_or_else(|| format!("{k} must be an ISO 8601 timestamp, got \"{t}\""))
                })
                .transpose()
        };
        let (start, end) = (time("startTime")?, time("endTime")?);
        let categories: Option<Vec<&str>> = args
            .get("categories")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect());
        let mut found: Vec<&Value> = self
            .collection(TIMELINE)
            .items
            .iter()
            .filter(|e| {
                sources
                    .as_ref()
                    .is_none_or(|s| s.iter().any(|id| e["sourceEntity"] == *id))
            })
            .filter(|e| {
                targets
                    .as_ref()
                    .is_none_or(|t| t.iter().any(|id| e["targetEntity"] == *id))
            })
            .filter(|e| {
                categories
                    .as_ref()
                    .is_none_or(|c| c.iter().any(|x| e["category"] == *x))
            })
            .filter(|e| {
                let ts = e["timestamp"]
                    .as_str()
                    .and_then(parse_timestamp)
                    .unwrap_or(self.now);
                start.is_none_or(|s| ts >= s) && end.is_none_or(|x| ts <= x)
            })
            .collect();
        found.sort_by_key(|e| {
            e["timestamp"]
                .as_str()
                .and_then(parse_timestamp)
                .unwrap_or_default()
        });
        if args.get("sortOrder").is_none_or(|o| o == "DESCENDING") {
            found.reverse();
        }
        connection(found, args, "timeline")
    }
}

/// A Relay connection page of `items`: `first` (default 10, at most 1000) after the cursor.
fn connection(items: Vec<&Value>, args: &Map<String, Value>, what: &str) -> Result<Value, String> {
    let first = args.get("first").and_then(Value::as_i64).unwrap_or(10);
    if !(0..=MAX_FIRST).contains(&first) {
        return Err(format!(
            "first must be between 0 and {MAX_FIRST}, got {first}"
        ));
    }
    let start = match args.get("after").and_then(Value::as_str) {
        None => 0,
        Some(c) => base64::engine::general_purpose::STANDARD
            .decode(c)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.strip_prefix(&format!("{what}:"))?.parse::<usize>().ok())
            .ok_or_else(|| format!("Invalid cursor \"{c}\""))?,
    };
    let page: Vec<Value> = items
        .iter()
        .skip(start)
        .take(first as usize)
        .map(|v| (*v).clone())
        .collect();
    let next = start + page.len();
    Ok(json!({
        "nodes": page,
        "pageInfo": {
            "hasNextPage": next < items.len(),
            "endCursor": base64::engine::general_purpose::STANDARD.encode(format!("{what}:{next}")),
        },
    }))
}

impl Resolver for Identity<'_> {
    fn resolve(
        &mut self,
        ty: &str,
        field: &str,
        parent: &Value,
        args: &Map<String, Value>,
    ) -> Result<Option<Value>, String> {
        Ok(Some(match (ty, field) {
            ("Query", "entities") => self.entities(args)?,
            ("Query", "countEntities") => json!(
                self.collection(ENTITIES)
                    .items
                    .iter()
                    .filter(|e| Self::matches(e, args))
                    .count()
            ),
            ("Query", "timeline") => self.timeline(args)?,
            ("UserEntity" | "EndpointEntity", "hasRole") => {
                let want = args.get("type").cloned().unwrap_or(Value::Null);
                json!(
                    parent["roles"]
                        .as_array()
                        .is_some_and(|r| r.iter().any(|x| x["type"] == want))
                )
            }
            ("UserEntity" | "EndpointEntity", "hasADDomainAdminRole") => {
                json!(
                    parent["roles"]
                        .as_array()
                        .is_some_and(|r| r.iter().any(|x| x["type"] == "DomainAdminsRole"))
                )
            }
            ("UserEntity" | "EndpointEntity", "openIncidents") => {
                let id = &parent["entityId"];
                let open: Vec<&Value> = self
                    .collection(INCIDENTS)
                    .items
                    .iter()
                    .filter(|i| {
                        i["lifeCycleStage"] != "RESOLVED"
                            && i["compromisedEntities"]
                                .as_array()
                                .is_some_and(|c| c.contains(id))
                    })
                    .collect();
                connection(open, args, "incidents")?
            }
            ("EntityAssociation", "entity")
            | (
                "TimelineSuccessfulAuthenticationEvent"
                | "TimelineFailedAuthenticationEvent"
                | "TimelineUserOnEndpointActivityEvent"
                | "TimelineAlertEvent",
                "sourceEntity" | "targetEntity",
            ) => self.entity(&parent[field]),
            ("Incident", "compromisedEntities") => Value::Array(
                parent[field]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|id| self.entity(id))
                    .collect(),
            ),
            _ => return Ok(None),
        }))
    }
}

// ---------------------------------------------------------------------------------------------
// The endpoint.

/// `api_preempt_proxy_post_graphql`: `{query, variables?, operationName?}` → raw GraphQL.
fn post_graphql(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let body = req.json_value()?;
    let Some(query) = body
        .get("query")
        .and_then(Value::as_str)
        .filter(|q| !q.trim().is_empty())
    else {
        return Err(ApiError::bad_request(
            "query is required: the body is {\"query\": \"<GraphQL document>\", \"variables\": {...}}",
        ));
    };
    let variables = match body.get("variables") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            return Ok(Resp::json(
                200,
                json!({"errors": [{"message": "Variables must be provided as an Object."}]}),
            ));
        }
    };
    let op_name = body.get("operationName").and_then(Value::as_str);
    // The root fields the document names decide the scopes beyond the route's.
    if let Ok(doc) = graphql::parse(query) {
        let client = cx.cfg.clients.iter().find(|c| c.client_id == cx.client_id);
        for name in graphql::root_field_names(&doc) {
            if let Some((_, scope)) = ROOT_SCOPES.iter().find(|(f, _)| *f == name)
                && !client.is_some_and(|c| c.has_scope(scope))
            {
                return Err(ApiError::new(403, "access denied, authorization failed"));
            }
        }
    }
    let mut resolver = Identity {
        w: cx.w,
        now: cx.now,
    };
    let outcome = graphql::execute(&SCHEMA, query, &variables, op_name, &mut resolver);
    // Cost: one point per root field plus one per hundred objects completed.
    let consumed = (outcome.root_fields.len() + outcome.objects.div_ceil(100)).max(1) as i64;
    let used = charge(cx.w, &cx.client_id, consumed);
    let mut answer = Map::new();
    if let Some(data) = outcome.data {
        answer.insert("data".into(), data);
    }
    if !outcome.errors.is_empty() {
        answer.insert(
            "errors".into(),
            Value::Array(outcome.errors.iter().map(|e| e.to_json()).collect()),
        );
    }
    answer.insert(
        "extensions".into(),
        json!({"runTime": 1 + outcome.objects / 50, "remainingPoints": POINTS - used, "reset": 10_000, "consumedPoints": consumed}),
    );
    Ok(Resp::json(200, Value::Object(answer)))
}

/// Add `points` to the client's spend; the total spent.
fn charge(w: &mut World, client: &str, points: i64) -> i64 {
    let Some(quota) = w.families.get_mut(QUOTA) else {
        return points;
    };
    match quota.get_mut(client) {
        Some(q) => {
            let used = q["used"].as_i64().unwrap_or(0) + points;
            q["used"] = json!(used);
            used
        }
        None => {
            quota.insert(json!({"id": client, "used": points}));
            points
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ApiClient, SimConfig};
    use crate::envelope::Body;

    fn world() -> World {
        crate::tenant::generate(42, 1_750_000_000_000, 80, 120)
    }

    fn gql(w: &mut World, scopes: &[&str], query: &str, vars: Value) -> (u16, Value) {
        let cfg = SimConfig {
            clients: vec![ApiClient::new("c", "s", scopes)],
            ..SimConfig::default()
        };
        let req = Req {
            method: "POST".into(),
            body: json!({"query": query, "variables": vars})
                .to_string()
                .into_bytes(),
            ..Req::default()
        };
        let mut cx = Ctx {
            w,
            cfg: &cfg,
            now: 1_750_000_000_000,
            client_id: "c".into(),
        };
        match post_graphql(&mut cx, &req) {
            Ok(r) => match r.body {
                Body::Json(v) => (r.status, v),
                _ => panic!("json"),
            },
            Err(e) => (e.status, json!({"error": e.message})),
        }
    }

    const INVESTIGATE: &str = r#"
        query ($accounts: [String], $first: Int) {
          entities(samAccountNames: $accounts, first: $first) {
            nodes { entityId type primaryDisplayName riskScore riskScoreSeverity riskFactors { type severity }
                    ... on UserEntity { emailAddresses }
                    accounts { __typename ... on ActiveDirectoryAccountDescriptor { domain samAccountName passwordAttributes { strength } } }
                    associations { bindingType ... on EntityAssociation { entity { entityId primaryDisplayName type } } }
                    openIncidents(first: 5) { nodes { type compromisedEntities { primaryDisplayName } } } }
            pageInfo { hasNextPage endCursor }
          }
        }"#;

    #[test]
    fn the_known_user_is_high_risk_with_her_host_and_incident() {
        let mut w = world();
        let (st, r) = gql(
            &mut w,
            &["*"],
            INVESTIGATE,
            json!({"accounts": ["JDOE"], "first": 5}),
        );
        assert_eq!(st, 200, "{r}");
        assert!(r.get("errors").is_none(), "{r}");
        let jane = &r["data"]["entities"]["nodes"][0];
        assert_eq!(
            (
                jane["primaryDisplayName"].clone(),
                jane["riskScoreSeverity"].clone()
            ),
            (json!("Jane Doe"), json!("HIGH")),
            "{r}"
        );
        assert_eq!(jane["emailAddresses"], json!(["jdoe@corp.example"]));
        assert_eq!(jane["accounts"][0]["samAccountName"], "jdoe");
        assert!(
            jane["associations"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["bindingType"] == "OWNERSHIP"
                    && a["entity"]["primaryDisplayName"] == KNOWN_HOSTNAME),
            "{jane}"
        );
        let incidents = jane["openIncidents"]["nodes"].as_array().unwrap();
        assert!(
            incidents.iter().any(|i| i["type"] == "CREDENTIAL_THEFT"
                && i["compromisedEntities"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e["primaryDisplayName"] == KNOWN_HOSTNAME)),
            "{jane}"
        );
        assert!(r["extensions"]["remainingPoints"].as_i64().unwrap() < POINTS);
        // The timeline of her host as the target, newest first, includes an alert.
        let host = &jane["associations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["entity"]["primaryDisplayName"] == KNOWN_HOSTNAME)
            .unwrap()["entity"]["entityId"];
        let q = "query ($ids: [String]) { timeline(targetEntityQuery: {entityIds: $ids}, categories: [THREAT], first: 50) { nodes { __typename eventType timestamp ... on TimelineAlertEvent { sourceEntity { primaryDisplayName } } } pageInfo { hasNextPage } } }";
        let (_, t) = gql(&mut w, &["*"], q, json!({"ids": [host]}));
        let nodes = t["data"]["timeline"]["nodes"].as_array().unwrap();
        assert!(!nodes.is_empty(), "{t}");
        assert!(
            nodes
                .iter()
                .all(|n| n["__typename"] == "TimelineAlertEvent"),
            "{t}"
        );
        let times: Vec<&str> = nodes
            .iter()
            .map(|n| n["timestamp"].as_str().unwrap())
            .collect();
        assert!(times.windows(2).all(|p| p[0] >= p[1]), "{times:?}");
    }

    #[test]
    fn ips_domains_counts_and_paging() {
        let mut w = world();
        let q = "query ($ips: [String]) { entities(primaryDisplayNames: $ips, types: [ENDPOINT]) { nodes { primaryDisplayName ... on EndpointEntity { unmanaged } riskScoreSeverity } } }";
        let (_, r) = gql(&mut w, &["*"], q, json!({"ips": [KNOWN_BAD_IP]}));
        assert_eq!(r["data"]["entities"]["nodes"][0]["unmanaged"], true, "{r}");
        let (_, all) = gql(
            &mut w,
            &["*"],
            "{ countEntities(domains: [\"corp.example\"]) }",
            json!({}),
        );
        let n = all["data"]["countEntities"].as_u64().unwrap();
        assert!(n > 10, "{all}");
        let q = "query ($after: String) { entities(domains: [\"CORP.EXAMPLE\"], first: 7, after: $after, sortKey: RISK_SCORE, sortOrder: DESCENDING) { nodes { entityId riskScore } pageInfo { hasNextPage endCursor } } }";
        let (mut seen, mut after, mut last) = (0, Value::Null, f64::MAX);
        loop {
            let (_, p) = gql(&mut w, &["*"], q, json!({"after": after}));
            let c = &p["data"]["entities"];
            for node in c["nodes"].as_array().unwrap() {
                let s = node["riskScore"].as_f64().unwrap();
                assert!(s <= last, "ranked by risk");
                last = s;
                seen += 1;
            }
            if c["pageInfo"]["hasNextPage"] != true {
                break;
            }
            after = c["pageInfo"]["endCursor"].clone();
        }
        assert_eq!(seen as u64, n);
        let (_, bad) = gql(&mut w, &["*"], q, json!({"after": "bm9wZQ=="}));
        assert!(
            bad["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("Invalid cursor"),
            "{bad}"
        );
    }

    #[test]
    fn unknown_fields_are_graphql_errors_and_scopes_are_checked() {
        let mut w = world();
        let (st, r) = gql(
            &mut w,
            &["*"],
            "{ entities { nodes { password } } }",
            json!({}),
        );
        assert_eq!(st, 200);
        assert!(r.get("data").is_none());
        assert_eq!(
            r["errors"][0]["message"],
            "Cannot query field \"password\" on type \"Entity\"."
        );
        let scopes = [GRAPHQL_SCOPE, "identity-protection-entities:read"];
        assert_eq!(gql(&mut w, &scopes, "{ countEntities }", json!({})).0, 200);
        assert_eq!(
            gql(
                &mut w,
                &scopes,
                "{ timeline { nodes { eventId } } }",
                json!({})
            )
            .0,
            403
        );
        assert_eq!(
            gql(&mut w, &[GRAPHQL_SCOPE], "{ countEntities }", json!({})).0,
            403
        );
        let (st, e) = gql(&mut w, &["*"], "", json!({}));
        assert_eq!(st, 400, "{e}");
    }

    #[test]
    fn the_schema_names_only_types_it_defines_or_leaves() {
        const LEAVES: &[&str] = &[
            "String",
            "Int",
            "Float",
            "Boolean",
            "UUID",
            "DateTime",
            "EntityType",
            "RiskScoreSeverity",
            "EntityRoleType",
            "TimelineEventCategory",
        ];
        for t in SCHEMA.types {
            for i in t.interfaces {
                assert!(
                    SCHEMA.get(i).is_some_and(|x| x.kind == TypeKind::Interface),
                    "{}: {i}",
                    t.name
                );
            }
            for f in t.fields {
                assert!(
                    SCHEMA.get(f.ty).is_some() || LEAVES.contains(&f.ty),
                    "{}.{}: {}",
                    t.name,
                    f.name,
                    f.ty
                );
            }
        }
    }
}
