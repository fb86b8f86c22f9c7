package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"wharf/internal/ident"
	"wharf/internal/pypkg"
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

// CreateUser inserts u; ErrConflict when the username or the address is taken, in any spelling that ident.Key
// makes the same.
func (db *DB) CreateUser(ctx context.Context, u User) (User, error) {
	// A username is never an organization's name (as project names are normalised): ErrNameTaken.
	err := db.sql.QueryRowContext(ctx,
		`INSERT INTO users (username, username_key, email, email_key, password_hash, disabled, created_at)
		 SELECT $1, $2, $3, $4, $5, $6, $7 WHERE NOT EXISTS (SELECT 1 FROM organizations WHERE normalized_name = $8)
		 RETURNING id`,
		u.Username, ident.Key(u.Username), u.Email, ident.Key(u.Email), u.PasswordHash, u.Disabled, micros(u.CreatedAt),
		pypkg.NormalizeName(u.Username)).Scan(&u.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("create user %q: %w", u.Username, ErrNameTaken)
	}
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

// UserByName finds a user by username, in any spelling that ident.Key makes the same.
func (db *DB) UserByName(ctx context.Context, username string) (User, error) {
	u, err := scanUser(db.sql.QueryRowContext(ctx,
		`SELECT `+userColumns+` FROM users WHERE username_key = $1`, ident.Key(username)))
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

// rekeyUsers is the part of migration 0006 that SQL cannot do: it sets username_key and email_key of every row to
// ident.Key of the username and the address. The SQL set lower(), which is the key of ASCII text only. Usernames
// are ASCII by the username rule, so their keys should not change; they are checked all the same, since a row
// written by other means would otherwise keep a key that no lookup computes.
//
// Two rows whose addresses (or names) have one key cannot both keep them: the migration stops with their ids, for
// an administrator to change one, rather than choose on its own which account loses its address.
func rekeyUsers(ctx context.Context, tx *sql.Tx, _ Engine) error {
	type rekey struct {
		id                int64
		nameKey, emailKey string
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, username, username_key, email, email_key FROM users ORDER BY id`)
	if err != nil {
		return fmt.Errorf("rekey users: %w", err)
	}
	var changed []rekey
	for rows.Next() {
		var id int64
		var name, nameKey, email, emailKey string
		if err := rows.Scan(&id, &name, &nameKey, &email, &emailKey); err != nil {
			rows.Close()
			return fmt.Errorf("rekey users: %w", err)
		}
		if r := (rekey{id, ident.Key(name), ident.Key(email)}); r.nameKey != nameKey || r.emailKey != emailKey {
			changed = append(changed, r)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("rekey users: %w", err)
	}
	// Every changed row first takes a placeholder (no key starts with a space: keys are trimmed), so that a row
	// moving onto a key another changed row is about to leave never collides with it on the way.
	for _, r := range changed {
		placeholder := " rekey " + strconv.FormatInt(r.id, 10)
		if _, err := tx.ExecContext(ctx, `UPDATE users SET username_key = $1, email_key = $1 WHERE id = $2`, placeholder, r.id); err != nil {
			return fmt.Errorf("rekey user %d: %w", r.id, err)
		}
	}
	for _, r := range changed {
		// PostgreSQL aborts a transaction at its first failed statement, so a collision is looked for before the
		// update rather than recognised by the update's error.
		for _, c := range []struct{ column, key, what string }{
			{"username_key", r.nameKey, "usernames"}, {"email_key", r.emailKey, "email addresses"},
		} {
			var other int64
			err := tx.QueryRowContext(ctx, `SELECT id FROM users WHERE `+c.column+` = $1 AND id <> $2`, c.key, r.id).Scan(&other)
			if err == nil {
				return fmt.Errorf("accounts %d and %d have %s that are the same under the comparison wharf now uses "+
					"(Unicode compatibility forms and case folded); change one of them and start again", min(r.id, other), max(r.id, other), c.what)
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("rekey user %d: %w", r.id, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET username_key = $1, email_key = $2 WHERE id = $3`, r.nameKey, r.emailKey, r.id); err != nil {
			return fmt.Errorf("rekey user %d: %w", r.id, err)
		}
	}
	return nil
}
