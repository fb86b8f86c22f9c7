package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Publisher is a CI identity that may publish one project, or, pending, create the project its first publish
// names.
type Publisher struct {
	ID int64
	// ProjectID is the project it publishes; 0 for a pending publisher, which has PendingName and OwnerID (the
	// account that becomes the project's Owner) instead, and expires at ExpiresAt.
	ProjectID   int64
	ProjectName string // the project's name, or the pending name
	PendingName string
	OwnerID     int64
	// OrgID is the organization a pending publisher creates its project in (0: none).
	OrgID int64
	// Kind is the publisher's kind (github, gitlab, google, or oidc for an issuer an administrator registered,
	// IssuerID).
	Kind     string
	IssuerID int64
	// Claims is what a token must match, by claim or field name; Lookup is the one value a token is found by.
	Claims    map[string]string
	Lookup    string
	CreatedBy int64
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Pending reports whether the publisher waits for the project it creates.
func (p Publisher) Pending() bool { return p.ProjectID == 0 }

// Issuer is an OIDC issuer an administrator registered.
type Issuer struct {
	ID   int64
	Name string
	URL  string
	// Claims maps each claim a publisher of the issuer matches to its fixed value, or to "" when each publisher
	// gives its own.
	Claims    map[string]string
	CreatedAt time.Time
}

// PublisherToken is the record of a token minted for publishers.
type PublisherToken struct {
	ID         string
	Publishers []int64
	// Identity is what the CI job was: kind, issuer, repository, workflow, ref, sha, environment.
	Identity  map[string]string
	CreatedAt time.Time
	ExpiresAt time.Time
	RevokedAt time.Time
}

const publisherColumns = `p.id, COALESCE(p.project_id, 0), COALESCE(pr.name, p.pending_name), COALESCE(p.pending_name, ''),
	COALESCE(p.owner_id, 0), p.kind, COALESCE(p.issuer_id, 0), p.claims, p.lookup, COALESCE(p.created_by, 0),
	p.created_at, p.expires_at, COALESCE(p.org_id, 0)`

const publisherFrom = ` FROM publishers p LEFT JOIN projects pr ON pr.id = p.project_id`

func scanPublisher(row interface{ Scan(...any) error }) (Publisher, error) {
	var p Publisher
	var claims string
	var created int64
	var expires sql.NullInt64
	err := row.Scan(&p.ID, &p.ProjectID, &p.ProjectName, &p.PendingName, &p.OwnerID, &p.Kind, &p.IssuerID, &claims,
		&p.Lookup, &p.CreatedBy, &created, &expires, &p.OrgID)
	if errors.Is(err, sql.ErrNoRows) {
		return Publisher{}, ErrNotFound
	}
	if err != nil {
		return Publisher{}, err
	}
	if err := json.Unmarshal([]byte(claims), &p.Claims); err != nil {
		return Publisher{}, fmt.Errorf("publisher %d claims: %w", p.ID, err)
	}
	p.CreatedAt, p.ExpiresAt = fromMicros(created), fromNullMicros(expires)
	return p, nil
}

func queryPublishers(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, where string, args ...any) ([]Publisher, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+publisherColumns+publisherFrom+` WHERE `+where+` ORDER BY p.id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Publisher
	for rows.Next() {
		p, err := scanPublisher(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// AddPublisher records a publisher: of p.ProjectID, or pending for p.PendingName. The same claims twice for one
// project (or one pending name) is ErrConflict; a pending name that is already a project is ErrProjectExists.
func (db *DB) AddPublisher(ctx context.Context, p Publisher) (Publisher, error) {
	claims, err := json.Marshal(p.Claims)
	if err != nil {
		return Publisher{}, fmt.Errorf("add publisher: %w", err)
	}
	err = db.tx(ctx, func(tx *sql.Tx) error {
		if p.Pending() {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM projects WHERE normalized_name = $1`, p.PendingName).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return ErrProjectExists
			}
		}
		return tx.QueryRowContext(ctx, `INSERT INTO publishers (project_id, pending_name, owner_id, kind, issuer_id, claims,
			lookup, created_by, created_at, expires_at, org_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
			nullID(p.ProjectID), sql.NullString{String: p.PendingName, Valid: p.Pending()}, nullID(p.OwnerID), p.Kind,
			nullID(p.IssuerID), string(claims), p.Lookup, nullID(p.CreatedBy), micros(p.CreatedAt),
			nullMicros(p.ExpiresAt), nullID(p.OrgID)).Scan(&p.ID)
	})
	if isUniqueViolation(err) {
		err = ErrConflict
	}
	if err != nil {
		return Publisher{}, fmt.Errorf("add publisher: %w", err)
	}
	return db.PublisherByID(ctx, p.ID)
}

func nullID(id int64) sql.NullInt64 { return sql.NullInt64{Int64: id, Valid: id != 0} }

// PublisherByID returns one publisher.
func (db *DB) PublisherByID(ctx context.Context, id int64) (Publisher, error) {
	p, err := scanPublisher(db.sql.QueryRowContext(ctx, `SELECT `+publisherColumns+publisherFrom+` WHERE p.id = $1`, id))
	if err != nil {
		return Publisher{}, fmt.Errorf("publisher %d: %w", id, err)
	}
	return p, nil
}

// ProjectPublishers lists a project's publishers.
func (db *DB) ProjectPublishers(ctx context.Context, projectID int64) ([]Publisher, error) {
	ps, err := queryPublishers(ctx, db.sql, `p.project_id = $1`, projectID)
	if err != nil {
		return nil, fmt.Errorf("publishers of project %d: %w", projectID, err)
	}
	return ps, nil
}

// PendingPublishers lists the pending publishers an account registered, expired ones included.
func (db *DB) PendingPublishers(ctx context.Context, ownerID int64) ([]Publisher, error) {
	ps, err := queryPublishers(ctx, db.sql, `p.pending_name IS NOT NULL AND p.owner_id = $1`, ownerID)
	if err != nil {
		return nil, fmt.Errorf("pending publishers of user %d: %w", ownerID, err)
	}
	return ps, nil
}

// AllPublishers lists every publisher, for administrators and scripts.
func (db *DB) AllPublishers(ctx context.Context) ([]Publisher, error) {
	ps, err := queryPublishers(ctx, db.sql, `1 = 1`)
	if err != nil {
		return nil, fmt.Errorf("publishers: %w", err)
	}
	return ps, nil
}

// PublisherCandidates returns the publishers a token of kind with this lookup value may match: every project's,
// and the pending ones that have not expired at now.
func (db *DB) PublisherCandidates(ctx context.Context, kind, lookup string, now time.Time) ([]Publisher, error) {
	ps, err := queryPublishers(ctx, db.sql, `p.kind = $1 AND p.lookup = $2 AND (p.expires_at IS NULL OR p.expires_at > $3)`,
		kind, lookup, micros(now))
	if err != nil {
		return nil, fmt.Errorf("publisher candidates: %w", err)
	}
	return ps, nil
}

// PublishersByID returns those of ids that still exist.
func (db *DB) PublishersByID(ctx context.Context, ids []int64) ([]Publisher, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	marks := make([]string, len(ids))
	args := make([]any, len(ids))
	for i, id := range ids {
		marks[i] = fmt.Sprintf("$%d", i+1)
		args[i] = id
	}
	ps, err := queryPublishers(ctx, db.sql, `p.id IN (`+strings.Join(marks, ", ")+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("publishers by id: %w", err)
	}
	return ps, nil
}

// RemovePublisher deletes a publisher of a project (projectID), or a pending one of its owner (projectID 0,
// ownerID): another's id is ErrNotFound, like a missing one.
func (db *DB) RemovePublisher(ctx context.Context, id, projectID, ownerID int64) error {
	var err error
	if projectID != 0 {
		err = execOne(ctx, db.sql, `DELETE FROM publishers WHERE id = $1 AND project_id = $2`, id, projectID)
	} else {
		err = execOne(ctx, db.sql, `DELETE FROM publishers WHERE id = $1 AND pending_name IS NOT NULL AND owner_id = $2`, id, ownerID)
	}
	if err != nil {
		return fmt.Errorf("remove publisher %d: %w", id, err)
	}
	return nil
}

// PrunePendingPublishers deletes pending publishers that expired before now, and reports how many.
func (db *DB) PrunePendingPublishers(ctx context.Context, now time.Time) (int64, error) {
	res, err := db.sql.ExecContext(ctx, `DELETE FROM publishers WHERE pending_name IS NOT NULL AND expires_at <= $1`, micros(now))
	if err != nil {
		return 0, fmt.Errorf("prune pending publishers: %w", err)
	}
	return res.RowsAffected()
}

// ClaimJTI records an OIDC token's id for its issuer until expires, and reports whether this call was the first
// to present it. The primary key decides concurrent claims: exactly one wins. Ids whose tokens can no longer
// verify are forgotten on the way.
func (db *DB) ClaimJTI(ctx context.Context, issuer, jti string, expires, now time.Time) (bool, error) {
	if _, err := db.sql.ExecContext(ctx, `DELETE FROM oidc_jtis WHERE expires_at < $1`, micros(now)); err != nil {
		return false, fmt.Errorf("claim jti: %w", err)
	}
	res, err := db.sql.ExecContext(ctx, `INSERT INTO oidc_jtis (issuer, jti, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (issuer, jti) DO NOTHING`, issuer, jti, micros(expires))
	if err != nil {
		return false, fmt.Errorf("claim jti: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// CreatePublisherToken records a token minted for publishers.
func (db *DB) CreatePublisherToken(ctx context.Context, t PublisherToken) error {
	ids, err := json.Marshal(t.Publishers)
	if err != nil {
		return fmt.Errorf("create publisher token: %w", err)
	}
	identity, err := json.Marshal(t.Identity)
	if err != nil {
		return fmt.Errorf("create publisher token: %w", err)
	}
	if _, err := db.sql.ExecContext(ctx, `INSERT INTO publisher_tokens (id, publishers, identity, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5)`, t.ID, string(ids), string(identity), micros(t.CreatedAt), micros(t.ExpiresAt)); err != nil {
		return fmt.Errorf("create publisher token: %w", err)
	}
	return nil
}

// PublisherTokenByID returns the record of a token minted for publishers.
func (db *DB) PublisherTokenByID(ctx context.Context, id string) (PublisherToken, error) {
	var t PublisherToken
	var ids, identity string
	var created, expires int64
	var revoked sql.NullInt64
	err := db.sql.QueryRowContext(ctx, `SELECT id, publishers, identity, created_at, expires_at, revoked_at
		FROM publisher_tokens WHERE id = $1`, id).Scan(&t.ID, &ids, &identity, &created, &expires, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err == nil {
		err = json.Unmarshal([]byte(ids), &t.Publishers)
	}
	if err == nil {
		err = json.Unmarshal([]byte(identity), &t.Identity)
	}
	if err != nil {
		return PublisherToken{}, fmt.Errorf("publisher token %s: %w", id, err)
	}
	t.CreatedAt, t.ExpiresAt, t.RevokedAt = fromMicros(created), fromMicros(expires), fromNullMicros(revoked)
	return t, nil
}

// RevokePublisherToken ends a minted token before its expiry.
func (db *DB) RevokePublisherToken(ctx context.Context, id string, now time.Time) error {
	if err := execOne(ctx, db.sql, `UPDATE publisher_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL`, micros(now), id); err != nil {
		return fmt.Errorf("revoke publisher token %s: %w", id, err)
	}
	return nil
}

// AddIssuer registers an OIDC issuer; a name or URL used twice is ErrConflict.
func (db *DB) AddIssuer(ctx context.Context, is Issuer) (Issuer, error) {
	claims, err := json.Marshal(is.Claims)
	if err != nil {
		return Issuer{}, fmt.Errorf("add issuer: %w", err)
	}
	err = db.sql.QueryRowContext(ctx, `INSERT INTO oidc_issuers (name, url, claims, created_at) VALUES ($1, $2, $3, $4) RETURNING id`,
		is.Name, is.URL, string(claims), micros(is.CreatedAt)).Scan(&is.ID)
	if isUniqueViolation(err) {
		err = ErrConflict
	}
	if err != nil {
		return Issuer{}, fmt.Errorf("add issuer %s: %w", is.Name, err)
	}
	return is, nil
}

// Issuers lists the registered issuers by name.
func (db *DB) Issuers(ctx context.Context) ([]Issuer, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT id, name, url, claims, created_at FROM oidc_issuers ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("issuers: %w", err)
	}
	defer rows.Close()
	var out []Issuer
	for rows.Next() {
		var is Issuer
		var claims string
		var created int64
		if err := rows.Scan(&is.ID, &is.Name, &is.URL, &claims, &created); err != nil {
			return nil, fmt.Errorf("issuers: %w", err)
		}
		if err := json.Unmarshal([]byte(claims), &is.Claims); err != nil {
			return nil, fmt.Errorf("issuer %s claims: %w", is.Name, err)
		}
		is.CreatedAt = fromMicros(created)
		out = append(out, is)
	}
	return out, rows.Err()
}

// RemoveIssuer deletes a registered issuer and, with it, its publishers.
func (db *DB) RemoveIssuer(ctx context.Context, name string) error {
	if err := execOne(ctx, db.sql, `DELETE FROM oidc_issuers WHERE name = $1`, name); err != nil {
		return fmt.Errorf("remove issuer %s: %w", name, err)
	}
	return nil
}

// SetTrustedPublishingOnly records the Owners' switch: uploads only from the project's publishers.
func (db *DB) SetTrustedPublishingOnly(ctx context.Context, projectID int64, on bool) error {
	if err := execOne(ctx, db.sql, `UPDATE projects SET trusted_publishing_only = $1 WHERE id = $2`, on, projectID); err != nil {
		return fmt.Errorf("set trusted publishing only: %w", err)
	}
	return nil
}
