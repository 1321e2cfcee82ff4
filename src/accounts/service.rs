//! Account rules: who may create which user or token, how a bearer token
//! becomes a principal, and the first-admin bootstrap.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, SubsecRound, Utc};

use super::cache::TokenCache;
use super::domain::{Email, ExternalId, Label, Principal, RawToken, Role, Token, TokenHash, User};
use super::password::{self, Password};
use super::session::{RawSessionId, SETUP_LINK_HOURS, Session, SessionRules, SetupToken};
use super::store::{AccountStore, ExternalUser, NewToken, NewUser, TokenScope};
use crate::clock::Clock;
use crate::storage::StorageError;

/// What account operations can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("a user with this email already exists")]
    EmailTaken,
    #[error("a user with this external_id already exists")]
    ExternalIdTaken,
    #[error("this user is not a member; applications manage member users only")]
    NotAMember,
    #[error("user not found")]
    UserNotFound,
    #[error("token not found")]
    TokenNotFound,
    #[error("missing, unknown, expired or revoked token")]
    Unauthenticated,
    /// Sign-in refused: unknown email, no password set, or a wrong one
    /// (never which).
    #[error("wrong email or password")]
    WrongPassword,
    #[error("senders are applications: they use API tokens and have no password")]
    SenderPassword,
    #[error("the password could not be hashed")]
    Hashing,
    #[error("too many failed sign-ins; try again in {retry_after_seconds} s")]
    Throttled { retry_after_seconds: u64 },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Which unique field a refused write clashed on.
fn conflict_field(e: StorageError) -> AccountError {
    match e {
        e if e.is_conflict_on("user_account_external_id_key") => AccountError::ExternalIdTaken,
        e if e.is_conflict_on("user_account_email_key") => AccountError::EmailTaken,
        other => AccountError::Storage(other),
    }
}

/// Longest lifetime a token can be given at creation (10 years).
pub const MAX_TOKEN_LIFETIME_SECONDS: i64 = 10 * 365 * 24 * 3600;

/// Account operations over the store.
#[derive(Clone)]
pub struct AccountService {
    store: AccountStore,
    clock: Clock,
    cache: TokenCache,
    /// Token uses not yet written: token id → when.
    usage: Arc<Mutex<HashMap<i64, DateTime<Utc>>>>,
    sessions: SessionRules,
}

/// How stale `last_used_at` may get before a use is recorded again.
pub const TOKEN_TOUCH_INTERVAL: chrono::Duration = chrono::Duration::seconds(60);

impl AccountService {
    pub fn new(store: AccountStore, clock: Clock, cache: TokenCache) -> Self {
        Self { store, clock, cache, usage: Arc::default(), sessions: SessionRules::default() }
    }

    /// How long web sessions live (the configuration's `web` settings).
    pub fn with_session_rules(mut self, rules: SessionRules) -> Self {
        self.sessions = rules;
        self
    }

    /// Start a web session for `user` (after [`AccountService::check_password`]):
    /// a new random id every time. Senders are applications and cannot.
    pub async fn start_session(&self, user: &User) -> Result<(RawSessionId, Session), AccountError> {
        if user.role == Role::Sender {
            return Err(AccountError::SenderPassword);
        }
        let now = self.clock.now().trunc_subsecs(6);
        let raw = RawSessionId::generate();
        let expires_at = now + self.sessions.absolute;
        self.store.create_session(&raw.hash(), user.id, now, expires_at).await?;
        tracing::info!(user_id = user.id, "web session started");
        Ok((raw, Session { user: user.clone(), created_at: now, last_seen_at: now, expires_at }))
    }

    /// The live session behind a cookie's id; its last use is recorded at
    /// most once a minute. Ended, expired or idle sessions (and ids that
    /// were never issued) are `Unauthenticated`.
    pub async fn session(&self, raw: &RawSessionId) -> Result<Session, AccountError> {
        let now = self.clock.now().trunc_subsecs(6);
        let hash = raw.hash();
        let session = self.store.session(&hash, now, now - self.sessions.idle).await?;
        let mut session = session.ok_or(AccountError::Unauthenticated)?;
        if now - session.last_seen_at >= TOKEN_TOUCH_INTERVAL {
            self.store.touch_session(&hash, now).await?;
            session.last_seen_at = now;
        }
        Ok(session)
    }

    /// Sign out: the session's row is gone, for every instance. Whether it was live.
    pub async fn end_session(&self, raw: &RawSessionId) -> Result<bool, AccountError> {
        Ok(self.store.delete_session(&raw.hash()).await?)
    }

    /// End every session of a user ("sign out everywhere", a password change).
    pub async fn end_sessions(&self, user_id: i64) -> Result<u64, AccountError> {
        let ended = self.store.delete_sessions_of(user_id).await?;
        tracing::info!(user_id, ended, "web sessions ended");
        Ok(ended)
    }

