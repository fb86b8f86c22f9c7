// Package critical holds download counts and the critical-project designation job: which projects the most people
// depend on, and so which must be protected first and hardest.
package critical

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Sink stores per-day download sums; *store.DB satisfies it. day is a UTC date ("2006-01-02").
type Sink interface {
	AddDownloads(ctx context.Context, day string, counts map[int64]int64) error
}

// CounterOptions configure a Counter. Zero values pick the defaults.
type CounterOptions struct {
	// Now is the clock that decides which day a download belongs to (default time.Now).
	Now func() time.Time
	// FlushEvery is the period of Run's flushes (default 10 s).
	FlushEvery time.Duration
	// Log receives flush failures (default slog.Default()).
	Log *slog.Logger
}

// shards spreads concurrent Adds over several locks; a power of two.
const shards = 16

type key struct {
	day       int64 // days since the Unix epoch, UTC
	projectID int64
}

type shard struct {
	mu    sync.Mutex
	m     map[key]int64
	spare map[key]int64 // the map of the previous flush, cleared, kept so that maps are not reallocated
	_     [40]byte      // keeps neighbouring shards' locks off one cache line
}

// Counter aggregates downloads in memory, per project and UTC day, so that counting costs a file request one
// uncontended lock and a map increment; Run writes the sums to the database every few seconds. Counts not yet
// flushed when the process dies are lost: download counts rank projects, and a few seconds of them do not change
// a ranking.
type Counter struct {
	sink  Sink
	now   func() time.Time
	every time.Duration
	log   *slog.Logger

	shards [shards]shard

	flushMu sync.Mutex                // one flush at a time; guards pending
	pending map[int64]map[int64]int64 // day -> project -> count, taken from the shards but not yet stored
}

// NewCounter returns a Counter that flushes into sink.
func NewCounter(sink Sink, opts CounterOptions) *Counter {
	c := &Counter{sink: sink, now: opts.Now, every: opts.FlushEvery, log: opts.Log, pending: map[int64]map[int64]int64{}}
	if c.now == nil {
		c.now = time.Now
	}
	if c.every <= 0 {
		c.every = 10 * time.Second
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	for i := range c.shards {
		c.shards[i].m = map[key]int64{}
		c.shards[i].spare = map[key]int64{}
	}
	return c
}

// Add counts one download of the project, on the day the clock says now. A nil Counter counts nothing.
func (c *Counter) Add(projectID int64) {
	if c == nil {
		return
	}
	k := key{day: dayOf(c.now()), projectID: projectID}
	// A random shard rather than one chosen by project: a single popular project must not funnel every request
	// through one lock. The flush sums the shards.
	s := &c.shards[rand.Uint32()&(shards-1)]
	s.mu.Lock()
	s.m[k]++
	s.mu.Unlock()
}

func dayOf(t time.Time) int64 {
	sec := t.Unix()
	day := sec / 86400
	if sec%86400 < 0 {
		day--
	}
	return day
}

func dayString(day int64) string {
	return time.Unix(day*86400, 0).UTC().Format(time.DateOnly)
}

// Flush writes every count taken so far, one call to the sink per day. Counts of a day whose write fails are kept
// and retried by the next flush.
func (c *Counter) Flush(ctx context.Context) error {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		taken := s.m
		s.m, s.spare = s.spare, nil
		s.mu.Unlock()
		for k, n := range taken {
			day := c.pending[k.day]
			if day == nil {
				day = map[int64]int64{}
				c.pending[k.day] = day
			}
			day[k.projectID] += n
		}
		clear(taken)
		s.mu.Lock()
		s.spare = taken
		s.mu.Unlock()
	}
	var errs []error
	for _, day := range slices.Sorted(maps.Keys(c.pending)) {
		if err := c.sink.AddDownloads(ctx, dayString(day), c.pending[day]); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(c.pending, day)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("flush downloads: %w", err)
	}
	return nil
}

// Run flushes every FlushEvery until ctx ends, then once more so that a graceful shutdown loses nothing.
func (c *Counter) Run(ctx context.Context) {
	t := time.NewTicker(c.every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := c.Flush(ctx); err != nil {
				c.log.Error("download counts not stored; kept for the next flush", "err", err)
			}
		case <-ctx.Done():
			// The caller's context is already over; the last flush gets a short one of its own.
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if err := c.Flush(fctx); err != nil {
				c.log.Error("download counts lost at shutdown", "err", err)
			}
			return
		}
	}
}
