package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"
)

const fileSelect = `SELECT f.id, f.release_id, f.project_id, r.version, f.filename, f.packagetype, f.python_version,
	f.requires_python, f.size, f.sha256, f.md5, f.blake2_256, f.metadata_sha256, f.uploaded_at,
	COALESCE(f.uploaded_by, 0), COALESCE(f.publisher_token_id, ''), COALESCE(pt.identity, ''), r.yanked, r.yanked_reason
	FROM files f JOIN releases r ON r.id = f.release_id LEFT JOIN publisher_tokens pt ON pt.id = f.publisher_token_id`

func scanFile(row interface{ Scan(...any) error }) (File, error) {
	var f File
	var uploaded int64
	err := row.Scan(&f.ID, &f.ReleaseID, &f.ProjectID, &f.Version, &f.Filename, &f.PackageType, &f.PythonVersion,
		&f.RequiresPython, &f.Size, &f.SHA256, &f.MD5, &f.Blake2b256, &f.MetadataSHA256, &uploaded,
		&f.UploadedBy, &f.PublisherTokenID, &f.PublisherIdentity, &f.Yanked, &f.YankedReason)
	if errors.Is(err, sql.ErrNoRows) {
		return File{}, ErrNotFound
	}
	if err != nil {
		return File{}, err
	}
	f.UploadedAt = fromMicros(uploaded)
	return f, nil
}

// ProjectIndex is everything the index pages of one project show.
type ProjectIndex struct {
	Project  Project
	Releases []Release // in creation order
	Files    []File    // in upload order
}

// projectIndexQuery reads a project, its releases and their files in one statement, a row per file (or per release
// without files, or one for a project without releases), so one snapshot on both engines. On PostgreSQL that saves a
// transaction's round trips; on SQLite, two statements' set-up in the driver (a read transaction, a context watcher
// goroutine, the rows), which was a quarter of the CPU of a page-cache miss. The project's and release's columns
// repeat on every file's row, a few strings more per file. Rows come in no particular order: sorting a project's
// files in Go is cheaper than SQLite's sorter.
const projectIndexQuery = `SELECT p.id, p.name, p.normalized_name, p.created_at, p.last_serial, p.total_size,
	r.id, COALESCE(r.version, ''), COALESCE(r.canonical_version, ''), COALESCE(r.requires_python, ''),
	COALESCE(r.yanked, FALSE), COALESCE(r.yanked_reason, ''), COALESCE(r.created_at, 0),
	f.id, COALESCE(f.filename, ''), COALESCE(f.packagetype, ''), COALESCE(f.python_version, ''),
	COALESCE(f.requires_python, ''), COALESCE(f.size, 0), COALESCE(f.sha256, ''), COALESCE(f.md5, ''),
	COALESCE(f.blake2_256, ''), COALESCE(f.metadata_sha256, ''), COALESCE(f.uploaded_at, 0), COALESCE(f.uploaded_by, 0)
	FROM projects p
	LEFT JOIN releases r ON r.project_id = p.id
	LEFT JOIN files f ON f.release_id = r.id
	WHERE p.normalized_name = $1`

