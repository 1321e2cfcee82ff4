//! The database: one handle over either backend, with an instrumented pool.
//!
//! herald speaks two SQL dialects on purpose (see `docs/dependencies.md`):
//! each domain's store matches on [`Pool`] and runs SQL written for that
//! backend. Where both dialects take the same SQL, [`Db::read`] and
//! [`Db::write`] bind and run the statement once for either backend, and
//! [`on_pool!`] compiles any other call once per backend. Every call goes
//! through [`Db::acquire`] (timed, waiters counted) and [`Db::observe`]
//! (timed per operation, errors classified once).

mod connect;
mod error;
mod health;
pub mod instrument;
pub mod migrations;
mod sizes;
pub mod sqlite_json;
mod statement;
mod ts;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use sqlx::pool::PoolConnection;
use sqlx::{PgPool, SqlitePool};
use utoipa::ToSchema;

pub use connect::connect;
pub use error::StorageError;
pub use health::{HealthCheck, check_idle_once};
use instrument::DbMetrics;
pub use sizes::TableSize;
pub use statement::{Bind, Record, Statement};
pub use ts::{Micros, Ts, sqlite_time};

/// Run `$body` with `$p` bound to the active backend's pool. The body is
/// compiled once per backend, so it must be SQL both dialects accept; where
/// they differ, match on [`Db::pool`] and write each query out.
#[macro_export]
macro_rules! on_pool {
    ($db:expr, |$p:ident| $body:expr) => {
        match $db.pool() {
            $crate::storage::Pool::Sqlite($p) => $body,
            $crate::storage::Pool::Postgres($p) => $body,
        }
    };
}

/// The pool of whichever backend the configuration chose.
#[derive(Clone, Debug)]
pub enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Shared handle to the database and its figures. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    max_connections: u32,
    metrics: DbMetrics,
    waiting: AtomicI64,
    /// SQLite admits one writer at a time. Queuing writers here, in order,
    /// beats letting them spin in SQLite's busy handler, whose sleeps grow
    /// to 100 ms (BENCHMARKS.md, "Measurements behind design choices").
    write_gate: Option<tokio::sync::Mutex<()>>,
}

/// A connection taken for a write: on SQLite it also holds the write gate.
pub struct WriteConnection<'a, DB: sqlx::Database> {
    conn: PoolConnection<DB>,
    _gate: Option<tokio::sync::MutexGuard<'a, ()>>,
}

impl<DB: sqlx::Database> std::ops::Deref for WriteConnection<'_, DB> {
    type Target = DB::Connection;
    fn deref(&self) -> &Self::Target {
        &self.conn
    }
}

impl<DB: sqlx::Database> std::ops::DerefMut for WriteConnection<'_, DB> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.conn
    }
}

/// Live pool figures for `/api/v1/system/database` and `/metrics`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PoolFigures {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// Open connections.
    pub size: u32,
    pub idle: u32,
    pub in_use: u32,
    /// Callers currently waiting for a connection.
    pub waiting: u32,
    pub max: u32,
    /// `in_use / max`, 0..1.
    pub utilization: f64,
}

impl Db {
    fn new(pool: Pool, max_connections: u32, metrics: DbMetrics) -> Self {
        let write_gate = matches!(pool, Pool::Sqlite(_)).then(|| tokio::sync::Mutex::new(()));
        Self { inner: Arc::new(Inner { pool, max_connections, metrics, waiting: AtomicI64::new(0), write_gate }) }
    }

    pub fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    pub fn metrics(&self) -> &DbMetrics {
        &self.inner.metrics
    }

    pub fn backend(&self) -> &'static str {
        match self.inner.pool {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }

    /// Take a connection from `pool`, timing the wait and counting waiters.
    pub async fn acquire<DB: sqlx::Database>(&self, pool: &sqlx::Pool<DB>) -> Result<PoolConnection<DB>, StorageError> {
        let started = Instant::now();
        let _waiting = WaitingGuard::enter(&self.inner.waiting);
        let result = pool.acquire().await;
        self.inner.metrics.record_acquire(started.elapsed(), result.is_err());
        result.map_err(|e| {
            tracing::error!(error = %e, "could not acquire a database connection");
            StorageError::from_sqlx("pool.acquire", &e)
        })
    }

