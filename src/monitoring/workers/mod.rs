//! Monitoring's background work, each run by the supervisor in
//! [`crate::workers`]: the check scheduler (claims due checks, runs them,
//! stores their results), housekeeping (rollups and retention) and service
//! alert evaluation.

mod housekeeping;
mod scheduler;
pub mod service_alerts;

pub use housekeeping::Housekeeping;
pub use scheduler::{Scheduler, SchedulerMetrics};
pub use service_alerts::ServiceAlerts;
