package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// FeedRelease is a release as the RSS feeds list it. Only published releases are listed: a staged upload has no
// release row until it is approved, and a yanked release stays, as on PyPI.
type FeedRelease struct {
	Project   string // the project's name as first uploaded
	Version   string
	Yanked    bool
	CreatedAt time.Time
	// Metadata is the release's core metadata JSON, or empty when it is larger than 64 KiB, as in ProjectSummary:
	// a feed needs only the summary.
	Metadata []byte
}

// The feeds order by id, not by created_at: ids are given in the order releases and projects are created, and the
// primary key orders them without a sort, where created_at has no index and would sort every row of the table.
const feedReleaseSelect = `SELECT p.name, r.version, r.yanked, r.created_at,
	CASE WHEN length(r.metadata) <= 65536 THEN r.metadata ELSE '' END
	FROM releases r JOIN projects p ON p.id = r.project_id`

func scanFeedReleases(rows *sql.Rows) ([]FeedRelease, error) {
	defer rows.Close()
	var out []FeedRelease
	for rows.Next() {
		var fr FeedRelease
		var created int64
		var meta string
		if err := rows.Scan(&fr.Project, &fr.Version, &fr.Yanked, &created, &meta); err != nil {
			return nil, err
		}
		fr.CreatedAt = fromMicros(created)
		if meta != "" {
			fr.Metadata = []byte(meta)
		}
		out = append(out, fr)
	}
	return out, rows.Err()
}

// LatestReleases lists the most recently published releases of the whole index, newest first, at most limit.
func (db *DB) LatestReleases(ctx context.Context, limit int) ([]FeedRelease, error) {
	rows, err := db.sql.QueryContext(ctx, feedReleaseSelect+` ORDER BY r.id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("latest releases: %w", err)
	}
	out, err := scanFeedReleases(rows)
	if err != nil {
		return nil, fmt.Errorf("latest releases: %w", err)
	}
	return out, nil
}

// LatestReleasesOf finds a project by its normalised name and lists its most recently published releases, newest
// first, at most limit. An unknown project is ErrNotFound; a project without releases has an empty list.
func (db *DB) LatestReleasesOf(ctx context.Context, normalized string, limit int) (Project, []FeedRelease, error) {
	p, err := db.ProjectByName(ctx, normalized)
	if err != nil {
		return Project{}, nil, fmt.Errorf("latest releases of %q: %w", normalized, err)
	}
	rows, err := db.sql.QueryContext(ctx, feedReleaseSelect+` WHERE r.project_id = $1 ORDER BY r.id DESC LIMIT $2`, p.ID, limit)
	if err != nil {
		return Project{}, nil, fmt.Errorf("latest releases of %q: %w", normalized, err)
	}
	out, err := scanFeedReleases(rows)
	if err != nil {
		return Project{}, nil, fmt.Errorf("latest releases of %q: %w", normalized, err)
	}
	return p, out, nil
}

// NewestProjects lists the most recently created projects, newest first, at most limit, each with its latest
// release as the other lists have it.
func (db *DB) NewestProjects(ctx context.Context, limit int) ([]ProjectSummary, error) {
	rows, err := db.sql.QueryContext(ctx, summarySelect+summaryFrom+` ORDER BY p.id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("newest projects: %w", err)
	}
	out, err := scanSummaries(rows, nil)
	if err != nil {
		return nil, fmt.Errorf("newest projects: %w", err)
	}
	return out, nil
}
