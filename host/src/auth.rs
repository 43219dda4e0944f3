//! Falcon credentials and the OAuth2 client-credentials session.
//!
//! Credentials come from flags, then `FALCON_*` environment variables (both via clap), then
//! `~/.config/falcon/credentials.json`, then `aerie.toml`. One token serves every plugin; it is
//! fetched behind a single flight, refreshed before expiry, and revoked at shutdown. The secret
//! and the token never appear in a log line, an error or a plugin.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::Mutex;
use url::Url;

/// Refresh this long before the token expires.
const RENEW_WINDOW: Duration = Duration::from_secs(120);

/// A secret string whose `Debug` never shows the value.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Complete API client credentials.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// API client id.
    pub client_id: String,
    /// API client secret.
    pub client_secret: Secret,
    /// API base URL.
    pub base_url: Url,
    /// Whether `base_url` came from a region alias (then the token's region hint may move it).
    pub from_alias: bool,
    /// Child CID for MSSP (Flight Control) parents.
    pub member_cid: Option<String>,
}

/// Partial credentials from one source.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct CredentialSource {
    /// Client id.
    #[serde(alias = "falcon_client_id")]
    pub client_id: Option<String>,
    /// Client secret.
    #[serde(alias = "falcon_client_secret")]
    pub client_secret: Option<Secret>,
    /// Base URL or region alias.
    #[serde(alias = "falcon_base_url")]
    pub base_url: Option<String>,
    /// Member CID.
    #[serde(alias = "falcon_member_cid")]
    pub member_cid: Option<String>,
}

impl CredentialSource {
    /// Fill unset fields from `other`.
    pub fn or(self, other: CredentialSource) -> CredentialSource {
        CredentialSource {
            client_id: self.client_id.or(other.client_id),
            client_secret: self.client_secret.or(other.client_secret),
            base_url: self.base_url.or(other.base_url),
            member_cid: self.member_cid.or(other.member_cid),
        }
    }

    /// Read the credentials file other Falcon MCP servers use, if present.
    pub fn from_file(path: &Path) -> Result<CredentialSource, String> {
        match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| format!("{}: not valid credentials JSON ({e}); expected falcon_client_id, falcon_client_secret, base_url", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(CredentialSource::default()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    /// Complete credentials, or `Ok(None)` when no id and secret were given anywhere.
    pub fn resolve(self) -> Result<Option<Credentials>, String> {
        let (id, secret) = match (self.client_id.filter(|s| !s.is_empty()), self.client_secret.filter(|s| !s.0.is_empty())) {
            (None, None) => return Ok(None),
            (Some(_), None) => return Err("FALCON_CLIENT_SECRET is not set (or --client-secret); the client id alone is not enough".into()),
            (None, Some(_)) => return Err("FALCON_CLIENT_ID is not set (or --client-id); the secret alone is not enough".into()),
            (Some(i), Some(s)) => (i, s),
        };
        let raw = self.base_url.unwrap_or_else(|| "US1".into());
        let (base_url, from_alias) = parse_base_url(&raw)?;
        Ok(Some(Credentials {
            client_id: id,
            client_secret: secret,
            base_url,
            from_alias,
            member_cid: self.member_cid,
        }))
    }
}

/// Region alias → API base URL.
pub fn region_url(alias: &str) -> Option<&'static str> {
    match alias.to_ascii_uppercase().replace(['-', '_'], "").as_str() {
        "US1" => Some("https://api.crowdstrike.com"),
        "US2" => Some("https://api.us-2.crowdstrike.com"),
        "EU1" => Some("https://api.eu-1.crowdstrike.com"),
        "USGOV1" => Some("https://api.laggar.gcw.crowdstrike.com"),
        "USGOV2" => Some("https://api.us-gov-2.crowdstrike.mil"),
        _ => None,
    }
}

/// Parse a base URL or region alias. Plain HTTP is allowed only to a loopback address.
pub fn parse_base_url(raw: &str) -> Result<(Url, bool), String> {
    if let Some(u) = region_url(raw) {
        return Ok((Url::parse(u).map_err(|e| e.to_string())?, true));
    }
    let url = Url::parse(raw).map_err(|_| {
        format!(
            "FALCON_BASE_URL `{raw}` is neither a URL nor a region (US1, US2, EU1, USGOV1, USGOV2)"
        )
    })?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(format!(
                "FALCON_BASE_URL `{raw}` uses plain HTTP; only https is allowed except to loopback"
            ));
        }
        s => {
            return Err(format!(
                "FALCON_BASE_URL `{raw}` has unsupported scheme `{s}`; use https"
            ));
        }
    }
    if url.host_str().is_none() {
        return Err(format!("FALCON_BASE_URL `{raw}` has no host"));
    }
    Ok((url, false))
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

/// Why no token could be had. Messages name what to fix and never carry the secret.
#[derive(Debug, thiserror::Error, Clone)]
pub enum AuthError {
    /// Falcon refused the credentials (401/403 from the token endpoint).
    #[error(
        "Falcon refused the API client credentials (HTTP {status}: {message}); check FALCON_CLIENT_ID, FALCON_CLIENT_SECRET and FALCON_BASE_URL"
    )]
    Rejected {
        /// HTTP status.
        status: u16,
        /// Falcon's message.
        message: String,
    },
    /// The token endpoint failed for a reason that is not the credentials (5xx, 429, 400, or
    /// an answer that is not a token), after the bounded retries.
    #[error("the Falcon token endpoint answered HTTP {status} ({message}){hint}", hint = status_hint(*.status))]
    Status {
        /// HTTP status.
        status: u16,
        /// Falcon's message.
        message: String,
    },
    /// The token endpoint could not be reached; the text says why (refused, DNS, TLS, timeout).
    #[error("could not reach the Falcon token endpoint: {0}; retry later")]
    Unreachable(String),
}

