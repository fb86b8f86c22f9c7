package tokens

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"wharf/internal/audit"
	"wharf/internal/httperror"
	"wharf/internal/policy"
	"wharf/internal/store"
)

// Store is what the token service keeps in the database: records of tokens, never the tokens.
type Store interface {
	CreateToken(ctx context.Context, t store.Token) error
	TokenByID(ctx context.Context, id string) (store.Token, error)
	TouchToken(ctx context.Context, id string, now time.Time) (bool, error)
	AccountByID(ctx context.Context, id int64) (store.Account, error)
	RevokeToken(ctx context.Context, userID int64, id string, now time.Time) error
	RevokeTokenByID(ctx context.Context, id string, now time.Time) (store.Token, bool, error)
}

// Service mints tokens and authenticates requests that carry one.
type Service struct {
	minter  *Minter
	db      Store
	audit   *audit.Log
	now     func() time.Time
	baseURL string
}

// Option configures a Service.
type Option func(*Service)

// BaseURL is the index's public URL, for the link to the help page in refusals of a token.
func BaseURL(u string) Option { return func(s *Service) { s.baseURL = u } }

// NewService builds the token service.
func NewService(minter *Minter, db Store, log *audit.Log, now func() time.Time, opts ...Option) *Service {
	s := &Service{minter: minter, db: db, audit: log, now: now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Create mints a token for a user and records it, with the address that asked (empty on the command line); the
// token itself is returned once and never stored.
func (s *Service) Create(ctx context.Context, user store.User, name string, projects []string, expires time.Time, from audit.Request) (string, store.Token, error) {
	now := s.now().UTC()
	if !expires.IsZero() && !expires.After(now) {
		return "", store.Token{}, errors.New("the expiry must be in the future")
	}
	if projects != nil {
		projects = slices.Clone(projects)
		slices.Sort(projects)
		projects = slices.Compact(projects)
	}
	token, id, err := s.minter.Mint(Caveats{UserID: user.ID, Projects: projects, Expires: expires})
	if err != nil {
		return "", store.Token{}, fmt.Errorf("mint token: %w", err)
	}
	rec := store.Token{ID: id, UserID: user.ID, Name: name, Projects: projects, CreatedAt: now, ExpiresAt: expires}
	if err := s.db.CreateToken(ctx, rec); err != nil {
		return "", store.Token{}, err
	}
	s.audit.Record(ctx, audit.TokenCreated, user.ID, 0, from, fmt.Sprintf("token %s %q", id, name))
	return token, rec, nil
}

// Revoke ends one of the user's tokens at once. The store matches the id and the user together, so another user's
// token is store.ErrNotFound, exactly like a missing one (K4).
func (s *Service) Revoke(ctx context.Context, userID int64, id string, from audit.Request) error {
	if err := s.db.RevokeToken(ctx, userID, id, s.now()); err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	s.audit.Record(ctx, audit.TokenRevoked, userID, 0, from, "token "+id)
	return nil
}

// RevokeLeaked revokes token, reported as found in public at url (which may be empty), and records the event in
// its owner's security history. It returns the token's record and whether this call revoked it; the caller tells
// the owner. Nothing is done, and no error returned, for a string that is not a token this server minted (another
// index's token, a forgery, a token whose id alone is known) or whose record is missing: Authenticate checks the
// signature without the caveats, so an expired token is revoked too, and a token revoked already is left as it
// was (K9). Only the database's failures are errors.
func (s *Service) RevokeLeaked(ctx context.Context, token, url string, from audit.Request) (store.Token, bool, error) {
	id, err := s.minter.Authenticate(token)
	if err != nil {
		return store.Token{}, false, nil
	}
	rec, changed, err := s.db.RevokeTokenByID(ctx, id, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return store.Token{}, false, s.revokeLeakedPublisherToken(ctx, id, url, from)
	}
	if err != nil {
		return store.Token{}, false, fmt.Errorf("revoke leaked token: %w", err)
	}
	if !changed {
		return rec, false, nil
	}
	where := url
	if where == "" {
		where = "an address the reporter did not give"
	}
	s.audit.Record(ctx, audit.TokenLeaked, rec.UserID, 0, from, fmt.Sprintf("token %s %q found in public at %s", id, rec.Name, where))
	return rec, true, nil
}

// tokenUsername is the username twine sends with an API token as the password.
const tokenUsername = "__token__"

// Authenticate reads an upload's Basic credentials. Only API tokens are accepted; a username and password is
// refused with the message that tells the user what to do instead.
func (s *Service) Authenticate(r *http.Request) (policy.Actor, error) {
	username, password, ok := r.BasicAuth()
	if !ok {
		return policy.Actor{}, httperror.New(http.StatusForbidden,
			"Invalid or non-existent authentication information. Upload with an API token (username __token__) or Trusted Publishing. See %s",
			policy.HelpURL(s.baseURL, policy.HelpAPIToken))
	}
	if username != tokenUsername {
		return policy.Actor{}, httperror.New(http.StatusForbidden,
			"Username/Password authentication is no longer supported. Migrate to API Tokens or Trusted Publishers instead: create a token on your account page and upload with the username __token__ and the token as the password. See %s",
			policy.HelpURL(s.baseURL, policy.HelpAPIToken))
	}
	actor, err := s.Verify(r.Context(), password)
	if err != nil {
		return policy.Actor{}, err
	}
	return actor, nil
}

// Verify checks a token's signature and caveats, then that its record is live and its user active.
func (s *Service) Verify(ctx context.Context, token string) (policy.Actor, error) {
	now := s.now()
	v, err := s.minter.Verify(token, now)
	if err != nil {
		return policy.Actor{}, s.invalid(policy.HelpAPIToken, reasonFor(err))
	}
	if v.Publisher {
		return s.verifyPublisher(ctx, v, now)
	}
	rec, err := s.db.TokenByID(ctx, v.ID)
	if errors.Is(err, store.ErrNotFound) {
		return policy.Actor{}, s.invalid(policy.HelpAPIToken, "the token does not exist or was deleted")
	}
	if err != nil {
		return policy.Actor{}, httperror.Wrap(err, http.StatusServiceUnavailable, "The index is temporarily unavailable. Try again later.")
	}
	if !rec.RevokedAt.IsZero() {
		return policy.Actor{}, s.invalid(policy.HelpAPIToken, "the token was revoked")
	}
	if rec.UserID != v.UserID {
		return policy.Actor{}, s.invalid(policy.HelpAPIToken, "the token does not belong to its user")
	}
	if !rec.ExpiresAt.IsZero() && !now.Before(rec.ExpiresAt) {
		return policy.Actor{}, s.invalid(policy.HelpAPIToken, "the token has expired")
	}
	acct, err := s.db.AccountByID(ctx, v.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return policy.Actor{}, s.invalid(policy.HelpAPIToken, "the token's user does not exist")
	}
	if err != nil {
		return policy.Actor{}, httperror.Wrap(err, http.StatusServiceUnavailable, "The index is temporarily unavailable. Try again later.")
	}
	if acct.Disabled {
		return policy.Actor{}, httperror.New(http.StatusForbidden, "The account '%s' is disabled.", acct.Username)
	}
	scope := &policy.TokenScope{ID: v.ID, Name: rec.Name, Projects: v.Projects, CreatedAt: rec.CreatedAt}
	// The record repeats the minted scope; narrowing by it too means a tampered record can never widen a token.
	switch {
	case len(rec.Projects) > 0 && scope.Projects == nil:
		scope.Projects = slices.Clone(rec.Projects)
	case len(rec.Projects) > 0:
		scope.Projects = intersect(scope.Projects, rec.Projects)
	}
	if first, err := s.db.TouchToken(ctx, v.ID, now); err == nil && first {
		s.audit.Record(ctx, audit.TokenFirstUse, acct.ID, 0, audit.Request{}, "token "+v.ID)
	}
	return policy.TokenActor(acct, *scope), nil
}

// invalid refuses a token, with the section of the help page that says how to make one that works.
func (s *Service) invalid(help policy.HelpSection, reason string) error {
	return httperror.New(http.StatusForbidden, "Invalid API Token: %s. See %s", reason, policy.HelpURL(s.baseURL, help))
}

func reasonFor(err error) string {
	switch {
	case errors.Is(err, ErrExpired):
		return "the token has expired"
	case errors.Is(err, ErrNotYetValid):
		return "the token is not valid yet"
	case errors.Is(err, ErrNoProjects):
		return "the token's caveats leave no project it may upload to"
	case errors.Is(err, ErrBadSignature):
		return "the token's signature is not valid"
	default:
		return "the token is malformed"
	}
}
