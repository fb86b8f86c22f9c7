package mfa

import (
	"context"
	"errors"
	"fmt"
	"time"

	"wharf/internal/audit"
	"wharf/internal/policy"
	"wharf/internal/store"
)

// Decider is the policy engine's entry point (*policy.Engine).
type Decider interface {
	Decide(ctx context.Context, actor policy.Actor, action policy.Action, target policy.Target) error
}

// Factors lists a user's second factors and removes them. Removal is the one factor change the policy restricts:
// an account that must keep 2FA cannot remove its last factor.
type Factors struct {
	db     *store.DB
	policy Decider
	rec    Recorder
}

// NewFactors returns the service; rec may be nil.
func NewFactors(db *store.DB, policy Decider, rec Recorder) *Factors {
	if rec == nil {
		rec = nopRecorder{}
	}
	return &Factors{db: db, policy: policy, rec: rec}
}

// Factor is a second factor as the account page lists it.
type Factor struct {
	Kind       string // "authenticator app", "security key" or "passkey"
	Label      string
	CreatedAt  time.Time
	LastUsedAt time.Time // zero = never
}

func factorOf(f store.Factor) Factor {
	kind := "authenticator app"
	switch {
	case f.Kind == store.FactorWebAuthn && f.Discoverable:
		kind = "passkey"
	case f.Kind == store.FactorWebAuthn:
		kind = "security key"
	}
	return Factor{Kind: kind, Label: f.Label, CreatedAt: f.CreatedAt, LastUsedAt: f.LastUsedAt}
}

// List returns the user's factors, oldest first.
func (s *Factors) List(ctx context.Context, userID int64) ([]Factor, error) {
	all, err := s.db.Factors(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]Factor, len(all))
	for i, f := range all {
		out[i] = factorOf(f)
	}
	return out, nil
}

// RemoveTOTP removes the actor's authenticator app; ErrNotEnrolled when there is none, a *policy.Denied when the
// policy keeps it.
func (s *Factors) RemoveTOTP(ctx context.Context, actor policy.Actor, from audit.Request) error {
	_, err := s.remove(ctx, actor, store.FactorTOTP, 0, from)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("remove totp: %w", ErrNotEnrolled)
	}
	return err
}

// RemoveKey removes one of the actor's security keys or passkeys and returns it; ErrUnknownKey when the user has
// no such key, a *policy.Denied when the policy keeps it.
func (s *Factors) RemoveKey(ctx context.Context, actor policy.Actor, keyID int64, from audit.Request) (Key, error) {
	f, err := s.remove(ctx, actor, store.FactorWebAuthn, keyID, from)
	if errors.Is(err, store.ErrNotFound) {
		return Key{}, fmt.Errorf("remove key: %w", ErrUnknownKey)
	}
	if err != nil {
		return Key{}, err
	}
	return Key{ID: f.ID, Label: f.Label, CreatedAt: f.CreatedAt, LastUsedAt: f.LastUsedAt, Passkey: f.Discoverable}, nil
}

// remove asks the policy whether the actor may change factors at all and whether the last one may go, then
// removes the factor in one transaction that keeps the last one when the policy said no: the answer holds even
// if another removal runs at the same time.
func (s *Factors) remove(ctx context.Context, actor policy.Actor, kind string, id int64, from audit.Request) (store.Factor, error) {
	if err := s.policy.Decide(ctx, actor, policy.RemoveFactor, policy.Target{}); err != nil {
		return store.Factor{}, err
	}
	lastDenied := s.policy.Decide(ctx, actor, policy.RemoveLastFactor, policy.Target{})
	if lastDenied != nil && !errors.Is(lastDenied, policy.ErrDenied) {
		return store.Factor{}, lastDenied
	}
	f, err := s.db.RemoveFactor(ctx, actor.User.ID, kind, id, lastDenied != nil)
	if errors.Is(err, store.ErrLastFactor) {
		return store.Factor{}, lastDenied
	}
	if err != nil {
		return store.Factor{}, err
	}
	if kind == store.FactorTOTP {
		record(ctx, s.rec, TOTPRemoved, actor.User.ID, from, f.Label)
	} else {
		record(ctx, s.rec, WebAuthnRemoved, actor.User.ID, from, f.Label)
	}
	return f, nil
}
