//! A clock the executor moves instead of waiting.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// Simulated time for a [`crate::TestInngest`]: it starts at a fixed instant and moves only when
/// the executor resolves a durable sleep (by its duration) or times out a `waitForEvent` (by its
/// timeout). Give the same handle to the code under test as its clock, and build fixtures around
/// [`VirtualClock::start`], so what a run sees after "sleeping an hour" is exactly an hour later
/// than its first step, whatever the wall clock did.
#[derive(Debug, Clone)]
pub struct VirtualClock {
    start_ms: i64,
    now_ms: Arc<AtomicI64>,
}

impl VirtualClock {
    /// A clock reading `unix_seconds` until the executor moves it.
    pub fn starting_at(unix_seconds: i64) -> Self {
        let ms = unix_seconds.saturating_mul(1000);
        Self {
            start_ms: ms,
            now_ms: Arc::new(AtomicI64::new(ms)),
        }
    }

    /// Where the clock started, in Unix seconds.
    pub fn start(&self) -> i64 {
        self.start_ms / 1000
    }

    /// Now, in Unix seconds.
    pub fn now(&self) -> i64 {
        self.now_ms() / 1000
    }

    /// Now, in Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        self.now_ms.load(Ordering::SeqCst)
    }

    /// Let `by` pass (a sleep of that length ends now).
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.now_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_time() {
        let clock = VirtualClock::starting_at(1_000);
        let seen = clock.clone();
        clock.advance(Duration::from_millis(61_500));
        assert_eq!(
            (seen.now(), seen.now_ms(), seen.start()),
            (1_061, 1_061_500, 1_000)
        );
    }
}
