package simple

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"wharf/internal/pages"
	"wharf/internal/store"
	"wharf/internal/store/storetest"
)

func testPageFiles(t *testing.T) *pageFiles {
	return newPageFiles(filepath.Join(t.TempDir(), "pages"), t.Logf)
}

// TestPageFilesRoundTrip: what is written is read back whole, in memory when small and as a file to send when larger
// than a read buffer, with its serial, ETag and (for a document) modification time; a HEAD gets the length and no
// body.
func TestPageFilesRoundTrip(t *testing.T) {
	pf := testPageFiles(t)
	small := []byte("<html>small page</html>\n")
	large := bytes.Repeat([]byte("0123456789abcdef"), readBufferSize/16*3+5)
	modified := time.Date(2026, 12, 7, 10, 0, 0, 123456789, time.UTC).UnixNano()
	for _, tc := range []struct {
		name, slot string
		body       []byte
		ttl        int64
	}{
		{"small", pageSlots[pages.HTML], small, 0},
		{"under-the-buffer", pageSlots[pages.JSON], large[:readBufferSize-14], 0}, // the head takes 13 bytes
		{"the-buffer", pageSlots[pages.JSON], large[:readBufferSize-13], 0},
		{"just-over", pageSlots[pages.JSON], large[:readBufferSize], 0},
		{"large", pageSlots[pages.HTMLGzip], large, 0},
		{"a-document", projectDocSlot, small, int64(time.Minute)},
		{"a-release", releaseDocSlot("1.0.post1+local"), large, int64(time.Minute)},
	} {
		c := newCached(42, `"p1-42-h"`, tc.body)
		if tc.ttl > 0 {
			c.modified = modified
		}
		pf.write(tc.name, tc.slot, &c, pf.generation(tc.name))
		got, found, fresh := pf.read(tc.name, tc.slot, modified, tc.ttl)
		if !found || !fresh {
			t.Fatalf("%s: not read back (%v, %v)", tc.name, found, fresh)
		}
		if got.serial != 42 || got.modified != c.modified || got.etag() != `"p1-42-h"` || got.headers[1] != "42" {
			t.Errorf("%s: read %d, %d, %v", tc.name, got.serial, got.modified, got.headers)
		}
		if (got.file != nil) != (len(tc.body)+len("42 \"p1-42-h\"\n") >= readBufferSize) {
			t.Errorf("%s: file %v for a body of %d bytes", tc.name, got.file != nil, len(tc.body))
		}
		for _, method := range []string{http.MethodGet, http.MethodHead} {
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
			if got.file != nil {
				break // the file was sent: its offset is at the end
			}
		}
		got.close()
	}
	if n := pf.failures.Load(); n != 0 {
		t.Errorf("%d failures", n)
	}
}

// TestPageFilesDrop: a drop removes every file of the project (pages, documents, releases' documents) and no other
// project's, and a write that read the store before the drop leaves no file; one that began after it does.
func TestPageFilesDrop(t *testing.T) {
	pf := testPageFiles(t)
	slots := []string{pageSlots[0], pageSlots[1], pageSlots[2], pageSlots[3], projectDocSlot,
		releaseDocSlot("1.0"), releaseDocSlot("2.0rc1")}
	for _, name := range []string{"demo", "demo-two"} {
		for _, slot := range slots {
			c := newCached(7, `"x"`, []byte(name+slot))
			pf.write(name, slot, &c, pf.generation(name))
		}
	}
	before := pf.generation("demo")
	pf.drop("demo")
	now := time.Now().UnixNano()
	for _, slot := range slots {
		if c, found, _ := pf.read("demo", slot, now, 0); found {
			c.close()
			t.Errorf("demo.%s still there after the drop", slot)
		}
		c, _, ok := pf.read("demo-two", slot, now, 0)
		if !ok || string(c.body) != "demo-two"+slot {
			t.Errorf("demo-two.%s: %v %q after demo's drop", slot, ok, c.body)
		}
		c.close()
	}
	// A miss that read the store before the drop.
	c := newCached(6, `"old"`, []byte("old"))
	pf.write("demo", pageSlots[0], &c, before)
	if c, found, _ := pf.read("demo", pageSlots[0], now, 0); found {
		c.close()
		t.Error("a page read before the drop was kept after it")
	}
	c = newCached(8, `"new"`, []byte("new"))
	pf.write("demo", pageSlots[0], &c, pf.generation("demo"))
	if c, _, ok := pf.read("demo", pageSlots[0], now, 0); !ok || string(c.body) != "new" {
		t.Errorf("a page read after the drop: %v %q", ok, c.body)
	} else {
		c.close()
	}
	if entries, err := os.ReadDir(pf.folder("demo")); err != nil {
		t.Fatal(err)
	} else {
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".new-") {
				t.Errorf("temporary file %s left behind", e.Name())
			}
		}
	}
}

