-- Users and projects an administrator placed under the mandate's enforce phase before everyone else.
CREATE TABLE mandate_early (
    kind       TEXT    NOT NULL CHECK (kind IN ('user', 'project')),
    ref_id     BIGINT  NOT NULL,
    reason     TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    PRIMARY KEY (kind, ref_id)
);
