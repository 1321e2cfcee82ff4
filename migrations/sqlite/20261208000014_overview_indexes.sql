-- The web overview at 10 000 services: its counts by status and its two
-- orders read an index instead of sorting every service row per page.
-- The expression of service_worst_idx is the overview's "worst first"
-- ORDER BY (src/monitoring/store/overview.rs) word for word: the planner
-- uses an expression index only for the same expression.
CREATE INDEX service_status_idx ON service (enabled, status, id);
CREATE INDEX service_name_idx ON service (lower(name), id);
CREATE INDEX service_worst_idx ON service ((CASE WHEN NOT enabled THEN 4 WHEN status = 'down' THEN 0
    WHEN status = 'degraded' THEN 1 WHEN status = 'unknown' THEN 2 ELSE 3 END), lower(name), id);
