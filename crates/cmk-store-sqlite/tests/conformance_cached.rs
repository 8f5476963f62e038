//! The same conformance suite, with the read-through cache the server puts in front of SQLite: the cache must
//! not change any behaviour a caller can observe, whether it keeps a record or its bulk budget refuses it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cmk_store::conformance::Fixture;
use cmk_store::{CachingStore, Store, Write};
use cmk_store_sqlite::SqliteStore;

async fn open() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = SqliteStore::open(&dir.path().join("store.db"))
        .await
        .expect("open a fresh store");
    (store, dir)
}

async fn fresh() -> Fixture {
    let (store, dir) = open().await;
    Fixture::keeping(CachingStore::new(store), dir)
}

cmk_store::conformance_tests!(fresh);

/// Every key counts as bulk, with a budget so small that most values are refused and the rest keep
/// overrunning it.
mod bulk {
    use super::*;

    async fn fresh() -> Fixture {
        let (store, dir) = open().await;
        Fixture::keeping(CachingStore::new(store).bounding_bulk("", 48, 160), dir)
    }

    cmk_store::conformance_tests!(fresh);
}

#[tokio::test]
async fn bulk_values_are_cached_only_within_their_budget_and_never_evict_records() {
    let (store, _dir) = open().await;
    // Budget: values (with their key) of at most 100 bytes, 250 bytes in all.
    let cache = CachingStore::new(store).bounding_bulk("content/", 100, 250);
    cache
        .commit(vec![
            Write::create("vaults/a", vec![1; 500]),
            Write::create("content/big", vec![2; 200]),
            Write::create("content/s1", vec![3; 80]),
            Write::create("content/s2", vec![4; 80]),
        ])
        .await
        .unwrap();
    let misses = |cache: &CachingStore<SqliteStore>| cache.stats().misses;

    // A record of any size and a small bulk value are kept by the commit; an oversized bulk value is not.
    let before = misses(&cache);
    for key in ["vaults/a", "content/s1", "content/s2"] {
        cache.get(key).await.unwrap().expect("stored");
    }
    assert_eq!(misses(&cache), before, "kept by the commit");
    for _ in 0..2 {
        assert_eq!(cache.get("content/big").await.unwrap().unwrap().value, vec![2; 200]);
    }
    assert_eq!(
        misses(&cache),
        before + 2,
        "an oversized bulk value is read from the store each time"
    );

    // s3 does not fit beside s1 and s2: keeping it drops them, and the record stays.
    cache
        .commit(vec![Write::create("content/s3", vec![5; 80])])
        .await
        .unwrap();
    let before = misses(&cache);
    cache.get("content/s3").await.unwrap().expect("stored");
    cache.get("vaults/a").await.unwrap().expect("stored");
    assert_eq!(misses(&cache), before, "s3 and the record are both in memory");
    assert_eq!(cache.get("content/s1").await.unwrap().unwrap().value, vec![3; 80]);
    assert_eq!(misses(&cache), before + 1, "s1 was dropped to make room");
}

#[tokio::test]
async fn a_shared_cache_whose_feed_stopped_serves_from_memory_for_at_most_its_bound() {
    let (store, _dir) = open().await;
    let cache = CachingStore::new(store).shared();
    let bound = std::time::Duration::from_millis(300);
    let first = cache
        .commit(vec![Write::create("vaults/a", b"granted".to_vec())])
        .await
        .unwrap();

    // Nothing is served from memory before the feed has caught up once.
    cache.get("vaults/a").await.unwrap().expect("stored");
    cache.get("vaults/a").await.unwrap().expect("stored");
    assert_eq!(cache.stats().hits, 0);

    // The feed caught up just now: reads are served from memory.
    cache.mark_fresh(std::time::Instant::now(), bound);
    cache.get("vaults/a").await.unwrap().expect("stored");
    cache.get("vaults/a").await.unwrap().expect("stored");
    assert_eq!(cache.stats().hits, 1);

    // Another process changes the record and the feed says nothing any more: once the bound has passed, the
    // change is read from the store.
    cache
        .inner()
        .commit(vec![Write::replace("vaults/a", b"revoked".to_vec(), first)])
        .await
        .unwrap();
    tokio::time::sleep(bound).await;
    assert_eq!(cache.get("vaults/a").await.unwrap().unwrap().value, b"revoked");
}
