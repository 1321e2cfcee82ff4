//! Persistence of notifications and announcements.
//!
//! The per-user cursor: `user_account.notification_seq` is bumped in the
//! same transaction (on PostgreSQL, the same statement) that inserts the
//! notification, so the user row's lock orders concurrent writers — across
//! instances too — and a failed insert rolls the bump back: no gaps.

mod announce;

pub use announce::{AnnounceError, Announced};

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::QueryBuilder;
use sqlx::types::Json;

use super::domain::{Content, Filter, IdempotencyKey, Notification, Position, TypeCount};
use crate::on_pool;
use crate::storage::{Db, Pool, StorageError, Ts};

pub(super) const COLUMNS: &str =
    "id, user_id, cursor, type, priority, title, body, data, created_at, read_at, expires_at";

/// The columns every insert of a notification writes (one user or an
/// announcement, on either backend), in this order; an insert adds its
/// own last column (`idempotency_key` or `announcement_id`). The values
/// after `user_id, cursor` are [`content_params`], bound by [`bind_content!`].
const INSERT_COLUMNS: &str = "user_id, cursor, type, priority, title, body, data, created_at, expires_at";

/// The placeholders of the seven content values, from parameter `$first`.
fn content_params(first: usize) -> String {
    (first..first + 7).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ")
}

/// Bind the content values in [`INSERT_COLUMNS`] order to any sqlx query.
macro_rules! bind_content {
    ($query:expr, $content:expr, $now:expr) => {
        $query
            .bind($content.kind.as_str())
            .bind($content.priority)
            .bind(&$content.title)
            .bind(&$content.body)
            .bind($content.data.as_ref().map(sqlx::types::Json))
            .bind($crate::storage::Ts($now))
            .bind($content.expires_at.map($crate::storage::Ts))
    };
}
use bind_content;

/// A notification row: read by sqlx, or (SQLite pages) deserialized from
/// the JSON that `json_object` renders with the same names.
#[derive(sqlx::FromRow, serde::Deserialize)]
pub(super) struct Row {
    id: i64,
    user_id: i64,
    cursor: i64,
    #[sqlx(rename = "type")]
    #[serde(rename = "type")]
    kind: String,
    priority: i16,
    title: String,
    body: String,
    data: Option<Json<Value>>,
    created_at: DateTime<Utc>,
    read_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
}

impl From<Row> for Notification {
    fn from(r: Row) -> Self {
        Notification {
            id: r.id,
            user_id: r.user_id,
            cursor: r.cursor,
            kind: r.kind,
            priority: r.priority,
            title: r.title,
            body: r.body,
            data: r.data.map(|j| j.0),
            created_at: r.created_at,
            read_at: r.read_at,
            expires_at: r.expires_at,
        }
    }
}

/// Repository for the inbox.
#[derive(Clone)]
pub struct NotificationStore {
    db: Db,
}

/// `TRUE` for rows a reader may see at the time bound as `now` (a
/// parameter such as `$3`): not expired.
fn live(now: &str) -> String {
    format!("(expires_at IS NULL OR expires_at > {now})")
}