// ProjectIndex reads one project's releases and files. Release metadata is left out (it holds whole descriptions
// and the index pages do not show it): ReleaseMetadata reads it for the one release that needs it.
func (db *DB) ProjectIndex(ctx context.Context, normalized string) (ProjectIndex, error) {
	var pi ProjectIndex
	rows, err := db.prepared(ctx, projectIndexQuery).QueryContext(ctx, normalized)
	if err != nil {
		return pi, fmt.Errorf("project index %q: %w", normalized, err)
	}
	defer rows.Close()
	found := false
	for rows.Next() {
		var p Project
		var r Release
		var f File
		var relID, fileID sql.NullInt64
		var pCreated, rCreated, uploaded int64
		if err := rows.Scan(&p.ID, &p.Name, &p.NormalizedName, &pCreated, &p.LastSerial, &p.TotalSize,
			&relID, &r.Version, &r.CanonicalVersion, &r.RequiresPython, &r.Yanked, &r.YankedReason, &rCreated,
			&fileID, &f.Filename, &f.PackageType, &f.PythonVersion, &f.RequiresPython, &f.Size, &f.SHA256, &f.MD5,
			&f.Blake2b256, &f.MetadataSHA256, &uploaded, &f.UploadedBy); err != nil {
			return pi, fmt.Errorf("project index %q: %w", normalized, err)
		}
		if !found {
			p.CreatedAt = fromMicros(pCreated)
			pi.Project = p
			found = true
		}
		if !relID.Valid {
			continue
		}
		if n := len(pi.Releases); n == 0 || pi.Releases[n-1].ID != relID.Int64 {
			// A release comes once per file; duplicates that are not adjacent go after sorting.
			r.ID, r.ProjectID, r.CreatedAt = relID.Int64, p.ID, fromMicros(rCreated)
			pi.Releases = append(pi.Releases, r)
		}
		if fileID.Valid {
			f.ID, f.ReleaseID, f.ProjectID, f.UploadedAt = fileID.Int64, relID.Int64, p.ID, fromMicros(uploaded)
			f.Version, f.Yanked, f.YankedReason = r.Version, r.Yanked, r.YankedReason
			pi.Files = append(pi.Files, f)
		}
	}
	if err := rows.Err(); err != nil {
		return pi, fmt.Errorf("project index %q: %w", normalized, err)
	}
	if !found {
		return pi, fmt.Errorf("project index %q: %w", normalized, ErrNotFound)
	}
	slices.SortFunc(pi.Releases, func(a, b Release) int { return cmp.Compare(a.ID, b.ID) })
	pi.Releases = slices.CompactFunc(pi.Releases, func(a, b Release) bool { return a.ID == b.ID })
	slices.SortFunc(pi.Files, func(a, b File) int { return cmp.Compare(a.ID, b.ID) })
	return pi, nil
}

// ReleaseMetadata reads the core metadata JSON kept with a release.
func (db *DB) ReleaseMetadata(ctx context.Context, releaseID int64) ([]byte, error) {
	var meta string
	err := db.prepared(ctx, `SELECT metadata FROM releases WHERE id = $1`).QueryRowContext(ctx, releaseID).Scan(&meta)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("release %d: %w", releaseID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("release %d: %w", releaseID, err)
	}
	return []byte(meta), nil
}

// EachProjectName calls fn with every project's normalised name in byte order, streaming, so the index root of
// hundreds of thousands of names never sits in memory as rows.
func (db *DB) EachProjectName(ctx context.Context, fn func(normalized string) error) error {
	rows, err := db.sql.QueryContext(ctx, `SELECT normalized_name FROM projects ORDER BY normalized_name`)
	if err != nil {
		return fmt.Errorf("project names: %w", err)
	}
	defer rows.Close()
	var name string
	for rows.Next() {
		if err := rows.Scan(&name); err != nil {
			return err
		}
		if err := fn(name); err != nil {
			return err
		}
	}
	return rows.Err()
}

// LastSerial is the serial of the newest change to any project: it changes whenever any index page may change.
func (db *DB) LastSerial(ctx context.Context) (int64, error) {
	var serial sql.NullInt64
	if err := db.sql.QueryRowContext(ctx, `SELECT max(id) FROM journal`).Scan(&serial); err != nil {
		return 0, fmt.Errorf("last serial: %w", err)
	}
	return serial.Int64, nil
}

