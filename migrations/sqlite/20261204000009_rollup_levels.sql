-- Rollups now come in four levels, each made from the one below: period
-- 600 (ten-minute slices of raw results), 3600 (hours), 21600 (six-hour
-- quarters) and 86400 (days); ranges read hours and days only.
-- Rolling a level reads the level below by (period, bucket), and retention
-- deletes each level by it: without this index both scanned every rollup.
CREATE INDEX service_rollup_level_idx ON service_rollup (period, bucket);
