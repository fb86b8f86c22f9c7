-- A pending publisher registered for an organization creates its project inside the organization.
ALTER TABLE publishers ADD COLUMN org_id BIGINT REFERENCES organizations (id) ON DELETE CASCADE;
