-- Passwords for signing in to the web app: an argon2id digest in PHC form
-- (algorithm, parameters, salt and hash in one string); NULL until one is
-- set. Senders (applications) never have one.
ALTER TABLE user_account ADD COLUMN password_hash TEXT;
