package simple

import (
	"bytes"
	"context"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"wharf/internal/config"
	"wharf/internal/pages"
	"wharf/internal/store"
	"wharf/internal/store/storetest"
)

func testPageLog(t *testing.T, maxBytes int64) *pageLog {
	pl := newPageLog(filepath.Join(t.TempDir(), "pages"), maxBytes, t.Logf)
	t.Cleanup(pl.close)
	return pl
}

// TestPageLogRoundTrip: what is written is read back whole, in memory when small and a buffer at a time when larger
// than a read buffer, with its serial, ETag and (for a document) the epoch it was checked at; a HEAD gets the length
// and no body.
func TestPageLogRoundTrip(t *testing.T) {
	pl := testPageLog(t, 0)
	small := []byte("<html>small page</html>\n")
	large := bytes.Repeat([]byte("0123456789abcdef"), readBufferSize/16*3+5)
	const epoch = 7
	for _, tc := range []struct {
		name, slot string
		body       []byte
	}{
		{"small", pageSlots[pages.HTML], small},
		{"under-the-buffer", pageSlots[pages.JSON], large[:readBufferSize-len("under-the-buffer json 42 \"p1-42-h\"\n")]},
		{"just-over", pageSlots[pages.JSON], large[:readBufferSize]},
		{"large", pageSlots[pages.HTMLGzip], large},
		{"a-document", projectDocSlot, small},
		{"a-release", releaseDocSlot("1.0.post1+local"), large},
	} {
		c := newCached(42, `"p1-42-h"`, tc.body)
		if isDocSlot(tc.slot) {
			c.epoch = epoch
		}
		pl.write(tc.name, tc.slot, &c, pl.generation(tc.name))
		got, found, fresh := pl.read(tc.name, tc.slot, epoch)
		if !found || !fresh {
			t.Fatalf("%s: not read back (%v, %v)", tc.name, found, fresh)
		}
		if got.serial != 42 || got.epoch != c.epoch || got.etag() != `"p1-42-h"` || got.headers[1] != "42" {
			t.Errorf("%s: read %d, %d, %v", tc.name, got.serial, got.epoch, got.headers)
		}
		if inMemory := got.seg == nil; inMemory != (len(tc.body) < readBufferSize-30) {
			t.Errorf("%s: in memory %v for a body of %d bytes", tc.name, inMemory, len(tc.body))
		}
		for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodGet} {
			w := httptest.NewRecorder()
			got.send(w, httptest.NewRequest(method, "/", nil), true)
			want := tc.body
			if method == http.MethodHead {
				want = nil
			}
			if !bytes.Equal(w.Body.Bytes(), want) {
				t.Errorf("%s %s: sent %d bytes, want %d", tc.name, method, w.Body.Len(), len(want))
			}
			if cl := w.Header().Get("Content-Length"); cl != strconv.Itoa(len(tc.body)) {
				t.Errorf("%s %s: Content-Length %q, want %d", tc.name, method, cl, len(tc.body))
			}
		}
		got.close()
	}
	if n := pl.failures.Load(); n != 0 {
		t.Errorf("%d failures", n)
	}
}

