//! Publishing events to sockets: on this instance directly, and (on
//! PostgreSQL) to every other instance through batched `LISTEN/NOTIFY`
//! announcements sent after the change committed; the listener that turns
//! other instances' batches back into deliveries; and the sweep that finds
//! what a lost batch did not say.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sqlx::postgres::{PgListener, PgPoolOptions};
use tokio_util::sync::CancellationToken;

use super::announcer::Announcer;
use super::hub::{Delivery, Hub};
use super::wire::{Batch, CHANNEL, Wire};
use crate::accounts::TokenCache;
use crate::notifications::http::NotificationOut;
use crate::notifications::{Notification, NotificationStore};
use crate::storage::{Db, Pool, StorageError};
use crate::workers::{Backoff, Beat};

/// Users whose cursors one sweep query reads.
const SWEEP_CHUNK: usize = 5_000;

/// Where events go. Cheap to clone.
#[derive(Clone)]
pub struct Bus {
    hub: Hub,
    store: NotificationStore,
    tokens: TokenCache,
    db: Db,
    /// PostgreSQL: tells the other instances, in batches.
    announcer: Option<Announcer>,
    /// This instance, as its batches name it (its own are not re-delivered).
    origin: u64,
}

/// A listening PostgreSQL connection, ready before the server accepts sockets.
pub struct Listener(Option<PgListener>);

impl Bus {
    /// `linger`: how long an announcement batch gathers after its first
    /// event (`realtime.announce_batch_ms`).
    pub fn new(db: Db, hub: Hub, tokens: TokenCache, linger: Duration) -> Self {
        let origin = rand::random();
        let announcer = match db.pool() {
            Pool::Postgres(p) => Some(Announcer::new((*p.connect_options()).clone(), origin, linger)),
            Pool::Sqlite(_) => None,
        };
        Self { store: NotificationStore::new(db.clone()), hub, tokens, db, announcer, origin }
    }

    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// The announcer's worker side (PostgreSQL only).
    pub fn announcer(&self) -> Option<Announcer> {
        self.announcer.clone()
    }

    /// Tell the other instances (no-op on SQLite, which has none).
    fn announce(&self, event: Wire) {
        if let Some(announcer) = &self.announcer {
            announcer.announce(event);
        }
    }

    /// A notification was committed.
    pub fn created(&self, n: &Notification) {
        self.announce(Wire::New { u: n.user_id, i: n.id, c: n.cursor });
        self.deliver_new(n.clone());
    }

    /// An announcement was committed.
    pub async fn announced(&self, announcement_id: i64) {
        self.announce(Wire::Announcement { a: announcement_id });
        self.deliver_announcement(announcement_id).await;
    }

    /// A notification's read state changed.
    pub fn updated(&self, n: &Notification) {
        self.announce(Wire::Updated { u: n.user_id, i: n.id });
        self.hub.to_user(n.user_id, Delivery::Updated(Arc::new(n.clone().into())));
    }

    /// A notification was deleted.
    pub fn deleted(&self, user_id: i64, id: i64) {
        self.announce(Wire::Deleted { u: user_id, i: id });
        self.hub.to_user(user_id, Delivery::Deleted(id));
    }

    /// A token was revoked: other instances drop it from their auth cache
    /// (this one already has).
    pub fn token_revoked(&self, token_id: i64) {
        self.announce(Wire::Revoked { t: token_id });
    }

    /// Send a rendered message to every socket on `channel`, on every instance.
    pub fn channel(&self, channel: &str, message: String) {
        self.channel_many(channel, vec![message]);
    }

    /// Send several rendered messages to every socket on `channel`, on
    /// every instance, in order (other instances get them in one batch).
    pub fn channel_many(&self, channel: &str, messages: Vec<String>) {
        for m in messages {
            self.hub.to_channel(channel, Arc::from(m.as_str()));
            // Built only when there are other instances to tell.
            if let Some(announcer) = &self.announcer {
                announcer.announce(Wire::Channel { ch: channel.to_string(), m });
            }
        }
    }

    fn deliver_new(&self, n: Notification) {
        let lag = (Utc::now() - n.created_at).num_microseconds().unwrap_or(0).max(0) as f64 / 1e6;
        self.hub.metrics.lag.observe(lag);
        let user_id = n.user_id;
        self.hub.to_user(user_id, Delivery::New(Arc::new(NotificationOut::from(n))));
    }

    async fn deliver_announcement(&self, announcement_id: i64) {
        let users = self.hub.users();
        for chunk in users.chunks(5_000) {
            match self.store.of_announcement(announcement_id, chunk).await {
                Ok(rows) => rows.into_iter().for_each(|n| self.deliver_new(n)),
                Err(e) => tracing::warn!(announcement_id, error = %e, "could not load an announcement for delivery"),
            }
        }
    }

