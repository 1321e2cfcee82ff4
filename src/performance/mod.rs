//! The database performance monitor: periodic samples of the pool, query
//! times, slow statements, errors, memory and PostgreSQL's own figures;
//! alert rules over them; trends and recommendations in a report
//! (`/api/v1/system/performance…`, `herald report`).

pub mod http;
mod memory;
mod monitor;
pub mod report;
pub mod rules;
pub mod sample;
pub mod store;

pub use monitor::{PerformanceMonitor, Sampler, report_from_storage};
