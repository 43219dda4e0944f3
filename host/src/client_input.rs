//! Asking the MCP client for input in the middle of a request: a person's answer to a form
//! (elicitation), a completion from the client's model (sampling), or the client's roots. The
//! approval gate asks this way, and so can plugins (the `host.ask` import).
//!
//! The two protocol generations ask differently, and [`Asker`] hides which:
//! - On a session (2025-11-25 and older, stdio or HTTP) the server sends the client a request
//!   and waits for the answer.
//! - A 2026-07-28 client has no channel for server-to-client requests (SEP-2322, "multi
//!   round-trip requests"). The request ends with an `InputRequiredResult` naming the
//!   questions; the client answers them and sends the same request again with the answers
//!   (`inputResponses`) and the `requestState` it was given. aerie then serves the request
//!   from the start, and answers each question it asks again from what the client sent. So
//!   whatever runs before a question runs once per round; it must only read.
//!
//! `requestState` is sealed (HMAC-SHA256, [`RequestStateCodec`]) with a per-process key and
//! bound to the caller, the method and the request's arguments, with a time limit: a client
//! cannot forge or alter the answers of earlier rounds, nor replay them for another call. It
//! is signed, not encrypted, so it carries nothing secret: the earlier answers (the client
//! gave them) and which questions were asked. A server restart, or another replica behind a
//! load balancer, cannot open it; the client is told to start again.

// Sampling and roots are deprecated by SEP-2577, but clients and the conformance suite still
// use them.
#![expect(
    deprecated,
    reason = "sampling and roots are deprecated by SEP-2577 but still in use"
)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rmcp::model::{
    ClientCapabilities, CreateMessageRequestParams, CreateMessageResult, ElicitRequestParams,
    ElicitResult, InputRequest, InputRequiredResult, InputResponses, ListRootsResult,
    RequestStateCodec, SealOptions,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, Peer, RoleServer};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Questions in one `ask`.
pub const MAX_QUESTIONS: usize = 8;
/// Largest sealed `requestState` (it grows with the answers of earlier rounds).
pub const MAX_STATE_BYTES: usize = 64 << 10;
/// Largest JSON params of one question.
pub const MAX_QUESTION_BYTES: usize = 64 << 10;

/// What a question asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// `elicitation/create`: a person fills a form.
    Elicit,
    /// `sampling/createMessage`: the client's model answers.
    Sample,
    /// `roots/list`.
    Roots,
}

impl Kind {
    fn method(self) -> &'static str {
        match self {
            Kind::Elicit => "elicitation/create",
            Kind::Sample => "sampling/createMessage",
            Kind::Roots => "roots/list",
        }
    }

    /// Whether `value` is a well-formed answer to a question of this kind.
    fn check_answer(self, value: &Value) -> Result<(), String> {
        let r = match self {
            Kind::Elicit => serde_json::from_value::<ElicitResult>(value.clone()).map(drop),
            Kind::Sample => serde_json::from_value::<CreateMessageResult>(value.clone()).map(drop),
            Kind::Roots => serde_json::from_value::<ListRootsResult>(value.clone()).map(drop),
        };
        r.map_err(|e| format!("not a {} result: {e}", self.method()))
    }
}

/// One question, under a key of the asker's choosing (the answer comes back under it).
#[derive(Debug, Clone)]
pub struct Question {
    /// `^[a-z0-9_]{1,64}$`.
    pub key: String,
    /// What it asks for.
    pub kind: Kind,
    /// The request's params (`{}` for roots).
    pub params: Value,
}

impl Question {
    /// Ask a person `message`, with a form of `schema` (an object of primitive fields).
    pub fn elicit(key: &str, message: &str, schema: Value) -> Question {
        Question {
            key: key.into(),
            kind: Kind::Elicit,
            params: json!({"mode": "form", "message": message, "requestedSchema": schema}),
        }
    }

    /// The key and params are acceptable; the text says what is wrong.
    pub fn check(&self) -> Result<(), String> {
        let k = &self.key;
        if k.is_empty()
            || k.len() > 64
            || !k
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(format!(
                "question key `{k}` does not match ^[a-z0-9_]{{1,64}}$"
            ));
        }
        if self.params.to_string().len() > MAX_QUESTION_BYTES {
            return Err(format!("question `{k}` is over {MAX_QUESTION_BYTES} bytes"));
        }
        self.input_request().map(drop)
    }

    /// The params as sent: elicitation defaults to a form when the asker left the mode out.
    fn wire_params(&self) -> Value {
        let mut params = self.params.clone();
        if self.kind == Kind::Elicit
            && let Some(o) = params.as_object_mut()
        {
            o.entry("mode").or_insert_with(|| json!("form"));
        }
        params
    }

    /// The question as the request a client answers.
    fn input_request(&self) -> Result<InputRequest, String> {
        let wire = match self.kind {
            Kind::Roots => json!({"method": self.kind.method()}),
            _ => json!({"method": self.kind.method(), "params": self.wire_params()}),
        };
        serde_json::from_value(wire).map_err(|e| {
            format!(
                "question `{}` is not a valid {} request: {e}",
                self.key,
                self.kind.method()
            )
        })
    }
}

