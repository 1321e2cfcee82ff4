//! The periodic cleanup job: expired notifications and old read ones.
//! Deleting is idempotent, so two instances running it at once on one
//! PostgreSQL only share the work.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::service::NotificationService;
use crate::config::NotificationsConfig;

/// Run [`NotificationService::cleanup_once`] every interval until `stop`.
pub async fn run_cleanup(service: NotificationService, config: NotificationsConfig, stop: CancellationToken) {
    let interval = Duration::from_secs(config.cleanup_interval_seconds);
    let retention = chrono::Duration::days(i64::from(config.read_retention_days));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        match service.cleanup_once(retention, i64::from(config.cleanup_batch)).await {
            Ok(c) if c.expired + c.read > 0 => {
                tracing::info!(expired = c.expired, read = c.read, "notification cleanup removed rows")
            }
            Ok(_) => tracing::debug!("notification cleanup: nothing to remove"),
            // The next pass retries; a failing pass must not end the loop.
            Err(e) => tracing::warn!(error = %e, "notification cleanup failed"),
        }
    }
}
