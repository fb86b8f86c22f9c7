-- Addresses are compared under ident.Key (NFKC, full case folding, NFKC again, trimmed), as usernames are, so that
-- lookups, uniqueness and the rate limiter agree on which spellings are one address. SQL cannot compute that key
-- (lower() here folds ASCII only), so the application stores it.
--
-- lower(email) is the key of an ASCII address. store.Migrate then recomputes the keys of every row in Go, in this
-- migration's transaction, which corrects the others (and refuses to finish if two addresses turn out to be one).
-- The default only lets the column be added to existing rows: every insert sets the key.
ALTER TABLE users ADD COLUMN email_key TEXT NOT NULL DEFAULT '';
UPDATE users SET email_key = lower(email);
DROP INDEX users_email_key;
CREATE UNIQUE INDEX users_email_key_unique ON users (email_key);
