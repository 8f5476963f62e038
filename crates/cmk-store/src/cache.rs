//! A read-through cache in front of a store.
//!
//! Hot paths (every vault data-plane call reads the vault and the key) then cost no database round trip. Every
//! commit goes to the backend first and updates the cache only after it succeeded, so a cached value is
//! always one that was durably stored. A read that raced with a commit or an invalidation is not cached (a
//! counter tells), so the cache never goes back to an older value.
//!
//! When other processes write the same store (nodes sharing PostgreSQL), the cache is a view of the change feed:
//! the [`crate::feed`] follower invalidates every key another process changed, and each time it has caught up it
//! marks the cache fresh for a short while ([`CachingStore::shared`]). If the follower falls behind (the database
//! unreachable, the follower stuck), the marks run out and reads go to the backend again, so what the cache
//! serves is never older than that bound.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use crate::{Entry, Store, StoreError, Write};

/// Entries kept at most; past that the cache starts over (cheaper than bookkeeping for an LRU).
const MAX_ENTRIES: usize = 100_000;

struct Cached {
    /// `None` caches a missing key.
    entry: Option<Entry>,
    /// What the entry counts against the bulk budget (0 outside the bulk prefixes).
    bulk_bytes: usize,
}

/// Keys under `prefix` hold bulk data (content chunks): only values of at most `max_entry` bytes are cached,
/// and at most `max_total` bytes of them together, so bulk reads neither evict the small hot records nor hold
/// much memory.
struct Bulk {
    prefix: String,
    max_entry: usize,
    max_total: usize,
}

impl Bulk {
    fn cost(key: &str, value: &[u8]) -> usize {
        key.len() + value.len()
    }

    fn admits(&self, key: &str, value: &[u8]) -> bool {
        Self::cost(key, value) <= self.max_entry
    }
}

struct State {
    entries: HashMap<String, Cached>,
    /// Value bytes cached under the bulk prefixes.
    bulk_bytes: usize,
    /// Bumped by every commit, successful or not, and by every invalidation.
    commits: u64,
    /// Shared stores: the cache may serve until then. `None`: no other process writes, it always may.
    fresh_until: Option<std::time::Instant>,
    /// Revisions of the recent commits of this process, which the feed need not report back to it.
    own: std::collections::VecDeque<u64>,
}

/// How many of its own recent revisions a cache remembers.
const OWN_REVISIONS: usize = 4096;

impl State {
    fn remove(&mut self, key: &str) {
        if let Some(cached) = self.entries.remove(key) {
            self.bulk_bytes -= cached.bulk_bytes;
        }
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.bulk_bytes = 0;
    }

    /// Keeps `entry` unless the bulk budget forbids: an oversized bulk value is not kept, and a bulk value
    /// that would overrun the budget first drops every bulk value (hot records stay).
    fn insert(&mut self, key: String, entry: Option<Entry>, bulk: Option<&Bulk>) {
        self.remove(&key);
        let bulk_bytes = match bulk {
            None => 0,
            Some(bulk) => {
                let bytes = Bulk::cost(&key, entry.as_ref().map_or(&[], |e| &e.value));
                if bytes > bulk.max_entry {
                    return;
                }
                if self.bulk_bytes + bytes > bulk.max_total {
                    self.entries.retain(|_, cached| cached.bulk_bytes == 0);
                    self.bulk_bytes = 0;
                }
                bytes
            }
        };
        if self.entries.len() >= MAX_ENTRIES {
            self.clear();
        }
        self.bulk_bytes += bulk_bytes;
        self.entries.insert(key, Cached { entry, bulk_bytes });
    }
}

pub struct CachingStore<S> {
    inner: S,
    state: Mutex<State>,
    bulk: Vec<Bulk>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// How often reads of cacheable keys were served from memory, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
}

