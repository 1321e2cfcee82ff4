//! Alerting's JSON: alerts, channels (secrets never included) and deliveries.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::channels::{ChannelKind, Severity};
use super::lifecycle::{AlertState, DeliveryState};
use super::service::public_config;
use super::store::{AlertRow, ChannelRow, DeliveryRow};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertOut {
    pub id: i64,
    /// The condition, e.g. `database.pool_utilization` or `service.12.down`.
    pub key: String,
    /// `database` or `service`.
    pub source: String,
    pub severity: Severity,
    pub state: AlertState,
    pub message: String,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    pub fired_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}

impl From<AlertRow> for AlertOut {
    fn from(r: AlertRow) -> Self {
        Self {
            id: r.id,
            key: r.key,
            source: r.source,
            severity: r.severity,
            state: r.state,
            message: r.message,
            value: r.value,
            threshold: r.threshold,
            fired_at: r.fired_at,
            resolved_at: r.resolved_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryOut {
    pub id: i64,
    pub channel_id: i64,
    /// `alert.firing`, `alert.resolved` or `test`.
    pub event: String,
    pub state: DeliveryState,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

impl From<DeliveryRow> for DeliveryOut {
    fn from(r: DeliveryRow) -> Self {
        Self {
            id: r.id,
            channel_id: r.channel_id,
            next_attempt_at: (r.state == DeliveryState::Pending).then_some(r.next_attempt_at),
            event: r.event,
            state: r.state,
            attempts: r.attempts,
            last_error: r.last_error,
            created_at: r.created_at,
            delivered_at: r.delivered_at,
        }
    }
}

/// An alert with where it was delivered.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertDetailOut {
    #[serde(flatten)]
    pub alert: AlertOut,
    pub deliveries: Vec<DeliveryOut>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChannelOut {
    pub id: i64,
    pub name: String,
    pub kind: ChannelKind,
    /// Kind-specific settings without secrets (`<name>_set: true` instead).
    #[schema(value_type = Object)]
    pub config: Value,
    pub min_severity: Severity,
    /// Which sources the channel takes: `database`, `service`.
    pub sources: Vec<String>,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ChannelRow> for ChannelOut {
    fn from(r: ChannelRow) -> Self {
        Self {
            config: public_config(&r),
            id: r.id,
            name: r.name,
            kind: r.kind,
            min_severity: r.min_severity,
            sources: r.sources.0,
            enabled: r.enabled,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}
