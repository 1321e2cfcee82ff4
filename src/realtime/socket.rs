//! One WebSocket connection: authenticate, subscribe (pending list or
//! catch-up after a cursor), then relay live deliveries — exactly once and
//! in order per user, because each socket remembers the last cursor it sent
//! and fills any gap from the database.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};

use super::hub::{Delivery, Membership, Next, Outbox};
use super::protocol::{CHANNELS, ClientMessage, ServerMessage};
use crate::accounts::{Principal, Role};
use crate::notifications::http::NotificationOut;
use crate::notifications::{Filter, NotificationError, Position};
use crate::state::AppState;

/// Close codes (RFC 6455).
const GOING_AWAY: u16 = 1001;
const POLICY: u16 = 1008;
const NORMAL: u16 = 1000;

/// Rows per catch-up query.
const PAGE: i64 = 200;

type Sink = SplitSink<WebSocket, Message>;

/// Serve one upgraded connection; `principal` is set when the upgrade
/// request carried a valid token.
///
/// Not an `async fn`: the `WebSocket` is split before the future is built,
/// so the future (which every idle socket's task holds) does not also keep
/// a moved-out copy of it.
pub fn serve(socket: WebSocket, state: AppState, principal: Option<Principal>) -> impl Future<Output = ()> + Send {
    let (sink, stream) = socket.split();
    Session { state, sink, subscribed: false, last_cursor: 0, outbox: None }.serve(stream, principal.map(Caller::from))
}

struct Session {
    state: AppState,
    sink: Sink,
    subscribed: bool,
    /// Cursor of the newest notification this socket has sent.
    last_cursor: i64,
    /// This socket's queue in the hub, once it has joined.
    outbox: Option<Arc<Outbox>>,
}

/// Who the socket belongs to: all a session needs of its principal, kept
/// small because every idle socket holds it.
#[derive(Clone, Copy)]
struct Caller {
    user_id: i64,
    /// Operators and admins, who may receive the `services` and `incidents` channels.
    staff: bool,
    /// Everyone but senders: an application's token writes to inboxes and reads none.
    inbox: bool,
}

impl From<Principal> for Caller {
    fn from(p: Principal) -> Self {
        Caller {
            user_id: p.user.id,
            staff: p.is(&[Role::Admin, Role::Operator]),
            inbox: p.is(&[Role::Admin, Role::Operator, Role::Member]),
        }
    }
}

/// Why a socket ended (the `reason` label of `herald_ws_closed_total`).
type Reason = &'static str;

impl Session {
    async fn serve(mut self, stream: SplitStream<WebSocket>, caller: Option<Caller>) {
        self.state.realtime.bus.hub().metrics.open.inc();
        let reason = self.run(stream, caller).await;
        let metrics = &self.state.realtime.bus.hub().metrics;
        metrics.open.dec();
        metrics.closed(reason);
    }

