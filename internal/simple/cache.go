package simple

import (
	"hash/maphash"
	"strconv"
	"sync"
	"sync/atomic"

	"wharf/internal/pages"
)

// pageCache keeps the project pages read most often in memory, so that a popular page costs no database read. It
// is bounded in bytes, and small: a page it lacks is one key lookup away in the store, already rendered.
//
// Each shard holds two generations of pages. Pages go into the current one; when it is full, it becomes the
// previous one and the previous one is dropped. A page read from the previous generation moves back into the
// current one, so the pages read again and again stay, and a page read once leaves after two turns. That is all the
// eviction there is.
type pageCache struct {
	seed   maphash.Seed
	limit  int64 // bytes of one generation of one shard
	shards [cacheShards]cacheShard

	misses, evictions atomic.Int64 // for CacheStats
}

// cacheShards splits the cache so that requests on several cores rarely wait for the same lock.
const cacheShards = 16

type cacheShard struct {
	mu        sync.Mutex
	cur, prev map[pageKey]*entry
	curBytes  int64
	prevBytes int64
	// gen counts invalidations, so that a miss that read the store before an invalidation does not cache what it
	// read after it: the upload it missed would stay invisible until the serial poll caught it.
	gen uint64
	_   [64]byte // keeps shards off each other's cache lines
}

type pageKey struct {
	name string
	kind pages.Kind
}

// entry is one form of a page, with its header values ready: a served entry allocates nothing.
type entry struct {
	serial    int64
	body      []byte
	etag      [1]string // strong ETag, quoted
	length    [1]string // Content-Length
	serialHdr [1]string // X-PyPI-Last-Serial
}

func newEntry(kind string, serial int64, k pages.Kind, body []byte) *entry {
	s := strconv.FormatInt(serial, 10)
	return &entry{serial: serial, body: body, etag: [1]string{makeETag(kind, serial, etagSuffixes[k])},
		length: [1]string{strconv.Itoa(len(body))}, serialHdr: [1]string{s}}
}

// etagSuffixes tell the forms of one serial apart in ETags.
var etagSuffixes = [pages.NumKinds]string{"h", "hz", "j", "jz"}

// cost is what an entry takes, with its key and its share of the map.
func (e *entry) cost(name string) int64 {
	return int64(len(e.body)+len(name)+len(e.etag[0])+len(e.length[0])+len(e.serialHdr[0])) + 160
}

func newPageCache(limitBytes int64) *pageCache {
	c := &pageCache{seed: maphash.MakeSeed(), limit: max(limitBytes/cacheShards/2, 1)}
	for i := range c.shards {
		c.shards[i].cur = map[pageKey]*entry{}
		c.shards[i].prev = map[pageKey]*entry{}
	}
	return c
}

func (c *pageCache) shard(name string) *cacheShard {
	return &c.shards[maphash.String(c.seed, name)%cacheShards]
}

// get returns the cached form k of name's page, or nil.
func (c *pageCache) get(name string, k pages.Kind) *entry {
	s := c.shard(name)
	key := pageKey{name, k}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.cur[key]; e != nil {
		return e
	}
	e := s.prev[key]
	if e == nil {
		c.misses.Add(1)
		return nil
	}
	delete(s.prev, key)
	n := e.cost(name)
	s.prevBytes -= n
	c.add(s, key, e, n)
	return e
}

// generation returns the invalidation count of name's shard, to be handed back to put.
func (c *pageCache) generation(name string) uint64 {
	s := c.shard(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen
}

// put caches e unless name's shard saw an invalidation since gen, or a newer serial of the page is cached already.
// A page too large for a generation is not cached at all: it is read from the store each time.
func (c *pageCache) put(name string, k pages.Kind, e *entry, gen uint64) {
	n := e.cost(name)
	if n > c.limit/4 {
		return
	}
	s := c.shard(name)
	key := pageKey{name, k}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen != gen {
		return
	}
	if old := s.cur[key]; old != nil {
		if old.serial >= e.serial {
			return
		}
		s.curBytes -= old.cost(name)
	}
	if old := s.prev[key]; old != nil {
		delete(s.prev, key)
		s.prevBytes -= old.cost(name)
	}
	c.add(s, key, e, n)
}

// add puts e in the current generation, turning generations when it is full; the lock is held.
func (c *pageCache) add(s *cacheShard, key pageKey, e *entry, n int64) {
	if s.curBytes+n > c.limit {
		c.evictions.Add(int64(len(s.prev)))
		s.prev, s.prevBytes = s.cur, s.curBytes
		s.cur, s.curBytes = make(map[pageKey]*entry, len(s.prev)), 0
	}
	s.cur[key] = e
	s.curBytes += n
}

// drop forgets every form of name's page and makes misses that started before it harmless.
func (c *pageCache) drop(name string) {
	c.dropIf(name, func(*entry) bool { return true }, true)
}

// dropOlder forgets the forms of name's page older than serial.
func (c *pageCache) dropOlder(name string, serial int64) {
	c.dropIf(name, func(e *entry) bool { return e.serial < serial }, false)
}

func (c *pageCache) dropIf(name string, stale func(*entry) bool, invalidate bool) {
	s := c.shard(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if invalidate {
		s.gen++
	}
	for k := range pages.NumKinds {
		key := pageKey{name, k}
		if e := s.cur[key]; e != nil && stale(e) {
			delete(s.cur, key)
			s.curBytes -= e.cost(name)
		}
		if e := s.prev[key]; e != nil && stale(e) {
			delete(s.prev, key)
			s.prevBytes -= e.cost(name)
		}
	}
}

// CacheStats describes the page cache, for benchmarks and metrics. Hits are the requests for project pages less
// Misses.
type CacheStats struct {
	Pages     int   // cached forms of pages
	Bytes     int64 // what they cost
	Misses    int64 // lookups that found nothing
	Evictions int64 // forms dropped with their generation
}

// CacheStats reports the page cache's contents and counters.
func (ix *Index) CacheStats() CacheStats {
	c := ix.pages
	st := CacheStats{Misses: c.misses.Load(), Evictions: c.evictions.Load()}
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		st.Pages += len(s.cur) + len(s.prev)
		st.Bytes += s.curBytes + s.prevBytes
		s.mu.Unlock()
	}
	return st
}
