//! Background work, supervised. Every loop herald runs beside the HTTP
//! server is started here, by name, with the shared stop signal:
//!
//! - a [`Worker`] does one unit of work per [`Worker::pass`], on a
//!   [`Schedule`] (a period, an optional first delay, an optional wake-up);
//!   each pass runs in a `worker` span, a failing pass is logged and counted
//!   and the next one comes as scheduled;
//! - a long-running task (the check scheduler, the realtime listener) runs
//!   until the stop signal; if it fails it is restarted.
//!
//! Either kind is restarted with [`Backoff`] when it panics (a worker is
//! built afresh: a panic may have left its state half-changed). `/metrics`
//! shows each one's last success, failures and restarts
//! ([`WorkerMetrics`]). Tests drive the same passes one at a time
//! (`evaluate_once`, `deliver_due`, …) without this module.

mod backoff;
mod metrics;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use backoff::Backoff;
pub use metrics::{Beat, WorkerMetrics};

/// How a restart after a panic is paced.
const RESTART: Backoff = Backoff { initial: Duration::from_secs(1), max: Duration::from_secs(60) };

/// What a pass found, and so when the next one comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// Done for now: the next pass after the period (or a wake-up).
    Idle,
    /// More may be waiting (a full batch): the next pass at once.
    More,
    /// Could not do its work (the database is away): try again after this
    /// long. Not a success.
    RetryIn(Duration),
}

/// One unit of background work.
pub trait Worker: Send + 'static {
    fn pass(&mut self) -> impl Future<Output = anyhow::Result<Pass>> + Send;
}

/// When a [`Worker`]'s passes run.
#[derive(Clone)]
pub struct Schedule {
    /// Between the end of one pass and the start of the next.
    pub period: Duration,
    /// Before the first pass (zero: at once).
    pub first: Duration,
    /// Notified, the next pass starts without waiting out the period.
    pub wake: Option<Arc<Notify>>,
    /// One more pass once the stop signal came (to flush what is buffered).
    pub last_pass_on_stop: bool,
}

impl Schedule {
    /// Every `period`, the first after one period.
    pub fn every(period: Duration) -> Self {
        Self { period, first: period, wake: None, last_pass_on_stop: false }
    }

    /// The first pass at once.
    pub fn starting_now(mut self) -> Self {
        self.first = Duration::ZERO;
        self
    }

    pub fn woken_by(mut self, wake: Arc<Notify>) -> Self {
        self.wake = Some(wake);
        self
    }

    pub fn with_last_pass_on_stop(mut self) -> Self {
        self.last_pass_on_stop = true;
        self
    }
}

/// The supervised background work of one server.
pub struct Workers {
    stop: CancellationToken,
    metrics: WorkerMetrics,
    restart: Backoff,
    handles: Vec<(&'static str, JoinHandle<()>)>,
}

impl Workers {
    pub fn new(stop: CancellationToken, metrics: WorkerMetrics) -> Self {
        Self { stop, metrics, restart: RESTART, handles: Vec::new() }
    }

    /// Restarts paced by `restart` instead of 1 s doubling to a minute.
    pub fn with_restart_backoff(mut self, restart: Backoff) -> Self {
        self.restart = restart;
        self
    }

    /// Run `make()`'s passes on `schedule` until the stop signal.
    pub fn every<W: Worker>(&mut self, name: &'static str, schedule: Schedule, make: impl Fn() -> W + Send + 'static) {
        let (stop, restart) = (self.stop.clone(), self.restart);
        let beat = self.metrics.beat(name);
        let handle = tokio::spawn(async move {
            let mut restarts = 0;
            loop {
                let mut worker = make();
                let run = AssertUnwindSafe(passes(name, &mut worker, &schedule, &stop, &beat)).catch_unwind();
                match run.await {
                    Ok(()) => return,
                    Err(panic) => {
                        beat.failed();
                        restarts += 1;
                        let why = panic_message(&*panic);
                        if !restart_after(name, &why, restart.delay(restarts), &stop, &beat).await {
                            return;
                        }
                    }
                }
            }
        });
        self.handles.push((name, handle));
    }

