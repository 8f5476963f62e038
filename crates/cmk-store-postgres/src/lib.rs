//! The shared backend of [`cmk_store::Store`]: PostgreSQL, for deployments where several cmk nodes use one
//! database.
//!
//! # How the contract is kept
//! - Every commit is one transaction. It first writes its keys, in key order, with expectations enforced by the
//!   statements themselves (`INSERT ... ON CONFLICT DO NOTHING`, `UPDATE ... WHERE revision = $n`) and their
//!   row counts, never by a read followed by a write: a writer of the same key waits on the key's row and then
//!   sees the committed state. Key order keeps two multi-key commits from deadlocking on each other's rows.
//! - Only then does it take the one ordering point, the row of `store_revision`: it bumps the counter, stamps
//!   its entries and change records with the new revision, announces it (`NOTIFY`) and commits, holding that row
//!   lock for those few statements only. The lock is released when the commit is visible, so the next commit's
//!   revision is taken after this one is visible: revisions are dense and become visible in order, and a reader
//!   of the change feed that has seen revision N can never later find a commit at N or below. (A sequence would
//!   hand out numbers in start order, and a number taken at the start would order commits by their start.)
//! - Every wait is bounded: a lock waited for longer than [`LOCK_TIMEOUT`] (a node frozen in a commit), a
//!   statement longer than [`STATEMENT_TIMEOUT`], a connection waited for longer than [`ACQUIRE_TIMEOUT`] fail
//!   with [`StoreError::Unavailable`], and PostgreSQL ends a session that sits in a transaction for longer than
//!   [`IDLE_IN_TRANSACTION_TIMEOUT`] (a frozen or vanished node), so its locks do not outlive it.
//! - Keys are `COLLATE "C"`, so listing is in byte order whatever the database's locale.
//! - A commit returns after PostgreSQL's commit returns; [`PostgresStore::connect`] refuses a server whose
//!   `synchronous_commit` is off, since that acknowledges commits before they are durable.
#![forbid(unsafe_code)]

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use cmk_store::{
    Change, Changes, Entry, Expect, Store, StoreError, Write, prefix_upper_bound, validate_key, validate_list,
    validate_writes,
};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Connection, Executor, Row};

/// Enough for concurrent requests of one node without crowding PostgreSQL's default of 100 connections when
/// a few nodes share it.
const MAX_CONNECTIONS: u32 = 10;
/// How long a request waits for a free connection before it fails rather than queueing forever.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a statement waits for a row lock another session holds.
pub const LOCK_TIMEOUT: Duration = Duration::from_millis(1000);
/// The longest any statement may run.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a session may sit idle inside a transaction before PostgreSQL ends it and releases its locks.
pub const IDLE_IN_TRANSACTION_TIMEOUT: Duration = Duration::from_millis(1500);
/// The channel commits are announced on.
const CHANNEL: &str = "cmk_commits";
/// Greater than every valid key: keys are printable ASCII, which ends at 0x7e.
const ABOVE_ALL_KEYS: &str = "\u{7f}";
/// PostgreSQL's `unique_violation`, `deadlock_detected`, `serialization_failure`.
const UNIQUE_VIOLATION: &str = "23505";
const DEADLOCK: &str = "40P01";
const SERIALIZATION: &str = "40001";
/// What PostgreSQL answers when a bounded wait ran out: `lock_not_available` (lock_timeout), `query_canceled`
/// (statement_timeout), `idle_in_transaction_session_timeout`, and the session ended by the server.
const TIMED_OUT: [&str; 5] = ["55P03", "57014", "25P03", "57P01", "57P05"];