/// Why a question got no answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Unanswered {
    /// The client did not declare the capability the question needs.
    Unsupported,
    /// No answer within the time allowed.
    TimedOut,
    /// The question was malformed, or the client failed it; the text says which.
    Failed(String),
}

/// The answer to one question: the client's result as JSON.
pub type Answer = Result<Value, Unanswered>;

/// The client answers in a later round: the request ends with input-required
/// ([`Asker::input_required`]).
#[derive(Debug, thiserror::Error)]
#[error("waiting for the client's input (the request ends with input-required)")]
pub struct Pending;

/// Asks one request's client for input.
pub struct Asker {
    caps: ClientCapabilities,
    mode: Mode,
}

enum Mode {
    /// A session: ask the client directly.
    Session(Peer<RoleServer>),
    /// 2026-07-28: input-required rounds.
    Rounds(Mutex<Rounds>),
}

struct Rounds {
    binding: Vec<u8>,
    ttl: Duration,
    /// Answers the client sent with this round and, through the state, earlier ones.
    answers: BTreeMap<String, Value>,
    /// Kinds asked in the previous round, from the state (to check this round's answers).
    opened: Option<State>,
    /// Answers used in this run, to carry into the next round.
    used: BTreeMap<String, Value>,
    /// Questions still open after this run.
    asked: BTreeMap<String, Question>,
}

/// What `requestState` carries between rounds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    /// Random, per round: tells one round's answer from another (single-use approvals).
    id: String,
    /// Answers of earlier rounds.
    answers: BTreeMap<String, Value>,
    /// The questions the previous round asked.
    asked: BTreeMap<String, Kind>,
}

/// The per-process key `requestState` is sealed with.
fn codec() -> &'static RequestStateCodec {
    static CODEC: OnceLock<RequestStateCodec> = OnceLock::new();
    CODEC.get_or_init(|| {
        let key = rand::random::<[u8; 32]>().to_vec();
        // 32 bytes is the codec's minimum key length, so this cannot fail.
        RequestStateCodec::try_new(key).expect("a 32-byte key is long enough")
    })
}

tokio::task_local! {
    static CURRENT: Arc<Asker>;
}

/// The asker of the request being served, if any (set by the MCP handler around a call).
pub fn current() -> Option<Arc<Asker>> {
    CURRENT.try_with(Arc::clone).ok()
}

/// Run `f` with `asker` as the current request's asker.
pub async fn scope<F: Future>(asker: Arc<Asker>, f: F) -> F::Output {
    CURRENT.scope(asker, f).await
}

/// Whether `ctx` is a request of the 2026-07-28 protocol (no session, input-required rounds).
pub fn is_modern(ctx: &RequestContext<RoleServer>) -> bool {
    ctx.protocol_version()
        .is_some_and(|v| v.as_str() >= rmcp::model::ProtocolVersion::V_2026_07_28.as_str())
}

impl Asker {
    /// The asker for one request. `binding` names the caller, the method and what the request
    /// asks (e.g. the tool and a digest of its arguments): a `requestState` opens only for the
    /// same. `ttl` bounds how long the client may take to answer a round.
    ///
    /// Fails (invalid params) when `request_state` was tampered with, has expired or belongs
    /// to another request, or an answer to a question of the last round is malformed.
    pub fn for_request(
        ctx: &RequestContext<RoleServer>,
        binding: &str,
        request_state: Option<&str>,
        responses: Option<&InputResponses>,
        ttl: Duration,
    ) -> Result<Asker, McpError> {
        let caps = ctx.client_capabilities().unwrap_or_default();
        if !is_modern(ctx) {
            return Ok(Asker {
                caps,
                mode: Mode::Session(ctx.peer.clone()),
            });
        }
        let binding = binding.as_bytes().to_vec();
        let opened = match request_state {
            None => None,
            Some(s) => Some(
                codec()
                    .open_json_with::<State>(s, &binding)
                    .map_err(|e| {
                        McpError::invalid_params(
                            format!(
                                "requestState is not valid for this request ({e}); send the request again without requestState and inputResponses"
                            ),
                            None,
                        )
                    })?,
            ),
        };
        let mut answers = opened
            .as_ref()
            .map(|s| s.answers.clone())
            .unwrap_or_default();
        for (key, value) in responses.into_iter().flatten() {
            if let Some(kind) = opened.as_ref().and_then(|s| s.asked.get(key)) {
                kind.check_answer(value).map_err(|e| {
                    McpError::invalid_params(format!("inputResponses.{key} is {e}"), None)
                })?;
            }
            // Answers to questions never asked are kept only if a question asks for them.
            answers.insert(key.clone(), value.clone());
        }
        Ok(Asker {
            caps,
            mode: Mode::Rounds(Mutex::new(Rounds {
                binding,
                ttl,
                answers,
                opened,
                used: BTreeMap::new(),
                asked: BTreeMap::new(),
            })),
        })
    }

