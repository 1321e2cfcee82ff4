//! Announcements: one notification to an audience, all or nothing, fanned
//! out by one set-based statement per backend.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;

use super::{COLUMNS, INSERT_COLUMNS, NotificationStore, Row, bind_content, content_params};
use crate::notifications::domain::{Audience, Content, IdempotencyKey, Notification};
use crate::storage::{Pool, StorageError, Ts};

/// Why an announcement was not written.
#[derive(Debug, thiserror::Error)]
pub enum AnnounceError {
    #[error("unknown recipients")]
    UnknownRecipients(Vec<String>),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A recorded announcement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Announced {
    pub id: i64,
    pub recipients: i64,
}

impl NotificationStore {
    /// The announcement a sender recorded earlier with this key.
    pub async fn announcement_by_key(
        &self,
        created_by: i64,
        key: &IdempotencyKey,
    ) -> Result<Option<Announced>, StorageError> {
        const SQL: &str =
            "SELECT id, CAST(recipients AS BIGINT) FROM announcement WHERE created_by = $1 AND idempotency_key = $2";
        let row: Option<(i64, i64)> = self
            .db
            .read("notifications.announcement_by_key", SQL)
            .bind(created_by)
            .bind(key.as_str())
            .fetch_optional()
            .await?;
        Ok(row.map(|(id, recipients)| Announced { id, recipients }))
    }

