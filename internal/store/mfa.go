package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// TOTPCredential is a user's confirmed authenticator app. Sealed is the encrypted secret: the store never sees the
// plain one.
type TOTPCredential struct {
	UserID     int64
	Sealed     []byte
	Label      string
	CreatedAt  time.Time
	LastUsedAt time.Time
	// LastStep is the last accepted time step; only a later step is accepted.
	LastStep int64
}

// TOTPPending is a secret shown during enrolment and not yet proven by a code.
type TOTPPending struct {
	UserID    int64
	Sealed    []byte
	Label     string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// RecoveryCode is one stored recovery code: a salt and the HMAC of the code under it, never the code.
type RecoveryCode struct {
	ID        int64
	UserID    int64
	Salt      []byte
	Hash      []byte
	CreatedAt time.Time
	UsedAt    time.Time
}

// PutTOTPPending starts or restarts an enrolment: a new Begin replaces the secret an earlier one showed, so only
// the latest QR code can be confirmed.
func (db *DB) PutTOTPPending(ctx context.Context, p TOTPPending) error {
	_, err := db.sql.ExecContext(ctx,
		`INSERT INTO totp_pending (user_id, secret_sealed, label, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)
		 ON CONFLICT (user_id) DO UPDATE SET secret_sealed = $2, label = $3, created_at = $4, expires_at = $5`,
		p.UserID, p.Sealed, p.Label, micros(p.CreatedAt), micros(p.ExpiresAt))
	if err != nil {
		return fmt.Errorf("put pending totp: %w", err)
	}
	return nil
}

// TOTPPendingFor returns the user's enrolment in progress; ErrNotFound when there is none or it has lapsed.
func (db *DB) TOTPPendingFor(ctx context.Context, userID int64, now time.Time) (TOTPPending, error) {
	p := TOTPPending{UserID: userID}
	var created, expires int64
	err := db.sql.QueryRowContext(ctx,
		`SELECT secret_sealed, label, created_at, expires_at FROM totp_pending WHERE user_id = $1 AND expires_at > $2`,
		userID, micros(now)).Scan(&p.Sealed, &p.Label, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return TOTPPending{}, fmt.Errorf("pending totp: %w", ErrNotFound)
	}
	if err != nil {
		return TOTPPending{}, fmt.Errorf("pending totp: %w", err)
	}
	p.CreatedAt, p.ExpiresAt = fromMicros(created), fromMicros(expires)
	return p, nil
}

// ActivateTOTP turns the pending secret sealed into the user's credential, with step (the step of the confirming
// code) already spent so that the confirming code cannot log in afterwards. It fails with ErrNotFound when the
// pending secret is gone, lapsed or was replaced by a newer Begin since it was checked, and with ErrConflict when
// the user already has a credential.
func (db *DB) ActivateTOTP(ctx context.Context, userID int64, sealed []byte, step int64, now time.Time) (TOTPCredential, error) {
	c := TOTPCredential{UserID: userID, Sealed: sealed, CreatedAt: fromMicros(micros(now)), LastStep: step}
	err := db.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx,
			`DELETE FROM totp_pending WHERE user_id = $1 AND secret_sealed = $2 AND expires_at > $3 RETURNING label`,
			userID, sealed, micros(now)).Scan(&c.Label)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx,
			`INSERT INTO totp_credentials (user_id, secret_sealed, label, created_at, totp_last_step) VALUES ($1, $2, $3, $4, $5)`,
			userID, sealed, c.Label, micros(now), step)
		if isUniqueViolation(err) {
			return ErrConflict
		}
		if err != nil {
			return err
		}
		return twoFactorAdded(ctx, tx, userID, now)
	})
	if err != nil {
		return TOTPCredential{}, fmt.Errorf("activate totp: %w", err)
	}
	return c, nil
}

