//! Alerting: where alerts go ([`channels`]).

pub mod channels;
