//! Persistence of users and tokens. The SQL here is accepted by both
//! dialects unchanged, so each call is written once (`on_pool!`).

use chrono::{DateTime, Utc};

use super::domain::{Email, ExternalId, Role, Token, TokenHash, User};
use super::password::PasswordDigest;
use super::session::Session;
use crate::storage::{Db, Pool, StorageError, Ts, sqlite_time};

/// A row of `user_account` as the database returns it.
#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    email: Option<String>,
    display_name: Option<String>,
    role: String,
    external_id: Option<String>,
    created_at: DateTime<Utc>,
}

impl TryFrom<UserRow> for User {
    type Error = StorageError;
    fn try_from(r: UserRow) -> Result<Self, StorageError> {
        let role = r.role.parse::<Role>().map_err(|e| {
            tracing::error!(user_id = r.id, error = %e, "user row holds an unknown role");
            StorageError::Other { operation: "accounts.decode_user" }
        })?;
        Ok(User {
            id: r.id,
            email: r.email,
            display_name: r.display_name,
            role,
            external_id: r.external_id,
            created_at: r.created_at,
        })
    }
}

/// A row of `api_token`.
#[derive(sqlx::FromRow)]
struct TokenRow {
    id: i64,
    user_id: i64,
    name: String,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl From<TokenRow> for Token {
    fn from(r: TokenRow) -> Self {
        Token {
            id: r.id,
            user_id: r.user_id,
            name: r.name,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
        }
    }
}

/// A user joined to the token that authenticated it.
#[derive(sqlx::FromRow)]
struct PrincipalRow {
    token_id: i64,
    last_used_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    #[sqlx(flatten)]
    user: UserRow,
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    created_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    #[sqlx(flatten)]
    user: UserRow,
}

/// A live token and its user.
pub struct TokenMatch {
    pub user: User,
    pub token_id: i64,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// New user fields, already parsed.
pub struct NewUser<'a> {
    pub email: Option<&'a Email>,
    pub display_name: Option<&'a str>,
    pub role: Role,
    pub external_id: Option<&'a ExternalId>,
    pub now: DateTime<Utc>,
}

/// What an application says about a user it brings by external id.
pub struct ExternalUser<'a> {
    pub external_id: &'a ExternalId,
    pub email: Option<&'a Email>,
    pub display_name: Option<&'a str>,
    pub now: DateTime<Utc>,
}

/// New token fields; only the hash of the raw token is stored.
pub struct NewToken<'a> {
    pub user_id: i64,
    pub name: &'a str,
    pub hash: &'a TokenHash,
    pub now: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Which tokens to list.
#[derive(Debug, Clone, Copy)]
pub enum TokenScope {
    User(i64),
    All,
}

const USER_COLUMNS: &str = "id, email, display_name, role, external_id, created_at";
const TOKEN_COLUMNS: &str = "id, user_id, name, created_at, last_used_at, expires_at, revoked_at";

/// Repository for users and tokens.
#[derive(Clone)]
pub struct AccountStore {
    db: Db,
}

