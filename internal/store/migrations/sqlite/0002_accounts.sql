-- Accounts: verified email, administrators, sessions and single-use email links. Times are Unix microseconds (UTC).

ALTER TABLE users ADD COLUMN email_verified_at BIGINT;
ALTER TABLE users ADD COLUMN is_admin BOOLEAN NOT NULL DEFAULT 0;
-- NULL for rows inserted by CreateUser, which predates this column: readers take created_at instead.
ALTER TABLE users ADD COLUMN password_changed_at BIGINT;
UPDATE users SET password_changed_at = created_at;
-- One account per address, as on PyPI: a reset by email must name one account, and a verified address one owner.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- A session row is keyed by the SHA-256 of its token, so that a copy of the database logs nobody in.
CREATE TABLE sessions (
    id           TEXT    PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_level   TEXT    NOT NULL CHECK (auth_level IN ('password', 'full')),
    created_at   BIGINT  NOT NULL,
    last_seen_at BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL,
    reauth_at    BIGINT,
    ip           TEXT    NOT NULL DEFAULT '',
    user_agent   TEXT    NOT NULL DEFAULT '',
    csrf_secret  TEXT    NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- Links mailed for email verification and password reset, keyed by the SHA-256 of the token in the link.
CREATE TABLE email_tokens (
    hash       TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT    NOT NULL CHECK (purpose IN ('verify-email', 'reset-password')),
    email      TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,
    used_at    BIGINT
);
CREATE INDEX email_tokens_user ON email_tokens (user_id, purpose);
CREATE INDEX email_tokens_expires ON email_tokens (expires_at);
