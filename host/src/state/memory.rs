//! The in-memory [`Store`]: a map bounded by accounted bytes, least recently used out. State
//! lives and dies with the process.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use super::{StateError, StateFuture, Stats, Store, Stored, entry_bytes, expiry_ms, now_ms};

/// An in-memory store holding at most `max_bytes` accounted bytes.
pub struct MemoryStore {
    max_bytes: u64,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    /// Use order: tick → key; the first is the least recently used.
    order: BTreeMap<u64, String>,
    tick: u64,
    bytes: u64,
}

struct Entry {
    value: Vec<u8>,
    stored_ms: u64,
    expires_ms: u64,
    tags: Vec<String>,
    tick: u64,
    bytes: u64,
}

impl Inner {
    fn remove(&mut self, key: &str) -> bool {
        match self.entries.remove(key) {
            Some(e) => {
                self.order.remove(&e.tick);
                self.bytes -= e.bytes;
                true
            }
            None => false,
        }
    }

    fn remove_where(&mut self, pred: impl Fn(&str, &Entry) -> bool) -> u64 {
        let doomed: Vec<String> = self
            .entries
            .iter()
            .filter(|(k, e)| pred(k, e))
            .map(|(k, _)| k.clone())
            .collect();
        for k in &doomed {
            self.remove(k);
        }
        doomed.len() as u64
    }

    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }
}

