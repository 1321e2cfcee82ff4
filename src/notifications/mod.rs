//! The per-user notification inbox: single creates, announcements to an
//! audience, reads, read state, statistics and cleanup.

mod cleanup;
mod domain;
pub mod http;
mod service;
mod store;

pub use cleanup::Cleanup;
pub use domain::{Audience, Content, Filter, IdempotencyKey, Kind, Notification, Position, RawContent, TypeCount};
pub use service::{Cleaned, Created, NotificationError, NotificationService, Recipient};
pub use store::{Announced, NotificationStore};
