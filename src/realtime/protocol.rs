//! The WebSocket protocol: JSON objects with a `type` (see docs/realtime.md).

use serde::{Deserialize, Serialize};

use crate::notifications::http::NotificationOut;

/// Client → server.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum ClientMessage {
    /// Authenticate a socket opened without a token (browsers).
    #[serde(rename = "auth")]
    Auth { token: String },
    /// Start receiving notifications: the pending list, or everything after `after`.
    #[serde(rename = "notifications:subscribe")]
    Subscribe { after: Option<i64> },
    /// Mark read: these ids, or everything up to a cursor.
    #[serde(rename = "notifications:read")]
    Read { ids: Option<Vec<i64>>, up_to_cursor: Option<i64> },
    /// Operators and admins: receive a channel (`services`, `incidents`).
    #[serde(rename = "channels:subscribe")]
    ChannelSubscribe { channel: String },
    #[serde(rename = "ping")]
    Ping,
}

/// Server → client.
#[derive(Debug, Serialize)]
#[serde(tag = "type")]
pub enum ServerMessage<'a> {
    #[serde(rename = "authenticated")]
    Authenticated { user_id: i64 },
    #[serde(rename = "notifications:subscribed")]
    Subscribed { pending: &'a [NotificationOut] },
    #[serde(rename = "notification:new")]
    New { notification: &'a NotificationOut },
    #[serde(rename = "notification:updated")]
    Updated { notification: &'a NotificationOut },
    #[serde(rename = "notification:deleted")]
    Deleted { id: i64 },
    #[serde(rename = "notifications:read")]
    ReadDone { updated: usize },
    #[serde(rename = "channels:subscribed")]
    ChannelSubscribed { channel: &'a str },
    #[serde(rename = "pong")]
    Pong,
    #[serde(rename = "error")]
    Error { code: &'a str, message: String },
}

impl ServerMessage<'_> {
    pub fn to_json(&self) -> String {
        // Serializing these plain structs cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Channels an operator may receive.
pub const CHANNELS: [&str; 2] = ["services", "incidents"];
