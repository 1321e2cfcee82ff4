//! Inbox rules: addressing, idempotent creates, all-or-nothing
//! announcements, reads scoped to the caller, and the expiry/retention
//! cleanup.

use chrono::{DateTime, Utc};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use serde_json::Value;

use super::domain::{Audience, Content, Filter, IdempotencyKey, Notification, Position, RawContent, TypeCount};
use super::store::{AnnounceError, Announced, NotificationStore};
use crate::accounts::AccountStore;
use crate::clock::Clock;
use crate::realtime::Bus;
use crate::storage::{Db, StorageError};

/// What inbox operations answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    #[error("invalid notification")]
    Invalid(Vec<crate::validation::FieldError>),
    /// The addressed user does not exist; `field` says how it was addressed.
    #[error("no such user")]
    UnknownUser { field: &'static str },
    #[error("unknown recipients: {}", .0.join(", "))]
    UnknownRecipients(Vec<String>),
    #[error("notification not found")]
    NotFound,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// How a single notification is addressed.
#[derive(Debug, Clone)]
pub enum Recipient {
    UserId(i64),
    ExternalId(String),
}

/// A create's result: the notification, and whether this call made it
/// (false: an earlier call with the same idempotency key did).
#[derive(Debug, Clone)]
pub struct Created<T> {
    pub value: T,
    pub created: bool,
}

/// What one cleanup pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cleaned {
    pub expired: u64,
    pub read: u64,
}

/// Inbox operations.
#[derive(Clone)]
pub struct NotificationService {
    store: NotificationStore,
    accounts: AccountStore,
    clock: Clock,
    bus: Bus,
    cleaned_expired: Counter,
    cleaned_read: Counter,
}

impl NotificationService {
    pub fn new(db: Db, clock: Clock, bus: Bus) -> Self {
        Self {
            store: NotificationStore::new(db.clone()),
            accounts: AccountStore::new(db),
            clock,
            bus,
            cleaned_expired: Counter::default(),
            cleaned_read: Counter::default(),
        }
    }

    /// Add this service's figures to the `/metrics` registry.
    pub fn register_metrics(&self, registry: &mut Registry) {
        registry.register(
            "herald_notifications_expired_deleted",
            "Expired notifications deleted by the cleanup job",
            self.cleaned_expired.clone(),
        );
        registry.register(
            "herald_notifications_read_purged",
            "Read notifications purged after the retention period",
            self.cleaned_read.clone(),
        );
    }

