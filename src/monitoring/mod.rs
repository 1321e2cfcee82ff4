//! Service monitoring: real checks on a schedule, every result stored,
//! status along failure/recovery thresholds, incidents with a timeline,
//! heartbeats, and announcements of what changed.

//!
//! - [`checks`]: performing one check (HTTP, TCP, DNS, TLS, heartbeat).
//! - [`domain`]: the rules as plain values (status steps, due times,
//!   settings, figures, trends).
//! - [`service`]: what monitoring does, one file per thing.
//! - [`workers`]: the background loops (the check scheduler,
//!   housekeeping, service alerts).
//! - [`store`]: the tables, on both backends.
//! - [`http`]: the routes and the wire types.

pub mod checks;
pub mod domain;
pub mod http;
pub mod service;
pub mod store;
pub mod workers;

pub use service::{MonitoringError, MonitoringService};
pub use workers::{Housekeeping, Scheduler, SchedulerMetrics, ServiceAlerts};
