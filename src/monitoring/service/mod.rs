//! What monitoring does, one file per thing: services and heartbeats
//! ([`services`]), recording results and announcing what they changed
//! ([`results`]), incidents, figures, maintenance windows and the public
//! status page. Every operation returns what its caller shows (a domain
//! value or a wire type), so handlers only extract and answer.

mod figures;
mod incidents;
mod maintenance;
mod overview;
mod results;
mod services;
mod status_page;

use chrono::{DateTime, Utc};
use serde_json::Value;

pub use figures::{MAX_BUCKETS, MAX_RAW_RANGE_HOURS};
pub use overview::{MAX_PER_PAGE, Overview, OverviewQuery, OverviewRow};

use super::checks::{self, CheckStatus, Checker, Outcome, Probe};
use super::domain::RawSettings;
use super::store::{DueRow, MonitoringStore, ResultIn, ServiceRow};
use crate::accounts::AccountStore;
use crate::clock::Clock;
use crate::notifications::NotificationService;
use crate::realtime::Bus;
use crate::storage::{Db, StorageError};
use crate::validation::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum MonitoringError {
    #[error("invalid service")]
    Invalid(Vec<FieldError>),
    #[error("not found")]
    NotFound,
    /// The incident is not in a state that allows this.
    #[error("{0}")]
    State(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A service as a request describes it.
#[derive(Debug, Clone, Default)]
pub struct ServiceIn {
    pub kind: Option<String>,
    pub target: Option<String>,
    pub config: Option<Value>,
    pub settings: RawSettings,
}

/// A created service, with its heartbeat secret when it has one (shown once).
pub struct CreatedService {
    pub service: ServiceRow,
    pub heartbeat_secret: Option<String>,
}

/// A check run on request.
pub struct CheckedNow {
    pub outcome: Outcome,
    /// The result's status after the latency threshold.
    pub status: CheckStatus,
    pub service: ServiceRow,
}

#[derive(Clone)]
pub struct MonitoringService {
    store: MonitoringStore,
    accounts: AccountStore,
    notifications: NotificationService,
    checker: Checker,
    clock: Clock,
    bus: Bus,
    /// This process in `monitor_instance`: results and leases name it.
    instance_id: i32,
    /// Notified when a service's status changes (service alerts listen).
    changed: std::sync::Arc<tokio::sync::Notify>,
    /// Notified when a service gets a new schedule (created, a new
    /// interval, re-enabled): the scheduler claims at its next boundary
    /// rather than at its next planned claim, which at low rates is
    /// seconds away.
    rescheduled: std::sync::Arc<tokio::sync::Notify>,
    /// The rolled-up part of each service's overview figures (see `overview`).
    rolled: overview::RolledCache,
}

impl MonitoringService {
    /// Register this process as a checking instance and build the service.
    pub async fn start(
        db: Db,
        notifications: NotificationService,
        checker: Checker,
        clock: Clock,
        bus: Bus,
    ) -> Result<Self, StorageError> {
        let store = MonitoringStore::new(db.clone());
        let instance_id = store.register_instance(&crate::app::instance_name(), clock.now()).await?;
        Ok(Self {
            store,
            accounts: AccountStore::new(db),
            notifications,
            checker,
            clock,
            bus,
            instance_id,
            changed: Default::default(),
            rescheduled: Default::default(),
            rolled: Default::default(),
        })
    }

    /// Notified whenever a service gets a new schedule.
    pub fn reschedules(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.rescheduled.clone()
    }

    /// Notified whenever a recorded result changes a service's status.
    pub fn status_changes(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.changed.clone()
    }

    pub fn instance_id(&self) -> i32 {
        self.instance_id
    }

    pub fn store(&self) -> &MonitoringStore {
        &self.store
    }

    pub fn checker(&self) -> &Checker {
        &self.checker
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

/// Build the stored result of one check.
pub fn to_result(
    service: &DueRow,
    outcome: &Outcome,
    status: CheckStatus,
    at: DateTime<Utc>,
    instance_id: i32,
) -> ResultIn {
    let error = match (status, &outcome.error) {
        (CheckStatus::Degraded, None) => Some(format!(
            "latency {} ms over {} ms",
            outcome.latency.as_millis(),
            service.degraded_latency_ms.unwrap_or_default()
        )),
        (_, e) => e.as_ref().map(|e| e.chars().take(500).collect()),
    };
    ResultIn {
        service_id: service.id,
        checked_at: at,
        status,
        latency_us: i32::try_from(outcome.latency.as_micros()).unwrap_or(i32::MAX),
        status_code: outcome.status_code.and_then(|c| i16::try_from(c).ok()),
        error,
        instance_id,
        cert_expires_at: outcome.cert_expires_at,
        next_check_at: None,
    }
}

/// The probe of a stored service (stored config was validated on write).
pub fn stored_probe(service: &ServiceRow) -> Result<Probe, MonitoringError> {
    checks::parse(service.kind, &service.target, &service.config.0).map_err(MonitoringError::Invalid)
}
