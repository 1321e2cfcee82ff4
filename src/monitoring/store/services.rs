//! The `service` table: create, read, update, delete, heartbeat secrets,
//! and the scheduler's claim of due services under a lease.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;

use super::MonitoringStore;
use crate::monitoring::checks::Kind;
use crate::monitoring::domain::{Settings, State, Status};
use crate::on_pool;
use crate::storage::{Pool, Statement, StorageError, Ts, sqlite_json};

/// Every column of `service`, in [`ServiceRow`] order.
pub(super) const COLUMNS: &str = "id, name, kind, target, config, interval_seconds, timeout_seconds, failure_threshold, \
                       recovery_threshold, degraded_latency_ms, enabled, public, tags, status, failures, successes, \
                       last_checked_at, last_beat_at, cert_expires_at, next_check_at, created_at, updated_at";

/// What the scheduler reads of a due service. Its probe (kind, target,
/// settings) is parsed once and kept by `(id, updated_at)`, so a claim
/// carries no settings: decoding whole rows (JSON settings and tags, six
/// timestamps) was a tenth of a lightly loaded instance's CPU.
const DUE_COLUMNS: &str =
    "id, kind, status, interval_seconds, timeout_seconds, degraded_latency_ms, last_beat_at, next_check_at, updated_at";

/// What service alerts need of a service that may raise a condition.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AlertState {
    pub id: i64,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub status: Status,
    pub cert_expires_at: Option<DateTime<Utc>>,
}

/// A claimed service: when it is due and what its check needs beyond the probe.
#[derive(Debug, Clone, sqlx::FromRow, serde::Deserialize)]
pub struct DueRow {
    pub id: i64,
    #[sqlx(try_from = "String")]
    pub kind: Kind,
    /// As of the claim: a result that may change it is stored promptly.
    #[sqlx(try_from = "String")]
    pub status: Status,
    pub interval_seconds: i32,
    pub timeout_seconds: i32,
    pub degraded_latency_ms: Option<i32>,
    #[serde(deserialize_with = "sqlite_json::optional_time")]
    pub last_beat_at: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "sqlite_json::time")]
    pub next_check_at: DateTime<Utc>,
    /// Changes with the settings: the key the parsed probe is kept under.
    #[serde(deserialize_with = "sqlite_json::time")]
    pub updated_at: DateTime<Utc>,
}

/// A `service` row as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ServiceRow {
    pub id: i64,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub kind: Kind,
    pub target: String,
    pub config: Json<Value>,
    pub interval_seconds: i32,
    pub timeout_seconds: i32,
    pub failure_threshold: i32,
    pub recovery_threshold: i32,
    pub degraded_latency_ms: Option<i32>,
    pub enabled: bool,
    pub public: bool,
    pub tags: Json<Vec<String>>,
    #[sqlx(try_from = "String")]
    pub status: Status,
    pub failures: i32,
    pub successes: i32,
    pub last_checked_at: Option<DateTime<Utc>>,
    pub last_beat_at: Option<DateTime<Utc>>,
    pub cert_expires_at: Option<DateTime<Utc>>,
    pub next_check_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ServiceRow {
    pub fn settings(&self) -> Settings {
        Settings {
            name: self.name.clone(),
            interval_seconds: self.interval_seconds.into(),
            timeout_seconds: self.timeout_seconds.into(),
            failure_threshold: self.failure_threshold.into(),
            recovery_threshold: self.recovery_threshold.into(),
            degraded_latency_ms: self.degraded_latency_ms.map(i64::from),
            enabled: self.enabled,
            public: self.public,
            tags: self.tags.0.clone(),
        }
    }

    /// The row as a claim would return it.
    pub fn due(&self) -> DueRow {
        DueRow {
            id: self.id,
            kind: self.kind,
            status: self.status,
            interval_seconds: self.interval_seconds,
            timeout_seconds: self.timeout_seconds,
            degraded_latency_ms: self.degraded_latency_ms,
            last_beat_at: self.last_beat_at,
            next_check_at: self.next_check_at,
            updated_at: self.updated_at,
        }
    }

    pub fn state(&self) -> State {
        State { status: self.status, failures: self.failures.into(), successes: self.successes.into() }
    }
}

