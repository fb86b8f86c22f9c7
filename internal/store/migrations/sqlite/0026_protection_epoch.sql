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

CREATE TRIGGER roles_inserted_protection AFTER INSERT ON roles BEGIN UPDATE protection_epoch SET n = n + 1; END;
CREATE TRIGGER roles_updated_protection AFTER UPDATE ON roles BEGIN UPDATE protection_epoch SET n = n + 1; END;
CREATE TRIGGER roles_deleted_protection AFTER DELETE ON roles BEGIN UPDATE protection_epoch SET n = n + 1; END;
CREATE TRIGGER org_members_inserted_protection AFTER INSERT ON org_members BEGIN UPDATE protection_epoch SET n = n + 1; END;
CREATE TRIGGER org_members_updated_protection AFTER UPDATE ON org_members BEGIN UPDATE protection_epoch SET n = n + 1; END;
CREATE TRIGGER org_members_deleted_protection AFTER DELETE ON org_members BEGIN UPDATE protection_epoch SET n = n + 1; END;
CREATE TRIGGER team_members_inserted_protection AFTER INSERT ON team_members BEGIN UPDATE protection_epoch SET n = n + 1; END;
CREATE TRIGGER team_members_updated_protection AFTER UPDATE ON team_members BEGIN UPDATE protection_epoch SET n = n + 1; END;
CREATE TRIGGER team_members_deleted_protection AFTER DELETE ON team_members BEGIN UPDATE protection_epoch SET n = n + 1; END;
CREATE TRIGGER team_projects_inserted_protection AFTER INSERT ON team_projects BEGIN UPDATE protection_epoch SET n = n + 1; END;
CREATE TRIGGER team_projects_updated_protection AFTER UPDATE ON team_projects BEGIN UPDATE protection_epoch SET n = n + 1; END;
CREATE TRIGGER team_projects_deleted_protection AFTER DELETE ON team_projects BEGIN UPDATE protection_epoch SET n = n + 1; END;
CREATE TRIGGER teams_moved_protection AFTER UPDATE OF org_id ON teams BEGIN UPDATE protection_epoch SET n = n + 1; END;
CREATE TRIGGER totp_inserted_protection AFTER INSERT ON totp_credentials BEGIN UPDATE protection_epoch SET n = n + 1; END;
CREATE TRIGGER totp_deleted_protection AFTER DELETE ON totp_credentials BEGIN UPDATE protection_epoch SET n = n + 1; END;
CREATE TRIGGER webauthn_inserted_protection AFTER INSERT ON webauthn_credentials BEGIN UPDATE protection_epoch SET n = n + 1; END;
CREATE TRIGGER webauthn_deleted_protection AFTER DELETE ON webauthn_credentials BEGIN UPDATE protection_epoch SET n = n + 1; END;
CREATE TRIGGER projects_protection AFTER UPDATE OF critical_since, org_id ON projects
    WHEN OLD.critical_since IS NOT NEW.critical_since OR OLD.org_id IS NOT NEW.org_id
    BEGIN UPDATE protection_epoch SET n = n + 1; END;
