package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
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

// scanSummaries reads rows of summarySelect; extra, when not nil, gives where each row's further columns go.
func scanSummaries(rows *sql.Rows, extra func(*ProjectSummary) []any) ([]ProjectSummary, error) {
	defer rows.Close()
	var out []ProjectSummary
	for rows.Next() {
		var s ProjectSummary
		var created, updated int64
		var meta string
		dest := []any{&s.ID, &s.Name, &s.NormalizedName, &created, &s.LastSerial, &s.TotalSize,
			&s.LatestVersion, &updated, &meta}
		if extra != nil {
			dest = append(dest, extra(&s)...)
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

// RecentProjects lists the most recently changed projects, newest first.
func (db *DB) RecentProjects(ctx context.Context, limit int) ([]ProjectSummary, error) {
	rows, err := db.sql.QueryContext(ctx, summarySelect+summaryFrom+` ORDER BY p.last_serial DESC, p.id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("recent projects: %w", err)
	}
	out, err := scanSummaries(rows, nil)
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
	out, err := scanSummaries(rows, func(s *ProjectSummary) []any { return []any{&s.Role} })
	if err != nil {
		return nil, fmt.Errorf("projects of user: %w", err)
	}
	return out, nil
}

// likeEscape makes s match itself literally in a LIKE pattern with ESCAPE '\'.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// ReservedName is a project name that administrators reserved or prohibited.
type ReservedName struct {
	Name      string // normalised
	Reason    string
	CreatedAt time.Time
	// Project is the name of the existing project of that name ("" for none), which the reservation leaves alone:
	// it only stops new projects of the name.
	Project string
}

// ReservedNames lists reserved names, newest first.
func (db *DB) ReservedNames(ctx context.Context, limit int) ([]ReservedName, error) {
	rows, err := db.sql.QueryContext(ctx,
		`SELECT r.normalized_name, r.reason, r.created_at, COALESCE(p.name, '') FROM reserved_names r
		 LEFT JOIN projects p ON p.normalized_name = r.normalized_name
		 ORDER BY r.created_at DESC, r.normalized_name LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("reserved names: %w", err)
	}
	defer rows.Close()
	var out []ReservedName
	for rows.Next() {
		var n ReservedName
		var created int64
		if err := rows.Scan(&n.Name, &n.Reason, &created, &n.Project); err != nil {
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
