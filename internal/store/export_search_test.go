package store

import (
	"context"
	"database/sql"
	"strings"
)

// SearchPlan is the engine's plan of the page statement SearchProjects runs for q, one line per step. On
// PostgreSQL sequential scans are disabled first, in the plan's own transaction: a test's tables are small enough
// to be read whole, and the question is whether the statement can use the indexes at all.
func (db *DB) SearchPlan(ctx context.Context, q SearchQuery) (string, error) {
	st, _ := db.searchSQL(q)
	var lines []string
	err := db.tx(ctx, func(tx *sql.Tx) error {
		explain := "EXPLAIN QUERY PLAN "
		if db.engine == Postgres {
			if _, err := tx.ExecContext(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
				return err
			}
			explain = "EXPLAIN "
		}
		rows, err := tx.QueryContext(ctx, explain+st.page, st.args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		cols, err := rows.Columns()
		if err != nil {
			return err
		}
		for rows.Next() {
			// SQLite's rows are (id, parent, notused, detail); PostgreSQL's a single line of text.
			dest := make([]any, len(cols))
			var line string
			for i := range dest {
				dest[i] = new(any)
			}
			dest[len(dest)-1] = &line
			if err := rows.Scan(dest...); err != nil {
				return err
			}
			lines = append(lines, line)
		}
		return rows.Err()
	})
	return strings.Join(lines, "\n"), err
}
