package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"wharf/internal/ident"
)

// Account is a user with the state that login, verification and administration need. It is a separate type
// from User so that the statements written before these columns existed keep working unchanged.
type Account struct {
	User
	EmailVerifiedAt   time.Time // zero = not verified
	IsAdmin           bool
	PasswordChangedAt time.Time
	// The account's second factors: whether it has an authenticator app and security keys or passkeys, and since
	// when it has had at least one without a break (zero = none now).
	HasTOTP, HasWebAuthn bool
	TwoFactorSince       time.Time
}

// Session is what the database knows of a browser session: never its token, only the token's hash.
type Session struct {
	ID         string // hex SHA-256 of the token
	UserID     int64
	AuthLevel  string // "password" (second step pending) or "full"
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time // absolute: no activity extends it
	ReauthAt   time.Time // zero = never re-authenticated
	// KeyAt is when the session last proved a security key or passkey, at sign-in or at a re-authentication
	// (zero = never): projects that require keys accept changes only from such sessions.
	KeyAt      time.Time
	IP         string
	UserAgent  string
	CSRFSecret string
}

// Purposes of email tokens; a token minted for one can never be spent for the other.
const (
	PurposeVerifyEmail   = "verify-email"
	PurposeResetPassword = "reset-password"
)

// EmailToken is a single-use link sent by mail, known by the hash of its token.
type EmailToken struct {
	Hash      string
	UserID    int64
	Purpose   string
	Email     string // the address the link was sent to
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero = unused
}

// password_changed_at is NULL for rows inserted by CreateUser, whose password dates from the account's creation.
const accountColumns = `id, username, email, password_hash, disabled, created_at, email_verified_at, is_admin,
	COALESCE(password_changed_at, created_at), two_factor_since,
	EXISTS (SELECT 1 FROM totp_credentials t WHERE t.user_id = users.id),
	EXISTS (SELECT 1 FROM webauthn_credentials w WHERE w.user_id = users.id)`

func scanAccount(row interface{ Scan(...any) error }) (Account, error) {
	var a Account
	var created, changed int64
	var verified, since sql.NullInt64
	err := row.Scan(&a.ID, &a.Username, &a.Email, &a.PasswordHash, &a.Disabled, &created, &verified, &a.IsAdmin, &changed,
		&since, &a.HasTOTP, &a.HasWebAuthn)
	if errors.Is(err, sql.ErrNoRows) {
		return Account{}, ErrNotFound
	}
	if err != nil {
		return Account{}, err
	}
	a.CreatedAt, a.EmailVerifiedAt, a.PasswordChangedAt = fromMicros(created), fromNullMicros(verified), fromMicros(changed)
	a.TwoFactorSince = fromNullMicros(since)
	return a, nil
}

// AccountByID finds an account by user id.
func (db *DB) AccountByID(ctx context.Context, id int64) (Account, error) {
	a, err := scanAccount(db.sql.QueryRowContext(ctx, `SELECT `+accountColumns+` FROM users WHERE id = $1`, id))
	if err != nil {
		return Account{}, fmt.Errorf("account %d: %w", id, err)
	}
	return a, nil
}

// AccountByName finds an account by username, in any spelling that ident.Key makes the same.
func (db *DB) AccountByName(ctx context.Context, username string) (Account, error) {
	a, err := scanAccount(db.sql.QueryRowContext(ctx,
		`SELECT `+accountColumns+` FROM users WHERE username_key = $1`, ident.Key(username)))
	if err != nil {
		// The name is left out: a user who typed a password into the username field must not find it in a log.
		return Account{}, fmt.Errorf("account by name: %w", err)
	}
	return a, nil
}

// AccountByEmail finds the account of an address, in any spelling that ident.Key makes the same (addresses are
// unique in that sense).
func (db *DB) AccountByEmail(ctx context.Context, email string) (Account, error) {
	a, err := scanAccount(db.sql.QueryRowContext(ctx,
		`SELECT `+accountColumns+` FROM users WHERE email_key = $1`, ident.Key(email)))
	if err != nil {
		return Account{}, fmt.Errorf("account by email: %w", err)
	}
	return a, nil
}

