package storetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/store"
)

// RunMFA is the conformance suite for TOTP credentials, enrolments and recovery codes.
func RunMFA(t *testing.T, open func(testing.TB) *store.DB) {
	ctx := context.Background()

	t.Run("enrolment", func(t *testing.T) {
		db := open(t)
		u := MustUser(t, db, "alice")
		if _, err := db.TOTPPendingFor(ctx, u.ID, t0); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("pending before Begin: got %v, want ErrNotFound", err)
		}
		old := store.TOTPPending{UserID: u.ID, Sealed: []byte("old"), Label: "phone", CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute)}
		if err := db.PutTOTPPending(ctx, old); err != nil {
			t.Fatal(err)
		}
		p := old
		p.Sealed = []byte("new")
		if err := db.PutTOTPPending(ctx, p); err != nil {
			t.Fatalf("second Begin replaces the first: %v", err)
		}
		got, err := db.TOTPPendingFor(ctx, u.ID, t0)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(p, got); diff != "" {
			t.Errorf("pending (-want +got):\n%s", diff)
		}
		if _, err := db.TOTPPendingFor(ctx, u.ID, p.ExpiresAt); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("pending at expiry: got %v, want ErrNotFound", err)
		}
		for _, c := range []struct {
			name   string
			sealed []byte
			at     time.Time
		}{
			{"replaced secret", []byte("old"), t0},
			{"lapsed", []byte("new"), p.ExpiresAt},
		} {
			if _, err := db.ActivateTOTP(ctx, u.ID, c.sealed, 1, c.at); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("activate %s: got %v, want ErrNotFound", c.name, err)
			}
		}
		c, err := db.ActivateTOTP(ctx, u.ID, []byte("new"), 100, t0)
		if err != nil {
			t.Fatal(err)
		}
		want := store.TOTPCredential{UserID: u.ID, Sealed: []byte("new"), Label: "phone", CreatedAt: t0, LastStep: 100}
		if diff := cmp.Diff(want, c); diff != "" {
			t.Errorf("activated (-want +got):\n%s", diff)
		}
		if got, err := db.TOTPCredentialFor(ctx, u.ID); err != nil || !cmp.Equal(want, got) {
			t.Errorf("credential = %+v, %v; want %+v", got, err, want)
		}
		if _, err := db.TOTPPendingFor(ctx, u.ID, t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("pending after activation: got %v, want ErrNotFound", err)
		}
		if err := db.PutTOTPPending(ctx, p); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ActivateTOTP(ctx, u.ID, p.Sealed, 1, t0); !errors.Is(err, store.ErrConflict) {
			t.Errorf("second credential: got %v, want ErrConflict", err)
		}
		if _, err := db.RemoveFactor(ctx, u.ID, store.FactorTOTP, 0, false); err != nil {
			t.Fatal(err)
		}
		if _, err := db.TOTPCredentialFor(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("credential after delete: got %v, want ErrNotFound", err)
		}
		if _, err := db.RemoveFactor(ctx, u.ID, store.FactorTOTP, 0, false); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second delete: got %v, want ErrNotFound", err)
		}
	})

	t.Run("totp steps only move forward", func(t *testing.T) {
		db := open(t)
		u := MustUser(t, db, "alice")
		if err := db.AcceptTOTPStep(ctx, u.ID, 5, t0); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("without a credential: got %v, want ErrNotFound", err)
		}
		mustCredential(t, db, u.ID, 100)
		for _, c := range []struct {
			name string
			step int64
			want error
		}{
			{"the confirming step", 100, store.ErrNotFound},
			{"an earlier step", 99, store.ErrNotFound},
			{"the next step", 101, nil},
			{"the same again", 101, store.ErrNotFound},
			{"a later step", 103, nil},
			{"one skipped over", 102, store.ErrNotFound},
		} {
			if err := db.AcceptTOTPStep(ctx, u.ID, c.step, t0.Add(time.Minute)); !errors.Is(err, c.want) {
				t.Errorf("%s: got %v, want %v", c.name, err, c.want)
			}
		}
		got, err := db.TOTPCredentialFor(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.LastStep != 103 || !got.LastUsedAt.Equal(t0.Add(time.Minute)) {
			t.Errorf("after use: step %d, used %v; want 103, %v", got.LastStep, got.LastUsedAt, t0.Add(time.Minute))
		}
	})

	t.Run("one code, 20 parallel uses", func(t *testing.T) {
		db := open(t)
		u := MustUser(t, db, "alice")
		mustCredential(t, db, u.ID, 100)
		var ok, replay atomic.Int32
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				switch err := db.AcceptTOTPStep(ctx, u.ID, 101, t0); {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, store.ErrNotFound):
					replay.Add(1)
				default:
					t.Errorf("accept: %v", err)
				}
			})
		}
		wg.Wait()
		if ok.Load() != 1 || replay.Load() != 19 {
			t.Errorf("%d accepted, %d refused; want 1 and 19", ok.Load(), replay.Load())
		}
	})

	t.Run("recovery codes", func(t *testing.T) {
		db := open(t)
		u, other := MustUser(t, db, "alice"), MustUser(t, db, "bob")
		set := func(prefix string) []store.RecoveryCode {
			var cs []store.RecoveryCode
			for i := range 3 {
				cs = append(cs, store.RecoveryCode{Salt: []byte{byte(i)}, Hash: []byte(prefix + string(rune('a'+i)))})
			}
			return cs
		}
		if err := db.ReplaceRecoveryCodes(ctx, u.ID, set("old"), t0); err != nil {
			t.Fatal(err)
		}
		if err := db.ReplaceRecoveryCodes(ctx, other.ID, set("bob"), t0); err != nil {
			t.Fatal(err)
		}
		old, err := db.UnusedRecoveryCodes(ctx, u.ID)
		if err != nil || len(old) != 3 {
			t.Fatalf("codes = %d, %v; want 3", len(old), err)
		}
		if _, err := db.UseRecoveryCode(ctx, other.ID, old[0].ID, t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("another user's code: got %v, want ErrNotFound", err)
		}
		if left, err := db.UseRecoveryCode(ctx, u.ID, old[0].ID, t0); err != nil || left != 2 {
			t.Errorf("use = %d, %v; want 2 left", left, err)
		}
		if _, err := db.UseRecoveryCode(ctx, u.ID, old[0].ID, t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second use: got %v, want ErrNotFound", err)
		}

		var ok atomic.Int32
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				switch _, err := db.UseRecoveryCode(ctx, u.ID, old[1].ID, t0); {
				case err == nil:
					ok.Add(1)
				case !errors.Is(err, store.ErrNotFound):
					t.Errorf("use: %v", err)
				}
			})
		}
		wg.Wait()
		if ok.Load() != 1 {
			t.Errorf("10 parallel uses of one code: %d succeeded, want 1", ok.Load())
		}

		if err := db.ReplaceRecoveryCodes(ctx, u.ID, set("new"), t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.UseRecoveryCode(ctx, u.ID, old[2].ID, t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("old code after regenerate: got %v, want ErrNotFound", err)
		}
		got, err := db.UnusedRecoveryCodes(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		var hashes []string
		for _, c := range got {
			hashes = append(hashes, string(c.Hash))
			if !c.CreatedAt.Equal(t0.Add(time.Hour)) {
				t.Errorf("created %v, want %v", c.CreatedAt, t0.Add(time.Hour))
			}
		}
		if diff := cmp.Diff([]string{"newa", "newb", "newc"}, hashes); diff != "" {
			t.Errorf("codes after regenerate (-want +got):\n%s", diff)
		}
		if bobs, err := db.UnusedRecoveryCodes(ctx, other.ID); err != nil || len(bobs) != 3 {
			t.Errorf("another user's codes = %d, %v; want 3 untouched", len(bobs), err)
		}
	})
}

func mustCredential(t *testing.T, db *store.DB, userID, step int64) {
	t.Helper()
	ctx := context.Background()
	p := store.TOTPPending{UserID: userID, Sealed: []byte("s"), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	if err := db.PutTOTPPending(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ActivateTOTP(ctx, userID, p.Sealed, step, t0); err != nil {
		t.Fatal(err)
	}
}
