//! Rollups of `service_metric` — ten-minute slices, hours made of slices,
//! days made of hours —, the raw rows behind a range, and retention.
//! Rolling up is a job any instance may run: on PostgreSQL a level's
//! advisory lock lets one instance at a time roll it, and each step (one
//! slice, hour or day) is stored and its progress moved in one
//! transaction, so a crash repeats at most the step it was in.

use std::collections::HashMap;

use chrono::{DateTime, Duration, DurationRound, Utc};
use futures_util::TryStreamExt;
use sqlx::types::Json;

use super::MonitoringStore;
use crate::monitoring::domain;
use crate::monitoring::domain::figures::{Aggregate, Histogram};
use crate::on_pool;
use crate::storage::{Micros, Pool, StorageError, Ts, sqlite_json};

pub const HOUR: i32 = 3600;
pub const DAY: i32 = 86_400;

/// One stored check result as figures read it.
#[derive(Debug, Clone, Copy)]
pub struct RawResult {
    pub service_id: i64,
    pub checked_at: DateTime<Utc>,
    /// 0 up, 1 degraded, 2 down.
    pub status: i16,
    pub maintenance: bool,
    pub latency_us: i32,
}

/// One stored check result with its detail, for a service's page.
#[derive(Debug, Clone)]
pub struct RecentResult {
    pub checked_at: DateTime<Utc>,
    /// 0 up, 1 degraded, 2 down.
    pub status: i16,
    pub maintenance: bool,
    pub latency_us: i32,
    pub status_code: Option<i16>,
    /// What failed, already scrubbed of the check's secrets when stored.
    pub error: Option<String>,
}

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

/// What one rollup pass did: steps rolled per level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rolled {
    pub slices: u32,
    pub hours: u32,
    pub quarters: u32,
    pub days: u32,
}

impl Rolled {
    pub fn total(&self) -> u32 {
        self.slices + self.hours + self.quarters + self.days
    }
}

/// Ten-minute rollups of raw results, which the hours are made of. They
/// exist so that no pass folds an hour of raw results at once: at 10 000
/// services an hour is 3.6 M rows, which took SQLite 7 s of herald's CPU
/// in one minute (BENCHMARKS.md, "Measurements behind design choices").
/// Ranges never read them; they go once their hour is rolled.
pub const SLICE: i32 = 600;
/// Six-hour rollups of hours, which the days are made of, for the same
/// reason: a day of 10 000 services' hours is 240 000 rows, 3.2 s of
/// herald's CPU on SQLite in one pass. They go once their day is rolled.
pub const QUARTER: i32 = 21_600;

/// What a level is rolled from.
#[derive(Debug, Clone, Copy)]
enum Below {
    Raw,
    Rollups(i32),
}

/// The levels, finest first, each rolled from the one before it. Ranges
/// read hours and days; slices and quarters are steps on the way.
const LEVELS: [(i32, Below); 4] = [
    (SLICE, Below::Raw),
    (HOUR, Below::Rollups(SLICE)),
    (QUARTER, Below::Rollups(HOUR)),
    (DAY, Below::Rollups(QUARTER)),
];

/// The level rolled from `period`'s rows, which starts where `period`'s
/// rows are no longer needed.
fn above(period: i32) -> Option<i32> {
    match period {
        SLICE => Some(HOUR),
        HOUR => Some(QUARTER),
        QUARTER => Some(DAY),
        _ => None,
    }
}

/// A pass stops rolling once it has folded this much (after the step that
/// crossed it), so catching up after a pause spreads over passes the way
/// the steady state does, and no pass at 10 000 services takes two heavy
/// steps: a slice there is 600 000 raw rows, an hour 60 000 slices.
const WORK_PER_PASS: u64 = 250_000;
/// What folding a rollup row costs against a raw row: a rollup carries a
/// histogram to decode (on SQLite about 15 µs a row against 2).
const ROLLUP_ROW_WORK: u64 = 8;

fn count(v: u64) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

fn floor(t: DateTime<Utc>, period: i32) -> DateTime<Utc> {
    t.duration_trunc(Duration::seconds(period.into())).unwrap_or(t)
}

