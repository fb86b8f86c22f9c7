-- The administrators' 2FA adoption dashboard (/admin/dashboard/) and /metrics.
--
-- Uploads are counted from the journal's "add file" rows, which the upload's own transaction writes and nothing
-- deletes (a deleted file's upload still counted): journal_uploads finds one day of them without reading the rest.
CREATE INDEX journal_uploads ON journal (created_at) WHERE action = 'add file';

-- One row per UTC day, written once a day by `wharf serve` (the job "adoption-snapshot" of job_days, shortly after
-- the day ended): the maintainers (accounts with an Owner or Maintainer role), how many of them had a second factor
-- and how many a security key or passkey, the same for the maintainers of critical projects, and the uploads of
-- that day with how many were made by accounts that had a second factor since before the upload. taken_at: when
-- the row was written (Unix microseconds, UTC).
CREATE TABLE adoption_days (
    day                           TEXT   PRIMARY KEY,
    maintainers                   BIGINT NOT NULL,
    maintainers_2fa               BIGINT NOT NULL,
    maintainers_webauthn          BIGINT NOT NULL,
    critical_projects             BIGINT NOT NULL,
    critical_maintainers          BIGINT NOT NULL,
    critical_maintainers_2fa      BIGINT NOT NULL,
    critical_maintainers_webauthn BIGINT NOT NULL,
    uploads                       BIGINT NOT NULL,
    uploads_2fa                   BIGINT NOT NULL,
    taken_at                      BIGINT NOT NULL
);