fn status_hint(status: u16) -> &'static str {
    match status {
        429 | 500..=599 => "; retry later",
        _ => "",
    }
}

/// Attempts at the token endpoint for one token: it is idempotent, so transient failures
/// (transport, 5xx, 429) are retried like a read.
const TOKEN_ATTEMPTS: u32 = 3;
/// Longest wait for one 429 from the token endpoint before giving up.
const MAX_TOKEN_RETRY_WAIT: Duration = Duration::from_secs(10);

/// One failed attempt at the token endpoint.
struct Attempt {
    error: AuthError,
    /// Whether another attempt may help, and after how long (a 429's retry-after).
    retry: Option<Option<Duration>>,
}

#[derive(Clone)]
struct Token {
    value: Secret,
    renew_at: Instant,
}

/// The shared OAuth2 session.
pub struct Session {
    creds: Credentials,
    http: reqwest::Client,
    base: std::sync::RwLock<Url>,
    token: Mutex<Option<Token>>,
}

#[derive(Deserialize)]
struct TokenReply {
    access_token: Secret,
    expires_in: u64,
}

impl Session {
    /// A session for `creds`; no request is made until a token is needed.
    pub fn new(creds: Credentials, http: reqwest::Client) -> Session {
        let base = std::sync::RwLock::new(creds.base_url.clone());
        Session {
            creds,
            http,
            base,
            token: Mutex::new(None),
        }
    }

    /// Who this session acts for, without the secret: the configured base URL, client id and
    /// member CID (the result cache keys on it).
    pub fn tenant(&self) -> String {
        let c = &self.creds;
        format!(
            "{}|{}|{}",
            c.base_url,
            c.client_id,
            c.member_cid.as_deref().unwrap_or("")
        )
    }

    /// [`Session::tenant`] and a digest of the secret: what results cached for this session are
    /// keyed by, so credentials with the same id and another secret never read them.
    pub fn cache_identity(&self) -> String {
        use sha2::Digest;
        let secret = sha2::Sha256::digest(self.creds.client_secret.expose().as_bytes());
        format!("{}|{}", self.tenant(), hex::encode(secret))
    }

