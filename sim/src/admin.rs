//! The `/_sim/` admin endpoints for out-of-process tests: request log, faults, token expiry.

use std::sync::atomic::Ordering;

use serde_json::json;

use crate::config::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Faults};
use crate::envelope::{Req, Resp};
use crate::server::{Shared, lock};
use crate::tenant;

/// Answers an admin request (never logged, never faulted, no auth: loopback test hook).
pub(crate) fn handle(sh: &Shared, r: &Req) -> Resp {
    match (r.method.as_str(), r.path.trim_end_matches('/')) {
        ("GET", "/_sim/requests") => Resp::json(200, json!(*lock(&sh.log))),
        ("DELETE", "/_sim/requests") | ("POST", "/_sim/requests/clear") => {
            lock(&sh.log).clear();
            Resp::no_content()
        }
        ("GET", "/_sim/faults") => Resp::json(200, json!(lock(&sh.faults).faults)),
        ("POST", "/_sim/faults") | ("PUT", "/_sim/faults") => {
            match serde_json::from_slice::<Faults>(if r.body.is_empty() { b"{}" } else { &r.body })
            {
                Ok(f) => {
                    lock(&sh.faults).faults = f.clone();
                    Resp::json(200, json!(f))
                }
                Err(e) => Resp::json(400, json!({"error": format!("invalid faults JSON: {e}")})),
            }
        }
        ("POST", "/_sim/expire-tokens") => {
            lock(&sh.tokens).expire_all();
            Resp::no_content()
        }
        ("GET", "/_sim/token-requests") => Resp::json(
            200,
            json!({"count": sh.token_requests.load(Ordering::SeqCst)}),
        ),
        ("GET", "/_sim/health") => Resp::json(200, json!({"status": "ok"})),
        ("GET", "/_sim/info") => {
            let w = lock(&sh.world);
            Resp::json(
                200,
                json!({
                    "cid": w.cid, "seed": sh.cfg.seed, "generated_at": crate::timeutil::rfc3339_ms(w.generated_at), "region": sh.cfg.region,
                    "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET,
                    "hosts": w.hosts.items.len(), "alerts": w.alerts.items.len(),
                    "incidents": w.incidents.items.len(), "events": w.events.len(),
                    "known": {
                        "sha256": tenant::KNOWN_BAD_SHA256, "md5": tenant::KNOWN_BAD_MD5,
                        "ip": tenant::KNOWN_BAD_IP, "domain": tenant::KNOWN_BAD_DOMAIN,
                        "hostname": tenant::KNOWN_HOSTNAME, "linux_hostname": tenant::KNOWN_LINUX_HOSTNAME,
                        "mac_hostname": tenant::KNOWN_MAC_HOSTNAME, "contained_hostname": tenant::KNOWN_CONTAINED_HOSTNAME,
                    }
                }),
            )
        }
        _ => Resp::json(
            404,
            json!({"error": "unknown admin endpoint", "endpoints": [
            "GET /_sim/requests", "DELETE /_sim/requests", "GET|POST /_sim/faults",
            "POST /_sim/expire-tokens", "GET /_sim/token-requests", "GET /_sim/health", "GET /_sim/info"]}),
        ),
    }
}
