//! Plugins as OCI artifacts: `aerie plugin push`, `aerie plugin pull` and `serve --pull`.
//!
//! An artifact follows the CNCF wasm OCI artifact layout — config
//! `application/vnd.wasm.config.v0+json`, the component as one layer of `application/wasm` —
//! plus, when the component is signed, its detached signature file as a second layer of
//! [`SIGNATURE_LAYER`]. The manifest's annotations name the plugin and its version, as its
//! descriptor declares them.
//!
//! A registry is not trusted. The client checks every blob against the manifest's digests (and
//! the manifest against the reference's digest); then the bytes go through
//! [`SigningPolicy::check`], the check loading runs, before they are written into the plugins
//! directory (temp file + rename); and loading checks them again from there. Nothing the
//! registry says makes an unsigned component acceptable under `require_signed`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::{OciDescriptor, OciImageManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use crate::registry::{MAX_SIGNATURE_BYTES, ReadFailure, read_regular, valid_name};
use crate::runtime::sha256_hex;
use crate::signing::{SigningPolicy, signature_path};

/// Config media type of a wasm artifact (CNCF TAG Runtime).
pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
/// Layer media type of a wasm component.
pub const WASM_LAYER: &str = "application/wasm";
/// Layer media type of aerie's detached signature file (`aerie plugin sign`).
pub const SIGNATURE_LAYER: &str = "application/vnd.aerie.plugin.signature.v1+json";
/// Manifest annotation: the plugin name from the component's descriptor.
pub const NAME_ANNOTATION: &str = "dev.aerie.plugin.name";
/// Manifest annotation: the plugin version from the component's descriptor.
pub const VERSION_ANNOTATION: &str = "org.opencontainers.image.version";
/// Layer annotation: the file name the layer is written to.
const TITLE_ANNOTATION: &str = "org.opencontainers.image.title";
/// The world every aerie plugin targets.
const TARGET_WORLD: &str = "aerie:plugin/tool-group@0.2.0";
/// Environment variables of basic registry credentials (both or neither).
pub const USERNAME_ENV: &str = "AERIE_OCI_USERNAME";
/// See [`USERNAME_ENV`].
pub const PASSWORD_ENV: &str = "AERIE_OCI_PASSWORD";
/// Cap on the manifest's config blob (ours is about 300 bytes).
const MAX_CONFIG_BYTES: u64 = 64 << 10;

/// What `push` published.
#[derive(Debug)]
pub struct Pushed {
    /// The reference pinned by digest: `REGISTRY/REPOSITORY@sha256:…`.
    pub pinned: String,
    /// The manifest digest.
    pub manifest_digest: String,
    /// `sha256:…` of the component.
    pub component_digest: String,
    /// Whether a signature layer went with it.
    pub signed: bool,
}

/// What `pull` wrote.
#[derive(Debug)]
pub struct Pulled {
    /// Plugin name (from the manifest; the file is `<name>.wasm`).
    pub name: String,
    /// Plugin version, if annotated.
    pub version: Option<String>,
    /// The reference pinned by digest.
    pub pinned: String,
    /// The manifest digest.
    pub manifest_digest: String,
    /// `sha256:…` of the component.
    pub component_digest: String,
    /// The component written.
    pub path: PathBuf,
    /// Whether a signature was written beside it.
    pub signed: bool,
}

/// Parse `[oci://]REGISTRY/REPOSITORY(:TAG|@sha256:DIGEST)`. The registry and a tag or digest
/// must be written out: a bare name would silently mean Docker Hub, a missing tag `latest`.
pub fn parse_reference(raw: &str) -> Result<Reference, String> {
    let s = raw.trim();
    let s = s.strip_prefix("oci://").unwrap_or(s);
    let example = "e.g. registry.example.com/aerie/hello:1.0 or …/hello@sha256:<digest>";
    let Some((host, path)) = s.split_once('/') else {
        return Err(format!(
            "`{raw}` names no registry: write REGISTRY/REPOSITORY:TAG ({example})"
        ));
    };
    if !(host.contains('.') || host.contains(':') || host == "localhost") {
        return Err(format!(
            "`{raw}` names no registry (`{host}` is not a host name): write REGISTRY/REPOSITORY:TAG ({example})"
        ));
    }
    let last = path.rsplit('/').next().unwrap_or(path);
    if !last.contains(':') && !last.contains('@') {
        return Err(format!(
            "`{raw}` has neither a tag nor a digest: add :TAG, or pin @sha256:<digest> as deployments should ({example})"
        ));
    }
    s.parse::<Reference>()
        .map_err(|e| {
            format!(
                "`{raw}` is not a valid OCI reference ({e}): repository names are lower-case letters, digits and . _ - / separators"
            )
        })
}

