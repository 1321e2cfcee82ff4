//! Maintenance windows: while one covers a service its checks still run and
//! are stored with the flag, its status reads `maintenance`, and no
//! incident opens.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};

use super::{MonitoringError, MonitoringService};
use crate::monitoring::domain::ShownStatus;
use crate::monitoring::http::wire::ServiceOut;
use crate::monitoring::store::{MaintenanceNow, ServiceRow, WindowRow};
use crate::validation::FieldError;

impl MonitoringService {
    pub async fn add_window(
        &self,
        service_id: Option<i64>,
        title: String,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        by: i64,
    ) -> Result<WindowRow, MonitoringError> {
        let mut v = Vec::new();
        let title = title.trim().to_string();
        if title.is_empty() || title.chars().count() > 200 {
            v.push(FieldError::new("title", "1–200 characters"));
        }
        if ends_at <= starts_at {
            v.push(FieldError::new("ends_at", "must be after starts_at"));
        } else if ends_at - starts_at > Duration::days(31) {
            v.push(FieldError::new("ends_at", "a window lasts at most 31 days"));
        }
        if let Some(id) = service_id
            && self.store().service(id).await?.is_none()
        {
            v.push(FieldError::new("service_id", "no such service"));
        }
        if !v.is_empty() {
            return Err(MonitoringError::Invalid(v));
        }
        Ok(self.store().insert_window(service_id, &title, starts_at, ends_at, by, self.now()).await?)
    }

    pub async fn windows(&self) -> Result<Vec<WindowRow>, MonitoringError> {
        Ok(self.store().windows(self.now(), 1000).await?)
    }

    pub async fn delete_window(&self, id: i64) -> Result<(), MonitoringError> {
        if self.store().delete_window(id).await? { Ok(()) } else { Err(MonitoringError::NotFound) }
    }

    /// Services in a maintenance window now (`None` in the set: all of them).
    pub async fn in_maintenance(&self) -> Result<impl Fn(i64) -> bool + use<>, MonitoringError> {
        let MaintenanceNow { all, ids } = self.maintenance_now().await?;
        let ids: HashSet<i64> = ids.into_iter().collect();
        Ok(move |id| all || ids.contains(&id))
    }

    /// The services a maintenance window covers now.
    pub async fn maintenance_now(&self) -> Result<MaintenanceNow, MonitoringError> {
        let now = self.now();
        let windows = self.store().windows(now, 1000).await?;
        let active: Vec<Option<i64>> =
            windows.into_iter().filter(|w| w.starts_at <= now).map(|w| w.service_id).collect();
        let all = active.iter().any(Option::is_none);
        let mut ids: Vec<i64> = active.into_iter().flatten().collect();
        ids.sort_unstable();
        ids.dedup();
        Ok(MaintenanceNow { all, ids })
    }

    /// A service as shown: `maintenance` while a window covers it.
    pub fn render(row: ServiceRow, in_maintenance: &dyn Fn(i64) -> bool) -> ServiceOut {
        let id = row.id;
        let mut out = ServiceOut::from(row);
        if out.enabled && in_maintenance(id) {
            out.status = ShownStatus::Maintenance;
        }
        out
    }
}
