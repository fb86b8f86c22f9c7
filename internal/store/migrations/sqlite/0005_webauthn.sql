-- WebAuthn security keys and passkeys. Times are Unix microseconds (UTC); booleans are 0/1 here.

-- The user handle a credential carries: random, so that an authenticator never learns the user's id, and stable, so
-- that passkeys made earlier still name the user.
CREATE TABLE webauthn_user_handles (
    user_id    INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    handle     BLOB    NOT NULL UNIQUE CHECK (length(handle) = 32),
    created_at BIGINT  NOT NULL
);

-- One row per registered credential. credential_id is UNIQUE across all users: a credential id registered twice,
-- by the same user or another, is refused by the database however the requests race.
CREATE TABLE webauthn_credentials (
    -- AUTOINCREMENT: a removed key's id is never given to a newer key, so a stale "remove" form cannot hit it.
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id            INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id      BLOB    NOT NULL UNIQUE CHECK (length(credential_id) BETWEEN 1 AND 1023),
    public_key         BLOB    NOT NULL,
    -- The authenticator's signature counter (uint32); an assertion must raise it unless it and this are both 0.
    sign_count         BIGINT  NOT NULL DEFAULT 0 CHECK (sign_count BETWEEN 0 AND 4294967295),
    aaguid             BLOB    NOT NULL,
    transports         TEXT    NOT NULL DEFAULT '',
    attestation_format TEXT    NOT NULL DEFAULT '',
    -- Backup eligibility cannot change over a credential's life; backup state can, and holds the latest seen.
    backup_eligible    BOOLEAN NOT NULL,
    backup_state       BOOLEAN NOT NULL,
    discoverable       BOOLEAN NOT NULL,
    label              TEXT    NOT NULL,
    created_at         BIGINT  NOT NULL,
    last_used_at       BIGINT
);
CREATE INDEX webauthn_credentials_user ON webauthn_credentials (user_id);

-- Challenges handed out and not yet answered, one per (binding, purpose). binding is a hash of what the web layer
-- bound the ceremony to (its session); user_id is NULL for a passkey login, where the user is not yet known.
CREATE TABLE webauthn_challenges (
    binding    TEXT    NOT NULL,
    purpose    TEXT    NOT NULL CHECK (purpose IN ('register', 'login', 'passkey')),
    user_id    INTEGER REFERENCES users (id) ON DELETE CASCADE,
    passkey    BOOLEAN NOT NULL DEFAULT 0,
    session    BLOB    NOT NULL,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,
    PRIMARY KEY (binding, purpose)
);
CREATE INDEX webauthn_challenges_expiry ON webauthn_challenges (expires_at);
