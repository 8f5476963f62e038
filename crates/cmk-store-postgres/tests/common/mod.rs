//! Test setup shared by this crate's integration tests: where the server is, and a fresh schema per test.
#![allow(dead_code)] // each test binary uses a different part of this module

use std::io::Write as _;
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use cmk_store::conformance::Fixture;
use cmk_store_postgres::PostgresStore;
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

pub const URL_VAR: &str = "CMK_TEST_POSTGRES_URL";

/// The test server's URL. Without one the tests are skipped with a notice, except in CI (`CI` set), where a
/// skipped backend would pass unnoticed, so they fail instead.
pub fn url() -> Option<String> {
    if let Ok(url) = std::env::var(URL_VAR)
        && !url.is_empty()
    {
        return Some(url);
    }
    if std::env::var("CI").is_ok_and(|ci| !ci.is_empty()) {
        panic!(
            "{URL_VAR} is not set: PostgreSQL is required in CI \
             (source scripts/lib/postgres.sh and run start_test_postgres first)"
        );
    }
    static NOTICE: Once = Once::new();
    // Written to the stderr handle, not with eprintln!, which the test harness captures for passing tests.
    NOTICE.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "note: {URL_VAR} is not set; skipping the PostgreSQL store tests"
        );
    });
    None
}

/// A schema name no other test (in this process or another) uses.
pub fn unique_schema() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "cmk_test_{}_{}_{}",
        std::process::id(),
        nanos,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Drops a test schema and everything in it.
pub async fn drop_schema(url: &str, schema: &str) {
    let mut conn = PgConnection::connect(url)
        .await
        .expect("connect to drop the test schema");
    conn.execute(AssertSqlSafe(format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")))
        .await
        .expect("drop the test schema");
    conn.close().await.ok();
}

/// A store in a fresh schema; the schema is dropped when the test passes and kept for a look when it fails.
pub async fn fresh() -> Option<Fixture> {
    let url = url()?;
    let schema = unique_schema();
    let store = PostgresStore::connect_in_schema(&url, &schema)
        .await
        .expect("connect to the test database");
    Some(Fixture::new(store).on_success(move || async move { drop_schema(&url, &schema).await }))
}
