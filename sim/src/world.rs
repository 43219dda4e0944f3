//! The tenant's mutable state: collections of JSON objects plus the per-family extras
//! (containment timers, RTR sessions, NG-SIEM jobs, scroll tokens).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use rand::Rng;
use rand::rngs::StdRng;
use serde_json::Value;

use crate::config::SimConfig;
use crate::envelope::{ApiError, Req};
use crate::fql::{self, SortForms};

/// An ordered, id-indexed set of JSON objects with the fields FQL may use on them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Collection {
    /// The objects, in generation/creation order.
    pub items: Vec<Value>,
    index: HashMap<String, usize>,
    /// Name of the id property.
    pub id_field: &'static str,
    /// Dotted paths FQL filters and sorts may name.
    pub known: BTreeSet<String>,
}

impl Collection {
    /// Builds a collection; `known` is derived from the items plus `extra` fields.
    pub fn new(id_field: &'static str, items: Vec<Value>, extra: &[&str]) -> Collection {
        let mut known = BTreeSet::new();
        for it in &items {
            fql::collect_paths(it, "", &mut known);
        }
        known.extend(extra.iter().map(|s| s.to_string()));
        let mut c = Collection {
            items,
            index: HashMap::new(),
            id_field,
            known,
        };
        c.reindex();
        c
    }

    fn reindex(&mut self) {
        self.index = self
            .items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| id_string(v.get(self.id_field)?).map(|id| (id, i)))
            .collect();
    }

    /// The object with this id.
    pub fn get(&self, id: &str) -> Option<&Value> {
        self.index.get(id).map(|&i| &self.items[i])
    }

    /// The object with this id, mutably.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Value> {
        match self.index.get(id) {
            Some(&i) => self.items.get_mut(i),
            None => None,
        }
    }

    /// Whether the id exists.
    pub fn contains(&self, id: &str) -> bool {
        self.index.contains_key(id)
    }

    /// Appends an object (its id must be new).
    pub fn insert(&mut self, v: Value) {
        if let Some(id) = v.get(self.id_field).and_then(id_string) {
            self.index.insert(id, self.items.len());
        }
        fql::collect_paths(&v, "", &mut self.known);
        self.items.push(v);
    }

    /// Adds the fields of changed objects to those FQL may name.
    pub fn refresh_fields(&mut self) {
        for it in &self.items {
            fql::collect_paths(it, "", &mut self.known);
        }
    }

    /// Removes an object by id.
    pub fn remove(&mut self, id: &str) -> Option<Value> {
        let i = *self.index.get(id)?;
        let v = self.items.remove(i);
        self.reindex();
        Some(v)
    }

    /// Filters (FQL) and sorts (dot or pipe form) the objects.
    pub fn select<'a>(
        &'a self,
        filter: Option<&str>,
        sort: Option<&str>,
        default_sort: &str,
        now: i64,
        pred: impl Fn(&Value) -> bool,
    ) -> Result<Vec<&'a Value>, ApiError> {
        let expr = fql::parse_checked(filter.unwrap_or(""), &self.known)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let mut out: Vec<&Value> = self
            .items
            .iter()
            .filter(|v| pred(v))
            .filter(|v| expr.as_ref().is_none_or(|e| fql::eval(e, v, now)))
            .collect();
        let sort_src = sort
            .filter(|s| !s.trim().is_empty())
            .unwrap_or(default_sort);
        if !sort_src.is_empty() {
            let keys = fql::parse_sort(sort_src, &self.known, SortForms::Both)
                .map_err(ApiError::bad_request)?;
            out.sort_by(|a, b| fql::compare(a, b, &keys));
        }
        Ok(out)
    }

    /// Splits `ids` into found objects and the ids that were not found.
    pub fn lookup(&self, ids: &[String]) -> (Vec<Value>, Vec<String>) {
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for id in ids {
            match self.get(id) {
                Some(v) => found.push(v.clone()),
                None => missing.push(id.clone()),
            }
        }
        (found, missing)
    }
}

/// An object id as the API takes it in `ids`: a string, or an integer (Intel actors, reports).
pub(crate) fn id_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) if n.is_u64() || n.is_i64() => Some(n.to_string()),
        _ => None,
    }
}

/// An offset/limit page request, validated.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Page {
    /// Records to skip.
    pub offset: usize,
    /// Records to return.
    pub limit: usize,
}

