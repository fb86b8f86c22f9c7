package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Kinds of second factor, as Factor.Kind names them.
const (
	FactorTOTP     = "totp"
	FactorWebAuthn = "webauthn"
)

// ErrLastFactor: the removal was to keep at least one factor, and the factor is the user's last.
var ErrLastFactor = errors.New("last second factor")

// Factor is one second factor of a user: the authenticator app (ID 0) or a security key or passkey.
type Factor struct {
	Kind         string
	ID           int64
	Label        string
	Discoverable bool
	CreatedAt    time.Time
	LastUsedAt   time.Time
}

// factorsSQL lists a user's factors, oldest first, from both tables; $1 is the user id.
const factorsSQL = `
	SELECT 'totp', 0, label, false, created_at, last_used_at FROM totp_credentials WHERE user_id = $1
	UNION ALL
	SELECT 'webauthn', id, label, discoverable, created_at, last_used_at FROM webauthn_credentials WHERE user_id = $1
	ORDER BY 5, 2`

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func factorsOf(ctx context.Context, q queryer, userID int64) ([]Factor, error) {
	rows, err := q.QueryContext(ctx, factorsSQL, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Factor
	for rows.Next() {
		var f Factor
		var created int64
		var used sql.NullInt64
		if err := rows.Scan(&f.Kind, &f.ID, &f.Label, &f.Discoverable, &created, &used); err != nil {
			return nil, err
		}
		f.CreatedAt, f.LastUsedAt = fromMicros(created), fromNullMicros(used)
		out = append(out, f)
	}
	return out, rows.Err()
}

// Factors lists the user's second factors, oldest first.
func (db *DB) Factors(ctx context.Context, userID int64) ([]Factor, error) {
	out, err := factorsOf(ctx, db.sql, userID)
	if err != nil {
		return nil, fmt.Errorf("factors: %w", err)
	}
	return out, nil
}

// RemoveFactor deletes one of the user's factors (kind FactorTOTP, or FactorWebAuthn with its id) and returns it;
// removing the authenticator app also drops an enrolment in progress. With keepOne it refuses, with
// ErrLastFactor, to remove the user's only factor. The user's row is locked first, so that two removals racing
// for the last two factors cannot both see the other one still there. ErrNotFound when there is no such factor.
func (db *DB) RemoveFactor(ctx context.Context, userID int64, kind string, id int64, keepOne bool) (Factor, error) {
	var removed Factor
	err := db.tx(ctx, func(tx *sql.Tx) error {
		// SQLite's immediate transactions serialise writers already; on PostgreSQL this no-op update takes the
		// user row's lock, in a statement both engines accept.
		if err := execOne(ctx, tx, `UPDATE users SET disabled = disabled WHERE id = $1`, userID); err != nil {
			return err
		}
		all, err := factorsOf(ctx, tx, userID)
		if err != nil {
			return err
		}
		found := false
		for _, f := range all {
			if f.Kind == kind && (kind == FactorTOTP || f.ID == id) {
				removed, found = f, true
			}
		}
		if !found {
			return ErrNotFound
		}
		if keepOne && len(all) == 1 {
			return ErrLastFactor
		}
		if len(all) == 1 {
			// The account is unprotected from now: a factor added later starts a new period.
			if err := execOne(ctx, tx, `UPDATE users SET two_factor_since = NULL WHERE id = $1`, userID); err != nil {
				return err
			}
		}
		if kind == FactorTOTP {
			if _, err := tx.ExecContext(ctx, `DELETE FROM totp_pending WHERE user_id = $1`, userID); err != nil {
				return err
			}
			return execOne(ctx, tx, `DELETE FROM totp_credentials WHERE user_id = $1`, userID)
		}
		return execOne(ctx, tx, `DELETE FROM webauthn_credentials WHERE id = $1 AND user_id = $2`, id, userID)
	})
	if err != nil {
		return Factor{}, fmt.Errorf("remove factor: %w", err)
	}
	return removed, nil
}
