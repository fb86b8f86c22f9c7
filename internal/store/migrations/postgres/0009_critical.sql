-- The 2FA policy's state of a project. critical_since: when the project was designated critical (top downloads, or
-- an administrator), NULL when it is not; designation is sticky, only an administrator releases it. require_2fa:
-- its Owners made two-factor authentication a condition for every collaborator's writes.
ALTER TABLE projects ADD COLUMN critical_since BIGINT;
ALTER TABLE projects ADD COLUMN require_2fa BOOLEAN NOT NULL DEFAULT false;
CREATE INDEX projects_critical ON projects (critical_since) WHERE critical_since IS NOT NULL;

-- Jobs that run once a day across every instance: an instance runs the job after moving its day forward with a
-- conditional update, which exactly one instance can do for a given day.
CREATE TABLE job_days (
    name TEXT PRIMARY KEY,
    day  TEXT NOT NULL
);
