//! What a service's figures look like over time: uptime for the standard
//! windows, a metric series, trends with recommendations.

use chrono::{DateTime, Duration, Utc};

use super::{MonitoringError, MonitoringService};
use crate::monitoring::domain::trends::{self, Subject, TrendsOut};
use crate::monitoring::http::wire::{MetricBucketOut, UptimeOut, UptimeWindows};
use crate::monitoring::store::RecentResult;

/// Longest range of a metrics series read from raw results (bucket under an hour).
pub const MAX_RAW_RANGE_HOURS: i64 = 48;
/// Most buckets in one series.
pub const MAX_BUCKETS: i64 = 1000;

impl MonitoringService {
    pub async fn uptime(
        &self,
        id: i64,
        range: Option<(DateTime<Utc>, DateTime<Utc>)>,
    ) -> Result<UptimeWindows, MonitoringError> {
        self.get(id).await?;
        let now = self.now();
        let store = self.store();
        let window = |days: i64| async move {
            let from = now - Duration::days(days);
            let a = store.aggregate(id, from, now).await?;
            Ok::<_, MonitoringError>(UptimeOut::new(&a, from, now))
        };
        let range = match range {
            Some((from, to)) => Some(UptimeOut::new(&store.aggregate(id, from, to).await?, from, to)),
            None => None,
        };
        Ok(UptimeWindows { day: window(1).await?, week: window(7).await?, month: window(30).await?, range })
    }

    /// A service's newest check results, newest first (at most 100).
    pub async fn recent_checks(&self, id: i64, limit: i64) -> Result<Vec<RecentResult>, MonitoringError> {
        self.get(id).await?;
        Ok(self.store().recent_results(id, limit.clamp(1, 100)).await?)
    }

    pub async fn metrics(
        &self,
        id: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        bucket_seconds: i64,
    ) -> Result<Vec<MetricBucketOut>, MonitoringError> {
        self.get(id).await?;
        let series = self.store().series(id, from, to, bucket_seconds).await?;
        let ms = |us: Option<i64>| us.map(|v| v as f64 / 1000.0);
        Ok(series
            .into_iter()
            .map(|b| MetricBucketOut {
                start: b.start,
                checks: b.figures.checks,
                up: b.figures.up,
                degraded: b.figures.degraded,
                down: b.figures.down,
                maintenance: b.figures.maintenance,
                latency_avg_ms: b.figures.latency_avg_ms(),
                latency_p95_ms: b.figures.latency_p95_ms(),
                latency_min_ms: ms(b.figures.latency_min_us),
                latency_max_ms: ms(b.figures.latency_max_us),
                uptime: b.figures.uptime(),
            })
            .collect())
    }

    pub async fn trends(&self, id: i64, window_hours: i64) -> Result<TrendsOut, MonitoringError> {
        let service = self.get(id).await?;
        let now = self.now();
        let from = now - Duration::hours(window_hours);
        let hourly = self.store().series(id, from, now, 3600).await?;
        let last_day = self.store().raw(id, now - Duration::hours(24), now).await?;
        let subject = Subject {
            kind: service.kind,
            timeout_seconds: service.timeout_seconds,
            cert_expires_at: service.cert_expires_at,
        };
        Ok(trends::trends(subject, &hourly, &last_day, from, now))
    }
}
