package accounts

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"time"

	"wharf/internal/store"
)

// Errors of account creation, shown to the user as they are.
var (
	ErrInvalidUsername = errors.New("username must be 1-50 letters, digits, '.', '_' or '-', starting and ending with a letter or digit")
	ErrInvalidEmail    = errors.New("email address is not valid")
	ErrUsernameTaken   = errors.New("this username is already being used by another account")
)

var usernameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]{0,48}[A-Za-z0-9])?$`)

// Users creates and authenticates accounts.
type Users struct {
	db     *store.DB
	hasher *Hasher
	now    func() time.Time
}

// NewUsers builds the account service.
func NewUsers(db *store.DB, hasher *Hasher, now func() time.Time) *Users {
	return &Users{db: db, hasher: hasher, now: now}
}

// Create registers a user with a password that passes the password rules.
func (u *Users) Create(ctx context.Context, username, email, password string) (store.User, error) {
	username = strings.TrimSpace(username)
	if !usernameRE.MatchString(username) || strings.HasPrefix(username, "__") {
		return store.User{}, ErrInvalidUsername
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != strings.TrimSpace(email) {
		return store.User{}, ErrInvalidEmail
	}
	if err := u.hasher.Check(password); err != nil {
		return store.User{}, err
	}
	hash, err := u.hasher.Hash(password)
	if err != nil {
		return store.User{}, fmt.Errorf("create user: %w", err)
	}
	user, err := u.db.CreateUser(ctx, store.User{Username: username, Email: addr.Address, PasswordHash: hash, CreatedAt: u.now()})
	if errors.Is(err, store.ErrConflict) {
		return store.User{}, ErrUsernameTaken
	}
	return user, err
}

// CheckPassword reports whether username and password name an active account, spending the same time on
// unknown users as on known ones.
func (u *Users) CheckPassword(ctx context.Context, username, password string) (store.User, bool, error) {
	user, err := u.db.UserByName(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		u.hasher.Verify(dummyHash, password)
		return store.User{}, false, nil
	}
	if err != nil {
		return store.User{}, false, err
	}
	ok, err := u.hasher.Verify(user.PasswordHash, password)
	if err != nil || !ok || user.Disabled {
		return store.User{}, false, err
	}
	return user, true, nil
}

// dummyHash has the cost of a real one, so that a login for a missing user takes as long as for a real one.
const dummyHash = "$argon2id$v=19$m=65536,t=3,p=2$c29tZXNhbHRzb21lc2FsdA$0000000000000000000000000000000000000000000"
