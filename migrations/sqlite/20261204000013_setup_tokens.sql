-- One-time links (/setup?token=…) with which a user chooses a password:
-- the first admin's, printed at the first start. Only the SHA-256 of the
-- token is kept; a link works once, within its validity.
CREATE TABLE setup_token (
    token_hash BLOB PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES user_account (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