impl MemoryStore {
    /// A store bounded by `max_bytes`.
    pub fn new(max_bytes: u64) -> MemoryStore {
        MemoryStore {
            max_bytes,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Accounted bytes held now (never more than the bound).
    pub fn bytes(&self) -> u64 {
        self.lock().bytes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the map consistent (every mutation below is
        // completed before anything can panic), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get_now(&self, key: &str) -> Option<Stored> {
        let now = now_ms();
        let mut g = self.lock();
        let (expired, old_tick) = match g.entries.get(key) {
            None => return None,
            Some(e) => (e.expires_ms <= now, e.tick),
        };
        if expired {
            g.remove(key);
            return None;
        }
        let tick = g.next_tick();
        g.order.remove(&old_tick);
        g.order.insert(tick, key.to_string());
        let e = g.entries.get_mut(key)?;
        e.tick = tick;
        Some(Stored {
            value: e.value.clone(),
            age: Duration::from_millis(now.saturating_sub(e.stored_ms)),
        })
    }

    fn put_now(&self, key: &str, value: Vec<u8>, ttl: Duration, tags: &[String]) {
        let bytes = entry_bytes(key, &value, tags);
        let mut g = self.lock();
        g.remove(key);
        if bytes > self.max_bytes || ttl.is_zero() {
            return;
        }
        let now = now_ms();
        // Expired entries go first, then the least recently used, until the new one fits.
        if g.bytes + bytes > self.max_bytes {
            g.remove_where(|_, e| e.expires_ms <= now);
        }
        while g.bytes + bytes > self.max_bytes {
            let Some((_, oldest)) = g.order.pop_first() else {
                break;
            };
            if let Some(e) = g.entries.remove(&oldest) {
                g.bytes -= e.bytes;
            }
        }
        let tick = g.next_tick();
        g.order.insert(tick, key.to_string());
        g.bytes += bytes;
        g.entries.insert(
            key.to_string(),
            Entry {
                value,
                stored_ms: now,
                expires_ms: expiry_ms(now, ttl),
                tags: tags.to_vec(),
                tick,
                bytes,
            },
        );
    }

    fn stats_now(&self, prefix: &str, tag_prefix: &str) -> Stats {
        let now = now_ms();
        let g = self.lock();
        let mut s = Stats::default();
        for (k, e) in &g.entries {
            if !k.starts_with(prefix) || e.expires_ms <= now {
                continue;
            }
            s.entries += 1;
            s.bytes += e.bytes;
            for t in e.tags.iter().filter(|t| t.starts_with(tag_prefix)) {
                let slot = s.by_tag.entry(t.clone()).or_default();
                slot.0 += 1;
                slot.1 += e.bytes;
            }
        }
        s
    }
}

fn ready<'a, T: Send + 'a>(v: T) -> StateFuture<'a, T> {
    Box::pin(std::future::ready(Ok::<T, StateError>(v)))
}

impl Store for MemoryStore {
    fn get<'a>(&'a self, key: &'a str) -> StateFuture<'a, Option<Stored>> {
        ready(self.get_now(key))
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
        tags: &'a [String],
    ) -> StateFuture<'a, ()> {
        self.put_now(key, value, ttl, tags);
        ready(())
    }

    fn delete<'a>(&'a self, key: &'a str) -> StateFuture<'a, bool> {
        ready(self.lock().remove(key))
    }

    fn delete_prefix<'a>(&'a self, prefix: &'a str) -> StateFuture<'a, u64> {
        ready(self.lock().remove_where(|k, _| k.starts_with(prefix)))
    }

    fn delete_tag<'a>(&'a self, tag: &'a str) -> StateFuture<'a, u64> {
        ready(
            self.lock()
                .remove_where(|_, e| e.tags.iter().any(|t| t == tag)),
        )
    }

    fn stats<'a>(&'a self, prefix: &'a str, tag_prefix: &'a str) -> StateFuture<'a, Stats> {
        ready(self.stats_now(prefix, tag_prefix))
    }

    fn describe(&self) -> String {
        format!("memory (at most {} MiB)", self.max_bytes >> 20)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn many_entries_under_a_small_bound_evict_the_oldest_and_stay_under_it() {
        let bound = 64 * 1024;
        let s = MemoryStore::new(bound);
        let hour = Duration::from_secs(3600);
        for i in 0..2000 {
            s.put(
                &format!("cache/{i}"),
                vec![b'x'; 500],
                hour,
                &tags(&["plugin:p"]),
            )
            .await
            .unwrap();
            assert!(s.bytes() <= bound, "{} bytes after {i} puts", s.bytes());
        }
        // The first entries were evicted, the last ones are still there.
        assert!(s.get("cache/0").await.unwrap().is_none());
        assert!(s.get("cache/1999").await.unwrap().is_some());
        let st = s.stats("cache/", "plugin:").await.unwrap();
        assert!(st.entries > 50 && st.entries < 2000, "{st:?}");
        assert!(st.bytes <= bound);
        assert_eq!(st.by_tag["plugin:p"], (st.entries, st.bytes));
    }

    #[tokio::test]
    async fn a_read_keeps_an_entry_from_eviction() {
        let s = MemoryStore::new(10 * 600);
        let hour = Duration::from_secs(3600);
        for i in 0..10 {
            s.put(&format!("k{i}"), vec![0; 500], hour, &[])
                .await
                .unwrap();
        }
        s.get("k0").await.unwrap().unwrap();
        s.put("new", vec![0; 500], hour, &[]).await.unwrap();
        assert!(
            s.get("k0").await.unwrap().is_some(),
            "recently read entry kept"
        );
        assert!(
            s.get("k1").await.unwrap().is_none(),
            "least recently used evicted"
        );
    }

    #[tokio::test]
    async fn oversized_values_are_not_kept_and_ttl_expires() {
        let s = MemoryStore::new(1000);
        s.put("big", vec![0; 2000], Duration::from_secs(60), &[])
            .await
            .unwrap();
        assert!(s.get("big").await.unwrap().is_none());
        assert_eq!(s.bytes(), 0);
        s.put("short", vec![1], Duration::from_millis(30), &[])
            .await
            .unwrap();
        assert!(s.get("short").await.unwrap().is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert!(s.get("short").await.unwrap().is_none());
        assert_eq!(s.bytes(), 0);
    }

    #[tokio::test]
    async fn delete_by_key_prefix_and_tag() {
        let s = MemoryStore::new(1 << 20);
        let h = Duration::from_secs(60);
        s.put("cache/a", vec![1], h, &tags(&["plugin:a", "scope:Hosts"]))
            .await
            .unwrap();
        s.put("cache/b", vec![2], h, &tags(&["plugin:b", "scope:Hosts"]))
            .await
            .unwrap();
        s.put("cache/c", vec![3], h, &tags(&["plugin:b"]))
            .await
            .unwrap();
        s.put("other/d", vec![4], h, &[]).await.unwrap();
        assert_eq!(s.delete_tag("scope:Hosts").await.unwrap(), 2);
        assert!(s.get("cache/c").await.unwrap().is_some());
        assert_eq!(s.delete_prefix("cache/").await.unwrap(), 1);
        assert!(s.delete("other/d").await.unwrap());
        assert!(!s.delete("other/d").await.unwrap());
        assert_eq!(s.bytes(), 0);
    }
}
