//! Monitoring operations: services (validated settings and probe), checks
//! run now, heartbeats, recording results, incidents, and announcing what
//! changed — on the realtime channels and as in-app notifications to
//! operators and admins.

use base64::Engine;
use chrono::{DateTime, Utc};
use rand::{Rng, RngCore};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::checks::{self, CheckStatus, Checker, HeartbeatProbe, Kind, Outcome, Probe};
use super::domain::{self, RawSettings, Settings};
use super::store::{
    Action, DueRow, IncidentChange, IncidentFilter, MonitoringStore, NewService, Recorded, ResultIn, ServiceRow,
    ServiceUpdate,
};
use super::wire::{Event, IncidentOut, ServiceOut};
use crate::accounts::AccountStore;
use crate::clock::Clock;
use crate::notifications::{NotificationService, RawContent, Recipient};
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

    pub async fn create(&self, input: ServiceIn) -> Result<CreatedService, MonitoringError> {
        let mut violations = Vec::new();
        if input.settings.name.is_none() {
            violations.push(FieldError::new("name", "required"));
        }
        let kind = match input.kind.as_deref() {
            None => {
                violations.push(FieldError::new("kind", "required: http, tcp, dns, tls or heartbeat"));
                None
            }
            Some(k) => match Kind::parse(k).ok() {
                Some(kind) => Some(kind),
                None => {
                    violations.push(FieldError::new("kind", "must be http, tcp, dns, tls or heartbeat"));
                    None
                }
            },
        };
        let settings = Settings::parse(input.settings, &Settings::defaults()).map_err(|v| violations.extend(v));
        let probe = kind.and_then(|kind| {
            let config = input.config.unwrap_or(Value::Null);
            checks::parse_input(kind, input.target.as_deref().unwrap_or(""), &config, None)
                .map_err(|errors| violations.extend(errors))
                .ok()
        });
        let (Some(kind), Ok(settings), Some(probe), true) = (kind, settings, probe, violations.is_empty()) else {
            return Err(MonitoringError::Invalid(violations));
        };
        let now = self.clock.now();
        let secret = (kind == Kind::Heartbeat).then(new_secret);
        let hash = secret.as_deref().map(hash_secret);
        let next_check_at = first_due(&settings, &probe, now);
        let new = NewService {
            settings: &settings,
            kind: kind.as_str(),
            target: &probe.target(),
            config: &probe.config_json(),
            heartbeat_hash: hash.as_deref(),
            next_check_at,
        };
        let service = self.store.insert_service(new, now).await?;
        self.rescheduled.notify_one();
        Ok(CreatedService { service, heartbeat_secret: secret })
    }

    pub async fn get(&self, id: i64) -> Result<ServiceRow, MonitoringError> {
        self.store.service(id).await?.ok_or(MonitoringError::NotFound)
    }

    pub async fn list(&self, after: i64, limit: i64) -> Result<Vec<ServiceRow>, MonitoringError> {
        Ok(self.store.services(after, limit, false).await?)
    }

    /// Change settings and probe; what is absent stays. The kind cannot change.
    pub async fn update(&self, id: i64, input: ServiceIn) -> Result<ServiceRow, MonitoringError> {
        let current = self.get(id).await?;
        let kind = Kind::parse(&current.kind).map_err(|_| MonitoringError::NotFound)?;
        let mut violations = Vec::new();
        if input.kind.as_deref().is_some_and(|k| k != current.kind) {
            violations.push(FieldError::new("kind", "cannot change; create a new service instead"));
        }
        let base = current.settings();
        let settings = Settings::parse(input.settings, &base).map_err(|v| violations.extend(v));
        // What is absent stays, as if the client had sent back what it
        // read: secrets come back masked and are restored from the stored
        // probe only while the target keeps its origin.
        let previous = stored_probe(&current)?;
        let (shown_target, shown_config) = checks::secrets::public(&current.kind, &current.target, &current.config.0);
        let target = input.target.unwrap_or(shown_target);
        let config = input.config.unwrap_or(shown_config);
        let probe = checks::parse_input(kind, &target, &config, Some(&previous))
            .map_err(|errors| violations.extend(errors))
            .ok();
        let (Ok(settings), Some(probe), true) = (settings, probe, violations.is_empty()) else {
            return Err(MonitoringError::Invalid(violations));
        };
        let now = self.clock.now();
        // A new interval (or re-enabling) starts a fresh schedule.
        let reschedule = settings.interval_seconds != base.interval_seconds || (settings.enabled && !base.enabled);
        let next_check_at = reschedule.then(|| first_due(&settings, &probe, now));
        let update =
            ServiceUpdate { settings: &settings, target: &probe.target(), config: &probe.config_json(), next_check_at };
        let row = self.store.update_service(id, update, now).await?.ok_or(MonitoringError::NotFound)?;
        if reschedule {
            self.rescheduled.notify_one();
        }
        if settings.enabled != base.enabled {
            self.publish_statuses(vec![row.clone()]).await;
        }
        Ok(row)
    }

    pub async fn delete(&self, id: i64) -> Result<(), MonitoringError> {
        if self.store.delete_service(id).await? { Ok(()) } else { Err(MonitoringError::NotFound) }
    }

    /// A new heartbeat secret for a heartbeat service; the old one stops working.
    pub async fn rotate_heartbeat(&self, id: i64) -> Result<String, MonitoringError> {
        let secret = new_secret();
        if self.store.set_heartbeat_hash(id, &hash_secret(&secret)).await? {
            Ok(secret)
        } else {
            Err(MonitoringError::NotFound)
        }
    }

    /// A heartbeat arrived: record an up result and move the deadline.
    /// `NotFound` for an unknown secret (or a paused service).
    pub async fn heartbeat(&self, secret: &str) -> Result<ServiceRow, MonitoringError> {
        let service = self.store.service_by_heartbeat(&hash_secret(secret)).await?.ok_or(MonitoringError::NotFound)?;
        if !service.enabled {
            return Err(MonitoringError::NotFound);
        }
        let now = self.clock.now();
        // A client beating in a tight loop must not turn into a write per
        // request: beats within a second of the last one are accepted and
        // not stored again.
        if service.last_beat_at.is_some_and(|at| now - at < chrono::Duration::seconds(1)) {
            return Ok(service);
        }
        let Probe::Heartbeat(heartbeat) = stored_probe(&service)? else {
            return Err(MonitoringError::NotFound);
        };
        self.store.beat(service.id, now, now + beat_window(service.interval_seconds, &heartbeat)).await?;
        let result = ResultIn {
            service_id: service.id,
            checked_at: now,
            status: CheckStatus::Up,
            latency_us: 0,
            status_code: None,
            error: None,
            instance_id: self.instance_id,
            cert_expires_at: None,
            // `beat` moved the deadline already.
            next_check_at: None,
        };
        self.record(vec![result]).await?;
        self.get(service.id).await
    }

    /// Run a service's check now, record and apply its result.
    pub async fn check_now(&self, id: i64) -> Result<CheckedNow, MonitoringError> {
        let service = self.get(id).await?;
        let (outcome, status) = self.run_check(&service).await?;
        let result = to_result(&service.due(), &outcome, status, self.clock.now(), self.instance_id);
        self.record(vec![result]).await?;
        let service = self.get(id).await?;
        Ok(CheckedNow { outcome, status, service })
    }

    /// Run the check of a stored service; the status has the latency threshold applied.
    pub async fn run_check(&self, service: &ServiceRow) -> Result<(Outcome, CheckStatus), MonitoringError> {
        Ok(self.run_probe(&service.due(), &stored_probe(service)?).await)
    }

    /// Run `probe`, the parsed check of `service` (the scheduler keeps
    /// probes parsed between checks); the status has the latency threshold applied.
    pub async fn run_probe(&self, service: &DueRow, probe: &Probe) -> (Outcome, CheckStatus) {
        let outcome = match probe {
            Probe::Heartbeat(heartbeat) => heartbeat_outcome(service, heartbeat, self.clock.now()),
            probe => {
                let timeout = std::time::Duration::from_secs(service.timeout_seconds.max(1).unsigned_abs().into());
                self.checker.run(probe, timeout).await
            }
        };
        let status = domain::with_latency(outcome.status, outcome.latency, service.degraded_latency_ms.map(i64::from));
        (outcome, status)
    }

    /// Store results, then announce what they changed.
    pub async fn record(&self, results: Vec<ResultIn>) -> Result<Vec<Recorded>, MonitoringError> {
        let recorded = self.store.record(&results, self.clock.now()).await?;
        self.announce(&recorded).await;
        Ok(recorded)
    }

    /// Announce new statuses, then incident changes. The changed services
    /// are read in one query: a read per change (every service changes on
    /// its first check) was a burst of connection checkouts, and each
    /// checkout returned to the pool only after a ping, so a burst opened
    /// new connections up to the pool's maximum.
    async fn announce(&self, recorded: &[Recorded]) {
        let mut changed: Vec<i64> = recorded.iter().filter(|r| r.step.changed).map(|r| r.service_id).collect();
        if !changed.is_empty() {
            self.changed.notify_one();
            changed.sort_unstable();
            changed.dedup();
            match self.store.services_by_id(&changed).await {
                Ok(rows) => self.publish_statuses(rows).await,
                Err(e) => tracing::warn!(error = %e, "could not read changed services to announce them"),
            }
        }
        for (incident_id, change) in recorded.iter().filter_map(|r| r.incident) {
            let event = match change {
                IncidentChange::Opened => "opened",
                IncidentChange::Resolved => "resolved",
                IncidentChange::RecoveredHeld => "note",
            };
            self.publish_incident(incident_id, event).await;
        }
    }

    /// A `service:status` event for each row on the `services` channel, in one publish.
    async fn publish_statuses(&self, rows: Vec<ServiceRow>) {
        let events = rows.into_iter().map(|row| Event::Status { service: &ServiceOut::from(row) }.to_json()).collect();
        self.bus.channel_many("services", events).await;
    }

    /// Send an incident event on the `incidents` channel, and an in-app
    /// notification to every operator and admin for openings and resolutions.
    async fn publish_incident(&self, incident_id: i64, event: &str) {
        let Ok(incident) = self.incident(incident_id).await else { return };
        let message = match event {
            "opened" => Event::Opened { incident: &incident },
            "acknowledged" => Event::Acknowledged { incident: &incident },
            "resolved" => Event::Resolved { incident: &incident },
            _ => Event::Note { incident: &incident },
        };
        self.bus.channel("incidents", message.to_json()).await;
        if !matches!(event, "opened" | "resolved" | "acknowledged") {
            return;
        }
        let name = match self.store.service(incident.service_id).await {
            Ok(Some(s)) => s.name,
            _ => format!("service {}", incident.service_id),
        };
        let (title, priority) = match event {
            "opened" => (format!("{name} is down"), 5),
            "acknowledged" => (format!("{name}: incident acknowledged"), 3),
            _ => (format!("{name} recovered"), 3),
        };
        let body = incident.timeline.last().map(|t| t.message.clone()).unwrap_or_default();
        let staff = match self.accounts.staff_ids().await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(incident_id, error = %e, "could not list operators to notify");
                return;
            }
        };
        for user_id in staff {
            let content = RawContent {
                kind: Some("incident".into()),
                priority: Some(priority),
                title: Some(title.chars().take(200).collect()),
                body: Some(body.chars().take(10_000).collect()),
                data: Some(
                    serde_json::json!({"incident_id": incident.id, "service_id": incident.service_id, "event": event}),
                ),
                expires_at: None,
            };
            let key = crate::notifications::IdempotencyKey::parse(&format!("incident-{}-{event}", incident.id)).ok();
            if let Err(e) = self.notifications.create(Recipient::UserId(user_id), content, key).await {
                tracing::warn!(incident_id, user_id, error = %e, "could not notify an operator of an incident");
            }
        }
    }

    /// A page of incidents with their timelines (one query for all timelines).
    pub async fn incidents(&self, filter: &IncidentFilter, limit: i64) -> Result<Vec<IncidentOut>, MonitoringError> {
        let rows = self.store.incidents(filter, limit).await?;
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let mut timelines = self.store.timelines(&ids).await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let timeline = timelines.remove(&r.id).unwrap_or_default();
                IncidentOut::new(r, timeline)
            })
            .collect())
    }

    pub async fn incident(&self, id: i64) -> Result<IncidentOut, MonitoringError> {
        let row = self.store.incident(id).await?.ok_or(MonitoringError::NotFound)?;
        let timeline = self.store.timeline(id).await?;
        Ok(IncidentOut::new(row, timeline))
    }

    /// Acknowledge, resolve or annotate an incident as `actor`.
    pub async fn act(
        &self,
        id: i64,
        action: Action,
        actor: i64,
        note: Option<String>,
    ) -> Result<IncidentOut, MonitoringError> {
        let current = self.store.incident(id).await?.ok_or(MonitoringError::NotFound)?;
        let message = match action {
            Action::Acknowledge => note.unwrap_or_else(|| "acknowledged".into()),
            Action::Resolve => note.unwrap_or_else(|| "resolved by an operator".into()),
            Action::Note => match note.map(|n| n.trim().to_string()) {
                Some(n) if !n.is_empty() && n.chars().count() <= 2000 => n,
                _ => return Err(MonitoringError::Invalid(vec![FieldError::new("message", "1–2000 characters")])),
            },
        };
        if message.chars().count() > 2000 {
            return Err(MonitoringError::Invalid(vec![FieldError::new("message", "at most 2000 characters")]));
        }
        let now = self.clock.now();
        if self.store.act_on_incident(id, action, actor, &message, now).await?.is_none() {
            return Err(MonitoringError::State(format!("the incident is {}", current.status)));
        }
        let event = match action {
            Action::Acknowledge => "acknowledged",
            Action::Resolve => "resolved",
            Action::Note => "note",
        };
        self.publish_incident(id, event).await;
        self.incident(id).await
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
    let kind = Kind::parse(&service.kind).map_err(|_| MonitoringError::NotFound)?;
    checks::parse(kind, &service.target, &service.config.0).map_err(MonitoringError::Invalid)
}

