package mfa

import (
	"context"
	"errors"

	"wharf/internal/audit"
)

// Kinds of the security events this package records. They are stable strings: the history pages, alerts and
// scripts read them. Details name counts and labels, never a secret, a code or a recovery code.
const (
	TOTPAdded           = "mfa:totp-added"
	TOTPRemoved         = "mfa:totp-removed"
	RecoveryRegenerated = "mfa:recovery-regenerated"
	RecoveryUsed        = "mfa:recovery-used"
	// WebAuthnAdded and WebAuthnRemoved name the key's label.
	WebAuthnAdded   = "mfa:webauthn-added"
	WebAuthnRemoved = "mfa:webauthn-removed"
	// WebAuthnCloneSuspected names the key's label and the presented and stored sign counts.
	WebAuthnCloneSuspected = "mfa:webauthn-clone-suspected"
)

// Recorder appends to the security history; *audit.Log is one.
type Recorder interface {
	Record(ctx context.Context, kind string, userID, projectID int64, from audit.Request, detail string) error
}

type nopRecorder struct{}

func (nopRecorder) Record(context.Context, string, int64, int64, audit.Request, string) error {
	return nil
}

// record goes on when recording fails: the change has already happened and must not be reported as failed, and
// *audit.Log logs the failure itself.
func record(ctx context.Context, r Recorder, kind string, userID int64, from audit.Request, detail string) {
	_ = r.Record(ctx, kind, userID, 0, from, detail)
}

// Errors callers tell apart with errors.Is. Their text names no code or secret, so they are safe to log.
var (
	// ErrWrongCode: the code is not valid now. Deliberately the same for a malformed, wrong or expired code.
	ErrWrongCode = errors.New("wrong code")
	// ErrReplay: the code was right but its time step was already spent, by this code or a later one.
	ErrReplay = errors.New("code already used")
	// ErrNoEnrolment: there is no enrolment in progress, or it has lapsed; Begin again.
	ErrNoEnrolment = errors.New("no enrolment in progress")
	// ErrNotEnrolled: the user has no confirmed authenticator app.
	ErrNotEnrolled = errors.New("no authenticator app")
	// ErrAlreadyEnrolled: the user has an authenticator app; remove it before adding another.
	ErrAlreadyEnrolled = errors.New("authenticator app already set up")
	// ErrSealed: a stored secret did not open under this server's key and user id.
	ErrSealed = errors.New("stored secret does not open")

	// ErrChallenge: no security key request is open for this session: never begun, already answered, begun in
	// another session, or expired. Begin again.
	ErrChallenge = errors.New("security key request expired or unknown; please try again")
	// ErrKeyRefused: the security key's answer did not verify. The wrapped error says why, for logs.
	ErrKeyRefused = errors.New("security key response refused")
	// ErrKeyCloned: the key's signature counter did not rise; it may have been copied. The key is not accepted.
	ErrKeyCloned = errors.New("security key refused: it may have been cloned")
	// ErrKeyInUse: this security key is registered already, to this account or another.
	ErrKeyInUse = errors.New("security key already registered")
	// ErrNoKeys: the user has no security key or passkey.
	ErrNoKeys = errors.New("no security key registered")
	// ErrUnknownKey: the user has no security key of that id.
	ErrUnknownKey = errors.New("no such security key")
)
