//! [`Ctx`]: what a tool handler gets besides its arguments — Falcon calls, host services, and the
//! patterns every tool group repeats (query → hydrate, pagination, polling, files).

use serde_json::{Value, json};

use crate::env::{Env, FileError, Level};
use crate::error::ToolError;
use crate::falcon::{Call, Envelope};
use crate::result::{Next, SearchResult, next_offset};

/// The handler's context for one tool call. Cheap: a reference to the host and the tool's name.
pub struct Ctx<'a> {
    env: &'a dyn Env,
    tool: &'a str,
    fql_guide: Option<&'static str>,
}

impl<'a> Ctx<'a> {
    /// A context over `env` for `tool`; `fql_guide` is cited when Falcon rejects a filter.
    pub fn new(env: &'a dyn Env, tool: &'a str, fql_guide: Option<&'static str>) -> Self {
        Self {
            env,
            tool,
            fql_guide,
        }
    }

    /// The host behind this context.
    pub fn env(&self) -> &dyn Env {
        self.env
    }

    /// The tool being called.
    pub fn tool(&self) -> &str {
        self.tool
    }

    /// The FQL guide of the current tool, if any.
    pub fn fql_guide(&self) -> Option<&'static str> {
        self.fql_guide
    }

    /// Start a Falcon request for `operation` (an operation id the tool declared).
    pub fn op(&self, operation: &str) -> Call<'_> {
        Call::new(self.env, self.fql_guide, operation)
    }

    /// Log a line at `level` into the host's log.
    pub fn log(&self, level: Level, message: &str) {
        self.env.log(level, message);
    }

    /// Report progress (forwarded to the MCP client as a progress notification).
    pub fn progress(&self, done: u64, total: Option<u64>, message: &str) {
        self.env.progress(done, total, message);
    }

    /// Operator configuration value for this plugin.
    pub fn config(&self, key: &str) -> Option<String> {
        self.env.config(key)
    }

    /// Read a file from the operator's files directory.
    pub fn read_file(&self, name: &str) -> Result<Vec<u8>, ToolError> {
        self.env.read_file(name).map_err(|e| file_error(name, e))
    }

    /// Write a file into the operator's files directory; returns its SHA-256.
    pub fn write_file(&self, name: &str, contents: &[u8]) -> Result<String, ToolError> {
        self.env
            .write_file(name, contents)
            .map_err(|e| file_error(name, e))
    }

    /// Fetch entities by id in batches of `h.batch`; no request when `ids` is empty. Entities come
    /// back in the order of `ids` when `h.order_key` is set (Falcon does not keep request order).
    pub fn hydrate(&self, h: &Hydrate, ids: &[String]) -> Result<Vec<Value>, ToolError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(h.batch.max(1)) {
            let call = self.op(h.op);
            let call = match h.ids_in {
                IdsIn::Body => call.body_json(&json!({ h.key: chunk }))?,
                IdsIn::Query => call.query_all(h.key, chunk),
            };
            let call = h.extra_query.iter().fold(call, |c, (k, v)| c.query(k, v));
            out.extend(call.envelope()?.resources);
        }
        if let Some(key) = h.order_key {
            order_by_ids(&mut out, ids, key);
        }
        Ok(out)
    }

    /// Fetch entities by id and fail with not-found naming the ids Falcon did not return.
    pub fn hydrate_all(
        &self,
        h: &Hydrate,
        ids: &[String],
        what: &str,
    ) -> Result<Vec<Value>, ToolError> {
        let found = self.hydrate(h, ids)?;
        let key = h.order_key.unwrap_or("id");
        let missing: Vec<&str> = ids
            .iter()
            .filter(|id| {
                !found
                    .iter()
                    .any(|v| v.get(key).and_then(id_text).as_deref() == Some(id.as_str()))
            })
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(ToolError::not_found(format!(
                "{what} {}",
                missing.join(", ")
            )));
        }
        Ok(found)
    }

    /// Run an offset-paged id query (`offset` is the one the query was sent with), then hydrate the
    /// ids: the two-step search most Falcon families use. One query call plus
    /// ⌈ids / batch⌉ hydrate calls, none when nothing matched.
    pub fn search(
        &self,
        query: Call<'_>,
        offset: u64,
        h: &Hydrate,
    ) -> Result<SearchResult, ToolError> {
        let env = query.envelope()?;
        let ids = env.ids();
        let total = env.total();
        let next = next_offset(offset, ids.len(), total);
        let results = self.hydrate(h, &ids)?;
        Ok(SearchResult {
            results,
            total,
            next,
        })
    }

    /// A one-call search over a combined endpoint (full objects in `resources`), offset paged.
    pub fn search_combined(&self, query: Call<'_>, offset: u64) -> Result<SearchResult, ToolError> {
        let env: Envelope = query.envelope()?;
        let total = env.total();
        let next = match env.cursor() {
            Some(c) => Next::Cursor(c),
            None => next_offset(offset, env.resources.len(), total),
        };
        Ok(SearchResult {
            results: env.resources,
            total,
            next,
        })
    }

    /// Poll `step` until it reports done or `spec.max_wait_ms` elapses, sleeping `spec.interval_ms`
    /// between attempts and reporting progress. The bound keeps a call inside the host's deadline.
    pub fn poll<T>(
        &self,
        spec: &PollSpec,
        mut step: impl FnMut(u32) -> Result<Step<T>, ToolError>,
    ) -> Result<Polled<T>, ToolError> {
        let start = self.env.now_ms();
        let mut attempt = 0u32;
        loop {
            let elapsed = self.env.now_ms().saturating_sub(start);
            match step(attempt)? {
                Step::Done(v) => {
                    self.progress(
                        spec.max_wait_ms,
                        Some(spec.max_wait_ms),
                        &format!("{} done", spec.what),
                    );
                    return Ok(Polled::Done(v));
                }
                Step::Pending(v) => {
                    if elapsed >= spec.max_wait_ms {
                        return Ok(Polled::TimedOut(v));
                    }
                    self.progress(
                        elapsed,
                        Some(spec.max_wait_ms),
                        &format!("waiting for {} ({}s)", spec.what, elapsed / 1000),
                    );
                }
                Step::Working { value, done, total } => {
                    if elapsed >= spec.max_wait_ms {
                        return Ok(Polled::TimedOut(value));
                    }
                    self.progress(done, Some(total), &format!("{} running", spec.what));
                }
            }
            attempt = attempt.saturating_add(1);
            let left = spec.max_wait_ms.saturating_sub(elapsed);
            let nap = u64::from(spec.interval_ms).min(left.max(1));
            // `nap` ≤ interval_ms, which is a u32.
            self.env
                .sleep(u32::try_from(nap).unwrap_or(spec.interval_ms));
        }
    }
}

