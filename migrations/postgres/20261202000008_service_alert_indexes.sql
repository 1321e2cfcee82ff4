-- Alerting reads the services that may raise a condition every few
-- seconds: those down or degraded, and those whose certificate expires
-- soon. Without these it read every service (a full scan: at 10 000
-- services about 1 500 pages, re-read from disk after each write on
-- SQLite). Partial, so a service that is up and has no certificate has
-- no entry in either, and a result that leaves it up writes neither.
CREATE INDEX service_troubled_idx ON service (status) WHERE status IN ('down', 'degraded');
CREATE INDEX service_cert_expiry_idx ON service (cert_expires_at) WHERE cert_expires_at IS NOT NULL;
