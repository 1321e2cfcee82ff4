//! Publishing events to sockets — on this instance directly (SQLite), or to
//! every instance through PostgreSQL `LISTEN/NOTIFY` — and the listener
//! that turns notifications from the database back into deliveries.

use std::sync::Arc;

use chrono::Utc;
use sqlx::postgres::{PgListener, PgPoolOptions};
use tokio_util::sync::CancellationToken;

use super::hub::{Delivery, Hub};
use super::wire::{CHANNEL, MAX_PAYLOAD, Wire};
use crate::accounts::TokenCache;
use crate::notifications::http::NotificationOut;
use crate::notifications::{Notification, NotificationStore};
use crate::storage::{Db, Pool};
use crate::workers::{Backoff, Beat};

/// Where events go. Cheap to clone.
#[derive(Clone)]
pub struct Bus {
    hub: Hub,
    db: Db,
    store: NotificationStore,
    tokens: TokenCache,
}

/// A listening PostgreSQL connection, ready before the server accepts sockets.
pub struct Listener(Option<PgListener>);

impl Bus {
    pub fn new(db: Db, hub: Hub, tokens: TokenCache) -> Self {
        Self { store: NotificationStore::new(db.clone()), hub, db, tokens }
    }

    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    fn distributed(&self) -> bool {
        matches!(self.db.pool(), Pool::Postgres(_))
    }

    /// A notification was committed. On PostgreSQL the insert statement
    /// itself sent the NOTIFY, so only SQLite delivers here.
    pub fn created(&self, n: &Notification) {
        if !self.distributed() {
            self.deliver_new(n.clone());
        }
    }

    /// An announcement was committed (PostgreSQL: its transaction notified).
    pub async fn announced(&self, announcement_id: i64) {
        if !self.distributed() {
            self.deliver_announcement(announcement_id).await;
        }
    }

    /// A notification's read state changed.
    pub async fn updated(&self, n: &Notification) {
        if self.distributed() {
            self.notify(Wire::Updated { u: n.user_id, i: n.id }).await;
        } else {
            self.hub.to_user(n.user_id, Delivery::Updated(Arc::new(n.clone().into())));
        }
    }

    /// A notification was deleted.
    pub async fn deleted(&self, user_id: i64, id: i64) {
        if self.distributed() {
            self.notify(Wire::Deleted { u: user_id, i: id }).await;
        } else {
            self.hub.to_user(user_id, Delivery::Deleted(id));
        }
    }

    /// A token was revoked: other instances drop it from their auth cache
    /// (this one already has).
    pub async fn token_revoked(&self, token_id: i64) {
        if self.distributed() {
            self.notify(Wire::Revoked { t: token_id }).await;
        }
    }

    /// Send a rendered message to every socket on `channel`, on every instance.
    pub async fn channel(&self, channel: &str, message: String) {
        self.channel_many(channel, vec![message]).await;
    }

    /// Send several rendered messages to every socket on `channel`, on
    /// every instance, in order: one round trip for all of them (a burst of
    /// status changes was a connection checkout and a NOTIFY each).
    pub async fn channel_many(&self, channel: &str, messages: Vec<String>) {
        let mut payloads = Vec::with_capacity(messages.len());
        for m in messages {
            let wire = Wire::Channel { ch: channel.to_string(), m };
            let payload = wire.to_json();
            match wire {
                Wire::Channel { ch, m } if !self.distributed() || payload.len() > MAX_PAYLOAD => {
                    if self.distributed() {
                        tracing::warn!(channel = %ch, bytes = payload.len(), "channel message too large for NOTIFY; delivered on this instance only");
                    }
                    self.hub.to_channel(&ch, Arc::from(m));
                }
                _ => payloads.push(payload),
            }
        }
        self.notify_all(&payloads).await;
    }

    async fn notify(&self, wire: Wire) {
        self.notify_all(&[wire.to_json()]).await;
    }

    /// NOTIFY each payload, in order, in one statement (PostgreSQL only).
    async fn notify_all(&self, payloads: &[String]) {
        const SQL: &str = "SELECT pg_notify($1, p) FROM unnest($2::text[]) WITH ORDINALITY AS t(p, i) ORDER BY i";
        if payloads.is_empty() {
            return;
        }
        if let Pool::Postgres(p) = self.db.pool() {
            let sent = async {
                let mut c = self.db.acquire(p).await?;
                let q = sqlx::query(SQL).bind(CHANNEL).bind(payloads);
                self.db.observe("realtime.notify", SQL, q.execute(&mut *c)).await
            };
            // The writes they report on have committed; a lost event is
            // healed by the sockets' cursor catch-up, so log and go on.
            if let Err(e) = sent.await {
                tracing::warn!(error = %e, events = payloads.len(), "could not publish realtime events");
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

    /// Turn one NOTIFY payload into deliveries for this instance's sockets.
    async fn handle(&self, payload: &str) {
        let wire: Wire = match serde_json::from_str(payload) {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "ignoring an unreadable realtime event");
                return;
            }
        };
        let load = |id| async move {
            match self.store.live_by_id(id, Utc::now()).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(id, error = %e, "could not load a notification for delivery");
                    None
                }
            }
        };
        match wire {
            Wire::New { u, i, .. } if self.hub.has_user(u) => {
                if let Some(n) = load(i).await {
                    self.deliver_new(n);
                }
            }
            Wire::Updated { u, i } if self.hub.has_user(u) => {
                if let Some(n) = load(i).await {
                    self.hub.to_user(u, Delivery::Updated(Arc::new(n.into())));
                }
            }
            Wire::Deleted { u, i } => self.hub.to_user(u, Delivery::Deleted(i)),
            Wire::Announcement { a } => self.deliver_announcement(a).await,
            Wire::Channel { ch, m } => self.hub.to_channel(&ch, Arc::from(m)),
            Wire::Revoked { t } => self.tokens.forget_token(t),
            // Nobody here to tell.
            Wire::New { .. } | Wire::Updated { .. } => {}
        }
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
