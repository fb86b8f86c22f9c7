package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"wharf/internal/pages"
)

const (
	htmlPageQuery = `SELECT s.serial, s.html_gz FROM projects p JOIN simple_pages s ON s.project_id = p.id
		WHERE p.normalized_name = $1`
	jsonPageQuery = `SELECT s.serial, s.json_gz FROM projects p JOIN simple_pages s ON s.project_id = p.id
		WHERE p.normalized_name = $1`
)

// SimplePage returns the gzip form of a project's simple-API page, its PEP 691 JSON when json is true and its HTML
// otherwise, and the serial it was rendered at.
func (db *DB) SimplePage(ctx context.Context, normalized string, json bool) (serial int64, gz []byte, err error) {
	query := htmlPageQuery
	if json {
		query = jsonPageQuery
	}
	err = db.prepared(ctx, query).QueryRowContext(ctx, normalized).Scan(&serial, &gz)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return 0, nil, fmt.Errorf("simple page %q: %w", normalized, err)
	}
	return serial, gz, nil
}

// pageRowsQuery reads what a project's pages show: a row per file, or per release without files, or one for a
// project without releases.
const pageRowsQuery = `SELECT p.normalized_name, p.last_serial, r.id, COALESCE(r.version, ''),
	COALESCE(r.yanked, FALSE), COALESCE(r.yanked_reason, ''), f.id, COALESCE(f.filename, ''), COALESCE(f.sha256, ''),
	COALESCE(f.metadata_sha256, ''), COALESCE(f.requires_python, ''), COALESCE(f.size, 0), COALESCE(f.uploaded_at, 0)
	FROM projects p
	LEFT JOIN releases r ON r.project_id = p.id
	LEFT JOIN files f ON f.release_id = r.id
	WHERE p.id = $1`

// pageWriter renders pages and stores them, in one transaction; its statements are prepared once for the many
// projects of a migration or a seed.
type pageWriter struct {
	read, write *sql.Stmt
}

func newPageWriter(ctx context.Context, tx *sql.Tx) (*pageWriter, error) {
	read, err := tx.PrepareContext(ctx, pageRowsQuery)
	if err != nil {
		return nil, err
	}
	write, err := tx.PrepareContext(ctx, `INSERT INTO simple_pages (project_id, serial, json_gz, html_gz)
		VALUES ($1, $2, $3, $4) ON CONFLICT (project_id) DO UPDATE SET serial = excluded.serial,
		json_gz = excluded.json_gz, html_gz = excluded.html_gz`)
	if err != nil {
		read.Close()
		return nil, err
	}
	return &pageWriter{read: read, write: write}, nil
}

func (w *pageWriter) Close() {
	w.read.Close()
	w.write.Close()
}

// writePages renders the pages of a project from the rows the transaction sees and stores them with the project's
// serial. journal calls it whenever a serial moves, so the stored pages are those of the project's rows at every
// commit, on every engine and for every writer.
func writePages(ctx context.Context, tx *sql.Tx, projectID int64) error {
	w, err := newPageWriter(ctx, tx)
	if err != nil {
		return fmt.Errorf("pages of project %d: %w", projectID, err)
	}
	defer w.Close()
	return w.writePages(ctx, projectID)
}

func (w *pageWriter) writePages(ctx context.Context, projectID int64) error {
	p, err := readPageProject(ctx, w.read, projectID)
	if err != nil {
		return fmt.Errorf("pages of project %d: %w", projectID, err)
	}
	s := pages.Render(p)
	if _, err := w.write.ExecContext(ctx, projectID, p.Serial, s[pages.JSONGzip], s[pages.HTMLGzip]); err != nil {
		return fmt.Errorf("pages of project %d: %w", projectID, err)
	}
	return nil
}

func readPageProject(ctx context.Context, q *sql.Stmt, projectID int64) (pages.Project, error) {
	var p pages.Project
	rows, err := q.QueryContext(ctx, projectID)
	if err != nil {
		return p, err
	}
	defer rows.Close()
	found := false
	seen := map[int64]bool{}
	for rows.Next() {
		var r pages.Release
		var f pages.File
		var relID, fileID sql.NullInt64
		var uploaded int64
		if err := rows.Scan(&p.Name, &p.Serial, &relID, &r.Version, &f.Yanked, &f.YankedReason, &fileID,
			&f.Filename, &f.SHA256, &f.MetadataSHA256, &f.RequiresPython, &f.Size, &uploaded); err != nil {
			return p, err
		}
		found = true
		if !relID.Valid {
			continue
		}
		if !seen[relID.Int64] {
			seen[relID.Int64] = true
			r.ID = relID.Int64
			p.Releases = append(p.Releases, r)
		}
		if fileID.Valid {
			f.ReleaseID, f.UploadedAt = relID.Int64, fromMicros(uploaded)
			p.Files = append(p.Files, f)
		}
	}
	if err := rows.Err(); err != nil {
		return p, err
	}
	if !found {
		return p, ErrNotFound
	}
	return p, nil
}

// renderAllPages renders the pages of every project: the second step of the migration that made the table.
func renderAllPages(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT id FROM projects ORDER BY id`)
	if err != nil {
		return err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	return renderPagesOf(ctx, tx, ids)
}

func renderPagesOf(ctx context.Context, tx *sql.Tx, projectIDs []int64) error {
	w, err := newPageWriter(ctx, tx)
	if err != nil {
		return err
	}
	defer w.Close()
	for _, id := range projectIDs {
		if err := w.writePages(ctx, id); err != nil {
			return err
		}
	}
	return nil
}
