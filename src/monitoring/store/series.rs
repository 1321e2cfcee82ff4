//! Figures over time for one service, read from the store: a range's
//! aggregate and a series of buckets, each part of the range from the
//! coarsest source that covers it exactly — daily rollups, hourly rollups,
//! raw results.

use std::collections::HashMap;

use chrono::{DateTime, Duration, DurationRound, Utc};

use super::{DAY, HOUR, MonitoringStore, SLICE};
use crate::monitoring::domain::figures::{Aggregate, Bucket};
use crate::storage::{Micros, StorageError, Ts};
/// Where one piece of a range is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Days,
    Hours,
    Raw,
}

/// Split `[from, to)` into pieces each read from one source: whole days
/// rolled up (when `days_ok`), then whole hours rolled up (when
/// `hours_ok`), raw results for the rest.
fn pieces(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    hours_to: Option<DateTime<Utc>>,
    days_to: Option<DateTime<Utc>>,
    hours_ok: bool,
    days_ok: bool,
) -> Vec<(Source, DateTime<Utc>, DateTime<Utc>)> {
    let mut out = Vec::new();
    if from >= to {
        return out;
    }
    if days_ok && let Some(rolled) = days_to {
        let a = ceil(from, DAY);
        let b = floor(to, DAY).min(rolled);
        if a < b {
            out.extend(pieces(from, a, hours_to, None, hours_ok, false));
            out.push((Source::Days, a, b));
            out.extend(pieces(b, to, hours_to, None, hours_ok, false));
            return out;
        }
    }
    if hours_ok && let Some(rolled) = hours_to {
        let a = ceil(from, HOUR);
        let b = floor(to, HOUR).min(rolled);
        if a < b {
            if from < a {
                out.push((Source::Raw, from, a));
            }
            out.push((Source::Hours, a, b));
            if b < to {
                out.push((Source::Raw, b, to));
            }
            return out;
        }
    }
    out.push((Source::Raw, from, to));
    out
}

fn floor(t: DateTime<Utc>, period: i32) -> DateTime<Utc> {
    t.duration_trunc(Duration::seconds(period.into())).unwrap_or(t)
}

fn ceil(t: DateTime<Utc>, period: i32) -> DateTime<Utc> {
    let f = floor(t, period);
    if f == t { f } else { f + Duration::seconds(period.into()) }
}

impl MonitoringStore {
    /// `[from, to)` in buckets of `bucket_seconds`, aligned to multiples of
    /// the bucket size; every bucket is present, empty or not.
    pub async fn series(
        &self,
        service_id: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        bucket_seconds: i64,
    ) -> Result<Vec<Bucket>, StorageError> {
        let mut all = self.series_with(&[service_id], from, to, bucket_seconds, true).await?;
        Ok(all.remove(&service_id).unwrap_or_default())
    }

    /// [`MonitoringStore::series`] of several services, one statement per
    /// source: every id asked for has its buckets. Without `histograms` the
    /// buckets have no latency percentiles (an overview's sparkline of averages).
    pub async fn series_with(
        &self,
        service_ids: &[i64],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        bucket_seconds: i64,
        histograms: bool,
    ) -> Result<HashMap<i64, Vec<Bucket>>, StorageError> {
        let size = Duration::seconds(bucket_seconds.max(1));
        let start = from.duration_trunc(size).unwrap_or(from);
        let mut empty = Vec::new();
        let mut at = start;
        while at < to {
            empty.push(Bucket { start: at, figures: Aggregate::default() });
            at += size;
        }
        let mut all: HashMap<i64, Vec<Bucket>> = service_ids.iter().map(|&id| (id, empty.clone())).collect();
        let index = |t: DateTime<Utc>| ((t - start).num_seconds() / bucket_seconds.max(1)) as usize;
        let hours_ok = bucket_seconds % i64::from(HOUR) == 0;
        let days_ok = bucket_seconds % i64::from(DAY) == 0;
        let (hours_to, days_to) = (self.rolled_to(HOUR).await?, self.rolled_to(DAY).await?);
        for (source, a, b) in pieces(from, to, hours_to, days_to, hours_ok, days_ok) {
            match source {
                Source::Days | Source::Hours => {
                    let period = if source == Source::Days { DAY } else { HOUR };
                    for row in self.rollups_with(service_ids, period, a, b, histograms).await? {
                        if let Some(bucket) = all.get_mut(&row.service_id).and_then(|s| s.get_mut(index(row.bucket))) {
                            bucket.figures.merge(&row.aggregate());
                        }
                    }
                }
                Source::Raw => {
                    for r in self.raw_of(service_ids, a, b).await? {
                        if let Some(bucket) = all.get_mut(&r.service_id).and_then(|s| s.get_mut(index(r.checked_at))) {
                            bucket.figures.add(r.status, r.maintenance, r.latency_us.into());
                        }
                    }
                }
            }
        }
        Ok(all)
    }

