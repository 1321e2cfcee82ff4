//! How services and incidents look on the wire: in API responses and in the
//! realtime `services` / `incidents` channel events.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::store::{IncidentRow, ServiceRow, TimelineRow};

/// A monitored service.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ServiceOut {
    pub id: i64,
    pub name: String,
    /// `http`, `tcp`, `dns`, `tls` or `heartbeat`.
    pub kind: String,
    /// A password in the URL's user-info reads as `********`.
    pub target: String,
    pub interval_seconds: i32,
    pub timeout_seconds: i32,
    pub failure_threshold: i32,
    pub recovery_threshold: i32,
    pub degraded_latency_ms: Option<i32>,
    pub enabled: bool,
    pub public: bool,
    pub tags: Vec<String>,
    /// `unknown`, `up`, `degraded`, `down`, or `paused` while disabled.
    pub status: String,
    pub last_checked_at: Option<DateTime<Utc>>,
    /// Heartbeat services: when the last beat arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_beat_at: Option<DateTime<Utc>>,
    /// TLS services: the certificate's expiry as last seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_expires_at: Option<DateTime<Utc>>,
    pub next_check_at: DateTime<Utc>,
    /// Kind-specific settings, with defaults filled in. Secret header
    /// values read as `********`; sent back unchanged they keep the stored value.
    pub config: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ServiceRow> for ServiceOut {
    fn from(r: ServiceRow) -> Self {
        let status = if r.enabled { r.status } else { "paused".to_string() };
        // The one way a stored service reaches a reader: secrets masked.
        let (target, config) = super::checks::secrets::public(&r.kind, &r.target, &r.config.0);
        Self {
            id: r.id,
            name: r.name,
            kind: r.kind,
            target,
            interval_seconds: r.interval_seconds,
            timeout_seconds: r.timeout_seconds,
            failure_threshold: r.failure_threshold,
            recovery_threshold: r.recovery_threshold,
            degraded_latency_ms: r.degraded_latency_ms,
            enabled: r.enabled,
            public: r.public,
            tags: r.tags.0,
            status,
            last_checked_at: r.last_checked_at,
            last_beat_at: r.last_beat_at,
            cert_expires_at: r.cert_expires_at,
            next_check_at: r.next_check_at,
            config,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// One entry of an incident's timeline.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimelineOut {
    pub at: DateTime<Utc>,
    /// The user who acted; null when herald did (opened, auto-resolved).
    pub actor_id: Option<i64>,
    /// `opened`, `acknowledged`, `recovered`, `resolved` or `note`.
    pub kind: String,
    pub message: String,
}

impl From<TimelineRow> for TimelineOut {
    fn from(t: TimelineRow) -> Self {
        Self { at: t.at, actor_id: t.actor_id, kind: t.kind, message: t.message }
    }
}

/// An incident with its timeline, oldest entry first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IncidentOut {
    pub id: i64,
    pub service_id: i64,
    /// `open`, `acknowledged` or `resolved`.
    pub status: String,
    pub started_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<i64>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// Null when it resolved by itself on recovery.
    pub resolved_by: Option<i64>,
    /// What opened it.
    pub cause: String,
    pub timeline: Vec<TimelineOut>,
}

impl IncidentOut {
    pub fn new(r: IncidentRow, timeline: Vec<TimelineRow>) -> Self {
        Self {
            id: r.id,
            service_id: r.service_id,
            status: r.status,
            started_at: r.started_at,
            acknowledged_at: r.acknowledged_at,
            acknowledged_by: r.acknowledged_by,
            resolved_at: r.resolved_at,
            resolved_by: r.resolved_by,
            cause: r.cause,
            timeline: timeline.into_iter().map(TimelineOut::from).collect(),
        }
    }
}

/// A realtime channel event.
#[derive(Serialize)]
#[serde(tag = "type")]
pub enum Event<'a> {
    #[serde(rename = "service:status")]
    Status { service: &'a ServiceOut },
    #[serde(rename = "incident:opened")]
    Opened { incident: &'a IncidentOut },
    #[serde(rename = "incident:acknowledged")]
    Acknowledged { incident: &'a IncidentOut },
    #[serde(rename = "incident:resolved")]
    Resolved { incident: &'a IncidentOut },
    #[serde(rename = "incident:note")]
    Note { incident: &'a IncidentOut },
}

impl Event<'_> {
    pub fn to_json(&self) -> String {
        // Plain structs of strings, numbers and JSON values: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}
