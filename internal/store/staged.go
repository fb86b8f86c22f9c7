package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// The staging modes of a project: which uploads wait for a person's approval.
const (
	StageNothing = ""       // every upload publishes at once
	StageCI      = "ci"     // uploads from Trusted Publishers wait
	StageTokens  = "tokens" // every upload with a token, a Trusted Publisher's or a user's, waits
)

// StagedFile is an upload that waits for approval: stored and checked, listed nowhere on the index.
type StagedFile struct {
	ID               int64
	ProjectID        int64
	Version          string
	CanonicalVersion string
	Filename         string
	Size             int64
	SHA256           string
	MD5              string
	Blake2b256       string
	UploadedBy       int64 // 0 for a Trusted Publisher
	// PublisherIdentity is the CI job that uploaded it (JSON, as File.PublisherIdentity), "" for a user's token.
	PublisherIdentity string
	CreatedAt         time.Time
}

// SetStaging records which uploads of a project wait for approval (StageNothing, StageCI, StageTokens).
func (db *DB) SetStaging(ctx context.Context, projectID int64, mode string) error {
	if mode != StageNothing && mode != StageCI && mode != StageTokens {
		return fmt.Errorf("set staging: unknown mode %q", mode)
	}
	if err := execOne(ctx, db.sql, `UPDATE projects SET staging = $1 WHERE id = $2`, mode, projectID); err != nil {
		return fmt.Errorf("set staging: %w", err)
	}
	return nil
}

// StageFile keeps an upload to an existing project until its release is approved. The filename and the content
// are checked as AddFile checks them, against the index and the other staged files, so that an approval can
// only fail if something was published meanwhile. An identical staged file is a retry (duplicate true).
func (db *DB) StageFile(ctx context.Context, nf NewFile) (StagedFile, bool, error) {
	upload, err := json.Marshal(nf)
	if err != nil {
		return StagedFile{}, false, fmt.Errorf("stage %s: %w", nf.Filename, err)
	}
	var sf StagedFile
	duplicate := false
	err = db.tx(ctx, func(tx *sql.Tx) error {
		liveSHA, registered, err := filenameStatus(ctx, tx, nf.Filename)
		switch {
		case err != nil:
			return err
		case liveSHA != "" && liveSHA == nf.SHA256:
			duplicate = true
			return nil
		case liveSHA != "":
			return ErrFileExists
		case registered:
			return ErrFilenameReused
		}
		var stagedSHA string
		err = tx.QueryRowContext(ctx, `SELECT sha256 FROM staged_files WHERE filename = $1`, nf.Filename).Scan(&stagedSHA)
		switch {
		case err == nil && stagedSHA == nf.SHA256:
			duplicate = true
			return nil
		case err == nil:
			return ErrFileExists
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if other, err := fileWithContent(ctx, tx, nf.SHA256, nf.Blake2b256); err != nil {
			return err
		} else if other != "" {
			return fmt.Errorf("same content as %s: %w", other, ErrContentExists)
		}
		sf = StagedFile{ProjectID: 0, Version: nf.Version, CanonicalVersion: nf.CanonicalVersion, Filename: nf.Filename,
			Size: nf.Size, SHA256: nf.SHA256, MD5: nf.MD5, Blake2b256: nf.Blake2b256, UploadedBy: nf.UploaderID,
			CreatedAt: nf.Now}
		if err := tx.QueryRowContext(ctx, `SELECT id FROM projects WHERE normalized_name = $1`, nf.NormalizedName).Scan(&sf.ProjectID); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `INSERT INTO staged_files (project_id, version, canonical_version, filename, size,
			sha256, md5, blake2_256, metadata_sha256, upload, uploaded_by, publisher_token_id, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id`,
			sf.ProjectID, sf.Version, sf.CanonicalVersion, sf.Filename, sf.Size, sf.SHA256, sf.MD5, sf.Blake2b256,
			nf.MetadataSHA256, string(upload), nullID(nf.UploaderID),
			sql.NullString{String: nf.PublisherTokenID, Valid: nf.PublisherTokenID != ""}, micros(nf.Now)).Scan(&sf.ID)
	})
	if isUniqueViolation(err) {
		// A concurrent staging of the same filename won: the same bytes are a retry.
		var stagedSHA string
		if db.sql.QueryRowContext(ctx, `SELECT sha256 FROM staged_files WHERE filename = $1`, nf.Filename).Scan(&stagedSHA) == nil && stagedSHA == nf.SHA256 {
			return StagedFile{}, true, nil
		}
		err = ErrFileExists
	}
	if err != nil {
		return StagedFile{}, false, fmt.Errorf("stage %s: %w", nf.Filename, err)
	}
	return sf, duplicate, nil
}

const stagedColumns = `s.id, s.project_id, s.version, s.canonical_version, s.filename, s.size, s.sha256, s.md5,
	s.blake2_256, COALESCE(s.uploaded_by, 0), COALESCE(pt.identity, ''), s.created_at`

const stagedFrom = ` FROM staged_files s LEFT JOIN publisher_tokens pt ON pt.id = s.publisher_token_id`

