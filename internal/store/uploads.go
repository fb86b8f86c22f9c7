package store

import (
	"context"
	"fmt"
)

// Upload is who put one file on the index and with which credential.
type Upload struct {
	// Uploader is the uploading account's username: "" for a Trusted Publisher's upload, or an account gone since.
	Uploader string
	// PublisherIdentity is the identity (JSON) of the Trusted Publisher's CI job that uploaded the file; "" for an
	// upload with a user's API token.
	PublisherIdentity string
	// WithToken says the history record of the upload names the user's API token that made it; TokenExists that
	// the token still exists (revoked or not), and TokenName is then its name.
	WithToken, TokenExists bool
	TokenName              string
}

// ReleaseUploads returns, by filename, who uploaded each file of a release and with what credential, in one
// query for all of them. The files table knows the account and the Trusted Publisher; a user's API token is named
// by the history record of the upload: the event file:upload (or release:staged, for a file that waited for
// approval) whose detail begins "<filename> with token <id>", as internal/upload writes it. A filename is never
// used twice, so no other file's record can match; of a filename staged, discarded and uploaded again, the last
// record counts.
func (db *DB) ReleaseUploads(ctx context.Context, releaseID int64) (map[string]Upload, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT f.filename, COALESCE(u.username, ''), COALESCE(pt.identity, ''),
			e.id IS NOT NULL, t.id IS NOT NULL, COALESCE(t.name, '')
		FROM files f
		LEFT JOIN users u ON u.id = f.uploaded_by
		LEFT JOIN publisher_tokens pt ON pt.id = f.publisher_token_id
		LEFT JOIN events e ON e.id = (SELECT max(id) FROM events
			WHERE project_id = f.project_id AND kind IN ('file:upload', 'release:staged')
			AND substr(detail, 1, length(f.filename) + 12) = f.filename || ' with token ')
		LEFT JOIN api_tokens t ON t.user_id = f.uploaded_by
			AND substr(e.detail, length(f.filename) + 13, length(t.id)) = t.id
		WHERE f.release_id = $1`, releaseID)
	if err != nil {
		return nil, fmt.Errorf("uploads of release %d: %w", releaseID, err)
	}
	defer rows.Close()
	out := map[string]Upload{}
	for rows.Next() {
		var filename string
		var u Upload
		if err := rows.Scan(&filename, &u.Uploader, &u.PublisherIdentity, &u.WithToken, &u.TokenExists, &u.TokenName); err != nil {
			return nil, fmt.Errorf("uploads of release %d: %w", releaseID, err)
		}
		out[filename] = u
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("uploads of release %d: %w", releaseID, err)
	}
	return out, nil
}
