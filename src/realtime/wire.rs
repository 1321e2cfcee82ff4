//! What travels between instances over PostgreSQL `LISTEN/NOTIFY`: small
//! payloads naming what changed; each receiver loads the rows it needs.

use serde::{Deserialize, Serialize};

/// The NOTIFY channel every instance listens on.
pub const CHANNEL: &str = "herald_events";

/// PostgreSQL refuses NOTIFY payloads from 8000 bytes on.
pub const MAX_PAYLOAD: usize = 7900;

/// One cross-instance event. Field names are one letter: payloads are small.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "k")]
pub enum Wire {
    /// A notification was created (sent from the insert statement itself).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_matches_what_the_insert_statement_builds() {
        // The PostgreSQL insert builds this with json_build_object; keep them in step.
        let from_sql: Wire = serde_json::from_str(r#"{"k" : "new", "u" : 7, "i" : 42, "c" : 3}"#).unwrap();
        assert_eq!(from_sql, Wire::New { u: 7, i: 42, c: 3 });
        let ann = Wire::Announcement { a: 5 }.to_json();
        assert_eq!(serde_json::from_str::<Wire>(&ann).unwrap(), Wire::Announcement { a: 5 });
    }
}