// ChangedProjects calls fn for every project with a journal entry after the given serial, deleted ones included,
// with its newest such serial: for cache invalidation across instances that share one database. It reads the new
// entries only, however many projects there are.
func (db *DB) ChangedProjects(ctx context.Context, after int64, fn func(normalized string, serial int64)) error {
	rows, err := db.sql.QueryContext(ctx,
		`SELECT name, max(id) FROM journal WHERE id > $1 AND name IS NOT NULL GROUP BY name`, after)
	if err != nil {
		return fmt.Errorf("changed projects: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var serial int64
		if err := rows.Scan(&name, &serial); err != nil {
			return err
		}
		fn(name, serial)
	}
	return rows.Err()
}

// FileByFilename finds a file that is on the index now.
func (db *DB) FileByFilename(ctx context.Context, filename string) (File, error) {
	f, err := scanFile(db.prepared(ctx, fileSelect+` WHERE f.filename = $1`).QueryRowContext(ctx, filename))
	if err != nil {
		return File{}, fmt.Errorf("file %q: %w", filename, err)
	}
	return f, nil
}

// EachFile streams every file row, for fsck, then every staged file (with the fields fsck reads: filename, size,
// sha256, metadata_sha256), whose blobs must be kept as well.
func (db *DB) EachFile(ctx context.Context, fn func(File) error) error {
	rows, err := db.sql.QueryContext(ctx, fileSelect+` ORDER BY f.id`)
	if err != nil {
		return fmt.Errorf("files: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		f, err := scanFile(rows)
		if err != nil {
			return err
		}
		if err := fn(f); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	staged, err := db.sql.QueryContext(ctx, `SELECT project_id, filename, size, sha256, metadata_sha256 FROM staged_files ORDER BY id`)
	if err != nil {
		return fmt.Errorf("staged files: %w", err)
	}
	defer staged.Close()
	for staged.Next() {
		var f File
		if err := staged.Scan(&f.ProjectID, &f.Filename, &f.Size, &f.SHA256, &f.MetadataSHA256); err != nil {
			return err
		}
		if err := fn(f); err != nil {
			return err
		}
	}
	return staged.Err()
}

// AddDownloads adds counts per project id for one UTC day ("2006-01-02"), to the daily counts and to the download
// window's totals (SlideDownloadWindow) in one transaction.
func (db *DB) AddDownloads(ctx context.Context, day string, counts map[int64]int64) error {
	if len(counts) == 0 {
		return nil
	}
	rows := make(map[projectDay]int64, len(counts))
	for id, n := range counts {
		rows[projectDay{id, day}] = n
	}
	if err := db.tx(ctx, func(tx *sql.Tx) error { return db.addCounts(ctx, tx, rows) }); err != nil {
		return fmt.Errorf("add downloads: %w", err)
	}
	return nil
}

// Downloads returns a project's total downloads from day `since` (inclusive) on.
func (db *DB) Downloads(ctx context.Context, projectID int64, since time.Time) (int64, error) {
	var n sql.NullInt64
	if err := db.sql.QueryRowContext(ctx, `SELECT sum(count) FROM downloads WHERE project_id = $1 AND day >= $2`,
		projectID, since.UTC().Format(time.DateOnly)).Scan(&n); err != nil {
		return 0, fmt.Errorf("downloads: %w", err)
	}
	return n.Int64, nil
}

// FilenameUsed reports whether a filename was ever accepted and, when a live file has it, that file's sha256.
func (db *DB) FilenameUsed(ctx context.Context, filename string) (liveSHA256 string, used bool, err error) {
	liveSHA256, used, err = filenameStatus(ctx, db.sql, filename)
	if err != nil {
		return "", false, fmt.Errorf("filename %q: %w", filename, err)
	}
	return liveSHA256, used, nil
}

type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// filenameStatus reads the registry and the live file in one statement, so that under READ COMMITTED a concurrent
// upload of the name is seen in both or in neither.
func filenameStatus(ctx context.Context, q rowQuerier, filename string) (string, bool, error) {
	var registered int
	var live sql.NullString
	err := q.QueryRowContext(ctx, `SELECT count(r.filename), max(f.sha256) FROM filename_registry r
		LEFT JOIN files f ON f.filename = r.filename WHERE r.filename = $1`, filename).Scan(&registered, &live)
	return live.String, registered > 0, err
}

// BlobReferenced reports whether any file, or the core metadata of any file, has the given content hash.
func (db *DB) BlobReferenced(ctx context.Context, sha256 string) (bool, error) {
	var n int
	err := db.sql.QueryRowContext(ctx,
		`SELECT (SELECT count(*) FROM files WHERE sha256 = $1 OR metadata_sha256 = $1) +
		        (SELECT count(*) FROM staged_files WHERE sha256 = $1 OR metadata_sha256 = $1)`, sha256).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("blob referenced: %w", err)
	}
	return n > 0, nil
}
