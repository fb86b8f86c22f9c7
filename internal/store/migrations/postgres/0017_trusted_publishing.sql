-- Trusted Publishing: CI jobs publish with a short-lived token that wharf mints for an OIDC identity token of their
-- issuer, instead of a long-lived secret.

-- The issuers an administrator registers beyond the built-in ones (GitHub, GitLab, Google): Forgejo or Gitea
-- Actions, a self-managed GitLab, Jenkins. claims is a JSON object of the claims every publisher of the issuer
-- matches: a claim with a value is fixed for all of them, one with "" is what each publisher gives.
CREATE TABLE oidc_issuers (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       TEXT   NOT NULL UNIQUE,
    url        TEXT   NOT NULL UNIQUE,
    claims     TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);

-- A publisher is a CI identity that may publish one project: project_id, or for a pending publisher the name of
-- the project its first publish creates (pending_name, owned by owner_id then; expires_at bounds how long a name
-- waits). claims is the canonical JSON of what a token must match; lookup is the one claim a token is found by
-- (the repository, the service account, the issuer), lowercased.
CREATE TABLE publishers (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id   BIGINT REFERENCES projects (id) ON DELETE CASCADE,
    pending_name TEXT,
    owner_id     BIGINT REFERENCES users (id) ON DELETE CASCADE,
    kind         TEXT   NOT NULL,
    issuer_id    BIGINT REFERENCES oidc_issuers (id) ON DELETE CASCADE,
    claims       TEXT   NOT NULL,
    lookup       TEXT   NOT NULL,
    created_by   BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    CHECK ((project_id IS NULL) <> (pending_name IS NULL)),
    CHECK (pending_name IS NULL OR owner_id IS NOT NULL)
);
CREATE UNIQUE INDEX publishers_project_claims ON publishers (project_id, kind, claims) WHERE project_id IS NOT NULL;
CREATE UNIQUE INDEX publishers_pending_claims ON publishers (pending_name, kind, claims) WHERE pending_name IS NOT NULL;
CREATE INDEX publishers_lookup ON publishers (kind, lookup);

-- Every OIDC token id (jti) that minted a token, kept until its token could no longer verify (exp + leeway): a
-- token is exchanged once, whoever presents it twice.
CREATE TABLE oidc_jtis (
    issuer     TEXT   NOT NULL,
    jti        TEXT   NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, jti)
);
CREATE INDEX oidc_jtis_expires ON oidc_jtis (expires_at);

-- The tokens minted for publishers: which publishers (a JSON list of ids) and the CI identity (JSON: kind, issuer,
-- repository, workflow, ref, sha, environment) that files uploaded with them carry.
CREATE TABLE publisher_tokens (
    id         TEXT   PRIMARY KEY,
    publishers TEXT   NOT NULL,
    identity   TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);

ALTER TABLE files ADD COLUMN publisher_token_id TEXT REFERENCES publisher_tokens (id) ON DELETE SET NULL;
-- The Owners' switch: uploads only from the project's publishers, no user token.
ALTER TABLE projects ADD COLUMN trusted_publishing_only BOOLEAN NOT NULL DEFAULT false;