fn file_error(name: &str, e: FileError) -> ToolError {
    match e {
        // The host's reason already names the setting to change.
        FileError::Denied(r) => ToolError::Denied(format!("file `{name}`: {r}")),
        FileError::NotFound(_) => {
            ToolError::not_found(format!("file `{name}` in the operator's files directory"))
        }
        FileError::TooLarge(cap) => {
            ToolError::invalid(format!("file `{name}` exceeds the host's {cap}-byte cap"))
        }
        FileError::Io(r) => ToolError::internal(format!("file `{name}`: {r}")),
    }
}

/// Where a hydrate operation takes its ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdsIn {
    /// JSON body `{"<key>": [..]}` (POST "GET-by-ids" endpoints).
    Body,
    /// Repeated query parameter `?<key>=a&<key>=b` (GET entity endpoints).
    Query,
}

/// How to fetch entities by id for one family: operation, where the ids go, the batch size the
/// API allows, and the field that holds an entity's id.
#[derive(Debug, Clone, Copy)]
pub struct Hydrate {
    /// Operation id.
    pub op: &'static str,
    /// Body or query.
    pub ids_in: IdsIn,
    /// Body key or query name.
    pub key: &'static str,
    /// Largest number of ids per request the API accepts.
    pub batch: usize,
    /// Entity field holding its id; results are returned in request order by it.
    pub order_key: Option<&'static str>,
    /// Extra query pairs sent with every batch.
    pub extra_query: &'static [(&'static str, &'static str)],
}

