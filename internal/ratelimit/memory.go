package ratelimit

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
)

// DefaultMaxKeys is the bound NewMemory uses when given none: at most about 100 bytes plus 8 per allowed hit for
// each (rule, key) counter.
const DefaultMaxKeys = 1 << 17

// evictScan is how many of the least recently used counters an insertion into a full shard looks at for an expired
// one before it evicts the least recently used live counter. It keeps insertion O(1) under a flood of new keys.
const evictScan = 16

// Memory is the in-process Limiter, for a single wharf instance. It holds at most maxKeys (rule, key) counters:
// when full it drops an expired counter, else the least recently used one. An attacker who floods it with new
// keys can therefore make it forget a counter, but only one that nobody has checked or hit while maxKeys others
// were created; a counter under attack is checked at every attempt, and the global ceiling bounds the flood.
type Memory struct {
	now      func() time.Time
	seed     maphash.Seed
	shards   []shard
	perShard int
}

// shard is one lock's worth of counters, so that unrelated keys do not wait for each other. All rules of one key
// live in one shard, so that a multi-rule Hit takes one lock and is atomic.
type shard struct {
	mu       sync.Mutex
	counters map[counterID]*counter
	// lru is a sentinel of a circular doubly linked list: lru.next is the most recently used counter.
	lru counter
}

// counter is the log of one (rule, key): the times of the last Limit allowed hits, in a ring, oldest at head.
type counter struct {
	id         counterID
	window     int64
	stamps     []int64
	head       int
	prev, next *counter
}

// NewMemory returns an empty in-process limiter that reads the time from now and keeps at most maxKeys counters
// (DefaultMaxKeys when maxKeys < 1).
func NewMemory(now func() time.Time, maxKeys int) *Memory {
	if maxKeys < 1 {
		maxKeys = DefaultMaxKeys
	}
	// Enough shards for two cores' worth of contention, but never so many that a small bound leaves a shard
	// with room for almost nothing.
	n := 32
	for n > 1 && maxKeys/n < 64 {
		n /= 2
	}
	m := &Memory{now: now, seed: maphash.MakeSeed(), shards: make([]shard, n), perShard: maxKeys / n}
	for i := range m.shards {
		s := &m.shards[i]
		s.counters = make(map[counterID]*counter)
		s.lru.next, s.lru.prev = &s.lru, &s.lru
	}
	return m
}

// shardFor picks the shard with a seeded hash, so that no one can choose keys that all land in one shard to evict
// a victim's counter.
func (m *Memory) shardFor(key string) *shard {
	return &m.shards[maphash.String(m.seed, key)%uint64(len(m.shards))]
}

// counterID names one counter. A struct rather than a joined string, so that looking one up allocates nothing.
type counterID struct{ rule, key string }

// Check implements Limiter.
func (m *Memory) Check(ctx context.Context, key string, rules ...Rule) (Decision, error) {
	return m.do(ctx, key, rules, false)
}

// Hit implements Limiter.
func (m *Memory) Hit(ctx context.Context, key string, rules ...Rule) (Decision, error) {
	return m.do(ctx, key, rules, true)
}

func (m *Memory) do(ctx context.Context, key string, rules []Rule, record bool) (Decision, error) {
	if err := validate(rules); err != nil {
		return Decision{}, err
	}
	if err := ctx.Err(); err != nil {
		return Decision{}, err
	}
	k := storageKey(key)
	s := m.shardFor(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	// Read the clock under the lock, so that the stamps of one shard are recorded in order.
	now := m.now().UnixNano()
	var buf [4]time.Duration
	waits := buf[:0]
	for _, r := range rules {
		c := s.counters[counterID{r.Name, k}]
		if c != nil {
			// Every look counts as use, refused or not: a counter under attack stays the most recently used,
			// so a flood of new keys evicts others first.
			s.touch(c)
		}
		waits = append(waits, time.Duration(c.wait(r, now)))
	}
	d := combine(rules, waits)
	if !record || !d.Allowed {
		return d, nil
	}
	for _, r := range rules {
		c := s.get(counterID{r.Name, k}, r, now, m.perShard)
		c.record(r, now)
		s.touch(c)
	}
	return d, nil
}

// Reset implements Limiter.
func (m *Memory) Reset(ctx context.Context, key string, rules ...Rule) error {
	if err := validate(rules); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	k := storageKey(key)
	s := m.shardFor(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range rules {
		if c := s.counters[counterID{r.Name, k}]; c != nil {
			s.remove(c)
		}
	}
	return nil
}

// Len is the number of counters held, for tests and metrics.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.counters)
		s.mu.Unlock()
	}
	return n
}