/// How long after a beat the next one must arrive: the interval plus the grace.
fn beat_window(interval_seconds: i32, heartbeat: &HeartbeatProbe) -> chrono::Duration {
    chrono::Duration::seconds(i64::from(interval_seconds))
        + chrono::Duration::from_std(heartbeat.grace()).unwrap_or_default()
}

/// A heartbeat service is "checked" when its deadline passes: down, since
/// no beat moved the deadline.
fn heartbeat_outcome(service: &DueRow, heartbeat: &HeartbeatProbe, now: DateTime<Utc>) -> Outcome {
    let error = match service.last_beat_at {
        Some(at) if now - at < beat_window(service.interval_seconds, heartbeat) => {
            return Outcome {
                status: CheckStatus::Up,
                latency: std::time::Duration::ZERO,
                status_code: None,
                error: None,
                cert_expires_at: None,
            };
        }
        Some(at) => {
            format!("no heartbeat for {} s (expected every {} s)", (now - at).num_seconds(), service.interval_seconds)
        }
        None => format!("no heartbeat received yet (expected every {} s)", service.interval_seconds),
    };
    Outcome {
        status: CheckStatus::Down,
        latency: std::time::Duration::ZERO,
        status_code: None,
        error: Some(error),
        cert_expires_at: None,
    }
}

/// When a new (or rescheduled) service is first due: a heartbeat when its
/// first beat is late; a polled service at a random whole second of its
/// first interval, so services added together are not checked together
/// (whole seconds are on every start-quantum grid: see `domain::next_due`).
fn first_due(settings: &Settings, probe: &Probe, now: DateTime<Utc>) -> DateTime<Utc> {
    match probe {
        Probe::Heartbeat(heartbeat) => {
            now + chrono::Duration::seconds(settings.interval_seconds)
                + chrono::Duration::from_std(heartbeat.grace()).unwrap_or_default()
        }
        _ => {
            let seconds = rand::rng().random_range(1..=settings.interval_seconds.max(1));
            domain::round_up(now, 1000) + chrono::Duration::seconds(seconds - 1)
        }
    }
}

/// 256 random bits, URL-safe: the heartbeat URL's secret.
fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("hb_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}
