//! Per-client Falcon credentials over HTTP (`X-Falcon-Client-Id`, `X-Falcon-Client-Secret`,
//! optional `X-Falcon-Base-Url`), off unless the operator enables
//! `[http.client_credentials]`.
//!
//! A request that brings its own API client runs against that client, as a tenant of its own
//! (`client:<id>`): its own token, fetched once and reused while it is valid, its own rate
//! budget per client, and its own cache entries — the cache key includes a digest of the
//! secret, so a wrong secret never reads what the right one cached. The secret is taken out of
//! the request's headers before anything else sees it; it lives only in the pooled session that
//! uses it, and never reaches a log, an error or a plugin. The base URL must be one the
//! operator allowed (by default the Falcon regions), so a client cannot point the server's
//! egress anywhere else.
//!
//! When the operator has not enabled it, a request carrying these headers is refused rather
//! than served with the server's own credentials: the client believes it is using its tenant.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use url::Url;

use crate::auth::{CredentialSource, Credentials, Secret, region_url};
use crate::egress::Egress;

const ID_HEADER: &str = "x-falcon-client-id";
const SECRET_HEADER: &str = "x-falcon-client-secret";
const BASE_HEADER: &str = "x-falcon-base-url";

/// Default number of API clients with a live session; the least recently used beyond it is
/// dropped (its token revoked).
const DEFAULT_MAX_CLIENTS: usize = 32;

/// `[http.client_credentials]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientCredentialsFile {
    /// Accept the headers (default false: a request carrying them is refused).
    pub enabled: bool,
    /// Base URLs or regions a client may name in `X-Falcon-Base-Url`; the first is used when
    /// it names none (default: the Falcon regions, US1 first).
    pub base_urls: Vec<String>,
    /// API clients with a live session at once (default 32).
    pub max_clients: Option<usize>,
}

impl ClientCredentialsFile {
    /// The checked settings, or an error saying which entry is wrong.
    pub fn build(&self) -> Result<Option<Allowed>, String> {
        if !self.enabled {
            return Ok(None);
        }
        let entries: Vec<String> = if self.base_urls.is_empty() {
            ["US1", "US2", "EU1", "USGOV1", "USGOV2"]
                .map(String::from)
                .to_vec()
        } else {
            self.base_urls.clone()
        };
        let mut bases = Vec::new();
        for e in &entries {
            let (url, _) = crate::auth::parse_base_url(e)
                .map_err(|why| format!("[http.client_credentials] base_urls: {why}"))?;
            bases.push((e.clone(), url));
        }
        let max = self.max_clients.unwrap_or(DEFAULT_MAX_CLIENTS);
        if max == 0 {
            return Err("[http.client_credentials] max_clients must be at least 1".into());
        }
        Ok(Some(Allowed { bases, max }))
    }
}

/// The enabled settings.
#[derive(Debug, Clone)]
pub struct Allowed {
    /// (as configured, resolved) base URLs; the first is the default.
    bases: Vec<(String, Url)>,
    max: usize,
}

impl Allowed {
    /// The base URL a client named (an allowed URL or region), or the default.
    fn base(&self, given: Option<&str>) -> Result<Url, String> {
        let Some(given) = given.map(str::trim) else {
            return Ok(self.bases[0].1.clone());
        };
        let wanted = region_url(given)
            .map(str::to_string)
            .unwrap_or_else(|| given.to_string());
        let wanted = Url::parse(&wanted).ok();
        self.bases
            .iter()
            .find(|(_, u)| Some(u) == wanted.as_ref())
            .map(|(_, u)| u.clone())
            .ok_or_else(|| {
                let names: Vec<&str> = self.bases.iter().map(|(n, _)| n.as_str()).collect();
                format!(
                    "X-Falcon-Base-Url `{given}` is not one this server allows; use one of {}",
                    names.join(", ")
                )
            })
    }
}

/// The API client a request brought, checked; in the request's extensions.
#[derive(Clone, Debug)]
pub struct RequestClient {
    creds: Credentials,
}

