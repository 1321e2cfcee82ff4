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

/// Backoff between reconnect attempts while the database is unreachable.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

/// Run health passes every `interval` until `stop` is cancelled. When the
/// database stops answering, switch to reconnect attempts with capped
/// exponential backoff, each one logged, until it answers again.
pub async fn run_health_checks(db: Db, interval: Duration, backoff: Backoff, stop: CancellationToken) {
    let mut wait = interval;
    let mut down_since: Option<std::time::Instant> = None;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        if db.ping(Duration::from_secs(5)).await {
            if let Some(since) = down_since.take() {
                tracing::info!(down_ms = since.elapsed().as_millis() as u64, "database reachable again");
            }
            wait = interval;
            let pass = check_idle_once(&db).await;
            if pass.closed > 0 {
                tracing::warn!(
                    checked = pass.checked,
                    closed = pass.closed,
                    "closed unhealthy idle database connections"
                );
            } else {
                tracing::debug!(checked = pass.checked, "idle database connections healthy");
            }
        } else {
            wait = match down_since {
                None => {
                    down_since = Some(std::time::Instant::now());
                    backoff.initial
                }
                Some(_) => (wait * 2).min(backoff.max),
            };
            tracing::warn!(retry_in_ms = wait.as_millis() as u64, "database unreachable; reconnecting with backoff");
        }
    }
}
