//! Plugin signing: detached Ed25519 signatures over a component's SHA-256, trusted public keys
//! and SHA-256 pins in the policy, and `require_signed` for locked-down deployments.
//!
//! Verification runs on the component's bytes before anything else (before the compile cache is
//! consulted), so a cached compilation can never stand in for a missing or bad signature.

use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::runtime::sha256_hex;

/// `[signing]` in `aerie.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SigningPolicy {
    /// Refuse directory plugins that are neither signed by a trusted key nor pinned.
    pub require_signed: bool,
    /// Trusted public keys, as written by `aerie plugin keygen` (`ed25519:<hex>`).
    pub trusted_keys: Vec<String>,
    /// Allowed component digests (`sha256:<hex>`), trusted without a signature.
    pub pinned: Vec<String>,
}

/// The detached signature file, `<component>.wasm.sig`.
#[derive(Debug, Serialize, Deserialize)]
pub struct SignatureFile {
    /// Always `ed25519`.
    pub algorithm: String,
    /// `sha256:<hex>` of the component.
    pub digest: String,
    /// The signer's public key, `ed25519:<hex>`.
    pub key: String,
    /// Hex Ed25519 signature over the 32 digest bytes.
    pub signature: String,
}

/// The path of a component's signature file.
pub fn signature_path(component: &Path) -> PathBuf {
    let mut p = component.as_os_str().to_owned();
    p.push(".sig");
    PathBuf::from(p)
}

fn parse_key(s: &str) -> Result<VerifyingKey, String> {
    let hex_part = s.trim().strip_prefix("ed25519:").unwrap_or(s.trim());
    let bytes: [u8; 32] = hex::decode(hex_part)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("public key `{s}` is not ed25519:<64 hex digits>"))?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| format!("public key `{s}` is invalid: {e}"))
}

impl SigningPolicy {
    /// Check the policy's keys and pins are well-formed.
    pub fn validate(&self) -> Result<(), String> {
        for k in &self.trusted_keys {
            parse_key(k)?;
        }
        for p in &self.pinned {
            let h = p.strip_prefix("sha256:").unwrap_or(p);
            if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("pin `{p}` is not sha256:<64 hex digits>"));
            }
        }
        Ok(())
    }

    /// Decide whether a component may load. `signature` is the content of its `.sig` file.
    pub fn check(&self, bytes: &[u8], signature: Option<&[u8]>) -> Result<(), String> {
        let digest = sha256_hex(bytes);
        let pinned = self.pinned.iter().any(|p| {
            p.strip_prefix("sha256:")
                .unwrap_or(p)
                .eq_ignore_ascii_case(&digest)
        });
        if pinned {
            return Ok(());
        }
        let Some(sig) = signature else {
            if self.require_signed {
                return Err(format!(
                    "unsigned, and require_signed is set: sign it with `aerie plugin sign` using a trusted key, or pin sha256:{digest}"
                ));
            }
            return Ok(());
        };
        // A signature that is present must be valid, whatever require_signed says.
        let file: SignatureFile = serde_json::from_slice(sig).map_err(|e| {
            format!("signature file is not valid ({e}); re-sign with `aerie plugin sign`")
        })?;
        if file.algorithm != "ed25519" {
            return Err(format!(
                "signature algorithm `{}` is not supported (ed25519)",
                file.algorithm
            ));
        }
        if file.digest.strip_prefix("sha256:").unwrap_or(&file.digest) != digest {
            return Err("bad signature: it was made for different component bytes".into());
        }
        let key = parse_key(&file.key)?;
        let sig_bytes: [u8; 64] = hex::decode(&file.signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or("bad signature: not 64 hex-encoded bytes")?;
        let digest_bytes = hex::decode(&digest).map_err(|e| e.to_string())?;
        key.verify(&digest_bytes, &Signature::from_bytes(&sig_bytes))
            .map_err(|_| "bad signature: verification failed".to_string())?;
        let trusted = self
            .trusted_keys
            .iter()
            .filter_map(|k| parse_key(k).ok())
            .any(|k| k == key);
        if !trusted {
            if self.require_signed {
                return Err(format!(
                    "signed by {}, which is not in [signing] trusted_keys",
                    file.key
                ));
            }
            tracing::warn!(key = %file.key, "plugin signed by a key that is not trusted; loading because require_signed is off");
        }
        Ok(())
    }
}

