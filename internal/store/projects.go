package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Role names, as PyPI spells them.
const (
	RoleOwner      = "Owner"
	RoleMaintainer = "Maintainer"
)

// Project is a named project on the index.
type Project struct {
	ID             int64
	Name           string // as first uploaded
	NormalizedName string
	CreatedAt      time.Time
	LastSerial     int64
	TotalSize      int64
}

// Release is one version of a project. Metadata is the JSON of the core metadata of its first file.
type Release struct {
	ID               int64
	ProjectID        int64
	Version          string
	CanonicalVersion string
	RequiresPython   string
	Metadata         []byte
	Yanked           bool
	YankedReason     string
	CreatedAt        time.Time
}

// File is one distribution file. MetadataSHA256 is empty when no core metadata file is served for it.
type File struct {
	ID             int64
	ReleaseID      int64
	ProjectID      int64
	Version        string // of its release
	Filename       string
	PackageType    string
	PythonVersion  string
	RequiresPython string
	Size           int64
	SHA256         string
	MD5            string
	Blake2b256     string
	MetadataSHA256 string
	UploadedAt     time.Time
	UploadedBy     int64 // 0 for a Trusted Publisher's upload
	// PublisherTokenID names the token minted for the Trusted Publisher that uploaded the file, and
	// PublisherIdentity is that CI job's identity (JSON: kind, issuer, repository, workflow, ref, sha, environment);
	// both empty for an upload with a user's token.
	PublisherTokenID  string
	PublisherIdentity string
	Yanked            bool // of its release
	YankedReason      string
}

const projectColumns = `id, name, normalized_name, created_at, last_serial, total_size`

func scanProject(row interface{ Scan(...any) error }) (Project, error) {
	var p Project
	var created int64
	if err := row.Scan(&p.ID, &p.Name, &p.NormalizedName, &created, &p.LastSerial, &p.TotalSize); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Project{}, ErrNotFound
		}
		return Project{}, err
	}
	p.CreatedAt = fromMicros(created)
	return p, nil
}

// ProjectByName finds a project by its normalised name.
func (db *DB) ProjectByName(ctx context.Context, normalized string) (Project, error) {
	p, err := scanProject(db.sql.QueryRowContext(ctx,
		`SELECT `+projectColumns+` FROM projects WHERE normalized_name = $1`, normalized))
	if err != nil {
		return Project{}, fmt.Errorf("project %q: %w", normalized, err)
	}
	return p, nil
}

// ProjectsByUltraName lists the projects whose confusable-folded key is ultra.
func (db *DB) ProjectsByUltraName(ctx context.Context, ultra string) ([]Project, error) {
	rows, err := db.sql.QueryContext(ctx,
		`SELECT `+projectColumns+` FROM projects WHERE ultranormalized_name = $1 ORDER BY id`, ultra)
	if err != nil {
		return nil, fmt.Errorf("projects by key: %w", err)
	}
	defer rows.Close()
	var out []Project
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// RoleOf returns the user's role on the project, or "" when there is none: the strongest of the role given to
// the person, Owner through the organization that holds the project, and the roles of their teams.
func (db *DB) RoleOf(ctx context.Context, projectID, userID int64) (string, error) {
	var role sql.NullString
	err := db.sql.QueryRowContext(ctx, `SELECT max(role) FROM project_roles WHERE project_id = $1 AND user_id = $2`,
		projectID, userID).Scan(&role)
	if err != nil {
		return "", fmt.Errorf("role: %w", err)
	}
	return role.String, nil
}

// Collaborator is a user's role on a project, with the user's second factors.
type Collaborator struct {
	UserID               int64
	Username             string
	Role                 string
	HasTOTP, HasWebAuthn bool
}

// TwoFactor reports whether the collaborator's account has a second factor.
func (c Collaborator) TwoFactor() bool { return c.HasTOTP || c.HasWebAuthn }

// collaboratorsQuery is prepared: the JSON API reads it for every document it builds.
const collaboratorsQuery = `SELECT u.id, u.username, r.role,
	EXISTS (SELECT 1 FROM totp_credentials t WHERE t.user_id = u.id),
	EXISTS (SELECT 1 FROM webauthn_credentials w WHERE w.user_id = u.id)
	FROM roles r JOIN users u ON u.id = r.user_id
	WHERE r.project_id = $1 ORDER BY r.role DESC, u.username_key`

// Collaborators lists a project's roles, owners first.
func (db *DB) Collaborators(ctx context.Context, projectID int64) ([]Collaborator, error) {
	rows, err := db.prepared(ctx, collaboratorsQuery).QueryContext(ctx, projectID)
	if err != nil {
		return nil, fmt.Errorf("collaborators: %w", err)
	}
	defer rows.Close()
	var out []Collaborator
	for rows.Next() {
		var c Collaborator
		if err := rows.Scan(&c.UserID, &c.Username, &c.Role, &c.HasTOTP, &c.HasWebAuthn); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// AddRole gives a user a role on a project (or changes it), journaled as every role change is (journalRole).
func (db *DB) AddRole(ctx context.Context, projectID, userID int64, role string, now time.Time) error {
	at := micros(now)
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if err := lockProject(ctx, tx, projectID); err != nil {
			return err
		}
		cur, err := roleIn(ctx, tx, projectID, userID)
		if err != nil || cur == role {
			return err
		}
		action := changeWords(cur, role)
		if cur == "" {
			action = "add " + role
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO roles (project_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role`, projectID, userID, role, at); err != nil {
			return err
		}
		return journalRole(ctx, tx, projectID, action, userID, 0, at)
	})
	if err != nil {
		return fmt.Errorf("add role: %w", err)
	}
	return nil
}

// ReserveName keeps a name from ever being registered as a project.
func (db *DB) ReserveName(ctx context.Context, normalized, reason string, now time.Time) error {
	_, err := db.sql.ExecContext(ctx,
		`INSERT INTO reserved_names (normalized_name, reason, created_at) VALUES ($1, $2, $3)
		 ON CONFLICT (normalized_name) DO UPDATE SET reason = excluded.reason`, normalized, reason, micros(now))
	if err != nil {
		return fmt.Errorf("reserve name: %w", err)
	}
	return nil
}

// IsNameReserved reports whether an administrator reserved or prohibited the name.
func (db *DB) IsNameReserved(ctx context.Context, normalized string) (bool, error) {
	var n int
	if err := db.sql.QueryRowContext(ctx,
		`SELECT count(*) FROM reserved_names WHERE normalized_name = $1`, normalized).Scan(&n); err != nil {
		return false, fmt.Errorf("reserved name: %w", err)
	}
	return n > 0, nil
}

// RoleCount is how many projects the user holds a role on, by any grant, plus how many organizations they belong
// to: a member of an organization counts as a maintainer, as in PyPI's mandate.
func (db *DB) RoleCount(ctx context.Context, userID int64) (int, error) {
	var n int
	if err := db.sql.QueryRowContext(ctx, `SELECT (SELECT count(DISTINCT project_id) FROM project_roles WHERE user_id = $1) +
		(SELECT count(*) FROM org_members WHERE user_id = $1)`, userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("role count: %w", err)
	}
	return n, nil
}
