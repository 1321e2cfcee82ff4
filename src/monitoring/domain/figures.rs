//! Figures from check results, as plain arithmetic: counts by status, a
//! latency histogram with fixed log-spaced buckets (mergeable, so hourly
//! rollups add up to days and ranges), percentiles, uptime, and the
//! least-squares slope the trends use.
//!
//! **Uptime** over a range is `(up + degraded) / (up + degraded + down)`
//! over the checks that ran outside maintenance windows: a degraded service
//! answered, so it counts as available; checks during maintenance are kept
//! but count neither way. With no such checks the ratio is unknown (null),
//! never invented.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use serde::{Deserialize, Serialize};

/// Latency buckets: upper bounds of 100 µs × 2^(i/4), i = 0..=BUCKETS-1,
/// so each bucket is 19 % wider than the last and a percentile read from
/// them is within 19 % of the exact value. The last one (≈ 120 s) holds
/// everything slower.
pub const BUCKETS: usize = 82;

/// Upper bound of bucket `i`, in microseconds.
pub fn bucket_bound_us(i: usize) -> f64 {
    100.0 * 2f64.powf(i as f64 / 4.0)
}

/// The bucket a latency falls in.
pub fn bucket_of(latency_us: i64) -> usize {
    if latency_us <= 100 {
        return 0;
    }
    let i = (4.0 * (latency_us as f64 / 100.0).log2()).ceil();
    (i.max(0.0) as usize).min(BUCKETS - 1)
}

/// Counts per latency bucket, sparse (only non-zero buckets), as stored in
/// `service_rollup.latency_hist`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Histogram(pub BTreeMap<usize, u64>);

impl Histogram {
    pub fn add(&mut self, latency_us: i64) {
        *self.0.entry(bucket_of(latency_us)).or_default() += 1;
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (i, n) in &other.0 {
            *self.0.entry(*i).or_default() += n;
        }
    }

    pub fn count(&self) -> u64 {
        self.0.values().sum()
    }

    /// The `q` quantile (0..1) as the upper bound of the bucket holding it, in µs.
    pub fn quantile_us(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = (q * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in &self.0 {
            seen += n;
            if seen >= rank {
                return Some(bucket_bound_us(*i));
            }
        }
        self.0.keys().last().map(|i| bucket_bound_us(*i))
    }
}

/// Aggregate of a set of check results.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Aggregate {
    pub checks: u64,
    pub up: u64,
    pub degraded: u64,
    pub down: u64,
    /// Checks during maintenance (in `checks`, not in up/degraded/down).
    pub maintenance: u64,
    pub latency_sum_us: i64,
    pub latency_min_us: Option<i64>,
    pub latency_max_us: Option<i64>,
    pub hist: Histogram,
}

impl Aggregate {
    /// Add one result: status 0 up, 1 degraded, 2 down.
    pub fn add(&mut self, status: i16, maintenance: bool, latency_us: i64) {
        self.checks += 1;
        if maintenance {
            self.maintenance += 1;
        } else {
            match status {
                0 => self.up += 1,
                1 => self.degraded += 1,
                _ => self.down += 1,
            }
        }
        self.latency_sum_us += latency_us;
        self.latency_min_us = Some(self.latency_min_us.map_or(latency_us, |m| m.min(latency_us)));
        self.latency_max_us = Some(self.latency_max_us.map_or(latency_us, |m| m.max(latency_us)));
        self.hist.add(latency_us);
    }

    pub fn merge(&mut self, o: &Aggregate) {
        self.checks += o.checks;
        self.up += o.up;
        self.degraded += o.degraded;
        self.down += o.down;
        self.maintenance += o.maintenance;
        self.latency_sum_us += o.latency_sum_us;
        self.latency_min_us = match (self.latency_min_us, o.latency_min_us) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.latency_max_us = match (self.latency_max_us, o.latency_max_us) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.hist.merge(&o.hist);
    }

    /// Checks that count for uptime: those outside maintenance.
    pub fn counted(&self) -> u64 {
        self.up + self.degraded + self.down
    }

