//! Notifications as plain values: the parsing rules for what may be
//! stored, and the shapes the store returns. No HTTP or SQL here.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::validation::FieldError;

/// Largest `data` object, serialized.
pub const MAX_DATA_BYTES: usize = 16 * 1024;
pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_BODY_CHARS: usize = 10_000;
pub const DEFAULT_PRIORITY: i16 = 3;

/// A notification type: `[a-z0-9_.-]{1,64}` (`system`, `alert`, `billing.invoice`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kind(String);

impl Kind {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok = (1..=64).contains(&raw.len())
            && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-'));
        if ok { Ok(Self(raw.to_string())) } else { Err("must match [a-z0-9_.-]{1,64}".into()) }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A client's retry key: 1–200 printable characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let count = raw.chars().count();
        if count == 0 || count > 200 || raw.chars().any(char::is_control) {
            return Err("must be 1 to 200 printable characters".into());
        }
        Ok(Self(raw.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a notification says, validated: the part shared by a single
/// create and an announcement.
#[derive(Debug, Clone, PartialEq)]
pub struct Content {
    pub kind: Kind,
    pub priority: i16,
    pub title: String,
    pub body: String,
    pub data: Option<Value>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Unvalidated content fields as a client sent them.
#[derive(Debug, Clone, Default)]
pub struct RawContent {
    pub kind: Option<String>,
    pub priority: Option<i64>,
    pub title: Option<String>,
    pub body: Option<String>,
    pub data: Option<Value>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl Content {
    /// Check every field against the rules; all violations at once.
    pub fn parse(raw: RawContent, now: DateTime<Utc>) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let kind = match raw.kind.as_deref() {
            Some(k) => Kind::parse(k).map_err(|m| errors.push(FieldError::new("type", m))).ok(),
            None => {
                errors.push(FieldError::new("type", "is required"));
                None
            }
        };
        let priority = raw.priority.unwrap_or(i64::from(DEFAULT_PRIORITY));
        if !(1..=5).contains(&priority) {
            errors.push(FieldError::new("priority", format!("{priority} is out of range: must be 1 to 5")));
        }
        let title = raw.title.unwrap_or_default();
        let title_chars = title.chars().count();
        if title.trim().is_empty() || title_chars > MAX_TITLE_CHARS {
            errors.push(FieldError::new(
                "title",
                format!("must be 1 to {MAX_TITLE_CHARS} characters (got {title_chars})"),
            ));
        }
        let body = raw.body.unwrap_or_default();
        let body_chars = body.chars().count();
        if body_chars > MAX_BODY_CHARS {
            errors.push(FieldError::new(
                "body",
                format!("must be at most {MAX_BODY_CHARS} characters (got {body_chars})"),
            ));
        }
        match &raw.data {
            None | Some(Value::Null) => {}
            Some(Value::Object(_)) => {
                let size = raw.data.as_ref().map(|d| d.to_string().len()).unwrap_or(0);
                if size > MAX_DATA_BYTES {
                    errors.push(FieldError::new(
                        "data",
                        format!("must be at most {MAX_DATA_BYTES} bytes of JSON (got {size})"),
                    ));
                }
            }
            Some(_) => errors.push(FieldError::new("data", "must be a JSON object")),
        }
        if let Some(at) = raw.expires_at.filter(|at| *at <= now) {
            errors.push(FieldError::new("expires_at", format!("{} is not in the future", at.to_rfc3339())));
        }
        match kind {
            Some(kind) if errors.is_empty() => Ok(Content {
                kind,
                priority: priority as i16,
                title,
                body,
                data: raw.data.filter(|d| !d.is_null()),
                expires_at: raw.expires_at,
            }),
            _ => Err(errors),
        }
    }
}

/// A stored notification.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub id: i64,
    pub user_id: i64,
    /// Per-user, gapless, increasing.
    pub cursor: i64,
    pub kind: String,
    pub priority: i16,
    pub title: String,
    pub body: String,
    pub data: Option<Value>,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Who an announcement goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    All,
    Role(crate::accounts::Role),
    UserIds(Vec<i64>),
    ExternalIds(Vec<String>),
}

/// Largest explicit audience list.
pub const MAX_AUDIENCE_LIST: usize = 10_000;

/// Which part of an inbox to read.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub unread_only: bool,
    pub kind: Option<Kind>,
}

/// Direction and position of a page, by per-user cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// Newest first, strictly below this cursor (`None`: from the newest).
    Before(Option<i64>),
    /// Oldest first, strictly above this cursor: catch-up.
    After(i64),
}

/// Per-type counts for one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeCount {
    pub kind: String,
    pub total: i64,
    pub unread: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn raw() -> RawContent {
        RawContent { kind: Some("system".into()), title: Some("Hello".into()), ..Default::default() }
    }

    fn fields(r: Result<Content, Vec<FieldError>>) -> Vec<String> {
        r.err().unwrap_or_default().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn defaults_and_valid_content() {
        let c = Content::parse(raw(), Utc::now()).unwrap();
        assert_eq!(c.priority, 3);
        assert_eq!(c.body, "");
        assert!(c.data.is_none());
    }

    #[test]
    fn every_rule_names_its_field() {
        let now = Utc::now();
        let bad = RawContent {
            kind: Some("Bad Type".into()),
            priority: Some(9),
            title: Some("x".repeat(201)),
            body: Some("y".repeat(10_001)),
            data: Some(json!([1, 2])),
            expires_at: Some(now - chrono::Duration::seconds(1)),
        };
        assert_eq!(fields(Content::parse(bad, now)), vec!["type", "priority", "title", "body", "data", "expires_at"]);
        let big = RawContent { data: Some(json!({"k": "z".repeat(MAX_DATA_BYTES)})), ..raw() };
        assert_eq!(fields(Content::parse(big, now)), vec!["data"]);
        let blank = RawContent { title: Some("   ".into()), kind: None, ..raw() };
        assert_eq!(fields(Content::parse(blank, now)), vec!["type", "title"]);
    }

    #[test]
    fn kinds_follow_the_pattern() {
        assert!(Kind::parse("billing.invoice-paid_2").is_ok());
        for bad in ["", "UPPER", "sp ace", "é", &"a".repeat(65)] {
            assert!(Kind::parse(bad).is_err(), "{bad:?}");
        }
    }
}
