//! One sample of the database layer's health: pool, acquire waits, query
//! times, slow statements, errors, process memory against its limit, and on
//! PostgreSQL the server's own figures. Figures that do not apply to the
//! backend are named in `not_applicable` instead of being invented.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::storage::instrument::{OperationPercentiles, SlowStatement, Totals};
use crate::storage::{Db, PoolFigures};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Sample {
    pub taken_at: DateTime<Utc>,
    /// Seconds this sample's rates and averages cover.
    pub window_seconds: f64,
    pub pool: PoolSample,
    pub acquire_wait: Quantiles,
    pub queries: QuerySample,
    /// Per repository operation: calls, errors and average since start-up,
    /// p95/p99 over its most recent 256 calls; busiest first.
    #[serde(default)]
    pub operations: Vec<OperationPercentiles>,
    pub slow_queries: SlowSample,
    pub errors: ErrorSample,
    pub memory: MemorySample,
    /// PostgreSQL only (`null` on SQLite).
    pub postgres: Option<PostgresSample>,
    /// Figures that do not exist on this backend.
    pub not_applicable: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PoolSample {
    pub size: u32,
    pub idle: u32,
    pub in_use: u32,
    pub waiting: u32,
    pub max: u32,
    /// `in_use / max`, 0..1.
    pub utilization: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Quantiles {
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QuerySample {
    /// Queries in the window.
    pub count: u64,
    pub per_second: f64,
    /// Average time of the window's queries (0 without queries).
    pub avg_ms: f64,
    /// Over the most recent queries (up to 4 096).
    pub p95_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SlowSample {
    /// Slow queries in the window.
    pub count: u64,
    pub threshold_ms: u64,
    /// The worst statements since start-up, normalized (no literals).
    pub top: Vec<SlowStatement>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorSample {
    /// Database errors in the window (failed queries, acquire timeouts).
    pub count: u64,
    /// Errors over queries in the window, 0..1.
    pub rate: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MemorySample {
    pub rss_bytes: u64,
    pub limit_bytes: u64,
    /// `cgroup`, `configured` or `physical`.
    pub limit_source: String,
    /// `rss / limit`, 0..1.
    pub ratio: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PostgresSample {
    /// From `pg_stat_database` over the window (cumulative when the window has no reads).
    pub cache_hit_ratio: Option<f64>,
    /// Backends connected to this database.
    pub connections: Option<i64>,
    /// Deadlocks in the window.
    pub deadlocks: Option<i64>,
    /// Top statements by total time, when `pg_stat_statements` is available.
    pub statements: Option<Vec<StatementSample>>,
    /// Why `statements` is missing, when it is.
    pub statements_note: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StatementSample {
    pub query: String,
    pub calls: i64,
    pub mean_ms: f64,
    pub total_ms: f64,
}

/// Cumulative server counters kept between samples.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerTotals {
    pub blks_hit: i64,
    pub blks_read: i64,
    pub deadlocks: i64,
}

/// What the sampler remembers from the previous sample.
#[derive(Debug, Clone, Copy)]
pub struct Previous {
    pub at: DateTime<Utc>,
    pub totals: Totals,
    pub server: Option<ServerTotals>,
}

/// Build a sample from the live figures and the previous sample's counters.
pub fn build(
    db: &Db,
    now: DateTime<Utc>,
    previous: Option<Previous>,
    slow_threshold_ms: u64,
    memory: MemorySample,
    postgres: Option<(PostgresSample, ServerTotals)>,
) -> (Sample, Previous) {
    let m = db.metrics();
    let totals = m.totals();
    let before = previous.map(|p| p.totals).unwrap_or_default();
    let window = previous.map(|p| (now - p.at).num_milliseconds() as f64 / 1000.0).unwrap_or(0.0);
    let count = totals.queries.saturating_sub(before.queries);
    let query_ms = (totals.query_ms - before.query_ms).max(0.0);
    let errors = totals.errors.saturating_sub(before.errors);
    let recent = m.query_percentiles();
    let acquire = m.acquire_percentiles();
    let pool: PoolFigures = db.figures();
    let (postgres, server) = match postgres {
        Some((mut sample, server)) => {
            // Window figures from the previous sample's counters.
            if let Some(prev) = previous.and_then(|p| p.server) {
                let hit = server.blks_hit - prev.blks_hit;
                let read = server.blks_read - prev.blks_read;
                if hit + read > 0 {
                    sample.cache_hit_ratio = Some(hit as f64 / (hit + read) as f64);
                }
                sample.deadlocks = Some((server.deadlocks - prev.deadlocks).max(0));
            }
            (Some(sample), Some(server))
        }
        None => (None, None),
    };
    let not_applicable = if db.backend() == "sqlite" {
        ["postgres.cache_hit_ratio", "postgres.connections", "postgres.deadlocks", "postgres.statements"]
            .map(String::from)
            .to_vec()
    } else {
        Vec::new()
    };
    let sample = Sample {
        taken_at: now,
        window_seconds: window,
        pool: PoolSample {
            size: pool.size,
            idle: pool.idle,
            in_use: pool.in_use,
            waiting: pool.waiting,
            max: pool.max,
            utilization: pool.utilization,
        },
        acquire_wait: Quantiles { p50_ms: acquire.p50_ms, p95_ms: acquire.p95_ms, p99_ms: acquire.p99_ms },
        queries: QuerySample {
            count,
            per_second: if window > 0.0 { count as f64 / window } else { 0.0 },
            avg_ms: if count > 0 { query_ms / count as f64 } else { 0.0 },
            p95_ms: recent.p95_ms,
            p99_ms: recent.p99_ms,
        },
        operations: m.operation_percentiles(),
        slow_queries: SlowSample {
            count: totals.slow.saturating_sub(before.slow),
            threshold_ms: slow_threshold_ms,
            top: m.slow_statements(5),
        },
        errors: ErrorSample { count: errors, rate: if count > 0 { errors as f64 / count as f64 } else { 0.0 } },
        memory,
        postgres,
        not_applicable,
    };
    (sample, Previous { at: now, totals, server })
}
