package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/store"
)

// RunFactors is the conformance suite for the list of a user's second factors and their removal.
func RunFactors(t *testing.T, open func(testing.TB) *store.DB) {
	ctx := context.Background()

	addKey := func(t *testing.T, db *store.DB, userID int64, credID, label string, discoverable bool, at time.Time) store.WebAuthnCredential {
		t.Helper()
		c, err := db.AddWebAuthnCredential(ctx, store.WebAuthnCredential{UserID: userID, CredentialID: []byte(credID),
			PublicKey: []byte("pk"), AAGUID: make([]byte, 16), Discoverable: discoverable, Label: label, CreatedAt: at})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	addTOTP := func(t *testing.T, db *store.DB, userID int64, label string, at time.Time) {
		t.Helper()
		p := store.TOTPPending{UserID: userID, Sealed: []byte("s"), Label: label, CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
		if err := db.PutTOTPPending(ctx, p); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ActivateTOTP(ctx, userID, p.Sealed, 1, at); err != nil {
			t.Fatal(err)
		}
	}
	factors := func(t *testing.T, db *store.DB, userID int64) []store.Factor {
		t.Helper()
		fs, err := db.Factors(ctx, userID)
		if err != nil {
			t.Fatal(err)
		}
		return fs
	}

	t.Run("list", func(t *testing.T) {
		db := open(t)
		alice, bob := MustUser(t, db, "alice"), MustUser(t, db, "bob")
		if got := factors(t, db, alice.ID); len(got) != 0 {
			t.Errorf("before any: %+v; want none", got)
		}
		// Created out of order, so that "oldest first" is not the insertion order.
		passkey := addKey(t, db, alice.ID, "p", "phone", true, t0.Add(2*time.Hour))
		addTOTP(t, db, alice.ID, "authy", t0.Add(time.Hour))
		yubi := addKey(t, db, alice.ID, "y", "yubikey", false, t0)
		addKey(t, db, bob.ID, "b", "bob's", false, t0)
		if err := db.UseWebAuthnCredential(ctx, alice.ID, yubi.ID, 1, false, t0.Add(3*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := db.AcceptTOTPStep(ctx, alice.ID, 2, t0.Add(4*time.Hour)); err != nil {
			t.Fatal(err)
		}
		want := []store.Factor{
			{Kind: store.FactorWebAuthn, ID: yubi.ID, Label: "yubikey", CreatedAt: t0, LastUsedAt: t0.Add(3 * time.Hour)},
			{Kind: store.FactorTOTP, Label: "authy", CreatedAt: t0.Add(time.Hour), LastUsedAt: t0.Add(4 * time.Hour)},
			{Kind: store.FactorWebAuthn, ID: passkey.ID, Label: "phone", Discoverable: true, CreatedAt: t0.Add(2 * time.Hour)},
		}
		if diff := cmp.Diff(want, factors(t, db, alice.ID)); diff != "" {
			t.Errorf("alice's factors, oldest first (-want +got):\n%s", diff)
		}
	})

	t.Run("remove", func(t *testing.T) {
		db := open(t)
		alice, bob := MustUser(t, db, "alice"), MustUser(t, db, "bob")
		addTOTP(t, db, alice.ID, "authy", t0)
		key := addKey(t, db, alice.ID, "k", "yubikey", false, t0.Add(time.Hour))
		bobs := addKey(t, db, bob.ID, "b", "bob's", false, t0)

		for _, c := range []struct {
			name string
			user int64
			kind string
			id   int64
		}{
			{"another user's key", alice.ID, store.FactorWebAuthn, bobs.ID},
			{"a key id that does not exist", alice.ID, store.FactorWebAuthn, bobs.ID + 1000},
			{"a missing authenticator app", bob.ID, store.FactorTOTP, 0},
		} {
			for _, keepOne := range []bool{false, true} {
				if _, err := db.RemoveFactor(ctx, c.user, c.kind, c.id, keepOne); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("%s (keepOne %v): got %v, want ErrNotFound", c.name, keepOne, err)
				}
			}
		}
		if got := factors(t, db, bob.ID); len(got) != 1 {
			t.Errorf("bob's factors after alice's attempt: %+v; want his key kept", got)
		}

		// One of two goes, even with keepOne; the other is then the last, which keepOne keeps and only !keepOne
		// removes.
		got, err := db.RemoveFactor(ctx, alice.ID, store.FactorTOTP, 0, true)
		want := store.Factor{Kind: store.FactorTOTP, Label: "authy", CreatedAt: t0}
		if err != nil || !cmp.Equal(want, got) {
			t.Errorf("one of two with keepOne = %+v, %v; want %+v", got, err, want)
		}
		if _, err := db.RemoveFactor(ctx, alice.ID, store.FactorWebAuthn, key.ID, true); !errors.Is(err, store.ErrLastFactor) {
			t.Errorf("the only factor with keepOne: got %v, want ErrLastFactor", err)
		}
		if got := factors(t, db, alice.ID); len(got) != 1 || got[0].ID != key.ID {
			t.Errorf("after the refusal: %+v; want the key kept", got)
		}
		if _, err := db.RemoveFactor(ctx, alice.ID, store.FactorWebAuthn, key.ID, false); err != nil {
			t.Errorf("the only factor without keepOne: %v", err)
		}
		if got := factors(t, db, alice.ID); len(got) != 0 {
			t.Errorf("after removing the last: %+v; want none", got)
		}

		// The same two rules for an authenticator app as the only factor.
		addTOTP(t, db, alice.ID, "authy", t0)
		if _, err := db.RemoveFactor(ctx, alice.ID, store.FactorTOTP, 0, true); !errors.Is(err, store.ErrLastFactor) {
			t.Errorf("the only factor, an app, with keepOne: got %v, want ErrLastFactor", err)
		}
		if _, err := db.TOTPCredentialFor(ctx, alice.ID); err != nil {
			t.Errorf("the app after the refusal: %v; want it kept", err)
		}
		if _, err := db.RemoveFactor(ctx, alice.ID, store.FactorTOTP, 0, false); err != nil {
			t.Errorf("the only factor, an app, without keepOne: %v", err)
		}
	})

	t.Run("removing the app drops a pending enrolment", func(t *testing.T) {
		db := open(t)
		alice, bob := MustUser(t, db, "alice"), MustUser(t, db, "bob")
		pending := func(userID int64) store.TOTPPending {
			return store.TOTPPending{UserID: userID, Sealed: []byte("next"), Label: "new phone", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		}
		addTOTP(t, db, alice.ID, "authy", t0)
		addTOTP(t, db, bob.ID, "authy", t0)
		for _, u := range []int64{alice.ID, bob.ID} {
			if err := db.PutTOTPPending(ctx, pending(u)); err != nil {
				t.Fatal(err)
			}
		}
		// Removing a key leaves the enrolment alone: only the app's removal is about the app.
		k := addKey(t, db, alice.ID, "k", "yubikey", false, t0)
		if _, err := db.RemoveFactor(ctx, alice.ID, store.FactorWebAuthn, k.ID, false); err != nil {
			t.Fatal(err)
		}
		if _, err := db.TOTPPendingFor(ctx, alice.ID, t0); err != nil {
			t.Errorf("pending after removing a key: %v; want it kept", err)
		}
		if _, err := db.RemoveFactor(ctx, alice.ID, store.FactorTOTP, 0, false); err != nil {
			t.Fatal(err)
		}
		if _, err := db.TOTPPendingFor(ctx, alice.ID, t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("pending after removing the app: got %v, want ErrNotFound", err)
		}
		if _, err := db.TOTPPendingFor(ctx, bob.ID, t0); err != nil {
			t.Errorf("another user's pending enrolment: %v; want it kept", err)
		}
	})

	// Two removals of the last two factors, each with keepOne, each seeing the other factor before either commits,
	// would leave none: the store must serialise them. Repeated with fresh users, as one round may not overlap.
	t.Run("two parallel removals of the last two factors", func(t *testing.T) {
		db := open(t)
		for round := range 10 {
			u := MustUser(t, db, fmt.Sprintf("user%d", round))
			addTOTP(t, db, u.ID, "authy", t0)
			k := addKey(t, db, u.ID, fmt.Sprintf("k%d", round), "yubikey", false, t0)
			var start, wg sync.WaitGroup
			start.Add(1)
			errs := make([]error, 2)
			for i, f := range []struct {
				kind string
				id   int64
			}{{store.FactorTOTP, 0}, {store.FactorWebAuthn, k.ID}} {
				wg.Go(func() {
					start.Wait()
					_, errs[i] = db.RemoveFactor(ctx, u.ID, f.kind, f.id, true)
				})
			}
			start.Done()
			wg.Wait()
			var ok, last int
			for _, err := range errs {
				switch {
				case err == nil:
					ok++
				case errors.Is(err, store.ErrLastFactor):
					last++
				default:
					t.Errorf("round %d: %v", round, err)
				}
			}
			if ok != 1 || last != 1 {
				t.Errorf("round %d: %d removed, %d ErrLastFactor; want 1 and 1", round, ok, last)
			}
			if got := factors(t, db, u.ID); len(got) != 1 {
				t.Errorf("round %d: %d factors left, want 1", round, len(got))
			}
		}
	})
}
