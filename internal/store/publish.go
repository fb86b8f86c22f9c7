package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Errors of AddFile, each a different answer to the uploader.
var (
	ErrFileExists = errors.New("file already exists")
	// ErrContentExists is an upload whose bytes a live file already has under another filename.
	ErrContentExists   = errors.New("file content already exists")
	ErrFilenameReused  = errors.New("filename previously used")
	ErrProjectTooLarge = errors.New("project size limit exceeded")
	ErrProjectExists   = errors.New("project was created concurrently")
)

// NewFile is one accepted upload, ready to be made visible.
type NewFile struct {
	ProjectName    string
	NormalizedName string
	UltraName      string
	// CreateProject says the caller authorised the creation of a new project with the uploader as Owner; if the
	// project appeared meanwhile, AddFile returns ErrProjectExists so the caller decides again.
	CreateProject bool
	// UploaderID is the account that uploads, 0 for a Trusted Publisher (PublisherTokenID names its token). OwnerID
	// is who owns a project the upload creates: the uploader, or the account that registered the pending publisher
	// PendingPublisherID, which becomes the project's publisher in the same commit.
	UploaderID         int64
	OwnerID            int64
	PendingPublisherID int64
	PublisherTokenID   string

	Version          string
	CanonicalVersion string
	RequiresPython   string
	ReleaseMetadata  []byte // JSON; kept from the first file of a release

	Filename       string
	PackageType    string
	PythonVersion  string
	Size           int64
	SHA256         string
	MD5            string
	Blake2b256     string
	MetadataSHA256 string

	MaxProjectSize int64
	Now            time.Time
}

// AddFileResult says what AddFile did.
type AddFileResult struct {
	Project        Project
	File           File
	ProjectCreated bool
	// Duplicate is an identical re-upload: nothing changed.
	Duplicate bool
}

// AddFile makes an upload visible in one transaction: project (when asked), release, file, filename registry and
// journal. The blobs must already be durable: this commit is what makes them reachable.
func (db *DB) AddFile(ctx context.Context, nf NewFile) (AddFileResult, error) {
	var res AddFileResult
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var err error
		res, err = addFile(ctx, tx, db.engine, nf)
		return err
	})
	if err != nil && (isUniqueViolation(err) || errors.Is(err, ErrContentExists)) {
		// A concurrent transaction won a race on the filename or the project name; classify against what it wrote.
		// Under PostgreSQL's read committed, a statement late in this transaction can see the winner's file that
		// an earlier one did not: the same file uploaded twice at once then looks like the same content under
		// another name, when it is a retry.
		return db.classifyConflict(ctx, nf)
	}
	if err != nil {
		return AddFileResult{}, fmt.Errorf("add file %s: %w", nf.Filename, err)
	}
	return res, nil
}

func (db *DB) classifyConflict(ctx context.Context, nf NewFile) (AddFileResult, error) {
	if f, err := db.FileByFilename(ctx, nf.Filename); err == nil {
		if f.SHA256 == nf.SHA256 {
			p, err := db.ProjectByName(ctx, nf.NormalizedName)
			if err != nil {
				return AddFileResult{}, fmt.Errorf("add file %s: %w", nf.Filename, err)
			}
			return AddFileResult{Project: p, File: f, Duplicate: true}, nil
		}
		return AddFileResult{}, fmt.Errorf("add file %s: %w", nf.Filename, ErrFileExists)
	}
	if nf.CreateProject {
		if _, err := db.ProjectByName(ctx, nf.NormalizedName); err == nil {
			return AddFileResult{}, fmt.Errorf("add file %s: %w", nf.Filename, ErrProjectExists)
		}
	}
	if other, err := db.FileWithContent(ctx, nf.SHA256, nf.Blake2b256); err == nil && other != "" {
		return AddFileResult{}, fmt.Errorf("add file %s: same content as %s: %w", nf.Filename, other, ErrContentExists)
	}
	return AddFileResult{}, fmt.Errorf("add file %s: %w", nf.Filename, ErrFilenameReused)
}

