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

struct State {
    /// `None` caches a missing key.
    entries: HashMap<String, Option<Entry>>,
    /// Bumped by every commit, successful or not, and by every invalidation.
    commits: u64,
    /// Shared stores: the cache may serve until then. `None`: no other process writes, it always may.
    fresh_until: Option<std::time::Instant>,
    /// Revisions of the recent commits of this process, which the feed need not report back to it.
    own: std::collections::VecDeque<u64>,
}

/// How many of its own recent revisions a cache remembers.
const OWN_REVISIONS: usize = 4096;

pub struct CachingStore<S> {
    inner: S,
    state: Mutex<State>,
    /// Keys under these prefixes pass straight through: bulk data (content chunks) would only evict the
    /// small hot records, and must not stay in memory.
    uncached_prefixes: Vec<String>,
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
                commits: 0,
                fresh_until: None,
                own: std::collections::VecDeque::new(),
            }),
            uncached_prefixes: Vec::new(),
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
            let current = matches!(state.entries.get(key), Some(Some(entry)) if entry.revision >= revision);
            if !current {
                state.entries.remove(key);
            }
        }
    }

    /// Forgets everything (the feed lost track: the store forgot the changes it would have needed).
    pub fn clear(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.commits += 1;
            state.entries.clear();
        }
    }

    /// Whether this process made the commit of `revision` (recently).
    pub fn is_own(&self, revision: u64) -> bool {
        self.state.lock().is_ok_and(|state| state.own.contains(&revision))
    }

    /// Never caches keys that start with `prefix`.
    pub fn without_caching(mut self, prefix: impl Into<String>) -> Self {
        self.uncached_prefixes.push(prefix.into());
        self
    }

    fn cacheable(&self, key: &str) -> bool {
        !self.uncached_prefixes.iter().any(|p| key.starts_with(p.as_str()))
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
        if !self.cacheable(key) {
            return self.inner.get(key).await;
        }
        let commits_before = {
            let state = self.lock()?;
            let stale = state.fresh_until.is_some_and(|until| std::time::Instant::now() > until);
            match state.entries.get(key) {
                Some(cached) if !stale => {
                    self.hits.fetch_add(1, Ordering::Relaxed);
                    return Ok(cached.clone());
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
            if state.entries.len() >= MAX_ENTRIES {
                state.entries.clear();
            }
            state.entries.insert(key.to_owned(), found.clone());
        }
        Ok(found)
    }

    async fn list(&self, prefix: &str, start_after: Option<&str>, limit: usize) -> Result<Vec<Entry>, StoreError> {
        self.inner.list(prefix, start_after, limit).await
    }

    async fn commit(&self, writes: Vec<Write>) -> Result<u64, StoreError> {
        let keys: Vec<String> = writes
            .iter()
            .map(|w| w.key().to_owned())
            .filter(|k| self.cacheable(k))
            .collect();
        let updates: Vec<(String, Option<Entry>)> = writes
            .iter()
            .filter(|w| self.cacheable(w.key()))
            .map(|w| match w {
                Write::Put { key, value, .. } => (
                    key.clone(),
                    Some(Entry {
                        key: key.clone(),
                        revision: 0,
                        value: value.clone(),
                    }),
                ),
                Write::Delete { key, .. } => (key.clone(), None),
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
                if state.fresh_until.is_some() {
                    // Shared: another process may have committed a later revision of these keys, and the feed may
                    // already have reported it; what this commit wrote is read back on the next get.
                    for (key, _) in updates {
                        state.entries.remove(&key);
                    }
                    return result;
                }
                for (key, entry) in updates {
                    let entry = entry.map(|e| Entry {
                        revision: *revision,
                        ..e
                    });
                    state.entries.insert(key, entry);
                }
            }
            // The outcome is unknown to the cache (a conflict wrote nothing, an I/O error may have): forget.
            Err(_) => {
                for key in keys {
                    state.entries.remove(&key);
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
