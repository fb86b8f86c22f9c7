package mfa

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/audit"
	"wharf/internal/policy"
	"wharf/internal/store"
	"wharf/internal/store/storetest"
)

// ffix adds authenticator apps to the WebAuthn fixture, so that a user can hold both kinds of factor.
type ffix struct {
	*wfix
	totp *TOTP
}

func fsetup(t *testing.T, open func(testing.TB) *store.DB) *ffix {
	t.Helper()
	w := wsetup(t, open)
	totp, err := NewTOTP(w.db, serverSecret, "wharf", w.ev, w.clock.now)
	if err != nil {
		t.Fatal(err)
	}
	return &ffix{wfix: w, totp: totp}
}

func (f *ffix) user(t *testing.T, name string) int64 {
	t.Helper()
	u := storetest.MustUser(t, f.db, name)
	f.accounts[u.ID] = u
	return u.ID
}

func (f *ffix) enrolTOTP(t *testing.T, user int64, label string) {
	t.Helper()
	ctx := context.Background()
	secret, _, err := f.totp.Begin(ctx, user, label)
	if err != nil {
		t.Fatal(err)
	}
	code := HOTP(secret, uint64(Step(f.clock.now(), Period)), 6, SHA1)
	if err := f.totp.Confirm(ctx, user, code, audit.Request{}); err != nil {
		t.Fatal(err)
	}
}

func (f *ffix) addKey(t *testing.T, user int64, passkey bool, label string) Key {
	t.Helper()
	k, err := f.register(t, user, newKey(), passkey, label)
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	return k
}

// own makes the user the Owner of a new project, as its first upload does.
func (f *ffix) own(t *testing.T, user int64, project string) {
	t.Helper()
	_, err := f.db.AddFile(context.Background(), store.NewFile{
		ProjectName: project, NormalizedName: project, UltraName: project, CreateProject: true, UploaderID: user,
		Version: "1.0", CanonicalVersion: "1.0", ReleaseMetadata: []byte(`{}`), Filename: project + "-1.0.tar.gz",
		PackageType: "sdist", PythonVersion: "source", Size: 1, SHA256: project, Blake2b256: "b2-" + project, Now: f.clock.now(),
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (f *ffix) count(t *testing.T, user int64) int {
	t.Helper()
	all, err := f.factors.List(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	return len(all)
}

func (e *events) since(n int) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.all[n:])
}

func (e *events) len() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.all)
}

func TestFactors(t *testing.T) {
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			t.Run("list", func(t *testing.T) { testFactorList(t, e.Open) })
			t.Run("T6 removal needs a web session and a recent confirmation", func(t *testing.T) { testRemovalCredential(t, e.Open) })
			t.Run("the last factor", func(t *testing.T) { testLastFactor(t, e.Open) })
			t.Run("an Owner's last two factors, removed in parallel", func(t *testing.T) { testParallelRemoval(t, e.Open) })
		})
	}
}

