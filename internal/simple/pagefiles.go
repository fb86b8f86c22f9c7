package simple

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// pageFiles keeps the project pages and JSON API documents this instance has served as files in a folder, and serves
// them from there as nginx serves a static tree: the operating system's page cache keeps what is read often, outside
// the Go heap and whatever the index's size, and a file not read for a while costs only disk. A page this instance
// has no file for is one key lookup away in the store, already rendered; that miss writes the file.
//
// A file starts with one line of text, "SERIAL ETAG": the project's serial and the response's ETag. The body
// follows, exactly as sent. A file is written under a temporary name and renamed into place, so that a reader finds
// the old file or the new one, whole. A page's file serves until the project changes; a JSON API document's for
// DocumentTTL from its modification time, which is when it was last found to be what the store holds (touch).
//
// A change to a project removes all its files (drop). A miss that read the store before the change must not put
// back what it read: a drop moves the generation of the project's shard, and a miss renames its file into place
// only when the generation is still the one it saw before reading the store. The folder is a copy of what the
// database holds, so nothing is synced to disk, and a server empties it when it starts: what an earlier process left
// may predate changes made while it was down.
//
// Layout: DIR/HH/NAME.SLOT, where HH spreads the projects over 256 folders and SLOT is the form ("html", "html.gz",
// "json", "json.gz", "api" for the project's JSON API document); a release's document is DIR/HH/NAME.releases/VVERSION.
// A normalised name has no dot, so no two projects' files meet.
type pageFiles struct {
	dir     string            // "" keeps nothing in files
	folders [256]atomic.Int32 // descriptors of the folders, plus one; 0 until opened (folderFD)
	// New files are written under tempPrefix and a count, then renamed; the prefix is the Index's own.
	tempPrefix string
	temps      atomic.Uint64
	shards     [fileLockShards]fileShard

	misses   atomic.Int64
	failures atomic.Int64
	warned   atomic.Int64 // Unix nanoseconds of the last failure logged
	warn     func(msg string, args ...any)
}

// newPageFiles keeps files in dir ("" keeps none), and reports failures to warn.
func newPageFiles(dir string, warn func(msg string, args ...any)) *pageFiles {
	return &pageFiles{dir: dir, warn: warn, tempPrefix: ".new-" + strconv.FormatUint(rand.Uint64(), 36) + "-"}
}

// fileLockShards is how many generations (and locks) the projects share.
const fileLockShards = 64

type fileShard struct {
	mu  sync.Mutex
	gen uint64
	_   [48]byte // keeps shards off each other's cache lines
}

// pageSlots are the file suffixes of a page's forms, indexed by pages.Kind.
var pageSlots = [...]string{"html", "html.gz", "json", "json.gz"}

// projectDocSlot is the slot of a project's JSON API document.
const projectDocSlot = "api"

// maxFileName bounds what is kept in files: a longer name or version is served from the store each time (a file
// name has at most 255 bytes).
const maxFileName = 200

// releaseDocSlot is the slot of a release's JSON API document, or "" when version is not kept in a file: only the
// characters of PEP 440 versions (and their common misspellings) are, so that a version never reads as a path.
func releaseDocSlot(version string) string {
	if version == "" || len(version) > maxFileName {
		return ""
	}
	for i := 0; i < len(version); i++ {
		c := version[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' ||
			c == '_' || c == '+' || c == '!') {
			return ""
		}
	}
	return "releases/v" + version
}

// cached is a page or document, as read from its file or from the store.
type cached struct {
	serial int64
	// modified is when the file was last found to be what the store holds (Unix nanoseconds): its modification
	// time, read for documents only.
	modified int64
	// headers are the values of ETag (quoted) and X-PyPI-Last-Serial, as a response's header map takes them.
	headers [2]string
	body    []byte // the whole body, unless file is set
	// file, for a body larger than a read buffer, is the open file at the start of the body; size is its length.
	file *os.File
	size int64
	buf  *[]byte // the read buffer body lies in, to give back
}