/// A [`Store`] in a PostgreSQL database.
pub struct PostgresStore {
    pool: PgPool,
    /// The revision last announced by any writer, as `LISTEN` hears it.
    signal: tokio::sync::watch::Receiver<u64>,
    listener: tokio::task::JoinHandle<()>,
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (a `postgres://` URL), using the server's default schema, and brings
    /// the store's tables up to date. Fails at once if the server cannot be reached; retrying is the caller's
    /// choice.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = parse_url(url)?;
        let mut setup = setup_connection(&options).await?;
        close(setup_checks(&mut setup).await, setup).await?;
        Self::open(options).await
    }

    /// Like [`connect`](Self::connect), but keeps every table, including the migration history, in `schema`,
    /// which is created if missing. Several stores can then share one database without seeing each other, which
    /// is what the tests use for isolation. `schema` must be a lowercase SQL identifier (`[a-z_][a-z0-9_]*`, at
    /// most 63 bytes).
    pub async fn connect_in_schema(url: &str, schema: &str) -> Result<Self, StoreError> {
        validate_schema(schema)?;
        let options = parse_url(url)?;
        let mut setup = setup_connection(&options).await?;
        let prepared = async {
            setup_checks(&mut setup).await?;
            // The name was checked to be a plain identifier above, so quoting it makes it inert.
            setup
                .execute(AssertSqlSafe(format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"")))
                .await
                .map_err(|e| backend("creating the schema", &e))?;
            Ok(())
        }
        .await;
        close(prepared, setup).await?;
        // A startup option rather than a SET after connecting: it holds for every pooled connection, including
        // those the pool opens later and the one the migrator uses.
        Self::open(options.options([("search_path", schema)])).await
    }

    async fn open(options: PgConnectOptions) -> Result<Self, StoreError> {
        let millis = |d: Duration| d.as_millis().to_string();
        let options = options.options([
            ("lock_timeout", millis(LOCK_TIMEOUT)),
            ("statement_timeout", millis(STATEMENT_TIMEOUT)),
            (
                "idle_in_transaction_session_timeout",
                millis(IDLE_IN_TRANSACTION_TIMEOUT),
            ),
        ]);
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await
            .map_err(|e| backend("connecting", &e))?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Backend(format!("migrating the database: {e}")))?;
        // Its own connection, outside the pool: it is held for as long as the store lives.
        let listening = PgPoolOptions::new()
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_lazy_with(options);
        let (announce, signal) = tokio::sync::watch::channel(0u64);
        let listener = tokio::spawn(listen(listening, announce));
        Ok(PostgresStore { pool, signal, listener })
    }

    /// Closes the pool, waiting for its connections to finish. Dropping the store also closes it, but without
    /// waiting.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn get(&self, key: &str) -> Result<Option<Entry>, StoreError> {
        validate_key(key)?;
        let row = sqlx::query("SELECT key, revision, value FROM entries WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
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
        // Every key sorts after the empty string, so "no start key" needs no second query shape, and the one
        // shape keeps all three bounds usable by the primary-key index even in a cached generic plan.
        let after = start_after.unwrap_or("");
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = sqlx::query(
            "SELECT key, revision, value FROM entries \
             WHERE key >= $1 AND key < $2 AND key > $3 ORDER BY key LIMIT $4",
        )
        .bind(prefix)
        .bind(upper)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| backend("listing entries", &e))?;
        rows.iter().map(entry_from_row).collect()
    }

    async fn commit(&self, writes: Vec<Write>) -> Result<u64, StoreError> {
        validate_writes(&writes)?;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|e| backend("starting a transaction", &e))?;
        // In key order, so that concurrent multi-key commits take their row locks in one order. Every write is
        // applied before a failed expectation is reported, so the one reported is the first in the caller's order.
        let mut order: Vec<usize> = (0..writes.len()).collect();
        order.sort_by(|a, b| writes[*a].key().cmp(writes[*b].key()));
        let mut failed: Vec<usize> = Vec::new();
        for index in order {
            match apply(&mut tx, &writes[index]).await {
                Ok(()) => {}
                Err(StoreError::Conflict { .. }) => failed.push(index),
                Err(other) => return Err(other),
            }
        }
        if let Some(first) = failed.iter().min() {
            return Err(conflict(writes[*first].key()));
        }
        // The ordering point, held from here to the commit.
        let revision: i64 =
            sqlx::query_scalar("UPDATE store_revision SET revision = revision + 1 WHERE id = 1 RETURNING revision")
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| backend("advancing the revision", &e))?;
        let written: Vec<&str> = writes
            .iter()
            .filter(|w| matches!(w, Write::Put { .. }))
            .map(Write::key)
            .collect();
        if !written.is_empty() {
            sqlx::query("UPDATE entries SET revision = $1 WHERE key = ANY($2)")
                .bind(revision)
                .bind(&written)
                .execute(&mut *tx)
                .await
                .map_err(|e| backend("stamping entries", &e))?;
        }
        let keys: Vec<&str> = writes.iter().map(Write::key).collect();
        sqlx::query("INSERT INTO changes (revision, key, committed_at) SELECT $1, unnest($2::text[]), $3")
            .bind(revision)
            .bind(&keys)
            .bind(cmk_store::now_millis())
            .execute(&mut *tx)
            .await
            .map_err(|e| backend("recording the changes", &e))?;
        // Delivered to listeners when the transaction commits, and not at all if it does not.
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(revision.to_string())
            .execute(&mut *tx)
            .await
            .map_err(|e| backend("announcing the commit", &e))?;
        tx.commit().await.map_err(|e| backend("committing", &e))?;
        to_revision(revision)
    }

    async fn changes_after(&self, revision: u64, commits: usize) -> Result<Changes, StoreError> {
        let after = i64::try_from(revision).unwrap_or(i64::MAX);
        let through = after.saturating_add(i64::try_from(commits).unwrap_or(i64::MAX));
        let rows = sqlx::query(
            "SELECT revision, key FROM changes WHERE revision > $1 AND revision <= $2 ORDER BY revision, key",
        )
        .bind(after)
        .bind(through)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| backend("reading changes", &e))?;
        // Checked after the read: a forgetting that committed before it shows here, one after it removed nothing
        // the read returned.
        let forgotten: i64 = sqlx::query_scalar("SELECT forgotten_through FROM store_revision WHERE id = 1")
            .fetch_one(&self.pool)
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
            .fetch_one(&self.pool)
            .await
            .map_err(|e| backend("reading the revision", &e))?;
        to_revision(revision)
    }

    async fn forget_changes_before(&self, age: Duration) -> Result<(), StoreError> {
        let cutoff = cmk_store::now_millis().saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX));
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|e| backend("starting a transaction", &e))?;
        let through: Option<i64> = sqlx::query_scalar("SELECT max(revision) FROM changes WHERE committed_at < $1")
            .bind(cutoff)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| backend("finding old changes", &e))?;
        if let Some(through) = through {
            sqlx::query("UPDATE store_revision SET forgotten_through = GREATEST(forgotten_through, $1) WHERE id = 1")
                .bind(through)
                .execute(&mut *tx)
                .await
                .map_err(|e| backend("forgetting changes", &e))?;
            sqlx::query("DELETE FROM changes WHERE revision <= $1")
                .bind(through)
                .execute(&mut *tx)
                .await
                .map_err(|e| backend("forgetting changes", &e))?;
        }
        tx.commit().await.map_err(|e| backend("committing", &e))
    }

    fn commit_signal(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        Some(self.signal.clone())
    }

    fn backend_name(&self) -> &'static str {
        "postgres"
    }
}

