//! The supervisor with real tasks and short real periods.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{Backoff, Pass, Schedule, Worker, WorkerMetrics, Workers};

/// Counts its passes; fails on the ones `fail` says, panics on those `panic` says.
struct Counting {
    passes: Arc<AtomicU32>,
    fail: fn(u32) -> bool,
    panic: fn(u32) -> bool,
}

impl Worker for Counting {
    async fn pass(&mut self) -> anyhow::Result<Pass> {
        let n = self.passes.fetch_add(1, Ordering::SeqCst) + 1;
        if (self.panic)(n) {
            panic!("pass {n} broke");
        }
        if (self.fail)(n) { Err(anyhow::anyhow!("pass {n} failed")) } else { Ok(Pass::Idle) }
    }
}

fn workers(stop: &CancellationToken, metrics: &WorkerMetrics) -> Workers {
    Workers::new(stop.clone(), metrics.clone()).with_restart_backoff(Backoff::from_millis(5, 5))
}

async fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "{what} did not happen within 5 s");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test]
async fn failing_and_panicking_passes_are_survived_and_counted() {
    let (stop, metrics) = (CancellationToken::new(), WorkerMetrics::default());
    let passes = Arc::new(AtomicU32::new(0));
    let built = Arc::new(AtomicU32::new(0));
    let mut all = workers(&stop, &metrics);
    let (p, b) = (passes.clone(), built.clone());
    all.every("counting", Schedule::every(Duration::from_millis(1)).starting_now(), move || {
        b.fetch_add(1, Ordering::SeqCst);
        Counting { passes: p.clone(), fail: |n| n == 2, panic: |n| n == 3 }
    });
    until("six passes", || passes.load(Ordering::SeqCst) >= 6).await;
    stop.cancel();
    all.join(Duration::from_secs(5)).await;
    let (last_success, failures, restarts) = metrics.figures("counting");
    assert!(last_success > 1.7e9, "a success was recorded: {last_success}");
    assert_eq!((failures, restarts), (2, 1), "pass 2 failed, pass 3 panicked (and was restarted)");
    assert_eq!(built.load(Ordering::SeqCst), 2, "the panicked worker was built afresh");
}

#[tokio::test]
async fn a_wake_up_starts_the_next_pass_and_stop_can_flush() {
    let (stop, metrics) = (CancellationToken::new(), WorkerMetrics::default());
    let passes = Arc::new(AtomicU32::new(0));
    let wake = Arc::new(Notify::new());
    let mut all = workers(&stop, &metrics);
    let p = passes.clone();
    let schedule = Schedule::every(Duration::from_secs(3600)).woken_by(wake.clone()).with_last_pass_on_stop();
    all.every("woken", schedule, move || Counting { passes: p.clone(), fail: |_| false, panic: |_| false });
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(passes.load(Ordering::SeqCst), 0, "the first pass waits a period");
    wake.notify_one();
    until("a woken pass", || passes.load(Ordering::SeqCst) == 1).await;
    stop.cancel();
    all.join(Duration::from_secs(5)).await;
    assert_eq!(passes.load(Ordering::SeqCst), 2, "one last pass on stop");
}

#[tokio::test]
async fn a_long_running_task_is_restarted_when_it_fails_not_when_it_is_done() {
    let (stop, metrics) = (CancellationToken::new(), WorkerMetrics::default());
    let runs = Arc::new(AtomicU32::new(0));
    let mut all = workers(&stop, &metrics);
    let r = runs.clone();
    all.long_running("flaky", move |beat, stop| {
        let n = r.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            match n {
                1 => Err(anyhow::anyhow!("lost the connection")),
                2 => panic!("bug"),
                _ => {
                    beat.succeeded();
                    stop.cancelled().await;
                    Ok(())
                }
            }
        }
    });
    let done = Arc::new(AtomicU32::new(0));
    let d = done.clone();
    all.long_running("nothing to do", move |_, _| {
        d.fetch_add(1, Ordering::SeqCst);
        async { Ok(()) }
    });
    until("the third run", || runs.load(Ordering::SeqCst) >= 3).await;
    until("a success", || metrics.figures("flaky").0 > 0.0).await;
    stop.cancel();
    all.join(Duration::from_secs(5)).await;
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    assert_eq!(metrics.figures("flaky").1, 2, "an error and a panic");
    assert_eq!(metrics.figures("flaky").2, 2);
    assert_eq!(done.load(Ordering::SeqCst), 1, "a task that returns Ok is done, not restarted");
}
