//! Many tenants in one server: `[tenants.<name>]` names a Falcon API client (credentials from
//! environment variables or a credentials file, never inline secrets), its base URL or region
//! and optional member CID. Each tenant has its own [`Egress`] — its own token (single flight,
//! renewal, revoked at shutdown), its own rate budget per CID (shared across replicas on Redis)
//! — and its name is part of every cache key, through the egress's tenant identity.
//!
//! A profile's `tenants` lists the tenants it may use (default: all). With one, calls go to it;
//! with several, every tool takes a `tenant` argument, an enum of exactly those names, checked
//! by the host before anything is sent: a name outside the set is refused, and nothing from the
//! argument ever reaches the API. The call runs with the chosen tenant's egress (a task-local
//! [`scope`]), so a call can never use another tenant's token; results name the tenant in
//! `_meta` (`aerie/tenant`) and the audit records name it too.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{CredentialSource, Credentials, Secret};
use crate::egress::Egress;

/// The tool argument naming the tenant.
pub const ARG: &str = "tenant";

/// One `[tenants.<name>]` section.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantFile {
    /// Environment variable holding the API client id.
    pub client_id_env: Option<String>,
    /// Environment variable holding the API client secret.
    pub client_secret_env: Option<String>,
    /// A credentials JSON file (`falcon_client_id`, `falcon_client_secret`, `base_url`), used
    /// for whatever the environment variables do not give.
    pub credentials_file: Option<PathBuf>,
    /// API base URL or region (US1, US2, EU1, USGOV1, USGOV2); default US1.
    pub base_url: Option<String>,
    /// Member CID, for a Flight Control parent's child.
    pub member_cid: Option<String>,
}

/// Whether `name` is a valid tenant name: lowercase letters, digits, `-` and `_`, 1..=32.
fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .chars()
            .all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-' | '_'))
}

impl TenantFile {
    /// The tenant's credentials, or an error naming the section and what is missing.
    pub fn resolve(&self, name: &str) -> Result<Credentials, String> {
        let at = format!("[tenants.{name}]");
        if !valid_name(name) {
            return Err(format!(
                "{at}: tenant names are 1..=32 lowercase letters, digits, `-` and `_`"
            ));
        }
        let env = |key: &Option<String>, what: &str| -> Result<Option<String>, String> {
            match key {
                None => Ok(None),
                Some(var) => match std::env::var(var) {
                    Ok(v) if !v.is_empty() => Ok(Some(v)),
                    _ => Err(format!("{at}: {what} names ${var}, which is not set")),
                },
            }
        };
        let from_env = CredentialSource {
            client_id: env(&self.client_id_env, "client_id_env")?,
            client_secret: env(&self.client_secret_env, "client_secret_env")?.map(Secret::new),
            base_url: self.base_url.clone(),
            member_cid: self.member_cid.clone(),
        };
        let from_file = match &self.credentials_file {
            Some(p) if !p.is_file() => {
                return Err(format!(
                    "{at}: credentials_file {} does not exist",
                    p.display()
                ));
            }
            Some(p) => CredentialSource::from_file(p).map_err(|e| format!("{at}: {e}"))?,
            None => CredentialSource::default(),
        };
        from_env
            .or(from_file)
            .resolve()
            .map_err(|e| format!("{at}: {e}"))?
            .ok_or_else(|| {
                format!(
                    "{at} has no credentials: set client_id_env and client_secret_env (names of environment variables) or credentials_file"
                )
            })
    }
}

/// The served tenants, by name.
#[derive(Default)]
pub struct Tenants {
    by_name: BTreeMap<String, Arc<Egress>>,
}

impl Tenants {
    /// Tenants over these egresses.
    pub fn new(by_name: BTreeMap<String, Arc<Egress>>) -> Tenants {
        Tenants { by_name }
    }

    /// Whether any tenant is configured (otherwise the single `FALCON_*` client serves).
    pub fn any(&self) -> bool {
        !self.by_name.is_empty()
    }

