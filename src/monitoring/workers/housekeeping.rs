//! Housekeeping: rollups (ten-minute slices, hours, days), then retention
//! of raw results and rollups, every `housekeeping_interval_seconds`.

use anyhow::Context;
use chrono::Duration;

use crate::config::MonitoringConfig;
use crate::monitoring::store::HOUR;
use crate::monitoring::{MonitoringError, MonitoringService};
use crate::workers::{Pass, Schedule, Worker};

impl MonitoringService {
    /// One housekeeping pass: roll up what has settled, then drop raw
    /// results past retention (never ones not yet rolled up), the steps
    /// between levels once rolled on, and rollups past their retention.
    pub async fn housekeeping_once(&self, config: &MonitoringConfig) -> Result<(u32, u64), MonitoringError> {
        let now = self.now();
        // A check that starts just before an hour ends is stored up to its
        // timeout later; two minutes past the longest timeout it is in.
        let settled = now - Duration::seconds(crate::monitoring::domain::MAX_TIMEOUT_SECONDS + 120);
        // Two days of slices, more of the other levels: a pass also stops
        // once it has folded about a slice of 10 000 services.
        let rolled = self.store().roll_up(settled, 288).await?;
        let raw_cutoff = now - Duration::days(config.raw_retention_days.into());
        let raw_cutoff = match self.store().rolled_to(HOUR).await? {
            Some(rolled_to) => raw_cutoff.min(rolled_to),
            None => now - Duration::days(3650),
        };
        let rollup_cutoff = now - Duration::days(config.rollup_retention_days.into());
        let purged = self.store().purge(raw_cutoff, rollup_cutoff, config.retention_batch.into()).await?;
        Ok((rolled.total(), purged))
    }
}

/// Housekeeping (rollups, retention) as a worker, every
/// `housekeeping_interval_seconds`, the first one interval after start-up.
pub struct Housekeeping {
    pub service: MonitoringService,
    pub config: MonitoringConfig,
}

impl Housekeeping {
    pub fn schedule(config: &MonitoringConfig) -> Schedule {
        Schedule::every(std::time::Duration::from_secs(config.housekeeping_interval_seconds.max(1)))
    }
}

impl Worker for Housekeeping {
    async fn pass(&mut self) -> anyhow::Result<Pass> {
        let (rolled, purged) = self.service.housekeeping_once(&self.config).await.context("monitoring housekeeping")?;
        if rolled > 0 || purged > 0 {
            tracing::info!(rolled, purged, "monitoring housekeeping");
        }
        Ok(Pass::Idle)
    }
}
