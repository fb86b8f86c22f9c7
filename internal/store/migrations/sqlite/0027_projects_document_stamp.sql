-- What a JSON API document's query reads of its project (store.documentColumns), beside the name it finds the
-- project by: the project's row is not read, so that a document not served yet costs a page of this index and one
-- of the documents' table, and no page of the projects' table. SQLite's planner keeps the unique index of the names
-- for an equality without statistics, so the document queries name this one (INDEXED BY). PostgreSQL plans with
-- statistics and has no such index.
CREATE INDEX projects_document_stamp ON projects (normalized_name, id, last_serial, critical_since, org_id);
