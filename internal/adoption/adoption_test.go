package adoption_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/adoption"
	"wharf/internal/daily"
	"wharf/internal/store"
	"wharf/internal/store/storetest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestSnapshotRecordsYesterday: the snapshot taken on a day holds the previous UTC day's uploads and the accounts
// as they are when it is taken, on a real database.
func TestSnapshotRecordsYesterday(t *testing.T) {
	ctx := context.Background()
	db := storetest.OpenSQLite(t)
	alice := storetest.MustUser(t, db, "alice")
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	upload := func(version string, at time.Time) {
		t.Helper()
		_, err := db.AddFile(ctx, store.NewFile{ProjectName: "demo", NormalizedName: "demo", UltraName: "dem0",
			CreateProject: version == "1.0", UploaderID: alice.ID, Version: version, CanonicalVersion: version,
			ReleaseMetadata: []byte(`{}`), Filename: "demo-" + version + ".tar.gz", PackageType: "sdist", PythonVersion: "source",
			Size: 1, SHA256: "sha" + version, MD5: "md5", Blake2b256: "b2" + version, Now: at})
		if err != nil {
			t.Fatal(err)
		}
	}
	upload("1.0", day.Add(-time.Hour)) // the day before
	upload("1.1", day.Add(12*time.Hour))
	upload("1.2", day.Add(24*time.Hour+time.Minute)) // today's, after midnight

	now := day.Add(24*time.Hour + 30*time.Minute)
	tr := adoption.New(db, func() time.Time { return now }, quiet)
	got, err := tr.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := store.AdoptionDay{Day: day, TakenAt: now, Adoption: store.Adoption{Maintainers: 1, Uploads: 1}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Snapshot (-want +got):\n%s", diff)
	}
	history, err := tr.History(ctx, 30)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]store.AdoptionDay{want}, history); diff != "" {
		t.Errorf("History (-want +got):\n%s", diff)
	}
	// The current figures count the last 24 hours: 1.1 (at 12:00 yesterday) and 1.2.
	if cur, err := tr.Current(ctx); err != nil || cur.Uploads != 2 || cur.Maintainers != 1 {
		t.Errorf("Current = %+v, %v; want 2 uploads and 1 maintainer", cur, err)
	}
}

// fakeStore records the snapshots; its figures are fixed.
type fakeStore struct {
	mu   sync.Mutex
	days []store.AdoptionDay
}

func (f *fakeStore) Adoption(ctx context.Context, from, to time.Time) (store.Adoption, error) {
	return store.Adoption{Maintainers: 3, MaintainersWith2FA: 1}, nil
}

func (f *fakeStore) RecordAdoptionDay(ctx context.Context, d store.AdoptionDay) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.days = append(f.days, d)
	return nil
}

func (f *fakeStore) AdoptionHistory(ctx context.Context, since time.Time) ([]store.AdoptionDay, error) {
	return nil, nil
}

func (f *fakeStore) CriticalCoverages(ctx context.Context) ([]store.CriticalCoverage, error) {
	return nil, nil
}

// leases is store.DB.LeaseDay's rule in memory for runs that finish: a job's day moves forward once.
type leases struct {
	mu   sync.Mutex
	days map[string]string
}

func (l *leases) LeaseDay(ctx context.Context, job, day, holder string, now, until time.Time) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.days[job] >= day {
		return false, nil
	}
	l.days[job] = day
	return true, nil
}

func (l *leases) RenewLease(context.Context, string, string, string, time.Time) (bool, error) {
	return true, nil
}

func (l *leases) FinishDay(context.Context, string, string, string) (bool, error) { return true, nil }

// TestDailySnapshotOncePerDay: two instances that share the leases record each day once, the first at start and
// the next within the hour after midnight.
func TestDailySnapshotOncePerDay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := &fakeStore{}
		l := &leases{days: map[string]string{}}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for i := range 2 {
			tr := adoption.New(db, time.Now, quiet)
			jobs := daily.New(l, daily.Options{Holder: fmt.Sprint(i), Log: quiet})
			wg.Go(func() { jobs.Run(ctx, adoption.Job, tr.DailySnapshot) })
		}
		start := time.Now().UTC()
		time.Sleep(50 * time.Hour)
		cancel()
		wg.Wait()

		var days []string
		for _, d := range db.days {
			days = append(days, d.Day.Format(time.DateOnly))
			if d.TakenAt.Sub(d.Day) > 25*time.Hour {
				t.Errorf("the snapshot of %s was taken at %v, more than an hour after the day ended", d.Day, d.TakenAt)
			}
		}
		first := time.Date(start.Year(), start.Month(), start.Day(), 0, 0, 0, 0, time.UTC)
		var want []string
		for i := -1; first.AddDate(0, 0, i+1).Before(start.Add(50 * time.Hour)); i++ {
			want = append(want, first.AddDate(0, 0, i).Format(time.DateOnly))
		}
		if diff := cmp.Diff(want, days); diff != "" {
			t.Errorf("days recorded (-want +got):\n%s", diff)
		}
	})
}

func TestShare(t *testing.T) {
	for _, c := range []struct {
		n, of int64
		want  float64
	}{{0, 4, 0}, {1, 4, 25}, {4, 4, 100}, {2, 3, 200.0 / 3}} {
		if got := adoption.Share(c.n, c.of); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("Share(%d, %d) = %v, want %v", c.n, c.of, got, c.want)
		}
	}
	if got := adoption.Share(0, 0); !math.IsNaN(got) {
		t.Errorf("Share(0, 0) = %v, want NaN", got)
	}
}
