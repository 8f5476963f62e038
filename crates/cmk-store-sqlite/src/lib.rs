//! The embedded backend of [`cmk_store::Store`]: one SQLite file.
//!
//! # Durability and concurrency
//! - WAL journal with `synchronous = FULL`: `commit` returns only after the WAL is synced, so an acknowledged
//!   commit survives `kill -9` and power loss. [`SqliteStore::open`] checks both settings took effect.
//! - Exactly one writer connection. SQLite allows one writer at a time anyway; queueing in our pool instead of
//!   in SQLite's busy handler keeps writers fair and avoids `SQLITE_BUSY` inside a transaction.
//! - Readers use a separate small pool of read-only connections, so reads never wait for a commit's fsync.
//! - The revision is a one-row counter bumped inside the write transaction, so it follows commit order.
#![forbid(unsafe_code)]

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use cmk_store::{
    Change, Changes, Entry, Expect, Store, StoreError, Write, prefix_upper_bound, validate_key, validate_list,
    validate_writes,
};
use sqlx::Row;
use sqlx::sqlite::SqliteConnection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};

/// How long a connection waits for a lock held by another process before the operation fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Readers are cheap in WAL mode; a few cover concurrent requests on a small machine.
const MAX_READERS: u32 = 4;
/// Greater than every valid key: keys are printable ASCII, which ends at 0x7e.
const ABOVE_ALL_KEYS: &str = "\u{7f}";

/// A [`Store`] in one SQLite database file.
pub struct SqliteStore {
    writer: SqlitePool,
    readers: SqlitePool,
}