const PROGRESS: &str = "SELECT rolled_to FROM rollup_progress WHERE period = $1";
const MOVE: &str = "INSERT INTO rollup_progress (period, rolled_to) VALUES ($1, $2) \
                    ON CONFLICT (period) DO UPDATE SET rolled_to = excluded.rolled_to";
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
// `service_id` is INTEGER on PostgreSQL (see its migration), read as i64.
const RAW_ROWS: &str = "SELECT CAST(service_id AS BIGINT), status, latency_us FROM service_metric \
                        WHERE checked_at >= $1 AND checked_at < $2";

fn add_raw(by_service: &mut HashMap<i64, Aggregate>, service: i64, code: i16, latency: i32) {
    let (status, maintenance) = domain::stored_result(code);
    by_service.entry(service).or_default().add(status, maintenance, latency.into());
}

/// A rollup row as SQLite's JSON array: service, checks, up, degraded,
/// down, maintenance, latency sum, min, max, histogram.
#[derive(serde::Deserialize)]
struct PackedRollup(i64, u64, u64, u64, u64, u64, i64, Option<i64>, Option<i64>, Histogram);

impl PackedRollup {
    fn aggregate(self) -> Aggregate {
        let PackedRollup(
            _,
            checks,
            up,
            degraded,
            down,
            maintenance,
            latency_sum_us,
            latency_min_us,
            latency_max_us,
            hist,
        ) = self;
        Aggregate { checks, up, degraded, down, maintenance, latency_sum_us, latency_min_us, latency_max_us, hist }
    }
}

/// Inside `$tx`: whether the level's progress is still `$expected` (no
/// other pass rolled this step meanwhile).
macro_rules! progress_is {
    ($db:expr, $tx:expr, $period:expr, $expected:expr) => {{
        let q = sqlx::query_scalar::<_, DateTime<Utc>>(PROGRESS).bind($period);
        let now = $db.observe("monitoring.rollup_progress", PROGRESS, q.fetch_optional(&mut *$tx)).await?;
        now == $expected
    }};
}

