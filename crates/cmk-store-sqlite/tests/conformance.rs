//! The shared storage conformance suite, run against a fresh SQLite file per test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cmk_store::conformance::Fixture;
use cmk_store_sqlite::SqliteStore;

async fn fresh() -> Fixture {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = SqliteStore::open(&dir.path().join("store.db"))
        .await
        .expect("open a fresh store");
    Fixture::keeping(store, dir)
}

cmk_store::conformance_tests!(fresh);