    /// The session loop. Everything held across its `select!` lives in
    /// every idle socket's task, so rare paths (closing, handlers, writes)
    /// are boxed: their futures are allocated while they run, not reserved
    /// in each task.
    async fn run(&mut self, mut stream: SplitStream<WebSocket>, caller: Option<Caller>) -> Reason {
        let cfg = &self.state.config.realtime;
        let (auth_timeout, idle_timeout, ping_every) = (
            Duration::from_secs(cfg.auth_timeout_seconds),
            Duration::from_secs(cfg.idle_timeout_seconds),
            Duration::from_secs(cfg.ping_interval_seconds),
        );
        let caller = match caller {
            Some(c) => c,
            None => match Box::pin(self.authenticate(&mut stream, auth_timeout)).await {
                Ok(p) => Caller::from(p),
                Err(reason) => return reason,
            },
        };
        let user_id = caller.user_id;
        let Ok(membership) = self.state.realtime.bus.hub().join(user_id) else {
            Box::pin(self.close(POLICY, "too many sockets for this user")).await;
            return "too_many_sockets";
        };
        if Box::pin(self.send(ServerMessage::Authenticated { user_id }.to_json())).await.is_err() {
            return "write_failed";
        }
        let shutdown = self.state.realtime.shutdown.clone();
        let outbox = membership.outbox.clone();
        self.outbox = Some(outbox.clone());
        let mut ping = tokio::time::interval(ping_every);
        ping.tick().await;
        let mut last_seen = Instant::now();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => {
                    Box::pin(self.close(GOING_AWAY, "server shutting down")).await;
                    return "shutdown";
                }
                _ = ping.tick() => {
                    if last_seen.elapsed() > idle_timeout {
                        Box::pin(self.close(NORMAL, "idle timeout")).await;
                        return "idle_timeout";
                    }
                    if Box::pin(self.write(Message::Ping(Default::default()))).await.is_err() {
                        return Box::pin(self.write_failed()).await;
                    }
                }
                frame = stream.next() => {
                    last_seen = Instant::now();
                    let outcome = match frame {
                        // Boxed: the handler's future (database queries and all)
                        // is allocated while it runs, not kept in every idle
                        // socket's task.
                        Some(Ok(Message::Text(text))) => {
                            Box::pin(self.on_text(text.as_str(), caller, &membership)).await
                        }
                        Some(Ok(Message::Binary(_))) => {
                            Box::pin(self.error("unsupported", "binary frames are not supported; send JSON text")).await
                        }
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => Ok(()),
                        Some(Ok(Message::Close(_))) | None => return "client_closed",
                        Some(Err(e)) => {
                            tracing::debug!(error = %e, "websocket read failed");
                            return "protocol_error";
                        }
                    };
                    if outcome.is_err() {
                        return Box::pin(self.write_failed()).await;
                    }
                }
                next = outbox.next() => {
                    let delivered = match next {
                        Next::Deliver(delivery) => Box::pin(self.deliver(user_id, delivery)).await,
                        Next::Overflowed => Err(()),
                    };
                    if delivered.is_err() {
                        return Box::pin(self.write_failed()).await;
                    }
                }
            }
        }
    }

    /// Wait for an `auth` message from a socket opened without a token.
    async fn authenticate(
        &mut self,
        stream: &mut SplitStream<WebSocket>,
        within: Duration,
    ) -> Result<Principal, Reason> {
        let first = match tokio::time::timeout(within, stream.next()).await {
            Err(_) => {
                let reason = format!("authentication required within {} s", within.as_secs());
                self.close(POLICY, &reason).await;
                return Err("auth_timeout");
            }
            Ok(Some(Ok(Message::Text(text)))) => text,
            Ok(_) => return Err("client_closed"),
        };
        let token = match serde_json::from_str::<ClientMessage>(first.as_str()) {
            Ok(ClientMessage::Auth { token }) => token,
            _ => {
                self.close(POLICY, "the first message must be {\"type\":\"auth\",\"token\":…}").await;
                return Err("auth_failed");
            }
        };
        match self.state.accounts.authenticate(&token).await {
            Ok(p) => Ok(p),
            Err(_) => {
                self.close(POLICY, "invalid, expired or revoked token").await;
                Err("auth_failed")
            }
        }
    }

    async fn on_text(&mut self, text: &str, caller: Caller, membership: &Membership) -> Result<(), ()> {
        let limit = self.state.config.realtime.max_message_bytes;
        if text.len() > limit {
            return self.error("message_too_large", &format!("messages are limited to {limit} bytes")).await;
        }
        let message = match serde_json::from_str::<ClientMessage>(text) {
            Ok(m) => m,
            Err(e) => return self.error("bad_message", &e.to_string()).await,
        };
        let user_id = caller.user_id;
        match message {
            ClientMessage::Ping => self.send(ServerMessage::Pong.to_json()).await,
            ClientMessage::Auth { .. } => self.error("bad_message", "already authenticated").await,
            ClientMessage::Subscribe { .. } | ClientMessage::Read { .. } if !caller.inbox => {
                self.error("forbidden", "a sender's token reads no inbox").await
            }
            ClientMessage::Subscribe { after } => match self.subscribe(user_id, after).await {
                Ok(()) => Ok(()),
                Err(SendOr::Send) => Err(()),
                Err(SendOr::Failed(e)) => self.failure(e).await,
            },
            ClientMessage::Read { ids, up_to_cursor } => self.read(user_id, ids, up_to_cursor).await,
            ClientMessage::ChannelSubscribe { channel } => {
                let Some(channel) = CHANNELS.iter().find(|c| **c == channel) else {
                    return self.error("unknown_channel", &format!("channels are {}", CHANNELS.join(", "))).await;
                };
                if !caller.staff {
                    return self.error("forbidden", "only operators and admins receive channels").await;
                }
                membership.subscribe_channel(channel);
                self.send(ServerMessage::ChannelSubscribed { channel }.to_json()).await
            }
        }
    }

    /// Send the pending list, or everything after `after`, then go live.
    /// The socket is already registered, so anything committed meanwhile
    /// waits in its queue and is de-duplicated by cursor.
    async fn subscribe(&mut self, user_id: i64, after: Option<i64>) -> Result<(), SendOr> {
        let notifications = &self.state.notifications;
        // Read the user's newest cursor before the list: whatever commits in
        // between shows up in the list (and raises last_cursor below).
        let newest = notifications.current_cursor(user_id).await?;
        let (mut items, complete) = match after {
            Some(after) => {
                let from = after.clamp(0, newest);
                let page = notifications.list(user_id, &Filter::default(), Position::After(from), PAGE).await?;
                self.last_cursor = from;
                let complete = (page.len() as i64) < PAGE;
                (page, complete)
            }
            None => {
                let unread = Filter { unread_only: true, kind: None };
                let mut page = notifications.list(user_id, &unread, Position::Before(None), PAGE).await?;
                page.reverse();
                self.last_cursor = newest;
                (page, true)
            }
        };
        if let Some(last) = items.last() {
            self.last_cursor = self.last_cursor.max(last.cursor);
        }
        let pending: Vec<NotificationOut> = items.drain(..).map(NotificationOut::from).collect();
        self.subscribed = true;
        // The sweep compares what the hub knows with the database.
        self.state.realtime.bus.hub().saw(user_id, self.last_cursor);
        self.send(ServerMessage::Subscribed { pending: &pending }.to_json()).await.map_err(|_| SendOr::Send)?;
        if !complete {
            self.fill(user_id).await?;
        }
        Ok(())
    }

    /// Send every notification after `last_cursor`, oldest first.
    async fn fill(&mut self, user_id: i64) -> Result<(), SendOr> {
        loop {
            let page = self
                .state
                .notifications
                .list(user_id, &Filter::default(), Position::After(self.last_cursor), PAGE)
                .await?;
            let done = (page.len() as i64) < PAGE;
            for n in page {
                self.send_new(&NotificationOut::from(n)).await.map_err(|_| SendOr::Send)?;
            }
            if done {
                self.state.realtime.bus.hub().saw(user_id, self.last_cursor);
                return Ok(());
            }
        }
    }

    async fn deliver(&mut self, user_id: i64, delivery: Delivery) -> Result<(), ()> {
        match delivery {
            Delivery::Channel(message) => self.send(message.to_string()).await,
            _ if !self.subscribed => Ok(()),
            Delivery::New(n) if n.cursor <= self.last_cursor => Ok(()),
            Delivery::New(n) if n.cursor == self.last_cursor + 1 => self.send_new(&n).await,
            // A gap: an event was missed or overtaken; the database has them all.
            Delivery::New(_) | Delivery::Resync => match self.fill(user_id).await {
                Ok(()) => Ok(()),
                Err(SendOr::Send) => Err(()),
                Err(SendOr::Failed(e)) => self.failure(e).await,
            },
            Delivery::Updated(n) => self.send(ServerMessage::Updated { notification: &n }.to_json()).await,
            Delivery::Deleted(id) => self.send(ServerMessage::Deleted { id }.to_json()).await,
        }
    }

    async fn send_new(&mut self, n: &NotificationOut) -> Result<(), ()> {
        self.last_cursor = self.last_cursor.max(n.cursor);
        self.send(ServerMessage::New { notification: n }.to_json()).await
    }

    async fn read(&mut self, user_id: i64, ids: Option<Vec<i64>>, up_to: Option<i64>) -> Result<(), ()> {
        let notifications = self.state.notifications.clone();
        let result: Result<usize, NotificationError> = match (ids, up_to) {
            (Some(ids), None) if ids.len() <= PAGE as usize => {
                let mut updated = 0;
                for id in ids {
                    match notifications.set_read(user_id, id, true).await {
                        Ok(_) => updated += 1,
                        Err(NotificationError::NotFound) => {}
                        Err(e) => return self.failure(e).await,
                    }
                }
                Ok(updated)
            }
            (None, Some(cursor)) => notifications.read_all(user_id, Some(cursor)).await.map(|changed| changed.len()),
            _ => return self.error("bad_message", "give either ids (at most 200) or up_to_cursor").await,
        };
        match result {
            Ok(updated) => self.send(ServerMessage::ReadDone { updated }.to_json()).await,
            Err(e) => self.failure(e).await,
        }
    }

    async fn failure(&mut self, e: NotificationError) -> Result<(), ()> {
        tracing::warn!(error = %e, "realtime request failed");
        self.error("unavailable", "the request could not be completed; retry").await
    }

    async fn error(&mut self, code: &str, message: &str) -> Result<(), ()> {
        self.send(ServerMessage::Error { code, message: message.to_string() }.to_json()).await
    }

    async fn send(&mut self, text: String) -> Result<(), ()> {
        self.write(Message::Text(text.into())).await?;
        self.state.realtime.bus.hub().metrics.sent.inc();
        Ok(())
    }

    /// Why a write failed: a slow consumer gets a close frame with the
    /// reason, queued after what it has not read yet; anything else ends.
    async fn write_failed(&mut self) -> Reason {
        if self.outbox.as_ref().is_some_and(|o| o.is_overflowed()) {
            self.close(POLICY, "slow consumer: send queue full; reconnect and catch up").await;
            "slow_consumer"
        } else {
            "write_failed"
        }
    }

    /// Write one frame, bounded by the write timeout (a peer that stops
    /// reading must not hold this task forever) and abandoned when the hub
    /// declares this socket a slow consumer.
    async fn write(&mut self, message: Message) -> Result<(), ()> {
        let timeout = Duration::from_secs(self.state.config.realtime.write_timeout_seconds);
        // A close frame is still written after an overflow (it says why).
        let abandon = self.outbox.clone().filter(|_| !matches!(message, Message::Close(_)));
        tokio::select! {
            written = tokio::time::timeout(timeout, self.sink.send(message)) => match written {
                Ok(Ok(())) => Ok(()),
                _ => Err(()),
            },
            _ = async {
                match &abandon {
                    Some(outbox) => outbox.overflowed().await,
                    None => std::future::pending().await,
                }
            } => Err(()),
        }
    }

    async fn close(&mut self, code: u16, reason: &str) {
        let frame = CloseFrame { code, reason: reason.to_string().into() };
        let _ = self.write(Message::Close(Some(frame))).await;
    }
}

/// A subscribe step failed either writing (the socket is gone) or reading
/// the database (tell the client, keep the socket).
enum SendOr {
    Send,
    Failed(NotificationError),
}

impl From<NotificationError> for SendOr {
    fn from(e: NotificationError) -> Self {
        SendOr::Failed(e)
    }
}

impl From<crate::storage::StorageError> for SendOr {
    fn from(e: crate::storage::StorageError) -> Self {
        SendOr::Failed(e.into())
    }
}