impl RequestClient {
    /// The tenant name in results, audit records and logs.
    pub fn tenant_name(&self) -> String {
        format!("client:{}", self.creds.client_id)
    }

    /// The pool key: every part of the credentials, the secret only as a digest.
    fn key(&self) -> [u8; 32] {
        let c = &self.creds;
        let mut h = Sha256::new();
        for part in [
            c.client_id.as_str(),
            c.client_secret.expose(),
            c.base_url.as_str(),
        ] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        h.finalize().into()
    }
}

/// Read the headers, or say what is wrong with them. `Ok(None)` when none was sent.
fn from_headers(h: &HeaderMap, allowed: Option<&Allowed>) -> Result<Option<RequestClient>, String> {
    let get = |name: &str| -> Result<Option<String>, String> {
        match h.get(name) {
            None => Ok(None),
            Some(v) => v
                .to_str()
                .map(|s| Some(s.trim().to_string()))
                .map_err(|_| format!("{name} must be plain ASCII")),
        }
    };
    let (id, secret, base) = (get(ID_HEADER)?, get(SECRET_HEADER)?, get(BASE_HEADER)?);
    if id.is_none() && secret.is_none() && base.is_none() {
        return Ok(None);
    }
    let Some(allowed) = allowed else {
        return Err(
            "this server does not accept per-client Falcon credentials (X-Falcon-Client-Id, \
             X-Falcon-Client-Secret, X-Falcon-Base-Url); send the request without them, or ask \
             its operator to enable [http.client_credentials]"
                .into(),
        );
    };
    let (id, secret) = match (id, secret) {
        (Some(i), Some(s)) if !i.is_empty() && !s.is_empty() => (i, s),
        _ => {
            return Err(
                "per-client credentials need both X-Falcon-Client-Id and X-Falcon-Client-Secret"
                    .into(),
            );
        }
    };
    if id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err("X-Falcon-Client-Id must be 1 to 64 letters and digits".into());
    }
    if secret.len() > 256 || !secret.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("X-Falcon-Client-Secret must be 1 to 256 printable characters".into());
    }
    let base = allowed.base(base.as_deref())?;
    let creds = CredentialSource {
        client_id: Some(id),
        client_secret: Some(Secret::new(secret)),
        base_url: Some(base.to_string()),
        member_cid: None,
    }
    .resolve()?
    .ok_or("per-client credentials are incomplete")?;
    Ok(Some(RequestClient { creds }))
}

/// Take the per-client credentials out of a request (when sent), check them, and put the
/// result in its extensions; refuse the request, saying why, when they are wrong or not
/// accepted here.
pub(crate) async fn extract(
    State(allowed): State<Option<Allowed>>,
    mut req: Request,
    next: Next,
) -> Response {
    let found = from_headers(req.headers(), allowed.as_ref());
    for h in [ID_HEADER, SECRET_HEADER, BASE_HEADER] {
        req.headers_mut().remove(h);
    }
    match found {
        Ok(None) => {}
        Ok(Some(client)) => {
            req.extensions_mut().insert(client);
        }
        Err(why) => return (StatusCode::BAD_REQUEST, format!("{why}\n")).into_response(),
    }
    next.run(req).await
}

/// Builds the egress of an API client (its session, the shared rate budget of its id).
pub type MakeEgress = Box<dyn Fn(Credentials) -> Arc<Egress> + Send + Sync>;

/// A live session and when it was last used, by [`RequestClient::key`].
type Live = HashMap<[u8; 32], (Arc<Egress>, Instant)>;

/// The live sessions of per-client credentials, least recently used dropped beyond the cap.
pub struct ClientTenants {
    allowed: Allowed,
    make: MakeEgress,
    live: Mutex<Live>,
}

impl ClientTenants {
    /// A pool holding at most `allowed.max` sessions.
    pub fn new(allowed: &Allowed, make: MakeEgress) -> ClientTenants {
        ClientTenants {
            allowed: allowed.clone(),
            make,
            live: Mutex::default(),
        }
    }

