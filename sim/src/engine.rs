//! The generic collection engine: most Falcon families are a collection of JSON objects behind
//! the same few endpoint shapes — `queries/` (FQL filter, sort, free text, offset/limit or
//! `after`), `entities/` (by ids, GET or POST, partial 404s), `combined/`, `aggregates/` and
//! entity writes. A family declares its collection ([`Family`]: id field, seed generator, FQL
//! extras) and its endpoints ([`Endpoint`]: operation, method, path, scope, [`Kind`]); the engine
//! serves them. Special cases (GraphQL, NG-SIEM jobs, RTR, binary downloads) stay hand-written,
//! and a family can mix in a hand-written endpoint with [`Kind::Custom`].
//!
//! Families live in `crate::families`, one module per Falcon family; [`crate::routes::find`]
//! serves their endpoints beside the hand-written route table.

use base64::Engine as _;
use rand::rngs::StdRng;
use serde_json::{Value, json};

use crate::envelope::{ApiError, ApiResult, Envelope, Req, Resp};
use crate::routes::Handler;
use crate::world::{
    Collection, Ctx, Window, World, body_ids, entities_response, id_string, offset_pagination,
    page_check, page_from_query, query_ids, take_page,
};

/// One collection and the endpoints that serve it.
pub(crate) struct Family {
    /// Key of the collection in [`World::families`], e.g. `intel_actors`.
    pub name: &'static str,
    /// Property holding an object's id.
    pub id_field: &'static str,
    /// What an object is called in 404 messages ("Actor").
    pub noun: &'static str,
    /// `meta.powered_by` of the service.
    pub powered_by: &'static str,
    /// Sort applied when a query names none (dot or pipe form); empty keeps generation order.
    pub default_sort: &'static str,
    /// FQL fields beyond those present in the generated objects.
    pub extra_fields: &'static [&'static str],
    /// Fields free text (`q`) searches; empty searches every string in the object.
    pub text_fields: &'static [&'static str],
    /// Generates the family's objects; sees everything generated before it.
    pub seed: fn(&mut Seed<'_>) -> Vec<Value>,
    /// The endpoints.
    pub endpoints: &'static [Endpoint],
}

/// One served operation of a family.
pub(crate) struct Endpoint {
    /// Falcon operation id.
    pub op: &'static str,
    /// HTTP method.
    pub method: &'static str,
    /// Path; `{x}` segments capture parameters.
    pub path: &'static str,
    /// Scope the caller's API client needs.
    pub scope: &'static str,
    /// What it does.
    pub kind: Kind,
}

/// The endpoint shapes the engine serves.
pub(crate) enum Kind {
    /// Ids of the objects matching `filter`/`q`, sorted by `sort`, one page.
    Query(Paging),
    /// Whole objects, as [`Kind::Query`] selects them.
    Combined(Paging),
    /// Objects by id; unknown ids are `errors[]` items with code 404 (404 only if none found).
    Entities {
        /// Where the ids are.
        ids: Ids,
        /// Most ids per request.
        max: usize,
    },
    /// `aggregates/`: a list of aggregation requests, each with its own `filter`/`q`.
    Aggregate,
    /// Creates objects: each input (the body's `resources`, a list body or the body itself) is
    /// turned into the stored object by `build`, which may refuse it.
    Create {
        /// Builds the object to store from one input.
        build: fn(&mut Ctx<'_>, &Value) -> Result<Value, ApiError>,
        /// Success status (200 or 201).
        status: u16,
    },
    /// Updates objects: each input names its object by `id_key`; `apply` changes it in place.
    Update {
        /// Input property holding the id.
        id_key: &'static str,
        /// Applies one input to the stored object (now in epoch ms); may refuse it.
        apply: fn(&mut Value, &Value, i64) -> Result<(), ApiError>,
    },
    /// A hand-written handler for what the shapes above do not cover.
    Custom(Handler),
}

/// Where an endpoint takes ids from.
#[derive(Clone, Copy)]
pub(crate) enum Ids {
    /// Repeated (or comma-separated) query parameter.
    Query(&'static str),
    /// A list under this key of the JSON body.
    Body(&'static str),
}

/// How a query endpoint pages.
#[derive(Clone, Copy)]
pub(crate) struct Paging {
    /// Offset/limit (with the family's 10,000 window message) or `after` cursors.
    pub style: Style,
    /// `limit` when none is given.
    pub default_limit: usize,
    /// Largest `limit` accepted.
    pub max_limit: usize,
    /// The API refuses a query without `filter` (Spotlight).
    pub filter_required: bool,
}

/// Offset or cursor paging.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Style {
    /// `offset`/`limit`.
    Offset(Window),
    /// `after`/`limit`; `meta.pagination.after` is the next cursor.
    After,
}

impl Paging {
    /// Offset paging with the standard window.
    pub const fn offset(default_limit: usize, max_limit: usize) -> Paging {
        Paging {
            style: Style::Offset(Window::Standard),
            default_limit,
            max_limit,
            filter_required: false,
        }
    }

