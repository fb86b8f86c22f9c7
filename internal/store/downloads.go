package store

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// DownloadLine is one access-log line that records a download, as `wharf downloads import` counts it.
type DownloadLine struct {
	Digest    [16]byte // the first 16 bytes of the sha256 of the raw line: the line's identity
	Day       string   // the line's UTC day, "2006-01-02"
	ProjectID int64
}

// importChunk bounds the rows of one multi-row statement: at three bound values a row, well below SQLite's
// 32,766 and PostgreSQL's 65,535.
const importChunk = 5000

// ProjectsOfFiles maps each filename that a live file has to that file's project id; the others are left out.
func (db *DB) ProjectsOfFiles(ctx context.Context, filenames []string) (map[string]int64, error) {
	out := make(map[string]int64, len(filenames))
	for _, chunk := range seedChunks(len(filenames), importChunk) {
		var q strings.Builder
		q.WriteString(`SELECT filename, project_id FROM files WHERE filename IN (`)
		args := make([]any, 0, chunk[1]-chunk[0])
		for i, name := range filenames[chunk[0]:chunk[1]] {
			if i > 0 {
				q.WriteString(", ")
			}
			seedParam(&q, db.engine, i+1)
			args = append(args, name)
		}
		q.WriteByte(')')
		rows, err := db.sql.QueryContext(ctx, q.String(), args...)
		if err != nil {
			return nil, fmt.Errorf("projects of files: %w", err)
		}
		for rows.Next() {
			var name string
			var id int64
			if err := rows.Scan(&name, &id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("projects of files: %w", err)
			}
			out[name] = id
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("projects of files: %w", err)
		}
	}
	return out, nil
}

// ImportDownloads counts the lines that were not imported before and returns how many of them each project got.
// One transaction records their digests and adds their downloads per project and day (and to the download
// window's totals, for the days inside it), so that an import stopped at
// any point has counted exactly the lines whose digests it kept, and running it again counts the rest. A digest
// repeated within lines counts once.
func (db *DB) ImportDownloads(ctx context.Context, lines []DownloadLine) (map[int64]int64, error) {
	added := map[int64]int64{}
	if len(lines) == 0 {
		return added, nil
	}
	byDigest := make(map[[16]byte]*DownloadLine, len(lines))
	unique := make([]*DownloadLine, 0, len(lines))
	for i := range lines {
		if _, ok := byDigest[lines[i].Digest]; !ok {
			byDigest[lines[i].Digest] = &lines[i]
			unique = append(unique, &lines[i])
		}
	}
	// Rows are written in key order: the B-tree's pages are each visited once, and two imports running at once on
	// PostgreSQL wait for each other's rows instead of deadlocking on them.
	slices.SortFunc(unique, func(a, b *DownloadLine) int {
		return cmp.Or(strings.Compare(a.Day, b.Day), bytes.Compare(a.Digest[:], b.Digest[:]))
	})

	err := db.tx(ctx, func(tx *sql.Tx) error {
		counts := map[projectDay]int64{}
		for _, chunk := range seedChunks(len(unique), importChunk) {
			var q strings.Builder
			q.WriteString(`INSERT INTO download_imports (day, digest) VALUES `)
			args := make([]any, 0, 2*(chunk[1]-chunk[0]))
			for i, l := range unique[chunk[0]:chunk[1]] {
				seedTuple(&q, db.engine, i, 2)
				args = append(args, l.Day, l.Digest[:])
			}
			// RETURNING names only the rows inserted: the lines seen for the first time.
			q.WriteString(` ON CONFLICT (day, digest) DO NOTHING RETURNING digest`)
			rows, err := tx.QueryContext(ctx, q.String(), args...)
			if err != nil {
				return fmt.Errorf("digests: %w", err)
			}
			var digest []byte
			for rows.Next() {
				if err := rows.Scan(&digest); err != nil {
					rows.Close()
					return fmt.Errorf("digests: %w", err)
				}
				l := byDigest[[16]byte(digest)]
				counts[projectDay{l.ProjectID, l.Day}]++
				added[l.ProjectID]++
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("digests: %w", err)
			}
		}
		return db.addCounts(ctx, tx, counts)
	})
	if err != nil {
		return nil, fmt.Errorf("import downloads: %w", err)
	}
	return added, nil
}

