package store

import (
	"context"
	"fmt"
)

// ReleasePublishers returns, for the files of one release that a Trusted Publisher uploaded, the identity of the
// CI job that uploaded each (the JSON object its token's record keeps), by filename. The release page shows it;
// ProjectIndex, which the index pages read on every cache miss, leaves it out.
func (db *DB) ReleasePublishers(ctx context.Context, releaseID int64) (map[string]string, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT f.filename, pt.identity FROM files f
		JOIN publisher_tokens pt ON pt.id = f.publisher_token_id WHERE f.release_id = $1`, releaseID)
	if err != nil {
		return nil, fmt.Errorf("publishers of release %d: %w", releaseID, err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var filename, identity string
		if err := rows.Scan(&filename, &identity); err != nil {
			return nil, fmt.Errorf("publishers of release %d: %w", releaseID, err)
		}
		out[filename] = identity
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("publishers of release %d: %w", releaseID, err)
	}
	return out, nil
}