impl SqliteStore {
    /// Opens the database at `path`, creating the file (mode 0600 on unix) if it is missing, and brings its
    /// schema up to date. The parent directory must exist.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        restrict_file(path)?;
        let base = SqliteConnectOptions::new()
            .filename(path)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);

        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            // The one connection is kept open: closing it would make the next commit reopen the file.
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(
                base.clone()
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full),
            )
            .await
            .map_err(|e| backend("opening the database for writing", &e))?;
        check_durability(&writer).await?;
        sqlx::migrate!("./migrations")
            .run(&writer)
            .await
            .map_err(|e| StoreError::Backend(format!("migrating the database: {e}")))?;

        // Opened only now: a read-only connection cannot switch the file to WAL, the writer has done it.
        let readers = SqlitePoolOptions::new()
            .max_connections(MAX_READERS)
            .connect_with(base.read_only(true))
            .await
            .map_err(|e| backend("opening the database for reading", &e))?;
        Ok(SqliteStore { writer, readers })
    }

    /// Closes both pools, waiting for their connections to finish. Dropping the store also closes them, but
    /// without waiting.
    pub async fn close(&self) {
        self.readers.close().await;
        self.writer.close().await;
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn get(&self, key: &str) -> Result<Option<Entry>, StoreError> {
        validate_key(key)?;
        let row = sqlx::query("SELECT key, revision, value FROM entries WHERE key = ?1")
            .bind(key)
            .fetch_optional(&self.readers)
            .await
            .map_err(|e| backend("reading an entry", &e))?;
        row.map(|row| entry_from_row(&row)).transpose()
    }

    async fn list(&self, prefix: &str, start_after: Option<&str>, limit: usize) -> Result<Vec<Entry>, StoreError> {
        validate_list(prefix, start_after)?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let upper = prefix_upper_bound(prefix).unwrap_or_else(|| ABOVE_ALL_KEYS.to_owned());
        // Every key sorts after the empty string, so "no start key" needs no second query shape.
        let after = start_after.unwrap_or("");
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = sqlx::query(
            "SELECT key, revision, value FROM entries \
             WHERE key >= ?1 AND key < ?2 AND key > ?3 ORDER BY key LIMIT ?4",
        )
        .bind(prefix)
        .bind(upper)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.readers)
        .await
        .map_err(|e| backend("listing entries", &e))?;
        rows.iter().map(entry_from_row).collect()
    }

    async fn commit(&self, writes: Vec<Write>) -> Result<u64, StoreError> {
        validate_writes(&writes)?;
        // IMMEDIATE takes the write lock up front, so another process's writer makes us wait in the busy
        // handler instead of failing halfway through the transaction.
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| backend("starting a transaction", &e))?;
        let revision: i64 =
            sqlx::query_scalar("UPDATE store_revision SET revision = revision + 1 WHERE id = 1 RETURNING revision")
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| backend("advancing the revision", &e))?;
        for write in &writes {
            apply(&mut tx, write, revision).await?;
        }
        let now = cmk_store::now_millis();
        for write in &writes {
            sqlx::query("INSERT INTO changes (revision, key, committed_at) VALUES (?1, ?2, ?3)")
                .bind(revision)
                .bind(write.key())
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(|e| backend("recording a change", &e))?;
        }
        tx.commit().await.map_err(|e| backend("committing", &e))?;
        to_revision(revision)
    }

    async fn changes_after(&self, revision: u64, commits: usize) -> Result<Changes, StoreError> {
        let after = i64::try_from(revision).unwrap_or(i64::MAX);
        let through = after.saturating_add(i64::try_from(commits).unwrap_or(i64::MAX));
        let rows = sqlx::query(
            "SELECT revision, key FROM changes WHERE revision > ?1 AND revision <= ?2 ORDER BY revision, key",
        )
        .bind(after)
        .bind(through)
        .fetch_all(&self.readers)
        .await
        .map_err(|e| backend("reading changes", &e))?;
        // Checked after the read: a forgetting that committed before it shows here, one after it removed nothing
        // the read returned.
        let forgotten: i64 = sqlx::query_scalar("SELECT forgotten_through FROM store_revision WHERE id = 1")
            .fetch_one(&self.readers)
            .await
            .map_err(|e| backend("reading the change feed's start", &e))?;
        if after < forgotten {
            return Ok(Changes::Forgotten);
        }
        rows.iter()
            .map(|row| {
                let revision: i64 = row.try_get("revision").map_err(|e| backend("decoding a change", &e))?;
                Ok(Change {
                    revision: to_revision(revision)?,
                    key: row.try_get("key").map_err(|e| backend("decoding a change", &e))?,
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Changes::Listed)
    }

    async fn latest_revision(&self) -> Result<u64, StoreError> {
        let revision: i64 = sqlx::query_scalar("SELECT revision FROM store_revision WHERE id = 1")
            .fetch_one(&self.readers)
            .await
            .map_err(|e| backend("reading the revision", &e))?;
        to_revision(revision)
    }

    async fn forget_changes_before(&self, age: Duration) -> Result<(), StoreError> {
        let cutoff = cmk_store::now_millis().saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX));
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| backend("starting a transaction", &e))?;
        let through: Option<i64> = sqlx::query_scalar("SELECT max(revision) FROM changes WHERE committed_at < ?1")
            .bind(cutoff)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| backend("finding old changes", &e))?;
        if let Some(through) = through {
            sqlx::query("UPDATE store_revision SET forgotten_through = max(forgotten_through, ?1) WHERE id = 1")
                .bind(through)
                .execute(&mut *tx)
                .await
                .map_err(|e| backend("forgetting changes", &e))?;
            sqlx::query("DELETE FROM changes WHERE revision <= ?1")
                .bind(through)
                .execute(&mut *tx)
                .await
                .map_err(|e| backend("forgetting changes", &e))?;
        }
        tx.commit().await.map_err(|e| backend("committing", &e))
    }

    fn backend_name(&self) -> &'static str {
        "sqlite"
    }
}

