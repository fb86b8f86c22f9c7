package critical

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"wharf/internal/audit"
	"wharf/internal/daily"
	"wharf/internal/notify"
	"wharf/internal/store"
	"wharf/internal/store/storetest"
)

// mailbox keeps what was sent.
type mailbox struct {
	mu   sync.Mutex
	sent []notify.Message
}

func (m *mailbox) Send(_ context.Context, msg notify.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, msg)
	return nil
}

func (m *mailbox) take() []notify.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.sent
	m.sent = nil
	return out
}

type designation struct {
	db   *store.DB
	d    *Designator
	mail *mailbox
	now  time.Time
	ids  map[string]int64
}

// newDesignation seeds n projects, proj-0 ... proj-(n-1), on a real database.
func newDesignation(t *testing.T, db *store.DB, n int) *designation {
	t.Helper()
	ctx := context.Background()
	f := &designation{db: db, mail: &mailbox{}, now: time.Date(2026, 7, 1, 10, 0, 0, 0, time.UTC), ids: map[string]int64{}}
	var files []store.NewFile
	for i := range n {
		name := fmt.Sprintf("proj-%d", i)
		files = append(files, store.NewFile{ProjectName: name, NormalizedName: name, UltraName: name, CreateProject: true,
			Version: "1.0", CanonicalVersion: "1.0", ReleaseMetadata: []byte("{}"), Filename: name + "-1.0.tar.gz",
			PackageType: "sdist", PythonVersion: "source", Size: 1, SHA256: "sha-" + name, Blake2b256: "b2-" + name, Now: f.now})
	}
	if err := db.SeedFiles(ctx, files); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		p, err := db.ProjectByName(ctx, fmt.Sprintf("proj-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		f.ids[p.NormalizedName] = p.ID
	}
	letters, err := notify.NewTemplates("Test Index", "https://index.example")
	if err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return f.now }
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	f.d = NewDesignator(db, audit.New(db, clock, logger), f.mail, letters, clock, logger)
	return f
}

// downloads adds count downloads of project on the day daysAgo before now.
func (f *designation) downloads(t *testing.T, project string, daysAgo int, count int64) {
	t.Helper()
	day := f.now.AddDate(0, 0, -daysAgo).Format(time.DateOnly)
	if err := f.db.AddDownloads(context.Background(), day, map[int64]int64{f.ids[project]: count}); err != nil {
		t.Fatal(err)
	}
}

func names(ps []store.Downloaded) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.NormalizedName)
	}
	return out
}