impl NotificationStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// The notification a user created earlier with this key.
    pub async fn by_idempotency_key(
        &self,
        user_id: i64,
        key: &IdempotencyKey,
    ) -> Result<Option<Notification>, StorageError> {
        let sql = format!("SELECT {COLUMNS} FROM notification WHERE user_id = $1 AND idempotency_key = $2");
        let row: Option<Row> = self
            .db
            .read("notifications.by_idempotency_key", &sql)
            .bind(user_id)
            .bind(key.as_str())
            .fetch_optional()
            .await?;
        Ok(row.map(Notification::from))
    }

    /// Insert one notification with the user's next cursor. `NotFound` when
    /// the user does not exist; `Conflict` when the idempotency key is taken.
    pub async fn insert(
        &self,
        user_id: i64,
        content: &Content,
        key: Option<&IdempotencyKey>,
        now: DateTime<Utc>,
    ) -> Result<Notification, StorageError> {
        let db = &self.db;
        let row: Option<Row> = match db.pool() {
            Pool::Postgres(p) => {
                // One statement: the bump and the insert commit or fail
                // together. No NOTIFY here: a transaction that notifies
                // holds a database-wide lock through its commit flush, which
                // serialized every insert (see docs/realtime.md); the bus
                // announces committed rows in batches instead.
                let sql = format!(
                    "WITH seq AS (UPDATE user_account SET notification_seq = notification_seq + 1 \
                                  WHERE id = $1 RETURNING id, notification_seq) \
                     INSERT INTO notification ({INSERT_COLUMNS}, idempotency_key) \
                     SELECT id, notification_seq, {}, $9 FROM seq RETURNING {COLUMNS}",
                    content_params(2)
                );
                let mut c = db.acquire_write(p).await?;
                let q = bind_content!(sqlx::query_as(&sql).bind(user_id), content, now)
                    .bind(key.map(IdempotencyKey::as_str));
                db.observe("notifications.insert", &sql, q.fetch_optional(&mut *c)).await?
            }
            Pool::Sqlite(p) => {
                const BUMP: &str = "UPDATE user_account SET notification_seq = notification_seq + 1 WHERE id = $1 RETURNING notification_seq";
                let insert = format!(
                    "INSERT INTO notification ({INSERT_COLUMNS}, idempotency_key) VALUES ($1, $2, {}, $10) \
                     RETURNING {COLUMNS}",
                    content_params(3)
                );
                let mut c = db.acquire_write(p).await?;
                let mut tx = db.begin(&mut c).await?;
                let seq: Option<i64> = db
                    .observe(
                        "notifications.bump_cursor",
                        BUMP,
                        sqlx::query_scalar(BUMP).bind(user_id).fetch_optional(&mut *tx),
                    )
                    .await?;
                let Some(seq) = seq else { return Err(StorageError::NotFound) };
                let q = bind_content!(sqlx::query_as(&insert).bind(user_id).bind(seq), content, now)
                    .bind(key.map(IdempotencyKey::as_str));
                // On error the transaction is dropped and rolls back the bump.
                let row = db.observe("notifications.insert", &insert, q.fetch_one(&mut *tx)).await?;
                db.observe("transaction.commit", "COMMIT", tx.commit()).await?;
                Some(row)
            }
        };
        row.map(Notification::from).ok_or(StorageError::NotFound)
    }

    /// One page of a user's live notifications; fetches `limit` rows.
    pub async fn list(
        &self,
        user_id: i64,
        filter: &Filter,
        position: Position,
        limit: i64,
        now: DateTime<Utc>,
    ) -> Result<Vec<Notification>, StorageError> {
        let db = &self.db;
        /// The page query's WHERE, ORDER BY and LIMIT, for either backend.
        fn page<'a, DB: sqlx::Database>(
            qb: &mut QueryBuilder<'a, DB>,
            user_id: i64,
            filter: &'a Filter,
            position: Position,
            limit: i64,
            now: DateTime<Utc>,
        ) where
            i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
            Ts: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
            &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
        {
            qb.push(" FROM notification WHERE user_id = ").push_bind(user_id);
            qb.push(" AND (expires_at IS NULL OR expires_at > ").push_bind(Ts(now)).push(")");
            if filter.unread_only {
                // Written literally so the planner can use the partial unread index.
                qb.push(" AND read_at IS NULL");
            }
            if let Some(kind) = &filter.kind {
                qb.push(" AND type = ").push_bind(kind.as_str());
            }
            match position {
                Position::Before(None) => qb.push(" ORDER BY cursor DESC"),
                Position::Before(Some(c)) => qb.push(" AND cursor < ").push_bind(c).push(" ORDER BY cursor DESC"),
                Position::After(c) => qb.push(" AND cursor > ").push_bind(c).push(" ORDER BY cursor ASC"),
            };
            qb.push(" LIMIT ").push_bind(limit);
        }
        match db.pool() {
            Pool::Postgres(p) => {
                let mut qb = QueryBuilder::new(format!("SELECT {COLUMNS}"));
                page(&mut qb, user_id, filter, position, limit, now);
                let sql = qb.sql().to_string();
                let mut c = db.acquire(p).await?;
                let rows: Vec<Row> =
                    db.observe("notifications.list", &sql, qb.build_query_as().fetch_all(&mut *c)).await?;
                Ok(rows.into_iter().map(Notification::from).collect())
            }
            Pool::Sqlite(p) => {
                // sqlx hands SQLite rows one by one from its worker thread, a
                // context switch each, which cost several times the query
                // itself (BENCHMARKS.md, "Measurements behind design
                // choices"). One JSON row per page crosses once.
                let order = if matches!(position, Position::After(_)) { "ASC" } else { "DESC" };
                let mut qb = QueryBuilder::new(format!(
                    "SELECT json_group_array(json_object('id', id, 'user_id', user_id, 'cursor', cursor, \
                     'type', type, 'priority', priority, 'title', title, 'body', body, 'data', json(data), \
                     'created_at', created_at, 'read_at', read_at, 'expires_at', expires_at) ORDER BY cursor {order}) \
                     FROM (SELECT {COLUMNS}"
                ));
                page(&mut qb, user_id, filter, position, limit, now);
                qb.push(")");
                let sql = qb.sql().to_string();
                let mut c = db.acquire(p).await?;
                let json: String =
                    db.observe("notifications.list", &sql, qb.build_query_scalar().fetch_one(&mut *c)).await?;
                let rows: Vec<Row> = serde_json::from_str(&json).map_err(|e| {
                    tracing::error!(error = %e, "SQLite returned an unreadable notification page");
                    StorageError::Other { operation: "notifications.list" }
                })?;
                Ok(rows.into_iter().map(Notification::from).collect())
            }
        }
    }

    /// One live notification of this user.
    pub async fn get(&self, user_id: i64, id: i64, now: DateTime<Utc>) -> Result<Option<Notification>, StorageError> {
        let sql = format!("SELECT {COLUMNS} FROM notification WHERE id = $1 AND user_id = $2 AND {}", live("$3"));
        let row: Option<Row> =
            self.db.read("notifications.get", &sql).bind(id).bind(user_id).bind(Ts(now)).fetch_optional().await?;
        Ok(row.map(Notification::from))
    }

    /// Mark one read (keeping the first read time) or unread.
    pub async fn set_read(
        &self,
        user_id: i64,
        id: i64,
        read: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<Notification>, StorageError> {
        let set = if read { "COALESCE(read_at, $3)" } else { "NULL" };
        let sql = format!(
            "UPDATE notification SET read_at = {set} WHERE id = $1 AND user_id = $2 AND {} RETURNING {COLUMNS}",
            live("$3")
        );
        let row: Option<Row> =
            self.db.write("notifications.set_read", &sql).bind(id).bind(user_id).bind(Ts(now)).fetch_optional().await?;
        Ok(row.map(Notification::from))
    }

    /// Mark every unread live notification read, optionally only up to a
    /// cursor; returns the notifications it changed.
    pub async fn read_all(
        &self,
        user_id: i64,
        up_to: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Notification>, StorageError> {
        let sql = format!(
            "UPDATE notification SET read_at = $2 WHERE user_id = $1 AND read_at IS NULL AND {} \
             AND cursor <= $3 RETURNING {COLUMNS}",
            live("$2")
        );
        let rows: Vec<Row> = self
            .db
            .write("notifications.read_all", &sql)
            .bind(user_id)
            .bind(Ts(now))
            .bind(up_to.unwrap_or(i64::MAX))
            .fetch_all()
            .await?;
        let mut out: Vec<Notification> = rows.into_iter().map(Notification::from).collect();
        out.sort_by_key(|n| n.cursor);
        Ok(out)
    }

    /// Live notifications by id, in no particular order (the realtime
    /// listener loads a batch of announced rows in one query).
    pub async fn live_by_ids(&self, ids: &[i64], now: DateTime<Utc>) -> Result<Vec<Notification>, StorageError> {
        let sql = format!("SELECT {COLUMNS} FROM notification WHERE {} AND {}", self.db.in_ids("id", "$1"), live("$2"));
        let rows: Vec<Row> =
            self.db.read("notifications.live_by_ids", &sql).bind_ids(ids).bind(Ts(now)).fetch_all().await?;
        Ok(rows.into_iter().map(Notification::from).collect())
    }

    /// Each given user's newest cursor, as `(user_id, cursor)`; users that
    /// no longer exist are left out.
    pub async fn cursors(&self, user_ids: &[i64]) -> Result<Vec<(i64, i64)>, StorageError> {
        let sql = format!("SELECT id, notification_seq FROM user_account WHERE {}", self.db.in_ids("id", "$1"));
        self.db.read("notifications.cursors", &sql).bind_ids(user_ids).fetch_all().await
    }

    /// The cursor of the user's newest notification (0 when none).
    pub async fn current_cursor(&self, user_id: i64) -> Result<i64, StorageError> {
        const SQL: &str = "SELECT notification_seq FROM user_account WHERE id = $1";
        let seq: Option<i64> =
            self.db.read("notifications.current_cursor", SQL).bind(user_id).scalar_optional().await?;
        seq.ok_or(StorageError::NotFound)
    }

    /// Delete one live notification of this user; whether it existed.
    pub async fn delete(&self, user_id: i64, id: i64, now: DateTime<Utc>) -> Result<bool, StorageError> {
        let sql = format!("DELETE FROM notification WHERE id = $1 AND user_id = $2 AND {}", live("$3"));
        let db = &self.db;
        on_pool!(db, |p| {
            let mut c = db.acquire_write(p).await?;
            let q = sqlx::query(&sql).bind(id).bind(user_id).bind(Ts(now));
            Ok(db.observe("notifications.delete", &sql, q.execute(&mut *c)).await?.rows_affected() == 1)
        })
    }

    /// Totals by type over the user's live notifications.
    pub async fn stats(&self, user_id: i64, now: DateTime<Utc>) -> Result<Vec<TypeCount>, StorageError> {
        let sql = format!(
            "SELECT type, CAST(COUNT(*) AS BIGINT), CAST(COALESCE(SUM(CASE WHEN read_at IS NULL THEN 1 ELSE 0 END), 0) AS BIGINT) \
             FROM notification WHERE user_id = $1 AND {} GROUP BY type ORDER BY type",
            live("$2")
        );
        let rows: Vec<(String, i64, i64)> =
            self.db.read("notifications.stats", &sql).bind(user_id).bind(Ts(now)).fetch_all().await?;
        Ok(rows.into_iter().map(|(kind, total, unread)| TypeCount { kind, total, unread }).collect())
    }

    /// Delete up to `batch` expired notifications; how many went.
    pub async fn delete_expired(&self, now: DateTime<Utc>, batch: i64) -> Result<u64, StorageError> {
        const SQL: &str = "DELETE FROM notification WHERE id IN \
                           (SELECT id FROM notification WHERE expires_at <= $1 LIMIT $2)";
        self.delete_batch("notifications.delete_expired", SQL, now, batch).await
    }

    /// Delete up to `batch` notifications read before `before`; how many went.
    pub async fn delete_read_before(&self, before: DateTime<Utc>, batch: i64) -> Result<u64, StorageError> {
        const SQL: &str = "DELETE FROM notification WHERE id IN \
                           (SELECT id FROM notification WHERE read_at < $1 LIMIT $2)";
        self.delete_batch("notifications.delete_read", SQL, before, batch).await
    }

    async fn delete_batch(
        &self,
        operation: &'static str,
        sql: &str,
        at: DateTime<Utc>,
        batch: i64,
    ) -> Result<u64, StorageError> {
        let db = &self.db;
        on_pool!(db, |p| {
            let mut c = db.acquire_write(p).await?;
            let q = sqlx::query(sql).bind(Ts(at)).bind(batch);
            Ok(db.observe(operation, sql, q.execute(&mut *c)).await?.rows_affected())
        })
    }
}
