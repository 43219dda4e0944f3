//! Reading the plugins directory: regular files only, never blocking on one entry, sizes
//! checked on the opened handle before anything is read, one bad entry refused alone.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Origin, Refusal, Source};

/// Default cap on a directory component's size, in MiB (`max_component_mib` in `aerie.toml`).
/// First-party components are under 0.5 MiB.
pub const DEFAULT_MAX_COMPONENT_MIB: u64 = 64;
/// Cap on a detached signature file (a real one is about 300 bytes).
pub(crate) const MAX_SIGNATURE_BYTES: u64 = 64 << 10;

/// Why a plugins-directory entry could not be read.
pub(crate) enum ReadFailure {
    /// Nothing at that path.
    Missing,
    /// Something is there but is not acceptable; what to fix.
    Refused(String),
}

/// Read a regular file of at most `max` bytes, without ever blocking on or reading from
/// anything else. The checks run on the opened handle (fstat), not the path, so a file swapped
/// for a FIFO after listing cannot slip through; symlinks are followed, but only to a regular
/// file. `cap_key` names the setting that raises `max`.
pub(crate) fn read_regular(path: &Path, max: u64, cap_key: &str) -> Result<Arc<[u8]>, ReadFailure> {
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Opening a FIFO for reading blocks until a writer appears, unless non-blocking; a
        // terminal must not become our controlling one.
        opts.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let mut file = match opts.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ReadFailure::Missing),
        Err(e) => return Err(ReadFailure::Refused(format!("cannot open it: {e}"))),
    };
    let meta = file
        .metadata()
        .map_err(|e| ReadFailure::Refused(format!("cannot stat it: {e}")))?;
    if !meta.is_file() {
        return Err(ReadFailure::Refused(format!(
            "not a regular file ({}); only regular files are read",
            file_kind(&meta.file_type())
        )));
    }
    let len = meta.len();
    if len > max {
        return Err(ReadFailure::Refused(format!(
            "is {len} bytes ({}); at most {} ({cap_key})",
            human(len),
            human(max)
        )));
    }
    if len == 0 {
        // Also what /proc and similar pseudo-files report; never worth reading.
        return Err(ReadFailure::Refused("is empty".into()));
    }
    // One buffer of exactly the size fstat reported, read in place: no growth, no second copy.
    let Ok(n) = usize::try_from(len) else {
        return Err(ReadFailure::Refused(format!("is too large ({len} bytes)")));
    };
    let mut buf: Arc<[u8]> = std::iter::repeat_n(0u8, n).collect();
    let Some(slot) = Arc::get_mut(&mut buf) else {
        // Unreachable: `buf` was created on the line above and is not shared.
        return Err(ReadFailure::Refused("internal: buffer is shared".into()));
    };
    file.read_exact(slot)
        .map_err(|e| ReadFailure::Refused(format!("cannot read it: {e}")))?;
    Ok(buf)
}

/// `n` bytes in whole MiB (rounded down), or KiB below 1 MiB.
fn human(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{} MiB", n >> 20)
    } else {
        format!("{} KiB", n >> 10)
    }
}

fn file_kind(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
    }
    if t.is_dir() {
        "a directory"
    } else {
        "not a file"
    }
}

/// Read every `*.wasm` in `dir` (and its `.sig`), sorted by name so loading is deterministic.
/// An entry that is not a regular file, is larger than `max_component_bytes`, or cannot be read
/// is refused on its own; the others still load. Only an unreadable directory is an error.
pub fn read_dir(
    dir: &Path,
    max_component_bytes: u64,
) -> std::io::Result<(Vec<Source>, Vec<Refusal>)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    let mut refused = Vec::new();
    for p in paths {
        let refuse = |reason: String| Refusal {
            origin: Origin::File(p.clone()),
            name: None,
            reason,
        };
        let bytes = match read_regular(&p, max_component_bytes, "max_component_mib") {
            Ok(b) => b,
            Err(ReadFailure::Missing) if p.symlink_metadata().is_ok() => {
                refused.push(refuse("component file is a symlink to nothing".into()));
                continue;
            }
            // Gone between listing and opening: nothing to load, nothing to refuse.
            Err(ReadFailure::Missing) => continue,
            Err(ReadFailure::Refused(why)) => {
                refused.push(refuse(format!("component file {why}")));
                continue;
            }
        };
        let sig_path = crate::signing::signature_path(&p);
        let signature = match read_regular(&sig_path, MAX_SIGNATURE_BYTES, "signature files") {
            Ok(s) => Some(s.to_vec()),
            Err(ReadFailure::Missing) => None,
            Err(ReadFailure::Refused(why)) => {
                refused.push(refuse(format!(
                    "signature file {} {why}",
                    sig_path.display()
                )));
                continue;
            }
        };
        out.push(Source::file(p, bytes, signature));
    }
    Ok((out, refused))
}
