package store

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"time"
)

// Adoption is how far second factors have spread among the people who publish: counts, no names.
type Adoption struct {
	// Maintainers are the accounts with an Owner or Maintainer role on at least one project; of them, those with
	// any second factor (an authenticator app, a security key or a passkey) and those with a security key or
	// passkey (WebAuthn).
	Maintainers, MaintainersWith2FA, MaintainersWithWebAuthn int64
	// CriticalProjects are the projects designated critical; CriticalMaintainers the accounts with a role on at
	// least one of them, with the same two subsets.
	CriticalProjects                                                                 int64
	CriticalMaintainers, CriticalMaintainersWith2FA, CriticalMaintainersWithWebAuthn int64
	// Uploads are the files uploaded in the period asked for, deleted ones included; UploadsWith2FA those of them
	// whose account has had a second factor without a break since before the upload (users.two_factor_since). An
	// account that has since removed its last factor, or whose row is gone, counts as without: the figure never
	// claims more protection than there was.
	Uploads, UploadsWith2FA int64
}

// AdoptionDay is the figures of one UTC day, as the daily snapshot recorded them at TakenAt: the accounts as they
// were then, and the uploads of that day.
type AdoptionDay struct {
	Day     time.Time // midnight UTC
	TakenAt time.Time
	Adoption
}

// Adoption counts the maintainers and their factors now, and the uploads made from from (inclusive) to to
// (exclusive), in one statement.
func (db *DB) Adoption(ctx context.Context, from, to time.Time) (Adoption, error) {
	var a Adoption
	// m is one row per maintainer. The literal 'add file' lets the partial index journal_uploads serve the counts.
	err := db.sql.QueryRowContext(ctx, `
		SELECT count(*),
			COALESCE(sum(CASE WHEN m.has_totp OR m.has_key THEN 1 ELSE 0 END), 0),
			COALESCE(sum(CASE WHEN m.has_key THEN 1 ELSE 0 END), 0),
			(SELECT count(*) FROM projects WHERE critical_since IS NOT NULL),
			COALESCE(sum(CASE WHEN m.in_critical THEN 1 ELSE 0 END), 0),
			COALESCE(sum(CASE WHEN m.in_critical AND (m.has_totp OR m.has_key) THEN 1 ELSE 0 END), 0),
			COALESCE(sum(CASE WHEN m.in_critical AND m.has_key THEN 1 ELSE 0 END), 0),
			(SELECT count(*) FROM journal j
			 WHERE j.action = 'add file' AND j.created_at >= $1 AND j.created_at < $2),
			(SELECT count(*) FROM journal j JOIN users u ON u.id = j.user_id
			 WHERE j.action = 'add file' AND j.created_at >= $1 AND j.created_at < $2
			   AND u.two_factor_since IS NOT NULL AND u.two_factor_since <= j.created_at)
		FROM (SELECT r.user_id,
				EXISTS (SELECT 1 FROM totp_credentials t WHERE t.user_id = r.user_id) AS has_totp,
				EXISTS (SELECT 1 FROM webauthn_credentials w WHERE w.user_id = r.user_id) AS has_key,
				EXISTS (SELECT 1 FROM roles c JOIN projects p ON p.id = c.project_id
				        WHERE c.user_id = r.user_id AND p.critical_since IS NOT NULL) AS in_critical
			FROM (SELECT DISTINCT user_id FROM roles) r) m`, micros(from), micros(to)).Scan(
		&a.Maintainers, &a.MaintainersWith2FA, &a.MaintainersWithWebAuthn, &a.CriticalProjects,
		&a.CriticalMaintainers, &a.CriticalMaintainersWith2FA, &a.CriticalMaintainersWithWebAuthn,
		&a.Uploads, &a.UploadsWith2FA)
	if err != nil {
		return Adoption{}, fmt.Errorf("adoption: %w", err)
	}
	return a, nil
}

// RecordAdoptionDay stores the figures of a day, replacing any recorded for that day before.
func (db *DB) RecordAdoptionDay(ctx context.Context, d AdoptionDay) error {
	a := d.Adoption
	_, err := db.sql.ExecContext(ctx, `INSERT INTO adoption_days (day, maintainers, maintainers_2fa, maintainers_webauthn,
			critical_projects, critical_maintainers, critical_maintainers_2fa, critical_maintainers_webauthn,
			uploads, uploads_2fa, taken_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (day) DO UPDATE SET maintainers = excluded.maintainers, maintainers_2fa = excluded.maintainers_2fa,
			maintainers_webauthn = excluded.maintainers_webauthn, critical_projects = excluded.critical_projects,
			critical_maintainers = excluded.critical_maintainers, critical_maintainers_2fa = excluded.critical_maintainers_2fa,
			critical_maintainers_webauthn = excluded.critical_maintainers_webauthn, uploads = excluded.uploads,
			uploads_2fa = excluded.uploads_2fa, taken_at = excluded.taken_at`,
		d.Day.UTC().Format(time.DateOnly), a.Maintainers, a.MaintainersWith2FA, a.MaintainersWithWebAuthn,
		a.CriticalProjects, a.CriticalMaintainers, a.CriticalMaintainersWith2FA, a.CriticalMaintainersWithWebAuthn,
		a.Uploads, a.UploadsWith2FA, micros(d.TakenAt))
	if err != nil {
		return fmt.Errorf("record adoption of %s: %w", d.Day.UTC().Format(time.DateOnly), err)
	}
	return nil
}

