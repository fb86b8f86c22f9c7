package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// User is an account.
type User struct {
	ID           int64
	Username     string
	Email        string
	PasswordHash string
	Disabled     bool
	CreatedAt    time.Time
}

// UsernameKey is the case-insensitive key that makes "Alice" and "alice" the same account.
func UsernameKey(username string) string { return strings.ToLower(strings.TrimSpace(username)) }

// CreateUser inserts u; ErrConflict when the username is taken.
func (db *DB) CreateUser(ctx context.Context, u User) (User, error) {
	err := db.sql.QueryRowContext(ctx,
		`INSERT INTO users (username, username_key, email, password_hash, disabled, created_at)
		 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
		u.Username, UsernameKey(u.Username), u.Email, u.PasswordHash, u.Disabled, micros(u.CreatedAt)).Scan(&u.ID)
	if isUniqueViolation(err) {
		return User{}, fmt.Errorf("create user %q: %w", u.Username, ErrConflict)
	}
	if err != nil {
		return User{}, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}

const userColumns = `id, username, email, password_hash, disabled, created_at`

func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var u User
	var created int64
	if err := row.Scan(&u.ID, &u.Username, &u.Email, &u.PasswordHash, &u.Disabled, &created); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return User{}, ErrNotFound
		}
		return User{}, err
	}
	u.CreatedAt = fromMicros(created)
	return u, nil
}

// UserByName finds a user by username, case-insensitively.
func (db *DB) UserByName(ctx context.Context, username string) (User, error) {
	u, err := scanUser(db.sql.QueryRowContext(ctx,
		`SELECT `+userColumns+` FROM users WHERE username_key = $1`, UsernameKey(username)))
	if err != nil {
		return User{}, fmt.Errorf("user %q: %w", username, err)
	}
	return u, nil
}

// UserByID finds a user by id.
func (db *DB) UserByID(ctx context.Context, id int64) (User, error) {
	u, err := scanUser(db.sql.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if err != nil {
		return User{}, fmt.Errorf("user %d: %w", id, err)
	}
	return u, nil
}