    /// Delete the rows of sessions that have ended by time, failed
    /// sign-ins that have left the window and expired setup links.
    pub async fn purge_sessions(&self) -> Result<u64, AccountError> {
        let now = self.clock.now();
        let sessions = self.store.purge_sessions(now, now - self.sessions.idle).await?;
        let failures = self.store.purge_sign_in_failures(now - self.sessions.sign_in_window).await?;
        let links = self.store.purge_setup_tokens(now).await?;
        Ok(sessions + failures + links)
    }

    /// A one-time setup link's token for `user_id`, valid for 24 hours,
    /// with which the user chooses a password. Senders have none.
    pub async fn mint_setup_token(&self, user_id: i64) -> Result<SetupToken, AccountError> {
        let user = self.user_by_id(user_id).await?;
        if user.role == Role::Sender {
            return Err(AccountError::SenderPassword);
        }
        let now = self.clock.now().trunc_subsecs(6);
        let token = SetupToken::generate();
        let expires_at = now + chrono::Duration::hours(SETUP_LINK_HOURS);
        self.store.create_setup_token(&token.hash(), user_id, now, expires_at).await?;
        Ok(token)
    }

    /// Use a setup link to set its user's password: once, within its
    /// validity; unknown, used and expired links are `Unauthenticated`.
    /// The password is hashed before the link is used, so a hashing
    /// failure leaves the link working.
    pub async fn redeem_setup_token(&self, token: &str, password: &Password) -> Result<User, AccountError> {
        let token = SetupToken::parse(token).ok_or(AccountError::Unauthenticated)?;
        let digest = password::hash(password).await.map_err(|e| {
            tracing::error!(error = %e, "password hashing failed");
            AccountError::Hashing
        })?;
        let now = self.clock.now();
        let user_id = self.store.take_setup_token(&token.hash(), now).await?.ok_or(AccountError::Unauthenticated)?;
        if !self.store.set_password(user_id, &digest).await? {
            return Err(AccountError::UserNotFound);
        }
        self.end_sessions(user_id).await?;
        tracing::info!(user_id, "password chosen through a setup link");
        self.user_by_id(user_id).await
    }

    /// Sign in with what a person typed, from `client` (its address when
    /// known): the user on success. Failures count per account and per
    /// address; past `sign_in_attempts` within the window both are refused
    /// (`Throttled`, even with the right password) until the oldest failure
    /// leaves it, and each failure is answered later than the one before
    /// (100 ms more each, at most 1 s, on top of the password hash). A
    /// success clears its account's count, not its address's. Logged
    /// without the password.
    pub async fn sign_in(&self, email: &str, password: &str, client: Option<IpAddr>) -> Result<User, AccountError> {
        let now = self.clock.now();
        let since = now - self.sessions.sign_in_window;
        // Bounded, so a huge field costs nothing to count.
        let account: String = email.trim().to_lowercase().chars().take(320).collect();
        let mut subjects = vec![format!("account:{account}")];
        if let Some(address) = client {
            subjects.push(format!("address:{address}"));
        }
        let mut failed_before = 0;
        for subject in &subjects {
            let (count, oldest) = self.store.sign_in_failures(subject, since).await?;
            if count >= i64::from(self.sessions.sign_in_attempts) {
                let free_at = oldest.unwrap_or(now) + self.sessions.sign_in_window;
                let retry_after_seconds = u64::try_from((free_at - now).num_seconds()).unwrap_or(0).max(1);
                tracing::warn!(account, client = ?client, retry_after_seconds, "sign-in refused: too many failures");
                return Err(AccountError::Throttled { retry_after_seconds });
            }
            failed_before = failed_before.max(count);
        }
        let checked = match (Email::parse(&account), Password::candidate(password)) {
            (Ok(email), Some(password)) => self.check_password(&email, &password).await,
            _ => Err(AccountError::WrongPassword),
        };
        match checked {
            Ok(user) => {
                self.store.clear_sign_in_failures(&subjects[0]).await?;
                tracing::info!(user_id = user.id, client = ?client, "signed in");
                Ok(user)
            }
            Err(AccountError::WrongPassword) => {
                self.store.record_sign_in_failure(&subjects, now).await?;
                tracing::warn!(account, client = ?client, failures = failed_before + 1, "sign-in failed");
                let delay = (failed_before + 1).min(10).unsigned_abs() * 100;
                tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
                Err(AccountError::WrongPassword)
            }
            Err(other) => Err(other),
        }
    }

