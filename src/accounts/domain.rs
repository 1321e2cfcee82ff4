//! Users, roles and API tokens as plain values: parsing rules and token
//! hashing live here, with no HTTP or SQL in sight.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including users and alert channels.
    Admin,
    /// Services, incidents, maintenance, alerts, the database report; their own inbox.
    Operator,
    /// An application's end user: their own inbox, account and tokens only.
    Member,
    /// An application backend: creates notifications and member users, reads no inbox.
    Sender,
}

impl Role {
    /// Operators and admins: the roles that run monitoring.
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Admin | Role::Operator)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Member => "member",
            Role::Sender => "sender",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "operator" => Ok(Role::Operator),
            "member" => Ok(Role::Member),
            "sender" => Ok(Role::Sender),
            other => Err(format!("unknown role {other:?}; expected admin, operator, member or sender")),
        }
    }
}

/// A normalized (trimmed, lower-case) email address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let email = raw.trim().to_lowercase();
        let valid = email.len() <= 254
            && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            && match email.split_once('@') {
                Some((local, domain)) => {
                    !local.is_empty() && local.len() <= 64 && !domain.is_empty() && !domain.contains('@')
                }
                None => false,
            };
        if valid { Ok(Self(email)) } else { Err("must be an email address like name@example.com".into()) }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A human label of 1–100 characters (token names, display names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label(String);

impl Label {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let label = raw.trim();
        let count = label.chars().count();
        if count == 0 || count > 100 {
            return Err("must be 1 to 100 characters".into());
        }
        if label.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(Self(label.to_string()))
    }
    /// A label written in the code, known to be valid.
    pub(super) fn fixed(label: &'static str) -> Self {
        Self(label.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A herald user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    /// Absent for users an application brought by external id only.
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub role: Role,
    /// An application's own id for this user.
    pub external_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// An application's id for a user: 1–255 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalId(String);

impl ExternalId {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let count = raw.chars().count();
        if count == 0 || count > 255 {
            return Err("must be 1 to 255 characters".into());
        }
        if raw.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(Self(raw.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An API token's stored facts; the raw value is never kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Who is calling: the user behind a valid token or web session.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    /// The API token used; `None` for a web session (the cookie).
    pub token_id: Option<i64>,
}

impl Principal {
    pub fn is(&self, roles: &[Role]) -> bool {
        roles.contains(&self.user.role)
    }
}

/// Prefix that makes herald tokens recognisable to secret scanners.
const TOKEN_PREFIX: &str = "hld_";

/// A raw bearer token. Its `Debug` is redacted; it is shown once, at creation.
pub struct RawToken(String);

impl RawToken {
    /// 256 random bits from the OS-seeded CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl fmt::Debug for RawToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RawToken([redacted])")
    }
}

/// SHA-256 of a raw token: what the database stores and looks up.
/// A fast hash is right here: tokens carry 256 random bits, so there is
/// nothing to brute-force, and every request needs one lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    pub fn of(raw: &str) -> Self {
        Self(Sha256::digest(raw.as_bytes()).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(Email::parse(" Ops@Example.COM ").unwrap().as_str(), "ops@example.com");
        for bad in ["", "no-at", "@x", "a@", "a b@c", "a@b@c"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn tokens_are_random_prefixed_and_hash_stably() {
        let a = RawToken::generate();
        let b = RawToken::generate();
        assert!(a.expose().starts_with("hld_"));
        assert_eq!(a.expose().len(), 4 + 43);
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.hash(), TokenHash::of(a.expose()));
        assert!(!format!("{a:?}").contains(&a.expose()[4..]));
    }

    #[test]
    fn roles_round_trip() {
        for r in [Role::Admin, Role::Operator, Role::Member, Role::Sender] {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn labels_are_bounded() {
        assert!(Label::parse("ci").is_ok());
        assert!(Label::parse("  ").is_err());
        assert!(Label::parse(&"x".repeat(101)).is_err());
        assert!(Label::parse("a\nb").is_err());
    }
}