// AdoptionHistory lists the recorded days from since's day (UTC) on, oldest first.
func (db *DB) AdoptionHistory(ctx context.Context, since time.Time) ([]AdoptionDay, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT day, maintainers, maintainers_2fa, maintainers_webauthn,
			critical_projects, critical_maintainers, critical_maintainers_2fa, critical_maintainers_webauthn,
			uploads, uploads_2fa, taken_at
		FROM adoption_days WHERE day >= $1 ORDER BY day`, since.UTC().Format(time.DateOnly))
	if err != nil {
		return nil, fmt.Errorf("adoption history: %w", err)
	}
	defer rows.Close()
	var out []AdoptionDay
	for rows.Next() {
		var d AdoptionDay
		var day string
		var taken int64
		a := &d.Adoption
		if err := rows.Scan(&day, &a.Maintainers, &a.MaintainersWith2FA, &a.MaintainersWithWebAuthn,
			&a.CriticalProjects, &a.CriticalMaintainers, &a.CriticalMaintainersWith2FA, &a.CriticalMaintainersWithWebAuthn,
			&a.Uploads, &a.UploadsWith2FA, &taken); err != nil {
			return nil, fmt.Errorf("adoption history: %w", err)
		}
		if d.Day, err = time.Parse(time.DateOnly, day); err != nil {
			return nil, fmt.Errorf("adoption history: day %q: %w", day, err)
		}
		d.TakenAt = fromMicros(taken)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("adoption history: %w", err)
	}
	return out, nil
}

// CriticalCoverage is a critical project with its Owners and Maintainers, and those of them without any second
// factor.
type CriticalCoverage struct {
	ProjectID     int64
	Name          string
	CriticalSince time.Time
	Maintainers   int // Owners and Maintainers
	// Unprotected have no second factor at all: Owners first, then by username.
	Unprotected []UnprotectedMaintainer
}

// UnprotectedMaintainer is an Owner or Maintainer of a critical project without any second factor.
type UnprotectedMaintainer struct {
	Username string
	Role     string
	Disabled bool
}

// CriticalCoverages lists every critical project with its unprotected maintainers: the projects with the most
// unprotected maintainers first, then by name.
func (db *DB) CriticalCoverages(ctx context.Context) ([]CriticalCoverage, error) {
	// One row per critical project and unprotected maintainer, or one row with NULLs for a project without any.
	rows, err := db.sql.QueryContext(ctx, `
		SELECT p.id, p.name, p.critical_since, (SELECT count(*) FROM roles a WHERE a.project_id = p.id),
			u.username, r.role, u.disabled
		FROM projects p
		LEFT JOIN roles r ON r.project_id = p.id
			AND NOT EXISTS (SELECT 1 FROM totp_credentials t WHERE t.user_id = r.user_id)
			AND NOT EXISTS (SELECT 1 FROM webauthn_credentials w WHERE w.user_id = r.user_id)
		LEFT JOIN users u ON u.id = r.user_id
		WHERE p.critical_since IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("critical coverage: %w", err)
	}
	defer rows.Close()
	var out []CriticalCoverage
	at := map[int64]int{}
	for rows.Next() {
		var c CriticalCoverage
		var since int64
		var username, role sql.NullString
		var disabled sql.NullBool
		if err := rows.Scan(&c.ProjectID, &c.Name, &since, &c.Maintainers, &username, &role, &disabled); err != nil {
			return nil, fmt.Errorf("critical coverage: %w", err)
		}
		i, ok := at[c.ProjectID]
		if !ok {
			c.CriticalSince = fromMicros(since)
			i = len(out)
			at[c.ProjectID] = i
			out = append(out, c)
		}
		if username.Valid {
			out[i].Unprotected = append(out[i].Unprotected,
				UnprotectedMaintainer{Username: username.String, Role: role.String, Disabled: disabled.Bool})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("critical coverage: %w", err)
	}
	// Sorted here rather than in SQL, where the engines collate names differently.
	for _, c := range out {
		sort.Slice(c.Unprotected, func(i, j int) bool {
			a, b := c.Unprotected[i], c.Unprotected[j]
			if (a.Role == RoleOwner) != (b.Role == RoleOwner) {
				return a.Role == RoleOwner
			}
			return a.Username < b.Username
		})
	}
	sort.Slice(out, func(i, j int) bool {
		if len(out[i].Unprotected) != len(out[j].Unprotected) {
			return len(out[i].Unprotected) > len(out[j].Unprotected)
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}
