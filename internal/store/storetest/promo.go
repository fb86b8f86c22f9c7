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

// RunPromo is the conformance suite of the security-key offer: loading codes is idempotent, a claim gives an
// account one code and never one that another account got, concurrent claims included, and the maintainers of
// critical projects are found at decision time.
func RunPromo(t *testing.T, open func(testing.TB) *store.DB) {
	ctx := context.Background()
	load := func(t *testing.T, db *store.DB, batch string, codes ...string) (int, int) {
		t.Helper()
		added, present, err := db.LoadPromoCodes(ctx, codes, batch, t0)
		if err != nil {
			t.Fatalf("LoadPromoCodes(%v): %v", codes, err)
		}
		return added, present
	}
	counts := func(t *testing.T, db *store.DB, want store.PromoCounts) {
		t.Helper()
		got, err := db.PromoCounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("PromoCounts (-want +got):\n%s", diff)
		}
	}

	t.Run("loading twice counts once", func(t *testing.T) {
		db := open(t)
		counts(t, db, store.PromoCounts{})
		if a, p := load(t, db, "first", "AAAA-1", "BBBB-2", "CCCC-3", "AAAA-1"); a != 3 || p != 1 {
			t.Errorf("first load: %d added, %d present; want 3, 1", a, p)
		}
		if a, p := load(t, db, "second", "CCCC-3", "DDDD-4"); a != 1 || p != 1 {
			t.Errorf("second load: %d added, %d present; want 1, 1", a, p)
		}
		if a, p := load(t, db, "empty"); a != 0 || p != 0 {
			t.Errorf("an empty load: %d added, %d present", a, p)
		}
		counts(t, db, store.PromoCounts{Loaded: 4, Left: 4})
	})

	t.Run("claim once", func(t *testing.T) {
		db := open(t)
		alice, bob := MustUser(t, db, "alice"), MustUser(t, db, "bob")
		load(t, db, "titan-2026", "AAAA-1", "BBBB-2", "CCCC-3")
		if _, err := db.PromoCodeOf(ctx, alice.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("PromoCodeOf before any claim: %v, want ErrNotFound", err)
		}
		at := t0.Add(time.Hour)
		got, claimed, err := db.ClaimPromoCode(ctx, alice.ID, at)
		want := store.PromoCode{Code: "AAAA-1", Batch: "titan-2026", LoadedAt: t0, ClaimedBy: alice.ID, ClaimedAt: at}
		if err != nil || !claimed {
			t.Fatalf("first claim: claimed %v, %v", claimed, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("first claim (-want +got):\n%s", diff)
		}
		again, claimed, err := db.ClaimPromoCode(ctx, alice.ID, at.Add(time.Hour))
		if err != nil || claimed {
			t.Fatalf("second claim: claimed %v, %v; want the first code again", claimed, err)
		}
		if diff := cmp.Diff(want, again); diff != "" {
			t.Errorf("second claim (-want +got):\n%s", diff)
		}
		if of, err := db.PromoCodeOf(ctx, alice.ID); err != nil || !cmp.Equal(of, want) {
			t.Errorf("PromoCodeOf = %+v, %v; want %+v", of, err, want)
		}
		if b, _, err := db.ClaimPromoCode(ctx, bob.ID, at); err != nil || b.Code != "BBBB-2" {
			t.Errorf("bob's claim = %+v, %v; want BBBB-2", b, err)
		}
		counts(t, db, store.PromoCounts{Loaded: 3, Claimed: 2, Left: 1})
		// Loading a claimed code again changes neither its batch nor its claim.
		if a, p := load(t, db, "other", "AAAA-1"); a != 0 || p != 1 {
			t.Errorf("reloading a claimed code: %d added, %d present", a, p)
		}
		if of, err := db.PromoCodeOf(ctx, alice.ID); err != nil || !cmp.Equal(of, want) {
			t.Errorf("after a reload PromoCodeOf = %+v, %v; want %+v", of, err, want)
		}
	})

	t.Run("none left", func(t *testing.T) {
		db := open(t)
		alice, bob := MustUser(t, db, "alice"), MustUser(t, db, "bob")
		if _, _, err := db.ClaimPromoCode(ctx, alice.ID, t0); !errors.Is(err, store.ErrNoPromoCodes) {
			t.Errorf("a claim before any load: %v, want ErrNoPromoCodes", err)
		}
		load(t, db, "", "ONLY-1")
		if _, _, err := db.ClaimPromoCode(ctx, alice.ID, t0); err != nil {
			t.Fatal(err)
		}
		if _, _, err := db.ClaimPromoCode(ctx, bob.ID, t0); !errors.Is(err, store.ErrNoPromoCodes) {
			t.Errorf("bob's claim of no code: %v, want ErrNoPromoCodes", err)
		}
		if _, err := db.PromoCodeOf(ctx, bob.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("bob's code after a refused claim: %v, want ErrNotFound", err)
		}
		if got, claimed, err := db.ClaimPromoCode(ctx, alice.ID, t0); err != nil || claimed || got.Code != "ONLY-1" {
			t.Errorf("alice's claim once none is left = %+v, %v, %v; want her code", got, claimed, err)
		}
		counts(t, db, store.PromoCounts{Loaded: 1, Claimed: 1})
	})

	t.Run("concurrent claims", func(t *testing.T) {
		db := open(t)
		const users, codes = 16, 10
		var ids []int64
		for i := range users {
			ids = append(ids, MustUser(t, db, fmt.Sprintf("user%d", i)).ID)
		}
		var list []string
		for i := range codes {
			list = append(list, fmt.Sprintf("CODE-%02d", i))
		}
		load(t, db, "race", list...)
		// Every account claims twice at once, and all accounts at once.
		type result struct {
			code string
			err  error
		}
		got := make([][2]result, users)
		var wg sync.WaitGroup
		for i := range users {
			for j := range 2 {
				wg.Go(func() {
					pc, _, err := db.ClaimPromoCode(ctx, ids[i], t0)
					got[i][j] = result{pc.Code, err}
				})
			}
		}
		wg.Wait()
		owner := map[string]int{}
		winners := 0
		for i, r := range got {
			if r[0] != r[1] {
				t.Errorf("user%d's two claims: %+v and %+v; want the same answer", i, r[0], r[1])
			}
			switch {
			case r[0].err == nil:
				if prev, ok := owner[r[0].code]; ok {
					t.Errorf("code %s went to user%d and user%d", r[0].code, prev, i)
				}
				owner[r[0].code] = i
				winners++
			case !errors.Is(r[0].err, store.ErrNoPromoCodes):
				t.Errorf("user%d's claim: %v", i, r[0].err)
			}
		}
		if winners != codes {
			t.Errorf("%d accounts got a code, want %d", winners, codes)
		}
		counts(t, db, store.PromoCounts{Loaded: codes, Claimed: codes})
		for i, id := range ids {
			pc, err := db.PromoCodeOf(ctx, id)
			if got[i][0].err == nil && (err != nil || pc.Code != got[i][0].code) {
				t.Errorf("user%d holds %+v, %v; the claim said %s", i, pc, err, got[i][0].code)
			}
		}
	})

	t.Run("maintainers of critical projects", func(t *testing.T) {
		db := open(t)
		alice, bob, carol := MustUser(t, db, "alice"), MustUser(t, db, "bob"), MustUser(t, db, "carol")
		demo, err := db.AddFile(ctx, newFile("demo", "1.0", "demo-1.0-py3-none-any.whl", "aa", alice.ID, true))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.AddFile(ctx, newFile("other", "1.0", "other-1.0-py3-none-any.whl", "bb", carol.ID, true)); err != nil {
			t.Fatal(err)
		}
		if err := db.AddRole(ctx, demo.Project.ID, bob.ID, store.RoleMaintainer, t0); err != nil {
			t.Fatal(err)
		}
		check := func(when string, want map[string][]string) {
			t.Helper()
			for _, u := range []store.User{alice, bob, carol} {
				ok, err := db.MaintainsCritical(ctx, u.ID)
				if err != nil || ok != (len(want[u.Username]) > 0) {
					t.Errorf("%s: MaintainsCritical(%s) = %v, %v", when, u.Username, ok, err)
				}
				names, err := db.CriticalProjectsOf(ctx, u.ID)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want[u.Username], names); diff != "" {
					t.Errorf("%s: CriticalProjectsOf(%s) (-want +got):\n%s", when, u.Username, diff)
				}
			}
		}
		check("nothing critical", nil)
		if _, err := db.MarkCritical(ctx, []int64{demo.Project.ID}, t0); err != nil {
			t.Fatal(err)
		}
		check("demo critical", map[string][]string{"alice": {"demo"}, "bob": {"demo"}})
		if _, err := db.ReleaseCritical(ctx, demo.Project.ID); err != nil {
			t.Fatal(err)
		}
		check("demo released", nil)
	})
}