/// Inside `$tx`: store one step's rollups and move the level's progress.
macro_rules! store_step {
    ($db:expr, $tx:expr, $period:expr, $bucket:expr, $to:expr, $figures:expr) => {{
        for (service, a) in $figures {
            let q = sqlx::query(UPSERT)
                .bind(service)
                .bind($period)
                .bind(Ts($bucket))
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
        let q = sqlx::query(MOVE).bind($period).bind(Ts($to));
        $db.observe("monitoring.rollup_move", MOVE, q.execute(&mut *$tx)).await?;
    }};
}

impl MonitoringStore {
    /// Roll up every slice that ended before `settled` (results of checks
    /// that started in it have all been written by then), every hour whose
    /// slices are all rolled, and so on up to the days; at most `max_steps`
    /// of each level per call, and no more steps once the call has done
    /// [`WORK_PER_PASS`].
    pub async fn roll_up(&self, settled: DateTime<Utc>, max_steps: u32) -> Result<Rolled, StorageError> {
        let mut rolled = Rolled::default();
        // Shared by the levels: the pass that folds a slice of 10 000
        // services leaves the hour made of it to the next pass.
        let mut work = 0;
        // Each level rolls up to where the one below it stands.
        let mut limit = Some(settled);
        for (period, below) in LEVELS {
            let mut done = 0;
            let mut progress = self.rolled_to(period).await?;
            while let Some(limit) = limit
                && done < max_steps
                && work < WORK_PER_PASS
            {
                let at = match progress {
                    Some(at) => at,
                    None => match self.first_bucket(period, below).await? {
                        Some(at) => at,
                        None => break,
                    },
                };
                let to = at + Duration::seconds(period.into());
                if to > limit {
                    break;
                }
                let Some(folded) = self.roll_step(period, below, progress, at, to).await? else { break };
                progress = Some(to);
                work += match below {
                    Below::Raw => folded,
                    Below::Rollups(_) => folded * ROLLUP_ROW_WORK,
                };
                done += 1;
            }
            limit = progress;
            match period {
                SLICE => rolled.slices = done,
                HOUR => rolled.hours = done,
                QUARTER => rolled.quarters = done,
                _ => rolled.days = done,
            }
        }
        Ok(rolled)
    }

    /// Where a level with no progress yet starts: where the level above it
    /// stops, if that has started (a database rolled before this level
    /// existed), else at the oldest row below it.
    async fn first_bucket(&self, period: i32, below: Below) -> Result<Option<DateTime<Utc>>, StorageError> {
        if let Some(up) = above(period)
            && let Some(t) = self.rolled_to(up).await?
        {
            return Ok(Some(t));
        }
        let oldest = match below {
            Below::Raw => {
                const SQL: &str = "SELECT min(checked_at) FROM service_metric";
                let oldest: Option<Micros> = self.db.read("monitoring.rollup_oldest", SQL).scalar_one().await?;
                oldest.map(|m| m.0)
            }
            Below::Rollups(p) => {
                const SQL: &str = "SELECT min(bucket) FROM service_rollup WHERE period = $1";
                self.db.read("monitoring.rollup_oldest", SQL).bind(p).scalar_one().await?
            }
        };
        Ok(oldest.map(|t| floor(t, period)))
    }

    /// Roll `[at, to)` of `period` if its progress is still `progress`.
    /// On SQLite the rows are folded before the write transaction, which
    /// holds the one write lock (they are settled, so nothing changes
    /// under the fold). On PostgreSQL one instance at a time rolls a level
    /// (the design's advisory lock for periodic jobs): it takes the lock,
    /// then folds in the same transaction, so two instances never fold the
    /// same step. Returns the rows folded, or `None` when another pass has
    /// the step.
    async fn roll_step(
        &self,
        period: i32,
        below: Below,
        progress: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Option<u64>, StorageError> {
        let db = &self.db;
        match db.pool() {
            Pool::Postgres(p) => {
                const TRY: &str = "SELECT pg_try_advisory_xact_lock(7401, $1)";
                let mut c = db.acquire_write(p).await?;
                let mut tx = db.begin(&mut c).await?;
                let ours: bool = {
                    let q = sqlx::query_scalar(TRY).bind(period);
                    db.observe("monitoring.rollup_lock", TRY, q.fetch_one(&mut *tx)).await?
                };
                if !ours || !progress_is!(db, tx, period, progress) {
                    return Ok(None);
                }
                // On the transaction's own connection: a pool of one
                // connection would wait forever for a second.
                let (rows, figures) = self.fold_postgres(&mut tx, below, at, to).await?;
                store_step!(db, tx, period, at, to, &figures);
                db.observe("transaction.commit", "COMMIT", tx.commit()).await?;
                Ok(Some(rows))
            }
            Pool::Sqlite(p) => {
                let (rows, figures) = self.fold_sqlite(below, at, to).await?;
                let mut c = db.acquire_write(p).await?;
                let mut tx = db.begin(&mut c).await?;
                if !progress_is!(db, tx, period, progress) {
                    return Ok(None);
                }
                store_step!(db, tx, period, at, to, &figures);
                db.observe("transaction.commit", "COMMIT", tx.commit()).await?;
                Ok(Some(rows))
            }
        }
    }

    /// The figures of `[from, to)` per service from the level below, and
    /// how many rows that read, on PostgreSQL: streamed (a slice at the
    /// design point is 600 000 rows) on `conn`.
    async fn fold_postgres(
        &self,
        conn: &mut sqlx::PgConnection,
        below: Below,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<(u64, HashMap<i64, Aggregate>), StorageError> {
        let db = &self.db;
        let mut by_service: HashMap<i64, Aggregate> = HashMap::new();
        let mut rows = 0u64;
        let started = std::time::Instant::now();
        let fault = |e: sqlx::Error| StorageError::from_sqlx("monitoring.rollup_rows", &e);
        match below {
            Below::Raw => {
                let q = sqlx::query_as::<_, (i64, i16, i32)>(RAW_ROWS).bind(Micros(from)).bind(Micros(to));
                let mut stream = q.fetch(&mut *conn);
                while let Some((service, code, latency)) = stream.try_next().await.map_err(fault)? {
                    add_raw(&mut by_service, service, code, latency);
                    rows += 1;
                }
            }
            Below::Rollups(p) => {
                let q = sqlx::query_as::<_, RollupRow>(ROLLUP_ROWS).bind(p).bind(Ts(from)).bind(Ts(to));
                let mut stream = q.fetch(&mut *conn);
                while let Some(row) = stream.try_next().await.map_err(fault)? {
                    by_service.entry(row.service_id).or_default().merge(&row.aggregate());
                    rows += 1;
                }
            }
        }
        let sql = if matches!(below, Below::Raw) { RAW_ROWS } else { ROLLUP_ROWS };
        db.metrics().record_query("monitoring.rollup_rows", sql, started.elapsed(), false);
        Ok((rows, by_service))
    }

    /// The same on SQLite, which hands rows over one by one from its
    /// connection's thread (see storage::sqlite_json): a raw result cost
    /// 2 µs that way, a rollup row with its histogram 13. They come as one
    /// JSON document per minute of results or per bucket below, read
    /// outside the write transaction.
    async fn fold_sqlite(
        &self,
        below: Below,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<(u64, HashMap<i64, Aggregate>), StorageError> {
        let db = &self.db;
        let mut by_service: HashMap<i64, Aggregate> = HashMap::new();
        let mut rows = 0u64;
        match below {
            Below::Raw => {
                const SQL: &str = "SELECT json_group_array(json_array(service_id, status, latency_us)) \
                                   FROM service_metric WHERE checked_at >= $1 AND checked_at < $2";
                let mut at = from;
                while at < to {
                    let end = (at + Duration::minutes(1)).min(to);
                    let document =
                        db.read("monitoring.rollup_rows", SQL).bind(Micros(at)).bind(Micros(end)).scalar_one().await?;
                    for (service, code, latency) in
                        sqlite_json::rows::<(i64, i16, i32)>("monitoring.rollup_rows", document)?
                    {
                        add_raw(&mut by_service, service, code, latency);
                        rows += 1;
                    }
                    at = end;
                }
            }
            Below::Rollups(p) => {
                const SQL: &str = "SELECT json_group_array(json_array(service_id, checks, up, degraded, down, \
                                   maintenance, latency_sum_us, latency_min_us, latency_max_us, json(latency_hist))) \
                                   FROM service_rollup WHERE period = $1 AND bucket = $2";
                let mut at = from;
                while at < to {
                    let document = db.read("monitoring.rollup_rows", SQL).bind(p).bind(Ts(at)).scalar_one().await?;
                    for r in sqlite_json::rows::<PackedRollup>("monitoring.rollup_rows", document)? {
                        by_service.entry(r.0).or_default().merge(&r.aggregate());
                        rows += 1;
                    }
                    at += Duration::seconds(p.into());
                }
            }
        }
        Ok((rows, by_service))
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
        self.rollups_of(&[service_id], period, from, to).await
    }

    /// The rollups of `period` with buckets in `[from, to)` of several
    /// services in one statement (a page of the overview), by service, oldest first.
    pub async fn rollups_of(
        &self,
        service_ids: &[i64],
        period: i32,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<RollupRow>, StorageError> {
        self.rollups_with(service_ids, period, from, to, true).await
    }

    /// [`MonitoringStore::rollups_of`]; without `histograms` each row's
    /// latency histogram is left empty (read and parsed, it is most of a
    /// row's cost, and only percentiles need it).
    pub async fn rollups_with(
        &self,
        service_ids: &[i64],
        period: i32,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        histograms: bool,
    ) -> Result<Vec<RollupRow>, StorageError> {
        let hist = match (histograms, self.db.pool()) {
            (true, _) => "latency_hist",
            (false, Pool::Postgres(_)) => "CAST('{}' AS JSONB) AS latency_hist",
            (false, Pool::Sqlite(_)) => "'{}' AS latency_hist",
        };
        let (from_ids, of_ids) = self.db.rows_of_ids("service_rollup", "service_id", "$1");
        let sql = format!(
            "SELECT service_id, bucket, checks, up, degraded, down, maintenance, latency_sum_us, \
             latency_min_us, latency_max_us, {hist} FROM {from_ids} \
             WHERE {of_ids} AND period = $2 AND bucket >= $3 AND bucket < $4 ORDER BY service_id, bucket"
        );
        self.db
            .read("monitoring.rollups", &sql)
            .bind_ids(service_ids)
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
        let rows = self.raw_of(&[service_id], from, to).await?;
        Ok(rows.into_iter().map(|r| (r.checked_at, r.status, r.maintenance, r.latency_us)).collect())
    }

    /// The raw results in `[from, to)` of several services in one
    /// statement, by service, oldest first.
    pub async fn raw_of(
        &self,
        service_ids: &[i64],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<RawResult>, StorageError> {
        let (from_ids, of_ids) = self.db.rows_of_ids("service_metric", "service_id", "$1");
        let sql = format!(
            "SELECT service_id, checked_at, status, latency_us FROM {from_ids} \
             WHERE {of_ids} AND checked_at >= $2 AND checked_at < $3 ORDER BY service_id, checked_at"
        );
        // service_id is INTEGER in this table (see its migration).
        let rows: Vec<(i32, Micros, i16, i32)> = self
            .db
            .read("monitoring.raw", &sql)
            .bind_ids(service_ids)
            .bind(Micros(from))
            .bind(Micros(to))
            .fetch_all()
            .await?;
        Ok(rows
            .into_iter()
            .map(|(service_id, t, code, latency_us)| {
                let (status, maintenance) = domain::stored_result(code);
                RawResult { service_id: service_id.into(), checked_at: t.0, status, maintenance, latency_us }
            })
            .collect())
    }

    /// A service's newest raw results, newest first, with what each check said.
    pub async fn recent_results(&self, service_id: i64, limit: i64) -> Result<Vec<RecentResult>, StorageError> {
        const SQL: &str = "SELECT checked_at, status, latency_us, status_code, error FROM service_metric \
                           WHERE service_id = $1 ORDER BY checked_at DESC LIMIT $2";
        type Row = (Micros, i16, i32, Option<i16>, Option<String>);
        let rows: Vec<Row> =
            self.db.read("monitoring.recent_results", SQL).bind(service_id).bind(limit).fetch_all().await?;
        Ok(rows
            .into_iter()
            .map(|(t, code, latency_us, status_code, error)| {
                let (status, maintenance) = domain::stored_result(code);
                RecentResult { checked_at: t.0, status, maintenance, latency_us, status_code, error }
            })
            .collect())
    }

    /// Delete raw results before `raw_before`, hours and days before
    /// `rollups_before`, and slices and quarters once the level above has
    /// rolled past them; `batch` rows per statement, so no statement holds
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
                 (SELECT ctid FROM service_rollup WHERE period = $3 AND bucket < $1 LIMIT $2)",
            ),
            Pool::Sqlite(_) => (
                "DELETE FROM service_metric WHERE rowid IN \
                 (SELECT rowid FROM service_metric WHERE checked_at < $1 LIMIT $2)",
                "DELETE FROM service_rollup WHERE rowid IN \
                 (SELECT rowid FROM service_rollup WHERE period = $3 AND bucket < $1 LIMIT $2)",
            ),
        };
        // (statement, cutoff, level): raw rows first, then each level by
        // (period, bucket), the index retention reads.
        let mut jobs =
            vec![(raw, raw_before, None), (rollups, rollups_before, Some(HOUR)), (rollups, rollups_before, Some(DAY))];
        for step in [SLICE, QUARTER] {
            if let Some(up) = above(step)
                && let Some(rolled) = self.rolled_to(up).await?
            {
                jobs.push((rollups, rolled, Some(step)));
            }
        }
        let mut total = 0;
        for (sql, before, level) in jobs {
            loop {
                let db = &self.db;
                let n = on_pool!(db, |p| {
                    let mut c = db.acquire_write(p).await?;
                    // Raw results keep their time as `Micros`, rollups as `Ts`.
                    let q = match level {
                        None => sqlx::query(sql).bind(Micros(before)).bind(batch),
                        Some(period) => sqlx::query(sql).bind(Ts(before)).bind(batch).bind(period),
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
