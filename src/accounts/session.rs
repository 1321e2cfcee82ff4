//! Web sign-in sessions. The browser holds a random id in a cookie; the
//! database holds its SHA-256 (like API tokens: 256 random bits leave
//! nothing to brute-force, and a leaked table row cannot be replayed),
//! the user, and when it started, was last used and must end. A session
//! ends at its absolute expiry, after `idle` without use, at sign-out, or
//! when every session of its user is ended; being a row, an ended session
//! is refused by every instance on the same database at once.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use super::domain::{TokenHash, User};

/// How long sessions live, and how many failed sign-ins are allowed.
#[derive(Debug, Clone, Copy)]
pub struct SessionRules {
    /// A session unused this long has ended.
    pub idle: Duration,
    /// A session ends this long after sign-in, used or not.
    pub absolute: Duration,
    /// Failed sign-ins allowed per account and per client address within
    /// `sign_in_window`; the next ones are refused until the oldest of
    /// them leaves the window.
    pub sign_in_attempts: u32,
    pub sign_in_window: Duration,
}

impl Default for SessionRules {
    fn default() -> Self {
        Self {
            idle: Duration::hours(12),
            absolute: Duration::days(7),
            sign_in_attempts: 5,
            sign_in_window: Duration::minutes(15),
        }
    }
}

/// A secret of 256 random bits from the OS-seeded CSPRNG in unpadded
/// base64url, kept by the database only as its SHA-256: `$name(String)`
/// with `generate`, `parse` (the shape only, so anything else costs no
/// lookup), `expose`, `hash` and a redacted `Debug`.
macro_rules! random_secret {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        pub struct $name(String);

        impl $name {
            pub fn generate() -> Self {
                let mut bytes = [0u8; 32];
                rand::rng().fill_bytes(&mut bytes);
                Self(URL_SAFE_NO_PAD.encode(bytes))
            }

            pub fn parse(value: &str) -> Option<Self> {
                let ok = value.len() == ENCODED_LEN
                    && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                ok.then(|| Self(value.to_string()))
            }

            pub fn expose(&self) -> &str {
                &self.0
            }

            pub fn hash(&self) -> TokenHash {
                TokenHash::of(&self.0)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

/// base64url of 32 bytes, unpadded.
const ENCODED_LEN: usize = 43;

random_secret!(
    /// The id in the session cookie; a new one at every sign-in.
    RawSessionId
);

random_secret!(
    /// The token of a one-time setup link (`/setup?token=…`), with which a
    /// user chooses a password: valid for [`SETUP_LINK_HOURS`], used once.
    SetupToken
);

/// How long a setup link works.
pub const SETUP_LINK_HOURS: i64 = 24;

impl RawSessionId {
    /// The session's token against cross-site request forgery: derived
    /// from the id (HMAC-SHA256 keyed by it), so it needs no storage, is
    /// the same on every instance, and tells nothing about the id.
    pub fn csrf_token(&self) -> String {
        self.csrf_mac().map(|mac| URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())).unwrap_or_default()
    }

    /// Whether `token` is this session's CSRF token, compared in constant time.
    pub fn csrf_matches(&self, token: &str) -> bool {
        match (URL_SAFE_NO_PAD.decode(token), self.csrf_mac()) {
            (Ok(bytes), Some(mac)) => mac.verify_slice(&bytes).is_ok(),
            _ => false,
        }
    }

    /// HMAC takes keys of any length, so this is always `Some`.
    fn csrf_mac(&self) -> Option<Hmac<Sha256>> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.0.as_bytes()).ok()?;
        mac.update(b"herald web csrf v1");
        Some(mac)
    }
}

/// A live session and whose it is.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// The absolute end; the idle end is `last_seen_at` + idle.
    pub expires_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_well_formed_and_csrf_tokens_bound_to_them() {
        let a = RawSessionId::generate();
        let b = RawSessionId::generate();
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), ENCODED_LEN);
        assert!(RawSessionId::parse(a.expose()).is_some());
        for bad in ["", "short", &"a".repeat(44), &format!("{}=", &a.expose()[..42]), &"é".repeat(21)] {
            assert!(RawSessionId::parse(bad).is_none(), "{bad:?}");
        }
        assert!(!format!("{a:?}").contains(a.expose()));
        let token = a.csrf_token();
        assert!(a.csrf_matches(&token));
        assert_eq!(RawSessionId::parse(a.expose()).unwrap().csrf_token(), token, "same id, same token");
        assert!(!b.csrf_matches(&token), "another session's token is refused");
        assert!(!a.csrf_matches("") && !a.csrf_matches("not base64!"));
        assert!(!token.contains(a.expose()));
    }
}
