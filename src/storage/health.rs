//! The idle-connection health check (seed: every 30 s).
//!
//! sqlx can ping on every acquire, but that costs a round trip per query;
//! instead this loop pings each idle connection on an interval and closes
//! the ones that fail, so a dead connection is found before a request meets it.

use std::time::Duration;

use sqlx::Connection;
use tokio_util::sync::CancellationToken;

use super::Db;

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

/// Run health passes every `interval` until `stop` is cancelled.
pub async fn run_health_checks(db: Db, interval: Duration, stop: CancellationToken) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let pass = check_idle_once(&db).await;
        if pass.closed > 0 {
            tracing::warn!(checked = pass.checked, closed = pass.closed, "closed unhealthy idle database connections");
        } else {
            tracing::debug!(checked = pass.checked, "idle database connections healthy");
        }
    }
}