// wait is how many nanoseconds until r allows one more hit: zero when it allows one now.
func (c *counter) wait(r Rule, now int64) int64 {
	if c == nil || len(c.stamps) < r.Limit {
		return 0
	}
	n := len(c.stamps)
	// The stamp Limit places before the next one decides; it is the oldest unless the limit was lowered.
	if end := c.stamps[(c.head+n-r.Limit)%n] + int64(r.Window); end > now {
		return end - now
	}
	return 0
}

// record appends now to the log. A stamp earlier than the newest one (the clock stepped back) is recorded as the
// newest, so that the last stamp in the ring is the latest and expiry, which looks only at it, never drops a
// counter that still refuses.
func (c *counter) record(r Rule, now int64) {
	c.window = int64(r.Window)
	if len(c.stamps) == 0 {
		c.stamps = append(c.stamps, now)
		return
	}
	now = max(now, c.newest())
	if len(c.stamps) > r.Limit || (c.head != 0 && len(c.stamps) < r.Limit) {
		c.reorder(r.Limit) // the limit changed since the ring filled up
	}
	if len(c.stamps) < r.Limit {
		c.stamps = append(c.stamps, now)
		return
	}
	c.stamps[c.head] = now
	c.head = (c.head + 1) % len(c.stamps)
}

func (c *counter) newest() int64 {
	return c.stamps[(c.head+len(c.stamps)-1)%len(c.stamps)]
}

// reorder puts the stamps oldest first from index 0 and keeps the newest that fit limit.
func (c *counter) reorder(limit int) {
	ordered := make([]int64, 0, len(c.stamps))
	ordered = append(append(ordered, c.stamps[c.head:]...), c.stamps[:c.head]...)
	if len(ordered) > limit {
		ordered = ordered[len(ordered)-limit:]
	}
	c.stamps, c.head = ordered, 0
}

func (c *counter) expired(now int64) bool {
	return len(c.stamps) == 0 || c.newest()+c.window <= now
}

// get returns the counter id, creating it, and making room for it, when it does not exist.
func (s *shard) get(id counterID, r Rule, now int64, capacity int) *counter {
	if c := s.counters[id]; c != nil {
		return c
	}
	if len(s.counters) >= capacity {
		victim := s.lru.prev
		for i, c := 0, s.lru.prev; i < evictScan && c != &s.lru; i, c = i+1, c.prev {
			if c.expired(now) {
				victim = c
				break
			}
		}
		s.remove(victim)
	}
	c := &counter{id: id, window: int64(r.Window), stamps: make([]int64, 0, min(r.Limit, 16))}
	c.prev, c.next = c, c // unlinked: touch links it
	s.counters[id] = c
	return c
}

// touch moves c to the front of the LRU list.
func (s *shard) touch(c *counter) {
	c.prev.next, c.next.prev = c.next, c.prev
	c.next, c.prev = s.lru.next, &s.lru
	s.lru.next.prev = c
	s.lru.next = c
}

func (s *shard) remove(c *counter) {
	c.prev.next, c.next.prev = c.next, c.prev
	c.prev, c.next = nil, nil
	delete(s.counters, c.id)
}