// TestPageLogDrop: a drop forgets every record of the project (pages, documents, releases' documents) and no other
// project's, and a write that read the store before the drop keeps nothing; one that began after it does.
func TestPageLogDrop(t *testing.T) {
	pl := testPageLog(t, 0)
	slots := []string{pageSlots[0], pageSlots[1], pageSlots[2], pageSlots[3], projectDocSlot,
		releaseDocSlot("1.0"), releaseDocSlot("2.0rc1")}
	for _, name := range []string{"demo", "demo-two"} {
		for _, slot := range slots {
			c := newCached(7, `"x"`, []byte(name+slot))
			pl.write(name, slot, &c, pl.generation(name))
		}
	}
	before := pl.generation("demo")
	pl.drop("demo")
	for _, slot := range slots {
		if c, found, _ := pl.read("demo", slot, 0); found {
			c.close()
			t.Errorf("demo %s still there after the drop", slot)
		}
		c, _, ok := pl.read("demo-two", slot, 0)
		if !ok || string(c.body) != "demo-two"+slot {
			t.Errorf("demo-two %s: %v %q after demo's drop", slot, ok, c.body)
		}
		c.close()
	}
	// A miss that read the store before the drop.
	c := newCached(6, `"old"`, []byte("old"))
	pl.write("demo", pageSlots[0], &c, before)
	if c, found, _ := pl.read("demo", pageSlots[0], 0); found {
		c.close()
		t.Error("a page read before the drop was kept after it")
	}
	c = newCached(8, `"new"`, []byte("new"))
	pl.write("demo", pageSlots[0], &c, pl.generation("demo"))
	if c, _, ok := pl.read("demo", pageSlots[0], 0); !ok || string(c.body) != "new" {
		t.Errorf("a page read after the drop: %v %q", ok, c.body)
	} else {
		c.close()
	}
}

// TestPageLogEpoch: a document is fresh while the protection epoch is the one it was checked at, and a touch makes
// it fresh at the new one (unless the project was dropped since the document was read); a page is fresh until
// dropped, whatever the epoch.
func TestPageLogEpoch(t *testing.T) {
	pl := testPageLog(t, 0)
	doc := newCached(1, `"j"`, []byte("{}"))
	doc.epoch = 3
	pl.write("p", projectDocSlot, &doc, pl.generation("p"))
	page := newCached(1, `"p"`, []byte("<html>"))
	pl.write("p", pageSlots[0], &page, pl.generation("p"))
	check := func(slot string, epoch int64, want bool) {
		t.Helper()
		c, found, fresh := pl.read("p", slot, epoch)
		c.close()
		if !found || fresh != want {
			t.Errorf("%s at epoch %d: found %v, fresh %v, want %v", slot, epoch, found, fresh, want)
		}
	}
	check(projectDocSlot, 3, true)
	check(projectDocSlot, 4, false)
	check(pageSlots[0], 4, true)

	pl.touch("p", projectDocSlot, pl.generation("p"), 4)
	check(projectDocSlot, 4, true)
	check(projectDocSlot, 3, false)

	// A touch by a request that read the store before a drop does not make the record written since fresh.
	gen := pl.generation("p")
	pl.drop("p")
	later := newCached(2, `"j2"`, []byte("{}"))
	later.epoch = 4
	pl.write("p", projectDocSlot, &later, pl.generation("p"))
	pl.touch("p", projectDocSlot, gen, 5)
	check(projectDocSlot, 5, false)
}

// TestPageLogWrongRecord: an entry that leads to anything but the whole record of its own slot (another slot's, as
// two keys whose hashes meet would, a damaged line, the end of the segment) is no answer: the store answers, and the
// next write replaces it.
func TestPageLogWrongRecord(t *testing.T) {
	for _, tc := range []struct {
		name    string
		corrupt func(pl *pageLog, e *pageEntry)
	}{
		{"another project's", func(pl *pageLog, e *pageEntry) { *e = pl.entry(t, "q", pageSlots[0]) }},
		{"another slot's", func(pl *pageLog, e *pageEntry) { *e = pl.entry(t, "p", pageSlots[1]) }},
		{"cut short", func(pl *pageLog, e *pageEntry) { *e = makeEntry(e.ring(), e.off(), 3) }},
		{"past the end", func(pl *pageLog, e *pageEntry) { *e = makeEntry(e.ring(), e.off(), e.size()+100) }},
		{"off by one", func(pl *pageLog, e *pageEntry) { *e = makeEntry(e.ring(), e.off()+1, e.size()) }},
		{"another segment", func(pl *pageLog, e *pageEntry) { *e = makeEntry(e.ring()+1, e.off(), e.size()) }},
	} {
		pl := testPageLog(t, 0)
		for _, name := range []string{"q", "p"} {
			for _, slot := range pageSlots[:2] {
				c := newCached(3, `"p"`, []byte(name+slot))
				pl.write(name, slot, &c, pl.generation(name))
			}
		}
		e := pl.entry(t, "p", pageSlots[0])
		tc.corrupt(pl, &e)
		h := nameHash("p")
		pl.shard(h).pages.put(keyOf(h, pageSlots[0]), e)
		if c, found, _ := pl.read("p", pageSlots[0], 0); found {
			c.close()
			t.Errorf("%s: read %q as the page", tc.name, c.body)
		}
		c := newCached(4, `"p"`, []byte("page"))
		pl.write("p", pageSlots[0], &c, pl.generation("p"))
		if c, _, ok := pl.read("p", pageSlots[0], 0); !ok || string(c.body) != "page" {
			t.Errorf("%s: the new record read %v %q", tc.name, ok, c.body)
		} else {
			c.close()
		}
	}
}

