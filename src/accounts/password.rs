//! Passwords for signing in to the web app: argon2id with the crate's
//! default parameters (19 MiB, two passes), stored as a PHC string, never
//! logged, never returned. Hashing takes tens of milliseconds of one core
//! on purpose, so it runs on the blocking pool, off the async workers.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;

/// Shortest password accepted, in characters.
pub const MIN_CHARS: usize = 10;
/// Longest password accepted, in bytes: argon2 takes any length, but a
/// bound keeps one sign-in from costing more than another.
pub const MAX_BYTES: usize = 1024;

/// A password that meets the length rules. Its `Debug` hides it.
#[derive(Clone)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl Password {
    /// Check the length rules; the error says which one failed, never the text.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.chars().count() < MIN_CHARS {
            return Err(format!("must be at least {MIN_CHARS} characters"));
        }
        if text.len() > MAX_BYTES {
            return Err(format!("must be at most {MAX_BYTES} bytes"));
        }
        Ok(Self(text.to_string()))
    }

    /// A password as typed at sign-in: no length rule (a wrong one is just
    /// wrong), but never more than [`MAX_BYTES`] hashed.
    pub fn candidate(text: &str) -> Option<Self> {
        (text.len() <= MAX_BYTES).then(|| Self(text.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The stored form: a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordDigest(pub String);

impl std::fmt::Debug for PasswordDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordDigest(<redacted>)")
    }
}

/// Hash `password` with a fresh random salt.
pub async fn hash(password: &Password) -> Result<PasswordDigest, argon2::password_hash::Error> {
    let text = password.0.clone();
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    blocking(move || {
        let salt = SaltString::encode_b64(&salt)?;
        let phc = Argon2::default().hash_password(text.as_bytes(), &salt)?;
        Ok(PasswordDigest(phc.to_string()))
    })
    .await
}

/// Whether `password` matches `digest`; `None` (a user without a password,
/// or none at all) is checked against a fixed digest so that it takes as
/// long as a real one and answers no.
pub async fn verify(password: &Password, digest: Option<&PasswordDigest>) -> bool {
    let text = password.0.clone();
    let stored = digest.map(|d| d.0.clone());
    blocking(move || {
        let phc = match stored.as_deref() {
            Some(phc) => phc,
            None => no_password()?,
        };
        let matched = match PasswordHash::new(phc) {
            Ok(parsed) => Argon2::default().verify_password(text.as_bytes(), &parsed).is_ok(),
            Err(_) => false,
        };
        Ok(matched && stored.is_some())
    })
    .await
    .unwrap_or(false)
}

/// The digest of a random password nobody knows, made once, verified
/// against when there is no user or no password.
fn no_password() -> Result<&'static str, argon2::password_hash::Error> {
    static DIGEST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(d) = DIGEST.get() {
        return Ok(d);
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let salt = SaltString::encode_b64(&bytes[..16])?;
    let phc = Argon2::default().hash_password(&bytes[16..], &salt)?.to_string();
    Ok(DIGEST.get_or_init(|| phc))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, argon2::password_hash::Error> + Send + 'static,
) -> Result<T, argon2::password_hash::Error> {
    tokio::task::spawn_blocking(f).await.unwrap_or(Err(argon2::password_hash::Error::Crypto))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_password_verifies_against_its_own_digest_only() {
        let password = Password::parse("correct horse battery").unwrap();
        let digest = hash(&password).await.unwrap();
        assert!(digest.0.starts_with("$argon2id$v=19$"), "argon2id in PHC form");
        assert!(!digest.0.contains("correct horse"));
        assert!(verify(&password, Some(&digest)).await);
        assert!(!verify(&Password::candidate("correct horse battery!").unwrap(), Some(&digest)).await);
        assert!(!verify(&password, None).await, "no digest never matches");
        // Two hashes of one password differ (fresh salt).
        assert_ne!(hash(&password).await.unwrap(), digest);
    }

    #[test]
    fn length_rules_and_redaction() {
        assert!(Password::parse("short").unwrap_err().contains("at least 10"));
        assert!(Password::parse(&"x".repeat(MAX_BYTES + 1)).unwrap_err().contains("at most"));
        assert!(Password::candidate(&"x".repeat(MAX_BYTES + 1)).is_none());
        let p = Password::parse("a secret phrase").unwrap();
        assert!(!format!("{p:?}").contains("secret"));
        // The no-user path verifies against a real digest: the same work.
        assert!(PasswordHash::new(no_password().unwrap()).is_ok());
    }
}
