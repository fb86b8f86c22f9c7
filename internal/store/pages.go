package store

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
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

// SimplePages calls fn with the stored pages (the gzip forms, HTML and PEP 691 JSON) of at most limit projects
// whose names sort after after, in the order of their names, and the serial they were rendered at: a scan of every
// page a chunk at a time, each chunk one short read. The bodies are fn's until it returns.
func (db *DB) SimplePages(ctx context.Context, after string, limit int,
	fn func(normalized string, serial int64, htmlGz, jsonGz []byte) error) error {
	rows, err := db.prepared(ctx, `SELECT p.normalized_name, s.serial, s.html_gz, s.json_gz
		FROM projects p JOIN simple_pages s ON s.project_id = p.id
		WHERE p.normalized_name > $1 ORDER BY p.normalized_name LIMIT $2`).QueryContext(ctx, after, limit)
	if err != nil {
		return fmt.Errorf("simple pages after %q: %w", after, err)
	}
	defer rows.Close()
	var (
		name         string
		serial       int64
		htmlGz, json sql.RawBytes // not copied: a scan of every page reads a gigabyte at PyPI's size
	)
	for rows.Next() {
		if err := rows.Scan(&name, &serial, &htmlGz, &json); err != nil {
			return fmt.Errorf("simple pages after %q: %w", after, err)
		}
		if err := fn(name, serial, htmlGz, json); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("simple pages after %q: %w", after, err)
	}
	return nil
}

// Document is a stored JSON API document, with what the database knows of what fills its holes. The protection
// is read with it, so that a document not in memory costs one query.
type Document struct {
	pages.Document
	ProjectID int64
	ReleaseID int64 // 0 for the project's own document
	Serial    int64 // the project's last serial
	Critical  bool  // Protection.Critical
	// Collaborators counts the project's roles, and TwoFactorCollaborators those of them whose account has a second
	// factor (Collaborator.TwoFactor): what policy.FullyProtectedCounts asks.
	Collaborators, TwoFactorCollaborators int
}

// documentColumns are what a document query reads besides the document: the project, its serial and its
// protection. The counts are those of its roles (directUploaders), exact for a project outside organizations,
// nearly every one; document reads a held project's again with UploaderCounts.
const documentColumns = stampColumns + `, d.body_gz, d.holes`

// stampColumns are what tells whether a copy of a document is current: the document columns but the document.
const stampColumns = `p.id, p.last_serial, p.critical_since, p.org_id IS NOT NULL, ` + directUploaders

// directUploaders counts the roles of the project p, and those of them with a second factor
// (Collaborator.TwoFactor in SQL; storetest.RunPages holds the two to agree). Factors are counted with scalar
// subqueries: PostgreSQL may run "EXISTS ... OR EXISTS ..." as a hash of the whole credentials tables.
const directUploaders = `(SELECT COUNT(*) FROM roles c WHERE c.project_id = p.id),
	(SELECT COUNT(*) FROM roles c WHERE c.project_id = p.id AND ` + hasFactor + `)`

// uploaderCounts counts, for the project p, the people who can change what it serves, and those of them with a
// second factor: its roles, and for a project an organization holds, the organization's Owners and its teams'
// members too (project_roles), each person once.
const uploaderCounts = `(SELECT COUNT(DISTINCT c.user_id) FROM project_roles c WHERE c.project_id = p.id),
	(SELECT COUNT(DISTINCT c.user_id) FROM project_roles c WHERE c.project_id = p.id AND ` + hasFactor + `)`

const hasFactor = `(SELECT COUNT(*) FROM totp_credentials t WHERE t.user_id = c.user_id) +
		(SELECT COUNT(*) FROM webauthn_credentials w WHERE w.user_id = c.user_id) > 0`

// UploaderCounts counts the people who can change what the project serves, and those of them with a second
// factor, as the JSON API's documents do: what policy.FullyProtectedCounts asks.
func (db *DB) UploaderCounts(ctx context.Context, projectID int64) (uploaders, withSecondFactor int, err error) {
	err = db.prepared(ctx, `SELECT `+uploaderCounts+` FROM projects p WHERE p.id = $1`).QueryRowContext(ctx, projectID).
		Scan(&uploaders, &withSecondFactor)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return 0, 0, fmt.Errorf("uploaders of project %d: %w", projectID, err)
	}
	return uploaders, withSecondFactor, nil
}

// ProtectionEpoch counts the changes to what the documents' protection fields are read from (designations, roles,
// organizations' Owners, teams, second factors; migration 0026), each counted in its own transaction. A document's
// protection read when the epoch was N is current while the epoch is still N, unless the project's serial moved.
func (db *DB) ProtectionEpoch(ctx context.Context) (int64, error) {
	var n int64
	if err := db.sql.QueryRowContext(ctx, `SELECT n FROM protection_epoch`).Scan(&n); err != nil {
		return 0, fmt.Errorf("protection epoch: %w", err)
	}
	return n, nil
}