// TestPageEntryBounds: the largest log numbers its ring, and every offset and length a segment can hold, in an
// entry's bits, and config refuses a larger log.
func TestPageEntryBounds(t *testing.T) {
	for _, maxBytes := range []int64{1 << 20, DefaultPageLogBytes, MaxPageLogBytes, 2 * MaxPageLogBytes} {
		pl := newPageLog("", maxBytes, t.Logf)
		if len(pl.ring) > 1<<entryRingBits || pl.segmentSize > 1<<entryOffsetBits ||
			pl.segmentSize/2 >= 1<<entrySizeBits {
			t.Errorf("%d bytes: %d segments of %d bytes do not fit an entry", maxBytes, len(pl.ring), pl.segmentSize)
		}
		ring, off, size := len(pl.ring)-1, pl.segmentSize-1, pl.segmentSize/2
		if e := makeEntry(ring, off, size); e.ring() != ring || e.off() != off || e.size() != size {
			t.Errorf("%d bytes: entry (%d, %d, %d) reads back (%d, %d, %d)", maxBytes, ring, off, size, e.ring(),
				e.off(), e.size())
		}
	}
	for size, ok := range map[string]bool{"128GiB": true, "129GiB": false} {
		env := map[string]string{"WHARF_PAGE_LOG_SIZE": size}
		_, _, err := config.Load(flag.NewFlagSet("serve", flag.ContinueOnError), nil, func(k string) string { return env[k] })
		if (err == nil) != ok {
			t.Errorf("WHARF_PAGE_LOG_SIZE=%s: %v", size, err)
		}
	}
}

// entry returns the entry of name's page slot.
func (pl *pageLog) entry(t *testing.T, name, slot string) pageEntry {
	h := nameHash(name)
	e, ok := pl.shard(h).pages.get(keyOf(h, slot))
	if !ok {
		t.Fatalf("no entry for %s %s", name, slot)
	}
	return e
}

// TestReleaseDocSlot: only a version's own characters make a slot, which is one word of a record's first line.
func TestReleaseDocSlot(t *testing.T) {
	for version, want := range map[string]string{
		"1.0":                                 "v1.0",
		"2!1.0.post1+local":                   "v2!1.0.post1+local",
		"1.0_RC-1":                            "v1.0_RC-1",
		"..":                                  "v..",
		"":                                    "",
		"1.0/../../x":                         "",
		"1.0\x00":                             "",
		"1 0":                                 "",
		"1.0\n":                               "",
		"1.0%2F":                              "",
		strings.Repeat("1", maxKeptVersion+1): "",
	} {
		if got := releaseDocSlot(version); got != want {
			t.Errorf("releaseDocSlot(%q) = %q, want %q", version, got, want)
		}
	}
}