impl AccountStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    pub async fn create_user(&self, new: NewUser<'_>) -> Result<User, StorageError> {
        let sql = format!(
            "INSERT INTO user_account (email, display_name, role, external_id, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING {USER_COLUMNS}"
        );
        let row: UserRow = self
            .db
            .write("accounts.create_user", &sql)
            .bind(new.email.map(Email::as_str))
            .bind(new.display_name)
            .bind(new.role.as_str())
            .bind(new.external_id.map(ExternalId::as_str))
            .bind(Ts(new.now))
            .fetch_one()
            .await?;
        row.try_into()
    }

    /// Create the member user with this external id, or update the given
    /// fields of the existing one. Returns the user and whether it was
    /// created; `None` when the external id belongs to a non-member, which
    /// is left untouched.
    pub async fn upsert_external(&self, u: ExternalUser<'_>) -> Result<Option<(User, bool)>, StorageError> {
        // `created_at = $5` on the returned row tells insert from update
        // without a second query; the update never touches created_at.
        let sql = format!(
            "INSERT INTO user_account (email, display_name, role, external_id, created_at) \
             VALUES ($1, $2, 'member', $3, $4) \
             ON CONFLICT (external_id) DO UPDATE SET \
               email = COALESCE(excluded.email, user_account.email), \
               display_name = COALESCE(excluded.display_name, user_account.display_name) \
             WHERE user_account.role = 'member' \
             RETURNING {USER_COLUMNS}"
        );
        let row: Option<UserRow> = self
            .db
            .write("accounts.upsert_external", &sql)
            .bind(u.email.map(Email::as_str))
            .bind(u.display_name)
            .bind(u.external_id.as_str())
            .bind(Ts(u.now))
            .fetch_optional()
            .await?;
        let Some(row) = row else { return Ok(None) };
        let user = User::try_from(row)?;
        let created = user.created_at == u.now;
        Ok(Some((user, created)))
    }

    pub async fn user_by_external_id(&self, external_id: &str) -> Result<Option<User>, StorageError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM user_account WHERE external_id = $1");
        let row: Option<UserRow> =
            self.db.read("accounts.user_by_external_id", &sql).bind(external_id).fetch_optional().await?;
        row.map(User::try_from).transpose()
    }

    pub async fn user_by_email(&self, email: &Email) -> Result<Option<User>, StorageError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM user_account WHERE email = $1");
        let row: Option<UserRow> =
            self.db.read("accounts.user_by_email", &sql).bind(email.as_str()).fetch_optional().await?;
        row.map(User::try_from).transpose()
    }

    /// Set (replace) a user's password digest. Whether the user exists.
    pub async fn set_password(&self, user_id: i64, digest: &PasswordDigest) -> Result<bool, StorageError> {
        const SQL: &str = "UPDATE user_account SET password_hash = $2 WHERE id = $1";
        Ok(self.db.write("accounts.set_password", SQL).bind(user_id).bind(digest.0.as_str()).execute().await? == 1)
    }

    /// A user's password digest, if one is set.
    pub async fn password_of(&self, user_id: i64) -> Result<Option<PasswordDigest>, StorageError> {
        const SQL: &str = "SELECT password_hash FROM user_account WHERE id = $1";
        let digest: Option<Option<String>> =
            self.db.read("accounts.password_of", SQL).bind(user_id).scalar_optional().await?;
        Ok(digest.flatten().map(PasswordDigest))
    }

    pub async fn user_by_id(&self, id: i64) -> Result<Option<User>, StorageError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM user_account WHERE id = $1");
        let row: Option<UserRow> = self.db.read("accounts.user_by_id", &sql).bind(id).fetch_optional().await?;
        row.map(User::try_from).transpose()
    }

    /// Users with id above `after`, by id, at most `limit`.
    pub async fn list_users(&self, after: i64, limit: i64) -> Result<Vec<User>, StorageError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM user_account WHERE id > $1 ORDER BY id LIMIT $2");
        let rows: Vec<UserRow> = self.db.read("accounts.list_users", &sql).bind(after).bind(limit).fetch_all().await?;
        rows.into_iter().map(User::try_from).collect()
    }

    /// Ids of every admin and operator: who hears about incidents and alerts.
    pub async fn staff_ids(&self) -> Result<Vec<i64>, StorageError> {
        const SQL: &str = "SELECT id FROM user_account WHERE role IN ('admin', 'operator') ORDER BY id";
        self.db.read("accounts.staff_ids", SQL).scalar_all().await
    }

    pub async fn count_users(&self) -> Result<i64, StorageError> {
        const SQL: &str = "SELECT count(*) FROM user_account";
        self.db.read("accounts.count_users", SQL).scalar_one().await
    }

    /// Store a new session (its id's hash) for `user_id`.
    pub async fn create_session(
        &self,
        hash: &TokenHash,
        user_id: i64,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        const SQL: &str = "INSERT INTO web_session (id_hash, user_id, created_at, last_seen_at, expires_at) \
                           VALUES ($1, $2, $3, $3, $4)";
        self.db
            .write("accounts.create_session", SQL)
            .bind(&hash.0[..])
            .bind(user_id)
            .bind(Ts(now))
            .bind(Ts(expires_at))
            .execute()
            .await
            .map(|_| ())
    }

    /// The session with this hash and its user, if it is live at `now`:
    /// before its absolute end and used since `idle_since`.
    pub async fn session(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
        idle_since: DateTime<Utc>,
    ) -> Result<Option<Session>, StorageError> {
        const SQL: &str = "SELECT s.created_at, s.last_seen_at, s.expires_at, \
                           u.id, u.email, u.display_name, u.role, u.external_id, u.created_at \
                           FROM web_session s JOIN user_account u ON u.id = s.user_id \
                           WHERE s.id_hash = $1 AND s.expires_at > $2 AND s.last_seen_at > $3";
        let row: Option<SessionRow> = self
            .db
            .read("accounts.session", SQL)
            .bind(&hash.0[..])
            .bind(Ts(now))
            .bind(Ts(idle_since))
            .fetch_optional()
            .await?;
        row.map(|r| {
            Ok(Session {
                user: User::try_from(r.user)?,
                created_at: r.created_at,
                last_seen_at: r.last_seen_at,
                expires_at: r.expires_at,
            })
        })
        .transpose()
    }

    /// Record that the session was used at `now`.
    pub async fn touch_session(&self, hash: &TokenHash, now: DateTime<Utc>) -> Result<(), StorageError> {
        const SQL: &str = "UPDATE web_session SET last_seen_at = $2 WHERE id_hash = $1";
        self.db.write("accounts.touch_session", SQL).bind(&hash.0[..]).bind(Ts(now)).execute().await.map(|_| ())
    }

    /// End one session. Whether it existed.
    pub async fn delete_session(&self, hash: &TokenHash) -> Result<bool, StorageError> {
        const SQL: &str = "DELETE FROM web_session WHERE id_hash = $1";
        Ok(self.db.write("accounts.delete_session", SQL).bind(&hash.0[..]).execute().await? > 0)
    }

    /// End every session of a user. How many there were.
    pub async fn delete_sessions_of(&self, user_id: i64) -> Result<u64, StorageError> {
        const SQL: &str = "DELETE FROM web_session WHERE user_id = $1";
        self.db.write("accounts.delete_sessions_of", SQL).bind(user_id).execute().await
    }

    /// Delete sessions past their absolute end or unused since `idle_since`.
    pub async fn purge_sessions(&self, now: DateTime<Utc>, idle_since: DateTime<Utc>) -> Result<u64, StorageError> {
        const SQL: &str = "DELETE FROM web_session WHERE expires_at <= $1 OR last_seen_at <= $2";
        self.db.write("accounts.purge_sessions", SQL).bind(Ts(now)).bind(Ts(idle_since)).execute().await
    }

    /// Store a setup link's token hash for `user_id`.
    pub async fn create_setup_token(
        &self,
        hash: &TokenHash,
        user_id: i64,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        const SQL: &str =
            "INSERT INTO setup_token (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)";
        self.db
            .write("accounts.create_setup_token", SQL)
            .bind(&hash.0[..])
            .bind(user_id)
            .bind(Ts(now))
            .bind(Ts(expires_at))
            .execute()
            .await
            .map(|_| ())
    }

    /// Use a setup link: its row is deleted in the same statement that
    /// finds it, so two uses racing get it once. The user, if it was live.
    pub async fn take_setup_token(&self, hash: &TokenHash, now: DateTime<Utc>) -> Result<Option<i64>, StorageError> {
        const SQL: &str = "DELETE FROM setup_token WHERE token_hash = $1 AND expires_at > $2 RETURNING user_id";
        self.db.write("accounts.take_setup_token", SQL).bind(&hash.0[..]).bind(Ts(now)).scalar_optional().await
    }

    /// Delete setup links past their validity.
    pub async fn purge_setup_tokens(&self, now: DateTime<Utc>) -> Result<u64, StorageError> {
        const SQL: &str = "DELETE FROM setup_token WHERE expires_at <= $1";
        self.db.write("accounts.purge_setup_tokens", SQL).bind(Ts(now)).execute().await
    }

    /// Record one failed sign-in for each subject.
    pub async fn record_sign_in_failure(&self, subjects: &[String], now: DateTime<Utc>) -> Result<(), StorageError> {
        const SQL: &str = "INSERT INTO sign_in_failure (subject, failed_at) VALUES ($1, $2)";
        for subject in subjects {
            self.db
                .write("accounts.record_sign_in_failure", SQL)
                .bind(subject.as_str())
                .bind(Ts(now))
                .execute()
                .await?;
        }
        Ok(())
    }

    /// Failed sign-ins of `subject` since `since`: how many, and the oldest.
    pub async fn sign_in_failures(
        &self,
        subject: &str,
        since: DateTime<Utc>,
    ) -> Result<(i64, Option<DateTime<Utc>>), StorageError> {
        const SQL: &str = "SELECT count(*), min(failed_at) FROM sign_in_failure WHERE subject = $1 AND failed_at > $2";
        self.db.read("accounts.sign_in_failures", SQL).bind(subject).bind(Ts(since)).fetch_one().await
    }

    /// Forget a subject's failed sign-ins (its account signed in).
    pub async fn clear_sign_in_failures(&self, subject: &str) -> Result<(), StorageError> {
        const SQL: &str = "DELETE FROM sign_in_failure WHERE subject = $1";
        self.db.write("accounts.clear_sign_in_failures", SQL).bind(subject).execute().await.map(|_| ())
    }

    /// Delete failed sign-ins older than `before`.
    pub async fn purge_sign_in_failures(&self, before: DateTime<Utc>) -> Result<u64, StorageError> {
        const SQL: &str = "DELETE FROM sign_in_failure WHERE failed_at <= $1";
        self.db.write("accounts.purge_sign_in_failures", SQL).bind(Ts(before)).execute().await
    }

    pub async fn create_token(&self, new: NewToken<'_>) -> Result<Token, StorageError> {
        let sql = format!(
            "INSERT INTO api_token (user_id, name, token_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING {TOKEN_COLUMNS}"
        );
        let row: TokenRow = self
            .db
            .write("accounts.create_token", &sql)
            .bind(new.user_id)
            .bind(new.name)
            .bind(&new.hash.0[..])
            .bind(Ts(new.now))
            .bind(new.expires_at.map(Ts))
            .fetch_one()
            .await?;
        Ok(row.into())
    }

    /// The user behind a live (not revoked, not expired) token.
    pub async fn principal(&self, hash: &TokenHash, now: DateTime<Utc>) -> Result<Option<TokenMatch>, StorageError> {
        const SQL: &str = "SELECT t.id AS token_id, t.last_used_at, t.expires_at, u.id, u.email, u.display_name, u.role, u.external_id, u.created_at \
                           FROM api_token t JOIN user_account u ON u.id = t.user_id \
                           WHERE t.token_hash = $1 AND t.revoked_at IS NULL \
                           AND (t.expires_at IS NULL OR t.expires_at > $2)";
        let row: Option<PrincipalRow> =
            self.db.read("accounts.principal", SQL).bind(&hash.0[..]).bind(Ts(now)).fetch_optional().await?;
        row.map(|r| {
            Ok(TokenMatch {
                user: User::try_from(r.user)?,
                token_id: r.token_id,
                last_used_at: r.last_used_at,
                expires_at: r.expires_at,
            })
        })
        .transpose()
    }

    /// Record when tokens were last used, in one transaction. A later time
    /// already stored (another instance's flush) is kept.
    pub async fn record_usage(&self, used: &[(i64, DateTime<Utc>)]) -> Result<(), StorageError> {
        if used.is_empty() {
            return Ok(());
        }
        let db = &self.db;
        match db.pool() {
            Pool::Postgres(p) => {
                // One set-based statement, however many tokens were used.
                const SQL: &str = "UPDATE api_token t SET last_used_at = v.at \
                                   FROM UNNEST($1::bigint[], $2::timestamptz[]) AS v(id, at) \
                                   WHERE t.id = v.id AND (t.last_used_at IS NULL OR t.last_used_at < v.at)";
                let ids: Vec<i64> = used.iter().map(|(id, _)| *id).collect();
                let ats: Vec<DateTime<Utc>> = used.iter().map(|(_, at)| *at).collect();
                let mut c = db.acquire_write(p).await?;
                db.observe("accounts.record_usage", SQL, sqlx::query(SQL).bind(ids).bind(ats).execute(&mut *c)).await?;
            }
            Pool::Sqlite(p) => {
                // One statement over a JSON list of [id, time] pairs: each
                // statement is a hand-off to sqlx's SQLite worker thread.
                const SQL: &str = "UPDATE api_token SET last_used_at = json_extract(u.value, '$[1]') \
                                   FROM json_each($1) AS u WHERE api_token.id = json_extract(u.value, '$[0]') \
                                   AND (api_token.last_used_at IS NULL \
                                        OR api_token.last_used_at < json_extract(u.value, '$[1]'))";
                let pairs: Vec<(i64, String)> = used.iter().map(|(id, at)| (*id, sqlite_time(*at))).collect();
                let list = serde_json::to_string(&pairs).unwrap_or_else(|_| "[]".into());
                let mut c = db.acquire_write(p).await?;
                db.observe("accounts.record_usage", SQL, sqlx::query(SQL).bind(list).execute(&mut *c)).await?;
            }
        }
        Ok(())
    }

    pub async fn list_tokens(&self, scope: TokenScope) -> Result<Vec<Token>, StorageError> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_token WHERE ($1 IS NULL OR user_id = $1) ORDER BY id");
        let user = match scope {
            TokenScope::User(id) => Some(id),
            TokenScope::All => None,
        };
        let rows: Vec<TokenRow> = self.db.read("accounts.list_tokens", &sql).bind(user).fetch_all().await?;
        Ok(rows.into_iter().map(Token::from).collect())
    }

    pub async fn token_by_id(&self, id: i64) -> Result<Option<Token>, StorageError> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_token WHERE id = $1");
        let row: Option<TokenRow> = self.db.read("accounts.token_by_id", &sql).bind(id).fetch_optional().await?;
        Ok(row.map(Token::from))
    }

    /// Mark a token revoked; an already revoked token keeps its first time.
    pub async fn revoke_token(&self, id: i64, now: DateTime<Utc>) -> Result<(), StorageError> {
        const SQL: &str = "UPDATE api_token SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL";
        self.db.write("accounts.revoke_token", SQL).bind(id).bind(Ts(now)).execute().await?;
        Ok(())
    }
}
