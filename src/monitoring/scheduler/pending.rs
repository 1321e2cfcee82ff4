//! Results waiting to be stored, between the checks that produce them and
//! the writers that store them in batches.
//!
//! A queue rather than a channel: a channel wakes its receiver on every
//! send, so a writer gathering a batch was woken (and re-armed its timer)
//! once per result, from the check thread onto another. Here the writer
//! that gathers is woken when a batch begins and when it is full, and
//! sleeps through the rest. Each result carries its check's claim permit,
//! so what is claimed and not yet stored stays within the claimed bound.

use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::{Notify, OwnedSemaphorePermit};
use tokio::time::Instant;

use crate::monitoring::store::ResultIn;

/// A result and the claim permit it holds until stored.
pub type Held = (ResultIn, OwnedSemaphorePermit);

pub struct Pending {
    inner: Mutex<Inner>,
    /// A batch began or filled, or the queue closed.
    ready: Notify,
    /// Writers gather one at a time; the others store meanwhile.
    gathering: tokio::sync::Mutex<()>,
    batch: usize,
}

struct Inner {
    queue: Vec<Held>,
    closed: bool,
}

impl Pending {
    pub fn new(batch: usize) -> Self {
        Self {
            inner: Mutex::new(Inner { queue: Vec::new(), closed: false }),
            ready: Notify::new(),
            gathering: tokio::sync::Mutex::new(()),
            batch: batch.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queue a result to be stored; handed back once the queue is closed.
    pub fn push(&self, result: ResultIn, permit: OwnedSemaphorePermit) -> Result<(), ResultIn> {
        let len = {
            let mut inner = self.lock();
            if inner.closed {
                return Err(result);
            }
            inner.queue.push((result, permit));
            inner.queue.len()
        };
        if len == 1 || len == self.batch {
            self.ready.notify_one();
        }
        Ok(())
    }

    /// No more results: writers store what is queued, then stop.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_one();
    }

    /// The next batch: once a first result is queued, what is queued by
    /// `deadline` (reckoned then) or a full batch if sooner. `None` once
    /// closed and empty.
    pub async fn next_batch(&self, deadline: impl FnOnce() -> Instant) -> Option<Vec<Held>> {
        let _gathering = self.gathering.lock().await;
        loop {
            // Created before looking, so a push between the look and the
            // wait still wakes this writer.
            let notified = self.ready.notified();
            {
                let inner = self.lock();
                if !inner.queue.is_empty() {
                    break;
                }
                if inner.closed {
                    return None;
                }
            }
            notified.await;
        }
        let deadline = deadline();
        loop {
            let notified = self.ready.notified();
            {
                let inner = self.lock();
                if inner.queue.len() >= self.batch || inner.closed {
                    break;
                }
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        let mut inner = self.lock();
        let take = inner.queue.len().min(self.batch);
        Some(inner.queue.drain(..take).collect())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use chrono::Utc;
    use tokio::sync::Semaphore;
    use tokio::time::Instant;

    use super::Pending;
    use crate::monitoring::checks::CheckStatus;
    use crate::monitoring::store::ResultIn;

    fn result(service_id: i64) -> ResultIn {
        ResultIn {
            service_id,
            checked_at: Utc::now(),
            status: CheckStatus::Up,
            latency_us: 1,
            status_code: Some(200),
            error: None,
            instance_id: 1,
            cert_expires_at: None,
            next_check_at: None,
        }
    }

    fn ids(batch: &[super::Held]) -> Vec<i64> {
        batch.iter().map(|(r, _)| r.service_id).collect()
    }

    #[tokio::test]
    async fn a_batch_is_what_arrives_by_the_deadline_and_holds_its_permits() {
        let permits = Arc::new(Semaphore::new(10));
        let pending = Arc::new(Pending::new(100));
        let writer = {
            let pending = pending.clone();
            tokio::spawn(async move { pending.next_batch(|| Instant::now() + Duration::from_millis(200)).await })
        };
        for id in 1..=3 {
            pending.push(result(id), permits.clone().try_acquire_owned().unwrap()).unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let batch = writer.await.unwrap().expect("a batch");
        assert_eq!(ids(&batch), [1, 2, 3]);
        assert_eq!(permits.available_permits(), 7, "permits stay taken until the batch is stored");
        drop(batch);
        assert_eq!(permits.available_permits(), 10);
    }

    #[tokio::test]
    async fn a_full_batch_goes_before_the_deadline() {
        let permits = Arc::new(Semaphore::new(10));
        let pending = Arc::new(Pending::new(2));
        let started = std::time::Instant::now();
        let writer = {
            let pending = pending.clone();
            tokio::spawn(async move { pending.next_batch(|| Instant::now() + Duration::from_secs(30)).await })
        };
        for id in 1..=3 {
            pending.push(result(id), permits.clone().try_acquire_owned().unwrap()).unwrap();
        }
        assert_eq!(ids(&writer.await.unwrap().expect("a batch")), [1, 2]);
        assert!(started.elapsed() < Duration::from_secs(5), "a full batch waited for the deadline");
        // The rest is the next batch, after its own deadline.
        let rest = pending.next_batch(|| Instant::now() + Duration::from_millis(50)).await.expect("the rest");
        assert_eq!(ids(&rest), [3]);
    }

    #[tokio::test]
    async fn closing_stores_what_is_queued_then_ends() {
        let permits = Arc::new(Semaphore::new(10));
        let pending = Pending::new(100);
        pending.push(result(1), permits.clone().try_acquire_owned().unwrap()).unwrap();
        pending.close();
        let after = pending.push(result(2), permits.clone().try_acquire_owned().unwrap());
        assert_eq!(after.map_err(|r| r.service_id), Err(2), "a result after closing is handed back");
        let last = pending.next_batch(|| Instant::now() + Duration::from_secs(30)).await.expect("what was queued");
        assert_eq!(ids(&last), [1]);
        assert!(pending.next_batch(|| Instant::now() + Duration::from_secs(30)).await.is_none());
    }
}