impl Hydrate {
    /// Ids in the JSON body under `key`.
    pub const fn body(op: &'static str, key: &'static str, batch: usize) -> Self {
        Self {
            op,
            ids_in: IdsIn::Body,
            key,
            batch,
            order_key: None,
            extra_query: &[],
        }
    }

    /// Ids as repeated query parameter `key`.
    pub const fn query(op: &'static str, key: &'static str, batch: usize) -> Self {
        Self {
            op,
            ids_in: IdsIn::Query,
            key,
            batch,
            order_key: None,
            extra_query: &[],
        }
    }

    /// Return entities in request order, matching on `field`.
    pub const fn ordered_by(mut self, field: &'static str) -> Self {
        self.order_key = Some(field);
        self
    }

    /// Send these query pairs with every batch.
    pub const fn with_query(mut self, pairs: &'static [(&'static str, &'static str)]) -> Self {
        self.extra_query = pairs;
        self
    }
}

/// An entity id as text: a string, or an integer (Intel actors and reports have integer ids).
fn id_text(v: &Value) -> Option<std::borrow::Cow<'_, str>> {
    match v {
        Value::String(s) => Some(s.as_str().into()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string().into()),
        _ => None,
    }
}

/// Sort `entities` into the order of `ids`, matching `entity[key]`; unknown ones go last.
pub fn order_by_ids(entities: &mut [Value], ids: &[String], key: &str) {
    // Each id's first position, looked up once per entity: a search of 500 hosts sorted by
    // scanning `ids` on every comparison spent more time ordering than parsing.
    let mut rank = std::collections::HashMap::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        rank.entry(id.as_str()).or_insert(i);
    }
    entities.sort_by_cached_key(|v| {
        v.get(key)
            .and_then(id_text)
            .and_then(|id| rank.get(id.as_ref()).copied())
            .unwrap_or(usize::MAX)
    });
}

/// Bounds of a polling loop.
#[derive(Debug, Clone)]
pub struct PollSpec {
    /// Pause between attempts.
    pub interval_ms: u32,
    /// Give up (returning [`Polled::TimedOut`]) after this long.
    pub max_wait_ms: u64,
    /// What is being waited for, for progress messages ("NG-SIEM job").
    pub what: String,
}

/// One polling attempt's outcome.
#[derive(Debug)]
pub enum Step<T> {
    /// Finished with this value.
    Done(T),
    /// Not finished; this is the latest partial value.
    Pending(T),
    /// Not finished, with measurable progress.
    Working {
        /// Latest partial value.
        value: T,
        /// Work done.
        done: u64,
        /// Total work.
        total: u64,
    },
}

/// How a polling loop ended.
#[derive(Debug, PartialEq)]
pub enum Polled<T> {
    /// Finished.
    Done(T),
    /// The bound elapsed first; the latest partial value.
    TimedOut(T),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MockEnv;

    const DEVICES: Hydrate = Hydrate::body("PostDeviceDetailsV2", "ids", 2).ordered_by("device_id");

    #[test]
    fn search_skips_hydrate_when_no_ids() {
        let env = MockEnv::new().reply(
            "QueryDevicesByFilter",
            200,
            json!({"meta": {"pagination": {"offset": 0, "limit": 10, "total": 0}}, "resources": []}),
        );
        let ctx = Ctx::new(&env, "t", None);
        let r = ctx
            .search(ctx.op("QueryDevicesByFilter"), 0, &DEVICES)
            .unwrap();
        assert_eq!(r.total, 0);
        assert_eq!(r.next, Next::None);
        assert_eq!(env.calls().len(), 1);
    }

