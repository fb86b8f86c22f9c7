package simple

import (
	"hash/maphash"
	"math/bits"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"
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

// rep is one representation ready to be written: the body and its precomputed header values. The header values are
// slices of the arrays here, so that serving a rep allocates nothing.
type rep struct {
	body   []byte
	etag   [1]string // strong ETag, quoted
	length [1]string // Content-Length
}

// newRep wraps a body without copying it: the root's bodies are tens of megabytes, built once per change.
func newRep(body []byte, etag string) *rep {
	return &rep{body: body, etag: [1]string{etag}, length: [1]string{strconv.Itoa(len(body))}}
}

// setCompact fills r with a copy of body, its ETag and its length, after a copy of head, all in one pointer-free
// allocation of the size it needs, which it returns. Pages used to keep the render buffer (a 1.5 KB page in a 2 KB
// buffer) and a small object per header value, none of which the budget counted: 512 MiB of cached pages held
// 780 MB of heap, which GOGC then doubled, and every GC cycle visited ten objects per page.
func (r *rep) setCompact(body []byte, etag string, head ...string) []byte {
	var lenBuf [20]byte
	length := strconv.AppendInt(lenBuf[:0], int64(len(body)), 10)
	h := 0
	for _, s := range head {
		h += len(s)
	}
	n := h + len(etag) + len(length) + len(body)
	buf := slices.Grow([]byte(nil), n) // capacity rounded up to the allocator's size class: what it really costs
	for _, s := range head {
		buf = append(buf, s...)
	}
	buf = append(buf, etag...)
	buf = append(buf, length...)
	buf = append(buf, body...)
	// The strings alias buf, which is never written again.
	r.etag[0] = unsafe.String(&buf[h], len(etag))
	r.length[0] = unsafe.String(&buf[h+len(etag)], len(length))
	// The body keeps the buffer's spare capacity, so that cost can tell what the buffer takes.
	r.body = buf[h+len(etag)+len(length):]
	return buf
}

// cost is what r's buffer takes, less the head that setCompact may have put in front.
func (r *rep) cost() int64 { return int64(len(r.etag[0]) + len(r.length[0]) + cap(r.body)) }

// page is a cached project page: every representation rendered so far from one serial of the project, or the
// memory that the project does not exist. Everything but ready, used and size is fixed before the page is shared.
type page struct {
	hash      uint64
	name      string
	serial    int64
	missing   bool  // a cached 404
	expires   int64 // for a 404: Unix nanoseconds after which it is asked again
	serialHdr [1]string
	// ready has bit k set once reps[k] is filled; a rep never changes after that. The reps live in the page
	// rather than behind pointers of their own: one object fewer per page, and one dependent load fewer on a hit.
	ready atomic.Uint32
	used  atomic.Bool // the CLOCK bit: read since the hand last passed
	size  int64       // bytes accounted to the shard; guarded by the shard lock
	reps  [numReps]rep
}

// newPage starts a page of name at serial with its representation k. The name and the serial's header value go in
// front of the representation, in its allocation: a page is two objects, and a hit reads the name it compares from
// the cache lines of the body it sends.
func newPage(name string, serial int64, k repKind, body []byte, etag string) *page {
	var serialBuf [20]byte
	s := strconv.AppendInt(serialBuf[:0], serial, 10)
	p := &page{serial: serial}
	buf := p.reps[k].setCompact(body, etag, name, string(s))
	p.name = unsafe.String(unsafe.SliceData(buf), len(name))
	p.serialHdr[0] = unsafe.String(&buf[len(name)], len(s))
	p.size = pageAlloc + int64(cap(buf))
	p.ready.Store(1 << k)
	return p
}

// newMissing is the memory that name does not exist, until expires.
func newMissing(name string, expires int64) *page {
	p := &page{name: name, missing: true, expires: expires}
	p.size = pageAlloc + int64(len(name))
	return p
}

// rep returns the representation k, or nil while it has not been rendered.
func (p *page) rep(k repKind) *rep {
	if p.ready.Load()&(1<<k) == 0 {
		return nil
	}
	return &p.reps[k]
}

// setRep fills the representation k of a page that is not shared yet, or whose shard lock is held.
func (p *page) setRep(k repKind, body []byte, etag string) {
	p.size += int64(cap(p.reps[k].setCompact(body, etag)))
	p.ready.Or(1 << k)
}

// pageAlloc is what a page costs besides its buffers: the struct in its size class, and its share of a slot table
// kept at most three quarters full and at least three eighths.
var pageAlloc = int64(cap(slices.Grow([]byte(nil), int(unsafe.Sizeof(page{}))))) + 16

// cacheShards splits the cache so that concurrent misses and invalidations rarely wait for each other.
const cacheShards = 16

// pageCache is a bounded map from normalised project name to page. Lookups take no lock and write nothing shared
// (a read lock would bounce its cache line between cores on every hit): each shard publishes an open-addressing
// table of atomic pointers that writers, one at a time under the shard's mutex, change slot by slot or replace
// whole. Eviction is CLOCK (second chance) over the table's slots: a hit sets the page's bit, once per pass of the
// hand, and pages read since the hand last passed survive.
type pageCache struct {
	seed   maphash.Seed
	limit  int64 // bytes per shard
	shards [cacheShards]cacheShard

	// Counters for CacheStats, all off the hit path: a hit counter would be a shared cache line written per request.
	misses, evictions atomic.Int64
}

type cacheShard struct {
	table atomic.Pointer[slotTable]
	// gen counts invalidations, so a fill that read the database before an invalidation does not store what it
	// read after it (the upload would otherwise stay invisible until the next serial poll).
	gen atomic.Uint64
	// Keep the writers' fields, here and in the next shard, off the cache line that every lookup reads.
	_ [64]byte

	mu    sync.Mutex
	live  int // pages in the table
	dead  int // tombstones in the table
	hand  int
	bytes int64
	_     [64]byte
}

// slotTable is one shard's open-addressing table with linear probing. A page's first slot comes from the high bits
// of its hash (the shard takes the low ones), so pages keep their order around the table when it is resized, and
// the clock hand, scaled, keeps its place among them.
type slotTable struct {
	slots []atomic.Pointer[page]
	mask  uint64
	shift uint8 // 64 - log2(len(slots))
}

// tombstone fills the slot of a removed page that a probe sequence may still pass through.
var tombstone = new(page)

// minSlots is the smallest table; tables are powers of two.
const minSlots = 16

func newPageCache(limitBytes int64) *pageCache {
	c := &pageCache{seed: maphash.MakeSeed(), limit: max(limitBytes/cacheShards, 1)}
	for i := range c.shards {
		c.shards[i].table.Store(newSlotTable(minSlots))
	}
	return c
}

func newSlotTable(n int) *slotTable {
	shift := uint8(64 - bits.TrailingZeros(uint(n)))
	return &slotTable{slots: make([]atomic.Pointer[page], n), mask: uint64(n - 1), shift: shift}
}

func (t *slotTable) home(h uint64) uint64 { return h >> t.shift }

func (c *pageCache) hash(name string) (uint64, *cacheShard) {
	h := maphash.String(c.seed, name)
	return h, &c.shards[h%cacheShards]
}

// lookup finds name in t; the table always has an empty slot, which ends every probe.
func (t *slotTable) lookup(h uint64, name string) *page {
	for i := t.home(h); ; i++ {
		p := t.slots[i&t.mask].Load()
		if p == nil {
			return nil
		}
		if p.hash == h && p != tombstone && p.name == name {
			return p
		}
	}
}

// get returns the cached page of name, or nil.
func (c *pageCache) get(name string) *page {
	h, s := c.hash(name)
	p := s.table.Load().lookup(h, name)
	if p == nil {
		c.misses.Add(1)
		return nil
	}
	if !p.used.Load() {
		// Checked first so that a page already marked costs no write to a shared cache line.
		p.used.Store(true)
	}
	return p
}

// generation returns the invalidation count of name's shard, to be handed back to put.
func (c *pageCache) generation(name string) uint64 {
	_, s := c.hash(name)
	return s.gen.Load()
}

// put stores p unless the shard saw an invalidation since gen, or a page of a newer serial is already there; it
// returns the page now cached for the name (p, the newer one, or nil when p was refused).
func (c *pageCache) put(p *page, gen uint64) *page {
	h, s := c.hash(p.name)
	p.hash = h
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen.Load() != gen {
		return nil
	}
	t := s.table.Load()
	if old := t.lookup(h, p.name); old != nil {
		switch {
		case old.missing || p.missing || old.serial < p.serial:
			s.remove(old)
		case old.serial > p.serial:
			return old
		default:
			// Another request rendered the same serial meanwhile: keep one page with the forms of both.
			for k := range repKind(numReps) {
				if r := p.rep(k); r != nil && old.rep(k) == nil {
					old.reps[k] = *r
					old.ready.Or(1 << k)
					n := r.cost()
					old.size += n
					s.bytes += n
				}
			}
			if s.bytes > c.limit {
				c.evict(s, c.limit)
			}
			return old
		}
	}
	if p.size > c.limit/2 {
		// A page this large would flush most of its shard; it is rendered per request instead.
		return nil
	}
	c.evict(s, c.limit-p.size)
	s.insert(p)
	s.bytes += p.size
	return p
}

// addRep stores another representation of a cached page, if the page is still the cached one.
func (c *pageCache) addRep(p *page, k repKind, body []byte, etag string) *rep {
	h, s := c.hash(p.name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := p.rep(k); r != nil {
		return r
	}
	if s.table.Load().lookup(h, p.name) != p {
		// Dropped meanwhile: serve this rendering once, uncached.
		r := new(rep)
		r.setCompact(body, etag)
		return r
	}
	before := p.size
	p.setRep(k, body, etag)
	s.bytes += p.size - before
	if s.bytes > c.limit {
		c.evict(s, c.limit)
	}
	return &p.reps[k]
}

// drop forgets name and makes fills that started before it harmless.
func (c *pageCache) drop(name string) {
	h, s := c.hash(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen.Add(1)
	if p := s.table.Load().lookup(h, name); p != nil {
		s.remove(p)
	}
}

// dropOlder forgets name if its cached page predates serial (or is a 404: the project exists now).
func (c *pageCache) dropOlder(name string, serial int64) {
	h, s := c.hash(name)
	p := s.table.Load().lookup(h, name)
	if p == nil || !p.missing && p.serial >= serial {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.table.Load().lookup(h, name) == p {
		s.remove(p)
	}
}

// CacheStats describes the page cache, for benchmarks and metrics. Hits are not counted, to keep the hit path free
// of shared writes: they are the requests for project pages less Misses.
type CacheStats struct {
	Pages     int   // cached pages, 404s included
	Bytes     int64 // what they cost, as accounted against the cache's size
	Misses    int64 // lookups that found no page
	Evictions int64 // pages evicted to make room
}

// CacheStats reports the page cache's contents and counters.
func (ix *Index) CacheStats() CacheStats {
	st := CacheStats{Misses: ix.pages.misses.Load(), Evictions: ix.pages.evictions.Load()}
	st.Pages, st.Bytes = ix.pages.stats()
	return st
}

// stats reports the number of cached pages and their bytes.
func (c *pageCache) stats() (pages int, bytes int64) {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		pages += s.live
		bytes += s.bytes
		s.mu.Unlock()
	}
	return pages, bytes
}

// insert adds p, whose name is not in the table; the lock is held.
func (s *cacheShard) insert(p *page) {
	t := s.table.Load()
	if (s.live+s.dead+1)*4 > len(t.slots)*3 {
		t = s.rehash(s.live + 1)
	}
	for i := t.home(p.hash); ; i++ {
		slot := &t.slots[i&t.mask]
		switch slot.Load() {
		case tombstone:
			s.dead--
		case nil:
		default:
			continue
		}
		// A new page starts unmarked: it has until the hand reaches it (half a turn on average) to be read again.
		// Marked on insert, every page of a shard that misses often was marked, the hand had to clear a whole turn
		// before it could evict, and then took whatever came first: often a page read all along, whose bit it had
		// just cleared. Unmarked, the pages read once (most of a Zipf tail) go first, and the marks that the hand
		// finds are reads.
		slot.Store(p)
		s.live++
		return
	}
}

// rehash replaces the table by one sized for n pages, without tombstones; the lock is held. Lookups still reading
// the old table see the pages as they were, which is what they would have seen a moment earlier.
func (s *cacheShard) rehash(n int) *slotTable {
	size := minSlots
	for size*3 < n*8 {
		size *= 2
	}
	old := s.table.Load()
	t := newSlotTable(size)
	for i := range old.slots {
		p := old.slots[i].Load()
		if p == nil || p == tombstone {
			continue
		}
		for j := t.home(p.hash); ; j++ {
			if slot := &t.slots[j&t.mask]; slot.Load() == nil {
				slot.Store(p)
				break
			}
		}
	}
	s.table.Store(t)
	s.dead = 0
	s.hand = s.hand * size / len(old.slots)
	return t
}

// remove takes p, which is in the table, out of the shard; the lock is held.
func (s *cacheShard) remove(p *page) {
	t := s.table.Load()
	i := t.home(p.hash)
	for t.slots[i&t.mask].Load() != p {
		i++
	}
	s.clearSlot(t, i&t.mask)
	s.live--
	s.bytes -= p.size
}

// clearSlot empties slot i. A probe for another name may pass through it, so it becomes a tombstone, unless the
// next slot is empty: then no probe goes on past it, and the tombstones right before it can go too.
func (s *cacheShard) clearSlot(t *slotTable, i uint64) {
	if t.slots[(i+1)&t.mask].Load() != nil {
		t.slots[i].Store(tombstone)
		s.dead++
		return
	}
	t.slots[i].Store(nil)
	for j := (i - 1) & t.mask; t.slots[j].Load() == tombstone; j = (j - 1) & t.mask {
		t.slots[j].Store(nil)
		s.dead--
	}
}

// evict moves the clock hand until the shard holds at most target bytes; the lock is held.
func (c *pageCache) evict(s *cacheShard, target int64) {
	t := s.table.Load()
	// Two turns clear every bit and then find a victim; the bound only guards against a bug looping forever.
	for steps := 2*len(t.slots) + 1; s.bytes > target && s.live > 0 && steps > 0; steps-- {
		i := uint64(s.hand) & t.mask
		s.hand = int(i) + 1
		p := t.slots[i].Load()
		switch {
		case p == nil || p == tombstone:
		case p.used.Load():
			p.used.Store(false)
		default:
			s.clearSlot(t, i)
			s.live--
			s.bytes -= p.size
			c.evictions.Add(1)
		}
	}
}