    /// Record an announcement and give every recipient the notification, in
    /// one transaction: all of them get it or none does.
    pub async fn announce(
        &self,
        created_by: i64,
        audience: &Audience,
        audience_json: &Value,
        content: &Content,
        key: Option<&IdempotencyKey>,
        now: DateTime<Utc>,
    ) -> Result<Announced, AnnounceError> {
        let db = &self.db;
        const RECORD: &str = "INSERT INTO announcement (created_by, created_at, audience, recipients, type, title, \
                              idempotency_key) VALUES ($1, $2, $3, 0, $4, $5, $6) RETURNING id";
        const COUNT: &str = "UPDATE announcement SET recipients = $2 WHERE id = $1";
        // The announcement row, in either backend's transaction.
        macro_rules! record {
            ($tx:ident) => {{
                let q = sqlx::query_scalar(RECORD)
                    .bind(created_by)
                    .bind(Ts(now))
                    .bind(Json(audience_json))
                    .bind(content.kind.as_str())
                    .bind(&content.title)
                    .bind(key.map(IdempotencyKey::as_str));
                db.observe("notifications.record_announcement", RECORD, q.fetch_one(&mut *$tx)).await?
            }};
        }
        match db.pool() {
            Pool::Postgres(p) => {
                let filter = match audience {
                    Audience::All => "$1",
                    Audience::Role(_) => "u.role = $1",
                    Audience::UserIds(_) => "u.id = ANY($1)",
                    Audience::ExternalIds(_) => "u.external_id = ANY($1)",
                };
                // Lock the audience in id order (no deadlock between two
                // overlapping announcements), bump each cursor, insert all
                // notifications: one set-based statement.
                let fan_out = format!(
                    "WITH target AS (SELECT u.id FROM user_account u WHERE {filter} ORDER BY u.id FOR UPDATE), \
                     bumped AS (UPDATE user_account u SET notification_seq = u.notification_seq + 1 FROM target \
                                WHERE u.id = target.id RETURNING u.id, u.notification_seq) \
                     INSERT INTO notification ({INSERT_COLUMNS}, announcement_id) \
                     SELECT id, notification_seq, {}, $9 FROM bumped",
                    content_params(2)
                );
                let mut c = db.acquire_write(p).await?;
                let mut tx = db.begin(&mut c).await?;
                const MISSING_IDS: &str = "SELECT x::text FROM unnest($1::bigint[]) x \
                                           WHERE NOT EXISTS (SELECT 1 FROM user_account WHERE id = x)";
                const MISSING_EXTERNAL: &str = "SELECT x FROM unnest($1::text[]) x \
                                                WHERE NOT EXISTS (SELECT 1 FROM user_account WHERE external_id = x)";
                let unknown: Vec<String> = match audience {
                    Audience::UserIds(ids) => {
                        let q = sqlx::query_scalar(MISSING_IDS).bind(ids.clone());
                        db.observe("notifications.unknown_recipients", MISSING_IDS, q.fetch_all(&mut *tx)).await?
                    }
                    Audience::ExternalIds(ids) => {
                        let q = sqlx::query_scalar(MISSING_EXTERNAL).bind(ids.clone());
                        db.observe("notifications.unknown_recipients", MISSING_EXTERNAL, q.fetch_all(&mut *tx)).await?
                    }
                    Audience::All | Audience::Role(_) => Vec::new(),
                };
                if !unknown.is_empty() {
                    return Err(AnnounceError::UnknownRecipients(unknown));
                }
                let id: i64 = record!(tx);
                let q = sqlx::query(&fan_out);
                let q = match audience {
                    Audience::All => q.bind(true),
                    Audience::Role(role) => q.bind(role.as_str()),
                    Audience::UserIds(ids) => q.bind(ids.clone()),
                    Audience::ExternalIds(ids) => q.bind(ids.clone()),
                };
                let q = bind_content!(q, content, now).bind(id);
                let recipients =
                    db.observe("notifications.fan_out", &fan_out, q.execute(&mut *tx)).await?.rows_affected() as i64;
                let q = sqlx::query(COUNT).bind(id).bind(recipients as i32);
                db.observe("notifications.count_announcement", COUNT, q.execute(&mut *tx)).await?;
                // No NOTIFY in the transaction: the bus announces it once
                // committed (docs/realtime.md).
                db.observe("transaction.commit", "COMMIT", tx.commit()).await?;
                Ok(Announced { id, recipients })
            }
            Pool::Sqlite(p) => {
                // SQLite has no arrays: lists travel as one JSON array.
                let (filter, missing) = match audience {
                    Audience::All => ("$1", None),
                    Audience::Role(_) => ("role = $1", None),
                    Audience::UserIds(_) => (
                        "id IN (SELECT value FROM json_each($1))",
                        Some(
                            "SELECT CAST(value AS TEXT) FROM json_each($1) WHERE value NOT IN (SELECT id FROM user_account)",
                        ),
                    ),
                    Audience::ExternalIds(_) => (
                        "external_id IN (SELECT value FROM json_each($1))",
                        Some(
                            "SELECT value FROM json_each($1) WHERE value NOT IN (SELECT external_id FROM user_account WHERE external_id IS NOT NULL)",
                        ),
                    ),
                };
                let list = match audience {
                    Audience::UserIds(ids) => serde_json::to_string(ids).unwrap_or_default(),
                    Audience::ExternalIds(ids) => serde_json::to_string(ids).unwrap_or_default(),
                    _ => String::new(),
                };
                let bump = format!("UPDATE user_account SET notification_seq = notification_seq + 1 WHERE {filter}");
                let fan_out = format!(
                    "INSERT INTO notification ({INSERT_COLUMNS}, announcement_id) \
                     SELECT id, notification_seq, {}, $9 FROM user_account WHERE {filter}",
                    content_params(2)
                );
                let mut c = db.acquire_write(p).await?;
                // BEGIN IMMEDIATE: the audience cannot change under us.
                let mut tx = db.begin(&mut c).await?;
                if let Some(missing) = missing {
                    let q = sqlx::query_scalar(missing).bind(&list);
                    let unknown: Vec<String> =
                        db.observe("notifications.unknown_recipients", missing, q.fetch_all(&mut *tx)).await?;
                    if !unknown.is_empty() {
                        return Err(AnnounceError::UnknownRecipients(unknown));
                    }
                }
                let id: i64 = record!(tx);
                let q = with_filter(&bump, audience, &list);
                db.observe("notifications.bump_cursors", &bump, q.execute(&mut *tx)).await?;
                let q = bind_content!(with_filter(&fan_out, audience, &list), content, now).bind(id);
                let recipients =
                    db.observe("notifications.fan_out", &fan_out, q.execute(&mut *tx)).await?.rows_affected() as i64;
                let q = sqlx::query(COUNT).bind(id).bind(recipients);
                db.observe("notifications.count_announcement", COUNT, q.execute(&mut *tx)).await?;
                db.observe("transaction.commit", "COMMIT", tx.commit()).await?;
                Ok(Announced { id, recipients })
            }
        }
    }

    /// The notifications an announcement gave to these users.
    pub async fn of_announcement(
        &self,
        announcement_id: i64,
        user_ids: &[i64],
    ) -> Result<Vec<Notification>, StorageError> {
        let db = &self.db;
        let sql =
            format!("SELECT {COLUMNS} FROM notification WHERE announcement_id = $1 AND {}", db.in_ids("user_id", "$2"));
        let rows: Vec<Row> =
            db.read("notifications.of_announcement", &sql).bind(announcement_id).bind_ids(user_ids).fetch_all().await?;
        Ok(rows.into_iter().map(Notification::from).collect())
    }
}

/// A SQLite statement with the audience filter's `$1` bound.
fn with_filter<'q>(
    sql: &'q str,
    audience: &'q Audience,
    list: &'q str,
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    let q = sqlx::query(sql);
    match audience {
        Audience::All => q.bind(true),
        Audience::Role(role) => q.bind(role.as_str()),
        Audience::UserIds(_) | Audience::ExternalIds(_) => q.bind(list),
    }
}
