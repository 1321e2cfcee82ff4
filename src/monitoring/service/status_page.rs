//! The public status page: every public service with its status, 90 daily
//! buckets and 90-day uptime, and an overall verdict.

use chrono::{Duration, DurationRound};

use super::{MonitoringError, MonitoringService};
use crate::monitoring::domain::ShownStatus;
use crate::monitoring::domain::figures::Aggregate;
use crate::monitoring::http::wire::{StatusDay, StatusPage, StatusService};
use crate::monitoring::store::DAY;

impl MonitoringService {
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
                let mut total = Aggregate::default();
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
        let overall = if services.iter().any(|s| s.status == ShownStatus::Down) {
            "outage"
        } else if services.iter().any(|s| s.status == ShownStatus::Degraded) {
            "degraded"
        } else {
            "operational"
        };
        Ok(StatusPage { overall, services, generated_at: now })
    }
}
