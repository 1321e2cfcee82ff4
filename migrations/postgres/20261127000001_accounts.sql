-- Users and their API tokens.

CREATE TABLE user_account (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Users brought by an application may have no email, only an external id.
    email            TEXT,
    display_name     TEXT,
    role             TEXT        NOT NULL CHECK (role IN ('admin', 'operator', 'member', 'sender')),
    -- An application's own id for this user (PUT /users/external/{external_id}).
    external_id      TEXT,
    -- The cursor of this user's newest notification; bumped in the same
    -- statement that inserts one, so cursors are gapless per user even with
    -- several instances writing (the row lock orders them).
    notification_seq BIGINT      NOT NULL DEFAULT 0,
    created_at       TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX user_account_email_key ON user_account (email);
CREATE UNIQUE INDEX user_account_external_id_key ON user_account (external_id);
CREATE INDEX user_account_role_idx ON user_account (role, id);

CREATE TABLE api_token (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      BIGINT      NOT NULL REFERENCES user_account (id) ON DELETE CASCADE,
    name         TEXT        NOT NULL,
    -- SHA-256 of the raw token; the raw token is shown once and never stored.
    token_hash   BYTEA       NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    expires_at   TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);
CREATE UNIQUE INDEX api_token_hash_key ON api_token (token_hash);
CREATE INDEX api_token_user_idx ON api_token (user_id, id);
