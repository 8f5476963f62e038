//! The behaviour every [`Store`] backend must show. Each backend's tests call
//! [`conformance_tests!`](crate::conformance_tests!) with a way to make a fresh, empty store.
//!
//! Every check is a plain async function that panics on the first broken promise, so a backend can also call a
//! single one from its own tests. They only use the public trait: what they assert is what a caller relies on.
//! Keys used by one check never depend on another check having run; each macro-generated test gets its own store.

use std::any::Any;
use std::collections::HashSet;
use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::{Entry, Expect, MAX_KEY_LEN, Store, StoreError, Write};

/// A fresh store for one conformance test, plus whatever must outlive it (a temporary directory, say).
///
/// The store is dropped before the kept value, so a backend can close its files before the directory goes.
pub struct Fixture {
    store: Arc<dyn Store>,
    _keep: Option<Box<dyn Any + Send>>,
    cleanup: Option<Cleanup>,
}

type Cleanup = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

impl Fixture {
    pub fn new(store: impl Store) -> Self {
        Fixture {
            store: Arc::new(store),
            _keep: None,
            cleanup: None,
        }
    }

    /// A fixture that holds `keep` until the test ends.
    pub fn keeping(store: impl Store, keep: impl Send + 'static) -> Self {
        Fixture {
            store: Arc::new(store),
            _keep: Some(Box::new(keep)),
            cleanup: None,
        }
    }

    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// A shared handle, for checks that run several tasks at once.
    pub fn shared(&self) -> Arc<dyn Store> {
        Arc::clone(&self.store)
    }

    /// Runs `cleanup` after the store is dropped, once the check has passed. A failed check skips it, leaving
    /// the state (a database schema, say) for a look.
    pub fn on_success<F, Fut>(mut self, cleanup: F) -> Self
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.cleanup = Some(Box::new(move || Box::pin(cleanup())));
        self
    }

    /// Ends a passed check: drops the store, then runs the cleanup if there is one. Used by the macro.
    pub async fn finish(self) {
        let Fixture { store, _keep, cleanup } = self;
        drop(store);
        if let Some(cleanup) = cleanup {
            cleanup().await;
        }
    }
}

/// How long one conformance check may run. A deadlocked backend should fail with a name, not hang CI.
pub const CHECK_TIME_LIMIT: Duration = Duration::from_secs(120);

/// Runs one check under [`CHECK_TIME_LIMIT`]; used by the macro.
pub async fn within_time_limit(name: &str, check: impl Future<Output = ()>) {
    if tokio::time::timeout(CHECK_TIME_LIMIT, check).await.is_err() {
        panic!("conformance check '{name}' did not finish within {CHECK_TIME_LIMIT:?}");
    }
}

/// Expands to one `#[tokio::test]` per conformance check.
///
/// The argument is something callable with no arguments (a closure or a function path) whose future yields a
/// [`Fixture`](crate::conformance::Fixture), or an `Option<Fixture>` where `None` skips the test (a backend
/// whose server is not available). The calling crate needs `tokio` with the `macros` and `rt-multi-thread`
/// features among its dev-dependencies.
///
/// ```ignore
/// cmk_store::conformance_tests!(|| async { Fixture::new(MyStore::new().await) });
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::conformance_tests!(@borrowed $make;
            create_then_get,
            get_missing_is_none,
            create_existing_conflicts,
            replace_at_current_revision,
            replace_at_stale_revision_conflicts,
            replace_missing_conflicts,
            upsert_creates_and_overwrites,
            delete_any_removes_and_tolerates_missing,
            delete_at_revision,
            delete_expecting_absent_is_invalid,
            failed_commit_writes_nothing,
            conflict_names_first_failing_key,
            revisions_strictly_increase,
            one_commit_one_revision,
            recreated_key_gets_fresh_revision,
            list_in_byte_order,
            list_stays_within_prefix,
            list_pages_with_start_after,
            list_honours_limit,
            invalid_keys_are_refused,
            invalid_list_arguments_are_refused,
            duplicate_key_in_commit_is_refused,
            empty_commit_is_refused,
            large_value_round_trips,
            binary_values_round_trip,
            change_feed_lists_whole_commits_in_order,
            change_feed_reports_forgotten_changes,
        );
        $crate::conformance_tests!(@shared $make;
            concurrent_increments_lose_no_update,
            concurrent_creates_have_one_winner,
            concurrent_transfers_are_atomic,
            commits_become_visible_in_revision_order,
            change_feed_follower_misses_no_commit,
        );
    };
    (@borrowed $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let fixture: ::core::option::Option<$crate::conformance::Fixture> = ($make)().await.into();
                let ::core::option::Option::Some(fixture) = fixture else { return };
                $crate::conformance::within_time_limit(
                    ::core::stringify!($name),
                    $crate::conformance::$name(fixture.store()),
                )
                .await;
                fixture.finish().await;
            }
        )*
    };
    (@shared $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let fixture: ::core::option::Option<$crate::conformance::Fixture> = ($make)().await.into();
                let ::core::option::Option::Some(fixture) = fixture else { return };
                $crate::conformance::within_time_limit(
                    ::core::stringify!($name),
                    $crate::conformance::$name(fixture.shared()),
                )
                .await;
                fixture.finish().await;
            }
        )*
    };
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers. They panic with the operation that failed, so a broken backend shows which promise it broke.

#[track_caller]
fn ok<T>(result: Result<T, StoreError>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(err) => panic!("{what} failed: {err:?}"),
    }
}

#[track_caller]
fn assert_conflict<T: Debug>(result: Result<T, StoreError>, key: &str, what: &str) {
    match result {
        Err(StoreError::Conflict { key: got }) if got == key => {}
        other => panic!("{what}: expected a conflict on '{key}', got {other:?}"),
    }
}

#[track_caller]
fn assert_invalid_key<T: Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::InvalidKey(_)) => {}
        other => panic!("{what}: expected InvalidKey, got {other:?}"),
    }
}

