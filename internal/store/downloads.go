package store

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
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
// One transaction records their digests and adds their downloads per project and day, so that an import stopped at
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

	type dayKey struct {
		projectID int64
		day       string
	}
	err := db.tx(ctx, func(tx *sql.Tx) error {
		counts := map[dayKey]int64{}
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
				counts[dayKey{l.ProjectID, l.Day}]++
				added[l.ProjectID]++
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("digests: %w", err)
			}
		}

		keys := make([]dayKey, 0, len(counts))
		for k := range counts {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b dayKey) int {
			return cmp.Or(cmp.Compare(a.projectID, b.projectID), strings.Compare(a.day, b.day))
		})
		for _, chunk := range seedChunks(len(keys), importChunk) {
			var q strings.Builder
			q.WriteString(`INSERT INTO downloads (project_id, day, count) VALUES `)
			args := make([]any, 0, 3*(chunk[1]-chunk[0]))
			for i, k := range keys[chunk[0]:chunk[1]] {
				seedTuple(&q, db.engine, i, 3)
				args = append(args, k.projectID, k.day, counts[k])
			}
			q.WriteString(` ON CONFLICT (project_id, day) DO UPDATE SET count = downloads.count + excluded.count`)
			if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
				return fmt.Errorf("counts: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("import downloads: %w", err)
	}
	return added, nil
}
