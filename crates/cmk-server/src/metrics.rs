//! Prometheus metrics of one node, in the text exposition format at `GET /metrics`: requests by plane and status,
//! request latency by plane, key operations, the change feed's lag and the record cache's hit rate.
//!
//! Counters are atomics updated on the request path (no lock, no allocation); the text is built only when
//! scraped. Labels are from small fixed sets (planes, status codes, operations), so the series stay few. Nothing
//! here names a resource, a principal or a key.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cmk_store::CacheStats;
use cmk_store::feed::FeedStatus;

/// The planes requests are counted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Plane {
    Management,
    Vault,
    Account,
}

impl Plane {
    const ALL: [Plane; 3] = [Plane::Management, Plane::Vault, Plane::Account];

    fn label(self) -> &'static str {
        match self {
            Plane::Management => "management",
            Plane::Vault => "vault",
            Plane::Account => "account",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// The vault data-plane operations counted one by one.
pub(crate) const KEY_OPERATIONS: [&str; 6] = ["wrapkey", "unwrapkey", "sign", "verify", "encrypt", "decrypt"];

#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if let Some(bucket) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(
            u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
}

type CacheStatsSource = Arc<dyn Fn() -> CacheStats + Send + Sync>;

/// HTTP status codes are three digits from 100 to 599; one counter each, so counting takes no lock.
const STATUS_CODES: std::ops::RangeInclusive<u16> = 100..=599;
const STATUS_COUNT: usize = 500;

fn status_counters() -> [AtomicU64; STATUS_COUNT] {
    std::array::from_fn(|_| AtomicU64::new(0))
}

pub(crate) struct Metrics {
    /// By plane, then by status code less 100; only the codes seen are rendered.
    requests: [[AtomicU64; STATUS_COUNT]; 3],
    latency: [Histogram; 3],
    key_operations: [AtomicU64; KEY_OPERATIONS.len()],
    feed: Arc<FeedStatus>,
    cache: CacheStatsSource,
}

impl Metrics {
    pub fn new(feed: Arc<FeedStatus>, cache: CacheStatsSource) -> Self {
        Self {
            requests: std::array::from_fn(|_| status_counters()),
            latency: Default::default(),
            key_operations: Default::default(),
            feed,
            cache,
        }
    }