func scanStaged(row interface{ Scan(...any) error }) (StagedFile, error) {
	var sf StagedFile
	var created int64
	err := row.Scan(&sf.ID, &sf.ProjectID, &sf.Version, &sf.CanonicalVersion, &sf.Filename, &sf.Size, &sf.SHA256,
		&sf.MD5, &sf.Blake2b256, &sf.UploadedBy, &sf.PublisherIdentity, &created)
	sf.CreatedAt = fromMicros(created)
	return sf, err
}

// StagedFiles lists a project's staged files, oldest first.
func (db *DB) StagedFiles(ctx context.Context, projectID int64) ([]StagedFile, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT `+stagedColumns+stagedFrom+` WHERE s.project_id = $1 ORDER BY s.id`, projectID)
	if err != nil {
		return nil, fmt.Errorf("staged files: %w", err)
	}
	defer rows.Close()
	var out []StagedFile
	for rows.Next() {
		sf, err := scanStaged(rows)
		if err != nil {
			return nil, fmt.Errorf("staged files: %w", err)
		}
		out = append(out, sf)
	}
	return out, rows.Err()
}

// ApproveStaged publishes every staged file of one release of a project in one transaction, as AddFile would have
// at upload, and returns what it published. A release with no staged file is ErrNotFound; a file whose name or
// content was published meanwhile fails the whole approval with AddFile's error, and nothing changes.
func (db *DB) ApproveStaged(ctx context.Context, projectID int64, canonicalVersion string, userID int64, now time.Time) ([]File, error) {
	var published []File
	err := db.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, upload FROM staged_files WHERE project_id = $1 AND canonical_version = $2 ORDER BY id`,
			projectID, canonicalVersion)
		if err != nil {
			return err
		}
		type staged struct {
			id     int64
			upload string
		}
		var all []staged
		for rows.Next() {
			var s staged
			if err := rows.Scan(&s.id, &s.upload); err != nil {
				rows.Close()
				return err
			}
			all = append(all, s)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(all) == 0 {
			return ErrNotFound
		}
		for _, s := range all {
			var nf NewFile
			if err := json.Unmarshal([]byte(s.upload), &nf); err != nil {
				return fmt.Errorf("staged file %d: %w", s.id, err)
			}
			nf.CreateProject, nf.Now = false, now
			// Out of the staged files first, so that its content does not count as used by itself.
			if _, err := tx.ExecContext(ctx, `DELETE FROM staged_files WHERE id = $1`, s.id); err != nil {
				return err
			}
			res, err := addFile(ctx, tx, db.engine, nf)
			if err != nil {
				return fmt.Errorf("%s: %w", nf.Filename, err)
			}
			if res.Duplicate {
				return fmt.Errorf("%s: %w", nf.Filename, ErrFileExists)
			}
			published = append(published, res.File)
		}
		return journal(ctx, tx, projectID, "approve staged release", canonicalVersion, userID, micros(now), nil)
	})
	if err != nil {
		return nil, fmt.Errorf("approve staged release %s: %w", canonicalVersion, err)
	}
	return published, nil
}

// DiscardStaged drops every staged file of one release and returns them; their filenames were never published,
// so they stay free. A release with no staged file is ErrNotFound.
func (db *DB) DiscardStaged(ctx context.Context, projectID int64, canonicalVersion string) ([]StagedFile, error) {
	var dropped []StagedFile
	err := db.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+stagedColumns+stagedFrom+` WHERE s.project_id = $1 AND s.canonical_version = $2`,
			projectID, canonicalVersion)
		if err != nil {
			return err
		}
		for rows.Next() {
			sf, err := scanStaged(rows)
			if err != nil {
				rows.Close()
				return err
			}
			dropped = append(dropped, sf)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(dropped) == 0 {
			return ErrNotFound
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM staged_files WHERE project_id = $1 AND canonical_version = $2`, projectID, canonicalVersion)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("discard staged release %s: %w", canonicalVersion, err)
	}
	return dropped, nil
}

// PublishMailOptouts lists the collaborators of a project who turned off the mail of every publish.
func (db *DB) PublishMailOptouts(ctx context.Context, projectID int64) (map[int64]bool, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT user_id FROM publish_mail_optouts WHERE project_id = $1`, projectID)
	if err != nil {
		return nil, fmt.Errorf("publish mail optouts: %w", err)
	}
	defer rows.Close()
	out := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("publish mail optouts: %w", err)
		}
		out[id] = true
	}
	return out, rows.Err()
}

// SetPublishMail records whether a user gets the mail of every publish to a project (on) or not.
func (db *DB) SetPublishMail(ctx context.Context, userID, projectID int64, on bool) error {
	var err error
	if on {
		_, err = db.sql.ExecContext(ctx, `DELETE FROM publish_mail_optouts WHERE user_id = $1 AND project_id = $2`, userID, projectID)
	} else {
		_, err = db.sql.ExecContext(ctx, `INSERT INTO publish_mail_optouts (user_id, project_id) VALUES ($1, $2)
			ON CONFLICT (user_id, project_id) DO NOTHING`, userID, projectID)
	}
	if err != nil {
		return fmt.Errorf("set publish mail: %w", err)
	}
	return nil
}
