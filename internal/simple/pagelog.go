package simple

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// pageLog keeps the project pages and JSON API documents this instance has served, and serves them from there as
// nginx serves a static tree: the operating system's page cache keeps what is read often, outside the Go heap and
// whatever the index's size. A page this instance does not keep is one key lookup away in the store, already
// rendered; that miss appends it to the log.
//
// The log is a run of segment files in a folder, each segmentSize bytes at most. A record is a line of text,
// "NAME SLOT SERIAL ETAG", and the body exactly as sent. An index in memory finds a page's record: per shard of
// projects, a hash table from a 64-bit hash of (name, slot) to the record's place, out of the Go heap (entryTable;
// the JSON API documents' entries are a map). Serving a kept page is one pread from a descriptor held open: no
// path to walk and no file to open or create, which is what a file per page cost, and a miss appends where a file
// per page made an inode.
//
// When the log reaches its size, the oldest segment goes, with the index's entries for it: the disk holds at most
// maxBytes, the index at most an entry per record in it, and a page still asked for after that is read from the
// store again, once. A record is only ever appended, so a reader finds it whole or not at all; a segment's
// descriptor is closed when its last reader is done (refs). Segment files are removed from the folder as soon as
// they are made: the log is a copy of what the database holds, lives as long as the process, and leaves nothing
// behind when the process ends, however it ends.
//
// A page's record serves until the project changes. A JSON API document's serves until then too, or until the
// store's protection epoch moves (a designation, a second factor, an organization's Owners, which change the
// document without its serial): then it is checked against the store once and serves on if it is still what the
// store holds (touch). A change to a project removes all its entries (drop). A miss that read the store before the
// change must not put back what it read: a drop moves the generation of the project's shard, and a miss enters its
// record only when the generation is still the one it saw before reading the store.
type pageLog struct {
	dir         string // "" keeps nothing
	segmentSize int64
	maxSegments int

	shards [logShards]logShard

	// ring finds an entry's segment: segment n is ring[n%len(ring)] while it lives. It is twice as long as the log,
	// so a place is reused long after its segment went.
	ring []atomic.Pointer[segment]

	mu       sync.Mutex // guards what follows
	head     *segment   // the segment appended to; nil before the first write, after a failure and after close
	used     int64      // bytes of head reserved
	next     int64      // sequence number of the next segment
	live     []*segment // oldest first, head last
	closed   bool
	retiring sync.WaitGroup

	misses   atomic.Int64
	failures atomic.Int64
	warned   atomic.Int64 // Unix nanoseconds of the last failure logged
	warn     func(msg string, args ...any)
}

// logShards is how many generations, locks and maps the projects share.
const logShards = 256

type logShard struct {
	mu  sync.RWMutex
	gen uint64
	// pages holds the entries of pages, by keyOf; docs those of JSON API documents, which a drop finds by project.
	// docs holds as many as the documents served (after the bench's walk of 210,000 projects' two documents, 1,600 a
	// shard and 23 MB of heap in all), where pages are millions.
	pages entryTable
	docs  map[uint64]docEntry
	_     [24]byte // 128 bytes a shard: no two shards share a cache line
}

// pageEntry is where a record lies: its segment's place in the ring, its offset in the segment and its length, in
// 64 bits, which make a slot of 16 bytes with its key (entryTable). An index of every form of PyPI's 886,000
// projects has millions of entries.
type pageEntry uint64

const (
	entryOffsetBits = 26 // segments are at most 64 MiB
	entrySizeBits   = 26 // and records at most half of one
	entryRingBits   = 64 - entryOffsetBits - entrySizeBits

	// MaxPageLogBytes is the most disk the page log can be given: the ring of its segments must be numbered in
	// entryRingBits, and 128 GiB is eighty times every page of PyPI's projects in one form.
	MaxPageLogBytes = 1 << (entryRingBits - 1 + entryOffsetBits)
)

func makeEntry(ring int, off, size int64) pageEntry {
	return pageEntry(uint64(ring)<<(entryOffsetBits+entrySizeBits) | uint64(off)<<entrySizeBits | uint64(size))
}

// ring is the index in pageLog.ring of the entry's segment.
func (e pageEntry) ring() int   { return int(e >> (entryOffsetBits + entrySizeBits)) }
func (e pageEntry) off() int64  { return int64(e>>entrySizeBits) & (1<<entryOffsetBits - 1) }
func (e pageEntry) size() int64 { return int64(e) & (1<<entrySizeBits - 1) }

type docEntry struct {
	pageEntry
	project uint32 // the low bits of the name's hash, for drop
	// epoch is the protection epoch at which the document was last found to be what the store holds.
	epoch int64
}