// projectDay is a project's row of the daily counts.
type projectDay struct {
	projectID int64
	day       string // "2006-01-02", UTC
}

// The download window (migration 0014): download_window.since is the first day of the window whose downloads the
// critical-project recompute ranks, and download_totals holds per project the sum of its daily counts on the days
// from its own since on, which is never after the window's. A total whose since is the window's is exact; an older
// one is an upper bound, too high by the counts of the days between the two. Writes of counts add to the totals in
// their own transaction (addCounts); SlideDownloadWindow moves the window's first day forward, one row, and brings
// the largest totals up to the new day, so that the top can be read from one row per project (TopDownloaded).
//
// On PostgreSQL, writers of counts hold the window's row FOR SHARE from before their first count to their commit,
// and a move holds it FOR UPDATE: a move waits for the writers in flight, whose counts it then sees, and a writer
// that comes after the move reads the new first day. Both take the window's row before any count, so the two cannot
// deadlock. On SQLite every write transaction holds the whole database (_txlock=immediate).

// lockWindow reads the window's first day in tx and holds it until tx ends: shared for writers of counts,
// exclusive for a move of the window.
func (db *DB) lockWindow(ctx context.Context, tx *sql.Tx, exclusive bool) (string, error) {
	q := `SELECT since FROM download_window WHERE id = 1`
	switch {
	case db.engine == Postgres && exclusive:
		q += ` FOR UPDATE`
	case db.engine == Postgres:
		q += ` FOR SHARE`
	}
	var since string
	if err := tx.QueryRowContext(ctx, q).Scan(&since); err != nil {
		return "", fmt.Errorf("download window: %w", err)
	}
	return since, nil
}

// addCounts adds counts to the daily rows and to the projects' totals. A count on a day inside the window belongs
// in every total; one on an earlier day (an import of an old log) only in a total whose own since is not after it.
// Rows are written in key order, (project, day) and then project by project, so that concurrent writers on
// PostgreSQL wait for each other's rows instead of deadlocking on them.
func (db *DB) addCounts(ctx context.Context, tx *sql.Tx, counts map[projectDay]int64) error {
	if len(counts) == 0 {
		return nil
	}
	since, err := db.lockWindow(ctx, tx, false)
	if err != nil {
		return err
	}
	keys := slices.SortedFunc(maps.Keys(counts), func(a, b projectDay) int {
		return cmp.Or(cmp.Compare(a.projectID, b.projectID), strings.Compare(a.day, b.day))
	})
	inside := map[int64]int64{} // project -> its counts on days inside the window
	var before []projectDay     // counts on days before it
	for _, chunk := range seedChunks(len(keys), importChunk) {
		var q strings.Builder
		q.WriteString(`INSERT INTO downloads (project_id, day, count) VALUES `)
		args := make([]any, 0, 3*(chunk[1]-chunk[0]))
		for i, k := range keys[chunk[0]:chunk[1]] {
			seedTuple(&q, db.engine, i, 3)
			args = append(args, k.projectID, k.day, counts[k])
			if k.day >= since {
				inside[k.projectID] += counts[k]
			} else {
				before = append(before, k)
			}
		}
		q.WriteString(` ON CONFLICT (project_id, day) DO UPDATE SET count = downloads.count + excluded.count`)
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("counts: %w", err)
		}
	}
	upsert := func(ids []int64) error {
		var q strings.Builder
		q.WriteString(`INSERT INTO download_totals (project_id, total, since) VALUES `)
		args := make([]any, 0, 3*len(ids))
		for i, id := range ids {
			seedTuple(&q, db.engine, i, 3)
			args = append(args, id, inside[id], since)
		}
		q.WriteString(` ON CONFLICT (project_id) DO UPDATE SET total = download_totals.total + excluded.total`)
		_, err := tx.ExecContext(ctx, q.String(), args...)
		return err
	}
	ids := slices.Sorted(maps.Keys(inside))
	if len(before) == 0 {
		for _, chunk := range seedChunks(len(ids), importChunk) {
			if err := upsert(ids[chunk[0]:chunk[1]]); err != nil {
				return fmt.Errorf("window totals: %w", err)
			}
		}
		return nil
	}
	// Rare: a count older than the window. Project by project, in order, each total once or twice.
	for len(ids) > 0 || len(before) > 0 {
		var id int64
		switch {
		case len(before) == 0 || len(ids) > 0 && ids[0] <= before[0].projectID:
			id = ids[0]
		default:
			id = before[0].projectID
		}
		if len(ids) > 0 && ids[0] == id {
			if err := upsert(ids[:1]); err != nil {
				return fmt.Errorf("window totals: %w", err)
			}
			ids = ids[1:]
		}
		for len(before) > 0 && before[0].projectID == id {
			k := before[0]
			if _, err := tx.ExecContext(ctx, `UPDATE download_totals SET total = total + $1 WHERE project_id = $2 AND since <= $3`,
				counts[k], k.projectID, k.day); err != nil {
				return fmt.Errorf("window totals: %w", err)
			}
			before = before[1:]
		}
	}
	return nil
}

