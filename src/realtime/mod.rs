//! Live delivery over WebSocket: the socket protocol, this instance's hub
//! of sockets, and the bus that carries events between instances
//! (PostgreSQL: batched `LISTEN/NOTIFY` after commit, with a sweep behind
//! it) or within one (SQLite).

mod announcer;
mod bus;
pub mod http;
mod hub;
pub mod protocol;
mod socket;
pub mod wire;

pub use announcer::Announcer;
pub use bus::{Bus, Listener, Sweep};
pub use hub::{Delivery, Hub};

use tokio_util::sync::CancellationToken;

/// What handlers and sockets need of the realtime machinery.
#[derive(Clone)]
pub struct Realtime {
    pub bus: Bus,
    /// Cancelled at shutdown: every socket closes with 1001 (going away).
    pub shutdown: CancellationToken,
}
