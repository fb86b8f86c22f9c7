-- The simple API's pages of each project, rendered when the project changes (store.writePages, called by every
-- write that moves the project's serial, in its transaction), so that reading a page is one key lookup. serial is
-- the project's last_serial the pages were rendered at. Only the gzip forms are kept: pip and uv ask for those, and
-- they are a tenth of the plain ones for a large page and a third for a small one; the few clients that do not
-- take gzip get them decompressed. Migration 0023's second step renders the pages of the projects already stored.
CREATE TABLE simple_pages (
    project_id INTEGER PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    serial     INTEGER NOT NULL,
    json_gz    BLOB    NOT NULL,
    html_gz    BLOB    NOT NULL
);