// TestRecompute: the top 1 % by downloads over the window becomes critical and stays critical; its collaborators
// are told once, in words that depend on whether their account has a second factor.
func TestRecompute(t *testing.T) {
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			ctx := context.Background()
			f := newDesignation(t, e.Open(t), 250) // 1 % of 250 is 2
			alice := storetest.MustUser(t, f.db, "alice")
			bob := storetest.MustUser(t, f.db, "bob")
			if err := f.db.AddRole(ctx, f.ids["proj-7"], alice.ID, store.RoleOwner, f.now); err != nil {
				t.Fatal(err)
			}
			if err := f.db.AddRole(ctx, f.ids["proj-7"], bob.ID, store.RoleMaintainer, f.now); err != nil {
				t.Fatal(err)
			}
			f.downloads(t, "proj-7", 1, 900)
			f.downloads(t, "proj-7", 100, 100)
			f.downloads(t, "proj-3", 2, 500)
			f.downloads(t, "proj-9", 3, 499)
			f.downloads(t, "proj-5", 200, 100000) // outside the 180-day window

			dry, err := f.d.Recompute(ctx, DefaultOptions(), true)
			if err != nil {
				t.Fatal(err)
			}
			if dry.Projects != 250 || dry.Size != 2 || !slices.Equal(names(dry.Designated), []string{"proj-7", "proj-3"}) {
				t.Fatalf("dry run: %+v", dry)
			}
			if p, _ := f.db.ProjectProtection(ctx, f.ids["proj-7"]); p.Critical() || len(f.mail.take()) != 0 {
				t.Fatal("a dry run designated or mailed")
			}

			res, err := f.d.Recompute(ctx, DefaultOptions(), false)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(res.Designated); !slices.Equal(got, []string{"proj-7", "proj-3"}) {
				t.Fatalf("designated %v, want proj-7 and proj-3", got)
			}
			if res.Top[0].Downloads != 1000 {
				t.Errorf("proj-7 counted %d downloads, want 1000", res.Top[0].Downloads)
			}
			mails := f.mail.take()
			if len(mails) != 2 {
				t.Fatalf("%d mails, want one to each of proj-7's collaborators", len(mails))
			}
			for _, m := range mails {
				if m.Kind != notify.KindCriticalProject || !strings.Contains(m.Subject, "proj-7 is now a critical project") ||
					!strings.Contains(m.Text, "Your account has no second factor yet") || !strings.Contains(m.Text, "top 1 %") {
					t.Errorf("mail to %s: %s\n%s", m.To, m.Subject, m.Text)
				}
			}
			events, err := f.db.Events(ctx, 0, f.ids["proj-7"], 10)
			if err != nil || len(events) != 1 || events[0].Kind != EventDesignated || !strings.Contains(events[0].Detail, "1000 downloads") {
				t.Errorf("proj-7's history: %+v %v", events, err)
			}

			// The next day nothing changes; then proj-9 overtakes proj-3, which stays critical all the same.
			f.now = f.now.Add(24 * time.Hour)
			if res, err := f.d.Recompute(ctx, DefaultOptions(), false); err != nil || len(res.Designated) != 0 || len(f.mail.take()) != 0 {
				t.Fatalf("second recompute: %+v %v", res, err)
			}
			f.downloads(t, "proj-9", 0, 5000)
			res, err = f.d.Recompute(ctx, DefaultOptions(), false)
			if err != nil || !slices.Equal(names(res.Designated), []string{"proj-9"}) {
				t.Fatalf("after proj-9's rise: %+v %v", res, err)
			}
			for _, name := range []string{"proj-3", "proj-7", "proj-9"} {
				if p, _ := f.db.ProjectProtection(ctx, f.ids[name]); !p.Critical() {
					t.Errorf("%s is not critical", name)
				}
			}
			if p, _ := f.db.ProjectProtection(ctx, f.ids["proj-5"]); p.Critical() {
				t.Error("downloads outside the window counted")
			}

			// Only an administrator releases a project, with a reason, in its history.
			if _, err := f.d.Release(ctx, 0, "proj-3", "", audit.Request{}); !errors.Is(err, audit.ErrReason) {
				t.Errorf("release without a reason: %v", err)
			}
			if ok, err := f.d.Release(ctx, 0, "proj-3", "moved to another index", audit.Request{}); err != nil || !ok {
				t.Fatalf("release: %v %v", ok, err)
			}
			if ok, err := f.d.Release(ctx, 0, "proj-3", "again", audit.Request{}); err != nil || ok {
				t.Errorf("releasing twice: %v %v", ok, err)
			}
			if ok, err := f.d.Mark(ctx, 0, "proj-100", "a dependency of everything", audit.Request{}); err != nil || !ok {
				t.Errorf("mark: %v %v", ok, err)
			}
			list, err := f.db.CriticalProjects(ctx, res.Since)
			if err != nil || !slices.Equal(names(list), []string{"proj-9", "proj-7", "proj-100"}) {
				t.Errorf("critical projects %v, %v", names(list), err)
			}
		})
	}
}

// TestRecomputeSmallIndex: an index with fewer than 100 projects still protects its most downloaded one, and one
// without downloads designates nothing.
func TestRecomputeSmallIndex(t *testing.T) {
	f := newDesignation(t, storetest.OpenSQLite(t), 30)
	ctx := context.Background()
	res, err := f.d.Recompute(ctx, DefaultOptions(), false)
	if err != nil || res.Size != 1 || len(res.Designated) != 0 {
		t.Fatalf("no downloads: %+v %v", res, err)
	}
	f.downloads(t, "proj-4", 0, 3)
	f.downloads(t, "proj-2", 0, 2)
	res, err = f.d.Recompute(ctx, DefaultOptions(), false)
	if err != nil || !slices.Equal(names(res.Designated), []string{"proj-4"}) {
		t.Fatalf("%+v %v", res, err)
	}
	res, err = f.d.Recompute(ctx, Options{Percent: 10, Window: 7 * 24 * time.Hour}, false)
	if err != nil || res.Size != 3 || !slices.Equal(names(res.Designated), []string{"proj-2"}) {
		t.Fatalf("10 %% over a week: %+v %v", res, err)
	}
}

