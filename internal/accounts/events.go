package accounts

import (
	"context"

	"wharf/internal/audit"
)

// Kinds of the security events this package records. They are stable strings: the history pages, alerts and
// scripts read them.
const (
	LoginSucceeded       = "login:success"
	LoginFailed          = "login:failure"
	Registered           = audit.UserCreated
	Reauthenticated      = "session:reauth"
	ReauthFailed         = "session:reauth-failure"
	LoggedOut            = "session:logout"
	LoggedOutEverywhere  = "session:logout-everywhere"
	SessionEnded         = "session:end"
	PasswordChanged      = "password:change"
	PasswordChangeFailed = "password:change-failure"
	PasswordResetStarted = "password:reset-request"
	PasswordReset        = "password:reset"
	EmailVerifyStarted   = "email:verify-request"
	EmailVerified        = "email:verify"
	EmailChanged         = "email:change"
	UserDisabled         = "user:disable"
	UserEnabled          = "user:enable"
	AdminGranted         = "user:admin-grant"
	AdminRevoked         = "user:admin-revoke"
)

// Recorder appends to the security history; *audit.Log is one. Details never carry a password, a token or a code.
type Recorder interface {
	Record(ctx context.Context, kind string, userID, projectID int64, from audit.Request, detail string) error
}

// nopRecorder stands in when a caller (the command line, which records its own events) passes none.
type nopRecorder struct{}

func (nopRecorder) Record(context.Context, string, int64, int64, audit.Request, string) error {
	return nil
}

// record appends an event and goes on when that fails: the change it describes has already happened and must not
// be reported to the user as failed, and *audit.Log logs the failure itself.
func record(ctx context.Context, r Recorder, kind string, userID int64, from audit.Request, detail string) {
	_ = r.Record(ctx, kind, userID, 0, from, detail)
}
