//! Following the change feed: what other processes sharing the store committed, learnt from the store itself.
//!
//! The follower keeps the revision it has seen and asks the store for the commits after it, woken at once by the
//! store's commit signal (PostgreSQL `NOTIFY`) and at least every [`POLL`] without one, so a missed signal
//! delays a change by at most that, never loses it. The changes come from what is committed, by revision, so a
//! change committed by a process that died a moment later reaches every other process all the same. For each
//! batch it invalidates the cache, marks the cache fresh as of the read, and tells its subscribers which keys
//! changed; the commits of its own process are left out of what it tells (they were told in-process already).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::{CachingStore, Change, Changes, Store};

/// The longest a change waits when no commit signal arrives.
pub const POLL: Duration = Duration::from_millis(250);
/// How long after a successful catch-up the cache may serve: the staleness bound of a shared cache.
pub const FRESHNESS: Duration = Duration::from_secs(1);
/// Commits read per round.
const BATCH: usize = 1000;
/// How long the store keeps changes for followers that fall behind (a node that stalls longer starts afresh).
const RETENTION: Duration = Duration::from_secs(600);
/// How often a follower asks the store to forget what it no longer needs to keep.
const FORGET_EVERY: Duration = Duration::from_secs(60);

/// What the follower tells its subscribers.
#[derive(Debug, Clone)]
pub enum FeedEvent {
    /// Keys other processes changed, in revision order.
    Changed(Arc<[Change]>),
    /// The follower lost track (the store forgot changes it had not read): anything may have changed.
    Everything,
}

/// The follower's state, for readiness checks and metrics.
#[derive(Debug, Default)]
pub struct FeedStatus {
    /// The last revision seen.
    pub revision: std::sync::atomic::AtomicU64,
    /// When the follower last caught up, in milliseconds since the Unix epoch (0: not yet).
    pub caught_up_at_ms: std::sync::atomic::AtomicI64,
}

impl FeedStatus {
    /// Whether the follower caught up within `within`.
    pub fn is_current(&self, within: Duration) -> bool {
        let at = self.caught_up_at_ms.load(std::sync::atomic::Ordering::Relaxed);
        at > 0 && crate::now_millis().saturating_sub(at) <= i64::try_from(within.as_millis()).unwrap_or(i64::MAX)
    }
}

/// A running follower.
pub struct Feed {
    sender: tokio::sync::broadcast::Sender<FeedEvent>,
    pub status: Arc<FeedStatus>,
    task: tokio::task::JoinHandle<()>,
}

impl Feed {
    /// Starts following the store behind `cache` from its latest revision, keeping the cache a view of the feed.
    pub async fn start<S: Store>(cache: Arc<CachingStore<S>>) -> Result<Self, crate::StoreError> {
        let (sender, _) = tokio::sync::broadcast::channel(1024);
        let status = Arc::new(FeedStatus::default());
        let start = cache.latest_revision().await?;
        status.revision.store(start, std::sync::atomic::Ordering::Relaxed);
        let task = tokio::spawn(follow(cache, start, sender.clone(), status.clone()));
        Ok(Feed { sender, status, task })
    }

    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<FeedEvent> {
        self.sender.subscribe()
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn follow<S: Store>(
    cache: Arc<CachingStore<S>>,
    mut position: u64,
    sender: tokio::sync::broadcast::Sender<FeedEvent>,
    status: Arc<FeedStatus>,
) {
    let store: &dyn Store = cache.as_ref();
    let mut signal = store.commit_signal();
    let mut last_forget = Instant::now();
    loop {
        let asked = Instant::now();
        match store.changes_after(position, BATCH).await {
            Ok(Changes::Listed(changes)) => {
                let full = changes.len() >= BATCH;
                if let Some(last) = changes.last() {
                    position = last.revision;
                }
                for change in &changes {
                    cache.invalidate(&change.key, change.revision);
                }
                let foreign: Vec<Change> = changes.into_iter().filter(|c| !cache.is_own(c.revision)).collect();
                cache.mark_fresh(asked, FRESHNESS);
                status.revision.store(position, std::sync::atomic::Ordering::Relaxed);
                status
                    .caught_up_at_ms
                    .store(crate::now_millis(), std::sync::atomic::Ordering::Relaxed);
                if !foreign.is_empty() {
                    let _ = sender.send(FeedEvent::Changed(foreign.into()));
                }
                if full {
                    continue;
                }
            }
            Ok(Changes::Forgotten) => {
                tracing::warn!(
                    position,
                    "the store forgot changes this node had not read; starting afresh"
                );
                if let Ok(latest) = store.latest_revision().await {
                    cache.clear();
                    position = latest;
                    let _ = sender.send(FeedEvent::Everything);
                }
                continue;
            }
            Err(e) => tracing::warn!(error = %e, "reading the change feed failed; retrying"),
        }
        if last_forget.elapsed() >= FORGET_EVERY {
            last_forget = Instant::now();
            if let Err(e) = store.forget_changes_before(RETENTION).await {
                tracing::warn!(error = %e, "trimming the change feed failed");
            }
        }
        let woken = async {
            match signal.as_mut() {
                Some(receiver) => {
                    if receiver.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = woken => {}
            _ = tokio::time::sleep(POLL) => {}
        }
        if signal.as_ref().is_some_and(|s| s.has_changed().is_err()) {
            signal = store.commit_signal();
        }
    }
}
