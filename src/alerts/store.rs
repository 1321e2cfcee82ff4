//! Alerting's tables: channels, alerts and the delivery outbox.
//!
//! An alert row is one occurrence of a condition: it fires, may escalate,
//! and resolves; a partial unique index keeps one firing row per key, so
//! two instances observing the same condition fire it once. Deliveries are
//! an outbox written in the same transaction as the alert change they
//! carry: a crash loses none, and each is claimed by one sender at a time
//! under a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;

use super::channels::{ChannelKind, Severity};
use super::lifecycle::{AlertState, Condition, DeliveryState};
use crate::on_pool;
use crate::storage::{Db, Pool, StorageError, Ts};

/// An `alert_channel` row, secrets included (never rendered as is).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChannelRow {
    pub id: i64,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub kind: ChannelKind,
    pub config: Json<Value>,
    #[sqlx(try_from = "String")]
    pub min_severity: Severity,
    pub sources: Json<Vec<String>>,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const CHANNEL_COLUMNS: &str = "id, name, kind, config, min_severity, sources, enabled, created_at, updated_at";

/// A channel's fields as validated.
#[derive(Debug, Clone)]
pub struct ChannelFields {
    pub name: String,
    pub kind: ChannelKind,
    pub config: Value,
    pub min_severity: Severity,
    pub sources: Vec<String>,
    pub enabled: bool,
}

/// An `alert` row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AlertRow {
    pub id: i64,
    pub key: String,
    pub source: String,
    #[sqlx(try_from = "String")]
    pub severity: Severity,
    #[sqlx(try_from = "String")]
    pub state: AlertState,
    pub message: String,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    pub fired_at: DateTime<Utc>,
    pub seen_at: DateTime<Utc>,
    pub clear_since: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
}

const ALERT_COLUMNS: &str =
    "id, key, source, severity, state, message, value, threshold, fired_at, seen_at, clear_since, resolved_at";

/// An `alert_delivery` row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: i64,
    pub alert_id: Option<i64>,
    pub channel_id: i64,
    pub event: String,
    pub payload: Json<Value>,
    #[sqlx(try_from = "String")]
    pub state: DeliveryState,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

const DELIVERY_COLUMNS: &str = "id, alert_id, channel_id, event, payload, state, attempts, next_attempt_at, \
                                last_error, created_at, delivered_at";

/// Filters for listing alerts; every one optional.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub state: Option<AlertState>,
    pub severity: Option<Severity>,
    pub source: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Newest first: only alerts with a smaller id.
    pub before_id: Option<i64>,
}

/// A delivery to enqueue with an alert change.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub channel_id: i64,
    pub event: &'static str,
    pub payload: Value,
}

/// Insert one delivery inside the caller's transaction `$tx`; its id.
macro_rules! enqueue {
    ($db:expr, $tx:expr, $alert:expr, $o:expr, $now:expr) => {{
        const SQL: &str = "INSERT INTO alert_delivery (alert_id, channel_id, event, payload, state, attempts, \
                           next_attempt_at, created_at) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5) RETURNING id";
        let o: Outgoing = $o;
        let q = sqlx::query_scalar::<_, i64>(SQL)
            .bind($alert)
            .bind(o.channel_id)
            .bind(o.event)
            .bind(Json(&o.payload))
            .bind(Ts($now));
        $db.observe("alerts.enqueue", SQL, q.fetch_one(&mut *$tx)).await?
    }};
}

#[derive(Clone)]
pub struct AlertStore {
    db: Db,
}

