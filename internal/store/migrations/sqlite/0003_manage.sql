-- Project management: invitations to a project role. Times are Unix microseconds (UTC).

-- AUTOINCREMENT so that an id is never handed out twice: a form or link naming an old invitation by id can never
-- reach a newer one after a project (and its invitations) was deleted.
CREATE TABLE invitations (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id   INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    invitee_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- NULL once the inviter's account is gone; such an invitation can no longer be accepted.
    inviter_id   INTEGER REFERENCES users (id) ON DELETE SET NULL,
    role         TEXT    NOT NULL CHECK (role IN ('Owner', 'Maintainer')),
    -- Set for a transfer of ownership: what the inviter becomes when the invitee accepts ('' = a plain invitation,
    -- 'Maintainer', or 'none' to leave the project).
    then_inviter TEXT    NOT NULL DEFAULT '' CHECK (then_inviter IN ('', 'Maintainer', 'none')),
    -- SHA-256 of the token in the mailed link: a copy of the database accepts nothing.
    token_hash   TEXT    NOT NULL UNIQUE,
    created_at   BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL,
    accepted_at  BIGINT,
    declined_at  BIGINT,
    revoked_at   BIGINT,
    -- Only an owner can hand over ownership: an inviter who leaves must leave an owner behind.
    CHECK (then_inviter = '' OR role = 'Owner'),
    CHECK ((CASE WHEN accepted_at IS NULL THEN 0 ELSE 1 END) + (CASE WHEN declined_at IS NULL THEN 0 ELSE 1 END)
         + (CASE WHEN revoked_at IS NULL THEN 0 ELSE 1 END) <= 1)
);
CREATE INDEX invitations_project ON invitations (project_id, id);
CREATE INDEX invitations_invitee ON invitations (invitee_id, id);
CREATE INDEX invitations_inviter ON invitations (inviter_id);
