//! Hourly and daily rollups of `service_metric`, the raw rows behind a
//! range, and retention. Rolling up is a job any instance may run: the
//! period's `rollup_progress` row is taken with `FOR UPDATE SKIP LOCKED`
//! on PostgreSQL, so one instance at a time rolls a period, and each hour
//! is rolled and its progress moved in one transaction.

use std::collections::HashMap;

use chrono::{DateTime, Duration, DurationRound, Utc};
use futures_util::TryStreamExt;
use sqlx::types::Json;

use super::MonitoringStore;
use crate::monitoring::domain;
use crate::monitoring::domain::figures::{Aggregate, Histogram};
use crate::on_pool;
use crate::storage::{Micros, Pool, StorageError, Ts};

pub const HOUR: i32 = 3600;
pub const DAY: i32 = 86_400;

/// A stored rollup row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RollupRow {
    pub service_id: i64,
    pub bucket: DateTime<Utc>,
    pub checks: i32,
    pub up: i32,
    pub degraded: i32,
    pub down: i32,
    pub maintenance: i32,
    pub latency_sum_us: i64,
    pub latency_min_us: Option<i32>,
    pub latency_max_us: Option<i32>,
    pub latency_hist: Json<Histogram>,
}

impl RollupRow {
    pub fn aggregate(&self) -> Aggregate {
        let n = |v: i32| u64::try_from(v).unwrap_or(0);
        Aggregate {
            checks: n(self.checks),
            up: n(self.up),
            degraded: n(self.degraded),
            down: n(self.down),
            maintenance: n(self.maintenance),
            latency_sum_us: self.latency_sum_us,
            latency_min_us: self.latency_min_us.map(i64::from),
            latency_max_us: self.latency_max_us.map(i64::from),
            hist: self.latency_hist.0.clone(),
        }
    }
}

/// What one rollup pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rolled {
    pub hours: u32,
    pub days: u32,
}

fn count(v: u64) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

fn floor(t: DateTime<Utc>, period: i32) -> DateTime<Utc> {
    t.duration_trunc(Duration::seconds(period.into())).unwrap_or(t)
}

/// Progress, aggregation and upserts for one period inside `$tx`; the SQL
/// is the same on both backends, only the progress lock differs.
macro_rules! roll_period {
    ($db:expr, $tx:expr, $lock:expr, $period:expr, $source:expr, $limit:expr, $max_steps:expr) => {{
        let progress: Option<DateTime<Utc>> = {
            let q = sqlx::query_scalar($lock).bind($period);
            $db.observe("monitoring.rollup_progress", $lock, q.fetch_optional(&mut *$tx)).await?
        };
        let mut done = 0u32;
        let start = match progress {
            Some(t) => Some(t),
            None => {
                // First run: start from the oldest result (or the source's start).
                let oldest: Option<DateTime<Utc>> = if $source.rows.is_some() {
                    let q = sqlx::query_scalar::<_, Option<Micros>>($source.oldest);
                    $db.observe("monitoring.rollup_oldest", $source.oldest, q.fetch_one(&mut *$tx)).await?.map(|m| m.0)
                } else {
                    let q = sqlx::query_scalar($source.oldest);
                    $db.observe("monitoring.rollup_oldest", $source.oldest, q.fetch_one(&mut *$tx)).await?
                };
                match oldest {
                    Some(t) => {
                        const INIT: &str = "INSERT INTO rollup_progress (period, rolled_to) VALUES ($1, $2)";
                        let q = sqlx::query(INIT).bind($period).bind(Ts(floor(t, $period)));
                        $db.observe("monitoring.rollup_init", INIT, q.execute(&mut *$tx)).await?;
                        Some(floor(t, $period))
                    }
                    None => None,
                }
            }
        };
        if let Some(mut at) = start {
            let step = Duration::seconds($period.into());
            while at + step <= $limit && done < $max_steps {
                let mut by_service: HashMap<i64, Aggregate> = HashMap::new();
                if let Some(rows) = $source.rows {
                    // Streamed: an hour of results at the design point is a million rows.
                    let q = sqlx::query_as::<_, (i64, i16, i32)>(rows).bind(Micros(at)).bind(Micros(at + step));
                    let mut rows = q.fetch(&mut *$tx);
                    while let Some((service, code, latency)) =
                        rows.try_next().await.map_err(|e| StorageError::from_sqlx("monitoring.rollup_rows", &e))?
                    {
                        let (status, maintenance) = domain::stored_result(code);
                        by_service.entry(service).or_default().add(status, maintenance, latency.into());
                    }
                } else {
                    // Days merge the day's hours.
                    let q = sqlx::query_as::<_, RollupRow>(ROLLUP_ROWS).bind(HOUR).bind(Ts(at)).bind(Ts(at + step));
                    for row in $db.observe("monitoring.rollup_rows", ROLLUP_ROWS, q.fetch_all(&mut *$tx)).await? {
                        by_service.entry(row.service_id).or_default().merge(&row.aggregate());
                    }
                }
                for (service, a) in &by_service {
                    let q = sqlx::query(UPSERT)
                        .bind(service)
                        .bind($period)
                        .bind(Ts(at))
                        .bind(count(a.checks))
                        .bind(count(a.up))
                        .bind(count(a.degraded))
                        .bind(count(a.down))
                        .bind(count(a.maintenance))
                        .bind(a.latency_sum_us)
                        .bind(a.latency_min_us.map(|v| i32::try_from(v).unwrap_or(i32::MAX)))
                        .bind(a.latency_max_us.map(|v| i32::try_from(v).unwrap_or(i32::MAX)))
                        .bind(Json(&a.hist));
                    $db.observe("monitoring.rollup_upsert", UPSERT, q.execute(&mut *$tx)).await?;
                }
                at += step;
                const MOVE: &str = "UPDATE rollup_progress SET rolled_to = $2 WHERE period = $1";
                let q = sqlx::query(MOVE).bind($period).bind(Ts(at));
                $db.observe("monitoring.rollup_move", MOVE, q.execute(&mut *$tx)).await?;
                done += 1;
            }
        }
        done
    }};
}

