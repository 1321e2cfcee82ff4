//! Maintenance windows: for one service or for all. Results during a window
//! are stored with `maintenance` set, open no incident and do not count
//! as downtime.

use chrono::{DateTime, Utc};

use super::MonitoringStore;
use crate::on_pool;
use crate::storage::{StorageError, Ts};

const COLUMNS: &str = "id, service_id, title, starts_at, ends_at, created_by, created_at";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WindowRow {
    pub id: i64,
    /// `None`: every service.
    pub service_id: Option<i64>,
    pub title: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
}

impl MonitoringStore {
    pub async fn insert_window(
        &self,
        service_id: Option<i64>,
        title: &str,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        created_by: i64,
        now: DateTime<Utc>,
    ) -> Result<WindowRow, StorageError> {
        let sql = format!(
            "INSERT INTO maintenance_window (service_id, title, starts_at, ends_at, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
        );
        self.db
            .write("monitoring.insert_window", &sql)
            .bind(service_id)
            .bind(title)
            .bind(Ts(starts_at))
            .bind(Ts(ends_at))
            .bind(created_by)
            .bind(Ts(now))
            .fetch_one()
            .await
    }

    /// Windows that end after `after`, soonest first: current and upcoming.
    pub async fn windows(&self, after: DateTime<Utc>, limit: i64) -> Result<Vec<WindowRow>, StorageError> {
        let sql =
            format!("SELECT {COLUMNS} FROM maintenance_window WHERE ends_at > $1 ORDER BY starts_at, id LIMIT $2");
        self.db.read("monitoring.windows", &sql).bind(Ts(after)).bind(limit).fetch_all().await
    }

    pub async fn delete_window(&self, id: i64) -> Result<bool, StorageError> {
        const SQL: &str = "DELETE FROM maintenance_window WHERE id = $1";
        let db = &self.db;
        let n = on_pool!(db, |p| {
            let mut c = db.acquire_write(p).await?;
            db.observe("monitoring.delete_window", SQL, sqlx::query(SQL).bind(id).execute(&mut *c))
                .await?
                .rows_affected()
        });
        Ok(n > 0)
    }
}