    /// Cursor paging.
    pub const fn after(default_limit: usize, max_limit: usize) -> Paging {
        Paging {
            style: Style::After,
            default_limit,
            max_limit,
            filter_required: false,
        }
    }

    /// The API refuses a query without `filter`.
    pub const fn filter_required(mut self) -> Paging {
        self.filter_required = true;
        self
    }
}

/// What a seed generator sees: the tenant generated so far (hosts, alerts, earlier families)
/// and an RNG of its own, so adding a family never changes the data of another.
pub(crate) struct Seed<'a> {
    /// The tenant so far.
    pub w: &'a World,
    /// This family's RNG.
    pub rng: &'a mut StdRng,
    /// Epoch ms the tenant is generated for.
    pub now: i64,
}

impl Seed<'_> {
    /// Objects of an earlier family (empty if it has none).
    pub fn family(&self, name: &str) -> &[Value] {
        self.w
            .families
            .get(name)
            .map(|c| c.items.as_slice())
            .unwrap_or_default()
    }
}

/// Whether any string (or number) in `v` contains the lower-cased `q`.
pub(crate) fn free_text(v: &Value, q: &str) -> bool {
    match v {
        Value::String(s) => s.to_lowercase().contains(q),
        Value::Array(a) => a.iter().any(|x| free_text(x, q)),
        Value::Object(m) => m.values().any(|x| free_text(x, q)),
        Value::Number(n) => n.to_string() == q,
        _ => false,
    }
}

/// Generate every object of `f` into `w` (called once per family, in declaration order).
pub(crate) fn seed_family(w: &mut World, f: &Family, rng: &mut StdRng, now: i64) {
    let items = (f.seed)(&mut Seed { w, rng, now });
    w.families
        .insert(f.name, Collection::new(f.id_field, items, f.extra_fields));
}

/// Serve `ep` of `f`.
pub(crate) fn serve(
    f: &'static Family,
    ep: &'static Endpoint,
    cx: &mut Ctx<'_>,
    req: &Req,
) -> ApiResult {
    match &ep.kind {
        Kind::Query(p) => {
            let (items, pagination) = page(f, p, cx, req)?;
            // Integer ids (Intel actors, reports) come back from id queries as strings.
            let ids = items
                .iter()
                .map(|v| id_string(&v[f.id_field]).map_or(Value::Null, Value::String))
                .collect();
            Ok(ok(f, 200).resources(ids).pagination(pagination).into_resp())
        }
        Kind::Combined(p) => {
            let (items, pagination) = page(f, p, cx, req)?;
            Ok(ok(f, 200)
                .resources(items)
                .pagination(pagination)
                .into_resp())
        }
        Kind::Entities { ids, max } => {
            let ids = take_ids(req, *ids, *max)?;
            let (found, missing) = collection(cx.w, f).lookup(&ids);
            Ok(entities_response(found, missing, f.powered_by, f.noun))
        }
        Kind::Aggregate => {
            let mut out = Vec::new();
            for spec in crate::aggregate::requests(&req.json_value()?)? {
                let items = select(f, cx, spec["filter"].as_str(), spec["q"].as_str(), None)?;
                out.push(crate::aggregate::aggregate(
                    &items,
                    &collection(cx.w, f).known,
                    &spec,
                )?);
            }
            Ok(ok(f, 200).resources(out).into_resp())
        }
        Kind::Create { build, status } => {
            let mut created = Vec::new();
            for input in inputs(&req.json_value()?)? {
                let obj = build(cx, &input)?;
                if obj[f.id_field]
                    .as_str()
                    .is_none_or(|id| collection(cx.w, f).contains(id))
                {
                    return Err(ApiError::new(409, format!("{} already exists", f.noun)));
                }
                created.push(obj);
            }
            let c = collection_mut(cx.w, f);
            for obj in &created {
                c.insert(obj.clone());
            }
            Ok(ok(f, *status).resources(created).into_resp())
        }
        Kind::Update { id_key, apply } => {
            update(f, cx, &inputs(&req.json_value()?)?, id_key, *apply)
        }
        Kind::Custom(h) => h(cx, req),
    }
}

