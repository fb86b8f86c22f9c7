package store

import (
	"context"
	"strings"
)

// DocumentPlans is SQLite's plan of each JSON API document query, by the query's name, one line per step.
func (db *DB) DocumentPlans(ctx context.Context) (map[string]string, error) {
	q := db.documents
	plans := map[string]string{}
	for name, query := range map[string]string{"project": q.project, "project stamp": q.projectStamp,
		"release": q.release, "release stamp": q.releaseStamp, "release by text": q.releaseByText,
		"release stamp by text": q.releaseStampByText} {
		rows, err := db.sql.QueryContext(ctx, `EXPLAIN QUERY PLAN `+query, "a-project", "1.0")
		if err != nil {
			return nil, err
		}
		var lines []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				rows.Close()
				return nil, err
			}
			lines = append(lines, detail)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		plans[name] = strings.Join(lines, "\n")
	}
	return plans, nil
}
