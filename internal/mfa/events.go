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
)
