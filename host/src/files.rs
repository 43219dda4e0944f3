//! The operator's files directory (`--files-dir`), opened with cap-std so no name a plugin
//! passes — `..`, an absolute path, a symlink — can reach outside it.

use std::io::{Read, Write};
use std::path::Path;

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use sha2::{Digest, Sha256};

use crate::runtime::files::{Error, FileInfo};

/// Largest file a plugin may read or write.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// An open files directory.
pub struct FilesDir {
    dir: Dir,
}

impl FilesDir {
    /// Open `path`, which must exist and be a directory.
    pub fn open(path: &Path) -> std::io::Result<FilesDir> {
        Ok(FilesDir {
            dir: Dir::open_ambient_dir(path, ambient_authority())?,
        })
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
                "file name `{name}` is not allowed: use a plain name without slashes or a leading dot"
            )));
        }
        Ok(())
    }

    /// Read a whole file.
    pub fn read(&self, name: &str) -> Result<Vec<u8>, Error> {
        Self::check(name)?;
        let f = self.dir.open(name).map_err(|e| io_error(name, e))?;
        let meta = f.metadata().map_err(|e| io_error(name, e))?;
        if !meta.is_file() {
            return Err(Error::NotFound(format!("{name} is not a regular file")));
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

    /// Create or replace a file (atomically, via a temporary name); returns its SHA-256.
    pub fn write(&self, name: &str, contents: &[u8]) -> Result<String, Error> {
        Self::check(name)?;
        if contents.len() as u64 > MAX_FILE_BYTES {
            return Err(Error::TooLarge(MAX_FILE_BYTES));
        }
        let tmp = format!(".{name}.partial");
        let mut f = self.dir.create(&tmp).map_err(|e| io_error(name, e))?;
        f.write_all(contents)
            .and_then(|_| f.sync_all())
            .map_err(|e| io_error(name, e))?;
        self.dir
            .rename(&tmp, &self.dir, name)
            .map_err(|e| io_error(name, e))?;
        Ok(hex::encode(Sha256::digest(contents)))
    }

    /// Regular files at the top of the directory.
    pub fn list(&self) -> Result<Vec<FileInfo>, Error> {
        let mut out = Vec::new();
        for entry in self.dir.entries().map_err(|e| io_error(".", e))? {
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
        let meta = self.dir.metadata(name).map_err(|e| io_error(name, e))?;
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
        let digest = d.write("out.bin", b"hello").unwrap();
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
}