// segment is one file of the log.
type segment struct {
	ring int // its index in pageLog.ring
	fd   int
	// refs counts the log's own reference, until the segment retires, and each reader and writer using fd.
	refs atomic.Int64
	// retired is set before the segment's entries are removed: no entry is made for it after that. cleared is set
	// once they are: its place in the ring can be given to another segment.
	retired, cleared atomic.Bool
}

func (s *segment) acquire() { s.refs.Add(1) }

func (s *segment) release() {
	if s.refs.Add(-1) == 0 {
		unix.Close(s.fd)
	}
}

// DefaultPageLogBytes is the disk the page log takes at most (Options.PageLogBytes): every page of PyPI's ~886,000
// projects in one form is about 1.5 GB.
const DefaultPageLogBytes = 4 << 30

// newPageLog keeps records in dir ("" keeps none), up to maxBytes, and reports failures to warn.
func newPageLog(dir string, maxBytes int64, warn func(msg string, args ...any)) *pageLog {
	if maxBytes <= 0 {
		maxBytes = DefaultPageLogBytes
	}
	maxBytes = min(maxBytes, MaxPageLogBytes)
	// 64 MiB segments, and at least four of them, so that a retiring segment is a small share of the log.
	segmentSize := min(int64(64<<20), maxBytes/4)
	n := int(max(maxBytes/segmentSize, 1))
	pl := &pageLog{dir: dir, segmentSize: segmentSize, maxSegments: n, warn: warn,
		ring: make([]atomic.Pointer[segment], 2*n)}
	for i := range pl.shards {
		pl.shards[i].docs = map[uint64]docEntry{}
	}
	return pl
}

// pageSlots are the slots of a page's forms, indexed by pages.Kind.
var pageSlots = [...]string{"html", "html.gz", "json", "json.gz"}

// projectDocSlot is the slot of a project's JSON API document.
const projectDocSlot = "api"

// maxKeptVersion bounds the versions whose documents are kept: a longer one is served from the store each time.
const maxKeptVersion = 200

// releaseDocSlot is the slot of a release's JSON API document, or "" when version's is not kept: only the characters
// of PEP 440 versions (and their common misspellings) are, so that a slot is one word of a record's first line.
func releaseDocSlot(version string) string {
	if version == "" || len(version) > maxKeptVersion {
		return ""
	}
	for i := 0; i < len(version); i++ {
		c := version[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' ||
			c == '_' || c == '+' || c == '!') {
			return ""
		}
	}
	return "v" + version
}

// isDocSlot tells a document's slot from a page's: no page slot starts with "v".
func isDocSlot(slot string) bool { return slot == projectDocSlot || slot[0] == 'v' }

// cached is a page or document, as read from the log or from the store.
type cached struct {
	serial int64
	// epoch is the protection epoch at which a document was last found to be what the store holds.
	epoch int64
	// headers are the values of ETag (quoted) and X-PyPI-Last-Serial, as a response's header map takes them.
	headers [2]string
	body    []byte // the whole body, unless seg is set
	// seg, for a body larger than a read buffer, is the segment it lies in, from off, size bytes long.
	seg  *segment
	off  int64
	size int64
	buf  *[]byte // the read buffer body lies in, to give back
}

// readBufferSize is the largest record read into memory at once; a larger body is sent a buffer at a time. Most
// pages are a few kilobytes; a popular project's are megabytes.
const readBufferSize = 32 << 10

var readBuffers = sync.Pool{New: func() any { b := make([]byte, readBufferSize); return &b }}

// close gives back what c holds.
func (c *cached) close() {
	if c.seg != nil {
		c.seg.release()
		c.seg = nil
	}
	if c.buf != nil {
		readBuffers.Put(c.buf)
		c.buf = nil
	}
}

// FNV-1a, 64 bits.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnv(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

// nameHash picks a project's shard; keyOf a record's key from it.
func nameHash(name string) uint64 { return fnv(fnvOffset, name) }

func keyOf(h uint64, slot string) uint64 { return fnv((h^' ')*fnvPrime, slot) }

func (pl *pageLog) shard(h uint64) *logShard { return &pl.shards[shardIndex(h)] }

func shardIndex(h uint64) int { return int(h >> 56 % logShards) }

