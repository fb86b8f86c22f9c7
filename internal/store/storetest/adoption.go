package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/store"
)

// RunAdoption is the conformance suite of the 2FA adoption figures: who counts as a maintainer and as protected,
// which uploads count as made with a second factor, the daily history, and the critical projects' unprotected
// maintainers.
func RunAdoption(t *testing.T, open func(testing.TB) *store.DB) {
	ctx := context.Background()
	addKey := func(t *testing.T, db *store.DB, u store.User, at time.Time) store.WebAuthnCredential {
		t.Helper()
		c, err := db.AddWebAuthnCredential(ctx, store.WebAuthnCredential{UserID: u.ID, CredentialID: []byte("key of " + u.Username),
			PublicKey: []byte("pk"), AAGUID: make([]byte, 16), Label: "key", CreatedAt: at})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	addTOTP := func(t *testing.T, db *store.DB, u store.User, at time.Time) {
		t.Helper()
		p := store.TOTPPending{UserID: u.ID, Sealed: []byte("s"), CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
		if err := db.PutTOTPPending(ctx, p); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ActivateTOTP(ctx, u.ID, p.Sealed, 1, at); err != nil {
			t.Fatal(err)
		}
	}
	upload := func(t *testing.T, db *store.DB, project, version string, by store.User, create bool, at time.Time) store.AddFileResult {
		t.Helper()
		nf := newFile(project, version, project+"-"+version+"-py3-none-any.whl", project+version, by.ID, create)
		nf.Now = at
		res, err := db.AddFile(ctx, nf)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	figures := func(t *testing.T, db *store.DB, from, to time.Time) store.Adoption {
		t.Helper()
		a, err := db.Adoption(ctx, from, to)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	critical := func(t *testing.T, db *store.DB, ids ...int64) {
		t.Helper()
		if _, err := db.MarkCritical(ctx, ids, t0); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("empty", func(t *testing.T) {
		db := open(t)
		MustUser(t, db, "nobody")
		if diff := cmp.Diff(store.Adoption{}, figures(t, db, t0, t0.Add(24*time.Hour))); diff != "" {
			t.Errorf("an index without projects (-want +got):\n%s", diff)
		}
		if cs, err := db.CriticalCoverages(ctx); err != nil || len(cs) != 0 {
			t.Errorf("CriticalCoverages = %+v, %v; want none", cs, err)
		}
		if h, err := db.AdoptionHistory(ctx, t0.AddDate(-1, 0, 0)); err != nil || len(h) != 0 {
			t.Errorf("AdoptionHistory = %+v, %v; want none", h, err)
		}
	})

	t.Run("maintainers and their factors", func(t *testing.T) {
		db := open(t)
		// alice: an authenticator app; bob: a security key; erin: both; carol and frank: none. dave has no role.
		alice, bob, carol := MustUser(t, db, "alice"), MustUser(t, db, "bob"), MustUser(t, db, "carol")
		dave, erin, frank := MustUser(t, db, "dave"), MustUser(t, db, "erin"), MustUser(t, db, "frank")
		addTOTP(t, db, alice, t0)
		addKey(t, db, bob, t0)
		addKey(t, db, dave, t0)
		addTOTP(t, db, erin, t0)
		addKey(t, db, erin, t0)
		demo := upload(t, db, "demo", "1.0", alice, true, t0)
		other := upload(t, db, "other", "1.0", erin, true, t0)
		upload(t, db, "third", "1.0", frank, true, t0)
		for _, r := range []struct {
			p    int64
			u    store.User
			role string
		}{{demo.Project.ID, bob, store.RoleMaintainer}, {demo.Project.ID, carol, store.RoleMaintainer},
			{other.Project.ID, alice, store.RoleMaintainer}} {
			if err := db.AddRole(ctx, r.p, r.u.ID, r.role, t0); err != nil {
				t.Fatal(err)
			}
		}
		want := store.Adoption{Maintainers: 5, MaintainersWith2FA: 3, MaintainersWithWebAuthn: 2, Uploads: 3, UploadsWith2FA: 2}
		if diff := cmp.Diff(want, figures(t, db, t0, t0.Add(time.Hour))); diff != "" {
			t.Errorf("before any designation (-want +got):\n%s", diff)
		}

		// demo is critical: alice, bob and carol maintain it, alice's and bob's accounts are protected, bob's by a key.
		critical(t, db, demo.Project.ID)
		want.CriticalProjects, want.CriticalMaintainers, want.CriticalMaintainersWith2FA, want.CriticalMaintainersWithWebAuthn = 1, 3, 2, 1
		if diff := cmp.Diff(want, figures(t, db, t0, t0.Add(time.Hour))); diff != "" {
			t.Errorf("with demo critical (-want +got):\n%s", diff)
		}
		// Both of alice's projects critical: she still counts once.
		critical(t, db, other.Project.ID)
		want.CriticalProjects, want.CriticalMaintainers, want.CriticalMaintainersWith2FA, want.CriticalMaintainersWithWebAuthn = 2, 4, 3, 2
		if diff := cmp.Diff(want, figures(t, db, t0, t0.Add(time.Hour))); diff != "" {
			t.Errorf("with demo and other critical (-want +got):\n%s", diff)
		}
		// A removed key leaves bob unprotected.
		keys, err := db.WebAuthnCredentials(ctx, bob.ID)
		if err != nil || len(keys) != 1 {
			t.Fatalf("bob's keys: %v, %v", keys, err)
		}
		if _, err := db.RemoveFactor(ctx, bob.ID, store.FactorWebAuthn, keys[0].ID, false); err != nil {
			t.Fatal(err)
		}
		want.MaintainersWith2FA, want.MaintainersWithWebAuthn = 2, 1
		want.CriticalMaintainersWith2FA, want.CriticalMaintainersWithWebAuthn = 2, 1
		if diff := cmp.Diff(want, figures(t, db, t0, t0.Add(time.Hour))); diff != "" {
			t.Errorf("after bob removed his key (-want +got):\n%s", diff)
		}
	})

	t.Run("uploads with a second factor", func(t *testing.T) {
		db := open(t)
		alice, bob, carol := MustUser(t, db, "alice"), MustUser(t, db, "bob"), MustUser(t, db, "carol")
		day := t0.Truncate(24 * time.Hour)
		// alice uploads before and after her authenticator app (added at 10:00); bob has a key from the start;
		// carol never has a factor.
		upload(t, db, "apple", "1.0", alice, true, day.Add(9*time.Hour))
		addTOTP(t, db, alice, day.Add(10*time.Hour))
		upload(t, db, "apple", "1.1", alice, false, day.Add(10*time.Hour))
		upload(t, db, "apple", "1.2", alice, false, day.Add(23*time.Hour))
		addKey(t, db, bob, day.Add(-time.Hour))
		upload(t, db, "banana", "1.0", bob, true, day.Add(time.Hour))
		upload(t, db, "cherry", "1.0", carol, true, day.Add(2*time.Hour))
		// Outside the day: before it and at the next midnight.
		upload(t, db, "cherry", "0.9", carol, false, day.Add(-time.Microsecond))
		upload(t, db, "banana", "2.0", bob, false, day.Add(24*time.Hour))

		got := figures(t, db, day, day.Add(24*time.Hour))
		if got.Uploads != 5 || got.UploadsWith2FA != 3 {
			t.Errorf("the day's uploads = %d, with 2FA %d; want 5 and 3 (alice's 10:00 and 23:00, bob's)", got.Uploads, got.UploadsWith2FA)
		}
		// A deleted file was still uploaded.
		if _, err := db.DeleteFile(ctx, "banana-1.0-py3-none-any.whl", bob.ID, day.Add(3*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if got := figures(t, db, day, day.Add(24*time.Hour)); got.Uploads != 5 || got.UploadsWith2FA != 3 {
			t.Errorf("after a deletion: %d uploads, %d with 2FA; want 5 and 3", got.Uploads, got.UploadsWith2FA)
		}
		// Once alice removes her app, nothing says she had it at upload time: her uploads count as without.
		if _, err := db.RemoveFactor(ctx, alice.ID, store.FactorTOTP, 0, false); err != nil {
			t.Fatal(err)
		}
		if got := figures(t, db, day, day.Add(24*time.Hour)); got.Uploads != 5 || got.UploadsWith2FA != 1 {
			t.Errorf("after alice removed her factor: %d uploads, %d with 2FA; want 5 and 1", got.Uploads, got.UploadsWith2FA)
		}
		if got := figures(t, db, day.Add(24*time.Hour), day.Add(48*time.Hour)); got.Uploads != 1 || got.UploadsWith2FA != 1 {
			t.Errorf("the next day: %d uploads, %d with 2FA; want 1 and 1", got.Uploads, got.UploadsWith2FA)
		}
	})

	t.Run("history", func(t *testing.T) {
		db := open(t)
		day := func(n int) time.Time { return time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, n) }
		rec := func(d store.AdoptionDay) {
			t.Helper()
			if err := db.RecordAdoptionDay(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		full := store.Adoption{Maintainers: 10, MaintainersWith2FA: 4, MaintainersWithWebAuthn: 2, CriticalProjects: 1,
			CriticalMaintainers: 3, CriticalMaintainersWith2FA: 2, CriticalMaintainersWithWebAuthn: 1, Uploads: 7, UploadsWith2FA: 5}
		second := store.AdoptionDay{Day: day(1), TakenAt: day(2).Add(time.Minute), Adoption: store.Adoption{Maintainers: 1}}
		first := store.AdoptionDay{Day: day(0), TakenAt: day(1).Add(time.Minute), Adoption: full}
		rec(second)
		rec(first)
		rec(store.AdoptionDay{Day: day(-40), TakenAt: day(-39), Adoption: full})
		got, err := db.AdoptionHistory(ctx, day(-30))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]store.AdoptionDay{first, second}, got); diff != "" {
			t.Errorf("history from day -30, oldest first (-want +got):\n%s", diff)
		}
		// Recording a day again replaces it.
		second.Adoption, second.TakenAt = full, day(2).Add(time.Hour)
		rec(second)
		if got, err := db.AdoptionHistory(ctx, day(1)); err != nil || !cmp.Equal([]store.AdoptionDay{second}, got) {
			t.Errorf("after recording day 1 again: %+v, %v", got, err)
		}
	})

	t.Run("critical projects' unprotected maintainers", func(t *testing.T) {
		db := open(t)
		alice, bob, carol := MustUser(t, db, "alice"), MustUser(t, db, "bob"), MustUser(t, db, "carol")
		erin, frank := MustUser(t, db, "erin"), MustUser(t, db, "frank")
		addKey(t, db, alice, t0)
		addTOTP(t, db, erin, t0)
		demo := upload(t, db, "demo", "1.0", alice, true, t0)
		safe := upload(t, db, "safe", "1.0", erin, true, t0)
		plain := upload(t, db, "plain", "1.0", carol, true, t0)
		for _, r := range []struct {
			p    int64
			u    store.User
			role string
		}{{demo.Project.ID, frank, store.RoleMaintainer}, {demo.Project.ID, carol, store.RoleOwner},
			{demo.Project.ID, bob, store.RoleMaintainer}, {safe.Project.ID, alice, store.RoleMaintainer}} {
			if err := db.AddRole(ctx, r.p, r.u.ID, r.role, t0); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.DisableUser(ctx, frank.ID, t0); err != nil {
			t.Fatal(err)
		}
		critical(t, db, safe.Project.ID, demo.Project.ID)
		got, err := db.CriticalCoverages(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []store.CriticalCoverage{
			{ProjectID: demo.Project.ID, Name: "demo", CriticalSince: t0, Maintainers: 4, Unprotected: []store.UnprotectedMaintainer{
				{Username: "carol", Role: store.RoleOwner}, {Username: "bob", Role: store.RoleMaintainer},
				{Username: "frank", Role: store.RoleMaintainer, Disabled: true}}},
			{ProjectID: safe.Project.ID, Name: "safe", CriticalSince: t0, Maintainers: 2},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("CriticalCoverages, most unprotected first (-want +got):\n%s", diff)
		}
		_ = plain // not critical: not listed, though its Owner has no factor
	})
}