/// Which 10,000-window message an endpoint family uses (reference §2.5).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Window {
    /// No window.
    None,
    /// `limit + offset must be less than 10000` (device-api).
    Hosts,
    /// `offset N and limit M are invalid; offset + limit must be less than or equal to 10000`.
    Standard,
    /// Intel indicators: `the sum of limit and offset params must be less than 50000`.
    Indicators,
}

/// Reads `offset`/`limit` from the query string with the endpoint's bounds.
pub(crate) fn page_from_query(
    req: &Req,
    default_limit: usize,
    max_limit: usize,
    min_limit: usize,
    window: Window,
) -> Result<Page, ApiError> {
    let offset = match req.q("offset") {
        None | Some("") => 0,
        Some(s) => s.parse::<usize>().map_err(|_| {
            ApiError::bad_request(format!(
                "invalid offset '{s}': must be a non-negative integer"
            ))
        })?,
    };
    let limit = match req.q("limit") {
        None | Some("") => default_limit,
        Some(s) => s.parse::<usize>().map_err(|_| {
            ApiError::bad_request(format!("invalid limit '{s}': must be an integer"))
        })?,
    };
    page_check(offset, limit, max_limit, min_limit, window)
}

/// Validates an offset/limit pair.
pub(crate) fn page_check(
    offset: usize,
    limit: usize,
    max_limit: usize,
    min_limit: usize,
    window: Window,
) -> Result<Page, ApiError> {
    if limit < min_limit || limit > max_limit {
        return Err(ApiError::bad_request(format!(
            "limit {limit} is invalid; limit must be between {min_limit} and {max_limit}"
        )));
    }
    match window {
        Window::Hosts if offset + limit > 10_000 => Err(ApiError::bad_request(
            "limit + offset must be less than 10000".to_string(),
        )),
        Window::Standard if offset + limit > 10_000 => Err(ApiError::bad_request(format!(
            "offset {offset} and limit {limit} are invalid; offset + limit must be less than or equal to 10000"
        ))),
        Window::Indicators if offset + limit >= 50_000 => Err(ApiError::bad_request(
            "the sum of limit and offset params must be less than 50000".to_string(),
        )),
        _ => Ok(Page { offset, limit }),
    }
}

/// Slices a page out of a result list.
pub(crate) fn take_page<T: Clone>(all: &[T], page: Page) -> Vec<T> {
    all.iter()
        .skip(page.offset)
        .take(page.limit)
        .cloned()
        .collect()
}

/// `meta.pagination` for offset-style endpoints.
pub(crate) fn offset_pagination(page: Page, total: usize) -> Value {
    serde_json::json!({ "offset": page.offset, "limit": page.limit, "total": total })
}

/// The id property of each object.
pub(crate) fn ids_of(items: &[&Value], field: &str) -> Vec<Value> {
    items.iter().filter_map(|v| v.get(field).cloned()).collect()
}

/// A pending containment transition.
#[derive(Debug, Clone)]
pub(crate) struct Transition {
    /// Status after the delay.
    pub to: &'static str,
    /// Epoch ms when it happens.
    pub due: i64,
}

/// Scroll/cursor state: the ordered ids of a query and where the next page starts.
#[derive(Debug, Clone)]
pub(crate) struct Cursor {
    /// All matching ids, in order.
    pub ids: Vec<String>,
    /// Position of the next page.
    pub next: usize,
    /// Epoch ms after which the token is no longer valid.
    pub expires: i64,
}

/// One RTR session.
#[derive(Debug, Clone)]
pub(crate) struct RtrSession {
    /// Session id (UUID).
    pub id: String,
    /// Host AID.
    pub device_id: String,
    /// API client that opened it.
    pub user: String,
    /// Origin label.
    pub origin: String,
    /// Current directory.
    pub pwd: String,
    /// Epoch ms created.
    pub created: i64,
    /// Epoch ms last used.
    pub updated: i64,
    /// Epoch ms deleted (soft delete keeps it listable for audit).
    pub deleted: Option<i64>,
    /// Queued for an offline host.
    pub offline_queued: bool,
    /// Commands run, oldest first (cloud request ids).
    pub commands: Vec<String>,
}

/// One RTR command execution.
#[derive(Debug, Clone)]
pub(crate) struct RtrCommand {
    /// Session it ran in.
    pub session_id: String,
    /// First word of the command line.
    pub base_command: String,
    /// Full command line.
    pub command_string: String,
    /// Status polls left that answer `complete: false`.
    pub polls_left: u32,
    /// Standard output, complete.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Epoch ms created.
    pub created: i64,
    /// Directory the command ran in.
    pub cwd: String,
}

