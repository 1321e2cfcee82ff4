-- Failed web sign-ins, one row per failure and subject ('account:<email>'
-- or 'address:<client ip>'), so that the limit per account and per address
-- holds across instances on one database. Rows older than the window are
-- deleted; a successful sign-in clears its account's.
CREATE TABLE sign_in_failure (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject   TEXT NOT NULL,
    failed_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX sign_in_failure_subject_idx ON sign_in_failure (subject, failed_at);