// lookup finds the record of name's slot and holds its segment for the caller to read.
func (pl *pageLog) lookup(name, slot string) (e docEntry, s *segment) {
	h := nameHash(name)
	sh := pl.shard(h)
	k := keyOf(h, slot)
	var ok bool
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	if isDocSlot(slot) {
		e, ok = sh.docs[k]
	} else {
		e.pageEntry, ok = sh.pages.get(k)
	}
	if !ok {
		return e, nil
	}
	// An entry outlives neither its segment nor the log's reference to it (retire removes entries first, and the
	// segment's place in the ring is not given to another before), so the reference this adds is never the first.
	if s = pl.ring[e.ring()].Load(); s != nil {
		s.acquire()
	}
	return e, s
}

// read returns the record of name's slot, if there is one, and whether it is fresh: a page always is, a document
// while it was last checked at epoch, the protection epoch now. Anything but the whole record of that very slot
// reads as none: the store answers instead.
func (pl *pageLog) read(name, slot string, epoch int64) (c cached, found, fresh bool) {
	c, found, fresh = pl.find(name, slot, epoch)
	if !fresh {
		pl.misses.Add(1)
	}
	return c, found, fresh
}

// find is read, without counting a miss: for a form made from another.
func (pl *pageLog) find(name, slot string, epoch int64) (c cached, found, fresh bool) {
	if slot == "" {
		return c, false, false
	}
	e, s := pl.lookup(name, slot)
	if s == nil {
		return c, false, false
	}
	if err := c.readRecord(s, e.pageEntry, name, slot); err != nil {
		c.close()
		pl.failed("read", err)
		return cached{}, false, false
	}
	c.epoch = e.epoch
	return c, true, !isDocSlot(slot) || c.epoch == epoch
}

var (
	errBadRecord = errors.New("not the record asked for")
	errIndexFull = errors.New("no memory for the index's entry")
)

// readRecord reads e's record from s, which it keeps (and c.close releases) when the body is larger than a read
// buffer, and releases otherwise.
func (c *cached) readRecord(s *segment, e pageEntry, name, slot string) error {
	c.seg = s
	c.buf = readBuffers.Get().(*[]byte)
	buf := (*c.buf)[:min(int(e.size()), readBufferSize)]
	if err := pread(s.fd, buf, e.off()); err != nil {
		return err
	}
	head, ok := parseHead(buf, name, slot, c)
	if !ok {
		return errBadRecord
	}
	if int(e.size()) <= readBufferSize {
		c.body = buf[head:]
		c.seg = nil
		s.release()
		return nil
	}
	readBuffers.Put(c.buf)
	c.buf = nil
	c.off = e.off() + int64(head)
	c.size = e.size() - int64(head)
	return nil
}

// pread fills buf from fd at off.
func pread(fd int, buf []byte, off int64) error {
	for len(buf) > 0 {
		n, err := unix.Pread(fd, buf, off)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return err
		case n == 0:
			return errBadRecord // past the end: a record is never shorter than its entry says
		}
		buf, off = buf[n:], off+int64(n)
	}
	return nil
}

// parseHead reads a record's first line into c, if it is name's slot's, and returns its length with the newline.
func parseHead(buf []byte, name, slot string, c *cached) (int, bool) {
	end := bytes.IndexByte(buf, '\n')
	if end < 0 {
		return 0, false
	}
	line := buf[:end]
	field := func() []byte {
		i := bytes.IndexByte(line, ' ')
		if i < 0 {
			i = len(line)
		}
		f := line[:i]
		line = line[min(i+1, len(line)):]
		return f
	}
	if string(field()) != name || string(field()) != slot {
		return 0, false
	}
	// One string for the rest: the header values are slices of it.
	serial, etag, ok := strings.Cut(string(line), " ")
	var err error
	c.serial, err = strconv.ParseInt(serial, 10, 64)
	c.headers = [2]string{etag, serial}
	return end + 1, ok && err == nil && etag != "" && !strings.Contains(etag, " ")
}

// newCached is a page or document read from the store.
func newCached(serial int64, etag string, body []byte) cached {
	return cached{serial: serial, headers: [2]string{etag, strconv.FormatInt(serial, 10)}, body: body}
}

// bytes returns c's whole body, read from its segment when it is not in memory.
func (c *cached) bytes() ([]byte, error) {
	if c.seg == nil {
		return c.body, nil
	}
	body := make([]byte, c.size)
	return body, pread(c.seg.fd, body, c.off)
}

// etag returns c's ETag, quoted.
func (c *cached) etag() string { return c.headers[0] }

// setHeaders sets c's ETag and X-PyPI-Last-Serial in h.
func (c *cached) setHeaders(h http.Header) {
	values := c.headers // one allocation for both
	h["Etag"] = values[0:1:1]
	h["X-Pypi-Last-Serial"] = values[1:2:2]
}

