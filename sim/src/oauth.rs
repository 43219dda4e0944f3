//! OAuth2 client credentials: `/oauth2/token` and `/oauth2/revoke`, and bearer validation.

use std::collections::HashMap;

use base64::Engine as _;
use rand::Rng;
use rand::rngs::SmallRng;
use serde_json::json;

use crate::config::{ApiClient, SimConfig};
use crate::envelope::{ApiError, Envelope, Req, Resp};

/// `meta.powered_by` of token-service answers.
pub(crate) const CSAM: &str = "csam";

/// An issued token.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    /// Client it was issued to.
    pub client_id: String,
    /// Epoch ms it stops working.
    pub expires: i64,
}

/// Issued tokens.
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    tokens: HashMap<String, Token>,
}

impl Tokens {
    /// The live token's client id, or `None` if unknown, revoked or expired.
    pub fn validate(&self, token: &str, now: i64) -> Option<&Token> {
        self.tokens.get(token).filter(|t| t.expires > now)
    }

    /// Forgets every token (the admin "expire all tokens" fault).
    pub fn expire_all(&mut self) {
        self.tokens.clear();
    }
}

fn form(req: &Req) -> HashMap<String, String> {
    let mut m: HashMap<String, String> = form_urlencoded::parse(&req.body).into_owned().collect();
    // Some clients send the credentials as query parameters; the real service accepts the form.
    for (k, v) in &req.query {
        m.entry(k.clone()).or_insert_with(|| v.clone());
    }
    m
}

fn find_client<'a>(cfg: &'a SimConfig, id: &str) -> Option<&'a ApiClient> {
    cfg.clients.iter().find(|c| c.client_id == id)
}

/// `oauth2AccessToken`: 201 with a bearer token, or the real 400/403 bodies.
pub(crate) fn token(
    tokens: &mut Tokens,
    cfg: &SimConfig,
    req: &Req,
    now: i64,
    rng: &mut SmallRng,
) -> Result<Resp, ApiError> {
    let f = form(req);
    let id = f.get("client_id").cloned().unwrap_or_default();
    let secret = f.get("client_secret").cloned().unwrap_or_default();
    let Some(client) = find_client(cfg, &id) else {
        return Err(ApiError::new(
            400,
            format!("Failed to generate access token for clientID={id}."),
        ));
    };
    if client.client_secret != secret {
        return Err(ApiError::new(
            403,
            "Failed to issue access token - Client authentication failed.",
        ));
    }
    if let Some(member) = f.get("member_cid").filter(|m| !m.is_empty())
        && client.member_cid.as_deref() != Some(member.as_str())
    {
        return Err(ApiError::new(
            403,
            format!("Failed to generate access token for customer ID= \"{member}\""),
        ));
    }
    // Real tokens are long opaque JWT-looking strings; the content carries no meaning here.
    let bytes: Vec<u8> = (0..96).map(|_| rng.r#gen()).collect();
    let access = format!(
        "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let ttl = cfg.token_ttl.as_millis() as i64;
    tokens.tokens.insert(
        access.clone(),
        Token {
            client_id: client.client_id.clone(),
            expires: now + ttl,
        },
    );
    let mut r = Resp::json(
        201,
        json!({
            "access_token": access,
            "token_type": "bearer",
            "expires_in": cfg.token_ttl.as_secs(),
        }),
    );
    r.headers.push(("X-Cs-Region".into(), cfg.region.clone()));
    Ok(r)
}

/// `oauth2RevokeToken`: 200 and the token stops working.
pub(crate) fn revoke(
    tokens: &mut Tokens,
    cfg: &SimConfig,
    req: &Req,
    authorization: Option<&str>,
) -> Result<Resp, ApiError> {
    let f = form(req);
    let basic = authorization
        .and_then(|h| {
            h.strip_prefix("basic ")
                .or_else(|| h.strip_prefix("Basic "))
        })
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok());
    let (id, secret) = match basic.as_deref().and_then(|s| s.split_once(':')) {
        Some((i, s)) => (i.to_string(), s.to_string()),
        None => (
            f.get("client_id").cloned().unwrap_or_default(),
            f.get("client_secret").cloned().unwrap_or_default(),
        ),
    };
    match find_client(cfg, &id) {
        Some(c) if c.client_secret == secret => {}
        _ => {
            return Err(ApiError::new(
                403,
                "Failed to issue access token - Client authentication failed.",
            ));
        }
    }
    let Some(tok) = f.get("token").filter(|t| !t.is_empty()) else {
        return Err(ApiError::bad_request("token is required"));
    };
    // RFC 7009: revoking an unknown token still succeeds.
    if tokens.tokens.get(tok).is_some_and(|t| t.client_id == id) {
        tokens.tokens.remove(tok);
    }
    Ok(Envelope::new(200, CSAM).into_resp())
}