    /// On an empty database, create the first admin and a token for it.
    /// Returns the raw token to show once, or `None` when users exist
    /// (also when another instance won the race to create the admin).
    pub async fn bootstrap_admin(&self, email: &Email) -> Result<Option<(User, RawToken)>, AccountError> {
        if self.store.count_users().await? > 0 {
            return Ok(None);
        }
        let user = match self.create_user(Some(email), Role::Admin, None, None).await {
            Ok(user) => user,
            Err(AccountError::EmailTaken) => return Ok(None),
            Err(e) => return Err(e),
        };
        let (_, raw) = self.create_token(user.id, &Label::fixed("bootstrap"), None).await?;
        Ok(Some((user, raw)))
    }

    pub async fn create_user(
        &self,
        email: Option<&Email>,
        role: Role,
        display_name: Option<&Label>,
        external_id: Option<&ExternalId>,
    ) -> Result<User, AccountError> {
        let display_name = display_name.map(Label::as_str);
        let new = NewUser { email, display_name, role, external_id, now: self.clock.now() };
        self.store.create_user(new).await.map_err(conflict_field)
    }

    /// Create or update the member user an application knows by `external_id`.
    /// Returns the user and whether it was created.
    pub async fn upsert_external(
        &self,
        external_id: &ExternalId,
        email: Option<&Email>,
        display_name: Option<&Label>,
    ) -> Result<(User, bool), AccountError> {
        // Microseconds: what both databases store, so the store can tell an
        // insert (created_at = now) from an update.
        let now = self.clock.now().trunc_subsecs(6);
        let u = ExternalUser { external_id, email, display_name: display_name.map(Label::as_str), now };
        // None: the external id names an operator or admin, which
        // applications may not manage; it was left untouched.
        let (user, created) =
            self.store.upsert_external(u).await.map_err(conflict_field)?.ok_or(AccountError::NotAMember)?;
        self.cache.forget_user(user.id);
        Ok((user, created))
    }

    /// Set (or replace) the password `user_id` signs in with. Senders
    /// cannot have one.
    pub async fn set_password(&self, user_id: i64, password: &Password) -> Result<(), AccountError> {
        let user = self.user_by_id(user_id).await?;
        if user.role == Role::Sender {
            return Err(AccountError::SenderPassword);
        }
        let digest = password::hash(password).await.map_err(|e| {
            tracing::error!(error = %e, "password hashing failed");
            AccountError::Hashing
        })?;
        if !self.store.set_password(user_id, &digest).await? {
            return Err(AccountError::UserNotFound);
        }
        // Whoever signed in with the old password is signed out.
        self.end_sessions(user_id).await?;
        tracing::info!(user_id, "password set");
        Ok(())
    }

    /// The user whose email and password these are. Unknown emails, users
    /// without a password and senders take as long as a wrong password
    /// and get the same answer.
    pub async fn check_password(&self, email: &Email, password: &Password) -> Result<User, AccountError> {
        let user = self.store.user_by_email(email).await?.filter(|u| u.role != Role::Sender);
        let digest = match &user {
            Some(u) => self.store.password_of(u.id).await?,
            None => None,
        };
        match user {
            Some(user) if password::verify(password, digest.as_ref()).await => Ok(user),
            Some(_) => Err(AccountError::WrongPassword),
            None => {
                password::verify(password, None).await;
                Err(AccountError::WrongPassword)
            }
        }
    }

    pub async fn user_by_id(&self, id: i64) -> Result<User, AccountError> {
        self.store.user_by_id(id).await?.ok_or(AccountError::UserNotFound)
    }

    pub async fn user_by_external_id(&self, external_id: &str) -> Result<User, AccountError> {
        self.store.user_by_external_id(external_id).await?.ok_or(AccountError::UserNotFound)
    }

    pub async fn user_by_email(&self, email: &Email) -> Result<User, AccountError> {
        self.store.user_by_email(email).await?.ok_or(AccountError::UserNotFound)
    }

    pub async fn list_users(&self, after: i64, limit: i64) -> Result<Vec<User>, AccountError> {
        Ok(self.store.list_users(after, limit).await?)
    }

    /// Mint a token for `user_id`; the raw value is returned once and only its hash is kept.
    pub async fn create_token(
        &self,
        user_id: i64,
        name: &Label,
        expires_in_seconds: Option<i64>,
    ) -> Result<(Token, RawToken), AccountError> {
        let raw = RawToken::generate();
        let now = self.clock.now();
        let expires_at = expires_in_seconds.map(|s| now + chrono::Duration::seconds(s));
        let token = self
            .store
            .create_token(NewToken { user_id, name: name.as_str(), hash: &raw.hash(), now, expires_at })
            .await?;
        Ok((token, raw))
    }