    pub fn record(&self, plane: Plane, status: u16, elapsed: Duration, key_operation: Option<usize>) {
        if let Some(counter) = STATUS_CODES
            .contains(&status)
            .then(|| &self.requests[plane.index()][usize::from(status - 100)])
        {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        self.latency[plane.index()].observe(elapsed);
        if let Some(operation) = key_operation.and_then(|i| self.key_operations.get(i)) {
            operation.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP cmk_requests_total Requests answered, by plane and HTTP status.\n");
        out.push_str("# TYPE cmk_requests_total counter\n");
        for plane in Plane::ALL {
            for (status, counter) in STATUS_CODES.zip(&self.requests[plane.index()]) {
                let count = counter.load(Ordering::Relaxed);
                if count > 0 {
                    let _ = writeln!(
                        out,
                        "cmk_requests_total{{plane=\"{}\",status=\"{status}\"}} {count}",
                        plane.label()
                    );
                }
            }
        }
        out.push_str("# HELP cmk_request_duration_seconds Time to answer a request, by plane.\n");
        out.push_str("# TYPE cmk_request_duration_seconds histogram\n");
        for plane in Plane::ALL {
            let histogram = &self.latency[plane.index()];
            let mut cumulative = 0;
            for (bound, bucket) in BUCKETS.iter().zip(&histogram.buckets) {
                cumulative += bucket.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "cmk_request_duration_seconds_bucket{{plane=\"{}\",le=\"{bound}\"}} {cumulative}",
                    plane.label()
                );
            }
            let count = histogram.count.load(Ordering::Relaxed);
            let sum = histogram.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let label = plane.label();
            let _ = writeln!(
                out,
                "cmk_request_duration_seconds_bucket{{plane=\"{label}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(out, "cmk_request_duration_seconds_sum{{plane=\"{label}\"}} {sum}");
            let _ = writeln!(out, "cmk_request_duration_seconds_count{{plane=\"{label}\"}} {count}");
        }
        out.push_str("# HELP cmk_key_operations_total Cryptographic key operations requested, by operation.\n");
        out.push_str("# TYPE cmk_key_operations_total counter\n");
        for (name, count) in KEY_OPERATIONS.iter().zip(&self.key_operations) {
            let _ = writeln!(
                out,
                "cmk_key_operations_total{{operation=\"{name}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        let caught_up = self.feed.caught_up_at_ms.load(Ordering::Relaxed);
        let lag = if caught_up > 0 {
            (cmk_store::now_millis().saturating_sub(caught_up)) as f64 / 1000.0
        } else {
            f64::INFINITY
        };
        out.push_str("# HELP cmk_feed_lag_seconds Time since this node last read the change feed to its end.\n");
        out.push_str("# TYPE cmk_feed_lag_seconds gauge\n");
        let _ = writeln!(out, "cmk_feed_lag_seconds {}", prometheus_float(lag));
        out.push_str("# HELP cmk_feed_revision The last store revision this node has seen.\n");
        out.push_str("# TYPE cmk_feed_revision gauge\n");
        let _ = writeln!(out, "cmk_feed_revision {}", self.feed.revision.load(Ordering::Relaxed));
        let stats = (self.cache)();
        out.push_str("# HELP cmk_record_cache_hits_total Record reads served from memory.\n");
        out.push_str("# TYPE cmk_record_cache_hits_total counter\n");
        let _ = writeln!(out, "cmk_record_cache_hits_total {}", stats.hits);
        out.push_str("# HELP cmk_record_cache_misses_total Record reads that went to the database.\n");
        out.push_str("# TYPE cmk_record_cache_misses_total counter\n");
        let _ = writeln!(out, "cmk_record_cache_misses_total {}", stats.misses);
        out
    }
}

fn prometheus_float(value: f64) -> String {
    if value.is_infinite() {
        "+Inf".into()
    } else {
        format!("{value}")
    }
}

/// The key operation a vault data-plane path names (`/keys/{name}/{version}/unwrapkey`), as an index into
/// [`KEY_OPERATIONS`].
pub(crate) fn key_operation_of(path: &str) -> Option<usize> {
    let last = path.trim_end_matches('/').rsplit('/').next()?;
    KEY_OPERATIONS.iter().position(|op| last.eq_ignore_ascii_case(op))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_latencies_and_the_feed() {
        let feed = Arc::new(FeedStatus::default());
        let metrics = Metrics::new(feed, Arc::new(|| CacheStats { hits: 7, misses: 3 }));
        metrics.record(
            Plane::Vault,
            200,
            Duration::from_micros(800),
            key_operation_of("/keys/k/v/unwrapkey"),
        );
        metrics.record(Plane::Vault, 403, Duration::from_millis(30), None);
        let text = metrics.render();
        assert!(
            text.contains("cmk_requests_total{plane=\"vault\",status=\"200\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("cmk_requests_total{plane=\"vault\",status=\"403\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("cmk_request_duration_seconds_bucket{plane=\"vault\",le=\"0.001\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("cmk_request_duration_seconds_bucket{plane=\"vault\",le=\"0.05\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("cmk_request_duration_seconds_count{plane=\"vault\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("cmk_key_operations_total{operation=\"unwrapkey\"} 1"),
            "{text}"
        );
        assert!(text.contains("cmk_feed_lag_seconds +Inf"), "{text}");
        assert!(text.contains("cmk_record_cache_hits_total 7"), "{text}");
        assert_eq!(key_operation_of("/keys/k/wrapKey"), Some(0));
        assert_eq!(key_operation_of("/keys/k"), None);
    }
}
