//! The operator's files directory (`--files-dir`), opened with cap-std so no name a plugin
//! passes — `..`, an absolute path, a symlink — can reach outside it.
//!
//! Writes are held to three rules, because the directory also holds what the operator put
//! there (RTR scripts to upload, symlinks to them):
//! - **Only what the plugin wrote is replaced.** The host keeps an owner record of every file a
//!   plugin wrote (name → plugin, device, inode, size, mtime) in `.aerie-owners.json` in the
//!   directory (plugins cannot name dotfiles). A write to an existing name succeeds only when
//!   that name is a regular file whose identity still matches the record of the same plugin;
//!   anything else — the operator's files, symlinks, directories, FIFOs, another plugin's
//!   files, or a plugin's file the operator has since replaced — is refused. The record
//!   survives restarts, unlike a list kept in memory, and the identity check means a record
//!   can never vouch for a file someone else put there later.
//! - **A quota per plugin**: the bytes of the files it wrote that still exist (what it
//!   actually occupies), `[plugins.<name>] files_quota_mib`, default
//!   [`DEFAULT_FILES_QUOTA_MIB`].
//! - **Atomic, and clean on failure**: contents go to a temporary dotfile that is renamed into
//!   place, and removed on any failure.
//!
//! Reads open regular files only (a FIFO or device is refused before it is opened, so a read
//! can never block on one). All of this is blocking I/O: callers run it off the async workers.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use cap_std::ambient_authority;
use cap_std::fs::{Dir, Metadata, MetadataExt, OpenOptions};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::runtime::files::{Error, FileInfo};

/// Largest file a plugin may read or write.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// Bytes of files a plugin may have in the directory unless `[plugins.<name>] files_quota_mib`
/// says otherwise, in MiB.
pub const DEFAULT_FILES_QUOTA_MIB: u64 = 256;

/// Where the owner record lives, inside the directory.
const OWNERS_FILE: &str = ".aerie-owners.json";

/// An open files directory. Cheap to clone (clones share the directory and its owner record).
#[derive(Clone)]
pub struct FilesDir {
    inner: Arc<Inner>,
}

struct Inner {
    dir: Dir,
    /// Who wrote what; the lock also serialises writes, so checks and renames cannot interleave.
    owners: Mutex<Owners>,
    /// Distinguishes temporary names of concurrent writes.
    next_tmp: AtomicU64,
}

/// The owner record: file name → the file a plugin wrote there.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Owners {
    files: BTreeMap<String, Owned>,
}

/// A file a plugin wrote, identified so that a different file at the same name never matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Owned {
    plugin: String,
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
}

impl Owned {
    fn of(plugin: &str, meta: &Metadata) -> Owned {
        Owned {
            plugin: plugin.to_string(),
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        }
    }

    /// Whether `meta` (not following symlinks) is still this very file.
    fn is(&self, meta: &Metadata) -> bool {
        meta.is_file() && Owned::of(&self.plugin, meta) == *self
    }
}

