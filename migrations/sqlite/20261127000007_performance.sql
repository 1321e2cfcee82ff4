-- The performance monitor's samples: one row per instance and sampling
-- interval, the figures as JSON (their shape is herald's `Sample`).
CREATE TABLE performance_sample (
    id       INTEGER PRIMARY KEY,
    instance TEXT NOT NULL,
    taken_at TEXT NOT NULL,
    figures  TEXT NOT NULL
);
CREATE INDEX performance_sample_time_idx ON performance_sample (taken_at);
CREATE INDEX performance_sample_instance_idx ON performance_sample (instance, taken_at);
