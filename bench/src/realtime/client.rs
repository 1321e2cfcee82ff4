//! A fleet of WebSocket clients on one tokio runtime: one task per socket,
//! each authenticated as its own member (`bench-<id>` token on the upgrade
//! request) and subscribed, then reading until the fleet is dropped.
//!
//! 10 000 sockets need an async client; two worker threads match the
//! machine's two cores, which herald shares. Tasks report to the measuring
//! thread over a plain `std` channel, stamped with the instant a message was
//! read, so the measuring thread can block with a timeout and still get
//! exact receive times however late it drains the channel.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::runtime::{Builder, Runtime};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::AUTHORIZATION;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Client worker threads: as many as the machine has cores; more would only
/// take turns with herald.
const CLIENT_THREADS: usize = 2;
/// Handshakes in flight at once. Opening all 10 000 at once overflows the
/// listen backlog (tokio's 1024), and the SYN retransmits that follow add
/// whole seconds to the ramp-up without telling anything about herald.
const HANDSHAKES: usize = 64;
/// herald's own socket buffers are 4 KiB; tungstenite's 128 KiB default
/// would cost the client 2.5 GiB at 10 000 sockets for nothing.
const BUFFER: usize = 4 * 1024;
/// Bound for connect + upgrade + authenticated + subscribed of one socket.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

/// What a socket task saw.
#[derive(Debug)]
pub enum Event {
    /// Authenticated and subscribed; live from now on.
    Ready,
    /// A `notification:new`, read at `at`.
    New { socket: usize, user: Option<i64>, title: String, at: Instant },
    /// Any other text message (an `error`, an update nobody asked for).
    Odd { socket: usize, text: String },
    /// The socket is gone (or never got going): why.
    Ended { socket: usize, why: String },
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Ready => write!(f, "a socket subscribed"),
            Event::New { socket, user, title, .. } => {
                write!(f, "socket {socket} got notification:new {title:?} for user {user:?}")
            }
            Event::Odd { socket, text } => write!(f, "socket {socket} got {text}"),
            Event::Ended { socket, why } => write!(f, "socket {socket} ended: {why}"),
        }
    }
}

/// Sockets `0..count` for members `first_user..first_user + count`.
pub struct Fleet {
    /// Dropping it drops every task and with them the sockets.
    _runtime: Runtime,
    events: Receiver<Event>,
    pings: Arc<AtomicU64>,
    pub first_user: i64,
    pub count: usize,
    /// From the first connect until the last socket was subscribed.
    pub ramp_up: Duration,
}

impl Fleet {
    /// Opens `count` subscribed sockets; fails if any does not get there
    /// within `timeout` (each failure's reason is in the error).
    pub fn connect(addr: SocketAddr, first_user: i64, count: usize, timeout: Duration) -> Result<Fleet, String> {
        let runtime = Builder::new_multi_thread()
            .worker_threads(CLIENT_THREADS)
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the client runtime: {e}"))?;
        let (sender, events) = mpsc::channel();
        let pings = Arc::new(AtomicU64::new(0));
        let gate = Arc::new(Semaphore::new(HANDSHAKES));
        let started = Instant::now();
        for socket in 0..count {
            let task = Socket { addr, socket, user: first_user + socket as i64, events: sender.clone() };
            runtime.spawn(task.run(gate.clone(), pings.clone()));
        }
        drop(sender);
        let deadline = started + timeout;
        let mut ready = 0;
        while ready < count {
            match events.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(Event::Ready) => ready += 1,
                Ok(Event::Ended { socket, why }) => {
                    return Err(format!(
                        "socket {socket} (member {}) did not subscribe: {why}",
                        first_user + socket as i64
                    ));
                }
                Ok(other) => return Err(format!("while subscribing: {other}")),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    return Err(format!("only {ready} of {count} sockets subscribed within {timeout:?}"));
                }
            }
        }
        Ok(Fleet { _runtime: runtime, events, pings, first_user, count, ramp_up: started.elapsed() })
    }

    /// The next event, or `None` once `deadline` has passed.
    pub fn next(&self, deadline: Instant) -> Option<Event> {
        self.events.recv_timeout(deadline.saturating_duration_since(Instant::now())).ok()
    }

    /// Every event already waiting, without blocking: what happened while
    /// the fleet should have been quiet.
    pub fn drain(&self) -> Vec<Event> {
        self.events.try_iter().collect()
    }

    /// Server pings received so far, all sockets together.
    pub fn pings(&self) -> u64 {
        self.pings.load(Ordering::Relaxed)
    }
}

/// One socket task's identity and its line to the measuring thread.
struct Socket {
    addr: SocketAddr,
    socket: usize,
    user: i64,
    events: Sender<Event>,
}

