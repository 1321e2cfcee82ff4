//! What `/metrics` shows of the background workers: when each last did its
//! work, and how often a pass failed or the worker had to be restarted.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::sync::Notify;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WorkerLabels {
    worker: &'static str,
}

/// The figures of every worker, by name.
#[derive(Clone, Default)]
pub struct WorkerMetrics {
    last_success: Family<WorkerLabels, Gauge<f64, AtomicU64>>,
    failures: Family<WorkerLabels, Counter>,
    restarts: Family<WorkerLabels, Counter>,
    /// Told of every success, for [`WorkerMetrics::succeeded_once`].
    succeeded: Arc<Notify>,
}

impl WorkerMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "herald_worker_last_success_timestamp_seconds",
            "When each background worker last finished its work (Unix time)",
            self.last_success.clone(),
        );
        registry.register(
            "herald_worker_failures",
            "Background worker passes that failed, by worker",
            self.failures.clone(),
        );
        registry.register(
            "herald_worker_restarts",
            "Background workers restarted after a panic or a failure, by worker",
            self.restarts.clone(),
        );
    }

    /// Last success, failures and restarts of `worker`, for tests.
    #[cfg(test)]
    pub(super) fn figures(&self, worker: &'static str) -> (f64, u64, u64) {
        let labels = WorkerLabels { worker };
        (
            self.last_success.get_or_create(&labels).get(),
            self.failures.get_or_create(&labels).get(),
            self.restarts.get_or_create(&labels).get(),
        )
    }

    /// Wait until each of `workers` has succeeded at least once (the
    /// start-up passes done, before a test or a tool relies on quiet).
    pub async fn succeeded_once(&self, workers: &[&'static str]) {
        loop {
            let notified = self.succeeded.notified();
            tokio::pin!(notified);
            // Registered before looking, so a success in between still wakes.
            notified.as_mut().enable();
            if workers.iter().all(|&worker| self.last_success.get_or_create(&WorkerLabels { worker }).get() > 0.0) {
                return;
            }
            notified.await;
        }
    }

    /// The handle one worker reports through; its series exist from now on
    /// (a worker that never succeeded shows 0, not nothing).
    pub fn beat(&self, worker: &'static str) -> Beat {
        let labels = WorkerLabels { worker };
        drop(self.last_success.get_or_create(&labels));
        drop(self.failures.get_or_create(&labels));
        drop(self.restarts.get_or_create(&labels));
        Beat { metrics: self.clone(), labels }
    }
}

/// One worker's reporting handle.
#[derive(Clone)]
pub struct Beat {
    metrics: WorkerMetrics,
    labels: WorkerLabels,
}

impl Beat {
    /// The worker finished a unit of its work.
    pub fn succeeded(&self) {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        self.metrics.last_success.get_or_create(&self.labels).set(now.as_secs_f64());
        self.metrics.succeeded.notify_waiters();
    }

    /// A pass failed (a long-running worker counts its own failed rounds).
    pub fn failed(&self) {
        self.metrics.failures.get_or_create(&self.labels).inc();
    }

    pub(super) fn restarted(&self) {
        self.metrics.restarts.get_or_create(&self.labels).inc();
    }
}
