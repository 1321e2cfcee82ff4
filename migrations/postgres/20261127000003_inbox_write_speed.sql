-- Faster inbox writes on PostgreSQL, measured with a 10 000-recipient
-- announcement (BENCHMARKS.md § realtime): its one statement went from a
-- median of 525 ms to 250 ms on the development machine.

-- Every notification bumps its recipient's `notification_seq`. With full
-- pages each bump writes a new row version elsewhere and a new entry in all
-- four user_account indexes; with room left on the page it is a HOT update
-- (same page, no index entries), since the column is not indexed. Applies
-- to pages written from now on.
ALTER TABLE user_account SET (fillfactor = 50);

-- The foreign key from a notification to its announcement ran one check per
-- recipient for a fact true by construction: the only writer inserts the
-- announcement and its notifications in one transaction, and announcements
-- are never deleted. The column stays (realtime delivery loads an
-- announcement's rows by it).
ALTER TABLE notification DROP CONSTRAINT notification_announcement_id_fkey;
