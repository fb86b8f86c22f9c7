package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
)

// seedChunk bounds the rows of one multi-row statement: the files insert binds 12 values a row, and SQLite refuses
// more than 32,766 bound values in one statement.
const seedChunk = 2000

// SeedFiles loads many files at once for benchmarks and imports, in one transaction, with multi-row statements
// instead of AddFile's per-file round trips: projects (created without roles or uploader), their releases, files,
// the filename registry, the content registry, the search rows, one journal entry per project, which becomes the
// project's serial, and the projects' pages. Projects that already exist are skipped whole, so a seed that stopped
// half-way can be run again. It does none of the upload path's checks: the caller vouches for names, versions and hashes.
func (db *DB) SeedFiles(ctx context.Context, files []NewFile) error {
	type release struct {
		project, canonical string
		first              *NewFile
	}
	// Group by project and release, keeping first-seen order so serials follow the caller's order.
	var projects []*NewFile
	sizes := map[string]int64{}
	var releases []release
	seenRelease := map[[2]string]bool{}
	for i := range files {
		f := &files[i]
		if _, ok := sizes[f.NormalizedName]; !ok {
			projects = append(projects, f)
		}
		sizes[f.NormalizedName] += f.Size
		k := [2]string{f.NormalizedName, f.CanonicalVersion}
		if !seenRelease[k] {
			seenRelease[k] = true
			releases = append(releases, release{f.NormalizedName, f.CanonicalVersion, f})
		}
	}
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if db.engine == SQLite {
			// The indexes of millions of rows outgrow SQLite's default page cache (2 MB), which turns every batch
			// into re-reads of the same pages; the larger cache lasts as long as this pooled connection.
			if _, err := tx.ExecContext(ctx, `PRAGMA cache_size = -262144`); err != nil {
				return err
			}
		}
		// The projects inserted below get ids above every existing one: search is refreshed for exactly those.
		var lastProjectID int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM projects`).Scan(&lastProjectID); err != nil {
			return fmt.Errorf("projects: %w", err)
		}
		projectIDs := map[string]int64{}
		for _, chunk := range seedChunks(len(projects), seedChunk) {
			var args []any
			var q strings.Builder
			q.WriteString(`INSERT INTO projects (name, normalized_name, ultranormalized_name, created_at, total_size) VALUES `)
			for i, p := range projects[chunk[0]:chunk[1]] {
				seedTuple(&q, db.engine, i, 5)
				args = append(args, p.ProjectName, p.NormalizedName, p.UltraName, micros(p.Now), sizes[p.NormalizedName])
			}
			q.WriteString(` ON CONFLICT (normalized_name) DO NOTHING RETURNING id, normalized_name`)
			if err := seedScanPairs(ctx, tx, q.String(), args, func(id int64, name string) { projectIDs[name] = id }); err != nil {
				return fmt.Errorf("projects: %w", err)
			}
		}

		releaseIDs := map[[2]string]int64{}
		var newReleases []release
		for _, r := range releases {
			if _, ok := projectIDs[r.project]; ok {
				newReleases = append(newReleases, r)
			}
		}
		for _, chunk := range seedChunks(len(newReleases), seedChunk) {
			var args []any
			var q strings.Builder
			q.WriteString(`INSERT INTO releases (project_id, version, canonical_version, requires_python, metadata, created_at) VALUES `)
			byID := map[int64]string{}
			for i, r := range newReleases[chunk[0]:chunk[1]] {
				seedTuple(&q, db.engine, i, 6)
				id := projectIDs[r.project]
				byID[id] = r.project
				f := r.first
				args = append(args, id, f.Version, f.CanonicalVersion, f.RequiresPython, string(f.ReleaseMetadata), micros(f.Now))
			}
			q.WriteString(` RETURNING id, project_id, canonical_version`)
			rows, err := tx.QueryContext(ctx, q.String(), args...)
			if err != nil {
				return fmt.Errorf("releases: %w", err)
			}
			for rows.Next() {
				var id, projectID int64
				var canonical string
				if err := rows.Scan(&id, &projectID, &canonical); err != nil {
					rows.Close()
					return err
				}
				releaseIDs[[2]string{byID[projectID], canonical}] = id
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("releases: %w", err)
			}
		}

		if err := refreshSearch(ctx, tx, db.engine, searchAfter, lastProjectID); err != nil {
			return err
		}

		// The files inserted below get ids above every existing one: the content registry takes exactly those.
		var lastFileID int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM files`).Scan(&lastFileID); err != nil {
			return fmt.Errorf("files: %w", err)
		}
		var newFiles []*NewFile
		for i := range files {
			if _, ok := projectIDs[files[i].NormalizedName]; ok {
				newFiles = append(newFiles, &files[i])
			}
		}
		for _, chunk := range seedChunks(len(newFiles), seedChunk) {
			var args, names []any
			var q, r strings.Builder
			q.WriteString(`INSERT INTO files (release_id, project_id, filename, packagetype, python_version, requires_python,
				size, sha256, md5, blake2_256, metadata_sha256, uploaded_at) VALUES `)
			r.WriteString(`INSERT INTO filename_registry (filename, created_at) VALUES `)
			for i, f := range newFiles[chunk[0]:chunk[1]] {
				seedTuple(&q, db.engine, i, 12)
				seedTuple(&r, db.engine, i, 2)
				args = append(args, releaseIDs[[2]string{f.NormalizedName, f.CanonicalVersion}], projectIDs[f.NormalizedName],
					f.Filename, f.PackageType, f.PythonVersion, f.RequiresPython, f.Size, f.SHA256, f.MD5, f.Blake2b256,
					f.MetadataSHA256, micros(f.Now))
				names = append(names, f.Filename, micros(f.Now))
			}
			if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
				return fmt.Errorf("files: %w", err)
			}
			if _, err := tx.ExecContext(ctx, r.String(), names...); err != nil {
				return fmt.Errorf("filename registry: %w", err)
			}
		}
		// Repeated content is kept, as the migration keeps it in files from before the rule: the first holds it.
		if _, err := tx.ExecContext(ctx, `INSERT INTO file_digests (sha256, blake2_256, file_id)
			SELECT sha256, blake2_256, id FROM files WHERE id > $1 ORDER BY id ON CONFLICT DO NOTHING`, lastFileID); err != nil {
			return fmt.Errorf("file digests: %w", err)
		}

		// One journal entry per new project, in the caller's order; its id becomes the project's serial.
		var created []*NewFile
		for _, p := range projects {
			if _, ok := projectIDs[p.NormalizedName]; ok {
				created = append(created, p)
			}
		}
		for _, chunk := range seedChunks(len(created), seedChunk) {
			var args []any
			var q strings.Builder
			q.WriteString(`INSERT INTO journal (project_id, name, action, detail, created_at) VALUES `)
			for i, p := range created[chunk[0]:chunk[1]] {
				seedTuple(&q, db.engine, i, 5)
				args = append(args, projectIDs[p.NormalizedName], p.NormalizedName, "create", "seed", micros(p.Now))
			}
			q.WriteString(` RETURNING id, project_id`)
			var serials []any
			var u strings.Builder
			u.WriteString(`WITH v (id, serial) AS (VALUES `)
			n := 0
			rows, err := tx.QueryContext(ctx, q.String(), args...)
			if err != nil {
				return fmt.Errorf("journal: %w", err)
			}
			for rows.Next() {
				var serial, projectID int64
				if err := rows.Scan(&serial, &projectID); err != nil {
					rows.Close()
					return err
				}
				if n > 0 {
					u.WriteString(", ")
				}
				// The casts give the VALUES columns a type on PostgreSQL; SQLite accepts them as no-ops.
				u.WriteString("(CAST(")
				seedParam(&u, db.engine, 2*n+1)
				u.WriteString(" AS BIGINT), CAST(")
				seedParam(&u, db.engine, 2*n+2)
				u.WriteString(" AS BIGINT))")
				serials = append(serials, projectID, serial)
				n++
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("journal: %w", err)
			}
			u.WriteString(`) UPDATE projects SET last_serial = v.serial FROM v WHERE projects.id = v.id`)
			if _, err := tx.ExecContext(ctx, u.String(), serials...); err != nil {
				return fmt.Errorf("serials: %w", err)
			}
		}
		ids := make([]int64, len(created))
		for i, p := range created {
			ids[i] = projectIDs[p.NormalizedName]
		}
		return renderPagesOf(ctx, tx, db.engine, ids)
	})
	if err != nil {
		return fmt.Errorf("seed files: %w", err)
	}
	return nil
}

