//! How far apart claims and result writes fall, from the rate checks are
//! claimed at.
//!
//! Every claim and every batch of results costs its round trips and a
//! commit whatever it holds, and on a lightly loaded instance those, not
//! the checks, were most of the CPU (BENCHMARKS.md, "Measurements behind
//! design choices": stretched cadence). So each is stretched until it holds about
//! [`ROWS`] checks, between its configured floor and `max_cadence_ms`.
//! Waiting longer costs nothing a user sees: claims look ahead to the next
//! claim (checks still start when due), a result that may change a
//! service's status, or whose next check is due within a stretched claim
//! and gathering, is stored after the floor, and a new schedule (a
//! service created or re-enabled) makes the next claim come at once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Checks a claim or a batch aims to hold before it is worth its cost.
const ROWS: f64 = 200.0;

pub struct Cadence {
    /// The shortest gap between claims (`claim_interval_ms`).
    claim: Duration,
    /// The shortest gathering of results (`result_linger_ms`).
    linger: Duration,
    /// The longest either is stretched to (`max_cadence_ms`).
    max: Duration,
    /// Checks claimed per second, smoothed: an `f64`'s bits; NaN until the
    /// first claim, so an instance starts at the floor (a large instance's
    /// first claim does not reach the longest cadence ahead).
    rate: AtomicU64,
}

impl Cadence {
    pub fn new(claim: Duration, linger: Duration, max: Duration) -> Self {
        Self { claim, linger, max, rate: AtomicU64::new(f64::NAN.to_bits()) }
    }

    /// A claim round took `rows` checks due over `window`.
    pub fn observe(&self, rows: usize, window: Duration) {
        let seen = rows as f64 / window.as_secs_f64().max(0.001);
        let old = f64::from_bits(self.rate.load(Ordering::Relaxed));
        // Half the weight on the newest round: a burst of new services
        // shortens the cadence within a couple of claims.
        let rate = if old.is_nan() { seen } else { old / 2.0 + seen / 2.0 };
        self.rate.store(rate.to_bits(), Ordering::Relaxed);
    }

    /// How long until the next claim.
    pub fn claim_period(&self) -> Duration {
        self.stretch(self.claim)
    }

    /// How long a writer gathers results; just the floor when one of them
    /// may change a service's status.
    pub fn linger(&self, urgent: bool) -> Duration {
        if urgent { self.linger } else { self.stretch(self.linger) }
    }

    /// Whether a service's next check, `until_next` away, could fall due
    /// before a stretched gathering and the claim covering that check both
    /// pass (each rounded to a boundary `quantum` apart): the service is held
    /// (leased) until its result is stored, so that result must go after the
    /// floor, or the next check would start late.
    pub fn next_is_near(&self, until_next: Duration, quantum: Duration) -> bool {
        until_next <= self.claim_period() + self.linger(false) + quantum * 2
    }

    fn stretch(&self, floor: Duration) -> Duration {
        let rate = f64::from_bits(self.rate.load(Ordering::Relaxed));
        let max = self.max.max(floor);
        if rate.is_nan() {
            return floor;
        }
        if rate <= 0.0 {
            return max;
        }
        Duration::from_secs_f64((ROWS / rate).min(max.as_secs_f64())).clamp(floor, max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn stretches_at_low_rates_and_keeps_the_floor_at_high_ones() {
        let c = Cadence::new(S(1), S(1), S(5));
        // Nothing known before the first claim: the floor.
        assert_eq!(c.claim_period(), S(1));
        // Nothing due: as long as allowed.
        c.observe(0, S(1));
        assert_eq!(c.claim_period(), S(5));
        // 10 000 services every 30 s: 333/s, the floor.
        for _ in 0..20 {
            c.observe(333, S(1));
        }
        assert_eq!(c.claim_period(), S(1));
        assert_eq!(c.linger(false), S(1));
        // 2 000 services every 30 s: 67/s, 200 rows in 3 s.
        for _ in 0..20 {
            c.observe(333, S(5));
        }
        let period = c.claim_period().as_secs_f64();
        assert!((2.9..3.1).contains(&period), "{period} s");
        // 1 000 every 30 s: capped.
        for _ in 0..20 {
            c.observe(167, S(5));
        }
        assert_eq!(c.claim_period(), S(5));
        assert_eq!(c.linger(false), S(5));
        assert_eq!(c.linger(true), S(1), "a result that may change a status waits only the floor");
    }

    #[test]
    fn a_short_interval_is_near_at_a_stretched_cadence() {
        let c = Cadence::new(S(1), S(1), S(5));
        c.observe(0, S(1));
        // 5 s claims, 5 s gathering, 1 s boundaries: a 10 s interval is near, 30 s is not.
        assert!(c.next_is_near(S(10), S(1)));
        assert!(!c.next_is_near(S(30), S(1)));
        // At the floor (high rates) 10 s is not near.
        for _ in 0..20 {
            c.observe(1_000, S(1));
        }
        assert!(!c.next_is_near(S(10), S(1)));
    }

    #[test]
    fn a_maximum_below_the_floor_is_the_floor() {
        let c = Cadence::new(S(2), Duration::from_millis(100), S(1));
        c.observe(0, Duration::ZERO);
        assert_eq!(c.claim_period(), S(2));
        assert_eq!(c.linger(false), S(1));
    }
}
