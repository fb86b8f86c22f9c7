package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"wharf/internal/ident"
)

// ProjectSummary is a project as lists show it (search results, the home page, a profile): the project and what
// its latest upload says of it.
type ProjectSummary struct {
	Project
	LatestVersion string    // of the most recently created release; "" when it has none
	UpdatedAt     time.Time // when that release was created; zero when none
	// Metadata is the JSON core metadata of that release, or empty when it is larger than 64 KiB: lists need only
	// its summary, and a page of results must not read megabytes of READMEs. Nearly every summary is kept; a
	// project whose README is that large is listed without one.
	Metadata []byte
	Role     string // the user's role, for ProjectsOfUser only
}

// summarySelect reads a project with its latest release. The latest is the highest id, so the subquery is one
// index lookup per listed project.
const summarySelect = `SELECT p.id, p.name, p.normalized_name, p.created_at, p.last_serial, p.total_size,
	COALESCE(r.version, ''), COALESCE(r.created_at, 0),
	CASE WHEN length(r.metadata) <= 65536 THEN r.metadata ELSE '' END`

const summaryFrom = ` FROM projects p
	LEFT JOIN releases r ON r.id = (SELECT max(id) FROM releases WHERE project_id = p.id)`

func scanSummaries(rows *sql.Rows, withRole bool) ([]ProjectSummary, error) {
	defer rows.Close()
	var out []ProjectSummary
	for rows.Next() {
		var s ProjectSummary
		var created, updated int64
		var meta string
		dest := []any{&s.ID, &s.Name, &s.NormalizedName, &created, &s.LastSerial, &s.TotalSize,
			&s.LatestVersion, &updated, &meta}
		if withRole {
			dest = append(dest, &s.Role)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		s.CreatedAt = fromMicros(created)
		if updated != 0 {
			s.UpdatedAt = fromMicros(updated)
		}
		if meta != "" {
			s.Metadata = []byte(meta)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// SearchProjects finds projects whose normalised name contains term, which must itself be a normalised name or
// part of one (so it holds no LIKE wildcards). An exact match comes first, then names that start with term, then
// the rest, each in name order; at most limit results.
func (db *DB) SearchProjects(ctx context.Context, term string, limit int) ([]ProjectSummary, error) {
	if term == "" || strings.ContainsAny(term, `%_\`) {
		return nil, fmt.Errorf("search projects: %q is not a normalised name", term)
	}
	rows, err := db.sql.QueryContext(ctx, summarySelect+summaryFrom+`
		WHERE p.normalized_name LIKE $1
		ORDER BY CASE WHEN p.normalized_name = $2 THEN 0 WHEN p.normalized_name LIKE $3 THEN 1 ELSE 2 END, p.normalized_name
		LIMIT $4`, "%"+term+"%", term, term+"%", limit)
	if err != nil {
		return nil, fmt.Errorf("search projects: %w", err)
	}
	out, err := scanSummaries(rows, false)
	if err != nil {
		return nil, fmt.Errorf("search projects: %w", err)
	}
	return out, nil
}

// RecentProjects lists the most recently changed projects, newest first.
func (db *DB) RecentProjects(ctx context.Context, limit int) ([]ProjectSummary, error) {
	rows, err := db.sql.QueryContext(ctx, summarySelect+summaryFrom+` ORDER BY p.last_serial DESC, p.id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("recent projects: %w", err)
	}
	out, err := scanSummaries(rows, false)
	if err != nil {
		return nil, fmt.Errorf("recent projects: %w", err)
	}
	return out, nil
}

// ProjectsOfUser lists the projects on which the user has a role, by name.
func (db *DB) ProjectsOfUser(ctx context.Context, userID int64) ([]ProjectSummary, error) {
	rows, err := db.sql.QueryContext(ctx, summarySelect+`, ro.role`+summaryFrom+`
		JOIN roles ro ON ro.project_id = p.id
		WHERE ro.user_id = $1 ORDER BY p.normalized_name`, userID)
	if err != nil {
		return nil, fmt.Errorf("projects of user: %w", err)
	}
	out, err := scanSummaries(rows, true)
	if err != nil {
		return nil, fmt.Errorf("projects of user: %w", err)
	}
	return out, nil
}

// likeEscape makes s match itself literally in a LIKE pattern with ESCAPE '\'.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// FindAccounts lists the accounts whose username or email contains q, compared as ident.Key compares them, by
// username, for the administrators' search.
func (db *DB) FindAccounts(ctx context.Context, q string, limit int) ([]Account, error) {
	pattern := "%" + likeEscape(ident.Key(q)) + "%"
	rows, err := db.sql.QueryContext(ctx, `SELECT `+accountColumns+` FROM users
		WHERE username_key LIKE $1 ESCAPE '\' OR email_key LIKE $1 ESCAPE '\'
		ORDER BY username_key LIMIT $2`, pattern, limit)
	if err != nil {
		return nil, fmt.Errorf("find accounts: %w", err)
	}
	defer rows.Close()
	var out []Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, fmt.Errorf("find accounts: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// ReservedName is a project name that administrators reserved or prohibited.
type ReservedName struct {
	Name      string // normalised
	Reason    string
	CreatedAt time.Time
}

// ReservedNames lists reserved names, newest first.
func (db *DB) ReservedNames(ctx context.Context, limit int) ([]ReservedName, error) {
	rows, err := db.sql.QueryContext(ctx,
		`SELECT normalized_name, reason, created_at FROM reserved_names ORDER BY created_at DESC, normalized_name LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("reserved names: %w", err)
	}
	defer rows.Close()
	var out []ReservedName
	for rows.Next() {
		var n ReservedName
		var created int64
		if err := rows.Scan(&n.Name, &n.Reason, &created); err != nil {
			return nil, fmt.Errorf("reserved names: %w", err)
		}
		n.CreatedAt = fromMicros(created)
		out = append(out, n)
	}
	return out, rows.Err()
}

// IndexStats counts what the home page shows.
type IndexStats struct {
	Projects, Releases, Files, Users int64
}

// Stats counts projects, releases, files and users.
func (db *DB) Stats(ctx context.Context) (IndexStats, error) {
	var s IndexStats
	err := db.sql.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM projects), (SELECT count(*) FROM releases),
		(SELECT count(*) FROM files), (SELECT count(*) FROM users)`).Scan(&s.Projects, &s.Releases, &s.Files, &s.Users)
	if err != nil {
		return IndexStats{}, fmt.Errorf("stats: %w", err)
	}
	return s, nil
}