// generation returns name's shard's count of drops, to be handed back to write.
func (pl *pageLog) generation(name string) uint64 {
	sh := pl.shard(nameHash(name))
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	return sh.gen
}

// generations is generation for every project at once: gens[shardIndex(nameHash(name))] is name's.
func (pl *pageLog) generations(gens *[logShards]uint64) {
	for i := range pl.shards {
		sh := &pl.shards[i]
		sh.mu.RLock()
		gens[i] = sh.gen
		sh.mu.RUnlock()
	}
}

// capacity is the most the log's records take.
func (pl *pageLog) capacity() int64 { return int64(pl.maxSegments) * pl.segmentSize }

// write appends c (with a body in memory) as the record of name's slot, unless name's shard saw a drop since gen, and
// returns the bytes it kept. A failure keeps nothing: the next request reads the store again.
func (pl *pageLog) write(name, slot string, c *cached, gen uint64) int64 {
	if pl.dir == "" || slot == "" {
		return 0
	}
	// The head line is written with the body, not copied before it: a miss's body is a document of kilobytes, and
	// the copy was a second allocation of its size.
	head := make([]byte, 0, len(name)+len(slot)+64)
	head = append(head, name...)
	head = append(head, ' ')
	head = append(head, slot...)
	head = append(head, ' ')
	head = strconv.AppendInt(head, c.serial, 10)
	head = append(head, ' ')
	head = append(head, c.etag()...)
	head = append(head, '\n')
	size := int64(len(head) + len(c.body))
	if size > pl.segmentSize/2 {
		return 0 // a page as large as that is read from the store each time
	}
	s, off, err := pl.reserve(size)
	if err != nil {
		pl.failed("write", err)
		return 0
	}
	defer s.release()
	if err := pwritev(s.fd, [][]byte{head, c.body}, off); err != nil {
		pl.failed("write", err)
		return 0
	}
	h := nameHash(name)
	sh := pl.shard(h)
	k := keyOf(h, slot)
	e := makeEntry(s.ring, off, size)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.gen != gen || s.retired.Load() {
		return 0
	}
	if isDocSlot(slot) {
		sh.docs[k] = docEntry{pageEntry: e, project: uint32(h), epoch: c.epoch}
	} else if !sh.pages.put(k, e) {
		pl.failed("write", errIndexFull)
		return 0
	}
	return size
}

// pwritev writes bufs, one after the other, to fd at off.
func pwritev(fd int, bufs [][]byte, off int64) error {
	for len(bufs) > 0 {
		n, err := unix.Pwritev(fd, bufs, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 && len(bufs[0]) > 0 {
			return io.ErrShortWrite
		}
		off += int64(n)
		for len(bufs) > 0 && n >= len(bufs[0]) {
			n -= len(bufs[0])
			bufs = bufs[1:]
		}
		if len(bufs) > 0 {
			bufs[0] = bufs[0][n:]
		}
	}
	return nil
}

// reserve returns where to write n bytes: a segment held for the caller to release, and their offset in it.
func (pl *pageLog) reserve(n int64) (*segment, int64, error) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if pl.closed {
		return nil, 0, errors.New("page log closed")
	}
	if pl.head == nil || pl.used+n > pl.segmentSize {
		if err := pl.newSegment(); err != nil {
			return nil, 0, err
		}
	}
	off := pl.used
	pl.used += n
	pl.head.acquire()
	return pl.head, off, nil
}

// newSegment starts a segment and retires the oldest when the log is full. pl.mu is held.
func (pl *pageLog) newSegment() error {
	pl.head = nil
	// Made again if it went while the server ran: a segment is made once per segmentSize bytes written.
	if err := os.MkdirAll(pl.dir, 0o700); err != nil {
		return err
	}
	// A file with no name: nothing is left behind, whatever ends the process.
	fd, err := unix.Open(pl.dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		// Some file systems have no O_TMPFILE: make a file and remove its name.
		path := pl.dir + "/segment-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		if fd, err = unix.Open(path, unix.O_CREAT|unix.O_EXCL|unix.O_RDWR|unix.O_CLOEXEC, 0o600); err != nil {
			return err
		}
		if err := unix.Unlink(path); err != nil {
			unix.Close(fd)
			return err
		}
	}
	s := &segment{ring: int(pl.next % int64(len(pl.ring))), fd: fd}
	s.refs.Store(1)
	if old := pl.ring[s.ring].Load(); old != nil && !old.cleared.Load() {
		// Entries name a segment by its place: the one that had it must have none left. It retired a log's length
		// of segments ago, so this waits only for a retire that stalled that long.
		pl.retiring.Wait()
	}
	pl.ring[s.ring].Store(s)
	pl.next++
	pl.head, pl.used = s, 0
	pl.live = append(pl.live, s)
	if len(pl.live) > pl.maxSegments {
		old := pl.live[0]
		pl.live = pl.live[1:]
		pl.retiring.Go(func() { pl.retire(old) })
	}
	return nil
}

