//! The storage trait every piece of cmk state goes through.
//!
//! The trait is deliberately narrow: an ordered map from ASCII keys to opaque bytes, with optimistic
//! concurrency (every write may state what it expects to find) and atomic multi-key commits. Domain crates
//! define their own record types and key layouts on top of it, so a new feature never needs a new backend
//! method, and both backends (SQLite and PostgreSQL) grow together by construction.
//!
//! # Contract
//! - Keys are 1..=512 bytes of printable ASCII (`0x21..=0x7e`); anything else is [`StoreError::InvalidKey`].
//! - Listing is by byte order of keys, within one prefix, after an optional exclusive start key. The prefix may
//!   be empty (everything); otherwise it and the start key follow the key rules, or the call is refused with
//!   [`StoreError::InvalidKey`].
//! - Every successful [`Store::commit`] gets a revision that is strictly greater than every revision the
//!   store handed out before; all entries written by that commit carry it. Commits become visible in revision
//!   order: once a reader has seen revision N, no commit with a revision of N or less appears later, so
//!   "everything after revision N" is a sound way to follow changes. Revisions start at 1 and may have gaps.
//! - One [`Store::get`] or [`Store::list`] call never shows half a commit; several list calls (pages) are not
//!   one snapshot.
//! - An empty value is a value, not an absent key.
//! - A commit is all-or-nothing: if any [`Expect`] fails, nothing is written and [`StoreError::Conflict`]
//!   names the first key whose expectation failed.
//! - Once `commit` returns `Ok`, the write survives a crash of the process (durable commit).
//! - Every commit's revision is one more than the previous commit's (revisions are dense), and the store keeps a
//!   change feed: [`Store::changes_after`] lists the keys each commit wrote or deleted, by revision, so that a
//!   reader that has seen revision N learns everything committed after it, in order, from any process sharing
//!   the store. The feed forgets old changes only when asked ([`Store::forget_changes_before`]); a reader that
//!   asks for forgotten changes is told so ([`Changes::Forgotten`]) and must assume that anything changed.
#![forbid(unsafe_code)]

mod cache;
pub mod conformance;
pub mod feed;
pub mod records;

pub use cache::{CacheStats, CachingStore};

use async_trait::async_trait;

/// The longest key a backend must accept.
pub const MAX_KEY_LEN: usize = 512;

/// One stored entry.
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub revision: u64,
    pub value: Vec<u8>,
}

impl std::fmt::Debug for Entry {
    // Values may hold sealed secrets; their bytes add nothing to a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("key", &self.key)
            .field("revision", &self.revision)
            .field("value_len", &self.value.len())
            .finish()
    }
}

/// What a write expects to find under its key before it applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Write unconditionally.
    Any,
    /// The key must not exist (create).
    Absent,
    /// The key must exist with exactly this revision (compare-and-swap).
    Revision(u64),
}

/// One write inside an atomic commit.
#[derive(Clone, PartialEq, Eq)]
pub enum Write {
    Put {
        key: String,
        value: Vec<u8>,
        expect: Expect,
    },
    /// Deleting a missing key with [`Expect::Any`] succeeds; with [`Expect::Revision`] it is a conflict.
    /// [`Expect::Absent`] makes no sense for a delete and is refused as [`StoreError::InvalidWrite`].
    Delete { key: String, expect: Expect },
}

impl Write {
    pub fn key(&self) -> &str {
        match self {
            Write::Put { key, .. } | Write::Delete { key, .. } => key,
        }
    }

    pub fn create(key: impl Into<String>, value: Vec<u8>) -> Self {
        Write::Put {
            key: key.into(),
            value,
            expect: Expect::Absent,
        }
    }

    pub fn replace(key: impl Into<String>, value: Vec<u8>, revision: u64) -> Self {
        Write::Put {
            key: key.into(),
            value,
            expect: Expect::Revision(revision),
        }
    }

    pub fn upsert(key: impl Into<String>, value: Vec<u8>) -> Self {
        Write::Put {
            key: key.into(),
            value,
            expect: Expect::Any,
        }
    }
}

impl std::fmt::Debug for Write {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Write::Put { key, value, expect } => f
                .debug_struct("Put")
                .field("key", key)
                .field("value_len", &value.len())
                .field("expect", expect)
                .finish(),
            Write::Delete { key, expect } => f
                .debug_struct("Delete")
                .field("key", key)
                .field("expect", expect)
                .finish(),
        }
    }
}

