-- One row per access-log line that `wharf downloads import` counted: the line's UTC day and the first 16 bytes of
-- the line's sha256. A line seen again (the same log imported twice, a rotated log and its predecessor) finds its
-- row here and is not counted again; the row goes in with the counts it added, in one transaction. The day comes
-- first in the key: the lines of a log fall on a few days, so a batch's rows land in a few places of the tree
-- rather than anywhere in a table that grows with every download ever counted; and the rows of a day that no count
-- window reaches any more can be deleted as one range.
CREATE TABLE download_imports (
    day    TEXT NOT NULL,
    digest BLOB NOT NULL,
    PRIMARY KEY (day, digest)
) WITHOUT ROWID;
