//! Incidents: reading them with their timelines, and the operators'
//! workflow (acknowledge, resolve, notes).

use super::{MonitoringError, MonitoringService};
use crate::monitoring::http::wire::IncidentOut;
use crate::monitoring::store::{Action, IncidentFilter};
use crate::validation::FieldError;

impl MonitoringService {
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
