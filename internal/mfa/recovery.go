package mfa

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"

	"wharf/internal/audit"
	"wharf/internal/store"
)

const (
	// RecoveryCodeCount codes are issued at a time.
	RecoveryCodeCount = 8
	// 10 random bytes are 80 bits, 16 base32 characters: beyond guessing online, and 4 groups of 4 to copy by hand.
	recoveryBytes = 10
	recoveryChars = 16
	saltSize      = 16
)

// Lower-case base32 reads more easily than upper case; the standard alphabet already leaves out 0, 1, 8 and 9.
var recoveryEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Recovery issues and spends recovery codes. Callers check re-authentication before Regenerate and the 2FA rate
// limit before Use.
type Recovery struct {
	db  *store.DB
	rec Recorder
	now func() time.Time
}

// NewRecovery returns the recovery-code service; rec may be nil.
func NewRecovery(db *store.DB, rec Recorder, now func() time.Time) *Recovery {
	if rec == nil {
		rec = nopRecorder{}
	}
	return &Recovery{db: db, rec: rec, now: now}
}

// Regenerate issues a new set of codes and voids every earlier one in the same transaction. The codes are returned
// formatted for display, this once: only salted hashes are kept.
func (r *Recovery) Regenerate(ctx context.Context, userID int64, from audit.Request) ([]string, error) {
	codes := make([]string, RecoveryCodeCount)
	rows := make([]store.RecoveryCode, RecoveryCodeCount)
	for i := range codes {
		raw := make([]byte, recoveryBytes)
		rand.Read(raw)
		plain := recoveryEncoding.EncodeToString(raw)
		salt := make([]byte, saltSize)
		rand.Read(salt)
		rows[i] = store.RecoveryCode{UserID: userID, Salt: salt, Hash: recoveryHash(salt, plain)}
		codes[i] = plain[0:4] + "-" + plain[4:8] + "-" + plain[8:12] + "-" + plain[12:16]
	}
	if err := r.db.ReplaceRecoveryCodes(ctx, userID, rows, r.now()); err != nil {
		return nil, fmt.Errorf("regenerate recovery codes: %w", err)
	}
	record(ctx, r.rec, RecoveryRegenerated, userID, from, "")
	return codes, nil
}

// recoveryHash is keyed by a per-code salt: the codes carry 80 random bits, so a fast keyed hash is enough and no
// two rows can be compared or looked up by hash.
func recoveryHash(salt []byte, code string) []byte {
	m := hmac.New(sha256.New, salt)
	m.Write([]byte(code))
	return m.Sum(nil)
}

// NormalizeRecoveryCode accepts a code as people retype it: any case, with or without the dashes, spaces or line
// breaks, full-width characters folded. It returns the 16 characters that were hashed, or false.
func NormalizeRecoveryCode(s string) (string, bool) {
	s = strings.Map(func(r rune) rune {
		if r == '-' || r == '‐' || r == '–' || r == '—' || r == '_' || r == ' ' || r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, strings.ToLower(norm.NFKC.String(s)))
	if len(s) != recoveryChars {
		return "", false
	}
	if _, err := recoveryEncoding.DecodeString(s); err != nil {
		return "", false
	}
	return s, true
}

// Use spends one recovery code of the user and returns how many unused codes remain. Of any number of concurrent
// uses of one code, exactly one succeeds; the rest get ErrWrongCode, like any other wrong code.
func (r *Recovery) Use(ctx context.Context, userID int64, code string, from audit.Request) (remaining int, err error) {
	plain, ok := NormalizeRecoveryCode(code)
	if !ok {
		return 0, fmt.Errorf("use recovery code: %w", ErrWrongCode)
	}
	rows, err := r.db.UnusedRecoveryCodes(ctx, userID)
	if err != nil {
		return 0, fmt.Errorf("use recovery code: %w", err)
	}
	// Every row is hashed and compared, matched or not, so the time taken does not tell which position matched.
	var match int64
	found := false
	for _, c := range rows {
		if hmac.Equal(recoveryHash(c.Salt, plain), c.Hash) && !found {
			match, found = c.ID, true
		}
	}
	if !found {
		return 0, fmt.Errorf("use recovery code: %w", ErrWrongCode)
	}
	left, err := r.db.UseRecoveryCode(ctx, userID, match, r.now())
	if errors.Is(err, store.ErrNotFound) {
		return 0, fmt.Errorf("use recovery code: %w", ErrWrongCode)
	}
	if err != nil {
		return 0, fmt.Errorf("use recovery code: %w", err)
	}
	record(ctx, r.rec, RecoveryUsed, userID, from, strconv.Itoa(left)+" left")
	return left, nil
}

// Remaining says how many unused recovery codes the user has, for the account page.
func (r *Recovery) Remaining(ctx context.Context, userID int64) (int, error) {
	rows, err := r.db.UnusedRecoveryCodes(ctx, userID)
	if err != nil {
		return 0, fmt.Errorf("recovery codes remaining: %w", err)
	}
	return len(rows), nil
}