// execOne runs a statement that must change exactly one row, and reports ErrNotFound when it changed none.
func execOne(ctx context.Context, ex interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, stmt string, args ...any) error {
	res, err := ex.ExecContext(ctx, stmt, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// SetPassword replaces a password hash and nothing else; SetPasswordAndRevoke is the one a password change needs.
func (db *DB) SetPassword(ctx context.Context, userID int64, hash string, now time.Time) error {
	err := execOne(ctx, db.sql, `UPDATE users SET password_hash = $1, password_changed_at = $2 WHERE id = $3`,
		hash, micros(now), userID)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	return nil
}

// SetPasswordAndRevoke replaces a password hash, ends every session of the user but keepSessionID ("" = all) and
// spends every unused reset link, in one transaction: a change can never leave a thief's session or link alive.
func (db *DB) SetPasswordAndRevoke(ctx context.Context, userID int64, hash string, now time.Time, keepSessionID string) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if err := execOne(ctx, tx, `UPDATE users SET password_hash = $1, password_changed_at = $2 WHERE id = $3`,
			hash, micros(now), userID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1 AND id <> $2`, userID, keepSessionID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE email_tokens SET used_at = $1 WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL`,
			micros(now), userID, PurposeResetPassword)
		return err
	})
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	return nil
}

// SetEmailVerified marks email verified, but only while it is still the user's address: a link sent to an address
// the user has since replaced proves nothing about the new one (ErrNotFound then).
func (db *DB) SetEmailVerified(ctx context.Context, userID int64, email string, now time.Time) error {
	err := execOne(ctx, db.sql,
		`UPDATE users SET email_verified_at = COALESCE(email_verified_at, $1) WHERE id = $2 AND email_key = $3`,
		micros(now), userID, ident.Key(email))
	if err != nil {
		return fmt.Errorf("set email verified: %w", err)
	}
	return nil
}

// SetEmail replaces a user's address, which is then unverified, and spends every unused link sent to the old one.
// ErrConflict when another account has the address, in any spelling that ident.Key makes the same.
func (db *DB) SetEmail(ctx context.Context, userID int64, email string, now time.Time) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if err := execOne(ctx, tx, `UPDATE users SET email = $1, email_key = $2, email_verified_at = NULL WHERE id = $3`,
			email, ident.Key(email), userID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE email_tokens SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL`, micros(now), userID)
		return err
	})
	if isUniqueViolation(err) {
		return fmt.Errorf("set email: %w", ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("set email: %w", err)
	}
	return nil
}

// SetUserDisabled disables an account as DisableUser does, or re-enables one. Re-enabling brings back nothing that
// disabling ended: the user signs in afresh and makes new API tokens.
func (db *DB) SetUserDisabled(ctx context.Context, userID int64, disabled bool, now time.Time) error {
	if disabled {
		_, err := db.DisableUser(ctx, userID, now)
		return err
	}
	if err := execOne(ctx, db.sql, `UPDATE users SET disabled = $1 WHERE id = $2`, false, userID); err != nil {
		return fmt.Errorf("set user disabled: %w", err)
	}
	return nil
}

// DisableUser disables an account and, in the same transaction, ends its sessions, spends its email links and
// revokes its live API tokens, so that nothing started before the ban outlives it, not even once the ban is
// lifted (S6). It says how many tokens it revoked; tokens already revoked or expired are left as they were.
func (db *DB) DisableUser(ctx context.Context, userID int64, now time.Time) (revokedTokens int64, err error) {
	err = db.tx(ctx, func(tx *sql.Tx) error {
		if err := execOne(ctx, tx, `UPDATE users SET disabled = $1 WHERE id = $2`, true, userID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1`, userID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE email_tokens SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL`, micros(now), userID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = $1
			WHERE user_id = $2 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1)`, micros(now), userID)
		if err != nil {
			return err
		}
		revokedTokens, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("disable user: %w", err)
	}
	return revokedTokens, nil
}

// SetAdmin grants or withdraws administration.
func (db *DB) SetAdmin(ctx context.Context, userID int64, admin bool) error {
	if err := execOne(ctx, db.sql, `UPDATE users SET is_admin = $1 WHERE id = $2`, admin, userID); err != nil {
		return fmt.Errorf("set admin: %w", err)
	}
	return nil
}

