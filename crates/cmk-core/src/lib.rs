//! Primitives shared by every cmk domain.
//!
//! All domain time comes from a [`Clock`], never from the system directly, so that expiry, retention and purge
//! dates can be tested by shifting time instead of waiting.
#![forbid(unsafe_code)]

mod clock;

pub use clock::{Clock, ShiftableClock, SystemClock, Timestamp};
