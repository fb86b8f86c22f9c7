-- The normalised name of the project each journal entry is about. It stays when the project is deleted (project_id
-- becomes NULL then), so that every instance learns from the journal which projects' cached pages to drop, a
-- deleted project's included (store.ChangedProjects). A removal's detail is the name it removed.
ALTER TABLE journal ADD COLUMN name TEXT;
UPDATE journal j SET name = p.normalized_name FROM projects p WHERE p.id = j.project_id;
UPDATE journal SET name = detail WHERE name IS NULL AND action = 'remove project';

-- Every statement that writes the journal notifies the instances listening on wharf_journal when its transaction
-- commits (store.ListenJournal), so that they drop what changed at once instead of at their next poll. PostgreSQL
-- delivers one notification per transaction however many statements send it.
CREATE FUNCTION wharf_journal_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('wharf_journal', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER journal_notify AFTER INSERT ON journal FOR EACH STATEMENT EXECUTE FUNCTION wharf_journal_notify();