// TestPageFilesExpiry: a document is fresh for its ttl from its modification time, and a touch makes it fresh again
// (unless the project was dropped since the document was read); a page is fresh until dropped.
func TestPageFilesExpiry(t *testing.T) {
	pf := testPageFiles(t)
	written := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	ttl := int64(10 * time.Second)
	doc := newCached(1, `"j"`, []byte("{}"))
	doc.modified = written.UnixNano()
	pf.write("p", projectDocSlot, &doc, pf.generation("p"))
	page := newCached(1, `"p"`, []byte("<html>"))
	pf.write("p", pageSlots[0], &page, pf.generation("p"))
	check := func(slot string, at time.Time, ttl int64, want bool) {
		t.Helper()
		c, found, fresh := pf.read("p", slot, at.UnixNano(), ttl)
		c.close()
		if !found || fresh != want {
			t.Errorf("%s at +%v: found %v, fresh %v, want %v", slot, at.Sub(written), found, fresh, want)
		}
	}
	check(projectDocSlot, written.Add(9*time.Second), ttl, true)
	check(projectDocSlot, written.Add(10*time.Second), ttl, false)
	check(pageSlots[0], written.Add(100*365*24*time.Hour), 0, true)

	gen := pf.generation("p")
	pf.touch("p", projectDocSlot, gen, written.Add(15*time.Second).UnixNano())
	check(projectDocSlot, written.Add(24*time.Second), ttl, true)
	check(projectDocSlot, written.Add(25*time.Second), ttl, false)

	// A touch by a request that read the store before a drop does not make the file written since fresh.
	gen = pf.generation("p")
	pf.drop("p")
	later := newCached(2, `"j2"`, []byte("{}"))
	later.modified = written.Add(time.Hour - 20*time.Second).UnixNano()
	pf.write("p", projectDocSlot, &later, pf.generation("p"))
	pf.touch("p", projectDocSlot, gen, written.Add(time.Hour).UnixNano())
	check(projectDocSlot, written.Add(time.Hour), ttl, false)
}

// TestPageFilesDamaged: a file that is not whole and well-formed is no answer (the store answers), and the next write
// replaces it.
func TestPageFilesDamaged(t *testing.T) {
	for _, content := range []string{"", "no newline at all", "12\nbody", "x \"e\"\nbody", "12 \"e\" more\nbody",
		"12 \nbody", " \"e\"\nbody"} {
		pf := testPageFiles(t)
		path := pf.path("p", pageSlots[0])
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if c, found, _ := pf.read("p", pageSlots[0], 0, 0); found {
			c.close()
			t.Errorf("%q read as a page", content)
		}
		c := newCached(3, `"p"`, []byte("page"))
		pf.write("p", pageSlots[0], &c, pf.generation("p"))
		if c, _, ok := pf.read("p", pageSlots[0], 0, 0); !ok || string(c.body) != "page" {
			t.Errorf("after %q: the new file read %v %q", content, ok, c.body)
		} else {
			c.close()
		}
	}
}

// TestReleaseDocSlot: only a version's own characters make a file name, so that no version reads as a path.
func TestReleaseDocSlot(t *testing.T) {
	for version, want := range map[string]string{
		"1.0":                              "releases/v1.0",
		"2!1.0.post1+local":                "releases/v2!1.0.post1+local",
		"1.0_RC-1":                         "releases/v1.0_RC-1",
		"..":                               "releases/v..",
		"":                                 "",
		"1.0/../../x":                      "",
		"1.0\x00":                          "",
		"1 0":                              "",
		"1.0%2F":                           "",
		strings.Repeat("1", maxFileName+1): "",
	} {
		if got := releaseDocSlot(version); got != want {
			t.Errorf("releaseDocSlot(%q) = %q, want %q", version, got, want)
		}
	}
	// ".." is a name in the project's releases folder, not its parent.
	pf := testPageFiles(t)
	if got, want := pf.path("p", releaseDocSlot("..")), pf.folder("p")+"/p.releases/v.."; got != want {
		t.Errorf("path %q, want %q", got, want)
	}
}

// TestPageFilesUnwritable: when the folder cannot be written, pages are served from the store, and the failures are
// counted.
func TestPageFilesUnwritable(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		blocker := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(blocker, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		fx.ix.files.dir = filepath.Join(blocker, "pages") // below a file: nothing can be made there
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

// TestDocumentTouched: a JSON API document found unchanged once its DocumentTTL has passed keeps its file (the same
// inode), made fresh for another DocumentTTL; one that changed gets a new file.
func TestDocumentTouched(t *testing.T) {
	fx := newFixture(t, storetest.Engine{Name: "sqlite", Open: storetest.OpenSQLite})
	inode := func() uint64 {
		t.Helper()
		fi, err := os.Stat(fx.ix.files.path("demo-pkg", projectDocSlot))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	wantStatus(t, fx.get(t, "/pypi/demo-pkg/json"), http.StatusOK)
	first := inode()
	misses := fx.ix.FileStats().Misses
	fx.clock.advance(11 * time.Second)
	wantStatus(t, fx.get(t, "/pypi/demo-pkg/json"), http.StatusOK)
	if got := fx.ix.FileStats().Misses - misses; got != 1 {
		t.Errorf("%d misses past the TTL, want 1", got)
	}
	if inode() != first {
		t.Error("an unchanged document was written again")
	}
	fx.clock.advance(5 * time.Second)
	wantStatus(t, fx.get(t, "/pypi/demo-pkg/json"), http.StatusOK)
	if got := fx.ix.FileStats().Misses - misses; got != 1 {
		t.Errorf("%d misses within the TTL after a touch, want 1", got)
	}
	// A document that changed (an upload this instance was not told of) gets a new file past the TTL.
	fx.upload(t, demoFile{"Demo_Pkg", "9.0", "demo_pkg-9.0-py3-none-any.whl", "", "{}", true}, t0.Add(3*time.Hour))
	fx.clock.advance(11 * time.Second)
	if w := fx.get(t, "/pypi/demo-pkg/json"); !strings.Contains(w.Body.String(), "demo_pkg-9.0-py3-none-any.whl") {
		t.Fatal("the changed document is not served past the TTL")
	}
	if inode() == first {
		t.Error("a changed document kept its file")
	}
}