/// A service to insert: validated settings and probe, rendered.
pub struct NewService<'a> {
    pub settings: &'a Settings,
    pub kind: Kind,
    pub target: &'a str,
    pub config: &'a Value,
    pub heartbeat_hash: Option<&'a [u8]>,
    pub next_check_at: DateTime<Utc>,
}

/// New settings and probe for an existing service.
pub struct ServiceUpdate<'a> {
    pub settings: &'a Settings,
    pub target: &'a str,
    pub config: &'a Value,
    /// Set when the interval changed: the service is rescheduled.
    pub next_check_at: Option<DateTime<Utc>>,
}

/// Bind the settings from `interval_seconds` to `tags`, in the order the
/// insert and the update both list them.
fn bind_settings<'q>(statement: Statement<'q>, st: &'q Settings) -> Statement<'q> {
    statement
        .bind(narrow(st.interval_seconds))
        .bind(narrow(st.timeout_seconds))
        .bind(narrow(st.failure_threshold))
        .bind(narrow(st.recovery_threshold))
        .bind(st.degraded_latency_ms.map(narrow))
        .bind(st.enabled)
        .bind(st.public)
        .bind(Json(&st.tags))
}

fn narrow(v: i64) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

impl MonitoringStore {
    pub async fn insert_service(&self, s: NewService<'_>, now: DateTime<Utc>) -> Result<ServiceRow, StorageError> {
        let sql = format!(
            "INSERT INTO service (name, kind, target, config, interval_seconds, timeout_seconds, failure_threshold, \
             recovery_threshold, degraded_latency_ms, enabled, public, tags, heartbeat_hash, status, failures, \
             successes, next_check_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'unknown', 0, 0, $14, $15, $15) \
             RETURNING {COLUMNS}"
        );
        let st = s.settings;
        let insert =
            self.db.write("monitoring.insert_service", &sql).bind(&st.name).bind(s.kind.as_str()).bind(s.target);
        bind_settings(insert.bind(Json(s.config)), st)
            .bind(s.heartbeat_hash)
            .bind(Ts(s.next_check_at))
            .bind(Ts(now))
            .fetch_one()
            .await
    }

    pub async fn service(&self, id: i64) -> Result<Option<ServiceRow>, StorageError> {
        let sql = format!("SELECT {COLUMNS} FROM service WHERE id = $1");
        self.db.read("monitoring.service", &sql).bind(id).fetch_optional().await
    }

    /// The services with these ids (those that still exist), in id order.
    pub async fn services_by_id(&self, ids: &[i64]) -> Result<Vec<ServiceRow>, StorageError> {
        let sql = format!("SELECT {COLUMNS} FROM service WHERE {} ORDER BY id", self.db.in_ids("id", "$1"));
        self.db.read("monitoring.services_by_id", &sql).bind_ids(ids).fetch_all().await
    }

    /// A page of services in id order, after `after`; only public ones when asked.
    pub async fn services(&self, after: i64, limit: i64, public_only: bool) -> Result<Vec<ServiceRow>, StorageError> {
        let filter = if public_only { "AND public" } else { "" };
        let sql = format!("SELECT {COLUMNS} FROM service WHERE id > $1 {filter} ORDER BY id LIMIT $2");
        self.db.read("monitoring.services", &sql).bind(after).bind(limit).fetch_all().await
    }

