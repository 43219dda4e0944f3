//! Validators for Falcon identifiers and IOC values, run before any request so a malformed id is
//! an `invalid-arguments` error naming the bad value, never a confusing upstream 400.
//!
//! Each validator returns the normalised value (hex lower-cased, whitespace trimmed).

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::ToolError;

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A 32-hex-digit id (AID/device id, CID, host group id, policy id).
pub fn hex32(value: &str, what: &str) -> Result<String, ToolError> {
    let v = value.trim();
    if is_hex(v, 32) {
        Ok(v.to_ascii_lowercase())
    } else {
        Err(ToolError::invalid(format!(
            "`{value}` is not a valid {what}: expected 32 hexadecimal characters"
        )))
    }
}

/// A host (device) id: 32 hex.
pub fn aid(value: &str) -> Result<String, ToolError> {
    hex32(value, "host id (AID)")
}

/// Validate a list of ids with `f`, rejecting an empty list and more than `max`; duplicates are
/// removed, order kept.
pub fn list(
    values: &[String],
    max: usize,
    what: &str,
    f: impl Fn(&str) -> Result<String, ToolError>,
) -> Result<Vec<String>, ToolError> {
    if values.is_empty() {
        return Err(ToolError::invalid(format!("give at least one {what}")));
    }
    if values.len() > max {
        return Err(ToolError::invalid(format!(
            "at most {max} {what}s per call (got {})",
            values.len()
        )));
    }
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for v in values {
        let v = f(v)?;
        if !out.contains(&v) {
            out.push(v);
        }
    }
    Ok(out)
}

/// A composite alert id `<cid>:<kind>:<aid-or-scope>:<detection>` (e.g.
/// `8693…:ind:5388…:1211-10304-1175`), as returned by `GetQueriesAlertsV2`.
pub fn composite_alert_id(value: &str) -> Result<String, ToolError> {
    let v = value.trim();
    let bad = || {
        ToolError::invalid(format!(
            "`{value}` is not a composite alert id: expected <cid>:<type>:<id>:<detection>, as returned by detections_search"
        ))
    };
    let mut parts = v.splitn(3, ':');
    let (Some(cid), Some(kind), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let kind_ok = !kind.is_empty()
        && kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    let rest_ok = rest.len() >= 3
        && rest.len() <= 200
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'-' | b'_' | b'.'));
    if is_hex(cid, 32) && kind_ok && rest_ok {
        Ok(v.to_string())
    } else {
        Err(bad())
    }
}

/// An incident id `inc:<aid>:<32 hex>`.
pub fn incident_id(value: &str) -> Result<String, ToolError> {
    let v = value.trim();
    let parts: Vec<&str> = v.split(':').collect();
    match parts.as_slice() {
        ["inc", a, b] if is_hex(a, 32) && is_hex(b, 32) => Ok(v.to_ascii_lowercase()),
        _ => Err(ToolError::invalid(format!(
            "`{value}` is not an incident id: expected inc:<32 hex>:<32 hex>"
        ))),
    }
}

/// A UUID (RTR session and cloud request ids).
pub fn uuid(value: &str, what: &str) -> Result<String, ToolError> {
    let v = value.trim();
    let groups: Vec<&str> = v.split('-').collect();
    let lens = [8, 4, 4, 4, 12];
    let ok = groups.len() == 5 && groups.iter().zip(lens).all(|(g, n)| is_hex(g, n));
    if ok {
        Ok(v.to_ascii_lowercase())
    } else {
        Err(ToolError::invalid(format!(
            "`{value}` is not a valid {what}: expected a UUID like fdd6408f-6688-441b-8659-41bcad25441c"
        )))
    }
}

/// IOC type.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum IocType {
    /// SHA-256 file hash.
    Sha256,
    /// MD5 file hash.
    Md5,
    /// Domain name.
    Domain,
    /// IPv4 address.
    Ipv4,
    /// IPv6 address.
    Ipv6,
}

impl IocType {
    /// The API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            IocType::Sha256 => "sha256",
            IocType::Md5 => "md5",
            IocType::Domain => "domain",
            IocType::Ipv4 => "ipv4",
            IocType::Ipv6 => "ipv6",
        }
    }

    /// Guess the type of a value (hash by length, IP by parse, else domain).
    pub fn detect(value: &str) -> Option<IocType> {
        let v = value.trim();
        [
            IocType::Sha256,
            IocType::Md5,
            IocType::Ipv4,
            IocType::Ipv6,
            IocType::Domain,
        ]
        .into_iter()
        .find(|t| ioc_value(*t, v).is_ok())
    }
}

