//! The periodic cleanup job: expired notifications and old read ones.
//! Deleting is idempotent, so two instances running it at once on one
//! PostgreSQL only share the work.

use std::time::Duration;

use anyhow::Context;

use super::service::NotificationService;
use crate::config::NotificationsConfig;
use crate::workers::{Pass, Schedule, Worker};

/// [`NotificationService::cleanup_once`] as a worker, every
/// `cleanup_interval_seconds`.
pub struct Cleanup {
    service: NotificationService,
    config: NotificationsConfig,
}

impl Cleanup {
    pub fn new(service: NotificationService, config: NotificationsConfig) -> Self {
        Self { service, config }
    }

    pub fn schedule(config: &NotificationsConfig) -> Schedule {
        Schedule::every(Duration::from_secs(config.cleanup_interval_seconds))
    }
}

impl Worker for Cleanup {
    async fn pass(&mut self) -> anyhow::Result<Pass> {
        let retention = chrono::Duration::days(i64::from(self.config.read_retention_days));
        let c = self
            .service
            .cleanup_once(retention, i64::from(self.config.cleanup_batch))
            .await
            .context("notification cleanup failed")?;
        if c.expired + c.read > 0 {
            tracing::info!(expired = c.expired, read = c.read, "notification cleanup removed rows");
        } else {
            tracing::debug!("notification cleanup: nothing to remove");
        }
        Ok(Pass::Idle)
    }
}
