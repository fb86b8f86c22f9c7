package critical

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/store"
	"wharf/internal/store/storetest"
)

// memSink records what was flushed and can be told to fail.
type memSink struct {
	mu    sync.Mutex
	fail  bool
	calls int
	got   map[string]map[int64]int64
}

func (s *memSink) AddDownloads(_ context.Context, day string, counts map[int64]int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.fail {
		return errors.New("database unavailable")
	}
	if s.got == nil {
		s.got = map[string]map[int64]int64{}
	}
	if s.got[day] == nil {
		s.got[day] = map[int64]int64{}
	}
	for id, n := range counts {
		s.got[day][id] += n
	}
	return nil
}

func (s *memSink) snapshot() map[string]map[int64]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]map[int64]int64{}
	for d, m := range s.got {
		out[d] = map[int64]int64{}
		for id, n := range m {
			out[d][id] = n
		}
	}
	return out
}

// clock is a settable clock for the day boundary.
type clock struct{ t atomic.Pointer[time.Time] }

func (c *clock) set(t time.Time)  { c.t.Store(&t) }
func (c *clock) now() time.Time   { return *c.t.Load() }
func newClock(t time.Time) *clock { c := &clock{}; c.set(t); return c }
func addN(c *Counter, id int64, n int) {
	for range n {
		c.Add(id)
	}
}

func TestCounterSplitsDaysAtUTCMidnight(t *testing.T) {
	clk := newClock(time.Date(2026, 3, 1, 23, 59, 59, 0, time.UTC))
	sink := &memSink{}
	c := NewCounter(sink, CounterOptions{Now: clk.now})
	addN(c, 1, 3)
	addN(c, 2, 1)
	// A local time zone must not move the boundary: this instant is 2026-03-02 in UTC.
	clk.set(time.Date(2026, 3, 1, 19, 0, 1, 0, time.FixedZone("EST", -5*3600)))
	addN(c, 1, 2)
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := map[string]map[int64]int64{
		"2026-03-01": {1: 3, 2: 1},
		"2026-03-02": {1: 2},
	}
	if diff := cmp.Diff(want, sink.snapshot()); diff != "" {
		t.Errorf("flushed (-want +got):\n%s", diff)
	}
	// Nothing is sent twice.
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, sink.snapshot()); diff != "" {
		t.Errorf("after a second flush (-want +got):\n%s", diff)
	}
}

func TestCounterKeepsCountsWhenFlushFails(t *testing.T) {
	clk := newClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	sink := &memSink{fail: true}
	c := NewCounter(sink, CounterOptions{Now: clk.now})
	addN(c, 7, 5)
	if err := c.Flush(context.Background()); err == nil {
		t.Fatal("flush into a failing sink: want an error")
	}
	addN(c, 7, 1)
	clk.set(time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC))
	addN(c, 7, 1)
	sink.mu.Lock()
	sink.fail = false
	sink.mu.Unlock()
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := map[string]map[int64]int64{"2026-03-01": {7: 6}, "2026-03-02": {7: 1}}
	if diff := cmp.Diff(want, sink.snapshot()); diff != "" {
		t.Errorf("flushed (-want +got):\n%s", diff)
	}
}

func TestCounterConcurrentAdds(t *testing.T) {
	clk := newClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	sink := &memSink{}
	c := NewCounter(sink, CounterOptions{Now: clk.now})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				c.Add(int64(i % 3))
				if g == 0 && i%100 == 0 {
					// Flushes meet Adds: nothing may be lost or counted twice.
					if err := c.Flush(context.Background()); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := sink.snapshot()["2026-03-01"]
	var total int64
	for _, n := range got {
		total += n
	}
	if total != 8000 {
		t.Errorf("total = %d, want 8000 (%v)", total, got)
	}
}

func TestCounterRunFlushesPeriodicallyAndOnShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &memSink{}
		c := NewCounter(sink, CounterOptions{FlushEvery: 10 * time.Second})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { c.Run(ctx); close(done) }()

		day := time.Now().UTC().Format(time.DateOnly)
		c.Add(1)
		time.Sleep(9 * time.Second)
		synctest.Wait()
		if got := sink.snapshot(); len(got) != 0 {
			t.Errorf("flushed before the period: %v", got)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if diff := cmp.Diff(map[string]map[int64]int64{day: {1: 1}}, sink.snapshot()); diff != "" {
			t.Errorf("after one period (-want +got):\n%s", diff)
		}

		c.Add(1)
		c.Add(2)
		cancel()
		<-done
		if diff := cmp.Diff(map[string]map[int64]int64{day: {1: 2, 2: 1}}, sink.snapshot()); diff != "" {
			t.Errorf("after shutdown (-want +got):\n%s", diff)
		}
	})
}

func TestCounterIntoStore(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC)
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			db := e.Open(t)
			u := storetest.MustUser(t, db, "alice")
			res, err := db.AddFile(ctx, store.NewFile{
				ProjectName: "demo", NormalizedName: "demo", UltraName: "demo", CreateProject: true, UploaderID: u.ID,
				Version: "1.0", CanonicalVersion: "1.0", ReleaseMetadata: []byte(`{}`), Filename: "demo-1.0.tar.gz",
				PackageType: "sdist", PythonVersion: "source", Size: 1, SHA256: "00", Now: t0,
			})
			if err != nil {
				t.Fatal(err)
			}
			clk := newClock(t0)
			c := NewCounter(db, CounterOptions{Now: clk.now})
			addN(c, res.Project.ID, 4)
			if err := c.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			clk.set(t0.Add(2 * time.Hour))
			addN(c, res.Project.ID, 3)
			if err := c.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				since time.Time
				want  int64
			}{{t0, 7}, {t0.Add(2 * time.Hour), 3}} {
				got, err := db.Downloads(ctx, res.Project.ID, tc.since)
				if err != nil {
					t.Fatal(err)
				}
				if got != tc.want {
					t.Errorf("Downloads since %s = %d, want %d", tc.since.Format(time.DateOnly), got, tc.want)
				}
			}
		})
	}
}

func BenchmarkCounterAdd(b *testing.B) {
	c := NewCounter(&memSink{}, CounterOptions{})
	b.RunParallel(func(pb *testing.PB) {
		var i int64
		for pb.Next() {
			c.Add(i % 1000)
			i++
		}
	})
}
