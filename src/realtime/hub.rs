//! The sockets this instance holds, by user and by channel, and delivery
//! to them. Delivery never waits on a socket: each has a bounded queue, and
//! a socket whose queue is full is told to close (slow consumer) instead
//! of letting memory grow.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::sync::Notify;

use crate::notifications::http::NotificationOut;

/// Something for one socket to send.
#[derive(Debug, Clone)]
pub enum Delivery {
    New(Arc<NotificationOut>),
    Updated(Arc<NotificationOut>),
    Deleted(i64),
    /// A rendered channel message.
    Channel(Arc<str>),
    /// Events may have been missed (listener reconnected): reload after the last cursor.
    Resync,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

/// Realtime figures for `/metrics`.
#[derive(Clone)]
pub struct RealtimeMetrics {
    pub open: Gauge,
    pub sent: Counter,
    closed: Family<ReasonLabels, Counter>,
    pub lag: Histogram,
}

impl RealtimeMetrics {
    fn new() -> Self {
        Self {
            open: Gauge::default(),
            sent: Counter::default(),
            closed: Family::default(),
            lag: Histogram::new([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0]),
        }
    }

    pub fn closed(&self, reason: &'static str) {
        self.closed.get_or_create(&ReasonLabels { reason }).inc();
    }
}

/// One socket's bounded send queue.
///
/// Hand-rolled rather than a `tokio::sync::mpsc` channel because of what an
/// idle socket costs: a channel allocates its first block of slots (and
/// cache-padded state) up front, about 1.4 KB per socket, while this holds
/// an empty `VecDeque` (no allocation) and a `Notify` until something is
/// queued. Exactly one task — the socket's own — ever waits on it, so a
/// single `Notify` with its stored permit loses no wake-up.
pub struct Outbox {
    queue: Mutex<VecDeque<Delivery>>,
    capacity: usize,
    /// Set once the queue was full: the socket must close as a slow consumer.
    overflowed: AtomicBool,
    ready: Notify,
}

/// What the socket's task takes from its outbox.
pub enum Next {
    Deliver(Delivery),
    /// The queue overflowed: close as a slow consumer.
    Overflowed,
}

impl Outbox {
    fn new(capacity: usize) -> Self {
        Self { queue: Mutex::default(), capacity, overflowed: AtomicBool::new(false), ready: Notify::new() }
    }

    /// Queue `delivery`, or mark the outbox overflowed when it is full.
    fn offer(&self, delivery: Delivery) {
        {
            let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            if queue.len() >= self.capacity {
                self.overflowed.store(true, Ordering::Release);
            } else {
                queue.push_back(delivery);
            }
        }
        self.ready.notify_one();
    }

    /// The next delivery, in order; overflow wins over what is queued.
    pub async fn next(&self) -> Next {
        loop {
            if self.is_overflowed() {
                return Next::Overflowed;
            }
            let popped = {
                let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
                let popped = queue.pop_front();
                if queue.is_empty() && queue.capacity() > 0 {
                    // Give a burst's memory back instead of keeping it per idle socket.
                    queue.shrink_to_fit();
                }
                popped
            };
            if let Some(delivery) = popped {
                return Next::Deliver(delivery);
            }
            self.ready.notified().await;
        }
    }

    /// Resolves once the outbox has overflowed (to abandon a blocked write).
    pub async fn overflowed(&self) {
        while !self.is_overflowed() {
            self.ready.notified().await;
        }
    }

    pub fn is_overflowed(&self) -> bool {
        self.overflowed.load(Ordering::Acquire)
    }
}

/// One subscribed socket, as the hub sees it.
#[derive(Clone)]
struct Peer {
    id: u64,
    outbox: Arc<Outbox>,
}

/// One user's sockets here, and the newest cursor handed to them (or
/// known to be theirs): the sweep compares it with the database.
#[derive(Default)]
struct UserPeers {
    peers: Vec<Peer>,
    cursor: AtomicI64,
}

#[derive(Default)]
struct Peers {
    by_user: HashMap<i64, UserPeers>,
    by_channel: HashMap<&'static str, Vec<Peer>>,
}

/// Registry of this instance's sockets. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    peers: Arc<RwLock<Peers>>,
    next_id: Arc<AtomicU64>,
    queue: usize,
    max_per_user: usize,
    pub metrics: RealtimeMetrics,
}

/// A socket's place in the hub; leaving is automatic on drop.
pub struct Membership {
    hub: Hub,
    id: u64,
    user_id: i64,
    pub outbox: Arc<Outbox>,
}

/// The user already holds the maximum number of sockets.
#[derive(Debug)]
pub struct TooManySockets;

