package accounts

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"time"

	"wharf/internal/audit"
	"wharf/internal/store"
)

// Errors of account creation, shown to the user as they are.
var (
	ErrInvalidUsername = errors.New("username must be 1-50 letters, digits, '.', '_' or '-', starting and ending with a letter or digit")
	ErrInvalidEmail    = errors.New("email address is not valid")
	ErrUsernameTaken   = errors.New("this username is already being used by another account")
	ErrEmailTaken      = errors.New("this email address is already being used by another account")
)

// Errors of login and of actions that need the password. ErrBadCredentials is the only answer a login gets for
// an unknown user, a wrong password and a disabled account alike, so that nobody can tell them apart (R4).
var (
	ErrBadCredentials  = errors.New("the username or password is not correct")
	ErrWrongPassword   = errors.New("the password is not correct")
	ErrAccountDisabled = errors.New("this account is disabled")
)

var usernameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]{0,48}[A-Za-z0-9])?$`)

// Lifetimes of mailed links: a reset link is a password, so it lives an hour (long enough for slow mail); a
// verification link proves only an address, so it may wait a day.
const (
	DefaultResetLifetime  = time.Hour
	DefaultVerifyLifetime = 24 * time.Hour
)

// Users creates and authenticates accounts and runs the password, reset and verification flows. It sends no
// mail: the flows that need one return what to send.
type Users struct {
	db        *store.DB
	hasher    *Hasher
	now       func() time.Time
	rec       Recorder
	resetTTL  time.Duration
	verifyTTL time.Duration
	// verify is hasher.Verify; a test replaces it to count argon2 verifications, which proves equal cost on
	// every login path where timing would be flaky.
	verify func(encoded, password string) (bool, error)
}

// Option configures Users.
type Option func(*Users)

// WithRecorder sends the security events of every flow to r (without it, none are recorded).
func WithRecorder(r Recorder) Option { return func(u *Users) { u.rec = r } }

// WithLinkLifetimes sets how long reset and verification links stay valid; zero keeps a default.
func WithLinkLifetimes(reset, verify time.Duration) Option {
	return func(u *Users) {
		if reset > 0 {
			u.resetTTL = reset
		}
		if verify > 0 {
			u.verifyTTL = verify
		}
	}
}

// NewUsers builds the account service.
func NewUsers(db *store.DB, hasher *Hasher, now func() time.Time, opts ...Option) *Users {
	u := &Users{db: db, hasher: hasher, now: now, rec: nopRecorder{},
		resetTTL: DefaultResetLifetime, verifyTTL: DefaultVerifyLifetime, verify: hasher.Verify}
	for _, o := range opts {
		o(u)
	}
	if u.rec == nil {
		u.rec = nopRecorder{}
	}
	return u
}

// parseEmail accepts a bare address only ("a@example.com", not "A <a@example.com>").
func parseEmail(email string) (string, error) {
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != strings.TrimSpace(email) {
		return "", ErrInvalidEmail
	}
	return addr.Address, nil
}

// Create registers a user whose password passes every password rule (CheckFor). It records no event: Register
// does, and the command line records its own.
func (u *Users) Create(ctx context.Context, username, email, password string) (store.User, error) {
	username = strings.TrimSpace(username)
	if !usernameRE.MatchString(username) || strings.HasPrefix(username, "__") {
		return store.User{}, ErrInvalidUsername
	}
	address, err := parseEmail(email)
	if err != nil {
		return store.User{}, err
	}
	if err := u.hasher.CheckFor(password, username, address); err != nil {
		return store.User{}, err
	}
	hash, err := u.hasher.Hash(password)
	if err != nil {
		return store.User{}, fmt.Errorf("create user: %w", err)
	}
	user, err := u.db.CreateUser(ctx, store.User{Username: username, Email: address, PasswordHash: hash, CreatedAt: u.now()})
	if errors.Is(err, store.ErrNameTaken) {
		return store.User{}, ErrUsernameTaken // an organization's
	}
	if errors.Is(err, store.ErrConflict) {
		// Usernames and addresses are both unique; the statement does not say which one collided.
		if _, nameErr := u.db.UserByName(ctx, username); errors.Is(nameErr, store.ErrNotFound) {
			return store.User{}, ErrEmailTaken
		}
		return store.User{}, ErrUsernameTaken
	}
	return user, err
}

// Register creates an account from the sign-up form. The address starts unverified: the caller then mails the
// link from StartVerification.
func (u *Users) Register(ctx context.Context, username, email, password string, from audit.Request) (store.Account, error) {
	user, err := u.Create(ctx, username, email, password)
	if err != nil {
		return store.Account{}, err
	}
	acct, err := u.db.AccountByID(ctx, user.ID)
	if err != nil {
		return store.Account{}, fmt.Errorf("register: %w", err)
	}
	record(ctx, u.rec, Registered, acct.ID, from, "registered")
	return acct, nil
}

// Login checks a username and password and returns the account. Every refusal is ErrBadCredentials, and every
// path (unknown user, wrong password, disabled account, success) costs exactly one argon2 verification and one
// event write, so neither the answer nor its timing tells whether an account exists (R4).
//
// An account whose address is not verified may log in, as on PyPI, so that it can verify or fix the address; what
// it may not do (upload, become a maintainer) is for the policy to refuse, using Account.EmailVerifiedAt. The
// caller then either creates a LevelFull session or, when the account has a second factor, a LevelPassword one.
func (u *Users) Login(ctx context.Context, username, password string, from audit.Request) (store.Account, error) {
	acct, err := u.db.AccountByName(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		u.verify(u.hasher.dummy, password)
		// No name in the detail: people type their password into the username field.
		record(ctx, u.rec, LoginFailed, 0, from, "no such account")
		return store.Account{}, ErrBadCredentials
	}
	if err != nil {
		return store.Account{}, fmt.Errorf("login: %w", err)
	}
	ok, err := u.verify(acct.PasswordHash, password)
	if err != nil {
		return store.Account{}, fmt.Errorf("login: %w", err)
	}
	switch {
	case !ok:
		record(ctx, u.rec, LoginFailed, acct.ID, from, "wrong password")
		return store.Account{}, ErrBadCredentials
	case acct.Disabled:
		record(ctx, u.rec, LoginFailed, acct.ID, from, "account disabled")
		return store.Account{}, ErrBadCredentials
	}
	record(ctx, u.rec, LoginSucceeded, acct.ID, from, "password")
	return acct, nil
}

// CheckPassword reports whether username and password name an active account, spending the same time on
// unknown users as on known ones. Unlike Login it records nothing, for callers that record their own events.
func (u *Users) CheckPassword(ctx context.Context, username, password string) (store.User, bool, error) {
	user, err := u.db.UserByName(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		u.verify(u.hasher.dummy, password)
		return store.User{}, false, nil
	}
	if err != nil {
		return store.User{}, false, err
	}
	ok, err := u.verify(user.PasswordHash, password)
	if err != nil || !ok || user.Disabled {
		return store.User{}, false, err
	}
	return user, true, nil
}

// ConfirmPassword checks the password of the signed-in user userID, for re-authentication (S8): only that user's
// own password counts, never another account's. On success the caller calls Sessions.Reauthenticate.
func (u *Users) ConfirmPassword(ctx context.Context, userID int64, password string, from audit.Request) error {
	acct, err := u.db.AccountByID(ctx, userID)
	if err != nil {
		return fmt.Errorf("confirm password: %w", err)
	}
	ok, err := u.verify(acct.PasswordHash, password)
	if err != nil {
		return fmt.Errorf("confirm password: %w", err)
	}
	if !ok || acct.Disabled {
		record(ctx, u.rec, ReauthFailed, userID, from, "wrong password")
		return ErrWrongPassword
	}
	record(ctx, u.rec, Reauthenticated, userID, from, "password")
	return nil
}

// ChangePassword replaces the password of userID (P6): it needs that user's current password, applies every
// rule to the new one, then ends every session but the one named by exceptSessionToken (the caller's own; ""
// ends all) and spends every unused reset link, in one transaction. The caller mails a notice.
func (u *Users) ChangePassword(ctx context.Context, userID int64, current, next, exceptSessionToken string, from audit.Request) error {
	acct, err := u.db.AccountByID(ctx, userID)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	ok, err := u.verify(acct.PasswordHash, current)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	if !ok || acct.Disabled {
		record(ctx, u.rec, PasswordChangeFailed, userID, from, "wrong current password")
		return ErrWrongPassword
	}
	if err := u.hasher.CheckFor(next, acct.Username, acct.Email); err != nil {
		return err
	}
	hash, err := u.hasher.Hash(next)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	keep, _ := hashSecret(exceptSessionToken)
	if err := u.db.SetPasswordAndRevoke(ctx, userID, hash, u.now(), keep); err != nil {
		return err
	}
	record(ctx, u.rec, PasswordChanged, userID, from, "other sessions and reset links ended")
	return nil
}