    /// Turn another instance's batch into deliveries for this instance's
    /// sockets: the rows they need are loaded in one query.
    async fn handle(&self, payload: &str) {
        let batch: Batch = match serde_json::from_str(payload) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "ignoring an unreadable realtime event");
                return;
            }
        };
        if batch.o == self.origin {
            // Delivered here when it committed.
            return;
        }
        let wanted: Vec<i64> = batch
            .e
            .iter()
            .filter_map(|w| match w {
                Wire::New { u, i, .. } | Wire::Updated { u, i } if self.hub.has_user(*u) => Some(*i),
                _ => None,
            })
            .collect();
        let rows: HashMap<i64, Notification> = if wanted.is_empty() {
            HashMap::new()
        } else {
            match self.store.live_by_ids(&wanted, Utc::now()).await {
                Ok(rows) => rows.into_iter().map(|n| (n.id, n)).collect(),
                Err(e) => {
                    // New ones are found again by the sweep.
                    tracing::warn!(events = wanted.len(), error = %e, "could not load notifications for delivery");
                    HashMap::new()
                }
            }
        };
        for wire in batch.e {
            match wire {
                Wire::New { i, .. } => {
                    if let Some(n) = rows.get(&i) {
                        self.deliver_new(n.clone());
                    }
                }
                Wire::Updated { u, i } => {
                    if let Some(n) = rows.get(&i) {
                        self.hub.to_user(u, Delivery::Updated(Arc::new(n.clone().into())));
                    }
                }
                Wire::Deleted { u, i } => self.hub.to_user(u, Delivery::Deleted(i)),
                Wire::Announcement { a } => self.deliver_announcement(a).await,
                Wire::Channel { ch, m } => self.hub.to_channel(&ch, Arc::from(m)),
                Wire::Revoked { t } => self.tokens.forget_token(t),
            }
        }
    }

    /// Compare every user with a socket here against the database: a user
    /// whose newest cursor is past what this instance delivered missed an
    /// announcement (its writer died between commit and batch, or a batch
    /// was lost), and their sockets fill the gap. Returns how many users
    /// were behind.
    pub async fn sweep(&self) -> Result<usize, StorageError> {
        let mut behind = 0;
        for chunk in self.hub.users().chunks(SWEEP_CHUNK) {
            for (user_id, cursor) in self.store.cursors(chunk).await? {
                if self.hub.behind(user_id, cursor) {
                    behind += 1;
                }
            }
        }
        Ok(behind)
    }

    /// On PostgreSQL, connect and LISTEN now, so that once the server is
    /// ready no event is missed. On SQLite there is nothing to listen to.
    pub async fn listen(&self) -> anyhow::Result<Listener> {
        match self.db.pool() {
            Pool::Postgres(_) => Ok(Listener(Some(self.connect_listener().await?))),
            Pool::Sqlite(_) => Ok(Listener(None)),
        }
    }

    /// A dedicated connection, outside the pool so it never takes a slot
    /// from requests.
    async fn connect_listener(&self) -> Result<PgListener, sqlx::Error> {
        let Pool::Postgres(pool) = self.db.pool() else { return Err(sqlx::Error::PoolClosed) };
        let options = (*pool.connect_options()).clone();
        let own = PgPoolOptions::new().max_connections(1).min_connections(0).connect_lazy_with(options);
        let mut listener = PgListener::connect_with(&own).await?;
        listener.listen(CHANNEL).await?;
        Ok(listener)
    }

    /// Deliver NOTIFY events until `stop`. A lost connection is re-made with
    /// capped backoff; then every socket reloads what it may have missed.
    pub async fn run_listener(self, listener: Listener, backoff: Backoff, stop: CancellationToken, beat: Beat) {
        let Some(mut listener) = listener.0 else { return };
        beat.succeeded();
        loop {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    received = listener.try_recv() => match received {
                        Ok(Some(n)) => {
                            self.handle(n.payload()).await;
                            beat.succeeded();
                        }
                        Ok(None) => { tracing::warn!("realtime listener lost its connection"); break }
                        Err(e) => { tracing::warn!(error = %e, "realtime listener failed"); break }
                    }
                }
            }
            let mut retry = 0;
            listener = loop {
                match self.connect_listener().await {
                    Ok(l) => break l,
                    Err(e) => {
                        retry += 1;
                        let delay = backoff.delay(retry);
                        tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "realtime listener reconnecting");
                        tokio::select! {
                            _ = stop.cancelled() => return,
                            _ = tokio::time::sleep(delay) => {}
                        }
                    }
                }
            };
            beat.succeeded();
            tracing::info!("realtime listener reconnected; sockets catch up on what they may have missed");
            // Revocations may have gone by unheard too.
            self.tokens.clear();
            self.hub.resync_all();
        }
    }
}

/// The periodic sweep as a supervised worker (PostgreSQL): it bounds how
/// late a notification whose announcement was lost reaches a socket here.
pub struct Sweep(pub Bus);

impl crate::workers::Worker for Sweep {
    async fn pass(&mut self) -> anyhow::Result<crate::workers::Pass> {
        use anyhow::Context;
        let behind = self.0.sweep().await.context("could not compare realtime cursors")?;
        if behind > 0 {
            tracing::info!(users = behind, "realtime sweep found users behind the database; their sockets catch up");
        }
        Ok(crate::workers::Pass::Idle)
    }
}
