package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
)

// ListenJournal calls changed whenever a transaction that wrote the journal commits, on any instance sharing this
// PostgreSQL database (the trigger of migration 0024 notifies wharf_journal), until ctx ends. It calls changed
// once more each time it starts listening, since what committed while it was not is not notified. Notifications
// can still be lost with the connection that listens for them: callers keep polling (simple.Index does), and this
// makes the poll's delay the worst case instead of the usual one. On SQLite, where the instances sharing a database
// are on one machine, it returns at once: the poll alone tells them.
func (db *DB) ListenJournal(ctx context.Context, changed func(), onError func(error)) {
	if db.engine != Postgres {
		return
	}
	for ctx.Err() == nil {
		err := db.listenJournal(ctx, changed)
		if ctx.Err() != nil {
			return
		}
		onError(fmt.Errorf("listen for journal changes: %w", err))
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (db *DB) listenJournal(ctx context.Context, changed func()) error {
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		if _, err := pc.Exec(ctx, "LISTEN wharf_journal"); err != nil {
			return err
		}
		changed()
		for {
			if _, err := pc.WaitForNotification(ctx); err != nil {
				// The connection listens, and may be in the middle of a message: it goes, not back to the pool.
				return errors.Join(err, driver.ErrBadConn)
			}
			changed()
		}
	})
}
