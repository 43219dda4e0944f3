//! Unit-test helpers for declared families: a small generated tenant and calls of a family's
//! endpoints by operation id, without HTTP.

use serde_json::{Value, json};

use crate::config::SimConfig;
use crate::envelope::{Body, Req};
use crate::world::{Ctx, World};

/// Epoch ms the test tenant is generated for.
pub(crate) const NOW: i64 = 1_750_000_000_000;

/// A small tenant (24 hosts, 40 alerts) with every declared family seeded.
pub(crate) fn world() -> World {
    crate::tenant::generate(7, NOW, 24, 40)
}

/// A request with query pairs and a JSON body (`Value::Null` for none).
pub(crate) fn req(method: &str, query: &[(&str, &str)], body: Value) -> Req {
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

/// Call operation `op` of a declared family: `(status, JSON body)`; an error answer is its
/// status and `{"message": ...}`, a byte body is `{"bytes": <text>, "content_type": ...}`.
pub(crate) fn call(w: &mut World, op: &str, r: Req) -> (u16, Value) {
    let (f, ep) = crate::families::all()
        .find_map(|f| f.endpoints.iter().find(|e| e.op == op).map(|e| (f, e)))
        .unwrap_or_else(|| panic!("no declared endpoint {op}"));
    let cfg = SimConfig::default();
    let mut cx = Ctx {
        w,
        cfg: &cfg,
        now: NOW,
        client_id: "testclient".into(),
    };
    match crate::engine::serve(f, ep, &mut cx, &r) {
        Ok(resp) => match resp.body {
            Body::Json(v) => (resp.status, v),
            Body::Bytes(b, ct) => (
                resp.status,
                json!({"bytes": String::from_utf8_lossy(&b), "content_type": ct}),
            ),
            Body::Empty => (resp.status, Value::Null),
        },
        Err(e) => (e.status, json!({"message": e.message})),
    }
}
