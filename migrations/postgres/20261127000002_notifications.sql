-- The per-user notification inbox and the announcements that fan out into it.

CREATE TABLE announcement (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_by      BIGINT  NOT NULL REFERENCES user_account (id),
    created_at      TIMESTAMPTZ        NOT NULL,
    -- The audience as requested: {"all":true} | {"role":…} | {"user_ids":[…]} | {"external_ids":[…]}.
    audience        JSONB       NOT NULL,
    recipients      INTEGER NOT NULL,
    type            TEXT        NOT NULL,
    title           TEXT        NOT NULL,
    idempotency_key TEXT
);
CREATE UNIQUE INDEX announcement_idempotency_key ON announcement (created_by, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

CREATE TABLE notification (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         BIGINT  NOT NULL REFERENCES user_account (id) ON DELETE CASCADE,
    -- Per-user, gapless, increasing: the order and catch-up position of a user's inbox.
    cursor          BIGINT  NOT NULL,
    type            TEXT        NOT NULL,
    priority        SMALLINT NOT NULL CHECK (priority BETWEEN 1 AND 5),
    title           TEXT        NOT NULL,
    body            TEXT        NOT NULL,
    data            JSONB,
    created_at      TIMESTAMPTZ        NOT NULL,
    read_at         TIMESTAMPTZ,
    expires_at      TIMESTAMPTZ,
    idempotency_key TEXT,
    announcement_id BIGINT  REFERENCES announcement (id) ON DELETE SET NULL
);
-- Inbox pages (newest first) and catch-up after a cursor.
CREATE UNIQUE INDEX notification_user_cursor_key ON notification (user_id, cursor);
-- Unread / pending per user.
CREATE INDEX notification_unread_idx ON notification (user_id, cursor) WHERE read_at IS NULL;
-- Expiry cleanup.
CREATE INDEX notification_expires_idx ON notification (expires_at) WHERE expires_at IS NOT NULL;
-- Retention purge of old read notifications.
CREATE INDEX notification_read_idx ON notification (read_at) WHERE read_at IS NOT NULL;
-- Realtime delivery of an announcement to the users connected to an instance.
CREATE INDEX notification_announcement_idx ON notification (announcement_id, user_id) WHERE announcement_id IS NOT NULL;
-- A retried create with the same key finds the first result.
CREATE UNIQUE INDEX notification_idempotency_key ON notification (user_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