impl Hub {
    pub fn new(queue: usize, max_per_user: usize) -> Self {
        Self {
            peers: Arc::default(),
            next_id: Arc::new(AtomicU64::new(1)),
            queue: queue.max(1),
            max_per_user,
            metrics: RealtimeMetrics::new(),
        }
    }

    pub fn register_metrics(&self, registry: &mut Registry) {
        let m = &self.metrics;
        registry.register("herald_ws_open_sockets", "Open WebSocket connections", m.open.clone());
        registry.register("herald_ws_messages_sent", "Messages sent to WebSocket clients", m.sent.clone());
        registry.register("herald_ws_closed", "WebSocket connections closed, by reason", m.closed.clone());
        registry.register(
            "herald_ws_fanout_lag_seconds",
            "Time from a notification's creation to its hand-off to a socket",
            m.lag.clone(),
        );
    }

    /// Join as a socket of `user_id` (receiving nothing until subscribed).
    pub fn join(&self, user_id: i64) -> Result<Membership, TooManySockets> {
        let outbox = Arc::new(Outbox::new(self.queue));
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut peers = self.peers.write().unwrap_or_else(|e| e.into_inner());
        let user = peers.by_user.entry(user_id).or_default();
        if user.peers.len() >= self.max_per_user {
            return Err(TooManySockets);
        }
        user.peers.push(Peer { id, outbox: outbox.clone() });
        Ok(Membership { hub: self.clone(), id, user_id, outbox })
    }

    /// Whether any socket of this user is here (so loading its row is worth it).
    pub fn has_user(&self, user_id: i64) -> bool {
        self.peers.read().map(|p| p.by_user.contains_key(&user_id)).unwrap_or(false)
    }

    /// Users with a socket here.
    pub fn users(&self) -> Vec<i64> {
        self.peers.read().map(|p| p.by_user.keys().copied().collect()).unwrap_or_default()
    }

    /// The user's newest cursor is at least `cursor` (a socket subscribed
    /// and read it): the sweep need not tell them again.
    pub fn saw(&self, user_id: i64, cursor: i64) {
        if let Ok(p) = self.peers.read()
            && let Some(user) = p.by_user.get(&user_id)
        {
            user.cursor.fetch_max(cursor, Ordering::Relaxed);
        }
    }

    /// The database holds a newer cursor for this user than any delivery
    /// here: tell its sockets to fill the gap. Returns whether it was behind.
    pub fn behind(&self, user_id: i64, cursor: i64) -> bool {
        let targets: Vec<Peer> = match self.peers.read() {
            Ok(p) => match p.by_user.get(&user_id) {
                Some(user) if user.cursor.fetch_max(cursor, Ordering::Relaxed) < cursor => user.peers.clone(),
                _ => return false,
            },
            Err(_) => return false,
        };
        for peer in targets {
            peer.outbox.offer(Delivery::Resync);
        }
        true
    }

    /// Hand `delivery` to every socket of `user_id`.
    pub fn to_user(&self, user_id: i64, delivery: Delivery) {
        let targets: Vec<Peer> = match self.peers.read() {
            Ok(p) => match p.by_user.get(&user_id) {
                Some(user) => {
                    if let Delivery::New(n) = &delivery {
                        user.cursor.fetch_max(n.cursor, Ordering::Relaxed);
                    }
                    user.peers.clone()
                }
                None => return,
            },
            Err(_) => return,
        };
        for peer in targets {
            peer.outbox.offer(delivery.clone());
        }
    }

    /// Hand a rendered message to every socket on `channel`.
    pub fn to_channel(&self, channel: &str, message: Arc<str>) {
        let targets: Vec<Peer> =
            self.peers.read().ok().and_then(|p| p.by_channel.get(channel).cloned()).unwrap_or_default();
        for peer in targets {
            peer.outbox.offer(Delivery::Channel(message.clone()));
        }
    }

    /// Tell every socket to reload what it may have missed.
    pub fn resync_all(&self) {
        let targets: Vec<Peer> =
            self.peers.read().map(|p| p.by_user.values().flat_map(|u| u.peers.clone()).collect()).unwrap_or_default();
        for peer in targets {
            peer.outbox.offer(Delivery::Resync);
        }
    }

    fn leave(&self, user_id: i64, id: u64) {
        let mut peers = self.peers.write().unwrap_or_else(|e| e.into_inner());
        if let Some(user) = peers.by_user.get_mut(&user_id) {
            user.peers.retain(|p| p.id != id);
            if user.peers.is_empty() {
                peers.by_user.remove(&user_id);
            }
        }
        for list in peers.by_channel.values_mut() {
            list.retain(|p| p.id != id);
        }
        peers.by_channel.retain(|_, l| !l.is_empty());
    }
}

