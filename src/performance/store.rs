//! Stored samples (`performance_sample`) and PostgreSQL's own statistics.

use chrono::{DateTime, Utc};
use sqlx::types::Json;

use super::sample::{PostgresSample, Sample, ServerTotals, StatementSample};
use crate::storage::{Db, Pool, StorageError, Ts};

#[derive(Clone)]
pub struct PerformanceStore {
    db: Db,
}

impl PerformanceStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    pub async fn insert(&self, instance: &str, sample: &Sample) -> Result<(), StorageError> {
        const SQL: &str = "INSERT INTO performance_sample (instance, taken_at, figures) VALUES ($1, $2, $3)";
        self.db
            .write("performance.insert", SQL)
            .bind(instance)
            .bind(Ts(sample.taken_at))
            .bind(Json(sample))
            .execute()
            .await?;
        Ok(())
    }

    /// Samples of `instance` (default: the instance that sampled last)
    /// taken at or after `since`, oldest first.
    pub async fn since(&self, instance: Option<&str>, since: DateTime<Utc>) -> Result<Vec<Sample>, StorageError> {
        const SQL: &str = "SELECT figures FROM performance_sample WHERE taken_at >= $2 AND instance = \
                           COALESCE($1, (SELECT instance FROM performance_sample ORDER BY taken_at DESC LIMIT 1)) \
                           ORDER BY taken_at";
        let rows: Vec<Json<Sample>> =
            self.db.read("performance.since", SQL).bind(instance).bind(Ts(since)).scalar_all().await?;
        Ok(rows.into_iter().map(|j| j.0).collect())
    }

    /// Delete samples taken before `before`, at most `batch` of them.
    pub async fn purge(&self, before: DateTime<Utc>, batch: i64) -> Result<u64, StorageError> {
        const SQL: &str = "DELETE FROM performance_sample WHERE id IN \
                           (SELECT id FROM performance_sample WHERE taken_at < $1 ORDER BY taken_at LIMIT $2)";
        let done = self.db.write("performance.purge", SQL).bind(Ts(before)).bind(batch).execute().await?;
        Ok(done)
    }

    /// PostgreSQL's figures for this database (`None` on SQLite): the
    /// sample part with cumulative counters for the next window.
    pub async fn postgres(&self) -> Result<Option<(PostgresSample, ServerTotals)>, StorageError> {
        let db = &self.db;
        let Pool::Postgres(p) = db.pool() else { return Ok(None) };
        const STATS: &str = "SELECT blks_hit, blks_read, deadlocks, numbackends::bigint FROM pg_stat_database \
                             WHERE datname = current_database()";
        const HAS_STATEMENTS: &str = "SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'";
        const STATEMENTS: &str = "SELECT query, calls, mean_exec_time, total_exec_time FROM pg_stat_statements \
                                  WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                                  ORDER BY total_exec_time DESC LIMIT 5";
        let mut c = db.acquire(p).await?;
        let (hit, read, deadlocks, backends): (i64, i64, i64, i64) =
            db.observe("performance.pg_stat_database", STATS, sqlx::query_as(STATS).fetch_one(&mut *c)).await?;
        let installed: i64 = db
            .observe(
                "performance.has_statements",
                HAS_STATEMENTS,
                sqlx::query_scalar(HAS_STATEMENTS).fetch_one(&mut *c),
            )
            .await?;
        let (statements, note) = if installed == 0 {
            (
                None,
                Some(
                    "pg_stat_statements is not installed in this database (CREATE EXTENSION pg_stat_statements)".into(),
                ),
            )
        } else {
            // Installed but not preloaded: the view refuses to be read.
            match sqlx::query_as::<_, (String, i64, f64, f64)>(STATEMENTS).fetch_all(&mut *c).await {
                Ok(rows) => (
                    Some(
                        rows.into_iter()
                            .map(|(query, calls, mean_ms, total_ms)| StatementSample {
                                query: crate::storage::instrument::normalize_sql(&query),
                                calls,
                                mean_ms,
                                total_ms,
                            })
                            .collect(),
                    ),
                    None,
                ),
                Err(_) => {
                    (None, Some("pg_stat_statements is installed but not loaded (shared_preload_libraries)".into()))
                }
            }
        };
        let cumulative = if hit + read > 0 { Some(hit as f64 / (hit + read) as f64) } else { None };
        let sample = PostgresSample {
            cache_hit_ratio: cumulative,
            connections: Some(backends),
            deadlocks: None,
            statements,
            statements_note: note,
        };
        Ok(Some((sample, ServerTotals { blks_hit: hit, blks_read: read, deadlocks })))
    }
}