    /// See the module doc; `None` without counted checks.
    pub fn uptime(&self) -> Option<f64> {
        let counted = self.counted();
        (counted > 0).then(|| (self.up + self.degraded) as f64 / counted as f64)
    }

    pub fn latency_avg_ms(&self) -> Option<f64> {
        (self.checks > 0).then(|| self.latency_sum_us as f64 / self.checks as f64 / 1000.0)
    }

    /// p95 latency in ms, never above the slowest check seen.
    pub fn latency_p95_ms(&self) -> Option<f64> {
        let p95 = self.hist.quantile_us(0.95)?;
        let max = self.latency_max_us.map_or(p95, |m| m as f64);
        Some(p95.min(max) / 1000.0)
    }
}

/// Least-squares slope of `y` over `x` (units of y per unit of x); `None`
/// with fewer than 3 points or no spread in x.
pub fn slope(points: &[(f64, f64)]) -> Option<f64> {
    if points.len() < 3 {
        return None;
    }
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx == 0.0 {
        return None;
    }
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    Some(sxy / sxx)
}

/// One bucket of a series.
#[derive(Debug, Clone)]
pub struct Bucket {
    pub start: DateTime<Utc>,
    pub figures: Aggregate,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_grow_by_a_fourth_root_of_two() {
        assert_eq!(bucket_of(50), 0);
        assert_eq!(bucket_of(100), 0);
        assert_eq!(bucket_of(101), 1);
        assert_eq!(bucket_of(200), 4);
        assert_eq!(bucket_of(1_000_000_000), BUCKETS - 1);
        for us in [150, 999, 12_345, 2_000_000] {
            let i = bucket_of(us);
            assert!(bucket_bound_us(i) >= us as f64 && (i == 0 || bucket_bound_us(i - 1) < us as f64));
        }
    }

    #[test]
    fn uptime_by_hand() {
        // 6 up, 2 degraded, 2 down, 3 in maintenance (one of them down).
        let mut a = Aggregate::default();
        for _ in 0..6 {
            a.add(0, false, 1000);
        }
        for _ in 0..2 {
            a.add(1, false, 5000);
        }
        for _ in 0..2 {
            a.add(2, false, 10_000);
        }
        a.add(0, true, 1000);
        a.add(0, true, 1000);
        a.add(2, true, 1000);
        assert_eq!(a.checks, 13);
        assert_eq!(a.counted(), 10);
        assert_eq!(a.uptime(), Some(0.8), "(6 + 2) / (6 + 2 + 2)");
        assert_eq!(Aggregate::default().uptime(), None);
        // avg over every check: (6×1 + 2×5 + 2×10 + 3×1) / 13 ms
        assert!((a.latency_avg_ms().unwrap() - 39.0 / 13.0).abs() < 1e-9);
    }

    #[test]
    fn merged_halves_equal_the_whole() {
        let lat = [120, 340, 560, 780, 1000, 20_000, 30_000, 450, 5_600, 70];
        let mut whole = Aggregate::default();
        let (mut a, mut b) = (Aggregate::default(), Aggregate::default());
        for (i, l) in lat.iter().enumerate() {
            let status = (i % 3) as i16;
            whole.add(status, i == 4, *l);
            if i < 5 { a.add(status, i == 4, *l) } else { b.add(status, i == 4, *l) }
        }
        a.merge(&b);
        assert_eq!(a, whole);
    }

    #[test]
    fn p95_is_within_a_bucket_of_the_exact_value() {
        let mut a = Aggregate::default();
        for ms in 1..=100 {
            a.add(0, false, ms * 1000);
        }
        let p95 = a.latency_p95_ms().unwrap();
        assert!((95.0..=95.0 * 1.19).contains(&p95), "p95 {p95}");
        let mut one = Aggregate::default();
        one.add(0, false, 4321);
        assert_eq!(one.latency_p95_ms(), Some(4.321), "never above the slowest check");
    }

    #[test]
    fn slope_of_a_line() {
        let pts: Vec<(f64, f64)> = (0..10).map(|x| (x as f64, 3.0 * x as f64 + 7.0)).collect();
        assert!((slope(&pts).unwrap() - 3.0).abs() < 1e-9);
        assert_eq!(slope(&pts[..2]), None);
    }
}
