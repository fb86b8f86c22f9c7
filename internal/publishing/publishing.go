// Package publishing is Trusted Publishing: a project's Owners register the CI identities (publishers) that may
// publish it, and a CI job exchanges its issuer's OIDC token for a wharf token that uploads for those projects
// for 15 minutes. No long-lived secret sits in CI, and what was published carries the job that built it.
//
// Unlike PyPI, which trusts a fixed list of cloud issuers, wharf trusts any issuer its administrator registers
// (Forgejo or Gitea Actions, a self-managed GitLab, Jenkins), next to GitHub, GitLab and Google.
package publishing

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"wharf/internal/audit"
	"wharf/internal/oidc"
	"wharf/internal/policy"
	"wharf/internal/projects"
	"wharf/internal/pypkg"
	"wharf/internal/store"
	"wharf/internal/tokens"
)

// Store is what publishing reads and writes.
type Store interface {
	projects.NameStore
	ProjectByName(ctx context.Context, normalized string) (store.Project, error)
	AddPublisher(ctx context.Context, p store.Publisher) (store.Publisher, error)
	ProjectPublishers(ctx context.Context, projectID int64) ([]store.Publisher, error)
	PendingPublishers(ctx context.Context, ownerID int64) ([]store.Publisher, error)
	PublisherCandidates(ctx context.Context, kind, lookup string, now time.Time) ([]store.Publisher, error)
	RemovePublisher(ctx context.Context, id, projectID, ownerID int64) error
	ClaimJTI(ctx context.Context, issuer, jti string, expires, now time.Time) (bool, error)
	CreatePublisherToken(ctx context.Context, t store.PublisherToken) error
	Issuers(ctx context.Context) ([]store.Issuer, error)
	SetTrustedPublishingOnly(ctx context.Context, projectID int64, on bool) error
}

// Policy decides who may set publishers up.
type Policy interface {
	Decide(ctx context.Context, actor policy.Actor, action policy.Action, target policy.Target) error
}

// Options configure the service.
type Options struct {
	// Audience is the aud every OIDC token must carry: the index's own, so that a token minted for another index
	// is useless here.
	Audience string
	// Builtin maps the issuer URL of each built-in kind to its kind (https://token.actions.githubusercontent.com:
	// GitHub, ...).
	Builtin map[string]string
	// TokenTTL is how long a minted token lives (15 minutes); PendingTTL how long a pending publisher holds its
	// name (30 days).
	TokenTTL, PendingTTL time.Duration
	// Leeway is the clock skew allowed on exp, nbf and iat (60 s).
	Leeway time.Duration
	// Verifier builds the verifier of one issuer; nil uses oidc.NewVerifier.
	Verifier func(issuer string) (*oidc.Verifier, error)
}

// Service sets publishers up and mints their tokens.
type Service struct {
	db     Store
	policy Policy
	minter *tokens.Minter
	audit  *audit.Log
	now    func() time.Time
	opts   Options

	mu        sync.Mutex
	verifiers map[string]*oidc.Verifier
}

// New builds the service.
func New(db Store, pol Policy, minter *tokens.Minter, log *audit.Log, now func() time.Time, opts Options) *Service {
	if opts.TokenTTL == 0 {
		opts.TokenTTL = 15 * time.Minute
	}
	if opts.PendingTTL == 0 {
		opts.PendingTTL = 30 * 24 * time.Hour
	}
	if opts.Leeway == 0 {
		opts.Leeway = time.Minute
	}
	if opts.Verifier == nil {
		opts.Verifier = func(issuer string) (*oidc.Verifier, error) {
			return oidc.NewVerifier(oidc.Options{Issuer: issuer, Audience: opts.Audience, Now: now, Leeway: opts.Leeway})
		}
	}
	return &Service{db: db, policy: pol, minter: minter, audit: log, now: now, opts: opts, verifiers: map[string]*oidc.Verifier{}}
}

// Audience is the aud CI jobs ask their issuer for (GET /_/oidc/audience).
func (s *Service) Audience() string { return s.opts.Audience }

// Audit events of Trusted Publishing.
const (
	EventPublisherAdded   = "publisher:add"
	EventPublisherRemoved = "publisher:remove"
	EventTokenMinted      = "publisher:token-minted"
	EventTrustedOnly      = "project:trusted-publishing-only"
)

