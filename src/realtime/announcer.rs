//! Telling the other instances what this one committed (PostgreSQL).
//!
//! Writes no longer NOTIFY from their own transactions: PostgreSQL takes a
//! database-wide lock before committing a transaction that has notified
//! and holds it through the commit's flush to disk, so every notifying
//! write waited for the one before it, and group commit amortized nothing
//! (3 376 against 8 297 tps in pgbench at default durability). Instead the
//! bus hands committed events to this announcer, which sends them in
//! batches — one statement, as many payloads as the batch needs — from a
//! connection of its own: while one batch is being sent, the next gathers.
//! An event lost on the way (this instance dies between a commit and its
//! batch, or the statement fails) is found by the other instances' sweep
//! (`Bus::sweep`), which compares each user's cursor with what it delivered.

use std::sync::Arc;
use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;

use super::wire::{CHANNEL, Wire, pack};
use crate::workers::{Backoff, Beat};

/// Events waiting for a batch, at most; past this (the announcer cannot
/// reach the database) new ones are dropped with a warning and the sweep
/// finds the notifications among them.
const QUEUE: usize = 65_536;
/// Events taken into one batch, at most.
const BATCH: usize = 4_096;

/// The sending side, held by the bus. Cheap to clone.
#[derive(Clone)]
pub struct Announcer {
    queue: mpsc::Sender<Wire>,
    /// The receiving side, shared so that a restarted worker takes it over.
    pending: Arc<Mutex<mpsc::Receiver<Wire>>>,
    origin: u64,
    linger: Duration,
    connect: PgConnectOptions,
}

impl Announcer {
    /// `origin` names this instance in its batches; `linger` is how long a
    /// batch gathers after its first event (zero: only while the previous
    /// batch is being sent).
    pub fn new(connect: PgConnectOptions, origin: u64, linger: Duration) -> Self {
        let (queue, pending) = mpsc::channel(QUEUE);
        Self { queue, pending: Arc::new(Mutex::new(pending)), origin, linger, connect }
    }

    /// Queue a committed event; never waits.
    pub fn announce(&self, event: Wire) {
        if let Err(e) = self.queue.try_send(event) {
            tracing::warn!(error = %e, "realtime announcement queue full; other instances catch up by their sweep");
        }
    }

    /// Send batches until `stop`; then send what is still queued (the
    /// server has stopped taking requests by then) and return.
    pub async fn run(self, stop: CancellationToken, beat: Beat, backoff: Backoff) -> anyhow::Result<()> {
        let mut pending = self.pending.lock().await;
        let mut connection: Option<PgConnection> = None;
        let mut batch = Vec::new();
        let mut failures = 0;
        loop {
            if batch.is_empty() {
                let stopping = tokio::select! {
                    biased;
                    _ = stop.cancelled() => true,
                    got = pending.recv_many(&mut batch, BATCH) => got == 0,
                };
                if stopping {
                    self.last_batch(&mut pending, &mut connection, batch).await;
                    return Ok(());
                }
                if !self.linger.is_zero() {
                    tokio::select! {
                        _ = stop.cancelled() => {}
                        _ = tokio::time::sleep(self.linger) => {}
                    }
                    while batch.len() < BATCH
                        && let Ok(event) = pending.try_recv()
                    {
                        batch.push(event);
                    }
                }
            }
            match self.send(&mut connection, &batch).await {
                Ok(()) => {
                    batch.clear();
                    failures = 0;
                    beat.succeeded();
                }
                Err(e) => {
                    connection = None;
                    failures += 1;
                    beat.failed();
                    let delay = backoff.delay(failures);
                    tracing::warn!(error = %e, events = batch.len(), retry_in_ms = delay.as_millis() as u64, "could not announce realtime events");
                    tokio::select! {
                        _ = stop.cancelled() => {
                            self.last_batch(&mut pending, &mut connection, batch).await;
                            return Ok(());
                        }
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
    }

    /// One attempt at the shutdown's last batch: `batch` and whatever is
    /// still queued.
    async fn last_batch(
        &self,
        pending: &mut mpsc::Receiver<Wire>,
        connection: &mut Option<PgConnection>,
        mut batch: Vec<Wire>,
    ) {
        while let Ok(event) = pending.try_recv() {
            batch.push(event);
        }
        if batch.is_empty() {
            return;
        }
        if let Err(e) = self.send(connection, &batch).await {
            tracing::warn!(error = %e, events = batch.len(), "stopping with realtime events unannounced; other instances catch up by their sweep");
        }
    }

    /// NOTIFY the batch's payloads, in order, in one statement.
    async fn send(&self, connection: &mut Option<PgConnection>, batch: &[Wire]) -> Result<(), sqlx::Error> {
        const SQL: &str = "SELECT pg_notify($1, p) FROM unnest($2::text[]) WITH ORDINALITY AS t(p, i) ORDER BY i";
        let (payloads, too_large) = pack(self.origin, batch);
        if too_large > 0 {
            tracing::warn!(events = too_large, "realtime events too large for NOTIFY; delivered on this instance only");
        }
        if payloads.is_empty() {
            return Ok(());
        }
        let c = match connection {
            Some(c) => c,
            None => connection.insert(PgConnection::connect_with(&self.connect).await?),
        };
        sqlx::query(SQL).bind(CHANNEL).bind(&payloads).execute(&mut *c).await?;
        Ok(())
    }
}
