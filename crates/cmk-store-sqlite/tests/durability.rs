//! What the SQLite backend promises beyond the shared suite: data outlives the process, acknowledged commits
//! outlive `kill -9`, several handles on one file agree on revisions, and the file is private.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cmk_store::{Expect, Store, StoreError, Write};
use cmk_store_sqlite::SqliteStore;

#[tokio::test]
async fn data_survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let first = store
        .commit(vec![
            Write::create("keep/a", b"alpha".to_vec()),
            Write::create("keep/b", (0..=255u8).collect()),
            Write::create("keep/gone", b"x".to_vec()),
        ])
        .await
        .unwrap();
    let last = store
        .commit(vec![
            Write::replace("keep/a", b"alpha-2".to_vec(), first),
            Write::Delete {
                key: "keep/gone".into(),
                expect: Expect::Revision(first),
            },
        ])
        .await
        .unwrap();
    store.close().await;
    drop(store);

    let store = SqliteStore::open(&path).await.unwrap();
    let a = store.get("keep/a").await.unwrap().unwrap();
    assert_eq!((a.value.as_slice(), a.revision), (b"alpha-2".as_slice(), last));
    let b = store.get("keep/b").await.unwrap().unwrap();
    assert_eq!(b.value, (0..=255u8).collect::<Vec<_>>());
    assert_eq!(b.revision, first);
    assert!(store.get("keep/gone").await.unwrap().is_none());
    let keys: Vec<String> = store
        .list("keep/", None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.key)
        .collect();
    assert_eq!(keys, ["keep/a", "keep/b"]);
    let next = store.commit(vec![Write::upsert("keep/c", vec![1])]).await.unwrap();
    assert!(
        next > last,
        "the revision counter must survive a reopen ({next} <= {last})"
    );
    // A compare-and-swap prepared before the restart still applies at the stored revision.
    store
        .commit(vec![Write::replace("keep/a", b"alpha-3".to_vec(), last)])
        .await
        .unwrap();
}

#[tokio::test]
async fn two_handles_on_one_file_share_revisions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let one = SqliteStore::open(&path).await.unwrap();
    let two = SqliteStore::open(&path).await.unwrap();
    let created = one
        .commit(vec![Write::create("shared/k", b"1".to_vec())])
        .await
        .unwrap();
    let seen = two.get("shared/k").await.unwrap().unwrap();
    assert_eq!(
        seen.revision, created,
        "a second handle must see the first one's commit"
    );
    let replaced = two
        .commit(vec![Write::replace("shared/k", b"2".to_vec(), created)])
        .await
        .unwrap();
    assert!(replaced > created);
    match one
        .commit(vec![Write::replace("shared/k", b"3".to_vec(), created)])
        .await
    {
        Err(StoreError::Conflict { key }) => assert_eq!(key, "shared/k"),
        other => panic!("a stale replace through the other handle gave {other:?}"),
    }

    // Interleaved writers on two connections (as two processes would be) still get increasing revisions.
    let (a, b) = tokio::join!(
        async {
            let mut revisions = Vec::new();
            for i in 0..20 {
                revisions.push(
                    one.commit(vec![Write::upsert(format!("x/one/{i}"), vec![1])])
                        .await
                        .unwrap(),
                );
            }
            revisions
        },
        async {
            let mut revisions = Vec::new();
            for i in 0..20 {
                revisions.push(
                    two.commit(vec![Write::upsert(format!("x/two/{i}"), vec![2])])
                        .await
                        .unwrap(),
                );
            }
            revisions
        }
    );
    for revisions in [&a, &b] {
        assert!(
            revisions.windows(2).all(|w| w[0] < w[1]),
            "revisions went backwards: {revisions:?}"
        );
    }
    let mut all: Vec<u64> = a.iter().chain(&b).copied().collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 40, "two handles handed out the same revision");
}