    /// The API base URL in use (it may follow the token's region hint).
    pub fn base_url(&self) -> Url {
        self.base
            .read()
            .map(|u| u.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// A valid bearer token. Concurrent callers share one fetch.
    pub async fn token(&self) -> Result<Secret, AuthError> {
        let mut slot = self.token.lock().await;
        if let Some(t) = slot.as_ref().filter(|t| Instant::now() < t.renew_at) {
            return Ok(t.value.clone());
        }
        let t = self.fetch().await?;
        let value = t.value.clone();
        *slot = Some(t);
        Ok(value)
    }

    /// Forget `stale` (after a 401) so the next [`Session::token`] fetches a new one; a token
    /// another caller already replaced is kept.
    pub async fn invalidate(&self, stale: &Secret) {
        let mut slot = self.token.lock().await;
        if slot.as_ref().is_some_and(|t| t.value.0 == stale.0) {
            *slot = None;
        }
    }

    async fn fetch(&self) -> Result<Token, AuthError> {
        let mut attempt = 1;
        loop {
            match self.fetch_once().await {
                Ok(t) => return Ok(t),
                Err(Attempt {
                    error,
                    retry: Some(wait),
                }) if attempt < TOKEN_ATTEMPTS => {
                    let wait = wait.unwrap_or_else(|| crate::egress::backoff(attempt));
                    if wait > MAX_TOKEN_RETRY_WAIT {
                        return Err(error);
                    }
                    tracing::debug!(%error, attempt, "token request failed; retrying");
                    attempt += 1;
                    tokio::time::sleep(wait).await;
                }
                Err(a) => return Err(a.error),
            }
        }
    }

    async fn fetch_once(&self) -> Result<Token, Attempt> {
        let unreachable = |text: String| Attempt {
            error: AuthError::Unreachable(text),
            retry: Some(None),
        };
        let url = self.base_url().join("/oauth2/token").map_err(|e| Attempt {
            error: AuthError::Unreachable(e.to_string()),
            retry: None,
        })?;
        let mut form = vec![
            ("client_id", self.creds.client_id.as_str()),
            ("client_secret", self.creds.client_secret.expose()),
        ];
        if let Some(cid) = &self.creds.member_cid {
            form.push(("member_cid", cid));
        }
        let resp = self
            .http
            .post(url.clone())
            .form(&form)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| unreachable(crate::egress::describe(&e, &url).text))?;
        let status = resp.status().as_u16();
        let retry_after = crate::egress::retry_after(resp.headers());
        let region = resp
            .headers()
            .get("x-cs-region")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = resp
            .bytes()
            .await
            .map_err(|e| unreachable(crate::egress::describe(&e, &url).text))?;
        if status != 201 && status != 200 {
            let message = crate::egress::first_error_message(&body);
            return Err(match status {
                // Only the credentials themselves are worth blaming, and retrying them is futile.
                401 | 403 => Attempt {
                    error: AuthError::Rejected { status, message },
                    retry: None,
                },
                429 => Attempt {
                    error: AuthError::Status { status, message },
                    retry: Some(Some(retry_after)),
                },
                500..=599 => Attempt {
                    error: AuthError::Status { status, message },
                    retry: Some(None),
                },
                _ => Attempt {
                    error: AuthError::Status { status, message },
                    retry: None,
                },
            });
        }
        let reply: TokenReply = serde_json::from_slice(&body).map_err(|_| Attempt {
            error: AuthError::Status {
                status,
                message: "the answer was not a token".into(),
            },
            retry: None,
        })?;
        if let Some(region) = region {
            self.follow_region(&region);
        }
        let ttl = Duration::from_secs(reply.expires_in);
        let renew_at = Instant::now() + ttl.saturating_sub(RENEW_WINDOW.min(ttl / 4));
        tracing::debug!(expires_in = reply.expires_in, "Falcon token issued");
        Ok(Token {
            value: reply.access_token,
            renew_at,
        })
    }

    /// Autodiscovery: a token issued for a tenant in another commercial region says where it
    /// lives; only applies when the operator gave a region alias, not an explicit URL.
    fn follow_region(&self, region: &str) {
        if !self.creds.from_alias {
            return;
        }
        let Some(target) = region_url(region).and_then(|u| Url::parse(u).ok()) else {
            return;
        };
        if region.to_ascii_lowercase().contains("gov") {
            return;
        }
        if let Ok(mut base) = self.base.write()
            && *base != target
        {
            tracing::info!(region, base_url = %target, "following the token's region hint");
            *base = target;
        }
    }

    /// Revoke the current token (at shutdown). Failures are logged, not fatal.
    pub async fn revoke(&self) {
        let Some(t) = self.token.lock().await.take() else {
            return;
        };
        let Ok(url) = self.base_url().join("/oauth2/revoke") else {
            return;
        };
        let res = self
            .http
            .post(url)
            .basic_auth(
                &self.creds.client_id,
                Some(self.creds.client_secret.expose()),
            )
            .form(&[
                ("token", t.value.expose()),
                ("client_id", self.creds.client_id.as_str()),
            ])
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        match res {
            Ok(r) if r.status().is_success() => tracing::debug!("Falcon token revoked"),
            Ok(r) => tracing::warn!(status = r.status().as_u16(), "token revoke refused"),
            Err(e) => {
                tracing::warn!(error = %crate::egress::describe(&e, &self.base_url()).text, "token revoke failed")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert_eq!(
            parse_base_url("eu-1").unwrap().0.as_str(),
            "https://api.eu-1.crowdstrike.com/"
        );
        assert_eq!(
            parse_base_url("USGOV1").unwrap().0.as_str(),
            "https://api.laggar.gcw.crowdstrike.com/"
        );
        assert!(parse_base_url("http://127.0.0.1:9000").is_ok());
        assert!(parse_base_url("http://localhost:9000").is_ok());
        assert!(
            parse_base_url("http://api.crowdstrike.com")
                .unwrap_err()
                .contains("plain HTTP")
        );
        assert!(parse_base_url("ftp://x").unwrap_err().contains("scheme"));
        assert!(parse_base_url("mars").unwrap_err().contains("region"));
    }

    #[test]
    fn partial_credentials_say_what_is_missing_and_never_the_secret() {
        let s = CredentialSource {
            client_secret: Some(Secret::new("hunter2")),
            ..Default::default()
        };
        let e = s.resolve().unwrap_err();
        assert!(e.contains("FALCON_CLIENT_ID") && !e.contains("hunter2"));
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "[redacted]");
        assert!(CredentialSource::default().resolve().unwrap().is_none());
    }
}
