//! The check scheduler: every tick, claim the services that are due (under
//! a lease, so on PostgreSQL each due check is claimed by one instance),
//! run their checks with bounded concurrency, and hand the results to one
//! writer that stores them in batches.
//!
//! Due times stay on each service's own grid (`next_due`), so checks do not
//! drift; a check ends at its timeout; a dead instance's leases expire and
//! the next due check is claimed by whoever is alive.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use super::checks::CheckStatus;
use super::domain;
use super::service::{MonitoringService, to_result};
use super::store::{ResultIn, ServiceRow};
use crate::config::MonitoringConfig;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

/// Scheduler figures for `/metrics`.
#[derive(Clone)]
pub struct SchedulerMetrics {
    checks: Family<ResultLabels, Counter>,
    in_flight: Gauge,
    /// From a check's due time to its start.
    lag: Histogram,
    write_failures: Counter,
}

impl Default for SchedulerMetrics {
    fn default() -> Self {
        Self {
            checks: Family::default(),
            in_flight: Gauge::default(),
            lag: Histogram::new([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
            write_failures: Counter::default(),
        }
    }
}

impl SchedulerMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register("herald_checks", "Checks run by this instance, by result", self.checks.clone());
        registry.register("herald_checks_in_flight", "Checks running now", self.in_flight.clone());
        registry.register("herald_check_lag_seconds", "Delay from a check's due time to its start", self.lag.clone());
        registry.register(
            "herald_check_write_failures",
            "Batches of check results that could not be stored",
            self.write_failures.clone(),
        );
    }
}

/// Runs checks for this instance until cancelled.
pub struct Scheduler {
    service: MonitoringService,
    config: MonitoringConfig,
    metrics: SchedulerMetrics,
}

impl Scheduler {
    pub fn new(service: MonitoringService, config: MonitoringConfig, metrics: SchedulerMetrics) -> Self {
        Self { service, config, metrics }
    }

    pub async fn run(self, cancel: CancellationToken) {
        let permits = Arc::new(Semaphore::new(self.config.max_concurrent_checks));
        let (tx, rx) = mpsc::channel::<ResultIn>(self.config.max_concurrent_checks.max(1) * 2);
        let linger = Duration::from_millis(self.config.result_linger_ms);
        let writer = tokio::spawn(write_results(
            self.service.clone(),
            rx,
            self.config.result_batch,
            linger,
            self.metrics.clone(),
        ));
        let mut tick = tokio::time::interval(Duration::from_millis(self.config.claim_interval_ms));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tick.tick() => {}
            }
            // Claim until nothing more is due or every check slot is busy:
            // one claim per tick would cap an instance at slots × ticks per second.
            loop {
                let free = permits.available_permits();
                if free == 0 {
                    break;
                }
                let due = match self.claim(free).await {
                    Ok(due) => due,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not claim due checks; retrying next tick");
                        break;
                    }
                };
                let full = due.len() == free;
                for row in due {
                    let Ok(permit) = permits.clone().acquire_owned().await else { break };
                    let job = Job { service: self.service.clone(), tx: tx.clone(), metrics: self.metrics.clone() };
                    tokio::spawn(async move {
                        job.run(row).await;
                        drop(permit);
                    });
                }
                if !full || cancel.is_cancelled() {
                    break;
                }
            }
        }
        // Checks in flight finish (each ends at its timeout) and their
        // results are written before the writer stops.
        drop(tx);
        let _ = tokio::time::timeout(Duration::from_secs(10), writer).await;
    }

    /// Claim up to `limit` due services, as read before the claim (so
    /// `next_check_at` is when each was due).
    async fn claim(&self, limit: usize) -> Result<Vec<ServiceRow>, crate::storage::StorageError> {
        let now = self.service.now();
        let margin = self.config.lease_margin_seconds as i64;
        self.service
            .store()
            .claim_due(self.service.instance_id(), now, limit as i64, |row| {
                let next = if row.kind == "heartbeat" {
                    // Past its deadline: report down once per interval until a beat comes.
                    now + chrono::Duration::seconds(row.interval_seconds.into())
                } else {
                    domain::next_due(row.next_check_at, now, row.interval_seconds.into(), row.id)
                };
                // Held while its check can run; an instance that dies holds it no longer.
                let lease_until = now + chrono::Duration::seconds(i64::from(row.timeout_seconds) + margin);
                (next, lease_until)
            })
            .await
    }
}

/// One claimed check.
struct Job {
    service: MonitoringService,
    tx: mpsc::Sender<ResultIn>,
    metrics: SchedulerMetrics,
}

impl Job {
    async fn run(self, row: ServiceRow) {
        let started = self.service.now();
        let lag = (started - row.next_check_at).num_microseconds().unwrap_or(0).max(0) as f64 / 1e6;
        self.metrics.lag.observe(lag);
        self.metrics.in_flight.inc();
        let checked = self.service.run_check(&row).await;
        self.metrics.in_flight.dec();
        let (outcome, status) = match checked {
            Ok(done) => done,
            Err(e) => {
                tracing::warn!(service_id = row.id, error = %e, "stored service could not be checked");
                return;
            }
        };
        let result = match status {
            CheckStatus::Up => "up",
            CheckStatus::Degraded => "degraded",
            CheckStatus::Down => "down",
        };
        self.metrics.checks.get_or_create(&ResultLabels { result }).inc();
        let stored = to_result(&row, &outcome, status, started, self.service.instance_id());
        let _ = self.tx.send(stored).await;
    }
}

/// Store results in batches: what arrives within `linger` of the first
/// result, up to `batch`, in one transaction. Each transaction costs a
/// commit (an fsync on SQLite); gathering for a moment turns a steady
/// trickle of results into a few transactions per second.
async fn write_results(
    service: MonitoringService,
    mut rx: mpsc::Receiver<ResultIn>,
    batch: usize,
    linger: Duration,
    metrics: SchedulerMetrics,
) {
    let batch = batch.max(1);
    let mut buffer = Vec::with_capacity(batch);
    while rx.recv_many(&mut buffer, batch).await > 0 {
        let deadline = tokio::time::Instant::now() + linger;
        while buffer.len() < batch {
            let room = batch - buffer.len();
            match tokio::time::timeout_at(deadline, rx.recv_many(&mut buffer, room)).await {
                Ok(n) if n > 0 => {}
                _ => break,
            }
        }
        let results = std::mem::take(&mut buffer);
        if let Err(e) = service.record(results).await {
            metrics.write_failures.inc();
            tracing::error!(error = %e, "could not store a batch of check results");
        }
    }
}
