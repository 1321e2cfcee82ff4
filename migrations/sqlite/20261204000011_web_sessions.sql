-- Web sign-in sessions: the SHA-256 of the cookie's random id (the id
-- itself is never stored), whose it is, and when it started, was last used
-- and ends at the latest. Signing out deletes the row, so every instance
-- refuses the cookie at once.
CREATE TABLE web_session (
    id_hash      BLOB    PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES user_account (id) ON DELETE CASCADE,
    created_at   TEXT    NOT NULL,
    last_seen_at TEXT    NOT NULL,
    expires_at   TEXT    NOT NULL
);
-- "Sign out everywhere" and a password change end a user's sessions.
CREATE INDEX web_session_user_idx ON web_session (user_id);