    /// The names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// Every tenant's egress (to revoke the tokens at shutdown).
    pub fn egresses(&self) -> impl Iterator<Item = &Arc<Egress>> {
        self.by_name.values()
    }

    /// The tenants `allowed` (a profile's list; empty: all) names, sorted.
    pub fn allowed<'a>(&'a self, allowed: &'a [String]) -> Vec<&'a str> {
        self.names()
            .filter(|n| allowed.is_empty() || allowed.iter().any(|a| a == n))
            .collect()
    }

    /// The tenant a call with `args` runs against for a profile allowing `allowed`: the only
    /// one, or the one its `tenant` argument names within the set. `Err` says what to pass.
    pub fn choose(
        &self,
        allowed: &[String],
        args: &Value,
    ) -> Result<(String, Arc<Egress>), String> {
        let set = self.allowed(allowed);
        let given = args.get(ARG);
        let name = match (given, set.as_slice()) {
            (None | Some(Value::Null), [only]) => only.to_string(),
            (None | Some(Value::Null), _) => {
                return Err(format!(
                    "This server serves several Falcon tenants: pass \"{ARG}\", one of {}. Nothing was sent to Falcon.",
                    quoted(&set)
                ));
            }
            (Some(Value::String(n)), _) if set.contains(&n.as_str()) => n.clone(),
            (Some(other), _) => {
                return Err(format!(
                    "\"{ARG}\" must be one of {} (the tenants your profile may use), not {other}. Nothing was sent to Falcon.",
                    quoted(&set)
                ));
            }
        };
        let egress = self.by_name.get(&name).cloned().ok_or_else(|| {
            format!("no tenant `{name}` is configured. Nothing was sent to Falcon.")
        })?;
        Ok((name, egress))
    }

    /// `schema` with the `tenant` argument added, when the profile may use several tenants.
    pub fn schema_for(&self, allowed: &[String], schema: &Value) -> Option<Value> {
        let set = self.allowed(allowed);
        if set.len() < 2 {
            return None;
        }
        let mut s = schema.clone();
        if let Some(props) = s.get_mut("properties").and_then(Value::as_object_mut) {
            props.insert(
                ARG.into(),
                json!({"type": "string", "enum": set, "description": "Falcon tenant to run against"}),
            );
        }
        match s.get_mut("required").and_then(Value::as_array_mut) {
            Some(r) => r.push(json!(ARG)),
            None => s["required"] = json!([ARG]),
        }
        Some(s)
    }
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

tokio::task_local! {
    /// The tenant the current tool call runs against.
    static CURRENT: (Arc<str>, Arc<Egress>);
}

/// Run `f` as a call against tenant `name` through `egress`.
pub async fn scope<F: Future>(name: &str, egress: Arc<Egress>, f: F) -> F::Output {
    CURRENT.scope((Arc::from(name), egress), f).await
}

/// The current call's tenant, if it runs in a [`scope`].
pub fn current() -> Option<(Arc<str>, Arc<Egress>)> {
    CURRENT.try_with(Clone::clone).ok()
}

/// The current tenant's name, for audit records.
pub fn current_name() -> Option<Arc<str>> {
    CURRENT.try_with(|(n, _)| n.clone()).ok()
}

/// `args` without the `tenant` argument (the plugin's schema does not have it).
pub fn strip(mut args: Value) -> Value {
    if let Some(m) = args.as_object_mut() {
        m.remove(ARG);
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_missing_credentials_are_refused_saying_what_to_set() {
        let f = TenantFile::default();
        let e = f.resolve("Bad Name").unwrap_err();
        assert!(e.contains("lowercase letters"), "{e}");
        let e = f.resolve("acme").unwrap_err();
        assert!(e.contains("[tenants.acme] has no credentials"), "{e}");
        let f = TenantFile {
            client_id_env: Some("AERIE_TEST_TENANT_UNSET_ID".into()),
            ..Default::default()
        };
        let e = f.resolve("acme").unwrap_err();
        assert!(
            e.contains("$AERIE_TEST_TENANT_UNSET_ID, which is not set"),
            "{e}"
        );
    }
}