const UPSERT: &str = "INSERT INTO service_rollup (service_id, period, bucket, checks, up, degraded, down, maintenance, \
                      latency_sum_us, latency_min_us, latency_max_us, latency_hist) \
                      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                      ON CONFLICT (service_id, period, bucket) DO UPDATE SET checks = excluded.checks, \
                      up = excluded.up, degraded = excluded.degraded, down = excluded.down, \
                      maintenance = excluded.maintenance, latency_sum_us = excluded.latency_sum_us, \
                      latency_min_us = excluded.latency_min_us, latency_max_us = excluded.latency_max_us, \
                      latency_hist = excluded.latency_hist";
const ROLLUP_ROWS: &str = "SELECT service_id, bucket, checks, up, degraded, down, maintenance, latency_sum_us, \
                           latency_min_us, latency_max_us, latency_hist FROM service_rollup \
                           WHERE period = $1 AND bucket >= $2 AND bucket < $3";

/// Where a period's figures come from: raw results (`rows`), or, without
/// them, the hourly rollups.
struct Source {
    oldest: &'static str,
    rows: Option<&'static str>,
}

const RAW: Source = Source {
    oldest: "SELECT min(checked_at) FROM service_metric",
    rows: Some(
        // `service_id` is INTEGER on PostgreSQL (see its migration), read as i64.
        "SELECT CAST(service_id AS BIGINT), status, latency_us FROM service_metric WHERE checked_at >= $1 AND checked_at < $2",
    ),
};
const HOURS: Source = Source { oldest: "SELECT min(bucket) FROM service_rollup WHERE period = 3600", rows: None };

impl MonitoringStore {
    /// Roll up every hour that ended before `settled` (results of checks
    /// that started in it have all been written by then), then every day
    /// whose hours are all rolled; at most `max_steps` of each per call.
    pub async fn roll_up(&self, settled: DateTime<Utc>, max_steps: u32) -> Result<Rolled, StorageError> {
        let db = &self.db;
        let mut rolled = Rolled::default();
        for (period, source) in [(HOUR, &RAW), (DAY, &HOURS)] {
            let limit = if period == HOUR { settled } else { self.rolled_to(HOUR).await?.unwrap_or(settled) };
            let done = match db.pool() {
                Pool::Postgres(p) => {
                    // One instance at a time rolls a period (the design's
                    // advisory lock for periodic jobs); the others skip.
                    const TRY: &str = "SELECT pg_try_advisory_xact_lock(7401, $1)";
                    const LOCK: &str = "SELECT rolled_to FROM rollup_progress WHERE period = $1";
                    let mut c = db.acquire_write(p).await?;
                    let mut tx = db.begin(&mut c).await?;
                    let ours: bool = {
                        let q = sqlx::query_scalar(TRY).bind(period);
                        db.observe("monitoring.rollup_lock", TRY, q.fetch_one(&mut *tx)).await?
                    };
                    let done = if ours { roll_period!(db, tx, LOCK, period, source, limit, max_steps) } else { 0 };
                    db.observe("transaction.commit", "COMMIT", tx.commit()).await?;
                    done
                }
                Pool::Sqlite(p) => {
                    const LOCK: &str = "SELECT rolled_to FROM rollup_progress WHERE period = $1";
                    let mut c = db.acquire_write(p).await?;
                    let mut tx = db.begin(&mut c).await?;
                    let done = roll_period!(db, tx, LOCK, period, source, limit, max_steps);
                    db.observe("transaction.commit", "COMMIT", tx.commit()).await?;
                    done
                }
            };
            if period == HOUR {
                rolled.hours = done;
            } else {
                rolled.days = done;
            }
        }
        Ok(rolled)
    }