// retire removes s's entries, then the log's reference to s: its descriptor closes when its last reader is done.
func (pl *pageLog) retire(s *segment) {
	s.retired.Store(true)
	for i := range pl.shards {
		sh := &pl.shards[i]
		sh.mu.Lock()
		sh.pages.deleteIf(func(e pageEntry) bool { return e.ring() == s.ring })
		for k, e := range sh.docs {
			if e.ring() == s.ring {
				delete(sh.docs, k)
			}
		}
		sh.mu.Unlock()
	}
	s.cleared.Store(true)
	s.release()
}

// close forgets every record and closes the segments once their readers are done. Later writes keep nothing.
func (pl *pageLog) close() {
	pl.mu.Lock()
	pl.closed = true
	live := pl.live
	pl.live, pl.head = nil, nil
	pl.mu.Unlock()
	pl.retiring.Wait()
	for _, s := range live {
		s.retired.Store(true)
	}
	for i := range pl.shards {
		sh := &pl.shards[i]
		sh.mu.Lock()
		sh.gen++
		sh.pages.clear()
		clear(sh.docs)
		sh.mu.Unlock()
	}
	for _, s := range live {
		s.release()
	}
}

// touch marks the record of name's slot as found to be what the store holds at epoch, unless name's shard saw a
// drop since gen.
func (pl *pageLog) touch(name, slot string, gen uint64, epoch int64) {
	h := nameHash(name)
	sh := pl.shard(h)
	k := keyOf(h, slot)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e, ok := sh.docs[k]; ok && sh.gen == gen {
		e.epoch = epoch
		sh.docs[k] = e
	}
}

// drop forgets every record of name and keeps misses that began before it from entering theirs.
func (pl *pageLog) drop(name string) {
	h := nameHash(name)
	sh := pl.shard(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.gen++
	for _, slot := range pageSlots {
		sh.pages.delete(keyOf(h, slot))
	}
	// A drop scans its shard's documents: as many as were served (tens of thousands a shard if every release's
	// document of PyPI's were), and a drop follows a write.
	for k, e := range sh.docs {
		if e.project == uint32(h) {
			delete(sh.docs, k)
		}
	}
}

// failed counts a failure of the log and logs it, at most once a minute: a full disk must not flood the log.
func (pl *pageLog) failed(op string, err error) {
	pl.failures.Add(1)
	now := time.Now().UnixNano()
	last := pl.warned.Load()
	if now-last >= int64(time.Minute) && pl.warned.CompareAndSwap(last, now) {
		pl.warn("simple index: page log failed; serving from the database", "op", op, "dir", pl.dir, "err", err)
	}
}

// send writes c's body (headers set but Content-Length, which it sets when it must) for a GET, nothing for a HEAD.
// withLength sends the length even when net/http would (the JSON API always says it).
func (c *cached) send(w http.ResponseWriter, r *http.Request, withLength bool) {
	size := c.size
	if c.seg == nil {
		size = int64(len(c.body))
	}
	if withLength || size > autoLengthMax || r.Method == http.MethodHead {
		w.Header()["Content-Length"] = []string{strconv.FormatInt(size, 10)}
	}
	switch {
	case r.Method == http.MethodHead:
	case c.seg != nil:
		buf := readBuffers.Get().(*[]byte)
		defer readBuffers.Put(buf)
		for off, end := c.off, c.off+c.size; off < end; {
			chunk := (*buf)[:min(int64(len(*buf)), end-off)]
			if pread(c.seg.fd, chunk, off) != nil {
				return // the client gets fewer bytes than Content-Length said, and knows
			}
			if _, err := w.Write(chunk); err != nil {
				return
			}
			off += int64(len(chunk))
		}
	default:
		w.Write(c.body)
	}
}

// FileStats counts what the page log did not answer, for benchmarks and metrics.
type FileStats struct {
	Misses   int64 // requests for a page or document that no record (or one to check again) answered
	Failures int64 // records that could not be read or written (the store answered)
}

// FileStats reports the counts since the Index was made.
func (ix *Index) FileStats() FileStats {
	return FileStats{Misses: ix.served.misses.Load(), Failures: ix.served.failures.Load()}
}