/// Applies one write, with a provisional revision that the commit replaces with its own before it becomes
/// visible, or returns the conflict that aborts the commit. Dropping the transaction on the error path rolls it
/// back.
async fn apply(conn: &mut PgConnection, write: &Write) -> Result<(), StoreError> {
    const PROVISIONAL: i64 = 1;
    let revision = PROVISIONAL;
    let key = write.key();
    let result = match write {
        Write::Put {
            value,
            expect: Expect::Any,
            ..
        } => {
            sqlx::query(
                "INSERT INTO entries (key, revision, value) VALUES ($1, $2, $3) \
                 ON CONFLICT (key) DO UPDATE SET revision = EXCLUDED.revision, value = EXCLUDED.value",
            )
            .bind(key)
            .bind(revision)
            .bind(value.as_slice())
            .execute(&mut *conn)
            .await
        }
        Write::Put {
            value,
            expect: Expect::Absent,
            ..
        } => {
            sqlx::query(
                "INSERT INTO entries (key, revision, value) VALUES ($1, $2, $3) \
                 ON CONFLICT (key) DO NOTHING",
            )
            .bind(key)
            .bind(revision)
            .bind(value.as_slice())
            .execute(&mut *conn)
            .await
        }
        Write::Put {
            value,
            expect: Expect::Revision(expected),
            ..
        } => {
            // A revision beyond i64 was never handed out, so no entry can carry it.
            let Ok(expected) = i64::try_from(*expected) else {
                return Err(conflict(key));
            };
            sqlx::query("UPDATE entries SET revision = $1, value = $2 WHERE key = $3 AND revision = $4")
                .bind(revision)
                .bind(value.as_slice())
                .bind(key)
                .bind(expected)
                .execute(&mut *conn)
                .await
        }
        Write::Delete {
            expect: Expect::Any, ..
        } => {
            sqlx::query("DELETE FROM entries WHERE key = $1")
                .bind(key)
                .execute(&mut *conn)
                .await
                .map_err(|e| write_error(key, &e))?;
            return Ok(());
        }
        Write::Delete {
            expect: Expect::Revision(expected),
            ..
        } => {
            let Ok(expected) = i64::try_from(*expected) else {
                return Err(conflict(key));
            };
            sqlx::query("DELETE FROM entries WHERE key = $1 AND revision = $2")
                .bind(key)
                .bind(expected)
                .execute(&mut *conn)
                .await
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
    let affected = result.map_err(|e| write_error(key, &e))?.rows_affected();
    if affected == 1 { Ok(()) } else { Err(conflict(key)) }
}

fn conflict(key: &str) -> StoreError {
    StoreError::Conflict { key: key.to_owned() }
}

/// A unique violation while writing `key` means another writer got there first, and a deadlock or
/// serialization failure that another writer won: conflicts, like a failed expectation.
fn write_error(key: &str, err: &sqlx::Error) -> StoreError {
    match err {
        sqlx::Error::Database(db)
            if matches!(
                db.code().as_deref(),
                Some(UNIQUE_VIOLATION) | Some(DEADLOCK) | Some(SERIALIZATION)
            ) =>
        {
            conflict(key)
        }
        _ => backend("writing an entry", err),
    }
}

/// Hears the commits of every node (`LISTEN`) and passes on the revision each announces. A lost connection is
/// opened again; what was announced meanwhile is not lost, since readers of the feed read by revision and poll.
async fn listen(pool: PgPool, announce: tokio::sync::watch::Sender<u64>) {
    loop {
        match sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(mut listener) => match listener.listen(CHANNEL).await {
                Ok(()) => loop {
                    match listener.try_recv().await {
                        Ok(Some(notification)) => {
                            announce.send_replace(notification.payload().parse().unwrap_or(0));
                        }
                        // Reconnected: announcements may have been missed, so wake the readers once.
                        Ok(None) => announce.send_modify(|_| {}),
                        Err(e) => {
                            tracing::warn!(error = %e, "listening for commits failed");
                            break;
                        }
                    }
                },
                Err(e) => tracing::warn!(error = %e, "listening for commits failed"),
            },
            Err(e) => tracing::debug!(error = %e, "cannot listen for commits yet"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// One direct connection for the checks and setup that come before the pool: unlike the pool, which retries
/// until its acquire timeout, it reports an unreachable server at once.
async fn setup_connection(options: &PgConnectOptions) -> Result<PgConnection, StoreError> {
    PgConnection::connect_with(options)
        .await
        .map_err(|e| backend("connecting", &e))
}

/// Closes the setup connection, keeping the first error.
async fn close(result: Result<(), StoreError>, conn: PgConnection) -> Result<(), StoreError> {
    let closed = conn.close().await;
    result?;
    closed.map_err(|e| backend("closing the setup connection", &e))
}

/// Refuses a server that acknowledges commits before they are durable (`synchronous_commit = off`, set for the
/// server, the database, the role or in the URL's options).
async fn setup_checks(conn: &mut PgConnection) -> Result<(), StoreError> {
    let synchronous_commit: String = sqlx::query_scalar("SELECT current_setting('synchronous_commit')")
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| backend("reading synchronous_commit", &e))?;
    if synchronous_commit == "off" {
        return Err(StoreError::Backend(
            "PostgreSQL has synchronous_commit = off, which acknowledges commits before they are durable; \
             cmk needs it on (or local, remote_write, remote_apply)"
                .into(),
        ));
    }
    Ok(())
}

fn entry_from_row(row: &PgRow) -> Result<Entry, StoreError> {
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

/// Maps a driver error. Values travel as binary parameters and PostgreSQL's primary messages do not quote them
/// (the `DETAIL` field, which can, is not part of sqlx's message), so the text is safe to pass on.
fn backend(context: &str, err: &sqlx::Error) -> StoreError {
    let busy = match err {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| TIMED_OUT.contains(&code.as_ref()) || code.starts_with("08")),
        _ => false,
    };
    if busy {
        StoreError::Unavailable(format!("{context}: {err}"))
    } else {
        StoreError::Backend(format!("{context}: {err}"))
    }
}

/// Parses the URL without echoing it in errors: it may carry a password.
fn parse_url(url: &str) -> Result<PgConnectOptions, StoreError> {
    PgConnectOptions::from_str(url).map_err(|_| StoreError::Backend("the PostgreSQL URL is not valid".into()))
}

fn validate_schema(schema: &str) -> Result<(), StoreError> {
    let mut bytes = schema.bytes();
    let starts_well = bytes.next().is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
    let rest_ok = bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if starts_well && rest_ok && schema.len() <= 63 {
        Ok(())
    } else {
        Err(StoreError::Backend(format!(
            "'{schema}' is not a schema name of the form [a-z_][a-z0-9_]*, at most 63 bytes"
        )))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn schema_names_are_plain_identifiers() {
        for good in ["cmk", "_x", "cmk_test_123", &"s".repeat(63)] {
            assert!(validate_schema(good).is_ok(), "{good}");
        }
        let too_long = "s".repeat(64);
        for bad in [
            "",
            "1abc",
            "Cmk",
            "a-b",
            "a b",
            "a\"b",
            "a;drop",
            "é",
            too_long.as_str(),
        ] {
            assert!(validate_schema(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn url_errors_do_not_echo_the_url() {
        let Err(StoreError::Backend(message)) = parse_url("postgres://user:s3cret@host:notaport/db") else {
            panic!("a bad port was accepted");
        };
        assert!(!message.contains("s3cret"), "{message}");
    }
}
