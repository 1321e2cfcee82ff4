//! Timing of every repository call and every pool acquire.
//!
//! Each call is recorded under an operation name (`accounts.user_by_email`):
//! a Prometheus histogram per operation, a rolling window for live
//! percentiles, per-operation counts, and a WARN line with the normalized SQL
//! when a query is slower than the configured threshold.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use serde::Serialize;
use utoipa::ToSchema;

/// Samples kept for live percentiles; old ones fall off the front.
const WINDOW: usize = 4096;

/// Prometheus histogram buckets for database timings, in seconds.
const DB_BUCKETS: [f64; 14] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    pub operation: &'static str,
}

fn db_histogram() -> Histogram {
    Histogram::new(DB_BUCKETS)
}

/// Every database timing figure herald keeps.
pub struct DbMetrics {
    slow_threshold: Duration,
    pub(crate) query_seconds: Family<OperationLabels, Histogram, fn() -> Histogram>,
    pub(crate) errors: Family<OperationLabels, Counter>,
    pub(crate) acquire_seconds: Histogram,
    pub(crate) slow_queries: Counter,
    pub(crate) errors_total: Counter,
    queries_total: AtomicU64,
    /// Sum of every query's time, in microseconds (averages between samples).
    query_micros_total: AtomicU64,
    query_window: Mutex<VecDeque<f64>>,
    /// Slow statements by normalized text (at most `MAX_SLOW_STATEMENTS`).
    slow_statements: Mutex<HashMap<String, SlowStats>>,
    acquire_window: Mutex<VecDeque<f64>>,
    operations: Mutex<HashMap<&'static str, OperationStats>>,
}

/// Distinct slow statements remembered; later new ones are counted only in the total.
const MAX_SLOW_STATEMENTS: usize = 200;

#[derive(Debug, Clone, Default)]
struct SlowStats {
    count: u64,
    worst_ms: f64,
}

/// A slow statement: its normalized text (no literals), how often it was
/// slow, and its worst time, since start-up.
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct SlowStatement {
    pub sql: String,
    pub count: u64,
    pub worst_ms: f64,
}

/// Cumulative counters since start-up; differences of two give a window.
#[derive(Debug, Clone, Copy, Default)]
pub struct Totals {
    pub queries: u64,
    pub query_ms: f64,
    pub errors: u64,
    pub slow: u64,
}

/// Recent timings kept per operation for its percentiles.
const OPERATION_WINDOW: usize = 256;

/// Running totals for one operation, and its most recent timings.
#[derive(Debug, Clone, Default)]
struct OperationStats {
    calls: u64,
    errors: u64,
    total_ms: f64,
    max_ms: f64,
    recent: VecDeque<f32>,
}