#[track_caller]
fn assert_invalid_write<T: Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::InvalidWrite(_)) => {}
        other => panic!("{what}: expected InvalidWrite, got {other:?}"),
    }
}

async fn get(store: &dyn Store, key: &str) -> Option<Entry> {
    ok(store.get(key).await, &format!("get '{key}'"))
}

async fn must_get(store: &dyn Store, key: &str) -> Entry {
    match get(store, key).await {
        Some(entry) => entry,
        None => panic!("'{key}' should exist but get returned None"),
    }
}

async fn commit(store: &dyn Store, writes: Vec<Write>) -> u64 {
    let what = format!("commit {writes:?}");
    ok(store.commit(writes).await, &what)
}

async fn list(store: &dyn Store, prefix: &str, start_after: Option<&str>, limit: usize) -> Vec<Entry> {
    ok(
        store.list(prefix, start_after, limit).await,
        &format!("list '{prefix}' after {start_after:?}"),
    )
}

async fn list_keys(store: &dyn Store, prefix: &str) -> Vec<String> {
    list(store, prefix, None, 10_000)
        .await
        .into_iter()
        .map(|e| e.key)
        .collect()
}

fn delete(key: &str, expect: Expect) -> Write {
    Write::Delete {
        key: key.to_owned(),
        expect,
    }
}

fn owned(keys: &[&str]) -> Vec<String> {
    keys.iter().map(|k| (*k).to_owned()).collect()
}

/// Bytes that do not repeat with any short period, so a shifted or truncated copy cannot compare equal.
fn patterned_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_be_bytes()[0]
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------------------------
// Single-key reads and writes.

/// A created key reads back with its value and the revision its commit returned.
pub async fn create_then_get(store: &dyn Store) {
    let revision = commit(store, vec![Write::create("vault/k1", b"first".to_vec())]).await;
    let entry = must_get(store, "vault/k1").await;
    assert_eq!(entry.key, "vault/k1");
    assert_eq!(entry.value, b"first");
    assert_eq!(
        entry.revision, revision,
        "the entry must carry the revision its commit returned"
    );
    assert!(
        get(store, "vault/k2").await.is_none(),
        "an unrelated key must stay absent"
    );
}

/// Reading a key that was never written is `Ok(None)`, not an error.
pub async fn get_missing_is_none(store: &dyn Store) {
    assert!(get(store, "never/written").await.is_none());
    commit(store, vec![Write::create("never/written0", b"x".to_vec())]).await;
    assert!(
        get(store, "never/written").await.is_none(),
        "a longer key must not satisfy a get of its prefix"
    );
    assert!(
        get(store, "never/writte").await.is_none(),
        "a prefix of a key must not satisfy a get"
    );
}

/// Creating a key that exists is a conflict and leaves the stored entry alone.
pub async fn create_existing_conflicts(store: &dyn Store) {
    let revision = commit(store, vec![Write::create("c/key", b"original".to_vec())]).await;
    assert_conflict(
        store.commit(vec![Write::create("c/key", b"intruder".to_vec())]).await,
        "c/key",
        "second create",
    );
    let entry = must_get(store, "c/key").await;
    assert_eq!(entry.value, b"original");
    assert_eq!(entry.revision, revision);
}

/// A compare-and-swap at the current revision replaces the value and moves the revision forward.
pub async fn replace_at_current_revision(store: &dyn Store) {
    let first = commit(store, vec![Write::create("r/key", b"v1".to_vec())]).await;
    let second = commit(store, vec![Write::replace("r/key", b"v2".to_vec(), first)]).await;
    assert!(second > first, "replace returned revision {second}, not above {first}");
    let entry = must_get(store, "r/key").await;
    assert_eq!(entry.value, b"v2");
    assert_eq!(entry.revision, second);
    let third = commit(store, vec![Write::replace("r/key", b"v3".to_vec(), second)]).await;
    assert!(third > second);
    assert_eq!(must_get(store, "r/key").await.value, b"v3");
}

/// A compare-and-swap at an old (or never issued) revision is a conflict: this is what prevents lost updates.
pub async fn replace_at_stale_revision_conflicts(store: &dyn Store) {
    let first = commit(store, vec![Write::create("s/key", b"v1".to_vec())]).await;
    let second = commit(store, vec![Write::replace("s/key", b"v2".to_vec(), first)]).await;
    for stale in [first, 0, second + 1_000_000, u64::MAX, i64::MAX as u64] {
        assert_conflict(
            store
                .commit(vec![Write::replace("s/key", b"lost".to_vec(), stale)])
                .await,
            "s/key",
            &format!("replace at revision {stale} while the key is at {second}"),
        );
    }
    let entry = must_get(store, "s/key").await;
    assert_eq!(entry.value, b"v2");
    assert_eq!(entry.revision, second);
}

/// A compare-and-swap on a missing key is a conflict and creates nothing.
pub async fn replace_missing_conflicts(store: &dyn Store) {
    let revision = commit(store, vec![Write::create("m/other", b"x".to_vec())]).await;
    assert_conflict(
        store
            .commit(vec![Write::replace("m/key", b"v".to_vec(), revision)])
            .await,
        "m/key",
        "replace of a missing key",
    );
    assert!(get(store, "m/key").await.is_none());
}

/// An unconditional write creates a missing key and overwrites an existing one.
pub async fn upsert_creates_and_overwrites(store: &dyn Store) {
    let first = commit(store, vec![Write::upsert("u/key", b"v1".to_vec())]).await;
    let entry = must_get(store, "u/key").await;
    assert_eq!((entry.value.as_slice(), entry.revision), (b"v1".as_slice(), first));
    let second = commit(store, vec![Write::upsert("u/key", b"v2".to_vec())]).await;
    assert!(second > first);
    let entry = must_get(store, "u/key").await;
    assert_eq!((entry.value.as_slice(), entry.revision), (b"v2".as_slice(), second));
}