    /// An asker that asks a session's client directly (stdio, legacy HTTP sessions).
    pub fn session(peer: Peer<RoleServer>) -> Asker {
        let caps = peer
            .peer_info()
            .map(|i| i.capabilities.clone())
            .unwrap_or_default();
        Asker {
            caps,
            mode: Mode::Session(peer),
        }
    }

    /// Whether the client declared what a question of `kind` needs.
    pub fn supports(&self, kind: Kind) -> bool {
        match kind {
            Kind::Elicit => self.caps.elicitation.is_some(),
            Kind::Sample => self.caps.sampling.is_some(),
            Kind::Roots => self.caps.roots.is_some(),
        }
    }

    /// Whether the client already sent an answer for `key` (so the question need not be
    /// prepared again).
    pub fn has_answer(&self, key: &str) -> bool {
        match &self.mode {
            Mode::Session(_) => false,
            Mode::Rounds(r) => lock(r).answers.contains_key(key),
        }
    }

    /// The id of the round whose state this request carried (input-required rounds only).
    pub fn round_id(&self) -> Option<String> {
        match &self.mode {
            Mode::Session(_) => None,
            Mode::Rounds(r) => lock(r).opened.as_ref().map(|s| s.id.clone()),
        }
    }

    /// Ask `questions`; each answer comes back in order. On a session the client is asked now
    /// and each question waits up to `timeout` (none: until the caller gives up). In rounds, a
    /// question the client has answered gets that answer, and if any is still open this is
    /// [`Pending`]: the caller must stop, and the request ends with input-required.
    pub async fn ask(
        &self,
        questions: &[Question],
        timeout: Option<Duration>,
    ) -> Result<Vec<Answer>, Pending> {
        match &self.mode {
            Mode::Session(peer) => Ok(futures::future::join_all(
                questions.iter().map(|q| self.ask_session(peer, q, timeout)),
            )
            .await),
            Mode::Rounds(r) => {
                let mut r = lock(r);
                let mut out = Vec::with_capacity(questions.len());
                for q in questions {
                    if let Err(e) = q.check() {
                        out.push(Err(Unanswered::Failed(e)));
                        continue;
                    }
                    if !self.supports(q.kind) {
                        out.push(Err(Unanswered::Unsupported));
                        continue;
                    }
                    match r.answers.get(&q.key) {
                        Some(v) if q.kind.check_answer(v).is_ok() => {
                            let v = v.clone();
                            r.used.insert(q.key.clone(), v.clone());
                            out.push(Ok(v));
                        }
                        // Unanswered, or answered with something that is not an answer to
                        // this question: ask again.
                        _ => {
                            r.asked.insert(q.key.clone(), q.clone());
                            out.push(Err(Unanswered::Failed("not answered yet".into())));
                        }
                    }
                }
                if r.asked.is_empty() {
                    Ok(out)
                } else {
                    Err(Pending)
                }
            }
        }
    }

    async fn ask_session(
        &self,
        peer: &Peer<RoleServer>,
        q: &Question,
        timeout: Option<Duration>,
    ) -> Answer {
        q.check().map_err(Unanswered::Failed)?;
        if !self.supports(q.kind) {
            return Err(Unanswered::Unsupported);
        }
        let failed = |e: String| Unanswered::Failed(e);
        let invalid = |what: &str| {
            failed(format!(
                "question `{}` is not a valid {what} request",
                q.key
            ))
        };
        let answer = |r: Result<Value, rmcp::service::ServiceError>| {
            r.map_err(|e| failed(format!("the client failed `{}`: {e}", q.key)))
        };
        let asking = async {
            match q.kind {
                Kind::Elicit => {
                    let p: ElicitRequestParams = serde_json::from_value(q.wire_params())
                        .map_err(|_| invalid("elicitation"))?;
                    answer(peer.create_elicitation(p).await.map(to_json))
                }
                Kind::Sample => {
                    let p: CreateMessageRequestParams = serde_json::from_value(q.params.clone())
                        .map_err(|_| invalid("sampling"))?;
                    let r = peer.create_message(p).await;
                    answer(r.map(to_json))
                }
                Kind::Roots => {
                    let r = peer.list_roots().await;
                    answer(r.map(to_json))
                }
            }
        };
        match timeout {
            Some(t) => tokio::time::timeout(t, asking)
                .await
                .map_err(|_| Unanswered::TimedOut)?,
            None => asking.await,
        }
    }

