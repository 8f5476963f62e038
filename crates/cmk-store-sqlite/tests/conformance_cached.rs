//! The same conformance suite, with the read-through cache the server puts in front of SQLite: the cache must
//! not change any behaviour a caller can observe.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cmk_store::CachingStore;
use cmk_store::conformance::Fixture;
use cmk_store_sqlite::SqliteStore;

async fn fresh() -> Fixture {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = SqliteStore::open(&dir.path().join("store.db"))
        .await
        .expect("open a fresh store");
    Fixture::keeping(CachingStore::new(store), dir)
}

cmk_store::conformance_tests!(fresh);
