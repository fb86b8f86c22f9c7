-- The JSON API's documents of each project (/pypi/<project>/json) and release (/pypi/<project>/<version>/json),
-- rendered with the simple pages when the project changes (store.writePages), so that serving one is one key
-- lookup. body_gz is the document with holes (pages.Document) compressed with gzip; holes says where the base URL,
-- the serial and the protection fields go. A release's document is rendered again only when what it shows changed:
-- inputs is a digest of the document rendered without its metadata, which is written once with the release. The
-- migration's second step renders the documents of the projects already stored.
CREATE TABLE project_documents (
    project_id INTEGER PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    body_gz    BLOB    NOT NULL,
    holes      BLOB    NOT NULL
);
CREATE TABLE release_documents (
    release_id INTEGER PRIMARY KEY REFERENCES releases (id) ON DELETE CASCADE,
    inputs     BLOB    NOT NULL,
    body_gz    BLOB    NOT NULL,
    holes      BLOB    NOT NULL
);
