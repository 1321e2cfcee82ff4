//! The delivery worker: claims due deliveries from the outbox (under a
//! lease, so with several instances each is sent by one), sends them, and
//! records the outcome: delivered; or retried with exponential backoff and
//! jitter; or, after the last attempt or an error that retrying cannot
//! fix, failed with the last error.

use std::time::Duration;

use anyhow::Context;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use super::channels::Event;
use super::service::AlertService;
use super::store::DeliveryRow;
use crate::config::AlertsConfig;
use crate::workers::{Backoff, Pass, Schedule, Worker};

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

/// The outbox as a worker: sends due deliveries at once when this
/// instance enqueues some, and every `poll_interval_ms` for retries that
/// fall due and for deliveries another instance enqueued and did not send
/// (it died); a full batch is followed by another at once.
pub struct Outbox {
    pub alerts: AlertService,
    pub metrics: DeliveryMetrics,
}

impl Outbox {
    pub fn schedule(&self) -> Schedule {
        let poll = Duration::from_millis(self.alerts.config().poll_interval_ms.max(10));
        Schedule::every(poll).starting_now().woken_by(self.alerts.enqueued())
    }
}

impl Worker for Outbox {
    async fn pass(&mut self) -> anyhow::Result<Pass> {
        let sent = deliver_due(&self.alerts, &self.metrics).await.context("could not send alert deliveries")?;
        Ok(if sent >= self.alerts.config().batch { Pass::More } else { Pass::Idle })
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
    let recorded = match sent {
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
    };
    alerts.attempted();
    recorded
}

/// Wait before attempt `attempts + 1`: the initial delay doubled per
/// attempt, capped, with full jitter over its upper half (so deliveries
/// that failed together do not retry together).
fn backoff(config: &AlertsConfig, attempts: i32) -> chrono::Duration {
    let wait =
        Backoff::from_millis(config.retry_initial_ms, config.retry_max_ms).jittered(attempts.max(1).unsigned_abs());
    chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX)
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
