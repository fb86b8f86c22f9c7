package simple

import (
	"hash/maphash"
	"strconv"
	"sync"
	"sync/atomic"

	"wharf/internal/pages"
)

// pageCache keeps what is read most of the index in memory: project pages, in the forms asked for, and JSON API
// documents. It is bounded in bytes, and small: a page it lacks is one key lookup away in the store, already
// rendered.
//
// Everything kept of a project is one item, under its name, so that a change to the project drops it whole. Each
// shard holds two generations of items. Items go into the current generation; when it is full, it becomes the
// previous one and the previous one is dropped. An item read from the previous generation moves back into the
// current one, so what is read again and again stays, and what is read once leaves after two turns. That is all
// the eviction there is.
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
	cur, prev map[string]*item
	curBytes  int64
	prevBytes int64
	// gen counts invalidations, so that a miss that read the store before an invalidation does not cache what it
	// read after it: the upload it missed would stay invisible until the serial poll caught it.
	gen uint64
	_   [64]byte // keeps shards off each other's cache lines
}

// item is what the cache holds of one project.
type item struct {
	forms [pages.NumKinds]*entry
	docs  map[string]*entry // JSON API documents by the version in the URL, "" for the project's own
	bytes int64
}

// entry is one response body with its header values ready: a served entry allocates nothing.
type entry struct {
	serial    int64
	body      []byte
	etag      [1]string // strong ETag, quoted
	length    [1]string // Content-Length
	serialHdr [1]string // X-PyPI-Last-Serial
	expires   int64     // for a JSON API document: Unix nanoseconds after which it is read again
}

func newEntry(etag string, serial int64, body []byte) *entry {
	return &entry{serial: serial, body: body, etag: [1]string{etag}, length: [1]string{strconv.Itoa(len(body))},
		serialHdr: [1]string{strconv.FormatInt(serial, 10)}}
}

// overhead is what an entry or an item costs besides its bytes: its struct and its share of a map.
const overhead = 160

func (e *entry) cost() int64 {
	return int64(len(e.body)+len(e.etag[0])+len(e.length[0])+len(e.serialHdr[0])) + overhead
}

func newPageCache(limitBytes int64) *pageCache {
	c := &pageCache{seed: maphash.MakeSeed(), limit: max(limitBytes/cacheShards/2, 1)}
	for i := range c.shards {
		c.shards[i].cur = map[string]*item{}
		c.shards[i].prev = map[string]*item{}
	}
	return c
}

func (c *pageCache) shard(name string) *cacheShard {
	return &c.shards[maphash.String(c.seed, name)%cacheShards]
}