    #[test]
    fn search_hydrates_in_batches_and_keeps_order() {
        let env = MockEnv::new()
            .reply(
                "QueryDevicesByFilter",
                200,
                json!({"meta": {"pagination": {"offset": 0, "limit": 3, "total": 7}}, "resources": ["a", "b", "c"]}),
            )
            .reply("PostDeviceDetailsV2", 200, json!({"resources": [{"device_id": "b"}, {"device_id": "a"}]}))
            .reply("PostDeviceDetailsV2", 200, json!({"resources": [{"device_id": "c"}]}));
        let ctx = Ctx::new(&env, "t", None);
        let r = ctx
            .search(ctx.op("QueryDevicesByFilter"), 0, &DEVICES)
            .unwrap();
        let order: Vec<_> = r
            .results
            .iter()
            .map(|v| v["device_id"].as_str().unwrap())
            .collect();
        assert_eq!(order, ["a", "b", "c"]);
        assert_eq!(r.next, Next::Offset(3));
        let calls = env.calls();
        assert_eq!(calls.len(), 3);
        assert_eq!(calls[1].body_json().unwrap(), json!({"ids": ["a", "b"]}));
        assert_eq!(calls[2].body_json().unwrap(), json!({"ids": ["c"]}));
    }

    #[test]
    fn integer_ids_match_their_text() {
        let env = MockEnv::new().reply(
            "GetActors",
            200,
            json!({"resources": [{"id": 2}, {"id": 1}]}),
        );
        let ctx = Ctx::new(&env, "t", None);
        let ids = vec!["1".to_string(), "2".to_string()];
        let h = Hydrate::query("GetActors", "ids", 10).ordered_by("id");
        let found = ctx.hydrate_all(&h, &ids, "actor").unwrap();
        assert_eq!(found, vec![json!({"id": 1}), json!({"id": 2})]);
    }

    #[test]
    fn order_by_ids_follows_the_first_position_and_puts_unknown_last() {
        let mut v = vec![
            json!({"id": "x"}),
            json!({"id": 7}),
            json!({"id": "b"}),
            json!({"other": 1}),
            json!({"id": "a"}),
        ];
        let ids: Vec<String> = ["a", "7", "b", "a"].map(String::from).to_vec();
        order_by_ids(&mut v, &ids, "id");
        assert_eq!(
            v,
            [
                json!({"id": "a"}),
                json!({"id": 7}),
                json!({"id": "b"}),
                json!({"id": "x"}),
                json!({"other": 1})
            ]
        );
    }

    #[test]
    fn hydrate_all_reports_missing() {
        let env = MockEnv::new().reply(
            "PostDeviceDetailsV2",
            200,
            json!({"resources": [{"device_id": "a"}]}),
        );
        let ctx = Ctx::new(&env, "t", None);
        let ids = vec!["a".to_string(), "z".to_string()];
        let e = ctx.hydrate_all(&DEVICES, &ids, "host").unwrap_err();
        assert_eq!(e, ToolError::not_found("host z"));
    }

    #[test]
    fn poll_is_bounded_and_reports_progress() {
        let env = MockEnv::new();
        let ctx = Ctx::new(&env, "t", None);
        let spec = PollSpec {
            interval_ms: 1000,
            max_wait_ms: 3500,
            what: "job".into(),
        };
        let r = ctx.poll(&spec, |n| Ok(Step::Pending(n))).unwrap();
        assert_eq!(r, Polled::TimedOut(4));
        assert!(!env.progress_log().is_empty());
        let r = ctx
            .poll(&spec, |n| {
                Ok(if n == 1 {
                    Step::Done(n)
                } else {
                    Step::Pending(n)
                })
            })
            .unwrap();
        assert_eq!(r, Polled::Done(1));
    }
}
