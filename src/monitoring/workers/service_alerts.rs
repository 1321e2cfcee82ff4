//! Service alerts: the conditions of every enabled service — down
//! (critical), degraded (warning), TLS certificate expiring soon (warning)
//! — handed to the alert pipeline, which fires, escalates and resolves
//! them. Evaluated on a timer and at once when a service's status changes;
//! a service in a maintenance window raises nothing.

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};

use crate::alerts::channels::Severity;
use crate::alerts::{AlertService, Condition};
use crate::monitoring::domain::Status;
use crate::monitoring::store::AlertState;
use crate::monitoring::{MonitoringError, MonitoringService};
use crate::workers::{Pass, Schedule, Worker};

/// The conditions that hold now for these services.
pub fn conditions(
    services: &[AlertState],
    in_maintenance: impl Fn(i64) -> bool,
    now: DateTime<Utc>,
    tls_days: u32,
) -> Vec<Condition> {
    let mut out = Vec::new();
    for AlertState { id, name, status, cert_expires_at } in services {
        if in_maintenance(*id) {
            continue;
        }
        match status {
            Status::Down => {
                out.push(Condition::new(format!("service.{id}.down"), Severity::Critical, format!("{name} is down")))
            }
            Status::Degraded => out.push(Condition::new(
                format!("service.{id}.degraded"),
                Severity::Warning,
                format!("{name} is degraded (answers slower than its latency threshold)"),
            )),
            _ => {}
        }
        if let Some(expires) = cert_expires_at {
            let days = (*expires - now).num_seconds() as f64 / 86_400.0;
            if days > 0.0 && days <= f64::from(tls_days) {
                let message = format!("{name}: TLS certificate expires in {days:.1} days");
                out.push(
                    Condition::new(format!("service.{id}.tls_expiry"), Severity::Warning, message)
                        .measured((days * 10.0).round() / 10.0, f64::from(tls_days)),
                );
            }
        }
    }
    out
}

/// Evaluate service conditions once.
pub async fn evaluate_once(monitoring: &MonitoringService, alerts: &AlertService) -> Result<(), MonitoringError> {
    let _turn = alerts.evaluation().await;
    let now = monitoring.now();
    let tls_days = alerts.config().tls_expiry_days;
    let services = monitoring.store().alert_states(now + chrono::Duration::days(tls_days.into())).await?;
    let in_maintenance = monitoring.in_maintenance().await?;
    let conditions = conditions(&services, in_maintenance, now, tls_days);
    alerts.observe("service", &conditions).await?;
    Ok(())
}

/// Service alert evaluation as a worker: at start-up, every
/// `evaluate_interval_seconds`, and at once when a status changes.
pub struct ServiceAlerts {
    pub monitoring: MonitoringService,
    pub alerts: AlertService,
}

impl ServiceAlerts {
    pub fn schedule(&self) -> Schedule {
        let period = Duration::from_secs(self.alerts.config().evaluate_interval_seconds.max(1));
        Schedule::every(period).starting_now().woken_by(self.monitoring.status_changes())
    }
}

impl Worker for ServiceAlerts {
    async fn pass(&mut self) -> anyhow::Result<Pass> {
        evaluate_once(&self.monitoring, &self.alerts).await.context("could not evaluate service alerts")?;
        Ok(Pass::Idle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_degraded_and_expiring_services_raise_conditions() {
        let now = Utc::now();
        let state = |id, name: &str, status: &str, cert_expires_at| AlertState {
            id,
            name: name.into(),
            status: Status::try_from(status.to_string()).unwrap(),
            cert_expires_at,
        };
        let services = vec![
            state(1, "api", "down", None),
            state(2, "web", "degraded", Some(now + chrono::Duration::days(3))),
            state(3, "ok", "up", Some(now + chrono::Duration::days(30))),
            state(4, "held", "down", None),
        ];
        let got = conditions(&services, |id| id == 4, now, 14);
        let keys: Vec<_> = got.iter().map(|c| (c.key.as_str(), c.severity.as_str())).collect();
        assert_eq!(
            keys,
            [("service.1.down", "critical"), ("service.2.degraded", "warning"), ("service.2.tls_expiry", "warning")]
        );
        assert_eq!(got[2].threshold, Some(14.0));
        assert!(got[2].value.is_some_and(|d| (2.9..=3.0).contains(&d)));
    }
}