impl<S: Store> CachingStore<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            state: Mutex::new(State {
                entries: HashMap::new(),
                bulk_bytes: 0,
                commits: 0,
                fresh_until: None,
                own: std::collections::VecDeque::new(),
            }),
            bulk: Vec::new(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// A cache in front of a store that other processes write too: it serves nothing until the change feed has
    /// caught up once, and then only while [`CachingStore::mark_fresh`] keeps it fresh.
    pub fn shared(self) -> Self {
        if let Ok(mut state) = self.state.lock() {
            state.fresh_until = Some(std::time::Instant::now());
        }
        self
    }

    /// The feed has seen every commit up to the moment `as_of`; the cache may serve until `as_of + bound`.
    pub fn mark_fresh(&self, as_of: std::time::Instant, bound: std::time::Duration) {
        if let Ok(mut state) = self.state.lock()
            && state.fresh_until.is_some()
        {
            state.fresh_until = Some(as_of + bound);
        }
    }

    /// Forgets what the cache holds of `key` unless it already holds revision `revision` or a later one.
    pub fn invalidate(&self, key: &str, revision: u64) {
        if let Ok(mut state) = self.state.lock() {
            state.commits += 1;
            let current = matches!(
                state.entries.get(key),
                Some(Cached { entry: Some(entry), .. }) if entry.revision >= revision
            );
            if !current {
                state.remove(key);
            }
        }
    }

    /// Forgets everything (the feed lost track: the store forgot the changes it would have needed).
    pub fn clear(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.commits += 1;
            state.clear();
        }
    }

    /// Whether this process made the commit of `revision` (recently).
    pub fn is_own(&self, revision: u64) -> bool {
        self.state.lock().is_ok_and(|state| state.own.contains(&revision))
    }

    /// Keys that start with `prefix` hold bulk data: of those, the cache keeps only values of at most
    /// `max_entry` bytes, and at most `max_total` bytes of them together.
    pub fn bounding_bulk(mut self, prefix: impl Into<String>, max_entry: usize, max_total: usize) -> Self {
        self.bulk.push(Bulk {
            prefix: prefix.into(),
            max_entry,
            max_total,
        });
        self
    }

    fn bulk_of(&self, key: &str) -> Option<&Bulk> {
        self.bulk.iter().find(|bulk| key.starts_with(bulk.prefix.as_str()))
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>, StoreError> {
        self.state
            .lock()
            .map_err(|_| StoreError::Backend("the store cache lock is poisoned".into()))
    }
}

#[async_trait]
impl<S: Store> Store for CachingStore<S> {
    async fn get(&self, key: &str) -> Result<Option<Entry>, StoreError> {
        let commits_before = {
            let state = self.lock()?;
            let stale = state.fresh_until.is_some_and(|until| std::time::Instant::now() > until);
            match state.entries.get(key) {
                Some(cached) if !stale => {
                    self.hits.fetch_add(1, Ordering::Relaxed);
                    return Ok(cached.entry.clone());
                }
                _ if stale => None,
                _ => Some(state.commits),
            }
        };
        self.misses.fetch_add(1, Ordering::Relaxed);
        // A shared cache the feed has not kept fresh serves nothing, and keeps nothing, until it is fresh again.
        let Some(commits_before) = commits_before else {
            return self.inner.get(key).await;
        };
        let found = self.inner.get(key).await?;
        let mut state = self.lock()?;
        if state.commits == commits_before {
            state.insert(key.to_owned(), found.clone(), self.bulk_of(key));
        }
        Ok(found)
    }

    async fn list(&self, prefix: &str, start_after: Option<&str>, limit: usize) -> Result<Vec<Entry>, StoreError> {
        self.inner.list(prefix, start_after, limit).await
    }

    async fn commit(&self, writes: Vec<Write>) -> Result<u64, StoreError> {
        let shared = self.lock()?.fresh_until.is_some();
        // What the cache keeps of each written key if the commit succeeds. `None`: forget it, and read it back on
        // the next get. A shared store forgets them all: another process may have committed a later revision of
        // these keys, and the feed may already have reported it. Values the cache would not keep are not copied.
        let after: Vec<(String, Option<Option<Entry>>)> = writes
            .iter()
            .map(|w| match w {
                Write::Put { key, value, .. } if !shared && self.bulk_of(key).is_none_or(|b| b.admits(key, value)) => {
                    let entry = Entry {
                        key: key.clone(),
                        revision: 0,
                        value: value.clone(),
                    };
                    (key.clone(), Some(Some(entry)))
                }
                Write::Delete { key, .. } if !shared => (key.clone(), Some(None)),
                _ => (w.key().to_owned(), None),
            })
            .collect();
        let result = self.inner.commit(writes).await;
        let mut state = self.lock()?;
        state.commits += 1;
        match &result {
            Ok(revision) => {
                if state.own.len() == OWN_REVISIONS {
                    state.own.pop_front();
                }
                state.own.push_back(*revision);
                for (key, kept) in after {
                    match kept {
                        Some(entry) => {
                            let entry = entry.map(|e| Entry {
                                revision: *revision,
                                ..e
                            });
                            state.insert(key.clone(), entry, self.bulk_of(&key));
                        }
                        None => state.remove(&key),
                    }
                }
            }
            // The outcome is unknown to the cache (a conflict wrote nothing, an I/O error may have): forget.
            Err(_) => {
                for (key, _) in after {
                    state.remove(&key);
                }
            }
        }
        result
    }

    async fn changes_after(&self, revision: u64, commits: usize) -> Result<crate::Changes, StoreError> {
        self.inner.changes_after(revision, commits).await
    }

    async fn latest_revision(&self) -> Result<u64, StoreError> {
        self.inner.latest_revision().await
    }

    async fn forget_changes_before(&self, age: std::time::Duration) -> Result<(), StoreError> {
        self.inner.forget_changes_before(age).await
    }

    fn commit_signal(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        self.inner.commit_signal()
    }

    fn backend_name(&self) -> &'static str {
        self.inner.backend_name()
    }
}
