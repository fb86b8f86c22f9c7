package simple

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// repKind names one stored form of a page. text/html and the v1+html type share the HTML bytes.
type repKind uint8

const (
	repHTML repKind = iota
	repHTMLGzip
	repJSON
	repJSONGzip
	numReps
)

func kindOf(f format, gzip bool) repKind {
	k := repHTML
	if f == formatV1JSON {
		k = repJSON
	}
	if gzip {
		k++
	}
	return k
}

// etagSuffixes tell the representations of one serial apart in ETags.
var etagSuffixes = [numReps]string{"h", "hz", "j", "jz"}

// rep is one representation ready to be written: the body and its precomputed header values, so that serving it
// allocates nothing.
type rep struct {
	body   []byte
	etag   []string // strong ETag, quoted
	length []string // Content-Length
}

// page is a cached project page: every representation rendered so far from one serial of the project, or the
// memory that the project does not exist.
type page struct {
	name      string
	serial    int64
	missing   bool  // a cached 404
	expires   int64 // for a 404: Unix nanoseconds after which it is asked again
	serialHdr []string
	reps      [numReps]atomic.Pointer[rep]
	size      int64       // bytes accounted to the shard; guarded by the shard lock
	used      atomic.Bool // the CLOCK bit: read since the hand last passed
	slot      int         // index in the shard's ring; guarded by the shard lock
}

// pageOverhead approximates what a page costs besides its bodies (struct, map entry, header strings).
const pageOverhead = 320

// cacheShards splits the cache so that concurrent misses and invalidations rarely wait for each other; lookups
// take only a read lock.
const cacheShards = 16

// pageCache is a bounded map from normalised project name to page. Eviction is CLOCK (second chance): a hit only
// sets an atomic bit, so the hot path never takes a write lock, and pages read since the hand last passed survive.
type pageCache struct {
	seed   maphash.Seed
	limit  int64 // bytes per shard
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu    sync.RWMutex
	pages map[string]*page
	ring  []*page // nil slots are free
	free  []int
	hand  int
	bytes int64
	// gen counts invalidations, so a fill that read the database before an invalidation does not store what it
	// read after it (the upload would otherwise stay invisible until the next serial poll).
	gen uint64
}

func newPageCache(limitBytes int64) *pageCache {
	c := &pageCache{seed: maphash.MakeSeed(), limit: max(limitBytes/cacheShards, 1)}
	for i := range c.shards {
		c.shards[i].pages = map[string]*page{}
	}
	return c
}

func (c *pageCache) shard(name string) *cacheShard {
	return &c.shards[maphash.String(c.seed, name)%cacheShards]
}

// get returns the cached page of name, or nil.
func (c *pageCache) get(name string) *page {
	s := c.shard(name)
	s.mu.RLock()
	p := s.pages[name]
	s.mu.RUnlock()
	if p != nil && !p.used.Load() {
		// Checked first so that a page already marked costs no write to a shared cache line.
		p.used.Store(true)
	}
	return p
}

// generation returns the invalidation count of name's shard, to be handed back to put.
func (c *pageCache) generation(name string) uint64 {
	s := c.shard(name)
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.gen
}

// put stores p unless the shard saw an invalidation since gen, or a page of a newer serial is already there; it
// returns the page now cached for the name (p, the newer one, or nil when p was refused).
func (c *pageCache) put(p *page, gen uint64) *page {
	s := c.shard(p.name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen != gen {
		return nil
	}
	if old := s.pages[p.name]; old != nil {
		switch {
		case old.missing || p.missing || old.serial < p.serial:
			s.remove(old)
		case old.serial > p.serial:
			return old
		default:
			// Another request rendered the same serial meanwhile: keep one page with the forms of both.
			for k := range p.reps {
				if r := p.reps[k].Load(); r != nil && old.reps[k].CompareAndSwap(nil, r) {
					old.size += int64(len(r.body))
					s.bytes += int64(len(r.body))
				}
			}
			return old
		}
	}
	p.size = pageOverhead + int64(len(p.name))
	for i := range p.reps {
		if r := p.reps[i].Load(); r != nil {
			p.size += int64(len(r.body))
		}
	}
	if p.size > c.limit/2 {
		// A page this large would flush most of its shard; it is rendered per request instead.
		return nil
	}
	s.evict(c.limit - p.size)
	if n := len(s.free); n > 0 {
		p.slot = s.free[n-1]
		s.free = s.free[:n-1]
		s.ring[p.slot] = p
	} else {
		p.slot = len(s.ring)
		s.ring = append(s.ring, p)
	}
	s.pages[p.name] = p
	s.bytes += p.size
	return p
}

// addRep stores another representation of a cached page, if the page is still the cached one.
func (c *pageCache) addRep(p *page, k repKind, r *rep) {
	s := c.shard(p.name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !p.reps[k].CompareAndSwap(nil, r) || s.pages[p.name] != p {
		return
	}
	n := int64(len(r.body))
	p.size += n
	s.bytes += n
	if s.bytes > c.limit {
		s.evict(c.limit)
	}
}

// drop forgets name and makes fills that started before it harmless.
func (c *pageCache) drop(name string) {
	s := c.shard(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	if p := s.pages[name]; p != nil {
		s.remove(p)
	}
}

// dropOlder forgets name if its cached page predates serial (or is a 404: the project exists now).
func (c *pageCache) dropOlder(name string, serial int64) {
	s := c.shard(name)
	s.mu.RLock()
	p := s.pages[name]
	s.mu.RUnlock()
	if p == nil || !p.missing && p.serial >= serial {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pages[name] == p {
		s.remove(p)
	}
}

// stats reports the number of cached pages and their bytes, for tests and metrics.
func (c *pageCache) stats() (pages int, bytes int64) {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		pages += len(s.pages)
		bytes += s.bytes
		s.mu.RUnlock()
	}
	return pages, bytes
}

// remove takes p out of the shard; the lock is held.
func (s *cacheShard) remove(p *page) {
	delete(s.pages, p.name)
	s.ring[p.slot] = nil
	s.free = append(s.free, p.slot)
	s.bytes -= p.size
}

// evict moves the clock hand until the shard holds at most target bytes; the lock is held.
func (s *cacheShard) evict(target int64) {
	// Two turns clear every bit and then find a victim; the bound only guards against a bug looping forever.
	for steps := 2*len(s.ring) + 1; s.bytes > target && len(s.pages) > 0 && steps > 0; steps-- {
		if s.hand >= len(s.ring) {
			s.hand = 0
		}
		p := s.ring[s.hand]
		s.hand++
		switch {
		case p == nil:
		case p.used.Load():
			p.used.Store(false)
		default:
			s.remove(p)
		}
	}
}