// seedChunks splits [0, n) into [start, end) ranges of at most size.
func seedChunks(n, size int) [][2]int {
	var out [][2]int
	for i := 0; i < n; i += size {
		out = append(out, [2]int{i, min(i+size, n)})
	}
	return out
}

// seedTuple appends the i-th "($a, $b, ...)" group of a multi-row VALUES list.
func seedTuple(b *strings.Builder, e Engine, i, width int) {
	if i > 0 {
		b.WriteString(", ")
	}
	b.WriteByte('(')
	for j := range width {
		if j > 0 {
			b.WriteString(", ")
		}
		seedParam(b, e, i*width+j+1)
	}
	b.WriteByte(')')
}

// seedParam appends the n-th placeholder. SQLite gets anonymous "?" parameters: it looks numbered ones up by name
// in a list, which makes a statement with thousands of them quadratic.
func seedParam(b *strings.Builder, e Engine, n int) {
	if e == SQLite {
		b.WriteByte('?')
		return
	}
	b.WriteByte('$')
	b.WriteString(strconv.Itoa(n))
}

func seedScanPairs(ctx context.Context, tx *sql.Tx, query string, args []any, fn func(int64, string)) error {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var s string
		if err := rows.Scan(&id, &s); err != nil {
			return err
		}
		fn(id, s)
	}
	return rows.Err()
}