/// An unconditional delete removes the key, and deleting a missing key still succeeds.
pub async fn delete_any_removes_and_tolerates_missing(store: &dyn Store) {
    let created = commit(store, vec![Write::create("d/key", b"v".to_vec())]).await;
    let deleted = commit(store, vec![delete("d/key", Expect::Any)]).await;
    assert!(deleted > created, "a delete is a commit and gets a newer revision");
    assert!(get(store, "d/key").await.is_none());
    assert!(
        list_keys(store, "d/").await.is_empty(),
        "a deleted key must not be listed"
    );
    let again = commit(store, vec![delete("d/key", Expect::Any)]).await;
    assert!(again > deleted);
    let never = commit(store, vec![delete("d/never", Expect::Any)]).await;
    assert!(never > again);
    assert!(
        get(store, "d/never").await.is_none(),
        "deleting a missing key must not create it"
    );
}

/// A delete at a revision applies only at the current revision; on a stale revision or a missing key it is a
/// conflict.
pub async fn delete_at_revision(store: &dyn Store) {
    let first = commit(store, vec![Write::create("dr/key", b"v1".to_vec())]).await;
    let second = commit(store, vec![Write::replace("dr/key", b"v2".to_vec(), first)]).await;
    assert_conflict(
        store.commit(vec![delete("dr/key", Expect::Revision(first))]).await,
        "dr/key",
        "delete at a stale revision",
    );
    assert_eq!(
        must_get(store, "dr/key").await.value,
        b"v2",
        "a conflicting delete must not remove the key"
    );
    commit(store, vec![delete("dr/key", Expect::Revision(second))]).await;
    assert!(get(store, "dr/key").await.is_none());
    assert_conflict(
        store.commit(vec![delete("dr/key", Expect::Revision(second))]).await,
        "dr/key",
        "delete at a revision of a key that is gone",
    );
}

