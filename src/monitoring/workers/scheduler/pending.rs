//! Results waiting to be stored, between the checks that produce them and
//! the writers that store them in batches.
//!
//! A queue rather than a channel: a channel wakes its receiver on every
//! send, so a writer gathering a batch was woken (and re-armed its timer)
//! once per result, from the check thread onto another. Here the writer
//! that gathers is woken when a batch begins and when it is full, and
//! sleeps through the rest. Each result carries its check's claim permit,
//! so what is claimed and not yet stored stays within the claimed bound.
//! An urgent result (one that may change a service's status) wakes the
//! gathering writer too, which then gathers only for the short deadline.

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
    /// Each with whether it is urgent.
    queue: Vec<(Held, bool)>,
    /// How many queued are urgent.
    urgent: usize,
    closed: bool,
}

impl Pending {
    pub fn new(batch: usize) -> Self {
        Self {
            inner: Mutex::new(Inner { queue: Vec::new(), urgent: 0, closed: false }),
            ready: Notify::new(),
            gathering: tokio::sync::Mutex::new(()),
            batch: batch.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queue a result to be stored; handed back once the queue is closed.
    pub fn push(&self, result: ResultIn, permit: OwnedSemaphorePermit, urgent: bool) -> Result<(), ResultIn> {
        let (len, first_urgent) = {
            let mut inner = self.lock();
            if inner.closed {
                return Err(result);
            }
            inner.queue.push(((result, permit), urgent));
            inner.urgent += usize::from(urgent);
            (inner.queue.len(), urgent && inner.urgent == 1)
        };
        if len == 1 || len == self.batch || first_urgent {
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
    /// `deadline(urgent)` (reckoned then, and again when the first urgent
    /// result arrives, keeping the sooner) or a full batch if sooner.
    /// `None` once closed and empty.
    pub async fn next_batch(&self, deadline: impl Fn(bool) -> Instant) -> Option<Vec<Held>> {
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
        let mut urgent = self.lock().urgent > 0;
        let mut until = deadline(urgent);
        loop {
            let notified = self.ready.notified();
            {
                let inner = self.lock();
                if inner.queue.len() >= self.batch || inner.closed {
                    break;
                }
                if !urgent && inner.urgent > 0 {
                    urgent = true;
                    until = until.min(deadline(true));
                }
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(until) => break,
            }
        }
        let mut inner = self.lock();
        let take = inner.queue.len().min(self.batch);
        let batch: Vec<(Held, bool)> = inner.queue.drain(..take).collect();
        inner.urgent -= batch.iter().filter(|(_, u)| *u).count();
        Some(batch.into_iter().map(|(held, _)| held).collect())
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
            tokio::spawn(async move { pending.next_batch(|_| Instant::now() + Duration::from_millis(200)).await })
        };
        for id in 1..=3 {
            pending.push(result(id), permits.clone().try_acquire_owned().unwrap(), false).unwrap();
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
            tokio::spawn(async move { pending.next_batch(|_| Instant::now() + Duration::from_secs(30)).await })
        };
        for id in 1..=3 {
            pending.push(result(id), permits.clone().try_acquire_owned().unwrap(), false).unwrap();
        }
        assert_eq!(ids(&writer.await.unwrap().expect("a batch")), [1, 2]);
        assert!(started.elapsed() < Duration::from_secs(5), "a full batch waited for the deadline");
        // The rest is the next batch, after its own deadline.
        let rest = pending.next_batch(|_| Instant::now() + Duration::from_millis(50)).await.expect("the rest");
        assert_eq!(ids(&rest), [3]);
    }

    #[tokio::test]
    async fn closing_stores_what_is_queued_then_ends() {
        let permits = Arc::new(Semaphore::new(10));
        let pending = Pending::new(100);
        pending.push(result(1), permits.clone().try_acquire_owned().unwrap(), false).unwrap();
        pending.close();
        let after = pending.push(result(2), permits.clone().try_acquire_owned().unwrap(), false);
        assert_eq!(after.map_err(|r| r.service_id), Err(2), "a result after closing is handed back");
        let last = pending.next_batch(|_| Instant::now() + Duration::from_secs(30)).await.expect("what was queued");
        assert_eq!(ids(&last), [1]);
        assert!(pending.next_batch(|_| Instant::now() + Duration::from_secs(30)).await.is_none());
    }

    #[tokio::test]
    async fn an_urgent_result_cuts_the_gathering_short() {
        let permits = Arc::new(Semaphore::new(10));
        let pending = Arc::new(Pending::new(100));
        let started = std::time::Instant::now();
        let writer = {
            let pending = pending.clone();
            tokio::spawn(async move {
                let deadline = |urgent| Instant::now() + Duration::from_millis(if urgent { 100 } else { 30_000 });
                pending.next_batch(deadline).await
            })
        };
        pending.push(result(1), permits.clone().try_acquire_owned().unwrap(), false).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        pending.push(result(2), permits.clone().try_acquire_owned().unwrap(), true).unwrap();
        let batch = writer.await.unwrap().expect("a batch");
        assert_eq!(ids(&batch), [1, 2]);
        assert!(started.elapsed() < Duration::from_secs(5), "the urgent result waited for the long deadline");
        // The urgent count went with the batch: the next one gathers long.
        pending.push(result(3), permits.clone().try_acquire_owned().unwrap(), false).unwrap();
        let next = pending.next_batch(|urgent| {
            assert!(!urgent, "nothing queued now is urgent");
            Instant::now() + Duration::from_millis(50)
        });
        assert_eq!(ids(&next.await.expect("the rest")), [3]);
    }
}