/// Apply `inputs` (each naming its object by `id_key`) to `f`'s objects, all or nothing: the
/// [`Kind::Update`] step, for hand-written endpoints that check the body's shape first.
pub(crate) fn update(
    f: &Family,
    cx: &mut Ctx<'_>,
    inputs: &[Value],
    id_key: &str,
    apply: fn(&mut Value, &Value, i64) -> Result<(), ApiError>,
) -> ApiResult {
    // Check every input before changing anything: a refused request changes nothing.
    let mut staged = Vec::new();
    for input in inputs {
        let id = input[id_key]
            .as_str()
            .ok_or_else(|| ApiError::bad_request(format!("{id_key} is required")))?;
        let mut obj = collection(cx.w, f)
            .get(id)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("{} {id} not found", f.noun)))?;
        apply(&mut obj, input, cx.now)?;
        staged.push((id.to_string(), obj));
    }
    let c = collection_mut(cx.w, f);
    let mut updated = Vec::new();
    for (id, obj) in staged {
        if let Some(slot) = c.get_mut(&id) {
            *slot = obj.clone();
        }
        updated.push(obj);
    }
    c.refresh_fields();
    Ok(ok(f, 200).resources(updated).into_resp())
}

fn ok(f: &Family, status: u16) -> Envelope {
    Envelope::new(status, f.powered_by)
}

/// The family's collection.
pub(crate) fn collection<'w>(w: &'w World, f: &Family) -> &'w Collection {
    w.families
        .get(f.name)
        .expect("every family is seeded at generation")
}

/// The family's collection, mutably.
pub(crate) fn collection_mut<'w>(w: &'w mut World, f: &Family) -> &'w mut Collection {
    w.families
        .get_mut(f.name)
        .expect("every family is seeded at generation")
}

fn take_ids(req: &Req, ids: Ids, max: usize) -> Result<Vec<String>, ApiError> {
    match ids {
        Ids::Query(k) => query_ids(req, k, max),
        Ids::Body(k) => body_ids(req, k, max),
    }
}

/// The inputs of a write body: `{"resources": [...]}`, a list, or one object.
fn inputs(body: &Value) -> Result<Vec<Value>, ApiError> {
    let list = match body {
        Value::Object(o) if o.contains_key("resources") => o["resources"].clone(),
        Value::Array(_) => body.clone(),
        Value::Object(_) => Value::Array(vec![body.clone()]),
        _ => return Err(ApiError::bad_request("body must be a JSON object")),
    };
    match list {
        Value::Array(a) if !a.is_empty() => Ok(a),
        _ => Err(ApiError::bad_request("resources must be a non-empty list")),
    }
}

/// FQL `filter`, free text `q` and `sort` over the family's collection.
fn select<'a>(
    f: &Family,
    cx: &'a Ctx<'_>,
    filter: Option<&str>,
    q: Option<&str>,
    sort: Option<&str>,
) -> Result<Vec<&'a Value>, ApiError> {
    let q = q.map(str::to_lowercase).filter(|s| !s.trim().is_empty());
    collection(cx.w, f).select(filter, sort, f.default_sort, cx.now, |v| {
        q.as_deref().is_none_or(|q| {
            if f.text_fields.is_empty() {
                free_text(v, q)
            } else {
                f.text_fields.iter().any(|field| {
                    crate::fql::resolve(v, field)
                        .iter()
                        .any(|x| free_text(x, q))
                })
            }
        })
    })
}

/// One page of the selection, with its `meta.pagination`.
fn page(f: &Family, p: &Paging, cx: &Ctx<'_>, req: &Req) -> Result<(Vec<Value>, Value), ApiError> {
    page_where(f, p, cx, req, None)
}