    /// Up to where `period` is rolled up (exclusive), if it has started.
    pub async fn rolled_to(&self, period: i32) -> Result<Option<DateTime<Utc>>, StorageError> {
        const SQL: &str = "SELECT rolled_to FROM rollup_progress WHERE period = $1";
        self.db.read("monitoring.rolled_to", SQL).bind(period).scalar_optional().await
    }

    /// A service's rollups of `period` with buckets in `[from, to)`, oldest first.
    pub async fn rollups(
        &self,
        service_id: i64,
        period: i32,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<RollupRow>, StorageError> {
        const SQL: &str = "SELECT service_id, bucket, checks, up, degraded, down, maintenance, latency_sum_us, \
                           latency_min_us, latency_max_us, latency_hist FROM service_rollup \
                           WHERE service_id = $1 AND period = $2 AND bucket >= $3 AND bucket < $4 ORDER BY bucket";
        self.db
            .read("monitoring.rollups", SQL)
            .bind(service_id)
            .bind(period)
            .bind(Ts(from))
            .bind(Ts(to))
            .fetch_all()
            .await
    }

    /// A service's raw results in `[from, to)`: (time, status, maintenance, latency µs), oldest first.
    pub async fn raw(
        &self,
        service_id: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, i16, bool, i32)>, StorageError> {
        const SQL: &str = "SELECT checked_at, status, latency_us FROM service_metric \
                           WHERE service_id = $1 AND checked_at >= $2 AND checked_at < $3 ORDER BY checked_at";
        let rows: Vec<(Micros, i16, i32)> = self
            .db
            .read("monitoring.raw", SQL)
            .bind(service_id)
            .bind(Micros(from))
            .bind(Micros(to))
            .fetch_all()
            .await?;
        Ok(rows
            .into_iter()
            .map(|(t, code, l)| {
                let (status, maintenance) = domain::stored_result(code);
                (t.0, status, maintenance, l)
            })
            .collect())
    }

    /// Delete raw results before `raw_before` and rollups before
    /// `rollups_before`, `batch` rows per statement, so no statement holds
    /// locks for long. Returns the rows deleted.
    pub async fn purge(
        &self,
        raw_before: DateTime<Utc>,
        rollups_before: DateTime<Utc>,
        batch: i64,
    ) -> Result<u64, StorageError> {
        let (raw, rollups) = match self.db.pool() {
            Pool::Postgres(_) => (
                "DELETE FROM service_metric WHERE ctid IN \
                 (SELECT ctid FROM service_metric WHERE checked_at < $1 LIMIT $2)",
                "DELETE FROM service_rollup WHERE ctid IN \
                 (SELECT ctid FROM service_rollup WHERE bucket < $1 LIMIT $2)",
            ),
            Pool::Sqlite(_) => (
                "DELETE FROM service_metric WHERE rowid IN \
                 (SELECT rowid FROM service_metric WHERE checked_at < $1 LIMIT $2)",
                "DELETE FROM service_rollup WHERE rowid IN \
                 (SELECT rowid FROM service_rollup WHERE bucket < $1 LIMIT $2)",
            ),
        };
        let mut total = 0;
        for (sql, before, micros) in [(raw, raw_before, true), (rollups, rollups_before, false)] {
            loop {
                let db = &self.db;
                let n = on_pool!(db, |p| {
                    let mut c = db.acquire_write(p).await?;
                    // Raw results keep their time as `Micros`, rollups as `Ts`.
                    let q = if micros {
                        sqlx::query(sql).bind(Micros(before)).bind(batch)
                    } else {
                        sqlx::query(sql).bind(Ts(before)).bind(batch)
                    };
                    db.observe("monitoring.purge", sql, q.execute(&mut *c)).await?.rows_affected()
                });
                total += n;
                if n < batch.unsigned_abs() {
                    break;
                }
            }
        }
        Ok(total)
    }
}
