//! What the PostgreSQL backend promises beyond the shared suite: schemas isolate stores, reconnecting finds the
//! data and the revision where they were, and a server that would acknowledge commits early is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cmk_store::{Store, StoreError, Write};
use cmk_store_postgres::PostgresStore;
use sqlx::Connection;

#[tokio::test]
async fn schemas_isolate_stores() {
    let Some(url) = common::url() else { return };
    let (one, two) = (common::unique_schema(), common::unique_schema());
    let a = PostgresStore::connect_in_schema(&url, &one).await.unwrap();
    let b = PostgresStore::connect_in_schema(&url, &two).await.unwrap();
    a.commit(vec![Write::create("iso/k", b"a".to_vec())]).await.unwrap();
    assert!(
        b.get("iso/k").await.unwrap().is_none(),
        "a key leaked into another schema"
    );
    b.commit(vec![Write::create("iso/k", b"b".to_vec())]).await.unwrap();
    assert_eq!(a.get("iso/k").await.unwrap().unwrap().value, b"a");

    // Everything the store created, including sqlx's migration history, lives in its own schema.
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name",
    )
    .bind(&one)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(tables, ["_sqlx_migrations", "changes", "entries", "store_revision"]);
    conn.close().await.unwrap();
    a.close().await;
    b.close().await;
    common::drop_schema(&url, &one).await;
    common::drop_schema(&url, &two).await;
}

#[tokio::test]
async fn data_and_revisions_survive_reconnecting() {
    let Some(url) = common::url() else { return };
    let schema = common::unique_schema();
    let store = PostgresStore::connect_in_schema(&url, &schema).await.unwrap();
    let first = store
        .commit(vec![Write::create("keep/a", (0..=255u8).collect())])
        .await
        .unwrap();
    store.close().await;
    drop(store);

    // Connecting again runs the migrations again, which must find nothing to do.
    let store = PostgresStore::connect_in_schema(&url, &schema).await.unwrap();
    let entry = store.get("keep/a").await.unwrap().unwrap();
    assert_eq!((entry.value, entry.revision), ((0..=255u8).collect::<Vec<_>>(), first));
    let next = store
        .commit(vec![Write::replace("keep/a", vec![1], first)])
        .await
        .unwrap();
    assert!(next > first, "the revision counter must survive reconnecting");
    store.close().await;
    common::drop_schema(&url, &schema).await;
}

#[tokio::test]
async fn bad_schema_names_are_refused_before_connecting() {
    // No server needed: the name is checked first, and this URL points nowhere.
    for bad in ["", "Upper", "a-b", "x\"; DROP SCHEMA public; --", "1st"] {
        match PostgresStore::connect_in_schema("postgres://nobody@127.0.0.1:1/none", bad).await {
            Err(StoreError::Backend(message)) => assert!(message.contains("schema name"), "{message}"),
            Err(other) => panic!("unexpected error for {bad:?}: {other:?}"),
            Ok(_) => panic!("schema {bad:?} was accepted"),
        }
    }
}

#[tokio::test]
async fn synchronous_commit_off_is_refused() {
    let Some(url) = common::url() else { return };
    let separator = if url.contains('?') { '&' } else { '?' };
    let lax = format!("{url}{separator}options=-c%20synchronous_commit%3Doff");
    if let Ok(store) = PostgresStore::connect(&lax).await {
        store.close().await;
        panic!("a session with synchronous_commit = off was accepted");
    }
    let schema = common::unique_schema();
    match PostgresStore::connect_in_schema(&lax, &schema).await {
        Err(StoreError::Backend(message)) => {
            assert!(message.contains("synchronous_commit"), "{message}")
        }
        Err(other) => panic!("unexpected error: {other:?}"),
        Ok(_) => panic!("a session with synchronous_commit = off was accepted"),
    }
    // Refused before the schema was created.
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM information_schema.schemata WHERE schema_name = $1)")
            .bind(&schema)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert!(!exists, "a refused connect left a schema behind");
}

#[tokio::test]
async fn unreachable_server_is_unavailable() {
    // Port 1 on loopback refuses connections; the error must come at once, without a panic or a retry loop.
    let result = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        PostgresStore::connect("postgres://nobody:secret-password@127.0.0.1:1/none"),
    )
    .await
    .expect("connect gave up in time");
    match result {
        // Unavailable, not Backend: nothing is wrong with the request, and a later try may succeed.
        Err(StoreError::Unavailable(message)) => {
            assert!(!message.contains("secret-password"), "the password leaked: {message}")
        }
        Err(other) => panic!("unexpected error: {other:?}"),
        Ok(_) => panic!("connected to a closed port"),
    }
}