/// Validate and normalise an IOC value for its type (hashes lower-case, IPv6 canonical, domains
/// lower-case without a trailing dot).
pub fn ioc_value(kind: IocType, value: &str) -> Result<String, ToolError> {
    let v = value.trim();
    let bad = |expect: &str| {
        ToolError::invalid(format!(
            "`{value}` is not a valid {} value: expected {expect}",
            kind.as_str()
        ))
    };
    match kind {
        IocType::Sha256 if is_hex(v, 64) => Ok(v.to_ascii_lowercase()),
        IocType::Sha256 => Err(bad("64 hexadecimal characters")),
        IocType::Md5 if is_hex(v, 32) => Ok(v.to_ascii_lowercase()),
        IocType::Md5 => Err(bad("32 hexadecimal characters")),
        IocType::Ipv4 => v
            .parse::<Ipv4Addr>()
            .map(|a| a.to_string())
            .map_err(|_| bad("a dotted IPv4 address such as 203.0.113.5")),
        IocType::Ipv6 => v
            .parse::<Ipv6Addr>()
            .map(|a| a.to_string())
            .map_err(|_| bad("an IPv6 address such as 2001:db8::1")),
        IocType::Domain => domain(v)
            .ok_or_else(|| bad("a domain name such as evil.example.com (1-200 characters)")),
    }
}

fn domain(v: &str) -> Option<String> {
    let d = v.strip_suffix('.').unwrap_or(v).to_ascii_lowercase();
    if d.is_empty() || d.len() > 200 || !d.contains('.') || d.parse::<Ipv4Addr>().is_ok() {
        return None;
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    d.split('.').all(label_ok).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const AID: &str = "5388c592189444ad9e84df071c8f3954";

    #[test]
    fn aids() {
        assert_eq!(aid(&AID.to_uppercase()).unwrap(), AID);
        assert!(aid("5388c592").is_err());
        assert!(aid("zz88c592189444ad9e84df071c8f3954").is_err());
    }

    #[test]
    fn composite_ids() {
        let ok = "8693deb4bf134cfb8855ee118d9a0243:ind:5388c592189444ad9e84df071c8f3954:12119912898-10304-117513744";
        assert_eq!(composite_alert_id(ok).unwrap(), ok);
        assert!(composite_alert_id("ind:5388:1").is_err());
        assert!(composite_alert_id("8693deb4bf134cfb8855ee118d9a0243:ind:x' OR 1").is_err());
    }

    #[test]
    fn incidents_and_uuids() {
        assert!(incident_id(&format!("inc:{AID}:2343cc087cce4683a3c96b49a1e8c864")).is_ok());
        assert!(incident_id("inc:1:2").is_err());
        assert!(uuid("fdd6408f-6688-441b-8659-41bcad25441c", "session id").is_ok());
        assert!(uuid("fdd6408f66886441b865941bcad25441c", "session id").is_err());
    }

    #[test]
    fn ioc_values() {
        assert!(ioc_value(IocType::Sha256, &"A".repeat(64)).is_ok());
        assert!(ioc_value(IocType::Sha256, &"a".repeat(63)).is_err());
        assert!(ioc_value(IocType::Md5, &"0".repeat(32)).is_ok());
        assert_eq!(
            ioc_value(IocType::Domain, "Evil.Example.com.").unwrap(),
            "evil.example.com"
        );
        assert!(ioc_value(IocType::Domain, "nodot").is_err());
        assert!(ioc_value(IocType::Domain, "1.2.3.4").is_err());
        assert!(ioc_value(IocType::Domain, "a'b.com").is_err());
        assert!(ioc_value(IocType::Ipv4, "10.0.0.256").is_err());
        assert_eq!(
            ioc_value(IocType::Ipv6, "2001:DB8:0::1").unwrap(),
            "2001:db8::1"
        );
        assert_eq!(IocType::detect("10.1.2.3"), Some(IocType::Ipv4));
        assert_eq!(IocType::detect(&"b".repeat(64)), Some(IocType::Sha256));
        assert_eq!(IocType::detect("evil.example"), Some(IocType::Domain));
    }

    #[test]
    fn lists_dedupe_and_bound() {
        let v = vec![AID.to_string(), AID.to_uppercase()];
        assert_eq!(list(&v, 5, "host id", aid).unwrap(), vec![AID.to_string()]);
        assert!(list(&[], 5, "host id", aid).is_err());
        assert!(list(&v, 1, "host id", aid).is_err());
    }
}
