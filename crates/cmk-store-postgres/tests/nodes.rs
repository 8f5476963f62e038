//! Several processes on one database, as cmk nodes are: each with its own shared cache kept by its own change
//! feed follower, and every wait bounded when another session holds the locks a commit needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use cmk_store::feed::{Feed, FeedEvent};
use cmk_store::{CachingStore, Store, StoreError, Write};
use cmk_store_postgres::PostgresStore;
use sqlx::{Connection, Executor};

struct Node {
    cache: Arc<CachingStore<PostgresStore>>,
    feed: Feed,
}

async fn node(url: &str, schema: &str) -> Node {
    let store = PostgresStore::connect_in_schema(url, schema).await.unwrap();
    let cache = Arc::new(CachingStore::new(store).shared());
    let feed = Feed::start(cache.clone()).await.unwrap();
    Node { cache, feed }
}

/// Waits until `node`'s follower has read the feed up to `revision`, so that no invalidation of an earlier
/// commit is still on its way to the cache.
async fn wait_until_read(node: &Node, revision: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while node.feed.status.revision.load(std::sync::atomic::Ordering::Relaxed) < revision
        || !node.feed.status.is_current(Duration::from_millis(500))
    {
        assert!(Instant::now() < deadline, "the feed never caught up");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_node_reaches_the_others_cache_within_a_second() {
    let Some(url) = common::url() else { return };
    let schema = common::unique_schema();
    let a = node(&url, &schema).await;
    let b = node(&url, &schema).await;
    let mut events = b.feed.subscribe();
    let first = a
        .cache
        .commit(vec![Write::create("vault/k", b"granted".to_vec())])
        .await
        .unwrap();
    wait_until_read(&b, first).await;

    // B serves the record from memory once it has read it.
    let deadline = Instant::now() + Duration::from_secs(2);
    while b.cache.get("vault/k").await.unwrap().map(|e| e.revision) != Some(first) {
        assert!(Instant::now() < deadline, "B never saw the first commit");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let before = b.cache.stats();
    for _ in 0..10 {
        assert_eq!(b.cache.get("vault/k").await.unwrap().unwrap().value, b"granted");
    }
    assert_eq!(
        b.cache.stats().hits,
        before.hits + 10,
        "B's cache served none of the repeated reads"
    );

    // A revokes; B's cached copy goes within a second, and B's subscribers hear which key changed.
    let revoked = a
        .cache
        .commit(vec![Write::replace("vault/k", b"revoked".to_vec(), first)])
        .await
        .unwrap();
    let committed = Instant::now();
    loop {
        let entry = b.cache.get("vault/k").await.unwrap().unwrap();
        if entry.value == b"revoked" {
            assert_eq!(entry.revision, revoked);
            break;
        }
        assert!(
            committed.elapsed() < Duration::from_secs(1),
            "B served the old value for more than a second"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let told = tokio::time::timeout(Duration::from_secs(1), async {
        loop {
            match events.recv().await.unwrap() {
                FeedEvent::Changed(changes) if changes.iter().any(|c| c.revision == revoked) => return changes,
                _ => {}
            }
        }
    })
    .await
    .expect("B's feed never told of the revocation");
    assert!(told.iter().any(|c| c.key == "vault/k"));

    // A's own feed leaves out A's own commits: they were told in-process.
    let mut own_events = a.feed.subscribe();
    a.cache.commit(vec![Write::create("vault/own", vec![1])]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(own_events.try_recv().is_err(), "A's feed reported A's own commit");

    drop((a, b));
    common::drop_schema(&url, &schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_holding_the_ordering_point_delays_commits_by_at_most_the_lock_timeout() {
    let Some(url) = common::url() else { return };
    let schema = common::unique_schema();
    let store = PostgresStore::connect_in_schema(&url, &schema).await.unwrap();
    store.commit(vec![Write::create("k/read", vec![1])]).await.unwrap();

    // Another session (a node frozen inside its commit) holds the revision row and a key's row.
    let mut frozen = sqlx::PgConnection::connect(&url).await.unwrap();
    frozen
        .execute(sqlx::AssertSqlSafe(format!(
            "SET search_path = \"{schema}\"; BEGIN; \
             UPDATE store_revision SET revision = revision WHERE id = 1; \
             UPDATE entries SET value = value WHERE key = 'k/read'"
        )))
        .await
        .unwrap();

    let started = Instant::now();
    assert_eq!(store.get("k/read").await.unwrap().unwrap().value, vec![1]);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "a read waited on the frozen commit"
    );

    for key in ["k/unrelated", "k/read"] {
        let started = Instant::now();
        match store.commit(vec![Write::upsert(key, vec![2])]).await {
            Err(StoreError::Unavailable(_)) => {}
            other => panic!("a commit of '{key}' behind a frozen one: expected Unavailable, got {other:?}"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the refusal took {:?}",
            started.elapsed()
        );
    }
    assert!(
        store.get("k/unrelated").await.unwrap().is_none(),
        "a refused commit wrote"
    );

    // Once the frozen session is gone, commits go through again.
    frozen.close().await.unwrap();
    store.commit(vec![Write::upsert("k/unrelated", vec![3])]).await.unwrap();
    store.close().await;
    drop(store);
    common::drop_schema(&url, &schema).await;
}
