-- The normalised name of the project each journal entry is about. It stays when the project is deleted (project_id
-- becomes NULL then), so that every instance learns from the journal which projects' cached pages to drop, a
-- deleted project's included (store.ChangedProjects). A removal's detail is the name it removed.
ALTER TABLE journal ADD COLUMN name TEXT;
UPDATE journal SET name = (SELECT normalized_name FROM projects p WHERE p.id = journal.project_id)
    WHERE project_id IS NOT NULL;
UPDATE journal SET name = detail WHERE name IS NULL AND action = 'remove project';
