package simple

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"wharf/internal/pages"
)

// rootIndex is one build of the index root: a file per form in the Index's folder. The plain forms, tens of
// megabytes, are sent as nginx sends a static file (sendfile), from the operating system's page cache, not the heap.
// The gzip forms, what pip and browsers ask for, are a seventh of that and are also kept in memory: one write of a
// slice served them at 1.7 times nginx's rate, sendfile of the file at 0.65 times (bench/compare.sh, root-gzip).
type rootIndex struct {
	serial    int64
	serialHdr [1]string
	files     [pages.NumKinds]rootFile
}

type rootFile struct {
	path   string
	body   []byte // the file's bytes, for the gzip forms
	etag   [1]string
	length [1]string
}

// ServeRoot serves GET /simple/: every project name, from the last build.
func (ix *Index) ServeRoot(w http.ResponseWriter, r *http.Request) error {
	f := ix.accept.negotiate(r)
	if f == formatNone {
		return errNotAcceptable
	}
	b := ix.root.Load()
	if b == nil {
		// Before Run's first build is done, a request waits for it (or does it, when nothing runs the Index).
		var err error
		if b, err = ix.firstRoot(r.Context()); err != nil {
			return err
		}
	}
	gz := acceptsGzip(r)
	rf := &b.files[pages.KindOf(f == formatV1JSON, gz)]
	h := w.Header()
	h["Content-Type"] = contentTypes[f]
	h["Vary"] = varyHeader
	h["Etag"] = rf.etag[:]
	h["X-Pypi-Last-Serial"] = b.serialHdr[:]
	if noneMatch(r, rf.etag[0]) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	var file *os.File
	if rf.body == nil && r.Method != http.MethodHead {
		// Each request opens the file, before any header is final: a shared handle would share its offset, which
		// sendfile moves.
		var err error
		if file, err = os.Open(rf.path); err != nil {
			return fmt.Errorf("index root: %w", err)
		}
		defer file.Close()
	}
	if gz {
		h["Content-Encoding"] = gzipHeader
	}
	h["Content-Length"] = rf.length[:]
	switch {
	case r.Method == http.MethodHead:
	case rf.body != nil:
		w.Write(rf.body)
	default:
		// io.Copy hands the file to the connection, which sends it with sendfile.
		io.Copy(w, file)
	}
	return nil
}

func (ix *Index) firstRoot(ctx context.Context) (*rootIndex, error) {
	ix.rootMu.Lock()
	defer ix.rootMu.Unlock()
	if b := ix.root.Load(); b != nil {
		return b, nil
	}
	b, err := ix.buildRoot(ctx)
	if err != nil {
		return nil, err
	}
	ix.installRoot(b)
	return b, nil
}

// rootLoop builds the root at once, then again whenever the index changed (wakeRoot: a local write, or a change
// the poll found, made here or on another instance), at most once every RootInterval: a change after a quiet spell
// is listed at once, and a burst of uploads costs one build per interval. Requests get the previous build
// meanwhile. A failed build is tried again after the interval. The files go when ctx ends.
func (ix *Index) rootLoop(ctx context.Context) {
	defer ix.removeRoots()
	var built time.Time
	for {
		var retry <-chan time.Time
		if ok, err := ix.refreshRoot(ctx); err != nil && ctx.Err() == nil {
			ix.log.Error("simple index: root build failed; serving the previous one", "err", err)
			retry = time.After(ix.rootInterval)
		} else if ok {
			built = ix.now()
		}
		if !ix.awaitRootChange(ctx, retry) {
			return
		}
		if wait := ix.rootInterval - ix.now().Sub(built); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
	}
}

// wakeRoot tells rootLoop that the index may have changed. It never blocks; wakes before the next look count once.
func (ix *Index) wakeRoot() {
	select {
	case ix.rootWake <- struct{}{}:
	default:
	}
}

// awaitRootChange waits until a wake finds the root out of date, or retry fires; false when ctx ends first.
func (ix *Index) awaitRootChange(ctx context.Context, retry <-chan time.Time) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-retry:
			return true
		case <-ix.rootWake:
			if ix.rootStale(ctx) {
				return true
			}
		}
	}
}

