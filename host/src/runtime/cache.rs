//! On-disk cache of compiled components, keyed by the component's SHA-256 and the engine's
//! compatibility hash, so a warm start skips Cranelift entirely; and of what each component's
//! `describe()` returned (`….describe.json`, same sidecar scheme), so a warm start need not load
//! or run a plugin's code before its first call.
//!
//! Entries are native code that wasmtime loads without validation, so what is loaded must be
//! what this host compiled for those component bytes:
//! - the directory must be owned by our user and not writable by group or others (it is
//!   created 0700; one that another user owns or may write is refused and the cache disabled);
//! - entries are written 0600, atomically (a unique temporary name, then `rename`);
//! - each artefact (`<digest>-<engine>.cwasm`) has a sidecar (`….cwasm.meta`) binding it to the
//!   component digest it was compiled from and recording the artefact's SHA-256; an entry whose
//!   sidecar names another digest (copied or renamed from another plugin's entry), whose
//!   artefact does not match the recorded hash (swapped, truncated, corrupted), or whose files
//!   another user owns or may write, is rejected, deleted and the component compiled again from
//!   its own verified bytes. The artefact stays a plain file so wasmtime can map it rather than
//!   copy it into anonymous memory.
//!
//! What this does not defend: a process running as our own user can rewrite an entry and its
//! header consistently (it could equally rewrite the binary or attach a debugger); keep the
//! cache under a user that runs nothing untrusted, or run with `--no-cache`.

use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// First line of every sidecar; a new layout gets a new version.
const MAGIC: &str = "aerie-compiled-v1\n";
/// MAGIC, then `<component sha256 hex>\n<artefact sha256 hex>\n`.
const META_LEN: usize = MAGIC.len() + 65 + 65;
/// Artefacts larger than this are not used (first-party ones are about 1 MiB).
const MAX_ENTRY_BYTES: u64 = 1 << 30;

/// A directory of precompiled components.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
    engine_key: String,
}

/// Feeds `Hash` output into SHA-256, so the engine's compatibility hash becomes a stable name.
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        // Only `write` is used; the digest is read through `self.0`.
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// Why a cache entry was not used.
#[derive(Debug, thiserror::Error)]
enum Rejected {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Untrusted(String),
}