// documentQueries are the document queries of an engine, with the document (documentColumns) or without it
// (stampColumns): a project's, a release's by its release key and by its version's text.
type documentQueries struct {
	project, projectStamp             string
	release, releaseStamp             string
	releaseByText, releaseStampByText string
}

// newDocumentQueries writes the document queries for engine. On SQLite they read the project through
// projects_document_stamp (migration 0027), which holds every column they read of it.
func newDocumentQueries(engine Engine) documentQueries {
	projects := `projects p`
	if engine == SQLite {
		projects = `projects p INDEXED BY projects_document_stamp`
	}
	projectFrom := ` FROM ` + projects + ` JOIN project_documents d ON d.project_id = p.id
		WHERE p.normalized_name = $1`
	releaseFrom := ` FROM ` + projects + `
		JOIN releases r ON r.project_id = p.id JOIN release_documents d ON d.release_id = r.id
		WHERE p.normalized_name = $1 AND `
	byKey, byText := releaseFrom+`r.canonical_version = $2`, releaseFrom+`r.version = $2`
	return documentQueries{
		project:            `SELECT 0, ` + documentColumns + projectFrom,
		projectStamp:       `SELECT 0, ` + stampColumns + projectFrom,
		release:            `SELECT r.id, ` + documentColumns + byKey,
		releaseStamp:       `SELECT r.id, ` + stampColumns + byKey,
		releaseByText:      `SELECT r.id, ` + documentColumns + byText,
		releaseStampByText: `SELECT r.id, ` + stampColumns + byText,
	}
}

// ProjectDocument returns the JSON API document of the project with the normalised name. A project without
// releases has none.
func (db *DB) ProjectDocument(ctx context.Context, normalized string) (Document, error) {
	return db.projectDocument(ctx, normalized, true)
}

// ProjectDocumentStamp is ProjectDocument without the document (Document.Document is zero): what tells whether a
// copy of it is still current, at a fraction of the cost.
func (db *DB) ProjectDocumentStamp(ctx context.Context, normalized string) (Document, error) {
	return db.projectDocument(ctx, normalized, false)
}

func (db *DB) projectDocument(ctx context.Context, normalized string, body bool) (Document, error) {
	query := db.documents.projectStamp
	if body {
		query = db.documents.project
	}
	d, err := db.document(ctx, query, body, normalized)
	if err != nil {
		return Document{}, fmt.Errorf("document of %q: %w", normalized, err)
	}
	return d, nil
}

// ReleaseDocument returns the JSON API document of a project's release: by its release key
// (pypkg.Version.ReleaseKey), which versions equal under PEP 440 share and the upload path stores, else by the
// version's exact text, for rows written with another canonical form (or none that parses).
func (db *DB) ReleaseDocument(ctx context.Context, normalized, version, releaseKey string) (Document, error) {
	return db.releaseDocument(ctx, normalized, version, releaseKey, true)
}

// ReleaseDocumentStamp is ReleaseDocument without the document, as ProjectDocumentStamp is ProjectDocument.
func (db *DB) ReleaseDocumentStamp(ctx context.Context, normalized, version, releaseKey string) (Document, error) {
	return db.releaseDocument(ctx, normalized, version, releaseKey, false)
}

func (db *DB) releaseDocument(ctx context.Context, normalized, version, releaseKey string, body bool) (Document, error) {
	byKey, byText := db.documents.releaseStamp, db.documents.releaseStampByText
	if body {
		byKey, byText = db.documents.release, db.documents.releaseByText
	}
	d, err := db.document(ctx, byKey, body, normalized, releaseKey)
	if errors.Is(err, ErrNotFound) {
		d, err = db.document(ctx, byText, body, normalized, version)
	}
	if err != nil {
		return Document{}, fmt.Errorf("document of %q %s: %w", normalized, version, err)
	}
	return d, nil
}

// document runs a document query, whose columns are documentColumns when body is set and stampColumns otherwise.
func (db *DB) document(ctx context.Context, query string, body bool, args ...any) (Document, error) {
	var d Document
	var gz, holes []byte
	var criticalSince sql.NullInt64
	var held bool
	dest := []any{&d.ReleaseID, &d.ProjectID, &d.Serial, &criticalSince, &held, &d.Collaborators,
		&d.TwoFactorCollaborators}
	if body {
		dest = append(dest, &gz, &holes)
	}
	err := db.prepared(ctx, query).QueryRowContext(ctx, args...).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return Document{}, ErrNotFound
	}
	if err != nil {
		return Document{}, err
	}
	if held {
		if d.Collaborators, d.TwoFactorCollaborators, err = db.UploaderCounts(ctx, d.ProjectID); err != nil {
			return Document{}, err
		}
	}
	d.Critical = Protection{CriticalSince: fromNullMicros(criticalSince)}.Critical()
	if !body {
		return d, nil
	}
	text, err := pages.Gunzip(gz)
	if err != nil {
		return Document{}, err
	}
	d.Document, err = pages.DecodeDocument(text, holes)
	return d, err
}

