//! What monitoring shows over time — uptime, metric series, trends, the
//! public status page — plus maintenance windows and the housekeeping job
//! (rollups and retention).

use std::collections::HashSet;

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::history::{self, TrendsOut, UptimeOut};
use super::service::{MonitoringError, MonitoringService};
use super::store::{DAY, WindowRow};
use super::wire::ServiceOut;
use crate::config::MonitoringConfig;
use crate::validation::FieldError;

/// Uptime for the standard windows (and a custom range when asked).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UptimeWindows {
    #[serde(rename = "24h")]
    pub day: UptimeOut,
    #[serde(rename = "7d")]
    pub week: UptimeOut,
    #[serde(rename = "30d")]
    pub month: UptimeOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<UptimeOut>,
}

/// One bucket of a metrics series.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MetricBucketOut {
    pub start: DateTime<Utc>,
    pub checks: u64,
    pub up: u64,
    pub degraded: u64,
    pub down: u64,
    pub maintenance: u64,
    pub latency_avg_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub latency_min_ms: Option<f64>,
    pub latency_max_ms: Option<f64>,
    pub uptime: Option<f64>,
}

/// One day of a public service's history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatusDay {
    pub date: chrono::NaiveDate,
    /// Null on days without checks.
    pub uptime: Option<f64>,
    pub checks: u64,
}

/// A public service on the status page.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatusService {
    pub id: i64,
    pub name: String,
    /// `up`, `degraded`, `down`, `unknown`, `paused` or `maintenance`.
    pub status: String,
    pub uptime_90d: Option<f64>,
    /// Oldest first, 90 days ending today (UTC).
    pub days: Vec<StatusDay>,
}

/// The public status page.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatusPage {
    /// `operational` when every public service is up (or paused / in maintenance), else `degraded` or `outage`.
    pub overall: &'static str,
    pub services: Vec<StatusService>,
    pub generated_at: DateTime<Utc>,
}

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
        Ok(history::trends(&service, &hourly, &last_day, from, now))
    }

    /// Services in a maintenance window now (`None` in the set: all of them).
    pub async fn in_maintenance(&self) -> Result<impl Fn(i64) -> bool + use<>, MonitoringError> {
        let now = self.now();
        let windows = self.store().windows(now, 1000).await?;
        let active: Vec<Option<i64>> =
            windows.into_iter().filter(|w| w.starts_at <= now).map(|w| w.service_id).collect();
        let all = active.iter().any(Option::is_none);
        let ids: HashSet<i64> = active.into_iter().flatten().collect();
        Ok(move |id| all || ids.contains(&id))
    }

    /// A service as shown: `maintenance` while a window covers it.
    pub fn render(row: super::store::ServiceRow, in_maintenance: &dyn Fn(i64) -> bool) -> ServiceOut {
        let id = row.id;
        let mut out = ServiceOut::from(row);
        if out.enabled && in_maintenance(id) {
            out.status = "maintenance".into();
        }
        out
    }

    pub async fn status_page(&self) -> Result<StatusPage, MonitoringError> {
        let now = self.now();
        let today = now.duration_trunc(Duration::days(1)).unwrap_or(now);
        let from = today - Duration::days(89);
        let maintenance = self.in_maintenance().await?;
        let mut services = Vec::new();
        let mut after = 0;
        loop {
            let page = self.store().services(after, 200, true).await?;
            let Some(last) = page.last() else { break };
            after = last.id;
            for row in page {
                let series = self.store().series(row.id, from, now, i64::from(DAY)).await?;
                let mut total = super::figures::Aggregate::default();
                let days = series
                    .iter()
                    .map(|b| {
                        total.merge(&b.figures);
                        StatusDay {
                            date: b.start.date_naive(),
                            uptime: b.figures.uptime(),
                            checks: b.figures.counted(),
                        }
                    })
                    .collect();
                let (id, name) = (row.id, row.name.clone());
                let status = Self::render(row, &maintenance).status;
                services.push(StatusService { id, name, status, uptime_90d: total.uptime(), days });
            }
        }
        let overall = if services.iter().any(|s| s.status == "down") {
            "outage"
        } else if services.iter().any(|s| s.status == "degraded") {
            "degraded"
        } else {
            "operational"
        };
        Ok(StatusPage { overall, services, generated_at: now })
    }

    pub async fn add_window(
        &self,
        service_id: Option<i64>,
        title: String,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        by: i64,
    ) -> Result<WindowRow, MonitoringError> {
        let mut v = Vec::new();
        let title = title.trim().to_string();
        if title.is_empty() || title.chars().count() > 200 {
            v.push(FieldError::new("title", "1–200 characters"));
        }
        if ends_at <= starts_at {
            v.push(FieldError::new("ends_at", "must be after starts_at"));
        } else if ends_at - starts_at > Duration::days(31) {
            v.push(FieldError::new("ends_at", "a window lasts at most 31 days"));
        }
        if let Some(id) = service_id
            && self.store().service(id).await?.is_none()
        {
            v.push(FieldError::new("service_id", "no such service"));
        }
        if !v.is_empty() {
            return Err(MonitoringError::Invalid(v));
        }
        Ok(self.store().insert_window(service_id, &title, starts_at, ends_at, by, self.now()).await?)
    }

    pub async fn windows(&self) -> Result<Vec<WindowRow>, MonitoringError> {
        Ok(self.store().windows(self.now(), 1000).await?)
    }

    pub async fn delete_window(&self, id: i64) -> Result<(), MonitoringError> {
        if self.store().delete_window(id).await? { Ok(()) } else { Err(MonitoringError::NotFound) }
    }

    /// One housekeeping pass: roll up what has settled, then drop raw
    /// results past retention (never ones not yet rolled up) and rollups
    /// past theirs.
    pub async fn housekeeping_once(&self, config: &MonitoringConfig) -> Result<(u32, u64), MonitoringError> {
        let now = self.now();
        // A check that starts just before an hour ends is stored up to its
        // timeout later; two minutes past the longest timeout it is in.
        let settled = now - Duration::seconds(super::domain::MAX_TIMEOUT_SECONDS + 120);
        let rolled = self.store().roll_up(settled, 48).await?;
        let raw_cutoff = now - Duration::days(config.raw_retention_days.into());
        let raw_cutoff = match self.store().rolled_to(super::store::HOUR).await? {
            Some(rolled_to) => raw_cutoff.min(rolled_to),
            None => now - Duration::days(3650),
        };
        let rollup_cutoff = now - Duration::days(config.rollup_retention_days.into());
        let purged = self.store().purge(raw_cutoff, rollup_cutoff, config.retention_batch.into()).await?;
        Ok((rolled.hours + rolled.days, purged))
    }
}

/// Housekeeping (rollups, retention) as a worker, every
/// `housekeeping_interval_seconds`, the first one interval after start-up.
pub struct Housekeeping {
    pub service: MonitoringService,
    pub config: MonitoringConfig,
}

impl Housekeeping {
    pub fn schedule(config: &MonitoringConfig) -> crate::workers::Schedule {
        crate::workers::Schedule::every(std::time::Duration::from_secs(config.housekeeping_interval_seconds.max(1)))
    }
}

impl crate::workers::Worker for Housekeeping {
    async fn pass(&mut self) -> anyhow::Result<crate::workers::Pass> {
        use anyhow::Context;
        let (rolled, purged) = self.service.housekeeping_once(&self.config).await.context("monitoring housekeeping")?;
        if rolled > 0 || purged > 0 {
            tracing::info!(rolled, purged, "monitoring housekeeping");
        }
        Ok(crate::workers::Pass::Idle)
    }
}
