//! Recording check results and announcing what they changed: status events
//! on the `services` channel, incident events on `incidents`, and in-app
//! notifications to operators and admins.

use super::{MonitoringError, MonitoringService};
use crate::monitoring::http::wire::{Event, ServiceOut};
use crate::monitoring::store::{IncidentChange, Recorded, ResultIn, ServiceRow};
use crate::notifications::{RawContent, Recipient};

impl MonitoringService {
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
    pub(super) async fn publish_statuses(&self, rows: Vec<ServiceRow>) {
        let events = rows.into_iter().map(|row| Event::Status { service: &ServiceOut::from(row) }.to_json()).collect();
        self.bus.channel_many("services", events);
    }

    /// Send an incident event on the `incidents` channel, and an in-app
    /// notification to every operator and admin for openings and resolutions.
    pub(super) async fn publish_incident(&self, incident_id: i64, event: &str) {
        let Ok(incident) = self.incident(incident_id).await else { return };
        let message = match event {
            "opened" => Event::Opened { incident: &incident },
            "acknowledged" => Event::Acknowledged { incident: &incident },
            "resolved" => Event::Resolved { incident: &incident },
            _ => Event::Note { incident: &incident },
        };
        self.bus.channel("incidents", message.to_json());
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
}
