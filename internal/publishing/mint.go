package publishing

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"wharf/internal/audit"
	"wharf/internal/oidc"
	"wharf/internal/pypkg"
	"wharf/internal/store"
	"wharf/internal/tokens"
)

// The codes of a refused exchange, as PyPI names them: CI tools and people searching for the message know them.
const (
	CodeInvalidPayload   = "invalid-payload"
	CodeInvalidToken     = "invalid-token"
	CodeInvalidPublisher = "invalid-publisher"
)

// MintError is a refused exchange, worded for the CI log.
type MintError struct {
	Code        string
	Description string
}

func (e *MintError) Error() string { return e.Code + ": " + e.Description }

func refuse(code, format string, args ...any) *MintError {
	return &MintError{Code: code, Description: fmt.Sprintf(format, args...)}
}

// Minted is a token for a CI job's upload.
type Minted struct {
	Token   string
	Expires time.Time
}

// Mint exchanges a CI job's OIDC token for a wharf token that uploads to the projects of every publisher the
// job matches, for TokenTTL. Each OIDC token is exchanged once: its jti is claimed atomically and remembered until
// the token could no longer verify (TP3). A refusal is a *MintError; any other error is the index's.
func (s *Service) Mint(ctx context.Context, raw string, from audit.Request) (Minted, error) {
	now := s.now().UTC()
	iss, err := oidc.PeekIssuer(raw)
	var refused *oidc.Error
	if errors.As(err, &refused) {
		return Minted{}, refuse(CodeInvalidToken, "%s", refused.Reason)
	}
	if err != nil {
		return Minted{}, err
	}
	kind, issuer, err := s.issuerOf(ctx, iss)
	if err != nil {
		return Minted{}, err
	}
	v, err := s.verifier(iss)
	if err != nil {
		return Minted{}, err
	}
	claims, err := v.Verify(ctx, raw)
	if errors.As(err, &refused) {
		return Minted{}, refuse(CodeInvalidToken, "%s", refused.Reason)
	}
	if err != nil {
		return Minted{}, err
	}
	if claims.JTI == "" {
		return Minted{}, refuse(CodeInvalidToken, "The token has no jti claim: without one it could be exchanged more than once.")
	}
	if err := precheck(kind, claims); err != nil {
		return Minted{}, refuse(CodeInvalidPublisher, "Valid token, but %s", err.Error())
	}
	var issuerID int64
	if issuer != nil {
		issuerID = issuer.ID
	}
	lookup := lookupOf(kind, issuerID, claims)
	candidates, err := s.db.PublisherCandidates(ctx, kind, lookup, now)
	if err != nil {
		return Minted{}, err
	}
	var matched []store.Publisher
	var why []string
	for _, p := range candidates {
		if err := match(p, iss, issuer, claims); err != nil {
			why = append(why, fmt.Sprintf("publisher %d of '%s': %s", p.ID, p.ProjectName, err.Error()))
			continue
		}
		matched = append(matched, p)
	}
	if len(matched) == 0 {
		if len(why) == 0 {
			return Minted{}, refuse(CodeInvalidPublisher,
				"Valid token, but no corresponding publisher: no project has a Trusted Publisher for %s %q. An Owner adds one on the project's publishing page.", kind, lookup)
		}
		return Minted{}, refuse(CodeInvalidPublisher, "Valid token, but no corresponding publisher: %s.", strings.Join(why, "; "))
	}
	first, err := s.db.ClaimJTI(ctx, iss, claims.JTI, claims.Expiry.Add(s.opts.Leeway), now)
	if err != nil {
		return Minted{}, err
	}
	if !first {
		return Minted{}, refuse(CodeInvalidToken, "This token was exchanged already: each OIDC token mints once. Request a new one from the CI provider.")
	}
	var ids []int64
	var names []string
	for _, p := range matched {
		ids = append(ids, p.ID)
		if p.Pending() {
			names = append(names, p.PendingName)
		} else {
			names = append(names, pypkg.NormalizeName(p.ProjectName))
		}
	}
	expires := now.Add(s.opts.TokenTTL)
	token, id, err := s.minter.Mint(tokens.Caveats{Publisher: true, Projects: names, Expires: expires})
	if err != nil {
		return Minted{}, err
	}
	identity := identityOf(kind, iss, claims)
	if err := s.db.CreatePublisherToken(ctx, store.PublisherToken{ID: id, Publishers: ids, Identity: identity,
		CreatedAt: now, ExpiresAt: expires}); err != nil {
		return Minted{}, err
	}
	for _, p := range matched {
		s.audit.Record(ctx, EventTokenMinted, 0, p.ProjectID, from,
			fmt.Sprintf("token %s for publisher %d: %s", id, p.ID, tokens.DescribeIdentity(identity)))
	}
	return Minted{Token: token, Expires: expires}, nil
}

// issuerOf finds the issuer a token names: a built-in kind's, or one an administrator registered (read again on
// every exchange, so that 'wharf issuer add' takes effect on a running server).
func (s *Service) issuerOf(ctx context.Context, iss string) (string, *store.Issuer, error) {
	if kind, ok := s.opts.Builtin[iss]; ok {
		return kind, nil, nil
	}
	all, err := s.db.Issuers(ctx)
	if err != nil {
		return "", nil, err
	}
	for i := range all {
		if all[i].URL == iss {
			return Custom, &all[i], nil
		}
	}
	return "", nil, refuse(CodeInvalidToken, "The token's issuer %q is not one this index trusts. An administrator registers issuers with 'wharf issuer add'.", iss)
}

// verifier returns the issuer's verifier, which keeps the issuer's keys between exchanges.
func (s *Service) verifier(iss string) (*oidc.Verifier, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.verifiers[iss]; ok {
		return v, nil
	}
	v, err := s.opts.Verifier(iss)
	if err != nil {
		return nil, fmt.Errorf("verifier of %s: %w", iss, err)
	}
	s.verifiers[iss] = v
	return v, nil
}