/// One page as [`Kind::Query`] selects it, narrowed further by `also` (FQL a hand-written
/// endpoint derives from its own parameters); for [`Kind::Custom`] handlers that page like the
/// engine and then shape the objects.
pub(crate) fn page_where(
    f: &Family,
    p: &Paging,
    cx: &Ctx<'_>,
    req: &Req,
    also: Option<&str>,
) -> Result<(Vec<Value>, Value), ApiError> {
    let filter = req.q("filter").filter(|s| !s.trim().is_empty());
    if p.filter_required && filter.is_none() {
        return Err(ApiError::bad_request("filter is required"));
    }
    let combined = match (filter, also) {
        (Some(a), Some(b)) => Some(format!("({a})+({b})")),
        (a, b) => a.or(b).map(str::to_string),
    };
    let all = select(f, cx, combined.as_deref(), req.q("q"), req.q("sort"))?;
    match p.style {
        Style::Offset(window) => {
            let page = page_from_query(req, p.default_limit, p.max_limit, 1, window)?;
            let items = take_page(&all, page).into_iter().cloned().collect();
            Ok((items, offset_pagination(page, all.len())))
        }
        Style::After => {
            let limit = match req.q("limit") {
                None | Some("") => p.default_limit,
                Some(s) => s
                    .parse()
                    .map_err(|_| ApiError::bad_request(format!("invalid limit '{s}'")))?,
            };
            page_check(0, limit, p.max_limit, 1, Window::None)?;
            let start = match req.q("after").filter(|s| !s.is_empty()) {
                None => 0,
                Some(t) => decode_after(f, t)
                    .ok_or_else(|| ApiError::bad_request("invalid after token"))?,
            };
            let items: Vec<Value> = all
                .iter()
                .skip(start)
                .take(limit)
                .map(|v| (*v).clone())
                .collect();
            let next = start + items.len();
            let mut pagination = json!({"limit": limit, "total": all.len()});
            if next < all.len() {
                pagination["after"] = json!(encode_after(f, next));
            }
            Ok((items, pagination))
        }
    }
}

fn encode_after(f: &Family, next: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}:{next}", f.name))
}

fn decode_after(f: &Family, token: &str) -> Option<usize> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    s.strip_prefix(f.name)?.strip_prefix(':')?.parse().ok()
}