    /// Create one notification, or return the one an earlier call with the
    /// same idempotency key created for the same user.
    pub async fn create(
        &self,
        to: Recipient,
        raw: RawContent,
        key: Option<IdempotencyKey>,
    ) -> Result<Created<Notification>, NotificationError> {
        let now = self.clock.now();
        let content = Content::parse(raw, now).map_err(NotificationError::Invalid)?;
        let user_id = match to {
            Recipient::UserId(id) => id,
            Recipient::ExternalId(external) => {
                let user = self.accounts.user_by_external_id(&external).await?;
                user.ok_or(NotificationError::UnknownUser { field: "external_id" })?.id
            }
        };
        if let Some(key) = &key
            && let Some(existing) = self.store.by_idempotency_key(user_id, key).await?
        {
            return Ok(Created { value: existing, created: false });
        }
        match self.store.insert(user_id, &content, key.as_ref(), now).await {
            Ok(n) => {
                self.bus.created(&n);
                Ok(Created { value: n, created: true })
            }
            Err(StorageError::NotFound) => Err(NotificationError::UnknownUser { field: "user_id" }),
            // A concurrent retry won the race for this key: answer with its result.
            Err(StorageError::Conflict { .. }) if key.is_some() => {
                let key = key.as_ref().ok_or(NotificationError::NotFound)?;
                let existing = self.store.by_idempotency_key(user_id, key).await?;
                existing.map(|n| Created { value: n, created: false }).ok_or(NotificationError::NotFound)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Send one notification to an audience in one transaction.
    pub async fn announce(
        &self,
        created_by: i64,
        audience: Audience,
        audience_json: &Value,
        raw: RawContent,
        key: Option<IdempotencyKey>,
    ) -> Result<Created<Announced>, NotificationError> {
        let now = self.clock.now();
        let content = Content::parse(raw, now).map_err(NotificationError::Invalid)?;
        if let Some(key) = &key
            && let Some(existing) = self.store.announcement_by_key(created_by, key).await?
        {
            return Ok(Created { value: existing, created: false });
        }
        match self.store.announce(created_by, &audience, audience_json, &content, key.as_ref(), now).await {
            Ok(a) => {
                tracing::info!(announcement_id = a.id, recipients = a.recipients, "announcement sent");
                self.bus.announced(a.id).await;
                Ok(Created { value: a, created: true })
            }
            Err(AnnounceError::UnknownRecipients(ids)) => Err(NotificationError::UnknownRecipients(ids)),
            Err(AnnounceError::Storage(StorageError::Conflict { .. })) if key.is_some() => {
                let key = key.as_ref().ok_or(NotificationError::NotFound)?;
                let existing = self.store.announcement_by_key(created_by, key).await?;
                existing.map(|a| Created { value: a, created: false }).ok_or(NotificationError::NotFound)
            }
            Err(AnnounceError::Storage(e)) => Err(e.into()),
        }
    }

    /// A page of the user's inbox; fetches `limit` rows.
    pub async fn list(
        &self,
        user_id: i64,
        filter: &Filter,
        position: Position,
        limit: i64,
    ) -> Result<Vec<Notification>, NotificationError> {
        Ok(self.store.list(user_id, filter, position, limit, self.clock.now()).await?)
    }

    pub async fn get(&self, user_id: i64, id: i64) -> Result<Notification, NotificationError> {
        self.store.get(user_id, id, self.clock.now()).await?.ok_or(NotificationError::NotFound)
    }

    /// Mark read or unread; every socket of the user hears of it.
    pub async fn set_read(&self, user_id: i64, id: i64, read: bool) -> Result<Notification, NotificationError> {
        let n = self.store.set_read(user_id, id, read, self.clock.now()).await?.ok_or(NotificationError::NotFound)?;
        self.bus.updated(&n);
        Ok(n)
    }

    /// Mark everything (up to a cursor) read; returns what changed.
    pub async fn read_all(&self, user_id: i64, up_to: Option<i64>) -> Result<Vec<Notification>, NotificationError> {
        let changed = self.store.read_all(user_id, up_to, self.clock.now()).await?;
        for n in &changed {
            self.bus.updated(n);
        }
        Ok(changed)
    }

    pub async fn delete(&self, user_id: i64, id: i64) -> Result<(), NotificationError> {
        if !self.store.delete(user_id, id, self.clock.now()).await? {
            return Err(NotificationError::NotFound);
        }
        self.bus.deleted(user_id, id);
        Ok(())
    }

    /// The cursor of the user's newest notification (0 when none).
    pub async fn current_cursor(&self, user_id: i64) -> Result<i64, NotificationError> {
        Ok(self.store.current_cursor(user_id).await?)
    }

    pub async fn stats(&self, user_id: i64) -> Result<Vec<TypeCount>, NotificationError> {
        Ok(self.store.stats(user_id, self.clock.now()).await?)
    }

    /// Delete expired notifications and those read before `now - retention`,
    /// in batches of `batch` rows so no statement holds locks for long.
    pub async fn cleanup_once(&self, retention: chrono::Duration, batch: i64) -> Result<Cleaned, StorageError> {
        let now = self.clock.now();
        let expired = in_batches(batch, &self.cleaned_expired, || self.store.delete_expired(now, batch)).await?;
        let before: DateTime<Utc> = now - retention;
        let read = in_batches(batch, &self.cleaned_read, || self.store.delete_read_before(before, batch)).await?;
        Ok(Cleaned { expired, read })
    }
}

/// Run `delete` (one batch of at most `batch` rows) until a batch comes
/// back short; counts the rows in `counter` and returns them.
async fn in_batches<F, Fut>(batch: i64, counter: &Counter, mut delete: F) -> Result<u64, StorageError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u64, StorageError>>,
{
    let mut total = 0;
    loop {
        let n = delete().await?;
        total += n;
        counter.inc_by(n);
        if n < batch as u64 {
            return Ok(total);
        }
    }
}
