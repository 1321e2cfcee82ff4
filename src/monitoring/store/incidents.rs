//! `service_incident` and its timeline: listing, and the operator's
//! acknowledge / resolve / note, each a transition plus a timeline entry
//! in one transaction.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::MonitoringStore;
use crate::monitoring::domain::{IncidentStatus, TimelineKind};
use crate::on_pool;
use crate::storage::{StorageError, Ts};

const COLUMNS: &str = "id, service_id, status, started_at, acknowledged_at, acknowledged_by, resolved_at, \
                       resolved_by, cause";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IncidentRow {
    pub id: i64,
    pub service_id: i64,
    #[sqlx(try_from = "String")]
    pub status: IncidentStatus,
    pub started_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<i64>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<i64>,
    pub cause: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TimelineRow {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor_id: Option<i64>,
    #[sqlx(try_from = "String")]
    pub kind: TimelineKind,
    pub message: String,
}

/// A timeline entry with the incident it belongs to.
#[derive(sqlx::FromRow)]
struct EventRow {
    incident_id: i64,
    #[sqlx(flatten)]
    entry: TimelineRow,
}

impl EventRow {
    fn split(self) -> (i64, TimelineRow) {
        (self.incident_id, self.entry)
    }
}

/// Which incidents to list (newest first).
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    pub status: Option<IncidentStatus>,
    pub service_id: Option<i64>,
    /// Started at or after.
    pub from: Option<DateTime<Utc>>,
    /// Started before.
    pub to: Option<DateTime<Utc>>,
    /// Keyset position: incidents with a smaller id.
    pub before_id: Option<i64>,
}

/// An operator's action on an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Acknowledge,
    Resolve,
    Note,
}

impl MonitoringStore {
    pub async fn incidents(&self, f: &IncidentFilter, limit: i64) -> Result<Vec<IncidentRow>, StorageError> {
        // Absent filters are NULL parameters, so one statement serves all combinations.
        let sql = format!(
            "SELECT {COLUMNS} FROM service_incident \
             WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR service_id = $2) \
             AND ($3 IS NULL OR started_at >= $3) AND ($4 IS NULL OR started_at < $4) \
             AND ($5 IS NULL OR id < $5) ORDER BY id DESC LIMIT $6"
        );
        self.db
            .read("monitoring.incidents", &sql)
            .bind(f.status.map(IncidentStatus::as_str))
            .bind(f.service_id)
            .bind(f.from.map(Ts))
            .bind(f.to.map(Ts))
            .bind(f.before_id)
            .bind(limit)
            .fetch_all()
            .await
    }

    pub async fn incident(&self, id: i64) -> Result<Option<IncidentRow>, StorageError> {
        let sql = format!("SELECT {COLUMNS} FROM service_incident WHERE id = $1");
        self.db.read("monitoring.incident", &sql).bind(id).fetch_optional().await
    }

    pub async fn timeline(&self, incident_id: i64) -> Result<Vec<TimelineRow>, StorageError> {
        const SQL: &str =
            "SELECT id, at, actor_id, kind, message FROM incident_event WHERE incident_id = $1 ORDER BY id";
        self.db.read("monitoring.timeline", SQL).bind(incident_id).fetch_all().await
    }

    /// The timelines of several incidents at once (for a list page), by incident.
    pub async fn timelines(&self, incident_ids: &[i64]) -> Result<HashMap<i64, Vec<TimelineRow>>, StorageError> {
        let db = &self.db;
        let sql = format!(
            "SELECT incident_id, id, at, actor_id, kind, message FROM incident_event WHERE {} ORDER BY id",
            db.in_ids("incident_id", "$1")
        );
        let rows: Vec<EventRow> = db.read("monitoring.timelines", &sql).bind_ids(incident_ids).fetch_all().await?;
        let rows = rows.into_iter().map(EventRow::split);
        let mut by_incident: HashMap<i64, Vec<TimelineRow>> = HashMap::new();
        for (incident, row) in rows {
            by_incident.entry(incident).or_default().push(row);
        }
        Ok(by_incident)
    }

    /// Apply an operator's action and add its timeline entry, atomically.
    /// `None` when the incident does not exist or is already resolved
    /// (a resolved incident takes notes but no further transitions).
    pub async fn act_on_incident(
        &self,
        id: i64,
        action: Action,
        actor: i64,
        message: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<IncidentRow>, StorageError> {
        let transition = match action {
            Action::Acknowledge => format!(
                "UPDATE service_incident SET status = 'acknowledged', acknowledged_at = $2, acknowledged_by = $3 \
                 WHERE id = $1 AND status = 'open' RETURNING {COLUMNS}"
            ),
            Action::Resolve => format!(
                "UPDATE service_incident SET status = 'resolved', resolved_at = $2, resolved_by = $3 \
                 WHERE id = $1 AND status <> 'resolved' RETURNING {COLUMNS}"
            ),
            // A note changes nothing but the timeline; $2/$3 are unused but bound alike.
            Action::Note => {
                format!("SELECT {COLUMNS} FROM service_incident WHERE id = $1 AND $2 IS NOT NULL AND $3 IS NOT NULL")
            }
        };
        let kind = match action {
            Action::Acknowledge => "acknowledged",
            Action::Resolve => "resolved",
            Action::Note => "note",
        };
        const EVENT: &str =
            "INSERT INTO incident_event (incident_id, at, actor_id, kind, message) VALUES ($1, $2, $3, $4, $5)";
        let db = &self.db;
        on_pool!(db, |p| {
            let mut c = db.acquire_write(p).await?;
            let mut tx = db.begin(&mut c).await?;
            let q = sqlx::query_as::<_, IncidentRow>(&transition).bind(id).bind(Ts(now)).bind(actor);
            let Some(row) = db.observe("monitoring.incident_action", &transition, q.fetch_optional(&mut *tx)).await?
            else {
                return Ok(None);
            };
            let q = sqlx::query(EVENT).bind(id).bind(Ts(now)).bind(actor).bind(kind).bind(message);
            db.observe("monitoring.incident_event", EVENT, q.execute(&mut *tx)).await?;
            db.observe("transaction.commit", "COMMIT", tx.commit()).await?;
            Ok(Some(row))
        })
    }
}
