-- Users and their API tokens.
-- Timestamps are fixed-width RFC 3339 UTC text (see storage::Ts), so text order is time order.

CREATE TABLE user_account (
    id               INTEGER PRIMARY KEY,
    -- Users brought by an application may have no email, only an external id.
    email            TEXT,
    display_name     TEXT,
    role             TEXT    NOT NULL CHECK (role IN ('admin', 'operator', 'member', 'sender')),
    -- An application's own id for this user (PUT /users/external/{external_id}).
    external_id      TEXT,
    -- The cursor of this user's newest notification; bumped in the same
    -- transaction that inserts one, so cursors are gapless per user.
    notification_seq INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT    NOT NULL
);
CREATE UNIQUE INDEX user_account_email_key ON user_account (email);
CREATE UNIQUE INDEX user_account_external_id_key ON user_account (external_id);
CREATE INDEX user_account_role_idx ON user_account (role, id);

CREATE TABLE api_token (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES user_account (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    -- SHA-256 of the raw token; the raw token is shown once and never stored.
    token_hash   BLOB    NOT NULL,
    created_at   TEXT    NOT NULL,
    last_used_at TEXT,
    expires_at   TEXT,
    revoked_at   TEXT
);
CREATE UNIQUE INDEX api_token_hash_key ON api_token (token_hash);
CREATE INDEX api_token_user_idx ON api_token (user_id, id);