impl Membership {
    /// Also receive `channel` on this socket.
    pub fn subscribe_channel(&self, channel: &'static str) {
        let mut peers = self.hub.peers.write().unwrap_or_else(|e| e.into_inner());
        let list = peers.by_channel.entry(channel).or_default();
        if !list.iter().any(|p| p.id == self.id) {
            list.push(Peer { id: self.id, outbox: self.outbox.clone() });
        }
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.hub.leave(self.user_id, self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(user_id: i64, cursor: i64) -> Arc<NotificationOut> {
        Arc::new(NotificationOut {
            id: cursor,
            user_id,
            cursor,
            kind: "t".into(),
            priority: 3,
            title: "x".into(),
            body: String::new(),
            data: None,
            created_at: chrono::Utc::now(),
            read_at: None,
            expires_at: None,
        })
    }

    #[test]
    fn deliveries_reach_only_the_users_sockets() {
        let hub = Hub::new(8, 4);
        let a = hub.join(1).unwrap();
        let b = hub.join(2).unwrap();
        hub.to_user(1, Delivery::New(note(1, 1)));
        assert!(matches!(queued(&a).first(), Some(Delivery::New(n)) if n.user_id == 1));
        assert!(queued(&b).is_empty());
        drop(a);
        assert!(!hub.has_user(1));
        assert_eq!(hub.users(), vec![2]);
    }

    #[test]
    fn a_full_queue_marks_the_socket_as_slow() {
        let hub = Hub::new(2, 4);
        let m = hub.join(1).unwrap();
        for c in 1..=2 {
            hub.to_user(1, Delivery::New(note(1, c)));
        }
        assert!(!m.outbox.is_overflowed());
        hub.to_user(1, Delivery::New(note(1, 3)));
        assert!(m.outbox.is_overflowed());
        assert_eq!(queued(&m).len(), 2, "what was queued stays; the overflowing one is dropped");
    }

    #[test]
    fn a_user_behind_the_database_is_told_once() {
        let hub = Hub::new(8, 4);
        let m = hub.join(1).unwrap();
        hub.saw(1, 3);
        assert!(!hub.behind(1, 3), "cursor 3 is known here");
        hub.to_user(1, Delivery::New(note(1, 4)));
        assert!(!hub.behind(1, 4), "a delivery raises what is known here");
        assert!(hub.behind(1, 6));
        assert!(!hub.behind(1, 6), "told once per new cursor");
        assert!(!hub.behind(2, 1), "no sockets, nobody to tell");
        assert!(matches!(queued(&m).as_slice(), [Delivery::New(_), Delivery::Resync]));
    }

    #[test]
    fn sockets_per_user_are_limited() {
        let hub = Hub::new(2, 2);
        let _a = hub.join(1).unwrap();
        let _b = hub.join(1).unwrap();
        assert!(hub.join(1).is_err());
        assert!(hub.join(2).is_ok());
    }

    #[test]
    fn channels_reach_their_subscribers() {
        let hub = Hub::new(4, 4);
        let ops = hub.join(1).unwrap();
        let member = hub.join(2).unwrap();
        ops.subscribe_channel("services");
        hub.to_channel("services", Arc::from("{}"));
        assert!(matches!(queued(&ops).first(), Some(Delivery::Channel(_))));
        assert!(queued(&member).is_empty());
    }

    #[tokio::test]
    async fn the_outbox_hands_out_in_order_then_reports_overflow() {
        let hub = Hub::new(2, 4);
        let m = hub.join(1).unwrap();
        let waiter = {
            let outbox = m.outbox.clone();
            tokio::spawn(async move {
                match outbox.next().await {
                    Next::Deliver(Delivery::New(n)) => n.cursor,
                    _ => -1,
                }
            })
        };
        tokio::task::yield_now().await;
        hub.to_user(1, Delivery::New(note(1, 7)));
        assert_eq!(waiter.await.unwrap(), 7, "a waiting socket is woken");
        hub.to_user(1, Delivery::New(note(1, 8)));
        assert!(matches!(m.outbox.next().await, Next::Deliver(Delivery::New(n)) if n.cursor == 8));
        for c in 9..=11 {
            hub.to_user(1, Delivery::New(note(1, c)));
        }
        assert!(matches!(m.outbox.next().await, Next::Overflowed));
        m.outbox.overflowed().await;
    }

    fn queued(m: &Membership) -> Vec<Delivery> {
        m.outbox.queue.lock().unwrap().iter().cloned().collect()
    }
}
