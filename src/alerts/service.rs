//! The alert pipeline: conditions observed by a source (the database
//! monitor, service monitoring) become alerts that fire once per condition,
//! escalate, and resolve after the condition has stayed clear for the hold
//! time; each firing and resolution is put in the delivery outbox for every
//! enabled channel that takes its source and severity, in the same
//! transaction. Channels are managed here too (secrets write-only).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::sync::Notify;

use super::channels::{self, ChannelConfig, ChannelKind, Delivery, DeliveryError, Event, Sender, Severity};
use super::lifecycle::{self, Condition, Firing, Transition};
use super::store::{AlertFilter, AlertRow, AlertStore, ChannelFields, ChannelRow, DeliveryRow, Outgoing};
use super::wire::AlertOut;
use crate::accounts::AccountStore;
use crate::clock::Clock;
use crate::config::AlertsConfig;
use crate::notifications::{IdempotencyKey, NotificationService, RawContent, Recipient};
use crate::storage::{Db, StorageError};
use crate::validation::FieldError;

/// Where alerts come from (`alert.source`).
pub const SOURCES: [&str; 2] = ["database", "service"];

#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("invalid")]
    Invalid(Vec<FieldError>),
    #[error("not found")]
    NotFound,
    /// A channel test did not get through.
    #[error("{0}")]
    Delivery(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A channel as a request describes it (absent fields stay on update).
#[derive(Debug, Clone, Default)]
pub struct ChannelIn {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub config: Option<Value>,
    pub min_severity: Option<String>,
    pub sources: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

#[derive(Clone)]
pub struct AlertService {
    store: AlertStore,
    accounts: AccountStore,
    notifications: NotificationService,
    sender: Sender,
    clock: Clock,
    config: AlertsConfig,
    /// Wakes this instance's outbox worker when deliveries are enqueued, so
    /// they go out now rather than at the next poll.
    enqueued: Arc<Notify>,
    /// Delivery attempts this instance has recorded, for whoever awaits
    /// the outcome of one ([`AlertService::attempts`]).
    attempts: Arc<tokio::sync::watch::Sender<u64>>,
    /// One evaluation at a time on this instance; see [`AlertService::evaluation`].
    evaluating: Arc<tokio::sync::Mutex<()>>,
}

impl AlertService {
    pub fn new(db: Db, notifications: NotificationService, sender: Sender, clock: Clock, config: AlertsConfig) -> Self {
        Self {
            store: AlertStore::new(db.clone()),
            accounts: AccountStore::new(db),
            notifications,
            sender,
            clock,
            config,
            enqueued: Arc::default(),
            attempts: Arc::new(tokio::sync::watch::Sender::new(0)),
            evaluating: Arc::default(),
        }
    }

    /// Hold this while reading what a source observes and passing it to
    /// [`AlertService::observe`]: an evaluation that read the world before
    /// a change and observes after a later one has applied it would undo
    /// it (fire again what was just resolved) until its next pass. The
    /// worker and an evaluation asked for directly take turns.
    pub async fn evaluation(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.evaluating.lock().await
    }

    /// Counts the delivery attempts this instance has recorded (sent,
    /// retried or given up); changes after each is stored.
    pub fn attempts(&self) -> tokio::sync::watch::Receiver<u64> {
        self.attempts.subscribe()
    }

    /// The outbox stored the outcome of an attempt.
    pub(super) fn attempted(&self) {
        self.attempts.send_modify(|n| *n += 1);
    }

    /// Notified when this instance enqueues deliveries.
    pub fn enqueued(&self) -> Arc<Notify> {
        self.enqueued.clone()
    }

    pub fn store(&self) -> &AlertStore {
        &self.store
    }

    pub fn config(&self) -> &AlertsConfig {
        &self.config
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    // --- the lifecycle ----------------------------------------------------

    /// Apply what `source` observes now: `conditions` are every condition of
    /// that source that holds (keys unique). [`lifecycle::plan`] decides —
    /// new ones fire, worse ones escalate, firing ones no longer observed
    /// start their hold and resolve once it has passed — and this applies
    /// it, enqueueing deliveries in the same transactions. Returns the
    /// alerts that fired, escalated or resolved.
    pub async fn observe(&self, source: &str, conditions: &[Condition]) -> Result<Vec<AlertRow>, StorageError> {
        let now = self.clock.now();
        let rows = self.store.firing(source).await?;
        let firing: Vec<Firing<'_>> = rows
            .iter()
            .map(|a| Firing { id: a.id, key: &a.key, severity: a.severity, clear_since: a.clear_since })
            .collect();
        // Config validation keeps the hold far inside chrono's range.
        let hold = chrono::Duration::seconds(i64::try_from(self.config.hold_seconds).unwrap_or(0));
        let steps = lifecycle::plan(conditions, &firing, now, hold);
        if steps.is_empty() {
            return Ok(Vec::new());
        }
        let channels = self.store.channels().await?;
        let firing_out = |row: &AlertRow| outgoing(&channels, row, Event::Firing);
        let resolved_out = |row: &AlertRow| outgoing(&channels, row, Event::Resolved);
        let mut changed = Vec::new();
        for step in steps {
            match step {
                Transition::Fire(c) => {
                    if let Some(row) = self.store.fire(source, c, now, firing_out).await? {
                        tracing::warn!(key = %row.key, severity = %row.severity, message = %row.message, "alert firing");
                        changed.push(row);
                    }
                }
                Transition::Refresh { alert, condition, escalate } => {
                    let row =
                        self.store.still_firing(alert.id, alert.severity, condition, escalate, now, firing_out).await?;
                    if let Some(row) = row.filter(|_| escalate) {
                        tracing::warn!(key = %row.key, severity = %row.severity, "alert escalated");
                        changed.push(row);
                    }
                }
                Transition::StartHold { alert } => self.store.clearing(alert.id, now).await?,
                Transition::Resolve { alert, cleared_by } => {
                    if let Some(row) = self.store.resolve(alert.id, cleared_by, now, resolved_out).await? {
                        tracing::info!(key = %row.key, "alert resolved");
                        changed.push(row);
                    }
                }
            }
        }
        if !changed.is_empty() {
            self.enqueued.notify_one();
        }
        Ok(changed)
    }

    pub async fn alerts(&self, filter: &AlertFilter, limit: i64) -> Result<Vec<AlertRow>, AlertError> {
        Ok(self.store.alerts(filter, limit).await?)
    }

    pub async fn alert(&self, id: i64) -> Result<(AlertRow, Vec<DeliveryRow>), AlertError> {
        let alert = self.store.alert(id).await?.ok_or(AlertError::NotFound)?;
        let deliveries = self.store.deliveries_of(id).await?;
        Ok((alert, deliveries))
    }

    // --- channels ---------------------------------------------------------

    pub async fn channels(&self) -> Result<Vec<ChannelRow>, AlertError> {
        Ok(self.store.channels().await?)
    }

    pub async fn channel(&self, id: i64) -> Result<ChannelRow, AlertError> {
        self.store.channel(id).await?.ok_or(AlertError::NotFound)
    }

    pub async fn create_channel(&self, input: ChannelIn) -> Result<ChannelRow, AlertError> {
        let fields = validate(input, None)?;
        Ok(self.store.create_channel(&fields, self.clock.now()).await?)
    }

    pub async fn update_channel(&self, id: i64, input: ChannelIn) -> Result<ChannelRow, AlertError> {
        let current = self.channel(id).await?;
        let fields = validate(input, Some(&current))?;
        self.store.update_channel(id, &fields, self.clock.now()).await?.ok_or(AlertError::NotFound)
    }

    pub async fn delete_channel(&self, id: i64) -> Result<(), AlertError> {
        if self.store.delete_channel(id).await? { Ok(()) } else { Err(AlertError::NotFound) }
    }

    /// Send a test message through a channel now and say how it went.
    pub async fn test_channel(&self, id: i64) -> Result<(), AlertError> {
        let channel = self.channel(id).await?;
        let now = self.clock.now();
        let alert = json!({
            "id": null, "key": "test", "source": "database", "severity": "info", "state": "firing",
            "message": format!("Test message for channel \"{}\"", channel.name),
            "value": null, "threshold": null, "fired_at": now, "resolved_at": null,
        });
        self.send(&channel, 0, Event::Test, &alert).await.map_err(|e| AlertError::Delivery(e.message))
    }

    /// Send one delivery through `channel` (in-app: a notification to every
    /// operator and admin). `delivery_id` makes in-app notifications
    /// idempotent across retries.
    pub(super) async fn send(
        &self,
        channel: &ChannelRow,
        delivery_id: i64,
        event: Event,
        alert: &Value,
    ) -> Result<(), DeliveryError> {
        let kind = channel.kind;
        let config = ChannelConfig::from_stored_json(kind, &channel.config.0).map_err(|_| DeliveryError {
            message: "the stored channel settings are no longer valid".into(),
            retryable: false,
        })?;
        let severity = alert["severity"].as_str().and_then(|s| Severity::parse(s).ok()).unwrap_or(Severity::Info);
        let (title, text) = describe(event, alert);
        if kind == ChannelKind::InApp {
            return self.notify_staff(delivery_id, event, severity, &title, &text, alert).await;
        }
        let delivery = Delivery { event, alert: alert.clone(), severity, title, text };
        self.sender.send(&config, &delivery, self.clock.now()).await
    }

    async fn notify_staff(
        &self,
        delivery_id: i64,
        event: Event,
        severity: Severity,
        title: &str,
        text: &str,
        alert: &Value,
    ) -> Result<(), DeliveryError> {
        let retry = |e: String| DeliveryError { message: e, retryable: true };
        let staff = self.accounts.staff_ids().await.map_err(|e| retry(e.to_string()))?;
        let priority = match (event, severity) {
            (Event::Firing, Severity::Critical) => 5,
            (Event::Firing, Severity::Warning) => 4,
            _ => 3,
        };
        for user_id in staff {
            let content = RawContent {
                kind: Some("alert".into()),
                priority: Some(priority),
                title: Some(title.chars().take(200).collect()),
                body: Some(text.chars().take(10_000).collect()),
                data: Some(json!({"event": event.as_str(), "alert": alert})),
                expires_at: None,
            };
            // A retry after a partial failure does not notify anyone twice.
            let key = (delivery_id > 0)
                .then(|| IdempotencyKey::parse(&format!("alert-delivery-{delivery_id}")).ok())
                .flatten();
            self.notifications
                .create(Recipient::UserId(user_id), content, key)
                .await
                .map_err(|e| retry(format!("in-app notification: {e}")))?;
        }
        Ok(())
    }
}

/// Deliveries of `alert` for `event`: every enabled channel that takes its
/// source, at or above its minimum severity.
fn outgoing(channels: &[ChannelRow], alert: &AlertRow, event: Event) -> Vec<Outgoing> {
    let payload = serde_json::to_value(AlertOut::from(alert.clone())).unwrap_or(Value::Null);
    channels
        .iter()
        .filter(|c| c.enabled)
        .filter(|c| c.sources.0.contains(&alert.source))
        .filter(|c| alert.severity >= c.min_severity)
        .map(|c| Outgoing { channel_id: c.id, event: event.as_str(), payload: payload.clone() })
        .collect()
}

/// A title and a plain-text body for people.
fn describe(event: Event, alert: &Value) -> (String, String) {
    let severity = alert["severity"].as_str().unwrap_or("info");
    let message = alert["message"].as_str().unwrap_or("");
    let key = alert["key"].as_str().unwrap_or("");
    let title = match event {
        Event::Firing => format!("[{}] {message}", severity.to_uppercase()),
        Event::Resolved => format!("[RESOLVED] {message}"),
        Event::Test => "herald test message".to_string(),
    };
    let mut text = format!("{message}\nkey: {key}");
    if let (Some(v), Some(t)) = (alert["value"].as_f64(), alert["threshold"].as_f64()) {
        text.push_str(&format!("\nvalue: {v} (threshold {t})"));
    }
    if let Some(at) = alert["fired_at"].as_str() {
        text.push_str(&format!("\nfired at: {at}"));
    }
    if let Some(at) = alert["resolved_at"].as_str() {
        text.push_str(&format!("\nresolved at: {at}"));
    }
    (title, text)
}

/// Validate a channel request against the current channel (on update).
fn validate(input: ChannelIn, current: Option<&ChannelRow>) -> Result<ChannelFields, AlertError> {
    let mut errors: Vec<FieldError> = Vec::new();
    let name = match input.name.or_else(|| current.map(|c| c.name.clone())) {
        Some(n) if !n.trim().is_empty() && n.chars().count() <= 200 => n.trim().to_string(),
        Some(_) => {
            errors.push(FieldError::new("name", "1–200 characters"));
            String::new()
        }
        None => {
            errors.push(FieldError::new("name", "required"));
            String::new()
        }
    };
    let kind = match (current, input.kind.as_deref()) {
        (Some(c), Some(k)) if k != c.kind.as_str() => {
            errors.push(FieldError::new("kind", "cannot change; create a new channel"));
            None
        }
        (Some(c), _) => Some(c.kind),
        (None, Some(k)) => match ChannelKind::parse(k) {
            Ok(k) => Some(k),
            Err(_) => {
                errors.push(FieldError::new("kind", "one of in_app, webhook, slack, discord, email, ntfy"));
                None
            }
        },
        (None, None) => {
            errors.push(FieldError::new("kind", "required: in_app, webhook, slack, discord, email or ntfy"));
            None
        }
    };
    let previous = current.and_then(|c| ChannelConfig::from_stored_json(c.kind, &c.config.0).ok());
    let config = kind.and_then(|kind| {
        // On update an absent config keeps the stored one (secrets included).
        let raw = match (&input.config, &previous) {
            (None, Some(p)) => return Some(p.clone()),
            (raw, _) => raw.clone().unwrap_or(Value::Null),
        };
        match channels::parse(kind, &raw, previous.as_ref()) {
            Ok(c) => Some(c),
            Err(v) => {
                errors.extend(v);
                None
            }
        }
    });
    let min_severity = match input.min_severity {
        None => current.map_or(Severity::Warning, |c| c.min_severity),
        Some(s) => Severity::parse(&s).unwrap_or_else(|_| {
            errors.push(FieldError::new("min_severity", "one of info, warning, critical"));
            Severity::Warning
        }),
    };
    let sources = match input.sources.or_else(|| current.map(|c| c.sources.0.clone())) {
        None => SOURCES.iter().map(|s| s.to_string()).collect(),
        Some(list) => {
            for (i, s) in list.iter().enumerate() {
                if !SOURCES.contains(&s.as_str()) {
                    errors.push(FieldError::new(format!("sources[{i}]"), "one of database, service"));
                }
            }
            let mut list = list;
            list.sort();
            list.dedup();
            list
        }
    };
    let enabled = input.enabled.or(current.map(|c| c.enabled)).unwrap_or(true);
    match (errors.is_empty(), kind, config) {
        (true, Some(kind), Some(config)) => {
            Ok(ChannelFields { name, kind, config: config.to_stored_json(), min_severity, sources, enabled })
        }
        _ => Err(AlertError::Invalid(errors)),
    }
}

/// The public form of a channel: its config without secrets.
pub fn public_config(channel: &ChannelRow) -> Value {
    ChannelConfig::from_stored_json(channel.kind, &channel.config.0)
        .ok()
        .map(|c| c.public_json())
        .unwrap_or(Value::Null)
}