/// A delete that expects the key to be absent makes no sense and is refused before anything is written.
pub async fn delete_expecting_absent_is_invalid(store: &dyn Store) {
    commit(store, vec![Write::create("da/existing", b"v".to_vec())]).await;
    for key in ["da/existing", "da/missing"] {
        assert_invalid_write(
            store
                .commit(vec![
                    Write::create("da/side", b"v".to_vec()),
                    delete(key, Expect::Absent),
                ])
                .await,
            &format!("delete of '{key}' expecting absent"),
        );
    }
    assert!(
        get(store, "da/side").await.is_none(),
        "a refused batch must write nothing"
    );
    assert!(
        get(store, "da/existing").await.is_some(),
        "a refused delete must not remove the key"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Atomicity and revisions.

/// When one write of a batch conflicts, none of the batch is applied: not the writes before it, not those after.
pub async fn failed_commit_writes_nothing(store: &dyn Store) {
    let setup = commit(
        store,
        vec![
            Write::create("f/b", b"b-old".to_vec()),
            Write::create("f/c", b"c-v1".to_vec()),
            Write::create("f/d", b"d-old".to_vec()),
        ],
    )
    .await;
    let current = commit(store, vec![Write::replace("f/c", b"c-v2".to_vec(), setup)]).await;
    let result = store
        .commit(vec![
            Write::create("f/a", b"new".to_vec()),
            Write::upsert("f/b", b"b-new".to_vec()),
            delete("f/d", Expect::Any),
            Write::replace("f/c", b"c-lost".to_vec(), setup),
            Write::create("f/e", b"after".to_vec()),
        ])
        .await;
    assert_conflict(result, "f/c", "batch with a stale replace");
    assert!(
        get(store, "f/a").await.is_none(),
        "a create before the conflict was applied"
    );
    let b = must_get(store, "f/b").await;
    assert_eq!(
        (b.value.as_slice(), b.revision),
        (b"b-old".as_slice(), setup),
        "an upsert before the conflict"
    );
    let c = must_get(store, "f/c").await;
    assert_eq!((c.value.as_slice(), c.revision), (b"c-v2".as_slice(), current));
    let d = must_get(store, "f/d").await;
    assert_eq!(
        (d.value.as_slice(), d.revision),
        (b"d-old".as_slice(), setup),
        "a delete before the conflict"
    );
    assert!(
        get(store, "f/e").await.is_none(),
        "a create after the conflict was applied"
    );
    assert_eq!(list_keys(store, "f/").await, owned(&["f/b", "f/c", "f/d"]));

    let next = commit(store, vec![Write::create("f/a", b"new".to_vec())]).await;
    assert!(
        next > current,
        "after a failed commit the next revision {next} must still exceed {current}"
    );
}

/// The conflict names the first write, in batch order, whose expectation failed.
pub async fn conflict_names_first_failing_key(store: &dyn Store) {
    let revision = commit(
        store,
        vec![Write::create("n/x", b"x".to_vec()), Write::create("n/y", b"y".to_vec())],
    )
    .await;
    let stale = commit(store, vec![Write::replace("n/y", b"y2".to_vec(), revision)]).await;
    assert!(stale > revision);
    assert_conflict(
        store
            .commit(vec![
                Write::upsert("n/a", b"ok".to_vec()),
                Write::replace("n/y", b"lost".to_vec(), revision),
                Write::create("n/x", b"dup".to_vec()),
            ])
            .await,
        "n/y",
        "stale replace before existing create",
    );
    assert_conflict(
        store
            .commit(vec![
                Write::create("n/x", b"dup".to_vec()),
                Write::replace("n/y", b"lost".to_vec(), revision),
            ])
            .await,
        "n/x",
        "existing create before stale replace",
    );
    assert!(get(store, "n/a").await.is_none());
}

/// Every commit, of any kind, gets a revision above all earlier ones.
pub async fn revisions_strictly_increase(store: &dyn Store) {
    let mut last = 0u64;
    let mut seen = Vec::new();
    for i in 0..20u32 {
        let key = format!("inc/{}", i % 3);
        let write = match i % 4 {
            0 => Write::upsert(key, i.to_be_bytes().to_vec()),
            1 => delete(&key, Expect::Any),
            2 => Write::upsert(key, Vec::new()),
            _ => Write::upsert(format!("inc/many/{i}"), vec![1]),
        };
        let revision = commit(store, vec![write]).await;
        if i > 0 {
            assert!(
                revision > last,
                "commit {i} got revision {revision}, not above {last} (all: {seen:?})"
            );
        }
        seen.push(revision);
        last = revision;
    }
    for entry in list(store, "inc/", None, 100).await {
        assert!(
            seen.contains(&entry.revision),
            "{entry:?} carries a revision no commit returned"
        );
    }
}

/// All writes of one commit carry the commit's revision, whether read by get or by list.
pub async fn one_commit_one_revision(store: &dyn Store) {
    commit(
        store,
        vec![
            Write::create("o/2", b"old".to_vec()),
            Write::create("o/4", b"gone".to_vec()),
        ],
    )
    .await;
    let before = must_get(store, "o/2").await.revision;
    let revision = commit(
        store,
        vec![
            Write::create("o/1", b"a".to_vec()),
            Write::replace("o/2", b"b".to_vec(), before),
            Write::upsert("o/3", b"c".to_vec()),
            delete("o/4", Expect::Any),
        ],
    )
    .await;
    for key in ["o/1", "o/2", "o/3"] {
        assert_eq!(
            must_get(store, key).await.revision,
            revision,
            "revision of '{key}' by get"
        );
    }
    let listed = list(store, "o/", None, 10).await;
    assert_eq!(
        listed.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(),
        ["o/1", "o/2", "o/3"]
    );
    assert!(
        listed.iter().all(|e| e.revision == revision),
        "revisions by list: {listed:?}"
    );
}

/// A key deleted and created again gets a new revision, so a compare-and-swap prepared against the old entry
/// fails instead of silently applying to the new one.
pub async fn recreated_key_gets_fresh_revision(store: &dyn Store) {
    let old = commit(store, vec![Write::create("re/key", b"old".to_vec())]).await;
    commit(store, vec![delete("re/key", Expect::Revision(old))]).await;
    let new = commit(store, vec![Write::create("re/key", b"new".to_vec())]).await;
    assert!(new > old);
    assert_conflict(
        store
            .commit(vec![Write::replace("re/key", b"lost".to_vec(), old)])
            .await,
        "re/key",
        "replace at the revision of the deleted entry",
    );
    assert_eq!(must_get(store, "re/key").await.value, b"new");
}

// ---------------------------------------------------------------------------------------------------------------
// Listing.

/// Listing returns keys in byte order (not a locale's order), with their values and revisions.
pub async fn list_in_byte_order(store: &dyn Store) {
    // Case, punctuation and digits sort differently under locale collations; byte order puts them as below.
    let sorted = [
        "p/!", "p/-x", "p/.", "p/0", "p/9", "p/A", "p/B", "p/Z", "p/_", "p/a", "p/a-b", "p/a.b", "p/a/b", "p/aa",
        "p/b", "p/z", "p/{", "p/~",
    ];
    let mut scrambled: Vec<&str> = sorted.to_vec();
    scrambled.reverse();
    scrambled.rotate_left(7);
    let mut revisions = Vec::new();
    for key in &scrambled {
        let revision = commit(store, vec![Write::create(*key, key.as_bytes().to_vec())]).await;
        revisions.push((*key, revision));
    }
    let listed = list(store, "p/", None, 100).await;
    assert_eq!(listed.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(), sorted);
    for entry in &listed {
        assert_eq!(entry.value, entry.key.as_bytes(), "value of '{}' in a list", entry.key);
        let expected = revisions.iter().find(|(k, _)| *k == entry.key).map(|(_, r)| *r);
        assert_eq!(Some(entry.revision), expected, "revision of '{}' in a list", entry.key);
    }
    let all = list_keys(store, "").await;
    assert_eq!(all, owned(&sorted), "an empty prefix lists every key");
}

/// Listing a prefix returns exactly the keys that start with it: its byte-order neighbours stay out.
pub async fn list_stays_within_prefix(store: &dyn Store) {
    let keys = [
        "a", "a.", "a/", "a/x", "a/x/y", "a/~", "a0", "a00", "b", "`", "~", "~a", "~~", "}",
    ];
    commit(store, keys.iter().map(|k| Write::create(*k, vec![0])).collect()).await;
    assert_eq!(
        list_keys(store, "a/").await,
        owned(&["a/", "a/x", "a/x/y", "a/~"]),
        "prefix 'a/'"
    );
    assert_eq!(
        list_keys(store, "a").await,
        owned(&["a", "a.", "a/", "a/x", "a/x/y", "a/~", "a0", "a00"])
    );
    assert_eq!(list_keys(store, "a/x").await, owned(&["a/x", "a/x/y"]));
    assert_eq!(list_keys(store, "a0").await, owned(&["a0", "a00"]));
    assert_eq!(
        list_keys(store, "~").await,
        owned(&["~", "~a", "~~"]),
        "prefix ending in the highest byte"
    );
    assert_eq!(list_keys(store, "~~").await, owned(&["~~"]));
    assert!(list_keys(store, "a/z").await.is_empty());
    assert!(list_keys(store, "c").await.is_empty());
    assert!(
        list_keys(store, "a/x/y/").await.is_empty(),
        "a prefix longer than every key matches nothing"
    );
    assert_eq!(list_keys(store, "").await.len(), keys.len());
}

/// Paging with `start_after` visits every key once, in order, whether or not the start key exists.
pub async fn list_pages_with_start_after(store: &dyn Store) {
    let keys: Vec<String> = (0..23).map(|i| format!("pg/{:02}", i * 2)).collect();
    commit(
        store,
        keys.iter()
            .map(|k| Write::create(k.clone(), k.as_bytes().to_vec()))
            .collect(),
    )
    .await;
    commit(
        store,
        vec![Write::create("ph/00", vec![1]), Write::create("pf/99", vec![1])],
    )
    .await;

    let mut collected = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = list(store, "pg/", cursor.as_deref(), 5).await;
        pages += 1;
        assert!(
            page.len() <= 5,
            "page {pages} has {} entries for a limit of 5",
            page.len()
        );
        let Some(last) = page.last() else { break };
        cursor = Some(last.key.clone());
        collected.extend(page.into_iter().map(|e| e.key));
        assert!(pages <= 10, "paging does not end");
    }
    assert_eq!(collected, keys, "pages joined must equal the full listing");

    let after_missing = list(store, "pg/", Some("pg/07"), 3).await;
    assert_eq!(
        after_missing.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(),
        ["pg/08", "pg/10", "pg/12"]
    );
    let after_existing = list(store, "pg/", Some("pg/08"), 2).await;
    assert_eq!(
        after_existing.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(),
        ["pg/10", "pg/12"]
    );
    let before_range = list(store, "pg/", Some("pf/99"), 2).await;
    assert_eq!(
        before_range.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(),
        ["pg/00", "pg/02"]
    );
    assert!(
        list(store, "pg/", Some("pg/44"), 5).await.is_empty(),
        "start key is the last key"
    );
    assert!(
        list(store, "pg/", Some("pg/~"), 5).await.is_empty(),
        "start key past the range"
    );
    assert!(
        list(store, "pg/", Some("ph/"), 5).await.is_empty(),
        "start key after the prefix range"
    );
    let everything_after = list(store, "", Some("pg/44"), 10).await;
    assert_eq!(
        everything_after.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(),
        ["ph/00"]
    );
}

/// The limit caps the number of entries; zero returns none; a large limit returns all.
pub async fn list_honours_limit(store: &dyn Store) {
    let keys: Vec<String> = (0..10).map(|i| format!("l/{i}")).collect();
    commit(store, keys.iter().map(|k| Write::create(k.clone(), vec![1])).collect()).await;
    assert!(list(store, "l/", None, 0).await.is_empty(), "limit 0");
    assert_eq!(list(store, "l/", None, 1).await.len(), 1);
    let first_three = list(store, "l/", None, 3).await;
    assert_eq!(
        first_three.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(),
        ["l/0", "l/1", "l/2"]
    );
    assert_eq!(list(store, "l/", None, 10).await.len(), 10);
    assert_eq!(list(store, "l/", None, usize::MAX).await.len(), 10, "limit usize::MAX");
}

// ---------------------------------------------------------------------------------------------------------------
// Validation.

fn invalid_keys() -> Vec<(&'static str, String)> {
    vec![
        ("empty", String::new()),
        ("one byte too long", "k".repeat(MAX_KEY_LEN + 1)),
        ("non-ASCII", "vault/clé".to_owned()),
        ("non-ASCII only", "ключ".to_owned()),
        ("space", "a b".to_owned()),
        ("leading space", " a".to_owned()),
        ("tab", "a\tb".to_owned()),
        ("newline", "a\n".to_owned()),
        ("NUL", "a\0b".to_owned()),
        ("escape", "\u{1b}[0m".to_owned()),
        ("DEL", "a\u{7f}".to_owned()),
    ]
}

/// Keys outside 1..=512 bytes of printable ASCII are refused everywhere, and refusing them writes nothing.
pub async fn invalid_keys_are_refused(store: &dyn Store) {
    for (what, key) in invalid_keys() {
        assert_invalid_key(store.get(&key).await, &format!("get of a key with {what}"));
        assert_invalid_key(
            store
                .commit(vec![
                    Write::create("v/ok", vec![1]),
                    Write::create(key.clone(), vec![1]),
                ])
                .await,
            &format!("create of a key with {what}"),
        );
        assert_invalid_key(
            store.commit(vec![Write::upsert(key.clone(), vec![1])]).await,
            &format!("upsert: {what}"),
        );
        assert_invalid_key(
            store.commit(vec![Write::replace(key.clone(), vec![1], 1)]).await,
            &format!("replace: {what}"),
        );
        assert_invalid_key(
            store.commit(vec![delete(&key, Expect::Any)]).await,
            &format!("delete: {what}"),
        );
    }
    assert!(
        list_keys(store, "").await.is_empty(),
        "refused commits must write nothing"
    );

    // The edges of the valid range are accepted.
    let longest = "k".repeat(MAX_KEY_LEN);
    let every_printable: String = (0x21u8..=0x7e).map(char::from).collect();
    let valid = [longest.as_str(), "!", "~", every_printable.as_str()];
    commit(
        store,
        valid.iter().map(|k| Write::create(*k, k.as_bytes().to_vec())).collect(),
    )
    .await;
    for key in valid {
        assert_eq!(must_get(store, key).await.value, key.as_bytes());
    }
}

/// A non-empty list prefix and a start key must be valid keys.
pub async fn invalid_list_arguments_are_refused(store: &dyn Store) {
    commit(store, vec![Write::create("ok/key", vec![1])]).await;
    for (what, key) in invalid_keys() {
        if !key.is_empty() {
            assert_invalid_key(
                store.list(&key, None, 10).await,
                &format!("list with a prefix with {what}"),
            );
        }
        assert_invalid_key(
            store.list("ok/", Some(&key), 10).await,
            &format!("list after a key with {what}"),
        );
    }
    assert_eq!(list_keys(store, "ok/").await, owned(&["ok/key"]));
}

/// The same key twice in one commit is refused (its outcome would depend on order), and nothing is written.
pub async fn duplicate_key_in_commit_is_refused(store: &dyn Store) {
    let revision = commit(store, vec![Write::create("dup/existing", b"v".to_vec())]).await;
    let batches = [
        vec![
            Write::create("dup/other", vec![1]),
            Write::create("dup/new", vec![1]),
            Write::upsert("dup/new", vec![2]),
        ],
        vec![
            Write::replace("dup/existing", vec![1], revision),
            delete("dup/existing", Expect::Any),
        ],
        vec![delete("dup/existing", Expect::Any), delete("dup/existing", Expect::Any)],
    ];
    for batch in batches {
        let what = format!("{batch:?}");
        assert_invalid_write(store.commit(batch).await, &what);
    }
    assert!(get(store, "dup/other").await.is_none());
    assert!(get(store, "dup/new").await.is_none());
    let entry = must_get(store, "dup/existing").await;
    assert_eq!((entry.value.as_slice(), entry.revision), (b"v".as_slice(), revision));
}

/// A commit without writes is refused rather than burning a revision.
pub async fn empty_commit_is_refused(store: &dyn Store) {
    let before = commit(store, vec![Write::create("e/key", vec![1])]).await;
    assert_invalid_write(store.commit(Vec::new()).await, "empty commit");
    let after = commit(store, vec![Write::upsert("e/key", vec![2])]).await;
    assert!(after > before);
}

// ---------------------------------------------------------------------------------------------------------------
// Values.

/// A 4 MiB value round-trips byte for byte, through get, list and a replace.
pub async fn large_value_round_trips(store: &dyn Store) {
    const LEN: usize = 4 * 1024 * 1024;
    let first = patterned_bytes(LEN, 0x5eed);
    let revision = commit(store, vec![Write::create("big/blob", first.clone())]).await;
    let entry = must_get(store, "big/blob").await;
    assert_eq!(entry.value.len(), LEN);
    assert!(
        entry.value == first,
        "the 4 MiB value read back differs from the one written"
    );
    let listed = list(store, "big/", None, 10).await;
    assert_eq!(listed.len(), 1);
    assert!(
        listed[0].value == first,
        "the 4 MiB value listed differs from the one written"
    );

    let second = patterned_bytes(LEN + 1, 0xbeef);
    commit(store, vec![Write::replace("big/blob", second.clone(), revision)]).await;
    let entry = must_get(store, "big/blob").await;
    assert!(entry.value == second, "the replaced 4 MiB value differs");
}

/// Values are opaque bytes: every byte value, invalid UTF-8, NULs and the empty value round-trip exactly.
pub async fn binary_values_round_trip(store: &dyn Store) {
    let every_byte: Vec<u8> = (0..=255u8).collect();
    let every_byte_reversed: Vec<u8> = (0..=255u8).rev().collect();
    let values: [(&str, Vec<u8>); 6] = [
        ("bin/all", every_byte),
        ("bin/rev", every_byte_reversed),
        ("bin/empty", Vec::new()),
        ("bin/nul", vec![0]),
        ("bin/nuls", vec![0, 0, 0, 1, 0]),
        ("bin/utf8-invalid", vec![0xc3, 0x28, 0xff, 0xfe, 0x80]),
    ];
    commit(
        store,
        values.iter().map(|(k, v)| Write::create(*k, v.clone())).collect(),
    )
    .await;
    for (key, value) in &values {
        assert_eq!(&must_get(store, key).await.value, value, "value of '{key}' by get");
    }
    for entry in list(store, "bin/", None, 10).await {
        let expected = values.iter().find(|(k, _)| *k == entry.key).map(|(_, v)| v);
        assert_eq!(Some(&entry.value), expected, "value of '{}' by list", entry.key);
    }
    assert!(
        get(store, "bin/empty").await.is_some(),
        "an empty value is stored, not treated as absent"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Concurrency. These take a shared handle so the writers run as separate tasks, on separate threads.

const TASKS: usize = 4;

/// Several tasks increment one counter by compare-and-swap, retrying on conflict: no increment may be lost, and
/// every successful commit gets its own revision.
pub async fn concurrent_increments_lose_no_update(store: Arc<dyn Store>) {
    const PER_TASK: u64 = 25;
    const KEY: &str = "ctr/counter";
    commit(store.as_ref(), vec![Write::create(KEY, 0u64.to_be_bytes().to_vec())]).await;
    let start = Arc::new(tokio::sync::Barrier::new(TASKS));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..TASKS {
        let store = Arc::clone(&store);
        let start = Arc::clone(&start);
        tasks.spawn(async move {
            start.wait().await;
            let mut revisions = Vec::new();
            let mut conflicts = 0u64;
            for _ in 0..PER_TASK {
                loop {
                    let entry = must_get(store.as_ref(), KEY).await;
                    let current = u64::from_be_bytes(match entry.value.as_slice().try_into() {
                        Ok(bytes) => bytes,
                        Err(_) => panic!("counter value has {} bytes, not 8", entry.value.len()),
                    });
                    let next = (current + 1).to_be_bytes().to_vec();
                    match store.commit(vec![Write::replace(KEY, next, entry.revision)]).await {
                        Ok(revision) => {
                            revisions.push(revision);
                            break;
                        }
                        Err(StoreError::Conflict { key }) if key == KEY => {
                            conflicts += 1;
                            assert!(
                                conflicts < 100_000,
                                "a task made no progress after {conflicts} conflicts"
                            );
                        }
                        Err(other) => panic!("increment failed with {other:?}"),
                    }
                }
            }
            revisions
        });
    }
    let mut all = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(revisions) => all.extend(revisions),
            Err(err) => std::panic::resume_unwind(err.into_panic()),
        }
    }
    let total = TASKS as u64 * PER_TASK;
    let entry = must_get(store.as_ref(), KEY).await;
    assert_eq!(
        entry.value,
        total.to_be_bytes(),
        "the counter must equal the number of acknowledged increments"
    );
    let distinct: HashSet<u64> = all.iter().copied().collect();
    assert_eq!(distinct.len(), all.len(), "two acknowledged commits shared a revision");
    assert_eq!(all.len() as u64, total);
    assert_eq!(
        all.iter().copied().max(),
        Some(entry.revision),
        "the last increment carries the newest revision"
    );
}

/// Several tasks race to create the same keys: each key gets exactly one winner, and its value is the winner's.
pub async fn concurrent_creates_have_one_winner(store: Arc<dyn Store>) {
    const KEYS: usize = 10;
    let start = Arc::new(tokio::sync::Barrier::new(TASKS));
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let store = Arc::clone(&store);
        let start = Arc::clone(&start);
        tasks.spawn(async move {
            start.wait().await;
            let mut won = Vec::new();
            for k in 0..KEYS {
                let key = format!("race/{k}");
                match store.commit(vec![Write::create(key.clone(), vec![task as u8])]).await {
                    Ok(revision) => won.push((key, revision)),
                    Err(StoreError::Conflict { key: got }) if got == key => {}
                    Err(other) => panic!("create of '{key}' failed with {other:?}"),
                }
            }
            (task, won)
        });
    }
    let mut winners = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((task, won)) => winners.extend(won.into_iter().map(|(key, revision)| (key, revision, task))),
            Err(err) => std::panic::resume_unwind(err.into_panic()),
        }
    }
    assert_eq!(
        winners.len(),
        KEYS,
        "each key must have exactly one successful create: {winners:?}"
    );
    for (key, revision, task) in winners {
        let entry = must_get(store.as_ref(), &key).await;
        assert_eq!(
            entry.value,
            [task as u8],
            "'{key}' holds a value other than its winner's"
        );
        assert_eq!(entry.revision, revision);
    }
}

