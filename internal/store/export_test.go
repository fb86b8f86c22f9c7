package store

import "context"

// MigrateTo applies the migrations up to and including version, so that a test can fill a database as an older
// release left it and then migrate it.
func (db *DB) MigrateTo(ctx context.Context, version int) error { return db.migrate(ctx, version) }