func addFile(ctx context.Context, tx *sql.Tx, e Engine, nf NewFile) (AddFileResult, error) {
	var res AddFileResult
	now := micros(nf.Now)

	// An identical re-upload is a no-op success (so retries are safe); other bytes under a used name never are.
	liveSHA, registered, err := filenameStatus(ctx, tx, nf.Filename)
	switch {
	case err != nil:
		return res, err
	case liveSHA != "" && liveSHA == nf.SHA256:
		existing, err := scanFile(tx.QueryRowContext(ctx, fileSelect+` WHERE f.filename = $1`, nf.Filename))
		if err != nil {
			return res, err
		}
		p, err := scanProject(tx.QueryRowContext(ctx, `SELECT `+projectColumns+` FROM projects WHERE id = $1`, existing.ProjectID))
		return AddFileResult{Project: p, File: existing, Duplicate: true}, err
	case liveSHA != "":
		return res, ErrFileExists
	case registered:
		return res, ErrFilenameReused
	}
	if other, err := fileWithContent(ctx, tx, nf.SHA256, nf.Blake2b256); err != nil {
		return res, err
	} else if other != "" {
		return res, fmt.Errorf("same content as %s: %w", other, ErrContentExists)
	}

	p, err := scanProject(tx.QueryRowContext(ctx,
		`SELECT `+projectColumns+` FROM projects WHERE normalized_name = $1`, nf.NormalizedName))
	switch {
	case err == nil && nf.CreateProject:
		return res, ErrProjectExists
	case errors.Is(err, ErrNotFound) && nf.CreateProject:
		p = Project{Name: nf.ProjectName, NormalizedName: nf.NormalizedName, CreatedAt: fromMicros(now)}
		if err := tx.QueryRowContext(ctx,
			`INSERT INTO projects (name, normalized_name, ultranormalized_name, created_at) VALUES ($1, $2, $3, $4) RETURNING id`,
			nf.ProjectName, nf.NormalizedName, nf.UltraName, now).Scan(&p.ID); err != nil {
			return res, err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO roles (project_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)`,
			p.ID, cmp.Or(nf.OwnerID, nf.UploaderID), RoleOwner, now); err != nil {
			return res, err
		}
		if err := journal(ctx, tx, p.ID, "create", "", nf.UploaderID, now, nil); err != nil {
			return res, err
		}
		if err := settlePendingPublishers(ctx, tx, p, nf.PendingPublisherID); err != nil {
			return res, err
		}
		res.ProjectCreated = true
	case err != nil:
		return res, err
	}
	if nf.MaxProjectSize > 0 && p.TotalSize+nf.Size > nf.MaxProjectSize {
		return res, ErrProjectTooLarge
	}

	added, err := tx.ExecContext(ctx,
		`INSERT INTO releases (project_id, version, canonical_version, requires_python, metadata, created_at)
		 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (project_id, canonical_version) DO NOTHING`,
		p.ID, nf.Version, nf.CanonicalVersion, nf.RequiresPython, string(nf.ReleaseMetadata), now)
	if err != nil {
		return res, err
	}
	if n, err := added.RowsAffected(); err != nil {
		return res, err
	} else if n > 0 {
		// A new release is the project's latest: search reads it from now on.
		if err := refreshSearch(ctx, tx, e, searchProject, p.ID); err != nil {
			return res, err
		}
	}
	var releaseID int64
	var releaseVersion string
	if err := tx.QueryRowContext(ctx, `SELECT id, version FROM releases WHERE project_id = $1 AND canonical_version = $2`,
		p.ID, nf.CanonicalVersion).Scan(&releaseID, &releaseVersion); err != nil {
		return res, err
	}

	f := File{
		ReleaseID: releaseID, ProjectID: p.ID, Version: releaseVersion, Filename: nf.Filename,
		PackageType: nf.PackageType, PythonVersion: nf.PythonVersion, RequiresPython: nf.RequiresPython,
		Size: nf.Size, SHA256: nf.SHA256, MD5: nf.MD5, Blake2b256: nf.Blake2b256, MetadataSHA256: nf.MetadataSHA256,
		UploadedAt: fromMicros(now), UploadedBy: nf.UploaderID, PublisherTokenID: nf.PublisherTokenID,
	}
	if err := tx.QueryRowContext(ctx,
		`INSERT INTO files (release_id, project_id, filename, packagetype, python_version, requires_python, size,
		                    sha256, md5, blake2_256, metadata_sha256, uploaded_at, uploaded_by, publisher_token_id)
		 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id`,
		f.ReleaseID, f.ProjectID, f.Filename, f.PackageType, f.PythonVersion, f.RequiresPython, f.Size,
		f.SHA256, f.MD5, f.Blake2b256, f.MetadataSHA256, now, nullID(f.UploadedBy),
		sql.NullString{String: f.PublisherTokenID, Valid: f.PublisherTokenID != ""}).Scan(&f.ID); err != nil {
		return res, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO filename_registry (filename, created_at) VALUES ($1, $2)`,
		f.Filename, now); err != nil {
		return res, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO file_digests (sha256, blake2_256, file_id) VALUES ($1, $2, $3)`,
		f.SHA256, f.Blake2b256, f.ID); err != nil {
		return res, err
	}
	if err := journal(ctx, tx, p.ID, "add file", f.Filename, nf.UploaderID, now, &p); err != nil {
		return res, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE projects SET total_size = total_size + $1 WHERE id = $2`, f.Size, p.ID); err != nil {
		return res, err
	}
	p.TotalSize += f.Size
	res.Project, res.File = p, f
	return res, nil
}

// settlePendingPublishers runs when project p is created: the pending publisher that created it (if any) becomes
// its publisher, and every other pending publisher of the name is dropped, since whoever registered it did not get
// the name.
func settlePendingPublishers(ctx context.Context, tx *sql.Tx, p Project, pendingID int64) error {
	if pendingID != 0 {
		// A pending publisher of an organization creates the project inside it.
		if _, err := tx.ExecContext(ctx, `UPDATE projects SET org_id = (SELECT org_id FROM publishers WHERE id = $1) WHERE id = $2`,
			pendingID, p.ID); err != nil {
			return fmt.Errorf("pending publisher %d: %w", pendingID, err)
		}
		if err := execOne(ctx, tx, `UPDATE publishers SET project_id = $1, pending_name = NULL, expires_at = NULL, org_id = NULL
			WHERE id = $2 AND pending_name = $3`, p.ID, pendingID, p.NormalizedName); err != nil {
			return fmt.Errorf("pending publisher %d: %w", pendingID, err)
		}
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM publishers WHERE pending_name = $1`, p.NormalizedName)
	return err
}

// FileWithContent returns the filename of the live or staged file whose bytes have the given sha256 or
// blake2b-256, or "" when none has them.
func (db *DB) FileWithContent(ctx context.Context, sha256, blake2 string) (string, error) {
	name, err := fileWithContent(ctx, db.sql, sha256, blake2)
	if err != nil {
		return "", fmt.Errorf("file with content %s: %w", sha256, err)
	}
	return name, nil
}

func fileWithContent(ctx context.Context, q rowQuerier, sha256, blake2 string) (string, error) {
	var name string
	// Staged files count too: their release may be approved, and the same bytes must not reach the index twice.
	err := q.QueryRowContext(ctx, `SELECT f.filename FROM file_digests d JOIN files f ON f.id = d.file_id
		WHERE d.sha256 = $1 OR d.blake2_256 = $2
		UNION ALL SELECT filename FROM staged_files WHERE sha256 = $1 OR blake2_256 = $2 LIMIT 1`, sha256, blake2).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return name, err
}

// journal records a change and moves the project's serial to it, and renders the project's pages at that serial;
// p, when given, is updated to match. Every change a page shows goes through here, after its rows are written.
func journal(ctx context.Context, tx *sql.Tx, projectID int64, action, detail string, userID int64, now int64, p *Project) error {
	var serial int64
	if err := tx.QueryRowContext(ctx,
		`INSERT INTO journal (project_id, name, action, detail, user_id, created_at)
		VALUES ($1, (SELECT normalized_name FROM projects WHERE id = $1), $2, $3, $4, $5) RETURNING id`,
		projectID, action, detail, nullID(userID), now).Scan(&serial); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE projects SET last_serial = $1 WHERE id = $2`, serial, projectID); err != nil {
		return err
	}
	if p != nil {
		p.LastSerial = serial
	}
	return writePages(ctx, tx, projectID)
}

// YankRelease marks a release yanked (PEP 592) or, with yanked false, restores it.
func (db *DB) YankRelease(ctx context.Context, projectID int64, canonicalVersion string, yanked bool, reason string, userID int64, now time.Time) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if !yanked {
			reason = ""
		}
		res, err := tx.ExecContext(ctx, `UPDATE releases SET yanked = $1, yanked_reason = $2 WHERE project_id = $3 AND canonical_version = $4`,
			yanked, reason, projectID, canonicalVersion)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		action := "yank release"
		if !yanked {
			action = "unyank release"
		}
		return journal(ctx, tx, projectID, action, canonicalVersion, userID, micros(now), nil)
	})
	if err != nil {
		return fmt.Errorf("yank %s: %w", canonicalVersion, err)
	}
	return nil
}

// DeleteFile removes a file from the index. Its name stays in the registry, so it can never be uploaded again;
// the blob is left for fsck / garbage collection to decide, since other rows may share its content.
func (db *DB) DeleteFile(ctx context.Context, filename string, userID int64, now time.Time) (File, error) {
	var f File
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var err error
		f, err = scanFile(tx.QueryRowContext(ctx, fileSelect+` WHERE f.filename = $1`, filename))
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM files WHERE id = $1`, f.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE projects SET total_size = total_size - $1 WHERE id = $2`, f.Size, f.ProjectID); err != nil {
			return err
		}
		return journal(ctx, tx, f.ProjectID, "remove file", filename, userID, micros(now), nil)
	})
	if err != nil {
		return File{}, fmt.Errorf("delete file %s: %w", filename, err)
	}
	return f, nil
}
