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

// Protection is what the 2FA policy reads of a project: whether it is critical (since when) and whether its
// Owners require two-factor authentication of every collaborator.
type Protection struct {
	CriticalSince time.Time // zero = not critical
	Require2FA    bool
	// RequireWebAuthn: the Owners require security keys or passkeys, not authenticator apps (Require2FA is set too).
	RequireWebAuthn bool
	// TrustedPublishingOnly: the Owners accept uploads only from the project's Trusted Publishers.
	TrustedPublishingOnly bool
	// Staging is which uploads wait for a person's approval (StageNothing, StageCI, StageTokens).
	Staging string
	// Org names the organization that holds the project ("" for none), and the Org* fields are what its Owners
	// set for every project it holds.
	Org                                                         string
	OrgRequire2FA, OrgRequireWebAuthn, OrgTrustedPublishingOnly bool
	OrgStaging                                                  string
}

// Critical reports whether the project is designated critical.
func (p Protection) Critical() bool { return !p.CriticalSince.IsZero() }

const protectionQuery = `SELECT p.critical_since, p.require_2fa, p.require_webauthn, p.trusted_publishing_only,
	p.staging, COALESCE(o.name, ''), COALESCE(o.require_2fa, FALSE), COALESCE(o.require_webauthn, FALSE),
	COALESCE(o.trusted_publishing_only, FALSE), COALESCE(o.staging, '')
	FROM projects p LEFT JOIN organizations o ON o.id = p.org_id WHERE p.id = $1`

// ProjectProtection reads a project's protection at decision time, so that a rule never works from a copy of the
// project loaded before a designation.
func (db *DB) ProjectProtection(ctx context.Context, projectID int64) (Protection, error) {
	var since sql.NullInt64
	var p Protection
	err := db.prepared(ctx, protectionQuery).QueryRowContext(ctx, projectID).Scan(&since, &p.Require2FA,
		&p.RequireWebAuthn, &p.TrustedPublishingOnly, &p.Staging, &p.Org, &p.OrgRequire2FA, &p.OrgRequireWebAuthn,
		&p.OrgTrustedPublishingOnly, &p.OrgStaging)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Protection{}, fmt.Errorf("project %d protection: %w", projectID, err)
	}
	p.CriticalSince = fromNullMicros(since)
	return p, nil
}

// SetRequire2FA records what a project's Owners require of every collaborator: two-factor authentication (on),
// and with keys security keys or passkeys in particular.
func (db *DB) SetRequire2FA(ctx context.Context, projectID int64, on, keys bool) error {
	err := execOne(ctx, db.sql, `UPDATE projects SET require_2fa = $1, require_webauthn = $2 WHERE id = $3`, on || keys, keys, projectID)
	if err != nil {
		return fmt.Errorf("set require 2fa: %w", err)
	}
	return nil
}

// Downloaded is a project with its downloads over a window.
type Downloaded struct {
	ID             int64
	Name           string
	NormalizedName string
	Downloads      int64
	CriticalSince  time.Time // zero = not critical
}

// ProjectCount is the number of projects in the index.
func (db *DB) ProjectCount(ctx context.Context) (int, error) {
	var n int
	if err := db.sql.QueryRowContext(ctx, `SELECT count(*) FROM projects`).Scan(&n); err != nil {
		return 0, fmt.Errorf("project count: %w", err)
	}
	return n, nil
}

