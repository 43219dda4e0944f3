//! The SQLite [`Store`]: one file on disk that survives restarts, bounded by accounted bytes
//! like the memory store (least recently used out). The file holds tenant data, so it is
//! created owner-only (0600). Calls run on tokio's blocking pool.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use super::{StateError, StateFuture, Stats, Store, Stored, entry_bytes, expiry_ms, now_ms};

/// A store in one SQLite file.
pub struct SqliteStore {
    path: PathBuf,
    max_bytes: u64,
    conn: Arc<Mutex<Connection>>,
}

const SCHEMA: &str = "
PRAGMA foreign_keys = ON;
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    stored_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    used_ms INTEGER NOT NULL,
    bytes INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_used ON entries(used_ms);
CREATE INDEX IF NOT EXISTS entries_expires ON entries(expires_ms);
CREATE TABLE IF NOT EXISTS tags (
    tag TEXT NOT NULL,
    key TEXT NOT NULL REFERENCES entries(key) ON DELETE CASCADE,
    PRIMARY KEY (tag, key)
);
CREATE INDEX IF NOT EXISTS tags_key ON tags(key);
";

fn err(path: &Path) -> impl Fn(rusqlite::Error) -> StateError + '_ {
    move |e| StateError(format!("{}: {e}", path.display()))
}

