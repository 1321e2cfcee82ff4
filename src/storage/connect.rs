//! Opening the pool: SQLite in WAL mode, or PostgreSQL with the seed's pool
//! numbers, the first connection retried with capped exponential backoff.

use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sqlx::pool::PoolOptions;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection};

use super::instrument::DbMetrics;
use super::{Db, Pool};
use crate::config::{Config, DatabaseTarget, PoolConfig, redact_url};

/// Open the configured database. Start-up only: errors are for humans.
pub async fn connect(config: &Config) -> anyhow::Result<Db> {
    let p = &config.pool;
    let max = config.max_connections();
    let metrics = DbMetrics::new(Duration::from_millis(p.slow_query_ms));
    let slow = Duration::from_millis(p.slow_query_ms);
    match config.database().context("database_url")? {
        DatabaseTarget::Sqlite(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create data directory {}", dir.display()))?;
            }
            let options = SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // FULL: an acknowledged write survives a power cut, not only a crash.
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_millis(p.sqlite_busy_timeout_ms))
                // Negative: a size in KiB rather than in pages.
                .pragma("cache_size", format!("-{}", p.sqlite_cache_kib))
                // Statement journals (a multi-row UPDATE's undo within its
                // transaction) in memory: on disk they cost a write per
                // touched page (BENCHMARKS.md, "Measurements behind design choices").
                .pragma("temp_store", "memory")
                .log_slow_statements(tracing::log::LevelFilter::Off, slow)
                .log_statements(tracing::log::LevelFilter::Off);
            let pool = pool_options::<sqlx::Sqlite>(p, max)
                .connect_with(options)
                .await
                .with_context(|| format!("cannot open SQLite database {}", path.display()))?;
            tracing::info!(path = %path.display(), max_connections = max, "opened SQLite database (WAL)");
            Ok(Db::new(Pool::Sqlite(pool), max, metrics))
        }
        DatabaseTarget::Postgres(url) => {
            let shown = redact_url(url.expose());
            let options = PgConnectOptions::from_str(url.expose())
                .map_err(|e| anyhow::anyhow!("database_url is not a valid PostgreSQL URL: {e}"))?
                .application_name("herald")
                .options([("statement_timeout", p.statement_timeout_ms.to_string())])
                // herald times and logs queries itself, with values hidden.
                .log_statements(tracing::log::LevelFilter::Off)
                .log_slow_statements(tracing::log::LevelFilter::Off, slow);
            let pool_options = pool_options::<sqlx::Postgres>(p, max);
            // Probe with single connections first: one attempt each, so the
            // backoff below (not the pool's own waiting) paces the retries.
            let give_up = Instant::now() + Duration::from_secs(p.connect_give_up_seconds);
            let backoff = crate::workers::Backoff::from_millis(p.connect_retry_initial_ms, p.connect_retry_max_ms);
            let mut attempt = 1u32;
            loop {
                // A black-holed host would otherwise hang for the OS's TCP timeout.
                let probe = tokio::time::timeout(Duration::from_millis(p.acquire_timeout_ms), options.connect())
                    .await
                    .unwrap_or(Err(sqlx::Error::PoolTimedOut));
                match probe {
                    Ok(probe) => {
                        let _ = probe.close().await;
                        break;
                    }
                    Err(e) if retryable(&e) && Instant::now() + backoff.delay(attempt) < give_up => {
                        let delay = backoff.delay(attempt);
                        tracing::warn!(url = %shown, attempt, error = %e, retry_in_ms = delay.as_millis() as u64,
                            "PostgreSQL not reachable yet; retrying");
                        tokio::time::sleep(delay).await;
                        attempt += 1;
                    }
                    Err(e) => bail!("cannot connect to PostgreSQL at {shown} (attempt {attempt}): {e}"),
                }
            }
            let pool = pool_options
                .connect_with(options)
                .await
                .with_context(|| format!("cannot open the PostgreSQL pool at {shown}"))?;
            tracing::info!(url = %shown, max_connections = max, attempts = attempt, "connected to PostgreSQL");
            Ok(Db::new(Pool::Postgres(pool), max, metrics))
        }
    }
}

/// The pool settings both backends share.
fn pool_options<DB: sqlx::Database>(p: &PoolConfig, max: u32) -> PoolOptions<DB> {
    PoolOptions::new()
        .max_connections(max)
        .min_connections(p.min_connections)
        .acquire_timeout(Duration::from_millis(p.acquire_timeout_ms))
        .idle_timeout(Some(Duration::from_secs(p.idle_timeout_seconds)))
        .max_lifetime(Some(Duration::from_secs(p.max_lifetime_seconds)))
        // Idle connections are checked by the health loop instead of a
        // ping on every acquire, which would add a round trip to each query.
        .test_before_acquire(false)
}

/// Errors worth waiting out: the server is down, starting, or overloaded.
/// Bad credentials or a missing database are not.
fn retryable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_) => true,
        // 57P03 cannot_connect_now (starting up / shutting down), 53300 too_many_connections.
        sqlx::Error::Database(db) => matches!(db.code().as_deref(), Some("57P03" | "53300")),
        _ => false,
    }
}
