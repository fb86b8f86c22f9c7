package storetest

import (
	"context"
	"testing"
	"time"

	"wharf/internal/store"
)

// RunReminders is the conformance suite of the mandate's reminders: who they are for, and at most one per account
// and period whatever the number of instances asking.
func RunReminders(t *testing.T, open func(testing.TB) *store.DB) {
	ctx := context.Background()
	db := open(t)
	alice, bob, carol, dave := MustUser(t, db, "alice"), MustUser(t, db, "bob"), MustUser(t, db, "carol"), MustUser(t, db, "dave")
	erin := MustUnverifiedUser(t, db, "erin")
	demo, err := db.AddFile(ctx, newFile("demo", "1.0", "demo-1.0-py3-none-any.whl", "aa", alice.ID, true))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []store.User{bob, carol, dave, erin} {
		if err := db.AddRole(ctx, demo.Project.ID, u.ID, store.RoleMaintainer, t0); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.PutTOTPPending(ctx, store.TOTPPending{UserID: bob.ID, Sealed: []byte("s"), Label: "app", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ActivateTOTP(ctx, bob.ID, []byte("s"), 0, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DisableUser(ctx, dave.ID, t0); err != nil {
		t.Fatal(err)
	}
	MustUser(t, db, "reader") // no role at all
	got, err := db.UnprotectedMaintainers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range got {
		names = append(names, a.Username)
	}
	// bob has a factor, dave is disabled, erin never verified an address, reader maintains nothing.
	if len(names) != 2 || names[0] != "alice" || names[1] != "carol" {
		t.Errorf("UnprotectedMaintainers = %v, want [alice carol]", names)
	}

	week := 7 * 24 * time.Hour
	results := make(chan bool, 8)
	for range 8 {
		go func() {
			ok, err := db.ClaimReminder(ctx, alice.ID, t0, week)
			if err != nil {
				t.Error(err)
			}
			results <- ok
		}()
	}
	wins := 0
	for range 8 {
		if <-results {
			wins++
		}
	}
	if wins != 1 {
		t.Errorf("%d of 8 concurrent claims won, want exactly 1", wins)
	}
	for _, tc := range []struct {
		at   time.Time
		want bool
	}{{t0.Add(week - time.Minute), false}, {t0.Add(week), true}, {t0.Add(week + time.Hour), false}} {
		if ok, err := db.ClaimReminder(ctx, alice.ID, tc.at, week); err != nil || ok != tc.want {
			t.Errorf("claim at %v: %v, %v; want %v", tc.at, ok, err, tc.want)
		}
	}
	if ok, err := db.ClaimReminder(ctx, carol.ID, t0, week); err != nil || !ok {
		t.Errorf("another account's first reminder: %v, %v", ok, err)
	}
}