impl SqliteStore {
    /// Open (creating owner-only if missing) the store at `path`, bounded by `max_bytes`.
    pub fn open(path: &Path, max_bytes: u64) -> Result<SqliteStore, StateError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.is_dir()
        {
            return Err(StateError(format!(
                "{}: directory {} does not exist",
                path.display(),
                dir.display()
            )));
        }
        if !path.exists() {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| StateError(format!("cannot create {}: {e}", path.display())))?;
        }
        let conn = Connection::open(path).map_err(err(path))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(err(path))?;
        // WAL lets `aerie cache stats` read while a server writes; the -wal file SQLite makes
        // takes the database file's permissions.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err(path))?;
        conn.execute_batch(SCHEMA).map_err(err(path))?;
        Ok(SqliteStore {
            path: path.to_path_buf(),
            max_bytes,
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Run `f` on the connection off the async workers.
    fn run<'a, T: Send + 'static>(
        &'a self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> StateFuture<'a, T> {
        let conn = self.conn.clone();
        let path = self.path.clone();
        Box::pin(async move {
            let joined = tokio::task::spawn_blocking(move || {
                // A panic inside rusqlite leaves no half-applied transaction behind (SQLite
                // rolls back), so a poisoned lock is still usable.
                let mut c = conn.lock().unwrap_or_else(|p| p.into_inner());
                f(&mut c)
            })
            .await;
            match joined {
                Ok(r) => r.map_err(err(&path)),
                Err(e) => Err(StateError(format!("{}: {e}", path.display()))),
            }
        })
    }
}

impl Store for SqliteStore {
    fn get<'a>(&'a self, key: &'a str) -> StateFuture<'a, Option<Stored>> {
        let key = key.to_string();
        self.run(move |c| {
            let now = now_ms() as i64;
            let row: Option<(Vec<u8>, i64, i64)> = c
                .query_row(
                    "SELECT value, stored_ms, expires_ms FROM entries WHERE key = ?1",
                    params![key],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let Some((value, stored, expires)) = row else {
                return Ok(None);
            };
            if expires <= now {
                c.execute("DELETE FROM entries WHERE key = ?1", params![key])?;
                return Ok(None);
            }
            c.execute(
                "UPDATE entries SET used_ms = ?2 WHERE key = ?1",
                params![key, now],
            )?;
            Ok(Some(Stored {
                value,
                age: Duration::from_millis(now.saturating_sub(stored).max(0) as u64),
            }))
        })
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
        tags: &'a [String],
    ) -> StateFuture<'a, ()> {
        let key = key.to_string();
        let tags = tags.to_vec();
        let max = self.max_bytes;
        self.run(move |c| {
            let bytes = entry_bytes(&key, &value, &tags);
            let now = now_ms();
            let tx = c.transaction()?;
            tx.execute("DELETE FROM entries WHERE key = ?1", params![key])?;
            if bytes > max || ttl.is_zero() {
                return tx.commit();
            }
            tx.execute(
                "DELETE FROM entries WHERE expires_ms <= ?1",
                params![now as i64],
            )?;
            // Least recently used out until the new entry fits.
            let mut held: i64 =
                tx.query_row("SELECT COALESCE(SUM(bytes), 0) FROM entries", [], |r| {
                    r.get(0)
                })?;
            while held as u64 + bytes > max {
                let oldest: Option<(String, i64)> = tx
                    .query_row(
                        "SELECT key, bytes FROM entries ORDER BY used_ms, rowid LIMIT 1",
                        [],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?;
                let Some((k, b)) = oldest else { break };
                tx.execute("DELETE FROM entries WHERE key = ?1", params![k])?;
                held -= b;
            }
            tx.execute(
                "INSERT INTO entries (key, value, stored_ms, expires_ms, used_ms, bytes) VALUES (?1, ?2, ?3, ?4, ?3, ?5)",
                params![key, value, now as i64, expiry_ms(now, ttl).min(i64::MAX as u64) as i64, bytes as i64],
            )?;
            for t in &tags {
                tx.execute(
                    "INSERT OR IGNORE INTO tags (tag, key) VALUES (?1, ?2)",
                    params![t, key],
                )?;
            }
            tx.commit()
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StateFuture<'a, bool> {
        let key = key.to_string();
        self.run(move |c| Ok(c.execute("DELETE FROM entries WHERE key = ?1", params![key])? > 0))
    }

    fn delete_prefix<'a>(&'a self, prefix: &'a str) -> StateFuture<'a, u64> {
        let pat = prefix.to_string();
        self.run(move |c| {
            Ok(c.execute(
                "DELETE FROM entries WHERE substr(key, 1, length(?1)) = ?1",
                params![pat],
            )? as u64)
        })
    }

    fn delete_tag<'a>(&'a self, tag: &'a str) -> StateFuture<'a, u64> {
        let tag = tag.to_string();
        self.run(move |c| {
            Ok(c.execute(
                "DELETE FROM entries WHERE key IN (SELECT key FROM tags WHERE tag = ?1)",
                params![tag],
            )? as u64)
        })
    }

    fn stats<'a>(&'a self, prefix: &'a str, tag_prefix: &'a str) -> StateFuture<'a, Stats> {
        let pat = prefix.to_string();
        let tag_pat = tag_prefix.to_string();
        self.run(move |c| {
            let now = now_ms() as i64;
            let (entries, bytes): (i64, i64) = c.query_row(
                "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM entries WHERE substr(key, 1, length(?1)) = ?1 AND expires_ms > ?2",
                params![pat, now],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let mut s = Stats {
                entries: entries as u64,
                bytes: bytes as u64,
                ..Stats::default()
            };
            let mut q = c.prepare(
                "SELECT t.tag, COUNT(*), SUM(e.bytes) FROM tags t JOIN entries e ON e.key = t.key
                 WHERE substr(e.key, 1, length(?1)) = ?1 AND e.expires_ms > ?2 AND substr(t.tag, 1, length(?3)) = ?3
                 GROUP BY t.tag",
            )?;
            let rows = q.query_map(params![pat, now, tag_pat], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
            })?;
            for row in rows {
                let (t, n, b) = row?;
                s.by_tag.insert(t, (n as u64, b as u64));
            }
            Ok(s)
        })
    }

    fn describe(&self) -> String {
        format!(
            "sqlite:{} (at most {} MiB)",
            self.path.display(),
            self.max_bytes >> 20
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn entries_survive_reopening_and_the_file_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.db");
        let h = Duration::from_secs(3600);
        {
            let s = SqliteStore::open(&p, 1 << 20).unwrap();
            s.put("cache/a", b"one".to_vec(), h, &["plugin:x".into()])
                .await
                .unwrap();
            s.put("cache/b", b"two".to_vec(), h, &["plugin:y".into()])
                .await
                .unwrap();
        }
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let s = SqliteStore::open(&p, 1 << 20).unwrap();
        assert_eq!(s.get("cache/a").await.unwrap().unwrap().value, b"one");
        let st = s.stats("cache/", "plugin:").await.unwrap();
        assert_eq!(st.entries, 2);
        assert_eq!(st.by_tag.len(), 2);
        assert_eq!(s.delete_tag("plugin:x").await.unwrap(), 1);
        assert!(s.get("cache/a").await.unwrap().is_none());
        assert_eq!(s.delete_prefix("cache/").await.unwrap(), 1);
        assert_eq!(s.stats("cache/", "").await.unwrap(), Stats::default());
    }

    #[tokio::test]
    async fn bounded_by_bytes_least_recently_used_out_and_ttl() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("s.db"), 8 * 1024).unwrap();
        let h = Duration::from_secs(3600);
        for i in 0..100 {
            s.put(&format!("k{i}"), vec![0; 500], h, &[]).await.unwrap();
        }
        let st = s.stats("", "").await.unwrap();
        assert!(st.bytes <= 8 * 1024 && st.entries < 100, "{st:?}");
        assert!(s.get("k0").await.unwrap().is_none());
        assert!(s.get("k99").await.unwrap().is_some());
        s.put("short", vec![1], Duration::from_millis(20), &[])
            .await
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert!(s.get("short").await.unwrap().is_none());
    }

    #[test]
    fn a_missing_directory_is_a_clear_error() {
        let e = SqliteStore::open(Path::new("/nonexistent-dir/x.db"), 1 << 20)
            .err()
            .unwrap();
        assert!(e.0.contains("does not exist"), "{e}");
    }
}