// TestRecomputeMaintainedWindow: the top read from the store's maintained totals is the top summed from the daily
// counts, day after day as the window moves; a recompute over another window sums, and leaves the maintained
// window where it is.
func TestRecomputeMaintainedWindow(t *testing.T) {
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			ctx := context.Background()
			f := newDesignation(t, e.Open(t), 300) // a top of 3
			// Downloads on every day from 200 days ago to today, shifting from the first projects to the last.
			for ago := 200; ago >= 0; ago-- {
				for i := range 12 {
					if (ago+i)%3 == 0 {
						f.downloads(t, fmt.Sprintf("proj-%d", i), ago, int64(ago*(12-i)+(200-ago)*i+1))
					}
				}
			}
			summed := DefaultOptions()
			summed.Maintained = false
			for day := range 30 {
				res, err := f.d.Recompute(ctx, DefaultOptions(), false)
				if err != nil {
					t.Fatal(err)
				}
				if w, err := f.db.DownloadWindow(ctx); err != nil || !w.Equal(res.Since) {
					t.Fatalf("day %d: the window starts on %v, %v; want %v", day, w, err, res.Since)
				}
				want, err := f.d.Recompute(ctx, summed, true)
				if err != nil {
					t.Fatal(err)
				}
				for i := range want.Top {
					want.Top[i].CriticalSince = res.Top[i].CriticalSince
				}
				if !slices.Equal(res.Top, want.Top) || !res.Since.Equal(want.Since) {
					t.Fatalf("day %d: maintained top %+v, summed %+v", day, res.Top, want.Top)
				}
				if _, err := f.d.Recompute(ctx, Options{Percent: 2, Window: 30 * 24 * time.Hour}, true); err != nil {
					t.Fatal(err)
				}
				if w, err := f.db.DownloadWindow(ctx); err != nil || !w.Equal(res.Since) {
					t.Fatalf("day %d: a recompute over 30 days moved the window to %v, %v", day, w, err)
				}
				f.now = f.now.Add(24 * time.Hour)
				f.downloads(t, fmt.Sprintf("proj-%d", 11-day%12), 0, int64(500*day))
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, o := range []Options{{Percent: 0, Window: 24 * time.Hour}, {Percent: 101, Window: 24 * time.Hour}, {Percent: 1, Window: time.Hour}} {
		if o.Validate() == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	if err := DefaultOptions().Validate(); err != nil {
		t.Error(err)
	}
}

// countedLeases counts the leases given, and ends the test once the recompute is done and they were asked for
// six times.
type countedLeases struct {
	daily.Leases
	mu         sync.Mutex
	asked, won int
	done       func() bool
	cancel     context.CancelFunc
}

func (l *countedLeases) LeaseDay(ctx context.Context, job, day, holder string, now, until time.Time) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.asked++; l.asked >= 6 && l.done() {
		l.cancel()
		return false, nil
	}
	ok, err := l.Leases.LeaseDay(ctx, job, day, holder, now, until)
	if ok {
		l.won++
	}
	return ok, err
}

// TestDailyRecomputeOnceAcrossInstances: two instances on one database recompute once a day between them.
func TestDailyRecomputeOnceAcrossInstances(t *testing.T) {
	f := newDesignation(t, storetest.OpenSQLite(t), 10)
	f.downloads(t, "proj-1", 0, 10)
	other := NewDesignator(f.db, f.d.audit, f.mail, f.d.letters, f.d.now, f.d.log)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	leases := &countedLeases{Leases: f.db, cancel: cancel, done: func() bool {
		p, _ := f.db.ProjectProtection(ctx, f.ids["proj-1"])
		return p.Critical()
	}}
	// Both instances ask every millisecond for the same day.
	var wg sync.WaitGroup
	for i, d := range []*Designator{f.d, other} {
		r := daily.New(leases, daily.Options{Every: time.Millisecond, Holder: fmt.Sprint(i), Now: f.d.now, Log: f.d.log})
		wg.Go(func() { r.Run(ctx, Job, d.DailyRecompute(DefaultOptions())) })
	}
	wg.Wait()
	if leases.won != 1 || len(f.mail.take()) != 0 {
		t.Errorf("%d of %d leases given, want 1", leases.won, leases.asked)
	}
	if p, _ := f.db.ProjectProtection(context.Background(), f.ids["proj-1"]); !p.Critical() {
		t.Error("the day's recompute did not run")
	}
	next := f.now.Add(24 * time.Hour)
	if ok, err := f.db.LeaseDay(context.Background(), Job, next.Format(time.DateOnly), "x", next, next.Add(time.Minute)); err != nil || !ok {
		t.Errorf("the next day is not leased: %v %v", ok, err)
	}
}
