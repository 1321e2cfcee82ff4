//! Service monitoring: real checks on a schedule, every result stored,
//! status along failure/recovery thresholds, incidents with a timeline,
//! heartbeats, and announcements of what changed.

pub mod checks;
pub mod domain;
pub mod figures;
pub mod http;
mod scheduler;
mod service;
pub mod store;
pub mod wire;

pub use scheduler::{Scheduler, SchedulerMetrics};
pub use service::{MonitoringError, MonitoringService};
