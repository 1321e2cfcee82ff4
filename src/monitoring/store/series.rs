//! Figures over time for one service, read from the store: a range's
//! aggregate and a series of buckets, each part of the range from the
//! coarsest source that covers it exactly — daily rollups, hourly rollups,
//! raw results.

use std::collections::HashMap;

use chrono::{DateTime, Duration, DurationRound, Utc};

use super::{DAY, HOUR, MonitoringStore};
use crate::monitoring::domain::figures::{Aggregate, Bucket};
use crate::storage::StorageError;
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
        let mut all = self.series_of(&[service_id], from, to, bucket_seconds).await?;
        Ok(all.remove(&service_id).unwrap_or_default())
    }

    /// [`MonitoringStore::series`] of several services, one statement per
    /// source: every id asked for has its buckets.
    pub async fn series_of(
        &self,
        service_ids: &[i64],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        bucket_seconds: i64,
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
                    for row in self.rollups_of(service_ids, period, a, b).await? {
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

    /// The aggregates of `[from, to)` of several services, one statement
    /// per source; every id asked for is present.
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
            match source {
                Source::Hours | Source::Days => {
                    let period = if source == Source::Days { DAY } else { HOUR };
                    for row in self.rollups_of(service_ids, period, a, b).await? {
                        all.entry(row.service_id).or_default().merge(&row.aggregate());
                    }
                }
                Source::Raw => {
                    for r in self.raw_of(service_ids, a, b).await? {
                        all.entry(r.service_id).or_default().add(r.status, r.maintenance, r.latency_us.into());
                    }
                }
            }
        }
        Ok(all)
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