#[tokio::test]
async fn open_in_a_missing_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    match SqliteStore::open(&dir.path().join("no/such/dir/store.db")).await {
        Err(StoreError::Backend(_)) => {}
        Err(other) => panic!("unexpected error kind: {other:?}"),
        Ok(_) => panic!("opened a database in a directory that does not exist"),
    }
}

#[cfg(unix)]
#[tokio::test]
async fn database_files_are_private() {
    use std::os::unix::fs::PermissionsExt;

    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = SqliteStore::open(&path).await.unwrap();
    store.commit(vec![Write::create("p/k", vec![1])]).await.unwrap();
    assert_eq!(mode(&path), 0o600, "new database file");
    for suffix in ["-wal", "-shm"] {
        let side = PathBuf::from(format!("{}{suffix}", path.display()));
        assert!(side.exists(), "{suffix} file missing while the store is open");
        assert_eq!(mode(&side), 0o600, "{suffix} file");
    }
    store.close().await;

    // An existing file that others could read is tightened on open.
    let loose = dir.path().join("loose.db");
    std::fs::write(&loose, b"").unwrap();
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = SqliteStore::open(&loose).await.unwrap();
    assert_eq!(mode(&loose), 0o600, "pre-existing database file");
    store.close().await;
}

/// Set for the child process of [`acknowledged_commits_survive_kill`]: the database it writes to.
const CHILD_DB: &str = "CMK_STORE_SQLITE_KILL_CHILD_DB";

/// Commits two keys per commit in a loop, printing each acknowledged commit, until it is killed.
#[tokio::test]
#[ignore = "a child process of acknowledged_commits_survive_kill, not a test on its own"]
async fn kill_child_writer() {
    let path = std::env::var_os(CHILD_DB).expect("run by acknowledged_commits_survive_kill only");
    let store = SqliteStore::open(Path::new(&path)).await.unwrap();
    for i in 0u64.. {
        let value = i.to_be_bytes().to_vec();
        let revision = store
            .commit(vec![
                Write::create(format!("a/{i:08}"), value.clone()),
                Write::create(format!("b/{i:08}"), value),
            ])
            .await
            .unwrap();
        println!("acked {i} {revision}");
    }
}

#[test]
fn acknowledged_commits_survive_kill() {
    const ACKS_BEFORE_KILL: u64 = 150;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "kill_child_writer",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DB, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acked = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let Some(rest) = line.strip_prefix("acked ") else {
            continue;
        };
        let (i, revision) = rest.split_once(' ').unwrap();
        acked.push((i.parse::<u64>().unwrap(), revision.parse::<u64>().unwrap()));
        if acked.len() as u64 == ACKS_BEFORE_KILL {
            // SIGKILL on unix: no destructors, no flush, no chance to finish the commit in flight.
            child.kill().unwrap();
            break;
        }
    }
    let status = child.wait().unwrap();
    assert_eq!(
        acked.len() as u64,
        ACKS_BEFORE_KILL,
        "the child stopped early: {status}"
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = SqliteStore::open(&path).await.unwrap();
        for (i, revision) in &acked {
            for side in ["a", "b"] {
                let key = format!("{side}/{i:08}");
                let entry = store.get(&key).await.unwrap();
                let entry = entry.unwrap_or_else(|| panic!("acknowledged '{key}' was lost"));
                assert_eq!(entry.revision, *revision);
                assert_eq!(entry.value, i.to_be_bytes());
            }
        }
        // The commit in flight at the kill is either wholly there or wholly absent.
        let a = store.list("a/", None, 100_000).await.unwrap();
        let b = store.list("b/", None, 100_000).await.unwrap();
        assert_eq!(a.len(), b.len(), "a commit survived the kill only in part");
        assert!(a.len() >= acked.len());
        let last = acked.last().map(|(_, r)| *r).unwrap();
        let next = store.commit(vec![Write::upsert("after/kill", vec![1])]).await.unwrap();
        assert!(next > last);
    });
}
