-- Staged releases: a project's Owners can have uploads wait for a person with a second factor before they reach
-- the index. staging is '' (uploads publish at once), 'ci' (uploads from Trusted Publishers wait) or 'tokens'
-- (every upload waits).
ALTER TABLE projects ADD COLUMN staging TEXT NOT NULL DEFAULT '';

-- A staged file is stored and checked like any upload but listed nowhere on the index: upload is the JSON of the
-- file as it will be published on approval. Its blobs (sha256, metadata_sha256) are referenced, so fsck keeps them.
CREATE TABLE staged_files (
    id                 INTEGER PRIMARY KEY,
    project_id         BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    version            TEXT   NOT NULL,
    canonical_version  TEXT   NOT NULL,
    filename           TEXT   NOT NULL UNIQUE,
    size               BIGINT NOT NULL,
    sha256             TEXT   NOT NULL,
    md5                TEXT   NOT NULL,
    blake2_256         TEXT   NOT NULL,
    metadata_sha256    TEXT   NOT NULL DEFAULT '',
    upload             TEXT   NOT NULL,
    uploaded_by        BIGINT REFERENCES users (id) ON DELETE SET NULL,
    publisher_token_id TEXT   REFERENCES publisher_tokens (id) ON DELETE SET NULL,
    created_at         BIGINT NOT NULL
);
CREATE INDEX staged_files_release ON staged_files (project_id, canonical_version);
CREATE INDEX staged_files_sha256 ON staged_files (sha256);
CREATE INDEX staged_files_blake2 ON staged_files (blake2_256);

-- The collaborators who turned off the mail that every publish sends to a project's Owners (never possible for a
-- critical project).
CREATE TABLE publish_mail_optouts (
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, project_id)
);
