//! Recently authenticated tokens, kept in memory so that most requests skip
//! the token lookup. Revocation removes an entry at once on this instance
//! and, through the realtime bus, on every other; a short lifetime bounds
//! what a missed invalidation could cost.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::domain::{Principal, TokenHash};

/// Entries above this are dropped wholesale; rebuilding costs one query each.
const CAPACITY: usize = 10_000;

#[derive(Clone)]
struct Entry {
    principal: Principal,
    expires_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    cached_at: Instant,
}

/// What the cache knows of a token.
#[derive(Debug, Clone)]
pub struct Cached {
    pub principal: Principal,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Shared between the account service and the realtime bus. Cheap to clone.
#[derive(Clone)]
pub struct TokenCache {
    entries: Arc<Mutex<HashMap<[u8; 32], Entry>>>,
    ttl: Duration,
}

impl TokenCache {
    /// `ttl` zero disables the cache.
    pub fn new(ttl: Duration) -> Self {
        Self { entries: Arc::default(), ttl }
    }

    pub fn get(&self, hash: &TokenHash, now: DateTime<Utc>) -> Option<Cached> {
        if self.ttl.is_zero() {
            return None;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries.get(&hash.0)?;
        let fresh = entry.cached_at.elapsed() < self.ttl && entry.expires_at.is_none_or(|at| at > now);
        if !fresh {
            entries.remove(&hash.0);
            return None;
        }
        Some(Cached { principal: entry.principal.clone(), last_used_at: entry.last_used_at })
    }

    pub fn put(
        &self,
        hash: &TokenHash,
        principal: Principal,
        expires_at: Option<DateTime<Utc>>,
        last_used_at: Option<DateTime<Utc>>,
    ) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(hash.0, Entry { principal, expires_at, last_used_at, cached_at: Instant::now() });
    }

    /// Remember that the token's use was just recorded.
    pub fn touched(&self, hash: &TokenHash, at: DateTime<Utc>) {
        if let Some(e) = self.entries.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&hash.0) {
            e.last_used_at = Some(at);
        }
    }

    /// A token was revoked.
    pub fn forget_token(&self, token_id: i64) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).retain(|_, e| e.principal.token_id != Some(token_id));
    }

    /// A user changed: their next request reloads them.
    pub fn forget_user(&self, user_id: i64) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).retain(|_, e| e.principal.user.id != user_id);
    }

    /// Invalidations may have been missed (the bus lost its connection).
    pub fn clear(&self) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::{Role, User};

    fn principal(user_id: i64, token_id: i64) -> Principal {
        Principal {
            user: User {
                id: user_id,
                email: None,
                display_name: None,
                role: Role::Member,
                external_id: None,
                created_at: Utc::now(),
            },
            token_id: Some(token_id),
        }
    }

    #[test]
    fn entries_expire_with_the_token_and_are_forgotten_on_revocation() {
        let cache = TokenCache::new(Duration::from_secs(30));
        let now = Utc::now();
        let a = TokenHash::of("a");
        let b = TokenHash::of("b");
        cache.put(&a, principal(1, 10), None, None);
        cache.put(&b, principal(1, 11), Some(now + chrono::Duration::seconds(1)), None);
        assert!(cache.get(&a, now).is_some());
        assert!(cache.get(&b, now + chrono::Duration::seconds(2)).is_none(), "token expiry is honoured");
        cache.forget_token(10);
        assert!(cache.get(&a, now).is_none());
        cache.put(&a, principal(1, 10), None, None);
        cache.forget_user(1);
        assert!(cache.get(&a, now).is_none());
    }

    #[test]
    fn zero_ttl_disables_it() {
        let cache = TokenCache::new(Duration::ZERO);
        let a = TokenHash::of("a");
        cache.put(&a, principal(1, 10), None, None);
        assert!(cache.get(&a, Utc::now()).is_none());
    }
}
