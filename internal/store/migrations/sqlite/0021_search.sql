-- Search over projects' names, summaries and keywords, and filtering by classifier. What search knows of a project
-- comes from its name and its latest release (the one created last, as lists show it): the summary and keywords
-- of that release's core metadata go in project_search, its classifiers in project_classifiers. The store rewrites
-- a project's rows in the transaction of every write that changes its latest release or removes it
-- (store.refreshSearch, whose statements are these with a condition on the project); this migration fills them
-- from the releases already stored. Metadata that is not JSON counts as empty.
--
-- A project's latest release, the one with the highest id, in one step of an index: for the rows below, for
-- every list that shows projects with their latest release, and for the statements that keep search current.
CREATE INDEX releases_project_latest ON releases (project_id, id);

-- project_search is a contentless FTS5 index (the text stays in releases) whose rowid is the project's id. Words are
-- runs of letters and digits, case-folded, diacritics kept: the PostgreSQL index splits them alike, and so does
-- store.searchWords for queries. The name is indexed as the words of its normalised form.
CREATE VIRTUAL TABLE project_search USING fts5(
    name, summary, keywords,
    content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 0'
);
INSERT INTO project_search (rowid, name, summary, keywords)
    SELECT p.id, replace(p.normalized_name, '-', ' '),
        CASE WHEN json_valid(r.metadata) THEN COALESCE(json_extract(r.metadata, '$.summary'), '') ELSE '' END,
        CASE WHEN json_valid(r.metadata) THEN COALESCE(json_extract(r.metadata, '$.keywords'), '') ELSE '' END
    FROM projects p
    LEFT JOIN releases r ON r.id = (SELECT max(id) FROM releases WHERE project_id = p.id);

-- Keyed by classifier first: a filter reads one classifier's projects.
CREATE TABLE project_classifiers (
    classifier TEXT    NOT NULL,
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    PRIMARY KEY (classifier, project_id)
) WITHOUT ROWID;
INSERT INTO project_classifiers (classifier, project_id)
    SELECT DISTINCT c.value, p.id
    FROM projects p
    JOIN releases r ON r.id = (SELECT max(id) FROM releases WHERE project_id = p.id),
    json_each(CASE WHEN NOT json_valid(r.metadata) THEN '[]'
                   WHEN json_type(r.metadata, '$.classifiers') = 'array' THEN json_extract(r.metadata, '$.classifiers')
                   ELSE '[]' END) c
    WHERE c.type = 'text';
CREATE INDEX project_classifiers_project ON project_classifiers (project_id);
