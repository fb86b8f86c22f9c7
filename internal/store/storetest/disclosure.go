package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/store"
)

// RunDisclosure checks the revocation of a reported (leaked) token by its id alone (K9).
func RunDisclosure(t *testing.T, open func(testing.TB) *store.DB) {
	ctx := context.Background()

	t.Run("revoke by id", func(t *testing.T) {
		db := open(t)
		alice := MustUser(t, db, "alice")
		live := store.Token{ID: "live", UserID: alice.ID, Name: "ci", Projects: []string{"demo"}, CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour)}
		expired := store.Token{ID: "expired", UserID: alice.ID, Name: "old", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		for _, tok := range []store.Token{live, expired} {
			if err := db.CreateToken(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}
		at := t0.Add(2 * time.Hour)

		got, changed, err := db.RevokeTokenByID(ctx, "live", at)
		if err != nil || !changed {
			t.Fatalf("first revocation: changed=%v err=%v, want true, nil", changed, err)
		}
		want := live
		want.RevokedAt = at
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("revoked record (-want +got):\n%s", diff)
		}

		got, changed, err = db.RevokeTokenByID(ctx, "live", at.Add(time.Hour))
		if err != nil || changed {
			t.Errorf("second revocation: changed=%v err=%v, want false, nil", changed, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("a second revocation changed the record (-want +got):\n%s", diff)
		}

		got, changed, err = db.RevokeTokenByID(ctx, "expired", at)
		if err != nil || !changed || !got.RevokedAt.Equal(at) {
			t.Errorf("expired token: revoked_at=%v changed=%v err=%v, want revoked at %v", got.RevokedAt, changed, err, at)
		}

		if _, changed, err := db.RevokeTokenByID(ctx, "missing", at); !errors.Is(err, store.ErrNotFound) || changed {
			t.Errorf("missing token: changed=%v err=%v, want false, ErrNotFound", changed, err)
		}
	})

	t.Run("concurrent reports of one token revoke once", func(t *testing.T) {
		db := open(t)
		alice := MustUser(t, db, "alice")
		if err := db.CreateToken(ctx, store.Token{ID: "leaked", UserID: alice.ID, Name: "ci", CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		const n = 10
		var wg sync.WaitGroup
		var mu sync.Mutex
		changes := 0
		for i := range n {
			wg.Go(func() {
				_, changed, err := db.RevokeTokenByID(ctx, "leaked", t0.Add(time.Duration(i+1)*time.Second))
				if err != nil {
					t.Errorf("revocation %d: %v", i, err)
				}
				if changed {
					mu.Lock()
					changes++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if changes != 1 {
			t.Errorf("%d of %d concurrent revocations changed the record, want exactly 1", changes, n)
		}
	})
}
