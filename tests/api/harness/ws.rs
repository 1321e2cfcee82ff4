//! A WebSocket client for tests, over a real TCP connection.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use futures_util::{SinkExt, StreamExt};

use crate::harness::TestApp;

/// How a test socket authenticates.
pub enum Auth<'a> {
    Header(&'a str),
    Query(&'a str),
    None,
}

pub struct Ws {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Ws {
    pub async fn connect(app: &TestApp, auth: Auth<'_>) -> Ws {
        Self::connect_with(app, auth, None).await
    }

    /// Connect, optionally with a tiny receive buffer (to play a slow reader).
    pub async fn connect_with(app: &TestApp, auth: Auth<'_>, recv_buffer: Option<u32>) -> Ws {
        let mut url = format!("ws://{}/api/v1/ws", app.addr);
        if let Auth::Query(token) = auth {
            url.push_str(&format!("?token={token}"));
        }
        let mut request = url.into_client_request().expect("request");
        if let Auth::Header(token) = auth {
            request.headers_mut().insert("authorization", format!("Bearer {token}").parse().expect("header"));
        }
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        if let Some(size) = recv_buffer {
            socket.set_recv_buffer_size(size).expect("recv buffer");
        }
        let tcp = socket.connect(app.addr).await.expect("tcp connect");
        let (stream, _) = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(tcp)).await.expect("upgrade");
        Ws { stream }
    }

    /// Connect with a header token, expect `authenticated`, subscribe, and
    /// return the `notifications:subscribed` message.
    pub async fn subscribed(app: &TestApp, token: &str, after: Option<i64>) -> (Ws, Value) {
        let mut ws = Ws::connect(app, Auth::Header(token)).await;
        assert_eq!(ws.recv().await["type"], "authenticated");
        let subscribe = match after {
            Some(a) => json!({"type": "notifications:subscribe", "after": a}),
            None => json!({"type": "notifications:subscribe"}),
        };
        ws.send(subscribe).await;
        let subscribed = ws.recv().await;
        assert_eq!(subscribed["type"], "notifications:subscribed", "{subscribed}");
        (ws, subscribed)
    }

    pub async fn send(&mut self, message: Value) {
        self.stream.send(Message::Text(message.to_string().into())).await.expect("send");
    }

    pub async fn send_raw(&mut self, message: Message) {
        self.stream.send(message).await.expect("send");
    }

    /// The next JSON message, within 5 s.
    pub async fn recv(&mut self) -> Value {
        self.recv_within(Duration::from_secs(5)).await.expect("a message within 5 s")
    }

    /// The next JSON message within `limit`, or None.
    pub async fn recv_within(&mut self, limit: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.stream.next()).await.ok()??;
            match frame.expect("frame") {
                Message::Text(text) => return Some(serde_json::from_str(text.as_str()).expect("JSON")),
                Message::Close(frame) => panic!("closed: {frame:?}"),
                _ => continue,
            }
        }
    }

    /// The next raw frame, within 15 s.
    pub async fn recv_frame(&mut self) -> Option<Message> {
        tokio::time::timeout(Duration::from_secs(15), self.stream.next()).await.expect("a frame within 15 s")?.ok()
    }

    /// Read until the server closes; returns its close frame.
    pub async fn closed(&mut self) -> Option<CloseFrame> {
        loop {
            match tokio::time::timeout(Duration::from_secs(15), self.stream.next()).await.expect("closed within 15 s") {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// Every `notification:new` cursor until `silence` passes without a message.
    pub async fn drain_new(&mut self, silence: Duration) -> Vec<i64> {
        let mut cursors = Vec::new();
        while let Some(m) = self.recv_within(silence).await {
            if m["type"] == "notification:new" {
                cursors.push(m["notification"]["cursor"].as_i64().expect("cursor"));
            }
        }
        cursors
    }
}
