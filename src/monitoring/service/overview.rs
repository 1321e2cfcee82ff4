//! The operators' overview: a page of services chosen by status and name
//! in a chosen order, the counts by status, and each row's figures (uptime
//! over 24 h, 7 d and 30 d, latency by hour over the last day) — read for
//! the whole page at once, so a page costs the same few statements
//! whether herald watches ten services or ten thousand.

use chrono::{DateTime, Duration, Utc};

use super::{MonitoringError, MonitoringService};
use crate::monitoring::domain::figures::Aggregate;
use crate::monitoring::http::wire::ServiceOut;
use crate::monitoring::store::{ServiceFilter, ServiceOrder, StatusCounts};

/// Most rows on one page.
pub const MAX_PER_PAGE: u32 = 200;

#[derive(Debug, Clone)]
pub struct OverviewQuery {
    pub filter: ServiceFilter,
    pub order: ServiceOrder,
    /// 1-based.
    pub page: u32,
    pub per_page: u32,
}

#[derive(Debug, Clone)]
pub struct Overview {
    pub rows: Vec<OverviewRow>,
    /// Every service, by the status it shows (not only those the filter chose).
    pub counts: StatusCounts,
    /// How many services the filter chose.
    pub matching: u64,
    pub page: u32,
    pub pages: u32,
    pub generated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct OverviewRow {
    pub service: ServiceOut,
    pub uptime_24h: Option<f64>,
    pub uptime_7d: Option<f64>,
    pub uptime_30d: Option<f64>,
    /// Average latency (ms) by hour over the last 24 hours, oldest first;
    /// `None` for an hour without a successful check.
    pub latency: Vec<Option<f64>>,
    /// The last day's average latency.
    pub latency_24h_ms: Option<f64>,
}

impl MonitoringService {
    /// Every service counted under the status it shows.
    pub async fn status_counts(&self) -> Result<StatusCounts, MonitoringError> {
        let maintenance = self.maintenance_now().await?;
        Ok(self.store().status_counts(&maintenance).await?)
    }

    pub async fn overview(&self, q: &OverviewQuery) -> Result<Overview, MonitoringError> {
        let now = self.now();
        let maintenance = self.maintenance_now().await?;
        let per_page = q.per_page.clamp(1, MAX_PER_PAGE);
        let counts = self.store().status_counts(&maintenance).await?;
        let matching = u64::try_from(self.store().count_services(&q.filter, &maintenance).await?).unwrap_or(0);
        let pages = u32::try_from(matching.div_ceil(u64::from(per_page))).unwrap_or(u32::MAX).max(1);
        let page = q.page.clamp(1, pages);
        let offset = i64::from(page - 1) * i64::from(per_page);
        let rows =
            self.store().overview_services(&q.filter, &maintenance, q.order, offset, i64::from(per_page)).await?;
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let store = self.store();
        let mut day = store.aggregates_of(&ids, now - Duration::days(1), now).await?;
        let mut week = store.aggregates_of(&ids, now - Duration::days(7), now).await?;
        let mut month = store.aggregates_of(&ids, now - Duration::days(30), now).await?;
        let mut hourly = store.series_of(&ids, now - Duration::hours(23), now, 3600).await?;
        let in_window = |id: i64| maintenance.all || maintenance.ids.binary_search(&id).is_ok();
        let rows = rows
            .into_iter()
            .map(|row| {
                let id = row.id;
                let take = |m: &mut std::collections::HashMap<i64, Aggregate>| m.remove(&id).unwrap_or_default();
                let d = take(&mut day);
                OverviewRow {
                    service: Self::render(row, &in_window),
                    uptime_24h: d.uptime(),
                    uptime_7d: take(&mut week).uptime(),
                    uptime_30d: take(&mut month).uptime(),
                    latency: hourly
                        .remove(&id)
                        .unwrap_or_default()
                        .iter()
                        .map(|b| b.figures.latency_avg_ms())
                        .collect(),
                    latency_24h_ms: d.latency_avg_ms(),
                }
            })
            .collect();
        Ok(Overview { rows, counts, matching, page, pages, generated_at: now })
    }
}