/// Anonymous, or basic credentials from [`USERNAME_ENV`] / [`PASSWORD_ENV`].
fn auth_from_env() -> Result<RegistryAuth, String> {
    let var = |k| std::env::var(k).ok().filter(|v: &String| !v.is_empty());
    match (var(USERNAME_ENV), var(PASSWORD_ENV)) {
        (Some(user), Some(password)) => Ok(RegistryAuth::Basic(user, password)),
        (None, None) => Ok(RegistryAuth::Anonymous),
        _ => Err(format!(
            "set both {USERNAME_ENV} and {PASSWORD_ENV} for registry credentials, or neither for anonymous access"
        )),
    }
}

/// Whether `registry` (`host[:port]`) is a loopback address, the only kind spoken to in plain
/// HTTP (as egress allows plain HTTP only to a loopback Falcon base URL).
fn is_loopback(registry: &str) -> bool {
    match url::Url::parse(&format!("http://{registry}/"))
        .ok()
        .and_then(|u| u.host().map(|h| h.to_owned()))
    {
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

fn client(reference: &Reference) -> Client {
    let registry = reference.resolve_registry().to_string();
    let protocol = if is_loopback(&registry) {
        ClientProtocol::HttpsExcept(vec![registry])
    } else {
        ClientProtocol::Https
    };
    Client::new(ClientConfig {
        protocol,
        // An index (multi-platform list) is not a plugin artifact: refuse it rather than pick.
        platform_resolver: None,
        connect_timeout: Some(Duration::from_secs(10)),
        read_timeout: Some(Duration::from_secs(60)),
        user_agent: concat!("aerie/", env!("CARGO_PKG_VERSION")),
        ..Default::default()
    })
}

/// A registry failure as a message that says what to fix. Never holds credentials: the
/// client's errors carry URLs and registry messages only.
fn explain(e: OciDistributionError, reference: &Reference) -> String {
    let registry = reference.resolve_registry();
    let whole = reference.whole();
    use OciDistributionError as E;
    let codes: &[_] = match &e {
        E::RegistryError { envelope, .. } => &envelope.errors,
        _ => &[],
    };
    let has = |wanted: &[OciErrorCode]| codes.iter().any(|c| wanted.contains(&c.code));
    let unknown = matches!(
        e,
        E::ImageManifestNotFoundError(_) | E::ServerError { code: 404, .. }
    ) || has(&[
        OciErrorCode::ManifestUnknown,
        OciErrorCode::NameUnknown,
        OciErrorCode::NotFound,
        OciErrorCode::BlobUnknown,
    ]);
    let denied = matches!(
        e,
        E::UnauthorizedError { .. }
            | E::AuthenticationFailure(_)
            | E::ServerError {
                code: 401 | 403,
                ..
            }
    ) || has(&[OciErrorCode::Unauthorized, OciErrorCode::Denied]);
    match e {
        _ if unknown => {
            format!("unknown reference {whole}: the registry has no such repository, tag or digest")
        }
        _ if denied => format!(
            "registry {registry} refused access to {}: set {USERNAME_ENV} and {PASSWORD_ENV} to credentials allowed to use it",
            reference.repository()
        ),
        E::DigestError(d) => format!(
            "{whole}: the registry sent bytes that do not match their digest ({d}); refusing the artifact (tampered with or corrupted)"
        ),
        E::RequestError(r) if r.is_connect() || r.is_timeout() => format!(
            "registry {registry} is unreachable ({}); check the address{}",
            error_chain(&r),
            if is_loopback(registry) {
                " (loopback registries are spoken to in plain HTTP)"
            } else {
                " (other than loopback, registries are spoken to in HTTPS only)"
            }
        ),
        E::RequestError(r) => {
            format!("registry {registry}: {}", error_chain(&r))
        }
        E::ImageIndexParsingNoPlatformResolverError => format!(
            "{whole} is an image index (a list of manifests), not a plugin artifact pushed by `aerie plugin push`"
        ),
        other => format!("registry {registry}: {other}"),
    }
}

/// An error with its sources (reqwest's own message hides the cause, e.g. "connection refused").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// The CNCF wasm config blob for these layers.
fn wasm_config(layer_digests: &[String]) -> Vec<u8> {
    let config = serde_json::json!({
        "created": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": layer_digests,
        "component": {"target": TARGET_WORLD},
    });
    serde_json::to_vec(&config).unwrap_or_default()
}

/// Push `component` (whose descriptor says `name` and `version`) and its signature file, both
/// already checked by [`push_file`], to `reference`. An unsigned component is refused unless
/// `allow_unsigned`.
async fn push(
    reference: &str,
    component: &[u8],
    signature: Option<Vec<u8>>,
    name: &str,
    version: &str,
    allow_unsigned: bool,
) -> Result<Pushed, String> {
    let reference = parse_reference(reference)?;
    let auth = auth_from_env()?;
    let component_digest = format!("sha256:{}", sha256_hex(component));
    if signature.is_none() && !allow_unsigned {
        return Err(
            "the component has no signature file (<file>.sig): sign it with `aerie plugin sign`, or pass --unsigned to publish it unsigned (servers with require_signed refuse it unless they pin its digest)".into(),
        );
    }
    let titled = |file: String| Some(BTreeMap::from([(TITLE_ANNOTATION.to_string(), file)]));
    let mut layers = vec![ImageLayer::new(
        component.to_vec(),
        WASM_LAYER.to_string(),
        titled(format!("{name}.wasm")),
    )];
    if let Some(sig) = &signature {
        layers.push(ImageLayer::new(
            sig.clone(),
            SIGNATURE_LAYER.to_string(),
            titled(format!("{name}.wasm.sig")),
        ));
    }
    let digests: Vec<String> = layers.iter().map(ImageLayer::sha256_digest).collect();
    let config = Config::new(wasm_config(&digests), WASM_CONFIG.to_string(), None);
    let annotations = BTreeMap::from([
        (NAME_ANNOTATION.to_string(), name.to_string()),
        (VERSION_ANNOTATION.to_string(), version.to_string()),
    ]);
    let manifest = OciImageManifest::build(&layers, &config, Some(annotations));
    let client = client(&reference);
    client
        .push(&reference, &layers, config, &auth, Some(manifest))
        .await
        .map_err(|e| explain(e, &reference))?;
    let manifest_digest = client
        .fetch_manifest_digest(&reference, &auth)
        .await
        .map_err(|e| explain(e, &reference))?;
    Ok(Pushed {
        pinned: pinned(&reference, &manifest_digest),
        manifest_digest,
        component_digest,
        signed: signature.is_some(),
    })
}

/// `aerie plugin push`: check `file` as `aerie plugin check` does (refusing what would not
/// load), then push it with its signature file under the name and version its descriptor
/// declares.
pub async fn push_file(
    reference: &str,
    file: &Path,
    opts: crate::server::Options,
    allow_unsigned: bool,
) -> anyhow::Result<Pushed> {
    let max = opts.file.max_component_bytes();
    let (_, plugin) = crate::report::check_loaded(file, opts)
        .await?
        .map_err(|report| anyhow::anyhow!("{}\nnot pushed", report.trim_end()))?;
    let unreadable = |what: &Path, why: String| anyhow::anyhow!("{}: {why}", what.display());
    let bytes = match read_regular(file, max, "max_component_mib") {
        Ok(b) => b,
        Err(ReadFailure::Missing) => return Err(unreadable(file, "no such file".into())),
        Err(ReadFailure::Refused(why)) => return Err(unreadable(file, why)),
    };
    // The bytes pushed must be the bytes checked.
    if sha256_hex(&bytes) != plugin.digest.trim_start_matches("sha256:") {
        anyhow::bail!(
            "{} changed while it was being checked; push again",
            file.display()
        );
    }
    let sig_path = signature_path(file);
    let signature = match read_regular(&sig_path, MAX_SIGNATURE_BYTES, "signature files") {
        Ok(s) => Some(s.to_vec()),
        Err(ReadFailure::Missing) => None,
        Err(ReadFailure::Refused(why)) => return Err(unreadable(&sig_path, why)),
    };
    push(
        reference,
        &bytes,
        signature,
        &plugin.name,
        &plugin.version,
        allow_unsigned,
    )
    .await
    .map_err(anyhow::Error::msg)
}

/// `REGISTRY/REPOSITORY@DIGEST`.
fn pinned(reference: &Reference, digest: &str) -> String {
    format!(
        "{}/{}@{digest}",
        reference.registry(),
        reference.repository()
    )
}

/// Pull `reference` into `dir` as `<name>.wasm` (and `<name>.wasm.sig`), refusing what
/// `signing` would refuse at load. `max_component_bytes` is the plugins directory's cap.
pub async fn pull(
    reference: &str,
    dir: &Path,
    signing: &SigningPolicy,
    max_component_bytes: u64,
) -> Result<Pulled, String> {
    let reference = parse_reference(reference)?;
    let auth = auth_from_env()?;
    let client = client(&reference);
    // The manifest is checked against the reference's digest by the client when one is given.
    let (manifest, manifest_digest) = client
        .pull_image_manifest(&reference, &auth)
        .await
        .map_err(|e| explain(e, &reference))?;
    let whole = reference.whole();
    if manifest.config.media_type != WASM_CONFIG {
        return Err(format!(
            "{whole} is not a wasm artifact: its config has media type `{}`, not `{WASM_CONFIG}` (push plugins with `aerie plugin push`)",
            manifest.config.media_type
        ));
    }
    let mut wasm = None;
    let mut sig = None;
    for layer in &manifest.layers {
        let slot = match layer.media_type.as_str() {
            WASM_LAYER => &mut wasm,
            SIGNATURE_LAYER => &mut sig,
            other => {
                return Err(format!(
                    "{whole} has a layer of media type `{other}`; a plugin artifact holds one `{WASM_LAYER}` layer and at most one `{SIGNATURE_LAYER}` layer"
                ));
            }
        };
        if slot.replace(layer).is_some() {
            return Err(format!(
                "{whole} has more than one `{}` layer; a plugin artifact holds one component and at most one signature",
                layer.media_type
            ));
        }
    }
    let Some(wasm) = wasm else {
        return Err(format!(
            "{whole} has no `{WASM_LAYER}` layer: it holds no component"
        ));
    };
    let name = manifest
        .annotations
        .as_ref()
        .and_then(|a| a.get(NAME_ANNOTATION))
        .cloned()
        .ok_or_else(|| {
            format!("{whole} has no `{NAME_ANNOTATION}` annotation naming the plugin")
        })?;
    // The name becomes a file name in the plugins directory: only the plugin-name alphabet.
    if !valid_name(&name) {
        return Err(format!(
            "{whole} names its plugin `{}`, which does not match ^[a-z0-9_]{{1,64}}$",
            crate::runtime::truncate_str(&name, 80)
        ));
    }
    let version = manifest
        .annotations
        .as_ref()
        .and_then(|a| a.get(VERSION_ANNOTATION))
        .cloned();
    // The config is not used, but it is part of the artifact: fetch and verify it too.
    fetch(
        &client,
        &reference,
        &manifest.config,
        MAX_CONFIG_BYTES,
        "config",
    )
    .await?;
    let bytes = fetch(&client, &reference, wasm, max_component_bytes, "component").await?;
    let signature = match sig {
        Some(s) => Some(fetch(&client, &reference, s, MAX_SIGNATURE_BYTES, "signature").await?),
        None => None,
    };
    let path = dir.join(format!("{name}.wasm"));
    signing
        .check(&bytes, signature.as_deref())
        .map_err(|reason| {
            let missing = if signature.is_none() {
                " (the artifact has no signature layer)"
            } else {
                ""
            };
            format!(
                "{whole}: refused by [signing]{missing}: {reason}; nothing was written to {}",
                dir.display()
            )
        })?;
    let sig_path = signature_path(&path);
    // Signature first, then the component: when the component appears, its signature is there.
    match &signature {
        Some(s) => write_atomically(&sig_path, s)?,
        None => remove_stale(&sig_path)?,
    }
    write_atomically(&path, &bytes)?;
    Ok(Pulled {
        name,
        version,
        pinned: pinned(&reference, &manifest_digest),
        manifest_digest,
        component_digest: format!("sha256:{}", sha256_hex(&bytes)),
        path,
        signed: signature.is_some(),
    })
}

/// Download one blob of at most `max` bytes. The client checks its digest.
async fn fetch(
    client: &Client,
    reference: &Reference,
    layer: &OciDescriptor,
    max: u64,
    what: &str,
) -> Result<Vec<u8>, String> {
    if u64::try_from(layer.size).map_or(true, |s| s > max) {
        return Err(format!(
            "{}: the {what} layer is {} bytes; at most {max} are accepted{}",
            reference.whole(),
            layer.size,
            if what == "component" {
                " (max_component_mib)"
            } else {
                ""
            }
        ));
    }
    let mut out = Capped {
        buf: Vec::new(),
        max: max as usize,
    };
    client
        .pull_blob(reference, layer, &mut out)
        .await
        .map_err(|e| explain(e, reference))?;
    Ok(out.buf)
}

/// A buffer that fails a write past `max` bytes, so a registry that sends more than the
/// manifest declared cannot fill memory before the digest check.
struct Capped {
    buf: Vec<u8>,
    max: usize,
}

impl tokio::io::AsyncWrite for Capped {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.buf.len() + data.len() > self.max {
            return Poll::Ready(Err(std::io::Error::other(format!(
                "the registry sent more than the {} bytes accepted",
                self.max
            ))));
        }
        self.buf.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Write `bytes` to a hidden temporary file beside `path` (a name the plugins directory's
/// reader skips), flush it to disk, and rename it into place: a watcher sees the old file or
/// the whole new one, never half of it.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{file_name}.{}.{:08x}.partial",
        std::process::id(),
        rand::random::<u32>()
    ));
    let failed = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    let result = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(failed(e));
    }
    // Make the rename itself durable; best effort (not every file system can sync a directory).
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Remove a signature file left by an earlier pull of a signed version.
fn remove_stale(sig_path: &Path) -> Result<(), String> {
    match std::fs::remove_file(sig_path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!(
            "cannot remove the stale signature {}: {e}",
            sig_path.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_must_name_a_registry_and_a_tag_or_digest() {
        let ok = parse_reference("oci://127.0.0.1:5000/aerie/hello:1.0").unwrap();
        assert_eq!(ok.registry(), "127.0.0.1:5000");
        assert_eq!(ok.repository(), "aerie/hello");
        assert_eq!(ok.tag(), Some("1.0"));
        let digest = format!("localhost:5000/hello@sha256:{}", "a".repeat(64));
        assert!(parse_reference(&digest).unwrap().digest().is_some());
        for (bad, says) in [
            ("hello:1.0", "names no registry"),
            ("aerie/hello:1.0", "not a host name"),
            (
                "registry.example.com/aerie/hello",
                "neither a tag nor a digest",
            ),
            (
                "registry.example.com:5000/hello",
                "neither a tag nor a digest",
            ),
            (
                "registry.example.com/Hello:1.0",
                "not a valid OCI reference",
            ),
        ] {
            let e = parse_reference(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn plain_http_only_to_loopback() {
        for r in [
            "127.0.0.1:5000",
            "localhost:5000",
            "[::1]:5000",
            "127.1.2.3",
        ] {
            assert!(is_loopback(r), "{r}");
        }
        for r in [
            "registry.example.com",
            "10.0.0.1:5000",
            "localhost.evil.com:5000",
        ] {
            assert!(!is_loopback(r), "{r}");
        }
    }

    #[test]
    fn atomic_write_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.wasm");
        write_atomically(&p, b"one").unwrap();
        write_atomically(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("x.wasm")]);
    }
}
