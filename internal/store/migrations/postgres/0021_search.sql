-- Search over projects' names, summaries and keywords, and filtering by classifier. What search knows of a project
-- comes from its name and its latest release (the one created last, as lists show it): the summary and keywords
-- of that release's core metadata go in project_search, its classifiers in project_classifiers. The store rewrites
-- a project's rows in the transaction of every write that changes its latest release or removes it
-- (store.refreshSearch, whose statements are these with a condition on the project); this migration fills them
-- from the releases already stored. Metadata that is not JSON counts as empty.

-- A project's latest release, the one with the highest id, in one step of an index: for the rows below, for
-- every list that shows projects with their latest release, and for the statements that keep search current.
CREATE INDEX releases_project_latest ON releases (project_id, id);

-- search_metadata reads a release's metadata, or NULL when it is not JSON (or holds \u0000, which jsonb refuses):
-- one bad row must not stop a statement over every project.
CREATE FUNCTION search_metadata(metadata TEXT) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    RETURN metadata::jsonb;
EXCEPTION WHEN OTHERS THEN
    RETURN NULL;
END
$$;

-- search_document is a project's weighted words: its name's (A), then keywords (B), then summary (C), as the FTS5
-- index of SQLite weighs its columns. Words are runs of letters and digits, lower-cased: every other character
-- becomes a space first, so that the parser sees no e-mail address, URL, host or version to keep whole, and splits
-- the text as FTS5's unicode61 tokenizer and store.searchWords do.
CREATE FUNCTION search_document(normalized_name TEXT, metadata TEXT) RETURNS tsvector
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    m jsonb := search_metadata(metadata);
BEGIN
    RETURN setweight(to_tsvector('simple', replace(normalized_name, '-', ' ')), 'A') ||
        setweight(to_tsvector('simple', regexp_replace(COALESCE(m ->> 'keywords', ''), '[^[:alnum:]]+', ' ', 'g')), 'B') ||
        setweight(to_tsvector('simple', regexp_replace(COALESCE(m ->> 'summary', ''), '[^[:alnum:]]+', ' ', 'g')), 'C');
END
$$;

-- search_classifiers lists the distinct classifiers of a release's metadata.
CREATE FUNCTION search_classifiers(metadata TEXT) RETURNS SETOF TEXT
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    m jsonb := search_metadata(metadata);
BEGIN
    IF jsonb_typeof(m -> 'classifiers') = 'array' THEN
        RETURN QUERY SELECT DISTINCT e.c #>> '{}' FROM jsonb_array_elements(m -> 'classifiers') AS e (c)
            WHERE jsonb_typeof(e.c) = 'string';
    END IF;
END
$$;

-- The keys and indexes come after the rows: building them once is faster than growing them row by row.
CREATE TABLE project_search (
    project_id BIGINT   NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    document   tsvector NOT NULL
);
INSERT INTO project_search (project_id, document)
    SELECT p.id, search_document(p.normalized_name,
        (SELECT metadata FROM releases WHERE project_id = p.id ORDER BY id DESC LIMIT 1))
    FROM projects p;
ALTER TABLE project_search ADD PRIMARY KEY (project_id);
CREATE INDEX project_search_document ON project_search USING GIN (document);

-- Keyed by classifier first: a filter reads one classifier's projects.
CREATE TABLE project_classifiers (
    classifier TEXT   NOT NULL,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE
);
INSERT INTO project_classifiers (classifier, project_id)
    SELECT c, p.id
    FROM projects p
    CROSS JOIN LATERAL search_classifiers(
        (SELECT metadata FROM releases WHERE project_id = p.id ORDER BY id DESC LIMIT 1)) c;
ALTER TABLE project_classifiers ADD PRIMARY KEY (classifier, project_id);
CREATE INDEX project_classifiers_project ON project_classifiers (project_id);
