//! herald: service monitoring, a per-user notification inbox and database
//! self-monitoring, in one binary over SQLite or PostgreSQL.
//!
//! `main.rs` parses the command line and calls in here; [`App`] is the
//! server, built from a [`config::Config`].
#![forbid(unsafe_code)]

pub mod accounts;
pub mod alerts;
pub mod app;
pub mod clock;
pub mod config;
pub mod http;
pub mod monitoring;
pub mod notifications;
pub mod performance;
pub mod realtime;
pub mod secret;
pub mod state;
pub mod storage;
pub mod system;
pub mod telemetry;
pub mod validation;
pub mod web;
pub mod workers;

pub use app::App;
