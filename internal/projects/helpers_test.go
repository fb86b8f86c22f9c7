package projects_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"wharf/internal/audit"
	"wharf/internal/policy"
	"wharf/internal/projects"
	"wharf/internal/pypkg"
	"wharf/internal/store"
	"wharf/internal/store/storetest"
	"wharf/internal/tokens"
)

var key = bytes.Repeat([]byte("k"), 32)

type invalidations struct {
	mu    sync.Mutex
	names []string
}

func (i *invalidations) Invalidate(name string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.names = append(i.names, name)
}

func (i *invalidations) take() []string {
	i.mu.Lock()
	defer i.mu.Unlock()
	out := i.names
	i.names = nil
	return out
}

// fixture is a Manager on a real, migrated database, with the real policy engine, audit log and token service.
type fixture struct {
	t      *testing.T
	db     *store.DB
	m      *projects.Manager
	policy *policy.Engine
	tokens *tokens.Service
	index  *invalidations
	now    time.Time
}

func newFixture(t *testing.T, db *store.DB) *fixture {
	t.Helper()
	f := &fixture{t: t, db: db, policy: policy.New(db), index: &invalidations{}, now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	clock := func() time.Time { return f.now }
	log := audit.New(db, clock, slog.New(slog.NewTextHandler(io.Discard, nil)))
	m, err := projects.New(db, f.policy, log, f.index, key, clock, projects.Options{})
	if err != nil {
		t.Fatal(err)
	}
	minter, err := tokens.NewMinter(key)
	if err != nil {
		t.Fatal(err)
	}
	f.m, f.tokens = m, tokens.NewService(minter, db, log, clock)
	return f
}

// engines runs fn on a fresh database of each engine.
func engines(t *testing.T, fn func(t *testing.T, f *fixture)) {
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) { fn(t, newFixture(t, e.Open(t))) })
	}
}

// user creates an account with a verified address and an authenticator app, as every account that becomes an
// Owner must have; storetest.MustUser makes one without a second factor.
func (f *fixture) user(name string) store.User {
	f.t.Helper()
	u := storetest.MustUser(f.t, f.db, name)
	ctx := context.Background()
	if err := f.db.PutTOTPPending(ctx, store.TOTPPending{UserID: u.ID, Sealed: []byte("s"), CreatedAt: f.now, ExpiresAt: f.now.Add(time.Hour)}); err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.db.ActivateTOTP(ctx, u.ID, []byte("s"), 1, f.now); err != nil {
		f.t.Fatal(err)
	}
	return u
}

// project creates a project owned by owner with one wheel per version, and returns it.
func (f *fixture) project(name string, owner store.User, versions ...string) store.Project {
	f.t.Helper()
	var p store.Project
	for i, v := range versions {
		parsed, err := pypkg.ParseVersion(v)
		if err != nil {
			f.t.Fatal(err)
		}
		res, err := f.db.AddFile(context.Background(), store.NewFile{
			ProjectName: name, NormalizedName: name, UltraName: name, CreateProject: i == 0, UploaderID: owner.ID,
			Version: v, CanonicalVersion: parsed.ReleaseKey(), ReleaseMetadata: []byte(`{}`),
			Filename: fmt.Sprintf("%s-%s-py3-none-any.whl", name, v), PackageType: "bdist_wheel", PythonVersion: "py3",
			Size: 10, SHA256: name + v, MD5: "m", Blake2b256: "b-" + name + v, Now: f.now,
		})
		if err != nil {
			f.t.Fatal(err)
		}
		p = res.Project
	}
	return p
}

func (f *fixture) addRole(p store.Project, u store.User, role string) {
	f.t.Helper()
	if err := f.db.AddRole(context.Background(), p.ID, u.ID, role, f.now); err != nil {
		f.t.Fatal(err)
	}
}

// roles maps each collaborator's username to their role.
func (f *fixture) roles(p store.Project) map[string]string {
	f.t.Helper()
	cs, err := f.db.Collaborators(context.Background(), p.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]string{}
	for _, c := range cs {
		out[c.Username] = c.Role
	}
	return out
}

// kinds lists the kinds of a user's (projectID 0) or project's (userID 0) events, oldest first.
func (f *fixture) kinds(userID, projectID int64) []string {
	f.t.Helper()
	events, err := f.db.Events(context.Background(), userID, projectID, 100)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for i := len(events) - 1; i >= 0; i-- {
		out = append(out, events[i].Kind)
	}
	return out
}

// web is a signed-in browser that confirmed its password recently.
// web is u's signed-in session with a recent confirmation, as the policy sees it for an account made by user.
func web(u store.User) policy.Actor {
	return policy.Actor{EmailVerified: true, User: u, Sudo: true, TwoFactor: policy.TwoFactor{TOTP: true, Since: time.Unix(1, 0)}}
}

var from = audit.Request{IP: "192.0.2.7", UserAgent: "test"}

// wantErr fails the test unless err matches want (nil = success).
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if want == nil && err != nil || want != nil && !errors.Is(err, want) {
		t.Errorf("%s: got %v, want %v", what, err, want)
	}
}
