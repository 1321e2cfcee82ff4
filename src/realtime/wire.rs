//! What travels between instances over PostgreSQL `LISTEN/NOTIFY`: batches
//! of small events naming what changed, sent after the changes committed;
//! each receiver loads the rows it needs.

use serde::{Deserialize, Serialize};

/// The NOTIFY channel every instance listens on.
pub const CHANNEL: &str = "herald_events";

/// PostgreSQL refuses NOTIFY payloads from 8000 bytes on.
pub const MAX_PAYLOAD: usize = 7900;

/// One cross-instance event. Field names are one letter: payloads are small.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "k")]
pub enum Wire {
    /// A notification was committed.
    #[serde(rename = "new")]
    New { u: i64, i: i64, c: i64 },
    /// A notification's read state changed.
    #[serde(rename = "upd")]
    Updated { u: i64, i: i64 },
    /// A notification was deleted.
    #[serde(rename = "del")]
    Deleted { u: i64, i: i64 },
    /// An announcement was committed.
    #[serde(rename = "ann")]
    Announcement { a: i64 },
    /// A token was revoked: forget it in every instance's auth cache.
    #[serde(rename = "rev")]
    Revoked { t: i64 },
    /// A channel message (`services`, `incidents`), already rendered.
    #[serde(rename = "ch")]
    Channel { ch: String, m: String },
}

impl Wire {
    pub fn to_json(&self) -> String {
        // Serializing these plain structs cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// One NOTIFY payload: the events one instance committed, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// The sending instance, which has delivered these to its own sockets.
    pub o: u64,
    pub e: Vec<Wire>,
}

/// Pack events, in order, into as few payloads as fit under
/// [`MAX_PAYLOAD`]. An event too large for any payload on its own is
/// left out and counted in the second value.
pub fn pack(origin: u64, events: &[Wire]) -> (Vec<String>, usize) {
    let head = format!("{{\"o\":{origin},\"e\":[");
    let mut payloads = Vec::new();
    let mut current = head.clone();
    let mut too_large = 0;
    for event in events {
        let json = event.to_json();
        if head.len() + json.len() + 2 > MAX_PAYLOAD {
            too_large += 1;
            continue;
        }
        if current.len() + json.len() + 3 > MAX_PAYLOAD {
            current.push_str("]}");
            payloads.push(std::mem::replace(&mut current, head.clone()));
        }
        if current.len() > head.len() {
            current.push(',');
        }
        current.push_str(&json);
    }
    if current.len() > head.len() {
        current.push_str("]}");
        payloads.push(current);
    }
    (payloads, too_large)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_round_trip_in_order_and_split_under_the_payload_limit() {
        let events: Vec<Wire> = (0..2_000).map(|i| Wire::New { u: i % 7, i, c: i }).collect();
        let (payloads, too_large) = pack(9, &events);
        assert_eq!(too_large, 0);
        assert!(payloads.len() > 1, "2 000 events need several payloads");
        let mut back = Vec::new();
        for p in &payloads {
            assert!(p.len() <= MAX_PAYLOAD, "{} bytes", p.len());
            let batch: Batch = serde_json::from_str(p).unwrap();
            assert_eq!(batch.o, 9);
            back.extend(batch.e);
        }
        assert_eq!(back, events);
    }

    #[test]
    fn an_event_larger_than_a_payload_is_counted_not_sent() {
        let big = Wire::Channel { ch: "services".into(), m: "x".repeat(MAX_PAYLOAD) };
        let (payloads, too_large) = pack(1, &[Wire::Revoked { t: 3 }, big, Wire::Announcement { a: 5 }]);
        assert_eq!(too_large, 1);
        let batch: Batch = serde_json::from_str(&payloads[0]).unwrap();
        assert_eq!(batch.e, vec![Wire::Revoked { t: 3 }, Wire::Announcement { a: 5 }]);
        assert!(pack(1, &[]).0.is_empty(), "nothing to say, nothing sent");
    }
}