// readBufferSize is the largest file read into memory to be sent; a larger one goes with sendfile. Most pages are a
// few kilobytes; a popular project's are megabytes.
const readBufferSize = 32 << 10

var readBuffers = sync.Pool{New: func() any { b := make([]byte, readBufferSize); return &b }}

// close gives back what c holds.
func (c *cached) close() {
	if c.file != nil {
		c.file.Close()
		c.file = nil
	}
	if c.buf != nil {
		readBuffers.Put(c.buf)
		c.buf = nil
	}
}

// hash spreads names over folders and lock shards (FNV-1a).
func hash(name string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(name); i++ {
		h ^= uint32(name[i])
		h *= 16777619
	}
	return h
}

// folderNames are the names of the 256 folders: "00" to "ff".
var folderNames = func() (names [256]string) {
	for i := range names {
		names[i] = fmt.Sprintf("%02x", i)
	}
	return names
}()

// path returns where name's slot is kept, or "" when it is not kept in a file.
func (pf *pageFiles) path(name, slot string) string {
	if folder := pf.folder(name); folder != "" && slot != "" {
		return folder + "/" + name + "." + slot
	}
	return ""
}

// folder returns the folder name's files are in, with those of other projects (a release's document is one
// further down), or "" when they are not kept.
func (pf *pageFiles) folder(name string) string {
	if pf.dir == "" || len(name) > maxFileName {
		return ""
	}
	return pf.dir + "/" + folderNames[hash(name)&255]
}

func (pf *pageFiles) shard(name string) *fileShard {
	return &pf.shards[hash(name)>>8%fileLockShards]
}

// read returns the file of name's slot, if there is one, and whether it is fresh: a page always is, a document
// (ttl > 0) until ttl after its modification time. Anything but a whole, well-formed file reads as none: the store
// answers instead.
func (pf *pageFiles) read(name, slot string, now, ttl int64) (c cached, found, fresh bool) {
	h := hash(name) & 255
	folder := pf.folderFD(h)
	if folder < 0 || slot == "" || len(name) > maxFileName {
		pf.misses.Add(1)
		return cached{}, false, false
	}
	c, err := readFile(folder, name+"."+slot, ttl > 0)
	if err != nil {
		pf.misses.Add(1)
		if !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENOTDIR) {
			pf.failed("read", pf.path(name, slot), err)
		}
		return cached{}, false, false
	}
	if ttl > 0 && now-c.modified >= ttl {
		pf.misses.Add(1)
		return c, true, false
	}
	return c, true, true
}