// Spec is a publisher as a person describes it.
type Spec struct {
	Kind string
	// Issuer names the registered issuer of a Custom publisher.
	Issuer string
	Fields map[string]string
}

func (s *Service) prepare(ctx context.Context, spec Spec) (store.Publisher, error) {
	var issuer *store.Issuer
	if spec.Kind == Custom {
		all, err := s.db.Issuers(ctx)
		if err != nil {
			return store.Publisher{}, err
		}
		for i := range all {
			if all[i].Name == spec.Issuer {
				issuer = &all[i]
			}
		}
		if issuer == nil {
			return store.Publisher{}, fieldErr("No issuer is registered as %q; an administrator registers issuers with 'wharf issuer add'.", spec.Issuer)
		}
	}
	claims, lookup, err := normalise(spec.Kind, issuer, spec.Fields)
	if err != nil {
		return store.Publisher{}, err
	}
	p := store.Publisher{Kind: spec.Kind, Claims: claims, Lookup: lookup, CreatedAt: s.now().UTC()}
	if issuer != nil {
		p.IssuerID = issuer.ID
	}
	return p, nil
}

// Add registers a publisher of project.
func (s *Service) Add(ctx context.Context, actor policy.Actor, project store.Project, spec Spec, from audit.Request) (store.Publisher, error) {
	if err := s.policy.Decide(ctx, actor, policy.ManagePublishers, policy.Target{Project: &project, Name: project.NormalizedName}); err != nil {
		return store.Publisher{}, err
	}
	p, err := s.prepare(ctx, spec)
	if err != nil {
		return store.Publisher{}, err
	}
	p.ProjectID, p.CreatedBy = project.ID, actor.User.ID
	p, err = s.db.AddPublisher(ctx, p)
	if errors.Is(err, store.ErrConflict) {
		return store.Publisher{}, fieldErr("Project '%s' already has this publisher.", project.Name)
	}
	if err != nil {
		return store.Publisher{}, err
	}
	s.audit.Record(ctx, EventPublisherAdded, actor.User.ID, project.ID, from, fmt.Sprintf("publisher %d: %s", p.ID, Describe(p)))
	return p, nil
}

// AddPending registers a publisher for a project name that does not exist yet: its first publish creates the
// project, owned by actor. The name must be one an upload could create, so that a pending publisher cannot hold a
// name nobody may take; it waits PendingTTL, and is dropped when someone else creates the project first.
func (s *Service) AddPending(ctx context.Context, actor policy.Actor, name string, spec Spec, from audit.Request) (store.Publisher, error) {
	return s.addPending(ctx, actor, nil, name, spec, from)
}

// AddPendingInOrg is AddPending for a project to be created inside organization org (by its Owners and Managers):
// the first publish creates it there, owned by actor as well as by the organization's Owners.
func (s *Service) AddPendingInOrg(ctx context.Context, actor policy.Actor, org store.Organization, name string, spec Spec, from audit.Request) (store.Publisher, error) {
	return s.addPending(ctx, actor, &org, name, spec, from)
}

func (s *Service) addPending(ctx context.Context, actor policy.Actor, org *store.Organization, name string, spec Spec, from audit.Request) (store.Publisher, error) {
	if err := s.policy.Decide(ctx, actor, policy.AddPendingPublisher, policy.Target{}); err != nil {
		return store.Publisher{}, err
	}
	if org != nil {
		if err := s.policy.Decide(ctx, actor, policy.CreateOrgProject, policy.Target{Org: org}); err != nil {
			return store.Publisher{}, err
		}
	}
	if !pypkg.ValidProjectName(name) {
		return store.Publisher{}, fieldErr("'%s' is not a valid project name: start and end with a letter or numeral, containing only ASCII letters, numerals, '.', '_' and '-'.", name)
	}
	normalized := pypkg.NormalizeName(name)
	if _, err := s.db.ProjectByName(ctx, normalized); err == nil {
		return store.Publisher{}, fieldErr("Project '%s' exists already: its Owners add publishers on the project's publishing page.", name)
	} else if !errors.Is(err, store.ErrNotFound) {
		return store.Publisher{}, err
	}
	if err := projects.CheckNewName(ctx, s.db, name, normalized); err != nil {
		var refused *projects.NameError
		if errors.As(err, &refused) {
			return store.Publisher{}, &FieldError{refused.Reason}
		}
		return store.Publisher{}, err
	}
	p, err := s.prepare(ctx, spec)
	if err != nil {
		return store.Publisher{}, err
	}
	p.PendingName, p.OwnerID, p.CreatedBy = normalized, actor.User.ID, actor.User.ID
	if org != nil {
		p.OrgID = org.ID
	}
	p.ExpiresAt = p.CreatedAt.Add(s.opts.PendingTTL)
	p, err = s.db.AddPublisher(ctx, p)
	switch {
	case errors.Is(err, store.ErrConflict):
		return store.Publisher{}, fieldErr("This pending publisher for '%s' is registered already.", name)
	case errors.Is(err, store.ErrProjectExists):
		return store.Publisher{}, fieldErr("Project '%s' was just created: its Owners add publishers on the project's publishing page.", name)
	case err != nil:
		return store.Publisher{}, err
	}
	s.audit.Record(ctx, EventPublisherAdded, actor.User.ID, 0, from,
		fmt.Sprintf("pending publisher %d for new project %s: %s", p.ID, normalized, Describe(p)))
	return p, nil
}