// TestPageLogBounded: the log keeps at most its size on disk; the oldest records go first and read as misses, the
// newest stay; a reader that holds a large body while its segment retires still sends it whole.
func TestPageLogBounded(t *testing.T) {
	const maxBytes = 512 << 10 // four segments of 128 KiB
	pl := testPageLog(t, maxBytes)
	body := func(i int) []byte { return bytes.Repeat([]byte(strconv.Itoa(i)+" "), 600) }
	large := bytes.Repeat([]byte("large "), 40<<10/6) // more than a read buffer
	c := newCached(1, `"l"`, large)
	pl.write("large", pageSlots[0], &c, pl.generation("large"))
	held, _, ok := pl.read("large", pageSlots[0], 0)
	if !ok {
		t.Fatal("the large page was not kept")
	}
	defer held.close()
	if held.seg == nil {
		t.Fatal("the large page was read into memory")
	}
	const pagesWritten = 400
	for i := range pagesWritten {
		name := "p" + strconv.Itoa(i)
		c := newCached(int64(i), `"e"`, body(i))
		pl.write(name, pageSlots[0], &c, pl.generation(name))
	}
	pl.retiring.Wait()
	var live int64
	pl.mu.Lock()
	for _, s := range pl.live {
		var st unix.Stat_t
		if err := unix.Fstat(s.fd, &st); err != nil {
			t.Fatal(err)
		}
		live += st.Size
	}
	segments := len(pl.live)
	pl.mu.Unlock()
	if segments != 4 || live > maxBytes {
		t.Errorf("%d segments of %d bytes in all, want 4 and at most %d", segments, live, maxBytes)
	}
	kept := 0
	for i := range pagesWritten {
		c, found, _ := pl.read("p"+strconv.Itoa(i), pageSlots[0], 0)
		if found {
			kept++
			if !bytes.Equal(c.body, body(i)) {
				t.Errorf("p%d: read %.20q", i, c.body)
			}
		} else if i >= pagesWritten-10 {
			t.Errorf("p%d, among the last written, is not kept", i)
		}
		c.close()
	}
	if kept == 0 || kept == pagesWritten {
		t.Errorf("%d of %d pages kept", kept, pagesWritten)
	}
	if c, found, _ := pl.read("large", pageSlots[0], 0); found {
		c.close()
		t.Error("the first page written is still kept")
	}
	w := httptest.NewRecorder()
	held.send(w, httptest.NewRequest(http.MethodGet, "/", nil), false)
	if !bytes.Equal(w.Body.Bytes(), large) {
		t.Errorf("the held page sent %d bytes, want %d", w.Body.Len(), len(large))
	}
	if n := pl.failures.Load(); n != 0 {
		t.Errorf("%d failures", n)
	}
	if names, err := os.ReadDir(pl.dir); err != nil || len(names) != 0 {
		t.Errorf("the folder holds %v (%v), want nothing", names, err)
	}
}

// TestPageLogFolderRemoved: a log whose folder is removed while it runs keeps serving what it holds (its segments
// are open), and makes the folder again for its next segment.
func TestPageLogFolderRemoved(t *testing.T) {
	pl := testPageLog(t, 64<<10) // segments of 16 KiB
	first := newCached(1, `"e"`, []byte("first"))
	pl.write("first", pageSlots[0], &first, pl.generation("first"))
	if err := os.RemoveAll(pl.dir); err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("x"), 4<<10)
	for i := range 8 { // two segments' worth
		name := "p" + strconv.Itoa(i)
		c := newCached(1, `"e"`, body)
		pl.write(name, pageSlots[0], &c, pl.generation(name))
	}
	for _, name := range []string{"first", "p7"} {
		c, found, _ := pl.read(name, pageSlots[0], 0)
		if !found {
			t.Errorf("%s is not kept after the folder was removed", name)
		}
		c.close()
	}
	if n := pl.failures.Load(); n != 0 {
		t.Errorf("%d failures", n)
	}
}