/// A file retrieved from a host with `get`.
#[derive(Debug, Clone)]
pub(crate) struct RtrFile {
    /// File id.
    pub id: String,
    /// Session it belongs to.
    pub session_id: String,
    /// Command that produced it.
    pub cloud_request_id: String,
    /// Device path.
    pub name: String,
    /// Contents.
    pub content: Vec<u8>,
    /// SHA-256 of the contents.
    pub sha256: String,
    /// Epoch ms created.
    pub created: i64,
}

/// An RTR batch: the caller's sessions on many hosts, opened by one `BatchInitSessions`.
#[derive(Debug, Clone)]
pub(crate) struct RtrBatch {
    /// API client that opened it.
    pub user: String,
    /// Session id per host AID.
    pub sessions: BTreeMap<String, String>,
}

/// A batch `get` (`BatchGetCmd`): per host AID, the file its `get` produced, if any.
#[derive(Debug, Clone)]
pub(crate) struct RtrBatchGet {
    /// API client that ran it.
    pub user: String,
    /// File id (in [`World::files`]) per host AID; `None` where the `get` failed.
    pub files: BTreeMap<String, Option<String>>,
    /// Status polls left that answer with no files yet (uploads still processing).
    pub polls_left: u32,
}

/// An NG-SIEM query job.
#[derive(Debug, Clone)]
pub(crate) struct SearchJob {
    /// Repository the job runs in.
    pub repository: String,
    /// Polls left that answer `done: false`.
    pub polls_left: u32,
    /// Epoch ms of the last poll (or creation).
    pub last_poll: i64,
    /// The finished result body.
    pub result: Value,
    /// Whether `StopSearchV1` was called.
    pub cancelled: bool,
}

/// Everything the simulated tenant holds.
#[derive(Clone)]
pub(crate) struct World {
    /// Customer id (32 hex).
    pub cid: String,
    /// Hosts keyed by `device_id`.
    pub hosts: Collection,
    /// Hidden host AIDs.
    pub hidden: HashSet<String>,
    /// Pending containment transitions per AID.
    pub transitions: HashMap<String, Transition>,
    /// Recent logins per AID.
    pub logins: HashMap<String, Vec<Value>>,
    /// Network address history per AID.
    pub addresses: HashMap<String, Vec<Value>>,
    /// Alerts keyed by `composite_id`.
    pub alerts: Collection,
    /// Incidents keyed by `incident_id`.
    pub incidents: Collection,
    /// Behaviors keyed by `behavior_id`.
    pub behaviors: Collection,
    /// CrowdScore points keyed by `id`.
    pub crowdscores: Collection,
    /// IOCs keyed by `id`.
    pub iocs: Collection,
    /// Host groups keyed by `id`.
    pub host_groups: Collection,
    /// Prevention policies keyed by `id`.
    pub policies: Collection,
    /// Policy precedence per platform, highest first (platform_default always last).
    pub precedence: BTreeMap<String, Vec<String>>,
    /// The collections of declared families (`crate::families`), by family name.
    pub families: BTreeMap<&'static str, Collection>,
    /// NG-SIEM events, newest first.
    pub events: Vec<Value>,
    /// Observations for "has this been seen": (type, value) -> AID -> process ids.
    pub observed: HashMap<(String, String), BTreeMap<String, Vec<String>>>,
    /// RTR sessions by id.
    pub sessions: BTreeMap<String, RtrSession>,
    /// RTR commands by cloud request id.
    pub commands: HashMap<String, RtrCommand>,
    /// Files pulled with `get`, by id.
    pub files: BTreeMap<String, RtrFile>,
    /// Admin put-files keyed by `id`.
    pub put_files: Collection,
    /// Put-file contents by id.
    pub put_contents: HashMap<String, Vec<u8>>,
    /// Custom scripts keyed by `id`.
    pub scripts: Collection,
    /// RTR batches by batch id.
    pub batches: HashMap<String, RtrBatch>,
    /// RTR batch `get` requests by `batch_get_cmd_req_id`.
    pub batch_gets: HashMap<String, RtrBatchGet>,
    /// NG-SIEM jobs by id.
    pub jobs: HashMap<String, SearchJob>,
    /// Device scroll / combined cursors by token.
    pub cursors: HashMap<String, Cursor>,
    /// RNG for ids of objects created at run time.
    pub rng: StdRng,
    /// Epoch ms the tenant was generated for.
    pub generated_at: i64,
}

