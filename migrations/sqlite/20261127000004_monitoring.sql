-- Service monitoring: what is watched, every check result, hourly/daily
-- rollups, incidents with their timeline, maintenance windows, and the
-- instances that run checks.

-- A running herald process that checks services (leases and results name it).
CREATE TABLE monitor_instance (
    id           INTEGER PRIMARY KEY,
    name         TEXT        NOT NULL,
    started_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL
);

CREATE TABLE service (
    id                  INTEGER PRIMARY KEY,
    name                TEXT     NOT NULL,
    kind                TEXT     NOT NULL CHECK (kind IN ('http', 'tcp', 'dns', 'tls', 'heartbeat')),
    target              TEXT     NOT NULL,
    -- Kind-specific settings, validated by herald before they are stored.
    config              TEXT    NOT NULL,
    interval_seconds    INTEGER  NOT NULL CHECK (interval_seconds >= 10),
    timeout_seconds     INTEGER  NOT NULL CHECK (timeout_seconds >= 1),
    failure_threshold   INTEGER  NOT NULL CHECK (failure_threshold >= 1),
    recovery_threshold  INTEGER  NOT NULL CHECK (recovery_threshold >= 1),
    degraded_latency_ms INTEGER,
    enabled             INTEGER  NOT NULL,
    public              INTEGER  NOT NULL,
    tags                TEXT    NOT NULL,
    -- SHA-256 of the heartbeat secret (heartbeat services only).
    heartbeat_hash      BLOB,
    -- Current state, kept by the checks.
    status              TEXT     NOT NULL CHECK (status IN ('unknown', 'up', 'degraded', 'down')),
    failures            INTEGER  NOT NULL,
    successes           INTEGER  NOT NULL,
    last_checked_at     TEXT,
    last_beat_at        TEXT,
    -- TLS services: the certificate's expiry as last seen.
    cert_expires_at     TEXT,
    -- Scheduling: the next due time, and who holds the service until when.
    next_check_at       TEXT NOT NULL,
    lease_owner         INTEGER,
    lease_until         TEXT,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);
-- Due services, in due order (claimed with FOR UPDATE SKIP LOCKED).
CREATE INDEX service_due_idx ON service (next_check_at) WHERE enabled;
CREATE UNIQUE INDEX service_heartbeat_key ON service (heartbeat_hash) WHERE heartbeat_hash IS NOT NULL;

-- One row per check, kept small: no surrogate key, latency in microseconds,
-- status as a number (0 up, 1 degraded, 2 down).
CREATE TABLE service_metric (
    service_id  INTEGER      NOT NULL REFERENCES service (id) ON DELETE CASCADE,
    -- Microseconds since the Unix epoch (herald's `Micros`): 7 bytes
    -- instead of 27 of text, here and in both indexes.
    checked_at  INTEGER NOT NULL,
    status      INTEGER    NOT NULL,
    -- In a maintenance window: stored, never counted as downtime.
    maintenance INTEGER     NOT NULL,
    status_code INTEGER,
    instance_id INTEGER     NOT NULL,
    latency_us  INTEGER     NOT NULL,
    error       TEXT
);
CREATE INDEX service_metric_service_time_idx ON service_metric (service_id, checked_at);
-- Retention deletes the oldest rows in batches.
CREATE INDEX service_metric_time_idx ON service_metric (checked_at);

-- Hourly (period 3600) and daily (86400) aggregates of service_metric.
CREATE TABLE service_rollup (
    service_id     INTEGER      NOT NULL REFERENCES service (id) ON DELETE CASCADE,
    period         INTEGER     NOT NULL,
    bucket         TEXT NOT NULL,
    checks         INTEGER     NOT NULL,
    up             INTEGER     NOT NULL,
    degraded       INTEGER     NOT NULL,
    down           INTEGER     NOT NULL,
    maintenance    INTEGER     NOT NULL,
    latency_sum_us INTEGER      NOT NULL,
    latency_min_us INTEGER,
    latency_max_us INTEGER,
    -- Counts per latency bucket (herald's fixed log-spaced bounds) for p95.
    latency_hist   TEXT       NOT NULL,
    PRIMARY KEY (service_id, period, bucket)
);
-- How far each period has been rolled up.
CREATE TABLE rollup_progress (
    period      INTEGER PRIMARY KEY,
    rolled_to   TEXT NOT NULL
);

CREATE TABLE service_incident (
    id              INTEGER PRIMARY KEY,
    service_id      INTEGER      NOT NULL REFERENCES service (id) ON DELETE CASCADE,
    status          TEXT        NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
    started_at      TEXT NOT NULL,
    acknowledged_at TEXT,
    acknowledged_by INTEGER REFERENCES user_account (id) ON DELETE SET NULL,
    resolved_at     TEXT,
    resolved_by     INTEGER REFERENCES user_account (id) ON DELETE SET NULL,
    cause           TEXT        NOT NULL
);
-- At most one unresolved incident per service.
CREATE UNIQUE INDEX service_incident_one_open ON service_incident (service_id) WHERE status <> 'resolved';
CREATE INDEX service_incident_started_idx ON service_incident (started_at, id);

-- Every transition and note: who (NULL = herald itself), when, what.
CREATE TABLE incident_event (
    id          INTEGER PRIMARY KEY,
    incident_id INTEGER      NOT NULL REFERENCES service_incident (id) ON DELETE CASCADE,
    at          TEXT NOT NULL,
    actor_id    INTEGER REFERENCES user_account (id) ON DELETE SET NULL,
    kind        TEXT        NOT NULL,
    message     TEXT        NOT NULL
);
CREATE INDEX incident_event_incident_idx ON incident_event (incident_id, id);

-- Maintenance: for one service, or for all (service_id NULL).
CREATE TABLE maintenance_window (
    id         INTEGER PRIMARY KEY,
    service_id INTEGER REFERENCES service (id) ON DELETE CASCADE,
    title      TEXT        NOT NULL,
    starts_at  TEXT NOT NULL,
    ends_at    TEXT NOT NULL CHECK (ends_at > starts_at),
    created_by INTEGER REFERENCES user_account (id) ON DELETE SET NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX maintenance_window_ends_idx ON maintenance_window (ends_at);
