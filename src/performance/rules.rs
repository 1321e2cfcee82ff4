//! Database alert rules over a sample (thresholds from `performance.*`):
//!
//! | key | severity | condition |
//! |---|---|---|
//! | `database.pool_utilization` | warning; critical when every connection is in use and callers wait | utilization > 80 % |
//! | `database.query_time` | warning; critical above twice the threshold | average query time over the window > 1000 ms |
//! | `database.error_rate` | critical | errors / queries over the window > 5 % (with at least 10 queries) |
//! | `database.memory` | warning | RSS > 80 % of the limit |
//! | `database.cache_hit` | warning | PostgreSQL cache-hit ratio < 95 % |

use super::sample::Sample;
use crate::alerts::Condition;
use crate::alerts::channels::Severity;
use crate::config::PerformanceConfig;

/// Fewest queries in a window for its error rate to mean anything.
pub const MIN_QUERIES_FOR_RATE: u64 = 10;

pub fn conditions(s: &Sample, c: &PerformanceConfig) -> Vec<Condition> {
    let mut out = Vec::new();
    let pct = |v: f64| format!("{:.1} %", v * 100.0);
    if s.pool.utilization > c.pool_utilization_warning {
        let saturated = s.pool.in_use >= s.pool.max && s.pool.waiting > 0;
        out.push(
            Condition::new(
                "database.pool_utilization",
                if saturated { Severity::Critical } else { Severity::Warning },
                format!(
                    "database pool utilization {} ({} of {} connections in use, {} waiting)",
                    pct(s.pool.utilization),
                    s.pool.in_use,
                    s.pool.max,
                    s.pool.waiting
                ),
            )
            .measured(s.pool.utilization, c.pool_utilization_warning),
        );
    }
    if s.queries.count > 0 && s.queries.avg_ms > c.avg_query_ms_alert {
        out.push(
            Condition::new(
                "database.query_time",
                if s.queries.avg_ms > 2.0 * c.avg_query_ms_alert { Severity::Critical } else { Severity::Warning },
                format!(
                    "average query time {:.0} ms over the last {:.0} s ({} queries)",
                    s.queries.avg_ms, s.window_seconds, s.queries.count
                ),
            )
            .measured(s.queries.avg_ms, c.avg_query_ms_alert),
        );
    }
    if s.queries.count >= MIN_QUERIES_FOR_RATE && s.errors.rate > c.error_rate_critical {
        out.push(
            Condition::new(
                "database.error_rate",
                Severity::Critical,
                format!(
                    "database error rate {} ({} of {} queries failed)",
                    pct(s.errors.rate),
                    s.errors.count,
                    s.queries.count
                ),
            )
            .measured(s.errors.rate, c.error_rate_critical),
        );
    }
    if s.memory.limit_bytes > 0 && s.memory.ratio > c.memory_warning {
        out.push(
            Condition::new(
                "database.memory",
                Severity::Warning,
                format!(
                    "herald uses {} of its memory limit ({} MiB of {} MiB, {})",
                    pct(s.memory.ratio),
                    s.memory.rss_bytes / (1024 * 1024),
                    s.memory.limit_bytes / (1024 * 1024),
                    s.memory.limit_source
                ),
            )
            .measured(s.memory.ratio, c.memory_warning),
        );
    }
    if let Some(ratio) = s.postgres.as_ref().and_then(|p| p.cache_hit_ratio)
        && ratio < c.cache_hit_warning
    {
        out.push(
            Condition::new(
                "database.cache_hit",
                Severity::Warning,
                format!("PostgreSQL cache-hit ratio {}", pct(ratio)),
            )
            .measured(ratio, c.cache_hit_warning),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::performance::sample::{ErrorSample, MemorySample, PoolSample, Quantiles, QuerySample, SlowSample};

    fn quiet() -> Sample {
        Sample {
            taken_at: chrono::Utc::now(),
            window_seconds: 15.0,
            pool: PoolSample { size: 5, idle: 4, in_use: 1, waiting: 0, max: 10, utilization: 0.1 },
            acquire_wait: Quantiles { p50_ms: 0.1, p95_ms: 0.2, p99_ms: 0.3 },
            queries: QuerySample { count: 100, per_second: 6.7, avg_ms: 2.0, p95_ms: 5.0, p99_ms: 9.0 },
            operations: vec![],
            slow_queries: SlowSample { count: 0, threshold_ms: 1000, top: vec![] },
            errors: ErrorSample { count: 0, rate: 0.0 },
            memory: MemorySample {
                rss_bytes: 10 << 20,
                limit_bytes: 1 << 30,
                limit_source: "cgroup".into(),
                ratio: 0.01,
            },
            postgres: None,
            not_applicable: vec![],
        }
    }

    fn keys(s: &Sample) -> Vec<(String, String)> {
        conditions(s, &PerformanceConfig::default())
            .into_iter()
            .map(|c| (c.key, c.severity.as_str().to_string()))
            .collect()
    }

    #[test]
    fn thresholds_and_escalation_follow_the_table() {
        assert!(keys(&quiet()).is_empty());
        let mut s = quiet();
        s.pool.in_use = 9;
        s.pool.utilization = 0.9;
        assert_eq!(keys(&s), [("database.pool_utilization".to_string(), "warning".to_string())]);
        s.pool.in_use = 10;
        s.pool.utilization = 1.0;
        s.pool.waiting = 3;
        assert_eq!(keys(&s)[0].1, "critical", "saturated with waiters escalates");
        let mut s = quiet();
        s.queries.avg_ms = 1500.0;
        assert_eq!(keys(&s), [("database.query_time".to_string(), "warning".to_string())]);
        s.queries.avg_ms = 2500.0;
        assert_eq!(keys(&s)[0].1, "critical");
        let mut s = quiet();
        s.errors = ErrorSample { count: 6, rate: 0.06 };
        assert_eq!(keys(&s), [("database.error_rate".to_string(), "critical".to_string())]);
        s.queries.count = 5;
        assert!(keys(&s).is_empty(), "too few queries for a rate");
        let mut s = quiet();
        s.memory.ratio = 0.85;
        assert_eq!(keys(&s), [("database.memory".to_string(), "warning".to_string())]);
        let mut s = quiet();
        s.postgres = Some(crate::performance::sample::PostgresSample {
            cache_hit_ratio: Some(0.9),
            connections: Some(3),
            deadlocks: Some(0),
            statements: None,
            statements_note: None,
        });
        assert_eq!(keys(&s), [("database.cache_hit".to_string(), "warning".to_string())]);
    }
}