    pub async fn update_service(
        &self,
        id: i64,
        u: ServiceUpdate<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<ServiceRow>, StorageError> {
        let sql = format!(
            "UPDATE service SET name = $2, target = $3, config = $4, interval_seconds = $5, timeout_seconds = $6, \
             failure_threshold = $7, recovery_threshold = $8, degraded_latency_ms = $9, enabled = $10, public = $11, \
             tags = $12, next_check_at = COALESCE($13, next_check_at), updated_at = $14 \
             WHERE id = $1 RETURNING {COLUMNS}"
        );
        let st = u.settings;
        let update = self.db.write("monitoring.update_service", &sql).bind(id).bind(&st.name).bind(u.target);
        bind_settings(update.bind(Json(u.config)), st)
            .bind(u.next_check_at.map(Ts))
            .bind(Ts(now))
            .fetch_optional()
            .await
    }

    /// Delete a service with its results, rollups and incidents. Whether it existed.
    pub async fn delete_service(&self, id: i64) -> Result<bool, StorageError> {
        const SQL: &str = "DELETE FROM service WHERE id = $1";
        // `service_metric` has no foreign key (see its migration): its rows go
        // explicitly, after the service row. Deleting that row waits for any
        // result batch holding it, and the next statement sees what that
        // batch stored; no later batch stores results for a missing service.
        const RESULTS: &str = "DELETE FROM service_metric WHERE service_id = $1";
        let db = &self.db;
        let done = on_pool!(db, |p| {
            let mut c = db.acquire_write(p).await?;
            let mut tx = db.begin(&mut c).await?;
            let done =
                db.observe("monitoring.delete_service", SQL, sqlx::query(SQL).bind(id).execute(&mut *tx)).await?;
            db.observe("monitoring.delete_results", RESULTS, sqlx::query(RESULTS).bind(id).execute(&mut *tx)).await?;
            db.observe("transaction.commit", "COMMIT", tx.commit()).await?;
            done.rows_affected()
        });
        Ok(done > 0)
    }

    /// Replace a heartbeat service's secret hash. Whether the service exists.
    pub async fn set_heartbeat_hash(&self, id: i64, hash: &[u8]) -> Result<bool, StorageError> {
        const SQL: &str = "UPDATE service SET heartbeat_hash = $2 WHERE id = $1 AND kind = 'heartbeat'";
        let done = self.db.write("monitoring.set_heartbeat_hash", SQL).bind(id).bind(hash).execute().await?;
        Ok(done > 0)
    }

    pub async fn service_by_heartbeat(&self, hash: &[u8]) -> Result<Option<ServiceRow>, StorageError> {
        let sql = format!("SELECT {COLUMNS} FROM service WHERE heartbeat_hash = $1");
        self.db.read("monitoring.service_by_heartbeat", &sql).bind(hash).fetch_optional().await
    }

    /// A beat arrived: note it, and move the deadline by which the next must come.
    pub async fn beat(&self, id: i64, at: DateTime<Utc>, deadline: DateTime<Utc>) -> Result<(), StorageError> {
        const SQL: &str = "UPDATE service SET last_beat_at = $2, next_check_at = $3 WHERE id = $1";
        self.db.write("monitoring.beat", SQL).bind(id).bind(Ts(at)).bind(Ts(deadline)).execute().await?;
        Ok(())
    }

    /// Claim up to `limit` enabled services due by `horizon` (heartbeat
    /// services: by `now`, since their check reads the last beat), not
    /// leased by a live claim and not in `held`, for `instance`. Rows come
    /// back as they were: `next_check_at` is when each check is due; the
    /// result write moves it on.
    ///
    /// PostgreSQL (several instances): one statement leases the rows,
    /// skipping rows another instance is claiming at that moment (`FOR
    /// UPDATE SKIP LOCKED`), so each due check is claimed once; the lease
    /// lasts from the due time (or now, if later) for the service's timeout
    /// plus `lease_margin_seconds`, and an instance that dies mid-check
    /// gives the service up then. One round trip and no transaction: a
    /// claim was four (BEGIN, SELECT, UPDATE, COMMIT), each a wake-up of
    /// herald and of the server.
    /// SQLite (one instance): nothing is written; the caller holds the
    /// services it claimed until their results are stored and passes them
    /// as `held`. Each claim write rewrote a page per service, as much
    /// again as the result itself.
    pub async fn claim_due(
        &self,
        instance: i32,
        now: DateTime<Utc>,
        horizon: DateTime<Utc>,
        limit: i64,
        held: &[i64],
        lease_margin_seconds: i64,
    ) -> Result<Vec<DueRow>, StorageError> {
        let db = &self.db;
        const DUE: &str = "enabled AND next_check_at <= $2 AND (kind <> 'heartbeat' OR next_check_at <= $1) \
                           AND (lease_until IS NULL OR lease_until < $1)";
        match db.pool() {
            Pool::Postgres(p) => {
                // ARRAY(…) runs the locking read once, before the update;
                // NOT IN (SELECT …) is a hashed lookup, where `<> ALL` would
                // scan the held list (thousands at high rates) for every row.
                static SQL: LazyLock<String> = LazyLock::new(|| {
                    format!(
                        "UPDATE service SET lease_owner = $5, \
                         lease_until = GREATEST(next_check_at, $1) + (timeout_seconds + $6) * interval '1 second' \
                         WHERE id = ANY(ARRAY(SELECT id FROM service WHERE {DUE} \
                         AND id NOT IN (SELECT unnest($4::bigint[])) \
                         ORDER BY next_check_at LIMIT $3 FOR UPDATE SKIP LOCKED)) RETURNING {DUE_COLUMNS}"
                    )
                });
                let sql = SQL.as_str();
                let mut c = db.acquire_write(p).await?;
                let q = sqlx::query_as(sql)
                    .bind(Ts(now))
                    .bind(Ts(horizon))
                    .bind(limit)
                    .bind(held)
                    .bind(instance)
                    .bind(lease_margin_seconds as f64);
                db.observe("monitoring.claim_due", sql, q.fetch_all(&mut *c)).await
            }
            Pool::Sqlite(p) => {
                // One JSON document, not a row each (see `sqlite_json`).
                static SQL: LazyLock<String> = LazyLock::new(|| {
                    format!(
                        "SELECT json_group_array({}) FROM (SELECT {DUE_COLUMNS} FROM service \
                         WHERE {DUE} AND id NOT IN (SELECT value FROM json_each($4)) \
                         ORDER BY next_check_at LIMIT $3)",
                        sqlite_json::object(DUE_COLUMNS)
                    )
                });
                let select = SQL.as_str();
                let held = serde_json::to_string(held).unwrap_or_else(|_| "[]".into());
                let mut c = db.acquire(p).await?;
                let q = sqlx::query_scalar(select).bind(Ts(now)).bind(Ts(horizon)).bind(limit).bind(held);
                let document = db.observe("monitoring.claim_due", select, q.fetch_one(&mut *c)).await?;
                sqlite_json::rows("monitoring.claim_due", document)
            }
        }
    }

    /// What alerting needs of the enabled services that may raise a
    /// condition (down, degraded, or a TLS certificate expiring by
    /// `expiring_by`): id, name, status and the certificate's expiry. Only
    /// those: the rest raise nothing, and reading (and decoding) every
    /// service every few seconds was a measurable share of a large
    /// instance's CPU. Each half of the condition is read through its
    /// partial index (`service_troubled_idx`, `service_cert_expiry_idx`):
    /// with the condition as one `OR`, SQLite scanned the whole table.
    pub async fn alert_states(&self, expiring_by: DateTime<Utc>) -> Result<Vec<AlertState>, StorageError> {
        const SQL: &str = "SELECT id, name, status, cert_expires_at FROM service WHERE enabled \
                           AND id IN (SELECT id FROM service WHERE status IN ('down', 'degraded') \
                           UNION ALL SELECT id FROM service WHERE cert_expires_at <= $1) ORDER BY id";
        self.db.read("monitoring.alert_states", SQL).bind(Ts(expiring_by)).fetch_all().await
    }

    /// Register a checking instance; its id names it in leases and results.
    pub async fn register_instance(&self, name: &str, now: DateTime<Utc>) -> Result<i32, StorageError> {
        const SQL: &str =
            "INSERT INTO monitor_instance (name, started_at, last_seen_at) VALUES ($1, $2, $2) RETURNING id";
        self.db.write("monitoring.register_instance", SQL).bind(name).bind(Ts(now)).scalar_one().await
    }
}
