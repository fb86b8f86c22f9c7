package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Token is what the database knows of an API token: never the token itself, which only the holder has and which
// cannot be re-derived without the server key.
type Token struct {
	ID         string
	UserID     int64
	Name       string
	Projects   []string // normalised names; empty = whole account
	CreatedAt  time.Time
	ExpiresAt  time.Time // zero = never
	LastUsedAt time.Time // zero = never used
	RevokedAt  time.Time // zero = live
}

// CreateToken records a freshly minted token.
func (db *DB) CreateToken(ctx context.Context, t Token) error {
	_, err := db.sql.ExecContext(ctx,
		`INSERT INTO api_tokens (id, user_id, name, projects, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		t.ID, t.UserID, t.Name, strings.Join(t.Projects, " "), micros(t.CreatedAt), nullMicros(t.ExpiresAt))
	if isUniqueViolation(err) {
		return fmt.Errorf("create token: %w", ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	return nil
}

const tokenColumns = `id, user_id, name, projects, created_at, expires_at, last_used_at, revoked_at`

func scanToken(row interface{ Scan(...any) error }) (Token, error) {
	var t Token
	var projects string
	var created int64
	var expires, used, revoked sql.NullInt64
	if err := row.Scan(&t.ID, &t.UserID, &t.Name, &projects, &created, &expires, &used, &revoked); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Token{}, ErrNotFound
		}
		return Token{}, err
	}
	t.Projects = strings.Fields(projects)
	t.CreatedAt, t.ExpiresAt = fromMicros(created), fromNullMicros(expires)
	t.LastUsedAt, t.RevokedAt = fromNullMicros(used), fromNullMicros(revoked)
	return t, nil
}

// TokenByID finds a token record, revoked or not.
func (db *DB) TokenByID(ctx context.Context, id string) (Token, error) {
	t, err := scanToken(db.sql.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE id = $1`, id))
	if err != nil {
		return Token{}, fmt.Errorf("token: %w", err)
	}
	return t, nil
}

// TokensForUser lists a user's tokens, newest first.
func (db *DB) TokensForUser(ctx context.Context, userID int64) ([]Token, error) {
	rows, err := db.sql.QueryContext(ctx,
		`SELECT `+tokenColumns+` FROM api_tokens WHERE user_id = $1 ORDER BY created_at DESC, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// TouchToken records a use and reports whether it was the first one.
func (db *DB) TouchToken(ctx context.Context, id string, now time.Time) (first bool, err error) {
	var prev sql.NullInt64
	err = db.tx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT last_used_at FROM api_tokens WHERE id = $1`, id).Scan(&prev); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = $1 WHERE id = $2`, micros(now), id)
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("touch token: %w", ErrNotFound)
	}
	if err != nil {
		return false, fmt.Errorf("touch token: %w", err)
	}
	return !prev.Valid, nil
}

// RevokeToken marks a token revoked; revoking twice keeps the first time. The user id guards against one user
// revoking another's token by id.
func (db *DB) RevokeToken(ctx context.Context, userID int64, id string, now time.Time) error {
	res, err := db.sql.ExecContext(ctx,
		`UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 AND user_id = $3`, micros(now), id, userID)
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("revoke token: %w", ErrNotFound)
	}
	return nil
}
