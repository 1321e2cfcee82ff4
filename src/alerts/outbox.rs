//! The delivery worker: claims due deliveries from the outbox (under a
//! lease, so with several instances each is sent by one), sends them, and
//! records the outcome: delivered; or retried with exponential backoff and
//! jitter; or, after the last attempt or an error that retrying cannot
//! fix, failed with the last error.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use rand::Rng;
use tokio_util::sync::CancellationToken;

use super::channels::Event;
use super::service::AlertService;
use super::store::DeliveryRow;
use crate::config::AlertsConfig;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// Delivery attempts by outcome, for `/metrics`.
#[derive(Clone, Default)]
pub struct DeliveryMetrics {
    attempts: Family<OutcomeLabels, Counter>,
}

impl DeliveryMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "herald_alert_delivery_attempts",
            "Alert delivery attempts by outcome (delivered, retry, failed)",
            self.attempts.clone(),
        );
    }

    fn count(&self, outcome: &'static str) {
        self.attempts.get_or_create(&OutcomeLabels { outcome }).inc();
    }
}

/// Send due deliveries until cancelled: at once when this instance
/// enqueues some, and every `poll_interval_ms` for retries that fall due and
/// for deliveries another instance enqueued and did not send (it died).
pub async fn run_outbox(alerts: AlertService, metrics: DeliveryMetrics, cancel: CancellationToken) {
    let poll = Duration::from_millis(alerts.config().poll_interval_ms.max(10));
    loop {
        match deliver_due(&alerts, &metrics).await {
            // A full batch: more may be due at once.
            Ok(n) if n >= alerts.config().batch => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not send alert deliveries; retrying"),
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(poll) => {}
            _ = alerts.enqueued().notified() => {}
        }
    }
}

/// Claim and send up to `batch` deliveries, one claim each (a claim's
/// lease covers one send); how many were sent.
pub async fn deliver_due(
    alerts: &AlertService,
    metrics: &DeliveryMetrics,
) -> Result<usize, crate::storage::StorageError> {
    let config = alerts.config();
    let mut sent = 0;
    while sent < config.batch {
        let now = alerts.now();
        let lease = now + chrono::Duration::seconds(i64::try_from(config.lease_seconds).unwrap_or(60));
        let Some(delivery) = alerts.store().claim_delivery(now, lease).await? else { break };
        deliver(alerts, metrics, delivery).await?;
        sent += 1;
    }
    Ok(sent)
}

async fn deliver(
    alerts: &AlertService,
    metrics: &DeliveryMetrics,
    d: DeliveryRow,
) -> Result<(), crate::storage::StorageError> {
    let store = alerts.store();
    let attempts = d.attempts.saturating_add(1);
    let event = match d.event.as_str() {
        "alert.firing" => Event::Firing,
        "alert.resolved" => Event::Resolved,
        _ => Event::Test,
    };
    let sent = match store.channel(d.channel_id).await? {
        Some(channel) if channel.enabled => alerts.send(&channel, d.id, event, &d.payload.0).await,
        _ => Err(super::channels::DeliveryError { message: "the channel is disabled".into(), retryable: false }),
    };
    match sent {
        Ok(()) => {
            metrics.count("delivered");
            store.delivered(d.id, attempts, alerts.now()).await
        }
        Err(e) => {
            let config = alerts.config();
            let retry_at = (e.retryable && attempts < config.max_attempts as i32)
                .then(|| alerts.now() + backoff(config, attempts));
            metrics.count(if retry_at.is_some() { "retry" } else { "failed" });
            if retry_at.is_none() {
                tracing::warn!(delivery_id = d.id, channel_id = d.channel_id, attempts, error = %e.message,
                    "alert delivery failed for good");
            }
            store.attempt_failed(d.id, attempts, &e.message, retry_at).await
        }
    }
}

/// Wait before attempt `attempts + 1`: the initial delay doubled per
/// attempt, capped, with full jitter over its upper half (so deliveries
/// that failed together do not retry together).
fn backoff(config: &AlertsConfig, attempts: i32) -> chrono::Duration {
    let base = config.retry_initial_ms.saturating_mul(1u64 << (attempts.clamp(1, 30) - 1) as u32);
    let capped = base.min(config.retry_max_ms).max(1);
    let jittered = rand::rng().random_range(capped / 2..=capped);
    chrono::Duration::milliseconds(i64::try_from(jittered).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_is_capped() {
        let config = AlertsConfig { retry_initial_ms: 1_000, retry_max_ms: 8_000, ..AlertsConfig::default() };
        for (attempt, high) in [(1, 1_000), (2, 2_000), (3, 4_000), (4, 8_000), (9, 8_000)] {
            for _ in 0..50 {
                let ms = backoff(&config, attempt).num_milliseconds();
                assert!((high / 2..=high).contains(&ms), "attempt {attempt}: {ms} ms");
            }
        }
    }
}