// DownloadWindow returns the first day (UTC midnight) of the window whose downloads the store keeps summed.
func (db *DB) DownloadWindow(ctx context.Context) (time.Time, error) {
	var since string
	if err := db.sql.QueryRowContext(ctx, `SELECT since FROM download_window WHERE id = 1`).Scan(&since); err != nil {
		return time.Time{}, fmt.Errorf("download window: %w", err)
	}
	t, err := time.Parse(time.DateOnly, since)
	if err != nil {
		return time.Time{}, fmt.Errorf("download window: %w", err)
	}
	return t, nil
}

// SlideDownloadWindow moves the first day of the window whose downloads the store keeps summed to since's UTC day,
// in one transaction. Forward, the totals stay as they are, upper bounds until read, except the head largest that
// count from an earlier day, which it brings up to the new day by subtracting the counts of the days that left:
// those are the totals a top is read from, and keeping them exact keeps reading the top cheap. At PyPI's scale,
// with head twice the top, that is some 18,000 of 886,000 rows a day, under a second. Backward (a longer window
// than before) it sums every total again from the daily counts, as long as summing the top from them (under a
// minute at that scale). Moving to the day the window starts on already does nothing.
func (db *DB) SlideDownloadWindow(ctx context.Context, since time.Time, head int) error {
	day := since.UTC().Format(time.DateOnly)
	err := db.tx(ctx, func(tx *sql.Tx) error {
		old, err := db.lockWindow(ctx, tx, true)
		if err != nil || old == day {
			return err
		}
		if err := execOne(ctx, tx, `UPDATE download_window SET since = $1 WHERE id = 1`, day); err != nil {
			return err
		}
		if day < old {
			if _, err := tx.ExecContext(ctx, `DELETE FROM download_totals`); err != nil {
				return fmt.Errorf("totals: %w", err)
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO download_totals (project_id, total, since)
				SELECT project_id, sum(count), $1 FROM downloads WHERE day >= $1 GROUP BY project_id`, day)
			if err != nil {
				return fmt.Errorf("totals: %w", err)
			}
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE download_totals SET since = $1, total = total - COALESCE((
				SELECT sum(d.count) FROM downloads d
				WHERE d.project_id = download_totals.project_id AND d.day >= download_totals.since AND d.day < $1), 0)
			WHERE project_id IN (SELECT project_id FROM download_totals WHERE since < $1 ORDER BY total DESC, project_id LIMIT $2)`,
			day, head); err != nil {
			return fmt.Errorf("totals: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("slide download window to %s: %w", day, err)
	}
	return nil
}
