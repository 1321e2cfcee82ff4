//! The operators' overview: a page of services chosen by status and name
//! in a chosen order, the counts by status, and each row's figures (uptime
//! over 24 h, 7 d and 30 d, latency by hour over the last day) — read for
//! the whole page at once, so a page costs the same few statements
//! whether herald watches ten services or ten thousand.
//!
//! The windows run from the hour boundary: "24 h" is the last 24 whole
//! hours plus the current one so far. Everything before the point the
//! hourly rollups reach is read from rollups, which never change once
//! written, so that part is kept per service in [`RolledCache`], keyed by
//! how far the hourly and daily rollups reach: a page then reads only this
//! hour's ten-minute slices and the raw checks since the last one. When the
//! rollups move on (every hour), the next view of a page reads its rolled
//! part again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, DurationRound, Utc};

use super::{MonitoringError, MonitoringService};
use crate::monitoring::domain::figures::Aggregate;
use crate::monitoring::http::wire::ServiceOut;
use crate::monitoring::store::{DAY, HOUR, ServiceFilter, ServiceOrder, StatusCounts};

/// Entries kept at most; past it the cache starts again (a bound, not a
/// policy: 10 000 services take about 4 MB).
const MAX_CACHED: usize = 50_000;

/// What an entry was read for: the hour its windows start from, and how
/// far the hourly and daily rollups reached.
type Reach = (DateTime<Utc>, Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// The rolled-up part of one service's overview figures.
#[derive(Debug, Clone)]
struct Rolled {
    reach: Reach,
    /// 24 h, 7 d, 30 d.
    windows: [Aggregate; 3],
    /// Average latency of each whole hour before the reach, oldest first.
    hourly: Vec<Option<f64>>,
}

#[derive(Clone, Default)]
pub struct RolledCache(Arc<Mutex<HashMap<i64, Rolled>>>);

const WINDOW_DAYS: [i64; 3] = [1, 7, 30];
/// One row's 24 h, 7 d and 30 d aggregates and its hourly average latencies.
type RowFigures = ([Aggregate; 3], Vec<Option<f64>>);
/// Buckets of the latency sparkline, the current hour included.
const SPARK_HOURS: i64 = 24;

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
        let mut figures = self.row_figures(&ids, now).await?;
        let in_window = |id: i64| maintenance.all || maintenance.ids.binary_search(&id).is_ok();
        let rows = rows
            .into_iter()
            .map(|row| {
                let (windows, latency) = figures.remove(&row.id).unwrap_or_default();
                let [day, week, month] = windows;
                OverviewRow {
                    service: Self::render(row, &in_window),
                    uptime_24h: day.uptime(),
                    uptime_7d: week.uptime(),
                    uptime_30d: month.uptime(),
                    latency,
                    latency_24h_ms: day.latency_avg_ms(),
                }
            })
            .collect();
        Ok(Overview { rows, counts, matching, page, pages, generated_at: now })
    }

    /// Each service's three windows and hourly latencies: the rolled part
    /// from the cache (read for those not in it), the rest from raw checks.
    async fn row_figures(&self, ids: &[i64], now: DateTime<Utc>) -> Result<HashMap<i64, RowFigures>, MonitoringError> {
        let store = self.store();
        let this_hour = now.duration_trunc(Duration::hours(1)).unwrap_or(now);
        let reach: Reach = (this_hour, store.rolled_to(HOUR).await?, store.rolled_to(DAY).await?);
        // The cache holds whole hours before `hours`; with rollups behind
        // by more than an hour (a fresh install, a stopped housekeeper)
        // everything is read as it is, uncached.
        let Some(hours) = reach.1.filter(|h| *h <= this_hour && this_hour - *h <= Duration::hours(1)) else {
            return self.figures_until(ids, this_hour, now).await;
        };
        let cached: HashMap<i64, Rolled> = {
            let cache = self.rolled.0.lock().unwrap_or_else(|e| e.into_inner());
            ids.iter().filter_map(|id| cache.get(id).filter(|r| r.reach == reach).map(|r| (*id, r.clone()))).collect()
        };
        let missing: Vec<i64> = ids.iter().copied().filter(|id| !cached.contains_key(id)).collect();
        let mut fresh: HashMap<i64, Rolled> = HashMap::new();
        if !missing.is_empty() {
            for (id, (windows, hourly)) in self.figures_until(&missing, this_hour, hours).await? {
                fresh.insert(id, Rolled { reach, windows, hourly });
            }
            let mut cache = self.rolled.0.lock().unwrap_or_else(|e| e.into_inner());
            if cache.len() + fresh.len() > MAX_CACHED {
                cache.clear();
            }
            cache.extend(fresh.iter().map(|(id, r)| (*id, r.clone())));
        }
        // What the hourly rollups do not hold yet: this hour's slices and
        // the last minutes' raw checks, two statements for the page.
        let mut recent = store.recent_aggregates_of(ids, hours, now).await?;
        let mut out = HashMap::new();
        for (id, mut rolled) in cached.into_iter().chain(fresh) {
            let tail = recent.remove(&id).unwrap_or_default();
            for window in &mut rolled.windows {
                window.merge(&tail);
            }
            let mut latency = rolled.hourly;
            // The hours between the reach and this hour (none, or the last one).
            latency.resize(usize::try_from(SPARK_HOURS).unwrap_or(24) - 1, None);
            latency.push(tail.latency_avg_ms());
            out.insert(id, (rolled.windows, latency));
        }
        Ok(out)
    }

    /// Each service's windows (from `this_hour` less their days) and hourly
    /// latencies, read up to `until`: all of it when the rollups are
    /// behind, or the rolled part that the cache keeps.
    async fn figures_until(
        &self,
        ids: &[i64],
        this_hour: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<HashMap<i64, RowFigures>, MonitoringError> {
        let store = self.store();
        let mut windows: Vec<HashMap<i64, Aggregate>> = Vec::new();
        for days in WINDOW_DAYS {
            windows.push(store.aggregates_of(ids, this_hour - Duration::days(days), until).await?);
        }
        let spark_from = this_hour - Duration::hours(SPARK_HOURS - 1);
        let mut hourly = store.series_with(ids, spark_from, until, 3600, false).await?;
        Ok(ids
            .iter()
            .map(|&id| {
                let take = |m: &mut HashMap<i64, Aggregate>| m.remove(&id).unwrap_or_default();
                let latency =
                    hourly.remove(&id).unwrap_or_default().iter().map(|b| b.figures.latency_avg_ms()).collect();
                (id, ([take(&mut windows[0]), take(&mut windows[1]), take(&mut windows[2])], latency))
            })
            .collect())
    }
}