// pageRowsQuery reads what a project's pages and documents show: a row per file, or per release without files, or
// one for a project without releases.
const pageRowsQuery = `SELECT p.normalized_name, p.name, p.last_serial, r.id, COALESCE(r.version, ''),
	COALESCE(r.requires_python, ''), COALESCE(r.yanked, FALSE), COALESCE(r.yanked_reason, ''), f.id,
	COALESCE(f.filename, ''), COALESCE(f.packagetype, ''), COALESCE(f.python_version, ''), COALESCE(f.sha256, ''),
	COALESCE(f.md5, ''), COALESCE(f.blake2_256, ''), COALESCE(f.metadata_sha256, ''), COALESCE(f.requires_python, ''),
	COALESCE(f.size, 0), COALESCE(f.uploaded_at, 0)
	FROM projects p
	LEFT JOIN releases r ON r.project_id = p.id
	LEFT JOIN files f ON f.release_id = r.id
	WHERE p.id = $1`

// pageWriter renders a project's pages and documents and stores them, in one transaction. Its statements are
// prepared when first used and kept for the many projects of a migration or a seed.
type pageWriter struct {
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
	// every renders every release's document without asking which changed: a seed or a migration writes them all
	// anyway, and the question costs a query per project.
	every bool
}

func newPageWriter(tx *sql.Tx) *pageWriter {
	return &pageWriter{tx: tx, stmts: map[string]*sql.Stmt{}}
}

func (w *pageWriter) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := w.stmts[query]; ok {
		return st, nil
	}
	st, err := w.tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	w.stmts[query] = st
	return st, nil
}

func (w *pageWriter) exec(ctx context.Context, query string, args ...any) error {
	st, err := w.stmt(ctx, query)
	if err != nil {
		return err
	}
	_, err = st.ExecContext(ctx, args...)
	return err
}

func (w *pageWriter) Close() {
	for _, st := range w.stmts {
		st.Close()
	}
}

// writePages renders the pages and documents of a project from the rows the transaction sees and stores them.
// journal calls it whenever a serial moves, so the stored pages are those of the project's rows at every commit,
// on every engine and for every writer.
func writePages(ctx context.Context, tx *sql.Tx, projectID int64) error {
	w := newPageWriter(tx)
	defer w.Close()
	return w.writePages(ctx, projectID)
}

func (w *pageWriter) writePages(ctx context.Context, projectID int64) error {
	if err := w.write(ctx, projectID); err != nil {
		return fmt.Errorf("pages of project %d: %w", projectID, err)
	}
	return nil
}

func (w *pageWriter) write(ctx context.Context, projectID int64) error {
	read, err := w.stmt(ctx, pageRowsQuery)
	if err != nil {
		return err
	}
	p, err := readPageProject(ctx, read, projectID)
	if err != nil {
		return err
	}
	s := pages.Render(p)
	if err := w.exec(ctx, `INSERT INTO simple_pages (project_id, serial, json_gz, html_gz) VALUES ($1, $2, $3, $4)
		ON CONFLICT (project_id) DO UPDATE SET serial = excluded.serial, json_gz = excluded.json_gz,
		html_gz = excluded.html_gz`, projectID, p.Serial, s[pages.JSONGzip], s[pages.HTMLGzip]); err != nil {
		return err
	}
	return w.writeDocuments(ctx, projectID, p)
}

