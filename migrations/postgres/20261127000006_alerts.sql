-- Alerting: where alerts go (channels), what fired (alerts), and the
-- outbox of deliveries that carries each firing and resolution to each
-- channel with retries.

CREATE TABLE alert_channel (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         TEXT        NOT NULL,
    kind         TEXT        NOT NULL CHECK (kind IN ('in_app', 'webhook', 'slack', 'discord', 'email', 'ntfy')),
    -- Kind-specific settings as validated by herald, secrets included:
    -- never returned by the API, never logged.
    config       JSONB       NOT NULL,
    min_severity TEXT        NOT NULL CHECK (min_severity IN ('info', 'warning', 'critical')),
    -- Which sources it takes: ["database", "service"].
    sources      JSONB       NOT NULL,
    enabled      BOOLEAN     NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);

CREATE TABLE alert (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The condition, e.g. `database.pool_utilization` or `service.12.down`.
    key         TEXT             NOT NULL,
    source      TEXT             NOT NULL CHECK (source IN ('database', 'service')),
    severity    TEXT             NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    state       TEXT             NOT NULL CHECK (state IN ('firing', 'resolved')),
    message     TEXT             NOT NULL,
    value       DOUBLE PRECISION,
    threshold   DOUBLE PRECISION,
    fired_at    TIMESTAMPTZ      NOT NULL,
    -- Last time the condition was seen true.
    seen_at     TIMESTAMPTZ      NOT NULL,
    -- Since when the condition has been clear (resolves after the hold time).
    clear_since TIMESTAMPTZ,
    resolved_at TIMESTAMPTZ
);
-- One firing alert per condition: a condition fires once while it lasts.
CREATE UNIQUE INDEX alert_one_firing ON alert (key) WHERE state = 'firing';
CREATE INDEX alert_fired_idx ON alert (fired_at, id);

CREATE TABLE alert_delivery (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id        BIGINT      REFERENCES alert (id) ON DELETE CASCADE,
    channel_id      BIGINT      NOT NULL REFERENCES alert_channel (id) ON DELETE CASCADE,
    -- `alert.firing`, `alert.resolved` or `test`.
    event           TEXT        NOT NULL,
    -- What is sent: the alert as the API renders it at the time of the event.
    payload         JSONB       NOT NULL,
    state           TEXT        NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER     NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    -- Held by an instance while it sends; a crashed sender's lease ends.
    lease_until     TIMESTAMPTZ,
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    delivered_at    TIMESTAMPTZ
);
CREATE INDEX alert_delivery_due_idx ON alert_delivery (next_attempt_at) WHERE state = 'pending';
CREATE INDEX alert_delivery_alert_idx ON alert_delivery (alert_id);
