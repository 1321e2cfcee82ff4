//! Capped exponential backoff, the one implementation: start-up connection
//! retries, the health check and the realtime listener while the database
//! is away, alert delivery retries, and restarting a panicked worker.

use std::time::Duration;

use rand::Rng;

/// Waits that start at `initial` and double per retry up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self { initial, max }
    }

    /// From a configuration's milliseconds.
    pub fn from_millis(initial_ms: u64, max_ms: u64) -> Self {
        Self::new(Duration::from_millis(initial_ms), Duration::from_millis(max_ms))
    }

    /// The wait before retry `retry` (1 is the first): `initial × 2^(retry−1)`,
    /// at most `max`, and at least a millisecond, so a loop never spins.
    pub fn delay(&self, retry: u32) -> Duration {
        let doublings = retry.saturating_sub(1).min(30);
        self.initial.saturating_mul(1 << doublings).min(self.max).max(Duration::from_millis(1))
    }

    /// [`Backoff::delay`] with full jitter over its upper half, so retries
    /// that failed together (deliveries to one dead endpoint) do not retry
    /// together.
    pub fn jittered(&self, retry: u32) -> Duration {
        let capped = self.delay(retry);
        rand::rng().random_range(capped / 2..=capped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_per_retry_and_is_capped() {
        let b = Backoff::from_millis(250, 10_000);
        let waits: Vec<u128> = (1..=8).map(|r| b.delay(r).as_millis()).collect();
        assert_eq!(waits, [250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
        assert_eq!(b.delay(0), Duration::from_millis(250), "retry 0 reads as the first");
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(10), "no overflow");
        assert_eq!(Backoff::from_millis(0, 0).delay(3), Duration::from_millis(1), "never zero");
    }

    #[test]
    fn jitter_stays_in_the_upper_half() {
        let b = Backoff::from_millis(1000, 600_000);
        for retry in 1..=12 {
            let full = b.delay(retry);
            for _ in 0..20 {
                let j = b.jittered(retry);
                assert!(j >= full / 2 && j <= full, "{j:?} outside {:?}..={full:?}", full / 2);
            }
        }
    }
}