/// Rename FQL field names (a name followed by `:` outside quotes) from `from` to `to`.
pub(crate) fn alias_fields(fql: &str, names: &[(&str, &str)]) -> String {
    let bytes = fql.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(fql.len());
    let mut quote = None;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if let Some(q) = quote {
            out.push(c);
            if c == b'\\' && i + 1 < bytes.len() {
                out.push(bytes[i + 1]);
                i += 1;
            } else if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        if c == b'\'' || c == b'"' {
            quote = Some(c);
        } else if i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || b"_.".contains(&bytes[i - 1]))
        {
            let rest = &bytes[i..];
            if let Some((from, to)) = names.iter().find(|(from, _)| {
                rest.starts_with(from.as_bytes()) && rest[from.len()..].starts_with(b":")
            }) {
                out.extend_from_slice(to.as_bytes());
                i += from.len();
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    // Only ASCII names were replaced; every other byte was copied as it came.
    String::from_utf8(out).unwrap_or_else(|_| fql.to_string())
}

/// `req` with FQL field names in its `filter` renamed (see [`alias_fields`]): for APIs whose
/// filter names differ from the object's fields.
pub(crate) fn alias_filter(req: &Req, names: &[(&str, &str)]) -> Req {
    Req {
        method: req.method.clone(),
        path: req.path.clone(),
        query: req
            .query
            .iter()
            .map(|(k, v)| {
                let v = if k == "filter" {
                    alias_fields(v, names)
                } else {
                    v.clone()
                };
                (k.clone(), v)
            })
            .collect(),
        body: req.body.clone(),
        content_type: req.content_type.clone(),
        params: req.params.clone(),
    }
}

/// Answer with these objects as resources (hand-written endpoints).
pub(crate) fn resources(f: &Family, status: u16, items: Vec<Value>) -> Resp {
    ok(f, status).resources(items).into_resp()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SimConfig;

    fn seed(s: &mut Seed<'_>) -> Vec<Value> {
        let hosts = s.w.hosts.items.len();
        (0..30)
            .map(|i| json!({"id": format!("t{i:02}"), "n": i, "kind": if i % 3 == 0 { "a" } else { "b" }, "text": format!("item {i} of {hosts}")}))
            .collect()
    }

    fn create(_: &mut Ctx<'_>, input: &Value) -> Result<Value, ApiError> {
        let name = input["name"]
            .as_str()
            .ok_or_else(|| ApiError::bad_request("name is required"))?;
        Ok(json!({"id": format!("new-{name}"), "n": 100, "kind": "c", "text": name}))
    }

    fn apply(obj: &mut Value, input: &Value, _now: i64) -> Result<(), ApiError> {
        match input.get("kind").and_then(Value::as_str) {
            Some(k @ ("a" | "b")) => {
                obj["kind"] = json!(k);
                Ok(())
            }
            _ => Err(ApiError::bad_request("kind must be a or b")),
        }
    }

    static TEST: Family = Family {
        name: "engine_test",
        id_field: "id",
        noun: "Thing",
        powered_by: "test-api",
        default_sort: "n.desc",
        extra_fields: &[],
        text_fields: &["text"],
        seed,
        endpoints: &[
            Endpoint {
                op: "q",
                method: "GET",
                path: "/q",
                scope: "t:read",
                kind: Kind::Query(Paging::offset(10, 50)),
            },
            Endpoint {
                op: "c",
                method: "GET",
                path: "/c",
                scope: "t:read",
                kind: Kind::Combined(Paging::after(5, 50).filter_required()),
            },
            Endpoint {
                op: "e",
                method: "GET",
                path: "/e",
                scope: "t:read",
                kind: Kind::Entities {
                    ids: Ids::Query("ids"),
                    max: 3,
                },
            },
            Endpoint {
                op: "a",
                method: "POST",
                path: "/a",
                scope: "t:read",
                kind: Kind::Aggregate,
            },
            Endpoint {
                op: "n",
                method: "POST",
                path: "/n",
                scope: "t:write",
                kind: Kind::Create {
                    build: create,
                    status: 201,
                },
            },
            Endpoint {
                op: "u",
                method: "PATCH",
                path: "/u",
                scope: "t:write",
                kind: Kind::Update {
                    id_key: "id",
                    apply,
                },
            },
        ],
    };

    fn req(method: &str, query: &[(&str, &str)], body: Value) -> Req {
        Req {
            method: method.into(),
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: if body.is_null() {
                Vec::new()
            } else {
                body.to_string().into_bytes()
            },
            ..Req::default()
        }
    }

    fn call(w: &mut World, op: &str, r: Req) -> Result<Value, ApiError> {
        let cfg = SimConfig::default();
        let ep = TEST.endpoints.iter().find(|e| e.op == op).unwrap();
        let mut cx = Ctx {
            w,
            cfg: &cfg,
            now: 0,
            client_id: "c".into(),
        };
        let resp = serve(&TEST, ep, &mut cx, &r)?;
        match resp.body {
            crate::envelope::Body::Json(v) => Ok(json!({"status": resp.status, "body": v})),
            _ => panic!("json"),
        }
    }

    fn world() -> World {
        let mut w = crate::tenant::generate(7, 1_700_000_000_000, 8, 10);
        let mut rng = <StdRng as rand::SeedableRng>::seed_from_u64(1);
        seed_family(&mut w, &TEST, &mut rng, 0);
        w
    }

    #[test]
    fn queries_filter_sort_page_and_search_text() {
        let mut w = world();
        let r = call(
            &mut w,
            "q",
            req(
                "GET",
                &[("filter", "kind:'a'"), ("limit", "3"), ("offset", "1")],
                Value::Null,
            ),
        )
        .unwrap();
        assert_eq!(r["body"]["resources"], json!(["t24", "t21", "t18"]), "{r}");
        assert_eq!(r["body"]["meta"]["pagination"]["total"], 10);
        let r = call(&mut w, "q", req("GET", &[("q", "ITEM 7 ")], Value::Null)).unwrap();
        assert_eq!(r["body"]["resources"], json!(["t07"]), "{r}");
        let e = call(
            &mut w,
            "q",
            req("GET", &[("filter", "nope:'x'")], Value::Null),
        )
        .unwrap_err();
        assert_eq!(e.status, 400);
        let e = call(&mut w, "q", req("GET", &[("limit", "51")], Value::Null)).unwrap_err();
        assert!(e.message.contains("between 1 and 50"), "{}", e.message);
    }

    #[test]
    fn combined_pages_with_after_cursors() {
        let mut w = world();
        assert_eq!(
            call(&mut w, "c", req("GET", &[], Value::Null))
                .unwrap_err()
                .message,
            "filter is required"
        );
        let r = call(
            &mut w,
            "c",
            req("GET", &[("filter", "kind:'b'")], Value::Null),
        )
        .unwrap();
        let after = r["body"]["meta"]["pagination"]["after"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(r["body"]["resources"].as_array().unwrap().len(), 5);
        let r = call(
            &mut w,
            "c",
            req(
                "GET",
                &[("filter", "kind:'b'"), ("after", &after), ("limit", "50")],
                Value::Null,
            ),
        )
        .unwrap();
        assert_eq!(r["body"]["resources"].as_array().unwrap().len(), 15);
        assert!(r["body"]["meta"]["pagination"].get("after").is_none());
        assert!(
            call(
                &mut w,
                "c",
                req(
                    "GET",
                    &[("filter", "kind:'b'"), ("after", "junk")],
                    Value::Null
                )
            )
            .is_err()
        );
    }

    #[test]
    fn entities_answer_partial_404s() {
        let mut w = world();
        let r = call(&mut w, "e", req("GET", &[("ids", "t01,zz")], Value::Null)).unwrap();
        assert_eq!(r["status"], 200);
        assert_eq!(r["body"]["resources"][0]["id"], "t01");
        assert_eq!(r["body"]["errors"][0]["id"], "zz");
        let r = call(&mut w, "e", req("GET", &[("ids", "zz")], Value::Null)).unwrap();
        assert_eq!(r["status"], 404);
        assert!(call(&mut w, "e", req("GET", &[("ids", "a,b,c,d")], Value::Null)).is_err());
    }

    #[test]
    fn aggregates_count_terms() {
        let mut w = world();
        let body = json!([{"name": "k", "type": "terms", "field": "kind", "size": 5}]);
        let r = call(&mut w, "a", req("POST", &[], body)).unwrap();
        assert_eq!(
            r["body"]["resources"][0]["buckets"],
            json!([{"label": "b", "count": 20}, {"label": "a", "count": 10}])
        );
    }

    #[test]
    fn writes_create_update_and_refuse_whole_requests() {
        let mut w = world();
        let r = call(
            &mut w,
            "n",
            req("POST", &[], json!({"resources": [{"name": "x"}]})),
        )
        .unwrap();
        assert_eq!(
            (r["status"].clone(), r["body"]["resources"][0]["id"].clone()),
            (json!(201), json!("new-x"))
        );
        assert_eq!(
            call(&mut w, "n", req("POST", &[], json!({"name": "x"})))
                .unwrap_err()
                .status,
            409
        );
        // The new object is queryable by a field only it has.
        let r = call(
            &mut w,
            "q",
            req("GET", &[("filter", "kind:'c'")], Value::Null),
        )
        .unwrap();
        assert_eq!(r["body"]["resources"], json!(["new-x"]));
        // One bad input refuses the whole update.
        let e = call(
            &mut w,
            "u",
            req(
                "PATCH",
                &[],
                json!({"resources": [{"id": "t01", "kind": "a"}, {"id": "t02", "kind": "z"}]}),
            ),
        )
        .unwrap_err();
        assert_eq!(e.status, 400);
        assert_eq!(collection(&w, &TEST).get("t01").unwrap()["kind"], "b");
        call(
            &mut w,
            "u",
            req("PATCH", &[], json!([{"id": "t01", "kind": "a"}])),
        )
        .unwrap();
        assert_eq!(collection(&w, &TEST).get("t01").unwrap()["kind"], "a");
        assert_eq!(
            call(
                &mut w,
                "u",
                req("PATCH", &[], json!({"id": "zz", "kind": "a"}))
            )
            .unwrap_err()
            .status,
            404
        );
    }

    #[test]
    fn aliases_rename_field_names_outside_quotes_only() {
        assert_eq!(
            alias_fields(
                "vendor:'vendor:x',xvendor:'a'+(vendor:\"b\")+n:'café'",
                &[("vendor", "vendors")]
            ),
            "vendors:'vendor:x',xvendor:'a'+(vendors:\"b\")+n:'café'"
        );
    }
}
