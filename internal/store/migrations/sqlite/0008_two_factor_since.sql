-- When the account's second factors began to protect it without a break: set by the first factor added to an
-- account with none, cleared when its last factor goes. An API token made before this time was made while the
-- account had no second factor, and may have leaked then.
ALTER TABLE users ADD COLUMN two_factor_since BIGINT;
UPDATE users SET two_factor_since = (
    SELECT MIN(created_at) FROM (
        SELECT created_at FROM totp_credentials WHERE user_id = users.id
        UNION ALL
        SELECT created_at FROM webauthn_credentials WHERE user_id = users.id
    ) AS factors
);