    /// Take a connection for a write: on SQLite, first wait (in order) for
    /// the write gate, then for a connection, so waiting writers never hold
    /// connections that readers need.
    pub async fn acquire_write<DB: sqlx::Database>(
        &self,
        pool: &sqlx::Pool<DB>,
    ) -> Result<WriteConnection<'_, DB>, StorageError> {
        let gate = match &self.inner.write_gate {
            Some(gate) => Some(gate.lock().await),
            None => None,
        };
        let conn = self.acquire(pool).await?;
        Ok(WriteConnection { conn, _gate: gate })
    }

    /// A connection for a read, or for a write ([`Db::acquire_write`]).
    async fn connection<DB: sqlx::Database>(
        &self,
        pool: &sqlx::Pool<DB>,
        write: bool,
    ) -> Result<WriteConnection<'_, DB>, StorageError> {
        if write {
            self.acquire_write(pool).await
        } else {
            Ok(WriteConnection { conn: self.acquire(pool).await?, _gate: None })
        }
    }

    /// Begin a transaction on `conn`. SQLite takes the write lock up front
    /// (`BEGIN IMMEDIATE`): a deferred transaction that reads first and
    /// writes later can fail with SQLITE_BUSY without waiting.
    pub async fn begin<'c, DB: sqlx::Database>(
        &self,
        conn: &'c mut WriteConnection<'_, DB>,
    ) -> Result<sqlx::Transaction<'c, DB>, StorageError> {
        let statement = if DB::NAME == "SQLite" { "BEGIN IMMEDIATE" } else { "BEGIN" };
        self.observe("transaction.begin", statement, sqlx::Connection::begin_with(&mut **conn, statement)).await
    }

    /// Run one query future under an operation name: timed, slow queries
    /// logged with `sql` normalized, driver errors logged once and classified.
    pub async fn observe<T>(
        &self,
        operation: &'static str,
        sql: &str,
        query: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, StorageError> {
        let started = Instant::now();
        let result = query.await;
        let elapsed = started.elapsed();
        let result = result.map_err(|e| {
            let classified = StorageError::from_sqlx(operation, &e);
            if classified.is_fault() {
                // Driver messages carry no SQL text; values are never in them for sqlx.
                tracing::error!(operation, error = %e, "database error");
            }
            classified
        });
        let fault = result.as_ref().err().is_some_and(StorageError::is_fault);
        self.inner.metrics.record_query(operation, sql, elapsed, fault);
        result
    }

    /// Pool figures right now.
    pub fn figures(&self) -> PoolFigures {
        // sqlx keeps the idle count in an atomic that a release and an acquire
        // racing can briefly wrap below zero: read it as signed and clamp.
        let (size, idle) = on_pool!(self, |p| (p.size(), p.num_idle() as isize));
        let idle = idle.clamp(0, size as isize) as u32;
        let in_use = size.saturating_sub(idle);
        let max = self.inner.max_connections;
        PoolFigures {
            backend: self.backend(),
            size,
            idle,
            in_use,
            waiting: self.inner.waiting.load(Ordering::Relaxed).max(0) as u32,
            max,
            utilization: if max == 0 { 0.0 } else { f64::from(in_use) / f64::from(max) },
        }
    }

    /// Whether the database answers a trivial query within `timeout`.
    pub async fn ping(&self, timeout: Duration) -> bool {
        let check = async {
            on_pool!(self, |p| {
                let mut c = self.acquire(p).await?;
                self.observe("system.ping", "SELECT 1", sqlx::query("SELECT 1").execute(&mut *c)).await.map(|_| ())
            })
        };
        matches!(tokio::time::timeout(timeout, check).await, Ok(Ok(())))
    }

    /// Close every connection; waits for borrowed ones to come back.
    pub async fn close(&self) {
        on_pool!(self, |p| p.close().await)
    }
}

/// Counts a caller as waiting for as long as it is alive, also when the
/// acquire future is dropped half-way.
struct WaitingGuard<'a>(&'a AtomicI64);

impl<'a> WaitingGuard<'a> {
    fn enter(counter: &'a AtomicI64) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter)
    }
}

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