/// One operation's figures: totals since start-up, percentiles over its
/// most recent calls (up to 256).
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct OperationPercentiles {
    pub operation: String,
    pub calls: u64,
    pub errors: u64,
    pub avg_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

/// Percentiles over the most recent samples.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Percentiles {
    /// How many samples the figures rest on (at most the window size).
    pub samples: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Totals for one operation since start-up.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OperationFigures {
    pub operation: String,
    pub calls: u64,
    pub errors: u64,
    pub avg_ms: f64,
    pub max_ms: f64,
}

impl DbMetrics {
    pub fn new(slow_threshold: Duration) -> Self {
        Self {
            slow_threshold,
            query_seconds: Family::new_with_constructor(db_histogram),
            errors: Family::default(),
            acquire_seconds: db_histogram(),
            slow_queries: Counter::default(),
            errors_total: Counter::default(),
            queries_total: AtomicU64::new(0),
            query_micros_total: AtomicU64::new(0),
            query_window: Mutex::new(VecDeque::with_capacity(WINDOW)),
            slow_statements: Mutex::new(HashMap::new()),
            acquire_window: Mutex::new(VecDeque::with_capacity(WINDOW)),
            operations: Mutex::new(HashMap::new()),
        }
    }

    /// Record one finished query; `fault` marks a database error.
    pub(crate) fn record_query(&self, operation: &'static str, sql: &str, elapsed: Duration, fault: bool) {
        let secs = elapsed.as_secs_f64();
        let ms = secs * 1000.0;
        self.query_seconds.get_or_create(&OperationLabels { operation }).observe(secs);
        self.queries_total.fetch_add(1, Ordering::Relaxed);
        self.query_micros_total.fetch_add(elapsed.as_micros().min(u128::from(u64::MAX)) as u64, Ordering::Relaxed);
        push(&self.query_window, ms);
        if fault {
            self.errors.get_or_create(&OperationLabels { operation }).inc();
            self.errors_total.inc();
        }
        if let Ok(mut ops) = self.operations.lock() {
            let s = ops.entry(operation).or_default();
            s.calls += 1;
            s.errors += u64::from(fault);
            s.total_ms += ms;
            s.max_ms = s.max_ms.max(ms);
            if s.recent.len() == OPERATION_WINDOW {
                s.recent.pop_front();
            }
            s.recent.push_back(ms as f32);
        }
        if elapsed >= self.slow_threshold {
            self.slow_queries.inc();
            let normalized = normalize_sql(sql);
            tracing::warn!(operation, elapsed_ms = ms as u64, sql = %normalized, "slow query");
            if let Ok(mut slow) = self.slow_statements.lock()
                && (slow.len() < MAX_SLOW_STATEMENTS || slow.contains_key(&normalized))
            {
                let s = slow.entry(normalized).or_default();
                s.count += 1;
                s.worst_ms = s.worst_ms.max(ms);
            }
        }
    }

    /// Record how long a caller waited for a connection.
    pub(crate) fn record_acquire(&self, elapsed: Duration, failed: bool) {
        self.acquire_seconds.observe(elapsed.as_secs_f64());
        push(&self.acquire_window, elapsed.as_secs_f64() * 1000.0);
        if failed {
            self.errors.get_or_create(&OperationLabels { operation: "pool.acquire" }).inc();
            self.errors_total.inc();
        }
    }

    pub fn errors_total(&self) -> u64 {
        self.errors_total.get()
    }

    pub fn queries_total(&self) -> u64 {
        self.queries_total.load(Ordering::Relaxed)
    }

    pub fn slow_queries_total(&self) -> u64 {
        self.slow_queries.get()
    }

    pub fn totals(&self) -> Totals {
        Totals {
            queries: self.queries_total(),
            query_ms: self.query_micros_total.load(Ordering::Relaxed) as f64 / 1000.0,
            errors: self.errors_total(),
            slow: self.slow_queries_total(),
        }
    }

    /// A copy of the per-operation statistics (empty if a recording
    /// thread panicked holding the lock).
    fn operations_now(&self) -> HashMap<&'static str, OperationStats> {
        self.operations.lock().map(|ops| ops.clone()).unwrap_or_default()
    }

    /// Per-operation figures with p95/p99, busiest first.
    pub fn operation_percentiles(&self) -> Vec<OperationPercentiles> {
        let mut out: Vec<_> = self
            .operations_now()
            .into_iter()
            .map(|(operation, s)| {
                let mut recent: Vec<f64> = s.recent.iter().map(|v| f64::from(*v)).collect();
                recent.sort_by(f64::total_cmp);
                OperationPercentiles {
                    operation: operation.to_string(),
                    calls: s.calls,
                    errors: s.errors,
                    avg_ms: if s.calls == 0 { 0.0 } else { s.total_ms / s.calls as f64 },
                    p95_ms: quantile(&recent, 0.95),
                    p99_ms: quantile(&recent, 0.99),
                }
            })
            .collect();
        out.sort_by(|a, b| b.calls.cmp(&a.calls).then_with(|| a.operation.cmp(&b.operation)));
        out
    }

    /// The slowest statements seen, worst first.
    pub fn slow_statements(&self, limit: usize) -> Vec<SlowStatement> {
        let mut out: Vec<SlowStatement> = match self.slow_statements.lock() {
            Ok(slow) => slow
                .iter()
                .map(|(sql, s)| SlowStatement { sql: sql.clone(), count: s.count, worst_ms: s.worst_ms })
                .collect(),
            Err(_) => Vec::new(),
        };
        out.sort_by(|a, b| b.worst_ms.total_cmp(&a.worst_ms));
        out.truncate(limit);
        out
    }

    pub fn query_percentiles(&self) -> Percentiles {
        percentiles(&self.query_window)
    }

    pub fn acquire_percentiles(&self) -> Percentiles {
        percentiles(&self.acquire_window)
    }

    /// Per-operation totals, busiest first.
    pub fn operations(&self) -> Vec<OperationFigures> {
        let mut out: Vec<_> = self
            .operations_now()
            .into_iter()
            .map(|(operation, s)| OperationFigures {
                operation: operation.to_string(),
                calls: s.calls,
                errors: s.errors,
                avg_ms: if s.calls == 0 { 0.0 } else { s.total_ms / s.calls as f64 },
                max_ms: s.max_ms,
            })
            .collect();
        out.sort_by(|a, b| b.calls.cmp(&a.calls).then_with(|| a.operation.cmp(&b.operation)));
        out
    }
}