/// Create a key pair: the private key at `path` (owner-only) and the public key at `path.pub`.
/// Returns the public key.
pub fn keygen(path: &Path) -> anyhow::Result<String> {
    if path.exists() {
        anyhow::bail!(
            "{} already exists; refusing to overwrite a key",
            path.display()
        );
    }
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let public = format!("ed25519:{}", hex::encode(key.verifying_key().to_bytes()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    use std::io::Write;
    let write = |e: std::io::Error| anyhow::anyhow!("cannot write key {}: {e}", path.display());
    opts.open(path)
        .map_err(write)?
        .write_all(format!("ed25519-private:{}\n", hex::encode(key.to_bytes())).as_bytes())
        .map_err(write)?;
    let public_path = path.with_extension("pub");
    std::fs::write(&public_path, format!("{public}\n"))
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", public_path.display()))?;
    Ok(public)
}

/// Sign `component` with the private key at `key_path`, writing `<component>.sig`.
pub fn sign(component: &Path, key_path: &Path) -> anyhow::Result<PathBuf> {
    let text = std::fs::read_to_string(key_path)
        .map_err(|e| anyhow::anyhow!("cannot read key {}: {e}", key_path.display()))?;
    let seed: [u8; 32] = text
        .trim()
        .strip_prefix("ed25519-private:")
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{} is not a key made by `aerie plugin keygen`",
                key_path.display()
            )
        })?;
    let key = SigningKey::from_bytes(&seed);
    let bytes = std::fs::read(component)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", component.display()))?;
    let digest = sha256_hex(&bytes);
    let signature = key.sign(&hex::decode(&digest)?);
    let file = SignatureFile {
        algorithm: "ed25519".into(),
        digest: format!("sha256:{digest}"),
        key: format!("ed25519:{}", hex::encode(key.verifying_key().to_bytes())),
        signature: hex::encode(signature.to_bytes()),
    };
    let out = signature_path(component);
    std::fs::write(&out, serde_json::to_string_pretty(&file)? + "\n")
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k");
        let public = keygen(&key).unwrap();
        assert!(keygen(&key).is_err(), "never overwrites a key");
        let comp = dir.path().join("p.wasm");
        std::fs::write(&comp, b"component bytes").unwrap();
        let sig = std::fs::read(sign(&comp, &key).unwrap()).unwrap();
        let strict = SigningPolicy {
            require_signed: true,
            trusted_keys: vec![public.clone()],
            pinned: vec![],
        };
        assert!(strict.check(b"component bytes", Some(&sig)).is_ok());
        assert!(
            strict
                .check(b"component bytez", Some(&sig))
                .unwrap_err()
                .contains("different component")
        );
        assert!(
            strict
                .check(b"component bytes", None)
                .unwrap_err()
                .contains("unsigned")
        );
        let other = SigningPolicy {
            require_signed: true,
            trusted_keys: vec![],
            pinned: vec![],
        };
        assert!(
            other
                .check(b"component bytes", Some(&sig))
                .unwrap_err()
                .contains("not in [signing] trusted_keys")
        );
        let mut forged: SignatureFile = serde_json::from_slice(&sig).unwrap();
        forged.signature = "00".repeat(64);
        let forged = serde_json::to_vec(&forged).unwrap();
        assert!(
            strict
                .check(b"component bytes", Some(&forged))
                .unwrap_err()
                .contains("bad signature")
        );
        // Even when signatures are optional, a bad one is refused.
        assert!(
            SigningPolicy::default()
                .check(b"component bytes", Some(&forged))
                .is_err()
        );
        let pinned = SigningPolicy {
            require_signed: true,
            trusted_keys: vec![],
            pinned: vec![format!("sha256:{}", sha256_hex(b"x"))],
        };
        assert!(pinned.check(b"x", None).is_ok());
    }
}
