use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A point in time with one-second resolution, as every Azure wire format we speak uses.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_unix_seconds(seconds: i64) -> Self {
        Self(seconds)
    }

    pub const fn unix_seconds(self) -> i64 {
        self.0
    }

    pub const fn plus_seconds(self, seconds: i64) -> Self {
        Self(self.0.saturating_add(seconds))
    }

    /// RFC 3339 in UTC (`2026-11-28T12:00:00Z`), the form ARM uses.
    pub fn to_rfc3339(self) -> String {
        OffsetDateTime::from_unix_timestamp(self.0)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_else(|| self.0.to_string())
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// The only source of "now" for domain code.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

fn system_now() -> Timestamp {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    Timestamp(seconds)
}

/// Wall-clock time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        system_now()
    }
}

/// Wall-clock time plus an offset that only ever grows, so that a development deployment can jump forward
/// to test expiry and retention. Time never runs backwards: data written "in the future" stays in the past.
#[derive(Debug, Default)]
pub struct ShiftableClock {
    offset_seconds: AtomicI64,
}

impl ShiftableClock {
    pub fn with_offset(offset_seconds: i64) -> Self {
        Self {
            offset_seconds: AtomicI64::new(offset_seconds.max(0)),
        }
    }

    pub fn offset_seconds(&self) -> i64 {
        self.offset_seconds.load(Ordering::SeqCst)
    }

    /// Moves time forward by `seconds` (negative values are refused by returning `None`) and returns the new
    /// total offset.
    pub fn advance(&self, seconds: i64) -> Option<i64> {
        if seconds < 0 {
            return None;
        }
        let previous = self
            .offset_seconds
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |o| o.checked_add(seconds))
            .ok()?;
        Some(previous + seconds)
    }
}

impl Clock for ShiftableClock {
    fn now(&self) -> Timestamp {
        system_now().plus_seconds(self.offset_seconds())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shiftable_clock_moves_forward_only() {
        let clock = ShiftableClock::default();
        let before = clock.now();
        assert_eq!(clock.advance(3600), Some(3600));
        assert!(clock.now().unix_seconds() >= before.unix_seconds() + 3600);
        assert_eq!(clock.advance(-1), None);
        assert_eq!(clock.offset_seconds(), 3600);
    }

    #[test]
    fn rfc3339_is_utc_with_z() {
        assert_eq!(Timestamp::from_unix_seconds(0).to_rfc3339(), "1970-01-01T00:00:00Z");
    }
}
