package mandate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"wharf/internal/audit"
	"wharf/internal/pypkg"
	"wharf/internal/store"
)

// Audit events of early enforcement (rule 5).
const (
	EventEnforceEarly = "policy:enforce-early"
	EventLiftEarly    = "policy:enforce-early-lifted"
)

// Errors of early enforcement, worded for the administrator.
var (
	ErrNoSuchUser    = errors.New("there is no user of that name")
	ErrNoSuchProject = errors.New("there is no project of that name")
	ErrNoSuchOrg     = errors.New("there is no organization of that name")
	ErrBadKind       = errors.New("name a user, a project or an organization")
)

// EarlyStore is what early enforcement reads and writes; *store.DB satisfies it.
type EarlyStore interface {
	UserByName(ctx context.Context, username string) (store.User, error)
	ProjectByName(ctx context.Context, normalized string) (store.Project, error)
	OrganizationByName(ctx context.Context, normalized string) (store.Organization, error)
	EnforceEarly(ctx context.Context, kind string, id int64, reason string, now time.Time) (bool, error)
	LiftEarly(ctx context.Context, kind string, id int64) (bool, error)
	EarlyEnforcements(ctx context.Context) ([]store.EarlyEnforcement, error)
}

// Recorder appends to the security history; *audit.Log satisfies it.
type Recorder interface {
	Record(ctx context.Context, kind string, userID, projectID int64, from audit.Request, detail string) error
}

// Early places chosen users and projects under the mandate's enforce phase before everyone else, at an
// administrator's word (from the command line or the administration pages: who may is the caller's question, the
// policy's Administer action on the web), and lifts it again; every change is in the history of the user or the
// project.
type Early struct {
	db    EarlyStore
	audit Recorder
	now   func() time.Time
}

// NewEarly builds an Early.
func NewEarly(db EarlyStore, rec Recorder, now func() time.Time) *Early {
	return &Early{db: db, audit: rec, now: now}
}

// Subject is the user or project an early enforcement names, as found.
type Subject struct {
	Kind string // store.EarlyUser or store.EarlyProject
	Name string // as the index spells it
	ID   int64
}

func (e *Early) find(ctx context.Context, kind, name string) (Subject, error) {
	switch kind {
	case store.EarlyUser:
		u, err := e.db.UserByName(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			return Subject{}, ErrNoSuchUser
		}
		return Subject{Kind: kind, Name: u.Username, ID: u.ID}, err
	case store.EarlyProject:
		p, err := e.db.ProjectByName(ctx, pypkg.NormalizeName(name))
		if errors.Is(err, store.ErrNotFound) {
			return Subject{}, ErrNoSuchProject
		}
		return Subject{Kind: kind, Name: p.Name, ID: p.ID}, err
	case store.EarlyOrg:
		o, err := e.db.OrganizationByName(ctx, pypkg.NormalizeName(name))
		if errors.Is(err, store.ErrNotFound) {
			return Subject{}, ErrNoSuchOrg
		}
		return Subject{Kind: kind, Name: o.Name, ID: o.ID}, err
	}
	return Subject{}, ErrBadKind
}

// Place puts the user or project (kind, name) under enforce now, for reason; it reports whether it was not already.
func (e *Early) Place(ctx context.Context, actorID int64, kind, name, reason string, from audit.Request) (Subject, bool, error) {
	return e.change(ctx, actorID, kind, name, reason, from, true)
}

// Lift ends an early enforcement, for reason; it reports whether there was one.
func (e *Early) Lift(ctx context.Context, actorID int64, kind, name, reason string, from audit.Request) (Subject, bool, error) {
	return e.change(ctx, actorID, kind, name, reason, from, false)
}

func (e *Early) change(ctx context.Context, actorID int64, kind, name, reason string, from audit.Request, place bool) (Subject, bool, error) {
	if err := audit.CheckReason(reason); err != nil {
		return Subject{}, false, err
	}
	sub, err := e.find(ctx, kind, name)
	if err != nil {
		return Subject{}, false, err
	}
	var changed bool
	if place {
		changed, err = e.db.EnforceEarly(ctx, kind, sub.ID, reason, e.now())
	} else {
		changed, err = e.db.LiftEarly(ctx, kind, sub.ID)
	}
	if err != nil || !changed {
		return sub, false, err
	}
	userID, projectID := sub.ID, int64(0)
	switch kind {
	case store.EarlyProject:
		userID, projectID = actorID, sub.ID
	case store.EarlyOrg:
		userID = actorID
	}
	event, detail := EventEnforceEarly, "placed under the 2FA mandate's enforce phase early: "+reason
	if !place {
		event, detail = EventLiftEarly, "early enforcement of the 2FA mandate lifted: "+reason
	}
	if err := e.audit.Record(ctx, event, userID, projectID, from, detail); err != nil {
		return sub, true, fmt.Errorf("record %s: %w", event, err)
	}
	return sub, true, nil
}

// List is every user and project under early enforcement.
func (e *Early) List(ctx context.Context) ([]store.EarlyEnforcement, error) {
	return e.db.EarlyEnforcements(ctx)
}
