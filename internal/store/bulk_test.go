package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// BulkProject is a project to load with BulkDownloads.
type BulkProject struct{ Name, Normalized, Ultra string }

// BulkDownloads loads projects and a count of every project on every day of days (count(i, d): project i, day
// days[d]) into an empty database, for the benchmarks at PyPI's scale: PostgreSQL through COPY into a table whose
// indexes and constraints are built again afterwards, SQLite through prepared statements in large transactions. The
// daily counts go in beside the download window (it is moved past every day first, so that the empty totals are
// right), and then the window is moved back to since, which sums the totals from the counts as a move back does.
// It returns the projects' ids in the order of projects.
func (db *DB) BulkDownloads(ctx context.Context, projects []BulkProject, days []string, since time.Time,
	count func(project, day int) int64) ([]int64, error) {
	if err := db.SlideDownloadWindow(ctx, time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), 0); err != nil {
		return nil, err
	}
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var ids []int64
	if db.engine == Postgres {
		ids, err = bulkPostgres(ctx, conn, projects, days, count)
	} else {
		ids, err = bulkSQLite(ctx, conn, projects, days, count)
	}
	if err != nil {
		return nil, fmt.Errorf("bulk downloads: %w", err)
	}
	if err := db.SlideDownloadWindow(ctx, since, 0); err != nil {
		return nil, err
	}
	return ids, nil
}

func bulkSQLite(ctx context.Context, conn *sql.Conn, projects []BulkProject, days []string, count func(int, int) int64) ([]int64, error) {
	// This connection only: no foreign-key lookups (the ids come from the projects just inserted), a large cache,
	// and statement journals in memory. The connection is closed afterwards, not returned to the pool as is.
	for _, p := range []string{`PRAGMA foreign_keys = OFF`, `PRAGMA cache_size = -2000000`, `PRAGMA temp_store = MEMORY`} {
		if _, err := conn.ExecContext(ctx, p); err != nil {
			return nil, err
		}
	}
	defer conn.Raw(func(any) error { return driver.ErrBadConn })
	ids := make([]int64, len(projects))
	err := connTx(ctx, conn, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `INSERT INTO projects (name, normalized_name, ultranormalized_name, created_at) VALUES ($1, $2, $3, 0)`)
		if err != nil {
			return err
		}
		defer st.Close()
		for i, p := range projects {
			res, err := st.ExecContext(ctx, p.Name, p.Normalized, p.Ultra)
			if err != nil {
				return err
			}
			if ids[i], err = res.LastInsertId(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("projects: %w", err)
	}
	// Project by project, one statement a project: the table and its primary key grow at their ends, so that the
	// pages being written stay in the cache. Transactions of a few million rows keep the WAL small.
	var q strings.Builder
	q.WriteString(`INSERT INTO downloads (project_id, day, count) VALUES `)
	for d := range days {
		seedTuple(&q, SQLite, d, 3)
	}
	args := make([]any, 3*len(days))
	const perTx = 20000
	for start := 0; start < len(projects); start += perTx {
		err := connTx(ctx, conn, func(tx *sql.Tx) error {
			st, err := tx.PrepareContext(ctx, q.String())
			if err != nil {
				return err
			}
			defer st.Close()
			for i := start; i < min(start+perTx, len(projects)); i++ {
				for d, day := range days {
					args[3*d], args[3*d+1], args[3*d+2] = ids[i], day, count(i, d)
				}
				if _, err := st.ExecContext(ctx, args...); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("downloads: %w", err)
		}
	}
	if _, err := conn.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return nil, err
	}
	return ids, nil
}

func bulkPostgres(ctx context.Context, conn *sql.Conn, projects []BulkProject, days []string, count func(int, int) int64) ([]int64, error) {
	if _, err := conn.ExecContext(ctx, `SET maintenance_work_mem = '1GB'`); err != nil {
		return nil, err
	}
	// The indexes and constraints of downloads as the migrations made them, to build again after the copy.
	var rebuild []string
	rows, err := conn.QueryContext(ctx, `
		SELECT 'ALTER TABLE downloads DROP CONSTRAINT ' || conname, 'ALTER TABLE downloads ADD CONSTRAINT ' || conname || ' ' || pg_get_constraintdef(oid)
		FROM pg_constraint WHERE conrelid = 'downloads'::regclass
		UNION ALL
		SELECT 'DROP INDEX ' || indexname, indexdef FROM pg_indexes
		WHERE tablename = 'downloads' AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = 'downloads'::regclass)`)
	if err != nil {
		return nil, err
	}
	var drop []string
	for rows.Next() {
		var d, c string
		if err := rows.Scan(&d, &c); err != nil {
			rows.Close()
			return nil, err
		}
		drop, rebuild = append(drop, d), append(rebuild, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, stmt := range drop {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return nil, fmt.Errorf("%s: %w", stmt, err)
		}
	}
	ids := make([]int64, len(projects))
	err = conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		i := 0
		if _, err := pc.CopyFrom(ctx, pgx.Identifier{"projects"}, []string{"name", "normalized_name", "ultranormalized_name", "created_at"},
			pgx.CopyFromFunc(func() ([]any, error) {
				if i == len(projects) {
					return nil, nil
				}
				p := projects[i]
				i++
				return []any{p.Name, p.Normalized, p.Ultra, int64(0)}, nil
			})); err != nil {
			return fmt.Errorf("projects: %w", err)
		}
		byName := make(map[string]int, len(projects))
		for i, p := range projects {
			byName[p.Normalized] = i
		}
		rows, err := pc.Query(ctx, `SELECT id, normalized_name FROM projects`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id int64
			var name string
			if err := rows.Scan(&id, &name); err != nil {
				rows.Close()
				return err
			}
			ids[byName[name]] = id
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		// Day by day, as the server writes them: a day's rows lie together in the table.
		p, d := 0, 0
		_, err = pc.CopyFrom(ctx, pgx.Identifier{"downloads"}, []string{"project_id", "day", "count"},
			pgx.CopyFromFunc(func() ([]any, error) {
				if p == len(projects) {
					p, d = 0, d+1
				}
				if d == len(days) {
					return nil, nil
				}
				row := []any{ids[p], days[d], count(p, d)}
				p++
				return row, nil
			}))
		if err != nil {
			return fmt.Errorf("downloads: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, stmt := range append(rebuild, `VACUUM (ANALYZE) downloads`, `VACUUM (ANALYZE) projects`) {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return nil, fmt.Errorf("%s: %w", strings.Fields(stmt)[0], err)
		}
	}
	return ids, nil
}

func connTx(ctx context.Context, conn *sql.Conn, fn func(*sql.Tx) error) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}