// rootStale reports whether the root should be built again: there is none yet, a local write said so, or the
// global serial moved past the build's (or cannot be read: the build then reports why).
func (ix *Index) rootStale(ctx context.Context) bool {
	if ix.rootDirty.Load() {
		return true
	}
	cur := ix.root.Load()
	serial, err := ix.db.LastSerial(ctx)
	return err != nil || cur == nil || cur.serial != serial
}

// refreshRoot builds the root again if it is stale, and reports whether it did.
func (ix *Index) refreshRoot(ctx context.Context) (bool, error) {
	if !ix.rootStale(ctx) {
		return false, nil
	}
	ix.rootMu.Lock()
	defer ix.rootMu.Unlock()
	// Cleared before reading the names: a write after this point sets it again.
	dirty := ix.rootDirty.Swap(false)
	b, err := ix.buildRoot(ctx)
	if err != nil {
		if dirty {
			ix.rootDirty.Store(true)
		}
		return false, err
	}
	ix.installRoot(b)
	return true, nil
}

// installRoot makes b the root served and removes the files of the build before the one it replaces: a request
// that took the replaced build a moment ago may still be about to open its file. rootMu is held.
func (ix *Index) installRoot(b *rootIndex) {
	if ix.oldRoot != nil {
		removeRoot(ix.oldRoot)
	}
	ix.oldRoot = ix.root.Swap(b)
}

// removeRoots removes the root's files, and their folder if it was made here.
func (ix *Index) removeRoots() {
	ix.rootMu.Lock()
	defer ix.rootMu.Unlock()
	for _, b := range []*rootIndex{ix.oldRoot, ix.root.Swap(nil)} {
		if b != nil {
			removeRoot(b)
		}
	}
	ix.oldRoot = nil
	if ix.ownDir {
		os.RemoveAll(ix.dir)
	}
}

func removeRoot(b *rootIndex) {
	for _, f := range b.files {
		os.Remove(f.path)
	}
}

// buildRoot streams every name from the database into the root's files; rootMu is held.
func (ix *Index) buildRoot(ctx context.Context) (_ *rootIndex, err error) {
	// The serial is read first: a change during the scan leaves the build with an older serial than the
	// database, so the next turn builds again.
	serial, err := ix.db.LastSerial(ctx)
	if err != nil {
		return nil, fmt.Errorf("build root: %w", err)
	}
	if ix.dir == "" {
		return nil, errors.New("build root: no folder for its files")
	}
	b := &rootIndex{serial: serial, serialHdr: [1]string{strconv.FormatInt(serial, 10)}}
	var dst [pages.NumKinds]io.Writer
	for k := range pages.NumKinds {
		f, err := os.CreateTemp(ix.dir, "root-*"+rootSuffixes[k])
		if err != nil {
			removeRoot(b)
			return nil, fmt.Errorf("build root: %w", err)
		}
		defer f.Close()
		b.files[k] = rootFile{path: f.Name(), etag: [1]string{makeETag("r", serial, etagSuffixes[k])}}
		dst[k] = f
	}
	defer func() {
		if err != nil {
			removeRoot(b)
		}
	}()
	root, err := pages.NewRoot(dst, serial, ix.rootLevel)
	if err != nil {
		return nil, fmt.Errorf("build root: %w", err)
	}
	err = ix.db.EachProjectName(ctx, func(name string) error {
		root.Add(name)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("build root: %w", err)
	}
	if err := root.Close(); err != nil {
		return nil, fmt.Errorf("build root: %w", err)
	}
	for k, f := range dst {
		fi, err := f.(*os.File).Stat()
		if err != nil {
			return nil, fmt.Errorf("build root: %w", err)
		}
		b.files[k].length[0] = strconv.FormatInt(fi.Size(), 10)
	}
	for _, k := range []pages.Kind{pages.HTMLGzip, pages.JSONGzip} {
		if b.files[k].body, err = os.ReadFile(b.files[k].path); err != nil {
			return nil, fmt.Errorf("build root: %w", err)
		}
	}
	return b, nil
}

var rootSuffixes = [pages.NumKinds]string{".html", ".html.gz", ".json", ".json.gz"}