func testFactorList(t *testing.T, open func(testing.TB) *store.DB) {
	ctx := context.Background()
	f := fsetup(t, open)
	start := f.clock.now()
	yubi := newKey()
	if _, err := f.register(t, f.alice, yubi, false, "YubiKey"); err != nil {
		t.Fatal(err)
	}
	f.clock.add(time.Minute)
	f.enrolTOTP(t, f.alice, "phone")
	f.clock.add(time.Minute)
	f.addKey(t, f.alice, true, "Pixel")
	f.clock.add(time.Minute)
	if _, err := f.login(t, f.alice, yubi); err != nil {
		t.Fatal(err)
	}
	got, err := f.factors.List(ctx, f.alice)
	if err != nil {
		t.Fatal(err)
	}
	want := []Factor{
		{Kind: "security key", Label: "YubiKey", CreatedAt: start, LastUsedAt: start.Add(3 * time.Minute)},
		{Kind: "authenticator app", Label: "phone", CreatedAt: start.Add(time.Minute)},
		{Kind: "passkey", Label: "Pixel", CreatedAt: start.Add(2 * time.Minute)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("alice's factors, oldest first (-want +got):\n%s", diff)
	}
	if got, err := f.factors.List(ctx, f.bob); err != nil || len(got) != 0 {
		t.Errorf("bob's factors = %+v, %v; want none", got, err)
	}
}

// testRemovalCredential refuses removal to an actor who could be an attacker holding less than the account (an
// unattended browser, a leaked token), and allows the same removal after a password confirmation.
func testRemovalCredential(t *testing.T, open func(testing.TB) *store.DB) {
	ctx := context.Background()
	f := fsetup(t, open)
	alice := f.accounts[f.alice]
	f.enrolTOTP(t, f.alice, "phone")
	key := f.addKey(t, f.alice, false, "YubiKey")
	f.addKey(t, f.alice, false, "spare")

	for _, c := range []struct {
		name   string
		actor  policy.Actor
		reauth bool // a confirmation would turn the refusal into an approval
	}{
		{"a web session without a recent confirmation", policy.Actor{User: alice}, true},
		{"an API token", policy.Actor{User: alice, Token: &policy.TokenScope{ID: "t"}, Sudo: true}, false},
		{"an API token, scoped", policy.Actor{User: alice, Token: &policy.TokenScope{ID: "t", Projects: []string{"demo"}}}, false},
	} {
		before := f.ev.len()
		for op, err := range map[string]error{
			"RemoveTOTP": f.factors.RemoveTOTP(ctx, c.actor, audit.Request{}),
			"RemoveKey":  second(f.factors.RemoveKey(ctx, c.actor, key.ID, audit.Request{})),
		} {
			var denied *policy.Denied
			if !errors.As(err, &denied) || errors.Is(err, policy.ErrReauthRequired) != c.reauth {
				t.Errorf("%s, %s: got %v; want a *policy.Denied, re-authentication required %v", c.name, op, err, c.reauth)
			}
		}
		if n := f.count(t, f.alice); n != 3 {
			t.Errorf("%s: %d factors left, want all 3", c.name, n)
		}
		if ev := f.ev.since(before); len(ev) != 0 {
			t.Errorf("%s: recorded %q for a refused removal", c.name, ev)
		}
	}

	before := f.ev.len()
	sudo := policy.Actor{User: alice, Sudo: true}
	if err := f.factors.RemoveTOTP(ctx, sudo, audit.Request{}); err != nil {
		t.Errorf("RemoveTOTP after a confirmation: %v", err)
	}
	removed, err := f.factors.RemoveKey(ctx, sudo, key.ID, audit.Request{})
	if err != nil || removed.ID != key.ID || removed.Label != "YubiKey" {
		t.Errorf("RemoveKey after a confirmation = %+v, %v; want the YubiKey", removed, err)
	}
	if n := f.count(t, f.alice); n != 1 {
		t.Errorf("%d factors left, want the spare key", n)
	}
	want := []string{
		fmt.Sprintf("%s user=%d phone", TOTPRemoved, f.alice),
		fmt.Sprintf("%s user=%d YubiKey", WebAuthnRemoved, f.alice),
	}
	if diff := cmp.Diff(want, f.ev.since(before)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func second[T any](_ T, err error) error { return err }

func testLastFactor(t *testing.T, open func(testing.TB) *store.DB) {
	ctx := context.Background()
	f := fsetup(t, open)
	engine := policy.New(f.db)
	for i, c := range []struct {
		name    string
		owner   bool
		admin   bool
		app     bool // the factor is an authenticator app, not a key
		factors int  // how many the user has
		denied  bool
	}{
		{"an Owner's only app", true, false, true, 1, true},
		{"an Owner's only key", true, false, false, 1, true},
		{"an Owner's app, a key remaining", true, false, true, 2, false},
		{"an Owner's key, an app remaining", true, false, false, 2, false},
		{"an administrator's only key", false, true, false, 1, true},
		{"the only app of a user without projects", false, false, true, 1, false},
		{"the only key of a user without projects", false, false, false, 1, false},
	} {
		user := f.user(t, fmt.Sprintf("user%d", i))
		actor := policy.Actor{User: f.accounts[user], Sudo: true, Admin: c.admin}
		if c.owner {
			f.own(t, user, fmt.Sprintf("project%d", i))
		}
		var key Key
		if c.app || c.factors > 1 {
			f.enrolTOTP(t, user, "phone")
		}
		if !c.app || c.factors > 1 {
			key = f.addKey(t, user, false, "YubiKey")
		}
		before := f.ev.len()
		var err error
		wantEvent := fmt.Sprintf("%s user=%d YubiKey", WebAuthnRemoved, user)
		if c.app {
			err = f.factors.RemoveTOTP(ctx, actor, audit.Request{})
			wantEvent = fmt.Sprintf("%s user=%d phone", TOTPRemoved, user)
		} else {
			_, err = f.factors.RemoveKey(ctx, actor, key.ID, audit.Request{})
		}

		if !c.denied {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			if n := f.count(t, user); n != c.factors-1 {
				t.Errorf("%s: %d factors left, want %d", c.name, n, c.factors-1)
			}
			if diff := cmp.Diff([]string{wantEvent}, f.ev.since(before)); diff != "" {
				t.Errorf("%s: events (-want +got):\n%s", c.name, diff)
			}
			continue
		}
		// The refusal is the policy's own, so that the web page shows the policy's reason.
		want := engine.Decide(ctx, actor, policy.RemoveLastFactor, policy.Target{})
		var denied *policy.Denied
		if want == nil || !errors.As(err, &denied) || denied.Reauth || err.Error() != want.Error() {
			t.Errorf("%s: got %v; want the policy's refusal %v", c.name, err, want)
		}
		if n := f.count(t, user); n != 1 {
			t.Errorf("%s: %d factors left, want it kept", c.name, n)
		}
		if ev := f.ev.since(before); len(ev) != 0 {
			t.Errorf("%s: recorded %q for a refused removal", c.name, ev)
		}
	}
}

// testParallelRemoval has each of two requests remove one of an Owner's last two factors: both pass the policy's
// check, so only the store's keeps one. The loser must get the policy's refusal, not a store error.
func testParallelRemoval(t *testing.T, open func(testing.TB) *store.DB) {
	ctx := context.Background()
	f := fsetup(t, open)
	for round := range 5 {
		user := f.user(t, fmt.Sprintf("owner%d", round))
		f.own(t, user, fmt.Sprintf("project%d", round))
		f.enrolTOTP(t, user, "phone")
		key := f.addKey(t, user, false, "YubiKey")
		actor := policy.Actor{User: f.accounts[user], Sudo: true}
		errs := make([]error, 2)
		var start, wg sync.WaitGroup
		start.Add(1)
		wg.Go(func() {
			start.Wait()
			errs[0] = f.factors.RemoveTOTP(ctx, actor, audit.Request{})
		})
		wg.Go(func() {
			start.Wait()
			_, errs[1] = f.factors.RemoveKey(ctx, actor, key.ID, audit.Request{})
		})
		start.Done()
		wg.Wait()
		var ok, denied int
		for _, err := range errs {
			var d *policy.Denied
			switch {
			case err == nil:
				ok++
			case errors.As(err, &d) && !d.Reauth:
				denied++
			default:
				t.Errorf("round %d: %v", round, err)
			}
		}
		if ok != 1 || denied != 1 {
			t.Errorf("round %d: %d removed, %d refused; want 1 and 1 (errors %v)", round, ok, denied, errs)
		}
		if n := f.count(t, user); n != 1 {
			t.Errorf("round %d: %d factors left, want 1", round, n)
		}
	}
}