impl AlertStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    // --- channels -------------------------------------------------------

    pub async fn channels(&self) -> Result<Vec<ChannelRow>, StorageError> {
        let sql = format!("SELECT {CHANNEL_COLUMNS} FROM alert_channel ORDER BY id");
        self.db.read("alerts.channels", &sql).fetch_all().await
    }

    pub async fn channel(&self, id: i64) -> Result<Option<ChannelRow>, StorageError> {
        let sql = format!("SELECT {CHANNEL_COLUMNS} FROM alert_channel WHERE id = $1");
        self.db.read("alerts.channel", &sql).bind(id).fetch_optional().await
    }

    pub async fn create_channel(&self, f: &ChannelFields, now: DateTime<Utc>) -> Result<ChannelRow, StorageError> {
        let sql = format!(
            "INSERT INTO alert_channel (name, kind, config, min_severity, sources, enabled, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING {CHANNEL_COLUMNS}"
        );
        self.db
            .write("alerts.create_channel", &sql)
            .bind(&f.name)
            .bind(f.kind.as_str())
            .bind(Json(&f.config))
            .bind(f.min_severity.as_str())
            .bind(Json(&f.sources))
            .bind(f.enabled)
            .bind(Ts(now))
            .fetch_one()
            .await
    }

    pub async fn update_channel(
        &self,
        id: i64,
        f: &ChannelFields,
        now: DateTime<Utc>,
    ) -> Result<Option<ChannelRow>, StorageError> {
        let sql = format!(
            "UPDATE alert_channel SET name = $2, config = $3, min_severity = $4, sources = $5, enabled = $6, \
             updated_at = $7 WHERE id = $1 RETURNING {CHANNEL_COLUMNS}"
        );
        self.db
            .write("alerts.update_channel", &sql)
            .bind(id)
            .bind(&f.name)
            .bind(Json(&f.config))
            .bind(f.min_severity.as_str())
            .bind(Json(&f.sources))
            .bind(f.enabled)
            .bind(Ts(now))
            .fetch_optional()
            .await
    }

    pub async fn delete_channel(&self, id: i64) -> Result<bool, StorageError> {
        const SQL: &str = "DELETE FROM alert_channel WHERE id = $1";
        let done = self.db.write("alerts.delete_channel", SQL).bind(id).execute().await?;
        Ok(done > 0)
    }

    // --- alerts ---------------------------------------------------------

    pub async fn alerts(&self, f: &AlertFilter, limit: i64) -> Result<Vec<AlertRow>, StorageError> {
        let sql = format!(
            "SELECT {ALERT_COLUMNS} FROM alert WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR severity = $2) \
             AND ($3 IS NULL OR source = $3) AND ($4 IS NULL OR fired_at >= $4) AND ($5 IS NULL OR fired_at < $5) \
             AND ($6 IS NULL OR id < $6) ORDER BY id DESC LIMIT $7"
        );
        self.db
            .read("alerts.list", &sql)
            .bind(f.state.map(AlertState::as_str))
            .bind(f.severity.map(Severity::as_str))
            .bind(f.source.as_deref())
            .bind(f.from.map(Ts))
            .bind(f.to.map(Ts))
            .bind(f.before_id)
            .bind(limit)
            .fetch_all()
            .await
    }

    pub async fn alert(&self, id: i64) -> Result<Option<AlertRow>, StorageError> {
        let sql = format!("SELECT {ALERT_COLUMNS} FROM alert WHERE id = $1");
        self.db.read("alerts.get", &sql).bind(id).fetch_optional().await
    }

    /// Firing alerts of `source`.
    pub async fn firing(&self, source: &str) -> Result<Vec<AlertRow>, StorageError> {
        let sql = format!("SELECT {ALERT_COLUMNS} FROM alert WHERE state = 'firing' AND source = $1 ORDER BY id");
        self.db.read("alerts.firing", &sql).bind(source).fetch_all().await
    }

    /// Fire `condition` as a new alert with its deliveries, in one
    /// transaction. `None` when it is already firing (another instance won).
    pub async fn fire(
        &self,
        source: &str,
        condition: &Condition,
        now: DateTime<Utc>,
        outgoing: impl Fn(&AlertRow) -> Vec<Outgoing>,
    ) -> Result<Option<AlertRow>, StorageError> {
        let sql = format!(
            "INSERT INTO alert (key, source, severity, state, message, value, threshold, fired_at, seen_at) \
             VALUES ($1, $2, $3, 'firing', $4, $5, $6, $7, $7) \
             ON CONFLICT (key) WHERE state = 'firing' DO NOTHING RETURNING {ALERT_COLUMNS}"
        );
        let db = &self.db;
        on_pool!(db, |p| {
            let mut c = db.acquire_write(p).await?;
            let mut tx = db.begin(&mut c).await?;
            let q = sqlx::query_as::<_, AlertRow>(&sql)
                .bind(&condition.key)
                .bind(source)
                .bind(condition.severity.as_str())
                .bind(&condition.message)
                .bind(condition.value)
                .bind(condition.threshold)
                .bind(Ts(now));
            let Some(row) = db.observe("alerts.fire", &sql, q.fetch_optional(&mut *tx)).await? else {
                return Ok(None);
            };
            for o in outgoing(&row) {
                enqueue!(db, tx, Some(row.id), o, now);
            }
            db.observe("transaction.commit", "COMMIT", tx.commit()).await?;
            Ok(Some(row))
        })
    }

    /// A firing alert's condition is still true: note it, clear any
    /// pending resolution, and raise the severity (with deliveries) when it
    /// got worse.
    pub async fn still_firing(
        &self,
        id: i64,
        seen_severity: Severity,
        condition: &Condition,
        escalate: bool,
        now: DateTime<Utc>,
        outgoing: impl Fn(&AlertRow) -> Vec<Outgoing>,
    ) -> Result<Option<AlertRow>, StorageError> {
        let sql = format!(
            "UPDATE alert SET seen_at = $2, clear_since = NULL, value = $3, message = $4, \
             severity = CASE WHEN $5 THEN $6 ELSE severity END, threshold = CASE WHEN $5 THEN $7 ELSE threshold END \
             WHERE id = $1 AND state = 'firing' AND severity = $8 RETURNING {ALERT_COLUMNS}"
        );
        let db = &self.db;
        on_pool!(db, |p| {
            let mut c = db.acquire_write(p).await?;
            let mut tx = db.begin(&mut c).await?;
            // Guarded by the severity the caller saw: of two instances
            // escalating the same alert, one changes it and delivers.
            let q = sqlx::query_as::<_, AlertRow>(&sql)
                .bind(id)
                .bind(Ts(now))
                .bind(condition.value)
                .bind(&condition.message)
                .bind(escalate)
                .bind(condition.severity.as_str())
                .bind(condition.threshold)
                .bind(seen_severity.as_str());
            let row = db.observe("alerts.still_firing", &sql, q.fetch_optional(&mut *tx)).await?;
            if let Some(row) = &row
                && escalate
            {
                for o in outgoing(row) {
                    enqueue!(db, tx, Some(row.id), o, now);
                }
            }
            db.observe("transaction.commit", "COMMIT", tx.commit()).await?;
            Ok(row)
        })
    }

    /// A firing alert's condition is clear: start the hold (first time).
    pub async fn clearing(&self, id: i64, now: DateTime<Utc>) -> Result<(), StorageError> {
        const SQL: &str =
            "UPDATE alert SET clear_since = $2 WHERE id = $1 AND state = 'firing' AND clear_since IS NULL";
        self.db.write("alerts.clearing", SQL).bind(id).bind(Ts(now)).execute().await?;
        Ok(())
    }

    /// Resolve a firing alert that has been clear since `cleared_by` or
    /// earlier, with its deliveries. `None` when it was no longer firing or
    /// not clear that long.
    pub async fn resolve(
        &self,
        id: i64,
        cleared_by: DateTime<Utc>,
        now: DateTime<Utc>,
        outgoing: impl Fn(&AlertRow) -> Vec<Outgoing>,
    ) -> Result<Option<AlertRow>, StorageError> {
        let sql = format!(
            "UPDATE alert SET state = 'resolved', resolved_at = $2 WHERE id = $1 AND state = 'firing' \
             AND clear_since IS NOT NULL AND clear_since <= $3 RETURNING {ALERT_COLUMNS}"
        );
        let db = &self.db;
        on_pool!(db, |p| {
            let mut c = db.acquire_write(p).await?;
            let mut tx = db.begin(&mut c).await?;
            // The hold is checked here, not on the caller's snapshot: a
            // condition seen again meanwhile cleared `clear_since`.
            let q = sqlx::query_as::<_, AlertRow>(&sql).bind(id).bind(Ts(now)).bind(Ts(cleared_by));
            let Some(row) = db.observe("alerts.resolve", &sql, q.fetch_optional(&mut *tx)).await? else {
                return Ok(None);
            };
            for o in outgoing(&row) {
                enqueue!(db, tx, Some(row.id), o, now);
            }
            db.observe("transaction.commit", "COMMIT", tx.commit()).await?;
            Ok(Some(row))
        })
    }

    // --- deliveries -----------------------------------------------------

    pub async fn deliveries_of(&self, alert_id: i64) -> Result<Vec<DeliveryRow>, StorageError> {
        let sql = format!("SELECT {DELIVERY_COLUMNS} FROM alert_delivery WHERE alert_id = $1 ORDER BY id");
        self.db.read("alerts.deliveries_of", &sql).bind(alert_id).fetch_all().await
    }

    /// Claim the next due pending delivery that is not leased, leasing it
    /// until `lease_until`. An idle outbox costs one read.
    pub async fn claim_delivery(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<DeliveryRow>, StorageError> {
        const DUE: &str = "state = 'pending' AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until < $1)";
        let any = format!("SELECT id FROM alert_delivery WHERE {DUE} LIMIT 1");
        let db = &self.db;
        let due: Option<i64> = self.db.read("alerts.due_delivery", &any).bind(Ts(now)).scalar_optional().await?;
        if due.is_none() {
            return Ok(None);
        }
        // PostgreSQL: another instance claiming the same row skips it.
        let lock = if matches!(db.pool(), Pool::Postgres(_)) { " FOR UPDATE SKIP LOCKED" } else { "" };
        let sql = format!(
            "UPDATE alert_delivery SET lease_until = $2 WHERE id = (SELECT id FROM alert_delivery \
             WHERE {DUE} ORDER BY next_attempt_at, id LIMIT 1{lock}) RETURNING {DELIVERY_COLUMNS}"
        );
        self.db.write("alerts.claim_delivery", &sql).bind(Ts(now)).bind(Ts(lease_until)).fetch_optional().await
    }

    /// The delivery was sent.
    pub async fn delivered(&self, id: i64, attempts: i32, now: DateTime<Utc>) -> Result<(), StorageError> {
        const SQL: &str = "UPDATE alert_delivery SET state = 'delivered', attempts = $2, delivered_at = $3, \
                           lease_until = NULL, last_error = NULL WHERE id = $1 AND state = 'pending'";
        self.db.write("alerts.delivered", SQL).bind(id).bind(attempts).bind(Ts(now)).execute().await?;
        Ok(())
    }

    /// The attempt failed: try again at `retry_at`, or give up (`None`).
    pub async fn attempt_failed(
        &self,
        id: i64,
        attempts: i32,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), StorageError> {
        const SQL: &str = "UPDATE alert_delivery SET attempts = $2, last_error = $3, lease_until = NULL, \
                           state = CASE WHEN $4 IS NULL THEN 'failed' ELSE 'pending' END, \
                           next_attempt_at = COALESCE($4, next_attempt_at) WHERE id = $1 AND state = 'pending'";
        self.db
            .write("alerts.attempt_failed", SQL)
            .bind(id)
            .bind(attempts)
            .bind(error)
            .bind(retry_at.map(Ts))
            .execute()
            .await?;
        Ok(())
    }
}
