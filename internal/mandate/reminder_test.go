package mandate_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"wharf/internal/mandate"
	"wharf/internal/notify"
	"wharf/internal/policy"
	"wharf/internal/store"
	"wharf/internal/store/storetest"
)

// TestRemindAll: once the mandate's notice has begun, every maintainer without a second factor gets one reminder
// a week, in the words of the phase; accounts with a factor or without projects get none, and a second instance
// asking at the same time mails nobody twice.
func TestRemindAll(t *testing.T) {
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			ctx := context.Background()
			db := e.Open(t)
			t0 := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
			alice, bob := storetest.MustUser(t, db, "alice"), storetest.MustUser(t, db, "bob")
			storetest.MustUser(t, db, "reader")
			res, err := db.AddFile(ctx, store.NewFile{ProjectName: "demo", NormalizedName: "demo", UltraName: "demo", CreateProject: true,
				UploaderID: alice.ID, Version: "1.0", CanonicalVersion: "1.0", ReleaseMetadata: []byte(`{}`),
				Filename: "demo-1.0-py3-none-any.whl", PackageType: "bdist_wheel", PythonVersion: "py3", Size: 1,
				SHA256: "aa", MD5: "m", Blake2b256: "bb", Now: t0})
			if err != nil {
				t.Fatal(err)
			}
			if err := db.AddRole(ctx, res.Project.ID, bob.ID, store.RoleMaintainer, t0); err != nil {
				t.Fatal(err)
			}
			if err := db.PutTOTPPending(ctx, store.TOTPPending{UserID: bob.ID, Sealed: []byte("s"), Label: "app", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ActivateTOTP(ctx, bob.ID, []byte("s"), 0, t0); err != nil {
				t.Fatal(err)
			}

			now := t0
			clock := func() time.Time { return now }
			m := policy.Mandate{Notice: t0.AddDate(0, 0, 10), Restrict: t0.AddDate(0, 0, 30), Enforce: t0.AddDate(0, 0, 60),
				Restricted: policy.DefaultRestricted}
			engine := policy.New(db, policy.Mandated(m, clock))
			letters, err := notify.NewTemplates("Test Index", "https://index.example")
			if err != nil {
				t.Fatal(err)
			}
			box := &mailbox{}
			r := mandate.NewReminder(db, engine, box, letters, clock, slog.New(slog.DiscardHandler))
			other := mandate.NewReminder(db, engine, box, letters, clock, slog.New(slog.DiscardHandler))
			remind := func(r *mandate.Reminder) int {
				t.Helper()
				n, err := r.RemindAll(ctx)
				if err != nil {
					t.Fatal(err)
				}
				return n
			}

			if n := remind(r); n != 0 {
				t.Errorf("before the notice: %d reminders", n)
			}
			now = m.Notice.Add(time.Hour)
			if n := remind(r) + remind(other); n != 1 || len(box.sent) != 1 || box.sent[0].To != alice.Email {
				t.Fatalf("in notice, two instances: %d reminders %v, want one to alice", n, box.sent)
			}
			if body := box.sent[0].Text; !strings.Contains(body, "From 2027-01-31 an account without a second factor can no longer create projects") ||
				strings.Contains(body, "Already refused") {
				t.Errorf("the notice's reminder says:\n%s", body)
			}
			now = now.Add(mandate.Every - time.Minute)
			if n := remind(r); n != 0 {
				t.Errorf("within the week: %d reminders", n)
			}
			now = m.Restrict.Add(time.Hour)
			if n := remind(r); n != 1 || !strings.Contains(box.sent[1].Text, "Already refused to your account: create projects") {
				t.Errorf("in restrict: %d reminders, last %v", n, box.sent[len(box.sent)-1].Text)
			}
		})
	}
}

type mailbox struct{ sent []notify.Message }

func (m *mailbox) Send(_ context.Context, msg notify.Message) error {
	m.sent = append(m.sent, msg)
	return nil
}
