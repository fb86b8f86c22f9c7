package mfa

import (
	"context"
	"errors"
	"fmt"
	"time"

	"wharf/internal/audit"
	"wharf/internal/store"
)

// pendingFor is how long a shown QR code can be confirmed: long enough to find the phone, short enough that a
// secret glimpsed on a shared screen soon stops mattering.
const pendingFor = 10 * time.Minute

// TOTP enrols and checks authenticator apps; Factors removes them, under the policy. Callers check
// re-authentication (T6) and the 2FA rate limit (R3) before calling it; it does neither itself.
type TOTP struct {
	db     *store.DB
	seal   sealer
	issuer string
	rec    Recorder
	now    func() time.Time
}

// NewTOTP returns the TOTP service. serverSecret is the server's long-term secret (at least 32 bytes), from which
// the at-rest key is derived; issuer is the name authenticator apps show. rec may be nil.
func NewTOTP(db *store.DB, serverSecret []byte, issuer string, rec Recorder, now func() time.Time) (*TOTP, error) {
	s, err := newSealer(serverSecret)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		rec = nopRecorder{}
	}
	return &TOTP{db: db, seal: s, issuer: issuer, rec: rec, now: now}, nil
}

// Begin starts enrolment: it returns a new secret and its otpauth:// URI for a QR code. This is the only time the
// secret leaves the package; it is kept, sealed, only until Confirm or pendingFor. A new Begin replaces an
// unconfirmed one.
func (s *TOTP) Begin(ctx context.Context, userID int64, label string) (secret []byte, keyURI string, err error) {
	acct, err := s.db.AccountByID(ctx, userID)
	if err != nil {
		return nil, "", fmt.Errorf("begin totp: %w", err)
	}
	if _, err := s.db.TOTPCredentialFor(ctx, userID); err == nil {
		return nil, "", fmt.Errorf("begin totp: %w", ErrAlreadyEnrolled)
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, "", fmt.Errorf("begin totp: %w", err)
	}
	secret = NewTOTPSecret()
	now := s.now()
	err = s.db.PutTOTPPending(ctx, store.TOTPPending{
		UserID: userID, Sealed: s.seal.seal(userID, secret), Label: cleanLabel(label, "Authenticator app"), CreatedAt: now, ExpiresAt: now.Add(pendingFor),
	})
	if err != nil {
		return nil, "", fmt.Errorf("begin totp: %w", err)
	}
	return secret, KeyURI(s.issuer, acct.Username, secret), nil
}

// SkewError is a wrong code at enrolment that would have been right on a device whose clock is off by Offset
// (positive: the device is ahead). It is an ErrWrongCode.
type SkewError struct{ Offset time.Duration }

func (e *SkewError) Error() string {
	return fmt.Sprintf("wrong code: the device's clock is off by about %d minutes", int(e.Offset.Round(time.Minute)/time.Minute))
}

func (e *SkewError) Is(target error) bool { return target == ErrWrongCode }

// Confirm activates the pending secret once code proves the user's app holds it. The confirming code's step is
// spent at once, so a code seen over the user's shoulder during setup cannot log in.
func (s *TOTP) Confirm(ctx context.Context, userID int64, code string, from audit.Request) error {
	now := s.now()
	p, err := s.db.TOTPPendingFor(ctx, userID, now)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("confirm totp: %w", ErrNoEnrolment)
	}
	if err != nil {
		return fmt.Errorf("confirm totp: %w", err)
	}
	secret, err := s.seal.open(userID, p.Sealed)
	if err != nil {
		return fmt.Errorf("confirm totp: %w", err)
	}
	step, ok := Verify(secret, code, now)
	if !ok {
		if off, ok := ClockSkew(secret, code, now); ok && off != 0 {
			return fmt.Errorf("confirm totp: %w", &SkewError{Offset: off})
		}
		return fmt.Errorf("confirm totp: %w", ErrWrongCode)
	}
	c, err := s.db.ActivateTOTP(ctx, userID, p.Sealed, step, now)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// A newer Begin replaced the secret between our read and now, or it just lapsed.
		return fmt.Errorf("confirm totp: %w", ErrNoEnrolment)
	case errors.Is(err, store.ErrConflict):
		return fmt.Errorf("confirm totp: %w", ErrAlreadyEnrolled)
	case err != nil:
		return fmt.Errorf("confirm totp: %w", err)
	}
	record(ctx, s.rec, TOTPAdded, userID, from, c.Label)
	return nil
}

// Check accepts a login code: right for a step within one of now, and that step later than any accepted before.
// Of any number of concurrent checks with the same code, exactly one succeeds.
func (s *TOTP) Check(ctx context.Context, userID int64, code string) error {
	c, err := s.db.TOTPCredentialFor(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("check totp: %w", ErrNotEnrolled)
	}
	if err != nil {
		return fmt.Errorf("check totp: %w", err)
	}
	secret, err := s.seal.open(userID, c.Sealed)
	if err != nil {
		return fmt.Errorf("check totp: %w", err)
	}
	now := s.now()
	step, ok := Verify(secret, code, now)
	if !ok {
		return fmt.Errorf("check totp: %w", ErrWrongCode)
	}
	// The read above may be stale; the conditional UPDATE is what decides a race.
	if err := s.db.AcceptTOTPStep(ctx, userID, step, now); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("check totp: %w", ErrReplay)
	} else if err != nil {
		return fmt.Errorf("check totp: %w", err)
	}
	return nil
}

// Enrolled reports whether the user has a confirmed authenticator app.
func (s *TOTP) Enrolled(ctx context.Context, userID int64) (bool, error) {
	_, err := s.db.TOTPCredentialFor(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("totp enrolled: %w", err)
	}
	return true, nil
}