impl FilesDir {
    /// Open `path`, which must exist and be a directory, and its owner record.
    pub fn open(path: &Path) -> std::io::Result<FilesDir> {
        let dir = Dir::open_ambient_dir(path, ambient_authority())?;
        let owners = match dir.read_to_string(OWNERS_FILE) {
            Ok(text) => serde_json::from_str(&text).unwrap_or_else(|e| {
                // Safe direction: with no record, nothing counts as a plugin's, so nothing
                // existing is replaced (quotas restart from zero).
                tracing::warn!(file = OWNERS_FILE, error = %e, "files owner record unreadable; starting a new one");
                Owners::default()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Owners::default(),
            Err(e) => return Err(e),
        };
        Ok(FilesDir {
            inner: Arc::new(Inner {
                dir,
                owners: Mutex::new(owners),
                next_tmp: AtomicU64::new(0),
            }),
        })
    }

    fn dir(&self) -> &Dir {
        &self.inner.dir
    }

    fn check(name: &str) -> Result<(), Error> {
        let bad = name.is_empty()
            || name.len() > 255
            || name.contains(['/', '\\', '\0'])
            || name == "."
            || name == ".."
            || name.starts_with('.');
        if bad {
            return Err(Error::Denied(format!(
                "file name `{}` is not allowed: use a plain name without slashes or a leading dot",
                crate::runtime::log_safe(name, 255)
            )));
        }
        Ok(())
    }

    /// Read a whole regular file (following a symlink only within the directory).
    pub fn read(&self, name: &str) -> Result<Vec<u8>, Error> {
        Self::check(name)?;
        // Refuse anything but a regular file before opening it: opening a FIFO blocks until
        // someone writes to it. Plugins cannot create one; the check after opening covers a
        // swap in between.
        let meta = self.dir().metadata(name).map_err(|e| io_error(name, e))?;
        if !meta.is_file() {
            return Err(Error::Denied(format!("`{name}` is not a regular file")));
        }
        let f = self.dir().open(name).map_err(|e| io_error(name, e))?;
        let meta = f.metadata().map_err(|e| io_error(name, e))?;
        if !meta.is_file() {
            return Err(Error::Denied(format!("`{name}` is not a regular file")));
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(Error::TooLarge(MAX_FILE_BYTES));
        }
        let mut buf = Vec::with_capacity(meta.len() as usize);
        f.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut buf)
            .map_err(|e| io_error(name, e))?;
        Ok(buf)
    }

    /// Create `name`, or replace a file `plugin` wrote there earlier, atomically; returns its
    /// SHA-256. Refused when it would take `plugin` past `quota_mib` MiB of files.
    pub fn write(
        &self,
        plugin: &str,
        quota_mib: u64,
        name: &str,
        contents: &[u8],
    ) -> Result<String, Error> {
        Self::check(name)?;
        let len = contents.len() as u64;
        if len > MAX_FILE_BYTES {
            return Err(Error::TooLarge(MAX_FILE_BYTES));
        }
        // A poisoned lock only means a panic mid-write elsewhere; the record is still usable
        // (every check below re-reads the directory).
        let mut owners = self.inner.owners.lock().unwrap_or_else(|e| e.into_inner());
        self.prune(&mut owners);
        match self.dir().symlink_metadata(name) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(name, e)),
            Ok(meta) => {
                let ours = owners
                    .files
                    .get(name)
                    .is_some_and(|o| o.plugin == plugin && o.is(&meta));
                if !ours {
                    return Err(Error::Denied(format!(
                        "`{name}` already exists and is not a file plugin `{plugin}` wrote; aerie never replaces the operator's files, symlinks or directories, or another plugin's files: write under a new name"
                    )));
                }
            }
        }
        let quota = quota_mib.saturating_mul(1 << 20);
        let used: u64 = owners
            .files
            .iter()
            .filter(|(n, o)| o.plugin == plugin && n.as_str() != name)
            .map(|(_, o)| o.size)
            .sum();
        if used.saturating_add(len) > quota {
            return Err(Error::Denied(format!(
                "writing `{name}` ({len} bytes) would exceed plugin `{plugin}`'s files quota of {quota_mib} MiB ({used} bytes already used by files it wrote); delete some of them from the files directory, or the operator can raise [plugins.{plugin}] files_quota_mib"
            )));
        }
        let tmp = format!(
            ".aerie-{}-{}.partial",
            std::process::id(),
            self.inner.next_tmp.fetch_add(1, Ordering::Relaxed)
        );
        let written = self.write_new(&tmp, contents).and_then(|()| {
            self.dir().rename(&tmp, self.dir(), name)?;
            self.dir().symlink_metadata(name)
        });
        let meta = match written {
            Ok(meta) => meta,
            Err(e) => {
                // Never leave the temporary behind (it is a dotfile: plugins could not even
                // see it to clean it up).
                let _ = self.dir().remove_file(&tmp);
                return Err(io_error(name, e));
            }
        };
        owners
            .files
            .insert(name.to_string(), Owned::of(plugin, &meta));
        self.save(&owners);
        Ok(hex::encode(Sha256::digest(contents)))
    }

    /// Write `contents` to a new file `tmp` (never following or reusing what is there).
    fn write_new(&self, tmp: &str, contents: &[u8]) -> std::io::Result<()> {
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        let mut f = self.dir().open_with(tmp, &opts)?;
        f.write_all(contents)?;
        f.sync_all()
    }

    /// Forget records of files that are gone or are no longer the file the plugin wrote.
    fn prune(&self, owners: &mut Owners) {
        owners.files.retain(|name, o| {
            self.dir()
                .symlink_metadata(name)
                .is_ok_and(|meta| o.is(&meta))
        });
    }

    /// Persist the owner record atomically. A failure is logged: the record in memory still
    /// holds for this process.
    fn save(&self, owners: &Owners) {
        let tmp = format!("{OWNERS_FILE}.tmp");
        let saved = serde_json::to_vec(owners)
            .map_err(std::io::Error::other)
            .and_then(|bytes| {
                let _ = self.dir().remove_file(&tmp);
                self.write_new(&tmp, &bytes)?;
                self.dir().rename(&tmp, self.dir(), OWNERS_FILE)
            });
        if let Err(e) = saved {
            let _ = self.dir().remove_file(&tmp);
            tracing::warn!(file = OWNERS_FILE, error = %e, "cannot save the files owner record");
        }
    }

    /// Regular files at the top of the directory.
    pub fn list(&self) -> Result<Vec<FileInfo>, Error> {
        let mut out = Vec::new();
        for entry in self.dir().entries().map_err(|e| io_error(".", e))? {
            let entry = entry.map_err(|e| io_error(".", e))?;
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with('.') {
                continue;
            }
            if let Ok(meta) = entry.metadata()
                && meta.is_file()
            {
                out.push(FileInfo {
                    name,
                    size: meta.len(),
                });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// One file's metadata.
    pub fn stat(&self, name: &str) -> Result<FileInfo, Error> {
        Self::check(name)?;
        let meta = self.dir().metadata(name).map_err(|e| io_error(name, e))?;
        Ok(FileInfo {
            name: name.to_string(),
            size: meta.len(),
        })
    }
}

fn io_error(name: &str, e: std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::NotFound => Error::NotFound(name.to_string()),
        std::io::ErrorKind::PermissionDenied => Error::Denied(format!("{name}: permission denied")),
        _ => Error::Io(format!("{name}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_escape() {
        let outer = tempfile::tempdir().unwrap();
        std::fs::write(outer.path().join("secret.txt"), "s").unwrap();
        let inner = outer.path().join("files");
        std::fs::create_dir(&inner).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(outer.path().join("secret.txt"), inner.join("link")).unwrap();
        let d = FilesDir::open(&inner).unwrap();
        for bad in ["../secret.txt", "/etc/passwd", "..", "a/b", ".hidden", ""] {
            assert!(matches!(d.read(bad), Err(Error::Denied(_))), "{bad}");
        }
        // cap-std refuses to follow a symlink out of the directory.
        assert!(d.read("link").is_err());
        let digest = d.write("p", 1, "out.bin", b"hello").unwrap();
        assert_eq!(
            digest,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(d.read("out.bin").unwrap(), b"hello");
        assert!(
            d.list()
                .unwrap()
                .iter()
                .any(|f| f.name == "out.bin" && f.size == 5)
        );
        assert!(matches!(d.read("missing"), Err(Error::NotFound(_))));
    }

    #[test]
    fn only_what_the_plugin_wrote_is_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("operator.txt"), "mine").unwrap();
        std::fs::create_dir(tmp.path().join("sub")).unwrap();
        let d = FilesDir::open(tmp.path()).unwrap();
        d.write("a", 1, "a.txt", b"1").unwrap();
        d.write("a", 1, "a.txt", b"2").unwrap();
        for (plugin, name) in [("a", "operator.txt"), ("b", "a.txt"), ("a", "sub")] {
            let e = d.write(plugin, 1, name, b"x").unwrap_err();
            assert!(
                matches!(&e, Error::Denied(m) if m.contains("never replaces")),
                "{e:?}"
            );
        }
        assert_eq!(
            std::fs::read(tmp.path().join("operator.txt")).unwrap(),
            b"mine"
        );
        // The record survives a restart; a file the operator put in place of a plugin's does
        // not inherit its record.
        let d = FilesDir::open(tmp.path()).unwrap();
        d.write("a", 1, "a.txt", b"3").unwrap();
        std::fs::remove_file(tmp.path().join("a.txt")).unwrap();
        std::fs::write(tmp.path().join("a.txt"), "operator now").unwrap();
        assert!(d.write("a", 1, "a.txt", b"4").is_err());
    }

    #[test]
    fn the_quota_counts_what_the_plugin_still_has() {
        let tmp = tempfile::tempdir().unwrap();
        let d = FilesDir::open(tmp.path()).unwrap();
        let half = vec![0u8; 600 << 10];
        d.write("a", 1, "one", &half).unwrap();
        let e = d.write("a", 1, "two", &half).unwrap_err();
        assert!(
            matches!(&e, Error::Denied(m) if m.contains("quota of 1 MiB") && m.contains("files_quota_mib")),
            "{e:?}"
        );
        // Replacing a file counts its new size only; another plugin has its own quota.
        d.write("a", 1, "one", &half).unwrap();
        d.write("b", 1, "two", &half).unwrap();
        std::fs::remove_file(tmp.path().join("one")).unwrap();
        d.write("a", 1, "three", &half).unwrap();
    }
}
