-- The phishing-resistant level of the 2FA policy. sessions.key_at: when the session last proved a security key or
-- passkey (at sign-in or at a re-authentication), NULL when it never did; a project that requires keys accepts
-- changes only from such sessions. projects.require_webauthn: its Owners require security keys or passkeys, not
-- authenticator apps, of every collaborator's writes (require_2fa is then set too).
ALTER TABLE sessions ADD COLUMN key_at BIGINT;
ALTER TABLE projects ADD COLUMN require_webauthn BOOLEAN NOT NULL DEFAULT false;
