//! The process and its database, seen from outside: liveness, readiness,
//! Prometheus metrics and live pool figures.

pub mod http;