fn push(window: &Mutex<VecDeque<f64>>, value: f64) {
    if let Ok(mut w) = window.lock() {
        if w.len() == WINDOW {
            w.pop_front();
        }
        w.push_back(value);
    }
}

fn percentiles(window: &Mutex<VecDeque<f64>>) -> Percentiles {
    let mut values: Vec<f64> = window.lock().map(|w| w.iter().copied().collect()).unwrap_or_default();
    values.sort_by(f64::total_cmp);
    Percentiles {
        samples: values.len(),
        p50_ms: quantile(&values, 0.50),
        p95_ms: quantile(&values, 0.95),
        p99_ms: quantile(&values, 0.99),
        max_ms: values.last().copied().unwrap_or(0.0),
    }
}

/// Nearest-rank quantile of sorted values; 0 for none.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// SQL as it is logged: whitespace collapsed, string and number literals
/// replaced by `?`, so no value (and no secret) ever reaches a log line.
pub fn normalize_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    let mut last_space = true;
    let mut prev_ident = false;
    while let Some(c) = chars.next() {
        if c == '\'' {
            // Skip the literal, honouring '' escapes.
            while let Some(n) = chars.next() {
                if n == '\'' {
                    if chars.peek() == Some(&'\'') {
                        chars.next();
                    } else {
                        break;
                    }
                }
            }
            out.push('?');
            last_space = false;
            prev_ident = false;
        } else if c.is_ascii_digit() && !prev_ident {
            while chars.peek().is_some_and(|n| n.is_ascii_digit() || *n == '.') {
                chars.next();
            }
            out.push('?');
            last_space = false;
        } else if c.is_whitespace() {
            if !last_space {
                out.push(' ');
                last_space = true;
            }
            prev_ident = false;
        } else {
            out.push(c);
            last_space = false;
            prev_ident = c.is_alphanumeric() || c == '_' || c == '$';
        }
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_collapses_whitespace_and_hides_literals() {
        assert_eq!(
            normalize_sql("SELECT *\n  FROM t\tWHERE a = 'x''y' AND b = 42 AND c = $1 AND t2.col1 = 0.5"),
            "SELECT * FROM t WHERE a = ? AND b = ? AND c = $1 AND t2.col1 = ?"
        );
    }

    #[test]
    fn quantiles_use_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 50.0);
        assert_eq!(quantile(&v, 0.99), 99.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }

    #[test]
    fn slow_queries_and_errors_are_counted() {
        let m = DbMetrics::new(Duration::from_millis(10));
        m.record_query("op.a", "select 1", Duration::from_millis(20), false);
        m.record_query("op.a", "select 1", Duration::from_millis(1), true);
        assert_eq!(m.slow_queries_total(), 1);
        assert_eq!(m.errors_total(), 1);
        let ops = m.operations();
        assert_eq!(ops[0].calls, 2);
        assert_eq!(ops[0].errors, 1);
        assert_eq!(m.query_percentiles().samples, 2);
    }
}
