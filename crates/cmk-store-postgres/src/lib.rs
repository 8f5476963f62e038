//! The shared backend of [`cmk_store::Store`]: PostgreSQL, for deployments where several cmk nodes use one
//! database.
//!
//! # How the contract is kept
//! - Every commit is one transaction that first bumps a one-row revision counter. The counter's row lock orders
//!   all writers, across nodes, so revisions follow commit order and expectations are checked against the latest
//!   committed state; it also means two multi-key commits can never deadlock on each other's rows.
//! - Expectations are enforced by the statements themselves (`INSERT ... ON CONFLICT DO NOTHING`,
//!   `UPDATE ... WHERE revision = $n`) and their row counts, never by a read followed by a write.
//! - Keys are `COLLATE "C"`, so listing is in byte order whatever the database's locale.
//! - A commit returns after PostgreSQL's commit returns; [`PostgresStore::connect`] refuses a server whose
//!   `synchronous_commit` is off, since that acknowledges commits before they are durable.
#![forbid(unsafe_code)]

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use cmk_store::{
    Entry, Expect, Store, StoreError, Write, prefix_upper_bound, validate_key, validate_list, validate_writes,
};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Connection, Executor, Row};

/// Enough for concurrent requests of one node without crowding PostgreSQL's default of 100 connections when
/// a few nodes share it.
const MAX_CONNECTIONS: u32 = 10;
/// How long a request waits for a free connection before it fails rather than queueing forever.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);
/// Greater than every valid key: keys are printable ASCII, which ends at 0x7e.
const ABOVE_ALL_KEYS: &str = "\u{7f}";
/// PostgreSQL's `unique_violation`.
const UNIQUE_VIOLATION: &str = "23505";

/// A [`Store`] in a PostgreSQL database.
pub struct PostgresStore {
    pool: PgPool,
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
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| backend("connecting", &e))?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Backend(format!("migrating the database: {e}")))?;
        Ok(PostgresStore { pool })
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
        // First, so the row lock orders this commit after every commit that bumped the counter before it.
        let revision: i64 =
            sqlx::query_scalar("UPDATE store_revision SET revision = revision + 1 WHERE id = 1 RETURNING revision")
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| backend("advancing the revision", &e))?;
        for write in &writes {
            apply(&mut tx, write, revision).await?;
        }
        tx.commit().await.map_err(|e| backend("committing", &e))?;
        to_revision(revision)
    }

    fn backend_name(&self) -> &'static str {
        "postgres"
    }
}

/// Applies one write at `revision`, or returns the conflict that aborts the commit. Dropping the transaction on
/// the error path rolls it back, including the revision bump.
async fn apply(conn: &mut PgConnection, write: &Write, revision: i64) -> Result<(), StoreError> {
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

/// A unique violation while writing `key` means another writer got there first: a conflict, like a failed
/// expectation. The revision lock makes that unreachable today; the mapping keeps it right if that changes.
fn write_error(key: &str, err: &sqlx::Error) -> StoreError {
    match err {
        sqlx::Error::Database(db) if db.code().as_deref() == Some(UNIQUE_VIOLATION) => conflict(key),
        _ => backend("writing an entry", err),
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
    StoreError::Backend(format!("{context}: {err}"))
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
