//! Alerting: one pipeline for database and service alerts — conditions
//! fire once, escalate and resolve after a hold ([`AlertService`]); each
//! firing and resolution goes through a database outbox ([`outbox`]) to
//! the delivery [`channels`].

pub mod channels;
pub mod http;
pub mod lifecycle;
pub mod outbox;
mod service;
pub mod store;
pub mod wire;

pub use lifecycle::Condition;
pub use outbox::{DeliveryMetrics, Outbox};
pub use service::{AlertError, AlertService, ChannelIn, SOURCES, public_config};
