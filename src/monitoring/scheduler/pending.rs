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