// TOTPCredentialFor returns the user's confirmed credential, or ErrNotFound.
func (db *DB) TOTPCredentialFor(ctx context.Context, userID int64) (TOTPCredential, error) {
	c := TOTPCredential{UserID: userID}
	var created int64
	var used sql.NullInt64
	err := db.sql.QueryRowContext(ctx,
		`SELECT secret_sealed, label, created_at, last_used_at, totp_last_step FROM totp_credentials WHERE user_id = $1`,
		userID).Scan(&c.Sealed, &c.Label, &created, &used, &c.LastStep)
	if errors.Is(err, sql.ErrNoRows) {
		return TOTPCredential{}, fmt.Errorf("totp credential: %w", ErrNotFound)
	}
	if err != nil {
		return TOTPCredential{}, fmt.Errorf("totp credential: %w", err)
	}
	c.CreatedAt, c.LastUsedAt = fromMicros(created), fromNullMicros(used)
	return c, nil
}

// AcceptTOTPStep spends time step for the user. It is one conditional UPDATE, so however many requests race with
// the same code exactly one sees a row changed; every other one, and any later code of the same or an earlier step,
// gets ErrNotFound.
func (db *DB) AcceptTOTPStep(ctx context.Context, userID, step int64, now time.Time) error {
	err := execOne(ctx, db.sql,
		`UPDATE totp_credentials SET totp_last_step = $1, last_used_at = $2 WHERE user_id = $3 AND totp_last_step < $1`,
		step, micros(now), userID)
	if err != nil {
		return fmt.Errorf("accept totp step: %w", err)
	}
	return nil
}

// ReplaceRecoveryCodes voids every recovery code of the user, used or not, and stores codes, in one transaction:
// no moment exists in which both sets, or neither, would work.
func (db *DB) ReplaceRecoveryCodes(ctx context.Context, userID int64, codes []RecoveryCode, now time.Time) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, userID); err != nil {
			return err
		}
		for _, c := range codes {
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO recovery_codes (user_id, salt, hash, created_at) VALUES ($1, $2, $3, $4)`,
				userID, c.Salt, c.Hash, micros(now)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("replace recovery codes: %w", err)
	}
	return nil
}

// UnusedRecoveryCodes returns the codes of the user that can still be used, oldest first.
func (db *DB) UnusedRecoveryCodes(ctx context.Context, userID int64) ([]RecoveryCode, error) {
	rows, err := db.sql.QueryContext(ctx,
		`SELECT id, salt, hash, created_at FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL ORDER BY id`, userID)
	if err != nil {
		return nil, fmt.Errorf("recovery codes: %w", err)
	}
	defer rows.Close()
	var out []RecoveryCode
	for rows.Next() {
		c := RecoveryCode{UserID: userID}
		var created int64
		if err := rows.Scan(&c.ID, &c.Salt, &c.Hash, &created); err != nil {
			return nil, fmt.Errorf("recovery codes: %w", err)
		}
		c.CreatedAt = fromMicros(created)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("recovery codes: %w", err)
	}
	return out, nil
}

// UseRecoveryCode spends one code and returns how many unused ones the user has left. The conditional UPDATE lets
// exactly one of any number of racing requests spend a code; the others get ErrNotFound.
func (db *DB) UseRecoveryCode(ctx context.Context, userID, id int64, now time.Time) (int, error) {
	var left int
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if err := execOne(ctx, tx,
			`UPDATE recovery_codes SET used_at = $1 WHERE id = $2 AND user_id = $3 AND used_at IS NULL`,
			micros(now), id, userID); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx,
			`SELECT count(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL`, userID).Scan(&left)
	})
	if err != nil {
		return 0, fmt.Errorf("use recovery code: %w", err)
	}
	return left, nil
}

// twoFactorAdded starts the account's protection by second factors at now, unless it already had one.
func twoFactorAdded(ctx context.Context, tx *sql.Tx, userID int64, now time.Time) error {
	_, err := tx.ExecContext(ctx, `UPDATE users SET two_factor_since = COALESCE(two_factor_since, $1) WHERE id = $2`,
		micros(now), userID)
	return err
}
