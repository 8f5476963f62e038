//! A read-through cache in front of a store, for a store that only this process writes (the embedded SQLite
//! store of one node).
//!
//! Hot paths (every vault data-plane call reads the vault and the key) then cost no database round trip. Every
//! commit goes to the backend first and updates the cache only after it succeeded, so a cached value is
//! always one that was durably stored. A read that raced with a commit is not cached (a commit counter tells),
//! so the cache never goes back to an older value. Nodes that share a database must not use it: they cannot see
//! each other's commits.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::{Entry, Store, StoreError, Write};

/// Entries kept at most; past that the cache starts over (cheaper than bookkeeping for an LRU).
const MAX_ENTRIES: usize = 100_000;

struct State {
    /// `None` caches a missing key.
    entries: HashMap<String, Option<Entry>>,
    /// Bumped by every commit, successful or not.
    commits: u64,
}

pub struct CachingStore<S> {
    inner: S,
    state: Mutex<State>,
    /// Keys under these prefixes pass straight through: bulk data (content chunks) would only evict the
    /// small hot records, and must not stay in memory.
    uncached_prefixes: Vec<String>,
}

impl<S: Store> CachingStore<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            state: Mutex::new(State {
                entries: HashMap::new(),
                commits: 0,
            }),
            uncached_prefixes: Vec::new(),
        }
    }

    /// Never caches keys that start with `prefix`.
    pub fn without_caching(mut self, prefix: impl Into<String>) -> Self {
        self.uncached_prefixes.push(prefix.into());
        self
    }

    fn cacheable(&self, key: &str) -> bool {
        !self.uncached_prefixes.iter().any(|p| key.starts_with(p.as_str()))
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
            if let Some(cached) = state.entries.get(key) {
                return Ok(cached.clone());
            }
            state.commits
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

    fn backend_name(&self) -> &'static str {
        self.inner.backend_name()
    }
}