impl CompileCache {
    /// Open (creating if needed) the cache in `dir` for `engine`. Refuses a directory that
    /// another user owns or that group or others may write.
    pub fn open(dir: &Path, engine: &Engine) -> std::io::Result<CompileCache> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::{MetadataExt, PermissionsExt};
            let meta = std::fs::metadata(dir)?;
            if !meta.is_dir() {
                return Err(std::io::Error::other(format!(
                    "{} is not a directory",
                    dir.display()
                )));
            }
            if meta.uid() != our_uid() {
                return Err(std::io::Error::other(format!(
                    "{} is owned by uid {}, not by this user (uid {}); use a cache directory of your own",
                    dir.display(),
                    meta.uid(),
                    our_uid()
                )));
            }
            if meta.mode() & 0o022 != 0 {
                return Err(std::io::Error::other(format!(
                    "{} is writable by group or others (mode {:o}); `chmod 700` it or remove it",
                    dir.display(),
                    meta.mode() & 0o7777
                )));
            }
            // Ours and not writable by others: tighten to owner-only so entries are not even
            // readable by others.
            if meta.mode() & 0o077 != 0 {
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
            }
        }
        let mut h = ShaHasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut h);
        let engine_key = hex::encode(&h.0.finalize()[..8]);
        Ok(CompileCache {
            dir: dir.to_path_buf(),
            engine_key,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether an artefact and its sidecar for `digest` are present (not verified: loading
    /// verifies them).
    pub fn has(&self, digest: &str) -> bool {
        let path = self.entry(digest);
        path.exists() && meta_path(&path).exists()
    }

    /// Where the compiled artefact for the component with SHA-256 `digest` lives.
    pub fn entry(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{digest}-{}.cwasm", self.engine_key))
    }

    /// The compiled component for `bytes` (whose SHA-256 is `digest`), from the cache or freshly
    /// compiled and then stored. An entry that does not belong to `digest` is rejected.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        digest: &str,
        bytes: &[u8],
    ) -> wasmtime::Result<Component> {
        let path = self.entry(digest);
        let meta = meta_path(&path);
        match self.load(engine, digest, &path, &meta) {
            Ok(Some(c)) => return Ok(c),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(path = %path.display(), "compile-cache entry rejected: {e}; compiling the component again");
                let _ = std::fs::remove_file(&path);
                let _ = std::fs::remove_file(&meta);
            }
        }
        let component = Component::new(engine, bytes)?;
        if let Err(e) = self.store(&path, &meta, digest, &component) {
            tracing::warn!(path = %path.display(), error = %e, "could not write compile cache");
        }
        Ok(component)
    }

    /// Compile `bytes` (SHA-256 `digest`) and store the artefact, unless an entry for `digest`
    /// is there already (it is verified when loaded, not here). The compiled code is dropped:
    /// this fills the cache for a later load. Returns whether it compiled.
    pub fn precompile(&self, engine: &Engine, digest: &str, bytes: &[u8]) -> anyhow::Result<bool> {
        if self.has(digest) {
            return Ok(false);
        }
        let path = self.entry(digest);
        let meta = meta_path(&path);
        let component = Component::new(engine, bytes)?;
        self.store(&path, &meta, digest, &component)?;
        Ok(true)
    }

    /// The entry at `path` if it is present and belongs to `digest`.
    fn load(
        &self,
        engine: &Engine,
        digest: &str,
        path: &Path,
        meta: &Path,
    ) -> Result<Option<Component>, Rejected> {
        if !verified(digest, path, meta, None)? {
            return Ok(None);
        }
        // SAFETY: the artefact at `path` is what `store` wrote for exactly this component
        // digest: its sidecar binds the digest, its bytes match the recorded SHA-256, and both
        // files and the directory belong to our user and are writable by no one else (see the
        // module doc for what that leaves out). wasmtime still checks the artefact's header,
        // version and engine configuration.
        match unsafe { Component::deserialize_file(engine, path) } {
            Ok(c) => Ok(Some(c)),
            Err(e) => Err(Rejected::Untrusted(format!("{e:#}"))),
        }
    }

    /// The description recorded for the component with SHA-256 `digest` (see
    /// [`CompileCache::store_description`]), if there is one that belongs to it. One that does
    /// not is deleted, so the component is described again.
    pub fn load_description(&self, digest: &str) -> Option<Vec<u8>> {
        let path = self.description_entry(digest);
        let meta = meta_path(&path);
        let mut bytes = Vec::new();
        match verified(digest, &path, &meta, Some(&mut bytes)) {
            Ok(true) => Some(bytes),
            Ok(false) => None,
            Err(e) => {
                tracing::warn!(path = %path.display(), "cached description rejected: {e}; describing the component again");
                let _ = std::fs::remove_file(&path);
                let _ = std::fs::remove_file(&meta);
                None
            }
        }
    }

    /// Record what `describe()` returned for the component with SHA-256 `digest`, so a warm
    /// start lists its tools without compiling or running it. Written like an artefact (owner
    /// only, atomically, bound to the digest by a sidecar with its SHA-256): the grants a plugin
    /// gets follow from it.
    pub fn store_description(&self, digest: &str, description: &[u8]) {
        let path = self.description_entry(digest);
        let meta = meta_path(&path);
        let written = write_private(&path, description)
            .and_then(|()| write_private(&meta, meta_text(digest, description).as_bytes()));
        if let Err(e) = written {
            tracing::warn!(path = %path.display(), error = %e, "could not write the description cache");
        }
    }

    /// A description also depends on the plugin contract and on this build's reading of it, so
    /// its name carries both besides the engine's key.
    fn description_entry(&self, digest: &str) -> PathBuf {
        static CONTRACT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            let wit = include_str!("../../../wit/aerie.wit");
            sha256_hex(format!("{}\n{wit}", env!("CARGO_PKG_VERSION")).as_bytes())[..16].to_string()
        });
        self.dir.join(format!(
            "{digest}-{}-{}.describe.json",
            self.engine_key, *CONTRACT
        ))
    }

    fn store(
        &self,
        path: &Path,
        meta: &Path,
        digest: &str,
        component: &Component,
    ) -> anyhow::Result<()> {
        let artefact = component.serialize()?;
        // The artefact first: a reader between the two renames sees a sidecar that does not
        // match and compiles again, never a sidecar vouching for the wrong code.
        write_private(path, &artefact)?;
        write_private(meta, meta_text(digest, &artefact).as_bytes())?;
        Ok(())
    }
}