    /// The input-required result that ends this request, when a question is still open: the
    /// questions, and the state that carries this round's answers into the next.
    pub fn input_required(&self) -> Result<Option<InputRequiredResult>, McpError> {
        let Mode::Rounds(r) = &self.mode else {
            return Ok(None);
        };
        let r = lock(r);
        if r.asked.is_empty() {
            return Ok(None);
        }
        let mut requests = BTreeMap::new();
        for (k, q) in &r.asked {
            // `ask` checked every question it kept.
            if let Ok(req) = q.input_request() {
                requests.insert(k.clone(), req);
            }
        }
        let state = State {
            id: hex::encode(rand::random::<[u8; 12]>()),
            answers: r.used.clone(),
            asked: r.asked.iter().map(|(k, q)| (k.clone(), q.kind)).collect(),
        };
        let sealed = codec()
            .seal_json_with(
                &state,
                &SealOptions::new().associated_data(&r.binding).ttl(r.ttl),
            )
            .map_err(|e| McpError::internal_error(format!("sealing requestState: {e}"), None))?;
        if sealed.len() > MAX_STATE_BYTES {
            return Err(McpError::invalid_params(
                format!(
                    "the answers so far exceed {MAX_STATE_BYTES} bytes of requestState; give shorter answers"
                ),
                None,
            ));
        }
        Ok(Some(InputRequiredResult::new(Some(requests), Some(sealed))))
    }
}

fn lock(r: &Mutex<Rounds>) -> std::sync::MutexGuard<'_, Rounds> {
    // Every update is one insert; a panic elsewhere leaves the maps consistent.
    r.lock().unwrap_or_else(|p| p.into_inner())
}

/// A client's result as JSON (rmcp's model types always serialise).
fn to_json<T: Serialize>(r: T) -> Value {
    serde_json::to_value(r).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_are_checked() {
        let ok = Question::elicit(
            "user_name",
            "What is your name?",
            json!({"type": "object", "properties": {"name": {"type": "string"}}}),
        );
        assert!(ok.check().is_ok());
        let bad_key = Question {
            key: "User Name".into(),
            ..ok.clone()
        };
        assert!(bad_key.check().unwrap_err().contains("does not match"));
        let bad = Question {
            key: "x".into(),
            kind: Kind::Sample,
            params: json!({"maxTokens": "many"}),
        };
        assert!(bad.check().unwrap_err().contains("sampling/createMessage"));
        let roots = Question {
            key: "r".into(),
            kind: Kind::Roots,
            params: json!({}),
        };
        assert!(roots.check().is_ok());
    }

    #[test]
    fn answers_are_checked_by_kind() {
        assert!(
            Kind::Elicit
                .check_answer(&json!({"action": "accept", "content": {"name": "A"}}))
                .is_ok()
        );
        assert!(Kind::Elicit.check_answer(&json!({"nope": 1})).is_err());
        assert!(Kind::Roots.check_answer(&json!({"roots": []})).is_ok());
        assert!(Kind::Sample.check_answer(&json!({"roots": []})).is_err());
    }

    #[test]
    fn state_opens_only_for_its_binding() {
        let state = State {
            id: "r1".into(),
            answers: BTreeMap::new(),
            asked: BTreeMap::new(),
        };
        let sealed = codec()
            .seal_json_with(
                &state,
                &SealOptions::new()
                    .associated_data(b"a")
                    .ttl(Duration::from_secs(60)),
            )
            .unwrap();
        assert_eq!(
            codec().open_json_with::<State>(&sealed, b"a").unwrap().id,
            "r1"
        );
        assert!(codec().open_json_with::<State>(&sealed, b"b").is_err());
        let mut tampered = sealed.clone();
        tampered.insert(tampered.len() / 2, 'x');
        assert!(codec().open_json_with::<State>(&tampered, b"a").is_err());
    }
}
