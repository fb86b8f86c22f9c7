-- The protection epoch moves with every change to what the JSON API's protection fields (critical,
-- fully_protected) are read from, in the transaction of the change: a designation, a role, an organization's
-- Owners, a team's members or grants, a second factor added or removed. None of these moves the project's serial,
-- so instances poll the epoch (store.ProtectionEpoch) to know when the documents they keep must be checked again;
-- when it has not moved, they need not ask. Using a factor (its counter, its last use) changes nothing here.
-- A migration that rebuilds one of these tables drops its triggers: storetest.RunPages fails until they are made
-- again.
CREATE TABLE protection_epoch (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  BIGINT  NOT NULL
);
INSERT INTO protection_epoch (id, n) VALUES (1, 0);

-- The triggers are deferred to the commit, once per transaction: the epoch's row is then the last lock a
-- transaction takes, held only while it commits, so it orders no two transactions against each other's other
-- locks (no deadlock) and serialises only their commits.
CREATE FUNCTION wharf_protection_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('wharf.protection_changed', true) IS DISTINCT FROM 'yes' THEN
        UPDATE protection_epoch SET n = n + 1;
        PERFORM set_config('wharf.protection_changed', 'yes', true);
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER roles_protection AFTER INSERT OR UPDATE OR DELETE ON roles
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION wharf_protection_changed();
CREATE CONSTRAINT TRIGGER org_members_protection AFTER INSERT OR UPDATE OR DELETE ON org_members
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION wharf_protection_changed();
CREATE CONSTRAINT TRIGGER team_members_protection AFTER INSERT OR UPDATE OR DELETE ON team_members
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION wharf_protection_changed();
CREATE CONSTRAINT TRIGGER team_projects_protection AFTER INSERT OR UPDATE OR DELETE ON team_projects
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION wharf_protection_changed();
CREATE CONSTRAINT TRIGGER teams_protection AFTER UPDATE OF org_id ON teams
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION wharf_protection_changed();
CREATE CONSTRAINT TRIGGER totp_protection AFTER INSERT OR DELETE ON totp_credentials
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION wharf_protection_changed();
CREATE CONSTRAINT TRIGGER webauthn_protection AFTER INSERT OR DELETE ON webauthn_credentials
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION wharf_protection_changed();
CREATE CONSTRAINT TRIGGER projects_protection AFTER UPDATE OF critical_since, org_id ON projects
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (OLD.critical_since IS DISTINCT FROM NEW.critical_since OR OLD.org_id IS DISTINCT FROM NEW.org_id)
    EXECUTE FUNCTION wharf_protection_changed();