// Remove deletes a publisher of project; tokens it minted stop working at once (the token service reads the
// publisher at every upload).
func (s *Service) Remove(ctx context.Context, actor policy.Actor, project store.Project, id int64, from audit.Request) error {
	if err := s.policy.Decide(ctx, actor, policy.ManagePublishers, policy.Target{Project: &project, Name: project.NormalizedName}); err != nil {
		return err
	}
	if err := s.db.RemovePublisher(ctx, id, project.ID, 0); err != nil {
		return err
	}
	s.audit.Record(ctx, EventPublisherRemoved, actor.User.ID, project.ID, from, fmt.Sprintf("publisher %d", id))
	return nil
}

// RemovePending deletes one of actor's pending publishers.
func (s *Service) RemovePending(ctx context.Context, actor policy.Actor, id int64, from audit.Request) error {
	if err := s.policy.Decide(ctx, actor, policy.AddPendingPublisher, policy.Target{}); err != nil {
		return err
	}
	if err := s.db.RemovePublisher(ctx, id, 0, actor.User.ID); err != nil {
		return err
	}
	s.audit.Record(ctx, EventPublisherRemoved, actor.User.ID, 0, from, fmt.Sprintf("pending publisher %d", id))
	return nil
}

// SetTrustedPublishingOnly switches project to accept uploads only from its publishers, or back.
func (s *Service) SetTrustedPublishingOnly(ctx context.Context, actor policy.Actor, project store.Project, on bool, from audit.Request) error {
	if err := s.policy.Decide(ctx, actor, policy.SetTrustedPublishingOnly,
		policy.Target{Project: &project, Name: project.NormalizedName, TrustedPublishingOnly: on}); err != nil {
		return err
	}
	if err := s.db.SetTrustedPublishingOnly(ctx, project.ID, on); err != nil {
		return err
	}
	state := "off: uploads with users' API tokens are accepted again"
	if on {
		state = "on: uploads only from the project's Trusted Publishers"
	}
	s.audit.Record(ctx, EventTrustedOnly, actor.User.ID, project.ID, from, state)
	return nil
}

// Publishers lists a project's publishers (the page asks the policy whether to show them).
func (s *Service) Publishers(ctx context.Context, projectID int64) ([]store.Publisher, error) {
	return s.db.ProjectPublishers(ctx, projectID)
}

// Pending lists an account's pending publishers.
func (s *Service) Pending(ctx context.Context, userID int64) ([]store.Publisher, error) {
	return s.db.PendingPublishers(ctx, userID)
}

// AddToProjects registers one publisher for several projects at once, such as an organization's projects that
// one CI job publishes: it is decided for each project first, so either every project gets it or none does. A
// project that has it already keeps its own.
func (s *Service) AddToProjects(ctx context.Context, actor policy.Actor, projects []store.Project, spec Spec, from audit.Request) ([]store.Publisher, error) {
	for i := range projects {
		if err := s.policy.Decide(ctx, actor, policy.ManagePublishers, policy.Target{Project: &projects[i], Name: projects[i].NormalizedName}); err != nil {
			return nil, err
		}
	}
	var out []store.Publisher
	for _, project := range projects {
		p, err := s.Add(ctx, actor, project, spec, from)
		var fe *FieldError
		if errors.As(err, &fe) && len(out) > 0 {
			continue // this project has it already
		}
		if err != nil {
			return out, err
		}
		out = append(out, p)
	}
	return out, nil
}
