-- The content of every live file, once: an upload whose sha256 or blake2b-256 a live file already has is refused,
-- in any project, unless it is that same file again. The unique keys decide races between concurrent uploads.
-- Files from before this table that repeat an earlier file's content keep working; the earliest holds the entry.
CREATE TABLE file_digests (
    sha256     TEXT    PRIMARY KEY,
    blake2_256 TEXT    NOT NULL UNIQUE,
    file_id    BIGINT  NOT NULL UNIQUE REFERENCES files (id) ON DELETE CASCADE
);
INSERT INTO file_digests (sha256, blake2_256, file_id)
    SELECT sha256, blake2_256, id FROM files WHERE true ORDER BY id ON CONFLICT DO NOTHING;