// get returns the cached form k of name's page, or nil.
func (c *pageCache) get(name string, k pages.Kind) *entry {
	s := c.shard(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if it := c.find(s, name); it != nil && it.forms[k] != nil {
		return it.forms[k]
	}
	c.misses.Add(1)
	return nil
}

// getDoc returns the cached JSON API document of name for version ("" for the project's), or nil when there is
// none or it expired at now (Unix nanoseconds).
func (c *pageCache) getDoc(name, version string, now int64) *entry {
	s := c.shard(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if it := c.find(s, name); it != nil {
		if e := it.docs[version]; e != nil && now < e.expires {
			return e
		}
	}
	c.misses.Add(1)
	return nil
}

// generation returns the invalidation count of name's shard, to be handed back to put.
func (c *pageCache) generation(name string) uint64 {
	s := c.shard(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen
}

// put caches the form k of name's page, unless name's shard saw an invalidation since gen or a newer serial of it
// is cached already. An entry too large for a generation is not cached: it is read from the store each time.
func (c *pageCache) put(name string, k pages.Kind, e *entry, gen uint64) {
	s := c.shard(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if it := c.itemFor(s, name, e, gen); it != nil && c.replace(s, it, it.forms[k], e) {
		it.forms[k] = e
	}
}

// putDoc caches a JSON API document as put caches a page.
func (c *pageCache) putDoc(name, version string, e *entry, gen uint64) {
	s := c.shard(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if it := c.itemFor(s, name, e, gen); it != nil && c.replace(s, it, it.docs[version], e) {
		if it.docs == nil {
			it.docs = map[string]*entry{}
		}
		it.docs[version] = e
	}
}

// itemFor returns name's item in a current generation with room for e, made if need be; nil when e must not be
// cached. The lock is held.
func (c *pageCache) itemFor(s *cacheShard, name string, e *entry, gen uint64) *item {
	n := e.cost()
	if s.gen != gen || n > c.limit/4 {
		return nil
	}
	it := c.find(s, name)
	if it == nil {
		it = &item{bytes: int64(len(name)) + overhead}
		n += it.bytes
	} else if it.bytes+n > c.limit/2 {
		// A project with many documents cached would crowd out the others.
		return nil
	} else {
		// Out of the generation while it is turned, so that it stays in the current one.
		delete(s.cur, name)
		s.curBytes -= it.bytes
		n += it.bytes
	}
	c.room(s, n)
	s.cur[name] = it
	s.curBytes += it.bytes
	return it
}

// replace accounts for e taking old's place in it, which itemFor made room for, and reports whether it may: a
// newer serial is never replaced by an older one. The lock is held.
func (c *pageCache) replace(s *cacheShard, it *item, old, e *entry) bool {
	n := e.cost()
	if old != nil {
		if old.serial > e.serial {
			return false
		}
		n -= old.cost()
	}
	it.bytes += n
	s.curBytes += n
	return true
}

// find returns name's item, moved into the current generation, or nil; the lock is held.
func (c *pageCache) find(s *cacheShard, name string) *item {
	if it := s.cur[name]; it != nil {
		return it
	}
	it := s.prev[name]
	if it == nil {
		return nil
	}
	delete(s.prev, name)
	s.prevBytes -= it.bytes
	c.room(s, it.bytes)
	s.cur[name] = it
	s.curBytes += it.bytes
	return it
}

// room turns the generations if n more bytes do not fit in the current one; the lock is held.
func (c *pageCache) room(s *cacheShard, n int64) {
	if s.curBytes+n <= c.limit {
		return
	}
	c.evictions.Add(int64(len(s.prev)))
	s.prev, s.prevBytes = s.cur, s.curBytes
	s.cur, s.curBytes = make(map[string]*item, len(s.prev)), 0
}

// drop forgets everything of name and makes misses that started before it harmless.
func (c *pageCache) drop(name string) {
	s := c.shard(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	if it := s.cur[name]; it != nil {
		delete(s.cur, name)
		s.curBytes -= it.bytes
	}
	if it := s.prev[name]; it != nil {
		delete(s.prev, name)
		s.prevBytes -= it.bytes
	}
}

// dropOlder forgets what of name is older than serial.
func (c *pageCache) dropOlder(name string, serial int64) {
	s := c.shard(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	it, bytes := s.cur[name], &s.curBytes
	if it == nil {
		it, bytes = s.prev[name], &s.prevBytes
	}
	if it == nil {
		return
	}
	forget := func(e *entry) bool {
		if e == nil || e.serial >= serial {
			return false
		}
		it.bytes -= e.cost()
		*bytes -= e.cost()
		return true
	}
	for k, e := range it.forms {
		if forget(e) {
			it.forms[k] = nil
		}
	}
	for v, e := range it.docs {
		if forget(e) {
			delete(it.docs, v)
		}
	}
}

// CacheStats describes the page cache, for benchmarks and metrics. Hits are the requests for project pages and
// documents less Misses.
type CacheStats struct {
	Projects  int   // projects with something cached
	Bytes     int64 // what it costs
	Misses    int64 // lookups that found nothing
	Evictions int64 // projects dropped with their generation
}

// CacheStats reports the page cache's contents and counters.
func (ix *Index) CacheStats() CacheStats {
	c := ix.pages
	st := CacheStats{Misses: c.misses.Load(), Evictions: c.evictions.Load()}
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		st.Projects += len(s.cur) + len(s.prev)
		st.Bytes += s.curBytes + s.prevBytes
		s.mu.Unlock()
	}
	return st
}