/// Write `bytes` to `path` atomically, owner-only: a unique temporary file, then `rename`.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(
        ".tmp{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = PathBuf::from(tmp);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let write = || -> std::io::Result<()> {
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Open a cache file for reading if it exists, refusing anything but a regular file that our
/// user owns and no one else may write. Symlinks are not followed.
fn open_owned(path: &Path) -> Result<Option<std::fs::File>, Rejected> {
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let file = match opts.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(Rejected::Untrusted("not a regular file".into()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if meta.uid() != our_uid() || meta.mode() & 0o022 != 0 {
            return Err(Rejected::Untrusted(format!(
                "{} is owned by uid {} with mode {:o}; cache files must be ours and writable by no one else",
                path.display(),
                meta.uid(),
                meta.mode() & 0o7777
            )));
        }
    }
    if meta.len() > MAX_ENTRY_BYTES {
        return Err(Rejected::Untrusted(format!(
            "{} bytes is too large",
            meta.len()
        )));
    }
    Ok(Some(file))
}

/// Whether the entry at `path` is present and belongs to `digest`: its sidecar `meta` was written
/// for `digest` and its content matches the SHA-256 the sidecar records. With `keep`, the
/// content read is kept there (descriptions); artefacts are only hashed (wasmtime maps them).
fn verified(
    digest: &str,
    path: &Path,
    meta: &Path,
    keep: Option<&mut Vec<u8>>,
) -> Result<bool, Rejected> {
    let Some(mut entry) = open_owned(path)? else {
        return Ok(false);
    };
    let Some(mut sidecar) = open_owned(meta)? else {
        return Err(Rejected::Untrusted("its .meta sidecar is missing".into()));
    };
    let mut text = String::new();
    (&mut sidecar)
        .take(META_LEN as u64 + 1)
        .read_to_string(&mut text)
        .map_err(|_| Rejected::Untrusted("bad .meta sidecar".into()))?;
    let recorded = verify_meta(&text, digest).map_err(Rejected::Untrusted)?;
    let mut h = Sha256::new();
    let mut entry = (&mut entry).take(MAX_ENTRY_BYTES);
    match keep {
        Some(buf) => {
            entry.read_to_end(buf)?;
            h.update(&buf[..]);
        }
        None => {
            std::io::copy(&mut entry, &mut ShaWriter(&mut h))?;
        }
    }
    if hex::encode(h.finalize()) != recorded {
        return Err(Rejected::Untrusted(
            "the cached file does not match the SHA-256 recorded for it (swapped, corrupt or altered)"
                .into(),
        ));
    }
    Ok(true)
}

fn meta_path(entry: &Path) -> PathBuf {
    let mut p = entry.as_os_str().to_owned();
    p.push(".meta");
    PathBuf::from(p)
}

/// Streams into a SHA-256 without buffering the whole input.
struct ShaWriter<'a>(&'a mut Sha256);

impl Write for ShaWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The sidecar that binds an artefact to the component it was compiled from.
fn meta_text(digest: &str, artefact: &[u8]) -> String {
    format!("{MAGIC}{digest}\n{}\n", sha256_hex(artefact))
}

/// The artefact SHA-256 recorded in sidecar `text` if it was written for `digest`; else why not.
fn verify_meta<'a>(text: &'a str, digest: &str) -> Result<&'a str, String> {
    let Some(fields) = text.strip_prefix(MAGIC) else {
        return Err("its .meta sidecar is from another version or not ours".into());
    };
    let mut lines = fields.lines();
    let (Some(for_digest), Some(artefact_hash)) = (lines.next(), lines.next()) else {
        return Err("bad .meta sidecar".into());
    };
    if for_digest != digest {
        return Err(format!(
            "it belongs to another component (sha256:{}), not sha256:{digest}",
            crate::runtime::truncate_str(for_digest, 64)
        ));
    }
    Ok(artefact_hash)
}

#[cfg(unix)]
fn our_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// SHA-256 of `bytes` as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidecars_are_bound_to_their_component() {
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        let meta = meta_text(&a, b"native code");
        assert_eq!(verify_meta(&meta, &a).unwrap(), sha256_hex(b"native code"));
        assert!(
            verify_meta(&meta, &b)
                .unwrap_err()
                .contains("another component")
        );
        assert!(verify_meta("junk", &a).unwrap_err().contains("version"));
    }

    #[cfg(unix)]
    #[test]
    fn a_directory_others_may_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let engine = Engine::default();
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("c");
        CompileCache::open(&cache, &engine).unwrap();
        let mode = std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = CompileCache::open(&cache, &engine).unwrap_err().to_string();
        assert!(e.contains("writable by group or others"), "{e}");
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o755)).unwrap();
        CompileCache::open(&cache, &engine).unwrap();
        let mode = std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "tightened to owner-only");
    }
}