impl World {
    /// A fresh 32-hex id.
    pub fn new_hex32(&mut self) -> String {
        hex32(&mut self.rng)
    }

    /// A fresh UUID (v4 layout).
    pub fn new_uuid(&mut self) -> String {
        uuid(&mut self.rng)
    }

    /// Applies the changes time brings: containment transitions that are due, IOC expiry.
    pub fn tick(&mut self, now: i64) {
        crate::families::iocs::expire(self, now);
        let due: Vec<(String, &'static str)> = self
            .transitions
            .iter()
            .filter(|(_, t)| t.due <= now)
            .map(|(aid, t)| (aid.clone(), t.to))
            .collect();
        for (aid, to) in due {
            self.transitions.remove(&aid);
            if let Some(h) = self.hosts.get_mut(&aid)
                && let Some(o) = h.as_object_mut()
            {
                o.insert("status".into(), Value::String(to.to_string()));
                o.insert(
                    "modified_timestamp".into(),
                    Value::String(crate::timeutil::rfc3339_s(now)),
                );
            }
        }
    }
}

/// 32 lower-hex characters (CIDs, AIDs, group and policy ids).
pub(crate) fn hex32(rng: &mut impl Rng) -> String {
    let b: [u8; 16] = rng.r#gen();
    hex::encode(b)
}

/// A random UUID in the 8-4-4-4-12 layout with version 4 bits.
pub(crate) fn uuid(rng: &mut impl Rng) -> String {
    let mut b: [u8; 16] = rng.r#gen();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Handler context: the world, the config, the clock and the caller.
pub(crate) struct Ctx<'a> {
    /// The tenant.
    pub w: &'a mut World,
    /// Simulator configuration.
    pub cfg: &'a SimConfig,
    /// Wall-clock now (epoch ms).
    pub now: i64,
    /// Calling API client id.
    pub client_id: String,
}

/// Answers an entity GET: found objects plus a 404 error per unknown id (404 if none was found).
pub(crate) fn entities_response(
    found: Vec<Value>,
    missing: Vec<String>,
    powered_by: &'static str,
    what: &str,
) -> crate::envelope::Resp {
    let errors = missing
        .iter()
        .map(|id| crate::envelope::error_item_id(404, &format!("{what} {id} not found"), id))
        .collect();
    crate::envelope::Envelope::partial(powered_by, found, errors)
}

/// `ids` from a JSON body `{"ids": [...]}` (or another key), required and non-empty.
pub(crate) fn body_ids(req: &Req, key: &str, max: usize) -> Result<Vec<String>, ApiError> {
    let v = req.json_value()?;
    let arr = v
        .get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::bad_request(format!("{key} is required")))?;
    let ids: Vec<String> = arr
        .iter()
        .map(|x| {
            x.as_str()
                .map(str::to_string)
                .ok_or_else(|| ApiError::bad_request(format!("{key} must be a list of strings")))
        })
        .collect::<Result<_, _>>()?;
    if ids.is_empty() {
        return Err(ApiError::bad_request(format!("{key} must not be empty")));
    }
    if ids.len() > max {
        return Err(ApiError::bad_request(format!(
            "too many {key}: {} given, at most {max} allowed",
            ids.len()
        )));
    }
    Ok(ids)
}

/// `ids` from the query string, required, at most `max`.
pub(crate) fn query_ids(req: &Req, key: &str, max: usize) -> Result<Vec<String>, ApiError> {
    let ids = req.q_list(key);
    if ids.is_empty() {
        return Err(ApiError::bad_request(format!("{key} is required")));
    }
    if ids.len() > max {
        return Err(ApiError::bad_request(format!(
            "too many {key}: {} given, at most {max} allowed",
            ids.len()
        )));
    }
    Ok(ids)
}

/// `action_parameters` as (name, value) pairs.
pub(crate) fn action_parameters(body: &Value) -> Vec<(String, String)> {
    body.get("action_parameters")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|p| {
                    let n = p.get("name")?.as_str()?.to_string();
                    let v = match p.get("value") {
                        Some(Value::String(s)) => s.clone(),
                        Some(Value::Null) | None => String::new(),
                        Some(other) => other.to_string(),
                    };
                    Some((n, v))
                })
                .collect()
        })
        .unwrap_or_default()
}
