package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// WebAuthnCredential is a registered security key or passkey: everything a later assertion is checked against.
type WebAuthnCredential struct {
	ID           int64
	UserID       int64
	CredentialID []byte
	PublicKey    []byte // COSE_Key
	SignCount    uint32
	AAGUID       []byte
	Transports   []string
	// AttestationFormat is the attestation statement's format at registration ("none" here); go-webauthn wants it
	// back for the FIDO AppID extension.
	AttestationFormat string
	BackupEligible    bool
	BackupState       bool
	Discoverable      bool
	Label             string
	CreatedAt         time.Time
	LastUsedAt        time.Time
}

// WebAuthnChallenge is a ceremony begun and not yet finished. Session is the relying party's state for it (the
// library's session data, opaque to the store).
type WebAuthnChallenge struct {
	Binding   string
	Purpose   string
	UserID    int64 // 0 = not yet known (passkey login)
	Passkey   bool
	Session   []byte
	CreatedAt time.Time
	ExpiresAt time.Time
}

const webauthnCredentialColumns = `id, user_id, credential_id, public_key, sign_count, aaguid, transports, attestation_format,
	backup_eligible, backup_state, discoverable, label, created_at, last_used_at`

func scanWebAuthnCredential(row interface{ Scan(...any) error }) (WebAuthnCredential, error) {
	var c WebAuthnCredential
	var count, created int64
	var transports string
	var used sql.NullInt64
	err := row.Scan(&c.ID, &c.UserID, &c.CredentialID, &c.PublicKey, &count, &c.AAGUID, &transports, &c.AttestationFormat,
		&c.BackupEligible, &c.BackupState, &c.Discoverable, &c.Label, &created, &used)
	if err != nil {
		return WebAuthnCredential{}, err
	}
	c.SignCount = uint32(count)
	if transports != "" {
		c.Transports = strings.Split(transports, ",")
	}
	c.CreatedAt, c.LastUsedAt = fromMicros(created), fromNullMicros(used)
	return c, nil
}

