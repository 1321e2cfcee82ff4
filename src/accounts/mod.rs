//! Users, roles and API tokens: who may call herald and as what.

mod cache;
mod domain;
pub mod http;
pub mod password;
mod service;
pub mod session;
mod store;

pub use cache::TokenCache;
pub use domain::{Email, ExternalId, Label, Principal, RawToken, Role, Token, User};
pub use password::Password;
pub use service::{AccountError, AccountService, SessionPurge, UsageFlush};
pub use session::{RawSessionId, SetupToken};
pub use store::AccountStore;