// TopDownloaded returns the limit projects with the most downloads on days from since (UTC) on, most first (ties
// by the older project), leaving out projects without any. When since is the first day of the download window
// (SlideDownloadWindow) the top is read from the window's totals, one row per project; for any other day it is
// summed from the daily counts, which gives the same answer but reads every count of every day from since on: 45 s
// rather than half a second at PyPI's scale.
func (db *DB) TopDownloaded(ctx context.Context, since time.Time, limit int) ([]Downloaded, error) {
	day := since.UTC().Format(time.DateOnly)
	if limit <= 0 {
		return nil, nil
	}
	// A total is an upper bound of its project's downloads in the window, exact when it counts from the window's
	// first day. So the largest k+1 totals, each corrected to the window, hold the top once the last of them is
	// below the limit-th corrected one: every total after it is lower still. Otherwise twice as many are read.
	// One statement reads the window's first day, the totals and the corrections, so that a move of the window or
	// a write of counts between two reads cannot mix them. No rows: the window starts on another day, or nothing
	// was downloaded in it, which the daily counts then tell.
	type candidate struct {
		Downloaded
		bound int64 // the total before its correction
	}
	for k := limit + limit/4 + 1; ; k *= 2 {
		var cands []candidate
		rows, err := db.sql.QueryContext(ctx, `
			SELECT p.id, p.name, p.normalized_name, p.critical_since, t.total, t.total - CASE WHEN t.since < $1 THEN COALESCE((
				SELECT sum(d.count) FROM downloads d WHERE d.project_id = t.project_id AND d.day >= t.since AND d.day < $1), 0) ELSE 0 END
			FROM (SELECT project_id, total, since FROM download_totals
			      WHERE total > 0 AND EXISTS (SELECT 1 FROM download_window WHERE since = $1)
			      ORDER BY total DESC, project_id LIMIT $2) t
			JOIN projects p ON p.id = t.project_id
			ORDER BY t.total DESC, t.project_id`, day, k+1)
		if err != nil {
			return nil, fmt.Errorf("top downloaded: %w", err)
		}
		for rows.Next() {
			var c candidate
			var critical sql.NullInt64
			if err := rows.Scan(&c.ID, &c.Name, &c.NormalizedName, &critical, &c.bound, &c.Downloads); err != nil {
				rows.Close()
				return nil, fmt.Errorf("top downloaded: %w", err)
			}
			c.CriticalSince = fromNullMicros(critical)
			cands = append(cands, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("top downloaded: %w", err)
		}
		if len(cands) == 0 {
			break
		}
		last := cands[len(cands)-1].bound
		slices.SortFunc(cands, func(a, b candidate) int {
			return cmp.Or(cmp.Compare(b.Downloads, a.Downloads), cmp.Compare(a.ID, b.ID))
		})
		var top []Downloaded
		for _, c := range cands[:min(limit, len(cands))] {
			if c.Downloads > 0 {
				top = append(top, c.Downloaded)
			}
		}
		if len(cands) <= k || len(top) == limit && last < top[limit-1].Downloads {
			return top, nil
		}
	}
	return db.downloaded(ctx, "top downloaded", `
		SELECT p.id, p.name, p.normalized_name, d.n, p.critical_since
		FROM (SELECT project_id, sum(count) AS n FROM downloads WHERE day >= $1 GROUP BY project_id
		      ORDER BY n DESC, project_id LIMIT $2) d
		JOIN projects p ON p.id = d.project_id
		WHERE d.n > 0
		ORDER BY d.n DESC, p.id`, day, limit)
}

// downloaded runs a query of projects with their downloads and critical_since, in that order of columns.
func (db *DB) downloaded(ctx context.Context, op, query string, args ...any) ([]Downloaded, error) {
	rows, err := db.sql.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer rows.Close()
	var out []Downloaded
	for rows.Next() {
		var d Downloaded
		var critical sql.NullInt64
		if err := rows.Scan(&d.ID, &d.Name, &d.NormalizedName, &d.Downloads, &critical); err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		d.CriticalSince = fromNullMicros(critical)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return out, nil
}

// MarkCritical designates the projects ids critical at now, in one transaction, and returns those that were not
// critical before: a project keeps the time of its first designation.
func (db *DB) MarkCritical(ctx context.Context, ids []int64, now time.Time) ([]int64, error) {
	var newly []int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		newly = newly[:0]
		for _, id := range ids {
			res, err := tx.ExecContext(ctx, `UPDATE projects SET critical_since = $1 WHERE id = $2 AND critical_since IS NULL`,
				micros(now), id)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 1 {
				newly = append(newly, id)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mark critical: %w", err)
	}
	return newly, nil
}

// ReleaseCritical ends a project's designation; it reports whether the project was critical.
func (db *DB) ReleaseCritical(ctx context.Context, projectID int64) (bool, error) {
	res, err := db.sql.ExecContext(ctx, `UPDATE projects SET critical_since = NULL WHERE id = $1 AND critical_since IS NOT NULL`, projectID)
	if err != nil {
		return false, fmt.Errorf("release critical: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("release critical: %w", err)
	}
	return n == 1, nil
}

// CriticalProjects lists the critical projects with their downloads from since on, most downloaded first. As with
// TopDownloaded, the downloads come from the download window's totals when since is its first day.
func (db *DB) CriticalProjects(ctx context.Context, since time.Time) ([]Downloaded, error) {
	day := since.UTC().Format(time.DateOnly)
	out, err := db.downloaded(ctx, "critical projects", `
		SELECT p.id, p.name, p.normalized_name, COALESCE(t.total - CASE WHEN t.since < $1 THEN COALESCE((
			SELECT sum(d.count) FROM downloads d WHERE d.project_id = t.project_id AND d.day >= t.since AND d.day < $1), 0) ELSE 0 END, 0),
			p.critical_since
		FROM projects p LEFT JOIN download_totals t ON t.project_id = p.id
		WHERE p.critical_since IS NOT NULL AND EXISTS (SELECT 1 FROM download_window WHERE since = $1)
		ORDER BY 4 DESC, p.id`, day)
	if err != nil || len(out) > 0 {
		return out, err
	}
	return db.downloaded(ctx, "critical projects", `
		SELECT p.id, p.name, p.normalized_name, COALESCE(sum(d.count), 0), p.critical_since
		FROM projects p LEFT JOIN downloads d ON d.project_id = p.id AND d.day >= $1
		WHERE p.critical_since IS NOT NULL
		GROUP BY p.id, p.name, p.normalized_name, p.critical_since
		ORDER BY 4 DESC, p.id`, day)
}

// LeaseDay gives holder the run of job for day ("YYYY-MM-DD") until the lease ends at until, and reports whether
// it did: when the job has not run for day, or its run for day was leased but neither finished nor renewed
// before its lease ended at or before now (the instance that held it died). Of several instances asking at once,
// at most one is told yes.
func (db *DB) LeaseDay(ctx context.Context, job, day, holder string, now, until time.Time) (bool, error) {
	err := execOne(ctx, db.sql, `INSERT INTO job_days (name, day, holder, lease_until, done) VALUES ($1, $2, $3, $4, false)
		ON CONFLICT (name) DO UPDATE SET day = excluded.day, holder = excluded.holder, lease_until = excluded.lease_until, done = false
		WHERE job_days.day < excluded.day OR (job_days.day = excluded.day AND NOT job_days.done AND job_days.lease_until <= $5)`,
		job, day, holder, micros(until), micros(now))
	return held(err, "lease", job, day)
}

// RenewLease moves the end of holder's lease of job's day to until, and reports whether holder still held it
// (false: the lease ended and another instance took the day over, or the day is done).
func (db *DB) RenewLease(ctx context.Context, job, day, holder string, until time.Time) (bool, error) {
	err := execOne(ctx, db.sql, `UPDATE job_days SET lease_until = $4
		WHERE name = $1 AND day = $2 AND holder = $3 AND NOT done`, job, day, holder, micros(until))
	return held(err, "renew", job, day)
}

// FinishDay marks job's day done, so that no instance runs it again that day, and reports whether holder still
// held its lease.
func (db *DB) FinishDay(ctx context.Context, job, day, holder string) (bool, error) {
	err := execOne(ctx, db.sql, `UPDATE job_days SET done = true
		WHERE name = $1 AND day = $2 AND holder = $3 AND NOT done`, job, day, holder)
	return held(err, "finish", job, day)
}

// held reads execOne's answer for a lease: a row written means the caller holds it.
func held(err error, verb, job, day string) (bool, error) {
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%s %s for %s: %w", verb, job, day, err)
	}
	return true, nil
}

// Kinds of early enforcement.
const (
	EarlyUser    = "user"
	EarlyProject = "project"
	EarlyOrg     = "org"
)

// EnforceEarly places a user or a project (kind EarlyUser or EarlyProject, id) under the mandate's enforce phase
// now; it reports whether it was not already.
func (db *DB) EnforceEarly(ctx context.Context, kind string, id int64, reason string, now time.Time) (bool, error) {
	res, err := db.sql.ExecContext(ctx, `INSERT INTO mandate_early (kind, ref_id, reason, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (kind, ref_id) DO NOTHING`, kind, id, reason, micros(now))
	if err != nil {
		return false, fmt.Errorf("enforce early: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// LiftEarly ends the early enforcement of a user or a project; it reports whether there was one.
func (db *DB) LiftEarly(ctx context.Context, kind string, id int64) (bool, error) {
	res, err := db.sql.ExecContext(ctx, `DELETE FROM mandate_early WHERE kind = $1 AND ref_id = $2`, kind, id)
	if err != nil {
		return false, fmt.Errorf("lift early enforcement: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// EarlyEnforced reports whether the user, or the project (0: none), is under early enforcement: named, or through
// an organization named that the user belongs to or that holds the project.
func (db *DB) EarlyEnforced(ctx context.Context, userID, projectID int64) (bool, error) {
	var n int
	err := db.sql.QueryRowContext(ctx, `SELECT count(*) FROM mandate_early
		WHERE (kind = 'user' AND ref_id = $1) OR (kind = 'project' AND ref_id = $2)
		   OR (kind = 'org' AND (ref_id IN (SELECT org_id FROM org_members WHERE user_id = $1)
		                         OR ref_id IN (SELECT org_id FROM projects WHERE id = $2)))`, userID, projectID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("early enforcement: %w", err)
	}
	return n > 0, nil
}

// EarlyEnforcement is one user or project under early enforcement, by name.
type EarlyEnforcement struct {
	Kind, Name, Reason string
	Since              time.Time
}

// EarlyEnforcements lists the users and projects under early enforcement.
func (db *DB) EarlyEnforcements(ctx context.Context) ([]EarlyEnforcement, error) {
	rows, err := db.sql.QueryContext(ctx, `
		SELECT m.kind, COALESCE(u.username, p.name, o.name, ''), m.reason, m.created_at FROM mandate_early m
		LEFT JOIN users u ON m.kind = 'user' AND u.id = m.ref_id
		LEFT JOIN projects p ON m.kind = 'project' AND p.id = m.ref_id
		LEFT JOIN organizations o ON m.kind = 'org' AND o.id = m.ref_id
		ORDER BY m.kind, m.created_at`)
	if err != nil {
		return nil, fmt.Errorf("early enforcements: %w", err)
	}
	defer rows.Close()
	var out []EarlyEnforcement
	for rows.Next() {
		var e EarlyEnforcement
		var since int64
		if err := rows.Scan(&e.Kind, &e.Name, &e.Reason, &since); err != nil {
			return nil, fmt.Errorf("early enforcements: %w", err)
		}
		e.Since = fromMicros(since)
		out = append(out, e)
	}
	return out, rows.Err()
}

// CriticalName is a critical project as the administration page lists it.
type CriticalName struct {
	Name  string
	Since time.Time
}

// CriticalNames lists every critical project by name, with when it was designated.
func (db *DB) CriticalNames(ctx context.Context) ([]CriticalName, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT name, critical_since FROM projects WHERE critical_since IS NOT NULL ORDER BY normalized_name`)
	if err != nil {
		return nil, fmt.Errorf("critical names: %w", err)
	}
	defer rows.Close()
	var out []CriticalName
	for rows.Next() {
		var c CriticalName
		var since int64
		if err := rows.Scan(&c.Name, &since); err != nil {
			return nil, fmt.Errorf("critical names: %w", err)
		}
		c.Since = fromMicros(since)
		out = append(out, c)
	}
	return out, rows.Err()
}