// PutWebAuthnChallenge stores a challenge, replacing any earlier one of the same binding and purpose so that only
// the latest ceremony can finish. Lapsed challenges of every binding go at the same time: abandoned ceremonies do
// not pile up.
func (db *DB) PutWebAuthnChallenge(ctx context.Context, c WebAuthnChallenge) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM webauthn_challenges WHERE expires_at <= $1`, micros(c.CreatedAt)); err != nil {
			return err
		}
		var user sql.NullInt64
		if c.UserID != 0 {
			user = sql.NullInt64{Int64: c.UserID, Valid: true}
		}
		_, err := tx.ExecContext(ctx,
			`INSERT INTO webauthn_challenges (binding, purpose, user_id, passkey, session, created_at, expires_at)
			 VALUES ($1, $2, $3, $4, $5, $6, $7)
			 ON CONFLICT (binding, purpose) DO UPDATE SET user_id = $3, passkey = $4, session = $5, created_at = $6, expires_at = $7`,
			c.Binding, c.Purpose, user, c.Passkey, c.Session, micros(c.CreatedAt), micros(c.ExpiresAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("put webauthn challenge: %w", err)
	}
	return nil
}

// TakeWebAuthnChallenge removes and returns the challenge of binding and purpose. It is one DELETE ... RETURNING, so
// of any number of concurrent finishes exactly one gets it. A lapsed challenge is removed too but reported as
// ErrNotFound, like one that never was.
func (db *DB) TakeWebAuthnChallenge(ctx context.Context, binding, purpose string, now time.Time) (WebAuthnChallenge, error) {
	c := WebAuthnChallenge{Binding: binding, Purpose: purpose}
	var user sql.NullInt64
	var created, expires int64
	err := db.sql.QueryRowContext(ctx,
		`DELETE FROM webauthn_challenges WHERE binding = $1 AND purpose = $2
		 RETURNING user_id, passkey, session, created_at, expires_at`,
		binding, purpose).Scan(&user, &c.Passkey, &c.Session, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return WebAuthnChallenge{}, fmt.Errorf("take webauthn challenge: %w", ErrNotFound)
	}
	if err != nil {
		return WebAuthnChallenge{}, fmt.Errorf("take webauthn challenge: %w", err)
	}
	if expires <= micros(now) {
		return WebAuthnChallenge{}, fmt.Errorf("take webauthn challenge: lapsed: %w", ErrNotFound)
	}
	c.UserID = user.Int64
	c.CreatedAt, c.ExpiresAt = fromMicros(created), fromMicros(expires)
	return c, nil
}

// EnsureWebAuthnUserHandle gives the user handle as their WebAuthn user handle unless they already have one, and
// returns the one they have. Concurrent first registrations all get the same handle.
func (db *DB) EnsureWebAuthnUserHandle(ctx context.Context, userID int64, handle []byte, now time.Time) ([]byte, error) {
	if _, err := db.sql.ExecContext(ctx,
		`INSERT INTO webauthn_user_handles (user_id, handle, created_at) VALUES ($1, $2, $3) ON CONFLICT (user_id) DO NOTHING`,
		userID, handle, micros(now)); isUniqueViolation(err) {
		// Another user holds these very bytes: with 32 random bytes, a bug rather than bad luck.
		return nil, fmt.Errorf("ensure webauthn user handle: %w", ErrConflict)
	} else if err != nil {
		return nil, fmt.Errorf("ensure webauthn user handle: %w", err)
	}
	h, err := db.WebAuthnUserHandle(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("ensure webauthn user handle: %w", err)
	}
	return h, nil
}

// WebAuthnUserHandle returns the user's handle, or ErrNotFound when they never registered a key.
func (db *DB) WebAuthnUserHandle(ctx context.Context, userID int64) ([]byte, error) {
	var h []byte
	err := db.sql.QueryRowContext(ctx, `SELECT handle FROM webauthn_user_handles WHERE user_id = $1`, userID).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("webauthn user handle: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("webauthn user handle: %w", err)
	}
	return h, nil
}

// UserByWebAuthnHandle returns the id of the user whose handle it is, or ErrNotFound.
func (db *DB) UserByWebAuthnHandle(ctx context.Context, handle []byte) (int64, error) {
	var id int64
	err := db.sql.QueryRowContext(ctx, `SELECT user_id FROM webauthn_user_handles WHERE handle = $1`, handle).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("user by webauthn handle: %w", ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("user by webauthn handle: %w", err)
	}
	return id, nil
}

// AddWebAuthnCredential stores a new credential; ErrConflict when its credential id is registered already, to
// anyone. The UNIQUE constraint decides, so two racing registrations of one credential cannot both succeed.
func (db *DB) AddWebAuthnCredential(ctx context.Context, c WebAuthnCredential) (WebAuthnCredential, error) {
	c.CreatedAt = fromMicros(micros(c.CreatedAt))
	c.LastUsedAt = time.Time{}
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx,
			`INSERT INTO webauthn_credentials (user_id, credential_id, public_key, sign_count, aaguid, transports,
			 attestation_format, backup_eligible, backup_state, discoverable, label, created_at)
			 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`,
			c.UserID, c.CredentialID, c.PublicKey, int64(c.SignCount), c.AAGUID, strings.Join(c.Transports, ","),
			c.AttestationFormat, c.BackupEligible, c.BackupState, c.Discoverable, c.Label, micros(c.CreatedAt)).Scan(&c.ID); err != nil {
			return err
		}
		return twoFactorAdded(ctx, tx, c.UserID, c.CreatedAt)
	})
	if isUniqueViolation(err) {
		return WebAuthnCredential{}, fmt.Errorf("add webauthn credential: %w", ErrConflict)
	}
	if err != nil {
		return WebAuthnCredential{}, fmt.Errorf("add webauthn credential: %w", err)
	}
	return c, nil
}

// WebAuthnCredentials returns the user's credentials, oldest first.
func (db *DB) WebAuthnCredentials(ctx context.Context, userID int64) ([]WebAuthnCredential, error) {
	rows, err := db.sql.QueryContext(ctx,
		`SELECT `+webauthnCredentialColumns+` FROM webauthn_credentials WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("webauthn credentials: %w", err)
	}
	defer rows.Close()
	var out []WebAuthnCredential
	for rows.Next() {
		c, err := scanWebAuthnCredential(rows)
		if err != nil {
			return nil, fmt.Errorf("webauthn credentials: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("webauthn credentials: %w", err)
	}
	return out, nil
}

// WebAuthnCredentialByCredentialID finds a credential by the id its authenticator gave it, whoever owns it; or
// ErrNotFound.
func (db *DB) WebAuthnCredentialByCredentialID(ctx context.Context, credentialID []byte) (WebAuthnCredential, error) {
	c, err := scanWebAuthnCredential(db.sql.QueryRowContext(ctx,
		`SELECT `+webauthnCredentialColumns+` FROM webauthn_credentials WHERE credential_id = $1`, credentialID))
	if errors.Is(err, sql.ErrNoRows) {
		return WebAuthnCredential{}, fmt.Errorf("webauthn credential: %w", ErrNotFound)
	}
	if err != nil {
		return WebAuthnCredential{}, fmt.Errorf("webauthn credential: %w", err)
	}
	return c, nil
}

// UseWebAuthnCredential records an accepted assertion: the new signature count, the latest backup state and the
// time. It is one conditional UPDATE that changes the row only if count is above the stored count, or both are 0
// (an authenticator without a counter), so of two concurrent assertions carrying the same count only one passes;
// the other, and any count at or below the stored one, gets ErrNotFound.
func (db *DB) UseWebAuthnCredential(ctx context.Context, userID, id int64, count uint32, backupState bool, now time.Time) error {
	err := execOne(ctx, db.sql,
		`UPDATE webauthn_credentials SET sign_count = $1, backup_state = $2, last_used_at = $3
		 WHERE id = $4 AND user_id = $5 AND (sign_count < $1 OR (sign_count = 0 AND $6))`,
		int64(count), backupState, micros(now), id, userID, count == 0)
	if err != nil {
		return fmt.Errorf("use webauthn credential: %w", err)
	}
	return nil
}