/// Applies one write at `revision`, or returns the conflict that aborts the commit. Dropping the transaction
/// on the error path rolls it back, including the revision bump.
async fn apply(conn: &mut SqliteConnection, write: &Write, revision: i64) -> Result<(), StoreError> {
    let key = write.key();
    let affected = match write {
        Write::Put {
            value,
            expect: Expect::Any,
            ..
        } => sqlx::query(
            "INSERT INTO entries (key, revision, value) VALUES (?1, ?2, ?3) \
             ON CONFLICT (key) DO UPDATE SET revision = excluded.revision, value = excluded.value",
        )
        .bind(key)
        .bind(revision)
        .bind(value.as_slice())
        .execute(&mut *conn)
        .await
        .map_err(|e| backend("writing an entry", &e))?
        .rows_affected(),
        Write::Put {
            value,
            expect: Expect::Absent,
            ..
        } => sqlx::query(
            "INSERT INTO entries (key, revision, value) VALUES (?1, ?2, ?3) \
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(revision)
        .bind(value.as_slice())
        .execute(&mut *conn)
        .await
        .map_err(|e| backend("creating an entry", &e))?
        .rows_affected(),
        Write::Put {
            value,
            expect: Expect::Revision(expected),
            ..
        } => {
            // A revision beyond i64 was never handed out, so no entry can carry it.
            let Ok(expected) = i64::try_from(*expected) else {
                return Err(conflict(key));
            };
            sqlx::query("UPDATE entries SET revision = ?1, value = ?2 WHERE key = ?3 AND revision = ?4")
                .bind(revision)
                .bind(value.as_slice())
                .bind(key)
                .bind(expected)
                .execute(&mut *conn)
                .await
                .map_err(|e| backend("replacing an entry", &e))?
                .rows_affected()
        }
        Write::Delete {
            expect: Expect::Any, ..
        } => {
            sqlx::query("DELETE FROM entries WHERE key = ?1")
                .bind(key)
                .execute(&mut *conn)
                .await
                .map_err(|e| backend("deleting an entry", &e))?;
            return Ok(());
        }
        Write::Delete {
            expect: Expect::Revision(expected),
            ..
        } => {
            let Ok(expected) = i64::try_from(*expected) else {
                return Err(conflict(key));
            };
            sqlx::query("DELETE FROM entries WHERE key = ?1 AND revision = ?2")
                .bind(key)
                .bind(expected)
                .execute(&mut *conn)
                .await
                .map_err(|e| backend("deleting an entry", &e))?
                .rows_affected()
        }
        Write::Delete {
            expect: Expect::Absent, ..
        } => {
            // validate_writes refuses this before the transaction starts; kept as a refusal, not a panic.
            return Err(StoreError::InvalidWrite(format!(
                "delete of '{key}' cannot expect the key to be absent"
            )));
        }
    };
    if affected == 1 { Ok(()) } else { Err(conflict(key)) }
}

fn conflict(key: &str) -> StoreError {
    StoreError::Conflict { key: key.to_owned() }
}

fn entry_from_row(row: &SqliteRow) -> Result<Entry, StoreError> {
    let key: String = row.try_get("key").map_err(|e| backend("decoding a key", &e))?;
    let revision: i64 = row
        .try_get("revision")
        .map_err(|e| backend("decoding a revision", &e))?;
    let value: Vec<u8> = row.try_get("value").map_err(|e| backend("decoding a value", &e))?;
    Ok(Entry {
        key,
        revision: to_revision(revision)?,
        value,
    })
}

fn to_revision(revision: i64) -> Result<u64, StoreError> {
    u64::try_from(revision).map_err(|_| StoreError::Backend(format!("stored revision {revision} is negative")))
}

/// Maps a driver error. SQLite's messages name tables and constraints, never bound values, so they are safe to
/// pass on; the context says what the store was doing.
fn backend(context: &str, err: &sqlx::Error) -> StoreError {
    StoreError::Backend(format!("{context}: {err}"))
}

/// Refuses to run without the settings that make commits durable, in case a build of SQLite or a file on an
/// unusual file system silently ignores them.
async fn check_durability(writer: &SqlitePool) -> Result<(), StoreError> {
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(writer)
        .await
        .map_err(|e| backend("reading the journal mode", &e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Backend(format!(
            "the database is in journal mode '{mode}', not WAL"
        )));
    }
    let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(writer)
        .await
        .map_err(|e| backend("reading the synchronous setting", &e))?;
    // 2 is FULL, 3 is EXTRA; both sync the WAL on every commit.
    if synchronous < 2 {
        return Err(StoreError::Backend(format!("synchronous is {synchronous}, not FULL")));
    }
    Ok(())
}

/// Creates the database file readable by its owner only, or tightens an existing one. Stored values are sealed,
/// but keys and metadata are not, and the file is nobody else's business. SQLite gives its `-wal` and `-shm`
/// files the mode of the main file.
#[cfg(unix)]
fn restrict_file(path: &Path) -> Result<(), StoreError> {
    use std::fs::{OpenOptions, Permissions};
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| StoreError::Backend(format!("opening the database file: {e}")))?;
    file.set_permissions(Permissions::from_mode(0o600))
        .map_err(|e| StoreError::Backend(format!("restricting the database file to its owner: {e}")))
}

#[cfg(not(unix))]
fn restrict_file(_path: &Path) -> Result<(), StoreError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[tokio::test]
    async fn writer_runs_wal_with_full_sync() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("s.db")).await.unwrap();
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&store.writer)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&store.writer)
            .await
            .unwrap();
        assert_eq!(synchronous, 2, "FULL");
        let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&store.writer)
            .await
            .unwrap();
        assert_eq!(foreign_keys, 1);
        assert_eq!(store.writer.options().get_max_connections(), 1, "exactly one writer");
    }

    #[tokio::test]
    async fn readers_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("s.db")).await.unwrap();
        let result = sqlx::query("INSERT INTO entries (key, revision, value) VALUES ('k', 1, x'00')")
            .execute(&store.readers)
            .await;
        assert!(result.is_err(), "a read-only connection accepted a write");
    }
}
