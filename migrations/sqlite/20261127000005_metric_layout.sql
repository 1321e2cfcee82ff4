-- service_metric, as on PostgreSQL: the maintenance flag folded into status
-- (0 up, 1 degraded, 2 down, plus 8 in a maintenance window) and no foreign
-- key (results are inserted only for services read in the same write
-- transaction; deleting a service deletes its results explicitly).
CREATE TABLE service_metric_packed (
    service_id  INTEGER NOT NULL,
    -- Microseconds since the Unix epoch (herald's `Micros`).
    checked_at  INTEGER NOT NULL,
    status      INTEGER NOT NULL,
    status_code INTEGER,
    instance_id INTEGER NOT NULL,
    latency_us  INTEGER NOT NULL,
    error       TEXT
);
INSERT INTO service_metric_packed (service_id, checked_at, status, status_code, instance_id, latency_us, error)
    SELECT service_id, checked_at, status + CASE WHEN maintenance THEN 8 ELSE 0 END,
           status_code, instance_id, latency_us, error
    FROM service_metric
    ORDER BY rowid;
DROP TABLE service_metric;
ALTER TABLE service_metric_packed RENAME TO service_metric;
CREATE INDEX service_metric_service_time_idx ON service_metric (service_id, checked_at);
-- Retention deletes the oldest rows in batches.
CREATE INDEX service_metric_time_idx ON service_metric (checked_at);
