package daily_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"wharf/internal/daily"
	"wharf/internal/store"
	"wharf/internal/store/storetest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// clock is a settable clock shared by the runners of a test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

var midnight = time.Date(2026, 12, 7, 0, 5, 0, 0, time.UTC)

// instances are runners on one SQLite database, as several servers share one.
func instances(t *testing.T, db *store.DB, c *clock, names ...string) []*daily.Runner {
	var out []*daily.Runner
	for _, name := range names {
		out = append(out, daily.New(db, daily.Options{Holder: name, Now: c.now, Log: quiet}))
	}
	return out
}

func turn(t *testing.T, r *daily.Runner, fn func(context.Context) error) bool {
	t.Helper()
	ran, err := r.Turn(context.Background(), "job", fn)
	if err != nil {
		t.Fatal(err)
	}
	return ran
}

// TestOncePerDay: of the instances asking, one runs the day's job; the next day, one runs it again.
func TestOncePerDay(t *testing.T) {
	c := &clock{t: midnight}
	rs := instances(t, storetest.OpenSQLite(t), c, "a", "b", "c")
	var runs atomic.Int32
	job := func(context.Context) error { runs.Add(1); return nil }
	for day := range 3 {
		var wg sync.WaitGroup
		for _, r := range rs {
			wg.Go(func() {
				if _, err := r.Turn(context.Background(), "job", job); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		// Later the same day, nobody runs it again.
		for _, r := range rs {
			c.advance(time.Hour)
			if turn(t, r, job) {
				t.Errorf("day %d: run again after it was done", day)
			}
		}
		if got := runs.Swap(0); got != 1 {
			t.Errorf("day %d: %d runs, want 1", day, got)
		}
		c.advance(24*time.Hour - 3*time.Hour)
	}
}

// TestDeadInstanceIsTakenOver: an instance that took the day and died holds it until its lease ends; then the
// next instance to ask runs the job, and the dead one could no longer finish it.
func TestDeadInstanceIsTakenOver(t *testing.T) {
	c := &clock{t: midnight}
	db := storetest.OpenSQLite(t)
	rs := instances(t, db, c, "alive")
	day := midnight.Format(time.DateOnly)
	if ok, err := db.LeaseDay(context.Background(), "job", day, "dead", c.now(), c.now().Add(10*time.Minute)); err != nil || !ok {
		t.Fatalf("the first lease: %v %v", ok, err)
	}
	ran := func(context.Context) error { return nil }
	c.advance(9 * time.Minute)
	if turn(t, rs[0], ran) {
		t.Fatal("ran while another instance's lease held")
	}
	c.advance(time.Minute)
	if !turn(t, rs[0], ran) {
		t.Fatal("the dead instance's day was not taken over when its lease ended")
	}
	if ok, err := db.FinishDay(context.Background(), "job", day, "dead"); err != nil || ok {
		t.Errorf("the dead instance finished a day taken over: %v %v", ok, err)
	}
}

// TestFailedRunIsTriedAgain: a run that fails leaves its lease to end, and the day is run again after it.
func TestFailedRunIsTriedAgain(t *testing.T) {
	c := &clock{t: midnight}
	rs := instances(t, storetest.OpenSQLite(t), c, "a", "b")
	broken := errors.New("the database went away")
	ran, err := rs[0].Turn(context.Background(), "job", func(context.Context) error { return broken })
	if !ran || !errors.Is(err, broken) {
		t.Fatalf("a failing run: ran %v, err %v", ran, err)
	}
	ok := func(context.Context) error { return nil }
	if turn(t, rs[1], ok) {
		t.Error("tried again before the failed run's lease ended")
	}
	c.advance(10 * time.Minute)
	if !turn(t, rs[1], ok) {
		t.Error("not tried again after the failed run's lease ended")
	}
}

// countingLeases counts renewals and can refuse them, as the database does once another instance took the day.
type countingLeases struct {
	daily.Leases
	renewed chan struct{}
	lost    bool
}

func (l *countingLeases) RenewLease(ctx context.Context, job, day, holder string, until time.Time) (bool, error) {
	if l.lost {
		return false, nil
	}
	ok, err := l.Leases.RenewLease(ctx, job, day, holder, until)
	if ok {
		select {
		case l.renewed <- struct{}{}:
		default:
		}
	}
	return ok, err
}

// TestLongRunKeepsItsLease: a run longer than its lease renews it, so that no other instance takes the day
// meanwhile. Real time, with a lease of 60 ms renewed every 20 ms: the run waits for renewals, not for a time.
func TestLongRunKeepsItsLease(t *testing.T) {
	db := storetest.OpenSQLite(t)
	leases := &countingLeases{Leases: db, renewed: make(chan struct{})}
	const lease = 60 * time.Millisecond
	long := daily.New(leases, daily.Options{Holder: "long", Lease: lease, Log: quiet})
	other := daily.New(db, daily.Options{Holder: "other", Lease: lease, Log: quiet})
	ran := turn(t, long, func(ctx context.Context) error {
		// Four renewals, a third of the lease apart: the lease taken at the start has ended by now.
		giveUp := time.After(10 * time.Second)
		for range 4 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-giveUp:
				return errors.New("the lease was not renewed four times within 10 s")
			case <-leases.renewed:
			}
		}
		if turn(t, other, func(context.Context) error { return nil }) {
			t.Error("another instance took the day while its run renewed its lease")
		}
		return nil
	})
	if !ran {
		t.Fatal("the long run did not run")
	}
}

// TestLostLeaseStopsTheRun: when the lease cannot be renewed because another instance holds the day, the run's
// context ends and the turn reports it.
func TestLostLeaseStopsTheRun(t *testing.T) {
	leases := &countingLeases{Leases: storetest.OpenSQLite(t), lost: true}
	r := daily.New(leases, daily.Options{Holder: "a", Lease: 30 * time.Millisecond, Log: quiet})
	ran, err := r.Turn(context.Background(), "job", func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	})
	if !ran || !errors.Is(err, context.Canceled) {
		t.Errorf("a run whose lease was lost: ran %v, err %v", ran, err)
	}
}
