//! Services: create, read, change, delete, heartbeats, and checks run on
//! request.

use base64::Engine;
use chrono::{DateTime, Utc};
use rand::{Rng, RngCore};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{CheckedNow, CreatedService, MonitoringError, MonitoringService, ServiceIn, stored_probe, to_result};
use crate::monitoring::checks::{self, CheckStatus, HeartbeatProbe, Kind, Outcome, Probe};
use crate::monitoring::domain::{self, Settings};
use crate::monitoring::http::wire::ServiceOut;
use crate::monitoring::store::{DueRow, NewService, ResultIn, ServiceRow, ServiceUpdate};
use crate::validation::FieldError;

impl MonitoringService {
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
            kind,
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

    /// The names of these services (those that still exist), by id.
    pub async fn names(&self, ids: &[i64]) -> Result<std::collections::HashMap<i64, String>, MonitoringError> {
        Ok(self.store.services_by_id(ids).await?.into_iter().map(|s| (s.id, s.name)).collect())
    }

    pub async fn list(&self, after: i64, limit: i64) -> Result<Vec<ServiceRow>, MonitoringError> {
        Ok(self.store.services(after, limit, false).await?)
    }

    /// A page of services as readers see them (secrets masked,
    /// `maintenance` while a window covers one).
    pub async fn list_shown(&self, after: i64, limit: i64) -> Result<Vec<ServiceOut>, MonitoringError> {
        let rows = self.list(after, limit).await?;
        let maintenance = self.in_maintenance().await?;
        Ok(rows.into_iter().map(|row| Self::render(row, &maintenance)).collect())
    }

    /// One service as readers see it.
    pub async fn shown(&self, id: i64) -> Result<ServiceOut, MonitoringError> {
        let maintenance = self.in_maintenance().await?;
        Ok(Self::render(self.get(id).await?, &maintenance))
    }

    /// Change settings and probe; what is absent stays. The kind cannot change.
    pub async fn update(&self, id: i64, input: ServiceIn) -> Result<ServiceRow, MonitoringError> {
        let current = self.get(id).await?;
        let kind = current.kind;
        let mut violations = Vec::new();
        if input.kind.as_deref().is_some_and(|k| k != kind.as_str()) {
            violations.push(FieldError::new("kind", "cannot change; create a new service instead"));
        }
        let base = current.settings();
        let settings = Settings::parse(input.settings, &base).map_err(|v| violations.extend(v));
        // What is absent stays, as if the client had sent back what it
        // read: secrets come back masked and are restored from the stored
        // probe only while the target keeps its origin.
        let previous = stored_probe(&current)?;
        let (shown_target, shown_config) = checks::secrets::public(current.kind, &current.target, &current.config.0);
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