    /// The aggregate of `[from, to)`.
    pub async fn aggregate(
        &self,
        service_id: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Aggregate, StorageError> {
        let mut all = self.aggregates_of(&[service_id], from, to).await?;
        Ok(all.remove(&service_id).unwrap_or_default())
    }

    /// The aggregates of `[from, to)` of several services; every id asked
    /// for is present. Summed by the database, one row per service and
    /// source, so a page of services costs a few small statements: the
    /// figures are exact, but the latency histogram is left empty (no
    /// caller of a range's aggregate needs a percentile).
    pub async fn aggregates_of(
        &self,
        service_ids: &[i64],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<HashMap<i64, Aggregate>, StorageError> {
        // Whole days from daily rollups (a 30-day window reads 30 rows a
        // service, not 720); the same figures as the hours they sum.
        let (hours_to, days_to) = (self.rolled_to(HOUR).await?, self.rolled_to(DAY).await?);
        let mut all: HashMap<i64, Aggregate> = service_ids.iter().map(|&id| (id, Aggregate::default())).collect();
        for (source, a, b) in pieces(from, to, hours_to, days_to, true, true) {
            let sums = match source {
                Source::Hours => self.rollup_sums(service_ids, HOUR, a, b).await?,
                Source::Days => self.rollup_sums(service_ids, DAY, a, b).await?,
                Source::Raw => self.raw_sums(service_ids, a, b).await?,
            };
            for sum in sums {
                all.entry(sum.service_id).or_default().merge(&sum.aggregate());
            }
        }
        Ok(all)
    }

    /// [`MonitoringStore::aggregates_of`] for a recent range that starts
    /// on a ten-minute boundary where the hourly rollups stop (what an
    /// overview adds to its cached part): the ten-minute slices the hour
    /// has so far, then raw results for the last minutes, so a page sums
    /// at most ten minutes of raw checks a service rather than an hour's.
    pub async fn recent_aggregates_of(
        &self,
        service_ids: &[i64],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<HashMap<i64, Aggregate>, StorageError> {
        let slices_to = self.rolled_to(SLICE).await?.filter(|s| *s > from && *s <= to && *s == floor(*s, SLICE));
        let mut all: HashMap<i64, Aggregate> = service_ids.iter().map(|&id| (id, Aggregate::default())).collect();
        let raw_from = match slices_to {
            Some(slices_to) if from == floor(from, SLICE) => {
                for sum in self.rollup_sums(service_ids, SLICE, from, slices_to).await? {
                    all.entry(sum.service_id).or_default().merge(&sum.aggregate());
                }
                slices_to
            }
            _ => from,
        };
        for sum in self.raw_sums(service_ids, raw_from, to).await? {
            all.entry(sum.service_id).or_default().merge(&sum.aggregate());
        }
        Ok(all)
    }

    async fn rollup_sums(
        &self,
        service_ids: &[i64],
        period: i32,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Sums>, StorageError> {
        let (from_ids, of_ids) = self.db.rows_of_ids("service_rollup", "service_id", "$1");
        let sql = format!(
            "SELECT service_id, CAST(sum(checks) AS BIGINT) AS checks, CAST(sum(up) AS BIGINT) AS up, \
             CAST(sum(degraded) AS BIGINT) AS degraded, CAST(sum(down) AS BIGINT) AS down, \
             CAST(sum(maintenance) AS BIGINT) AS maintenance, CAST(sum(latency_sum_us) AS BIGINT) AS latency_sum_us, \
             min(latency_min_us) AS latency_min_us, max(latency_max_us) AS latency_max_us FROM {from_ids} \
             WHERE {of_ids} AND period = $2 AND bucket >= $3 AND bucket < $4 GROUP BY service_id"
        );
        self.db
            .read("monitoring.rollup_sums", &sql)
            .bind_ids(service_ids)
            .bind(period)
            .bind(Ts(from))
            .bind(Ts(to))
            .fetch_all()
            .await
    }

    async fn raw_sums(
        &self,
        service_ids: &[i64],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Sums>, StorageError> {
        // Stored statuses: 0 up, 1 degraded, 2 down, plus 8 in maintenance.
        let (from_ids, of_ids) = self.db.rows_of_ids("service_metric", "service_id", "$1");
        let sql = format!(
            "SELECT CAST(service_id AS BIGINT) AS service_id, count(*) AS checks, \
             CAST(sum(CASE WHEN status = 0 THEN 1 ELSE 0 END) AS BIGINT) AS up, \
             CAST(sum(CASE WHEN status = 1 THEN 1 ELSE 0 END) AS BIGINT) AS degraded, \
             CAST(sum(CASE WHEN status = 2 THEN 1 ELSE 0 END) AS BIGINT) AS down, \
             CAST(sum(CASE WHEN status >= 8 THEN 1 ELSE 0 END) AS BIGINT) AS maintenance, \
             CAST(sum(latency_us) AS BIGINT) AS latency_sum_us, min(latency_us) AS latency_min_us, \
             max(latency_us) AS latency_max_us FROM {from_ids} \
             WHERE {of_ids} AND checked_at >= $2 AND checked_at < $3 GROUP BY service_id"
        );
        self.db
            .read("monitoring.raw_sums", &sql)
            .bind_ids(service_ids)
            .bind(Micros(from))
            .bind(Micros(to))
            .fetch_all()
            .await
    }
}

/// One service's sums over one piece of a range, as the database adds them up.
#[derive(Debug, sqlx::FromRow)]
struct Sums {
    service_id: i64,
    checks: i64,
    up: i64,
    degraded: i64,
    down: i64,
    maintenance: i64,
    latency_sum_us: Option<i64>,
    latency_min_us: Option<i32>,
    latency_max_us: Option<i32>,
}

impl Sums {
    fn aggregate(&self) -> Aggregate {
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        Aggregate {
            checks: n(self.checks),
            up: n(self.up),
            degraded: n(self.degraded),
            down: n(self.down),
            maintenance: n(self.maintenance),
            latency_sum_us: self.latency_sum_us.unwrap_or(0),
            latency_min_us: self.latency_min_us.map(i64::from),
            latency_max_us: self.latency_max_us.map(i64::from),
            hist: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn ranges_use_the_coarsest_source_that_covers_them() {
        let from = t("2026-01-01T10:30:00Z");
        let to = t("2026-01-04T05:15:00Z");
        let hours = Some(t("2026-01-04T03:00:00Z"));
        let days = Some(t("2026-01-03T00:00:00Z"));
        let p = pieces(from, to, hours, days, true, true);
        assert_eq!(
            p,
            [
                (Source::Raw, from, t("2026-01-01T11:00:00Z")),
                (Source::Hours, t("2026-01-01T11:00:00Z"), t("2026-01-02T00:00:00Z")),
                (Source::Days, t("2026-01-02T00:00:00Z"), t("2026-01-03T00:00:00Z")),
                (Source::Hours, t("2026-01-03T00:00:00Z"), t("2026-01-04T03:00:00Z")),
                (Source::Raw, t("2026-01-04T03:00:00Z"), to),
            ]
        );
        // Nothing rolled up yet: all raw.
        assert_eq!(pieces(from, to, None, None, true, true), [(Source::Raw, from, to)]);
        // Minute buckets never read rollups.
        assert_eq!(pieces(from, to, hours, days, false, false), [(Source::Raw, from, to)]);
    }
}