impl Socket {
    async fn run(self, gate: Arc<Semaphore>, pings: Arc<AtomicU64>) {
        let why = self.session(&gate, &pings).await.err().unwrap_or_else(|| "the connection ended".to_owned());
        // The receiver is gone only when the fleet is being dropped.
        let _ = self.events.send(Event::Ended { socket: self.socket, why });
    }

    /// Connects, subscribes, then reads until the socket ends; returns only
    /// with an error (the reason it ended). Reading is also what answers
    /// herald's pings: tungstenite queues the pong and flushes it on the
    /// next read.
    async fn session(&self, gate: &Semaphore, pings: &AtomicU64) -> Result<(), String> {
        let mut ws = {
            let _permit = gate.acquire().await.map_err(|e| format!("handshake gate: {e}"))?;
            tokio::time::timeout(HANDSHAKE_TIMEOUT, self.subscribe())
                .await
                .map_err(|_| format!("not subscribed within {HANDSHAKE_TIMEOUT:?}"))??
        };
        let _ = self.events.send(Event::Ready);
        while let Some(message) = ws.next().await {
            match message.map_err(|e| format!("read: {e}"))? {
                Message::Text(text) => {
                    let at = Instant::now();
                    let text = text.as_str();
                    let event = if string_field(text, "type") == Some("notification:new") {
                        let title = string_field(text, "title").unwrap_or_default().to_owned();
                        Event::New { socket: self.socket, user: number_field(text, "user_id"), title, at }
                    } else {
                        Event::Odd { socket: self.socket, text: text.chars().take(300).collect() }
                    };
                    let _ = self.events.send(event);
                }
                Message::Ping(_) => {
                    pings.fetch_add(1, Ordering::Relaxed);
                }
                Message::Close(frame) => return Err(format!("closed by herald: {frame:?}")),
                Message::Binary(_) | Message::Pong(_) | Message::Frame(_) => {}
            }
        }
        Err("the connection ended without a close frame".to_owned())
    }

    /// Upgrade with the member's token, expect `authenticated` for that
    /// member, send `notifications:subscribe`, expect `notifications:subscribed`.
    async fn subscribe(&self) -> Result<WebSocket, String> {
        let mut request =
            format!("ws://{}/api/v1/ws", self.addr).into_client_request().map_err(|e| format!("request: {e}"))?;
        let bearer = HeaderValue::from_str(&format!("Bearer bench-{}", self.user)).map_err(|e| e.to_string())?;
        request.headers_mut().insert(AUTHORIZATION, bearer);
        let config = WebSocketConfig::default().read_buffer_size(BUFFER).write_buffer_size(BUFFER);
        let (mut ws, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true)
            .await
            .map_err(|e| format!("upgrade: {e}"))?;
        let hello = next_text(&mut ws).await?;
        if string_field(&hello, "type") != Some("authenticated") || number_field(&hello, "user_id") != Some(self.user) {
            return Err(format!("expected authenticated as {}, got {hello}", self.user));
        }
        ws.send(Message::text(r#"{"type":"notifications:subscribe"}"#)).await.map_err(|e| format!("send: {e}"))?;
        let answer = next_text(&mut ws).await?;
        if string_field(&answer, "type") != Some("notifications:subscribed") {
            return Err(format!("expected notifications:subscribed, got {answer}"));
        }
        Ok(ws)
    }
}

type WebSocket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next text message, skipping control frames.
async fn next_text(ws: &mut WebSocket) -> Result<String, String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => return Ok(text.as_str().to_owned()),
            Some(Ok(Message::Close(frame))) => return Err(format!("closed by herald: {frame:?}")),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("read: {e}")),
            None => return Err("the connection ended".to_owned()),
        }
    }
}

/// The string after the first `"key":"` in compact JSON, up to the next
/// quote. Enough for herald's messages: the top-level `type` comes first
/// (serde writes the tag first) and the titles bench sends need no escapes.
pub fn string_field<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let (_, rest) = json.split_once(&format!("\"{key}\":\""))?;
    rest.split_once('"').map(|(value, _)| value)
}

/// The integer after the first `"key":` in compact JSON.
pub fn number_field(json: &str, key: &str) -> Option<i64> {
    let (_, rest) = json.split_once(&format!("\"{key}\":"))?;
    let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '-')).unwrap_or(rest.len());
    rest[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::{number_field, string_field};

    #[test]
    fn reads_herald_messages() {
        let new = r#"{"type":"notification:new","notification":{"id":9,"user_id":42,"cursor":3,"type":"bench","priority":3,"title":"rt-17","body":""}}"#;
        assert_eq!(string_field(new, "type"), Some("notification:new"));
        assert_eq!(string_field(new, "title"), Some("rt-17"));
        assert_eq!(number_field(new, "user_id"), Some(42));
        assert_eq!(number_field(r#"{"type":"authenticated","user_id":7}"#, "user_id"), Some(7));
        assert_eq!(string_field("{}", "type"), None);
        assert_eq!(number_field(r#"{"user_id":null}"#, "user_id"), None);
    }
}
