-- Second factors: TOTP and recovery codes. Times are Unix microseconds (UTC).

-- One authenticator app per user. The secret is AES-GCM sealed with a key derived from the server secret and bound
-- to user_id, so a copy of the database alone produces no codes and a row moved to another user does not open.
CREATE TABLE totp_credentials (
    user_id        INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_sealed  BLOB    NOT NULL,
    label          TEXT    NOT NULL DEFAULT '',
    created_at     BIGINT  NOT NULL,
    last_used_at   BIGINT,
    -- The last accepted time step: a code of this step or an earlier one is a replay.
    totp_last_step BIGINT  NOT NULL DEFAULT 0
);

-- A secret shown to the user but not yet proven by a code; it lapses after expires_at.
CREATE TABLE totp_pending (
    user_id       INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_sealed BLOB    NOT NULL,
    label         TEXT    NOT NULL DEFAULT '',
    created_at    BIGINT  NOT NULL,
    expires_at    BIGINT  NOT NULL
);

-- Recovery codes as salted HMACs: the codes themselves are shown once and never stored.
CREATE TABLE recovery_codes (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    salt       BLOB    NOT NULL,
    hash       BLOB    NOT NULL,
    created_at BIGINT  NOT NULL,
    used_at    BIGINT
);
CREATE INDEX recovery_codes_user ON recovery_codes (user_id);