/// Errors of the storage layer. Backends map their driver errors into these; nothing above the store sees SQL.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An expectation of a write did not hold; nothing was written.
    #[error("conflicting write on key '{key}'")]
    Conflict { key: String },
    #[error("invalid store key: {0}")]
    InvalidKey(String),
    #[error("invalid write: {0}")]
    InvalidWrite(String),
    /// The backend failed (I/O, connection, corruption). The message never contains stored values.
    #[error("storage backend error: {0}")]
    Backend(String),
    /// The backend could not do it in time (a lock held elsewhere, an exhausted connection pool, a statement
    /// timeout); nothing was written, and trying again later may succeed.
    #[error("storage is busy: {0}")]
    Unavailable(String),
    /// A stored record does not decode as the type its key holds.
    #[error("stored record '{key}' is corrupt")]
    Corrupt { key: String },
}

/// Validates a key against the contract in the crate docs.
pub fn validate_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(StoreError::InvalidKey(format!(
            "length {} is outside 1..={MAX_KEY_LEN}",
            key.len()
        )));
    }
    if let Some(bad) = key.bytes().find(|b| !(0x21..=0x7e).contains(b)) {
        return Err(StoreError::InvalidKey(format!(
            "byte 0x{bad:02x} is not printable ASCII"
        )));
    }
    Ok(())
}

/// Validates a whole batch before a backend touches its storage.
pub fn validate_writes(writes: &[Write]) -> Result<(), StoreError> {
    if writes.is_empty() {
        return Err(StoreError::InvalidWrite("a commit needs at least one write".into()));
    }
    for (i, write) in writes.iter().enumerate() {
        validate_key(write.key())?;
        if let Write::Delete {
            expect: Expect::Absent,
            key,
        } = write
        {
            return Err(StoreError::InvalidWrite(format!(
                "delete of '{key}' cannot expect the key to be absent"
            )));
        }
        if writes[..i].iter().any(|w| w.key() == write.key()) {
            return Err(StoreError::InvalidWrite(format!(
                "key '{}' appears twice in one commit",
                write.key()
            )));
        }
    }
    Ok(())
}

/// Validates the arguments of [`Store::list`]: an empty prefix lists everything, any other prefix and the start
/// key must be valid keys. Checking the prefix also keeps [`prefix_upper_bound`] within printable ASCII.
pub fn validate_list(prefix: &str, start_after: Option<&str>) -> Result<(), StoreError> {
    if !prefix.is_empty() {
        validate_key(prefix)?;
    }
    if let Some(start) = start_after {
        validate_key(start)?;
    }
    Ok(())
}

/// The exclusive upper bound of all keys that start with `prefix`, or `None` when there is none (empty
/// prefix). Keys are printable ASCII, so incrementing the last byte stays within one byte.
pub fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut bytes = prefix.as_bytes().to_vec();
    let last = bytes.pop()?;
    bytes.push(last + 1);
    String::from_utf8(bytes).ok()
}

/// One key that a commit wrote or deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub revision: u64,
    pub key: String,
}

/// What [`Store::changes_after`] can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changes {
    /// The changes of the commits after the revision asked, in revision order; each commit whole.
    Listed(Vec<Change>),
    /// The store no longer keeps changes that far back: everything may have changed since.
    Forgotten,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The entry under `key`, if any.
    async fn get(&self, key: &str) -> Result<Option<Entry>, StoreError>;

    /// Up to `limit` entries whose keys start with `prefix` and sort strictly after `start_after`, in byte
    /// order of keys.
    async fn list(&self, prefix: &str, start_after: Option<&str>, limit: usize) -> Result<Vec<Entry>, StoreError>;

    /// Applies all writes atomically and durably, and returns the revision they were stored under.
    async fn commit(&self, writes: Vec<Write>) -> Result<u64, StoreError>;

    /// The changes of the commits with revisions after `revision`, up to `commits` of them.
    async fn changes_after(&self, revision: u64, commits: usize) -> Result<Changes, StoreError>;

    /// The revision of the last commit (0 before the first).
    async fn latest_revision(&self) -> Result<u64, StoreError>;

    /// Forgets the changes of commits made more than `age` ago (by the committer's clock).
    async fn forget_changes_before(&self, age: std::time::Duration) -> Result<(), StoreError>;

    /// A prompt wake-up when another process may have committed (PostgreSQL's `NOTIFY`), carrying the revision
    /// announced. `None` when no other process writes the store; readers of the feed then poll.
    fn commit_signal(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }

    /// A short name of the backend, for logs ("sqlite", "postgres").
    fn backend_name(&self) -> &'static str;
}

/// Milliseconds since the Unix epoch, for the commit times the change feed keeps.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