// folderFD returns a descriptor of folder h, opened on first use and kept until closeFolders, or -1 while the folder
// does not exist (no file was written there yet). Reads open their files relative to it: the kernel then walks one
// name instead of the whole path, which was a third of the cost of opening a page's file.
func (pf *pageFiles) folderFD(h uint32) int {
	if fd := pf.folders[h].Load(); fd != 0 {
		return int(fd - 1)
	}
	if pf.dir == "" {
		return -1
	}
	fd, err := unix.Open(pf.dir+"/"+folderNames[h], unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	if !pf.folders[h].CompareAndSwap(0, int32(fd+1)) {
		unix.Close(fd) // another read opened it first
	}
	return int(pf.folders[h].Load() - 1)
}

// closeFolders closes the folders' descriptors.
func (pf *pageFiles) closeFolders() {
	for i := range pf.folders {
		if fd := pf.folders[i].Swap(0); fd != 0 {
			unix.Close(int(fd - 1))
		}
	}
}

var errBadFile = errors.New("not a page file")

// readFile reads a page file: into a pooled buffer when it fits, else its head, leaving the file open at the body.
// The raw system calls skip what an *os.File costs per open (a poller registration attempt, a cleanup) on the path of
// every request, and a read that does not fill the buffer has read the whole file (the files are regular files,
// replaced and never changed), so a small page costs open, read and close.
func readFile(folder int, name string, withTime bool) (c cached, err error) {
	fd, err := unix.Openat(folder, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return c, err
	}
	keep := false
	defer func() {
		if !keep {
			unix.Close(fd)
			c.close()
		}
	}()
	var st unix.Stat_t
	if withTime {
		if err := unix.Fstat(fd, &st); err != nil {
			return c, err
		}
		c.modified = unix.TimespecToNsec(st.Mtim)
	}
	c.buf = readBuffers.Get().(*[]byte)
	buf := *c.buf
	n, err := unix.Read(fd, buf)
	for err == unix.EINTR {
		n, err = unix.Read(fd, buf)
	}
	if err != nil {
		return c, err
	}
	head, ok := parseHead(buf[:n], &c)
	if !ok {
		return c, errBadFile
	}
	if n < len(buf) {
		c.body = buf[head:n]
		keep = true
		unix.Close(fd)
		return c, nil
	}
	if !withTime {
		if err := unix.Fstat(fd, &st); err != nil {
			return c, err
		}
	}
	readBuffers.Put(c.buf)
	c.buf = nil
	c.size = st.Size - int64(head)
	c.file = os.NewFile(uintptr(fd), name)
	if _, err := c.file.Seek(int64(head), io.SeekStart); err != nil {
		c.close()
		return c, err
	}
	keep = true
	return c, nil
}

// parseHead reads a file's first line into c and returns its length with the newline.
func parseHead(buf []byte, c *cached) (int, bool) {
	end := bytes.IndexByte(buf, '\n')
	if end < 0 {
		return 0, false
	}
	// One string for the line: the header values are slices of it.
	serial, etag, ok := strings.Cut(string(buf[:end]), " ")
	var err error
	c.serial, err = strconv.ParseInt(serial, 10, 64)
	c.headers = [2]string{etag, serial}
	return end + 1, ok && err == nil && etag != "" && !strings.Contains(etag, " ")
}

// newCached is a page or document read from the store.
func newCached(serial int64, etag string, body []byte) cached {
	return cached{serial: serial, headers: [2]string{etag, strconv.FormatInt(serial, 10)}, body: body}
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
func (pf *pageFiles) generation(name string) uint64 {
	s := pf.shard(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen
}

// write keeps c (with a body in memory) as the file of name's slot, unless name's shard saw a drop since gen. A
// failure leaves no file: the next request reads the store again.
func (pf *pageFiles) write(name, slot string, c *cached, gen uint64) {
	if pf.dir == "" || slot == "" || len(name) > maxFileName {
		return
	}
	h := hash(name) & 255
	folder := pf.folderFD(h)
	if folder < 0 {
		if err := os.MkdirAll(pf.dir+"/"+folderNames[h], 0o700); err != nil {
			pf.failed("write", pf.path(name, slot), err)
			return
		}
		if folder = pf.folderFD(h); folder < 0 {
			pf.failed("write", pf.path(name, slot), errors.New("folder not opened"))
			return
		}
	}
	content := strconv.AppendInt(make([]byte, 0, 64+len(c.body)), c.serial, 10)
	content = append(content, ' ')
	content = append(content, c.etag()...)
	content = append(content, '\n')
	content = append(content, c.body...)
	// In the project's folder, not the release's: a drop may remove a release's folder while the file is written.
	tmp := pf.tempPrefix + strconv.FormatUint(pf.temps.Add(1), 10)
	err := writeNew(folder, tmp, content)
	if err == nil && c.modified != 0 {
		err = setModified(folder, tmp, c.modified)
	}
	if err == nil {
		err = pf.install(name, folder, tmp, name+"."+slot, gen)
	}
	if err != nil {
		unix.Unlinkat(folder, tmp, 0)
		pf.failed("write", pf.path(name, slot), err)
	}
}

// writeNew writes a new file in folder.
func writeNew(folder int, name string, content []byte) error {
	fd, err := unix.Openat(folder, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	for len(content) > 0 && err == nil {
		var n int
		if n, err = unix.Write(fd, content); err == nil {
			content = content[n:]
		} else if err == unix.EINTR {
			err = nil
		}
	}
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	return err
}

// setModified sets the modification time of folder's file name.
func setModified(folder int, name string, at int64) error {
	ts := unix.NsecToTimespec(at)
	return unix.UtimesNanoAt(folder, name, []unix.Timespec{ts, ts}, 0)
}

// touch marks the file of name's slot as found to be what the store holds at now, unless name's shard saw a drop
// since gen: rewriting an unchanged document every DocumentTTL would create a file each time.
func (pf *pageFiles) touch(name, slot string, gen uint64, now int64) {
	s := pf.shard(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	folder := pf.folderFD(hash(name) & 255)
	if s.gen != gen || folder < 0 {
		return
	}
	if err := setModified(folder, name+"."+slot, now); err != nil && err != unix.ENOENT {
		pf.failed("touch", pf.path(name, slot), err)
	}
}

// install renames tmp to file (both in folder) if name's shard saw no drop since gen, and removes tmp otherwise.
func (pf *pageFiles) install(name string, folder int, tmp, file string, gen uint64) error {
	s := pf.shard(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen != gen {
		return unix.Unlinkat(folder, tmp, 0)
	}
	// Renaming over a file makes ext4 write the new one's data out at once (auto_da_alloc), which cost more than all
	// the rest of a miss: the old file goes first. A reader in between finds none and asks the store.
	if err := unix.Unlinkat(folder, file, 0); err != nil && err != unix.ENOENT {
		return err
	}
	err := unix.Renameat(folder, tmp, folder, file)
	if err == unix.ENOENT && strings.Contains(file, "/") {
		// A release's document, whose folder is not there yet.
		if err = unix.Mkdirat(folder, name+".releases", 0o700); err == nil || err == unix.EEXIST {
			err = unix.Renameat(folder, tmp, folder, file)
		}
	}
	return err
}

// drop removes every file of name and keeps misses that began before it from writing theirs.
func (pf *pageFiles) drop(name string) {
	s := pf.shard(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	folder := pf.folderFD(hash(name) & 255)
	if folder < 0 || len(name) > maxFileName {
		return // no file was written there
	}
	for _, slot := range [...]string{pageSlots[0], pageSlots[1], pageSlots[2], pageSlots[3], projectDocSlot} {
		if err := unix.Unlinkat(folder, name+"."+slot, 0); err != nil && err != unix.ENOENT {
			pf.failed("remove", pf.path(name, slot), err)
		}
	}
	if path := pf.path(name, "releases"); path != "" {
		if err := os.RemoveAll(path); err != nil {
			pf.failed("remove", path, err)
		}
	}
}

// failed counts a failure of the folder and logs it, at most once a minute: a full disk must not flood the log.
func (pf *pageFiles) failed(op, path string, err error) {
	pf.failures.Add(1)
	now := time.Now().UnixNano()
	last := pf.warned.Load()
	if now-last >= int64(time.Minute) && pf.warned.CompareAndSwap(last, now) {
		pf.warn("simple index: page file failed; serving from the database", "op", op, "path", path, "err", err)
	}
}

// send writes c's body (headers set but Content-Length, which it sets when it must) for a GET, nothing for a HEAD.
// withLength sends the length even when net/http would (the JSON API always says it).
func (c *cached) send(w http.ResponseWriter, r *http.Request, withLength bool) {
	if withLength || c.file != nil || len(c.body) > autoLengthMax || r.Method == http.MethodHead {
		size := c.size
		if c.file == nil {
			size = int64(len(c.body))
		}
		w.Header()["Content-Length"] = []string{strconv.FormatInt(size, 10)}
	}
	switch {
	case r.Method == http.MethodHead:
	case c.file != nil:
		// io.Copy hands the file to the connection, which sends it with sendfile.
		io.Copy(w, io.LimitReader(c.file, c.size))
	default:
		w.Write(c.body)
	}
}

// FileStats counts what the pages' files did not answer, for benchmarks and metrics.
type FileStats struct {
	Misses   int64 // requests for a page or document that no file (or an expired one) answered
	Failures int64 // files that could not be read, written or removed (the store answered)
}

// FileStats reports the counts since the Index was made.
func (ix *Index) FileStats() FileStats {
	return FileStats{Misses: ix.files.misses.Load(), Failures: ix.files.failures.Load()}
}