    /// Turn a bearer token into the principal it belongs to: from the
    /// cache when it was seen recently, else from the database.
    pub async fn authenticate(&self, raw: &str) -> Result<Principal, AccountError> {
        let now = self.clock.now();
        let hash = TokenHash::of(raw);
        let (principal, last_used_at) = match self.cache.get(&hash, now) {
            Some(cached) => (cached.principal, cached.last_used_at),
            None => {
                let found = self.store.principal(&hash, now).await?.ok_or(AccountError::Unauthenticated)?;
                let principal = Principal { user: found.user, token_id: Some(found.token_id) };
                self.cache.put(&hash, principal.clone(), found.expires_at, found.last_used_at);
                (principal, found.last_used_at)
            }
        };
        // A stale last_used_at is noted in memory and written in batches
        // (flush_usage), so authenticating never waits on a write.
        if last_used_at.is_none_or(|t| t < now - TOKEN_TOUCH_INTERVAL) {
            if let Some(token_id) = principal.token_id {
                self.usage.lock().unwrap_or_else(|e| e.into_inner()).insert(token_id, now);
            }
            self.cache.touched(&hash, now);
        }
        Ok(principal)
    }

    /// Write the token uses noted since the last flush. Runs periodically,
    /// at shutdown, and before tokens are listed.
    pub async fn flush_usage(&self) -> Result<usize, AccountError> {
        let used: Vec<(i64, DateTime<Utc>)> =
            std::mem::take(&mut *self.usage.lock().unwrap_or_else(|e| e.into_inner())).into_iter().collect();
        if let Err(e) = self.store.record_usage(&used).await {
            // Put them back for the next flush (keeping any newer use).
            let mut pending = self.usage.lock().unwrap_or_else(|e| e.into_inner());
            for (id, at) in used {
                pending.entry(id).or_insert(at);
            }
            return Err(e.into());
        }
        Ok(used.len())
    }

    /// Tokens the caller may see: their own, or for an admin any user's (or all).
    pub async fn list_tokens(&self, caller: &Principal, user_id: Option<i64>) -> Result<Vec<Token>, AccountError> {
        // Show the latest uses, including ones this instance has not written yet.
        self.flush_usage().await?;
        let scope = match (caller.user.role, user_id) {
            (Role::Admin, Some(id)) => TokenScope::User(id),
            (Role::Admin, None) => TokenScope::All,
            // Anyone else sees only their own, whatever they ask for.
            (_, Some(id)) if id != caller.user.id => return Ok(Vec::new()),
            _ => TokenScope::User(caller.user.id),
        };
        Ok(self.store.list_tokens(scope).await?)
    }

    /// Revoke a token the caller owns (an admin: any token). Someone else's
    /// token answers "not found", so ids reveal nothing.
    pub async fn revoke_token(&self, caller: &Principal, id: i64) -> Result<Token, AccountError> {
        let token = self.store.token_by_id(id).await?.ok_or(AccountError::TokenNotFound)?;
        if token.user_id != caller.user.id && caller.user.role != Role::Admin {
            return Err(AccountError::TokenNotFound);
        }
        self.store.revoke_token(id, self.clock.now()).await?;
        // Other instances hear of it through the realtime bus (the caller publishes).
        self.cache.forget_token(id);
        self.store.token_by_id(id).await?.ok_or(AccountError::TokenNotFound)
    }
}

/// Records the token use buffered in the cache, every half touch interval
/// (and once more on the way down, so no use is lost to a stop).
pub struct UsageFlush(pub AccountService);

impl UsageFlush {
    pub fn schedule() -> crate::workers::Schedule {
        let every = (TOKEN_TOUCH_INTERVAL / 2).to_std().unwrap_or(std::time::Duration::from_secs(30));
        crate::workers::Schedule::every(every).with_last_pass_on_stop()
    }
}

/// Deletes the rows of web sessions that have ended by time, every 15
/// minutes (an ended session is refused at once anyway; this keeps the
/// table small).
pub struct SessionPurge(pub AccountService);

impl SessionPurge {
    pub fn schedule() -> crate::workers::Schedule {
        crate::workers::Schedule::every(std::time::Duration::from_secs(15 * 60))
    }
}

impl crate::workers::Worker for SessionPurge {
    async fn pass(&mut self) -> anyhow::Result<crate::workers::Pass> {
        use anyhow::Context;
        let n = self.0.purge_sessions().await.context("could not purge ended web sessions")?;
        if n > 0 {
            tracing::debug!(sessions = n, "purged ended web sessions");
        }
        Ok(crate::workers::Pass::Idle)
    }
}

impl crate::workers::Worker for UsageFlush {
    async fn pass(&mut self) -> anyhow::Result<crate::workers::Pass> {
        use anyhow::Context;
        let n = self.0.flush_usage().await.context("could not record token use")?;
        if n > 0 {
            tracing::debug!(tokens = n, "recorded token use");
        }
        Ok(crate::workers::Pass::Idle)
    }
}
