//! Service monitoring: real checks on a schedule, every result stored,
//! status along failure/recovery thresholds, incidents with a timeline,
//! heartbeats, and announcements of what changed.

pub mod alerting;
pub mod checks;
pub mod domain;
pub mod figures;
pub mod history;
pub mod http;
mod http_views;
mod scheduler;
mod service;
pub mod store;
mod views;
pub mod wire;

pub use scheduler::{Scheduler, SchedulerMetrics};
pub use service::{MonitoringError, MonitoringService};
pub use views::Housekeeping;