// writeDocuments stores the project's JSON API document, and the documents of the releases whose rows changed
// since theirs were rendered. A release's metadata is written once with it, so a document rendered without its
// metadata tells whether the rest changed (its files, its yank, the project's name), without reading the
// descriptions of a project's thousand releases on every upload.
func (w *pageWriter) writeDocuments(ctx context.Context, projectID int64, p pages.Project) error {
	ds := pages.NewDocuments(p)
	var stored map[int64][]byte
	metas := map[int64][]byte{} // each release's metadata, read once; all of them at once for every
	var err error
	if w.every {
		metas, err = w.projectMetadata(ctx, projectID)
	} else {
		stored, err = w.documentInputs(ctx, projectID)
	}
	if err != nil {
		return err
	}
	metadata := func(releaseID int64) ([]byte, error) {
		if m, ok := metas[releaseID]; ok {
			return m, nil
		}
		m, err := w.metadata(ctx, releaseID)
		metas[releaseID] = m
		return m, err
	}
	for _, r := range p.Releases {
		bare, _ := ds.Release(r.ID, nil)
		inputs := documentDigest(bare)
		if bytes.Equal(stored[r.ID], inputs) {
			continue
		}
		meta, err := metadata(r.ID)
		if err != nil {
			return err
		}
		d, _ := ds.Release(r.ID, meta)
		if err := w.exec(ctx, `INSERT INTO release_documents (release_id, inputs, body_gz, holes) VALUES ($1, $2, $3, $4)
			ON CONFLICT (release_id) DO UPDATE SET inputs = excluded.inputs, body_gz = excluded.body_gz,
			holes = excluded.holes`, r.ID, inputs, pages.Compress(d.Body, gzip.DefaultCompression), d.EncodeHoles()); err != nil {
			return err
		}
	}
	latest, hasLatest := ds.Latest()
	if !hasLatest {
		return w.exec(ctx, `DELETE FROM project_documents WHERE project_id = $1`, projectID)
	}
	meta, err := metadata(latest)
	if err != nil {
		return err
	}
	d := ds.Project(meta)
	return w.exec(ctx, `INSERT INTO project_documents (project_id, body_gz, holes) VALUES ($1, $2, $3)
		ON CONFLICT (project_id) DO UPDATE SET body_gz = excluded.body_gz, holes = excluded.holes`,
		projectID, pages.Compress(d.Body, gzip.DefaultCompression), d.EncodeHoles())
}

// documentDigest identifies what a document shows, holes included.
func documentDigest(d pages.Document) []byte {
	h := sha256.New()
	h.Write(d.Body)
	h.Write(d.EncodeHoles())
	return h.Sum(nil)[:16]
}

func (w *pageWriter) documentInputs(ctx context.Context, projectID int64) (map[int64][]byte, error) {
	return w.byRelease(ctx, `SELECT d.release_id, d.inputs FROM release_documents d
		JOIN releases r ON r.id = d.release_id WHERE r.project_id = $1`, projectID)
}

// projectMetadata reads the metadata of all of a project's releases, by release.
func (w *pageWriter) projectMetadata(ctx context.Context, projectID int64) (map[int64][]byte, error) {
	return w.byRelease(ctx, `SELECT id, metadata FROM releases WHERE project_id = $1`, projectID)
}

// byRelease reads a query of a project's (release id, bytes) rows into a map.
func (w *pageWriter) byRelease(ctx context.Context, query string, projectID int64) (map[int64][]byte, error) {
	st, err := w.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, projectID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64][]byte{}
	for rows.Next() {
		var id int64
		var b []byte
		if err := rows.Scan(&id, &b); err != nil {
			return nil, err
		}
		out[id] = b
	}
	return out, rows.Err()
}

func (w *pageWriter) metadata(ctx context.Context, releaseID int64) ([]byte, error) {
	st, err := w.stmt(ctx, `SELECT metadata FROM releases WHERE id = $1`)
	if err != nil {
		return nil, err
	}
	var meta string
	if err := st.QueryRowContext(ctx, releaseID).Scan(&meta); err != nil {
		return nil, fmt.Errorf("release %d metadata: %w", releaseID, err)
	}
	return []byte(meta), nil
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
		if err := rows.Scan(&p.Name, &p.DisplayName, &p.Serial, &relID, &r.Version, &r.RequiresPython, &r.Yanked,
			&r.YankedReason, &fileID, &f.Filename, &f.PackageType, &f.PythonVersion, &f.SHA256, &f.MD5, &f.Blake2b256,
			&f.MetadataSHA256, &f.RequiresPython, &f.Size, &uploaded); err != nil {
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
			f.Yanked, f.YankedReason = r.Yanked, r.YankedReason
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

// renderAllPages renders the pages and documents of every project: the second step of the migrations that made
// their tables.
func renderAllPages(ctx context.Context, tx *sql.Tx, engine Engine) error {
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
	return renderPagesOf(ctx, tx, engine, ids)
}

// renderPagesOf renders the pages and documents of many projects in one transaction, as a seed or a migration
// does.
func renderPagesOf(ctx context.Context, tx *sql.Tx, engine Engine, projectIDs []int64) error {
	if engine == Postgres {
		// The writer's statements run once per project, and PostgreSQL plans them once for all after five runs,
		// from the statistics it has then. A new database has none, and guessing from an empty table that a join
		// is cheapest as a sequential scan of releases or files would scan them whole for every project (a seed of
		// 886,000 projects made no progress in ten minutes). Statistics of the rows just written make every plan an
		// index lookup. Planning anew for each project instead cost more than the writes.
		if _, err := tx.ExecContext(ctx, `ANALYZE projects, releases, files`); err != nil {
			return err
		}
	}
	w := newPageWriter(tx)
	w.every = true
	defer w.Close()
	for _, id := range projectIDs {
		if err := w.writePages(ctx, id); err != nil {
			return err
		}
	}
	return nil
}
