//! The idle-connection health check (seed: every 30 s).
//!
//! sqlx can ping on every acquire, but that costs a round trip per query;
//! instead this loop pings each idle connection on an interval and closes
//! the ones that fail, so a dead connection is found before a request meets it.

use std::time::Duration;

use sqlx::Connection;

use super::Db;
use crate::workers::{Backoff, Pass, Worker};

/// Result of one pass.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HealthPass {
    pub checked: u32,
    pub closed: u32,
}

/// Ping every idle connection once; close those that do not answer.
pub async fn check_idle_once(db: &Db) -> HealthPass {
    crate::on_pool!(db, |p| check_pool(p).await)
}

async fn check_pool<DB: sqlx::Database>(pool: &sqlx::Pool<DB>) -> HealthPass {
    let mut pass = HealthPass::default();
    // Idle connections are handed out oldest first, so taking each one
    // in turn and returning it visits every idle connection once.
    for _ in 0..pool.num_idle() {
        let Some(mut conn) = pool.try_acquire() else { break };
        pass.checked += 1;
        let ok = matches!(tokio::time::timeout(Duration::from_secs(5), conn.ping()).await, Ok(Ok(())));
        if !ok {
            pass.closed += 1;
            // Detached connections are not returned to the pool; the pool
            // opens a fresh one when it falls below its minimum or is asked.
            drop(conn.detach());
        }
    }
    pass
}

/// The health check as a worker: a pass every interval; while the database
/// does not answer, reconnect attempts with capped exponential backoff,
/// each one logged, until it answers again.
pub struct HealthCheck {
    db: Db,
    backoff: Backoff,
    down_since: Option<std::time::Instant>,
    failures: u32,
}

impl HealthCheck {
    pub fn new(db: Db, backoff: Backoff) -> Self {
        Self { db, backoff, down_since: None, failures: 0 }
    }
}

impl Worker for HealthCheck {
    async fn pass(&mut self) -> anyhow::Result<Pass> {
        if !self.db.ping(Duration::from_secs(5)).await {
            self.failures += 1;
            self.down_since.get_or_insert_with(std::time::Instant::now);
            let wait = self.backoff.delay(self.failures);
            tracing::warn!(retry_in_ms = wait.as_millis() as u64, "database unreachable; reconnecting with backoff");
            return Ok(Pass::RetryIn(wait));
        }
        if let Some(since) = self.down_since.take() {
            tracing::info!(down_ms = since.elapsed().as_millis() as u64, "database reachable again");
        }
        self.failures = 0;
        let pass = check_idle_once(&self.db).await;
        if pass.closed > 0 {
            tracing::warn!(checked = pass.checked, closed = pass.closed, "closed unhealthy idle database connections");
        } else {
            tracing::debug!(checked = pass.checked, "idle database connections healthy");
        }
        Ok(Pass::Idle)
    }
}