    /// Run `make(beat, stop)` until the stop signal: a task that paces
    /// itself and calls [`Beat::succeeded`] when it has done its work.
    /// Returning `Ok` before the stop signal means it has nothing to do
    /// (the listener on SQLite); an error or a panic restarts it.
    pub fn long_running<F>(
        &mut self,
        name: &'static str,
        mut make: impl FnMut(Beat, CancellationToken) -> F + Send + 'static,
    ) where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let (stop, restart) = (self.stop.clone(), self.restart);
        let beat = self.metrics.beat(name);
        let handle = tokio::spawn(async move {
            let mut restarts = 0;
            loop {
                let task = make(beat.clone(), stop.clone()).instrument(tracing::info_span!("worker", name));
                let why = match AssertUnwindSafe(task).catch_unwind().await {
                    Ok(Ok(())) => return,
                    Ok(Err(e)) => format!("{e:#}"),
                    Err(panic) => panic_message(&*panic),
                };
                if stop.is_cancelled() {
                    return;
                }
                beat.failed();
                restarts += 1;
                if !restart_after(name, &why, restart.delay(restarts), &stop, &beat).await {
                    return;
                }
            }
        });
        self.handles.push((name, handle));
    }

    /// Wait for every worker to finish after the stop signal; a worker
    /// still busy after `within` is left to the runtime's shutdown.
    pub async fn join(self, within: Duration) {
        for (name, handle) in self.handles {
            if tokio::time::timeout(within, handle).await.is_err() {
                tracing::warn!(worker = name, "worker did not stop in time");
            }
        }
    }
}

/// Passes until the stop signal.
async fn passes<W: Worker>(
    name: &'static str,
    worker: &mut W,
    schedule: &Schedule,
    stop: &CancellationToken,
    beat: &Beat,
) {
    let mut wait = schedule.first;
    loop {
        let stopping = tokio::select! {
            _ = stop.cancelled() => true,
            _ = tokio::time::sleep(wait) => false,
            _ = wake(schedule.wake.as_deref()), if !wait.is_zero() => false,
        };
        if stopping && !schedule.last_pass_on_stop {
            return;
        }
        wait = match worker.pass().instrument(tracing::info_span!("worker", name)).await {
            Ok(pass) => {
                if !matches!(pass, Pass::RetryIn(_)) {
                    beat.succeeded();
                }
                match pass {
                    Pass::Idle => schedule.period,
                    Pass::More => Duration::ZERO,
                    Pass::RetryIn(after) => after,
                }
            }
            Err(e) => {
                beat.failed();
                tracing::warn!(
                    worker = name,
                    error = format!("{e:#}"),
                    "worker pass failed; the next one comes as scheduled"
                );
                schedule.period
            }
        };
        if stopping {
            return;
        }
    }
}

/// A wake-up, or never when there is none.
async fn wake(notify: Option<&Notify>) {
    match notify {
        Some(notify) => notify.notified().await,
        None => std::future::pending().await,
    }
}

/// Log a worker's death, count it and wait out the backoff; `false` when
/// the stop signal came meanwhile.
async fn restart_after(name: &'static str, why: &str, delay: Duration, stop: &CancellationToken, beat: &Beat) -> bool {
    beat.restarted();
    tracing::error!(
        worker = name,
        reason = why,
        restart_in_ms = delay.as_millis() as u64,
        "worker stopped; restarting"
    );
    tokio::select! {
        _ = stop.cancelled() => false,
        _ = tokio::time::sleep(delay) => true,
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic.downcast_ref::<String>().map(String::as_str).or_else(|| panic.downcast_ref::<&str>().copied());
    format!("panicked: {}", text.unwrap_or("unknown panic"))
}

#[cfg(test)]
mod tests;