// TestPageLogConcurrent: readers, writers and drops at once over a log small enough to retire segments all along
// (run with -race); every page read is the one written for its name and slot.
func TestPageLogConcurrent(t *testing.T) {
	pl := testPageLog(t, 64<<10)
	body := func(name, slot string, serial int64) []byte {
		return []byte(strings.Repeat(name+" "+slot+" "+strconv.FormatInt(serial, 10)+"\n", 20))
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				name := "p" + strconv.Itoa((i*7+g)%50)
				slot := pageSlots[i%len(pageSlots)]
				switch {
				case i%97 == 0:
					pl.drop(name)
				case i%3 == 0:
					c := newCached(int64(i), `"e"`, body(name, slot, int64(i)))
					pl.write(name, slot, &c, pl.generation(name))
				default:
					c, found, _ := pl.read(name, slot, 0)
					if found && !bytes.Equal(c.body, body(name, slot, c.serial)) {
						t.Errorf("%s %s: read %.40q", name, slot, c.body)
					}
					c.close()
				}
			}
		})
	}
	wg.Wait()
	if n := pl.failures.Load(); n != 0 {
		t.Errorf("%d failures", n)
	}
}

// TestPageLogUnwritable: when the folder cannot be written, pages are served from the store, and the failures are
// counted.
func TestPageLogUnwritable(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		blocker := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(blocker, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		fx.ix.served.dir = filepath.Join(blocker, "pages") // below a file: nothing can be made there
		for range 2 {
			w := fx.get(t, "/simple/demo-pkg/")
			wantStatus(t, w, http.StatusOK)
			if !strings.Contains(w.Body.String(), "demo_pkg-1.0.tar.gz") {
				t.Fatal("page without its files")
			}
			wantStatus(t, fx.get(t, "/pypi/demo-pkg/json"), http.StatusOK)
		}
		if st := fx.ix.FileStats(); st.Failures < 4 || st.Misses < 4 {
			t.Errorf("stats %+v, want 4 failures and 4 misses at least", st)
		}
	})
}

// blockingStore holds a page or document read until told to go on: a miss that read the store just before a change
// and writes its file just after.
type blockingStore struct {
	Store
	read, proceed chan struct{}
}

func (s *blockingStore) hold() {
	if s.read != nil {
		s.read <- struct{}{}
		<-s.proceed
	}
}

func (s *blockingStore) SimplePage(ctx context.Context, name string, json bool) (int64, []byte, error) {
	serial, gz, err := s.Store.SimplePage(ctx, name, json)
	s.hold()
	return serial, gz, err
}

func (s *blockingStore) ProjectDocument(ctx context.Context, name string) (store.Document, error) {
	d, err := s.Store.ProjectDocument(ctx, name)
	s.hold()
	return d, err
}

// TestNeverStaleAfterCommit: a page or document read from the store before a change, whose file would be written
// after the change committed, is not kept: the next request, on this instance after its Invalidate and on another
// after its poll, gets the change. The race is forced, not hoped for.
func TestNeverStaleAfterCommit(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		bs := &blockingStore{Store: fx.db}
		local := New(bs, fx.blobs, nil, Options{Dir: t.TempDir(), Now: fx.clock.now})
		remote := New(bs, fx.blobs, nil, Options{Dir: t.TempDir(), Now: fx.clock.now})
		var p poller
		if err := remote.poll(ctx, &p); err != nil {
			t.Fatal(err)
		}
		version := 3
		for _, target := range []string{"/simple/demo-pkg/", "/pypi/demo-pkg/json"} {
			for _, ix := range []*Index{local, remote} {
				mux := testMux(ix)
				newFile := "demo_pkg-" + strconv.Itoa(version) + ".0-py3-none-any.whl"
				bs.read, bs.proceed = make(chan struct{}), make(chan struct{})
				done := make(chan *httptest.ResponseRecorder)
				go func() { done <- serve(mux, http.MethodGet, target) }()
				<-bs.read // the miss has read the store
				fx.upload(t, demoFile{"Demo_Pkg", strconv.Itoa(version) + ".0", newFile, "", "{}", true},
					t0.Add(time.Duration(version)*time.Hour))
				if ix == local {
					ix.Invalidate("demo-pkg")
				} else {
					fx.clock.advance(time.Second)
					if err := ix.poll(ctx, &p); err != nil {
						t.Fatal(err)
					}
				}
				close(bs.proceed)
				if w := <-done; strings.Contains(w.Body.String(), newFile) {
					t.Fatalf("%s: the miss read the store after the change", target)
				}
				bs.read = nil
				if w := serve(mux, http.MethodGet, target); !strings.Contains(w.Body.String(), newFile) {
					t.Errorf("%s (%s instance): the page read before the change is served after it", target,
						map[bool]string{true: "writing", false: "other"}[ix == local])
				}
				version++
			}
		}
	})
}

