//! How monitoring looks on the wire: services and incidents in API
//! responses and in the realtime `services` / `incidents` channel events;
//! uptime, metric series and the public status page; maintenance windows.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::monitoring::checks::Kind;
use crate::monitoring::domain::figures::Aggregate;
use crate::monitoring::domain::{IncidentStatus, ShownStatus, TimelineKind};
use crate::monitoring::store::{IncidentRow, ServiceRow, TimelineRow, WindowRow};

/// A monitored service.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ServiceOut {
    pub id: i64,
    pub name: String,
    pub kind: Kind,
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
    /// `paused` while disabled, `maintenance` while a window covers it.
    pub status: ShownStatus,
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
        let status = if r.enabled { r.status.into() } else { ShownStatus::Paused };
        // The one way a stored service reaches a reader: secrets masked.
        let (target, config) = crate::monitoring::checks::secrets::public(r.kind, &r.target, &r.config.0);
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
    pub kind: TimelineKind,
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
    pub status: IncidentStatus,
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

/// Uptime for the standard windows (and a custom range when asked).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UptimeWindows {
    #[serde(rename = "24h")]
    pub day: UptimeOut,
    #[serde(rename = "7d")]
    pub week: UptimeOut,
    #[serde(rename = "30d")]
    pub month: UptimeOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<UptimeOut>,
}

/// One bucket of a metrics series.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MetricBucketOut {
    pub start: DateTime<Utc>,
    pub checks: u64,
    pub up: u64,
    pub degraded: u64,
    pub down: u64,
    pub maintenance: u64,
    pub latency_avg_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub latency_min_ms: Option<f64>,
    pub latency_max_ms: Option<f64>,
    pub uptime: Option<f64>,
}

/// One day of a public service's history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatusDay {
    pub date: chrono::NaiveDate,
    /// Null on days without checks.
    pub uptime: Option<f64>,
    pub checks: u64,
}

/// A public service on the status page.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatusService {
    pub id: i64,
    pub name: String,
    pub status: ShownStatus,
    pub uptime_90d: Option<f64>,
    /// Oldest first, 90 days ending today (UTC).
    pub days: Vec<StatusDay>,
}

/// The public status page.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatusPage {
    /// `operational` when every public service is up (or paused / in maintenance), else `degraded` or `outage`.
    pub overall: &'static str,
    pub services: Vec<StatusService>,
    pub generated_at: DateTime<Utc>,
}

/// Uptime over one window, and what it rests on.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UptimeOut {
    /// `(up + degraded) / (up + degraded + down)` outside maintenance; null without checks.
    pub ratio: Option<f64>,
    /// Checks the ratio rests on (outside maintenance).
    pub checks: u64,
    /// Checks during maintenance windows, not counted.
    pub maintenance_checks: u64,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl UptimeOut {
    pub fn new(a: &Aggregate, from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        Self { ratio: a.uptime(), checks: a.counted(), maintenance_checks: a.maintenance, from, to }
    }
}

/// A maintenance window.
#[derive(Debug, Serialize, ToSchema)]
pub struct WindowOut {
    pub id: i64,
    /// Null: every service.
    pub service_id: Option<i64>,
    pub title: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
}

impl From<WindowRow> for WindowOut {
    fn from(w: WindowRow) -> Self {
        Self {
            id: w.id,
            service_id: w.service_id,
            title: w.title,
            starts_at: w.starts_at,
            ends_at: w.ends_at,
            created_by: w.created_by,
            created_at: w.created_at,
        }
    }
}