/// Tasks move units between two keys in two-key commits while a reader lists them: every listing shows both
/// keys from the same commit (same revision) and the total never changes.
pub async fn concurrent_transfers_are_atomic(store: Arc<dyn Store>) {
    const PER_TASK: usize = 15;
    const TOTAL: u64 = 1_000;
    let encode = |n: u64| n.to_be_bytes().to_vec();
    fn decode(entry: &Entry) -> u64 {
        match entry.value.as_slice().try_into() {
            Ok(bytes) => u64::from_be_bytes(bytes),
            Err(_) => panic!("{entry:?} does not hold an 8-byte amount"),
        }
    }
    commit(
        store.as_ref(),
        vec![Write::create("t/a", encode(TOTAL)), Write::create("t/b", encode(0))],
    )
    .await;

    let writers_done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Arc::new(tokio::sync::Barrier::new(TASKS + 1));
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let store = Arc::clone(&store);
        let start = Arc::clone(&start);
        let writers_done = Arc::clone(&writers_done);
        tasks.spawn(async move {
            start.wait().await;
            let mut done = 0;
            let mut attempts = 0u64;
            while done < PER_TASK {
                attempts += 1;
                assert!(attempts < 100_000, "a writer made no progress");
                let listed = list(store.as_ref(), "t/", None, 10).await;
                let [a, b] = listed.as_slice() else {
                    panic!("expected t/a and t/b, got {listed:?}")
                };
                let (from, to) = if task % 2 == 0 { (a, b) } else { (b, a) };
                let (have, other) = (decode(from), decode(to));
                if have == 0 {
                    tokio::task::yield_now().await;
                    continue;
                }
                let writes = vec![
                    Write::replace(from.key.clone(), encode(have - 1), from.revision),
                    Write::replace(to.key.clone(), encode(other + 1), to.revision),
                ];
                match store.commit(writes).await {
                    Ok(_) => done += 1,
                    Err(StoreError::Conflict { .. }) => {}
                    Err(other) => panic!("transfer failed with {other:?}"),
                }
            }
            writers_done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
    }
    {
        let store = Arc::clone(&store);
        let start = Arc::clone(&start);
        let writers_done = Arc::clone(&writers_done);
        tasks.spawn(async move {
            start.wait().await;
            let mut reads = 0u64;
            while writers_done.load(std::sync::atomic::Ordering::SeqCst) < TASKS || reads == 0 {
                let listed = list(store.as_ref(), "t/", None, 10).await;
                let [a, b] = listed.as_slice() else {
                    panic!("expected t/a and t/b, got {listed:?}")
                };
                assert_eq!(a.revision, b.revision, "a listing saw half of a commit: {listed:?}");
                assert_eq!(decode(a) + decode(b), TOTAL, "a listing saw half of a transfer");
                reads += 1;
                tokio::task::yield_now().await;
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        if let Err(err) = joined {
            std::panic::resume_unwind(err.into_panic());
        }
    }
    let a = must_get(store.as_ref(), "t/a").await;
    let b = must_get(store.as_ref(), "t/b").await;
    assert_eq!(decode(&a) + decode(&b), TOTAL);
    // Even tasks move a→b, odd ones b→a, each the same number of times.
    assert_eq!(decode(&b), 0, "the transfers in both directions must cancel out");
}

/// While tasks commit to distinct keys, a reader never sees a commit appear with a revision at or below one it
/// has already seen: revisions follow commit order, so "everything after revision N" is a sound way to follow
/// changes. (A revision taken from a sequence at the start of a transaction would break this.)
pub async fn commits_become_visible_in_revision_order(store: Arc<dyn Store>) {
    const PER_TASK: usize = 30;
    let writers_done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Arc::new(tokio::sync::Barrier::new(TASKS + 1));
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let store = Arc::clone(&store);
        let start = Arc::clone(&start);
        let writers_done = Arc::clone(&writers_done);
        tasks.spawn(async move {
            start.wait().await;
            for i in 0..PER_TASK {
                // One task commits large batches, the others single writes, so that commits which start in one
                // order often finish in the other.
                let size = if task == 0 { 20 } else { 1 };
                let writes = (0..size)
                    .map(|part| Write::create(format!("w/{task}/{i:03}/{part}"), vec![part as u8]))
                    .collect();
                commit(store.as_ref(), writes).await;
            }
            writers_done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
    }
    {
        let store = Arc::clone(&store);
        let start = Arc::clone(&start);
        let writers_done = Arc::clone(&writers_done);
        tasks.spawn(async move {
            start.wait().await;
            let mut seen = HashSet::new();
            let mut watermark = 0u64;
            loop {
                let finished = writers_done.load(std::sync::atomic::Ordering::SeqCst) == TASKS;
                let listed = list(store.as_ref(), "w/", None, 100_000).await;
                for entry in &listed {
                    if seen.insert(entry.key.clone()) {
                        assert!(
                            entry.revision > watermark,
                            "'{}' appeared with revision {} after revision {watermark} had been seen",
                            entry.key,
                            entry.revision
                        );
                    }
                }
                watermark = listed.iter().map(|e| e.revision).max().unwrap_or(0).max(watermark);
                if finished {
                    break;
                }
                tokio::task::yield_now().await;
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        if let Err(err) = joined {
            std::panic::resume_unwind(err.into_panic());
        }
    }
}

async fn changes_after(store: &dyn Store, revision: u64, commits: usize) -> Vec<crate::Change> {
    match ok(store.changes_after(revision, commits).await, "changes_after") {
        crate::Changes::Listed(changes) => changes,
        crate::Changes::Forgotten => panic!("changes after revision {revision} were forgotten unasked"),
    }
}

fn change(revision: u64, key: &str) -> crate::Change {
    crate::Change {
        revision,
        key: key.to_owned(),
    }
}

/// The change feed lists every key each commit wrote or deleted, commit by commit in revision order, a commit
/// never split by the limit; failed commits leave nothing in it; the latest revision is the last commit's.
pub async fn change_feed_lists_whole_commits_in_order(store: &dyn Store) {
    let base = ok(store.latest_revision().await, "latest_revision");
    let first = commit(
        store,
        vec![Write::create("f/b", b"1".to_vec()), Write::create("f/a", b"1".to_vec())],
    )
    .await;
    assert_eq!(first, base + 1, "revisions are dense: one more than the last commit's");
    assert_conflict(
        store.commit(vec![Write::create("f/a", b"2".to_vec())]).await,
        "f/a",
        "create of an existing key",
    );
    let second = commit(
        store,
        vec![
            Write::Delete {
                key: "f/a".into(),
                expect: Expect::Any,
            },
            Write::upsert("f/c", b"1".to_vec()),
        ],
    )
    .await;
    assert_eq!(second, first + 1, "a failed commit takes no revision");
    assert_eq!(ok(store.latest_revision().await, "latest_revision"), second);

    assert_eq!(
        changes_after(store, base, 10).await,
        vec![
            change(first, "f/a"),
            change(first, "f/b"),
            change(second, "f/a"),
            change(second, "f/c")
        ],
        "both commits, each whole, the delete included"
    );
    assert_eq!(
        changes_after(store, base, 1).await,
        vec![change(first, "f/a"), change(first, "f/b")],
        "a limit of one commit gives the first commit whole"
    );
    assert_eq!(
        changes_after(store, first, 10).await,
        vec![change(second, "f/a"), change(second, "f/c")]
    );
    assert_eq!(
        changes_after(store, second, 10).await,
        vec![],
        "nothing after the latest revision"
    );
}

/// Changes the store was asked to forget are reported as forgotten, never as "nothing changed"; a reader at
/// the latest revision still follows what comes next.
pub async fn change_feed_reports_forgotten_changes(store: &dyn Store) {
    let base = ok(store.latest_revision().await, "latest_revision");
    commit(store, vec![Write::create("g/a", b"1".to_vec())]).await;
    let latest = commit(store, vec![Write::create("g/b", b"1".to_vec())]).await;
    // Commit times are in milliseconds: let the commits be strictly older than the cutoff.
    tokio::time::sleep(Duration::from_millis(5)).await;
    ok(
        store.forget_changes_before(Duration::ZERO).await,
        "forget_changes_before",
    );
    match ok(
        store.changes_after(base, 10).await,
        "changes_after a forgotten revision",
    ) {
        crate::Changes::Forgotten => {}
        other => panic!("changes after a forgotten revision: expected Forgotten, got {other:?}"),
    }
    assert_eq!(changes_after(store, latest, 10).await, vec![]);
    let next = commit(store, vec![Write::upsert("g/a", b"2".to_vec())]).await;
    assert_eq!(changes_after(store, latest, 10).await, vec![change(next, "g/a")]);
    ok(
        store.forget_changes_before(Duration::from_secs(3600)).await,
        "forgetting nothing",
    );
    assert_eq!(
        changes_after(store, latest, 10).await,
        vec![change(next, "g/a")],
        "recent changes are kept"
    );
}

/// While tasks commit at once, a follower that reads the feed by revision, as fast as it can, sees every commit
/// exactly once, in order, with every key it wrote: a commit can never appear behind a revision already read.
pub async fn change_feed_follower_misses_no_commit(store: Arc<dyn Store>) {
    const PER_TASK: usize = 25;
    let base = ok(store.latest_revision().await, "latest_revision");
    let writers_done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let store = Arc::clone(&store);
        let writers_done = Arc::clone(&writers_done);
        tasks.spawn(async move {
            let mut written = Vec::new();
            for i in 0..PER_TASK {
                let size = if task == 0 { 10 } else { 1 };
                let keys: Vec<String> = (0..size).map(|part| format!("h/{task}/{i:03}/{part}")).collect();
                let writes = keys.iter().map(|k| Write::create(k.clone(), vec![1])).collect();
                let revision = commit(store.as_ref(), writes).await;
                written.push((revision, keys));
            }
            writers_done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            written
        });
    }
    let mut followed: Vec<crate::Change> = Vec::new();
    let mut position = base;
    loop {
        let finished = writers_done.load(std::sync::atomic::Ordering::SeqCst) == TASKS;
        let batch = changes_after(store.as_ref(), position, 7).await;
        if let Some(last) = batch.last() {
            assert!(last.revision > position);
            position = last.revision;
        }
        followed.extend(batch);
        if finished && ok(store.latest_revision().await, "latest_revision") == position {
            break;
        }
        tokio::task::yield_now().await;
    }
    let mut expected = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(written) => {
                for (revision, keys) in written {
                    expected.extend(keys.into_iter().map(|k| change(revision, &k)));
                }
            }
            Err(err) => std::panic::resume_unwind(err.into_panic()),
        }
    }
    expected.sort_by(|a, b| (a.revision, &a.key).cmp(&(b.revision, &b.key)));
    assert_eq!(
        followed.len(),
        expected.len(),
        "the follower saw a different number of changes"
    );
    assert_eq!(
        followed, expected,
        "the follower missed, repeated or reordered a change"
    );
    let revisions: Vec<u64> = followed.iter().map(|c| c.revision).collect();
    assert!(
        revisions.windows(2).all(|w| w[1] == w[0] || w[1] == w[0] + 1),
        "revisions are dense"
    );
}
