-- Organizations: members with a role (Owner, Manager, Member), teams with members and roles on the
-- organization's projects, and settings an Owner sets once for every project of the organization.
CREATE TABLE organizations (
    id                      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                    TEXT    NOT NULL,
    -- PEP 503-normalised, like project names; a name is never both an organization's and a user's.
    normalized_name         TEXT    NOT NULL UNIQUE,
    display_name            TEXT    NOT NULL,
    description             TEXT    NOT NULL DEFAULT '',
    require_2fa             BOOLEAN NOT NULL DEFAULT false,
    require_webauthn        BOOLEAN NOT NULL DEFAULT false,
    trusted_publishing_only BOOLEAN NOT NULL DEFAULT false,
    staging                 TEXT    NOT NULL DEFAULT '',
    -- NULL while the request for the organization waits for an administrator's approval.
    approved_at             BIGINT,
    created_by              BIGINT  REFERENCES users (id) ON DELETE SET NULL,
    created_at              BIGINT  NOT NULL
);

CREATE TABLE org_members (
    org_id     BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT   NOT NULL CHECK (role IN ('Owner', 'Manager', 'Member')),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX org_members_user ON org_members (user_id);

-- An invitation waits for the invitee's answer; accepting or declining deletes it.
CREATE TABLE org_invitations (
    org_id     BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT   NOT NULL CHECK (role IN ('Owner', 'Manager', 'Member')),
    invited_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX org_invitations_user ON org_invitations (user_id);

CREATE TABLE teams (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id          BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            TEXT   NOT NULL,
    normalized_name TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    UNIQUE (org_id, normalized_name)
);

CREATE TABLE team_members (
    team_id BIGINT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members (user_id);

CREATE TABLE team_projects (
    team_id    BIGINT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    role       TEXT   NOT NULL CHECK (role IN ('Owner', 'Maintainer')),
    PRIMARY KEY (team_id, project_id)
);
CREATE INDEX team_projects_project ON team_projects (project_id);

ALTER TABLE projects ADD COLUMN org_id BIGINT REFERENCES organizations (id) ON DELETE SET NULL;
CREATE INDEX projects_org ON projects (org_id);

-- Who may act on a project, and through what: a role given to the person, Owner of the organization that holds
-- the project, or a team's role. A team's grant counts only while the project is in the team's organization, so
-- every grant that came from an organization ends when the project leaves it (K7). A user may appear more than
-- once; the strongest role wins ('Owner' sorts after 'Maintainer').
CREATE VIEW project_roles AS
    SELECT project_id, user_id, role, 'direct' AS source FROM roles
    UNION ALL
    SELECT p.id, m.user_id, 'Owner', 'organization'
    FROM projects p JOIN org_members m ON m.org_id = p.org_id
    WHERE m.role = 'Owner'
    UNION ALL
    SELECT tp.project_id, tm.user_id, tp.role, 'team'
    FROM team_projects tp
    JOIN team_members tm ON tm.team_id = tp.team_id
    JOIN teams t ON t.id = tp.team_id
    JOIN projects p ON p.id = tp.project_id AND p.org_id = t.org_id;

-- The security history of an organization: its membership, team and project changes.
ALTER TABLE events ADD COLUMN org_id BIGINT REFERENCES organizations (id) ON DELETE SET NULL;
CREATE INDEX events_org ON events (org_id, id);

-- Early enforcement of the 2FA mandate can name an organization: every member, and every project it holds.
ALTER TABLE mandate_early DROP CONSTRAINT mandate_early_kind_check;
ALTER TABLE mandate_early ADD CONSTRAINT mandate_early_kind_check CHECK (kind IN ('user', 'project', 'org'));