    /// What the operator allows, for the request check.
    pub fn allowed(&self) -> &Allowed {
        &self.allowed
    }

    /// The egress of `client`, reusing its session (and token) when it has one.
    pub fn egress(&self, client: &RequestClient) -> Arc<Egress> {
        let key = client.key();
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((e, used)) = live.get_mut(&key) {
            *used = Instant::now();
            return e.clone();
        }
        if live.len() >= self.allowed.max
            && let Some(oldest) = live.iter().min_by_key(|(_, (_, t))| *t).map(|(k, _)| *k)
            && let Some((dropped, _)) = live.remove(&oldest)
        {
            tokio::spawn(async move { dropped.session().revoke().await });
        }
        let egress = (self.make)(client.creds.clone());
        live.insert(key, (egress.clone(), Instant::now()));
        egress
    }

    /// Every live session (to revoke the tokens at shutdown).
    pub fn egresses(&self) -> Vec<Arc<Egress>> {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.values().map(|(e, _)| e.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    fn allowed(bases: &[&str]) -> Allowed {
        ClientCredentialsFile {
            enabled: true,
            base_urls: bases.iter().map(|s| s.to_string()).collect(),
            max_clients: None,
        }
        .build()
        .unwrap()
        .unwrap()
    }

    #[test]
    fn headers_are_refused_when_not_enabled() {
        let h = headers(&[(ID_HEADER, "abc"), (SECRET_HEADER, "s3cret")]);
        let e = from_headers(&h, None).unwrap_err();
        assert!(e.contains("[http.client_credentials]"), "{e}");
        assert!(!e.contains("s3cret"));
        assert!(from_headers(&HeaderMap::new(), None).unwrap().is_none());
    }

    #[test]
    fn both_id_and_secret_are_needed() {
        let a = allowed(&[]);
        let e = from_headers(&headers(&[(ID_HEADER, "abc")]), Some(&a)).unwrap_err();
        assert!(e.contains("both"), "{e}");
        let e = from_headers(&headers(&[(SECRET_HEADER, "x")]), Some(&a)).unwrap_err();
        assert!(e.contains("both"), "{e}");
    }

    #[test]
    fn the_base_url_must_be_allowed_and_defaults_to_the_first() {
        let a = allowed(&["EU1", "https://api.us-2.crowdstrike.com"]);
        let ok = |base: Option<&str>| {
            let mut h = vec![(ID_HEADER, "abc"), (SECRET_HEADER, "s")];
            if let Some(b) = base {
                h.push((BASE_HEADER, b));
            }
            from_headers(&headers(&h), Some(&a)).map(|c| c.unwrap().creds.base_url.to_string())
        };
        assert_eq!(ok(None).unwrap(), "https://api.eu-1.crowdstrike.com/");
        assert_eq!(
            ok(Some("us-2")).unwrap(),
            "https://api.us-2.crowdstrike.com/"
        );
        let e = ok(Some("https://evil.example")).unwrap_err();
        assert!(
            e.contains("not one this server allows") && e.contains("EU1"),
            "{e}"
        );
    }

    #[test]
    fn a_different_secret_is_a_different_client() {
        let a = allowed(&[]);
        let client = |secret: &str| {
            from_headers(
                &headers(&[(ID_HEADER, "abc"), (SECRET_HEADER, secret)]),
                Some(&a),
            )
            .unwrap()
            .unwrap()
        };
        assert_eq!(client("one").key(), client("one").key());
        assert_ne!(client("one").key(), client("two").key());
        assert_eq!(client("one").tenant_name(), "client:abc");
    }

    #[test]
    fn bad_settings_are_refused() {
        let e = ClientCredentialsFile {
            enabled: true,
            base_urls: vec!["http://falcon.example".into()],
            max_clients: None,
        }
        .build()
        .unwrap_err();
        assert!(e.contains("plain HTTP"), "{e}");
        let f = ClientCredentialsFile {
            enabled: true,
            max_clients: Some(0),
            ..Default::default()
        };
        assert!(f.build().unwrap_err().contains("max_clients"));
    }
}