// TestDocumentTouched: once the protection epoch moves, a JSON API document is checked against its stamp: found
// unchanged, it keeps its record, fresh at the new epoch; changed (a designation, which does not move the serial),
// it gets a new record. Until the poll sees the epoch move, the kept document is served.
func TestDocumentTouched(t *testing.T) {
	fx := newFixture(t, storetest.Engine{Name: "sqlite", Open: storetest.OpenSQLite})
	ctx := context.Background()
	record := func() pageEntry {
		t.Helper()
		h := nameHash("demo-pkg")
		e, ok := fx.ix.served.shard(h).docs[keyOf(h, projectDocSlot)]
		if !ok {
			t.Fatal("no record of the document")
		}
		return e.pageEntry
	}
	var p poller
	poll := func() {
		t.Helper()
		if err := fx.ix.poll(ctx, &p); err != nil {
			t.Fatal(err)
		}
	}
	wantStatus(t, fx.get(t, "/pypi/demo-pkg/json"), http.StatusOK)
	first := record()
	misses := fx.ix.FileStats().Misses
	poll() // the epoch moves from none to the store's
	wantStatus(t, fx.get(t, "/pypi/demo-pkg/json"), http.StatusOK)
	if got := fx.ix.FileStats().Misses - misses; got != 1 {
		t.Errorf("%d misses after the epoch moved, want 1", got)
	}
	if record() != first {
		t.Error("an unchanged document was written again")
	}
	poll()
	wantStatus(t, fx.get(t, "/pypi/demo-pkg/json"), http.StatusOK)
	if got := fx.ix.FileStats().Misses - misses; got != 1 {
		t.Errorf("%d misses at an epoch that did not move, want 1", got)
	}

	proj, err := fx.db.ProjectByName(ctx, "demo-pkg")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fx.db.MarkCritical(ctx, []int64{proj.ID}, t0); err != nil {
		t.Fatal(err)
	}
	if w := fx.get(t, "/pypi/demo-pkg/json"); strings.Contains(w.Body.String(), `"critical":true`) {
		t.Error("the designation was served before the poll saw the epoch move")
	}
	poll()
	if w := fx.get(t, "/pypi/demo-pkg/json"); !strings.Contains(w.Body.String(), `"critical":true`) {
		t.Fatalf("the designation is not served after the poll: %.300s", w.Body.String())
	}
	if record() == first {
		t.Error("a changed document kept its record")
	}
}

// TestPwritev: a record's head and body land one after the other at the offset given, an empty part included, and
// what was there before the offset stays.
func TestPwritev(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "segment"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("kept|"); err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("body "), 20000)
	if err := pwritev(int(f.Fd()), [][]byte{[]byte("name slot 1 \"e\"\n"), nil, body}, 5); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if want := "kept|name slot 1 \"e\"\n" + string(body); string(got) != want {
		t.Errorf("file holds %d bytes starting %q, want %d starting %q", len(got), got[:30], len(want), want[:30])
	}
}