const sessionInsert = `INSERT INTO sessions (id, user_id, auth_level, created_at, last_seen_at, expires_at, reauth_at, ip,
	user_agent, csrf_secret, key_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`

func sessionArgs(s Session) []any {
	return []any{s.ID, s.UserID, s.AuthLevel, micros(s.CreatedAt), micros(s.LastSeenAt), micros(s.ExpiresAt),
		nullMicros(s.ReauthAt), s.IP, s.UserAgent, s.CSRFSecret, nullMicros(s.KeyAt)}
}

// CreateSession records a new session; ErrConflict if its id exists (which a random token never gives).
func (db *DB) CreateSession(ctx context.Context, s Session) error {
	_, err := db.sql.ExecContext(ctx, sessionInsert, sessionArgs(s)...)
	if isUniqueViolation(err) {
		return fmt.Errorf("create session: %w", ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

const sessionColumns = `id, user_id, auth_level, created_at, last_seen_at, expires_at, reauth_at, ip, user_agent, csrf_secret, key_at`

func scanSession(row interface{ Scan(...any) error }) (Session, error) {
	var s Session
	var created, seen, expires int64
	var reauth, key sql.NullInt64
	err := row.Scan(&s.ID, &s.UserID, &s.AuthLevel, &created, &seen, &expires, &reauth, &s.IP, &s.UserAgent, &s.CSRFSecret, &key)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, ErrNotFound
	}
	if err != nil {
		return Session{}, err
	}
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt, s.ReauthAt = fromMicros(created), fromMicros(seen), fromMicros(expires), fromNullMicros(reauth)
	s.KeyAt = fromNullMicros(key)
	return s, nil
}

// SessionByHash finds a session by the hash of its token, expired or not: expiry is the caller's rule.
func (db *DB) SessionByHash(ctx context.Context, id string) (Session, error) {
	s, err := scanSession(db.sql.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = $1`, id))
	if err != nil {
		return Session{}, fmt.Errorf("session: %w", err)
	}
	return s, nil
}

// SessionsForUser lists a user's sessions, newest first, for a "where you are signed in" page.
func (db *DB) SessionsForUser(ctx context.Context, userID int64) ([]Session, error) {
	rows, err := db.sql.QueryContext(ctx,
		`SELECT `+sessionColumns+` FROM sessions WHERE user_id = $1 ORDER BY created_at DESC, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	var out []Session
	for rows.Next() {
		s, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("list sessions: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// TouchSession moves last_seen_at forward (never back, when two requests race).
func (db *DB) TouchSession(ctx context.Context, id string, now time.Time) error {
	_, err := db.sql.ExecContext(ctx, `UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND last_seen_at < $1`, micros(now), id)
	if err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// SetSessionReauth records a successful re-authentication ("sudo mode"), and with key that it proved a security
// key or passkey; a re-authentication without one leaves an earlier proof of a key in place.
func (db *DB) SetSessionReauth(ctx context.Context, id string, now time.Time, key bool) error {
	err := execOne(ctx, db.sql, `UPDATE sessions SET reauth_at = $1, key_at = CASE WHEN $3 THEN $1 ELSE key_at END WHERE id = $2`,
		micros(now), id, key)
	if err != nil {
		return fmt.Errorf("set session reauth: %w", err)
	}
	return nil
}

// RotateSession replaces the session oldID by next in one transaction. ErrNotFound when oldID is gone, which is
// also what the loser of two concurrent rotations of one session gets: an old id yields at most one new one.
func (db *DB) RotateSession(ctx context.Context, oldID string, next Session) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if err := execOne(ctx, tx, `DELETE FROM sessions WHERE id = $1`, oldID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, sessionInsert, sessionArgs(next)...)
		return err
	})
	if isUniqueViolation(err) {
		return fmt.Errorf("rotate session: %w", ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("rotate session: %w", err)
	}
	return nil
}

// DeleteSession ends one session; ErrNotFound if it was already gone.
func (db *DB) DeleteSession(ctx context.Context, id string) error {
	if err := execOne(ctx, db.sql, `DELETE FROM sessions WHERE id = $1`, id); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteUserSessions ends every session of a user but exceptID ("" = all) and says how many it ended.
func (db *DB) DeleteUserSessions(ctx context.Context, userID int64, exceptID string) (int64, error) {
	res, err := db.sql.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1 AND id <> $2`, userID, exceptID)
	if err != nil {
		return 0, fmt.Errorf("delete user sessions: %w", err)
	}
	return res.RowsAffected()
}

// DeleteStaleSessions removes sessions past their absolute expiry or idle since before idleBefore, for a periodic
// clean-up; lookups refuse them anyway.
func (db *DB) DeleteStaleSessions(ctx context.Context, now, idleBefore time.Time) (int64, error) {
	res, err := db.sql.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2`,
		micros(now), micros(idleBefore))
	if err != nil {
		return 0, fmt.Errorf("delete stale sessions: %w", err)
	}
	return res.RowsAffected()
}

// CreateEmailToken records a link about to be mailed.
func (db *DB) CreateEmailToken(ctx context.Context, t EmailToken) error {
	_, err := db.sql.ExecContext(ctx,
		`INSERT INTO email_tokens (hash, user_id, purpose, email, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		t.Hash, t.UserID, t.Purpose, t.Email, micros(t.CreatedAt), micros(t.ExpiresAt))
	if isUniqueViolation(err) {
		return fmt.Errorf("create email token: %w", ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create email token: %w", err)
	}
	return nil
}

const emailTokenColumns = `hash, user_id, purpose, email, created_at, expires_at, used_at`

func scanEmailToken(row interface{ Scan(...any) error }) (EmailToken, error) {
	var t EmailToken
	var created, expires int64
	var used sql.NullInt64
	err := row.Scan(&t.Hash, &t.UserID, &t.Purpose, &t.Email, &created, &expires, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return EmailToken{}, ErrNotFound
	}
	if err != nil {
		return EmailToken{}, err
	}
	t.CreatedAt, t.ExpiresAt, t.UsedAt = fromMicros(created), fromMicros(expires), fromNullMicros(used)
	return t, nil
}

// EmailTokenByHash reads a link's record without spending it, so that a caller can check what the link is for
// (and refuse a weak new password) before it burns the link.
func (db *DB) EmailTokenByHash(ctx context.Context, hash string) (EmailToken, error) {
	t, err := scanEmailToken(db.sql.QueryRowContext(ctx, `SELECT `+emailTokenColumns+` FROM email_tokens WHERE hash = $1`, hash))
	if err != nil {
		return EmailToken{}, fmt.Errorf("email token: %w", err)
	}
	return t, nil
}

// UseEmailToken spends a link: one statement that succeeds for exactly one caller however many race, and only
// while the link is unused, unexpired and minted for purpose. ErrNotFound otherwise, without saying which.
func (db *DB) UseEmailToken(ctx context.Context, hash, purpose string, now time.Time) (EmailToken, error) {
	t, err := scanEmailToken(db.sql.QueryRowContext(ctx,
		`UPDATE email_tokens SET used_at = $1
		 WHERE hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1
		 RETURNING `+emailTokenColumns, micros(now), hash, purpose))
	if err != nil {
		return EmailToken{}, fmt.Errorf("use email token: %w", err)
	}
	return t, nil
}

// InvalidateEmailTokens spends every unused link of one purpose for a user and says how many there were.
func (db *DB) InvalidateEmailTokens(ctx context.Context, userID int64, purpose string, now time.Time) (int64, error) {
	res, err := db.sql.ExecContext(ctx,
		`UPDATE email_tokens SET used_at = $1 WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL`, micros(now), userID, purpose)
	if err != nil {
		return 0, fmt.Errorf("invalidate email tokens: %w", err)
	}
	return res.RowsAffected()
}

// DeleteExpiredEmailTokens removes links that expired before a time, for a periodic clean-up.
func (db *DB) DeleteExpiredEmailTokens(ctx context.Context, before time.Time) (int64, error) {
	res, err := db.sql.ExecContext(ctx, `DELETE FROM email_tokens WHERE expires_at <= $1`, micros(before))
	if err != nil {
		return 0, fmt.Errorf("delete expired email tokens: %w", err)
	}
	return res.RowsAffected()
}
