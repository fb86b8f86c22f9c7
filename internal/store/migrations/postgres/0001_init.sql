-- Times are Unix microseconds (UTC) in both engines so the same Go code reads them; booleans are native here.
CREATE TABLE users (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      TEXT    NOT NULL,
    username_key  TEXT    NOT NULL UNIQUE,
    email         TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    disabled      BOOLEAN NOT NULL DEFAULT false,
    created_at    BIGINT  NOT NULL
);

CREATE TABLE projects (
    id                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                 TEXT   NOT NULL,
    normalized_name      TEXT   COLLATE "C" NOT NULL UNIQUE,
    ultranormalized_name TEXT   NOT NULL,
    created_at           BIGINT NOT NULL,
    last_serial          BIGINT NOT NULL DEFAULT 0,
    total_size           BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX projects_ultranormalized ON projects (ultranormalized_name);
CREATE INDEX projects_last_serial ON projects (last_serial);

CREATE TABLE roles (
    project_id BIGINT  NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id    BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT    NOT NULL CHECK (role IN ('Owner', 'Maintainer')),
    created_at BIGINT  NOT NULL,
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX roles_user ON roles (user_id);

CREATE TABLE releases (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id        BIGINT  NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    version           TEXT    NOT NULL,
    canonical_version TEXT    NOT NULL,
    requires_python   TEXT    NOT NULL DEFAULT '',
    metadata          TEXT    NOT NULL,
    yanked            BOOLEAN NOT NULL DEFAULT false,
    yanked_reason     TEXT    NOT NULL DEFAULT '',
    created_at        BIGINT  NOT NULL,
    UNIQUE (project_id, canonical_version)
);

CREATE TABLE files (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    release_id      BIGINT  NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
    project_id      BIGINT  NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    filename        TEXT    NOT NULL UNIQUE,
    packagetype     TEXT    NOT NULL,
    python_version  TEXT    NOT NULL,
    requires_python TEXT    NOT NULL DEFAULT '',
    size            BIGINT  NOT NULL,
    sha256          TEXT    NOT NULL,
    md5             TEXT    NOT NULL,
    blake2_256      TEXT    NOT NULL,
    metadata_sha256 TEXT    NOT NULL DEFAULT '',
    uploaded_at     BIGINT  NOT NULL,
    uploaded_by     BIGINT  REFERENCES users (id) ON DELETE SET NULL
);
CREATE INDEX files_project ON files (project_id);
CREATE INDEX files_release ON files (release_id);
CREATE INDEX files_sha256 ON files (sha256);
CREATE INDEX files_metadata_sha256 ON files (metadata_sha256);

-- Every filename ever accepted, kept after the file is deleted so that a name can never be reused for other bytes.
CREATE TABLE filename_registry (
    filename   TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);

-- One row per change of a project; its id is the serial that index pages and ETags are derived from.
CREATE TABLE journal (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id BIGINT  REFERENCES projects (id) ON DELETE SET NULL,
    action     TEXT    NOT NULL,
    detail     TEXT    NOT NULL DEFAULT '',
    user_id    BIGINT  REFERENCES users (id) ON DELETE SET NULL,
    created_at BIGINT  NOT NULL
);
CREATE INDEX journal_project ON journal (project_id);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    user_id      BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    projects     TEXT    NOT NULL DEFAULT '',
    created_at   BIGINT  NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE downloads (
    project_id BIGINT  NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    day        TEXT    NOT NULL,
    count      BIGINT  NOT NULL,
    PRIMARY KEY (project_id, day)
);

CREATE TABLE reserved_names (
    normalized_name TEXT PRIMARY KEY,
    reason          TEXT   NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL
);

-- Append-only security history; the application never updates or deletes rows.
CREATE TABLE events (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at BIGINT  NOT NULL,
    kind       TEXT    NOT NULL,
    user_id    BIGINT  REFERENCES users (id) ON DELETE SET NULL,
    project_id BIGINT  REFERENCES projects (id) ON DELETE SET NULL,
    ip         TEXT    NOT NULL DEFAULT '',
    user_agent TEXT    NOT NULL DEFAULT '',
    detail     TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX events_user ON events (user_id, id);
CREATE INDEX events_project ON events (project_id, id);
