-- The critical-project recompute ranks every project by its downloads over a trailing window. Summing the daily
-- counts for that (180 days x every project: 160 million rows at PyPI's scale) takes 45 s, so the store keeps a
-- running sum per project. download_window.since is the window's first day; download_totals.total is the sum of the
-- project's counts on the days from download_totals.since on, which is never after the window's first day. A
-- project whose since is the window's is exact; one whose since is older holds an upper bound, which reading
-- corrects by the counts of the days between the two (store.TopDownloaded). Every write of counts adds to the
-- totals in the same transaction; moving the window forward rewrites its row and brings the largest totals up to
-- the new day (store.SlideDownloadWindow).
CREATE TABLE download_window (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    since TEXT    NOT NULL -- "YYYY-MM-DD", UTC
);
-- The default window's first day today (the 180 days of WHARF_CRITICAL_WINDOW's default, as the recompute counts
-- them); a server configured with another window moves it there at its first recompute.
INSERT INTO download_window (id, since) VALUES (1, date('now', '-180 days'));

-- No index on total: the top is read from the table (a few hundred milliseconds at PyPI's scale), and every write
-- of counts updates a total.
CREATE TABLE download_totals (
    project_id INTEGER PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    total      BIGINT  NOT NULL,
    since      TEXT    NOT NULL
);
INSERT INTO download_totals (project_id, total, since)
    SELECT project_id, sum(count), (SELECT since FROM download_window) FROM downloads
    WHERE day >= (SELECT since FROM download_window) GROUP BY project_id;
